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
"""coCondenser's contrastive loss (SPEC §2) and the promises SPEC §6 makes over the original code.

coCondenser (`CondenserForPreTraining` with `config.cocondenser`) adds to Condenser a span-pair contrastive loss over the global batch. Proved here: the loss
equals a reference written out by hand; self-similarity is excluded; each process's vectors sit at its global rank
(not `LOCAL_RANK`); no buffer depends on the batch size (checkpoints are Condenser's); and with torch.distributed on
2 CPU processes (gloo, DDP) the loss and the gradient of every parameter equal one process on the concatenated batch,
with and without the gradient cache. The 2-process run happens once per test class and each test reads its results.
"""

import datetime
import os
import socket
import tempfile
import unittest
from unittest import mock

import torch
from torch import distributed as dist
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from tests.models.condenser.testing_utils import NO_DROPOUT, tiny_batch, tiny_config, tiny_model
from transformers_condenser import CondenserForPreTraining
from transformers_condenser.gradient_cache import gradient_cache_step
from transformers_condenser.loss_condenser import contrastive_span_loss
from transformers_condenser.modeling_condenser import CondenserForPreTrainingOutput


WORLD_SIZE = 2
GLOBAL_BATCH = 8  # 4 documents x 2 spans; 4 spans per process
ATOL = 1e-5
# The coCondenser of these tests: the shared tiny model, without dropout so that every step is deterministic.
COCONDENSER = {"cocondenser": True, **NO_DROPOUT}


def reference_contrastive_loss(vectors: torch.Tensor, rows: range | None = None) -> torch.Tensor:
    """The loss written out: for span i of the global batch, -log softmax over j != i of <v_i, v_j> at its partner."""
    rows = range(vectors.shape[0]) if rows is None else rows
    terms = []
    for i in rows:
        others = [j for j in range(vectors.shape[0]) if j != i]
        scores = torch.stack([vectors[i] @ vectors[j] for j in others])
        partner = others.index(i + 1 if i % 2 == 0 else i - 1)
        terms.append(torch.logsumexp(scores, dim=0) - scores[partner])
    return torch.stack(terms).mean()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _distributed_worker(rank: int, port: int, result_dir: str) -> None:
    """One of 2 gloo processes: uncached and gradient-cache steps of a DDP model on its half of the batch."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE)
    try:
        model = tiny_model(CondenserForPreTraining, **COCONDENSER)
        ddp_model = DistributedDataParallel(model)
        batch = tiny_batch(tiny_config(), GLOBAL_BATCH, span_pairs=True)
        # Trainer's convention for `average_tokens_across_devices`: MLM sums over the GLOBAL labelled count, times the
        # world size so that DDP's averaging gives the global mean. The contrastive loss needs no factor.
        global_items = (batch["labels"] != -100).sum()
        per_process = GLOBAL_BATCH // WORLD_SIZE
        local = {key: value[rank * per_process : (rank + 1) * per_process] for key, value in batch.items()}
        results = {}

        # As CondenserTrainer does: the forward computes the MLM losses, the gathered contrastive loss is computed here.
        outputs = ddp_model(**local, num_items_in_batch=global_items, compute_contrastive_loss=False)
        contrastive_loss = contrastive_span_loss(outputs.cls_vectors, gather=True)
        ((outputs.head_mlm_loss + outputs.late_mlm_loss) * WORLD_SIZE + contrastive_loss).backward()
        results["uncached"] = {
            "losses": [outputs.head_mlm_loss.item(), outputs.late_mlm_loss.item(), contrastive_loss.item()],
            "grads": {name: param.grad.clone() for name, param in model.named_parameters()},
        }
        for chunk_size in (1, 3):
            model.zero_grad(set_to_none=True)
            outputs = gradient_cache_step(
                ddp_model, local, chunk_size, num_items_in_batch=global_items, mlm_loss_scale=WORLD_SIZE, gather=True
            )
            results[f"cached_{chunk_size}"] = {
                "losses": [
                    outputs.head_mlm_loss.item(),
                    outputs.late_mlm_loss.item(),
                    outputs.contrastive_loss.item(),
                ],
                "grads": {name: param.grad.clone() for name, param in model.named_parameters()},
            }

        # Uneven local batches (2 and 6 spans): each process's rows sit at its rank's place in the gathered batch.
        generator = torch.Generator().manual_seed(7)
        vectors = torch.randn(GLOBAL_BATCH, 5, generator=generator)
        own = slice(0, 2) if rank == 0 else slice(2, GLOBAL_BATCH)
        local_vectors = vectors[own].clone().requires_grad_()
        loss = contrastive_span_loss(local_vectors, gather=True)
        loss.backward()
        results["uneven"] = {"loss": loss.detach(), "grad": local_vectors.grad}
        torch.save(results, os.path.join(result_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _rank_zero_forward_worker(rank: int, port: int, result_dir: str) -> None:
    """One of 2 gloo processes; only rank 0 runs a coCondenser forward with labels (an evaluation on the main process,
    say) while rank 1 waits at a barrier. A collective inside the forward would make both time out."""
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=datetime.timedelta(seconds=30),
    )
    try:
        if rank == 0:
            outputs = tiny_model(CondenserForPreTraining, **COCONDENSER)(
                **tiny_batch(tiny_config(), GLOBAL_BATCH, span_pairs=True)
            )
            torch.save(outputs.loss.detach(), os.path.join(result_dir, "loss.pt"))
        dist.barrier()
    finally:
        dist.destroy_process_group()


class ForwardOnOneProcessTest(unittest.TestCase):
    def test_forward_with_labels_on_rank_zero_alone_does_not_wait_for_other_processes(self) -> None:
        with tempfile.TemporaryDirectory() as result_dir:
            torch.multiprocessing.spawn(
                _rank_zero_forward_worker, args=(free_port(), result_dir), nprocs=WORLD_SIZE, join=True
            )
            loss = torch.load(os.path.join(result_dir, "loss.pt"), weights_only=True)
        # The loss of the local batch alone, as one process computes it.
        torch.testing.assert_close(
            loss,
            tiny_model(CondenserForPreTraining, **COCONDENSER)(
                **tiny_batch(tiny_config(), GLOBAL_BATCH, span_pairs=True)
            ).loss.detach(),
            atol=ATOL,
            rtol=0,
        )


class CoCondenserDistributedTest(unittest.TestCase):
    """2 gloo processes with DDP against one process holding the concatenated batch."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.result_dir = tempfile.TemporaryDirectory()
        torch.multiprocessing.spawn(
            _distributed_worker, args=(free_port(), cls.result_dir.name), nprocs=WORLD_SIZE, join=True
        )
        cls.results = [torch.load(os.path.join(cls.result_dir.name, f"rank{rank}.pt")) for rank in range(WORLD_SIZE)]

        model = tiny_model(CondenserForPreTraining, **COCONDENSER)
        outputs = model(**tiny_batch(tiny_config(), GLOBAL_BATCH, span_pairs=True))
        outputs.loss.backward()
        cls.reference_losses = [outputs.head_mlm_loss.item(), outputs.late_mlm_loss.item(), outputs.contrastive_loss]
        cls.reference_grads = {name: param.grad for name, param in model.named_parameters()}

    @classmethod
    def tearDownClass(cls) -> None:
        cls.result_dir.cleanup()

    def assert_matches_single_process(self, key: str) -> None:
        head, late, contrastive = (sum(result[key]["losses"][index] for result in self.results) for index in range(3))
        # MLM parts are local sums over the global count (they add up); contrastive parts are local means (average).
        torch.testing.assert_close(head, self.reference_losses[0], atol=ATOL, rtol=0)
        torch.testing.assert_close(late, self.reference_losses[1], atol=ATOL, rtol=0)
        torch.testing.assert_close(contrastive / WORLD_SIZE, self.reference_losses[2].item(), atol=ATOL, rtol=0)
        for result in self.results:
            self.assertEqual(result[key]["grads"].keys(), self.reference_grads.keys())
            for name, grad in self.reference_grads.items():
                torch.testing.assert_close(result[key]["grads"][name], grad, atol=ATOL, rtol=0, msg=name)

    def test_ddp_loss_and_gradients_equal_one_process_on_the_concatenated_batch(self) -> None:
        self.assert_matches_single_process("uncached")

    def test_ddp_gradient_cache_with_chunk_of_one_equals_one_process(self) -> None:
        self.assert_matches_single_process("cached_1")

    def test_ddp_gradient_cache_with_chunks_splitting_pairs_equals_one_process(self) -> None:
        self.assert_matches_single_process("cached_3")

    def test_uneven_local_batches_are_gathered_in_rank_order(self) -> None:
        vectors = torch.randn(GLOBAL_BATCH, 5, generator=torch.Generator().manual_seed(7)).requires_grad_()
        rows = [range(0, 2), range(2, GLOBAL_BATCH)]
        per_process = [reference_contrastive_loss(vectors, rows[rank]) for rank in range(WORLD_SIZE)]
        # Each process back-propagates its own mean; the gather's backward sums all of them into every owner's rows.
        (grad,) = torch.autograd.grad(sum(per_process), vectors)
        for rank, result in enumerate(self.results):
            torch.testing.assert_close(result["uneven"]["loss"], per_process[rank].detach(), atol=ATOL, rtol=0)
            torch.testing.assert_close(
                result["uneven"]["grad"], grad[rows[rank].start : rows[rank].stop], atol=ATOL, rtol=0
            )


class FakeProcessGroup:
    """torch.distributed as seen by the process of global rank 2 of 4 on a second node (LOCAL_RANK 0)."""

    world_size, rank = 4, 2

    def __init__(self, other_vectors: dict[int, torch.Tensor], other_gradients: torch.Tensor):
        self.other_vectors = other_vectors
        self.other_gradients = other_gradients

    def all_gather(self, outputs: list[torch.Tensor], tensor: torch.Tensor, group=None) -> None:
        for index, output in enumerate(outputs):
            if index == self.rank:
                output.copy_(tensor)
            elif tensor.dtype == torch.long:  # the sizes
                output.fill_(self.other_vectors[index].shape[0])
            else:
                output.copy_(
                    F.pad(self.other_vectors[index], (0, 0, 0, output.shape[0] - self.other_vectors[index].shape[0]))
                )

    def all_reduce(self, tensor: torch.Tensor, op=None, group=None) -> None:
        tensor += self.other_gradients

    def patches(self) -> list:
        return [
            mock.patch.dict(
                os.environ, {"RANK": str(self.rank), "LOCAL_RANK": "0", "WORLD_SIZE": str(self.world_size)}
            ),
            mock.patch.object(dist, "is_available", return_value=True),
            mock.patch.object(dist, "is_initialized", return_value=True),
            mock.patch.object(dist, "get_world_size", return_value=self.world_size),
            mock.patch.object(dist, "get_rank", return_value=self.rank),
            mock.patch.object(dist, "all_gather", side_effect=self.all_gather),
            mock.patch.object(dist, "all_reduce", side_effect=self.all_reduce),
        ]


class ContrastiveSpanLossTest(unittest.TestCase):
    def test_loss_equals_hand_computed_reference(self) -> None:
        vectors = torch.randn(6, 8, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(
            contrastive_span_loss(vectors), reference_contrastive_loss(vectors), atol=ATOL, rtol=0
        )

    def test_self_similarity_is_excluded(self) -> None:
        # Long vectors: their self-similarity would dominate every row if it were a candidate.
        vectors = torch.randn(4, 8, generator=torch.Generator().manual_seed(0)) * 10
        loss = contrastive_span_loss(vectors)
        scores = vectors @ vectors.T
        with_self = F.cross_entropy(scores, torch.tensor([1, 0, 3, 2]))
        self.assertLess(loss.item(), with_self.item())
        torch.testing.assert_close(loss, reference_contrastive_loss(vectors), atol=ATOL, rtol=0)

    def test_odd_batch_raises_naming_the_pair_layout(self) -> None:
        with self.assertRaisesRegex(ValueError, r"\[d1s1, d1s2, d2s1, d2s2, \.\.\.\]"):
            contrastive_span_loss(torch.randn(3, 8))

    def test_local_vectors_sit_at_the_global_rank_not_the_local_rank(self) -> None:
        generator = torch.Generator().manual_seed(0)
        others = {rank: torch.randn(size, 6, generator=generator) for rank, size in ((0, 4), (1, 2), (3, 4))}
        local = torch.randn(2, 6, generator=generator)
        other_gradients = torch.randn(12, 6, generator=generator)  # what the other processes' losses send back
        fake = FakeProcessGroup(others, other_gradients)
        local_leaf = local.clone().requires_grad_()
        patches = fake.patches()
        for patch in patches:
            patch.start()
        try:
            loss = contrastive_span_loss(local_leaf, gather=True)
            loss.backward()
        finally:
            for patch in reversed(patches):
                patch.stop()

        # The global batch in rank order: ranks 0 and 1 (6 spans) come first, so the local rows are 6 and 7.
        gathered = torch.cat([others[0], others[1], local, others[3]]).requires_grad_()
        expected = reference_contrastive_loss(gathered, range(6, 8))
        (grad,) = torch.autograd.grad(expected, gathered)
        torch.testing.assert_close(loss, expected, atol=ATOL, rtol=0)
        torch.testing.assert_close(local_leaf.grad, (grad + other_gradients)[6:8], atol=ATOL, rtol=0)

    def test_odd_local_batch_under_gather_raises_after_exchanging_sizes(self) -> None:
        # With `gather`, the sizes of every process are exchanged first and checked alike, so that every process
        # raises (instead of the one with an odd batch raising while the others wait in the all-gather forever).
        generator = torch.Generator().manual_seed(0)
        others = {rank: torch.randn(4, 6, generator=generator) for rank in (0, 1, 3)}
        fake = FakeProcessGroup(others, torch.zeros(15, 6))
        patches = fake.patches()
        for patch in patches:
            patch.start()
        try:
            with self.assertRaisesRegex(ValueError, r"whole pairs of spans on every process; local batch sizes are "):
                contrastive_span_loss(torch.randn(3, 6), gather=True)
            self.assertEqual(dist.all_gather.call_count, 1)  # the sizes, not the vectors
        finally:
            for patch in reversed(patches):
                patch.stop()

    def test_gather_without_torch_distributed_raises_naming_the_fix(self) -> None:
        with self.assertRaisesRegex(ValueError, "torch.distributed is not initialised"):
            contrastive_span_loss(torch.randn(4, 6), gather=True)

    def test_computed_in_float32_under_bfloat16_autocast(self) -> None:
        vectors = torch.randn(4, 8, generator=torch.Generator().manual_seed(0)) * 5
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = contrastive_span_loss(vectors)
        self.assertEqual(loss.dtype, torch.float32)
        torch.testing.assert_close(loss, reference_contrastive_loss(vectors), atol=ATOL, rtol=0)


class CoCondenserForPreTrainingTest(unittest.TestCase):
    def test_total_is_unweighted_sum_of_head_mlm_late_mlm_and_contrastive(self) -> None:
        model = tiny_model(CondenserForPreTraining, **COCONDENSER)
        batch = tiny_batch(tiny_config(), GLOBAL_BATCH, span_pairs=True)
        outputs = model(**batch)
        self.assertIsInstance(outputs, CondenserForPreTrainingOutput)
        torch.testing.assert_close(
            outputs.loss, outputs.head_mlm_loss + outputs.late_mlm_loss + outputs.contrastive_loss, atol=0, rtol=0
        )

    def test_contrastive_loss_uses_last_layer_cls_vectors(self) -> None:
        model = tiny_model(CondenserForPreTraining, **COCONDENSER)
        batch = tiny_batch(tiny_config(), GLOBAL_BATCH, span_pairs=True)
        outputs = model(**batch)
        inputs = {key: batch[key] for key in ("input_ids", "attention_mask", "token_type_ids")}
        cls_vectors = model.bert(**inputs).pooler_output
        torch.testing.assert_close(outputs.cls_vectors, cls_vectors, atol=ATOL, rtol=0)
        torch.testing.assert_close(
            outputs.contrastive_loss, reference_contrastive_loss(cls_vectors), atol=ATOL, rtol=0
        )

    def test_mlm_losses_equal_condenser(self) -> None:
        model = tiny_model(CondenserForPreTraining, **COCONDENSER)
        condenser = tiny_model(CondenserForPreTraining, **NO_DROPOUT)
        condenser.load_state_dict(model.state_dict())
        batch = tiny_batch(tiny_config(), GLOBAL_BATCH, span_pairs=True)
        outputs, expected = model(**batch), condenser(**batch)
        torch.testing.assert_close(outputs.head_mlm_loss, expected.head_mlm_loss, atol=0, rtol=0)
        torch.testing.assert_close(outputs.late_mlm_loss, expected.late_mlm_loss, atol=0, rtol=0)
        without_contrastive = model(**batch, compute_contrastive_loss=False)
        self.assertIsNone(without_contrastive.contrastive_loss)
        torch.testing.assert_close(without_contrastive.loss, expected.loss, atol=0, rtol=0)

    def test_odd_batch_raises_naming_the_pair_layout(self) -> None:
        model = tiny_model(CondenserForPreTraining, **COCONDENSER)
        batch = {key: value[:5] for key, value in tiny_batch(tiny_config(), GLOBAL_BATCH, span_pairs=True).items()}
        with self.assertRaisesRegex(ValueError, r"\[d1s1, d1s2, d2s1, d2s2, \.\.\.\]"):
            model(**batch)
        # Without labels no loss is computed, so inference on any batch size works.
        self.assertEqual(model(batch["input_ids"]).cls_vectors.shape, (5, 32))

    def test_no_weight_or_buffer_depends_on_the_batch_size(self) -> None:
        model = tiny_model(CondenserForPreTraining, **COCONDENSER)
        condenser = tiny_model(CondenserForPreTraining, **NO_DROPOUT)
        self.assertEqual(model.state_dict().keys(), condenser.state_dict().keys())
        condenser.load_state_dict(model.state_dict())
        model.eval(), condenser.eval()
        for batch_size in (2, 4, 6):
            batch = tiny_batch(model.config, batch_size, span_pairs=True)
            outputs = model(**batch)
            expected_mlm = condenser(**batch).loss
            expected_contrastive = reference_contrastive_loss(outputs.cls_vectors)
            torch.testing.assert_close(outputs.loss, expected_mlm + expected_contrastive, atol=ATOL, rtol=0)

    def test_checkpoints_are_condenser_checkpoints(self) -> None:
        model = tiny_model(CondenserForPreTraining, **COCONDENSER)
        batch = tiny_batch(tiny_config(), GLOBAL_BATCH, span_pairs=True)
        with tempfile.TemporaryDirectory() as directory:
            model.save_pretrained(directory)
            as_condenser = CondenserForPreTraining.from_pretrained(directory, cocondenser=False).eval()
            as_condenser.save_pretrained(directory)
            reloaded = CondenserForPreTraining.from_pretrained(directory, cocondenser=True).eval()
        torch.testing.assert_close(as_condenser(**batch).loss, model(**batch, compute_contrastive_loss=False).loss)
        torch.testing.assert_close(reloaded(**batch).loss, model(**batch).loss)

    def test_gradient_flows_to_the_backbone_from_the_contrastive_loss(self) -> None:
        model = tiny_model(CondenserForPreTraining, **COCONDENSER)
        outputs = model(**tiny_batch(tiny_config(), GLOBAL_BATCH, span_pairs=True))
        outputs.contrastive_loss.backward()
        self.assertGreater(model.bert.embeddings.word_embeddings.weight.grad.abs().sum().item(), 0)
        # The head sees no contrastive gradient: it only serves the MLM loss.
        self.assertIsNone(model.head_layers[0].output.dense.weight.grad)

    def test_return_dict_false_gives_a_tuple(self) -> None:
        model = tiny_model(CondenserForPreTraining, **COCONDENSER)
        outputs = model(**tiny_batch(tiny_config(), GLOBAL_BATCH, span_pairs=True), return_dict=False)
        self.assertIsInstance(outputs, tuple)
        torch.testing.assert_close(outputs[0], model(**tiny_batch(tiny_config(), GLOBAL_BATCH, span_pairs=True)).loss)


if __name__ == "__main__":
    unittest.main()
