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
"""Checkpoint conversion: the authors' original releases into this package's format, and Condenser out to plain BERT.

- [`convert_original_checkpoint`] reads a checkpoint written by the original research code (luyug/Condenser: a
  `BertForMaskedLM` folder plus the head in `model.pt`, as `Luyu/condenser`, `Luyu/co-condenser-wiki` and
  `Luyu/co-condenser-marco` were released) and writes one self-contained Condenser checkpoint.
- [`export_to_bert`] writes a Condenser checkpoint's backbone (and MLM head) as a plain BERT checkpoint that stock
  transformers loads without this package, for Tevatron, sentence-transformers or any other BERT tool.

Both read only tensors (safetensors, or `torch.load(..., weights_only=True)`), never unpickle arbitrary objects, write
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

import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, BertModel
from transformers.utils import logging as hf_logging

from .configuration_condenser import CondenserConfig
from .file_utils import atomic_directory, check_output_dir
from .hub_mixin import read_checkpoint_config
from .modeling_condenser import CondenserForPreTraining, CondenserModel


logger = hf_logging.get_logger(__name__)

# Tokenizer files copied unchanged from input to output when present.
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
)
# Pickles of the original training run (argument dataclasses, `TrainingArguments`): unpickling one runs arbitrary code,
# and nothing in them is needed, so they are never opened.
NEVER_OPENED_FILES = ("args.pt", "training_args.bin")
# The head file of the original code and the coCondenser contrastive-target buffer it may hold. The buffer's length is
# the training batch size; it is no weight and is dropped.
ORIGINAL_HEAD_FILE = "model.pt"
ORIGINAL_HEAD_PREFIX = "c_head."
CO_TARGET_KEY = "co_target"
# BERT checkpoint weights the Condenser does not have: BERT's pooler and the next-sentence head of BertForPreTraining.
DROPPED_BERT_PREFIXES = ("bert.pooler.", "cls.seq_relationship.")
# Buffers older transformers versions saved; today they are rebuilt at load time.
DROPPED_BERT_BUFFERS = ("bert.embeddings.position_ids", "bert.embeddings.token_type_ids")
# The decoder of the MLM prediction head is tied: these keys must equal the tensors they are tied to, when present.
TIED_BERT_KEYS = {
    "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
    "cls.predictions.decoder.bias": "cls.predictions.bias",
}
OBSOLETE_BERT_CONFIG_FIELDS = ("gradient_checkpointing", "position_embedding_type")
# Fields of a `CondenserConfig` that a `BertConfig` does not have.
# The fields a plain BERT `config.json` must not carry: every field CondenserConfig adds to BertConfig, and the ones that
# name the Condenser classes.
CONDENSER_ONLY_CONFIG_FIELDS = tuple(
    sorted(set(CondenserConfig.__dataclass_fields__) - set(BertConfig.__dataclass_fields__))
) + ("auto_map", "architectures", "model_type")


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


def _load_bert_weights(input_dir: Path) -> tuple[dict[str, torch.Tensor], str]:
    """The BERT weights of `input_dir` (`model.safetensors` preferred, else `pytorch_model.bin`) and the file name."""
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
        f"{input_dir} has neither model.safetensors nor pytorch_model.bin (found: {found}); the original releases "
        "hold the BERT weights in one of them (sharded checkpoints are not supported: merge the shards first)."
    )


def _read_original_head(
    head_state: dict[str, torch.Tensor], head_file: Path, hidden_size: int, intermediate_size: int
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
            f"{head_file} is not a Condenser head of {hidden_size}-dimensional BERT layers (intermediate size "
            f"{intermediate_size}) as the original code saved it: " + "; ".join(problems) + ". Check that model.pt "
            "belongs to the BERT checkpoint in the same folder; it must hold exactly the tensors "
            f"`{ORIGINAL_HEAD_PREFIX}{{i}}.<BertLayer weight>` for i = 0..n-1 (and optionally `{CO_TARGET_KEY}`)."
        )
    renamed = {
        f"head_layers.{index}.{name}": tensor for index, tensors in layers.items() for name, tensor in tensors.items()
    }
    return renamed, n_head_layers


def _map_bert_weights(bert_state: dict[str, torch.Tensor], weights_file: Path) -> tuple[dict[str, torch.Tensor], list]:
    """Rename a `BertForMaskedLM` / `BertForPreTraining` state dict to Condenser names; return it and the dropped keys.

    Condenser keeps BERT's names for backbone and MLM head, so the mapping drops BERT-only weights (the pooler, the
    next-sentence head), stale buffers and the tied decoder copies (after checking they really are tied).
    """
    mapped, dropped, problems = {}, [], []
    for key, tensor in bert_state.items():
        if key.startswith(DROPPED_BERT_PREFIXES):
            dropped.append(key)
        elif key in DROPPED_BERT_BUFFERS:
            continue
        elif key in TIED_BERT_KEYS:
            source = bert_state.get(TIED_BERT_KEYS[key])
            if source is not None and not torch.equal(tensor, source):
                problems.append(
                    f"`{key}` differs from `{TIED_BERT_KEYS[key]}`, but a Condenser ties them (the original "
                    "BertForMaskedLM did too)"
                )
        elif key.startswith(("bert.", "cls.predictions.")):
            mapped[key] = tensor
        else:
            problems.append(f"unexpected key `{key}`")
    if problems:
        raise ValueError(
            f"{weights_file} is not a BertForMaskedLM / BertForPreTraining checkpoint as the original releases are: "
            + "; ".join(problems)
            + "."
        )
    return mapped, sorted(dropped)


def _copy_tokenizer_files(input_dir: Path, output_dir: Path) -> list[str]:
    """Copy the tokenizer files present in `input_dir` to `output_dir`; return their names.

    Checkpoints saved by transformers 4.2 (the original releases) have no `tokenizer_class` in
    `tokenizer_config.json`; their `config.json` said "bert", from which AutoTokenizer inferred it. The written
    checkpoint says "condenser", so the BERT tokenizer class is recorded explicitly.
    """
    copied = []
    for name in TOKENIZER_FILES:
        if (input_dir / name).is_file():
            shutil.copy2(input_dir / name, output_dir / name)
            copied.append(name)
    if copied:
        tokenizer_config_file = output_dir / "tokenizer_config.json"
        tokenizer_config = json.loads(tokenizer_config_file.read_text()) if tokenizer_config_file.is_file() else {}
        if not tokenizer_config.get("tokenizer_class"):
            tokenizer_config["tokenizer_class"] = "BertTokenizer"
            tokenizer_config_file.write_text(json.dumps(tokenizer_config, indent=2) + "\n")
            if "tokenizer_config.json" not in copied:
                copied.append("tokenizer_config.json")
    return copied


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
    `c_head.{i}.*`. The output holds the backbone, the MLM prediction head and the head in one `model.safetensors`,
    a `CondenserConfig` and the tokenizer files, and loads with [`CondenserForPreTraining.from_pretrained`].

    Only tensors are read: `model.safetensors`, or `pytorch_model.bin` and `model.pt` through
    `torch.load(..., weights_only=True)`. The pickled training arguments (`args.pt`, `training_args.bin`) are never
    opened. The coCondenser buffer `co_target` is dropped, and so are BERT weights a Condenser has no place for
    (`bert.pooler.*`, and `cls.seq_relationship.*` of a `BertForPreTraining`), which are logged. The number of head
    layers is read from the `c_head.{i}.*` keys; every other weight must be accounted for.

    The output is written atomically and reloaded and compared tensor by tensor before it takes its final name: on
    any error there is no output directory, and a previous one is left untouched.

    Args:
        input_dir (`str` or `os.PathLike`):
            Folder of the original checkpoint (download a Hub release first, e.g. with `huggingface_hub.snapshot_download`).
        output_dir (`str` or `os.PathLike`):
            Folder to write the Condenser checkpoint to; replaced if it exists.
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
        `ValueError`: the config is not BERT's, `skip_from` is out of range, or a weight file holds unexpected,
            missing or mis-shaped tensors (all of them are listed).

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
    output_dir = check_output_dir(output_dir, input_dir)
    config_dict = read_checkpoint_config(input_dir)
    model_type = config_dict.get("model_type")
    if model_type != "bert":
        hint = " It is already a Condenser checkpoint: load it directly." if model_type == "condenser" else ""
        raise ValueError(
            f"{input_dir / 'config.json'} has model_type {model_type!r}, but the original Condenser releases are BERT "
            f'checkpoints (model_type "bert"); pass the folder of an original Condenser or coCondenser release.{hint}'
        )
    position_embedding_type = config_dict.get("position_embedding_type", "absolute")
    if position_embedding_type != "absolute":
        raise ValueError(
            f"{input_dir / 'config.json'} sets position_embedding_type {position_embedding_type!r}; only absolute "
            "position embeddings (those of every original release) are supported."
        )
    # Fields of transformers 4.x configs that today's BERT no longer reads; carrying them over would only mislead.
    config_dict = {key: value for key, value in config_dict.items() if key not in OBSOLETE_BERT_CONFIG_FIELDS}
    bert_config = BertConfig.from_dict(config_dict)

    head_file = input_dir / ORIGINAL_HEAD_FILE
    if head_file.is_file():
        head_state, n_head_layers = _read_original_head(
            _load_tensor_pickle(head_file), head_file, bert_config.hidden_size, bert_config.intermediate_size
        )
    elif allow_missing_head:
        head_state, n_head_layers = {}, CondenserConfig.n_head_layers
    else:
        raise FileNotFoundError(
            f"{input_dir} has no {ORIGINAL_HEAD_FILE}, the file in which the original code saved the Condenser head. "
            "Without it only the backbone can be converted: download the full release (it holds model.pt) or pass "
            "--allow-missing-head (`allow_missing_head=True`) to start from a newly initialised head."
        )
    config = CondenserConfig.from_dict(config_dict, skip_from=skip_from, n_head_layers=n_head_layers)

    weights_file_state, weights_file_name = _load_bert_weights(input_dir)
    bert_state, dropped = _map_bert_weights(weights_file_state, input_dir / weights_file_name)
    if dropped:
        logger.info(f"Dropped {len(dropped)} weight(s) a Condenser does not use: {', '.join(dropped)}.")

    # Built with `_init_weights` everywhere; every tensor is then overwritten from the checkpoint, except a missing
    # head's when `allow_missing_head` is set.
    model = CondenserForPreTraining(config).eval()
    model_shapes = {key: tuple(tensor.shape) for key, tensor in model.state_dict().items()}
    provided = {**bert_state, **head_state}
    # The tied decoder entries are the tensors they are tied to.
    provided.update({key: provided[source] for key, source in TIED_BERT_KEYS.items() if source in provided})
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
            "releases are complete BertForMaskedLM checkpoints; check that the weights and config.json belong together."
        )
    model.load_state_dict(provided, strict=bool(head_state))
    if not head_state:
        logger.warning(
            f"{input_dir} has no {ORIGINAL_HEAD_FILE}: the {n_head_layers}-layer Condenser head is NEWLY INITIALISED "
            "(BERT's initialisation); only the backbone and the MLM head come from the checkpoint. Pre-train before "
            "relying on the head."
        )
    if model.cls.predictions.decoder.weight is not model.bert.embeddings.word_embeddings.weight:
        raise RuntimeError("The MLM decoder of the converted model is not tied to the word embeddings.")
    expected_state = {key: tensor.detach().clone() for key, tensor in model.state_dict().items()}

    with atomic_directory(output_dir) as staging:
        model.save_pretrained(staging)
        copied = _copy_tokenizer_files(input_dir, staging)
        reloaded, loading_info = CondenserForPreTraining.from_pretrained(staging, output_loading_info=True)
        _verify_reloaded(reloaded, loading_info, expected_state, output_dir)
        if copied:
            try:
                AutoTokenizer.from_pretrained(staging)
            except Exception as error:  # any failure means the written tokenizer is unusable
                raise RuntimeError(f"The tokenizer written to {output_dir} does not load: {error}") from error
    logger.info(
        f"Wrote a Condenser checkpoint ({config.num_hidden_layers} layers, skip_from {config.skip_from}, "
        f"{n_head_layers} head layer(s), tokenizer files: {', '.join(copied) or 'none'}) to {output_dir}."
    )
    return output_dir


def export_to_bert(input_dir: str | os.PathLike, output_dir: str | os.PathLike, with_mlm_head: bool = True) -> Path:
    """Export a Condenser checkpoint as a plain BERT checkpoint that stock transformers loads without this package.

    The backbone keeps its BERT weight names, so the export is a copy of the right tensors under a BERT config
    (`model_type: "bert"`, no `auto_map`, no code files): a `BertForMaskedLM` checkpoint (backbone and MLM prediction
    head) by default, a `BertModel` checkpoint (backbone only) with `with_mlm_head=False`. The Condenser head is left
    out; it only serves pre-training. Tokenizer files are copied when present. Stock `AutoModel` gives the same
    `last_hidden_state` (and so the same CLS embedding, `last_hidden_state[:, 0]`) as [`CondenserModel`], and
    `AutoModelForMaskedLM` the same logits as the late MLM of [`CondenserForPreTraining`].

    A Condenser has no BERT pooler, so the export has none either: `AutoModel` reports `pooler.dense.*` as newly
    initialised. Use the CLS vector, never `pooler_output`, or load with `add_pooling_layer=False`.

    The output is written atomically and reloaded with transformers' BERT classes and compared tensor by tensor
    before it takes its final name.

    Args:
        input_dir (`str` or `os.PathLike`):
            Folder of a Condenser checkpoint (`model_type: "condenser"`), e.g. one written by
            [`convert_original_checkpoint`] or by `save_pretrained`.
        output_dir (`str` or `os.PathLike`):
            Folder to write the BERT checkpoint to; replaced if it exists.
        with_mlm_head (`bool`, *optional*, defaults to `True`):
            Whether to export the MLM prediction head too (`BertForMaskedLM`) or the backbone only (`BertModel`).

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
    output_dir = check_output_dir(output_dir, input_dir)
    config_dict = read_checkpoint_config(input_dir)
    model_type = config_dict.get("model_type")
    if model_type != CondenserConfig.model_type:
        hint = " It is already a BERT checkpoint." if model_type == "bert" else ""
        raise ValueError(
            f"{input_dir / 'config.json'} has model_type {model_type!r}; export_to_bert reads a Condenser checkpoint "
            f'(model_type "condenser"), e.g. one written by convert_original_checkpoint.{hint}'
        )

    source_class = CondenserForPreTraining if with_mlm_head else CondenserModel
    source, loading_info = source_class.from_pretrained(input_dir, output_loading_info=True)
    # The Condenser head serves pre-training only and is not exported: a checkpoint may lack it.
    missing = sorted(key for key in loading_info["missing_keys"] if not key.startswith("head_layers."))
    if missing:
        no_mlm_head = all(key.startswith("cls.") for key in missing)
        raise ValueError(
            f"{input_dir} lacks weight(s) the export needs: {', '.join(missing)}."
            + (
                " It holds no MLM prediction head (a CondenserModel checkpoint); export the backbone alone with "
                "--no-mlm-head (`with_mlm_head=False`)."
                if no_mlm_head
                else ""
            )
        )
    bert_config_dict = {
        key: value for key, value in source.config.to_dict().items() if key not in CONDENSER_ONLY_CONFIG_FIELDS
    }
    bert_config = BertConfig.from_dict(bert_config_dict)
    if with_mlm_head:
        target = BertForMaskedLM(bert_config)
        state = {key: value for key, value in source.state_dict().items() if not key.startswith("head_layers.")}
    else:
        target = BertModel(bert_config, add_pooling_layer=False)
        state = source.state_dict()
    target.load_state_dict(state, strict=True)
    target.eval()
    expected_state = {key: tensor.detach().clone() for key, tensor in target.state_dict().items()}

    with atomic_directory(output_dir) as staging:
        target.save_pretrained(staging)
        copied = _copy_tokenizer_files(input_dir, staging)
        if with_mlm_head:
            reloaded, reload_info = BertForMaskedLM.from_pretrained(staging, output_loading_info=True)
        else:
            reloaded, reload_info = BertModel.from_pretrained(
                staging, add_pooling_layer=False, output_loading_info=True
            )
        _verify_reloaded(reloaded, reload_info, expected_state, output_dir)
    logger.info(
        f"Wrote a plain BERT checkpoint ({type(target).__name__}, tokenizer files: {', '.join(copied) or 'none'}) "
        f"to {output_dir}."
    )
    return output_dir


class _CliFormatter(logging.Formatter):
    """Plain messages for progress, `warning: ...` for warnings, so the CLI reads like a tool, not a log."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        return f"{record.levelname.lower()}: {message}" if record.levelno >= logging.WARNING else message


def _run_cli(parser: argparse.ArgumentParser, argv: Sequence[str] | None, run) -> int:
    """Parse `argv`, run `run(args)` with this module's log shown on stderr; map conversion errors to exit status 1."""
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_CliFormatter("%(message)s"))
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        output_dir = run(args)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
    print(f"wrote {output_dir}")
    return 0


def convert_main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of `condenser-convert-original`: see [`convert_original_checkpoint`].

    Returns the exit status: 0 on success, 1 when the input cannot be converted (the message says why), 2 for a
    command-line usage error.
    """
    parser = argparse.ArgumentParser(
        description=(
            "Convert a checkpoint of the original Condenser / coCondenser code (a BERT folder plus the head in "
            "model.pt, e.g. a download of Luyu/condenser or Luyu/co-condenser-marco) into one Condenser checkpoint. "
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
        help="folder to write the Condenser checkpoint to, replaced if it exists; required",
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


def export_main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of `condenser-export-bert`: see [`export_to_bert`].

    Returns the exit status: 0 on success, 1 when the input cannot be exported (the message says why), 2 for a
    command-line usage error.
    """
    parser = argparse.ArgumentParser(
        description=(
            "Export a Condenser checkpoint's backbone (and MLM head) as a plain BERT checkpoint that stock "
            "transformers, Tevatron or sentence-transformers load without transformers-condenser."
        ),
    )
    parser.add_argument("--input_dir", required=True, help="folder of a Condenser checkpoint; required")
    parser.add_argument(
        "--output_dir", required=True, help="folder to write the BERT checkpoint to, replaced if it exists; required"
    )
    parser.add_argument(
        "--no-mlm-head",
        "--no_mlm_head",
        dest="with_mlm_head",
        action="store_false",
        help="write the backbone alone (BertModel) instead of BertForMaskedLM with the MLM prediction head "
        "(default: off, the MLM head is exported)",
    )
    return _run_cli(
        parser, argv, lambda args: export_to_bert(args.input_dir, args.output_dir, with_mlm_head=args.with_mlm_head)
    )


__all__ = ["convert_original_checkpoint", "export_to_bert"]
