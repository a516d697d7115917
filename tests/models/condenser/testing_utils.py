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
"""The one tiny-model and batch factory of the test suite, and the switch for transformers' own test mixins.

- `tiny_config(**overrides)`: a `CondenserConfig` under 100k parameters (2 backbone layers, the head fed by layer 1).
- `tiny_model(model_class, seed, **overrides)`: a freshly initialised model of that config, seeded.
- `FOUR_LAYER_FIELDS`, `SENSITIVE_FIELDS`, `NO_DROPOUT`: overrides for tests that need layers on both sides of
  `skip_from` and a 2-layer head, outputs clearly different for different inputs, or deterministic training steps.
- `tiny_bert_config(**overrides)`: the `BertConfig` of `tiny_config`'s backbone (for BERT references and warm starts);
  `tiny_backbone_config(**overrides)` the plain config of any family (`BertConfig`, `RobertaConfig`, `XLMRobertaConfig`).
- `ROBERTA_FAMILY_FIELDS`: what `tiny_config(backbone_type="roberta" or "xlm-roberta")` adds: RoBERTa's special-token
  ids (`<s>` 0, `<pad>` 1, `</s>` 2), one token type, and positions for 64 tokens after the padding index.
- `same_weights_other_config(model, **overrides)`: a model with `model`'s weights and a changed config.
- `tiny_batch(config, ...)`: `[CLS] tokens [SEP] [PAD]...` rows (`<s> tokens </s> <pad>...` for a RoBERTa-family
  config) with padding (or of given `lengths`), a few positions replaced by the mask id and labelled with their
  original token (`-100` everywhere else), token types 0 then 1 (all 0 with one token type); with
  `span_pairs=True` the rows are coCondenser span pairs `[d1s1, d1s2, d2s1, d2s2, ...]`.
- `tiny_tokenizer()`, `save_tiny_checkpoint(directory, ...)`: a WordPiece tokenizer over `TINY_VOCAB` (no download;
  its special-token ids are the ids below) and a saved `CondenserForPreTraining` of that vocabulary with it.
- `TRANSFORMERS_TESTS_AVAILABLE` / `TRANSFORMERS_TESTS_MISSING`: whether `transformers_tests` (transformers' own
  `ModelTesterMixin` and `ConfigTester`, put on `sys.path` by `tests/conftest.py`) can be imported, and the skip
  reason when it cannot.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import importlib.util
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import BertConfig, PreTrainedConfig, PreTrainedTokenizerFast, RobertaConfig, XLMRobertaConfig

from transformers_condenser import CondenserConfig, CondenserForPreTraining, CondenserPreTrainedModel


PAD_ID, CLS_ID, SEP_ID, MASK_ID = 0, 2, 3, 4
# RoBERTa's `<s>`, `<pad>` and `</s>` ids (its `<mask>` is MASK_ID in the tiny vocabularies of the tests).
ROBERTA_BOS_ID, ROBERTA_PAD_ID, ROBERTA_EOS_ID = 0, 1, 2
# First id of an ordinary token: ids below it are special tokens.
FIRST_WORD_ID = 5

TINY_CONFIG_FIELDS: dict[str, Any] = {
    "vocab_size": 99,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
    "skip_from": 1,
    "n_head_layers": 1,
}
# The fields a `CondenserConfig` adds to `BertConfig`'s; the others describe the backbone BERT.
CONDENSER_ONLY_FIELDS = ("skip_from", "n_head_layers", "late_mlm", "sparse_prediction", "cocondenser", "backbone_type")
# What a RoBERTa-family tiny config changes: RoBERTa's special-token ids, one token type, and 64 usable positions after
# the padding index (positions count from `pad_token_id + 1`).
ROBERTA_FAMILY_FIELDS: dict[str, Any] = {
    "pad_token_id": ROBERTA_PAD_ID,
    "bos_token_id": ROBERTA_BOS_ID,
    "eos_token_id": ROBERTA_EOS_ID,
    "type_vocab_size": 1,
    "max_position_embeddings": 66,
}
BACKBONE_CONFIG_CLASSES: dict[str, type[PreTrainedConfig]] = {
    "bert": BertConfig,
    "roberta": RobertaConfig,
    "xlm-roberta": XLMRobertaConfig,
}
# 4 backbone layers read by a 2-layer head from layer 2: layers both below and above `skip_from`, several head layers.
FOUR_LAYER_FIELDS: dict[str, Any] = {"num_hidden_layers": 4, "skip_from": 2, "n_head_layers": 2}
# `FOUR_LAYER_FIELDS`, eager attention, and weights 10x BERT's `initializer_range`: random models then give different
# inputs clearly distinct outputs, which keeps "this changes / this does not change" checks sensitive.
SENSITIVE_FIELDS: dict[str, Any] = {**FOUR_LAYER_FIELDS, "initializer_range": 0.2, "attn_implementation": "eager"}
NO_DROPOUT: dict[str, Any] = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}

# The vocabulary of `tiny_tokenizer`: `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]` at the ids below, then word pieces.
TINY_VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + "the a model reads text dense vector for every passage retrieval query".split()
    + ["##s", "##ing", "##al"]
)

TRANSFORMERS_TESTS_AVAILABLE = importlib.util.find_spec("transformers_tests") is not None
TRANSFORMERS_TESTS_MISSING = (
    f"transformers' own test mixins (ModelTesterMixin, ConfigTester) for transformers "
    f"{importlib.metadata.version('transformers')} are not in .cache/transformers-tests/: run `make install` or "
    "`python utils/fetch_transformers_tests.py` (downloads the transformers sdist from the package index)"
)


def tiny_config_fields(overrides: dict[str, Any]) -> dict[str, Any]:
    """`TINY_CONFIG_FIELDS` (and `ROBERTA_FAMILY_FIELDS` for a RoBERTa-family `backbone_type`) updated with `overrides`."""
    family = overrides.get("backbone_type", "bert")
    return {**TINY_CONFIG_FIELDS, **(ROBERTA_FAMILY_FIELDS if family != "bert" else {}), **overrides}


def tiny_config(**overrides: Any) -> CondenserConfig:
    """A tiny `CondenserConfig`: `TINY_CONFIG_FIELDS` updated with `overrides` (any `CondenserConfig` argument); with
    `backbone_type="roberta"` or `"xlm-roberta"`, `ROBERTA_FAMILY_FIELDS` too (under `overrides`)."""
    return CondenserConfig(**tiny_config_fields(overrides))


def tiny_model(
    model_class: type[CondenserPreTrainedModel], seed: int = 0, **overrides: Any
) -> CondenserPreTrainedModel:
    """A freshly initialised `model_class` of `tiny_config(**overrides)`, seeded, in eval mode."""
    torch.manual_seed(seed)
    return model_class(tiny_config(**overrides)).eval()


def tiny_bert_config(**overrides: Any) -> BertConfig:
    """The `BertConfig` of `tiny_config(**overrides)`'s backbone: its fields less `CONDENSER_ONLY_FIELDS`."""
    fields = {**TINY_CONFIG_FIELDS, **overrides}
    return BertConfig(**{key: value for key, value in fields.items() if key not in CONDENSER_ONLY_FIELDS})


def tiny_backbone_config(**overrides: Any) -> PreTrainedConfig:
    """The plain config of `tiny_config(**overrides)`'s backbone, of its family's class (`BertConfig`, `RobertaConfig`
    or `XLMRobertaConfig`): its fields less `CONDENSER_ONLY_FIELDS`."""
    fields = tiny_config_fields(overrides)
    config_class = BACKBONE_CONFIG_CLASSES[fields.get("backbone_type", "bert")]
    return config_class(**{key: value for key, value in fields.items() if key not in CONDENSER_ONLY_FIELDS})


def same_weights_other_config(model: CondenserPreTrainedModel, **overrides: Any) -> CondenserPreTrainedModel:
    """A `type(model)` with `model`'s exact weights and a config changed by `overrides` (shapes must not change)."""
    config = copy.deepcopy(model.config)
    for name, value in overrides.items():
        setattr(config, "_attn_implementation" if name == "attn_implementation" else name, value)
    config.validate_architecture()
    twin = type(model)(config)
    twin.load_state_dict(model.state_dict(), strict=True)
    return twin.eval()


def tiny_batch(
    config: CondenserConfig,
    batch_size: int = 4,
    seq_length: int | None = None,
    seed: int = 0,
    mask_probability: float = 0.3,
    labels: bool = True,
    span_pairs: bool = False,
    lengths: Sequence[int] | None = None,
) -> dict[str, torch.Tensor]:
    """A padded MLM batch for `config`.

    Row `i` has `seq_length - (i % 3)` real tokens (`seq_length` 10 by default; so most batches have padding), or
    `lengths[i]` when `lengths` is given (then `batch_size` is `len(lengths)`, `seq_length` `max(lengths)` by default):
    `[CLS]`, random word ids, `[SEP]`, then `[PAD]`s. About `mask_probability` of the word positions (at least one per row) are replaced by `[MASK]` and
    labelled with their original id; every other label is -100. `labels=False` leaves the labels out.
    `span_pairs=True` asks for coCondenser span pairs: `batch_size` must then be even (rows `2k` and `2k + 1` are the
    two spans of document `k`).
    """
    if lengths is not None:
        batch_size, seq_length = len(lengths), seq_length or max(lengths)
    seq_length = seq_length or 10
    if span_pairs and batch_size % 2:
        raise ValueError(f"coCondenser span pairs need an even batch size, got {batch_size}")
    row_lengths = list(lengths) if lengths is not None else [seq_length - row % 3 for row in range(batch_size)]
    if min(row_lengths) < 3 or max(row_lengths) > seq_length:
        raise ValueError(
            f"rows need [CLS], a word and [SEP] within seq_length {seq_length}, got lengths {row_lengths}"
        )
    if config.backbone_type == "bert":
        cls_id, sep_id, pad_id = CLS_ID, SEP_ID, PAD_ID
    else:
        cls_id, sep_id, pad_id = ROBERTA_BOS_ID, ROBERTA_EOS_ID, ROBERTA_PAD_ID
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(FIRST_WORD_ID, config.vocab_size, (batch_size, seq_length), generator=generator)
    attention_mask = torch.zeros(batch_size, seq_length, dtype=torch.long)
    token_type_ids = torch.zeros(batch_size, seq_length, dtype=torch.long)
    mlm_labels = torch.full((batch_size, seq_length), -100, dtype=torch.long)
    for row, length in enumerate(row_lengths):
        input_ids[row, 0], input_ids[row, length - 1] = cls_id, sep_id
        input_ids[row, length:] = pad_id
        attention_mask[row, :length] = 1
        if config.type_vocab_size > 1:
            token_type_ids[row, length // 2 : length] = 1
        words = torch.arange(1, length - 1)
        chosen = words[torch.rand(len(words), generator=generator) < mask_probability]
        if len(chosen) == 0:
            chosen = words[torch.randint(len(words), (1,), generator=generator)]
        mlm_labels[row, chosen] = input_ids[row, chosen]
        input_ids[row, chosen] = MASK_ID
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
    if labels:
        batch["labels"] = mlm_labels
    return batch


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """An uncased BERT-style WordPiece tokenizer over `TINY_VOCAB` (no download), adding `[CLS]` and `[SEP]`."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.WordPiece({piece: i for i, piece in enumerate(TINY_VOCAB)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=32,
    )


def save_tiny_pretraining_data(
    root: Path, num_documents: int, vocab_size: int
) -> tuple[PreTrainedTokenizerFast, dict[str, Path]]:
    """Save a tokenizer and both kinds of prepared dataset under `root`, for the tests that run `condenser-pretrain`.

    The tokenizer (`tokenizer/`) is `train_demo_tokenizer` over the first `num_documents` paragraphs of the demo corpus;
    each paragraph's first 30 token ids (paragraphs under 8 tokens left out) make one Condenser block (`blocks/`) and,
    cut in two halves, one coCondenser document of 2 spans (`spans/`).

    Returns:
        The tokenizer, and the folders by name: `root`, `tokenizer`, `blocks` and `spans`.
    """
    from datasets import Dataset

    from transformers_condenser.demo import load_demo_corpus, train_demo_tokenizer

    corpus = load_demo_corpus()[:num_documents]
    tokenizer = train_demo_tokenizer(corpus, vocab_size=vocab_size)
    tokenizer.save_pretrained(root / "tokenizer")
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"][:30] for text in corpus]
    ids = [row for row in ids if len(row) >= 8]
    Dataset.from_dict({"input_ids": ids}).save_to_disk(str(root / "blocks"))
    Dataset.from_dict({"spans": [[row[: len(row) // 2], row[len(row) // 2 :]] for row in ids]}).save_to_disk(
        str(root / "spans")
    )
    return tokenizer, {
        "root": root,
        "tokenizer": root / "tokenizer",
        "blocks": root / "blocks",
        "spans": root / "spans",
    }


def save_tiny_checkpoint(directory: str | Path, seed: int = 0, **overrides: Any) -> CondenserForPreTraining:
    """Save `tiny_model(CondenserForPreTraining, seed, ...)` over `TINY_VOCAB` and `tiny_tokenizer()` to `directory`.

    `overrides` go to `tiny_config` (the vocabulary size is `len(TINY_VOCAB)` unless overridden). Returns the model.
    """
    model = tiny_model(CondenserForPreTraining, seed, **{"vocab_size": len(TINY_VOCAB), **overrides})
    model.save_pretrained(directory)
    tiny_tokenizer().save_pretrained(directory)
    return model


__all__ = [
    "BACKBONE_CONFIG_CLASSES",
    "CLS_ID",
    "CONDENSER_ONLY_FIELDS",
    "FIRST_WORD_ID",
    "FOUR_LAYER_FIELDS",
    "MASK_ID",
    "NO_DROPOUT",
    "PAD_ID",
    "ROBERTA_BOS_ID",
    "ROBERTA_EOS_ID",
    "ROBERTA_FAMILY_FIELDS",
    "ROBERTA_PAD_ID",
    "SENSITIVE_FIELDS",
    "SEP_ID",
    "TINY_CONFIG_FIELDS",
    "TINY_VOCAB",
    "TRANSFORMERS_TESTS_AVAILABLE",
    "TRANSFORMERS_TESTS_MISSING",
    "same_weights_other_config",
    "save_tiny_checkpoint",
    "tiny_backbone_config",
    "tiny_batch",
    "tiny_bert_config",
    "tiny_config",
    "tiny_config_fields",
    "tiny_model",
    "tiny_tokenizer",
]


def run_cli(main: Callable[..., Any], argv: Sequence[str]) -> tuple[Any, str, str]:
    """Run a command-line tool's `main` in-process; return its exit status (returned, or raised as `SystemExit` by the
    error contract of `cli_utils.cli_entry_point`), its stdout and its stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            status = main(list(argv))
        except SystemExit as stop:
            status = stop.code
    return status, stdout.getvalue(), stderr.getvalue()
