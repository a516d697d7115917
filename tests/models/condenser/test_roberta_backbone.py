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
"""Condenser on RoBERTa and XLM-RoBERTa backbones (`backbone_type`), against transformers' own RoBERTa classes.

- Warm start from a `RobertaForMaskedLM` / `XLMRobertaForMaskedLM` checkpoint: every backbone and `lm_head` weight
  loads bit-exactly under the family's names, the Condenser head is new and reported as such, the MLM decoder is tied
  as the family ties it, and the backbone computes what `RobertaModel` / `XLMRobertaModel` computes (positions from the
  padding index, one token type); `pooler_output` is the last-layer `<s>` vector.
- The loss is the original recipe's (SPEC §8) rebuilt from `RobertaForMaskedLM` and `RobertaLayer`s, with full logits
  and all hidden states, for every attention backend, with and without `sparse_prediction`.
- Saved checkpoints keep `backbone_type`, reload with the Auto classes, and their backbone loads into the plain model
  without renaming.
- The config validates the family fields with clear errors; BERT checkpoints are untouched.
"""

import os
import tempfile
import unittest


os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from parameterized import parameterized
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F
from torch.testing import assert_close
from transformers import (
    AutoModel,
    AutoModelForPreTraining,
    RobertaForMaskedLM,
    RobertaModel,
    XLMRobertaForMaskedLM,
    XLMRobertaModel,
)
from transformers.models.roberta.modeling_roberta import RobertaLayer
from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaLayer

from tests.models.condenser.testing_utils import (
    FOUR_LAYER_FIELDS,
    ROBERTA_PAD_ID,
    tiny_backbone_config,
    tiny_batch,
    tiny_config,
)
from transformers_condenser import CondenserConfig, CondenserForPreTraining, CondenserModel


FAMILIES = {
    "roberta": (RobertaForMaskedLM, RobertaModel, RobertaLayer),
    "xlm-roberta": (XLMRobertaForMaskedLM, XLMRobertaModel, XLMRobertaLayer),
}
FAMILY_PARAMETERS = [(family,) for family in FAMILIES]
# Rows of different lengths, so that the padding (id 1) shifts no position of a real token.
LENGTHS = (12, 8, 5)
# Weights 10x the usual initializer range: different inputs then give clearly different outputs.
SENSITIVE = {**FOUR_LAYER_FIELDS, "initializer_range": 0.2}


def save_masked_lm(family: str, directory: str, seed: int = 0, **overrides) -> nn.Module:
    """Save a tiny random `RobertaForMaskedLM` / `XLMRobertaForMaskedLM` (4 layers) to `directory`; return it."""
    masked_lm_class = FAMILIES[family][0]
    config = tiny_backbone_config(backbone_type=family, **{**FOUR_LAYER_FIELDS, **overrides})
    torch.manual_seed(seed)
    model = masked_lm_class(config).eval()
    model.save_pretrained(directory)
    return model


def without_labels(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: tensor for name, tensor in batch.items() if name != "labels"}


def original_recipe(
    model: CondenserForPreTraining, batch: dict[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], dict[str, nn.Parameter]]:
    """SPEC §8 by hand, from transformers' RoBERTa classes holding copies of `model`'s weights: the family's masked LM
    with all hidden states, `n_head_layers` x the family's layer on `[last-layer <s> ; hidden_states[skip_from][:, 1:]]`,
    both MLM losses through the family's own `lm_head`, at every position.

    Returns the outputs and the reference's parameters under `model`'s names (for comparing gradients)."""
    family = model.config.backbone_type
    masked_lm_class, _, layer_class = FAMILIES[family]
    config = tiny_backbone_config(backbone_type=family)
    for name in ("num_hidden_layers", "initializer_range"):
        setattr(config, name, getattr(model.config, name))
    config._attn_implementation = "eager"
    reference = masked_lm_class(config).eval()
    head = nn.ModuleList([layer_class(config) for _ in range(model.config.n_head_layers)]).eval()
    state = model.state_dict()
    reference.load_state_dict({k: v for k, v in state.items() if not k.startswith("head_layers.")}, strict=True)
    head.load_state_dict({k.removeprefix("head_layers."): v for k, v in state.items() if "head_layers." in k})

    labels, attention_mask = batch["labels"], batch["attention_mask"]
    outputs = reference(**batch, output_hidden_states=True)
    states = torch.cat([outputs.hidden_states[-1][:, :1], outputs.hidden_states[model.config.skip_from][:, 1:]], 1)
    additive_mask = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    for layer in head:
        states = layer(states, additive_mask)
    head_logits = reference.lm_head(states)
    head_mlm_loss = F.cross_entropy(head_logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
    results = {
        "loss": head_mlm_loss + outputs.loss,
        "head_mlm_loss": head_mlm_loss,
        "late_mlm_loss": outputs.loss,
        "logits": head_logits,
        "late_logits": outputs.logits,
        "cls": outputs.hidden_states[-1][:, 0],
    }
    parameters = dict(reference.named_parameters(remove_duplicate=False))
    parameters |= {f"head_layers.{name}": parameter for name, parameter in head.named_parameters()}
    return results, parameters


class WarmStartFromRobertaFamilyTest(unittest.TestCase):
    """`CondenserForPreTraining.from_pretrained(<RoBERTa or XLM-RoBERTa masked LM>, skip_from=2)`."""

    def setUp(self) -> None:
        self.workdir = tempfile.TemporaryDirectory()
        self.addCleanup(self.workdir.cleanup)

    @parameterized.expand(FAMILY_PARAMETERS)
    def test_loads_every_weight_under_the_family_names_and_reports_only_the_head(self, family: str) -> None:
        source = save_masked_lm(family, self.workdir.name)
        model, info = CondenserForPreTraining.from_pretrained(self.workdir.name, skip_from=2, output_loading_info=True)
        self.assertEqual((model.config.backbone_type, model.base_model_prefix), (family, "roberta"))
        self.assertIsInstance(model.roberta, CondenserModel)
        self.assertIs(model.mlm_head, model.lm_head)
        self.assertIsInstance(model.lm_head, type(source.lm_head))
        self.assertEqual(info["unexpected_keys"], set())
        self.assertEqual(info["mismatched_keys"], set())
        self.assertTrue(info["missing_keys"])
        self.assertTrue(all(key.startswith("head_layers.") for key in info["missing_keys"]), info["missing_keys"])
        state = model.state_dict()
        for key, tensor in source.state_dict().items():
            self.assertTrue(torch.equal(state[key], tensor), key)
        # Tied as RobertaForMaskedLM ties them.
        self.assertIs(model.lm_head.decoder.weight, model.roberta.embeddings.word_embeddings.weight)
        self.assertIs(model.get_output_embeddings(), model.lm_head.decoder)
        # The config keeps the family's hyperparameters.
        for name in ("pad_token_id", "bos_token_id", "eos_token_id", "type_vocab_size", "max_position_embeddings"):
            self.assertEqual(getattr(model.config, name), getattr(source.config, name), name)

    @parameterized.expand(FAMILY_PARAMETERS)
    def test_backbone_only_checkpoint_gets_a_new_tied_lm_head_and_drops_the_pooler(self, family: str) -> None:
        config = tiny_backbone_config(backbone_type=family, **FOUR_LAYER_FIELDS)
        torch.manual_seed(0)
        source = FAMILIES[family][1](config)  # RobertaModel / XLMRobertaModel, with its pooler
        source.save_pretrained(self.workdir.name)
        model, info = CondenserForPreTraining.from_pretrained(self.workdir.name, skip_from=2, output_loading_info=True)
        new_lm_head = {f"lm_head.{name}" for name in ("bias", "decoder.bias", "dense.bias", "dense.weight")}
        new_lm_head |= {"lm_head.layer_norm.bias", "lm_head.layer_norm.weight"}
        self.assertEqual({key for key in info["missing_keys"] if not key.startswith("head_layers.")}, new_lm_head)
        self.assertEqual(info["unexpected_keys"], {"pooler.dense.weight", "pooler.dense.bias"})
        for key, tensor in source.state_dict().items():
            if not key.startswith("pooler."):
                self.assertTrue(torch.equal(model.roberta.state_dict()[key], tensor), key)
        self.assertIs(model.lm_head.decoder.weight, model.roberta.embeddings.word_embeddings.weight)

    @parameterized.expand(FAMILY_PARAMETERS)
    def test_backbone_computes_the_family_model_and_pools_the_first_token(self, family: str) -> None:
        source = save_masked_lm(family, self.workdir.name, **SENSITIVE)
        plain = FAMILIES[family][1].from_pretrained(self.workdir.name, add_pooling_layer=False).eval()
        backbone = CondenserModel.from_pretrained(self.workdir.name, skip_from=2).eval()
        batch = without_labels(tiny_batch(backbone.config, lengths=LENGTHS))
        self.assertTrue((batch["input_ids"] == ROBERTA_PAD_ID).any(), "the batch must hold padding")
        with torch.no_grad():
            expected = plain(**batch).last_hidden_state
            outputs = backbone(**batch)
            # Without token types and with another padding layout the positions still come from the padding index.
            left_padded = {"input_ids": batch["input_ids"].flip(1), "attention_mask": batch["attention_mask"].flip(1)}
            assert_close(backbone(**left_padded).last_hidden_state, plain(**left_padded).last_hidden_state)
            late_logits = source.lm_head(outputs.last_hidden_state)
        assert_close(outputs.last_hidden_state, expected, atol=1e-5, rtol=1e-5)
        assert_close(outputs.pooler_output, expected[:, 0], atol=1e-5, rtol=1e-5)
        assert_close(late_logits, source(**batch).logits, atol=1e-5, rtol=1e-5)

    @parameterized.expand(FAMILY_PARAMETERS)
    def test_saved_condenser_keeps_the_family_and_its_backbone_loads_into_the_plain_model(self, family: str) -> None:
        save_masked_lm(family, self.workdir.name)
        model = CondenserForPreTraining.from_pretrained(self.workdir.name, skip_from=2).eval()
        with tempfile.TemporaryDirectory() as saved:
            model.save_pretrained(saved)
            names = set(load_file(os.path.join(saved, "model.safetensors")))
            self.assertTrue(names, "nothing saved")
            self.assertTrue(all(name.startswith(("roberta.", "lm_head.", "head_layers.")) for name in names), names)
            reloaded, info = AutoModelForPreTraining.from_pretrained(saved, output_loading_info=True)
            backbone = AutoModel.from_pretrained(saved)
            plain, plain_info = FAMILIES[family][1].from_pretrained(
                saved, add_pooling_layer=False, output_loading_info=True
            )
        self.assertIs(type(reloaded), CondenserForPreTraining)
        self.assertEqual((reloaded.config.backbone_type, backbone.config.backbone_type), (family, family))
        self.assertEqual({kind: keys for kind, keys in info.items() if keys and kind != "error_msgs"}, {})
        for key, tensor in model.state_dict().items():
            self.assertTrue(torch.equal(reloaded.state_dict()[key], tensor), key)
        # Plain transformers reads the backbone straight out of the Condenser checkpoint (no renaming).
        self.assertEqual(plain_info["missing_keys"], set())
        for key, tensor in plain.state_dict().items():
            self.assertTrue(torch.equal(model.roberta.state_dict()[key], tensor), key)

    def test_bert_checkpoints_keep_bert_names_and_family(self) -> None:
        model = CondenserForPreTraining(tiny_config())
        self.assertEqual((model.config.backbone_type, model.base_model_prefix), ("bert", "bert"))
        self.assertIs(model.mlm_head, model.cls)
        self.assertFalse(hasattr(model, "roberta") or hasattr(model, "lm_head"))
        # A config saved before `backbone_type` existed is a BERT one.
        legacy = tiny_config().to_dict()
        del legacy["backbone_type"]
        self.assertEqual(CondenserConfig.from_dict(legacy).backbone_type, "bert")


class RobertaFamilyMatchesOriginalRecipeTest(unittest.TestCase):
    """The Condenser loss on a RoBERTa-family backbone is the original recipe's (SPEC §8)."""

    @parameterized.expand(
        [
            (family, attn, sparse)
            for family in FAMILIES
            for attn in ("eager", "sdpa", "sdpa_recompute")
            for sparse in (True, False)
        ]
    )
    def test_losses_logits_and_gradients_match(self, family: str, attn_implementation: str, sparse: bool) -> None:
        torch.manual_seed(0)
        config = tiny_config(backbone_type=family, sparse_prediction=sparse, **SENSITIVE)
        config._attn_implementation = attn_implementation
        model = CondenserForPreTraining(config).eval()
        batch = tiny_batch(model.config, lengths=LENGTHS)
        expected, reference_parameters = original_recipe(model, batch)
        outputs = model(**batch)
        for name in ("loss", "head_mlm_loss", "late_mlm_loss"):
            assert_close(getattr(outputs, name), expected[name], msg=f"{name} differs from the original recipe")
        labelled = batch["labels"] != -100
        expected_logits = {
            key: expected[key][labelled] if sparse else expected[key] for key in ("logits", "late_logits")
        }
        assert_close(outputs.logits, expected_logits["logits"], atol=1e-4, rtol=1e-4)
        assert_close(outputs.late_logits, expected_logits["late_logits"], atol=1e-4, rtol=1e-4)
        assert_close(outputs.cls_vectors, expected["cls"], atol=1e-5, rtol=1e-5)
        # The two losses differ: the head really reads other states than the last layer.
        self.assertGreater((outputs.head_mlm_loss - outputs.late_mlm_loss).abs().item(), 1e-3)

        # Gradients of every weight (the tied embeddings included) equal the reference's.
        outputs.loss.backward()
        expected["loss"].backward()
        for name, parameter in model.named_parameters():
            assert_close(parameter.grad, reference_parameters[name].grad, atol=1e-5, rtol=1e-4, msg=name)


class RobertaFamilyConfigTest(unittest.TestCase):
    """`backbone_type` and the RoBERTa position fields are validated at construction with clear errors."""

    def test_unknown_backbone_type_names_the_supported_families(self) -> None:
        with self.assertRaises(ValueError) as raised:
            CondenserConfig(backbone_type="deberta-v2")
        for family in ("bert", "roberta", "xlm-roberta"):
            self.assertIn(f'"{family}"', str(raised.exception))

    def test_roberta_family_needs_a_padding_index(self) -> None:
        with self.assertRaisesRegex(ValueError, "pad_token_id.*padding index"):
            CondenserConfig(backbone_type="roberta", pad_token_id=None)
        with self.assertRaisesRegex(ValueError, "max_position_embeddings.*at least 3"):
            CondenserConfig(backbone_type="roberta", pad_token_id=1, max_position_embeddings=2)

    @parameterized.expand(FAMILY_PARAMETERS)
    def test_max_sequence_length_leaves_out_the_padding_index(self, family: str) -> None:
        config = tiny_config(backbone_type=family)
        self.assertEqual(config.max_sequence_length, config.max_position_embeddings - config.pad_token_id - 1)
        self.assertEqual(tiny_config().max_sequence_length, tiny_config().max_position_embeddings)
        model = CondenserModel(config).eval()
        limit = config.max_sequence_length
        with torch.no_grad():
            model(input_ids=torch.full((1, limit), 7))
            with self.assertRaisesRegex(ValueError, f"exceeds the positions of this {family} backbone.*\\({limit}\\)"):
                model(input_ids=torch.full((1, limit + 1), 7))

    def test_a_backbone_type_contradicting_the_checkpoint_is_refused(self) -> None:
        with tempfile.TemporaryDirectory() as directory:
            save_masked_lm("roberta", directory)
            with self.assertRaisesRegex(
                ValueError, "`backbone_type='bert'` was passed, but the checkpoint's backbone"
            ):
                CondenserForPreTraining.from_pretrained(directory, skip_from=2, backbone_type="bert")
            # Naming the checkpoint's own family is fine.
            config = CondenserConfig.from_pretrained(directory, skip_from=2, backbone_type="roberta")
        self.assertEqual(config.backbone_type, "roberta")
        legacy = tiny_config().to_dict()
        del legacy["backbone_type"]
        with self.assertRaisesRegex(ValueError, "checkpoint's backbone is 'bert'"):
            CondenserConfig.from_dict(legacy, backbone_type="roberta")
        # `max_sequence_length` is derived: a config.json holding it still loads.
        self.assertEqual(CondenserConfig.from_dict({**legacy, "max_sequence_length": 3}).max_sequence_length, 64)

    @parameterized.expand(FAMILY_PARAMETERS)
    def test_from_pretrained_reads_the_family_from_the_checkpoint(self, family: str) -> None:
        with tempfile.TemporaryDirectory() as directory:
            source = save_masked_lm(family, directory)
            config = CondenserConfig.from_pretrained(directory, skip_from=2, cocondenser=True)
        self.assertEqual((config.model_type, config.backbone_type), ("condenser", family))
        self.assertEqual((config.skip_from, config.cocondenser), (2, True))
        self.assertEqual(config.pad_token_id, source.config.pad_token_id)


if __name__ == "__main__":
    unittest.main()
