# Copyright 2026 The transformers-condenser Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Checkpoints saved before the model file was restructured still load bit-identically and compute what they did.

`tests/fixtures/condenser_checkpoint_a4f8dc0/` was written by the package at commit a4f8dc0 (the last one before the
restructure): a tiny `CondenserForPreTraining` (its `config.json` still carries the removed `recompute_attention`
field) and, in `expected_outputs.safetensors`, the outputs that code computed on a fixed batch in eval mode.
"""

import json
import unittest
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForPreTraining

from transformers_condenser import CondenserConfig, CondenserForPreTraining, CondenserModel


FIXTURE = Path(__file__).parents[2] / "fixtures" / "condenser_checkpoint_a4f8dc0"


class CheckpointFromBeforeTheRestructureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.saved_weights = load_file(FIXTURE / "model.safetensors")
        cls.expected = load_file(FIXTURE / "expected_outputs.safetensors")

    def test_every_saved_tensor_loads_bit_identically(self) -> None:
        model = CondenserForPreTraining.from_pretrained(FIXTURE)
        state = model.state_dict()
        for name, tensor in self.saved_weights.items():
            self.assertTrue(torch.equal(state[name], tensor), name)
        # The decoder is tied to the word embeddings, as when it was saved.
        self.assertEqual(
            model.cls.predictions.decoder.weight.data_ptr(), model.bert.embeddings.word_embeddings.weight.data_ptr()
        )
        # The removed field is dropped; the new ones take their defaults, which reproduce the old behaviour.
        self.assertFalse(hasattr(model.config, "recompute_attention"))
        self.assertTrue(model.config.sparse_prediction)
        self.assertFalse(model.config.cocondenser)

    def test_outputs_equal_those_of_the_code_that_saved_it(self) -> None:
        model = AutoModelForPreTraining.from_pretrained(FIXTURE).eval()
        self.assertIsInstance(model, CondenserForPreTraining)
        batch = {key: self.expected[key] for key in ("input_ids", "attention_mask", "labels")}
        with torch.no_grad():
            outputs = model(**batch)
            full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        for name in ("loss", "head_mlm_loss", "late_mlm_loss"):
            torch.testing.assert_close(getattr(outputs, name).reshape(1), self.expected[name], atol=1e-6, rtol=0)
        torch.testing.assert_close(outputs.logits, self.expected["logits"], atol=1e-5, rtol=0)
        torch.testing.assert_close(full.logits, self.expected["full_logits"], atol=1e-5, rtol=0)

    def test_a_cocondenser_class_checkpoint_loads_as_cocondenser(self) -> None:
        # The removed CoCondenserForPreTraining saved no `cocondenser` field; its class name says what it was.
        config_dict = json.loads((FIXTURE / "config.json").read_text())
        as_cocondenser = {**config_dict, "architectures": ["CoCondenserForPreTraining"]}
        self.assertTrue(CondenserConfig.from_dict(as_cocondenser).cocondenser)
        self.assertFalse(CondenserConfig.from_dict(config_dict).cocondenser)
        # An explicit field or argument wins.
        self.assertFalse(CondenserConfig.from_dict(as_cocondenser, cocondenser=False).cocondenser)

    def test_backbone_loads_with_auto_model(self) -> None:
        backbone = AutoModel.from_pretrained(FIXTURE).eval()
        self.assertIsInstance(backbone, CondenserModel)
        with torch.no_grad():
            pooler_output = backbone(
                input_ids=self.expected["input_ids"], attention_mask=self.expected["attention_mask"]
            ).pooler_output
        torch.testing.assert_close(pooler_output, self.expected["pooler_output"], atol=1e-6, rtol=0)


if __name__ == "__main__":
    unittest.main()
