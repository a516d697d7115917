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
"""`Trainer` for Condenser and coCondenser pre-training, with coCondenser's gradient cache.

[`CondenserTrainer`] is transformers' `Trainer` with one change, in `training_step`, for [`CoCondenserForPreTraining`]:
the contrastive loss is weighted correctly under gradient accumulation and data parallelism, and with
`gradient_cache_chunk_size` the batch runs through [`~gradient_cache.gradient_cache_step`]. Plain Condenser models take
`Trainer`'s own path unchanged.
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformers import Trainer, TrainingArguments
from transformers.training_args import OptimizerNames

from .gradient_cache import gradient_cache_step
from .modeling_condenser import CoCondenserForPreTraining


try:
    from accelerate.utils import DistributedType
except ImportError:  # Trainer itself requires accelerate; this only keeps the module importable for the docs.
    DistributedType = None


def _check_chunk_size(chunk_size: int | None) -> None:
    """Reject a gradient-cache chunk size that is not a positive integer (None: no gradient cache)."""
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"`gradient_cache_chunk_size` must be a positive integer or None, got {chunk_size!r}.")


@dataclass
class CondenserTrainingArguments(TrainingArguments):
    r"""
    [`~transformers.TrainingArguments`] plus the coCondenser gradient cache.

    Args:
        gradient_cache_chunk_size (`int`, *optional*):
            Run each coCondenser batch through the gradient cache, this many sequences (spans) at a time: the
            contrastive batch is `per_device_train_batch_size` x 2 spans per process, while activation memory is that
            of `gradient_cache_chunk_size` spans. Chunks may split a pair. `None` (default) trains without the cache.
    """

    gradient_cache_chunk_size: int | None = field(
        default=None,
        metadata={
            "help": "coCondenser gradient cache: run each batch this many spans at a time (activation memory of one "
            "chunk, contrastive loss over the whole batch). Default: no gradient cache."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_chunk_size(self.gradient_cache_chunk_size)


class CondenserTrainer(Trainer):
    """[`~transformers.Trainer`] for [`CondenserForPreTraining`] and [`CoCondenserForPreTraining`].

    For a coCondenser model, each training step back-propagates
    `s_mlm * (head_mlm_loss + late_mlm_loss) + contrastive_loss / gradient_accumulation_steps`, where `s_mlm` is what
    `Trainer` applies to a loss normalised by `num_items_in_batch` (the labelled positions of all accumulated
    micro-batches, of all processes with `average_tokens_across_devices`: `s_mlm` is then the number of processes, so
    that DDP's averaging yields the global mean) or `1 / gradient_accumulation_steps` without it. The contrastive loss
    is a mean per micro-batch, and its gradient is already summed over processes (see [`contrastive_span_loss`]), so
    it is only divided by the accumulation steps. `Trainer`'s default `compute_loss` path would instead multiply it
    by the number of processes and never divide it by the accumulation steps.

    With `args.gradient_cache_chunk_size` set (see [`CondenserTrainingArguments`]), the step runs through
    [`~gradient_cache.gradient_cache_step`]; every backward goes through `accelerator.backward` (so AMP loss scaling,
    DDP and DeepSpeed apply), chunks before the last run under `accelerator.no_sync`, and DeepSpeed is told that
    those chunks are no accumulation boundary.

    Other models, and Condenser models, follow `Trainer.training_step` unchanged. DataParallel (several GPUs in one
    process without `torchrun`) is not supported for coCondenser; launch one process per GPU.

    Args:
        *args, **kwargs:
            The arguments of [`~transformers.Trainer`].
        gradient_cache_chunk_size (`int`, *optional*):
            Spans per gradient-cache chunk. Defaults to `args.gradient_cache_chunk_size` when `args` has that field
            (as [`CondenserTrainingArguments`] does), else no gradient cache.
    """

    def __init__(self, *args: Any, gradient_cache_chunk_size: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if gradient_cache_chunk_size is None:
            gradient_cache_chunk_size = getattr(self.args, "gradient_cache_chunk_size", None)
        _check_chunk_size(gradient_cache_chunk_size)
        self.gradient_cache_chunk_size = gradient_cache_chunk_size

    def training_step(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        """One micro-batch's forward and backward; returns the loss as `Trainer` logs it (scaled, detached)."""
        chunk_size = self.gradient_cache_chunk_size
        if not isinstance(self.accelerator.unwrap_model(model), CoCondenserForPreTraining):
            if chunk_size is not None:
                raise ValueError(
                    "`gradient_cache_chunk_size` is set, but the gradient cache only applies to "
                    f"CoCondenserForPreTraining, not {type(self.accelerator.unwrap_model(model)).__name__}."
                )
            return super().training_step(model, inputs, num_items_in_batch)
        if self.args.n_gpu > 1:
            raise ValueError(
                "coCondenser does not support DataParallel (several GPUs in one process); launch one process per GPU "
                "with torchrun or accelerate."
            )
        if chunk_size is not None and self.args.optim in (OptimizerNames.LOMO, OptimizerNames.ADALOMO):
            raise ValueError("The gradient cache calls backward once per chunk; LOMO optimizers update on each call.")

        model.train()
        if hasattr(self.optimizer, "train") and callable(self.optimizer.train):
            self.optimizer.train()
        inputs = self._prepare_inputs(inputs)
        if not self.model_accepts_loss_kwargs:
            num_items_in_batch = None
        mlm_loss_scale, contrastive_loss_scale = self._loss_scales(num_items_in_batch)
        loss_kwargs = {} if num_items_in_batch is None else {"num_items_in_batch": num_items_in_batch}

        if chunk_size is None:
            with self.compute_loss_context_manager():
                outputs = model(**inputs, **loss_kwargs)
            loss = self._scaled_loss(outputs, mlm_loss_scale, contrastive_loss_scale)
            del inputs
            self._backward(loss)
        else:
            outputs = gradient_cache_step(
                model,
                inputs,
                chunk_size,
                num_items_in_batch=num_items_in_batch,
                mlm_loss_scale=mlm_loss_scale,
                contrastive_loss_scale=contrastive_loss_scale,
                backward=self._backward,
                no_sync=lambda: self._no_sync_chunk(model),
                forward_context=self.compute_loss_context_manager,
            )
            loss = self._scaled_loss(outputs, mlm_loss_scale, contrastive_loss_scale)
            del inputs
        return loss.detach()

    def _loss_scales(self, num_items_in_batch: torch.Tensor | int | None) -> tuple[float, float]:
        """Factors of the MLM and contrastive losses in a micro-batch's backward, as in `Trainer.training_step`."""
        accumulation_steps = self.current_gradient_accumulation_steps
        if num_items_in_batch is None:
            return 1.0 / accumulation_steps, 1.0 / accumulation_steps
        mlm_loss_scale = 1.0
        if self.args.average_tokens_across_devices:
            # `num_items_in_batch` counts every process's labels: undo DDP's averaging, as `Trainer.compute_loss` does.
            mlm_loss_scale = float(self.accelerator.num_processes // self.get_tp_size())
        return mlm_loss_scale, 1.0 / accumulation_steps

    @staticmethod
    def _scaled_loss(outputs: Any, mlm_loss_scale: float, contrastive_loss_scale: float) -> torch.Tensor:
        """`mlm_loss_scale * (head + late MLM) + contrastive_loss_scale * contrastive` from a coCondenser output."""
        mlm_loss = outputs.head_mlm_loss
        if outputs.late_mlm_loss is not None:
            mlm_loss = mlm_loss + outputs.late_mlm_loss
        return mlm_loss * mlm_loss_scale + outputs.contrastive_loss * contrastive_loss_scale

    def _backward(self, loss: torch.Tensor) -> None:
        """`accelerator.backward`, with `Trainer`'s DeepSpeed setting (the loss is already scaled for accumulation)."""
        kwargs = {}
        if DistributedType is not None and self.accelerator.distributed_type == DistributedType.DEEPSPEED:
            kwargs["scale_wrt_gas"] = False
        self.accelerator.backward(loss, **kwargs)

    @contextlib.contextmanager
    def _no_sync_chunk(self, model: nn.Module) -> Iterator[None]:
        """No gradient synchronisation, and no DeepSpeed step, for a chunk that is not the step's last."""
        gradient_state = self.accelerator.gradient_state
        sync_gradients = gradient_state.sync_gradients
        gradient_state._set_sync_gradients(False)
        try:
            with self.accelerator.no_sync(model):
                yield
        finally:
            gradient_state._set_sync_gradients(sync_gradients)


__all__ = ["CondenserTrainer", "CondenserTrainingArguments"]
