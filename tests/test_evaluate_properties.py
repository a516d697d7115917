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
"""Property tests of `condenser-evaluate` on generated, often corrupted, BEIR folders.

Whatever the folder holds (bytes that are not UTF-8, truncated or non-object JSON lines, ids and texts of the wrong
type, duplicate ids, qrels rows that are short, non-numeric or name unknown ids) and whatever the flags, the command
either succeeds with metrics in [0, 1] and a TREC run of the judged queries, or ends with exit status 1 and one
`condenser-evaluate: error:` line that names a file of the folder; never a traceback, and a previous output folder is
never lost.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path


os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.models.condenser.testing_utils import run_cli, tiny_config, tiny_tokenizer
from transformers_condenser import CondenserModel
from transformers_condenser.beir_evaluation import RESULTS_FILE, RUN_FILE, main


WORDS = ["the", "a", "model", "reads", "text", "dense", "vector", "passage", "query", "retrieval"]

GOOD_DOC_IDS = ["d0", "d1", "d2", "d3"]
GOOD_QUERY_IDS = ["q0", "q1"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    CondenserModel(tiny_config(vocab_size=len(tokenizer), max_position_embeddings=64)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _json_value():
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 3),
        st.text(alphabet="ab \t", max_size=4),
        st.lists(st.integers(), max_size=2),
    )


@st.composite
def corpus_lines(draw) -> list[bytes]:
    lines = []
    for doc_id in GOOD_DOC_IDS:
        record = {"_id": doc_id, "title": draw(st.sampled_from(["", "model", None])), "text": " ".join(WORDS[:5])}
        kind = draw(st.sampled_from(["good"] * 40 + ["bad_text", "bad_id", "no_text", "not_object", "truncated"]))
        if kind == "bad_text":
            record["text"] = draw(_json_value())
        elif kind == "bad_id":
            record["_id"] = draw(_json_value())
        elif kind == "no_text":
            del record["text"]
        line = json.dumps(record).encode()
        if kind == "not_object":
            line = json.dumps(draw(_json_value())).encode()
        elif kind == "truncated":
            line = line[: draw(st.integers(1, len(line) - 1))]
        lines.append(line)
    if draw(st.integers(0, 5)) == 0:
        lines.append(lines[draw(st.integers(0, len(lines) - 1))])  # a duplicate line (often a duplicate id)
    return lines


@st.composite
def qrels_rows(draw) -> list[bytes]:
    rows = [b"query-id\tcorpus-id\tscore"]
    for query_id in GOOD_QUERY_IDS:
        doc_id = draw(st.sampled_from(GOOD_DOC_IDS * 6 + ["unknown-doc"]))
        score = draw(st.sampled_from([b"1"] * 12 + [b"2", b"0", b"x", b""]))
        row = query_id.encode() + b"\t" + doc_id.encode() + b"\t" + score
        if draw(st.integers(0, 29)) == 0:
            row = row.replace(b"\t", b" ", 1)  # a malformed row
        rows.append(row)
    return rows


def _corrupt(data: bytes, draw) -> bytes:
    """Insert bytes that are not UTF-8, a BOM, or CRLF line ends, sometimes."""
    kind = draw(st.sampled_from(["none"] * 12 + ["bad_bytes", "bom", "crlf"]))
    if kind == "bad_bytes":
        at = draw(st.integers(0, len(data)))
        return data[:at] + b"\xff\xfe\x80" + data[at:]
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    if kind == "crlf":
        return data.replace(b"\n", b"\r\n")
    return data


def _run(argv: list[str]) -> tuple[int, str]:
    status, _, stderr = run_cli(main, argv)
    return status, stderr


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_folder_gives_results_or_one_clean_error_and_keeps_the_previous_output(model_dir, data):
    draw = data.draw
    root = Path(tempfile.mkdtemp(prefix="evaluate-properties-"))
    try:
        folder = root / "beir"
        (folder / "qrels").mkdir(parents=True)
        (folder / "corpus.jsonl").write_bytes(_corrupt(b"\n".join(draw(corpus_lines())) + b"\n", draw))
        queries = [json.dumps({"_id": query_id, "text": "dense query"}).encode() for query_id in GOOD_QUERY_IDS]
        (folder / "queries.jsonl").write_bytes(_corrupt(b"\n".join(queries) + b"\n", draw))
        (folder / "qrels" / "test.tsv").write_bytes(_corrupt(b"\n".join(draw(qrels_rows())) + b"\n", draw))

        output = root / "out"
        output.mkdir()
        (output / RESULTS_FILE).write_text('{"metrics": "previous"}')
        previous = (output / RESULTS_FILE).read_bytes()
        flags = ["--model_name_or_path", str(model_dir), "--data_dir", str(folder), "--output_dir", str(output)]
        flags += ["--query_max_length", str(draw(st.sampled_from([3, 8, 32]))), "--passage_max_length", "16"]
        flags += [
            "--similarity",
            draw(st.sampled_from(["dot", "cos"])),
            "--pooling",
            draw(st.sampled_from(["cls", "mean"])),
        ]
        flags += ["--batch_size", str(draw(st.integers(1, 5))), "--corpus_chunk_size", str(draw(st.integers(1, 5)))]

        status, err = _run(flags)
        assert "Traceback" not in err, err
        if status == 0:
            results = json.loads((output / RESULTS_FILE).read_text())
            assert all(0.0 <= value <= 1.0 for value in results["metrics"].values()), results
            judged = {line.split()[0] for line in (output / RUN_FILE).read_text().splitlines()}
            assert judged <= set(GOOD_QUERY_IDS)
        else:
            assert status == 1, err
            errors = [line for line in err.splitlines() if line.startswith("condenser-evaluate: error: ")]
            assert len(errors) == 1, err
            assert any(name in err for name in ("corpus.jsonl", "queries.jsonl", "test.tsv")), err
            assert (output / RESULTS_FILE).read_bytes() == previous
            assert sorted(path.name for path in output.iterdir()) == [RESULTS_FILE]
        assert not [path for path in root.iterdir() if path.name.startswith(".")]  # no staging folder left
    finally:
        shutil.rmtree(root, ignore_errors=True)
