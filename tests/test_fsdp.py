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
"""Sharded training (FSDP2, `torch.distributed.fsdp.fully_shard`) on 2 CPU processes (gloo) reproduces DDP.

torch 2.13's FSDP2 runs on the CPU with gloo: the same tiny Condenser and coCondenser (the latter through the gradient
cache, chunks splitting pairs) trained for 3 AdamW steps on the same batches, once under DDP and once sharded, log the
same per-step losses and end with the same weights; the sharded run's full state dict saves as an ordinary checkpoint
that `CondenserForPreTraining.from_pretrained` and `AutoModel` load. The gradient cache switches FSDP2's gradient
synchronisation off for every chunk but the last (FSDP2 has no `no_sync`), which a fake sharded module checks
in-process.

What this file does not run: `condenser-pretrain --fsdp` end to end on the CPU. accelerate 1.16 applies its FSDP
plugin only to GPU-like devices and silently trains a CPU run with DDP; see "Multi-node training" in
docs/source/en/pretraining.md for the state of `--fsdp` with `Trainer`.
"""

import os
import socket
import tempfile
import unittest

import torch
from torch import distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from tests.models.condenser.testing_utils import NO_DROPOUT, tiny_batch, tiny_config, tiny_model
from transformers_condenser import CondenserForPreTraining, CondenserModel
from transformers_condenser.gradient_cache import gradient_cache_step


WORLD_SIZE = 2
GLOBAL_BATCH = 8  # 4 documents x 2 spans; 4 spans per process
STEPS = 3
CHUNK_SIZE = 3  # 2 chunks per process, the first splitting a pair


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _full_state_dict(model: nn.Module, sharded: bool) -> dict[str, torch.Tensor]:
    if not sharded:
        return {name: tensor.detach().clone() for name, tensor in model.module.state_dict().items()}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=False))


def _train(rank: int, cocondenser: bool, sharded: bool) -> dict:
    """3 AdamW steps of a tiny (co)Condenser on this rank's half of fixed global batches, under DDP or FSDP2."""
    from torch.distributed.fsdp import fully_shard

    model = tiny_model(CondenserForPreTraining, cocondenser=cocondenser, **NO_DROPOUT).train()
    sync_switches = []
    if sharded:
        # One unit per Transformer layer (backbone and head), the root holding the embeddings and the MLM head,
        # whose decoder weight and bias are tied to parameters outside it: tied parameters stay in one unit.
        for module in list(model.modules()):
            if type(module).__name__ == "BertLayer":
                fully_shard(module)
        wrapped = fully_shard(model)
        real_switch = wrapped.set_requires_gradient_sync

        def recording_switch(requires_gradient_sync: bool, **kwargs) -> None:
            sync_switches.append(requires_gradient_sync)
            real_switch(requires_gradient_sync, **kwargs)

        wrapped.set_requires_gradient_sync = recording_switch
    else:
        wrapped = DistributedDataParallel(model)
    optimizer = torch.optim.AdamW(wrapped.parameters(), lr=1e-3)
    per_process = GLOBAL_BATCH // WORLD_SIZE
    losses = []
    for step in range(STEPS):
        batch = tiny_batch(tiny_config(), GLOBAL_BATCH, seed=step, span_pairs=cocondenser)
        # MLM losses as CondenserTrainer computes them with `average_tokens_across_devices`: local sums over the
        # global labelled count, times the world size to undo the averaging of the gradient reduction.
        global_items = (batch["labels"] != -100).sum()
        local = {key: value[rank * per_process : (rank + 1) * per_process] for key, value in batch.items()}
        if cocondenser:
            outputs = gradient_cache_step(
                wrapped, local, CHUNK_SIZE, num_items_in_batch=global_items, mlm_loss_scale=WORLD_SIZE, gather=True
            )
        else:
            outputs = wrapped(**local, num_items_in_batch=global_items)
            (outputs.loss * WORLD_SIZE).backward()
        losses.append(outputs.loss.detach().item())
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return {"losses": losses, "weights": _full_state_dict(wrapped, sharded), "sync_switches": sync_switches}


def _worker(rank: int, port: int, result_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE)
    try:
        results = {}
        for cocondenser in (False, True):
            for sharded in (False, True):
                results[(cocondenser, sharded)] = _train(rank, cocondenser, sharded)
        if rank == 0:
            # The sharded run's gathered weights, saved as an ordinary checkpoint.
            checkpoint = CondenserForPreTraining(tiny_config(cocondenser=True, **NO_DROPOUT))
            checkpoint.load_state_dict(results[(True, True)]["weights"])
            checkpoint.save_pretrained(os.path.join(result_dir, "checkpoint"))
        torch.save(results, os.path.join(result_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


class FSDPReproducesDDPTest(unittest.TestCase):
    """One 2-process gloo run of the four trainings (Condenser and coCondenser, DDP and FSDP2); tests read it."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.result_dir = tempfile.TemporaryDirectory()
        torch.multiprocessing.spawn(_worker, args=(_free_port(), cls.result_dir.name), nprocs=WORLD_SIZE, join=True)
        cls.results = [torch.load(os.path.join(cls.result_dir.name, f"rank{rank}.pt")) for rank in range(WORLD_SIZE)]

    @classmethod
    def tearDownClass(cls) -> None:
        cls.result_dir.cleanup()

    def assert_sharded_run_matches_ddp(self, cocondenser: bool) -> None:
        for rank, results in enumerate(self.results):
            ddp, fsdp = results[(cocondenser, False)], results[(cocondenser, True)]
            self.assertEqual(len(fsdp["losses"]), STEPS)
            torch.testing.assert_close(fsdp["losses"], ddp["losses"], rtol=1e-5, atol=0, msg=f"losses of rank {rank}")
            # The losses moved: the steps did train.
            self.assertNotEqual(ddp["losses"][0], ddp["losses"][-1])
        ddp_weights, fsdp_weights = self.results[0][(cocondenser, False)]["weights"], None
        for results in self.results:
            fsdp_weights = results[(cocondenser, True)]["weights"]
            self.assertEqual(fsdp_weights.keys(), ddp_weights.keys())
            # Reduce-scatter and all-reduce sum in different orders (1e-7 apart); AdamW divides a near-zero gradient by
            # its own root mean square, which turns that into up to 2.2e-6 on a few weights after 3 steps of lr 1e-3.
            for name, tensor in ddp_weights.items():
                torch.testing.assert_close(
                    fsdp_weights[name], tensor, rtol=1e-5, atol=1e-5, msg=lambda m, n=name: f"{n}: {m}"
                )

    def test_condenser_losses_and_weights_under_fsdp_equal_ddp(self) -> None:
        self.assert_sharded_run_matches_ddp(cocondenser=False)

    def test_cocondenser_gradient_cache_losses_and_weights_under_fsdp_equal_ddp(self) -> None:
        self.assert_sharded_run_matches_ddp(cocondenser=True)

    def test_gradient_cache_suspends_fsdp_gradient_sync_for_all_chunks_but_the_last(self) -> None:
        # 2 chunks per step: off for the first chunk, back on for the last, at every step.
        for results in self.results:
            self.assertEqual(results[(True, True)]["sync_switches"], [False, True] * STEPS)

    def test_sharded_run_saves_a_checkpoint_that_loads_as_usual(self) -> None:
        from transformers import AutoModel

        folder = os.path.join(self.result_dir.name, "checkpoint")
        expected = self.results[0][(True, True)]["weights"]
        model = CondenserForPreTraining.from_pretrained(folder)
        self.assertTrue(model.config.cocondenser)
        for name, tensor in model.state_dict().items():
            torch.testing.assert_close(tensor, expected[name], rtol=0, atol=0, msg=name)
        backbone = AutoModel.from_pretrained(folder)
        self.assertIsInstance(backbone, CondenserModel)
        torch.testing.assert_close(
            backbone.embeddings.word_embeddings.weight, expected["bert.embeddings.word_embeddings.weight"]
        )


class _FakeShardedModel(nn.Module):
    """A model with FSDP2's synchronisation switch (`set_requires_gradient_sync`) and no `no_sync`."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.requires_gradient_sync = True
        self.switches: list[bool] = []

    def set_requires_gradient_sync(self, requires_gradient_sync: bool, *, recurse: bool = True) -> None:
        self.requires_gradient_sync = requires_gradient_sync
        self.switches.append(requires_gradient_sync)

    def forward(self, **kwargs):
        return self.model(**kwargs)


class GradientCacheSyncSwitchTest(unittest.TestCase):
    """In-process: which synchronisation switch the gradient cache uses, and when each chunk's backward runs."""

    def run_cache(self, wrapped: nn.Module, chunk_size: int) -> list[bool]:
        states = []

        def backward(loss: torch.Tensor) -> None:
            states.append(wrapped.requires_gradient_sync)
            loss.backward()

        batch = tiny_batch(tiny_config(), 4, span_pairs=True)
        gradient_cache_step(wrapped, batch, chunk_size, backward=backward)
        return states

    def test_fsdp2_model_synchronises_only_in_the_last_chunk(self) -> None:
        wrapped = _FakeShardedModel(tiny_model(CondenserForPreTraining, cocondenser=True, **NO_DROPOUT))
        self.assertEqual(self.run_cache(wrapped, chunk_size=1), [False, False, False, True])
        self.assertEqual(wrapped.switches, [False, True] * 3)
        self.assertTrue(wrapped.requires_gradient_sync)

    def test_synchronisation_is_switched_back_on_when_a_chunk_fails(self) -> None:
        wrapped = _FakeShardedModel(tiny_model(CondenserForPreTraining, cocondenser=True, **NO_DROPOUT))

        def failing_backward(loss: torch.Tensor) -> None:
            raise RuntimeError("out of memory")

        batch = tiny_batch(tiny_config(), 4, span_pairs=True)
        with self.assertRaisesRegex(RuntimeError, "out of memory"):
            gradient_cache_step(wrapped, batch, 1, backward=failing_backward)
        self.assertTrue(wrapped.requires_gradient_sync)

    def test_no_sync_is_preferred_where_the_model_has_it(self) -> None:
        # DDP and FSDP1 have `no_sync`; a module offering both is driven through `no_sync`.
        wrapped = _FakeShardedModel(tiny_model(CondenserForPreTraining, cocondenser=True, **NO_DROPOUT))
        entered = []

        class NoSync:
            def __enter__(self) -> None:
                entered.append(True)

            def __exit__(self, *exc_info) -> None:
                return None

        wrapped.no_sync = NoSync
        self.run_cache(wrapped, chunk_size=2)
        self.assertEqual(entered, [True])
        self.assertEqual(wrapped.switches, [])
