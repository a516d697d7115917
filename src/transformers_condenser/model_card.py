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
"""`condenser-model-card`: write the Hub model card (`README.md`) of a Condenser checkpoint.

The card holds the Hub metadata (library, pipeline, tags, base model, licence, datasets, language and, when given, the
checkpoint's own evaluation results as a `model-index`), a description generated from the checkpoint's configuration,
the usage snippet (with the plugin, and with `trust_remote_code=True` without it), the published results of the papers
and their citations. `push_to_hub` of the Condenser models writes the same card when the repository has none.
"""

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .cli_utils import cli_entry_point
from .configuration_condenser import BACKBONE_DISPLAY_NAMES, CondenserConfig
from .file_utils import atomic_write_text
from .hub_mixin import read_checkpoint_config


WEIGHTS_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
# The fast tokenizer, and the files of the BERT (WordPiece), RoBERTa (byte-level BPE) and XLM-RoBERTa (SentencePiece)
# slow tokenizers.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
)


class _Family(NamedTuple):
    """How a card names a backbone family (`config.backbone_type`), with its indefinite article, and the family's first
    token, whose last-layer vector is the embedding."""

    name: str
    a_name: str
    first_token: str


BACKBONE_FAMILY_NAMES = {
    "bert": _Family(BACKBONE_DISPLAY_NAMES["bert"], "a BERT", "[CLS]"),
    "roberta": _Family(BACKBONE_DISPLAY_NAMES["roberta"], "a RoBERTa", "<s>"),
    "xlm-roberta": _Family(BACKBONE_DISPLAY_NAMES["xlm-roberta"], "an XLM-RoBERTa", "<s>"),
}

# Every card `write_model_card` writes says this in its first paragraph: `condenser-model-card` replaces such a card
# without asking, and any other `README.md` only with `--overwrite`.
GENERATED_CARD_MARK = "saved with [transformers-condenser](https://pypi.org/project/transformers-condenser/)"

# SPEC §4: the papers' fine-tuned retrievers (BERT-base size, trained with hard negatives), never this checkpoint.
PUBLISHED_RESULTS_TABLE = """\
| model | MS MARCO dev MRR@10 | MS MARCO dev R@1000 | NQ top-20 / top-100 | TriviaQA top-20 / top-100 |
|---|---|---|---|---|
| BERT (+ hard negatives) | 33.4 | 95.5 | - | - |
| Condenser (+ hard negatives) | 36.6 | 97.4 | 83.2 / 88.4 | 81.9 / 86.2 |
| coCondenser (+ hard negatives) | 38.2 | 98.4 | 84.3 / 89.0 | 83.2 / 87.3 |"""

CITATIONS = """\
@inproceedings{gao-callan-2021-condenser,
    title = "Condenser: a Pre-training Architecture for Dense Retrieval",
    author = "Gao, Luyu and Callan, Jamie",
    booktitle = "Proceedings of the 2021 Conference on Empirical Methods in Natural Language Processing",
    month = nov,
    year = "2021",
    address = "Online and Punta Cana, Dominican Republic",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2021.emnlp-main.75",
    doi = "10.18653/v1/2021.emnlp-main.75",
    pages = "981--993",
}

@inproceedings{gao-callan-2022-unsupervised,
    title = "Unsupervised Corpus Aware Language Model Pre-training for Dense Passage Retrieval",
    author = "Gao, Luyu and Callan, Jamie",
    booktitle = "Proceedings of the 60th Annual Meeting of the Association for Computational Linguistics (Volume 1: Long Papers)",
    month = may,
    year = "2022",
    address = "Dublin, Ireland",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2022.acl-long.203",
    doi = "10.18653/v1/2022.acl-long.203",
    pages = "2843--2853",
}"""


def _load_checkpoint_config(checkpoint_dir: str | os.PathLike) -> CondenserConfig:
    """Read the configuration of the Condenser checkpoint in `checkpoint_dir`, checking that it is one.

    Raises:
        `FileNotFoundError`: `checkpoint_dir` or its `config.json` does not exist.
        `NotADirectoryError`: `checkpoint_dir` is a file.
        `ValueError`: `config.json` is malformed, or the directory is not a Condenser checkpoint (a `config.json`
            that is not a Condenser configuration, or no weights file).
    """
    path = Path(checkpoint_dir)
    config_dict = read_checkpoint_config(path)
    model_type = config_dict.get("model_type")
    if model_type != CondenserConfig.model_type:
        raise ValueError(
            f"{path} is not a Condenser checkpoint: its config.json has model_type {model_type!r}, not "
            f"{CondenserConfig.model_type!r}. Convert or warm-start it into a Condenser first."
        )
    if not any((path / name).is_file() for name in WEIGHTS_FILES):
        raise ValueError(f"{path} is not a Condenser checkpoint: it holds no weights ({', '.join(WEIGHTS_FILES)}).")
    return CondenserConfig.from_dict(config_dict)


def _as_eval_results(eval_results: Sequence[EvalResult | Mapping[str, Any]]) -> list[EvalResult]:
    """`EvalResult`s from `EvalResult`s or from mappings of `EvalResult`'s fields (as in a JSON file)."""
    results = []
    for index, result in enumerate(eval_results):
        if isinstance(result, EvalResult):
            results.append(result)
            continue
        if not isinstance(result, Mapping):
            raise ValueError(f"Evaluation result {index} is a {type(result).__name__}, not a mapping of fields.")
        try:
            results.append(EvalResult(**result))
        except TypeError as error:
            raise ValueError(
                f"Evaluation result {index} ({dict(result)}) is not a valid huggingface_hub EvalResult: {error}. "
                "Give at least task_type, dataset_type, dataset_name, metric_type and metric_value."
            ) from error
    return results


def _description(config: CondenserConfig, *, cocondenser: bool, base_model: str | None, datasets: list[str]) -> str:
    """The card's prose: what the checkpoint is, generated from its configuration."""
    method = (
        "[coCondenser](https://huggingface.co/papers/2108.05540) (Condenser pre-training plus a corpus-level "
        "contrastive loss between two spans of each document)"
        if cocondenser
        else "[Condenser](https://huggingface.co/papers/2104.08253)"
    )
    family = BACKBONE_FAMILY_NAMES[config.backbone_type]
    first = f"`{family.first_token}`"
    a_name = family.a_name[0].upper() + family.a_name[1:]
    lines = [
        f"{a_name} encoder pre-trained for dense retrieval with {method}, {GENERATED_CARD_MARK}. Its last-layer "
        "first-token "
        f"({first}) vector is the embedding of a text: score a query against a passage with the dot product of their "
        f"{first} vectors, and fine-tune it as a retriever like any {family.name} encoder.",
        "",
        "## Model details",
        "",
        f'- Backbone: {family.name} encoder (`backbone_type: "{config.backbone_type}"`), '
        f"{config.num_hidden_layers} layers, hidden size {config.hidden_size}, {config.num_attention_heads} attention "
        f"heads, feed-forward size {config.intermediate_size}, vocabulary of {config.vocab_size} tokens, inputs of up "
        f"to {config.max_sequence_length} tokens.",
        f"- Condenser head (pre-training only): {config.n_head_layers} Transformer layer(s) reading the last-layer "
        f"{first} vector together with the token states of hidden state {config.skip_from} (`skip_from`, the output "
        f"of layer {config.skip_from}).",
        "- Pre-training loss: masked-LM loss of the head"
        + (" plus the ordinary masked-LM loss on the last layer (`late_mlm`)" if config.late_mlm else " only")
        + (" plus the span-level contrastive loss." if cocondenser else "."),
        f"- Embedding: `pooler_output` of `AutoModel`, which is the last-layer {first} vector (no pooler weights, no "
        "mean pooling).",
    ]
    architectures = config.architectures or []
    if "CondenserForPreTraining" in architectures:
        lines.append(
            "- This checkpoint also holds the pre-training head: `AutoModelForPreTraining` loads it to continue "
            "pre-training; `AutoModel` loads the backbone alone."
        )
    if base_model:
        lines.append(f"- Initialised from [{base_model}](https://huggingface.co/{base_model}).")
    if datasets:
        lines.append(
            "- Pre-training data: " + ", ".join(f"[{d}](https://huggingface.co/datasets/{d})" for d in datasets) + "."
        )
    return "\n".join(lines)


def _usage(repo_id: str, tokenizer_source: str, has_tokenizer: bool, config: CondenserConfig) -> str:
    """The usage section: install, load with the plugin, encode; then the `trust_remote_code` alternative. The code is
    the same for every backbone family (the checkpoint's configuration names it); only the truncation length and the
    name of the first token follow the family."""
    first_token = BACKBONE_FAMILY_NAMES[config.backbone_type].first_token
    # Truncate to what the positions cover, whatever the tokenizer's `model_max_length` says.
    max_length = config.max_sequence_length
    if has_tokenizer:
        note = ""
    elif tokenizer_source == repo_id:
        note = (
            f"\nThe snippet expects tokenizer files in `{repo_id}`: upload the tokenizer of the base model with the "
            "weights (`tokenizer.push_to_hub(...)`).\n"
        )
    else:
        note = f"\nThis checkpoint has no tokenizer files: the snippet uses the tokenizer of `{tokenizer_source}`.\n"
    # Without the plugin, `AutoTokenizer` reads the Condenser `config.json` of the repository, whose `auto_map` names
    # remote code: without `trust_remote_code=True` it stops at an interactive "[y/N]" prompt. A base model's
    # tokenizer needs no remote code.
    tokenizer_remote_code = ", trust_remote_code=True" if tokenizer_source == repo_id else ""
    return f"""## Usage

```bash
pip install transformers-condenser
```
{note}
```python
import torch
from transformers import AutoModel, AutoTokenizer

import transformers_condenser  # registers the Condenser classes with the Auto classes

tokenizer = AutoTokenizer.from_pretrained("{tokenizer_source}")
model = AutoModel.from_pretrained("{repo_id}").eval()

texts = ["what is dense retrieval?", "Dense retrieval ranks passages by the similarity of their vectors."]
batch = tokenizer(texts, padding=True, truncation=True, max_length={max_length}, return_tensors="pt")
with torch.no_grad():
    embeddings = model(**batch).pooler_output  # the last-layer {first_token} vectors, one row per text
score = embeddings[0] @ embeddings[1]  # dot product, as in the papers
```

Without installing the package, load the code saved in the repository instead. `trust_remote_code=True` runs the
repository's Python files (`configuration_condenser.py`, `modeling_condenser.py`) on your machine: read them first,
and pin the revision you reviewed with `revision="<commit sha>"`.

```python
import torch
from transformers import AutoModel, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{tokenizer_source}"{tokenizer_remote_code})
model = AutoModel.from_pretrained("{repo_id}", trust_remote_code=True).eval()
batch = tokenizer(["what is dense retrieval?"], truncation=True, max_length={max_length}, return_tensors="pt")
with torch.no_grad():
    embeddings = model(**batch).pooler_output
```"""


def _eval_table(results: list[EvalResult]) -> str:
    """A markdown table of this checkpoint's own evaluation results."""
    rows = ["| dataset | split | metric | value |", "|---|---|---|---|"]
    for result in results:
        rows.append(
            f"| {result.dataset_name} | {result.dataset_split or '-'} | {result.metric_name or result.metric_type} | "
            f"{result.metric_value} |"
        )
    return "\n".join(rows)


def write_model_card(
    checkpoint_dir: str | os.PathLike,
    *,
    repo_id: str | None = None,
    model_name: str | None = None,
    base_model: str | None = None,
    license: str = "apache-2.0",
    datasets: Sequence[str] | None = None,
    language: str | Sequence[str] | None = "en",
    cocondenser: bool | None = None,
    tags: Sequence[str] | None = None,
    eval_results: Sequence[EvalResult | Mapping[str, Any]] | None = None,
) -> Path:
    """Write the Hub model card (`README.md`) of the Condenser checkpoint in `checkpoint_dir`.

    The description is generated from the checkpoint's `config.json`, including its backbone family (BERT, RoBERTa or
    XLM-RoBERTa, `backbone_type`); the metadata follows the Hub's model card specification
    (`huggingface_hub.ModelCardData`). The file is replaced atomically: a reader never sees a
    half-written card, and an existing `README.md` is overwritten only once the new one is complete.

    Args:
        checkpoint_dir (`str` or `os.PathLike`):
            A directory written by `save_pretrained` of a Condenser model.
        repo_id (`str`, *optional*):
            The Hub id the checkpoint is (or will be) published under, used in the usage snippet. Defaults to the
            directory's name.
        model_name (`str`, *optional*):
            The card's title and the name of its `model-index`. Defaults to the last part of `repo_id`.
        base_model (`str`, *optional*):
            Hub id of the model the pre-training started from (e.g. `"google-bert/bert-base-uncased"` or
            `"FacebookAI/roberta-base"`).
        license (`str`, *optional*, defaults to `"apache-2.0"`):
            A Hub licence identifier.
        datasets (`Sequence[str]`, *optional*):
            Hub ids of the pre-training datasets.
        language (`str` or `Sequence[str]`, *optional*, defaults to `"en"`):
            ISO 639 code(s) of the training text; `None` leaves it out.
        cocondenser (`bool`, *optional*):
            Whether the checkpoint was pre-trained with coCondenser's contrastive loss (adds the `cocondenser` tag and
            says so in the description). Defaults to the configuration's `cocondenser`.
        tags (`Sequence[str]`, *optional*):
            Tags added to `condenser`, `dense-retrieval` and the backbone family's `model_type` (`bert`, `roberta` or
            `xlm-roberta`).
        eval_results (`Sequence[EvalResult | Mapping]`, *optional*):
            This checkpoint's own evaluation results, as `huggingface_hub.EvalResult`s or mappings of their fields
            (`task_type`, `dataset_type`, `dataset_name`, `metric_type`, `metric_value`, ...). They become the card's
            `model-index` and a table.

    Returns:
        `Path`: the path of the written `README.md`.

    Raises:
        `FileNotFoundError`, `NotADirectoryError` or `ValueError`: `checkpoint_dir` is missing or is not a Condenser
        checkpoint; `ValueError`: an evaluation result is malformed.

    Example:

    ```python
    >>> import tempfile
    >>> from huggingface_hub import ModelCard
    >>> from transformers_condenser import CondenserConfig, CondenserModel
    >>> from transformers_condenser.model_card import write_model_card

    >>> checkpoint = tempfile.mkdtemp()
    >>> config = CondenserConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
    ...     intermediate_size=37, skip_from=2)
    >>> CondenserModel(config).save_pretrained(checkpoint)
    >>> readme = write_model_card(checkpoint, repo_id="org/condenser-tiny", base_model="google-bert/bert-base-uncased")
    >>> card = ModelCard.load(readme)
    >>> card.data.pipeline_tag, card.data.tags[:2]
    ('feature-extraction', ['condenser', 'dense-retrieval'])
    ```
    """
    config = _load_checkpoint_config(checkpoint_dir)
    if cocondenser is None:
        cocondenser = config.cocondenser
    path = Path(checkpoint_dir).resolve()
    repo_id = repo_id or path.name
    model_name = model_name or repo_id.split("/")[-1]
    datasets = list(datasets or [])
    results = _as_eval_results(eval_results or [])
    has_tokenizer = any((path / name).is_file() for name in TOKENIZER_FILES)
    tokenizer_source = repo_id if has_tokenizer or not base_model else base_model

    # The family's `model_type` as tag ("bert", "roberta", "xlm-roberta"), as the Hub tags the family's own models.
    card_tags = ["condenser"] + (["cocondenser"] if cocondenser else []) + ["dense-retrieval", config.backbone_type]
    card_tags += [tag for tag in tags or [] if tag not in card_tags]
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="feature-extraction",
        tags=card_tags,
        base_model=base_model,
        license=license,
        datasets=datasets or None,
        language=list(language) if language is not None and not isinstance(language, str) else language,
        # `model_name` names the `model-index`; huggingface_hub writes it only together with evaluation results.
        model_name=model_name if results else None,
        eval_results=results or None,
    )

    sections = [
        f"# {model_name}",
        _description(config, cocondenser=cocondenser, base_model=base_model, datasets=datasets),
        _usage(repo_id, tokenizer_source, has_tokenizer, config),
    ]
    if results:
        sections.append("## Evaluation of this checkpoint\n\n" + _eval_table(results))
    family_name = BACKBONE_FAMILY_NAMES[config.backbone_type].name
    backbone_note = "" if config.backbone_type == "bert" else f", whose backbone is {family_name} rather than BERT"
    sections.append(
        "## Published results\n\n"
        "These are the numbers published in the Condenser and coCondenser papers for BERT-base retrievers fine-tuned "
        "from each pre-trained model with hard negatives. They are the papers' results, not measurements of this "
        f"checkpoint{backbone_note}.\n\n" + PUBLISHED_RESULTS_TABLE
    )
    sections.append(
        "## Citation\n\n"
        "Condenser (Gao & Callan, EMNLP 2021) and coCondenser (Gao & Callan, ACL 2022):\n\n"
        f"```bibtex\n{CITATIONS}\n```"
    )
    card = ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n" + "\n\n".join(sections) + "\n")
    return atomic_write_text(path / "README.md", str(card))


def _is_generated_card(readme: str | os.PathLike) -> bool:
    """Whether the file `readme` is a card [`write_model_card`] wrote (and may replace without asking), rather than
    one written by hand or by another tool."""
    try:
        text = Path(readme).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return GENERATED_CARD_MARK in text


def _read_eval_results(path: str) -> list[Mapping[str, Any]]:
    """The evaluation results of a JSON file holding a list of `EvalResult` field mappings."""
    try:
        results = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise FileNotFoundError(f"Cannot read the evaluation results file {path}: {error.strerror}.") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if isinstance(results, Mapping):
        results = [results]
    if not isinstance(results, list):
        raise ValueError(
            f"{path} must hold a JSON list of evaluation results (objects), got {type(results).__name__}."
        )
    return results


@cli_entry_point("condenser-model-card")
def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point of `condenser-model-card`.

    Exits with status 1 and one line on stderr (`condenser-model-card: error: ...`) when the checkpoint or the
    evaluation results cannot be read, the card cannot be written, or the folder holds a `README.md` that this tool
    did not write (pass `--overwrite` to replace it); `--debug` shows the traceback.
    """
    parser = argparse.ArgumentParser(
        prog="condenser-model-card",
        description="Write the Hub model card (README.md) of a Condenser checkpoint directory.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--checkpoint_dir", required=True, help="directory written by save_pretrained")
    parser.add_argument("--repo_id", default=None, help="Hub id used in the usage snippet (default: directory name)")
    parser.add_argument("--model_name", default=None, help="card title and model-index name (default: from repo_id)")
    parser.add_argument("--base_model", default=None, help="Hub id of the model pre-training started from")
    parser.add_argument("--license", default="apache-2.0", help="Hub licence identifier")
    parser.add_argument(
        "--dataset",
        dest="datasets",
        action="append",
        default=None,
        help="Hub id of a pre-training dataset (repeatable)",
    )
    parser.add_argument("--language", default="en", help="ISO 639 code of the training text")
    parser.add_argument(
        "--cocondenser",
        action="store_true",
        default=None,
        help="the checkpoint was pre-trained with coCondenser (default: what its config.json says)",
    )
    parser.add_argument("--tag", dest="tags", action="append", default=None, help="extra Hub tag (repeatable)")
    parser.add_argument(
        "--eval_results",
        default=None,
        help="JSON file with a list of evaluation results (huggingface_hub EvalResult fields) for the model-index",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a README.md this tool did not write (default: off, refuse; a card it wrote is always replaced)",
    )
    args = parser.parse_args(argv)

    eval_results = _read_eval_results(args.eval_results) if args.eval_results else None
    existing = Path(args.checkpoint_dir) / "README.md"
    if existing.is_file() and not args.overwrite and not _is_generated_card(existing):
        raise ValueError(
            f"{existing} already exists and was not written by condenser-model-card (a hand-written card?); it would "
            "be replaced. Move it away, or pass --overwrite to replace it."
        )
    readme = write_model_card(
        args.checkpoint_dir,
        repo_id=args.repo_id,
        model_name=args.model_name,
        base_model=args.base_model,
        license=args.license,
        datasets=args.datasets,
        language=args.language,
        cocondenser=args.cocondenser,
        tags=args.tags,
        eval_results=eval_results,
    )
    print(f"wrote the model card to {readme}")


__all__ = ["write_model_card"]


if __name__ == "__main__":
    main()
