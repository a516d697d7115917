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
"""`condenser-prepare` with the corpora people have: every bad input ends with exit status 1 and one line naming the
file, the line and the fix (no traceback), and a previous output folder is never lost."""

import errno
import json
from pathlib import Path

import pytest
from datasets import Dataset, load_from_disk
from transformers.testing_utils import CaptureLogger
from transformers.utils import logging

from tests.models.condenser.testing_utils import tiny_tokenizer
from transformers_condenser.data import REPORT_FILE, prepare_main


GOOD = [
    "the model reads text. a dense vector for every passage.",
    "retrieval reads the query. the model reads every passage.",
    "a passage for the query. dense retrieval reads text.",
]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("tokenizer")
    tiny_tokenizer().save_pretrained(folder)
    return str(folder)


def jsonl(records) -> bytes:
    return b"".join(
        (record if isinstance(record, bytes) else json.dumps(record).encode()) + b"\n" for record in records
    )


def run(tokenizer_dir, capsys, source, output, *extra) -> tuple[int, str, str]:
    """Run condenser-prepare; return (exit status, stdout, stderr)."""
    argv = ["--tokenizer", tokenizer_dir, "--input", str(source), "--output_dir", str(output), "--max_length", "16"]
    try:
        prepare_main([*argv, *extra])
        code = 0
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def previous(tmp_path, tokenizer_dir, capsys) -> Path:
    """An output folder prepared earlier: every failed run must leave it exactly as it was."""
    (tmp_path / "good.jsonl").write_bytes(jsonl({"text": text} for text in GOOD))
    code, _, _ = run(tokenizer_dir, capsys, tmp_path / "good.jsonl", tmp_path / "out")
    assert code == 0
    return tmp_path / "out"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def assert_clean_error(code: int, err: str, *phrases: str) -> None:
    assert code == 1, err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("condenser-prepare: error: ")]
    assert len(errors) == 1, err
    for phrase in phrases:
        assert phrase in err, (phrase, err)


def assert_failed_cleanly(tmp_path, tokenizer_dir, capsys, previous, name, content, phrases, *extra):
    before = snapshot(previous)
    (tmp_path / name).write_bytes(content)
    code, _, err = run(tokenizer_dir, capsys, tmp_path / name, previous, *extra)
    assert_clean_error(code, err, str(tmp_path / name), *phrases)
    assert snapshot(previous) == before
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []
    return err


def test_undecodable_bytes_in_the_middle_of_a_valid_file_name_the_line_and_byte_offset(
    tmp_path, tokenizer_dir, capsys, previous
):
    lines = [
        json.dumps({"text": GOOD[0]}).encode(),
        b'{"text": "caf\xe9 latin-1"}',
        json.dumps({"text": GOOD[1]}).encode(),
    ]
    offset = len(lines[0]) + 1 + lines[1].index(b"\xe9")
    assert_failed_cleanly(
        tmp_path, tokenizer_dir, capsys, previous, "corpus.jsonl", b"\n".join(lines) + b"\n",
        ["line 2", f"byte offset {offset}", "not UTF-8", "iconv", "--skip_bad_records"],
    )  # fmt: skip
    text = (GOOD[0] + "\n\n").encode() + b"bad \xff\xfe bytes\n\n" + GOOD[1].encode()
    assert_failed_cleanly(tmp_path, tokenizer_dir, capsys, previous, "corpus.txt", text, ["line 3", "byte offset"])


def test_gzip_and_utf16_files_are_named_as_such(tmp_path, tokenizer_dir, capsys, previous):
    import gzip

    content = gzip.compress(jsonl({"text": text} for text in GOOD))
    assert_failed_cleanly(tmp_path, tokenizer_dir, capsys, previous, "c.jsonl", content, ["line 1", "gunzip"])
    content = "\n".join(GOOD).encode("utf-16")
    assert_failed_cleanly(tmp_path, tokenizer_dir, capsys, previous, "c.txt", content, ["line 1", "UTF-16"])


@pytest.mark.parametrize(
    "record, phrases",
    [
        (b'{"text": "the model reads text.", ', ["line 2", "not valid JSON", "truncated"]),
        (b"{'text': 'single quotes'}", ["line 2", "not valid JSON"]),
        (b'["the model"]', ["line 2", "expected a JSON object", "array"]),
        (b'{"body": "the model reads text.", "id": 7}', ["line 2", "no 'text' field", "'body', 'id'", "--text_column body"]),
        (b'{"text": 42}', ["line 2", "'text'", "JSON number, not a string"]),
        (b'{"text": ["a", "list"]}', ["line 2", "JSON array, not a string"]),
    ],
)  # fmt: skip
def test_bad_json_lines_name_the_line_and_the_fix(tmp_path, tokenizer_dir, capsys, previous, record, phrases):
    content = jsonl([{"text": GOOD[0]}, record, {"text": GOOD[1]}])
    assert_failed_cleanly(tmp_path, tokenizer_dir, capsys, previous, "corpus.jsonl", content, phrases)


def test_a_json_array_file_is_explained(tmp_path, tokenizer_dir, capsys, previous):
    content = json.dumps([{"text": text} for text in GOOD], indent=1).encode()
    assert_failed_cleanly(tmp_path, tokenizer_dir, capsys, previous, "c.json", content, ["line 1", "JSON Lines", "jq"])


def test_a_bom_and_crlf_line_ends_read_as_plain_utf8(tmp_path, tokenizer_dir, capsys):
    plain_jsonl = jsonl({"text": text} for text in GOOD)
    plain_text = "\n\n".join(GOOD).encode() + b"\n"
    variants = {
        "plain.jsonl": plain_jsonl,
        "bom.jsonl": b"\xef\xbb\xbf" + plain_jsonl,
        "crlf.jsonl": plain_jsonl.replace(b"\n", b"\r\n"),
        "plain.txt": plain_text,
        "bom_crlf.txt": b"\xef\xbb\xbf" + plain_text.replace(b"\n", b"\r\n"),
    }
    results = {}
    for name, content in variants.items():
        (tmp_path / name).write_bytes(content)
        code, _, err = run(tokenizer_dir, capsys, tmp_path / name, tmp_path / f"out_{name}")
        assert code == 0, err
        results[name] = load_from_disk(str(tmp_path / f"out_{name}"))["input_ids"]
    expected = [token for text in GOOD for token in tiny_tokenizer()(text, add_special_tokens=False)["input_ids"]]
    assert [token for block in results["plain.jsonl"] for token in block] == expected
    assert all(result == results["plain.jsonl"] for result in results.values())


def test_empty_documents_are_counted_not_errors(tmp_path, tokenizer_dir, capsys):
    content = jsonl([{"text": GOOD[0]}, {"text": ""}, {"text": None}, {"text": "   "}, {"text": GOOD[1]}])
    (tmp_path / "c.jsonl").write_bytes(content + b"\n\n")
    with CaptureLogger(logging.get_logger("transformers_condenser.data")) as captured:
        code, out, err = run(tokenizer_dir, capsys, tmp_path / "c.jsonl", tmp_path / "out")
    assert code == 0, err
    report = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert (report["documents_read"], report["empty_documents"], report["documents_written"]) == (5, 3, 2)
    assert out.count("skipped 3 documents") == 1 and "skipped 3" not in err + captured.out  # said once


def test_an_enormous_document_is_prepared_with_a_warning_naming_it(tmp_path, tokenizer_dir, capsys):
    huge = " ".join(["the model reads text"] * 10_500)  # about 210,000 characters, no sentence end
    (tmp_path / "c.jsonl").write_bytes(jsonl([{"text": GOOD[0]}, {"text": huge}]))
    with CaptureLogger(logging.get_logger("transformers_condenser.data")) as captured:
        code, out, err = run(tokenizer_dir, capsys, tmp_path / "c.jsonl", tmp_path / "out")
    assert code == 0, err
    assert f"{tmp_path / 'c.jsonl'}, line 2: a document of {len(huge):,} characters" in captured.out
    assert json.loads((tmp_path / "out" / REPORT_FILE).read_text())["long_documents"] == 1
    assert "1 documents are longer than 100,000 characters" in out


def test_a_folder_with_other_files_reads_text_and_jsonl_and_names_the_skipped_ones(tmp_path, tokenizer_dir, capsys):
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "a.txt").write_text(GOOD[0] + "\n")
    (corpus / "sub" / "b.JSONL").write_bytes(jsonl([{"text": GOOD[1]}]))
    (corpus / "c.csv").write_text("text\nthe model\n")
    (corpus / "sub" / "d.jsonl.gz").write_bytes(b"\x1f\x8b\x08")
    (corpus / ".hidden.txt").write_text("not read\n")
    with CaptureLogger(logging.get_logger("transformers_condenser.data")) as captured:
        code, _, err = run(tokenizer_dir, capsys, corpus, tmp_path / "out")
    assert code == 0, err
    assert "skipping 2 other files: c.csv, sub/d.jsonl.gz" in captured.out
    expected = [token for text in GOOD[:2] for token in tiny_tokenizer()(text, add_special_tokens=False)["input_ids"]]
    written = [token for block in load_from_disk(str(tmp_path / "out"))["input_ids"] for token in block]
    assert written == expected  # b.JSONL read as JSON Lines


def test_output_folder_holding_other_files_is_refused_and_a_prepared_one_replaced(
    tmp_path, tokenizer_dir, capsys, previous
):
    (tmp_path / "c.jsonl").write_bytes(jsonl({"text": text} for text in GOOD[:2]))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("years of work")
    code, _, err = run(tokenizer_dir, capsys, tmp_path / "c.jsonl", tmp_path / "home")
    assert_clean_error(code, err, str(tmp_path / "home"), "not a prepared dataset", "thesis.tex", "new or empty")
    assert (tmp_path / "home" / "thesis.tex").read_text() == "years of work"
    code, _, err = run(tokenizer_dir, capsys, tmp_path / "home", tmp_path / "c.jsonl")
    assert_clean_error(code, err, "is a file")
    code, _, err = run(tokenizer_dir, capsys, tmp_path, tmp_path / "inside")
    assert_clean_error(code, err, "inside the input folder")
    code, _, err = run(tokenizer_dir, capsys, previous, previous)
    assert_clean_error(code, err, "is or contains the input")
    code, _, err = run(tokenizer_dir, capsys, tmp_path / "c.jsonl", previous)  # an earlier dataset: replaced
    assert code == 0, err
    assert json.loads((previous / REPORT_FILE).read_text())["documents_read"] == 2


@pytest.mark.parametrize(
    "error, phrases",
    [
        (OSError(errno.ENOSPC, "No space left on device"), ["No space left", "Free some space", "--output_dir", "intact"]),
        (PermissionError(errno.EACCES, "Permission denied"), ["No permission to write", "--output_dir", "intact"]),
    ],
)  # fmt: skip
def test_full_disk_and_no_permission_name_the_folder_and_keep_the_previous_output(
    tmp_path, tokenizer_dir, capsys, previous, monkeypatch, error, phrases
):
    before = snapshot(previous)

    def fail(self, path, *args, **kwargs):
        (Path(path) / "data-00000-of-00001.arrow").write_bytes(b"half")
        raise error

    monkeypatch.setattr(Dataset, "save_to_disk", fail)
    (tmp_path / "c.jsonl").write_bytes(jsonl({"text": text} for text in GOOD[:2]))
    code, _, err = run(tokenizer_dir, capsys, tmp_path / "c.jsonl", previous)
    assert_clean_error(code, err, str(previous), *phrases)
    assert snapshot(previous) == before
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_unreadable_input_beside_the_output_is_not_called_a_write_error(tmp_path, tokenizer_dir, capsys, monkeypatch):
    # The input and the output folder share a parent folder, so judging by folder alone would blame the output.
    from transformers_condenser import data

    source = tmp_path / "c.jsonl"
    source.write_bytes(jsonl({"text": text} for text in GOOD[:2]))

    def unreadable(file, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(file))

    monkeypatch.setattr(data, "open", unreadable, raising=False)
    code, _, err = run(tokenizer_dir, capsys, source, tmp_path / "out")
    assert_clean_error(code, err, "Permission denied", str(source))
    assert "No permission to write" not in err and not (tmp_path / "out").exists()


def test_skip_bad_records_counts_them_and_names_the_first_ten(tmp_path, tokenizer_dir, capsys):
    records = [{"text": GOOD[i % 3]} if i % 2 else b"{broken" for i in range(30)]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "c.jsonl").write_bytes(jsonl(records))
    (corpus / "d.txt").write_bytes(GOOD[0].encode() + b"\nbad \xff line\n\n" + GOOD[1].encode() + b"\n")
    code, out, err = run(tokenizer_dir, capsys, corpus, tmp_path / "out", "--skip_bad_records", "--num_proc", "2")
    assert code == 0, err
    report = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert report["bad_records_skipped"] == 16  # 15 JSON lines, 1 paragraph of the text file
    assert report["documents_read"] == 16 and report["documents_written"] == 16
    assert len(report["bad_record_examples"]) == 10
    assert report["bad_record_examples"][0].startswith(f"{corpus / 'c.jsonl'}, line 1: not valid JSON")
    assert out.count("skipped 16 bad records") == 1 and report["bad_record_examples"][1] in out
    # The default stays strict, and names the first bad record even when worker processes read the files.
    code, _, err = run(tokenizer_dir, capsys, corpus, tmp_path / "strict", "--num_proc", "2")
    assert_clean_error(code, err, f"{corpus / 'c.jsonl'}, line 1: not valid JSON")
    code, _, err = run(tokenizer_dir, capsys, corpus, tmp_path / "strict", "--streaming")
    assert_clean_error(code, err, f"{corpus / 'c.jsonl'}, line 1: not valid JSON")
    assert not (tmp_path / "strict").exists()


def test_help_shows_only_meaningful_defaults(capsys):
    with pytest.raises(SystemExit):
        prepare_main(["--help"])
    help_text = capsys.readouterr().out
    assert "(default: None)" not in help_text and "(default: one)" not in help_text
    assert "(default: False)" not in help_text
    assert "--skip_bad_records" in help_text and "--debug" in help_text and "(default: 1)" in help_text
