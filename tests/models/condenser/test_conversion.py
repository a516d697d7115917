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
"""Conversion of the original releases (SPEC §5) and export to plain BERT.

Every original checkpoint here is written by the test in the layout the original code saved: a `BertForMaskedLM`
folder, the head as a `torch.save`d dict of `c_head.{i}.*` tensors in `model.pt` (with coCondenser's `co_target`
buffer) and pickled training arguments that must never be opened (`args.pt`, `training_args.bin` are booby-trapped:
unpickling them creates a marker file). The original model of SPEC §2 is rebuilt here from transformers' `BertForMaskedLM`
and `BertLayer` with the classic additive attention mask, independently of the package.
"""

import contextlib
import io
import json
import os
import pickle
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock


os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from parameterized import parameterized
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, BertForPreTraining
from transformers.models.bert.modeling_bert import BertLayer

from tests.models.condenser.testing_utils import (
    CLS_ID,
    FOUR_LAYER_FIELDS,
    SENSITIVE_FIELDS,
    SEP_ID,
    run_cli,
    tiny_batch,
    tiny_bert_config,
    tiny_config,
    tiny_model,
)
from transformers_condenser import CondenserConfig, CondenserForPreTraining, CondenserModel
from transformers_condenser.conversion import (
    convert_main,
    convert_original_checkpoint,
    export_main,
    export_to_bert,
)


REPO_ROOT = Path(__file__).resolve().parents[3]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"tok{i}" for i in range(94)]
# The test batch: three padded rows.
BATCH_LENGTHS = (12, 9, 5)
TOKENIZER_FILES = {
    "vocab.txt": "\n".join(VOCAB) + "\n",
    # As saved by transformers 4.2 in the original releases: no `tokenizer_class` (config.json said "bert").
    "tokenizer_config.json": json.dumps({"do_lower_case": True, "model_max_length": 512}),
    "special_tokens_map.json": json.dumps(
        {
            "unk_token": "[UNK]",
            "sep_token": "[SEP]",
            "pad_token": "[PAD]",
            "cls_token": "[CLS]",
            "mask_token": "[MASK]",
        }
    ),
}


class _CreatesFileWhenUnpickled:
    """A pickle payload: unpickling it opens (so creates) `marker` for writing, as any code could run instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def random_head(config: BertConfig, n_layers: int, seed: int) -> nn.ModuleList:
    """`n_layers` BERT layers with random weights (LayerNorms too, so that every tensor matters)."""
    torch.manual_seed(seed)
    head = nn.ModuleList([BertLayer(config) for _ in range(n_layers)]).eval()
    with torch.no_grad():
        for name, parameter in head.named_parameters():
            if "LayerNorm.weight" in name:
                parameter.copy_(1 + 0.2 * torch.randn_like(parameter))
            else:
                parameter.normal_(0.0, 0.2)
    return head


def write_original_checkpoint(
    directory: Path,
    n_head_layers: int = 2,
    seed: int = 0,
    bert_class: type = BertForMaskedLM,
    weights_format: str = "safetensors",
    head: bool = True,
) -> tuple[BertForMaskedLM, nn.ModuleList]:
    """Write a checkpoint in the original release layout into `directory`; return the original model's two parts.

    `weights_format="bin"` writes `pytorch_model.bin` as transformers 4.2 did: a pickled state dict including the tied
    decoder copies and the `position_ids` buffer.
    """
    config = tiny_bert_config(**SENSITIVE_FIELDS)
    torch.manual_seed(seed)
    bert = bert_class(config).eval()
    directory.mkdir(parents=True)
    bert.save_pretrained(directory)
    # Fields the transformers 4.2 configs of the releases carry and today's BERT no longer reads.
    config_dict = json.loads((directory / "config.json").read_text())
    config_dict.update(gradient_checkpointing=False, position_embedding_type="absolute", transformers_version="4.2.1")
    (directory / "config.json").write_text(json.dumps(config_dict))
    if weights_format == "bin":
        (directory / "model.safetensors").unlink()
        state = dict(bert.state_dict())
        state["bert.embeddings.position_ids"] = torch.arange(config.max_position_embeddings)[None]
        torch.save(state, directory / "pytorch_model.bin")
    for name, text in TOKENIZER_FILES.items():
        (directory / name).write_text(text)
    head_layers = random_head(config, n_head_layers, seed + 1)
    if head:
        head_state = {f"c_head.{key}": value for key, value in head_layers.state_dict().items()}
        head_state["co_target"] = torch.arange(16)  # coCondenser's batch-size-dependent buffer
        torch.save(head_state, directory / "model.pt")
    for name in ("args.pt", "training_args.bin"):
        with open(directory / name, "wb") as file:
            pickle.dump(_CreatesFileWhenUnpickled(directory.parent / f"UNPICKLED-{name}"), file)
    return bert, head_layers


def edit_head_file(directory: Path, edit) -> None:
    """Rewrite `model.pt` of an original checkpoint after applying `edit` to its dict of tensors."""
    state = torch.load(directory / "model.pt", weights_only=True)
    edit(state)
    torch.save(state, directory / "model.pt")


def original_condenser_losses(
    bert: BertForMaskedLM, head: nn.ModuleList, skip_from: int, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """SPEC §2 as the original code computed it: (head MLM loss, late MLM loss) over the labelled positions."""
    labels = batch["labels"]
    outputs = bert(**batch, output_hidden_states=True)
    states = torch.cat([outputs.hidden_states[-1][:, :1], outputs.hidden_states[skip_from][:, 1:]], dim=1)
    # The original code's extended attention mask: 0 on tokens, -10000 on padding.
    additive_mask = (1.0 - batch["attention_mask"][:, None, None, :].float()) * -10000.0
    for layer in head:
        states = layer(states, additive_mask)
    head_logits = bert.cls(states)
    head_loss = F.cross_entropy(head_logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
    late_loss = F.cross_entropy(outputs.logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
    return head_loss, late_loss


class ConversionTestCase(unittest.TestCase):
    """Gives each test a fresh temporary folder and checks that no booby-trapped pickle was ever opened."""

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name)
        self.original = self.root / "original"
        self.converted = self.root / "converted"

    def tearDown(self) -> None:
        leftovers = sorted(path.name for path in self.root.iterdir() if path.name.startswith("UNPICKLED"))
        self._tmp.cleanup()
        self.assertEqual(leftovers, [], "a pickle of the original training run was unpickled")

    def assert_no_staging_left(self) -> None:
        """No temporary or retired sibling of an output directory survives."""
        hidden = sorted(path.name for path in self.root.iterdir() if path.name.startswith("."))
        self.assertEqual(hidden, [])

    def assert_conversion_fails(self, error_type: type, *fragments: str, **kwargs) -> str:
        """Converting `self.original` raises `error_type` whose message holds every fragment; nothing is written."""
        with self.assertRaises(error_type) as context:
            convert_original_checkpoint(self.original, self.converted, **{"skip_from": 2, **kwargs})
        message = str(context.exception)
        for fragment in fragments:
            self.assertIn(fragment, message)
        self.assertFalse(self.converted.exists())
        self.assert_no_staging_left()
        return message


class ConvertOriginalCheckpointTest(ConversionTestCase):
    @parameterized.expand([(1,), (2,), (3,)])
    def test_converted_loss_matches_original_model(self, skip_from: int) -> None:
        bert, head = write_original_checkpoint(self.original, n_head_layers=3)
        output = convert_original_checkpoint(self.original, self.converted, skip_from=skip_from)

        self.assertEqual(output, self.converted.resolve())
        model = CondenserForPreTraining.from_pretrained(output).eval()
        self.assertEqual((model.config.skip_from, model.config.n_head_layers), (skip_from, 3))
        batch = tiny_batch(tiny_config(), lengths=BATCH_LENGTHS)
        with torch.no_grad():
            head_loss, late_loss = original_condenser_losses(bert, head, skip_from, batch)
            outputs = model(**batch)
        torch.testing.assert_close(outputs.head_mlm_loss, head_loss, rtol=0, atol=1e-5)
        torch.testing.assert_close(outputs.late_mlm_loss, late_loss, rtol=0, atol=1e-5)
        torch.testing.assert_close(outputs.loss, head_loss + late_loss, rtol=0, atol=1e-5)
        # The head really matters: another skip_from gives another head loss.
        with torch.no_grad():
            other_head_loss, _ = original_condenser_losses(bert, head, 1 + skip_from % 3, batch)
        self.assertGreater((other_head_loss - head_loss).abs().item(), 1e-3)

    def test_output_is_one_safetensors_checkpoint_with_config_and_tokenizer(self) -> None:
        write_original_checkpoint(self.original)
        convert_original_checkpoint(self.original, self.converted, skip_from=2)

        names = sorted(path.name for path in self.converted.iterdir())
        # The code `trust_remote_code=True` loads: the model file and its relative imports.
        code_files = [
            "configuration_condenser.py",
            "hub_mixin.py",
            "loss_condenser.py",
            "modeling_condenser.py",
            "training_kernels.py",
        ]
        self.assertEqual(names, sorted(["config.json", "model.safetensors", *TOKENIZER_FILES, *code_files]))
        for name, text in TOKENIZER_FILES.items():
            if name == "tokenizer_config.json":
                # Copied, with the tokenizer class recorded: the checkpoint no longer says "bert".
                expected = {**json.loads(text), "tokenizer_class": "BertTokenizer"}
                self.assertEqual(json.loads((self.converted / name).read_text()), expected)
            else:
                self.assertEqual((self.converted / name).read_text(), text)
        weights = load_file(self.converted / "model.safetensors")
        self.assertIn("head_layers.1.output.LayerNorm.bias", weights)
        self.assertFalse([key for key in weights if "co_target" in key or key.startswith("c_head.")])
        config = json.loads((self.converted / "config.json").read_text())
        self.assertEqual((config["model_type"], config["skip_from"], config["n_head_layers"]), ("condenser", 2, 2))
        self.assertFalse({"gradient_checkpointing", "position_embedding_type"} & set(config))
        tokenizer = AutoTokenizer.from_pretrained(self.converted)
        self.assertEqual(tokenizer("tok3 tok7")["input_ids"], [CLS_ID, 8, 12, SEP_ID])
        self.assert_no_staging_left()

    def test_bin_weights_are_read_with_weights_only_and_every_tensor_kept(self) -> None:
        bert, head = write_original_checkpoint(self.original, weights_format="bin")
        with mock.patch.object(torch, "load", wraps=torch.load) as spy:
            convert_original_checkpoint(self.original, self.converted, skip_from=2)
        loaded = sorted(Path(call.args[0]).name for call in spy.call_args_list)
        self.assertEqual(loaded, ["model.pt", "pytorch_model.bin"])
        self.assertTrue(all(call.kwargs.get("weights_only") is True for call in spy.call_args_list))

        model = CondenserForPreTraining.from_pretrained(self.converted)
        state = model.state_dict()
        for key, tensor in bert.state_dict().items():
            self.assertTrue(torch.equal(state[key], tensor), key)
        for key, tensor in head.state_dict().items():
            self.assertTrue(torch.equal(state[f"head_layers.{key}"], tensor), key)
        self.assertIs(model.cls.predictions.decoder.weight, model.bert.embeddings.word_embeddings.weight)

    def test_bert_for_pretraining_drops_pooler_and_next_sentence_head_and_reports_them(self) -> None:
        bert, _ = write_original_checkpoint(self.original, bert_class=BertForPreTraining)
        with self.assertLogs("transformers_condenser.conversion", level="INFO") as logs:
            convert_original_checkpoint(self.original, self.converted, skip_from=2)
        report = "\n".join(logs.output)
        for key in ("bert.pooler.dense.weight", "cls.seq_relationship.weight", "cls.seq_relationship.bias"):
            self.assertIn(key, report)
        state = CondenserForPreTraining.from_pretrained(self.converted).state_dict()
        self.assertTrue(
            torch.equal(state["cls.predictions.transform.dense.weight"], bert.cls.predictions.transform.dense.weight)
        )

    def test_args_pickles_are_never_opened(self) -> None:
        write_original_checkpoint(self.original)
        # The trap is live: unpickling a copy does create its marker ...
        live = self.root / "live-marker"
        pickle.loads(pickle.dumps(_CreatesFileWhenUnpickled(live))).close()
        self.assertTrue(live.exists())
        # ... but conversion never unpickles them (tearDown checks the markers of every test).
        convert_original_checkpoint(self.original, self.converted, skip_from=2)
        self.assertFalse((self.root / "UNPICKLED-args.pt").exists())
        self.assertFalse((self.root / "UNPICKLED-training_args.bin").exists())

    def test_head_file_holding_code_is_refused_without_running_it(self) -> None:
        write_original_checkpoint(self.original)
        marker = self.root / "head-marker"
        torch.save({"c_head.0.output.dense.bias": _CreatesFileWhenUnpickled(marker)}, self.original / "model.pt")
        self.assert_conversion_fails(ValueError, "model.pt", "weights_only=True")
        self.assertFalse(marker.exists())

    def test_missing_input_directory_raises_os_error(self) -> None:
        self.assert_conversion_fails(OSError, str(self.original), "does not exist")

    def test_missing_weights_raise_os_error(self) -> None:
        write_original_checkpoint(self.original)
        (self.original / "model.safetensors").unlink()
        self.assert_conversion_fails(OSError, "model.safetensors", "pytorch_model.bin")

    def test_missing_head_file_is_an_error_unless_allowed(self) -> None:
        bert, _ = write_original_checkpoint(self.original, head=False)
        self.assert_conversion_fails(OSError, "model.pt", "--allow-missing-head")

        with self.assertLogs("transformers_condenser.conversion", level="WARNING") as logs:
            convert_original_checkpoint(self.original, self.converted, skip_from=2, allow_missing_head=True)
        self.assertIn("NEWLY INITIALISED", "\n".join(logs.output))
        model = CondenserForPreTraining.from_pretrained(self.converted)
        self.assertEqual(model.config.n_head_layers, 2)
        self.assertTrue(
            torch.equal(
                model.bert.encoder.layer[0].output.dense.weight, bert.bert.encoder.layer[0].output.dense.weight
            )
        )
        # BERT's initialisation (std 0.2 here, from the config), not leftovers of anything.
        query = model.head_layers[0].attention.self.query
        self.assertAlmostEqual(query.weight.std().item(), 0.2, delta=0.03)
        self.assertEqual(query.bias.abs().max().item(), 0.0)
        self.assertTrue(torch.equal(model.head_layers[1].output.LayerNorm.weight, torch.ones(32)))

    def test_unexpected_head_key_is_rejected_and_named(self) -> None:
        write_original_checkpoint(self.original)
        edit_head_file(
            self.original,
            lambda state: state.update(
                {"c_head.0.attention.self.distance_embedding.weight": torch.zeros(3, 4), "lm.bias": torch.zeros(2)}
            ),
        )
        self.assert_conversion_fails(
            ValueError,
            "unexpected key `c_head.0.attention.self.distance_embedding.weight`",
            "unexpected key `lm.bias`",
        )

    def test_mis_shaped_head_key_is_rejected_and_named(self) -> None:
        write_original_checkpoint(self.original)
        edit_head_file(
            self.original, lambda state: state.update({"c_head.1.intermediate.dense.weight": torch.zeros(32, 37)})
        )
        self.assert_conversion_fails(
            ValueError, "`c_head.1.intermediate.dense.weight` has shape (32, 37), expected (37, 32)"
        )

    def test_incomplete_head_layer_is_rejected_and_named(self) -> None:
        write_original_checkpoint(self.original)
        edit_head_file(self.original, lambda state: state.pop("c_head.1.output.LayerNorm.bias"))
        self.assert_conversion_fails(ValueError, "missing key(s) `c_head.1.output.LayerNorm.bias`")

    def test_non_contiguous_head_indices_are_rejected(self) -> None:
        write_original_checkpoint(self.original, n_head_layers=3)

        def drop_layer_one(state: dict) -> None:
            for key in [key for key in state if key.startswith("c_head.1.")]:
                del state[key]

        edit_head_file(self.original, drop_layer_one)
        self.assert_conversion_fails(ValueError, "0..2 without gaps", "layer(s) 1 are absent")

    def test_config_of_an_unsupported_family_is_rejected(self) -> None:
        write_original_checkpoint(self.original)
        config = json.loads((self.original / "config.json").read_text())
        (self.original / "config.json").write_text(json.dumps({**config, "model_type": "deberta-v2"}))
        self.assert_conversion_fails(
            ValueError,
            "model_type 'deberta-v2'",
            'model_type "bert"',
            'model_type "roberta"',
            'model_type "xlm-roberta"',
        )

    def test_untied_decoder_is_rejected(self) -> None:
        write_original_checkpoint(self.original, weights_format="bin")
        state = torch.load(self.original / "pytorch_model.bin", weights_only=True)
        state["cls.predictions.decoder.weight"] = state["cls.predictions.decoder.weight"] + 1
        torch.save(state, self.original / "pytorch_model.bin")
        self.assert_conversion_fails(ValueError, "`cls.predictions.decoder.weight` differs")

    def test_backbone_weights_that_do_not_match_the_config_are_rejected(self) -> None:
        write_original_checkpoint(self.original, weights_format="bin")
        state = torch.load(self.original / "pytorch_model.bin", weights_only=True)
        del state["bert.encoder.layer.3.output.dense.bias"]
        state["bert.embeddings.token_type_embeddings.weight"] = torch.zeros(3, 32)
        torch.save(state, self.original / "pytorch_model.bin")
        self.assert_conversion_fails(
            ValueError,
            "missing bert.encoder.layer.3.output.dense.bias",
            "`bert.embeddings.token_type_embeddings.weight` (3, 32) (config.json implies (2, 32))",
        )

    @parameterized.expand([(0,), (4,)])
    def test_invalid_skip_from_is_rejected(self, skip_from: int) -> None:
        write_original_checkpoint(self.original)
        self.assert_conversion_fails(ValueError, f"`skip_from` is {skip_from}", skip_from=skip_from)

    def test_failure_keeps_previous_output_and_leaves_no_temporary_directory(self) -> None:
        write_original_checkpoint(self.original)
        convert_original_checkpoint(self.original, self.converted, skip_from=2)
        before = {path.name: path.read_bytes() for path in self.converted.iterdir()}

        # A write that does not reload to the converted weights is caught inside the atomic block.
        from transformers_condenser import conversion

        copy_tokenizer_files = conversion._copy_tokenizer_files

        def corrupt_weights(input_dir: Path, staging: Path) -> list[str]:
            weights = load_file(staging / "model.safetensors")
            weights["head_layers.0.output.dense.bias"] += 1
            save_file(weights, staging / "model.safetensors", metadata={"format": "pt"})
            return copy_tokenizer_files(input_dir, staging)

        with mock.patch.object(conversion, "_copy_tokenizer_files", corrupt_weights):
            with self.assertRaisesRegex(RuntimeError, "head_layers.0.output.dense.bias"):
                convert_original_checkpoint(self.original, self.converted, skip_from=3)
        # And so is a bad input.
        edit_head_file(self.original, lambda state: state.pop("c_head.0.output.dense.bias"))
        with self.assertRaises(ValueError):
            convert_original_checkpoint(self.original, self.converted, skip_from=3)

        self.assertEqual({path.name: path.read_bytes() for path in self.converted.iterdir()}, before)
        self.assert_no_staging_left()


class ConversionOutputSafetyTest(ConversionTestCase):
    """The output directory is replaced as a whole, so it must never hold anything else worth keeping."""

    def test_tokenizer_of_a_release_without_tokenizer_class_loads_after_conversion(self) -> None:
        write_original_checkpoint(self.original)
        convert_original_checkpoint(self.original, self.converted, skip_from=2)
        original_tokenizer = AutoTokenizer.from_pretrained(self.original)
        converted_tokenizer = AutoTokenizer.from_pretrained(self.converted)
        text = "tok1 tok5 tok93"
        self.assertEqual(converted_tokenizer(text)["input_ids"], original_tokenizer(text)["input_ids"])

    def test_output_directory_containing_the_input_is_refused(self) -> None:
        write_original_checkpoint(self.original)
        original_files = {path.name: path.read_bytes() for path in self.original.iterdir()}
        sibling = self.root / "my-other-model"
        sibling.mkdir()
        (sibling / "notes.txt").write_text("keep me")
        for output in (self.root, self.original):
            with self.assertRaisesRegex(ValueError, "is or contains the input"):
                convert_original_checkpoint(self.original, output, skip_from=2)
        self.converted.mkdir()
        convert_original_checkpoint(self.original, self.converted, skip_from=2)
        with self.assertRaisesRegex(ValueError, "is or contains the input"):
            export_to_bert(self.converted, self.root)
        self.assertEqual((sibling / "notes.txt").read_text(), "keep me")
        # The input checkpoint is untouched: the same files with the same bytes.
        self.assertEqual({path.name: path.read_bytes() for path in self.original.iterdir()}, original_files)

    def test_existing_folder_that_is_not_a_checkpoint_is_not_replaced(self) -> None:
        write_original_checkpoint(self.original)
        self.converted.mkdir()
        (self.converted / "notes.txt").write_text("keep me")
        with self.assertRaisesRegex(ValueError, "not a checkpoint"):
            convert_original_checkpoint(self.original, self.converted, skip_from=2)
        self.assertEqual(sorted(path.name for path in self.converted.iterdir()), ["notes.txt"])
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit) as stop:
            convert_main(["--input_dir", str(self.original), "--output_dir", str(self.converted)])
        self.assertEqual(stop.exception.code, 1)
        self.assertEqual(sorted(path.name for path in self.converted.iterdir()), ["notes.txt"])


class ConversionCommandLineTest(ConversionTestCase):
    def run_cli(self, main, argv: list[str]) -> tuple[int, str, str]:
        """Call a CLI entry point in-process; return its exit status (returned, or raised by the error contract),
        stdout and stderr."""
        return run_cli(main, argv)

    def test_convert_main_exit_codes_and_messages(self) -> None:
        paths = ["--input_dir", str(self.original), "--output_dir", str(self.converted)]
        status, _, stderr = self.run_cli(convert_main, paths)
        self.assertEqual(status, 1)
        self.assertTrue(stderr.startswith("condenser-convert-original: error: "), stderr)
        self.assertIn("does not exist", stderr)

        write_original_checkpoint(self.original, head=False)
        status, _, stderr = self.run_cli(convert_main, [*paths, "--skip_from", "2"])
        self.assertEqual(status, 1)
        self.assertIn("--allow-missing-head", stderr)
        self.assertFalse(self.converted.exists())

        status, stdout, stderr = self.run_cli(convert_main, [*paths, "--skip_from", "2", "--allow-missing-head"])
        self.assertEqual(status, 0, stderr)
        self.assertIn("warning: ", stderr)
        self.assertIn("NEWLY INITIALISED", stderr)
        self.assertIn(f"wrote {self.converted.resolve()}", stdout)
        self.assertEqual(CondenserConfig.from_pretrained(self.converted).skip_from, 2)

        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit) as usage_error:
            convert_main(["--input_dir", str(self.original)])
        self.assertEqual(usage_error.exception.code, 2)

    def test_export_main_exit_codes_and_messages(self) -> None:
        bert_dir = self.root / "bert"
        status, _, stderr = self.run_cli(
            export_main, ["--input_dir", str(self.root / "absent"), "--output_dir", str(bert_dir)]
        )
        self.assertEqual(status, 1)
        self.assertTrue(stderr.startswith("condenser-export-bert: error: "), stderr)

        write_original_checkpoint(self.original)
        convert_original_checkpoint(self.original, self.converted, skip_from=2)
        status, stdout, stderr = self.run_cli(
            export_main, ["--input_dir", str(self.converted), "--output_dir", str(bert_dir), "--no-mlm-head"]
        )
        self.assertEqual(status, 0, stderr)
        self.assertIn(f"wrote {bert_dir.resolve()}", stdout)
        self.assertEqual(json.loads((bert_dir / "config.json").read_text())["architectures"], ["BertModel"])

    def test_scripts_print_help_for_every_flag_with_defaults(self) -> None:
        scripts = {
            "convert_original_condenser_checkpoint.py": [
                "--input_dir",
                "--output_dir",
                "--skip_from",
                "--allow-missing-head",
                "(default: 6)",
                "(default: off, fail)",
                "required",
            ],
            "export_condenser_to_bert.py": [
                "--input_dir",
                "--output_dir",
                "--no-mlm-head",
                "(default: off, the MLM head is exported)",
                "required",
            ],
            "export_condenser_backbone.py": ["--input_dir", "--output_dir", "--no-mlm-head", "required"],
        }
        processes = {
            name: subprocess.Popen(
                [sys.executable, str(REPO_ROOT / "utils" / name), "--help"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "COLUMNS": "200"},
            )
            for name in scripts
        }
        for name, process in processes.items():
            stdout, stderr = process.communicate(timeout=120)
            self.assertEqual(process.returncode, 0, stderr)
            for fragment in scripts[name]:
                self.assertIn(fragment, stdout, name)


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
mlm_dir, backbone_dir, reference = Path(sys.argv[1]), Path(sys.argv[2]), load_file(sys.argv[3])
inputs = {name: reference[name] for name in ("input_ids", "attention_mask", "token_type_ids")}
for directory in (mlm_dir, backbone_dir):
    config = json.loads((directory / "config.json").read_text())
    assert config["model_type"] == "bert" and "auto_map" not in config, config
    assert not list(directory.glob("*.py")), list(directory.glob("*.py"))

with torch.no_grad():
    backbone, info = AutoModel.from_pretrained(backbone_dir, output_loading_info=True)
    assert type(backbone).__name__ == "BertModel", type(backbone)
    # A Condenser has no BERT pooler; nothing else may be missing or unexpected.
    assert sorted(info["missing_keys"]) == ["pooler.dense.bias", "pooler.dense.weight"], info
    assert not info["unexpected_keys"], info
    hidden = backbone.eval()(**inputs).last_hidden_state
    assert torch.equal(hidden, reference["last_hidden_state"]), (hidden - reference["last_hidden_state"]).abs().max()
    assert torch.equal(hidden[:, 0], reference["cls"])

    mlm, info = AutoModelForMaskedLM.from_pretrained(mlm_dir, output_loading_info=True)
    assert type(mlm).__name__ == "BertForMaskedLM", type(mlm)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    logits = mlm.eval()(**inputs).logits
    assert torch.equal(logits, reference["late_logits"]), (logits - reference["late_logits"]).abs().max()
    hidden = AutoModel.from_pretrained(mlm_dir).eval()(**inputs).last_hidden_state
    assert torch.equal(hidden, reference["last_hidden_state"])
print("stock transformers reproduced the Condenser outputs")
"""


class ExportToBertTest(ConversionTestCase):
    def save_condenser(self, directory: Path, model_class: type = CondenserForPreTraining) -> nn.Module:
        """Save a tiny random Condenser (with tokenizer files) to `directory`; return it in eval mode."""
        # Default attention, as stock transformers loads the export: outputs are compared bit for bit.
        model = tiny_model(model_class, **FOUR_LAYER_FIELDS, initializer_range=SENSITIVE_FIELDS["initializer_range"])
        model.save_pretrained(directory)
        for name, text in TOKENIZER_FILES.items():
            (directory / name).write_text(text)
        return model

    def test_stock_transformers_loads_export_without_plugin_with_identical_outputs(self) -> None:
        condenser_dir, mlm_dir, backbone_dir = self.root / "condenser", self.root / "bert-mlm", self.root / "bert"
        model = self.save_condenser(condenser_dir)
        export_to_bert(condenser_dir, mlm_dir)
        export_to_bert(condenser_dir, backbone_dir, with_mlm_head=False)
        self.assertEqual(
            sorted(path.name for path in mlm_dir.iterdir()),
            sorted(["config.json", "model.safetensors", *TOKENIZER_FILES]),
        )
        self.assertEqual(json.loads((mlm_dir / "config.json").read_text())["architectures"], ["BertForMaskedLM"])
        self.assertEqual(json.loads((backbone_dir / "config.json").read_text())["architectures"], ["BertModel"])
        # A plain BERT config: none of the fields CondenserConfig adds (ModernBERT, say, reads `sparse_prediction`).
        for folder in (mlm_dir, backbone_dir):
            exported = json.loads((folder / "config.json").read_text())
            self.assertEqual(exported.keys() & {"skip_from", "n_head_layers", "late_mlm", "sparse_prediction"}, set())
            self.assertNotIn("cocondenser", exported)
            self.assertEqual(exported["model_type"], "bert")

        inputs = {
            name: tensor
            for name, tensor in tiny_batch(tiny_config(), lengths=BATCH_LENGTHS).items()
            if name != "labels"
        }
        with torch.no_grad():
            backbone = CondenserModel.from_pretrained(condenser_dir).eval()(**inputs)
            late_logits = model(**inputs).late_logits
        reference = {
            **inputs,
            "last_hidden_state": backbone.last_hidden_state,
            "cls": backbone.pooler_output,
            "late_logits": late_logits,
        }
        save_file(
            {name: tensor.contiguous() for name, tensor in reference.items()}, self.root / "reference.safetensors"
        )

        result = subprocess.run(
            [
                sys.executable,
                "-c",
                EXPORT_CHECK_WITHOUT_PLUGIN,
                str(mlm_dir),
                str(backbone_dir),
                str(self.root / "reference.safetensors"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr[-3000:])
        self.assertIn("reproduced", result.stdout)

    def test_export_of_backbone_only_checkpoint_needs_no_mlm_head(self) -> None:
        condenser_dir = self.root / "condenser"
        model = self.save_condenser(condenser_dir, CondenserModel)
        with self.assertRaisesRegex(ValueError, "--no-mlm-head"):
            export_to_bert(condenser_dir, self.root / "bert")
        self.assertFalse((self.root / "bert").exists())

        export_to_bert(condenser_dir, self.root / "bert", with_mlm_head=False)
        weights = load_file(self.root / "bert" / "model.safetensors")
        self.assertEqual(weights.keys(), model.state_dict().keys())
        self.assertTrue(all(torch.equal(weights[key], tensor) for key, tensor in model.state_dict().items()))
        self.assert_no_staging_left()

    def test_export_rejects_missing_and_non_condenser_input(self) -> None:
        with self.assertRaises(OSError):
            export_to_bert(self.root / "absent", self.root / "bert")
        write_original_checkpoint(self.original)
        with self.assertRaisesRegex(ValueError, "already a BERT checkpoint"):
            export_to_bert(self.original, self.root / "bert")
        self.assertFalse((self.root / "bert").exists())
