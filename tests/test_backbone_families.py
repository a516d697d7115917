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
"""The pre-training pipeline end to end for RoBERTa and XLM-RoBERTa backbones, offline.

For each family a tokenizer is trained here on `DOCUMENTS` (byte-level BPE with `Ġ` word starts for RoBERTa, a
Unigram model with `▁` word starts for XLM-R; both with `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, `<mask>`=4) and
saved with a tiny random `RobertaForMaskedLM` / `XLMRobertaForMaskedLM`: the "pretrained checkpoint". From it:
`condenser-prepare` (blocks and spans), the collators, `condenser-pretrain` (Condenser warm start, then coCondenser
with the gradient cache, resumed from a checkpoint), loading the result with the Auto classes (with the package and
with `trust_remote_code=True` without it) and exporting it to plain transformers classes.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from datasets import load_from_disk
from safetensors.torch import load_file
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoTokenizer,
    RobertaConfig,
    RobertaForMaskedLM,
    RobertaModel,
    RobertaTokenizer,
    XLMRobertaConfig,
    XLMRobertaForMaskedLM,
    XLMRobertaModel,
    XLMRobertaTokenizer,
)
from transformers.testing_utils import CaptureLogger
from transformers.utils import logging

from transformers_condenser import CondenserForPreTraining, CondenserModel
from transformers_condenser.collators import DataCollatorForCoCondenser, DataCollatorForCondenser
from transformers_condenser.conversion import export_backbone_main
from transformers_condenser.data import prepare_dataset, prepare_main, sentence_starts
from transformers_condenser.pretrain import main as pretrain_main


FAMILIES = ("roberta", "xlm-roberta")
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, RoBERTa's layout
BOS_ID, PAD_ID, EOS_ID = 0, 1, 2
WORD_START = {"roberta": "\u0120", "xlm-roberta": "\u2581"}  # Ġ and ▁
MAX_LENGTH = 32
# 66 positions: RoBERTa numbers them from pad_token_id + 1 = 2, so the longest input is 66 - 1 - 1 = 64 tokens.
MAX_POSITIONS, LONGEST_INPUT = 66, 64

# Ten documents of four sentences each: blank-line-separated paragraphs of the corpus file.
DOCUMENTS = [
    "Dense retrieval encodes every passage into a single vector. A query is encoded the same way. The search then "
    "returns the passages whose vectors score highest. Unbelievably, this beats keyword matching on many benchmarks.",
    "The Condenser changes how a language model is pre-trained. Its head reads an early layer and the last CLS "
    "vector. Masked words must be predicted through that vector. So the vector learns to summarise the whole text.",
    "Byte-level tokenizers never meet an unknown character. They split rare words into several pieces. Frequent "
    "words stay whole. A leading space marks where each new word begins.",
    "SentencePiece treats the input as a raw stream of characters. It replaces spaces with a special marker. The "
    "marker starts every word, including the very first one. Multilingual models rely on this trick.",
    "Librarians organised books long before computers existed. Card catalogues listed every title and author. "
    "Searching them took patience and careful reading. Today an index answers in milliseconds.",
    "Mountains shape the weather of the valleys below them. Warm air rises along the slopes and cools. Clouds "
    "gather, and rain falls on the windward side. The far side often stays dry for months.",
    "Bakers measure flour, water and salt with great care. The dough rests overnight in a cool room. In the "
    "morning it is folded, shaped and baked. Fresh bread smells wonderful!",
    "Contrastive learning pulls related texts together. Unrelated texts are pushed apart in the vector space. Two "
    "spans of one document make a natural positive pair. Spans of other documents serve as negatives.",
    "Gradient caching trades computation for memory. It first encodes every span without storing activations. "
    "Then it computes the loss over the whole batch. Finally each chunk is encoded again to back-propagate.",
    "Old harbours were busy places full of sailors and merchants. Ships brought spices, cloth and news from distant "
    "lands. Fishermen mended their nets along the quay. At dusk the lanterns were lit one by one.",
]
# Training flags of every run (the speed tricks of tests/test_pretrain.py, shorter sequences).
COMMON_FLAGS = ["--logging_steps", "1", "--report_to", "none", "--use_cpu", "--seed", "0"]
COMMON_FLAGS += ["--dataloader_num_workers", "0", "--max_length", str(MAX_LENGTH), "--disable_tqdm", "true"]
COMMON_FLAGS += ["--loss_curve", "false", "--model_card", "false", "--learning_rate", "1e-3"]
PLAIN_CLASSES = {
    "roberta": (RobertaModel, RobertaForMaskedLM),
    "xlm-roberta": (XLMRobertaModel, XLMRobertaForMaskedLM),
}


def train_roberta_tokenizer(trim_offsets: bool = True) -> RobertaTokenizer:
    """A RoBERTa tokenizer (byte-level BPE, `Ġ` word starts, `<s> ... </s>`) trained on `DOCUMENTS`."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(DOCUMENTS, trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(merge) for merge in model["merges"]]
    return RobertaTokenizer(vocab=model["vocab"], merges=merges, trim_offsets=trim_offsets)


def sentencepiece_pieces() -> list[tuple[str, float]]:
    """A SentencePiece-style Unigram vocabulary (`▁` word starts) for `DOCUMENTS`: `SPECIAL_TOKENS` first, then the
    pieces of a BPE trained after the `Metaspace` pre-tokenizer, scored so that Viterbi prefers fewer, earlier-merged
    pieces. (`tokenizers`' Unigram trainer gives a different vocabulary on every run; its BPE trainer does not.)"""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Metaspace()
    bpe.train_from_iterator(
        DOCUMENTS, trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIAL_TOKENS, show_progress=False)
    )
    vocab = bpe.get_vocab()
    pieces = sorted(vocab, key=vocab.get)
    assert pieces[: len(SPECIAL_TOKENS)] == SPECIAL_TOKENS
    return [(piece, 0.0 if piece in SPECIAL_TOKENS else -1.0 - vocab[piece] / len(vocab)) for piece in pieces]


def train_xlm_roberta_tokenizer(bare_metaspace: bool = False) -> XLMRobertaTokenizer:
    """An XLM-R tokenizer (Unigram; whitespace split, then `▁` Metaspace; `<s> ... </s>`) over `DOCUMENTS`.

    With `bare_metaspace`, the pre-tokenizer is `Metaspace` alone (as in older XLM-R `tokenizer.json` files): the same
    ids, but the offsets of a `▁` token then include the space before its word.
    """
    tokenizer = XLMRobertaTokenizer(vocab=sentencepiece_pieces())
    if bare_metaspace:
        tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    return tokenizer


def train_tokenizer(family: str) -> RobertaTokenizer | XLMRobertaTokenizer:
    return train_roberta_tokenizer() if family == "roberta" else train_xlm_roberta_tokenizer()


def tiny_masked_lm(family: str, vocab_size: int) -> RobertaForMaskedLM | XLMRobertaForMaskedLM:
    """A tiny random `RobertaForMaskedLM` / `XLMRobertaForMaskedLM` with the families' special-token ids."""
    config_class = RobertaConfig if family == "roberta" else XLMRobertaConfig
    config = config_class(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=MAX_POSITIONS,
        type_vocab_size=1,
        pad_token_id=PAD_ID,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
    )
    torch.manual_seed(0)
    return PLAIN_CLASSES[family][1](config).eval()


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread; more threads only spin against each other on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build_workspace(family: str, root: Path) -> dict:
    """One family's tokenizer and tiny masked-LM checkpoint, and both prepared datasets (condenser-prepare CLI)."""
    tokenizer = train_tokenizer(family)
    checkpoint = root / "checkpoint"
    tiny_masked_lm(family, len(tokenizer)).save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    corpus = root / "corpus.txt"
    corpus.write_text("\n\n".join(DOCUMENTS) + "\n")
    for mode in ("condenser", "cocondenser"):
        prepare_main(
            ["--tokenizer", str(checkpoint), "--input", str(corpus), "--output_dir", str(root / mode)]
            + ["--mode", mode, "--max_length", str(MAX_LENGTH), "--short_block_probability", "0.2"]
        )
    return {"family": family, "root": root, "tokenizer": tokenizer, "checkpoint": checkpoint}


def run_pretraining(workspace: dict) -> dict:
    """Condenser warm-started from the family checkpoint (2 steps, exported with --export_backbone_dir), then
    coCondenser from it with the gradient cache (4 steps, checkpoint at 2), and that run resumed from checkpoint-2."""
    root = workspace["root"]
    runs = {name: root / name for name in ("condenser-run", "condenser-plain", "co-run", "co-resumed")}
    flags = ["--model_name_or_path", str(workspace["checkpoint"]), "--skip_from", "2", "--max_steps", "2"]
    flags += ["--train_dir", str(root / "condenser"), "--per_device_train_batch_size", "4", "--save_strategy", "no"]
    flags += ["--output_dir", str(runs["condenser-run"]), "--export_backbone_dir", str(runs["condenser-plain"])]
    assert pretrain_main(flags + COMMON_FLAGS + ["--model_card", "true"]) == 0

    flags = ["--model_name_or_path", str(runs["condenser-run"]), "--cocondenser", "--max_steps", "4"]
    flags += ["--train_dir", str(root / "cocondenser"), "--per_device_train_batch_size", "2"]
    flags += ["--gradient_cache_chunk_size", "3", "--save_strategy", "steps", "--save_steps", "2"]
    assert pretrain_main(flags + COMMON_FLAGS + ["--output_dir", str(runs["co-run"])]) == 0
    resume = ["--resume_from_checkpoint", str(runs["co-run"] / "checkpoint-2")]
    with CaptureLogger(logging.get_logger("transformers.trainer")) as resume_log:
        assert pretrain_main(flags + COMMON_FLAGS + resume + ["--output_dir", str(runs["co-resumed"])]) == 0
    return {**workspace, **runs, "resume_log": resume_log.out}


class Families:
    """Each family's workspace and pre-training runs, built on first use and shared by the module's tests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._workspaces: dict[str, dict] = {}
        self._pretrained: dict[str, dict] = {}

    def workspace(self, family: str) -> dict:
        if family not in self._workspaces:
            (self.root / family).mkdir()
            self._workspaces[family] = build_workspace(family, self.root / family)
        return self._workspaces[family]

    def pretrained(self, family: str) -> dict:
        if family not in self._pretrained:
            self._pretrained[family] = run_pretraining(self.workspace(family))
        return self._pretrained[family]


@pytest.fixture(scope="module")
def families(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> Families:
    return Families(tmp_path_factory.mktemp("families"))


@pytest.fixture(params=FAMILIES)
def workspace(request: pytest.FixtureRequest, families: Families) -> dict:
    return families.workspace(request.param)


@pytest.fixture(params=FAMILIES)
def pretrained(request: pytest.FixtureRequest, families: Families) -> dict:
    return families.pretrained(request.param)


def test_tokenizers_have_the_families_layout(workspace: dict):
    family, tokenizer = workspace["family"], workspace["tokenizer"]
    loaded = AutoTokenizer.from_pretrained(workspace["checkpoint"])
    assert type(loaded) is type(tokenizer)
    ids = {token: loaded.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    assert ids == {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    assert loaded.pad_token_id == PAD_ID and loaded.mask_token_id == 4
    encoded = loaded(DOCUMENTS[0])["input_ids"]
    assert encoded[0] == BOS_ID and encoded[-1] == EOS_ID and "token_type_ids" not in loaded(DOCUMENTS[0])
    pieces = loaded.convert_ids_to_tokens(loaded(DOCUMENTS[0], add_special_tokens=False)["input_ids"])
    assert sum(piece.startswith(WORD_START[family]) for piece in pieces) >= len(DOCUMENTS[0].split()) - 1


def document_encodings(tokenizer) -> dict[tuple[int, ...], tuple[str, list[int]]]:
    """Each document's ids (no special tokens) -> (text, the whitespace-separated word each token belongs to)."""
    out = {}
    for text in DOCUMENTS:
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        word_spans = [match.span() for match in re.finditer(r"\S+", text)]
        # A token belongs to the word its first character is in; a token holding only the space before a word
        # (offsets trimmed to an empty span at the word's start) belongs to that word.
        words = [
            next(i for i, (_, end) in enumerate(word_spans) if start < end) for start, _ in encoded["offset_mapping"]
        ]
        out[tuple(encoded["input_ids"])] = (text, words)
    return out


def test_prepared_spans_cover_each_document_without_special_tokens(workspace: dict):
    tokenizer = workspace["tokenizer"]
    encodings = document_encodings(tokenizer)
    spans = load_from_disk(str(workspace["root"] / "cocondenser"))
    blocks = load_from_disk(str(workspace["root"] / "condenser"))
    special = set(tokenizer.all_special_ids)
    documents = []
    for row in spans["spans"]:
        assert len(row) >= 2 and all(1 <= len(span) <= MAX_LENGTH - 2 for span in row)
        assert not special & {token for span in row for token in span}
        # The spans of a document are its tokens, in order, nothing lost, nothing added.
        ids = tuple(token for span in row for token in span)
        assert ids in encodings
        documents.append(encodings[ids][0])
        # Every span starts a sentence (its first token ends after the sentence start; an empty `Ġ` starts there),
        # or continues one longer than a span, cut into pieces of max_length - 2 tokens.
        text = encodings[ids][0]
        offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        firsts = [
            next(i for i, (s, e) in enumerate(offsets) if e > start or s >= start) for start in sentence_starts(text)
        ]
        pieces = {first + k * (MAX_LENGTH - 2) for first in firsts for k in range(len(ids) // (MAX_LENGTH - 2) + 1)}
        positions = [sum(len(span) for span in row[:k]) for k in range(len(row))]
        assert set(positions) <= pieces
    assert sorted(documents) == sorted(DOCUMENTS)
    # Condenser mode holds the same blocks, one per row.
    assert sorted(map(tuple, blocks["input_ids"])) == sorted(tuple(span) for row in spans["spans"] for span in row)


def collated_rows(batch: dict, tokenizer) -> list[tuple[list[int], list[bool]]]:
    """Check the special tokens and padding of a collated batch; return each row's original text ids (between `<s>`
    and `</s>`) and which of them are labelled (selected for masking)."""
    assert set(batch) == {"input_ids", "attention_mask", "labels"}  # no token type ids: RoBERTa has one type
    originals = torch.where(batch["labels"] != -100, batch["labels"], batch["input_ids"])
    special = torch.tensor(tokenizer.all_special_ids)
    rows = []
    for row in range(len(originals)):
        length = int(batch["attention_mask"][row].sum())
        assert batch["attention_mask"][row, :length].all() and length <= MAX_LENGTH
        ids, labels = originals[row, :length], batch["labels"][row, :length]
        assert ids[0] == BOS_ID and ids[-1] == EOS_ID and labels[0] == labels[-1] == -100
        assert not torch.isin(ids[1:-1], special).any()
        assert (batch["input_ids"][row, length:] == PAD_ID).all() and (batch["labels"][row, length:] == -100).all()
        rows.append((ids[1:-1].tolist(), (labels[1:-1] != -100).tolist()))
    return rows


def find(sequence: list[int], part: list[int]) -> int:
    """The first index at which `part` occurs in `sequence` (-1 when it does not)."""
    return next((i for i in range(len(sequence) - len(part) + 1) if sequence[i : i + len(part)] == part), -1)


def test_collators_add_the_family_special_tokens_and_mask_whole_words(workspace: dict):
    tokenizer = workspace["tokenizer"]
    encodings = document_encodings(tokenizer)
    documents = load_from_disk(str(workspace["root"] / "cocondenser"))["spans"]
    document_ids = [[token for span in spans for token in span] for spans in documents]
    masked_words = masked_multi_piece_words = 0
    for seed in range(4):
        condenser = DataCollatorForCondenser(tokenizer, max_length=MAX_LENGTH, mlm_probability=0.3, seed=seed)
        cocondenser = DataCollatorForCoCondenser(tokenizer, max_length=MAX_LENGTH, mlm_probability=0.3, seed=seed)
        for group in (range(0, 4), range(4, 8), range(8, len(documents))):
            # (document, span or None) of every row: Condenser rows are the spans given, coCondenser rows 2 spans
            # of each document, chosen by the collator.
            condenser_rows = [(doc, span) for doc in group for span in documents[doc]]
            batches = [
                (condenser([{"input_ids": span} for _, span in condenser_rows]), condenser_rows),
                (
                    cocondenser([{"spans": documents[doc]} for doc in group]),
                    [(doc, None) for doc in group for _ in "ab"],
                ),
            ]
            for batch, sources in batches:
                for (content, labelled), (doc, span) in zip(collated_rows(batch, tokenizer), sources, strict=True):
                    # A crop of one span (max_length - 2 tokens at most) ...
                    spans = documents[doc] if span is None else [span]
                    assert any(len(content) == min(len(s), MAX_LENGTH - 2) and find(s, content) >= 0 for s in spans)
                    # ... whose words (whitespace-separated words of the text, cut by the crop) are masked whole.
                    _, words = encodings[tuple(document_ids[doc])]
                    start = find(document_ids[doc], content)
                    content_words = words[start : start + len(content)]
                    for word in set(content_words):
                        flags = {flag for flag, w in zip(labelled, content_words) if w == word}
                        pieces = tokenizer.convert_ids_to_tokens(content)
                        assert len(flags) == 1, f"a word is partly masked: {pieces} {labelled}"
                        masked_words += flags == {True}
                        masked_multi_piece_words += flags == {True} and content_words.count(word) > 1
    # The check had multi-piece words to get wrong.
    assert masked_words > 100 and masked_multi_piece_words > 50


@pytest.mark.parametrize("variant", ["roberta-untrimmed-offsets", "xlm-roberta-bare-metaspace"])
def test_a_leading_space_token_stays_with_its_sentence(tmp_path: Path, variant: str):
    # Tokenizers whose word-start tokens' offsets include the space before the word: placed by their raw start,
    # "Ġ"/"▁" tokens opening a sentence would be packed with the previous sentence.
    if variant == "roberta-untrimmed-offsets":
        tokenizer, reference = train_roberta_tokenizer(trim_offsets=False), train_roberta_tokenizer()
    else:
        tokenizer, reference = train_xlm_roberta_tokenizer(bare_metaspace=True), train_xlm_roberta_tokenizer()
    encoded = tokenizer(DOCUMENTS, add_special_tokens=False, return_offsets_mapping=True)
    assert encoded["input_ids"] == reference(DOCUMENTS, add_special_tokens=False)["input_ids"]
    assert any(
        text[start] == " " for text, offsets in zip(DOCUMENTS, encoded["offset_mapping"]) for start, _ in offsets
    )

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(DOCUMENTS) + "\n")
    blocks = {}
    for name, tok in (("untrimmed", tokenizer), ("reference", reference)):
        prepare_dataset(corpus, tok, tmp_path / name, max_length=MAX_LENGTH, short_block_probability=0.0)
        blocks[name] = load_from_disk(str(tmp_path / name))["input_ids"]
    # The same blocks as with trimmed offsets, each a run of whole sentences (or a piece of a long one).
    assert blocks["untrimmed"] == blocks["reference"]
    word_start = WORD_START["roberta" if variant.startswith("roberta") else "xlm-roberta"]
    starts = [reference.convert_ids_to_tokens(block[0]) for block in blocks["reference"]]
    assert sum(token.startswith(word_start) for token in starts) >= len(starts) // 2


def logged_losses(run: Path) -> dict[int, float]:
    history = json.loads((run / "trainer_log_history.json").read_text())
    return {entry["step"]: entry["loss"] for entry in history if "loss" in entry}


def test_condenser_warm_start_trains_the_family_backbone(pretrained: dict):
    family, run = pretrained["family"], pretrained["condenser-run"]
    model = CondenserForPreTraining.from_pretrained(run)
    assert model.config.backbone_type == family and model.config.skip_from == 2 and not model.config.cocondenser
    saved = load_file(run / "model.safetensors")
    assert {key.split(".")[0] for key in saved} == {"roberta", "lm_head", "head_layers"}
    assert len(logged_losses(run)) == 2 and all(0 < loss < 100 for loss in logged_losses(run).values())
    # Warm-started from the family checkpoint, then trained: the backbone moved away from it.
    plain = PLAIN_CLASSES[family][1].from_pretrained(pretrained["checkpoint"])
    start, trained = (
        plain.roberta.embeddings.word_embeddings.weight,
        model.base_model.embeddings.word_embeddings.weight,
    )
    assert start.shape == trained.shape and not torch.equal(start, trained)
    assert torch.equal(model.mlm_head.decoder.weight, trained)  # still tied
    # The model card condenser-pretrain writes names the family.
    assert {"roberta": "RoBERTa", "xlm-roberta": "XLM-RoBERTa"}[family] in (run / "README.md").read_text()


def test_resumed_cocondenser_ends_as_the_uninterrupted_run(pretrained: dict):
    uninterrupted, resumed = pretrained["co-run"], pretrained["co-resumed"]
    assert CondenserForPreTraining.from_pretrained(uninterrupted).config.cocondenser is True
    # The tied decoder (`lm_head.decoder.*`, not saved) is not reported missing when the checkpoint is loaded.
    assert "missing keys" not in pretrained["resume_log"]
    expected, got = logged_losses(uninterrupted), logged_losses(resumed)
    assert sorted(expected) == sorted(got) == [1, 2, 3, 4]
    for step in (3, 4):  # trained after the resume
        assert got[step] == pytest.approx(expected[step], rel=1e-5, abs=1e-6), step
    final = load_file(uninterrupted / "model.safetensors")
    start = load_file(pretrained["condenser-run"] / "model.safetensors")
    assert not torch.equal(
        final["roberta.embeddings.word_embeddings.weight"], start["roberta.embeddings.word_embeddings.weight"]
    )
    for key, tensor in load_file(resumed / "model.safetensors").items():
        torch.testing.assert_close(tensor, final[key], rtol=1e-5, atol=1e-6, msg=key)


# Texts of different lengths: the batch has padding, which RoBERTa's position ids must skip.
REFERENCE_TEXTS = [
    DOCUMENTS[0],
    "Fresh bread smells wonderful!",
    "Clouds gather, and rain falls on the windward side.",
]


def reference_batch(tokenizer) -> dict[str, torch.Tensor]:
    return tokenizer(REFERENCE_TEXTS, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")


def test_final_model_and_tokenizer_load_with_the_auto_classes(pretrained: dict):
    run, source = pretrained["co-run"], pretrained["tokenizer"]
    model = AutoModel.from_pretrained(run).eval()
    assert type(model) is CondenserModel and model.config.backbone_type == pretrained["family"]
    tokenizer = AutoTokenizer.from_pretrained(run)
    assert type(tokenizer) is type(source)
    assert tokenizer(DOCUMENTS)["input_ids"] == source(DOCUMENTS)["input_ids"]
    batch = reference_batch(tokenizer)
    assert (batch["input_ids"] == PAD_ID).any()
    with torch.no_grad():
        outputs = model(**batch)
        # A padded row encodes as the text alone: the positions count only its tokens.
        length = int(batch["attention_mask"][1].sum())
        alone = model(**tokenizer(REFERENCE_TEXTS[1], return_tensors="pt")).last_hidden_state
    assert length < batch["input_ids"].shape[1] and alone.shape[1] == length
    torch.testing.assert_close(outputs.last_hidden_state[1, :length], alone[0], rtol=0, atol=1e-5)
    assert torch.equal(outputs.pooler_output, outputs.last_hidden_state[:, 0])


# Runs in a fresh interpreter where transformers_condenser cannot be imported. argv: output folder, max_length,
# the texts (JSON), then model folders; writes `<i>.safetensors` (outputs) and `<i>.json` (classes) per folder.
REMOTE_CODE_WORKER = textwrap.dedent(
    """
    import json, sys

    sys.modules["transformers_condenser"] = None  # as on a machine without the package
    out_dir, max_length, texts, *model_dirs = sys.argv[1:]
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer

    for index, model_dir in enumerate(model_dirs):
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModel.from_pretrained(model_dir, trust_remote_code=True).eval()
        batch = tokenizer(json.loads(texts), padding=True, truncation=True, max_length=int(max_length),
                          return_tensors="pt")
        with torch.no_grad():
            outputs = model(**batch)
        save_file({"input_ids": batch["input_ids"], "last_hidden_state": outputs.last_hidden_state.contiguous(),
                   "pooler_output": outputs.pooler_output.contiguous()}, f"{out_dir}/{index}.safetensors")
        leaked = sorted(name for name, module in sys.modules.items()
                        if name.startswith("transformers_condenser") and module is not None)
        with open(f"{out_dir}/{index}.json", "w") as report:
            json.dump({"class": f"{type(model).__module__}.{type(model).__name__}",
                       "backbone_type": model.config.backbone_type, "leaked": leaked}, report)
    """
)


def test_trust_remote_code_loads_the_final_models_without_the_package(families: Families, tmp_path: Path):
    runs = [families.pretrained(family) for family in FAMILIES]  # one interpreter for both families
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    env.update({"TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"})
    command = [sys.executable, "-c", REMOTE_CODE_WORKER, str(tmp_path), str(MAX_LENGTH), json.dumps(REFERENCE_TEXTS)]
    command += [str(run["co-run"]) for run in runs]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for index, run in enumerate(runs):
        report = json.loads((tmp_path / f"{index}.json").read_text())
        # The class comes from the code files saved with the checkpoint, not from an installed package.
        assert report["class"].startswith("transformers_modules.") and report["class"].endswith(".CondenserModel")
        assert report["backbone_type"] == run["family"] and report["leaked"] == []
        remote = load_file(tmp_path / f"{index}.safetensors")
        batch = reference_batch(run["tokenizer"])
        assert torch.equal(remote["input_ids"], batch["input_ids"])
        with torch.no_grad():
            local = CondenserModel.from_pretrained(run["co-run"]).eval()(**batch)
        torch.testing.assert_close(remote["last_hidden_state"], local.last_hidden_state, rtol=0, atol=1e-6)
        torch.testing.assert_close(remote["pooler_output"], local.pooler_output, rtol=0, atol=1e-6)


def test_export_reloads_with_plain_transformers_classes(pretrained: dict, tmp_path: Path):
    family, tokenizer = pretrained["family"], pretrained["tokenizer"]
    model_class, masked_lm_class = PLAIN_CLASSES[family]
    # The export condenser-pretrain wrote with --export_backbone_dir (MLM head included), and the CLI's backbone-only
    # export of the coCondenser.
    backbone_dir = tmp_path / "backbone"
    assert (
        export_backbone_main(
            ["--input_dir", str(pretrained["co-run"]), "--output_dir", str(backbone_dir), "--no-mlm-head"]
        )
        == 0
    )
    batch = reference_batch(tokenizer)
    for condenser_dir, plain_dir, with_mlm_head in (
        (pretrained["condenser-run"], pretrained["condenser-plain"], True),
        (pretrained["co-run"], backbone_dir, False),
    ):
        config = json.loads((plain_dir / "config.json").read_text())
        assert config["model_type"] == family and "auto_map" not in config and "skip_from" not in config
        assert not list(plain_dir.glob("*.py"))
        assert AutoTokenizer.from_pretrained(plain_dir)(DOCUMENTS)["input_ids"] == tokenizer(DOCUMENTS)["input_ids"]
        condenser = CondenserForPreTraining.from_pretrained(condenser_dir).eval()
        plain = AutoModel.from_pretrained(plain_dir).eval()
        assert type(plain) is model_class
        with torch.no_grad():
            expected = condenser.base_model(**batch)
            hidden = plain(**batch).last_hidden_state
            torch.testing.assert_close(hidden, expected.last_hidden_state, rtol=0, atol=1e-5)
            torch.testing.assert_close(hidden[:, 0], expected.pooler_output, rtol=0, atol=1e-5)
            if with_mlm_head:
                masked_lm = AutoModelForMaskedLM.from_pretrained(plain_dir).eval()
                assert type(masked_lm) is masked_lm_class
                logits = masked_lm(**batch).logits
                torch.testing.assert_close(logits, condenser.mlm_head(expected.last_hidden_state), rtol=0, atol=1e-5)


def test_bad_runs_stop_before_training_with_a_clear_error(workspace: dict, tmp_path: Path, capsys):
    root = workspace["root"]
    base = ["--model_name_or_path", str(workspace["checkpoint"]), "--skip_from", "2", "--max_steps", "1"]
    base += ["--train_dir", str(root / "condenser"), "--per_device_train_batch_size", "2", "--save_strategy", "no"]
    base += COMMON_FLAGS + ["--output_dir", str(tmp_path / "out")]
    other_pad = tmp_path / "other-pad"
    tokenizer = AutoTokenizer.from_pretrained(workspace["checkpoint"])
    tokenizer.pad_token = "<unk>"
    tokenizer.save_pretrained(other_pad)
    for extra, message in (
        # Within max_position_embeddings (66), beyond what RoBERTa's positions cover (66 - pad_token_id - 1 = 64).
        (["--max_length", str(LONGEST_INPUT + 1)], f"Pass --max_length {LONGEST_INPUT} or less"),
        (["--tokenizer_name", str(other_pad)], "pads with id 3"),
        (["--export_bert_dir", str(tmp_path / "bert")], "--export_backbone_dir"),
    ):
        with pytest.raises(SystemExit) as stop:
            pretrain_main(base + extra)
        assert stop.value.code == 1
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("condenser-pretrain: error: ")]
        assert len(errors) == 1 and message in errors[0] and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()

    # The longest input the positions cover trains: blocks prepared for it reach the last position embedding.
    prepare_dataset(root / "corpus.txt", workspace["tokenizer"], tmp_path / "long", max_length=LONGEST_INPUT)
    assert max(map(len, load_from_disk(str(tmp_path / "long"))["input_ids"])) == LONGEST_INPUT - 2
    long_run = base + ["--max_length", str(LONGEST_INPUT), "--train_dir", str(tmp_path / "long")]
    long_run += ["--per_device_train_batch_size", "8", "--model_card", "false"]
    assert pretrain_main(long_run) == 0
    assert logged_losses(tmp_path / "out")[1] > 0
