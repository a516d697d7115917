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
"""transformers' own `ModelTesterMixin` run on `CondenserModel` and `CondenserForPreTraining` (Condenser and
coCondenser, on a BERT and on a RoBERTa backbone), plus the few checks the mixin does not make that matter for this
package."""

from __future__ import annotations

import os
import tempfile
import unittest
from typing import Any
from unittest import mock

import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

from tests.models.condenser.testing_utils import (
    FIRST_WORD_ID,
    MASK_ID,
    TRANSFORMERS_TESTS_AVAILABLE,
    TRANSFORMERS_TESTS_MISSING,
    tiny_batch,
    tiny_config,
    tiny_config_fields,
    tiny_model,
)
from transformers_condenser import (
    CondenserConfig,
    CondenserForPreTraining,
    CondenserForPreTrainingOutput,
    CondenserModel,
)


if TRANSFORMERS_TESTS_AVAILABLE:
    from transformers_tests.test_modeling_common import ModelTesterMixin
else:

    class ModelTesterMixin:
        """Placeholder: the test classes built on transformers' mixin are skipped (see `TRANSFORMERS_TESTS_MISSING`)."""


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class CondenserModelTester:
    """Builds a tiny `CondenserConfig` and a padded, masked batch for transformers' `ModelTesterMixin`."""

    def __init__(self, parent: unittest.TestCase, batch_size: int = 4, seq_length: int = 8, **config_overrides: Any):
        self.parent = parent
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.is_training = True
        self.config_fields = tiny_config_fields(config_overrides)
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
            setattr(self, name, self.config_fields[name])

    def get_config(self) -> CondenserConfig:
        return tiny_config(**self.config_fields)

    def prepare_config_and_inputs(self) -> tuple[CondenserConfig, dict[str, torch.Tensor]]:
        config = self.get_config()
        inputs = tiny_batch(
            config,
            batch_size=self.batch_size,
            seq_length=self.seq_length,
            labels=False,
            span_pairs=config.cocondenser,
        )
        return config, inputs

    def prepare_config_and_inputs_for_common(self) -> tuple[CondenserConfig, dict[str, torch.Tensor]]:
        return self.prepare_config_and_inputs()

    @staticmethod
    def mlm_labels(input_ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
        """MLM labels for a batch: a word id at every `[MASK]` position, -100 elsewhere."""
        positions = torch.arange(input_ids.shape[-1], device=input_ids.device).expand_as(input_ids)
        words = FIRST_WORD_ID + positions % (vocab_size - FIRST_WORD_ID)
        return torch.where(input_ids == MASK_ID, words, torch.full_like(input_ids, -100))


class CondenserModelTestMixin:
    """What the Condenser and the coCondenser test classes share on top of `ModelTesterMixin`."""

    all_model_classes = (CondenserModel, CondenserForPreTraining)
    config_overrides: dict[str, Any] = {}

    def setUp(self):
        self.model_tester = CondenserModelTester(self, **self.config_overrides)
        # The mixin recognises a base model (no loss: left out of the training tests; the one whose weights a head's
        # `base_model_prefix` must load; ...) by looking its class name up in transformers' static
        # `MODEL_MAPPING_NAMES`, which only lists transformers' own models (ours is registered with `AutoModel` at
        # import instead). List it there for the test, as the entry of a transformers model would be.
        patcher = mock.patch.dict(MODEL_MAPPING_NAMES, {CondenserConfig.model_type: CondenserModel.__name__})
        patcher.start()
        self.addCleanup(patcher.stop)

    def _prepare_for_class(
        self, inputs_dict: dict[str, Any], model_class: type, return_labels: bool = False
    ) -> dict[str, Any]:
        # transformers adds labels only for the classes of its own Auto mappings; the pre-training model takes MLM
        # labels (and nothing else, e.g. no `next_sentence_label`).
        inputs = super()._prepare_for_class(inputs_dict, model_class, return_labels=return_labels)
        if return_labels and model_class is CondenserForPreTraining:
            inputs["labels"] = self.model_tester.mlm_labels(inputs["input_ids"], self.model_tester.vocab_size)
        return inputs

    def test_sdpa_can_dispatch_non_composite_models(self):
        # The mixin expects a model loaded without `attn_implementation` to run "sdpa". CondenserForPreTraining
        # deliberately defaults to its own sdpa variant, "sdpa_recompute" (recomputes the attention probabilities in
        # backward to save training memory); its eager and sdpa paths are covered by test_eager_matches_sdpa_inference.
        self.all_model_classes = tuple(c for c in self.all_model_classes if c is not CondenserForPreTraining)
        if not self.all_model_classes:
            self.skipTest(reason="CondenserForPreTraining defaults to its `sdpa_recompute` attention, not `sdpa`")
        super().test_sdpa_can_dispatch_non_composite_models()


@unittest.skipUnless(TRANSFORMERS_TESTS_AVAILABLE, TRANSFORMERS_TESTS_MISSING)
class CondenserModelTest(CondenserModelTestMixin, ModelTesterMixin, unittest.TestCase):
    pass


@unittest.skipUnless(TRANSFORMERS_TESTS_AVAILABLE, TRANSFORMERS_TESTS_MISSING)
class CoCondenserModelTest(CondenserModelTestMixin, ModelTesterMixin, unittest.TestCase):
    """`CondenserForPreTraining` with `cocondenser=True`: the batch is span pairs `[d1s1, d1s2, d2s1, d2s2]`."""

    # `cocondenser` changes only the pre-training model's forward; `CondenserModel` runs in `CondenserModelTest`.
    all_model_classes = (CondenserForPreTraining,)
    config_overrides = {"cocondenser": True}

    def test_pretraining_outputs_contrastive_loss_and_cls_vectors(self):
        config, inputs_dict = self.model_tester.prepare_config_and_inputs_for_common()
        model = CondenserForPreTraining(config).eval()
        with torch.no_grad():
            outputs = model(**self._prepare_for_class(inputs_dict, CondenserForPreTraining, return_labels=True))
        self.assertEqual(outputs.contrastive_loss.shape, ())
        self.assertTrue(torch.isfinite(outputs.contrastive_loss))
        self.assertEqual(outputs.cls_vectors.shape, (self.model_tester.batch_size, config.hidden_size))


@unittest.skipUnless(TRANSFORMERS_TESTS_AVAILABLE, TRANSFORMERS_TESTS_MISSING)
class RobertaCondenserModelTest(CondenserModelTestMixin, ModelTesterMixin, unittest.TestCase):
    """Both classes on a RoBERTa backbone (`backbone_type="roberta"`): RoBERTa's embeddings (positions from the padding
    index 1, one token type), `lm_head` and weight names (`roberta.*`), batches `<s> ... </s> <pad>...`. XLM-RoBERTa
    builds the same modules under other class names (test_roberta_backbone.py checks it against XLMRobertaModel)."""

    config_overrides = {"backbone_type": "roberta"}

    def test_inputs_embeds_matches_input_ids(self):
        # From `input_ids`, RoBERTa numbers the real tokens from `pad_token_id + 1` and gives padding the padding
        # index; from `inputs_embeds` it cannot see the padding and numbers every position. Pass the positions of the
        # ids, as transformers' own RoBERTa tests do.
        config, inputs_dict = self.model_tester.prepare_config_and_inputs_for_common()
        not_padding = (inputs_dict["input_ids"] != config.pad_token_id).long()
        position_ids = torch.cumsum(not_padding, dim=1) * not_padding + config.pad_token_id
        super().test_inputs_embeds_matches_input_ids(position_ids=position_ids)


# `cocondenser` adds a loss on the CLS vectors; the attention is the Condenser's, which CondenserModelTest already
# compares across backends and dtypes (25 variants): not run twice.
for _name in [name for name in dir(CoCondenserModelTest) if name.startswith("test_eager_matches_sdpa_inference_")]:
    setattr(
        CoCondenserModelTest,
        _name,
        unittest.skip(reason="cocondenser=True leaves attention unchanged: covered by CondenserModelTest")(
            lambda self: None
        ),
    )


class CondenserSavedFilesTest(unittest.TestCase):
    """What `save_pretrained` writes: safetensors weights and the config, never a pickle file."""

    def test_save_pretrained_writes_one_safetensors_file_and_no_pickle(self):
        for model_class in (CondenserModel, CondenserForPreTraining):
            model = tiny_model(model_class)
            with tempfile.TemporaryDirectory() as tmp_dir:
                model.save_pretrained(tmp_dir)
                files = sorted(os.listdir(tmp_dir))
            self.assertIn("config.json", files, model_class.__name__)
            self.assertEqual([f for f in files if f.endswith(".safetensors")], ["model.safetensors"], files)
            self.assertEqual([f for f in files if f.endswith(PICKLE_SUFFIXES)], [], files)


class CondenserOutputTypesTest(unittest.TestCase):
    """The forward returns the documented `ModelOutput` classes (the mixin only checks their fields)."""

    def test_outputs_are_the_documented_model_output_classes(self):
        for model_class, output_class in (
            (CondenserModel, BaseModelOutputWithPooling),
            (CondenserForPreTraining, CondenserForPreTrainingOutput),
        ):
            model = tiny_model(model_class)
            with torch.no_grad():
                outputs = model(**tiny_batch(model.config, labels=False))
            self.assertIs(type(outputs), output_class)


class CondenserPaddingTest(unittest.TestCase):
    """The encoder's outputs for a text do not depend on the padding around it: retrieval embeds texts in padded
    batches and must get the same vectors as one at a time."""

    def test_padded_rows_match_each_row_alone(self):
        for attn_implementation in ("sdpa", "eager"):
            model = tiny_model(CondenserModel, attn_implementation=attn_implementation)
            batch = tiny_batch(model.config, batch_size=3, seq_length=9, labels=False)
            # Garbage under the mask must be ignored.
            batch["input_ids"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, 7)
            with torch.no_grad():
                padded = model(**batch)
                for row in range(3):
                    length = int(batch["attention_mask"][row].sum())
                    alone = model(**{name: tensor[row : row + 1, :length] for name, tensor in batch.items()})
                    torch.testing.assert_close(
                        padded.last_hidden_state[row : row + 1, :length], alone.last_hidden_state, atol=1e-5, rtol=0
                    )
                    torch.testing.assert_close(
                        padded.pooler_output[row : row + 1], alone.pooler_output, atol=1e-5, rtol=0
                    )


if __name__ == "__main__":
    unittest.main()
