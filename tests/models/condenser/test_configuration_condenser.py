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
"""Tests of `CondenserConfig`: transformers' own `ConfigTester` plus Condenser's defaults and validation."""

import json
import os
import re
import tempfile
import unittest

import torch
from parameterized import parameterized
from transformers import BertConfig

from tests.models.condenser.testing_utils import (
    TINY_CONFIG_FIELDS,
    TRANSFORMERS_TESTS_AVAILABLE,
    TRANSFORMERS_TESTS_MISSING,
    tiny_batch,
)
from transformers_condenser import CondenserConfig, CondenserForPreTraining


if TRANSFORMERS_TESTS_AVAILABLE:
    from transformers_tests.test_configuration_common import ConfigTester


# google-bert/bert-base-uncased's published config.json: the values the Condenser paper's backbone uses.
BERT_BASE_UNCASED = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "tie_word_embeddings": True,
}


class CondenserConfigTest(unittest.TestCase):
    @unittest.skipUnless(TRANSFORMERS_TESTS_AVAILABLE, TRANSFORMERS_TESTS_MISSING)
    def test_config(self):
        # Every Condenser field set to a non-default value, so that the round trips would notice a dropped one.
        config_tester = ConfigTester(
            self,
            config_class=CondenserConfig,
            **{**TINY_CONFIG_FIELDS, "late_mlm": False, "sparse_prediction": False, "cocondenser": True},
        )
        config_tester.run_common_tests()

    def test_defaults_are_bert_base_uncased(self):
        config = CondenserConfig()
        for name, value in BERT_BASE_UNCASED.items():
            self.assertEqual(getattr(config, name), value, f"`{name}` default")

    def test_defaults_match_bert_config_for_every_bert_field(self):
        # Any BERT field transformers adds later must keep BERT's default, so BERT configs convert losslessly.
        condenser, bert = CondenserConfig().to_dict(), BertConfig().to_dict()
        for name in bert.keys() - {"model_type", "transformers_version"}:
            self.assertIn(name, condenser)
            self.assertEqual(condenser[name], bert[name], f"`{name}` default differs from BertConfig")

    def test_condenser_defaults_build_the_papers_architecture(self):
        # A 12-layer backbone (tiny width) with every Condenser field left at its default: the paper's setting.
        config = CondenserConfig(
            vocab_size=99,
            hidden_size=8,
            num_hidden_layers=12,
            num_attention_heads=2,
            intermediate_size=8,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        )
        self.assertEqual(config.model_type, "condenser")
        model = CondenserForPreTraining(config).eval()
        self.assertEqual(len(model.head_layers), 2)
        batch = tiny_batch(config)
        seen = {}
        model.bert.encoder.layer[5].register_forward_hook(lambda module, args, output: seen.update(layer_6=output))
        model.head_layers[0].register_forward_pre_hook(lambda module, args: seen.update(head_input=args[0]))
        outputs = model(**batch)
        # The head reads hidden state 6 (the output of the 6th layer) behind the last-layer CLS.
        torch.testing.assert_close(seen["head_input"][:, 1:], seen["layer_6"][:, 1:], atol=0, rtol=0)
        torch.testing.assert_close(seen["head_input"][:, 0], outputs.cls_vectors, atol=0, rtol=0)
        # Late MLM on, no contrastive loss (Condenser, not coCondenser), logits only at the labelled positions.
        torch.testing.assert_close(outputs.loss, outputs.head_mlm_loss + outputs.late_mlm_loss, atol=0, rtol=0)
        self.assertIsNone(outputs.contrastive_loss)
        self.assertEqual(outputs.logits.shape, (int((batch["labels"] != -100).sum()), config.vocab_size))

    @parameterized.expand(
        [
            ("zero", {"skip_from": 0}, "skip_from", 0),
            ("negative", {"skip_from": -1}, "skip_from", -1),
            ("equal_to_num_layers", {"skip_from": 12}, "skip_from", 12),
            ("above_num_layers", {"skip_from": 13}, "skip_from", 13),
            ("equal_to_small_num_layers", {"num_hidden_layers": 4, "skip_from": 4}, "skip_from", 4),
        ]
    )
    def test_skip_from_outside_valid_range_raises(self, _, kwargs, field, value):
        num_hidden_layers = kwargs.get("num_hidden_layers", 12)
        with self.assertRaises(ValueError) as context:
            CondenserConfig(**kwargs)
        message = str(context.exception)
        self.assertIn(field, message)
        self.assertRegex(message, rf"(?<![\d-]){re.escape(str(value))}(?!\d)", "message must name the bad value")
        # The valid range 1 .. num_hidden_layers - 1, with the upper bound spelled out.
        self.assertIn("1", message)
        self.assertRegex(message, rf"(?<!\d){num_hidden_layers - 1}(?!\d)", "message must give the upper bound")

    @parameterized.expand([("lowest", 1), ("highest", 3)])
    def test_skip_from_at_range_boundary_is_accepted(self, _, skip_from):
        config = CondenserConfig(num_hidden_layers=4, skip_from=skip_from)
        self.assertEqual(config.skip_from, skip_from)

    @parameterized.expand([("zero", 0), ("negative", -2)])
    def test_n_head_layers_below_one_raises(self, _, n_head_layers):
        with self.assertRaises(ValueError) as context:
            CondenserConfig(n_head_layers=n_head_layers)
        message = str(context.exception)
        self.assertIn("n_head_layers", message)
        self.assertRegex(message, rf"(?<![\d-]){n_head_layers}(?!\d)")
        self.assertRegex(message, r"at least 1")

    def test_single_head_layer_is_accepted(self):
        self.assertEqual(CondenserConfig(n_head_layers=1).n_head_layers, 1)

    def test_hidden_size_not_divisible_by_heads_raises(self):
        with self.assertRaises(ValueError) as context:
            CondenserConfig(hidden_size=30, num_attention_heads=4)
        message = str(context.exception)
        self.assertIn("hidden_size", message)
        self.assertIn("num_attention_heads", message)
        self.assertRegex(message, r"(?<!\d)30(?!\d)")
        self.assertRegex(message, r"(?<!\d)4(?!\d)")
        self.assertIn("divisible", message)

    @parameterized.expand([("is_decoder", {"is_decoder": True}), ("cross_attention", {"add_cross_attention": True})])
    def test_decoder_settings_are_rejected(self, field, kwargs):
        with self.assertRaises(ValueError) as context:
            CondenserConfig(**kwargs)
        self.assertIn(next(iter(kwargs)), str(context.exception))

    def test_single_layer_backbone_is_rejected(self):
        with self.assertRaises(ValueError) as context:
            CondenserConfig(num_hidden_layers=1, skip_from=1)
        self.assertIn("num_hidden_layers", str(context.exception))

    def test_loading_config_file_with_invalid_skip_from_raises(self):
        # Validation must also guard configs read from disk (e.g. a hand-edited config.json), not only the constructor.
        with tempfile.TemporaryDirectory() as tmp_dir:
            CondenserConfig(num_hidden_layers=4, skip_from=2).save_pretrained(tmp_dir)
            path = os.path.join(tmp_dir, "config.json")
            with open(path, encoding="utf-8") as config_file:
                saved = json.load(config_file)
            saved["skip_from"] = 4
            with open(path, "w", encoding="utf-8") as config_file:
                json.dump(saved, config_file)
            with self.assertRaises(ValueError) as context:
                CondenserConfig.from_pretrained(tmp_dir)
        self.assertIn("skip_from", str(context.exception))


if __name__ == "__main__":
    unittest.main()
