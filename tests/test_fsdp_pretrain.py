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
"""`condenser-pretrain --fsdp full_shard` on 2 CPU processes (torchrun, gloo) reproduces the DDP run.

Four 3-step runs of a tiny model without dropout: Condenser and coCondenser (through the gradient cache, 3 chunks per
step, the first splitting a pair), each under DDP and under FSDP2 (`CondenserTrainer` shards the model itself). The
sharded runs log the DDP runs' per-step losses and save a final checkpoint that loads as usual, with the DDP run's
weights. The Condenser runs train with AdamW; the coCondenser runs with SGD, because AdamW divides each gradient
coordinate by its own magnitude: on the one coordinate whose gradient nearly cancels (position 0 of the position
embeddings), the 1e-9 left by summing in another order (reduce-scatter instead of all-reduce) became 5e-5 after 3
steps, while every other weight agreed within 2e-6.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.models.condenser.testing_utils import NO_DROPOUT, save_tiny_pretraining_data, tiny_config
from transformers_condenser import CondenserForPreTraining, CondenserModel
from transformers_condenser.pretrain import main
from transformers_condenser.trainer import CondenserTrainingArguments


FLAGS = ["--per_device_train_batch_size", "4", "--logging_steps", "1", "--report_to", "none", "--use_cpu"]
FLAGS += ["--seed", "0", "--dataloader_num_workers", "0", "--max_length", "32", "--max_steps", "3"]
FLAGS += ["--ddp_backend", "gloo", "--learning_rate", "1e-3"]
RUNS = {
    "condenser": ["--train_dir", "{blocks}"],
    "cocondenser": ["--train_dir", "{spans}", "--cocondenser", "--gradient_cache_chunk_size", "3"]
    + ["--optim", "sgd", "--learning_rate", "0.5"],
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fsdp-pretrain")
    tokenizer, folders = save_tiny_pretraining_data(root, num_documents=40, vocab_size=400)
    tiny_config(vocab_size=len(tokenizer), **NO_DROPOUT).save_pretrained(root / "config")
    return {**folders, "config": root / "config"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def runs(workspace: dict[str, Path]) -> dict[tuple[str, bool], Path]:
    """The output folders of the four runs: (`condenser` or `cocondenser`, sharded)."""
    values = {name: str(path) for name, path in workspace.items()}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    outputs = {}
    for name, flags in RUNS.items():
        for sharded in (False, True):
            output_dir = workspace["root"] / f"{name}-{'fsdp' if sharded else 'ddp'}"
            command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
            command += ["--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
            command += ["-m", "transformers_condenser.pretrain", "--output_dir", str(output_dir)]
            command += ["--config_name", values["config"], "--tokenizer_name", values["tokenizer"]]
            command += FLAGS + [flag.format(**values) for flag in flags]
            # The sharded run also saves a checkpoint at its last step: it shows that `Trainer` saved it through its
            # FSDP path (`pytorch_model_fsdp.bin`), i.e. that the run was sharded and not silently DDP.
            command += ["--fsdp", "full_shard", "--save_strategy", "steps", "--save_steps", "3"] if sharded else []
            command += [] if sharded else ["--save_strategy", "no"]
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
            assert result.returncode == 0, result.stderr[-3000:]
            outputs[(name, sharded)] = output_dir
    return outputs


def _losses(output_dir: Path) -> list[float]:
    history = json.loads((output_dir / "trainer_log_history.json").read_text())
    return [entry["loss"] for entry in history if "loss" in entry]


@pytest.mark.parametrize("name", list(RUNS))
def test_sharded_run_logs_the_ddp_losses_and_ends_with_its_weights(runs, name):
    ddp, fsdp = runs[(name, False)], runs[(name, True)]
    # Trainer's FSDP checkpoint format: the run was sharded.
    assert (fsdp / "checkpoint-3" / "pytorch_model_fsdp.bin").is_file()
    assert not (ddp / "checkpoint-3").exists()
    ddp_losses, fsdp_losses = _losses(ddp), _losses(fsdp)
    assert len(ddp_losses) == 3 and ddp_losses[0] != ddp_losses[-1]
    torch.testing.assert_close(fsdp_losses, ddp_losses, rtol=1e-5, atol=0)
    ddp_weights, fsdp_weights = load_file(ddp / "model.safetensors"), load_file(fsdp / "model.safetensors")
    # Same tensors saved (the tied MLM decoder left out as DDP leaves it out), equal within 1e-5.
    assert fsdp_weights.keys() == ddp_weights.keys()
    for key, value in ddp_weights.items():
        torch.testing.assert_close(fsdp_weights[key], value, rtol=0, atol=1e-5, msg=lambda m, k=key: f"{k}: {m}")


def test_sharded_run_saves_a_checkpoint_that_loads_as_usual(runs):
    from transformers import AutoModel

    folder = runs[("cocondenser", True)]
    saved = load_file(folder / "model.safetensors")
    # The model's code files, not torch's FSDP module, and the class from before sharding.
    assert (folder / "modeling_condenser.py").is_file() and not list(folder.glob("_fsdp*"))
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["CondenserForPreTraining"]
    model = CondenserForPreTraining.from_pretrained(folder)
    assert model.config.cocondenser is True
    state = model.state_dict()
    for key, value in saved.items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0, msg=key)
    # The MLM decoder, left out of the file, is tied to the embeddings again.
    assert torch.equal(state["cls.predictions.decoder.weight"], saved["bert.embeddings.word_embeddings.weight"])
    backbone = AutoModel.from_pretrained(folder)
    assert isinstance(backbone, CondenserModel)
    torch.testing.assert_close(
        backbone.embeddings.word_embeddings.weight, saved["bert.embeddings.word_embeddings.weight"]
    )


@pytest.mark.parametrize(
    "fsdp, fsdp_config, message",
    [
        ("full_shard offload", None, "--fsdp 'full_shard offload' is not supported"),
        ("full_shard auto_wrap", None, "--fsdp 'full_shard auto_wrap' is not supported"),
        ("shard_grad_op", None, "Pass `--fsdp` or `--fsdp full_shard`"),
        ("hybrid_shard", None, "Pass `--fsdp` or `--fsdp full_shard`"),
        ("full_shard", {"version": 1}, "--fsdp_config version=1 is not supported"),
        ("full_shard", {"cpu_offload": True}, "CPU offload"),
        ("full_shard", {"state_dict_type": "SHARDED_STATE_DICT"}, "state_dict_type"),
        ("full_shard", {"transformer_layer_cls_to_wrap": ["BertLayer"]}, "transformer_layer_cls_to_wrap"),
    ],
)
def test_unsupported_fsdp_settings_are_refused(tmp_path, fsdp, fsdp_config, message):
    with pytest.raises(ValueError) as error:
        CondenserTrainingArguments(str(tmp_path), fsdp=fsdp, fsdp_config=fsdp_config, use_cpu=True, report_to="none")
    assert message in str(error.value)


@pytest.mark.parametrize("fsdp", [True, "full_shard", None, False])
def test_supported_fsdp_settings_pass(tmp_path, fsdp):
    CondenserTrainingArguments(str(tmp_path), fsdp=fsdp, fsdp_config={"version": 2}, use_cpu=True, report_to="none")


def test_unsupported_fsdp_flag_is_a_command_line_error(workspace, capsys):
    flags = ["--output_dir", str(workspace["root"] / "refused"), "--config_name", str(workspace["config"])]
    flags += ["--tokenizer_name", str(workspace["tokenizer"]), "--train_dir", str(workspace["blocks"])]
    with pytest.raises(SystemExit) as stop:
        main(flags + ["--use_cpu", "--report_to", "none", "--fsdp", "full_shard offload"])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if line.startswith("condenser-pretrain: error: ")]
    assert len(error_lines) == 1 and "--fsdp 'full_shard offload' is not supported" in error_lines[0]
    assert "Traceback" not in err
