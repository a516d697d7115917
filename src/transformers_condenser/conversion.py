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
"""Checkpoint conversion: the authors' original runs into this package's format, and a Condenser out to its backbone.

- [`convert_original_checkpoint`] reads a checkpoint written by the original research code (luyug/Condenser: a
  `BertForMaskedLM` folder plus the head in `model.pt`, as `Luyu/condenser`, `Luyu/co-condenser-wiki` and
  `Luyu/co-condenser-marco` were released; its RoBERTa runs saved a `RobertaForMaskedLM` folder the same way) and
  writes one self-contained Condenser checkpoint.
- [`export_backbone`] writes a Condenser checkpoint's backbone (and MLM head) as a plain checkpoint of its own family
  (BERT, RoBERTa or XLM-RoBERTa) that stock transformers loads without this package, for Tevatron,
  sentence-transformers or any other tool of that family. [`export_to_bert`] is the same for BERT backbones.

All read only tensors (safetensors, or `torch.load(..., weights_only=True)`), never unpickle arbitrary objects, write
through [`~file_utils.atomic_directory`] and reload what they wrote and compare every tensor before finishing: a failed
run leaves no output directory behind and a previous one untouched.
"""

import argparse
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors.torch import load_file
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForMaskedLM,
    BertModel,
    PreTrainedConfig,
    PreTrainedModel,
    RobertaConfig,
    RobertaForMaskedLM,
    RobertaModel,
    XLMRobertaConfig,
    XLMRobertaForMaskedLM,
    XLMRobertaModel,
)
from transformers.utils import logging as hf_logging

from .cli_utils import cli_entry_point
from .configuration_condenser import BACKBONE_DISPLAY_NAMES, BACKBONE_TYPES, CondenserConfig
from .file_utils import atomic_directory, check_output_dir
from .hub_mixin import read_checkpoint_config
from .modeling_condenser import BACKBONE_FAMILIES, CondenserForPreTraining, CondenserModel


logger = hf_logging.get_logger(__name__)


class PlainFamily(NamedTuple):
    """The stock transformers side of a backbone family (`CondenserConfig.backbone_type`): what an export writes and
    what an original checkpoint of the family holds."""

    name: str
    config_class: type[PreTrainedConfig]
    masked_lm_class: type[PreTrainedModel]
    model_class: type[PreTrainedModel]
    # Recorded in `tokenizer_config.json` when it names no class: a Condenser checkpoint's `config.json` says
    # "condenser", from which `AutoTokenizer` cannot infer the family's tokenizer.
    tokenizer_class: str
    # Weights of the family's checkpoints that a Condenser has no place for (the pooler, BERT's next-sentence head).
    dropped_prefixes: tuple[str, ...]


PLAIN_FAMILIES = {
    "bert": PlainFamily(
        BACKBONE_DISPLAY_NAMES["bert"],
        BertConfig,
        BertForMaskedLM,
        BertModel,
        "BertTokenizer",
        ("bert.pooler.", "cls.seq_relationship."),
    ),
    "roberta": PlainFamily(
        BACKBONE_DISPLAY_NAMES["roberta"],
        RobertaConfig,
        RobertaForMaskedLM,
        RobertaModel,
        "RobertaTokenizer",
        ("roberta.pooler.",),
    ),
    "xlm-roberta": PlainFamily(
        BACKBONE_DISPLAY_NAMES["xlm-roberta"],
        XLMRobertaConfig,
        XLMRobertaForMaskedLM,
        XLMRobertaModel,
        "XLMRobertaTokenizer",
        ("roberta.pooler.",),
    ),
}

# Tokenizer files copied unchanged from input to output when present: BERT's WordPiece (`vocab.txt`), RoBERTa's
# byte-level BPE (`vocab.json`, `merges.txt`), XLM-RoBERTa's SentencePiece model, and the files every family shares.
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
)
# Everything an export writes (`save_pretrained` of a plain model, sharded or not, and the tokenizer files): an
# existing output folder holding only these is a previous export and is replaced; one holding anything else (a model
# card, training logs) is refused rather than lost.
EXPORT_OUTPUT_ENTRIES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    *TOKENIZER_FILES,
)
# A converted Condenser checkpoint also holds the code files `auto_map` points to (for `trust_remote_code=True`).
CONVERT_OUTPUT_ENTRIES = (*EXPORT_OUTPUT_ENTRIES, "*.py")
# Pickles of the original training run (argument dataclasses, `TrainingArguments`): unpickling one runs arbitrary code,
# and nothing in them is needed, so they are never opened.
NEVER_OPENED_FILES = ("args.pt", "training_args.bin")
# The head file of the original code and the coCondenser contrastive-target buffer it may hold. The buffer's length is
# the training batch size; it is no weight and is dropped.
ORIGINAL_HEAD_FILE = "model.pt"
ORIGINAL_HEAD_PREFIX = "c_head."
CO_TARGET_KEY = "co_target"
# Fields of transformers 4.x configs (those of the original releases) that today's config classes no longer read.
OBSOLETE_CONFIG_FIELDS = ("gradient_checkpointing", "position_embedding_type")
# The fields the `config.json` of a plain BERT, RoBERTa or XLM-RoBERTa checkpoint must not carry: every field
# CondenserConfig adds to the family's config class (`skip_from`, ..., `backbone_type`), and the ones that name the
# Condenser classes.
CONDENSER_ONLY_CONFIG_FIELDS = tuple(
    sorted(
        set(CondenserConfig.__dataclass_fields__)
        - set.intersection(*(set(family.config_class.__dataclass_fields__) for family in PLAIN_FAMILIES.values()))
    )
) + ("auto_map", "architectures", "model_type")


def _mlm_head_prefix(backbone_type: str) -> str:
    """The weight-name prefix of a family's MLM prediction head: `cls.predictions.` for BERT, `lm_head.` otherwise."""
    name = BACKBONE_FAMILIES[backbone_type].mlm_head_name
    return "cls.predictions." if name == "cls" else f"{name}."


def _tied_keys(backbone_type: str) -> dict[str, str]:
    """The tied decoder entries of a family's MLM head and the tensors they are tied to (word embeddings, MLM bias)."""
    prefix, head = BACKBONE_FAMILIES[backbone_type].prefix, _mlm_head_prefix(backbone_type)
    return {
        f"{head}decoder.weight": f"{prefix}.embeddings.word_embeddings.weight",
        f"{head}decoder.bias": f"{head}bias",
    }


def _stale_buffers(backbone_type: str) -> tuple[str, ...]:
    """Buffers older transformers versions saved in a family's checkpoints; today they are rebuilt at load time."""
    prefix = BACKBONE_FAMILIES[backbone_type].prefix
    return (f"{prefix}.embeddings.position_ids", f"{prefix}.embeddings.token_type_ids")


def _supported_families() -> str:
    """`BERT (model_type "bert"), RoBERTa (...) or XLM-RoBERTa (...)`, for messages."""
    names = [f'{family.name} (model_type "{backbone_type}")' for backbone_type, family in PLAIN_FAMILIES.items()]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _original_head_layer_shapes(hidden_size: int, intermediate_size: int) -> dict[str, tuple[int, ...]]:
    """Every tensor of one head layer in `model.pt` (SPEC §5), without the `c_head.{i}.` prefix, and its shape."""
    shapes: dict[str, tuple[int, ...]] = {}
    for projection in ("query", "key", "value"):
        shapes[f"attention.self.{projection}.weight"] = (hidden_size, hidden_size)
        shapes[f"attention.self.{projection}.bias"] = (hidden_size,)
    shapes["attention.output.dense.weight"] = (hidden_size, hidden_size)
    shapes["attention.output.dense.bias"] = (hidden_size,)
    shapes["attention.output.LayerNorm.weight"] = (hidden_size,)
    shapes["attention.output.LayerNorm.bias"] = (hidden_size,)
    shapes["intermediate.dense.weight"] = (intermediate_size, hidden_size)
    shapes["intermediate.dense.bias"] = (intermediate_size,)
    shapes["output.dense.weight"] = (hidden_size, intermediate_size)
    shapes["output.dense.bias"] = (hidden_size,)
    shapes["output.LayerNorm.weight"] = (hidden_size,)
    shapes["output.LayerNorm.bias"] = (hidden_size,)
    return shapes


def _require_directory(path: Path, what: str) -> None:
    """Raise a `FileNotFoundError` / `NotADirectoryError` naming `what` if `path` is not an existing directory."""
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} does not exist; pass the folder that holds the checkpoint.")
    if not path.is_dir():
        raise NotADirectoryError(f"{what} {path} is not a directory; pass the folder that holds the checkpoint.")


def _load_tensor_pickle(path: Path) -> dict[str, torch.Tensor]:
    """Load a `torch.save`d dict of tensors with `weights_only=True`: anything but tensors is refused, never run."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        # torch's own message advises re-running with `weights_only=False`, i.e. executing the pickle: say only
        # what is wrong.
        found = re.search(r"GLOBAL ([\w.]+)|(Unsupported operand \w+)", str(error))
        if found and found.group(1):
            reason = f"it pickles the Python object {found.group(1)}, not only tensors"
        elif found:
            reason = f"it is not a tensor file: {found.group(2)}"
        else:
            last_line = str(error).strip().splitlines()[-1:] or ["the file is empty or truncated"]
            reason = f"{type(error).__name__}: {last_line[0]}"
        raise ValueError(
            f"{path} could not be loaded as a dict of tensors ({reason}). Only files holding "
            "plain tensors are read (`torch.load(..., weights_only=True)`), so a file that pickles other objects "
            "is refused rather than executed; re-save it as a dict of tensors or as safetensors."
        ) from error
    if not isinstance(state, Mapping) or not all(isinstance(key, str) for key in state):
        raise ValueError(f"{path} must hold a dict of named tensors, got {type(state).__name__}.")
    not_tensors = sorted(key for key, value in state.items() if not isinstance(value, torch.Tensor))
    if not_tensors:
        raise ValueError(f"{path} holds entries that are not tensors: {', '.join(not_tensors)}.")
    return dict(state)


def _load_backbone_weights(input_dir: Path) -> tuple[dict[str, torch.Tensor], str]:
    """The weights of `input_dir` (`model.safetensors` preferred, else `pytorch_model.bin`) and the file's name."""
    safetensors_file, bin_file = input_dir / "model.safetensors", input_dir / "pytorch_model.bin"
    if safetensors_file.is_file():
        try:
            return load_file(safetensors_file), safetensors_file.name
        except Exception as error:
            raise ValueError(
                f"{safetensors_file} could not be read ({type(error).__name__}: {error}); download it again."
            ) from error
    if bin_file.is_file():
        return _load_tensor_pickle(bin_file), bin_file.name
    found = ", ".join(sorted(path.name for path in input_dir.iterdir())) or "nothing"
    raise FileNotFoundError(
        f"{input_dir} has neither model.safetensors nor pytorch_model.bin (found: {found}); the original code saved "
        "the backbone and MLM head weights in one of them (sharded checkpoints are not supported: merge the shards "
        "first)."
    )


def _read_original_head(
    head_state: dict[str, torch.Tensor], head_file: Path, hidden_size: int, intermediate_size: int, family: PlainFamily
) -> tuple[dict[str, torch.Tensor], int]:
    """Validate the head tensors of `model.pt` and rename them to `head_layers.{i}.*`; return them and their depth.

    Every problem is collected before raising, so a single `ValueError` lists every bad key.
    """
    head_state = {key: value for key, value in head_state.items() if key != CO_TARGET_KEY}
    layer_shapes = _original_head_layer_shapes(hidden_size, intermediate_size)
    pattern = re.compile(rf"^{re.escape(ORIGINAL_HEAD_PREFIX)}(\d+)\.(.+)$")
    layers: dict[int, dict[str, torch.Tensor]] = {}
    problems = []
    for key, tensor in head_state.items():
        match = pattern.match(key)
        if match is None or match.group(2) not in layer_shapes:
            problems.append(f"unexpected key `{key}`")
            continue
        index, name = int(match.group(1)), match.group(2)
        expected = layer_shapes[name]
        if tuple(tensor.shape) != expected:
            problems.append(f"`{key}` has shape {tuple(tensor.shape)}, expected {expected}")
        layers.setdefault(index, {})[name] = tensor
    if not layers and not problems:
        problems.append(f"no `{ORIGINAL_HEAD_PREFIX}{{i}}.*` head weights at all")
    n_head_layers = max(layers, default=-1) + 1
    absent = sorted(set(range(n_head_layers)) - set(layers))
    if absent:
        problems.append(
            f"head layer indices must run 0..{n_head_layers - 1} without gaps, but layer(s) "
            f"{', '.join(map(str, absent))} are absent (found {', '.join(map(str, sorted(layers)))})"
        )
    for index, tensors in sorted(layers.items()):
        missing = [f"`{ORIGINAL_HEAD_PREFIX}{index}.{name}`" for name in layer_shapes if name not in tensors]
        if missing:
            problems.append(f"missing key(s) {', '.join(missing)}")
    if problems:
        raise ValueError(
            f"{head_file} is not a Condenser head of {hidden_size}-dimensional {family.name} layers (intermediate "
            f"size {intermediate_size}) as the original code saved it: {'; '.join(problems)}. Check that model.pt "
            f"belongs to the {family.name} checkpoint in the same folder; it must hold exactly the tensors "
            f"`{ORIGINAL_HEAD_PREFIX}{{i}}.<BertLayer weight>` for i = 0..n-1 (RobertaLayer and XLMRobertaLayer have "
            f"the same weights) and optionally `{CO_TARGET_KEY}`."
        )
    renamed = {
        f"head_layers.{index}.{name}": tensor for index, tensors in layers.items() for name, tensor in tensors.items()
    }
    return renamed, n_head_layers


def _map_backbone_weights(
    state: dict[str, torch.Tensor], weights_file: Path, backbone_type: str
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename a family's masked-LM state dict (`BertForMaskedLM` / `BertForPreTraining`, `RobertaForMaskedLM`,
    `XLMRobertaForMaskedLM`) to Condenser names; return it and the dropped keys.

    Condenser keeps the family's names for backbone and MLM head, so the mapping drops the weights a Condenser has no
    place for (the pooler, BERT's next-sentence head), stale buffers and the tied decoder copies (after checking they
    really are tied).
    """
    family = PLAIN_FAMILIES[backbone_type]
    kept_prefixes = (f"{BACKBONE_FAMILIES[backbone_type].prefix}.", _mlm_head_prefix(backbone_type))
    tied_keys, stale_buffers = _tied_keys(backbone_type), _stale_buffers(backbone_type)
    mapped, dropped, problems = {}, [], []
    for key, tensor in state.items():
        if key.startswith(family.dropped_prefixes):
            dropped.append(key)
        elif key in stale_buffers:
            continue
        elif key in tied_keys:
            source = state.get(tied_keys[key])
            if source is not None and not torch.equal(tensor, source):
                problems.append(
                    f"`{key}` differs from `{tied_keys[key]}`, but a Condenser ties them (the original "
                    f"{family.masked_lm_class.__name__} did too)"
                )
        elif key.startswith(kept_prefixes):
            mapped[key] = tensor
        else:
            problems.append(f"unexpected key `{key}`")
    if problems:
        accepted = " / ".join(
            [family.masked_lm_class.__name__] + (["BertForPreTraining"] if backbone_type == "bert" else [])
        )
        raise ValueError(
            f"{weights_file} is not a {accepted} checkpoint as the original code saved it: "
            + "; ".join(problems)
            + "."
        )
    return mapped, sorted(dropped)


def _copy_tokenizer_files(input_dir: Path, output_dir: Path) -> list[str]:
    """Copy the tokenizer files (`TOKENIZER_FILES`) present in `input_dir` to `output_dir`; return their names."""
    copied = []
    for name in TOKENIZER_FILES:
        if (input_dir / name).is_file():
            shutil.copy2(input_dir / name, output_dir / name)
            copied.append(name)
    return copied


def _record_tokenizer_class(output_dir: Path, copied: list[str], tokenizer_class: str) -> list[str]:
    """Write `tokenizer_class` into the copied `tokenizer_config.json` when it names no class; return the files
    written (`copied`, plus `tokenizer_config.json` if it had to be created).

    Checkpoints saved by transformers 4.2 (the original releases) have no `tokenizer_class` in
    `tokenizer_config.json`; their `config.json` named the family, from which AutoTokenizer inferred it. A Condenser
    checkpoint's says "condenser", so the family's tokenizer class is recorded explicitly.
    """
    if not copied:
        return copied
    tokenizer_config_file = output_dir / "tokenizer_config.json"
    tokenizer_config = json.loads(tokenizer_config_file.read_text()) if tokenizer_config_file.is_file() else {}
    if tokenizer_config.get("tokenizer_class"):
        return copied
    tokenizer_config["tokenizer_class"] = tokenizer_class
    tokenizer_config_file.write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    return copied if "tokenizer_config.json" in copied else [*copied, "tokenizer_config.json"]


def _verify_reloaded(
    loaded_model: torch.nn.Module, loading_info: dict, expected: Mapping[str, torch.Tensor], where: Path
) -> None:
    """Raise a `RuntimeError` unless the reloaded model holds exactly the `expected` tensors, bit for bit."""
    problems = [
        f"{kind}: {', '.join(sorted(map(str, keys)))}"
        for kind, keys in loading_info.items()
        if keys and kind != "error_msgs"
    ]
    state = loaded_model.state_dict()
    if set(state) != set(expected):
        problems.append(f"keys differ: {sorted(set(state) ^ set(expected))}")
    problems += [
        f"`{key}` differs"
        for key, tensor in expected.items()
        if key in state and (state[key].dtype != tensor.dtype or not torch.equal(state[key], tensor))
    ]
    if problems:
        raise RuntimeError(
            f"The checkpoint written to {where} does not reload to the converted weights ({'; '.join(problems)}); "
            "nothing was written. Please report this with the input checkpoint's config.json."
        )


def convert_original_checkpoint(
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    skip_from: int = 6,
    allow_missing_head: bool = False,
) -> Path:
    """Convert a checkpoint of the original Condenser / coCondenser code into a [`CondenserForPreTraining`] checkpoint.

    The input is a folder as luyug/Condenser saved it and as `Luyu/condenser`, `Luyu/co-condenser-wiki` and
    `Luyu/co-condenser-marco` were released: a BERT checkpoint (`config.json` with `model_type: "bert"`,
    `model.safetensors` or else `pytorch_model.bin`, tokenizer files) plus `model.pt`, the head's tensors
    `c_head.{i}.*`. The original code saved its RoBERTa runs the same way, and those convert too: a
    `RobertaForMaskedLM` or `XLMRobertaForMaskedLM` checkpoint (`model_type` `"roberta"` or `"xlm-roberta"`,
    weights `roberta.*` and `lm_head.*`) plus `model.pt`, whose `c_head.{i}.*` tensors are those of a `RobertaLayer`
    (the same names and shapes as a BERT layer's). The output holds the backbone, the MLM prediction head and the
    head in one `model.safetensors`, a `CondenserConfig` (with `backbone_type` set to the family) and the tokenizer
    files, and loads with [`CondenserForPreTraining.from_pretrained`].

    Only tensors are read: `model.safetensors`, or `pytorch_model.bin` and `model.pt` through
    `torch.load(..., weights_only=True)`. The pickled training arguments (`args.pt`, `training_args.bin`) are never
    opened. The coCondenser buffer `co_target` is dropped, and so are weights a Condenser has no place for (the pooler,
    `bert.pooler.*` or `roberta.pooler.*`, and `cls.seq_relationship.*` of a `BertForPreTraining`), which are logged.
    The number of head layers is read from the `c_head.{i}.*` keys; every other weight must be accounted for, and the
    MLM decoder must be tied to the word embeddings. When `tokenizer_config.json` names no tokenizer class (as
    transformers 4.2 saved it), the family's (`BertTokenizer`, `RobertaTokenizer`, `XLMRobertaTokenizer`) is recorded.

    The output is written atomically and reloaded and compared tensor by tensor before it takes its final name: on
    any error there is no output directory, and a previous one is left untouched.

    Args:
        input_dir (`str` or `os.PathLike`):
            Folder of the original checkpoint (download a Hub release first, e.g. with
            `huggingface_hub.snapshot_download`).
        output_dir (`str` or `os.PathLike`):
            Folder to write the Condenser checkpoint to; replaced if it exists and holds only a previous
            conversion (a folder holding other files is refused).
        skip_from (`int`, *optional*, defaults to 6):
            The early hidden state that feeds the head (see [`CondenserConfig`]). The original files do not record
            it; 6 is the paper's setting and that of all released checkpoints.
        allow_missing_head (`bool`, *optional*, defaults to `False`):
            Convert a folder without `model.pt` by initialising a 2-layer head with BERT's scheme (`_init_weights`)
            instead of raising. The backbone is converted as usual; a warning says the head is new.

    Returns:
        `Path`: the absolute path of the written checkpoint.

    Raises:
        `OSError`: `input_dir`, its `config.json`, its weights or (without `allow_missing_head`) `model.pt` is missing.
        `ValueError`: the config is not of a supported family (BERT, RoBERTa, XLM-RoBERTa), `skip_from` is out of
            range, or a weight file holds unexpected, missing or mis-shaped tensors (all of them are listed).

    Example:

    ```python
    >>> import tempfile
    >>> from pathlib import Path
    >>> import torch
    >>> from transformers import BertConfig, BertForMaskedLM
    >>> from transformers.models.bert.modeling_bert import BertLayer
    >>> from transformers_condenser import CondenserForPreTraining
    >>> from transformers_condenser.conversion import convert_original_checkpoint

    >>> # A tiny checkpoint in the original layout: a BertForMaskedLM folder plus the head in model.pt
    >>> original = Path(tempfile.mkdtemp()) / "original"
    >>> bert_config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
    ...     intermediate_size=37)
    >>> BertForMaskedLM(bert_config).save_pretrained(original)
    >>> head = torch.nn.ModuleList([BertLayer(bert_config) for _ in range(2)])
    >>> torch.save({f"c_head.{key}": value for key, value in head.state_dict().items()}, original / "model.pt")

    >>> output = convert_original_checkpoint(original, original.parent / "converted", skip_from=2)
    >>> model = CondenserForPreTraining.from_pretrained(output)
    >>> (model.config.skip_from, model.config.n_head_layers)
    (2, 2)
    ```
    """
    input_dir = Path(input_dir).resolve()
    _require_directory(input_dir, "The input directory")
    output_dir = check_output_dir(output_dir, input_dir, own_entries=CONVERT_OUTPUT_ENTRIES)
    config_dict = read_checkpoint_config(input_dir)
    model_type = config_dict.get("model_type")
    if model_type not in BACKBONE_TYPES:
        hint = " It is already a Condenser checkpoint: load it directly." if model_type == "condenser" else ""
        raise ValueError(
            f"{input_dir / 'config.json'} has model_type {model_type!r}, but the original Condenser code saved "
            f"{_supported_families()} checkpoints; pass the folder of an original Condenser or coCondenser release "
            f"or run.{hint}"
        )
    family = PLAIN_FAMILIES[model_type]
    position_embedding_type = config_dict.get("position_embedding_type", "absolute")
    if position_embedding_type != "absolute":
        raise ValueError(
            f"{input_dir / 'config.json'} sets position_embedding_type {position_embedding_type!r}; only absolute "
            "position embeddings (those of every original release) are supported."
        )
    # Fields of transformers 4.x configs that today's config classes no longer read; carrying them over would only
    # mislead.
    config_dict = {key: value for key, value in config_dict.items() if key not in OBSOLETE_CONFIG_FIELDS}
    backbone_config = family.config_class.from_dict(config_dict)

    head_file = input_dir / ORIGINAL_HEAD_FILE
    if head_file.is_file():
        head_state, n_head_layers = _read_original_head(
            _load_tensor_pickle(head_file),
            head_file,
            backbone_config.hidden_size,
            backbone_config.intermediate_size,
            family,
        )
    elif allow_missing_head:
        head_state, n_head_layers = {}, CondenserConfig.n_head_layers
    else:
        raise FileNotFoundError(
            f"{input_dir} has no {ORIGINAL_HEAD_FILE}, the file in which the original code saved the Condenser head. "
            "Without it only the backbone can be converted: download the full release (it holds model.pt) or pass "
            "--allow-missing-head (`allow_missing_head=True`) to start from a newly initialised head."
        )
    # `backbone_type` comes from the config's `model_type`.
    config = CondenserConfig.from_dict(config_dict, skip_from=skip_from, n_head_layers=n_head_layers)

    weights_file_state, weights_file_name = _load_backbone_weights(input_dir)
    backbone_state, dropped = _map_backbone_weights(weights_file_state, input_dir / weights_file_name, model_type)
    if dropped:
        logger.info(f"Dropped {len(dropped)} weight(s) a Condenser does not use: {', '.join(dropped)}.")

    # Built with `_init_weights` everywhere; every tensor is then overwritten from the checkpoint, except a missing
    # head's when `allow_missing_head` is set.
    model = CondenserForPreTraining(config).eval()
    model_shapes = {key: tuple(tensor.shape) for key, tensor in model.state_dict().items()}
    provided = {**backbone_state, **head_state}
    # The tied decoder entries are the tensors they are tied to.
    provided.update({key: provided[source] for key, source in _tied_keys(model_type).items() if source in provided})
    may_be_missing = set() if head_state else {key for key in model_shapes if key.startswith("head_layers.")}
    missing = sorted(set(model_shapes) - set(provided) - may_be_missing)
    unexpected = sorted(set(provided) - set(model_shapes))
    mismatched = [
        f"`{key}` {tuple(tensor.shape)} (config.json implies {model_shapes[key]})"
        for key, tensor in provided.items()
        if key in model_shapes and tuple(tensor.shape) != model_shapes[key]
    ]
    problems = [
        f"{kind} {', '.join(keys)}" for kind, keys in (("missing", missing), ("unexpected", unexpected)) if keys
    ]
    problems += [f"wrong shape {', '.join(mismatched)}"] if mismatched else []
    if problems:
        raise ValueError(
            f"{input_dir / weights_file_name} does not match its config.json: {'; '.join(problems)}. The original "
            f"code saved complete {family.masked_lm_class.__name__} checkpoints; check that the weights and "
            "config.json belong together."
        )
    model.load_state_dict(provided, strict=bool(head_state))
    if not head_state:
        logger.warning(
            f"{input_dir} has no {ORIGINAL_HEAD_FILE}: the {n_head_layers}-layer Condenser head is NEWLY INITIALISED "
            "(BERT's initialisation); only the backbone and the MLM head come from the checkpoint. Pre-train before "
            "relying on the head."
        )
    if model.get_output_embeddings().weight is not model.base_model.get_input_embeddings().weight:
        raise RuntimeError("The MLM decoder of the converted model is not tied to the word embeddings.")
    expected_state = {key: tensor.detach().clone() for key, tensor in model.state_dict().items()}

    with atomic_directory(output_dir) as staging:
        model.save_pretrained(staging)
        copied = _record_tokenizer_class(staging, _copy_tokenizer_files(input_dir, staging), family.tokenizer_class)
        reloaded, loading_info = CondenserForPreTraining.from_pretrained(staging, output_loading_info=True)
        _verify_reloaded(reloaded, loading_info, expected_state, output_dir)
        if copied:
            try:
                AutoTokenizer.from_pretrained(staging)
            except Exception as error:  # any failure means the written tokenizer is unusable
                raise RuntimeError(f"The tokenizer written to {output_dir} does not load: {error}") from error
    logger.info(
        f"Wrote a Condenser checkpoint ({family.name} backbone, {config.num_hidden_layers} layers, skip_from "
        f"{config.skip_from}, {n_head_layers} head layer(s), tokenizer files: {', '.join(copied) or 'none'}) to "
        f"{output_dir}."
    )
    return output_dir


def _export(input_dir: Path, output_dir: Path, with_mlm_head: bool, backbone_type: str) -> Path:
    """Export the Condenser checkpoint `input_dir`, whose `backbone_type` the caller checked, to `output_dir`."""
    family = PLAIN_FAMILIES[backbone_type]
    mlm_head_prefix = _mlm_head_prefix(backbone_type)
    source_class = CondenserForPreTraining if with_mlm_head else CondenserModel
    source, loading_info = source_class.from_pretrained(input_dir, output_loading_info=True)
    # The Condenser head serves pre-training only and is not exported: a checkpoint may lack it.
    missing = sorted(key for key in loading_info["missing_keys"] if not key.startswith("head_layers."))
    if missing:
        no_mlm_head = all(key.startswith(mlm_head_prefix) for key in missing)
        raise ValueError(
            f"{input_dir} lacks weight(s) the export needs: {', '.join(missing)}."
            + (
                " It holds no MLM prediction head (a CondenserModel checkpoint); export the backbone alone with "
                "--no-mlm-head (`with_mlm_head=False`)."
                if no_mlm_head
                else ""
            )
        )
    plain_config_dict = {
        key: value for key, value in source.config.to_dict().items() if key not in CONDENSER_ONLY_CONFIG_FIELDS
    }
    plain_config = family.config_class.from_dict(plain_config_dict)
    if with_mlm_head:
        target = family.masked_lm_class(plain_config)
        state = {key: value for key, value in source.state_dict().items() if not key.startswith("head_layers.")}
    else:
        target = family.model_class(plain_config, add_pooling_layer=False)
        state = source.state_dict()
    target.load_state_dict(state, strict=True)
    target.eval()
    expected_state = {key: tensor.detach().clone() for key, tensor in target.state_dict().items()}

    with atomic_directory(output_dir) as staging:
        target.save_pretrained(staging)
        copied = _record_tokenizer_class(staging, _copy_tokenizer_files(input_dir, staging), family.tokenizer_class)
        reload_kwargs = {} if with_mlm_head else {"add_pooling_layer": False}
        reloaded, reload_info = type(target).from_pretrained(staging, output_loading_info=True, **reload_kwargs)
        _verify_reloaded(reloaded, reload_info, expected_state, output_dir)
    logger.info(
        f"Wrote a plain {family.name} checkpoint ({type(target).__name__}, tokenizer files: "
        f"{', '.join(copied) or 'none'}) to {output_dir}."
    )
    return output_dir


def _read_condenser_config(input_dir: Path, tool: str) -> dict:
    """The `config.json` of the Condenser checkpoint `input_dir`; a `ValueError` naming `tool` for any other."""
    config_dict = read_checkpoint_config(input_dir)
    model_type = config_dict.get("model_type")
    if model_type != CondenserConfig.model_type:
        hint = (
            f" It is already a {PLAIN_FAMILIES[model_type].name} checkpoint." if model_type in PLAIN_FAMILIES else ""
        )
        raise ValueError(
            f"{input_dir / 'config.json'} has model_type {model_type!r}; {tool} reads a Condenser checkpoint "
            f'(model_type "condenser"), e.g. one written by convert_original_checkpoint or save_pretrained.{hint}'
        )
    return config_dict


def export_backbone(input_dir: str | os.PathLike, output_dir: str | os.PathLike, with_mlm_head: bool = True) -> Path:
    """Export a Condenser checkpoint as a plain checkpoint of its backbone's family that stock transformers loads
    without this package.

    The backbone keeps its family's weight names, so the export is a copy of the right tensors under the family's own
    config (no Condenser field, no `auto_map`, no code files):

    | `backbone_type` | with the MLM head (default) | backbone only (`with_mlm_head=False`) | `model_type` |
    |---|---|---|---|
    | `"bert"` | `BertForMaskedLM` | `BertModel` | `"bert"` |
    | `"roberta"` | `RobertaForMaskedLM` | `RobertaModel` | `"roberta"` |
    | `"xlm-roberta"` | `XLMRobertaForMaskedLM` | `XLMRobertaModel` | `"xlm-roberta"` |

    The Condenser head is left out; it only serves pre-training. Tokenizer files are copied when present (and the
    family's tokenizer class recorded when `tokenizer_config.json` names none). Stock `AutoModel` gives the same
    `last_hidden_state` (and so the same CLS embedding, `last_hidden_state[:, 0]`) as [`CondenserModel`], and
    `AutoModelForMaskedLM` the same logits as the late MLM of [`CondenserForPreTraining`].

    A Condenser has no pooler, so the export has none either: `AutoModel` reports `pooler.dense.*` as newly
    initialised. Use the CLS vector, never `pooler_output`, or load with `add_pooling_layer=False`.

    The output is written atomically and reloaded with the family's transformers classes and compared tensor by
    tensor before it takes its final name.

    Args:
        input_dir (`str` or `os.PathLike`):
            Folder of a Condenser checkpoint (`model_type: "condenser"`), e.g. one written by
            [`convert_original_checkpoint`] or by `save_pretrained`.
        output_dir (`str` or `os.PathLike`):
            Folder to write the plain checkpoint to; replaced if it exists and holds only a previous export (a
            folder holding other files is refused).
        with_mlm_head (`bool`, *optional*, defaults to `True`):
            Whether to export the MLM prediction head too (the family's `...ForMaskedLM`) or the backbone only (its
            `...Model`).

    Returns:
        `Path`: the absolute path of the written checkpoint.

    Raises:
        `OSError`: `input_dir` or its `config.json` is missing.
        `ValueError`: the checkpoint is not a Condenser's, or it lacks the MLM head while `with_mlm_head=True`.

    Example:

    ```python
    >>> import tempfile
    >>> from pathlib import Path
    >>> from transformers import AutoModelForMaskedLM
    >>> from transformers_condenser import CondenserConfig, CondenserForPreTraining
    >>> from transformers_condenser.conversion import export_backbone

    >>> root = Path(tempfile.mkdtemp())
    >>> config = CondenserConfig(backbone_type="roberta", vocab_size=99, hidden_size=32, num_hidden_layers=4,
    ...     num_attention_heads=4, intermediate_size=37, max_position_embeddings=66, pad_token_id=1, skip_from=2)
    >>> CondenserForPreTraining(config).save_pretrained(root / "condenser")
    >>> roberta_dir = export_backbone(root / "condenser", root / "roberta")
    >>> type(AutoModelForMaskedLM.from_pretrained(roberta_dir)).__name__
    'RobertaForMaskedLM'
    ```
    """
    input_dir = Path(input_dir).resolve()
    _require_directory(input_dir, "The input directory")
    output_dir = check_output_dir(output_dir, input_dir, own_entries=EXPORT_OUTPUT_ENTRIES)
    config_dict = _read_condenser_config(input_dir, "export_backbone")
    # Checkpoints saved before `backbone_type` existed are BERT's.
    backbone_type = config_dict.get("backbone_type", "bert")
    if backbone_type not in PLAIN_FAMILIES:
        raise ValueError(
            f"{input_dir / 'config.json'} has backbone_type {backbone_type!r}, but this version of "
            f"transformers-condenser exports {_supported_families()} backbones; upgrade the package or check the file."
        )
    return _export(input_dir, output_dir, with_mlm_head, backbone_type)


def export_to_bert(input_dir: str | os.PathLike, output_dir: str | os.PathLike, with_mlm_head: bool = True) -> Path:
    """Export a Condenser checkpoint with a BERT backbone as a plain BERT checkpoint that stock transformers loads
    without this package.

    This is [`export_backbone`] for BERT backbones (`backbone_type: "bert"`), the only family before RoBERTa and
    XLM-RoBERTa were supported: a `BertForMaskedLM` checkpoint (backbone and MLM prediction head) by default, a
    `BertModel` checkpoint (backbone only) with `with_mlm_head=False`, under a BERT config (`model_type: "bert"`, no
    `auto_map`, no code files). The Condenser head is left out; it only serves pre-training. Tokenizer files are
    copied when present. Stock `AutoModel` gives the same `last_hidden_state` (and so the same CLS embedding,
    `last_hidden_state[:, 0]`) as [`CondenserModel`], and `AutoModelForMaskedLM` the same logits as the late MLM of
    [`CondenserForPreTraining`]. A Condenser with a RoBERTa or XLM-RoBERTa backbone is refused: export it with
    [`export_backbone`] (`condenser-export-backbone`).

    A Condenser has no BERT pooler, so the export has none either: `AutoModel` reports `pooler.dense.*` as newly
    initialised. Use the CLS vector, never `pooler_output`, or load with `add_pooling_layer=False`.

    The output is written atomically and reloaded with transformers' BERT classes and compared tensor by tensor
    before it takes its final name.

    Args:
        input_dir (`str` or `os.PathLike`):
            Folder of a Condenser checkpoint (`model_type: "condenser"`) with a BERT backbone, e.g. one written by
            [`convert_original_checkpoint`] or by `save_pretrained`.
        output_dir (`str` or `os.PathLike`):
            Folder to write the BERT checkpoint to; replaced if it exists and holds only a previous export (a
            folder holding other files is refused).
        with_mlm_head (`bool`, *optional*, defaults to `True`):
            Whether to export the MLM prediction head too (`BertForMaskedLM`) or the backbone only (`BertModel`).

    Returns:
        `Path`: the absolute path of the written checkpoint.

    Raises:
        `OSError`: `input_dir` or its `config.json` is missing.
        `ValueError`: the checkpoint is not a Condenser's, its backbone is not BERT, or it lacks the MLM head while
            `with_mlm_head=True`.

    Example:

    ```python
    >>> import tempfile
    >>> from pathlib import Path
    >>> from transformers import AutoModelForMaskedLM
    >>> from transformers_condenser import CondenserConfig, CondenserForPreTraining
    >>> from transformers_condenser.conversion import export_to_bert

    >>> root = Path(tempfile.mkdtemp())
    >>> config = CondenserConfig(vocab_size=99, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
    ...     intermediate_size=37, skip_from=2)
    >>> CondenserForPreTraining(config).save_pretrained(root / "condenser")
    >>> bert_dir = export_to_bert(root / "condenser", root / "bert")
    >>> AutoModelForMaskedLM.from_pretrained(bert_dir).config.model_type
    'bert'
    ```
    """
    input_dir = Path(input_dir).resolve()
    _require_directory(input_dir, "The input directory")
    output_dir = check_output_dir(output_dir, input_dir, own_entries=EXPORT_OUTPUT_ENTRIES)
    config_dict = _read_condenser_config(input_dir, "export_to_bert")
    backbone_type = config_dict.get("backbone_type", "bert")
    if backbone_type != "bert":
        family = PLAIN_FAMILIES[backbone_type].name if backbone_type in PLAIN_FAMILIES else repr(backbone_type)
        raise ValueError(
            f"{input_dir} is a Condenser whose backbone is {family} (backbone_type {backbone_type!r}), which "
            "export_to_bert cannot write as BERT. Export it in its own architecture with "
            f"`condenser-export-backbone --input_dir {input_dir} --output_dir <new folder>` "
            "(`transformers_condenser.export_backbone(input_dir, output_dir)`)."
        )
    return _export(input_dir, output_dir, with_mlm_head, backbone_type)


class _CliFormatter(logging.Formatter):
    """Plain messages for progress, `warning: ...` for warnings, so the CLI reads like a tool, not a log."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return f"{record.levelname.lower()}: {message}" if record.levelno >= logging.WARNING else message


def _run_cli(parser: argparse.ArgumentParser, argv: Sequence[str] | None, run) -> int:
    """Parse `argv`, run `run(args)` with this module's log shown on stderr; return 0 once it wrote its output.

    Bad input raises `ValueError` or `OSError`, which [`~cli_utils.cli_entry_point`] reports in one line with exit
    status 1. The `RuntimeError` of a written checkpoint that does not reload as expected is reported the same way.
    """
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_CliFormatter("%(message)s"))
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        output_dir = run(args)
    except RuntimeError as error:
        raise ValueError(str(error)) from error
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
    print(f"wrote {output_dir}")
    return 0


@cli_entry_point("condenser-convert-original")
def convert_main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of `condenser-convert-original`: see [`convert_original_checkpoint`].

    Returns 0 on success. Exits with status 1 when the input cannot be converted (one line on stderr,
    `condenser-convert-original: error: ...`, says why; `--debug` shows the traceback), 2 for a usage error.
    """
    parser = argparse.ArgumentParser(
        prog="condenser-convert-original",
        description=(
            "Convert a checkpoint of the original Condenser / coCondenser code (a BERT, RoBERTa or XLM-RoBERTa "
            "folder plus the head in model.pt, e.g. a download of Luyu/condenser or Luyu/co-condenser-marco) into one "
            "Condenser checkpoint. "
            "Reads only tensors; never opens args.pt or training_args.bin."
        ),
    )
    parser.add_argument(
        "--input_dir",
        required=True,
        help="folder of the original checkpoint (config.json, weights, model.pt); required",
    )
    parser.add_argument(
        "--output_dir",
        required=True,
        help="folder to write the Condenser checkpoint to, replaced if it holds a previous output only; required",
    )
    parser.add_argument(
        "--skip_from",
        type=int,
        default=6,
        help="hidden state that feeds the head; the original files do not record it, 6 is the paper's setting "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--allow-missing-head",
        "--allow_missing_head",
        dest="allow_missing_head",
        action="store_true",
        help="without model.pt, initialise a new 2-layer head instead of failing (default: off, fail)",
    )
    return _run_cli(
        parser,
        argv,
        lambda args: convert_original_checkpoint(
            args.input_dir, args.output_dir, skip_from=args.skip_from, allow_missing_head=args.allow_missing_head
        ),
    )


def _add_export_arguments(parser: argparse.ArgumentParser, mlm_class: str, backbone_class: str) -> None:
    """The flags the export tools share: `--input_dir`, `--output_dir`, `--no-mlm-head`."""
    parser.add_argument("--input_dir", required=True, help="folder of a Condenser checkpoint; required")
    parser.add_argument(
        "--output_dir",
        required=True,
        help="folder to write the exported checkpoint to, replaced if it holds a previous output only; required",
    )
    parser.add_argument(
        "--no-mlm-head",
        "--no_mlm_head",
        dest="with_mlm_head",
        action="store_false",
        help=f"write the backbone alone ({backbone_class}) instead of {mlm_class} with the MLM prediction head "
        "(default: off, the MLM head is exported)",
    )


@cli_entry_point("condenser-export-bert")
def export_main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of `condenser-export-bert`: see [`export_to_bert`].

    Returns 0 on success. Exits with status 1 when the input cannot be exported (one line on stderr,
    `condenser-export-bert: error: ...`, says why; `--debug` shows the traceback), 2 for a usage error.
    """
    parser = argparse.ArgumentParser(
        prog="condenser-export-bert",
        description=(
            "Export a Condenser checkpoint's BERT backbone (and MLM head) as a plain BERT checkpoint that stock "
            "transformers, Tevatron or sentence-transformers load without transformers-condenser. For a RoBERTa or "
            "XLM-RoBERTa backbone use condenser-export-backbone."
        ),
    )
    _add_export_arguments(parser, "BertForMaskedLM", "BertModel")
    return _run_cli(
        parser, argv, lambda args: export_to_bert(args.input_dir, args.output_dir, with_mlm_head=args.with_mlm_head)
    )


@cli_entry_point("condenser-export-backbone")
def export_backbone_main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of `condenser-export-backbone`: see [`export_backbone`].

    Returns 0 on success. Exits with status 1 when the input cannot be exported (one line on stderr,
    `condenser-export-backbone: error: ...`, says why; `--debug` shows the traceback), 2 for a usage error.
    """
    parser = argparse.ArgumentParser(
        prog="condenser-export-backbone",
        description=(
            "Export a Condenser checkpoint's backbone (and MLM head) as a plain checkpoint of its own family (BERT, "
            "RoBERTa or XLM-RoBERTa) that stock transformers, Tevatron or sentence-transformers load without "
            "transformers-condenser."
        ),
    )
    _add_export_arguments(
        parser,
        " / ".join(family.masked_lm_class.__name__ for family in PLAIN_FAMILIES.values()),
        " / ".join(family.model_class.__name__ for family in PLAIN_FAMILIES.values()),
    )
    return _run_cli(
        parser, argv, lambda args: export_backbone(args.input_dir, args.output_dir, with_mlm_head=args.with_mlm_head)
    )


__all__ = ["convert_original_checkpoint", "export_backbone", "export_to_bert"]
