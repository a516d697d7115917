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
- `tiny_batch(config, ...)`: `[CLS] tokens [SEP] [PAD]...` rows with padding, a few positions replaced by `[MASK]` and
  labelled with their original token (`-100` everywhere else), token types 0 then 1; with `span_pairs=True` the rows
  are coCondenser span pairs `[d1s1, d1s2, d2s1, d2s2, ...]`.
- `TRANSFORMERS_TESTS_AVAILABLE` / `TRANSFORMERS_TESTS_MISSING`: whether `transformers_tests` (transformers' own
  `ModelTesterMixin` and `ConfigTester`, put on `sys.path` by `tests/conftest.py`) can be imported, and the skip
  reason when it cannot.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from typing import Any

import torch

from transformers_condenser import CondenserConfig, CondenserPreTrainedModel


PAD_ID, CLS_ID, SEP_ID, MASK_ID = 0, 2, 3, 4
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

TRANSFORMERS_TESTS_AVAILABLE = importlib.util.find_spec("transformers_tests") is not None
TRANSFORMERS_TESTS_MISSING = (
    f"transformers' own test mixins (ModelTesterMixin, ConfigTester) for transformers "
    f"{importlib.metadata.version('transformers')} are not in .cache/transformers-tests/: run `make install` or "
    "`python utils/fetch_transformers_tests.py` (downloads the transformers sdist from the package index)"
)


def tiny_config(**overrides: Any) -> CondenserConfig:
    """A tiny `CondenserConfig`: `TINY_CONFIG_FIELDS` updated with `overrides` (any `CondenserConfig` argument)."""
    return CondenserConfig(**{**TINY_CONFIG_FIELDS, **overrides})


def tiny_model(
    model_class: type[CondenserPreTrainedModel], seed: int = 0, **overrides: Any
) -> CondenserPreTrainedModel:
    """A freshly initialised `model_class` of `tiny_config(**overrides)`, seeded, in eval mode."""
    torch.manual_seed(seed)
    return model_class(tiny_config(**overrides)).eval()


def tiny_batch(
    config: CondenserConfig,
    batch_size: int = 4,
    seq_length: int = 10,
    seed: int = 0,
    mask_probability: float = 0.3,
    labels: bool = True,
    span_pairs: bool = False,
) -> dict[str, torch.Tensor]:
    """A padded MLM batch for `config`.

    Row `i` has `seq_length - (i % 3)` real tokens (so most batches have padding): `[CLS]`, random word ids, `[SEP]`,
    then `[PAD]`s. About `mask_probability` of the word positions (at least one per row) are replaced by `[MASK]` and
    labelled with their original id; every other label is -100. `labels=False` leaves the labels out.
    `span_pairs=True` asks for coCondenser span pairs: `batch_size` must then be even (rows `2k` and `2k + 1` are the
    two spans of document `k`).
    """
    if span_pairs and batch_size % 2:
        raise ValueError(f"coCondenser span pairs need an even batch size, got {batch_size}")
    if seq_length < 5:
        raise ValueError(f"seq_length must leave room for [CLS], [SEP] and padding, got {seq_length}")
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(FIRST_WORD_ID, config.vocab_size, (batch_size, seq_length), generator=generator)
    attention_mask = torch.zeros(batch_size, seq_length, dtype=torch.long)
    token_type_ids = torch.zeros(batch_size, seq_length, dtype=torch.long)
    mlm_labels = torch.full((batch_size, seq_length), -100, dtype=torch.long)
    for row in range(batch_size):
        length = seq_length - row % 3
        input_ids[row, 0], input_ids[row, length - 1] = CLS_ID, SEP_ID
        input_ids[row, length:] = PAD_ID
        attention_mask[row, :length] = 1
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


__all__ = [
    "CLS_ID",
    "FIRST_WORD_ID",
    "MASK_ID",
    "PAD_ID",
    "SEP_ID",
    "TINY_CONFIG_FIELDS",
    "TRANSFORMERS_TESTS_AVAILABLE",
    "TRANSFORMERS_TESTS_MISSING",
    "tiny_batch",
    "tiny_config",
    "tiny_model",
]
