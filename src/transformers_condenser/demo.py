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
"""`condenser-demo`: the package's end-to-end smoke run on built-in defaults, with no download.

It trains a tiny WordPiece tokenizer on text shipped with Python (the standard library's module docstrings), builds a
small Condenser, runs a few masked-LM pre-training steps, saves model and tokenizer atomically, reloads the backbone
through `AutoModel` and prints the shape of the CLS embeddings it produces.
"""

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, DataCollatorForLanguageModeling, PreTrainedTokenizerFast

from .configuration_condenser import CondenserConfig
from .file_utils import atomic_directory
from .modeling_condenser import CondenserForPreTraining


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


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point of `condenser-demo`."""
    parser = argparse.ArgumentParser(
        prog="condenser-demo",
        description="Pre-train a small Condenser on built-in text for a few steps, save it and reload it (no download).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--output_dir", default="condenser-quickstart", help="where to save the checkpoint")
    parser.add_argument("--steps", type=int, default=20, help="number of pre-training steps")
    parser.add_argument("--batch_size", type=int, default=16, help="sequences per step")
    parser.add_argument("--max_length", type=int, default=64, help="maximum sequence length in tokens")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args(argv)

    result = run_quickstart(args.output_dir, args.steps, args.batch_size, args.max_length, args.seed)
    print(f"loss: {result.losses[0]:.3f} -> {result.losses[-1]:.3f} over {len(result.losses)} steps")
    print(f"saved model, head and tokenizer to {result.output_dir}")
    print(f"AutoModel reloaded a {result.reloaded_class}; CLS embeddings of 2 queries: {result.embedding_shape}")


if __name__ == "__main__":
    main()
