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
"""Hub-facing behaviour of the Condenser models, kept out of the model file: the model classes inherit it.

- Saving writes the code files and an `auto_map`, so checkpoints also load with `trust_remote_code=True`.
- Uploading writes the Condenser model card (`model_card.write_model_card`) instead of transformers' generic one.
- Loading refuses checkpoints in the layout of the original Condenser code (a BERT, RoBERTa or XLM-RoBERTa checkpoint
  + `model.pt`), whose head `from_pretrained` would silently leave random, and turns unreadable weights into a clear
  `OSError`.
- `read_checkpoint_config`: the one reader of a checkpoint folder's `config.json` for the package's tools, with one
  error policy: a missing folder or file is an `OSError`, a malformed file a `ValueError`.
"""

import json
import os
from pathlib import Path

from transformers.utils import logging

from .configuration_condenser import BACKBONE_DISPLAY_NAMES, BACKBONE_TYPES, CondenserConfig


logger = logging.get_logger(__name__)

# Where `trust_remote_code=True` finds each class in a saved checkpoint (the code files are saved next to the weights).
CONDENSER_AUTO_MAP = {
    "AutoConfig": "configuration_condenser.CondenserConfig",
    "AutoModel": "modeling_condenser.CondenserModel",
    "AutoModelForPreTraining": "modeling_condenser.CondenserForPreTraining",
}

# The first line of the card transformers generates for a repository that has none.
_GENERIC_CARD_SENTENCE = "This model card has been automatically generated."


def read_checkpoint_config(checkpoint_dir: str | os.PathLike, what: str = "Checkpoint folder") -> dict:
    """The parsed `config.json` of the checkpoint folder `checkpoint_dir`.

    Raises:
        `FileNotFoundError`: the folder, or its `config.json`, does not exist.
        `NotADirectoryError`: `checkpoint_dir` is a file.
        `ValueError`: `config.json` is not valid JSON, or not a JSON object.
    """
    path = Path(checkpoint_dir)
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} does not exist; pass the folder that holds the checkpoint.")
    if not path.is_dir():
        raise NotADirectoryError(f"{what} {path} is a file; pass the folder that holds the checkpoint.")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(
            f"{path} has no config.json; pass the folder of a saved checkpoint (config.json next to the weights)."
        )
    try:
        config_dict = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{config_file} is not valid JSON ({error}); restore the original file.") from error
    if not isinstance(config_dict, dict):
        raise ValueError(f"{config_file} must hold a JSON object, got {type(config_dict).__name__}.")
    return config_dict


def _has_original_head(source: str, kwargs: dict) -> bool:
    """Whether `source` (a folder or Hub id) holds the original code's `model.pt` head file. Never opens the file."""
    from huggingface_hub import errors, file_exists, is_offline_mode, try_to_load_from_cache

    # The HTTP client's base error, re-exported by huggingface_hub (its `HfHubHTTPError` derives from it).
    http_error = getattr(errors, "HTTPError", errors.HfHubHTTPError)

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
    except (OSError, ValueError, http_error):
        # Not a Hub id (a `ValueError` from the id validation), or the Hub cannot be reached: the loading itself
        # reports what is wrong with `source`.
        return False


def _refuse_original_release(source: str, kwargs: dict) -> None:
    """Raise a `ValueError` if `source` is a BERT, RoBERTa or XLM-RoBERTa checkpoint with the original code's head in
    `model.pt` (the original code loaded such Hub ids with a random head, silently)."""
    if not _has_original_head(source, kwargs):
        return
    names = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder", "proxies")
    try:
        config_dict, _ = CondenserConfig.get_config_dict(source, **{k: kwargs[k] for k in names if k in kwargs})
    except (OSError, ValueError):  # No readable config: the loading itself reports it.
        return
    model_type = config_dict.get("model_type")
    if model_type not in BACKBONE_TYPES:
        return
    input_dir = source if os.path.isdir(source) else f"<a local download of {source}>"
    raise ValueError(
        f"{source} is a checkpoint of the original Condenser code: a model of the "
        f'{BACKBONE_DISPLAY_NAMES[model_type]} family (model_type "{model_type}") whose trained Condenser head lives in a separate model.pt, which from_pretrained does not '
        "read (it would leave the head randomly initialised). Convert it once into a Condenser checkpoint with "
        f"`condenser-convert-original --input_dir {input_dir} --output_dir <new folder>` (or "
        "`transformers_condenser.convert_original_checkpoint(input_dir, output_dir)`) and load the output folder. "
        "To start from the backbone only and deliberately discard the old head, pass `ignore_original_head=True`; "
        "`CondenserModel.from_pretrained` loads the backbone alone."
    )


class CondenserHubMixin:
    """Saving, uploading and loading behaviour of the Condenser models, on top of `PreTrainedModel`'s.

    Class attribute `_refuses_original_release`: whether `from_pretrained` refuses checkpoints of the original release
    (set by the models that hold the Condenser head, whose weights such a checkpoint keeps elsewhere).
    """

    _refuses_original_release = False

    def save_pretrained(self, save_directory: str | os.PathLike, *args, **kwargs) -> None:
        """Save like [`~transformers.PreTrainedModel.save_pretrained`], plus the code files and an `auto_map` in
        `config.json` for `AutoConfig`, `AutoModel` and `AutoModelForPreTraining`, so that the checkpoint also loads
        with `trust_remote_code=True` where `transformers_condenser` is not installed."""
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
        generic = existing is None or _GENERIC_CARD_SENTENCE in existing.text
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
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, ignore_original_head: bool = False, **kwargs):
        """Load like [`~transformers.PreTrainedModel.from_pretrained`], with two clear errors.

        - A weights file that is empty, truncated or not safetensors at all raises an `OSError` that says so.
        - For models with the Condenser head ([`CondenserForPreTraining`]): a folder or Hub id in the layout of the
          original Condenser code (a BERT, RoBERTa or XLM-RoBERTa checkpoint, `model_type` `"bert"`, `"roberta"` or
          `"xlm-roberta"`, plus the trained head in a separate `model.pt`, as `Luyu/condenser` or
          `Luyu/co-condenser-marco`) is refused with a `ValueError`: loading it directly would keep the backbone
          and silently leave the head random. Convert it once with
          `condenser-convert-original --input_dir ... --output_dir ...`. Only the existence of `model.pt` is checked
          (in the folder; for a Hub id in the local cache and, when online, on the Hub); it is never opened.
          [`CondenserModel`] loads such checkpoints as they are (backbone only).

        Args:
            ignore_original_head (`bool`, *optional*, defaults to `False`):
                Load an original-release checkpoint anyway, deliberately discarding the trained head in `model.pt`:
                the head is newly initialised (and reported missing), as for a plain BERT or RoBERTa checkpoint.
            *model_args, **kwargs:
                The arguments of [`~transformers.PreTrainedModel.from_pretrained`].
        """
        from safetensors import SafetensorError

        if cls._refuses_original_release and not ignore_original_head and pretrained_model_name_or_path is not None:
            _refuse_original_release(str(pretrained_model_name_or_path), kwargs)
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        except SafetensorError as error:
            raise OSError(
                f"The weights of {pretrained_model_name_or_path} cannot be read ({error}): the safetensors file is "
                "empty, truncated or corrupt. Download it again (`force_download=True`) or save the checkpoint again."
            ) from error
