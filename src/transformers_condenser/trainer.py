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

[`CondenserTrainer`] is transformers' `Trainer` with one change, in `training_step`, for coCondenser
([`CondenserForPreTraining`] with `config.cocondenser`): the contrastive loss is computed here, over the spans of all
processes under data parallelism (the model's forward never communicates), weighted correctly under gradient
accumulation and data parallelism, and with
`gradient_cache_chunk_size` the batch runs through [`~gradient_cache.gradient_cache_step`]. Plain Condenser models take
`Trainer`'s own path unchanged. For every model, checkpoints also hold the masking collator's random state, so that a
resumed run masks its batches as the uninterrupted run would have, and no saved folder holds a pickle.
"""

import collections
import contextlib
import copy
import json
import os
import pickle
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import Trainer, TrainingArguments
from transformers.models.bert.modeling_bert import BertLayer
from transformers.trainer import TRAINING_ARGS_NAME
from transformers.trainer_utils import get_last_checkpoint
from transformers.training_args import OptimizerNames
from transformers.utils import logging

from .collators import DataCollatorForCoCondenser, DataCollatorForCondenser
from .gradient_cache import gradient_cache_step
from .loss_condenser import contrastive_span_loss
from .modeling_condenser import CondenserForPreTraining
from .utils_import import extra_imports


# `Trainer` needs accelerate (it imports it only when installed and fails when it starts training).
with extra_imports("pretraining"):
    from accelerate import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin


logger = logging.get_logger(__name__)

# The training arguments, as JSON, in every saved folder instead of `Trainer`'s pickled `training_args.bin`.
TRAINING_ARGS_JSON_NAME = "training_args.json"
# The masking collator's random state before the next training batch, saved in each checkpoint (one file per process
# under data parallelism, as `Trainer` does for `rng_state.pth`).
COLLATOR_RNG_STATE_NAME = "collator_rng_state"
# The terms of `CondenserForPreTrainingOutput.loss`, logged next to `loss` (training) and `eval_loss` (evaluation).
LOSS_TERMS = ("head_mlm_loss", "late_mlm_loss", "contrastive_loss")


# The `--fsdp` values `condenser-pretrain` accepts: all shard fully, one FSDP2 unit per `BertLayer` plus the root.
SUPPORTED_FSDP_VALUES = (True, "full_shard")
# `fsdp_config` keys and the only value each may have: the trainer shards the model itself (see `CondenserTrainer`).
_FIXED_FSDP_CONFIG = {
    "version": (2, "FSDP2 (`torch.distributed.fsdp.fully_shard`) is the only version supported"),
    "cpu_offload": (False, "CPU offload (`--fsdp offload`) is not supported"),
    "offload_params": (False, "CPU offload (`--fsdp offload`) is not supported"),
    "activation_checkpointing": (False, "use --gradient_checkpointing instead of FSDP's activation checkpointing"),
    "cpu_ram_efficient_loading": (False, "every process loads the full model before it is sharded"),
    "state_dict_type": ("FULL_STATE_DICT", "checkpoints hold the gathered (full) state dict"),
}


def _check_fsdp(fsdp: Any, fsdp_config: Any) -> None:
    """Reject the `--fsdp` values and `--fsdp_config` entries that [`CondenserTrainer`]'s own sharding does not do
    (before `TrainingArguments` turns `--fsdp` into a config, so that the message can quote the flag's value)."""
    values = fsdp.split() if isinstance(fsdp, str) else list(fsdp) if isinstance(fsdp, (list, tuple)) else [fsdp]
    values = [value.lower() if isinstance(value, str) else value for value in values]
    if not fsdp:
        return
    if len(values) != 1 or values[0] not in SUPPORTED_FSDP_VALUES:
        raise ValueError(
            f"--fsdp {fsdp!r} is not supported: Condenser pre-training shards the model itself with FSDP2, fully "
            "(one unit per BertLayer of the backbone and the head, then the root module, which keeps the tied word "
            "embeddings and MLM decoder together). Pass `--fsdp` or `--fsdp full_shard`, without offload, auto_wrap "
            "or another sharding strategy."
        )
    if isinstance(fsdp_config, str):
        try:
            fsdp_config = json.loads(Path(fsdp_config).read_text())
        except (OSError, ValueError):
            return  # `TrainingArguments` explains a missing or malformed file
    for key, value in (fsdp_config or {}).items():
        key = key.removeprefix("fsdp_")
        if key in _FIXED_FSDP_CONFIG:
            expected, reason = _FIXED_FSDP_CONFIG[key]
            given = str(value).upper() if key == "state_dict_type" else value
            if key == "version":
                given = int(value) if str(value).isdigit() else value
            elif isinstance(expected, bool) and isinstance(value, str):
                given = value.lower() == "true"
            if given != expected:
                raise ValueError(f"--fsdp_config {key}={value!r} is not supported with --fsdp: {reason}.")
        elif key in ("transformer_layer_cls_to_wrap", "auto_wrap_policy", "min_num_params") and value:
            if key == "min_num_params" and value == 0:
                continue
            raise ValueError(
                f"--fsdp_config {key}={value!r} is not supported with --fsdp: the trainer wraps one FSDP unit per "
                "BertLayer itself (a unit around the MLM decoder would split it from its tied embeddings)."
            )


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
        _check_fsdp(self.fsdp, self.fsdp_config)
        super().__post_init__()
        _check_chunk_size(self.gradient_cache_chunk_size)


@contextlib.contextmanager
def _refusing_unsafe_pickles(checkpoint: str | os.PathLike | None, what: str) -> Iterator[None]:
    """Turn `torch.load(..., weights_only=True)`'s refusal of a pickle holding more than tensors into a `ValueError`
    that names the checkpoint (the pickle is never run: `Trainer` loads these files with `weights_only=True`)."""
    try:
        yield
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"The {what} of the checkpoint {checkpoint} holds pickled objects other than tensors and numbers, which "
            "are refused, never unpickled: unpickling them could run any code. Resume only from checkpoints written "
            "by condenser-pretrain or transformers' Trainer; to keep the weights alone, start a new run from the "
            "checkpoint with --model_name_or_path."
        ) from error


class _TrainingCollator:
    """The training DataLoader's collator: [`DataCollatorForCondenser`] or [`DataCollatorForCoCondenser`], remembering
    the random state it had before each batch it collated that has not been trained on yet.

    The DataLoader collates ahead of training (accelerate prefetches a batch, `Trainer` fetches all the micro-batches
    of a step), so at a checkpoint the collator's current state is already past the next batch; the state saved is the
    one before the oldest batch collated and not yet trained on. Only batches collated in this process are tracked:
    with `dataloader_num_workers > 0` the workers hold their own copies and a resumed run draws other masks.
    """

    def __init__(self, collator: DataCollatorForCondenser | DataCollatorForCoCondenser) -> None:
        self.collator = collator
        # The collators draw every crop and mask from this generator.
        self.generator: torch.Generator = collator.generator
        self.pending_states: collections.deque[torch.Tensor] = collections.deque()

    def __call__(self, features: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if torch.utils.data.get_worker_info() is None:
            self.pending_states.append(self.generator.get_state())
        return self.collator(features)

    def batch_trained(self) -> None:
        if self.pending_states:
            self.pending_states.popleft()

    def state_before_next_batch(self) -> torch.Tensor:
        return self.pending_states[0] if self.pending_states else self.generator.get_state()

    def restore(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)
        self.pending_states.clear()


@contextlib.contextmanager
def _as_unsharded_class(model: nn.Module) -> Iterator[None]:
    """Give a model sharded by FSDP2 its class from before sharding for the block. `fully_shard` turns a
    `CondenserForPreTraining` into a generated `FSDPCondenserForPreTraining`, whose module is torch's: saved as it is,
    the checkpoint would name that class in `architectures` and hold torch's code files instead of the model's."""
    from torch.distributed.fsdp import FSDPModule

    sharded_class = type(model)
    if not issubclass(sharded_class, FSDPModule):
        yield
        return
    model.__class__ = next(cls for cls in sharded_class.__mro__ if not issubclass(cls, FSDPModule))
    try:
        yield
    finally:
        model.__class__ = sharded_class


class CondenserTrainer(Trainer):
    """[`~transformers.Trainer`] for Condenser and coCondenser pre-training ([`CondenserForPreTraining`]).

    For a coCondenser model (`config.cocondenser`), each training step back-propagates
    `s_mlm * (head_mlm_loss + late_mlm_loss) + contrastive_loss / gradient_accumulation_steps`, where `s_mlm` is what
    `Trainer` applies to a loss normalised by `num_items_in_batch` (the labelled positions of all accumulated
    micro-batches, of all processes with `average_tokens_across_devices`: `s_mlm` is then the number of processes, so
    that DDP's averaging yields the global mean) or `1 / gradient_accumulation_steps` without it. The contrastive loss
    is a mean per micro-batch computed here from the model's `cls_vectors`, with the spans of all processes as
    negatives when there are several (`contrastive_span_loss(..., gather=True)`); its gradient is then already summed
    over processes, so it is only divided by the accumulation steps. Evaluation calls the model as it is: its
    contrastive loss there uses each process's own spans. `Trainer`'s default `compute_loss` path would instead multiply it
    by the number of processes and never divide it by the accumulation steps.

    With `args.gradient_cache_chunk_size` set (see [`CondenserTrainingArguments`]), the step runs through
    [`~gradient_cache.gradient_cache_step`]; every backward goes through `accelerator.backward` (so AMP loss scaling,
    DDP and DeepSpeed apply), chunks before the last run under `accelerator.no_sync`, and DeepSpeed is told that
    those chunks are no accumulation boundary.

    Training logs hold the terms of the loss next to `loss`: `head_mlm_loss`, `late_mlm_loss` (with `config.late_mlm`)
    and `contrastive_loss` (coCondenser), averaged over the logging interval and scaled as `loss` is, so that they add
    up to it; evaluations log them as `eval_head_mlm_loss`, ... next to `eval_loss`. They reach every logger and the
    saved log history.

    Sharded training (`--fsdp` / `TrainingArguments(fsdp=True)`, FSDP2 only, see `SUPPORTED_FSDP_VALUES`): the trainer
    shards the model itself before training, one `fully_shard` unit per `BertLayer` (backbone and head) and then the
    root, which keeps the embeddings and the MLM decoder tied to them (accelerate's own wrapping splits them and fails),
    on CPUs (gloo) as on GPUs; the gradient cache's chunks before the last run without gradient synchronisation, and the
    final model is saved gathered, as the unsharded class. Checkpoints for resuming are `Trainer`'s FSDP ones
    (`pytorch_model_fsdp.bin`, `optimizer.bin`: accelerate's pickles).

    Other models, and Condenser models, follow `Trainer.training_step` unchanged. DataParallel (several GPUs in one
    process without `torchrun`) is not supported for coCondenser; launch one process per GPU.

    Resuming (`train(resume_from_checkpoint=...)`) continues the loss trajectory of an uninterrupted run: with
    [`DataCollatorForCondenser`] or [`DataCollatorForCoCondenser`] as `data_collator`, each checkpoint also saves the
    collator's random state before the next training batch (`collator_rng_state.safetensors`), and resuming restores
    it, so the remaining batches get the masks (and coCondenser the spans) they would have had. This holds for
    collation in the training process (`dataloader_num_workers=0`, the default); DataLoader workers hold copies of the
    collator whose state is not saved. Every folder the trainer saves (checkpoints and the final model) holds the
    training arguments as `training_args.json` instead of `Trainer`'s pickled `training_args.bin`, which nothing reads
    back and which would run code if unpickled.

    Args:
        *args, **kwargs:
            The arguments of [`~transformers.Trainer`].
        gradient_cache_chunk_size (`int`, *optional*):
            Spans per gradient-cache chunk. Defaults to `args.gradient_cache_chunk_size` when `args` has that field
            (as [`CondenserTrainingArguments`] does), else no gradient cache.
    """

    def __init__(self, *args: Any, gradient_cache_chunk_size: int | None = None, **kwargs: Any) -> None:
        # Callbacks that measure the model themselves (`evaluates_without_dataset = True`, with `compute(model)` and
        # `is_evaluation_without_its_metrics(logs)`, as the retrieval evaluation of `beir_evaluation`) make an
        # evaluation without an MLM evaluation set meaningful; `Trainer` refuses an
        # `eval_strategy` without `eval_dataset`, so it is given a placeholder that `evaluate` never reads.
        self._evaluates_without_dataset = kwargs.get("eval_dataset") is None and any(
            getattr(callback, "evaluates_without_dataset", False) for callback in kwargs.get("callbacks") or ()
        )
        if self._evaluates_without_dataset:
            kwargs["eval_dataset"] = ()
        super().__init__(*args, **kwargs)
        if self._evaluates_without_dataset:
            self.eval_dataset = None
        if gradient_cache_chunk_size is None:
            gradient_cache_chunk_size = getattr(self.args, "gradient_cache_chunk_size", None)
        _check_chunk_size(gradient_cache_chunk_size)
        self.gradient_cache_chunk_size = gradient_cache_chunk_size
        self._training_collator = self._evaluation_collator = None
        # Loss terms: of the latest `compute_loss`, summed over the current logging interval, ready for the next
        # training log, and the rows of the evaluation under way (see `_record_training_loss_terms`).
        self._latest_loss_terms: dict[str, torch.Tensor] | None = None
        self._training_loss_terms: dict[str, torch.Tensor] = {}
        self._loss_terms_to_log: dict[str, float] = {}
        self._evaluation_loss_rows: list[tuple[tuple[str, ...], torch.Tensor]] | None = None
        if isinstance(self.data_collator, (DataCollatorForCondenser, DataCollatorForCoCondenser)):
            self._training_collator = _TrainingCollator(self.data_collator)
            self._evaluation_collator = copy.deepcopy(self.data_collator)

    def create_accelerator_and_postprocess(self) -> None:
        """`Trainer`'s accelerator; with `--fsdp` on a CPU (where accelerate applies the FSDP plugin to GPU-like devices
        only and would train with DDP), switched to FSDP2 as on a GPU, so that accelerate and `Trainer` treat the model
        [`_shard_model`] shards as sharded (gradient synchronisation, saving and loading checkpoints)."""
        super().create_accelerator_and_postprocess()
        state = self.accelerator.state
        if self.args.fsdp and state.distributed_type == DistributedType.MULTI_CPU:
            state.fsdp_plugin = FullyShardedDataParallelPlugin(**self.args.fsdp_plugin_args)
            # `AcceleratorState` and `PartialState` (which it copies when created again) both hold the type.
            state.distributed_type = PartialState().distributed_type = DistributedType.FSDP
            self.is_fsdp_enabled = True

    def _prepare_for_training(self, *args: Any, **kwargs: Any) -> Any:
        """`Trainer._prepare_for_training`, with the model sharded first under `--fsdp` (see [`_shard_model`])."""
        if self.is_fsdp_enabled:
            self._shard_model()
        return super()._prepare_for_training(*args, **kwargs)

    def _shard_model(self) -> None:
        """Shard the model with FSDP2 before the optimizer is created and accelerate prepares it: one unit per
        `BertLayer` (the backbone's and the Condenser head's), then the root module, which keeps the embeddings, the MLM
        decoder tied to them and its bias (accelerate's own wrapping splits these tied parameters and fails).
        accelerate leaves an already sharded model as it is."""
        from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

        if isinstance(self.model, FSDPModule):
            return
        plugin = self.accelerator.state.fsdp_plugin
        options = {
            "reshard_after_forward": plugin.reshard_after_forward,
            "mp_policy": plugin.mixed_precision_policy or MixedPrecisionPolicy(),
        }
        self.model.to(self.args.device)
        for module in list(self.model.modules()):
            if isinstance(module, BertLayer):
                fully_shard(module, **options)
        fully_shard(self.model, **options)
        self.model_wrapped = self.model

    @contextlib.contextmanager
    def _collating_with(self, collator: Any) -> Iterator[None]:
        """Build DataLoaders with `collator` (when not None) in place of `data_collator`."""
        if collator is None:
            yield
            return
        data_collator, self.data_collator = self.data_collator, collator
        try:
            yield
        finally:
            self.data_collator = data_collator

    def get_train_dataloader(self) -> torch.utils.data.DataLoader:
        """`Trainer`'s training DataLoader, collating through the state-tracking wrapper."""
        with self._collating_with(self._training_collator):
            return super().get_train_dataloader()

    def get_eval_dataloader(self, eval_dataset: Any = None) -> torch.utils.data.DataLoader:
        """`Trainer`'s evaluation DataLoader, collating with a fresh copy of the collator as it was before training:
        every evaluation masks the evaluation set alike (comparable losses) and draws nothing from the training
        stream (so evaluating does not change the training trajectory, nor what a resumed run must replay)."""
        collator = None if self._evaluation_collator is None else copy.deepcopy(self._evaluation_collator)
        with self._collating_with(collator):
            return super().get_eval_dataloader(eval_dataset)

    def evaluate(
        self, eval_dataset: Any = None, ignore_keys: list[str] | None = None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:
        """`Trainer.evaluate`. Without any evaluation set but with a callback that evaluates by itself (see `__init__`),
        an evaluation is that callback's metrics, logged and passed to `on_evaluate` as `Trainer` does."""
        if eval_dataset is None and self.eval_dataset is None and self._evaluates_without_dataset:
            metrics: dict[str, float] = {}
            for callback in self._self_evaluating_callbacks():
                metrics.update(callback.compute(self.model))
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics
        return super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)

    def _self_evaluating_callbacks(self) -> list[Any]:
        return [
            callback for callback in self.callback_handler.callbacks if hasattr(callback, "evaluates_without_dataset")
        ]

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """`Trainer.log`; an evaluation's metrics (`Trainer.evaluate` logs the same dict it passes to `on_evaluate` and
        returns) first get those of the callbacks that evaluate by themselves (retrieval metrics, say), so that every
        logger, early stopping and the best-model selection see them."""
        for callback in self._self_evaluating_callbacks():
            if callback.is_evaluation_without_its_metrics(logs):
                logs.update(callback.compute(self.model))
        if "loss" in logs and self._loss_terms_to_log:
            # A training log: the loss's terms right after it.
            entries = list(logs.items())
            position = [key for key, _ in entries].index("loss") + 1
            entries[position:position] = list(self._loss_terms_to_log.items())
            self._loss_terms_to_log = {}
            logs.clear()
            logs.update(entries)
        super().log(logs, start_time)

    @staticmethod
    def _loss_terms_of(outputs: Any) -> dict[str, torch.Tensor]:
        """The loss terms a model's output carries (none for a model without them)."""
        if not isinstance(outputs, Mapping):
            return {}
        return {name: outputs[name].detach() for name in LOSS_TERMS if outputs.get(name) is not None}

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """`Trainer.compute_loss`; also keeps the loss terms of the output (head and late MLM, contrastive) and the
        model's own total, for the logs."""
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        terms = self._loss_terms_of(outputs)
        if terms and isinstance(outputs, Mapping) and outputs.get("loss") is not None:
            terms["loss"] = outputs["loss"].detach()
            self._latest_loss_terms = terms
        return (loss, outputs) if return_outputs else loss

    def _take_latest_loss_terms(self, reported_loss: torch.Tensor) -> dict[str, torch.Tensor]:
        """The terms of the latest `compute_loss`, scaled as `Trainer` scaled the loss it reports (`reported_loss`)."""
        terms, self._latest_loss_terms = self._latest_loss_terms, None
        if not terms:
            return {}
        total = terms.pop("loss").float().mean()
        factor = torch.where(total != 0, reported_loss.detach().float().mean() / total, torch.zeros_like(total))
        return {name: value.float().mean() * factor for name, value in terms.items()}

    def _record_training_loss_terms(self, terms: dict[str, torch.Tensor], step_loss: torch.Tensor) -> None:
        """Add a micro-batch's scaled loss terms to those of the logging interval. A non-finite loss adds the
        interval's average instead, as `Trainer` does for `loss` with `logging_nan_inf_filter`."""
        if not terms:
            return
        if self.args.logging_nan_inf_filter and not torch.isfinite(step_loss).all():
            steps = 1 + self.state.global_step - self._globalstep_last_logged
            for total in self._training_loss_terms.values():
                total += total / steps
            return
        for name, value in terms.items():
            total = self._training_loss_terms.get(name)
            self._training_loss_terms[name] = value.detach() if total is None else total + value.detach()

    def _maybe_log_save_evaluate(self, tr_loss: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        """`Trainer._maybe_log_save_evaluate`; when it logs, the loss terms of the interval are averaged per step and
        over processes, as `loss` is, and `log` adds them next to it."""
        if self.control.should_log and self.state.global_step > self._globalstep_last_logged:
            steps = self.state.global_step - self._globalstep_last_logged
            names = [name for name in LOSS_TERMS if name in self._training_loss_terms]
            if names:
                totals = torch.stack([self._training_loss_terms[name] for name in names]).to(tr_loss.device)
                totals = self.accelerator.gather(totals.unsqueeze(0)).reshape(-1, len(names)).mean(dim=0)
                self._loss_terms_to_log = {name: value / steps for name, value in zip(names, totals.tolist())}
            self._training_loss_terms = {}
        super()._maybe_log_save_evaluate(tr_loss, *args, **kwargs)

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """`Trainer.prediction_step`; the batch's loss terms are gathered as `evaluation_loop` gathers its loss."""
        self._latest_loss_terms = None
        loss, logits, labels = super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
        terms = self._take_latest_loss_terms(loss) if loss is not None else {}
        if terms and self._evaluation_loss_rows is not None:
            names = tuple(terms)
            row = torch.stack([terms[name] for name in names]).to(loss.device)
            # One row per example of a full batch, as `evaluation_loop` repeats each batch's loss.
            rows = self.gather_function(row.unsqueeze(0).repeat(self.args.eval_batch_size, 1))
            self._evaluation_loss_rows.append((names, rows.detach().cpu()))
        return loss, logits, labels

    def evaluation_loop(
        self,
        dataloader: torch.utils.data.DataLoader,
        description: str,
        prediction_loss_only: bool | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ):
        """`Trainer.evaluation_loop`, whose metrics also hold the loss terms (`eval_head_mlm_loss`, ...), averaged
        as `eval_loss` is."""
        self._evaluation_loss_rows = []
        try:
            output = super().evaluation_loop(
                dataloader,
                description,
                prediction_loss_only=prediction_loss_only,
                ignore_keys=ignore_keys,
                metric_key_prefix=metric_key_prefix,
            )
        finally:
            batches, self._evaluation_loss_rows = self._evaluation_loss_rows, None
        if batches and all(names == batches[0][0] for names, _ in batches):
            rows = torch.cat([rows for _, rows in batches])
            for column, name in enumerate(batches[0][0]):
                values = rows[:, column]
                finite = torch.isfinite(values)
                if self.args.logging_nan_inf_filter and finite.any():
                    values = values[finite]
                output.metrics[f"{metric_key_prefix}_{name}"] = values.mean().item()
        return output

    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any):
        """`Trainer.train`; when resuming, the collator's random state is restored first (see the class docstring)."""
        checkpoint = resume_from_checkpoint
        if isinstance(checkpoint, bool):
            checkpoint = get_last_checkpoint(self.args.output_dir) if checkpoint else None
        if checkpoint is not None and Path(checkpoint).is_dir():  # `Trainer` explains a wrong path
            self._load_collator_rng_state(checkpoint)
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def _collator_rng_file(self, folder: str | os.PathLike) -> Path:
        suffix = "" if self.args.world_size <= 1 else f"_{self.args.process_index}"
        return Path(folder) / f"{COLLATOR_RNG_STATE_NAME}{suffix}.safetensors"

    def _save_rng_state(self, output_dir: str) -> None:
        super()._save_rng_state(output_dir)
        if self._training_collator is not None:
            state = self._training_collator.state_before_next_batch()
            save_file({"generator_state": state.contiguous()}, self._collator_rng_file(output_dir))

    def _load_collator_rng_state(self, checkpoint: str | os.PathLike) -> None:
        if self._training_collator is None:
            return
        rng_file = self._collator_rng_file(checkpoint)
        if not rng_file.is_file():
            logger.warning(
                f"{checkpoint} holds no {rng_file.name}: the resumed run masks its batches differently from an "
                "uninterrupted run (the checkpoint was written by another trainer or another number of processes)."
            )
            return
        self._training_collator.restore(load_file(rng_file)["generator_state"])

    def _load_rng_state(self, checkpoint: str | None) -> None:
        with _refusing_unsafe_pickles(checkpoint, "RNG state (rng_state*.pth)"):
            super()._load_rng_state(checkpoint)

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        with _refusing_unsafe_pickles(checkpoint, "optimizer or scheduler state (optimizer.pt, scheduler.pt)"):
            super()._load_optimizer_and_scheduler(checkpoint)

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """`Trainer._save`, with the training arguments written as JSON instead of the pickled `training_args.bin`. A
        sharded model saves as the class it was before sharding (its code files, `architectures`)."""
        model = self.accelerator.unwrap_model(self.model)
        if state_dict is not None:
            # A gathered state dict (FSDP) holds the tied MLM decoder as copies of the embeddings: leave them out, as
            # saving the model's own state dict does.
            tied = getattr(model, "_tied_weights_keys", None) or {}
            state_dict = {key: value for key, value in state_dict.items() if tied.get(key) not in state_dict}
        with _as_unsharded_class(model):
            super()._save(output_dir, state_dict=state_dict)
        if self.args.should_save:
            output_dir = Path(output_dir if output_dir is not None else self.args.output_dir)
            (output_dir / TRAINING_ARGS_NAME).unlink(missing_ok=True)
            (output_dir / TRAINING_ARGS_JSON_NAME).write_text(self.args.to_json_string() + "\n")

    def _issue_warnings_after_load(self, load_result: Any) -> None:
        """Do not report the tied decoder weights as missing on resume: they are the embeddings, loaded and tied."""
        tied = set(getattr(self.accelerator.unwrap_model(self.model), "_tied_weights_keys", None) or ())
        missing = [key for key in load_result.missing_keys if key not in tied]
        super()._issue_warnings_after_load(load_result._replace(missing_keys=missing))

    def training_step(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        """One micro-batch's forward and backward; returns the loss as `Trainer` logs it (scaled, detached)."""
        if self._training_collator is not None:
            self._training_collator.batch_trained()
        chunk_size = self.gradient_cache_chunk_size
        unwrapped = self.accelerator.unwrap_model(model)
        if not (isinstance(unwrapped, CondenserForPreTraining) and unwrapped.config.cocondenser):
            if chunk_size is not None:
                raise ValueError(
                    "`gradient_cache_chunk_size` is set, but the gradient cache only applies to coCondenser "
                    f"(CondenserForPreTraining with `config.cocondenser=True`), not {type(unwrapped).__name__} with "
                    f"cocondenser={getattr(unwrapped.config, 'cocondenser', None)}."
                )
            self._latest_loss_terms = None
            step_loss = super().training_step(model, inputs, num_items_in_batch)
            self._record_training_loss_terms(self._take_latest_loss_terms(step_loss), step_loss)
            return step_loss
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
        gather = self.args.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()

        if chunk_size is None:
            with self.compute_loss_context_manager():
                outputs = model(**inputs, **loss_kwargs, compute_contrastive_loss=False)
                contrastive_loss = contrastive_span_loss(outputs.cls_vectors, gather=gather)
            loss = self._scaled_loss(outputs, mlm_loss_scale, contrastive_loss, contrastive_loss_scale)
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
                gather=gather,
            )
            contrastive_loss = outputs.contrastive_loss
            loss = self._scaled_loss(outputs, mlm_loss_scale, contrastive_loss, contrastive_loss_scale)
            del inputs
        terms = {"head_mlm_loss": outputs.head_mlm_loss.detach().float() * mlm_loss_scale}
        if outputs.late_mlm_loss is not None:
            terms["late_mlm_loss"] = outputs.late_mlm_loss.detach().float() * mlm_loss_scale
        terms["contrastive_loss"] = contrastive_loss.detach().float() * contrastive_loss_scale
        self._record_training_loss_terms(terms, loss)
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
    def _scaled_loss(
        outputs: Any, mlm_loss_scale: float, contrastive_loss: torch.Tensor, contrastive_loss_scale: float
    ) -> torch.Tensor:
        """`mlm_loss_scale * (head + late MLM) + contrastive_loss_scale * contrastive` for a coCondenser batch."""
        mlm_loss = outputs.head_mlm_loss
        if outputs.late_mlm_loss is not None:
            mlm_loss = mlm_loss + outputs.late_mlm_loss
        return mlm_loss * mlm_loss_scale + contrastive_loss * contrastive_loss_scale

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
