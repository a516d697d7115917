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
"""`condenser-pretrain`'s error contract: bad input fails before any weight is loaded, with one line and exit status
1; Ctrl-C exits with 130 and the flag that resumes the run; `--help` lists our flags first."""

import errno
import json
import logging
import warnings
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from transformers import BertForMaskedLM

from tests.models.condenser.testing_utils import FOUR_LAYER_FIELDS, tiny_bert_config
from transformers_condenser import pretrain
from transformers_condenser.data import REPORT_FILE, prepare_dataset
from transformers_condenser.demo import load_demo_corpus, train_demo_tokenizer
from transformers_condenser.trainer import CondenserTrainer


COMMON_FLAGS = ["--per_device_train_batch_size", "4", "--logging_steps", "1", "--report_to", "none", "--use_cpu"]
COMMON_FLAGS += ["--seed", "0", "--dataloader_num_workers", "0", "--max_steps", "2"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny 4-layer BERT (64 positions) with its tokenizer, datasets prepared with it (blocks and spans, 32 tokens)
    and one prepared with another tokenizer."""
    root = tmp_path_factory.mktemp("pretrain-cli")
    corpus = load_demo_corpus()[:40]
    tokenizer = train_demo_tokenizer(corpus, vocab_size=600)
    torch.manual_seed(0)
    BertForMaskedLM(tiny_bert_config(vocab_size=len(tokenizer), **FOUR_LAYER_FIELDS)).save_pretrained(root / "bert")
    tokenizer.save_pretrained(root / "bert")
    texts = Dataset.from_dict({"text": corpus})
    prepare_dataset(texts, tokenizer, root / "blocks", mode="condenser", max_length=32)
    prepare_dataset(texts, tokenizer, root / "spans", mode="cocondenser", max_length=32)
    other = train_demo_tokenizer(corpus, vocab_size=500)
    prepare_dataset(texts, other, root / "other-tokenizer", mode="condenser", max_length=32)
    return {"root": root, "bert": root / "bert", "blocks": root / "blocks", "spans": root / "spans",
            "other-tokenizer": root / "other-tokenizer"}  # fmt: skip


@pytest.fixture
def no_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test (with a traceback, not a user error) if the run gets as far as loading the model's weights."""

    def refuse(*args, **kwargs):
        raise RuntimeError("the model's weights were loaded before the check")

    monkeypatch.setattr(pretrain.CondenserForPreTraining, "from_pretrained", refuse)


def _flags(workspace: dict[str, Path], *extra: str, train: str = "blocks") -> list[str]:
    flags = ["--model_name_or_path", str(workspace["bert"]), "--skip_from", "2", "--max_length", "32"]
    flags += ["--train_dir", str(workspace[train]), "--output_dir", str(workspace["root"] / "out")]
    return flags + list(extra) + COMMON_FLAGS


def _error_of(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """Run the command; check exit status 1 and no traceback; return the error line."""
    with pytest.raises(SystemExit) as stop:
        pretrain.main(argv)
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("condenser-pretrain: error: ")]
    assert len(lines) == 1, err
    return lines[0]


def _replace(flags: list[str], flag: str, value: str) -> list[str]:
    flags = list(flags)
    flags[flags.index(flag) + 1] = value
    return flags


@pytest.mark.usefixtures("no_weights")
class TestChecksBeforeAnyWeightIsLoaded:
    def test_max_length_beyond_the_position_embeddings(self, workspace, capsys):
        message = _error_of(_replace(_flags(workspace), "--max_length", "1024"), capsys)
        assert "--max_length (1024)" in message and "--max_length 64 or less" in message

    def test_skip_from_out_of_range_names_the_flag(self, workspace, capsys):
        message = _error_of(_replace(_flags(workspace), "--skip_from", "7"), capsys)
        assert "--skip_from 7" in message and "4-layer" in message and "--skip_from 2" in message
        assert "from_pretrained(" not in message

    def test_default_skip_from_too_deep_for_the_backbone(self, workspace, capsys):
        flags = _flags(workspace)
        del flags[flags.index("--skip_from") : flags.index("--skip_from") + 2]
        message = _error_of(flags, capsys)
        assert "--skip_from 6 (the default" in message

    def test_missing_checkpoint_names_the_flag(self, workspace, capsys, tmp_path):
        message = _error_of(_replace(_flags(workspace), "--model_name_or_path", str(tmp_path / "nothing")), capsys)
        assert f"--model_name_or_path {tmp_path / 'nothing'}: no config.json" in message

    def test_dataset_prepared_for_another_max_length(self, workspace, capsys):
        message = _error_of(_replace(_flags(workspace), "--max_length", "48"), capsys)
        assert message.startswith("condenser-pretrain: error: --train_dir: ")
        assert "--max_length 32" in message and "max_length 48" in message

    def test_dataset_prepared_with_another_tokenizer(self, workspace, capsys):
        message = _error_of(_flags(workspace, train="other-tokenizer"), capsys)
        assert "another tokenizer" in message and "fingerprint" in message

    def test_eval_dataset_of_the_other_mode(self, workspace, capsys):
        message = _error_of(_flags(workspace, "--eval_dir", str(workspace["spans"])), capsys)
        assert "--eval_dir" in message

    def test_token_ids_beyond_the_vocabulary(self, workspace, capsys, tmp_path):
        dataset = Dataset.load_from_disk(str(workspace["blocks"]))
        dataset.save_to_disk(str(tmp_path / "blocks"))
        report = json.loads((workspace["blocks"] / REPORT_FILE).read_text())
        report["max_token_id"] = 10**6
        (tmp_path / "blocks" / REPORT_FILE).write_text(json.dumps(report))
        flags = _replace(_flags(workspace), "--train_dir", str(tmp_path / "blocks"))
        message = _error_of(flags, capsys)
        assert "1000000" in message and "vocabulary" in message

    @pytest.mark.parametrize(
        "error, fix",
        [(errno.EACCES, "you can write to"), (errno.ENOSPC, "free space")],
    )
    def test_output_dir_not_writable(self, workspace, capsys, monkeypatch, tmp_path, error, fix):
        def fail(*args, **kwargs):
            raise OSError(error, "simulated")

        monkeypatch.setattr(pretrain.tempfile, "mkstemp", fail)
        output_dir = tmp_path / "runs" / "condenser"
        message = _error_of(_replace(_flags(workspace), "--output_dir", str(output_dir)), capsys)
        assert f"--output_dir {output_dir}" in message and fix in message


def _interrupt_at(monkeypatch: pytest.MonkeyPatch, global_step: int) -> None:
    """Ctrl-C during the first micro-batch of optimizer step `global_step + 1`."""
    training_step = CondenserTrainer.training_step

    def interrupted(self, *args, **kwargs):
        if self.state.global_step >= global_step:
            raise KeyboardInterrupt
        return training_step(self, *args, **kwargs)

    monkeypatch.setattr(CondenserTrainer, "training_step", interrupted)


def test_ctrl_c_prints_the_resume_flag_without_a_traceback(workspace, capsys, monkeypatch, tmp_path):
    _interrupt_at(monkeypatch, 1)
    output_dir = tmp_path / "run"
    flags = _replace(_flags(workspace), "--output_dir", str(output_dir))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SystemExit) as stop:
            pretrain.main(flags + ["--save_strategy", "steps", "--save_steps", "1"])
    assert stop.value.code == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert f"--resume_from_checkpoint {output_dir / 'checkpoint-1'}" in err
    # A CPU run does not pin memory (torch warned about it at every epoch).
    assert not [warning for warning in caught if "pin_memory" in str(warning.message)]


def test_ctrl_c_before_the_first_checkpoint_says_so(workspace, capsys, monkeypatch, tmp_path):
    _interrupt_at(monkeypatch, 0)
    flags = _replace(_flags(workspace), "--output_dir", str(tmp_path / "run"))
    with pytest.raises(SystemExit) as stop:
        pretrain.main(flags)
    assert stop.value.code == 130
    err = capsys.readouterr().err
    assert "No checkpoint was saved yet" in err and "Traceback" not in err


def test_help_lists_our_flags_first(capsys):
    with pytest.raises(SystemExit) as stop:
        pretrain.main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    # Our groups, in order, before the ~300 inherited flags; the usage line is one short line, not 170.
    positions = [text.index(flag) for flag in ("\n  --skip_from", "\n  --train_dir", "\n  --gradient_cache_chunk_size",
                                                "Every transformers TrainingArguments flag", "\n  --output_dir")]  # fmt: skip
    assert positions == sorted(positions)
    assert text.index("\n  --export_backbone_dir") < text.index("\n  --per_device_train_batch_size")
    assert len(text.split("\n\n")[0].splitlines()) == 2


def test_informational_lines_are_info_not_warnings(workspace, caplog, tmp_path):
    flags = _replace(_flags(workspace), "--output_dir", str(tmp_path / "run"))
    with caplog.at_level(logging.INFO, logger="transformers_condenser"):
        assert pretrain.main(_replace(flags, "--max_steps", "1") + ["--save_strategy", "no"]) == 0
    records = [record for record in caplog.records if record.getMessage().startswith("Loss curve: ")]
    assert len(records) == 1 and records[0].levelno == logging.INFO
