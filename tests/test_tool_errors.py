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
"""The error contract of the tools that read a checkpoint: `condenser-convert-original`, `condenser-export-bert`,
`condenser-export-backbone`, `condenser-evaluate` and `condenser-model-card`.

Every bad input (a missing folder, a folder that is not a checkpoint, a truncated weights file, a checkpoint of another
model type), an output folder holding files the tool did not write, a full disk and a folder that cannot be written
(simulated: the write raises `OSError` with `ENOSPC` / `EACCES`) must end with exit status 1 and one
`<prog>: error: ...` message on stderr that names the path and the fix, without a traceback; the previous output stays
intact and nothing is left half-written under the final name or as a hidden temporary sibling. A previous output of
the same tool is replaced as before.
"""

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import pytest
import torch
from transformers import BertForMaskedLM, PreTrainedModel
from transformers.models.bert.modeling_bert import BertLayer

from tests.models.condenser.testing_utils import run_cli, save_tiny_checkpoint, tiny_bert_config, tiny_tokenizer
from transformers_condenser import beir_evaluation, model_card
from transformers_condenser.conversion import convert_main, export_backbone_main, export_main


os.environ.setdefault("HF_HUB_OFFLINE", "1")

SPACE_FIX = "Free some space"
PERMISSION_FIX = "Choose an output folder you can write"


def run(main: Callable, argv: list[str]) -> tuple[int, str, str]:
    """Run a tool's `main` in-process; return its exit status (returned or raised), stdout and stderr."""
    status, stdout, stderr = run_cli(main, argv)
    return status or 0, stdout, stderr


def assert_clean_error(prog: str, status: int, stderr: str, *expected: str) -> None:
    """Exit status 1, one `prog: error:` message holding every `expected` text, no traceback (what comes before the
    message, such as transformers' loading progress bars, does not matter)."""
    assert status == 1, stderr
    assert [line.startswith(f"{prog}: error: ") for line in stderr.splitlines()].count(True) == 1, stderr
    message = stderr[stderr.index(f"{prog}: error: ") :]
    assert "Traceback" not in stderr, stderr
    for text in expected:
        assert text in message, (text, stderr)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def leftovers(parent: Path) -> list[str]:
    """Hidden temporary siblings a failed write could leave behind (`.NAME.tmp-*`, `.NAME.old-*`)."""
    return sorted(path.name for path in parent.iterdir() if ".tmp-" in path.name or ".old-" in path.name)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An original-release checkpoint, a Condenser checkpoint, a plain BERT checkpoint and a small BEIR folder."""
    root = tmp_path_factory.mktemp("inputs")
    # The original layout: a BertForMaskedLM folder plus the head tensors `c_head.{i}.*` in model.pt.
    config = tiny_bert_config()
    torch.manual_seed(0)
    original = root / "original"
    BertForMaskedLM(config).save_pretrained(original)
    tiny_tokenizer().save_pretrained(original)
    head = torch.nn.ModuleList([BertLayer(config) for _ in range(2)])
    torch.save({f"c_head.{key}": value for key, value in head.state_dict().items()}, original / "model.pt")

    condenser = root / "condenser"
    save_tiny_checkpoint(condenser)

    beir = root / "beir"
    (beir / "qrels").mkdir(parents=True)
    words = ["dense", "retrieval", "model", "passage", "query", "vector"]
    corpus = [{"_id": f"d{i}", "title": "", "text": f"{words[i % 6]} {words[(i + 1) % 6]}"} for i in range(6)]
    (beir / "corpus.jsonl").write_text("".join(json.dumps(record) + "\n" for record in corpus))
    (beir / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": f"q{i}", "text": words[i]}) + "\n" for i in range(3))
    )
    (beir / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(3))
    )
    return {"original": original, "condenser": condenser, "plain": original, "beir": beir}


def without(source: Path, destination: Path, name: str) -> Path:
    """A copy of the checkpoint `source` without its file `name`."""
    destination.mkdir()
    for path in source.iterdir():
        if path.name != name:
            (destination / path.name).write_bytes(path.read_bytes())
    return destination


def truncated(source: Path, destination: Path) -> Path:
    """A copy of the checkpoint `source` whose `model.safetensors` lost its second half (an interrupted download)."""
    without(source, destination, "model.safetensors")
    weights = (source / "model.safetensors").read_bytes()
    (destination / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    return destination


# prog, main, the input it reads (a fixture key), how it is called with an input and an output folder.
FOLDER_TOOLS = {
    "condenser-convert-original": (
        convert_main,
        "original",
        lambda source, output, inputs: ["--input_dir", source, "--output_dir", output, "--skip_from", "1"],
    ),
    "condenser-export-bert": (
        export_main,
        "condenser",
        lambda source, output, inputs: ["--input_dir", source, "--output_dir", output],
    ),
    "condenser-export-backbone": (
        export_backbone_main,
        "condenser",
        lambda source, output, inputs: ["--input_dir", source, "--output_dir", output, "--no-mlm-head"],
    ),
    "condenser-evaluate": (
        beir_evaluation.main,
        "condenser",
        lambda source, output, inputs: [
            "--model_name_or_path", source, "--data_dir", str(inputs["beir"]), "--output_dir", output, "--depth", "3",
            "--query_max_length", "16", "--passage_max_length", "32",
        ],
    ),
}  # fmt: skip


def call(prog: str, source: Path, output: Path, inputs: dict[str, Path]) -> tuple[int, str, str]:
    main, _, argv = FOLDER_TOOLS[prog]
    return run(main, argv(str(source), str(output), inputs))


@pytest.mark.parametrize("prog", FOLDER_TOOLS)
def test_missing_input_folder(prog: str, inputs: dict[str, Path], tmp_path: Path):
    missing = tmp_path / "absent"
    status, _, stderr = call(prog, missing, tmp_path / "out", inputs)
    assert_clean_error(prog, status, stderr, str(missing), "does not exist")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("prog", FOLDER_TOOLS)
def test_folder_without_config_json(prog: str, inputs: dict[str, Path], tmp_path: Path):
    source = without(inputs[FOLDER_TOOLS[prog][1]], tmp_path / "no-config", "config.json")
    status, _, stderr = call(prog, source, tmp_path / "out", inputs)
    assert_clean_error(prog, status, stderr, str(source), "config.json")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("prog", FOLDER_TOOLS)
def test_truncated_weights_file(prog: str, inputs: dict[str, Path], tmp_path: Path):
    source = truncated(inputs[FOLDER_TOOLS[prog][1]], tmp_path / "truncated")
    status, _, stderr = call(prog, source, tmp_path / "out", inputs)
    assert_clean_error(prog, status, stderr, str(source))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "prog, source, message",
    [
        ("condenser-convert-original", "condenser", "already a Condenser checkpoint"),
        ("condenser-export-bert", "plain", "already a BERT checkpoint"),
        ("condenser-export-backbone", "plain", "already a BERT checkpoint"),
    ],
)
def test_checkpoint_of_another_model_type(prog: str, source: str, message: str, inputs: dict[str, Path], tmp_path):
    status, _, stderr = call(prog, inputs[source], tmp_path / "out", inputs)
    assert_clean_error(prog, status, stderr, str(inputs[source] / "config.json"), message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("prog", FOLDER_TOOLS)
def test_output_folder_with_other_files_is_refused_and_a_previous_output_replaced(
    prog: str, inputs: dict[str, Path], tmp_path: Path
):
    source, output = inputs[FOLDER_TOOLS[prog][1]], tmp_path / "out"
    status, _, stderr = call(prog, source, output, inputs)
    assert status == 0, stderr
    # Running again over its own previous output replaces it.
    status, _, stderr = call(prog, source, output, inputs)
    assert status == 0, stderr
    # A file the tool did not write (a model card, notes) makes the folder someone else's: refused, left as it was.
    (output / "notes.txt").write_text("keep me")
    before = snapshot(output)
    status, _, stderr = call(prog, source, output, inputs)
    assert_clean_error(prog, status, stderr, str(output), "notes.txt", "new or empty folder")
    assert snapshot(output) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("code, fix", [(errno.ENOSPC, SPACE_FIX), (errno.EACCES, PERMISSION_FIX)])
@pytest.mark.parametrize("prog", FOLDER_TOOLS)
def test_full_disk_or_no_permission_keeps_the_previous_output(
    prog: str, code: int, fix: str, inputs: dict[str, Path], tmp_path: Path
):
    source, output = inputs[FOLDER_TOOLS[prog][1]], tmp_path / "out"
    status, _, stderr = call(prog, source, output, inputs)
    assert status == 0, stderr
    before = snapshot(output)
    failure = OSError(code, os.strerror(code))
    # The write itself fails: the weights for the checkpoint tools, the run file for condenser-evaluate.
    if prog == "condenser-evaluate":
        patch = mock.patch.object(beir_evaluation, "write_trec_run", side_effect=failure)
    else:
        patch = mock.patch.object(PreTrainedModel, "save_pretrained", side_effect=failure)
    with patch:
        status, _, stderr = call(prog, source, output, inputs)
    assert_clean_error(prog, status, stderr, str(output.resolve()), fix)
    assert snapshot(output) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("prog", FOLDER_TOOLS)
def test_debug_flag_lets_the_traceback_through(prog: str, inputs: dict[str, Path], tmp_path: Path):
    main, _, argv = FOLDER_TOOLS[prog]
    with pytest.raises(OSError):
        main([*argv(str(tmp_path / "absent"), str(tmp_path / "out"), inputs), "--debug"])


# condenser-model-card writes README.md into the checkpoint folder itself.


@pytest.fixture
def card_checkpoint(inputs: dict[str, Path], tmp_path: Path) -> Path:
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    for path in inputs["condenser"].iterdir():
        (checkpoint / path.name).write_bytes(path.read_bytes())
    return checkpoint


def card(*argv: str) -> tuple[int, str, str]:
    return run(model_card.main, list(argv))


def test_model_card_missing_folder_other_model_type_and_bad_results(inputs: dict[str, Path], tmp_path: Path):
    prog = "condenser-model-card"
    status, _, stderr = card("--checkpoint_dir", str(tmp_path / "absent"))
    assert_clean_error(prog, status, stderr, str(tmp_path / "absent"), "does not exist")
    status, _, stderr = card("--checkpoint_dir", str(inputs["plain"]))
    assert_clean_error(prog, status, stderr, str(inputs["plain"]), "not a Condenser checkpoint")
    assert not (inputs["plain"] / "README.md").exists()
    results = tmp_path / "results.json"
    results.write_text('[{"task_type": ')
    status, _, stderr = card("--checkpoint_dir", str(inputs["condenser"]), "--eval_results", str(results))
    assert_clean_error(prog, status, stderr, str(results), "not valid JSON")
    assert not (inputs["condenser"] / "README.md").exists()


def test_model_card_keeps_a_hand_written_readme_unless_overwrite(card_checkpoint: Path):
    prog = "condenser-model-card"
    readme = card_checkpoint / "README.md"
    readme.write_text("# My own notes\n")
    status, _, stderr = card("--checkpoint_dir", str(card_checkpoint))
    assert_clean_error(prog, status, stderr, str(readme), "--overwrite")
    assert readme.read_text() == "# My own notes\n"
    status, _, stderr = card("--checkpoint_dir", str(card_checkpoint), "--overwrite")
    assert status == 0, stderr
    generated = readme.read_text()
    assert generated.startswith("---\n")
    # Its own card is replaced without asking.
    status, _, stderr = card("--checkpoint_dir", str(card_checkpoint), "--repo_id", "org/other")
    assert status == 0, stderr
    assert readme.read_text() != generated and "org/other" in readme.read_text()


@pytest.mark.parametrize("code, fix", [(errno.ENOSPC, SPACE_FIX), (errno.EACCES, PERMISSION_FIX)])
def test_model_card_full_disk_or_no_permission_keeps_the_previous_card(card_checkpoint: Path, code: int, fix: str):
    prog = "condenser-model-card"
    assert card("--checkpoint_dir", str(card_checkpoint))[0] == 0
    before = snapshot(card_checkpoint)
    real_fdopen = os.fdopen

    def failing_fdopen(descriptor, *args, **kwargs):
        file = real_fdopen(descriptor, *args, **kwargs)
        file.close()
        raise OSError(code, os.strerror(code))

    with mock.patch("transformers_condenser.file_utils.os.fdopen", side_effect=failing_fdopen):
        status, _, stderr = card("--checkpoint_dir", str(card_checkpoint), "--repo_id", "org/other")
    assert_clean_error(prog, status, stderr, str(card_checkpoint / "README.md"), fix)
    assert snapshot(card_checkpoint) == before
    assert [path.name for path in card_checkpoint.iterdir() if path.name.startswith(".")] == []
