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
"""Condenser and coCondenser for Hugging Face transformers.

Importing this package registers the Condenser classes with transformers' Auto classes, so that
`AutoConfig`, `AutoModel` and `AutoModelForPreTraining` load Condenser checkpoints (`model_type: "condenser"`).
Registration is idempotent: importing twice is harmless.
"""

from transformers import AutoConfig, AutoModel, AutoModelForPreTraining, AutoTokenizer, BertTokenizer

from .collators import DataCollatorForCoCondenser, DataCollatorForCondenser, detect_word_boundary
from .configuration_condenser import CondenserConfig
from .conversion import convert_original_checkpoint, export_to_bert
from .data import PreparationReport, pack_sentences, prepare_dataset, sentence_starts
from .evaluation import (
    RetrievalTask,
    build_docstring_retrieval_task,
    compute_metrics,
    encode_texts,
    evaluate_retrieval,
    plot_loss_curves,
    plot_retrieval_comparison,
)
from .gradient_cache import gradient_cache_step
from .model_card import write_model_card
from .modeling_condenser import (
    CoCondenserForPreTraining,
    CoCondenserForPreTrainingOutput,
    CondenserForPreTraining,
    CondenserForPreTrainingOutput,
    CondenserModel,
    CondenserPreTrainedModel,
    contrastive_span_loss,
)
from .sentence_transformers_export import save_as_sentence_transformer
from .trainer import CondenserTrainer, CondenserTrainingArguments


__version__ = "0.1.0.dev0"

AutoConfig.register(CondenserConfig.model_type, CondenserConfig, exist_ok=True)
AutoModel.register(CondenserConfig, CondenserModel, exist_ok=True)
AutoModelForPreTraining.register(CondenserConfig, CondenserForPreTraining, exist_ok=True)
# Condenser checkpoints use BERT's tokenizer; this resolves it when `tokenizer_config.json` names no class.
AutoTokenizer.register(CondenserConfig, tokenizer_class=BertTokenizer, exist_ok=True)
# Saved checkpoints carry their code and an `auto_map`, for users who load them with `trust_remote_code=True`.
CondenserConfig.register_for_auto_class("AutoConfig")
CondenserModel.register_for_auto_class("AutoModel")
CondenserForPreTraining.register_for_auto_class("AutoModelForPreTraining")

__all__ = [
    "CoCondenserForPreTraining",
    "CoCondenserForPreTrainingOutput",
    "CondenserTrainer",
    "CondenserTrainingArguments",
    "contrastive_span_loss",
    "gradient_cache_step",
    "CondenserConfig",
    "DataCollatorForCoCondenser",
    "DataCollatorForCondenser",
    "PreparationReport",
    "RetrievalTask",
    "build_docstring_retrieval_task",
    "compute_metrics",
    "detect_word_boundary",
    "encode_texts",
    "evaluate_retrieval",
    "pack_sentences",
    "plot_loss_curves",
    "plot_retrieval_comparison",
    "prepare_dataset",
    "sentence_starts",
    "CondenserForPreTraining",
    "CondenserForPreTrainingOutput",
    "CondenserModel",
    "CondenserPreTrainedModel",
    "convert_original_checkpoint",
    "export_to_bert",
    "save_as_sentence_transformer",
    "write_model_card",
]
