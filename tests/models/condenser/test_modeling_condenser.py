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
"""The common model checks, run on `CondenserModel` and `CondenserForPreTraining`."""

from __future__ import annotations

import unittest
from typing import Any

import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling

from tests.test_modeling_common import ModelTesterMixin
from transformers_condenser import (
    CondenserConfig,
    CondenserForPreTraining,
    CondenserForPreTrainingOutput,
    CondenserModel,
    CondenserPreTrainedModel,
)


class CondenserModelTester:
    """Builds a tiny `CondenserConfig` and random, seeded inputs for the common model checks."""

    def __init__(
        self,
        parent: unittest.TestCase,
        batch_size: int = 3,
        seq_length: int = 9,
        vocab_size: int = 99,
        hidden_size: int = 32,
        num_hidden_layers: int = 4,
        num_attention_heads: int = 4,
        intermediate_size: int = 37,
        type_vocab_size: int = 2,
        max_position_embeddings: int = 64,
        skip_from: int = 2,
        n_head_layers: int = 2,
        mlm_probability: float = 0.15,
        seed: int = 0,
    ):
        self.parent = parent
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.type_vocab_size = type_vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.skip_from = skip_from
        self.n_head_layers = n_head_layers
        self.mlm_probability = mlm_probability
        self.seed = seed

    def get_config(self) -> CondenserConfig:
        return CondenserConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            type_vocab_size=self.type_vocab_size,
            max_position_embeddings=self.max_position_embeddings,
            skip_from=self.skip_from,
            n_head_layers=self.n_head_layers,
        )

    def prepare_config_and_inputs(self) -> tuple[CondenserConfig, dict[str, torch.Tensor]]:
        generator = torch.Generator().manual_seed(self.seed)
        shape = (self.batch_size, self.seq_length)
        # Ids from 1: 0 is the padding token.
        input_ids = torch.randint(1, self.vocab_size, shape, generator=generator)
        attention_mask = (torch.rand(shape, generator=generator) > 0.2).long()
        attention_mask[:, 0] = 1
        attention_mask[0, -1] = 0  # at least one masked-out token in the batch
        token_type_ids = torch.randint(self.type_vocab_size, shape, generator=generator)
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        return self.get_config(), inputs

    def prepare_config_and_inputs_for_common(self) -> tuple[CondenserConfig, dict[str, torch.Tensor]]:
        return self.prepare_config_and_inputs()

    def make_mlm_labels(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """About `mlm_probability` of the attended non-CLS positions labelled with their token, at least one per row,
        -100 elsewhere."""
        generator = torch.Generator().manual_seed(self.seed + 1)
        candidates = attention_mask.bool().clone()
        candidates[:, 0] = False
        chosen = (torch.rand(input_ids.shape, generator=generator) < self.mlm_probability) & candidates
        for row in range(input_ids.shape[0]):
            if not chosen[row].any():
                positions = candidates[row].nonzero().flatten()
                chosen[row, positions[torch.randint(len(positions), (1,), generator=generator)]] = True
        return torch.where(chosen, input_ids, torch.full_like(input_ids, -100))


class CondenserModelTest(ModelTesterMixin, unittest.TestCase):
    all_model_classes = (CondenserModel, CondenserForPreTraining)
    pretrained_model_class = CondenserPreTrainedModel
    # Both classes compile without graph breaks, labels (data-dependent label selection) included.
    torch_compile_fullgraph = True
    output_types = {
        CondenserModel: BaseModelOutputWithPooling,
        CondenserForPreTraining: CondenserForPreTrainingOutput,
    }

    def setUp(self):
        self.model_tester = CondenserModelTester(self)

    def _prepare_for_class(
        self, inputs_dict: dict[str, Any], model_class: type, return_labels: bool = False
    ) -> dict[str, Any]:
        inputs = super()._prepare_for_class(inputs_dict, model_class, return_labels=return_labels)
        if return_labels and model_class is CondenserForPreTraining:
            inputs["labels"] = self.model_tester.make_mlm_labels(inputs["input_ids"], inputs["attention_mask"])
        return inputs


if __name__ == "__main__":
    unittest.main()
