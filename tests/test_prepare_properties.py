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
"""Property tests of `condenser-prepare` on generated corrupted corpora: a correct result or one clean error line,
never a traceback, never a lost previous output."""

import contextlib
import io
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from datasets import load_from_disk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.models.condenser.testing_utils import TINY_VOCAB, tiny_tokenizer
from transformers_condenser.data import REPORT_FILE, prepare_main


WORDS = "the a model reads text dense vector for every passage retrieval query".split()

sentence = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(lambda words: " ".join(words) + ".")
good_record = st.lists(sentence, min_size=1, max_size=4).map(lambda s: json.dumps({"text": " ".join(s)}).encode())
odd_value = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.just(""), st.lists(st.text(max_size=3), max_size=2))  # fmt: skip
bad_record = st.one_of(
    good_record.flatmap(lambda line: st.integers(1, len(line) - 1).map(lambda cut: line[:cut])),  # truncated
    st.binary(min_size=1, max_size=12).map(lambda junk: b'{"text": "' + junk + b'"}'),  # random bytes
    odd_value.map(lambda value: json.dumps({"text": value}).encode()),  # not a string
    st.just(b'{"body": "the model"}'),  # renamed field
    st.just(b"[1, 2]"),
    st.just(b"   "),  # blank line
)
corpus = st.lists(st.one_of(good_record, good_record, bad_record), min_size=1, max_size=12)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("properties")
    tiny_tokenizer().save_pretrained(root / "tokenizer")
    return root


@settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=corpus,
    bom=st.booleans(),
    crlf=st.booleans(),
    mode=st.sampled_from(["condenser", "cocondenser"]),
    max_length=st.sampled_from([4, 8, 16]),
    skip=st.booleans(),
    streaming=st.booleans(),
)
def test_prepare_gives_a_correct_result_or_one_clean_error(workspace, lines, bom, crlf, mode, max_length, skip, streaming):  # fmt: skip
    run_dir = Path(tempfile.mkdtemp(dir=workspace))
    previous = run_dir / "out"
    previous.mkdir()
    (previous / REPORT_FILE).write_text('{"marker": "previous output"}')
    end = b"\r\n" if crlf else b"\n"
    (run_dir / "corpus.jsonl").write_bytes((b"\xef\xbb\xbf" if bom else b"") + end.join(lines) + end)
    argv = ["--tokenizer", str(workspace / "tokenizer"), "--input", str(run_dir / "corpus.jsonl"),
            "--output_dir", str(previous), "--mode", mode, "--max_length", str(max_length)]  # fmt: skip
    argv += ["--skip_bad_records"] * skip + ["--streaming"] * streaming
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            prepare_main(argv)
            code = 0
        except SystemExit as stop:
            code = stop.code
    err = stderr.getvalue()
    assert "Traceback" not in err
    if code == 0:
        report = json.loads((previous / REPORT_FILE).read_text())
        assert report["documents_read"] == report["documents_written"] + report["documents_skipped"]
        assert report["bad_records_skipped"] <= len(lines) and (skip or report["bad_records_skipped"] == 0)
        rows = load_from_disk(str(previous))
        column = "input_ids" if mode == "condenser" else "spans"
        blocks = rows[column] if mode == "condenser" else [span for spans in rows[column] for span in spans]
        assert all(0 < len(block) <= report["block_length"] for block in blocks)
        assert all(0 <= token < len(TINY_VOCAB) for block in blocks for token in block)
        assert report["max_token_id"] == max(token for block in blocks for token in block)
    else:
        assert code == 1, err
        assert [line for line in err.splitlines() if line.startswith("condenser-prepare: error: ")], err
        assert json.loads((previous / REPORT_FILE).read_text()) == {"marker": "previous output"}
    shutil.rmtree(run_dir)
