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

Everything else is imported on first use, as transformers does: `import transformers_condenser` loads only the
configuration and the models (torch and transformers), never the optional dependencies of pre-training or evaluation
(`datasets`, `accelerate`, `ir_measures`, `matplotlib`...; see the extras in `setup.py`). A name whose extra is
missing raises an `ImportError` that gives the `pip install` command.
"""

import sys
from typing import TYPE_CHECKING

from transformers import AutoConfig, AutoModel, AutoModelForPreTraining, AutoTokenizer, BertTokenizer
from transformers.utils import _LazyModule

from .configuration_condenser import CondenserConfig
from .modeling_condenser import CondenserForPreTraining, CondenserModel


__version__ = "0.1.0.dev0"

# Each module with the public names it defines (transformers' `_import_structure`); the package imports a module
# (other than the two above, needed for the registration below) on first use of one of its names.
_import_structure = {
    "configuration_condenser": ["CondenserConfig"],
    "modeling_condenser": [
        "CondenserForPreTraining",
        "CondenserForPreTrainingOutput",
        "CondenserModel",
        "CondenserPreTrainedModel",
    ],
    "loss_condenser": ["contrastive_span_loss"],
    "beir_evaluation": [
        "BeirData",
        "EvaluationSettings",
        "RetrievalEvaluationCallback",
        "check_lengths",
        "evaluate_beir",
        "load_beir_folder",
        "max_input_length",
        "passage_text",
        "retrieval_metrics",
        "run_evaluation",
        "write_trec_run",
    ],
    "collators": ["DataCollatorForCoCondenser", "DataCollatorForCondenser", "detect_word_boundary"],
    "conversion": ["convert_original_checkpoint", "export_backbone", "export_to_bert"],
    "data": ["PreparationReport", "check_prepared_dataset", "pack_sentences", "prepare_dataset", "sentence_starts"],
    "evaluation": [
        "RetrievalTask",
        "build_docstring_retrieval_task",
        "compute_metrics",
        "encode_texts",
        "evaluate_retrieval",
        "plot_loss_curves",
        "plot_retrieval_comparison",
    ],
    "gradient_cache": ["gradient_cache_step"],
    "model_card": ["write_model_card"],
    "sentence_transformers_export": ["save_as_sentence_transformer"],
    "trainer": ["CondenserTrainer", "CondenserTrainingArguments"],
}

# The same names, literally, for static analysis (type checkers, IDEs, linters).
__all__ = [
    "CondenserConfig",
    "CondenserForPreTraining",
    "CondenserForPreTrainingOutput",
    "CondenserModel",
    "CondenserPreTrainedModel",
    "contrastive_span_loss",
    "DataCollatorForCoCondenser",
    "DataCollatorForCondenser",
    "detect_word_boundary",
    "convert_original_checkpoint",
    "export_backbone",
    "export_to_bert",
    "PreparationReport",
    "check_prepared_dataset",
    "pack_sentences",
    "prepare_dataset",
    "sentence_starts",
    "RetrievalTask",
    "build_docstring_retrieval_task",
    "compute_metrics",
    "encode_texts",
    "evaluate_retrieval",
    "plot_loss_curves",
    "plot_retrieval_comparison",
    "BeirData",
    "EvaluationSettings",
    "RetrievalEvaluationCallback",
    "check_lengths",
    "evaluate_beir",
    "load_beir_folder",
    "max_input_length",
    "passage_text",
    "retrieval_metrics",
    "run_evaluation",
    "write_trec_run",
    "gradient_cache_step",
    "write_model_card",
    "save_as_sentence_transformer",
    "CondenserTrainer",
    "CondenserTrainingArguments",
]

AutoConfig.register(CondenserConfig.model_type, CondenserConfig, exist_ok=True)
AutoModel.register(CondenserConfig, CondenserModel, exist_ok=True)
AutoModelForPreTraining.register(CondenserConfig, CondenserForPreTraining, exist_ok=True)
# Condenser checkpoints use BERT's tokenizer; this resolves it when `tokenizer_config.json` names no class.
AutoTokenizer.register(CondenserConfig, tokenizer_class=BertTokenizer, exist_ok=True)
# Saved checkpoints carry their code and an `auto_map`, for users who load them with `trust_remote_code=True`.
CondenserConfig.register_for_auto_class("AutoConfig")
CondenserModel.register_for_auto_class("AutoModel")
CondenserForPreTraining.register_for_auto_class("AutoModelForPreTraining")

if TYPE_CHECKING:
    from .beir_evaluation import (
        BeirData,
        EvaluationSettings,
        RetrievalEvaluationCallback,
        check_lengths,
        evaluate_beir,
        load_beir_folder,
        max_input_length,
        passage_text,
        retrieval_metrics,
        run_evaluation,
        write_trec_run,
    )
    from .collators import DataCollatorForCoCondenser, DataCollatorForCondenser, detect_word_boundary
    from .conversion import convert_original_checkpoint, export_backbone, export_to_bert
    from .data import PreparationReport, check_prepared_dataset, pack_sentences, prepare_dataset, sentence_starts
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
    from .loss_condenser import contrastive_span_loss
    from .model_card import write_model_card
    from .modeling_condenser import CondenserForPreTrainingOutput, CondenserPreTrainedModel
    from .sentence_transformers_export import save_as_sentence_transformer
    from .trainer import CondenserTrainer, CondenserTrainingArguments
else:
    _lazy_module = _LazyModule(
        __name__,
        globals()["__file__"],
        _import_structure,
        module_spec=__spec__,
        extra_objects={"__version__": __version__},
    )
    # `_LazyModule` also lists the submodules in `__all__`; the public API is the names alone.
    _lazy_module.__all__ = __all__
    _lazy_module.__doc__ = __doc__
    sys.modules[__name__] = _lazy_module
