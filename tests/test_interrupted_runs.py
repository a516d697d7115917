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
"""Nothing is lost when a run is killed: previous outputs survive a writer killed midway, and pre-training killed
after a checkpoint and resumed from it follows the loss trajectory of an uninterrupted run.

The writers run in a child process that is stopped deterministically in the middle of its final write (the file being
written is left half-written, the child says so on stdout and waits) and then killed with SIGKILL; no sleep is used to
synchronise. The pre-training runs are killed with SIGKILL right after a checkpoint is saved.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import torch
from datasets import load_from_disk
from safetensors.torch import load_file
from transformers.testing_utils import CaptureLogger
from transformers.utils import logging

from tests.models.condenser.test_conversion import write_original_checkpoint
from tests.test_pretrain import COMMON_FLAGS, workspace  # noqa: F401 (a fixture used below)
from transformers_condenser.conversion import convert_original_checkpoint, export_to_bert
from transformers_condenser.data import prepare_dataset
from transformers_condenser.demo import load_demo_corpus
from transformers_condenser.file_utils import STAGING_NAME
from transformers_condenser.pretrain import main as pretrain_main


CHILD_TIMEOUT = 300
BLOCKED = "BLOCKED-IN-WRITE"

# Prepended to every child: `block(path)` leaves `path` half-written, reports it and waits to be killed.
CHILD_PRELUDE = f"""
import json, os, sys, time

ARGS = json.loads(sys.argv[1])

def block(path):
    with open(path, "rb") as file:
        data = file.read()
    with open(path, "wb") as file:
        file.write(data[: len(data) // 2])
    print("{BLOCKED}", path, flush=True)
    time.sleep({CHILD_TIMEOUT})
    sys.exit("not killed")
"""

# Make `save_pretrained` (every checkpoint writer) stop inside its write of the weights.
BLOCK_IN_SAFETENSORS_SAVE = """
import transformers.modeling_utils

real_save_file = transformers.modeling_utils.safe_save_file

def save_file_then_block(tensors, filename, *args, **kwargs):
    real_save_file(tensors, filename, *args, **kwargs)
    block(filename)

transformers.modeling_utils.safe_save_file = save_file_then_block
"""

# Make `datasets.Dataset.save_to_disk` stop inside its write of the Arrow data.
BLOCK_IN_DATASET_SAVE = """
import glob
import datasets

real_save_to_disk = datasets.Dataset.save_to_disk

def save_to_disk_then_block(self, path, *args, **kwargs):
    real_save_to_disk(self, path, *args, **kwargs)
    block(sorted(glob.glob(os.path.join(path, "*.arrow")))[0])

datasets.Dataset.save_to_disk = save_to_disk_then_block
"""

WRITERS = {
    "condenser-prepare": BLOCK_IN_DATASET_SAVE
    + """
from transformers import AutoTokenizer
from transformers_condenser.data import prepare_dataset

tokenizer = AutoTokenizer.from_pretrained(ARGS["tokenizer"])
prepare_dataset(ARGS["corpus"], tokenizer, ARGS["output_dir"], max_length=32, seed=1)
""",
    "condenser-convert-original": BLOCK_IN_SAFETENSORS_SAVE
    + """
from transformers_condenser.conversion import convert_main

convert_main(["--input_dir", ARGS["original"], "--output_dir", ARGS["output_dir"], "--skip_from", "3"])
""",
    "condenser-export-bert": BLOCK_IN_SAFETENSORS_SAVE
    + """
from transformers_condenser.conversion import export_main

export_main(["--input_dir", ARGS["condenser"], "--output_dir", ARGS["output_dir"], "--no-mlm-head"])
""",
    "condenser-pretrain": BLOCK_IN_SAFETENSORS_SAVE
    + """
from transformers_condenser.pretrain import main

main(ARGS["flags"] + ["--output_dir", ARGS["output_dir"], "--seed", "1"])
""",
}


def run_child(code: str, args: dict, log: Path) -> subprocess.Popen:
    """Start `python -c CHILD_PRELUDE + code` with `args` (JSON) as its argument; its stderr goes to `log`."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-c", CHILD_PRELUDE + textwrap.dedent(code), json.dumps(args)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )


def kill_when_blocked(child: subprocess.Popen, log: Path) -> Path:
    """Wait (at most `CHILD_TIMEOUT` s) until `child` reports it is blocked in a write, SIGKILL it; return the path of
    the half-written file."""
    watchdog = threading.Timer(CHILD_TIMEOUT, child.kill)
    watchdog.start()
    try:
        for line in child.stdout:
            if line.startswith(BLOCKED):
                child.send_signal(signal.SIGKILL)
                child.wait()
                return Path(line.split(" ", 1)[1].strip())
        child.wait()
        pytest.fail(f"the writer never reached its write (exit status {child.returncode}):\n{log.read_text()[-3000:]}")
    finally:
        watchdog.cancel()
        child.stdout.close()


def tree_digest(folder: Path) -> dict[str, str]:
    """The SHA-256 of every file below `folder` except hidden entries, by relative path."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    }


@pytest.fixture(scope="module")
def previous_outputs(tmp_path_factory: pytest.TempPathFactory, workspace: dict[str, Path]) -> dict:  # noqa: F811
    """A finished output of each writer, and what each child needs to write it again."""
    root = tmp_path_factory.mktemp("interrupted")
    corpus = root / "corpus.txt"
    corpus.write_text("\n\n".join(load_demo_corpus()[:40]))
    from transformers import AutoTokenizer

    prepare_dataset(corpus, AutoTokenizer.from_pretrained(workspace["tokenizer"]), root / "prepared", max_length=32)
    write_original_checkpoint(root / "original")
    convert_original_checkpoint(root / "original", root / "converted", skip_from=2)
    export_to_bert(root / "converted", root / "exported")
    flags = ["--config_name", str(workspace["config"]), "--tokenizer_name", str(workspace["tokenizer"])]
    flags += ["--train_dir", str(workspace["blocks"]), "--max_steps", "1", "--loss_curve", "false", *COMMON_FLAGS]
    assert pretrain_main(flags + ["--output_dir", str(root / "pretrained")]) == 0
    return {
        "condenser-prepare": (
            root / "prepared",
            {"tokenizer": str(workspace["tokenizer"]), "corpus": str(corpus)},
        ),
        "condenser-convert-original": (root / "converted", {"original": str(root / "original")}),
        "condenser-export-bert": (root / "exported", {"condenser": str(root / "converted")}),
        "condenser-pretrain": (root / "pretrained", {"flags": flags}),
    }


@pytest.mark.parametrize("writer", list(WRITERS))
def test_writer_killed_midway_leaves_the_previous_output_intact(previous_outputs, tmp_path: Path, writer: str):
    output_dir, args = previous_outputs[writer]
    before = tree_digest(output_dir)
    assert before, "the previous output is empty"

    child = run_child(WRITERS[writer], {**args, "output_dir": str(output_dir)}, tmp_path / "stderr.txt")
    half_written = kill_when_blocked(child, tmp_path / "stderr.txt")

    assert child.returncode == -signal.SIGKILL
    # The writer was killed inside its write, in a hidden staging folder, never under a final name ...
    assert half_written.is_file() and any(part.startswith(".") for part in half_written.parts)
    # ... and the previous output is intact, byte for byte.
    assert tree_digest(output_dir) == before
    hidden = {path.name for path in output_dir.iterdir() if path.name.startswith(".")}
    assert hidden <= {STAGING_NAME}


# Resuming. Steps 1..K run in a child killed right after checkpoint-K is saved; the run resumes from it to step N.
KILLED_AFTER_CHECKPOINT = """
from transformers import Trainer
from transformers_condenser.pretrain import main

real_save_checkpoint = Trainer._save_checkpoint

def save_checkpoint_then_die(self, model, trial):
    real_save_checkpoint(self, model, trial)
    if self.state.global_step == ARGS["kill_after_step"]:
        os.kill(os.getpid(), 9)

Trainer._save_checkpoint = save_checkpoint_then_die
main(ARGS["flags"])
sys.exit("not killed")
"""


def logged(history: list[dict], key: str) -> dict[int, float]:
    return {entry["step"]: entry[key] for entry in history if key in entry}


@pytest.mark.parametrize(
    "mode, flags, steps, kill_after",
    [
        # Mid-epoch, with an evaluation every 2 steps (evaluation draws its own masks).
        ("condenser", ["--eval_strategy", "steps", "--eval_steps", "2", "--per_device_eval_batch_size", "32"], 8, 4),
        # At an epoch boundary (24 documents, 2 micro-batches of 4 a step: 3 steps an epoch), with gradient
        # accumulation and the gradient cache (whose chunks replay the dropout masks).
        ("cocondenser", ["--gradient_accumulation_steps", "2", "--gradient_cache_chunk_size", "3"], 6, 3),
    ],
)
def test_resumed_pretraining_follows_the_uninterrupted_loss_trajectory(
    workspace: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    mode: str,
    flags: list[str],
    steps: int,
    kill_after: int,
):
    data = workspace["blocks"] if mode == "condenser" else tmp_path / "spans"
    if mode == "cocondenser":
        load_from_disk(str(workspace["spans"])).select(range(24)).save_to_disk(str(data))
        flags = [*flags, "--cocondenser"]
    else:
        flags = [*flags, "--eval_dir", str(data)]
    common = ["--config_name", str(workspace["config"]), "--tokenizer_name", str(workspace["tokenizer"])]
    common += ["--train_dir", str(data), "--max_steps", str(steps), "--learning_rate", "1e-3", "--warmup_steps", "2"]
    common += ["--loss_curve", "false", "--model_card", "false", "--disable_tqdm", "true", *COMMON_FLAGS, *flags]
    common += ["--save_strategy", "steps", "--save_steps", str(kill_after)]

    uninterrupted, interrupted = tmp_path / "uninterrupted", tmp_path / "interrupted"
    assert pretrain_main(common + ["--output_dir", str(uninterrupted)]) == 0
    args = {"flags": common + ["--output_dir", str(interrupted)], "kill_after_step": kill_after}
    child = run_child(KILLED_AFTER_CHECKPOINT, args, tmp_path / "stderr.txt")
    assert child.wait(timeout=CHILD_TIMEOUT) == -signal.SIGKILL, (tmp_path / "stderr.txt").read_text()[-3000:]
    checkpoint = interrupted / f"checkpoint-{kill_after}"
    assert not (interrupted / "model.safetensors").exists() and not (interrupted / f"checkpoint-{steps}").exists()
    killed_history = json.loads((checkpoint / "trainer_state.json").read_text())["log_history"]
    with CaptureLogger(logging.get_logger("transformers.trainer")) as trainer_log:
        resume = ["--output_dir", str(interrupted), "--resume_from_checkpoint", str(checkpoint)]
        assert pretrain_main(common + resume) == 0
    assert "missing keys" not in trainer_log.out  # the tied decoder weights are not reported as missing

    expected = json.loads((uninterrupted / "trainer_log_history.json").read_text())
    resumed = json.loads((interrupted / "trainer_log_history.json").read_text())
    for key in ("loss", "eval_loss") if mode == "condenser" else ("loss",):
        expected_values, before, after = logged(expected, key), logged(killed_history, key), logged(resumed, key)
        assert sorted(expected_values) == sorted(after) and sorted(before) == [s for s in after if s <= kill_after]
        # Steps 1..K as the killed run logged them, steps K+1..N as the resumed run did.
        for step in expected_values:
            got = before[step] if step <= kill_after else after[step]
            assert got == pytest.approx(expected_values[step], rel=1e-5, abs=1e-6), f"{key} at step {step}"
    expected_weights = load_file(uninterrupted / "model.safetensors")
    for key, tensor in load_file(interrupted / "model.safetensors").items():
        torch.testing.assert_close(tensor, expected_weights[key], rtol=1e-5, atol=1e-6, msg=key)
