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
"""Pre-training step of `CondenserForPreTraining` against the original recipe and against the arithmetic floor.

The variants hold the same weights and see the same batch (same tokens, padding, masking and labels):

- `condenser`: this package's [`CondenserForPreTraining`], as configured by default.
- `condenser_keep_attention`: the same with plain `sdpa` attention instead of its default `"sdpa_recompute"`, i.e.
  keeping every layer's attention probabilities for backward rather than recomputing them. Only where that makes a
  difference: training on the CPU with attention dropout (where sdpa runs its unfused math kernel).
- `original`: the original recipe (SPEC §2, and §8 for RoBERTa) re-implemented here: `BertForMaskedLM` (or
  `RobertaForMaskedLM`) run with `output_hidden_states=True` and its own late-MLM loss, then the head layers (`BertLayer`
  or `RobertaLayer`) on `[last-layer CLS ; hidden_states[skip_from][:, 1:]]`, and both MLM losses from
  full-vocabulary logits at every position through the backbone's own MLM head (`cls` or `lm_head`;
  `CrossEntropyLoss`, `ignore_index=-100`).
- `floor`: the same arithmetic with nothing wasted: a plain transformers BERT (or RoBERTa) with
  `num_hidden_layers + n_head_layers` layers run layer by layer, its MLM prediction head applied twice (to the last
  layer and to layer `num_hidden_layers`), to the labelled positions only.

Each model shape names its backbone family (`backbone_type`, as in `CondenserConfig`): the variants are built from that
family's transformers classes, and the synthetic batch uses its special tokens.

Each step is forward + backward, then a fused AdamW step (`Trainer`'s default optimizer); both phases are timed. Peak
memory is measured on a separate, untimed step of each variant (see `benchmark_utils`). Run
`python benchmarks/benchmark_pretraining.py --help`.
"""

import argparse
import copy
import gc
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import benchmark_utils as bu
import torch
from torch import nn
from torch.nn import functional as F
from transformers import (
    BertConfig,
    BertForMaskedLM,
    PretrainedConfig,
    PreTrainedModel,
    RobertaConfig,
    RobertaForMaskedLM,
)
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.bert.modeling_bert import BertLayer
from transformers.models.roberta.modeling_roberta import RobertaLayer

from transformers_condenser import CondenserConfig, CondenserForPreTraining
from transformers_condenser.training_kernels import RECOMPUTE_ATTENTION, recomputes_probabilities


VARIANTS = ("condenser", "condenser_keep_attention", "original", "floor")

# Model shapes, as `CondenserConfig` fields. "bert-base" is the paper's; "small" is the MiniLM shape of the package's
# demo (BERT vocabulary, so the vocabulary projection weighs as much relative to the encoder as it does in practice for
# small models). "roberta-base" is roberta-base's shape (its 50,265-token vocabulary, positions counted from
# `pad_token_id + 1`, one token type); "roberta-small" is "small" with RoBERTa's vocabulary and embeddings.
_ROBERTA_FIELDS = {
    "vocab_size": 50265,
    "max_position_embeddings": 514,
    "pad_token_id": 1,
    "type_vocab_size": 1,
    "layer_norm_eps": 1e-5,
    "backbone_type": "roberta",
}
MODEL_SHAPES = {
    "bert-base": {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "skip_from": 6,
    },
    "small": {
        "hidden_size": 384,
        "num_hidden_layers": 6,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
        "skip_from": 3,
    },
    "roberta-base": {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "skip_from": 6,
        **_ROBERTA_FIELDS,
    },
    "roberta-small": {
        "hidden_size": 384,
        "num_hidden_layers": 6,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
        "skip_from": 3,
        **_ROBERTA_FIELDS,
    },
}
# Fields of a shape that only `CondenserConfig` has (the rest also configure the family's own transformers model).
CONDENSER_ONLY_FIELDS = ("skip_from", "backbone_type")


class SpecialTokens(NamedTuple):
    """Token ids of a family's vocabulary that the synthetic batch uses."""

    cls: int  # first token of every sequence ([CLS], <s>)
    sep: int  # last token of every sequence ([SEP], </s>)
    mask: int  # [MASK], <mask>
    pad: int  # [PAD], <pad>
    first_word: int  # ordinary words are drawn from [first_word, vocab_size)


class Family(NamedTuple):
    """A backbone family's transformers classes and names, as the original code used them."""

    config_class: type[PretrainedConfig]
    masked_lm_class: type[PreTrainedModel]
    layer_class: type[nn.Module]
    prefix: str  # attribute of the backbone in the masked-LM model (and first part of its weight names)
    mlm_head_name: str  # attribute of the MLM prediction head
    tokens: SpecialTokens


FAMILIES = {
    # bert-base-uncased: [PAD] 0, [CLS] 101, [SEP] 102, [MASK] 103; ids below 1000 are special or unused.
    "bert": Family(BertConfig, BertForMaskedLM, BertLayer, "bert", "cls", SpecialTokens(101, 102, 103, 0, 1000)),
    # roberta-base: <s> 0, <pad> 1, </s> 2, <mask> 50264 (the last id); words start well above the special ids.
    "roberta": Family(
        RobertaConfig, RobertaForMaskedLM, RobertaLayer, "roberta", "lm_head", SpecialTokens(0, 2, 50264, 1, 1000)
    ),
}


def family_of(shape: str) -> Family:
    """The backbone family of a model shape (BERT where the shape names none)."""
    return FAMILIES[MODEL_SHAPES[shape].get("backbone_type", "bert")]


def shape_config(shape: str, **kwargs: Any) -> CondenserConfig:
    """The `CondenserConfig` of a model shape (other fields from `kwargs`, else the defaults)."""
    return CondenserConfig(**MODEL_SHAPES[shape], **kwargs)


class OriginalCondenserRecipe(nn.Module):
    """The original Condenser pre-training forward pass (SPEC §2; §8 for RoBERTa), as the authors' code computed it.

    `lm` is the family's masked-LM model (`BertForMaskedLM` or `RobertaForMaskedLM`) run with `labels` and
    `output_hidden_states=True`: it returns every hidden state and the late-MLM loss from full-vocabulary logits at
    every position. `c_head` (named as in the original checkpoints; `n_head_layers` of the family's layer class) reads
    `[last-layer CLS ; hidden_states[skip_from][:, 1:]]`, and the head MLM loss is again computed from full-vocabulary
    logits at every position by the backbone's own MLM head (`lm.cls` or `lm.lm_head`), with `ignore_index=-100`.
    """

    def __init__(
        self,
        config: PretrainedConfig,
        skip_from: int,
        n_head_layers: int,
        late_mlm: bool = True,
        family: Family = FAMILIES["bert"],
    ):
        super().__init__()
        self.lm = family.masked_lm_class(config)
        self.c_head = nn.ModuleList([family.layer_class(config) for _ in range(n_head_layers)])
        self.mlm_head_name = family.mlm_head_name
        self.skip_from = skip_from
        self.late_mlm = late_mlm

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The total loss: head MLM + late MLM."""
        lm_out = self.lm(
            input_ids=input_ids,
            attention_mask=attention_mask,
            labels=labels,
            output_hidden_states=True,
            return_dict=True,
        )
        hiddens = torch.cat([lm_out.hidden_states[-1][:, :1], lm_out.hidden_states[self.skip_from][:, 1:]], dim=1)
        head_mask = create_bidirectional_mask(
            config=self.lm.config, inputs_embeds=hiddens, attention_mask=attention_mask
        )
        for layer in self.c_head:
            hiddens = layer(hiddens, head_mask)
        scores = getattr(self.lm, self.mlm_head_name)(hiddens)
        loss = F.cross_entropy(scores.view(-1, self.lm.config.vocab_size), labels.view(-1), ignore_index=-100)
        if self.late_mlm:
            loss = loss + lm_out.loss
        return loss


class FloorMLM(nn.Module):
    """The floor: Condenser's arithmetic with nothing wasted, on a plain transformers BERT (or RoBERTa).

    The family's masked-LM model with `num_hidden_layers + n_head_layers` layers, run layer by layer; its MLM
    prediction head is applied to the labelled positions of the last layer and of layer `late_layer` (where
    Condenser's backbone ends). The head layers see the previous layer's output instead of Condenser's skip connection,
    which changes the values but not the amount of work.
    """

    def __init__(self, config: PretrainedConfig, late_layer: int, family: Family = FAMILIES["bert"]):
        super().__init__()
        self.lm = family.masked_lm_class(config)
        self.prefix = family.prefix
        self.mlm_head_name = family.mlm_head_name
        self.late_layer = late_layer

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The total loss: MLM on the last layer + MLM on layer `late_layer`, labelled positions only."""
        backbone = getattr(self.lm, self.prefix)
        mlm_head = getattr(self.lm, self.mlm_head_name)
        hidden_states = backbone.embeddings(input_ids=input_ids)
        mask = create_bidirectional_mask(
            config=backbone.config, inputs_embeds=hidden_states, attention_mask=attention_mask
        )
        late_hidden_states = None
        for index, layer in enumerate(backbone.encoder.layer, start=1):
            hidden_states = layer(hidden_states, mask)
            if index == self.late_layer:
                late_hidden_states = hidden_states
        labelled = labels != -100
        targets = labels[labelled]
        loss = F.cross_entropy(mlm_head(hidden_states[labelled]), targets)
        return loss + F.cross_entropy(mlm_head(late_hidden_states[labelled]), targets)


def build_models(shape: str, attn_implementation: str, seed: int) -> dict[str, nn.Module]:
    """The variants with the same weights: the original and the floor copy the Condenser's, and
    `condenser_keep_attention` is a copy of it with plain sdpa attention. With `attn_implementation="sdpa"` the
    Condenser takes its own default backend (`"sdpa_recompute"`, which is sdpa that recomputes probabilities).

    The original takes every tensor under its original name (`lm.bert.*` and `lm.cls.*`, or `lm.roberta.*` and
    `lm.lm_head.*`, and `c_head.*`); the floor takes the backbone layers as its first layers and the head layers as its
    last ones.
    """
    bu.set_seed(seed)
    family = family_of(shape)
    backbone_kwargs = {key: value for key, value in MODEL_SHAPES[shape].items() if key not in CONDENSER_ONLY_FIELDS}
    config = shape_config(shape)
    if attn_implementation == "sdpa":
        condenser = CondenserForPreTraining(config)
    else:
        condenser = CondenserForPreTraining._from_config(config, attn_implementation=attn_implementation)
    original_config = family.config_class(**backbone_kwargs, attn_implementation=attn_implementation)
    original = OriginalCondenserRecipe(
        original_config, config.skip_from, config.n_head_layers, config.late_mlm, family=family
    )
    original_names = {
        family.prefix: f"lm.{family.prefix}",
        family.mlm_head_name: f"lm.{family.mlm_head_name}",
        "head_layers": "c_head",
    }
    renamed = {}
    for key, value in condenser.state_dict().items():
        prefix = key.split(".", 1)[0]
        renamed[original_names[prefix] + key[len(prefix) :]] = value
    original.load_state_dict(renamed, strict=True)

    floor_kwargs = dict(backbone_kwargs, num_hidden_layers=config.num_hidden_layers + config.n_head_layers)
    floor = FloorMLM(
        family.config_class(**floor_kwargs, attn_implementation=attn_implementation),
        config.num_hidden_layers,
        family=family,
    )
    floor_backbone = getattr(floor.lm, family.prefix)
    floor_backbone.embeddings.load_state_dict(condenser.base_model.embeddings.state_dict())
    for target, source in zip(
        floor_backbone.encoder.layer, list(condenser.base_model.encoder.layer) + list(condenser.head_layers)
    ):
        target.load_state_dict(source.state_dict())
    getattr(floor.lm, family.mlm_head_name).load_state_dict(condenser.mlm_head.state_dict())
    keep_attention = copy.deepcopy(condenser)
    keep_attention.set_attn_implementation(attn_implementation)
    return {"condenser": condenser, "condenser_keep_attention": keep_attention, "original": original, "floor": floor}


def variants_for(condenser: CondenserForPreTraining, device: torch.device) -> tuple[str, ...]:
    """The variants worth measuring: `condenser_keep_attention` only where the Condenser's attention recomputes the
    probabilities, as the kernel itself decides it (training on the CPU with dropout; fused kernels keep none)."""
    attention = condenser.train().base_model.encoder.layer[0].attention.self
    dropout = condenser.config.attention_probs_dropout_prob
    if condenser.config._attn_implementation == RECOMPUTE_ATTENTION and recomputes_probabilities(
        attention, torch.empty(0, device=device), dropout
    ):
        return VARIANTS
    return tuple(name for name in VARIANTS if name != "condenser_keep_attention")


def make_pretraining_batch(
    batch_size: int,
    seq_len: int,
    vocab_size: int,
    seed: int,
    mlm_probability: float = 0.15,
    backbone_type: str = "bert",
) -> dict[str, torch.Tensor]:
    """A masked-LM batch shaped like the Condenser data (SPEC §3), the same for every variant.

    90% of the sequences fill `seq_len`, 10% are shorter (padded); `[CLS] tokens [SEP]` (`<s> tokens </s>` for
    RoBERTa: the special token ids are those of `backbone_type`'s vocabulary); exactly `round(mlm_probability x
    tokens)` labelled positions per sequence (never special tokens or padding), of which 80% become the mask token, 10%
    a random token and 10% stay unchanged. Labels are -100 elsewhere.
    """
    if backbone_type not in FAMILIES:
        raise ValueError(
            f"No special tokens known for backbone_type={backbone_type!r}; use one of {', '.join(map(repr, FAMILIES))}."
        )
    tokens = FAMILIES[backbone_type].tokens
    if vocab_size <= max(tokens.first_word, tokens.mask):
        raise ValueError(
            f"vocab_size={vocab_size} is too small for {backbone_type}'s special token ids (mask token {tokens.mask}, "
            f"words from {tokens.first_word}); use the family's vocabulary size."
        )
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.full((batch_size, seq_len), tokens.pad, dtype=torch.long)
    attention_mask = torch.zeros((batch_size, seq_len), dtype=torch.long)
    labels = torch.full((batch_size, seq_len), -100, dtype=torch.long)
    for row in range(batch_size):
        short = torch.rand((), generator=generator) < 0.1
        length = int(torch.randint(max(4, seq_len // 4), seq_len, (), generator=generator)) if short else seq_len
        words = torch.randint(tokens.first_word, vocab_size, (length - 2,), generator=generator)
        input_ids[row, :length] = torch.cat([torch.tensor([tokens.cls]), words, torch.tensor([tokens.sep])])
        attention_mask[row, :length] = 1
        num_labelled = max(1, round(mlm_probability * (length - 2)))
        positions = 1 + torch.randperm(length - 2, generator=generator)[:num_labelled]
        labels[row, positions] = input_ids[row, positions]
        action = torch.rand(num_labelled, generator=generator)
        random_tokens = torch.randint(tokens.first_word, vocab_size, (num_labelled,), generator=generator)
        replaced = torch.where(action < 0.8, torch.tensor(tokens.mask), input_ids[row, positions])
        input_ids[row, positions] = torch.where((action >= 0.8) & (action < 0.9), random_tokens, replaced)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def variant_loss(name: str, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The scalar training loss of one variant on `batch`."""
    if name.startswith("condenser"):
        return model(**batch).loss
    return model(**batch)


def make_forward_backward(
    name: str, model: nn.Module, batch: dict[str, torch.Tensor], device: torch.device, dtype: str
) -> Callable[[], None]:
    """Forward and backward of one variant on `batch` (gradients accumulate into `.grad`)."""

    def forward_backward() -> None:
        with bu.autocast_context(device, dtype):
            loss = variant_loss(name, model, batch)
        loss.backward()

    return forward_backward


def make_step(
    forward_backward: Callable[[], None], optimizer: torch.optim.Optimizer
) -> Callable[[bu.Stopwatch], None]:
    """One training step: `forward_backward`, then the optimizer step, each phase timed."""

    def step(stopwatch: bu.Stopwatch) -> None:
        with stopwatch.phase("forward_backward"):
            forward_backward()
        with stopwatch.phase("optimizer"):
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return step


def check_losses_agree(models: dict[str, nn.Module], batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """Losses of the variants in eval mode (no dropout): Condenser's must equal the original recipe's."""
    losses = {}
    with torch.no_grad():
        for name, model in models.items():
            model.eval()
            losses[name] = float(variant_loss(name, model, batch))
            model.train()
    difference = abs(losses["condenser"] - losses["original"])
    if difference > 1e-4 * max(1.0, abs(losses["original"])):
        raise RuntimeError(f"Condenser and the original recipe disagree on the same weights and batch: {losses}")
    return losses


def _rss_worker(shape: str, name: str, batch_size: int, seq_len: int, attn_implementation: str, seed: int, queue):
    """Subprocess body of `rss_peak_increase`: one forward + backward of a fresh model, resident-memory readings."""
    torch.set_num_threads(1)
    models = build_models(shape, attn_implementation, seed)
    model = models.pop(name).train()
    del models
    config = shape_config(shape)
    batch = make_pretraining_batch(batch_size, seq_len, config.vocab_size, seed, backbone_type=config.backbone_type)
    gc.collect()
    reset = bu.reset_peak_rss()
    before = bu.current_rss_bytes()
    variant_loss(name, model, batch).backward()
    queue.put({"rss_before": before, "peak_rss": bu.peak_rss_bytes(), "peak_reset_before_step": reset})


def rss_peak_increase(
    shape: str,
    batch_size: int,
    seq_len: int,
    attn_implementation: str,
    seed: int,
    variants: Sequence[str] = VARIANTS,
) -> dict[str, dict[str, int]]:
    """Cross-check of the CPU memory method: each variant's forward + backward in a fresh process, resident memory.

    The peak resident set size is reset just before the step (Linux `clear_refs`); its increase over the resident
    size at that moment covers what the tensor counter cannot see (kernel scratch buffers, allocator overhead) and
    misses memory the allocator had kept from model building and reuses. No optimizer state exists yet.
    """
    context = multiprocessing.get_context("spawn")
    results = {}
    for name in variants:
        queue = context.Queue()
        process = context.Process(
            target=_rss_worker, args=(shape, name, batch_size, seq_len, attn_implementation, seed, queue)
        )
        process.start()
        reading = queue.get()
        process.join()
        reading["peak_increase"] = reading["peak_rss"] - reading["rss_before"]
        results[name] = reading
    return results


def run_pretraining_benchmark(
    shape: str,
    batch_sizes: Sequence[int],
    seq_len: int = 128,
    repeats: int | Sequence[int] = 3,
    warmup: int = 1,
    device: str = "cpu",
    dtype: str = "float32",
    attn_implementation: str = "sdpa",
    seed: int = 0,
    rss_check_batch_sizes: Sequence[int] = (),
) -> dict[str, Any]:
    """Time and measure the variants at each batch size; see the module docstring.

    Args:
        shape (`str`): a key of `MODEL_SHAPES`.
        batch_sizes (`Sequence[int]`): batch sizes to measure.
        seq_len (`int`): tokens per sequence.
        repeats (`int` or `Sequence[int]`): timed repeats per variant (one number per batch size, or one for all).
        warmup (`int`): untimed steps per variant before the memory step and the timed repeats.
        device (`str`): `"cpu"` or `"cuda"`.
        dtype (`str`): `"float32"`, or `"bfloat16"` / `"float16"` for mixed precision (autocast).
        attn_implementation (`str`): attention backend of every variant.
        seed (`int`): seed of the weights, the batch and dropout.
        rss_check_batch_sizes (`Sequence[int]`): batch sizes at which to also run the resident-memory cross-check
            (CPU only; each variant in a fresh process).

    Returns:
        `dict` with the settings, the eval-mode losses and, per batch size, each variant's timings and memory.
    """
    device = torch.device(device)
    repeats = [repeats] * len(batch_sizes) if isinstance(repeats, int) else list(repeats)
    models = build_models(shape, attn_implementation, seed)
    variants = variants_for(models["condenser"], device)
    models = {name: model.to(device).train() for name, model in models.items() if name in variants}
    config = models["condenser"].config

    def make_batch(batch_size: int) -> dict[str, torch.Tensor]:
        batch = make_pretraining_batch(
            batch_size, seq_len, config.vocab_size, seed, backbone_type=config.backbone_type
        )
        return {key: value.to(device) for key, value in batch.items()}

    result = {
        "shape": shape,
        "model": dict(
            MODEL_SHAPES[shape],
            n_head_layers=config.n_head_layers,
            vocab_size=config.vocab_size,
            backbone_type=config.backbone_type,
        ),
        "parameters": sum(parameter.numel() for parameter in models["condenser"].parameters()),
        "seq_len": seq_len,
        "warmup": warmup,
        "losses_eval_mode": check_losses_agree(models, make_batch(4)),
        "batches": {},
    }
    for batch_size, batch_repeats in zip(batch_sizes, repeats):
        bu.log(f"[pretraining {shape}] batch {batch_size} x {seq_len}: warm-up, memory, {batch_repeats} repeats")
        batch = make_batch(batch_size)
        optimizers = {name: bu.make_optimizer(model.parameters()) for name, model in models.items()}
        bu.set_seed(seed)
        passes = {name: make_forward_backward(name, models[name], batch, device, dtype) for name in variants}
        steps = {name: make_step(passes[name], optimizers[name]) for name in variants}
        for _ in range(warmup):
            for name in variants:
                steps[name](bu.Stopwatch(device))
        memory = {
            name: bu.step_peak_memory(passes[name], optimizers[name], models[name], batch, device) for name in variants
        }
        timings = bu.interleaved_timings(steps, device, warmup=0, repeats=batch_repeats, progress=bu.log)
        entry = {"labelled_positions": int((batch["labels"] != -100).sum()), "variants": {}}
        for name in variants:
            entry["variants"][name] = {
                "forward_backward_s": bu.summarize(timings.wall[name]["forward_backward"]),
                "step_s": bu.summarize(timings.total(name)),
                "forward_backward_cpu_s": bu.summarize(timings.cpu[name]["forward_backward"]),
                "step_cpu_s": bu.summarize(timings.total(name, cpu=True)),
                "memory_bytes": memory[name],
            }
        if device.type == "cpu" and batch_size in rss_check_batch_sizes:
            bu.log(f"[pretraining {shape}] batch {batch_size}: resident-memory cross-check (fresh processes)")
            entry["rss_check_bytes"] = rss_peak_increase(
                shape, batch_size, seq_len, attn_implementation, seed, variants
            )
        result["batches"][str(batch_size)] = entry
        del optimizers, steps, batch
    return result


def ratios(entry: dict[str, Any], numerator: str, denominator: str) -> dict[str, float]:
    """Ratios of medians (time) and of peaks (memory) between two variants of one batch entry."""
    a, b = entry["variants"][numerator], entry["variants"][denominator]
    return {
        "forward_backward": a["forward_backward_s"]["median"] / b["forward_backward_s"]["median"],
        "step": a["step_s"]["median"] / b["step_s"]["median"],
        "forward_backward_cpu": a["forward_backward_cpu_s"]["median"] / b["forward_backward_cpu_s"]["median"],
        "step_cpu": a["step_cpu_s"]["median"] / b["step_cpu_s"]["median"],
        "peak_memory": a["memory_bytes"]["step"] / b["memory_bytes"]["step"],
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments of the standalone script."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shape", choices=sorted(MODEL_SHAPES), default="bert-base", help="model shape (default: bert-base)"
    )
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[8, 32], help="batch sizes (default: 8 32)")
    parser.add_argument("--seq_len", type=int, default=128, help="tokens per sequence (default: 128)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per variant (default: 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed warm-up steps per variant (default: 1)")
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="default: cuda if available"
    )
    parser.add_argument(
        "--dtype", choices=["float32", "bfloat16", "float16"], default="float32", help="default: float32"
    )
    parser.add_argument(
        "--attn_implementation", default="sdpa", help="attention backend of all variants (default: sdpa)"
    )
    parser.add_argument("--num_threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    parser.add_argument(
        "--rss_check_batch_sizes",
        type=int,
        nargs="*",
        default=[],
        help="batch sizes at which to also run the resident-memory cross-check, CPU only (default: none)",
    )
    parser.add_argument("--output", default=None, help="write the results as JSON to this file (default: print them)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the pre-training benchmark alone and print or save its JSON results."""
    args = parse_args(argv)
    torch.set_num_threads(args.num_threads)
    started = time.perf_counter()
    machine = bu.machine_info(torch.device(args.device), args.dtype, args.attn_implementation)
    result = run_pretraining_benchmark(
        args.shape,
        args.batch_sizes,
        seq_len=args.seq_len,
        repeats=args.repeats,
        warmup=args.warmup,
        device=args.device,
        dtype=args.dtype,
        attn_implementation=args.attn_implementation,
        seed=args.seed,
        rss_check_batch_sizes=args.rss_check_batch_sizes,
    )
    if hasattr(os, "getloadavg"):
        machine["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    result["machine"] = machine
    result["command"] = "python benchmarks/benchmark_pretraining.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    result["run_minutes"] = round((time.perf_counter() - started) / 60, 1)
    text = json.dumps(result, indent=2)
    if args.output is None:
        print(text)
    else:
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(text + "\n")
        bu.log(f"Wrote {args.output}")


if __name__ == "__main__":
    sys.exit(main())
