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
"""Condenser model configuration"""

import os

from huggingface_hub.dataclasses import strict
from transformers import BertConfig
from transformers.utils import logging


logger = logging.get_logger(__name__)

# The backbone families a Condenser is built on, by their transformers `model_type`: the same Transformer layers
# (transformers defines RoBERTa's and XLM-RoBERTa's layers as BERT's), with the family's own embeddings, MLM
# prediction head and weight names.
BACKBONE_TYPES = ("bert", "roberta", "xlm-roberta")
# How messages, cards and docs name each family.
BACKBONE_DISPLAY_NAMES = {"bert": "BERT", "roberta": "RoBERTa", "xlm-roberta": "XLM-RoBERTa"}


@strict
class CondenserConfig(BertConfig):
    r"""
    This is the configuration class to store the configuration of a [`CondenserModel`] or a
    [`CondenserForPreTraining`]. It holds every BERT hyperparameter (with the defaults of
    [google-bert/bert-base-uncased](https://huggingface.co/google-bert/bert-base-uncased)) plus the three settings of
    the Condenser pre-training head. Instantiating a configuration with the defaults yields the architecture of the
    paper: a BERT-base backbone whose 6th layer feeds a 2-layer head.

    The backbone is BERT, RoBERTa or XLM-RoBERTa (`backbone_type`): the same classes serve every family. The easiest
    way to get a RoBERTa-family configuration is to read it from a checkpoint of that family
    (`CondenserConfig.from_pretrained(roberta_path, skip_from=6)`), which keeps its hyperparameters; the defaults below
    are BERT-base's whatever `backbone_type` is.

    Configuration objects inherit from [`~transformers.PreTrainedConfig`] and can be used to control the model outputs.
    Read the documentation from [`~transformers.PreTrainedConfig`] for more information.

    Args:
        vocab_size (`int`, *optional*, defaults to 30522):
            Vocabulary size of the model: the number of different tokens that can be represented by `input_ids`.
        hidden_size (`int`, *optional*, defaults to 768):
            Dimensionality of the encoder layers, of the head layers and of the CLS embedding.
        num_hidden_layers (`int`, *optional*, defaults to 12):
            Number of hidden layers in the backbone encoder.
        num_attention_heads (`int`, *optional*, defaults to 12):
            Number of attention heads of every attention layer (backbone and head). Must divide `hidden_size`.
        intermediate_size (`int`, *optional*, defaults to 3072):
            Dimensionality of the feed-forward layer of every Transformer layer.
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            The non-linear activation function of the feed-forward layers and of the MLM prediction head.
        hidden_dropout_prob (`float`, *optional*, defaults to 0.1):
            The dropout probability of the embeddings and of all fully connected layers.
        attention_probs_dropout_prob (`float`, *optional*, defaults to 0.1):
            The dropout probability of the attention probabilities.
        max_position_embeddings (`int`, *optional*, defaults to 512):
            The maximum sequence length the model accepts.
        type_vocab_size (`int`, *optional*, defaults to 2):
            The vocabulary size of `token_type_ids`.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initializer of every weight matrix and embedding (backbone and head).
        layer_norm_eps (`float`, *optional*, defaults to 1e-12):
            The epsilon of the layer normalization layers.
        pad_token_id (`int`, *optional*, defaults to 0):
            The id of the padding token; its embedding row is initialised to zero. With a RoBERTa-family backbone it
            is also the padding index of the position embeddings: positions count from `pad_token_id + 1`.
        tie_word_embeddings (`bool`, *optional*, defaults to `True`):
            Whether the decoder of the MLM prediction head shares its weight with the input word embeddings.
        skip_from (`int`, *optional*, defaults to 6):
            Index of the early hidden state that feeds the Condenser head, in the transformers convention where index
            0 is the embedding output and index `i` the output of layer `i`. Valid values: 1 to
            `num_hidden_layers - 1`.
        n_head_layers (`int`, *optional*, defaults to 2):
            Number of Transformer layers in the Condenser head (used during pre-training only). At least 1.
        late_mlm (`bool`, *optional*, defaults to `True`):
            Whether the pre-training loss adds the ordinary MLM loss on the last layer ("late MLM") to the head MLM
            loss, as in the paper.
        sparse_prediction (`bool`, *optional*, defaults to `True`):
            Whether [`CondenserForPreTraining`], given `labels`, computes vocabulary logits only at the labelled
            positions (`logits` of shape `(num_labelled, vocab_size)`) and runs its last backbone layer and last head
            layer only at the CLS and labelled positions: the losses are the same, and no
            `(batch_size, sequence_length, vocab_size)` tensor is built. As ModernBERT's field of the same name, but on
            by default: the pre-training model exists to be trained, and at BERT-base size the dense logits dominate
            the step. Set `False` for logits at every position. Without `labels`, logits are always dense.
        cocondenser (`bool`, *optional*, defaults to `False`):
            Whether [`CondenserForPreTraining`] is coCondenser: given `labels`, it adds the corpus-level contrastive
            loss between the last-layer CLS vectors of the two spans of each document (batches of span pairs
            `[d1s1, d1s2, d2s1, d2s2, ...]`). Adds no weights: Condenser and coCondenser checkpoints are the same.
        backbone_type (`str`, *optional*, defaults to `"bert"`):
            The backbone family, by its transformers `model_type`: `"bert"`, `"roberta"` or `"xlm-roberta"`. It
            decides the embeddings (RoBERTa's count positions from `pad_token_id + 1` and skip padding), the MLM
            prediction head (BERT's `cls.predictions` or RoBERTa's `lm_head`) and the weight names (`bert.*` or
            `roberta.*`), all as in the family's own transformers models, so that checkpoints load both ways without
            renaming. Set from the checkpoint when warm-starting from a BERT, RoBERTa or XLM-RoBERTa model.

    The remaining BERT fields (`is_decoder`, `add_cross_attention`, `use_cache`, `classifier_dropout`, ...) are kept
    so that BERT configurations convert losslessly; Condenser is a bidirectional encoder, so `is_decoder` and
    `add_cross_attention` must stay `False`.

    Examples:

    ```python
    >>> from transformers_condenser import CondenserConfig, CondenserModel

    >>> # A bert-base-uncased shaped Condenser with the paper's head: layer 6 feeds a 2-layer head
    >>> configuration = CondenserConfig()
    >>> (configuration.skip_from, configuration.n_head_layers, configuration.late_mlm)
    (6, 2, True)

    >>> # A tiny model with random weights
    >>> model = CondenserModel(CondenserConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
    ...     intermediate_size=37, skip_from=2))
    >>> model.config.skip_from
    2

    >>> # A RoBERTa backbone: RoBERTa's padding index 1, so positions run from 2 to 2 + 510 - 1
    >>> roberta_configuration = CondenserConfig(backbone_type="roberta", pad_token_id=1, max_position_embeddings=514)
    >>> roberta_configuration.max_sequence_length
    512
    ```"""

    model_type = "condenser"

    skip_from: int = 6
    n_head_layers: int = 2
    late_mlm: bool = True
    sparse_prediction: bool = True
    cocondenser: bool = False
    backbone_type: str = "bert"

    def __post_init__(self, **kwargs):
        # `model_type` is a class attribute; a converted BERT config dict carries "bert", which must not shadow it.
        kwargs.pop("model_type", None)
        # Fields of transformers 4.x BERT configs (e.g. the original Condenser releases) that 5.x BERT layers dropped.
        kwargs.pop("gradient_checkpointing", None)
        # A derived property of this class, never a field.
        kwargs.pop("max_sequence_length", None)
        # Saved by transformers-condenser before 0.1: now the "sdpa_recompute" attention implementation.
        if kwargs.pop("recompute_attention", None) is False:
            logger.warning_once(
                "`recompute_attention` is no longer a configuration field and `recompute_attention=False` is ignored: "
                'the pre-training model\'s default attention is "sdpa_recompute"; pass `attn_implementation="sdpa"` '
                "to keep the attention probabilities instead."
            )
        position_embedding_type = kwargs.pop("position_embedding_type", "absolute")
        if position_embedding_type != "absolute":
            raise ValueError(
                f"`position_embedding_type` is {position_embedding_type!r}, but transformers 5 BERT layers (and so "
                "Condenser) only implement absolute position embeddings; start from a checkpoint that uses them."
            )
        super().__post_init__(**kwargs)
        # `@strict` runs `validate_architecture` after `__init__` too, but wraps its errors in a class that is not a
        # `ValueError`; running it here first gives users a plain `ValueError` at construction.
        self.validate_architecture()

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        cache_dir: str | os.PathLike | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        token: str | bool | None = None,
        revision: str = "main",
        **kwargs,
    ) -> "CondenserConfig":
        """Like [`~transformers.PreTrainedConfig.from_pretrained`], and it also reads the configuration of a BERT,
        RoBERTa or XLM-RoBERTa checkpoint (`model_type` `"bert"`, `"roberta"` or `"xlm-roberta"`) to warm-start a
        Condenser from it: the backbone hyperparameters are kept, `backbone_type` records the family, and the
        Condenser fields take their defaults or the values passed as keyword arguments (e.g. `skip_from=3`). Any other
        model type raises a `ValueError` that names the supported ones."""
        kwargs.update(
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
            revision=revision,
        )
        config_dict, kwargs = cls.get_config_dict(pretrained_model_name_or_path, **kwargs)
        model_type = config_dict.get("model_type", cls.model_type)
        if model_type != cls.model_type and model_type not in BACKBONE_TYPES:
            raise ValueError(
                f"{pretrained_model_name_or_path} holds a `{model_type}` configuration, but a Condenser can only be "
                f"built from a Condenser checkpoint or from a checkpoint of a supported backbone family "
                f"({_supported_backbones()}); start from such a checkpoint or build a `CondenserConfig` by hand."
            )
        if model_type != cls.model_type:
            logger.info(
                f"Reading the `{model_type}` configuration of {pretrained_model_name_or_path} into a CondenserConfig."
            )
        return cls.from_dict(config_dict, **kwargs)

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs) -> "CondenserConfig":
        """Like [`~transformers.PreTrainedConfig.from_dict`], but field overrides in `kwargs` are applied before
        validation, so that e.g. a 6-layer BERT config loads with `skip_from=3` (the default of 6 would be invalid)."""
        overrides = {key: kwargs.pop(key) for key in list(kwargs) if key in cls.__dataclass_fields__}
        # The configuration of a backbone checkpoint (BERT, RoBERTa, XLM-RoBERTa) names its family in `model_type`.
        model_type = config_dict.get("model_type")
        family = config_dict.get("backbone_type", model_type if model_type in BACKBONE_TYPES else None)
        if model_type == cls.model_type and family is None:
            family = "bert"  # saved before `backbone_type` existed
        if "backbone_type" in overrides and family is not None and overrides["backbone_type"] != family:
            raise ValueError(
                f"`backbone_type={overrides['backbone_type']!r}` was passed, but the checkpoint's backbone is "
                f"{family!r}: its weights are named and laid out for that family. Leave `backbone_type` out when "
                "loading a checkpoint."
            )
        config_dict = {**config_dict, **overrides}
        if "backbone_type" not in config_dict and family is not None:
            config_dict["backbone_type"] = family
        # A derived property, not a field (written by nothing, but a hand-edited config.json may hold it).
        config_dict.pop("max_sequence_length", None)
        # Saved by the `CoCondenserForPreTraining` class of transformers-condenser before 0.1, which had no field.
        if "cocondenser" not in config_dict and "CoCondenserForPreTraining" in (
            config_dict.get("architectures") or []
        ):
            logger.info("A CoCondenserForPreTraining checkpoint: loading it with `cocondenser=True`.")
            config_dict["cocondenser"] = True
        return super().from_dict(config_dict, **kwargs)

    @property
    def max_sequence_length(self) -> int:
        """The longest input the position embeddings cover: `max_position_embeddings` for BERT; for a RoBERTa-family
        backbone, whose positions count from `pad_token_id + 1`, `max_position_embeddings - pad_token_id - 1` (512 for
        roberta-base and xlm-roberta-base)."""
        if self.backbone_type == "bert":
            return self.max_position_embeddings
        return self.max_position_embeddings - self.pad_token_id - 1

    def validate_architecture(self):
        """Part of `@strict`-powered validation: checks the fields that shape the model."""
        super().validate_architecture()
        if self.backbone_type not in BACKBONE_TYPES:
            raise ValueError(
                f"`backbone_type` is {self.backbone_type!r}, but Condenser supports the backbone families "
                f"{_supported_backbones()}; pass one of them (or warm-start from such a checkpoint)."
            )
        if self.backbone_type != "bert":
            if not isinstance(self.pad_token_id, int) or not 0 <= self.pad_token_id < self.vocab_size:
                raise ValueError(
                    f"`pad_token_id` is {self.pad_token_id!r}, but a {self.backbone_type} backbone counts positions "
                    f"from the padding index and needs a `pad_token_id` in [0, vocab_size - 1] (RoBERTa's is 1)."
                )
            if self.max_sequence_length < 1:
                raise ValueError(
                    f"`max_position_embeddings` ({self.max_position_embeddings}) leaves no position for tokens: a "
                    f"{self.backbone_type} backbone counts positions from `pad_token_id + 1` "
                    f"(= {self.pad_token_id + 1}); set `max_position_embeddings` to at least {self.pad_token_id + 2}."
                )
        if self.num_attention_heads < 1 or self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"`hidden_size` ({self.hidden_size}) must be divisible by `num_attention_heads` "
                f"({self.num_attention_heads}); choose a number of heads that divides the hidden size."
            )
        if self.num_hidden_layers < 2:
            raise ValueError(
                f"`num_hidden_layers` is {self.num_hidden_layers}, but a Condenser needs at least 2 backbone layers: "
                "the head reads an early layer (`skip_from`) that must come before the last one."
            )
        if not 1 <= self.skip_from <= self.num_hidden_layers - 1:
            raise ValueError(
                f"`skip_from` is {self.skip_from}, but it must be between 1 and num_hidden_layers - 1 "
                f"(= {self.num_hidden_layers - 1}): it indexes the early hidden state (1 = output of the first layer) "
                "that feeds the Condenser head. For a shallower backbone pass e.g. "
                "`from_pretrained(path, skip_from=num_hidden_layers // 2)`."
            )
        if self.n_head_layers < 1:
            raise ValueError(
                f"`n_head_layers` is {self.n_head_layers}, but the Condenser head needs at least 1 layer "
                "(the paper uses 2)."
            )
        if self.is_decoder or self.add_cross_attention:
            raise ValueError(
                f"Condenser is a bidirectional encoder, but got is_decoder={self.is_decoder} and "
                f"add_cross_attention={self.add_cross_attention}; set both to False."
            )


def _supported_backbones() -> str:
    return ", ".join(f'`model_type: "{model_type}"`' for model_type in BACKBONE_TYPES)


__all__ = ["CondenserConfig"]
