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
"""Dense-retrieval evaluation of any encoder on a BEIR-format folder: `condenser-evaluate`.

A BEIR folder holds `corpus.jsonl` (`{"_id", "title", "text"}` per line), `queries.jsonl` (`{"_id", "text"}`) and
`qrels/<split>.tsv` (header `query-id corpus-id score`). [`load_beir_folder`] reads it, checking every line (a bad one
raises a `ValueError` naming the file and the line). [`evaluate_beir`] embeds the queries, then the corpus chunk by
chunk, and keeps only the best `depth` documents per query while it goes: memory does not grow with the corpus beyond
its texts (no token tensors, embeddings or scores of the whole corpus at once) with exact search, the default; faiss
(`--index faiss`, the `faiss` extra) keeps every document vector in its index instead. Metrics come from ir-measures:
nDCG@10, MRR@10 (`RR@10`), R@100 and R@1000 over the queries of the split that have a relevant document.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback

from .cli_utils import cli_entry_point
from .file_utils import atomic_directory
from .utils_import import extra_imports


logger = logging.getLogger(__name__)

# The files `condenser-evaluate` writes; an output folder holding only these (an earlier evaluation) may be replaced.
RESULTS_FILE = "results.json"
RUN_FILE = "run.trec"
# Metric names as reported, and their ir-measures spelling.
METRICS = {"nDCG@10": "nDCG@10", "MRR@10": "RR@10", "R@100": "R@100", "R@1000": "R@1000"}
POOLINGS = ("cls", "mean")
SIMILARITIES = ("dot", "cos")
INDEXES = ("exact", "faiss")


@dataclass
class BeirData:
    """The texts and judgements of one split of a BEIR folder.

    Attributes:
        corpus_ids (`list[str]`): document ids, in file order.
        corpus_texts (`list[str]`): document texts, title and text joined (see [`passage_text`]).
        query_ids (`list[str]`): ids of the queries judged in the split (in `queries.jsonl` order).
        query_texts (`list[str]`): their texts.
        qrels (`dict[str, dict[str, int]]`): `{query id: {document id: relevance}}` of the split.
    """

    corpus_ids: list[str]
    corpus_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]


@dataclass
class EvaluationSettings:
    """What `evaluate_beir` does; saved in `results.json`."""

    split: str = "test"
    query_max_length: int = 32
    passage_max_length: int = 128
    batch_size: int = 64
    similarity: str = "dot"
    pooling: str = "cls"
    index: str = "exact"
    depth: int = 1000
    corpus_chunk_size: int = 8192

    def __post_init__(self) -> None:
        for name, value, choices in (
            ("similarity", self.similarity, SIMILARITIES),
            ("pooling", self.pooling, POOLINGS),
            ("index", self.index, INDEXES),
        ):
            if value not in choices:
                raise ValueError(f"`{name}` is {value!r}; choose one of {', '.join(choices)}.")
        for name in ("query_max_length", "passage_max_length", "batch_size", "depth", "corpus_chunk_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if self.query_max_length < 3 or self.passage_max_length < 3:
            raise ValueError("`query_max_length` and `passage_max_length` must leave room for special tokens (>= 3).")


def passage_text(title: str | None, text: str) -> str:
    """A document as the encoder reads it: `title + " " + text`, BEIR's and Tevatron's convention, or the text alone
    when the title is missing, `None` or blank.

    ```python
    >>> from transformers_condenser.beir_evaluation import passage_text
    >>> passage_text("Condenser", "A pre-training architecture.")
    'Condenser A pre-training architecture.'
    >>> passage_text("", "No title.")
    'No title.'
    ```
    """
    title = (title or "").strip()
    return f"{title} {text}" if title else text


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """`(line number, object)` for every non-blank line of a JSON-lines file, with errors naming the file and line."""
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path}:{number}: the line is not valid UTF-8 (byte {error.start}: {raw[error.start : error.start + 4]!r}); "
                    "re-encode the file as UTF-8."
                ) from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"{path}:{number}: malformed JSON ({error.msg} at column {error.colno}); every line must be one "
                    "JSON object."
                ) from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}.")
            yield number, record


def _record_id(path: Path, number: int, record: Mapping[str, Any]) -> str:
    value = record.get("_id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
        raise ValueError(f'{path}:{number}: missing or invalid "_id" (got {value!r}); BEIR records need a string id.')
    if any(character.isspace() for character in str(value)):
        raise ValueError(
            f'{path}:{number}: the "_id" {value!r} contains whitespace, which the qrels and TREC run formats cannot '
            "hold; use ids without spaces or tabs."
        )
    return str(value)


def _record_text(path: Path, number: int, record: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    value = record.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        found = "missing" if name not in record else f"a {type(value).__name__}"
        raise ValueError(f'{path}:{number}: the "{name}" field is {found}, but it must be a string.')
    return value


def _read_collection(path: Path, with_title: bool) -> tuple[list[str], list[str]]:
    ids, texts, first_line = [], [], {}
    for number, record in _jsonl_records(path):
        record_id = _record_id(path, number, record)
        if record_id in first_line:
            raise ValueError(
                f'{path}:{number}: duplicate "_id" {record_id!r} (first at line {first_line[record_id]}); ids must be '
                "unique."
            )
        first_line[record_id] = number
        text = _record_text(path, number, record, "text")
        if with_title:
            text = passage_text(_record_text(path, number, record, "title", required=False), text)
        ids.append(record_id)
        texts.append(text)
    if not ids:
        raise ValueError(f"{path} holds no records; a BEIR file has one JSON object per line.")
    return ids, texts


def _read_qrels(path: Path, query_ids: set[str], corpus_ids: set[str]) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise ValueError(
                    f"{path}:{number}: the line is not valid UTF-8; re-encode the file as UTF-8."
                ) from None
            if not line.strip():
                continue
            columns = line.split("\t")
            if number == 1:
                if [column.strip() for column in columns] != ["query-id", "corpus-id", "score"]:
                    raise ValueError(
                        f"{path}:1: expected the header `query-id<TAB>corpus-id<TAB>score`, got {line!r}."
                    )
                continue
            if len(columns) != 3:
                raise ValueError(
                    f"{path}:{number}: expected 3 tab-separated columns (query-id, corpus-id, score), got "
                    f"{len(columns)}: {line!r}."
                )
            query_id, doc_id, score = (column.strip() for column in columns)
            try:
                relevance = int(score)
            except ValueError:
                raise ValueError(f"{path}:{number}: the score {score!r} is not an integer.") from None
            if query_id not in query_ids:
                raise ValueError(f"{path}:{number}: query id {query_id!r} is not in queries.jsonl.")
            if doc_id not in corpus_ids:
                raise ValueError(f"{path}:{number}: corpus id {doc_id!r} is not in corpus.jsonl.")
            qrels.setdefault(query_id, {})[doc_id] = relevance
    if not any(relevance > 0 for judgements in qrels.values() for relevance in judgements.values()):
        raise ValueError(f"{path} judges no document relevant (score > 0); nothing can be evaluated.")
    return qrels


def load_beir_folder(data_dir: str | os.PathLike, split: str = "test") -> BeirData:
    """Read one split of a BEIR-format folder.

    Every line is checked: malformed JSON, a line that is not UTF-8, a missing or duplicate `_id`, a missing or
    non-string `text`, a qrels row that is not `query-id<TAB>corpus-id<TAB>integer` or names an id that is not in the
    corpus or the queries raise a `ValueError` naming the file and the line. A byte-order mark and CRLF line ends are
    accepted. Only the queries judged in the split are kept.

    Raises:
        `FileNotFoundError`: the folder or one of its files is missing (the message lists the splits that exist).
        `ValueError`: a bad line, as above.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"{data_dir} is not a folder; pass a BEIR-format folder (corpus.jsonl, queries.jsonl, qrels/)."
        )
    corpus_file, queries_file = data_dir / "corpus.jsonl", data_dir / "queries.jsonl"
    qrels_file = data_dir / "qrels" / f"{split}.tsv"
    for path in (corpus_file, queries_file):
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist; a BEIR folder holds corpus.jsonl and queries.jsonl.")
    if not qrels_file.is_file():
        splits = (
            sorted(path.stem for path in (data_dir / "qrels").glob("*.tsv")) if (data_dir / "qrels").is_dir() else []
        )
        raise FileNotFoundError(
            f"{qrels_file} does not exist; pass --split with one of: {', '.join(splits) or 'none (no qrels/*.tsv)'}."
        )
    corpus_ids, corpus_texts = _read_collection(corpus_file, with_title=True)
    all_query_ids, all_query_texts = _read_collection(queries_file, with_title=False)
    qrels = _read_qrels(qrels_file, set(all_query_ids), set(corpus_ids))
    query_ids = [query_id for query_id in all_query_ids if query_id in qrels]
    texts = dict(zip(all_query_ids, all_query_texts))
    return BeirData(corpus_ids, corpus_texts, query_ids, [texts[query_id] for query_id in query_ids], qrels)


def _embed(
    encoder: torch.nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    max_length: int,
    batch_size: int,
    pooling: str,
    normalize: bool,
    progress: Any = None,
) -> torch.Tensor:
    """`(len(texts), hidden_size)` float32 embeddings on the CPU: the first token's last-layer vector (`cls`) or the
    mean over the non-padding tokens (`mean`), L2-normalised for cosine similarity. Texts are tokenised here, in
    batches sorted by length (little padding), padded on the right. The ids are kept as compact arrays, tokenised a
    few batches at a time: the tokenizer's per-text objects never exist for the whole chunk at once."""
    input_ids: list[np.ndarray] = []
    for start in range(0, len(texts), 16 * batch_size):
        encoded = tokenizer(
            list(texts[start : start + 16 * batch_size]),
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        input_ids.extend(np.asarray(ids, dtype=np.int64) for ids in encoded)
    pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(texts)), key=lambda index: (-len(input_ids[index]), index))
    device = next(encoder.parameters()).device
    embeddings = torch.empty(len(texts), encoder.config.hidden_size)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(input_ids[index]) for index in rows)
        batch_ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for row, index in enumerate(rows):
            batch_ids[row, : len(input_ids[index])] = torch.from_numpy(input_ids[index])
            attention_mask[row, : len(input_ids[index])] = 1
        attention_mask = attention_mask.to(device)
        hidden = encoder(input_ids=batch_ids.to(device), attention_mask=attention_mask).last_hidden_state.float()
        if pooling == "cls":
            vectors = hidden[:, 0]
        else:
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            vectors = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
        if normalize:
            vectors = torch.nn.functional.normalize(vectors, dim=-1)
        embeddings[torch.as_tensor(rows)] = vectors.cpu()
        if progress is not None:
            progress.update(len(rows))
    return embeddings


class _ExactTopK:
    """The best `depth` documents per query, merged chunk by chunk: memory is `queries x (depth + chunk)` scores."""

    def __init__(self, query_vectors: torch.Tensor, depth: int, query_block: int = 1024):
        self.query_vectors = query_vectors
        self.depth = depth
        self.query_block = query_block
        self.scores = torch.full((len(query_vectors), 0), -math.inf)
        self.indices = torch.zeros((len(query_vectors), 0), dtype=torch.long)

    def add(self, document_vectors: torch.Tensor, offset: int) -> None:
        """Score a chunk of documents (global indices `offset ...`) against every query and keep the best."""
        chunk_indices = torch.arange(offset, offset + len(document_vectors))
        new_scores, new_indices = [], []
        for start in range(0, len(self.query_vectors), self.query_block):
            block = slice(start, start + self.query_block)
            scores = torch.cat([self.scores[block], self.query_vectors[block] @ document_vectors.T], dim=1)
            indices = torch.cat([self.indices[block], chunk_indices.expand(scores.shape[0], -1)], dim=1)
            # A stable sort of [kept, new] keeps, among equal scores, the document that comes first in the corpus:
            # the result does not depend on the chunk size (`topk` would pick arbitrarily among ties).
            order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, : self.depth]
            new_scores.append(scores.gather(1, order))
            new_indices.append(indices.gather(1, order))
        self.scores, self.indices = torch.cat(new_scores), torch.cat(new_indices)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        return self.scores.numpy(), self.indices.numpy()


class _FaissTopK:
    """The same search through a faiss inner-product index holding every document vector. Among documents with equal
    scores at the depth cut-off, faiss keeps any (the exact search keeps the first in the corpus)."""

    def __init__(self, query_vectors: torch.Tensor, depth: int):
        with extra_imports("faiss"):
            import faiss

        self.query_vectors = query_vectors.numpy()
        self.depth = depth
        self.index = faiss.IndexFlatIP(query_vectors.shape[1])

    def add(self, document_vectors: torch.Tensor, offset: int) -> None:
        self.index.add(np.ascontiguousarray(document_vectors.numpy(), dtype=np.float32))

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        scores, indices = self.index.search(self.query_vectors, min(self.depth, self.index.ntotal))
        return scores, indices


def _ranked(doc_ids: Sequence[str], scores: np.ndarray, indices: np.ndarray) -> list[list[tuple[str, float]]]:
    """Per query, `(document id, score)` by decreasing score, equal scores in corpus order."""
    rankings = []
    for row_scores, row_indices in zip(scores.tolist(), indices.tolist()):
        ranked = sorted(
            ((score, index) for index, score in zip(row_indices, row_scores) if index >= 0),
            key=lambda pair: (-pair[0], pair[1]),
        )
        rankings.append([(doc_ids[index], score) for score, index in ranked])
    return rankings


def retrieval_metrics(
    rankings: Mapping[str, Sequence[tuple[str, float]]], qrels: Mapping[str, Mapping[str, int]]
) -> dict[str, float]:
    """nDCG@10, MRR@10, R@100 and R@1000 (ir-measures) of ranked lists `{query id: [(document id, score), ...]}`.

    The ranking is taken as given (ties already broken); means are over the queries of `qrels` with a relevant
    document, a query without a ranking counting 0.
    """
    with extra_imports("evaluation"):
        import ir_measures

    judged = {
        query_id: {doc_id: int(relevance) for doc_id, relevance in judgements.items()}
        for query_id, judgements in qrels.items()
        if any(relevance > 0 for relevance in judgements.values())
    }
    # Strictly decreasing pseudo-scores keep the given order whatever ir-measures' back-end does with ties.
    run = {
        query_id: {doc_id: float(len(ranking) - rank) for rank, (doc_id, _) in enumerate(ranking)}
        for query_id, ranking in rankings.items()
        if query_id in judged and ranking
    }
    measures = {ir_measures.parse_measure(spelling): name for name, spelling in METRICS.items()}
    totals = dict.fromkeys(METRICS, 0.0)
    if not judged:
        return totals
    for metric in ir_measures.iter_calc(list(measures), judged, run):
        if metric.query_id in judged:
            totals[measures[metric.measure]] += metric.value
    return {name: total / len(judged) for name, total in totals.items()}


def evaluate_beir(
    model: torch.nn.Module,
    tokenizer: Any,
    data: BeirData,
    settings: EvaluationSettings | None = None,
    show_progress: bool = True,
) -> tuple[dict[str, float], list[list[tuple[str, float]]], dict[str, float]]:
    """Retrieve for every query of `data` with `model`'s embeddings and compute the metrics.

    Queries are embedded first; the corpus follows in chunks of `settings.corpus_chunk_size` documents (tokenised,
    embedded and searched one chunk at a time), and only the best `settings.depth` documents per query are kept.

    Args:
        model (`torch.nn.Module`): the encoder, or a model whose `base_model` is (it must return `last_hidden_state`).
        tokenizer: its tokenizer.
        data ([`BeirData`]): the split to evaluate, from [`load_beir_folder`].
        settings ([`EvaluationSettings`], *optional*): lengths, batch size, similarity, pooling, index, depth.
        show_progress (`bool`, *optional*, defaults to `True`): a progress bar over the corpus.

    Returns:
        `(metrics, rankings, timings)`: the metrics dict, per query (in `data.query_ids` order) its ranked
        `(document id, score)` list, and the seconds spent encoding queries, encoding the corpus and searching.
    """
    settings = settings or EvaluationSettings()
    encoder = getattr(model, "base_model", model)
    normalize = settings.similarity == "cos"
    embed = {"batch_size": settings.batch_size, "pooling": settings.pooling, "normalize": normalize}
    was_training = encoder.training
    encoder.eval()
    timings = {"encode_queries_s": 0.0, "encode_corpus_s": 0.0, "search_s": 0.0}
    try:
        with torch.no_grad():
            start = time.perf_counter()
            query_vectors = _embed(encoder, tokenizer, data.query_texts, settings.query_max_length, **embed)
            timings["encode_queries_s"] = time.perf_counter() - start
            searcher = (
                _ExactTopK(query_vectors, settings.depth)
                if settings.index == "exact"
                else _FaissTopK(query_vectors, settings.depth)
            )
            progress = None
            if show_progress:
                from tqdm.auto import tqdm

                progress = tqdm(total=len(data.corpus_texts), desc="Encoding the corpus", unit="doc")
            try:
                for offset in range(0, len(data.corpus_texts), settings.corpus_chunk_size):
                    chunk = data.corpus_texts[offset : offset + settings.corpus_chunk_size]
                    start = time.perf_counter()
                    vectors = _embed(
                        encoder, tokenizer, chunk, settings.passage_max_length, progress=progress, **embed
                    )
                    timings["encode_corpus_s"] += time.perf_counter() - start
                    start = time.perf_counter()
                    searcher.add(vectors, offset)
                    timings["search_s"] += time.perf_counter() - start
            finally:
                if progress is not None:
                    progress.close()
            start = time.perf_counter()
            scores, indices = searcher.result()
            timings["search_s"] += time.perf_counter() - start
    finally:
        encoder.train(was_training)
    rankings = _ranked(data.corpus_ids, scores, indices)
    metrics = retrieval_metrics(dict(zip(data.query_ids, rankings)), data.qrels)
    return metrics, rankings, timings


def max_input_length(config: Any) -> int | None:
    """The longest input (special tokens included) a model's position embeddings cover, or `None` if unknown:
    `config.max_sequence_length` for a Condenser, `max_position_embeddings - pad_token_id - 1` for RoBERTa-family
    models (their positions count from the padding index), `max_position_embeddings` otherwise."""
    if isinstance(getattr(config, "max_sequence_length", None), int):
        return config.max_sequence_length
    positions = getattr(config, "max_position_embeddings", None)
    if not isinstance(positions, int):
        return None
    if (
        getattr(config, "model_type", None) in ("roberta", "xlm-roberta", "camembert")
        and config.pad_token_id is not None
    ):
        return positions - config.pad_token_id - 1
    return positions


def check_lengths(settings: EvaluationSettings, config: Any) -> None:
    """Raise a `ValueError` if a query or passage length of `settings` exceeds what the model's positions cover."""
    limit = max_input_length(config)
    for name in ("query_max_length", "passage_max_length"):
        if limit is not None and getattr(settings, name) > limit:
            raise ValueError(
                f"`{name}` is {getattr(settings, name)}, but the model's position embeddings cover {limit} tokens; "
                f"pass {limit} or less."
            )


class RetrievalEvaluationCallback(TrainerCallback):
    """A `TrainerCallback` that adds retrieval metrics to every evaluation of a `Trainer`.

    At each evaluation the model being trained is evaluated on one split of a BEIR folder with [`evaluate_beir`], and
    `eval_MRR@10`, `eval_nDCG@10`, `eval_R@100` (and `eval_R@1000`) are added to the evaluation's metrics before
    [`CondenserTrainer`] logs them: next to `eval_loss` in the log (the console, TensorBoard, W&B, and
    `state.log_history`, hence `trainer_log_history.json`), and for `metric_for_best_model="eval_MRR@10"`,
    `load_best_model_at_end` and `EarlyStoppingCallback`. With a plain `Trainer` it adds them in `on_evaluate`, after
    the evaluation was logged. Under
    distributed training every process evaluates the same split with the same weights and gets the same metrics: no
    process waits for another. Use a small dev split: the whole corpus is encoded at every evaluation.

    Args:
        data ([`BeirData`]): the split to evaluate, from [`load_beir_folder`].
        tokenizer: the model's tokenizer.
        settings ([`EvaluationSettings`], *optional*): lengths, similarity, pooling, depth.
        metric_key_prefix (`str`, *optional*, defaults to `"eval"`): the prefix of the metric names.
    """

    # Tells `CondenserTrainer` that an evaluation is meaningful without an MLM evaluation set.
    evaluates_without_dataset = True

    def __init__(
        self,
        data: BeirData,
        tokenizer: Any,
        settings: EvaluationSettings | None = None,
        metric_key_prefix: str = "eval",
    ):
        self.data = data
        self.tokenizer = tokenizer
        self.settings = settings or EvaluationSettings(depth=1000)
        self.metric_key_prefix = metric_key_prefix

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        """Check the query and passage lengths against the model before the first step."""
        if model is not None:
            check_lengths(self.settings, getattr(model, "module", model).config)

    def compute(self, model: torch.nn.Module) -> dict[str, float]:
        """Evaluate `model` now: the retrieval metrics under their prefixed names (`eval_MRR@10`, ...), plus
        `eval_retrieval_runtime` (seconds)."""
        model = getattr(model, "module", model)  # unwrap DistributedDataParallel
        retrieval, _, timings = evaluate_beir(model, self.tokenizer, self.data, self.settings, show_progress=False)
        prefixed = {f"{self.metric_key_prefix}_{name}": value for name, value in retrieval.items()}
        prefixed[f"{self.metric_key_prefix}_retrieval_runtime"] = round(sum(timings.values()), 4)
        logger.info("Retrieval evaluation: %s", ", ".join(f"{name} {value:.4f}" for name, value in retrieval.items()))
        return prefixed

    def is_evaluation_without_its_metrics(self, logs: Mapping[str, float]) -> bool:
        """Whether `logs` is an evaluation's metrics (they hold `eval_runtime`) that lack this callback's."""
        prefix = self.metric_key_prefix
        return f"{prefix}_runtime" in logs and f"{prefix}_MRR@10" not in logs

    def on_evaluate(self, args, state, control, model=None, metrics=None, **kwargs):
        """With a plain `Trainer`: add the metrics to the evaluation's metrics and to its log entry (`Trainer` has
        logged the evaluation already, so loggers such as TensorBoard do not see them). [`CondenserTrainer`] computes
        them before it logs the evaluation, and then this does nothing."""
        if model is None or metrics is None or f"{self.metric_key_prefix}_MRR@10" in metrics:
            return
        prefixed = self.compute(model)
        metrics.update(prefixed)
        history = state.log_history
        if history and history[-1].get("step") == state.global_step and "loss" not in history[-1]:
            history[-1].update(prefixed)  # the entry `Trainer.log` just wrote for this evaluation
        else:
            history.append({**prefixed, "epoch": state.epoch, "step": state.global_step})


def _check_output_dir(output_dir: Path, data_dir: Path) -> None:
    """Refuse an output folder that is, or holds, the data, or holds files other than an earlier evaluation's."""
    data_dir = data_dir.resolve()
    if output_dir == data_dir or data_dir.is_relative_to(output_dir):
        raise ValueError(
            f"The output directory {output_dir} is or contains the data folder {data_dir}; choose a new folder."
        )
    if output_dir.is_file():
        raise ValueError(f"The output directory {output_dir} is a file; choose a folder.")
    if output_dir.is_dir():
        others = sorted(entry.name for entry in output_dir.iterdir() if entry.name not in (RESULTS_FILE, RUN_FILE))
        if others:
            raise ValueError(
                f"The output directory {output_dir} holds other files ({', '.join(others[:5])}), which writing the "
                "results would remove; choose a new or empty folder (an earlier evaluation's folder is fine)."
            )


def write_trec_run(path: str | os.PathLike, query_ids: Sequence[str], rankings: Sequence, run_name: str) -> None:
    """Write rankings as a TREC run file: `query-id Q0 doc-id rank score run-name`, ranks from 1."""
    with open(path, "w", encoding="utf-8") as file:
        for query_id, ranking in zip(query_ids, rankings):
            for rank, (doc_id, score) in enumerate(ranking, start=1):
                file.write(f"{query_id} Q0 {doc_id} {rank} {score:.6f} {run_name}\n")


def run_evaluation(
    model_name_or_path: str,
    data_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    settings: EvaluationSettings | None = None,
    run_name: str = "condenser",
    device: str | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Load `model_name_or_path` with `AutoModel` / `AutoTokenizer`, evaluate it on a BEIR folder and write
    `results.json` (metrics, settings, model, data, timings) and `run.trec` into `output_dir` atomically.

    Returns:
        `dict`: the content of `results.json`.
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    # The metrics need the `evaluation` extra: say so now, not after encoding the corpus.
    with extra_imports("evaluation"):
        import ir_measures  # noqa: F401
    settings = settings or EvaluationSettings()
    output_dir, data_dir = Path(output_dir).resolve(), Path(data_dir)
    _check_output_dir(output_dir, data_dir)
    started = time.perf_counter()
    data = load_beir_folder(data_dir, settings.split)
    load_data_s = time.perf_counter() - started
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
    # Plain BERT-family encoders are built without the pooler they would otherwise create (exports and fine-tuned
    # folders have none): only `last_hidden_state` is read.
    model_type = AutoConfig.from_pretrained(model_name_or_path).model_type
    pooler = {"add_pooling_layer": False} if model_type in ("bert", "roberta", "xlm-roberta") else {}
    model = AutoModel.from_pretrained(model_name_or_path, **pooler)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    check_lengths(settings, model.config)
    load_model_s = time.perf_counter() - start
    logger.info(
        f"Evaluating {model_name_or_path} on {data_dir} ({settings.split}): {len(data.query_ids)} queries, "
        f"{len(data.corpus_ids)} documents."
    )
    metrics, rankings, timings = evaluate_beir(model, tokenizer, data, settings, show_progress=show_progress)
    timings = {"load_data_s": load_data_s, "load_model_s": load_model_s, **timings}
    timings["total_s"] = time.perf_counter() - started
    timings["documents_per_s"] = (
        len(data.corpus_ids) / timings["encode_corpus_s"] if timings["encode_corpus_s"] else 0.0
    )
    results = {
        "metrics": metrics,
        "settings": asdict(settings),
        "model": {
            "name_or_path": str(model_name_or_path),
            "class": type(model).__name__,
            "model_type": model.config.model_type,
            "parameters": sum(parameter.numel() for parameter in model.parameters()),
        },
        "data": {
            "data_dir": str(data_dir.resolve()),
            "split": settings.split,
            "documents": len(data.corpus_ids),
            "queries": len(data.query_ids),
            "judgements": sum(len(judgements) for judgements in data.qrels.values()),
        },
        "timings": timings,
        "device": device,
    }
    with atomic_directory(output_dir) as staging:
        (staging / RESULTS_FILE).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        write_trec_run(staging / RUN_FILE, data.query_ids, rankings, run_name)
    return results


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments of `condenser-evaluate`."""
    parser = argparse.ArgumentParser(
        prog="condenser-evaluate",
        description=(
            "Evaluate a dense retriever (any AutoModel checkpoint: Condenser, BERT, RoBERTa, an exported backbone) on "
            "a BEIR-format folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv. Writes results.json (nDCG@10, "
            "MRR@10, R@100, R@1000, settings, timings) and run.trec to --output_dir."
        ),
    )
    parser.add_argument("--model_name_or_path", required=True, help="checkpoint folder or Hub id; required")
    parser.add_argument("--data_dir", required=True, help="BEIR-format folder; required")
    parser.add_argument("--output_dir", required=True, help="folder for results.json and run.trec; required")
    parser.add_argument("--split", default="test", help="qrels split, qrels/<split>.tsv (default: %(default)s)")
    parser.add_argument("--query_max_length", type=int, default=32, help="query tokens (default: %(default)s)")
    parser.add_argument("--passage_max_length", type=int, default=128, help="passage tokens (default: %(default)s)")
    parser.add_argument("--batch_size", type=int, default=64, help="texts per forward pass (default: %(default)s)")
    parser.add_argument("--similarity", choices=SIMILARITIES, default="dot", help="default: %(default)s")
    parser.add_argument(
        "--pooling", choices=POOLINGS, default="cls", help="cls: the Condenser embedding (default); mean: token mean"
    )
    parser.add_argument(
        "--index", choices=INDEXES, default="exact", help="exact: blocked matmul + top-k (default); faiss: needs faiss"
    )
    parser.add_argument("--depth", type=int, default=1000, help="documents retrieved per query (default: %(default)s)")
    parser.add_argument(
        "--corpus_chunk_size", type=int, default=8192, help="documents encoded at a time (default: %(default)s)"
    )
    parser.add_argument("--run_name", default="condenser", help="last column of run.trec (default: %(default)s)")
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    return parser.parse_args(argv)


def _check_model_folder(model_name_or_path: str) -> None:
    """Refuse a `--model_name_or_path` that names a local folder which does not exist or holds no `config.json`
    (transformers would report the first as an invalid Hub id); a Hub id (`org/name`) passes."""
    path = Path(model_name_or_path).expanduser()
    looks_like_a_path = (
        path.is_absolute() or model_name_or_path.startswith((".", "~")) or model_name_or_path.count("/") > 1
    )
    if path.exists():
        if not path.is_dir():
            raise NotADirectoryError(
                f"--model_name_or_path {path} is a file; pass the checkpoint folder that holds config.json."
            )
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"--model_name_or_path {path} has no config.json, so it is not a checkpoint folder; pass the folder "
                "save_pretrained wrote (or an exported checkpoint)."
            )
    elif looks_like_a_path:
        raise FileNotFoundError(
            f"--model_name_or_path {path} does not exist; pass an existing checkpoint folder or a Hub id (org/name)."
        )


@cli_entry_point("condenser-evaluate")
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `condenser-evaluate`: exit status 0 on success; 1 on bad data, arguments or output folder (one
    line on stderr, `condenser-evaluate: error: ...`, no traceback unless `--debug`); 2 on a usage error."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    _check_model_folder(args.model_name_or_path)
    settings = EvaluationSettings(
        split=args.split,
        query_max_length=args.query_max_length,
        passage_max_length=args.passage_max_length,
        batch_size=args.batch_size,
        similarity=args.similarity,
        pooling=args.pooling,
        index=args.index,
        depth=args.depth,
        corpus_chunk_size=args.corpus_chunk_size,
    )
    results = run_evaluation(
        args.model_name_or_path,
        args.data_dir,
        args.output_dir,
        settings,
        run_name=args.run_name,
        device=args.device,
    )
    metrics = ", ".join(f"{name} {value:.4f}" for name, value in results["metrics"].items())
    print(f"{metrics}\nwrote {Path(args.output_dir).resolve() / RESULTS_FILE} and {RUN_FILE}")
    return 0


__all__ = [
    "BeirData",
    "EvaluationSettings",
    "RetrievalEvaluationCallback",
    "check_lengths",
    "evaluate_beir",
    "load_beir_folder",
    "max_input_length",
    "passage_text",
    "retrieval_metrics",
    "run_evaluation",
    "write_trec_run",
]
