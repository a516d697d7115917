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
"""PyTorch Condenser model: a BERT encoder pre-trained with a head that reads the last-layer CLS vector.

Papers: "Condenser: a Pre-training Architecture for Dense Retrieval" (Gao & Callan, EMNLP 2021) and "Unsupervised
Corpus Aware Language Model Pre-training for Dense Passage Retrieval" (coCondenser, Gao & Callan, ACL 2022).

The backbone reuses transformers' BERT building blocks unchanged and keeps BERT's weight names (`bert.*`, `cls.*`), so
BERT checkpoints load into it and it exports back to plain BERT without renaming. Only the head (`head_layers.*`) and
the two losses are Condenser's own.
"""

import os
from dataclasses import dataclass

import torch
from torch import distributed as dist
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.bert.modeling_bert import (
    BertEmbeddings,
    BertEncoder,
    BertLayer,
    BertLMPredictionHead,
    BertOnlyMLMHead,
    BertSelfAttention,
    eager_attention_forward,
)
from transformers.processing_utils import Unpack
from transformers.utils import ModelOutput, TransformersKwargs, auto_docstring, logging
from transformers.utils.output_capturing import OutputRecorder, capture_outputs, maybe_install_capturing_hooks

from .configuration_condenser import CondenserConfig


logger = logging.get_logger(__name__)

# Where `trust_remote_code=True` finds each class in a saved checkpoint (the code files are saved next to the weights).
CONDENSER_AUTO_MAP = {
    "AutoConfig": "configuration_condenser.CondenserConfig",
    "AutoModel": "modeling_condenser.CondenserModel",
    "AutoModelForPreTraining": "modeling_condenser.CondenserForPreTraining",
}


@auto_docstring
class CondenserPreTrainedModel(PreTrainedModel):
    config: CondenserConfig
    # BERT's prefix: backbone weights are named exactly as in a BERT checkpoint.
    base_model_prefix = "bert"
    supports_gradient_checkpointing = True
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _no_split_modules = ["BertEmbeddings", "BertLayer"]
    _can_record_outputs = {
        "hidden_states": BertLayer,
        "attentions": BertSelfAttention,
    }

    def save_pretrained(self, save_directory: str | os.PathLike, *args, **kwargs) -> None:
        """Save like [`~transformers.PreTrainedModel.save_pretrained`], plus this file and
        `configuration_condenser.py` and an `auto_map` in `config.json` for `AutoConfig`, `AutoModel` and
        `AutoModelForPreTraining`, so that the checkpoint also loads with `trust_remote_code=True` where
        `transformers_condenser` is not installed."""
        self.config.auto_map = dict(CONDENSER_AUTO_MAP)
        return super().save_pretrained(save_directory, *args, **kwargs)

    def push_to_hub(self, repo_id: str, *args, model_card_kwargs: dict | None = None, **kwargs) -> str:
        """Upload the model like [`~transformers.PreTrainedModel.push_to_hub`], with a Condenser model card.

        When the Hub repository has no `README.md` (or only transformers' generic auto-generated card), the uploaded
        `README.md` is the card of `transformers_condenser.model_card.write_model_card`: metadata, description, usage
        snippet, published results and citations. An existing hand-written card in the repository is kept (only tags
        are added) unless `model_card_kwargs` is passed: then the Condenser card replaces it.

        Args:
            repo_id (`str`):
                The repository to push to, e.g. `"org/condenser-bert"`.
            model_card_kwargs (`dict`, *optional*):
                Keyword arguments of `write_model_card` (`base_model`, `datasets`, `license`, `language`,
                `cocondenser`, `eval_results`, ...); `repo_id` is filled in. Passing them (even `{}`) regenerates the
                card, replacing a hand-written one in the repository.
            *args, **kwargs:
                The arguments of [`~transformers.PreTrainedModel.push_to_hub`].

        Returns:
            The commit information returned by `huggingface_hub`.
        """
        # None: not passed, so a hand-written card in the repository is kept.
        self._model_card_kwargs = None if model_card_kwargs is None else dict(model_card_kwargs)
        try:
            return super().push_to_hub(repo_id, *args, **kwargs)
        finally:
            del self._model_card_kwargs

    def _upload_modified_files(self, working_dir: str | os.PathLike, repo_id: str, *args, **kwargs):
        """Replace transformers' generic model card with the Condenser one, then upload as transformers does.

        Every upload path of transformers (`push_to_hub` and `save_pretrained(..., push_to_hub=True)`) goes through
        this method after writing `README.md` (the repository's card, or a generic one when it has none).
        """
        from huggingface_hub import ModelCard

        readme = os.path.join(working_dir, "README.md")
        existing = ModelCard.load(readme) if os.path.isfile(readme) else None
        given_kwargs = getattr(self, "_model_card_kwargs", None)
        # transformers writes this sentence into the card it generates for a repository that has none.
        generic = existing is None or "This model card has been automatically generated." in existing.text
        if not generic and given_kwargs is None:
            logger.info(
                f"Kept the model card of {repo_id} (only tags were added); pass `model_card_kwargs` to `push_to_hub` "
                "to replace it with a Condenser model card."
            )
        else:
            # Absolute import in a try block: the copy of this file saved into checkpoints must load with
            # `trust_remote_code=True` where the package (and so `model_card`) is not installed.
            try:
                from transformers_condenser.model_card import write_model_card
            except ImportError:
                logger.warning(
                    "transformers_condenser is not installed: the model card is pushed as transformers wrote it."
                )
            else:
                if not generic:
                    logger.info(
                        f"Replacing the model card of {repo_id} with a Condenser card (`model_card_kwargs` given)."
                    )
                card_kwargs = {"repo_id": repo_id, **(given_kwargs or {})}
                # Keep the tags transformers put on the generic card (`push_to_hub(tags=...)`, `add_model_tags`).
                extra_tags = existing.data.tags if existing is not None and existing.data.tags else []
                card_kwargs["tags"] = list(card_kwargs.get("tags") or []) + list(extra_tags)
                write_model_card(working_dir, **card_kwargs)
        return super()._upload_modified_files(working_dir, repo_id, *args, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """Load like [`~transformers.PreTrainedModel.from_pretrained`]; a weights file that is empty, truncated or not
        safetensors at all raises an `OSError` that says so (instead of safetensors' own error type)."""
        from safetensors import SafetensorError

        try:
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        except SafetensorError as error:
            raise OSError(
                f"The weights of {pretrained_model_name_or_path} cannot be read ({error}): the safetensors file is "
                "empty, truncated or corrupt. Download it again (`force_download=True`) or save the checkpoint again."
            ) from error

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
        elif isinstance(module, BertLMPredictionHead):
            init.zeros_(module.bias)
        elif isinstance(module, BertEmbeddings):
            # Non-persistent buffers are never in a checkpoint: rebuild them.
            init.copy_(module.position_ids, torch.arange(module.position_ids.shape[-1]).expand((1, -1)))
            init.zeros_(module.token_type_ids)

    def _check_token_ids(self, input_ids: torch.Tensor) -> None:
        """Reject token ids outside `[0, vocab_size)` with a `ValueError` instead of the embedding's `IndexError`.

        Checked where it is free: for CPU tensors outside `torch.compile`. On an accelerator the check would make the
        host wait for the device on every forward, so it is left out there; `DataCollatorForCondenser` and
        `DataCollatorForCoCondenser` check every batch on the CPU before it is moved.
        """
        if input_ids.device.type != "cpu" or torch.compiler.is_compiling():
            return
        if input_ids.dtype.is_floating_point or input_ids.dtype.is_complex or input_ids.dtype == torch.bool:
            raise TypeError(
                f"`input_ids` must be an integer tensor of token ids (torch.long), got dtype {input_ids.dtype}; "
                "convert with `input_ids.long()`."
            )
        vocab_size = self.config.vocab_size
        low, high = int(input_ids.min()), int(input_ids.max())
        if low < 0 or high >= vocab_size:
            bad = low if low < 0 else high
            raise ValueError(
                f"`input_ids` holds token id {bad}, outside the vocabulary [0, {vocab_size - 1}] of this model "
                f"(config.vocab_size = {vocab_size}): the inputs were tokenized with a different tokenizer. Use the "
                "tokenizer saved with the model, or resize the embeddings with "
                "`model.resize_token_embeddings(len(tokenizer))` after adding tokens."
            )

    def _check_inputs(
        self,
        input_ids: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
    ) -> None:
        """Reject malformed inputs with a clear error before they reach torch (shape checks only: no device sync)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of `input_ids` or `inputs_embeds`.")
        shape = tuple(input_ids.shape) if input_ids is not None else tuple(inputs_embeds.shape[:-1])
        if len(shape) != 2:
            name = "input_ids" if input_ids is not None else "inputs_embeds"
            raise ValueError(
                f"`{name}` must be batched with shape (batch_size, sequence_length{'' if input_ids is not None else ', hidden_size'}), "
                f"got {tuple((input_ids if input_ids is not None else inputs_embeds).shape)}; add a batch dimension "
                "with `.unsqueeze(0)` or tokenize with `return_tensors='pt'`."
            )
        if shape[0] == 0 or shape[1] == 0:
            raise ValueError(f"Got an empty batch of shape {shape}; pass at least one non-empty sequence.")
        if shape[1] > self.config.max_position_embeddings:
            raise ValueError(
                f"Sequence length {shape[1]} exceeds `max_position_embeddings` ({self.config.max_position_embeddings}); "
                f"truncate the inputs (e.g. `tokenizer(..., truncation=True, max_length={self.config.max_position_embeddings})`)."
            )
        if input_ids is not None:
            self._check_token_ids(input_ids)
        if isinstance(attention_mask, torch.Tensor):
            mask_shape = tuple(attention_mask.shape)
            batch_size, length = shape
            valid_2d = mask_shape == shape
            valid_4d = (
                len(mask_shape) == 4
                and mask_shape[0] in (1, batch_size)
                and mask_shape[1] in (1, self.config.num_attention_heads)
                and mask_shape[2:] == (length, length)
            )
            if not (valid_2d or valid_4d):
                raise ValueError(
                    f"`attention_mask` has shape {mask_shape} but the inputs have shape {shape}; pass the "
                    "(batch_size, sequence_length) padding mask the tokenizer returned with the inputs (or a 4D mask of "
                    "shape (batch_size, 1, sequence_length, sequence_length))."
                )


@auto_docstring(
    custom_intro="""
    The Condenser backbone: a BERT encoder without BERT's pooler. `pooler_output` is the last-layer CLS vector, with no
    extra weights: it is the Condenser / coCondenser dense-retrieval embedding.
    """
)
class CondenserModel(CondenserPreTrainedModel):
    # A pre-training checkpoint also holds the MLM prediction head and the Condenser head; loading only the backbone
    # from it drops them on purpose. Any other unexpected weight is still reported.
    _keys_to_ignore_on_load_unexpected = [r"^cls\.", r"^head_layers\."]

    def __init__(self, config: CondenserConfig):
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
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


def _has_original_head(source: str, kwargs: dict) -> bool:
    """Whether `source` (a folder or Hub id) holds the original release's `model.pt` head. Never opens the file."""
    from huggingface_hub import file_exists, is_offline_mode, try_to_load_from_cache

    subfolder = kwargs.get("subfolder") or ""
    if os.path.isdir(source):
        return os.path.isfile(os.path.join(source, subfolder, "model.pt"))
    filename = f"{subfolder}/model.pt" if subfolder else "model.pt"
    revision = kwargs.get("revision")
    try:
        if isinstance(
            try_to_load_from_cache(source, filename, cache_dir=kwargs.get("cache_dir"), revision=revision), str
        ):
            return True
        if kwargs.get("local_files_only") or is_offline_mode():
            return False
        return file_exists(source, filename, revision=revision, token=kwargs.get("token"))
    except Exception:  # Not a Hub id, or no network: leave any error to the loading itself.
        return False


def _refuse_original_release(source: str, kwargs: dict) -> None:
    """Raise a `ValueError` if `source` is a BERT checkpoint with the original release's head in `model.pt` (SPEC §6:
    the original code loaded such Hub ids with a random head, silently)."""
    if not _has_original_head(source, kwargs):
        return
    names = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder", "proxies")
    try:
        config_dict, _ = CondenserConfig.get_config_dict(source, **{k: kwargs[k] for k in names if k in kwargs})
    except Exception:  # No readable config: the loading itself reports it.
        return
    if config_dict.get("model_type") != "bert":
        return
    input_dir = source if os.path.isdir(source) else f"<a local download of {source}>"
    raise ValueError(
        f'{source} is a checkpoint of the original Condenser release: a BERT model (model_type "bert") whose '
        "trained Condenser head lives in a separate model.pt, which from_pretrained does not read (it would leave the "
        "head randomly initialised). Convert it once into a Condenser checkpoint with "
        f"`condenser-convert-original --input_dir {input_dir} --output_dir <new folder>` (or "
        "`transformers_condenser.convert_original_checkpoint(input_dir, output_dir)`) and load the output folder. "
        "To start from the backbone only and deliberately discard the old head, pass `ignore_original_head=True`; "
        "`CondenserModel.from_pretrained` loads the backbone alone."
    )


@auto_docstring(
    custom_intro="""
    Output type of [`CondenserForPreTraining`].
    """
)
@dataclass
class CondenserForPreTrainingOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
        Total pre-training loss: `head_mlm_loss + late_mlm_loss` (the latter only when `config.late_mlm`).
    head_mlm_loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
        Masked-LM loss of the Condenser head, which sees `[last-layer CLS ; skip_from token states]`.
    late_mlm_loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided and
        `config.late_mlm`):
        Ordinary masked-LM loss on the backbone's last layer.
    logits (`torch.FloatTensor`):
        Vocabulary scores of the Condenser head. Without `labels`: shape `(batch_size, sequence_length,
        vocab_size)`, every position. With `labels`: shape `(num_labelled, vocab_size)`, one row per position where
        `labels != -100`, in row-major order (`labels[labels != -100]` are their targets); no
        `(batch_size, sequence_length, vocab_size)` tensor is built during training.
    late_logits (`torch.FloatTensor`, *optional*):
        Vocabulary scores of the backbone's last layer, laid out as `logits`. With `labels` and `config.late_mlm=False`
        they are not computed (`None`).
    """

    loss: torch.FloatTensor | None = None
    head_mlm_loss: torch.FloatTensor | None = None
    late_mlm_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    late_logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@auto_docstring(
    custom_intro="""
    Condenser with its pre-training heads: the backbone, BERT's MLM prediction head (decoder tied to the word
    embeddings) and `config.n_head_layers` BERT layers (the Condenser head). The head reads
    `[last-layer CLS ; token states of hidden state config.skip_from]` and predicts the masked tokens through the same,
    shared MLM prediction head. After pre-training, keep the backbone ([`CondenserModel`]) and drop the head.
    """
)
class CondenserForPreTraining(CondenserPreTrainedModel):
    # `hidden_states` and `attentions` are the backbone's (recorded by its own hooks); the head's layers are not
    # recorded.
    _can_record_outputs = {
        "hidden_states": OutputRecorder(BertLayer, layer_name="bert.encoder"),
        "attentions": OutputRecorder(BertSelfAttention, index=1, layer_name="bert.encoder"),
    }
    _tied_weights_keys = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }

    def __init__(self, config: CondenserConfig):
        super().__init__(config)
        self.bert = CondenserModel(config)
        self.cls = BertOnlyMLMHead(config)
        # Built on the backbone's own config object, so the head always uses the backbone's attention backend and the
        # mask format that backend expects.
        self.head_layers = nn.ModuleList([BertLayer(config) for _ in range(config.n_head_layers)])
        self.post_init()
        # Unlike the backbone alone, the pre-training model needs its head weights: report unexpected ones.
        self._keys_to_ignore_on_load_unexpected = set()
        # `output_hidden_states` / `output_attentions` record the backbone's layers through hooks. Installing them now
        # rather than lazily on the first such call keeps that lock-guarded step out of `torch.compile` graphs.
        maybe_install_capturing_hooks(self)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, ignore_original_head: bool = False, **kwargs):
        """Load like [`~transformers.PreTrainedModel.from_pretrained`]; a BERT checkpoint warm-starts a new head.

        A folder or Hub id in the layout of the original Condenser release (a BERT checkpoint, `model_type: "bert"`,
        plus the trained head in a separate `model.pt`, as `Luyu/condenser` or `Luyu/co-condenser-marco`) is refused
        with a `ValueError`: loading it directly would keep the backbone and silently leave the head random. Convert it
        once with `condenser-convert-original --input_dir ... --output_dir ...` (or `convert_original_checkpoint`).
        Only the existence of `model.pt` is checked (in the folder; for a Hub id in the local cache and, when online,
        on the Hub); it is never opened. [`CondenserModel`] loads such checkpoints as they are (backbone only).

        Args:
            ignore_original_head (`bool`, *optional*, defaults to `False`):
                Load such a checkpoint anyway, deliberately discarding the trained head in `model.pt`: the head is
                newly initialised (and reported missing), as for a plain BERT checkpoint.
            *model_args, **kwargs:
                The arguments of [`~transformers.PreTrainedModel.from_pretrained`].
        """
        if not ignore_original_head and pretrained_model_name_or_path is not None:
            _refuse_original_release(str(pretrained_model_name_or_path), kwargs)
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)

    def get_output_embeddings(self) -> nn.Linear:
        """The decoder of the shared MLM prediction head, tied to the word embeddings."""
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        """Replace the MLM decoder, keeping the prediction head's bias tied to the decoder's bias."""
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias

    def _mlm_loss(
        self, hidden_states: torch.Tensor, targets: torch.Tensor, num_items_in_batch: torch.Tensor | int | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Vocabulary logits and mean cross-entropy of the (already selected) labelled positions.

        The mean is taken over `num_items_in_batch` labelled positions when given (the whole gradient-accumulation
        batch, as `Trainer` passes it), else over this batch's; a batch without labelled positions gives 0, not NaN.
        """
        logits = self.cls(hidden_states)
        denominator = num_items_in_batch if num_items_in_batch is not None else max(targets.numel(), 1)
        loss = F.cross_entropy(logits.float(), targets, reduction="sum") / denominator
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
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[torch.Tensor] | CondenserForPreTrainingOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            Masked-LM targets for both the head MLM and the late MLM losses. Indices in `[0, ...,
            config.vocab_size - 1]` are predicted; `-100` marks positions that carry no loss (unmasked tokens,
            special tokens, padding). Any integer dtype is accepted. Ids outside the vocabulary are not checked here
            (that would synchronise with the device on every step); torch's cross-entropy rejects them.

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
        >>> outputs.logits.shape  # only the 2 labelled positions get vocabulary scores
        torch.Size([2, 100])
        >>> outputs.loss.backward()
        ```
        """
        return self._pretraining_forward(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, labels, **kwargs
        )[0]

    def _loss_rows(self, labels: torch.Tensor, kwargs: dict) -> torch.Tensor | None:
        """The positions the losses read, per sequence: CLS first, then the labelled positions in order, padded to the
        longest list with positions nobody reads; `None` where the last layers must run on every position.

        That is when all positions are returned (`output_hidden_states` / `output_attentions`), under gradient
        checkpointing (which wraps whole layers), with an attention backend other than eager/sdpa (flex masks are not
        tensors), and inside `torch.compile` (the number of rows is data-dependent): the losses are the same either way.
        """
        if torch.compiler.is_compiling() or self.config._attn_implementation not in ("eager", "sdpa"):
            return None
        if any(
            kwargs.get(flag) or getattr(self.config, flag) for flag in ("output_hidden_states", "output_attentions")
        ):
            return None
        if self.training and any(layer.gradient_checkpointing for layer in self.bert.encoder.layer):
            return None
        needed = labels != -100
        needed[:, 0] = True
        num_rows = int(needed.sum(dim=1).max())
        # A stable sort on "not needed" lists the needed positions first, in their order.
        return torch.sort((~needed).to(torch.int8), dim=1, stable=True).indices[:, :num_rows]

    def _recomputes_attention(self, hidden_states: torch.Tensor) -> bool:
        """Whether training recomputes the attention probabilities in backward rather than keeping them
        (`config.recompute_attention`): only where the attention kernel would keep each layer's attention
        probabilities for backward, i.e. with eager attention, and with sdpa on the CPU when attention dropout is on
        (PyTorch has no fused CPU kernel with dropout, so sdpa runs its unfused math kernel there). Fused kernels (sdpa
        on GPU, flash, flex) keep only small statistics and recompute the rest themselves.

        Training forwards without gradient take the same path, so that the gradient cache's first pass (no gradient)
        and its replay (with gradient) compute the same values."""
        if not (self.config.recompute_attention and self.training):
            return False
        implementation = self.config._attn_implementation
        dropout = self.config.attention_probs_dropout_prob
        return implementation == "eager" or (
            implementation == "sdpa" and dropout > 0 and hidden_states.device.type == "cpu"
        )

    def _pretraining_forward(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        token_type_ids: torch.Tensor | None,
        position_ids: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
        labels: torch.Tensor | None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[CondenserForPreTrainingOutput, torch.Tensor]:
        """The body of `forward`: the outputs and the backbone's last-layer CLS vectors (for subclasses' extra losses)."""
        self._check_inputs(input_ids, inputs_embeds, attention_mask)
        skip_from = self.config.skip_from
        if not 1 <= skip_from <= self.config.num_hidden_layers - 1:
            # The config validates this at construction; this catches `model.config.skip_from = ...` set afterwards.
            raise ValueError(
                f"`config.skip_from` is {skip_from}, but it must be between 1 and num_hidden_layers - 1 "
                f"(= {self.config.num_hidden_layers - 1})."
            )
        if labels is not None:
            reference = input_ids if input_ids is not None else inputs_embeds[..., 0]
            if labels.shape != reference.shape:
                raise ValueError(
                    f"`labels` has shape {tuple(labels.shape)} but the inputs have shape {tuple(reference.shape)}; "
                    "labels need one entry per input token (-100 where there is no target)."
                )
            if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
                raise TypeError(
                    f"`labels` must be an integer tensor of token ids (torch.long), got dtype {labels.dtype}; "
                    "convert with `labels.long()`."
                )
            # Any integer dtype is accepted; cross-entropy needs int64 targets.
            labels = labels.long()

        # With labels, the losses read the last backbone layer and the last head layer only at the CLS and the labelled
        # positions (about 16% of them): those two layers run their queries and feed-forward blocks on these rows only.
        rows = self._loss_rows(labels, kwargs) if labels is not None else None
        # `capture_outputs` on `forward` reads these flags; the layers must not see them.
        kwargs.pop("output_hidden_states", None)
        kwargs.pop("output_attentions", None)
        # Passed by `Trainer` with gradient accumulation: the number of labelled positions of the whole accumulated batch.
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)

        # The backbone's modules run here rather than through `self.bert(...)`: the head needs the `skip_from` hidden
        # state, and keeping that one tensor is cheaper (and independent of how transformers selects hidden states)
        # than asking the backbone for all of them. `self.bert` stays the exact `CondenserModel` that is exported.
        embedding_output = self.bert.embeddings(
            input_ids=input_ids,
            position_ids=position_ids,
            token_type_ids=token_type_ids,
            inputs_embeds=inputs_embeds,
        )
        encoder_attention_mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=embedding_output, attention_mask=attention_mask
        )
        # On the direct path (`rows`), where the attention kernel would keep every layer's attention probabilities for
        # backward, the layers recompute their attention core during backward instead (`config.recompute_attention`).
        recompute_attention = rows is not None and self._recomputes_attention(embedding_output)

        def run_layer(layer: BertLayer, hidden_states: torch.Tensor, is_last: bool) -> torch.Tensor:
            if rows is not None and (is_last or recompute_attention):
                layer_rows = rows if is_last else None
                return _layer_forward(layer, hidden_states, encoder_attention_mask, layer_rows, recompute_attention)
            return layer(hidden_states, encoder_attention_mask, **kwargs)

        num_layers = len(self.bert.encoder.layer)
        sequence_output = embedding_output
        for depth, layer in enumerate(self.bert.encoder.layer, start=1):
            sequence_output = run_layer(layer, sequence_output, is_last=depth == num_layers)
            if depth == skip_from:
                skip_hidden_states = sequence_output
        # Row 0 is the CLS position on both paths.
        cls_vectors = sequence_output[:, 0]

        # Head input: the last-layer CLS replaces the early CLS, the other positions keep their early states.
        head_hidden_states = torch.cat([cls_vectors.unsqueeze(1), skip_hidden_states[:, 1:]], dim=1)
        for depth, layer in enumerate(self.head_layers, start=1):
            head_hidden_states = run_layer(layer, head_hidden_states, is_last=depth == len(self.head_layers))

        loss = head_mlm_loss = late_mlm_loss = late_logits = None
        if labels is None:
            logits = self.cls(head_hidden_states)
            late_logits = self.cls(sequence_output)
        else:
            if rows is not None:
                labels = labels.gather(1, rows)
            # Row-major order either way: batch by batch, positions ascending.
            labelled = labels != -100
            targets = labels[labelled]
            logits, head_mlm_loss = self._mlm_loss(head_hidden_states[labelled], targets, num_items_in_batch)
            loss = head_mlm_loss
            if self.config.late_mlm:
                late_logits, late_mlm_loss = self._mlm_loss(sequence_output[labelled], targets, num_items_in_batch)
                loss = loss + late_mlm_loss

        output = CondenserForPreTrainingOutput(
            loss=loss,
            head_mlm_loss=head_mlm_loss,
            late_mlm_loss=late_mlm_loss,
            logits=logits,
            late_logits=late_logits,
        )
        return output, cls_vectors


def _layer_forward(
    layer: BertLayer,
    hidden_states: torch.Tensor,
    attention_mask: torch.Tensor | None,
    rows: torch.Tensor | None = None,
    recompute_attention: bool = False,
) -> torch.Tensor:
    """`layer(hidden_states, attention_mask)`, computed from the layer's own modules and attention backend, with two
    savings the module call cannot make.

    With `rows` (batch, num_rows), the result is computed at those positions only: every position still serves as key
    and value, but the queries, the attention output block and the feed-forward block run on the selected rows.
    With `recompute_attention`, the attention probabilities are not kept for backward but recomputed there from the
    queries and keys (`_AttentionWithRecomputedProbabilities`): the same dropout masks, so the same values and
    gradients as the module call up to float rounding.
    """
    attention = layer.attention.self
    batch_size, length, hidden_size = hidden_states.shape
    queries = hidden_states
    if rows is not None:
        queries = hidden_states.gather(1, rows.unsqueeze(-1).expand(-1, -1, hidden_size))
        if attention_mask is not None and attention_mask.shape[-2] != 1:
            attention_mask = attention_mask.expand(batch_size, -1, -1, -1)
            attention_mask = attention_mask.gather(
                2, rows[:, None, :, None].expand(-1, attention_mask.shape[1], -1, length)
            )

    def split_heads(states: torch.Tensor) -> torch.Tensor:
        return states.view(batch_size, states.shape[1], -1, attention.attention_head_size).transpose(1, 2)

    attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
        attention.config._attn_implementation, eager_attention_forward
    )
    attention_inputs = (
        split_heads(attention.query(queries)),
        split_heads(attention.key(hidden_states)),
        split_heads(attention.value(hidden_states)),
        attention_mask,
    )
    dropout = attention.dropout.p if attention.training else 0.0
    if recompute_attention:
        context = _AttentionWithRecomputedProbabilities.apply(*attention_inputs, attention.scaling, dropout)
    else:
        context, _ = attention_interface(attention, *attention_inputs, dropout=dropout, scaling=attention.scaling)
    attention_output = layer.attention.output(context.reshape(batch_size, queries.shape[1], -1), queries)
    return layer.feed_forward_chunk(attention_output)


class _AttentionWithRecomputedProbabilities(torch.autograd.Function):
    """Attention (eager's formula: `dropout(softmax(q k^T * scaling + mask)) v`) that keeps only the queries, keys,
    values and the dropout's keep-mask (1 byte per probability) for backward, and recomputes the probabilities there
    (one matmul and a softmax).

    Unfused kernels keep the probabilities and the dropped-out probabilities (8 bytes per probability in float32) for
    backward: on the CPU, where sdpa has no fused kernel with dropout, that is about 90 MiB per BERT-base layer at
    32 x 128 tokens. The dropout is `nn.functional.dropout`, the call eager attention and sdpa's unfused kernel make,
    so it draws the same masks from the same random-number stream. The mask is read back from the dropout's output:
    where a probability is 0 its gradient is 0 whatever the mask says.
    """

    @staticmethod
    def _probabilities(query, key, attention_mask, scaling):
        """Softmax over the keys, computed in float32 (or float64) from the (possibly half-precision) queries and keys.

        The large intermediate tensors are updated in place: on the CPU every fresh one costs page faults."""
        scores = torch.matmul(query, key.transpose(-1, -2))
        scores = scores.to(torch.promote_types(scores.dtype, torch.float32))
        scores.mul_(scaling)
        if attention_mask is not None:
            if attention_mask.dtype == torch.bool:
                scores.masked_fill_(attention_mask.logical_not(), torch.finfo(scores.dtype).min)
            else:
                scores.add_(attention_mask)
        return torch.softmax(scores, dim=-1)

    @staticmethod
    def forward(ctx, query, key, value, attention_mask, scaling, dropout):
        """`(batch, heads, queries, head_dim)` inputs, `(batch, queries, heads, head_dim)` output, as the attention
        functions of transformers' `AttentionInterface` return it."""
        weights = _AttentionWithRecomputedProbabilities._probabilities(query, key, attention_mask, scaling)
        kept = None
        if dropout > 0:
            # On the full-precision probabilities, as eager attention (whose additive mask promotes them) does.
            weights = F.dropout(weights, p=dropout, training=True, inplace=True)
            kept = weights != 0
        output = torch.matmul(weights.to(value.dtype), value)
        ctx.save_for_backward(query, key, value, attention_mask, kept)
        ctx.scaling, ctx.dropout = scaling, dropout
        return output.transpose(1, 2).contiguous()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        query, key, value, attention_mask, kept = ctx.saved_tensors
        probabilities = _AttentionWithRecomputedProbabilities._probabilities(query, key, attention_mask, ctx.scaling)
        grad_output = grad_output.transpose(1, 2)
        # The forward's dropped-out weights, and the gradient with respect to them and then to the probabilities.
        weights = probabilities
        grad_weights = torch.matmul(grad_output, value.transpose(-1, -2)).to(probabilities.dtype)
        if kept is not None:
            keep_scale = 1 / (1 - ctx.dropout) if ctx.dropout < 1 else 0.0
            weights = (weights * kept).mul_(keep_scale)
            grad_weights.mul_(kept).mul_(keep_scale)
        grad_value = torch.matmul(weights.to(value.dtype).transpose(-1, -2), grad_output)
        del weights
        # Softmax backward, in float32 and in place: p * (g - sum(g * p)).
        grad_scores = grad_weights.sub_((grad_weights * probabilities).sum(dim=-1, keepdim=True))
        grad_scores = grad_scores.mul_(probabilities).mul_(ctx.scaling).to(query.dtype)
        grad_query = torch.matmul(grad_scores, key)
        grad_key = torch.matmul(grad_scores.transpose(-1, -2), query)
        return grad_query, grad_key, grad_value, None, None, None


class _AllGatherWithGradient(torch.autograd.Function):
    """All-gather along the batch dimension whose backward sends every process's gradient back to its owner.

    Forward: the rows of every process, concatenated in rank order; this process's own rows sit at its rank's place
    (the rank in `group`: `torch.distributed.get_rank()` for the default group, never `LOCAL_RANK`, which repeats on
    every node). Backward: the gradients that all processes computed for the gathered tensor are summed
    (`all_reduce`), and each process keeps the slice of its own rows. Processes may hold different numbers of rows.
    """

    @staticmethod
    def forward(ctx, local: torch.Tensor, sizes: list[int], rank: int, group: "dist.ProcessGroup | None"):
        # all_gather needs equal shapes: pad to the largest local batch, then cut the padding off again.
        padded = F.pad(local, (0, 0, 0, max(sizes) - local.shape[0])).contiguous()
        buffers = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(buffers, padded, group=group)
        pieces = [buffer[:size] for buffer, size in zip(buffers, sizes)]
        pieces[rank] = local
        ctx.group = group
        ctx.start = sum(sizes[:rank])
        ctx.stop = ctx.start + local.shape[0]
        return torch.cat(pieces)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        # Every process's loss depends on this process's rows (they are negatives there): sum those gradients.
        grad = grad_output.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        return grad[ctx.start : ctx.stop], None, None, None


def _gather_with_gradient(local: torch.Tensor, group: "dist.ProcessGroup | None" = None) -> tuple[torch.Tensor, int]:
    """The rows of all processes of `group` (with gradient, see `_AllGatherWithGradient`) and the index of this
    process's first row among them."""
    world_size = dist.get_world_size(group=group)
    rank = dist.get_rank(group=group)
    local_size = torch.tensor([local.shape[0]], device=local.device)
    sizes = [torch.empty_like(local_size) for _ in range(world_size)]
    dist.all_gather(sizes, local_size, group=group)
    sizes = [int(size.item()) for size in sizes]
    if any(size % 2 for size in sizes):
        # Checked on every process alike, so that all of them raise instead of some waiting forever.
        raise ValueError(
            f"coCondenser batches must hold whole pairs of spans on every process; local batch sizes are {sizes}."
        )
    return _AllGatherWithGradient.apply(local, sizes, rank, group), sum(sizes[:rank])


def contrastive_span_loss(
    cls_vectors: torch.Tensor,
    gather: bool | None = None,
    group: "dist.ProcessGroup | None" = None,
) -> torch.Tensor:
    """coCondenser's corpus-level contrastive loss over span pairs.

    Rows `2k` and `2k + 1` of `cls_vectors` are two spans of the same document (the layout `[d1s1, d1s2, d2s1, d2s2,
    ...]`). Each span's scores are the raw dot products of its vector with every span of the global batch (no
    normalisation, no temperature), its own score excluded (set to `-inf`); the target is the other span of its
    document, and every other span, on every process, is a negative. The loss is the mean cross-entropy over the local
    spans, computed in float32 even under autocast. Nothing depends on a buffer sized for a particular batch.

    Distributed training: with `gather`, the vectors of all processes are gathered (this process's own at its rank in
    `group`, which for the default group is the global rank `torch.distributed.get_rank()`), and the backward pass
    sums, into each process's own vectors, the gradients of the losses of all processes. Each process thus
    back-propagates the sum over processes of their local mean losses, that is `world_size` times the loss of the
    global batch; DDP then averages the gradients over the `world_size` processes, so the parameters receive exactly
    the gradient of the mean loss over the global batch, as one process holding the whole batch would compute. The
    loss needs no rescaling; the mean over processes of the returned values is the global batch's loss (for equal
    local batch sizes).

    Args:
        cls_vectors (`torch.Tensor` of shape `(batch_size, hidden_size)`):
            Last-layer CLS vectors of this process's spans, in pairs; `batch_size` must be even.
        gather (`bool`, *optional*):
            Whether to use the spans of all processes as negatives. Defaults to `True` when `torch.distributed` is
            initialised with more than one process in `group`.
        group (`torch.distributed.ProcessGroup`, *optional*):
            The processes whose spans form the global batch (default: all).

    Returns:
        `torch.Tensor`: the scalar loss.

    Example:

    ```python
    >>> import torch
    >>> from transformers_condenser.modeling_condenser import contrastive_span_loss

    >>> cls_vectors = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])  # 2 documents x 2 spans
    >>> contrastive_span_loss(cls_vectors) < contrastive_span_loss(cls_vectors[[0, 2, 1, 3]])
    tensor(True)
    ```
    """
    if cls_vectors.dim() != 2:
        raise ValueError(f"`cls_vectors` must have shape (batch_size, hidden_size), got {tuple(cls_vectors.shape)}.")
    if cls_vectors.shape[0] % 2:
        raise ValueError(
            f"coCondenser batches are pairs of spans laid out [d1s1, d1s2, d2s1, d2s2, ...], so the batch size must be "
            f"even; got {cls_vectors.shape[0]} CLS vectors."
        )
    if gather is None:
        gather = dist.is_available() and dist.is_initialized() and dist.get_world_size(group=group) > 1
    # Dot products of un-normalised vectors reach the hundreds: bfloat16 would round them by whole units.
    with torch.autocast(device_type=cls_vectors.device.type, enabled=False):
        local = cls_vectors.float()
        candidates, offset = _gather_with_gradient(local, group) if gather else (local, 0)
        scores = local @ candidates.T
        rows = torch.arange(local.shape[0], device=local.device)
        own_columns = rows + offset
        columns = torch.arange(candidates.shape[0], device=local.device)
        scores = scores.masked_fill(columns[None, :] == own_columns[:, None], float("-inf"))
        # Local rows 2k and 2k+1 are partners; the offset is even, so the partner's global column is offset + (i ^ 1).
        return F.cross_entropy(scores, (rows ^ 1) + offset)


@auto_docstring(
    custom_intro="""
    Output type of [`CoCondenserForPreTraining`].
    """
)
@dataclass
class CoCondenserForPreTrainingOutput(CondenserForPreTrainingOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
        Total pre-training loss: `head_mlm_loss + late_mlm_loss + contrastive_loss`, unweighted (`late_mlm_loss` only
        when `config.late_mlm`, `contrastive_loss` unless `compute_contrastive_loss=False`).
    head_mlm_loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
        Masked-LM loss of the Condenser head, which sees `[last-layer CLS ; skip_from token states]`.
    late_mlm_loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided and
        `config.late_mlm`):
        Ordinary masked-LM loss on the backbone's last layer.
    logits (`torch.FloatTensor`):
        Vocabulary scores of the Condenser head, laid out as in [`CondenserForPreTrainingOutput`].
    late_logits (`torch.FloatTensor`, *optional*):
        Vocabulary scores of the backbone's last layer, laid out as `logits`.
    contrastive_loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
        coCondenser's span-pair contrastive loss (see [`contrastive_span_loss`]): mean over this process's spans,
        with the spans of all processes as negatives.
    cls_vectors (`torch.FloatTensor` of shape `(batch_size, hidden_size)`):
        Last-layer CLS vectors of the spans: the inputs of the contrastive loss and the retrieval embeddings.
    """

    contrastive_loss: torch.FloatTensor | None = None
    cls_vectors: torch.FloatTensor | None = None


@auto_docstring(
    custom_intro="""
    coCondenser: [`CondenserForPreTraining`] plus a corpus-level contrastive loss on the last-layer CLS vectors. It has
    no weights of its own: it reads and writes the same checkpoints as [`CondenserForPreTraining`], so a Condenser
    checkpoint continues as coCondenser and back. The batch holds two spans of each document, laid out
    `[d1s1, d1s2, d2s1, d2s2, ...]`; each span must find the other span of its document among all the spans of the
    global batch (every process). Train it with [`~trainer.CondenserTrainer`], which also offers the gradient cache.
    """
)
class CoCondenserForPreTraining(CondenserForPreTraining):
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
    ) -> tuple[torch.Tensor] | CoCondenserForPreTrainingOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
            Masked-LM targets, as for [`CondenserForPreTraining`]. When given, the contrastive loss is computed too,
            and the batch must be pairs of spans `[d1s1, d1s2, d2s1, d2s2, ...]` (an even batch size).
        compute_contrastive_loss (`bool`, *optional*, defaults to `True`):
            Set to `False` to skip the contrastive loss (and the pair check): `loss` is then the MLM loss alone. The
            gradient cache ([`~gradient_cache.gradient_cache_step`]) does this per chunk and computes the contrastive
            loss over the whole batch from `cls_vectors` itself.

        Under `torch.distributed`, the contrastive loss gathers the CLS vectors of all processes and needs no
        rescaling for DDP (see [`contrastive_span_loss`]). The MLM losses are local means unless `num_items_in_batch`
        (the labelled positions of the global batch) is passed; then multiply them by the world size before DDP's
        averaging, as `Trainer` does with `average_tokens_across_devices`.

        Example:

        ```python
        >>> import torch
        >>> from transformers_condenser import CondenserConfig
        >>> from transformers_condenser.modeling_condenser import CoCondenserForPreTraining

        >>> config = CondenserConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
        ...     intermediate_size=37, skip_from=2)
        >>> model = CoCondenserForPreTraining(config)
        >>> input_ids = torch.tensor([[2, 15, 4, 27, 3], [2, 42, 4, 3, 0], [2, 8, 4, 9, 3], [2, 60, 4, 3, 0]])
        >>> labels = torch.full_like(input_ids, -100)
        >>> labels[:, 2] = torch.tensor([31, 57, 12, 70])  # 2 documents x 2 spans, one masked token each
        >>> outputs = model(input_ids, attention_mask=(input_ids != 0).long(), labels=labels)
        >>> total = outputs.head_mlm_loss + outputs.late_mlm_loss + outputs.contrastive_loss
        >>> torch.allclose(outputs.loss, total)
        True
        >>> outputs.cls_vectors.shape
        torch.Size([4, 32])
        >>> outputs.loss.backward()
        ```
        """
        self._check_inputs(input_ids, inputs_embeds, attention_mask)
        with_contrastive_loss = labels is not None and compute_contrastive_loss
        batch_size = (input_ids if input_ids is not None else inputs_embeds).shape[0]
        if with_contrastive_loss and batch_size % 2:
            raise ValueError(
                "coCondenser batches are pairs of spans of the same document, laid out [d1s1, d1s2, d2s1, d2s2, ...], "
                f"so the batch size must be even; got {batch_size} sequences."
            )
        outputs, cls_vectors = self._pretraining_forward(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, labels, **kwargs
        )
        loss = outputs.loss
        contrastive_loss = None
        if with_contrastive_loss:
            contrastive_loss = contrastive_span_loss(cls_vectors)
            loss = loss + contrastive_loss

        return CoCondenserForPreTrainingOutput(
            loss=loss,
            head_mlm_loss=outputs.head_mlm_loss,
            late_mlm_loss=outputs.late_mlm_loss,
            logits=outputs.logits,
            late_logits=outputs.late_logits,
            contrastive_loss=contrastive_loss,
            cls_vectors=cls_vectors,
        )


__all__ = [
    "CoCondenserForPreTraining",
    "CoCondenserForPreTrainingOutput",
    "CondenserForPreTraining",
    "CondenserForPreTrainingOutput",
    "CondenserModel",
    "CondenserPreTrainedModel",
    "contrastive_span_loss",
]
