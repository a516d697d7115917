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
"""PyTorch Condenser model: a BERT (or RoBERTa, XLM-RoBERTa) encoder pre-trained with a head that reads the last-layer
CLS vector.

Papers: "Condenser: a Pre-training Architecture for Dense Retrieval" (Gao & Callan, EMNLP 2021) and "Unsupervised
Corpus Aware Language Model Pre-training for Dense Passage Retrieval" (coCondenser, Gao & Callan, ACL 2022).

The backbone reuses transformers' building blocks of its family unchanged and keeps the family's weight names (`bert.*`
and `cls.*` for BERT, `roberta.*` and `lm_head.*` for RoBERTa and XLM-RoBERTa), so the family's checkpoints load into it
and it exports back to the plain model without renaming. Only the head (`head_layers.*`) and the losses are Condenser's
own. Hub behaviour lives in `hub_mixin`, the training kernels in `training_kernels` and the
contrastive loss in `loss_condenser`.
"""

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.bert.modeling_bert import (
    BertEmbeddings,
    BertEncoder,
    BertLayer,
    BertLMPredictionHead,
    BertOnlyMLMHead,
    BertSelfAttention,
)
from transformers.models.roberta.modeling_roberta import RobertaEmbeddings, RobertaLMHead
from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaEmbeddings, XLMRobertaLMHead
from transformers.processing_utils import Unpack
from transformers.utils import ModelOutput, TransformersKwargs, auto_docstring, logging
from transformers.utils.output_capturing import OutputRecorder, capture_outputs, maybe_install_capturing_hooks

from .configuration_condenser import CondenserConfig
from .hub_mixin import CondenserHubMixin
from .loss_condenser import contrastive_span_loss
from .training_kernels import RECOMPUTE_ATTENTION, layer_forward_at_rows, supports_row_selection


logger = logging.get_logger(__name__)


class BackboneFamily(NamedTuple):
    """What a backbone family (`config.backbone_type`) changes in a Condenser: the attribute holding the backbone (and
    so the weight prefix), the embeddings, and the MLM prediction head's attribute and class."""

    prefix: str
    embeddings: type[nn.Module]
    mlm_head_name: str
    mlm_head: type[nn.Module]


# The Transformer layers are `BertLayer`s for every family: transformers' modular source defines `RobertaLayer` (and
# so `XLMRobertaLayer`) as a `BertLayer` with nothing changed (models/roberta/modular_roberta.py); the generated
# classes compute the same and have the same weight names (the tests compare them).
BACKBONE_FAMILIES = {
    "bert": BackboneFamily("bert", BertEmbeddings, "cls", BertOnlyMLMHead),
    "roberta": BackboneFamily("roberta", RobertaEmbeddings, "lm_head", RobertaLMHead),
    "xlm-roberta": BackboneFamily("roberta", XLMRobertaEmbeddings, "lm_head", XLMRobertaLMHead),
}


def _is_integer_tensor(tensor: torch.Tensor) -> bool:
    return not (tensor.dtype.is_floating_point or tensor.dtype.is_complex or tensor.dtype == torch.bool)


@auto_docstring
class CondenserPreTrainedModel(CondenserHubMixin, PreTrainedModel):
    config: CondenserConfig
    # BERT's prefix; each instance takes its backbone family's (`roberta` for RoBERTa and XLM-RoBERTa), so that backbone
    # weights are named exactly as in a checkpoint of the family.
    base_model_prefix = "bert"
    supports_gradient_checkpointing = True
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _no_split_modules = ["BertEmbeddings", "RobertaEmbeddings", "XLMRobertaEmbeddings", "BertLayer"]
    _can_record_outputs = {
        "hidden_states": BertLayer,
        "attentions": BertSelfAttention,
    }

    def __init__(self, config: CondenserConfig, *inputs, **kwargs):
        super().__init__(config, *inputs, **kwargs)
        self.backbone_family = BACKBONE_FAMILIES[config.backbone_type]
        self.base_model_prefix = self.backbone_family.prefix

    def _init_weights(self, module: nn.Module) -> None:
        """BERT's initialisation, for the backbone, the MLM prediction head and the Condenser head alike.

        Linear weights and embedding rows ~ N(0, `initializer_range`), biases 0, the padding embedding row 0,
        LayerNorm weight 1 and bias 0. The `init` helpers skip tensors that were loaded from a checkpoint.
        """
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
            # Slicing drops the "loaded from a checkpoint" flag, so check it on the full weight.
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, (BertLMPredictionHead, RobertaLMHead, XLMRobertaLMHead)):
            init.zeros_(module.bias)
        elif isinstance(module, (BertEmbeddings, RobertaEmbeddings, XLMRobertaEmbeddings)):
            # Non-persistent buffers are never in a checkpoint: rebuild them.
            init.copy_(module.position_ids, torch.arange(module.position_ids.shape[-1]).expand((1, -1)))
            init.zeros_(module.token_type_ids)

    def _check_inputs(
        self,
        input_ids: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor | None = None,
    ) -> None:
        """Reject malformed inputs with a clear error before they reach torch.

        Shapes and dtypes are always checked. Token ids outside `[0, vocab_size)` are checked for CPU tensors outside
        `torch.compile` only: on an accelerator the check would make the host wait for the device on every forward
        (the package's collators check every batch on the CPU before it is moved).
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of `input_ids` or `inputs_embeds`.")
        name, inputs = ("input_ids", input_ids) if input_ids is not None else ("inputs_embeds", inputs_embeds)
        shape = tuple(inputs.shape[:2])
        if inputs.dim() != (2 if input_ids is not None else 3):
            expected = "(batch_size, sequence_length" + ("" if input_ids is not None else ", hidden_size") + ")"
            raise ValueError(
                f"`{name}` must be batched with shape {expected}, got {tuple(inputs.shape)}; add a batch dimension "
                "with `.unsqueeze(0)` or tokenize with `return_tensors='pt'`."
            )
        if shape[0] == 0 or shape[1] == 0:
            raise ValueError(f"Got an empty batch of shape {shape}; pass at least one non-empty sequence.")
        max_length = self.config.max_sequence_length
        if shape[1] > max_length:
            limit = (
                "`max_position_embeddings`"
                if max_length == self.config.max_position_embeddings
                else f"the positions of this {self.config.backbone_type} backbone (`max_position_embeddings - "
                "pad_token_id - 1`)"
            )
            raise ValueError(
                f"Sequence length {shape[1]} exceeds {limit} ({max_length}); truncate the inputs "
                f"(e.g. `tokenizer(..., truncation=True, max_length={max_length})`)."
            )
        if input_ids is not None:
            if not _is_integer_tensor(input_ids):
                raise TypeError(
                    f"`input_ids` must be an integer tensor of token ids (torch.long), got dtype {input_ids.dtype}; "
                    "convert with `input_ids.long()`."
                )
            if input_ids.device.type == "cpu" and not torch.compiler.is_compiling():
                low, high, vocab_size = int(input_ids.min()), int(input_ids.max()), self.config.vocab_size
                if low < 0 or high >= vocab_size:
                    raise ValueError(
                        f"`input_ids` holds token id {low if low < 0 else high}, outside the vocabulary "
                        f"[0, {vocab_size - 1}] of this model (config.vocab_size = {vocab_size}): the inputs were "
                        "tokenized with a different tokenizer. Use the tokenizer saved with the model, or resize the "
                        "embeddings with `model.resize_token_embeddings(len(tokenizer))` after adding tokens."
                    )
        if isinstance(attention_mask, torch.Tensor):
            mask_shape = tuple(attention_mask.shape)
            valid_4d = (
                len(mask_shape) == 4
                and mask_shape[0] in (1, shape[0])
                and mask_shape[1] in (1, self.config.num_attention_heads)
                and mask_shape[2:] == (shape[1], shape[1])
            )
            if mask_shape != shape and not valid_4d:
                raise ValueError(
                    f"`attention_mask` has shape {mask_shape} but the inputs have shape {shape}; pass the "
                    "(batch_size, sequence_length) padding mask the tokenizer returned with the inputs (or a 4D mask "
                    "of shape (batch_size, 1, sequence_length, sequence_length))."
                )
        if labels is not None:
            if tuple(labels.shape) != shape:
                raise ValueError(
                    f"`labels` has shape {tuple(labels.shape)} but the inputs have shape {shape}; labels need one "
                    "entry per input token (-100 where there is no target)."
                )
            if not _is_integer_tensor(labels):
                raise TypeError(
                    f"`labels` must be an integer tensor of token ids (torch.long), got dtype {labels.dtype}; "
                    "convert with `labels.long()`."
                )


@auto_docstring(
    custom_intro="""
    The Condenser backbone: a BERT, RoBERTa or XLM-RoBERTa encoder (`config.backbone_type`) without the family's
    pooler. `pooler_output` is the last-layer first-token vector (`[CLS]` for BERT, `<s>` for RoBERTa), with no extra
    weights: it is the Condenser / coCondenser dense-retrieval embedding.
    """
)
class CondenserModel(CondenserPreTrainedModel):
    # A pre-training checkpoint also holds the MLM prediction head and the Condenser head; loading only the backbone
    # from it drops them on purpose. Any other unexpected weight is still reported.
    _keys_to_ignore_on_load_unexpected = [r"^cls\.", r"^lm_head\.", r"^head_layers\."]

    def __init__(self, config: CondenserConfig):
        super().__init__(config)
        self.embeddings = self.backbone_family.embeddings(config)
        self.encoder = BertEncoder(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        """The word embeddings (tied to the MLM decoder in [`CondenserForPreTraining`])."""
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        """Replace the word embeddings (used by `resize_token_embeddings`)."""
        self.embeddings.word_embeddings = value

    @capture_outputs
    @auto_docstring
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[torch.Tensor] | BaseModelOutputWithPooling:
        r"""
        Returns:
            [`~modeling_outputs.BaseModelOutputWithPooling`] whose `pooler_output` (`torch.FloatTensor` of shape
            `(batch_size, hidden_size)`) is the last-layer CLS vector, i.e. `last_hidden_state[:, 0]`: use it as the
            dense-retrieval embedding (not mean pooling).

        Example:

        ```python
        >>> import torch
        >>> from transformers_condenser import CondenserConfig, CondenserModel

        >>> config = CondenserConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
        ...     intermediate_size=37, skip_from=2)
        >>> model = CondenserModel(config).eval()
        >>> input_ids = torch.tensor([[2, 15, 27, 3], [2, 42, 3, 0]])
        >>> outputs = model(input_ids, attention_mask=(input_ids != 0).long())
        >>> embeddings = outputs.pooler_output  # the CLS vectors
        >>> embeddings.shape
        torch.Size([2, 32])
        >>> torch.equal(embeddings, outputs.last_hidden_state[:, 0])
        True
        ```
        """
        self._check_inputs(input_ids, inputs_embeds, attention_mask)
        embedding_output = self.embeddings(
            input_ids=input_ids,
            position_ids=position_ids,
            token_type_ids=token_type_ids,
            inputs_embeds=inputs_embeds,
        )
        attention_mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=embedding_output, attention_mask=attention_mask
        )
        sequence_output = self.encoder(embedding_output, attention_mask=attention_mask, **kwargs).last_hidden_state
        return BaseModelOutputWithPooling(last_hidden_state=sequence_output, pooler_output=sequence_output[:, 0])


@auto_docstring(
    custom_intro="""
    Output type of [`CondenserForPreTraining`].
    """
)
@dataclass
class CondenserForPreTrainingOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
        Total pre-training loss: `head_mlm_loss + late_mlm_loss + contrastive_loss`, unweighted (`late_mlm_loss` only
        when `config.late_mlm`, `contrastive_loss` only when `config.cocondenser`).
    head_mlm_loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
        Masked-LM loss of the Condenser head, which sees `[last-layer CLS ; skip_from token states]`.
    late_mlm_loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided and
        `config.late_mlm`):
        Ordinary masked-LM loss on the backbone's last layer.
    contrastive_loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided and
        `config.cocondenser`):
        coCondenser's span-pair contrastive loss over this batch (see [`contrastive_span_loss`]).
    logits (`torch.FloatTensor`):
        Vocabulary scores of the Condenser head: shape `(batch_size, sequence_length, vocab_size)`, every position;
        with `labels` and `config.sparse_prediction` (the default) shape `(num_labelled, vocab_size)`, one row per
        position where `labels != -100`, in row-major order (`labels[labels != -100]` are their targets).
    late_logits (`torch.FloatTensor`, *optional*):
        Vocabulary scores of the backbone's last layer, laid out as `logits`; `None` with `labels` and
        `config.late_mlm=False`.
    cls_vectors (`torch.FloatTensor` of shape `(batch_size, hidden_size)`):
        Last-layer CLS vectors: the retrieval embeddings, and the inputs of the contrastive loss.
    """

    loss: torch.FloatTensor | None = None
    head_mlm_loss: torch.FloatTensor | None = None
    late_mlm_loss: torch.FloatTensor | None = None
    contrastive_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    late_logits: torch.FloatTensor | None = None
    cls_vectors: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@auto_docstring(
    custom_intro="""
    Condenser with its pre-training heads: the backbone, the family's MLM prediction head (BERT's `cls`, RoBERTa's
    `lm_head`; decoder tied to the word embeddings) and `config.n_head_layers` Transformer layers (the Condenser head). The head reads
    `[last-layer CLS ; token states of hidden state config.skip_from]` and predicts the masked tokens through the same,
    shared MLM prediction head. With `config.cocondenser`, it is coCondenser: a contrastive loss between the CLS
    vectors of two spans of each document is added (batches of span pairs `[d1s1, d1s2, d2s1, d2s2, ...]`); both
    variants read and write the same checkpoints. After pre-training, keep the backbone ([`CondenserModel`]).
    """
)
class CondenserForPreTraining(CondenserPreTrainedModel):
    # `hidden_states` and `attentions` are the backbone's (recorded by its own hooks); the head's layers are not.
    _can_record_outputs = {
        "hidden_states": OutputRecorder(BertLayer, layer_name="encoder"),
        "attentions": OutputRecorder(BertSelfAttention, index=1, layer_name="encoder"),
    }
    # BERT's; an instance with a RoBERTa-family backbone ties `lm_head.decoder` as `RobertaForMaskedLM` does.
    _tied_weights_keys = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }
    # A checkpoint of the original release keeps this model's head in a separate `model.pt`: see `hub_mixin`.
    _refuses_original_release = True

    def __init__(self, config: CondenserConfig):
        super().__init__(config)
        family = self.backbone_family
        # `self.bert` and `self.cls` for BERT, `self.roberta` and `self.lm_head` for RoBERTa and XLM-RoBERTa.
        setattr(self, family.prefix, CondenserModel(config))
        setattr(self, family.mlm_head_name, family.mlm_head(config))
        if family.mlm_head_name != "cls":
            self._tied_weights_keys = {
                "lm_head.decoder.weight": f"{family.prefix}.embeddings.word_embeddings.weight",
                "lm_head.decoder.bias": "lm_head.bias",
            }
        # Built on the backbone's own config object, so the head always uses the backbone's attention backend and the
        # mask format that backend expects.
        self.head_layers = nn.ModuleList([BertLayer(config) for _ in range(config.n_head_layers)])
        self.post_init()
        # Unlike the backbone alone, the pre-training model needs its head weights: report unexpected ones.
        self._keys_to_ignore_on_load_unexpected = set()
        # `output_hidden_states` / `output_attentions` record the backbone's layers through hooks. Installing them now
        # rather than lazily on the first such call keeps that lock-guarded step out of `torch.compile` graphs.
        maybe_install_capturing_hooks(self)

    def get_correct_attn_implementation(self, requested_attention: str | None, is_init_check: bool = False) -> str:
        """Default to `"sdpa_recompute"` (sdpa that recomputes the attention probabilities in backward where sdpa would
        keep them, see `training_kernels`) when no attention implementation is requested; else as requested."""
        if requested_attention is None:
            try:
                return super().get_correct_attn_implementation(RECOMPUTE_ATTENTION, is_init_check)
            except (ValueError, ImportError) as error:
                logger.info(f"{RECOMPUTE_ATTENTION} attention is not available ({error}); using the default backend.")
        return super().get_correct_attn_implementation(requested_attention, is_init_check)

    @property
    def mlm_head(self) -> nn.Module:
        """The shared MLM prediction head (`self.cls` for BERT, `self.lm_head` for RoBERTa and XLM-RoBERTa): hidden
        states in, vocabulary logits out."""
        return getattr(self, self.backbone_family.mlm_head_name)

    def _decoder_owner(self) -> nn.Module:
        # The module holding the MLM decoder and its bias.
        return self.cls.predictions if self.backbone_family.mlm_head_name == "cls" else self.mlm_head

    def get_output_embeddings(self) -> nn.Linear:
        """The decoder of the shared MLM prediction head, tied to the word embeddings."""
        return self._decoder_owner().decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        """Replace the MLM decoder, keeping the prediction head's bias tied to the decoder's bias."""
        owner = self._decoder_owner()
        owner.decoder = new_embeddings
        owner.bias = new_embeddings.bias

    def _loss_rows(self, labels: torch.Tensor, kwargs: dict) -> torch.Tensor | None:
        """With `config.sparse_prediction`, the positions the losses read, per sequence: CLS first, then the labelled
        positions in order, padded to the longest list with positions nobody reads. The last backbone layer and the
        last head layer then run at these rows only (`training_kernels.layer_forward_at_rows`).

        `None` (every layer at every position, same losses) where all positions are returned (`output_hidden_states`,
        `output_attentions`), inside `torch.compile` (the number of rows is data-dependent), or where a last layer
        must run as a module call (`training_kernels.supports_row_selection`).
        """
        if not self.config.sparse_prediction or torch.compiler.is_compiling():
            return None
        if any(
            kwargs.get(flag) or getattr(self.config, flag) for flag in ("output_hidden_states", "output_attentions")
        ):
            return None
        last_layers = (self.base_model.encoder.layer[-1], self.head_layers[-1])
        if not all(supports_row_selection(layer) for layer in last_layers):
            return None
        needed = labels != -100
        needed[:, 0] = True
        num_rows = int(needed.sum(dim=1).max())
        # A stable sort on "not needed" lists the needed positions first, in their order.
        return torch.sort((~needed).to(torch.int8), dim=1, stable=True).indices[:, :num_rows]

    def _mlm_logits_and_loss(
        self,
        hidden_states: torch.Tensor,
        labels: torch.Tensor,
        num_items_in_batch: torch.Tensor | int | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Vocabulary logits (of the labelled positions only with `config.sparse_prediction`) and the cross-entropy
        of the labelled positions, summed and divided by `num_items_in_batch` when given (the labelled positions of the
        whole gradient-accumulation batch, as `Trainer` passes it), else by this batch's (0, not NaN, for none)."""
        labelled = labels != -100
        if self.config.sparse_prediction:
            logits = selected = self.mlm_head(hidden_states[labelled])
        else:
            logits = self.mlm_head(hidden_states)
            selected = logits[labelled]
        targets = labels[labelled]
        denominator = num_items_in_batch if num_items_in_batch is not None else max(targets.numel(), 1)
        loss = F.cross_entropy(selected.float(), targets, reduction="sum") / denominator
        return logits, loss

    @capture_outputs
    @auto_docstring
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        compute_contrastive_loss: bool = True,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[torch.Tensor] | CondenserForPreTrainingOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            Masked-LM targets for both the head MLM and the late MLM losses. Indices in `[0, ...,
            config.vocab_size - 1]` are predicted; `-100` marks positions that carry no loss (unmasked tokens,
            special tokens, padding). Any integer dtype is accepted. With `config.cocondenser`, the batch must be
            pairs of spans `[d1s1, d1s2, d2s1, d2s2, ...]` (an even batch size).
        compute_contrastive_loss (`bool`, *optional*, defaults to `True`):
            With `config.cocondenser`: set to `False` to skip the contrastive loss (and the pair check), so that
            `loss` is the MLM loss alone. The gradient cache and distributed training compute the contrastive loss
            over the whole (global) batch from `cls_vectors` instead ([`~gradient_cache.gradient_cache_step`],
            [`~trainer.CondenserTrainer`]); the forward pass itself never communicates with other processes.

        Example:

        ```python
        >>> import torch
        >>> from transformers_condenser import CondenserConfig, CondenserForPreTraining

        >>> config = CondenserConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
        ...     intermediate_size=37, skip_from=2)
        >>> model = CondenserForPreTraining(config)
        >>> input_ids = torch.tensor([[2, 15, 4, 27, 3], [2, 42, 4, 3, 0]])  # 4 plays [MASK]
        >>> labels = torch.full_like(input_ids, -100)
        >>> labels[:, 2] = torch.tensor([31, 57])  # the masked tokens
        >>> outputs = model(input_ids, attention_mask=(input_ids != 0).long(), labels=labels)
        >>> torch.allclose(outputs.loss, outputs.head_mlm_loss + outputs.late_mlm_loss)
        True
        >>> outputs.logits.shape  # config.sparse_prediction: only the 2 labelled positions get vocabulary scores
        torch.Size([2, 100])

        >>> # coCondenser: the same model and weights, plus the contrastive loss over span pairs
        >>> model = CondenserForPreTraining(CondenserConfig.from_dict(config.to_dict(), cocondenser=True))
        >>> outputs = model(input_ids.repeat(2, 1), labels=labels.repeat(2, 1))  # 2 documents x 2 spans
        >>> torch.allclose(outputs.loss, outputs.head_mlm_loss + outputs.late_mlm_loss + outputs.contrastive_loss)
        True
        >>> outputs.cls_vectors.shape
        torch.Size([4, 32])
        ```
        """
        self._check_inputs(input_ids, inputs_embeds, attention_mask, labels)
        with_contrastive_loss = labels is not None and self.config.cocondenser and compute_contrastive_loss
        batch_size = (input_ids if input_ids is not None else inputs_embeds).shape[0]
        if with_contrastive_loss and batch_size % 2:
            raise ValueError(
                "coCondenser batches are pairs of spans of the same document, laid out [d1s1, d1s2, d2s1, d2s2, ...], "
                f"so the batch size must be even; got {batch_size} sequences."
            )
        skip_from = self.config.skip_from
        if not 1 <= skip_from <= self.config.num_hidden_layers - 1:
            # The config validates this at construction; this catches `model.config.skip_from = ...` set afterwards.
            raise ValueError(
                f"`config.skip_from` is {skip_from}, but it must be between 1 and num_hidden_layers - 1 "
                f"(= {self.config.num_hidden_layers - 1})."
            )
        if labels is not None:
            labels = labels.long()
        rows = self._loss_rows(labels, kwargs) if labels is not None else None
        # `capture_outputs` on `forward` reads these flags; the layers must not see them.
        kwargs.pop("output_hidden_states", None)
        kwargs.pop("output_attentions", None)
        # Passed by `Trainer` with gradient accumulation: the number of labelled positions of the whole accumulated batch.
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)

        # The backbone's own modules run here rather than `self.bert(...)` / `self.roberta(...)`: the head needs the
        # `skip_from` hidden state, and keeping that one tensor is cheaper than asking the backbone for all of them.
        backbone = self.base_model
        embedding_output = backbone.embeddings(
            input_ids=input_ids, position_ids=position_ids, token_type_ids=token_type_ids, inputs_embeds=inputs_embeds
        )
        attention_mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=embedding_output, attention_mask=attention_mask
        )

        def run_layers(layers: nn.ModuleList, hidden_states: torch.Tensor, keep: int | None = None):
            kept = None
            for depth, layer in enumerate(layers, start=1):
                if rows is not None and depth == len(layers):
                    hidden_states = layer_forward_at_rows(layer, hidden_states, attention_mask, rows, **kwargs)
                else:
                    hidden_states = layer(hidden_states, attention_mask, **kwargs)
                if depth == keep:
                    kept = hidden_states
            return hidden_states, kept

        sequence_output, skip_hidden_states = run_layers(backbone.encoder.layer, embedding_output, keep=skip_from)
        # Row 0 is the CLS position whether the last layer ran at every position or at the loss rows.
        cls_vectors = sequence_output[:, 0]
        # Head input: the last-layer CLS replaces the early CLS, the other positions keep their early states.
        head_input = torch.cat([cls_vectors.unsqueeze(1), skip_hidden_states[:, 1:]], dim=1)
        head_output, _ = run_layers(self.head_layers, head_input)

        loss = head_mlm_loss = late_mlm_loss = late_logits = contrastive_loss = None
        if labels is None:
            logits = self.mlm_head(head_output)
            late_logits = self.mlm_head(sequence_output)
        else:
            if rows is not None:
                labels = labels.gather(1, rows)
            logits, head_mlm_loss = self._mlm_logits_and_loss(head_output, labels, num_items_in_batch)
            loss = head_mlm_loss
            if self.config.late_mlm:
                late_logits, late_mlm_loss = self._mlm_logits_and_loss(sequence_output, labels, num_items_in_batch)
                loss = loss + late_mlm_loss
            if with_contrastive_loss:
                contrastive_loss = contrastive_span_loss(cls_vectors)
                loss = loss + contrastive_loss

        return CondenserForPreTrainingOutput(
            loss=loss,
            head_mlm_loss=head_mlm_loss,
            late_mlm_loss=late_mlm_loss,
            contrastive_loss=contrastive_loss,
            logits=logits,
            late_logits=late_logits,
            cls_vectors=cls_vectors,
        )


__all__ = [
    "CondenserForPreTraining",
    "CondenserForPreTrainingOutput",
    "CondenserModel",
    "CondenserPreTrainedModel",
]
