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
"""coCondenser training step with and without the gradient cache, as the contrastive batch grows.

For each contrastive batch size (spans, two per document), one coCondenser model (`CondenserForPreTraining`, `cocondenser=True`) takes the same batch through
two paths, interleaved:

- `no_cache`: `model(**batch).loss.backward()`: the activations of the whole batch are alive at once;
- `gradient_cache`: `transformers_condenser.gradient_cache.gradient_cache_step` with a fixed chunk size, the function
  `CondenserTrainer` calls when `gradient_cache_chunk_size` is set: the activations of one chunk at a time.

Both are followed by a fused AdamW step (`Trainer`'s default optimizer). Reported: median step time and peak memory
per path and batch size. With the cache, the memory should stay flat as the batch grows, for about 4/3 of the compute
(an extra forward pass without gradient). Run `python benchmarks/benchmark_gradient_cache.py --help`.
"""

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import benchmark_utils as bu
import torch
from benchmark_pretraining import MODEL_SHAPES, make_pretraining_batch, make_step

from transformers_condenser import CondenserConfig
from transformers_condenser.gradient_cache import gradient_cache_step
from transformers_condenser.modeling_condenser import CondenserForPreTraining


VARIANTS = ("no_cache", "gradient_cache")


def make_forward_backward(
    name: str,
    model: CondenserForPreTraining,
    batch: dict[str, torch.Tensor],
    chunk_size: int,
    device: torch.device,
    dtype: str,
) -> Callable[[], None]:
    """Forward and backward of the whole coCondenser loss (MLM + contrastive) on `batch`, with or without the cache."""

    def forward_backward() -> None:
        if name == "gradient_cache":
            gradient_cache_step(model, batch, chunk_size, forward_context=lambda: bu.autocast_context(device, dtype))
        else:
            with bu.autocast_context(device, dtype):
                loss = model(**batch).loss
            loss.backward()

    return forward_backward


def run_gradient_cache_benchmark(
    shape: str,
    batch_sizes: Sequence[int],
    chunk_size: int = 8,
    seq_len: int = 64,
    repeats: int = 3,
    warmup: int = 1,
    device: str = "cpu",
    dtype: str = "float32",
    attn_implementation: str = "sdpa",
    seed: int = 0,
) -> dict[str, Any]:
    """Time and measure both paths at each contrastive batch size; see the module docstring.

    Args:
        shape (`str`): a key of `benchmark_pretraining.MODEL_SHAPES`.
        batch_sizes (`Sequence[int]`): contrastive batch sizes, in spans (even).
        chunk_size (`int`): spans per gradient-cache chunk, the same at every batch size.
        seq_len (`int`): tokens per span.
        repeats (`int`), warmup (`int`), device (`str`), dtype (`str`), attn_implementation (`str`), seed (`int`): as in
            the pre-training benchmark.

    Returns:
        `dict` with the settings and, per batch size, each path's timings and memory.
    """
    device = torch.device(device)
    bu.set_seed(seed)
    config = CondenserConfig(**MODEL_SHAPES[shape], cocondenser=True, attn_implementation=attn_implementation)
    model = CondenserForPreTraining(config).to(device).train()
    result = {
        "shape": shape,
        "model": dict(MODEL_SHAPES[shape], n_head_layers=config.n_head_layers, vocab_size=config.vocab_size),
        "chunk_size": chunk_size,
        "seq_len": seq_len,
        "batches": {},
    }
    for batch_size in batch_sizes:
        bu.log(
            f"[gradient cache {shape}] {batch_size} spans x {seq_len} tokens, chunk {chunk_size}: {repeats} repeats"
        )
        batch = make_pretraining_batch(
            batch_size, seq_len, config.vocab_size, seed, backbone_type=config.backbone_type
        )
        batch = {key: value.to(device) for key, value in batch.items()}
        # Both paths train the same model with the same optimizer (its state exists after the warm-up).
        optimizer = bu.make_optimizer(model.parameters())
        passes = {name: make_forward_backward(name, model, batch, chunk_size, device, dtype) for name in VARIANTS}
        steps = {name: make_step(passes[name], optimizer) for name in VARIANTS}
        for _ in range(max(warmup, 1)):
            for name in VARIANTS:
                steps[name](bu.Stopwatch(device))
        memory = {name: bu.step_peak_memory(passes[name], optimizer, model, batch, device) for name in VARIANTS}
        timings = bu.interleaved_timings(steps, device, warmup=0, repeats=repeats, progress=bu.log)
        result["batches"][str(batch_size)] = {
            name: {
                "step_s": bu.summarize(timings.total(name)),
                "step_cpu_s": bu.summarize(timings.total(name, cpu=True)),
                "memory_bytes": memory[name],
            }
            for name in VARIANTS
        }
        del optimizer, passes, steps, batch
    peaks = [entry["gradient_cache"]["memory_bytes"]["step"] for entry in result["batches"].values()]
    result["gradient_cache_peak_spread"] = max(peaks) / min(peaks) - 1
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments of the standalone script."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(MODEL_SHAPES), default="small", help="model shape (default: small)")
    parser.add_argument(
        "--batch_sizes", type=int, nargs="+", default=[16, 32, 64, 128], help="spans (default: 16 32 64 128)"
    )
    parser.add_argument("--chunk_size", type=int, default=8, help="spans per gradient-cache chunk (default: 8)")
    parser.add_argument("--seq_len", type=int, default=64, help="tokens per span (default: 64)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per path (default: 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed warm-up steps per path (default: 1)")
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="default: cuda if available"
    )
    parser.add_argument(
        "--dtype", choices=["float32", "bfloat16", "float16"], default="float32", help="default: float32"
    )
    parser.add_argument("--attn_implementation", default="sdpa", help="attention backend (default: sdpa)")
    parser.add_argument("--num_threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    parser.add_argument("--output", default=None, help="write the results as JSON to this file (default: print them)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the gradient-cache benchmark alone and print or save its JSON results."""
    args = parse_args(argv)
    torch.set_num_threads(args.num_threads)
    result = run_gradient_cache_benchmark(
        args.shape,
        args.batch_sizes,
        chunk_size=args.chunk_size,
        seq_len=args.seq_len,
        repeats=args.repeats,
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
