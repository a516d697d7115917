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
"""Conversion and export for every backbone family: RoBERTa and XLM-RoBERTa next to BERT (SPEC §5, §8).

- `export_backbone` writes a Condenser's backbone in its own architecture (`RobertaForMaskedLM`, `XLMRobertaModel`,
  ...) and stock transformers reproduces the Condenser's outputs from it, without the plugin; for BERT it writes what
  `export_to_bert` writes, and `export_to_bert` refuses the other families.
- `convert_original_checkpoint` reads the original code's RoBERTa layout: a `RobertaForMaskedLM` (or XLM-RoBERTa)
  folder plus the head's `c_head.{i}.*` `RobertaLayer` tensors in `model.pt`. The original model is rebuilt here from
  transformers' `RobertaForMaskedLM` and `RobertaLayer` (SPEC §8), independently of the package.
"""

import contextlib
import importlib.metadata
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path


os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from parameterized import parameterized
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoTokenizer,
    RobertaConfig,
    RobertaForMaskedLM,
    RobertaModel,
    RobertaTokenizer,
    XLMRobertaConfig,
    XLMRobertaForMaskedLM,
    XLMRobertaModel,
    XLMRobertaTokenizer,
)
from transformers.models.roberta.modeling_roberta import RobertaLayer
from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaLayer

from tests.models.condenser.testing_utils import FOUR_LAYER_FIELDS, tiny_model
from transformers_condenser import (
    CondenserConfig,
    CondenserForPreTraining,
    CondenserModel,
    export_backbone,
    export_to_bert,
)
from transformers_condenser.configuration_condenser import BACKBONE_TYPES
from transformers_condenser.conversion import (
    CONDENSER_ONLY_CONFIG_FIELDS,
    PLAIN_FAMILIES,
    TOKENIZER_FILES,
    convert_original_checkpoint,
    export_backbone_main,
)


# The two RoBERTa families: (backbone_type, config class, masked-LM class, backbone class, layer class, tokenizer).
FAMILIES = {
    "roberta": (RobertaConfig, RobertaForMaskedLM, RobertaModel, RobertaLayer, RobertaTokenizer),
    "xlm-roberta": (XLMRobertaConfig, XLMRobertaForMaskedLM, XLMRobertaModel, XLMRobertaLayer, XLMRobertaTokenizer),
}
FAMILY_NAMES = {"roberta": "RoBERTa", "xlm-roberta": "XLM-RoBERTa"}
PARAMETERS = [(backbone_type,) for backbone_type in FAMILIES]
BOS_ID, PAD_ID, EOS_ID = 0, 1, 2
SKIP_FROM = 2
# The fields a plain checkpoint's config.json must not carry.
CONDENSER_FIELDS = {"skip_from", "n_head_layers", "late_mlm", "sparse_prediction", "cocondenser", "backbone_type"}
# RoBERTa's tokenizer as transformers 4.x saved it: byte-level BPE files, `tokenizer_config.json` without a class.
ROBERTA_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "a", "b", "c", "Ġ", "Ġa", "ab", "Ġab", "Ġb", "Ġc"]
ROBERTA_MERGES = "#version: 0.2\nĠ a\na b\nĠ b\nĠ c\nĠa b\n"
# XLM-RoBERTa's (Unigram) pieces and scores.
XLM_ROBERTA_PIECES = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁a", -1.0), ("▁b", -1.0)]
XLM_ROBERTA_PIECES += [("c", -2.0), ("a", -2.0), ("b", -2.0), ("▁", -3.0)]
TEXT = "ab abc b a"


def tiny_family_config(backbone_type: str, **overrides):
    """The tiny RoBERTa / XLM-RoBERTa config of these tests (random weights 10x RoBERTa's scale, eager attention)."""
    fields = {
        "vocab_size": 99,
        "hidden_size": 32,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "intermediate_size": 37,
        "max_position_embeddings": 66,
        "pad_token_id": PAD_ID,
        "type_vocab_size": 1,
        "initializer_range": 0.2,
        "attn_implementation": "eager",
    }
    return FAMILIES[backbone_type][0](**{**fields, **overrides})


def write_tokenizer(backbone_type: str, directory: Path) -> None:
    """Write a tiny tokenizer of the family into `directory`, with no `tokenizer_class` (as transformers 4.x did)."""
    if backbone_type == "roberta":
        (directory / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(ROBERTA_TOKENS)}))
        (directory / "merges.txt").write_text(ROBERTA_MERGES)
        (directory / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 64}))
    else:
        XLMRobertaTokenizer(vocab=XLM_ROBERTA_PIECES).save_pretrained(directory)
        tokenizer_config = json.loads((directory / "tokenizer_config.json").read_text())
        del tokenizer_config["tokenizer_class"]
        (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))


def random_head(backbone_type: str, n_layers: int, seed: int, **overrides) -> nn.ModuleList:
    """`n_layers` layers of the family (`RobertaLayer`, `XLMRobertaLayer`) with random weights, LayerNorms included."""
    torch.manual_seed(seed)
    config = tiny_family_config(backbone_type, **overrides)
    head = nn.ModuleList([FAMILIES[backbone_type][3](config) for _ in range(n_layers)]).eval()
    with torch.no_grad():
        for name, parameter in head.named_parameters():
            if "LayerNorm.weight" in name:
                parameter.copy_(1 + 0.2 * torch.randn_like(parameter))
            else:
                parameter.normal_(0.0, 0.2)
    return head


def write_original_checkpoint(
    backbone_type: str, directory: Path, n_head_layers: int = 2, weights_format: str = "safetensors", seed: int = 0
) -> tuple[nn.Module, nn.ModuleList]:
    """Write a checkpoint in the original code's RoBERTa layout into `directory`; return the original model's parts.

    `weights_format="bin"` writes `pytorch_model.bin` as transformers 4.x did for roberta-base: a pickled state dict
    with the tied decoder copies, the `position_ids` / `token_type_ids` buffers and a pooler.
    """
    torch.manual_seed(seed)
    masked_lm = FAMILIES[backbone_type][1](tiny_family_config(backbone_type)).eval()
    directory.mkdir(parents=True)
    masked_lm.save_pretrained(directory)
    config_dict = json.loads((directory / "config.json").read_text())
    config_dict.update(gradient_checkpointing=False, position_embedding_type="absolute", transformers_version="4.2.1")
    (directory / "config.json").write_text(json.dumps(config_dict))
    if weights_format == "bin":
        (directory / "model.safetensors").unlink()
        state = dict(masked_lm.state_dict())
        state["roberta.embeddings.position_ids"] = torch.arange(66)[None]
        state["roberta.embeddings.token_type_ids"] = torch.zeros(1, 66, dtype=torch.long)
        state["roberta.pooler.dense.weight"] = torch.randn(32, 32)
        state["roberta.pooler.dense.bias"] = torch.randn(32)
        torch.save(state, directory / "pytorch_model.bin")
    write_tokenizer(backbone_type, directory)
    head = random_head(backbone_type, n_head_layers, seed + 1)
    head_state = {f"c_head.{key}": value for key, value in head.state_dict().items()}
    head_state["co_target"] = torch.arange(16)  # coCondenser's batch-size-dependent buffer
    torch.save(head_state, directory / "model.pt")
    return masked_lm, head


def family_batch(batch_size: int = 3, seq_length: int = 9, seed: int = 0) -> dict[str, torch.Tensor]:
    """`<s> tokens </s> <pad>...` rows of different lengths (ids of ordinary tokens from 3 to 98)."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(3, 99, (batch_size, seq_length), generator=generator)
    attention_mask = torch.zeros(batch_size, seq_length, dtype=torch.long)
    for row in range(batch_size):
        length = seq_length - 2 * row
        input_ids[row, 0], input_ids[row, length - 1], input_ids[row, length:] = BOS_ID, EOS_ID, PAD_ID
        attention_mask[row, :length] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def original_head_logits(
    masked_lm: nn.Module, head: nn.ModuleList, batch: dict[str, torch.Tensor], skip_from: int
) -> torch.Tensor:
    """SPEC §8: the original RoBERTa Condenser's head logits, from `RobertaForMaskedLM` and `RobertaLayer`s."""
    outputs = masked_lm(**batch, output_hidden_states=True)
    states = torch.cat([outputs.hidden_states[-1][:, :1], outputs.hidden_states[skip_from][:, 1:]], dim=1)
    additive_mask = (1.0 - batch["attention_mask"][:, None, None, :].float()) * torch.finfo(torch.float32).min
    for layer in head:
        states = layer(states, additive_mask)
    return masked_lm.lm_head(states)


class FamilyTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name)

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def assert_no_staging_left(self) -> None:
        """No temporary or retired sibling of an output directory survives."""
        self.assertEqual(sorted(path.name for path in self.root.iterdir() if path.name.startswith(".")), [])

    def warm_started_condenser(self, backbone_type: str, seed: int = 0) -> tuple[CondenserForPreTraining, Path]:
        """Warm-start a Condenser from a random masked LM of the family (with tokenizer) and save it; return both."""
        torch.manual_seed(seed)
        plain_dir, condenser_dir = self.root / f"plain-{backbone_type}", self.root / f"condenser-{backbone_type}"
        FAMILIES[backbone_type][1](tiny_family_config(backbone_type)).save_pretrained(plain_dir)
        write_tokenizer(backbone_type, plain_dir)
        model = CondenserForPreTraining.from_pretrained(plain_dir, skip_from=SKIP_FROM).eval()
        self.assertEqual(model.config.backbone_type, backbone_type)
        model.save_pretrained(condenser_dir)
        AutoTokenizer.from_pretrained(plain_dir).save_pretrained(condenser_dir)
        return model, condenser_dir


class ExportBackboneTest(FamilyTestCase):
    @parameterized.expand(PARAMETERS)
    def test_export_reloads_as_the_family_with_the_condenser_outputs(self, backbone_type: str) -> None:
        _, masked_lm_class, model_class, _, tokenizer_class = FAMILIES[backbone_type]
        model, condenser_dir = self.warm_started_condenser(backbone_type)
        mlm_dir = export_backbone(condenser_dir, self.root / "mlm")
        backbone_dir = export_backbone(condenser_dir, self.root / "backbone", with_mlm_head=False)
        self.assertEqual(mlm_dir, (self.root / "mlm").resolve())

        for folder, architecture in ((mlm_dir, masked_lm_class), (backbone_dir, model_class)):
            exported = json.loads((folder / "config.json").read_text())
            self.assertEqual(exported["model_type"], backbone_type)
            self.assertEqual(exported["architectures"], [architecture.__name__])
            self.assertEqual(exported.keys() & (CONDENSER_FIELDS | {"auto_map"}), set())
            self.assertEqual(list(folder.glob("*.py")), [])
            tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
            self.assertEqual(tokenizer_config["tokenizer_class"], tokenizer_class.__name__)

        # The saved tensors are the Condenser's, bit for bit: backbone and MLM head, no Condenser head.
        condenser_state = {key: value for key, value in model.state_dict().items() if not key.startswith("head_")}
        mlm, info = AutoModelForMaskedLM.from_pretrained(mlm_dir, output_loading_info=True)
        self.assertIs(type(mlm), masked_lm_class)
        self.assertFalse(info["missing_keys"] or info["unexpected_keys"], info)
        self.assertEqual(mlm.state_dict().keys(), condenser_state.keys())
        for key, tensor in mlm.state_dict().items():
            self.assertTrue(torch.equal(tensor, condenser_state[key]), key)
        self.assertIs(mlm.lm_head.decoder.weight, mlm.roberta.embeddings.word_embeddings.weight)
        backbone = AutoModel.from_pretrained(backbone_dir, add_pooling_layer=False)
        self.assertIs(type(backbone), model_class)
        backbone_state = CondenserModel.from_pretrained(condenser_dir).state_dict()
        self.assertEqual(backbone.state_dict().keys(), backbone_state.keys())
        for key, tensor in backbone.state_dict().items():
            self.assertTrue(torch.equal(tensor, backbone_state[key]), key)

        batch = family_batch()
        condenser = CondenserForPreTraining.from_pretrained(condenser_dir, sparse_prediction=False).eval()
        with torch.no_grad():
            hidden = condenser.base_model(**batch).last_hidden_state
            late_logits = condenser.mlm_head(hidden)
            torch.testing.assert_close(condenser(**batch).late_logits, late_logits, rtol=0, atol=1e-5)
            torch.testing.assert_close(backbone.eval()(**batch).last_hidden_state, hidden, rtol=0, atol=1e-5)
            torch.testing.assert_close(mlm.eval()(**batch).logits, late_logits, rtol=0, atol=1e-5)
        # The comparison is sensitive: another input gives other states.
        self.assertGreater((hidden[0, 1] - hidden[0, 2]).abs().max().item(), 1e-2)
        self.assert_no_staging_left()

    def test_stock_transformers_loads_the_exports_without_the_plugin(self) -> None:
        references, folders = {}, []
        for backbone_type in FAMILIES:
            _, condenser_dir = self.warm_started_condenser(backbone_type)
            mlm_dir = export_backbone(condenser_dir, self.root / f"{backbone_type}-mlm")
            backbone_dir = export_backbone(condenser_dir, self.root / f"{backbone_type}-backbone", with_mlm_head=False)
            condenser = CondenserForPreTraining.from_pretrained(condenser_dir).eval()
            with torch.no_grad():
                hidden = condenser.base_model(**family_batch()).last_hidden_state
                references[f"{backbone_type}.hidden"] = hidden
                references[f"{backbone_type}.logits"] = condenser.mlm_head(hidden)
            folders += [backbone_type, str(mlm_dir), str(backbone_dir)]
        references.update(family_batch())
        save_file({name: tensor.contiguous() for name, tensor in references.items()}, self.root / "reference.st")

        result = subprocess.run(
            [sys.executable, "-c", EXPORT_CHECK_WITHOUT_PLUGIN, str(self.root / "reference.st"), *folders],
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr[-3000:])
        self.assertEqual(result.stdout.count("reproduced"), len(FAMILIES), result.stdout)

    def test_bert_export_through_export_backbone_equals_export_to_bert(self) -> None:
        tiny_model(CondenserForPreTraining, **FOUR_LAYER_FIELDS).save_pretrained(self.root / "condenser")
        for with_mlm_head in (True, False):
            generic = export_backbone(self.root / "condenser", self.root / "generic", with_mlm_head=with_mlm_head)
            bert = export_to_bert(self.root / "condenser", self.root / "bert", with_mlm_head=with_mlm_head)
            self.assertEqual(sorted(p.name for p in generic.iterdir()), sorted(p.name for p in bert.iterdir()))
            self.assertEqual(
                json.loads((generic / "config.json").read_text()), json.loads((bert / "config.json").read_text())
            )
            self.assertEqual(json.loads((bert / "config.json").read_text())["model_type"], "bert")
            generic_weights, bert_weights = (
                load_file(generic / "model.safetensors"),
                load_file(bert / "model.safetensors"),
            )
            self.assertEqual(generic_weights.keys(), bert_weights.keys())
            self.assertTrue(all(torch.equal(generic_weights[key], bert_weights[key]) for key in bert_weights))

    @parameterized.expand(PARAMETERS)
    def test_export_to_bert_refuses_a_roberta_family_condenser(self, backbone_type: str) -> None:
        _, condenser_dir = self.warm_started_condenser(backbone_type)
        with self.assertRaises(ValueError) as raised:
            export_to_bert(condenser_dir, self.root / "bert")
        message = str(raised.exception)
        for fragment in (f"backbone is {FAMILY_NAMES[backbone_type]}", "condenser-export-backbone", "export_backbone"):
            self.assertIn(fragment, message)
        self.assertFalse((self.root / "bert").exists())
        self.assert_no_staging_left()

    @parameterized.expand([(backbone_type,) for backbone_type in BACKBONE_TYPES])
    def test_export_copies_every_tokenizer_file_and_records_the_family_tokenizer(self, backbone_type: str) -> None:
        config = tiny_family_config(backbone_type) if backbone_type != "bert" else None
        fields = {**FOUR_LAYER_FIELDS, "backbone_type": backbone_type}
        if config is not None:
            fields.update(pad_token_id=PAD_ID, max_position_embeddings=66, type_vocab_size=1)
        tiny_model(CondenserForPreTraining, **fields).save_pretrained(self.root / "condenser")
        # Arbitrary bytes: the export copies tokenizer files, it does not read them.
        contents = {name: f"{name} of this test\n".encode() for name in TOKENIZER_FILES}
        contents["tokenizer_config.json"] = json.dumps({"model_max_length": 64}).encode()
        for name, content in contents.items():
            (self.root / "condenser" / name).write_bytes(content)
        export_backbone(self.root / "condenser", self.root / "plain")
        for name, content in contents.items():
            if name != "tokenizer_config.json":
                self.assertEqual((self.root / "plain" / name).read_bytes(), content, name)
        self.assertEqual(
            json.loads((self.root / "plain" / "tokenizer_config.json").read_text()),
            {"model_max_length": 64, "tokenizer_class": PLAIN_FAMILIES[backbone_type].tokenizer_class},
        )
        # A class the input names is kept.
        (self.root / "condenser" / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "MyTokenizer"}))
        export_backbone(self.root / "condenser", self.root / "plain")
        self.assertEqual(
            json.loads((self.root / "plain" / "tokenizer_config.json").read_text())["tokenizer_class"], "MyTokenizer"
        )

    def test_condenser_only_config_fields_are_exactly_the_condenser_fields(self) -> None:
        self.assertEqual(set(PLAIN_FAMILIES), set(BACKBONE_TYPES))
        # The fields naming the Condenser classes are dropped too; the family's class writes its own on save.
        self.assertEqual(
            set(CONDENSER_ONLY_CONFIG_FIELDS), CONDENSER_FIELDS | {"auto_map", "architectures", "model_type"}
        )
        # Every field a Condenser adds to a family's config, `backbone_type` included, and none of the family's.
        for family in PLAIN_FAMILIES.values():
            own_fields = set(family.config_class.__dataclass_fields__)
            self.assertEqual(set(CondenserConfig.__dataclass_fields__) - own_fields, CONDENSER_FIELDS, family.name)


EXPORT_CHECK_WITHOUT_PLUGIN = r"""
import json, sys
from pathlib import Path
sys.modules["transformers_condenser"] = None  # as if the plugin were not installed
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForMaskedLM

try:
    import transformers_condenser  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("transformers_condenser is importable")
reference = load_file(sys.argv[1])
inputs = {name: reference[name] for name in ("input_ids", "attention_mask")}
arguments = sys.argv[2:]
for backbone_type, mlm_dir, backbone_dir in zip(arguments[::3], arguments[1::3], arguments[2::3]):
    for directory in (Path(mlm_dir), Path(backbone_dir)):
        config = json.loads((directory / "config.json").read_text())
        assert config["model_type"] == backbone_type and "auto_map" not in config, config
        assert not list(directory.glob("*.py")), list(directory.glob("*.py"))
    with torch.no_grad():
        backbone, info = AutoModel.from_pretrained(backbone_dir, output_loading_info=True)
        assert backbone.config.model_type == backbone_type, type(backbone)
        # A Condenser has no pooler; nothing else may be missing or unexpected.
        assert sorted(info["missing_keys"]) == ["pooler.dense.bias", "pooler.dense.weight"], info
        assert not info["unexpected_keys"], info
        hidden = backbone.eval()(**inputs).last_hidden_state
        expected = reference[f"{backbone_type}.hidden"]
        assert torch.allclose(hidden, expected, rtol=0, atol=1e-5), (hidden - expected).abs().max()

        mlm, info = AutoModelForMaskedLM.from_pretrained(mlm_dir, output_loading_info=True)
        assert type(mlm).__name__.endswith("ForMaskedLM") and mlm.config.model_type == backbone_type, type(mlm)
        assert not info["missing_keys"] and not info["unexpected_keys"], info
        logits = mlm.eval()(**inputs).logits
        expected = reference[f"{backbone_type}.logits"]
        assert torch.allclose(logits, expected, rtol=0, atol=1e-5), (logits - expected).abs().max()
    print(f"{backbone_type}: stock transformers reproduced the Condenser outputs")
"""


class ExportBackboneCommandLineTest(FamilyTestCase):
    def run_cli(self, argv: list[str]) -> tuple[int, str, str]:
        """Call `export_backbone_main` in-process; return its exit status, stdout and stderr."""
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                status = export_backbone_main(argv)
            except SystemExit as stop:  # the error contract of cli_utils.cli_entry_point
                status = stop.code
        return status, stdout.getvalue(), stderr.getvalue()

    @parameterized.expand(PARAMETERS)
    def test_export_backbone_main_exit_codes_and_messages(self, backbone_type: str) -> None:
        output = self.root / "plain"
        status, _, stderr = self.run_cli(["--input_dir", str(self.root / "absent"), "--output_dir", str(output)])
        self.assertEqual(status, 1)
        self.assertIn("condenser-export-backbone: error: ", stderr)
        self.assertIn("does not exist", stderr)

        _, condenser_dir = self.warm_started_condenser(backbone_type)
        plain_dir = self.root / f"plain-{backbone_type}"
        status, _, stderr = self.run_cli(["--input_dir", str(plain_dir), "--output_dir", str(output)])
        self.assertEqual(status, 1)
        self.assertIn("condenser-export-backbone: error: ", stderr)
        self.assertIn(f"already a {FAMILY_NAMES[backbone_type]} checkpoint", stderr)
        self.assertFalse(output.exists())

        for flags, architecture in (([], FAMILIES[backbone_type][1]), (["--no-mlm-head"], FAMILIES[backbone_type][2])):
            status, stdout, stderr = self.run_cli(
                ["--input_dir", str(condenser_dir), "--output_dir", str(output), *flags]
            )
            self.assertEqual(status, 0, stderr)
            self.assertIn(f"wrote {output.resolve()}", stdout)
            self.assertIn(architecture.__name__, stderr)
            self.assertEqual(
                json.loads((output / "config.json").read_text())["architectures"], [architecture.__name__]
            )

        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit) as usage_error:
            export_backbone_main(["--input_dir", str(condenser_dir)])
        self.assertEqual(usage_error.exception.code, 2)

    def test_unknown_backbone_type_is_a_clear_error_not_a_traceback(self) -> None:
        _, condenser_dir = self.warm_started_condenser("roberta")
        config = json.loads((condenser_dir / "config.json").read_text())
        (condenser_dir / "config.json").write_text(json.dumps({**config, "backbone_type": "deberta"}))
        status, _, stderr = self.run_cli(["--input_dir", str(condenser_dir), "--output_dir", str(self.root / "x")])
        self.assertEqual(status, 1)
        self.assertIn("has backbone_type 'deberta'", stderr)
        self.assertIn('model_type "roberta"', stderr)
        self.assertFalse((self.root / "x").exists())

    def test_console_script_is_installed_and_helps_with_every_flag_and_default(self) -> None:
        # setup.py's console_scripts entry (the installed metadata of `pip install -e .`).
        (entry_point,) = importlib.metadata.entry_points(group="console_scripts", name="condenser-export-backbone")
        self.assertIs(entry_point.load(), export_backbone_main)
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout), self.assertRaises(SystemExit) as exit_status:
            export_backbone_main(["--help"])
        self.assertEqual(exit_status.exception.code, 0)
        help_text = " ".join(stdout.getvalue().split())
        for fragment in ("--input_dir", "--output_dir", "--no-mlm-head", "(default: off, the MLM head is exported)"):
            self.assertIn(fragment, help_text)
        for family in PLAIN_FAMILIES.values():
            self.assertIn(family.model_class.__name__, help_text)


class ConvertOriginalRobertaLayoutTest(FamilyTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.original, self.converted = self.root / "original", self.root / "converted"

    def assert_conversion_fails(self, *fragments: str) -> str:
        """Converting `self.original` raises a `ValueError` holding every fragment; nothing is written."""
        with self.assertRaises(ValueError) as raised:
            convert_original_checkpoint(self.original, self.converted, skip_from=SKIP_FROM)
        message = str(raised.exception)
        for fragment in fragments:
            self.assertIn(fragment, message)
        self.assertFalse(self.converted.exists())
        self.assert_no_staging_left()
        return message

    @parameterized.expand(
        [(backbone_type, weights_format) for backbone_type in FAMILIES for weights_format in ("safetensors", "bin")]
    )
    def test_every_tensor_round_trips_and_the_head_is_the_original(self, backbone_type: str, weights_format) -> None:
        masked_lm, head = write_original_checkpoint(
            backbone_type, self.original, n_head_layers=3, weights_format=weights_format
        )
        with self.assertLogs("transformers_condenser.conversion", level="INFO") as logs:
            output = convert_original_checkpoint(self.original, self.converted, skip_from=SKIP_FROM)
        self.assertEqual(output, self.converted.resolve())
        if weights_format == "bin":
            self.assertIn("roberta.pooler.dense.weight", "\n".join(logs.output))

        model, info = CondenserForPreTraining.from_pretrained(output, output_loading_info=True)
        self.assertFalse(info["missing_keys"] or info["unexpected_keys"], info)
        config = model.config
        self.assertEqual((config.backbone_type, config.skip_from, config.n_head_layers), (backbone_type, 2, 3))
        state = model.state_dict()
        for key, tensor in masked_lm.state_dict().items():
            self.assertTrue(torch.equal(state[key], tensor), key)
        for key, tensor in head.state_dict().items():
            self.assertTrue(torch.equal(state[f"head_layers.{key}"], tensor), key)
        self.assertIs(model.get_output_embeddings().weight, model.roberta.embeddings.word_embeddings.weight)
        saved = load_file(output / "model.safetensors")
        self.assertFalse([key for key in saved if "pooler" in key or "co_target" in key or key.startswith("c_head.")])

        # The converted model computes what the original code's RoBERTa Condenser computed (SPEC §8).
        batch = family_batch()
        with torch.no_grad():
            expected = original_head_logits(masked_lm, head, batch, SKIP_FROM)
            logits = model.eval()(**batch).logits
            other_skip = original_head_logits(masked_lm, head, batch, SKIP_FROM + 1)
        torch.testing.assert_close(logits, expected, rtol=0, atol=1e-4)
        self.assertGreater((other_skip - expected).abs().max().item(), 1e-2)
        self.assert_no_staging_left()

    @parameterized.expand(PARAMETERS)
    def test_tokenizer_class_of_the_family_is_recorded(self, backbone_type: str) -> None:
        write_original_checkpoint(backbone_type, self.original)
        convert_original_checkpoint(self.original, self.converted, skip_from=SKIP_FROM)
        tokenizer_class = FAMILIES[backbone_type][4]
        self.assertEqual(
            json.loads((self.converted / "tokenizer_config.json").read_text())["tokenizer_class"],
            tokenizer_class.__name__,
        )
        for name in TOKENIZER_FILES:
            if name != "tokenizer_config.json" and (self.original / name).is_file():
                self.assertEqual((self.converted / name).read_bytes(), (self.original / name).read_bytes(), name)
        original_tokenizer = AutoTokenizer.from_pretrained(self.original)
        converted_tokenizer = AutoTokenizer.from_pretrained(self.converted)
        self.assertIs(type(converted_tokenizer), tokenizer_class)
        ids = converted_tokenizer(TEXT)["input_ids"]
        self.assertEqual(ids, original_tokenizer(TEXT)["input_ids"])
        self.assertEqual((ids[0], ids[-1]), (BOS_ID, EOS_ID))

    @parameterized.expand(PARAMETERS)
    def test_mis_shaped_head_tensors_are_rejected_and_named(self, backbone_type: str) -> None:
        write_original_checkpoint(backbone_type, self.original)
        state = torch.load(self.original / "model.pt", weights_only=True)
        state["c_head.1.intermediate.dense.weight"] = torch.zeros(32, 37)
        torch.save(state, self.original / "model.pt")
        self.assert_conversion_fails(
            "`c_head.1.intermediate.dense.weight` has shape (32, 37), expected (37, 32)",
            f"32-dimensional {FAMILY_NAMES[backbone_type]} layers",
        )

        # A head of another width: every tensor is named.
        head = random_head(backbone_type, 1, seed=3, hidden_size=16, intermediate_size=20)
        torch.save({f"c_head.{key}": value for key, value in head.state_dict().items()}, self.original / "model.pt")
        message = self.assert_conversion_fails("`c_head.0.attention.self.query.weight` has shape (16, 16)")
        self.assertEqual(message.count("has shape"), len(head.state_dict()))

    @parameterized.expand(PARAMETERS)
    def test_untied_decoder_and_foreign_weights_are_rejected(self, backbone_type: str) -> None:
        write_original_checkpoint(backbone_type, self.original, weights_format="bin")
        state = torch.load(self.original / "pytorch_model.bin", weights_only=True)
        state["lm_head.decoder.weight"] = state["lm_head.decoder.weight"] + 1
        state["cls.predictions.bias"] = torch.zeros(99)  # BERT's name, in a RoBERTa checkpoint
        torch.save(state, self.original / "pytorch_model.bin")
        self.assert_conversion_fails(
            "`lm_head.decoder.weight` differs from `roberta.embeddings.word_embeddings.weight`",
            "unexpected key `cls.predictions.bias`",
            FAMILIES[backbone_type][1].__name__,
        )

    @parameterized.expand(PARAMETERS)
    def test_backbone_weights_that_do_not_match_the_config_are_rejected(self, backbone_type: str) -> None:
        write_original_checkpoint(backbone_type, self.original, weights_format="bin")
        state = torch.load(self.original / "pytorch_model.bin", weights_only=True)
        del state["roberta.encoder.layer.3.output.dense.bias"]
        state["roberta.embeddings.position_embeddings.weight"] = torch.zeros(70, 32)
        torch.save(state, self.original / "pytorch_model.bin")
        self.assert_conversion_fails(
            "missing roberta.encoder.layer.3.output.dense.bias",
            "`roberta.embeddings.position_embeddings.weight` (70, 32) (config.json implies (66, 32))",
        )


if __name__ == "__main__":
    unittest.main()
