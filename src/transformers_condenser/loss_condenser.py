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
"""coCondenser's contrastive span loss, and the cross-process gather it uses when the trainer asks for it.

As transformers keeps its losses as functions (`transformers/loss/loss_utils.py`), the model calls this loss and the
loss owns its maths. Gathering across processes is the caller's choice (`gather=True`, as `CondenserTrainer` passes
under distributed training), never a side effect of a forward pass: a forward on one process alone never waits for
the others.
"""

import torch
from torch import distributed as dist
from torch.nn import functional as F


class _AllGatherWithGradient(torch.autograd.Function):
    """All-gather along the batch dimension whose backward sends every process's gradient back to its owner.

    Forward: the rows of every process, concatenated in rank order; this process's own rows sit at its rank's place
    (the rank in `group`: `torch.distributed.get_rank()` for the default group, never `LOCAL_RANK`, which repeats on
    every node). Backward: the gradients that all processes computed for the gathered tensor are summed
    (`all_reduce`), and each process keeps the slice of its own rows. Processes may hold different numbers of rows.
    """

    @staticmethod
    def forward(ctx, local: torch.Tensor, sizes: list[int], rank: int, group: "dist.ProcessGroup | None"):
        # all_gather needs equal shapes: pad to the largest local batch, then cut the padding off again.
        padded = F.pad(local, (0, 0, 0, max(sizes) - local.shape[0])).contiguous()
        buffers = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(buffers, padded, group=group)
        pieces = [buffer[:size] for buffer, size in zip(buffers, sizes)]
        pieces[rank] = local
        ctx.group = group
        ctx.start = sum(sizes[:rank])
        ctx.stop = ctx.start + local.shape[0]
        return torch.cat(pieces)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        # Every process's loss depends on this process's rows (they are negatives there): sum those gradients.
        grad = grad_output.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        return grad[ctx.start : ctx.stop], None, None, None


def _gather_with_gradient(local: torch.Tensor, group: "dist.ProcessGroup | None" = None) -> tuple[torch.Tensor, int]:
    """The rows of all processes of `group` (with gradient, see `_AllGatherWithGradient`) and the index of this
    process's first row among them."""
    world_size = dist.get_world_size(group=group)
    rank = dist.get_rank(group=group)
    local_size = torch.tensor([local.shape[0]], device=local.device)
    sizes = [torch.empty_like(local_size) for _ in range(world_size)]
    dist.all_gather(sizes, local_size, group=group)
    sizes = [int(size.item()) for size in sizes]
    if any(size % 2 for size in sizes):
        # Checked on every process alike, so that all of them raise instead of some waiting forever.
        raise ValueError(
            f"coCondenser batches must hold whole pairs of spans on every process; local batch sizes are {sizes}."
        )
    return _AllGatherWithGradient.apply(local, sizes, rank, group), sum(sizes[:rank])


def contrastive_span_loss(
    cls_vectors: torch.Tensor,
    gather: bool = False,
    group: "dist.ProcessGroup | None" = None,
) -> torch.Tensor:
    """coCondenser's corpus-level contrastive loss over span pairs.

    Rows `2k` and `2k + 1` of `cls_vectors` are two spans of the same document (the layout `[d1s1, d1s2, d2s1, d2s2,
    ...]`). Each span's scores are the raw dot products of its vector with every span of the global batch (no
    normalisation, no temperature), its own score excluded (set to `-inf`); the target is the other span of its
    document, and every other span, on every process, is a negative. The loss is the mean cross-entropy over the local
    spans, computed in float32 even under autocast. Nothing depends on a buffer sized for a particular batch.

    Distributed training: with `gather`, the vectors of all processes are gathered (this process's own at its rank in
    `group`, which for the default group is the global rank `torch.distributed.get_rank()`), and the backward pass
    sums, into each process's own vectors, the gradients of the losses of all processes. Each process thus
    back-propagates the sum over processes of their local mean losses, that is `world_size` times the loss of the
    global batch; DDP then averages the gradients over the `world_size` processes, so the parameters receive exactly
    the gradient of the mean loss over the global batch, as one process holding the whole batch would compute. The
    loss needs no rescaling; the mean over processes of the returned values is the global batch's loss (for equal
    local batch sizes).

    Args:
        cls_vectors (`torch.Tensor` of shape `(batch_size, hidden_size)`):
            Last-layer CLS vectors of this process's spans, in pairs; `batch_size` must be even.
        gather (`bool`, *optional*, defaults to `False`):
            Whether to use the spans of all processes of `group` as negatives (a collective: every process of the group
            must call the loss). `False` uses this process's spans only, and never communicates.
        group (`torch.distributed.ProcessGroup`, *optional*):
            The processes whose spans form the global batch (default: all).

    Returns:
        `torch.Tensor`: the scalar loss.

    Example:

    ```python
    >>> import torch
    >>> from transformers_condenser.loss_condenser import contrastive_span_loss

    >>> cls_vectors = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])  # 2 documents x 2 spans
    >>> contrastive_span_loss(cls_vectors) < contrastive_span_loss(cls_vectors[[0, 2, 1, 3]])
    tensor(True)
    ```
    """
    if cls_vectors.dim() != 2:
        raise ValueError(f"`cls_vectors` must have shape (batch_size, hidden_size), got {tuple(cls_vectors.shape)}.")
    if cls_vectors.shape[0] % 2 and not gather:  # with `gather`, checked on every process alike before gathering
        raise ValueError(
            f"coCondenser batches are pairs of spans laid out [d1s1, d1s2, d2s1, d2s2, ...], so the batch size must be "
            f"even; got {cls_vectors.shape[0]} CLS vectors."
        )
    if gather and not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            "`gather=True` uses the spans of all processes, but torch.distributed is not initialised; launch with "
            "torchrun or accelerate, or pass `gather=False`."
        )
    # Dot products of un-normalised vectors reach the hundreds: bfloat16 would round them by whole units.
    with torch.autocast(device_type=cls_vectors.device.type, enabled=False):
        local = cls_vectors.float()
        candidates, offset = _gather_with_gradient(local, group) if gather else (local, 0)
        scores = local @ candidates.T
        rows = torch.arange(local.shape[0], device=local.device)
        own_columns = rows + offset
        columns = torch.arange(candidates.shape[0], device=local.device)
        scores = scores.masked_fill(columns[None, :] == own_columns[:, None], float("-inf"))
        # Local rows 2k and 2k+1 are partners; the offset is even, so the partner's global column is offset + (i ^ 1).
        return F.cross_entropy(scores, (rows ^ 1) + offset)


__all__ = ["contrastive_span_loss"]
