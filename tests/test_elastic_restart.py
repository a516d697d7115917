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
"""The multi-node recipe's elastic restart, on the CPU: `torchrun --max-restarts 1` runs
`examples/slurm/pretrain_resuming.sh`; the worker dies mid-run (between two checkpoints), torchrun restarts it, the
script resumes from the newest checkpoint, and the run ends with the weights of an uninterrupted run, bit for bit.

The worker is killed by a `sitecustomize` put on its `PYTHONPATH` (test code only): in a torchrun worker, the first
time a training step starts at global step `KILL_AT_STEP`, it leaves a marker file and exits with status 1, as a
crashed process would; the restarted worker finds the marker and trains on.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from safetensors.torch import load_file

from tests.test_pretrain import COMMON_FLAGS, workspace  # noqa: F401 (a fixture used below)


SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "slurm" / "pretrain_resuming.sh"
STEPS, SAVE_STEPS, KILL_AT_STEP = 6, 2, 3  # killed while computing step 4: step 3 is lost, checkpoint-2 is the newest

SITECUSTOMIZE = """
import os

if "LOCAL_RANK" in os.environ and os.environ.get("ELASTIC_TEST_MARKER"):
    import transformers

    real_training_step = transformers.Trainer.training_step

    def training_step(self, *args, **kwargs):
        marker = os.environ["ELASTIC_TEST_MARKER"]
        if self.state.global_step == {kill_at} and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)
        return real_training_step(self, *args, **kwargs)

    transformers.Trainer.training_step = training_step
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_killed_worker_is_restarted_by_torchrun_and_resumes_to_the_uninterrupted_weights(
    workspace: dict[str, Path],  # noqa: F811
    tmp_path: Path,
):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE).format(kill_at=KILL_AT_STEP))
    marker = tmp_path / "killed-once"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.update(PYTHON=sys.executable, ELASTIC_TEST_MARKER=str(marker))
    env["PYTHONPATH"] = os.pathsep.join([str(hook), *filter(None, [env.get("PYTHONPATH")])])
    flags = ["--config_name", str(workspace["config"]), "--tokenizer_name", str(workspace["tokenizer"])]
    flags += ["--skip_from", "2", "--train_dir", str(workspace["blocks"]), "--max_steps", str(STEPS)]
    flags += ["--learning_rate", "1e-3", "--loss_curve", "false", "--model_card", "false", "--disable_tqdm", "true"]
    flags += [*COMMON_FLAGS, "--save_strategy", "steps", "--save_steps", str(SAVE_STEPS)]

    uninterrupted, restarted = tmp_path / "uninterrupted", tmp_path / "restarted"
    # The uninterrupted run: the same script, outside torchrun (the hook stays idle there).
    result = subprocess.run(
        ["bash", str(SCRIPT), *flags, "--output_dir", str(uninterrupted)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not marker.exists()

    launcher = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "1"]
    launcher += ["--max-restarts", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{_free_port()}"]
    launcher += ["--monitor-interval", "0.5", "--no-python", "bash", str(SCRIPT)]
    result = subprocess.run(
        [*launcher, *flags, "--output_dir", str(restarted)], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # The worker did die once, and the restarted one resumed from the newest checkpoint before the kill.
    assert marker.exists()
    assert f"resuming from {restarted / f'checkpoint-{SAVE_STEPS}'}" in result.stderr
    history = json.loads((restarted / "trainer_log_history.json").read_text())
    assert [entry["step"] for entry in history if "loss" in entry] == list(range(1, STEPS + 1))

    expected = load_file(uninterrupted / "model.safetensors")
    weights = load_file(restarted / "model.safetensors")
    assert weights.keys() == expected.keys()
    for name, tensor in weights.items():
        assert torch.equal(tensor, expected[name]), name


def test_script_refuses_an_explicit_resume_flag_and_a_missing_output_dir(tmp_path: Path):
    result = subprocess.run(
        ["bash", str(SCRIPT), "--output_dir", str(tmp_path), "--resume_from_checkpoint", "x"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "do not pass --resume_from_checkpoint" in result.stderr
    result = subprocess.run(["bash", str(SCRIPT), "--max_steps", "1"], capture_output=True, text=True)
    assert result.returncode == 2 and "pass --output_dir" in result.stderr
