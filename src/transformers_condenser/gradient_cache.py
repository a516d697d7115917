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
"""Gradient cache for coCondenser: a contrastive batch far larger than fits in memory, computed chunk by chunk.

The contrastive loss couples every span of the batch with every other, but it only depends on the spans' CLS
vectors, which are small. So (Gao et al., "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup",
2021):

1. a pass without gradient computes the CLS vectors of all chunks (the random state before each chunk is recorded);
2. the contrastive loss of the whole batch (all processes, when distributed) and its gradient with respect to the CLS
   vectors are computed, which needs only the CLS vectors;
3. each chunk is run again with gradient, under the random state recorded for it (so its dropout masks, and hence its
   CLS vectors, are those of step 1), and back-propagates its MLM loss plus the dot product of the cached gradient
   with its CLS vectors. Only one chunk's activations are alive at a time.

The sum of the chunks' gradients is the gradient of the uncached step computed with the same dropout masks: the MLM
loss of a chunk is its sum over labelled positions divided by the labelled positions of the whole batch, so the MLM
term is counted once, exactly as without the cache.
"""

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

from .loss_condenser import contrastive_span_loss
from .modeling_condenser import CondenserForPreTrainingOutput


def _batch_size(inputs: Mapping[str, Any]) -> int:
    """The number of sequences in `inputs`, read from `input_ids` or `inputs_embeds`."""
    for key in ("input_ids", "inputs_embeds"):
        if isinstance(inputs.get(key), torch.Tensor):
            return inputs[key].shape[0]
    raise ValueError("The gradient cache needs `input_ids` or `inputs_embeds` in `inputs`.")


def _split(inputs: Mapping[str, Any], batch_size: int, chunk_size: int) -> list[dict[str, Any]]:
    """`inputs` cut into chunks of `chunk_size` sequences; values without a batch dimension go to every chunk."""
    chunks = []
    for start in range(0, batch_size, chunk_size):
        chunks.append(
            {
                key: value[start : start + chunk_size]
                if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == batch_size
                else value
                for key, value in inputs.items()
            }
        )
    return chunks


class _RandomState:
    """The CPU random state and that of the CUDA devices holding the inputs, to replay a chunk's dropout masks."""

    def __init__(self, cuda_devices: list[int]):
        self.cuda_devices = cuda_devices
        self.cpu_state = torch.get_rng_state()
        self.cuda_states = [torch.cuda.get_rng_state(device) for device in cuda_devices]

    @contextlib.contextmanager
    def replay(self) -> Iterator[None]:
        """Run the block under the recorded state, then restore the state the block started from."""
        with torch.random.fork_rng(devices=self.cuda_devices):
            torch.set_rng_state(self.cpu_state)
            for device, state in zip(self.cuda_devices, self.cuda_states):
                torch.cuda.set_rng_state(state, device)
            yield


def gradient_cache_step(
    model: nn.Module,
    inputs: Mapping[str, Any],
    chunk_size: int,
    num_items_in_batch: torch.Tensor | int | None = None,
    mlm_loss_scale: float = 1.0,
    contrastive_loss_scale: float = 1.0,
    backward: Callable[[torch.Tensor], None] | None = None,
    no_sync: Callable[[], contextlib.AbstractContextManager] | None = None,
    forward_context: Callable[[], contextlib.AbstractContextManager] | None = None,
    gather: bool = False,
) -> CondenserForPreTrainingOutput:
    """Forward and backward of one coCondenser batch, `chunk_size` sequences at a time.

    Accumulates into the parameters' `.grad` the gradient of
    `mlm_loss_scale * (head_mlm_loss + late_mlm_loss) + contrastive_loss_scale * contrastive_loss` of the whole batch,
    the same as `model(**inputs).loss` (with those scales; with `gather=True`, the contrastive loss over the spans of
    all processes, as `CondenserTrainer` computes it) followed by `backward`, with the memory of one chunk of
    activations plus the CLS vectors of the batch. It does not step or zero anything: call it where you would call
    forward and backward, between `optimizer.zero_grad()` and `optimizer.step()`.

    - Equality with the uncached step: the gradients are those of the uncached step with the same dropout masks.
      Each chunk is replayed under the random state recorded before it (CPU and the CUDA devices of the inputs), so
      with a single chunk (`chunk_size >= batch size`) the result equals `model(**inputs)` exactly, dropout included.
      With several chunks the dropout masks are drawn per chunk, which is as random as drawing them for the batch but
      not the same draw. Afterwards the random state is where one forward pass over the batch would have left it.
    - Chunks may split a pair of spans (chunk size 1 works): the contrastive loss is computed from the cached vectors
      of the whole batch, never per chunk. The batch itself must be pairs `[d1s1, d1s2, d2s1, d2s2, ...]`.
    - Distributed training: with `gather=True`, the contrastive loss uses the spans of every process as negatives (see
      [`contrastive_span_loss`]); wrap `model` in DDP and pass it as it is. Every process must run the same number of
      chunks (same local batch size), since each forward of a DDP model and the gradient synchronisation are collective.
      Gradient synchronisation happens in the last chunk only: the others run inside `no_sync`.
    - Sharded training (FSDP2, `torch.distributed.fsdp.fully_shard`): pass the sharded model as it is. It has no
      `no_sync`; the chunks before the last run with `model.set_requires_gradient_sync(False)` instead (their
      gradients accumulate unsharded, and the last chunk's backward reduce-scatters the sum), which FSDP2 takes as the
      equivalent of DDP's `no_sync`. Every process must run the same number of chunks, as under DDP.
    - Gradient accumulation: pass `num_items_in_batch` (the labelled positions of all accumulated micro-batches, and
      of all processes if the MLM losses are to be averaged over them) and `contrastive_loss_scale=1 / steps`.
    - Mixed precision: run it under autocast, or pass a model whose forward casts (as `accelerate` prepares it) and
      `backward=accelerator.backward` so that loss scaling applies. The contrastive loss is computed in float32.

    Args:
        model (`nn.Module`):
            A [`CondenserForPreTraining`] with `config.cocondenser`, possibly wrapped (DDP, `accelerate`): it is called as
            `model(**chunk, compute_contrastive_loss=False, num_items_in_batch=...)` and must return `loss` (the MLM
            loss) and `cls_vectors`.
        inputs (`Mapping[str, Any]`):
            The batch: `input_ids` (or `inputs_embeds`), `labels`, and optionally `attention_mask` and any other model
            argument. Tensors whose first dimension is the batch size are chunked; other values go to every chunk.
        chunk_size (`int`):
            Sequences per chunk (at least 1).
        num_items_in_batch (`torch.Tensor` or `int`, *optional*):
            Divisor of the MLM losses' sums. Defaults to the labelled positions of `inputs` (at least 1), which is
            what the uncached forward divides by.
        mlm_loss_scale (`float`, *optional*, defaults to 1.0):
            Factor of the MLM losses in the back-propagated loss.
        contrastive_loss_scale (`float`, *optional*, defaults to 1.0):
            Factor of the contrastive loss in the back-propagated loss.
        backward (`Callable[[torch.Tensor], None]`, *optional*):
            Called with each chunk's scalar surrogate loss; defaults to `Tensor.backward`. `Trainer` passes
            `accelerator.backward`.
        no_sync (`Callable[[], AbstractContextManager]`, *optional*):
            Context manager factory that suspends gradient synchronisation, entered for every chunk but the last.
            Defaults to `model.no_sync` when the model has it (DDP, FSDP1), else to switching
            `model.set_requires_gradient_sync` off and on again when it has that (FSDP2), else nothing.
        forward_context (`Callable[[], AbstractContextManager]`, *optional*):
            Context manager factory entered around every forward pass (an autocast context, for instance).
        gather (`bool`, *optional*, defaults to `False`):
            Use the spans of all processes as negatives (a collective: every process must take the step).

    Returns:
        [`CondenserForPreTrainingOutput`]: `loss`, `head_mlm_loss`, `late_mlm_loss` and `contrastive_loss` of the
        whole batch (unscaled, detached) and the detached `cls_vectors`; no logits.

    Example:

    ```python
    >>> import torch
    >>> from transformers_condenser import CondenserConfig
    >>> from transformers_condenser.gradient_cache import gradient_cache_step
    >>> from transformers_condenser.modeling_condenser import CondenserForPreTraining

    >>> config = CondenserConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
    ...     intermediate_size=37, skip_from=2, cocondenser=True)
    >>> model = CondenserForPreTraining(config)
    >>> input_ids = torch.randint(5, 100, (8, 12))  # 4 documents x 2 spans
    >>> labels = torch.full_like(input_ids, -100)
    >>> labels[:, 3] = input_ids[:, 3]
    >>> outputs = gradient_cache_step(model, {"input_ids": input_ids, "labels": labels}, chunk_size=3)
    >>> outputs.contrastive_loss.shape, model.bert.embeddings.word_embeddings.weight.grad is not None
    (torch.Size([]), True)
    ```
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"`chunk_size` must be a positive integer, got {chunk_size!r}.")
    labels = inputs.get("labels")
    if not isinstance(labels, torch.Tensor):
        raise ValueError("The gradient cache needs `labels` (masked-LM targets) in `inputs`.")
    batch_size = _batch_size(inputs)
    if batch_size % 2:
        raise ValueError(
            "coCondenser batches are pairs of spans of the same document, laid out [d1s1, d1s2, d2s1, d2s2, ...], so "
            f"the batch size must be even; got {batch_size} sequences."
        )
    if num_items_in_batch is None:
        # The uncached forward divides by the batch's labelled positions (at least 1); so do the chunks, all of them.
        num_items_in_batch = (labels != -100).sum().clamp(min=1)
    backward = backward if backward is not None else torch.Tensor.backward
    if no_sync is None:
        no_sync = _default_no_sync(model)
    forward_context = forward_context if forward_context is not None else contextlib.nullcontext
    cuda_devices = sorted(
        {
            torch.cuda.current_device() if value.device.index is None else value.device.index
            for value in inputs.values()
            if isinstance(value, torch.Tensor) and value.is_cuda
        }
    )
    chunks = _split(inputs, batch_size, chunk_size)

    def run(chunk: dict[str, Any]) -> CondenserForPreTrainingOutput:
        with forward_context():
            return model(**chunk, compute_contrastive_loss=False, num_items_in_batch=num_items_in_batch)

    # 1. CLS vectors of the whole batch, without activations kept for backward.
    random_states, cls_chunks = [], []
    with torch.no_grad():
        for chunk in chunks:
            random_states.append(_RandomState(cuda_devices))
            cls_chunks.append(run(chunk).cls_vectors.detach())

    # 2. The contrastive loss of the batch (gathered over processes) and its gradient w.r.t. the CLS vectors.
    cls_vectors = torch.cat(cls_chunks).float().requires_grad_()
    with torch.enable_grad():
        contrastive_loss = contrastive_span_loss(cls_vectors, gather=gather)
        (cls_gradient,) = torch.autograd.grad(contrastive_loss * contrastive_loss_scale, cls_vectors)

    # 3. Each chunk again, with gradient and its own dropout masks: MLM + <cached gradient, CLS>.
    head_mlm_loss = late_mlm_loss = None
    start = 0
    for index, (chunk, random_state) in enumerate(zip(chunks, random_states)):
        is_last = index == len(chunks) - 1
        with contextlib.nullcontext() if is_last else no_sync():
            with random_state.replay():
                outputs = run(chunk)
            stop = start + outputs.cls_vectors.shape[0]
            surrogate = outputs.loss * mlm_loss_scale + (outputs.cls_vectors.float() * cls_gradient[start:stop]).sum()
            backward(surrogate)
        start = stop
        head_mlm_loss = _add(head_mlm_loss, outputs.head_mlm_loss)
        late_mlm_loss = _add(late_mlm_loss, outputs.late_mlm_loss)

    contrastive_loss = contrastive_loss.detach()
    loss = (
        head_mlm_loss + contrastive_loss if late_mlm_loss is None else head_mlm_loss + late_mlm_loss + contrastive_loss
    )
    return CondenserForPreTrainingOutput(
        loss=loss,
        head_mlm_loss=head_mlm_loss,
        late_mlm_loss=late_mlm_loss,
        contrastive_loss=contrastive_loss,
        cls_vectors=cls_vectors.detach(),
    )


def _default_no_sync(model: nn.Module) -> Callable[[], contextlib.AbstractContextManager]:
    """The model's way to suspend gradient synchronisation: DDP's (and FSDP1's) `no_sync`, FSDP2's
    `set_requires_gradient_sync`, or nothing for a model that does not synchronise."""
    if callable(getattr(model, "no_sync", None)):
        return model.no_sync
    if callable(getattr(model, "set_requires_gradient_sync", None)):
        return lambda: _without_gradient_sync(model)
    return contextlib.nullcontext


@contextlib.contextmanager
def _without_gradient_sync(model: nn.Module) -> Iterator[None]:
    """FSDP2's counterpart of `no_sync`: no reduce-scatter in the block's backward; synchronisation is switched back
    on afterwards (the chunk that follows must synchronise)."""
    model.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        model.set_requires_gradient_sync(True)


def _add(total: torch.Tensor | None, value: torch.Tensor | None) -> torch.Tensor | None:
    """`total + value` detached, where either may be missing."""
    if value is None:
        return total
    value = value.detach().float()
    return value if total is None else total + value


__all__ = ["gradient_cache_step"]
