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
"""`condenser-pretrain`: Condenser and coCondenser pre-training on transformers' `Trainer`.

Every `TrainingArguments` flag works (bf16/fp16, gradient checkpointing, gradient accumulation, `resume_from_checkpoint`,
logging, saving, evaluation, `report_to`, DeepSpeed/FSDP), and the same command runs under `torchrun` or `accelerate
launch` on many GPUs and nodes. The training data is a dataset written by `condenser-prepare`.

Examples (shell):

    condenser-pretrain --model_name_or_path google-bert/bert-base-uncased --skip_from 6 \\
        --train_dir data/condenser --output_dir runs/condenser --per_device_train_batch_size 64 \\
        --learning_rate 1e-4 --num_train_epochs 8 --warmup_steps 0.1 --bf16

    torchrun --nproc_per_node 8 -m transformers_condenser.pretrain --cocondenser \\
        --model_name_or_path runs/condenser --train_dir data/marco-spans --output_dir runs/cocondenser \\
        --per_device_train_batch_size 256 --gradient_cache_chunk_size 64 --learning_rate 1e-4

    # RoBERTa and XLM-RoBERTa warm-start the same way (prepare the data with their tokenizer; at most 512 tokens).
    condenser-pretrain --model_name_or_path FacebookAI/xlm-roberta-base --skip_from 6 \\
        --train_dir data/xlmr-condenser --output_dir runs/xlmr-condenser --max_length 512 --bf16 \\
        --export_backbone_dir runs/xlmr-condenser-plain
"""

import dataclasses
import errno
import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from transformers import AutoTokenizer, HfArgumentParser, PretrainedConfig, TrainingArguments, set_seed
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import logging as hf_logging

from .cli_utils import DEBUG_ENV, DEBUG_FLAG, cli_entry_point
from .configuration_condenser import CondenserConfig
from .file_utils import atomic_update
from .modeling_condenser import CondenserForPreTraining
from .trainer import CondenserTrainer, CondenserTrainingArguments
from .utils_import import extra_imports


# Read by `_load_dataset`; imported here so that the tool fails at start-up, not after building the model.
with extra_imports("pretraining"):
    import datasets  # noqa: F401


logger = hf_logging.get_logger(__name__)

PROG = "condenser-pretrain"

TRAINING_ARGUMENTS_GROUP = "transformers TrainingArguments"
"""`--help` section of the `TrainingArguments` flags, listed after condenser-pretrain's own."""

CONDENSER_TRAINING_GROUP = "Condenser training and outputs"
"""`--help` section of the training flags condenser-pretrain adds to `TrainingArguments`."""


@dataclass
class ModelArguments:
    """Which model to pre-train and how its Condenser head is shaped."""

    _argument_group_name = "model and Condenser head"

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "A BERT, RoBERTa or XLM-RoBERTa checkpoint (warm start: encoder and MLM head loaded, Condenser "
            "head initialised) or a Condenser checkpoint (everything resumed, head included). Leave empty to start "
            "from --config_name."
        },
    )
    config_name: str | None = field(
        default=None,
        metadata={"help": "A config.json (or folder) to build a randomly initialised model from (no warm start)."},
    )
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "Tokenizer folder or id; defaults to --model_name_or_path."}
    )
    skip_from: int | None = field(
        default=None,
        metadata={"help": "Early hidden state feeding the head (1..num_hidden_layers-1); default: the config's (6)."},
    )
    n_head_layers: int | None = field(
        default=None, metadata={"help": "Layers in the Condenser head; default: the config's (2)."}
    )
    late_mlm: bool | None = field(
        default=None, metadata={"help": "Add the last-layer MLM loss; default: the config's (True)."}
    )
    sparse_prediction: bool | None = field(
        default=None,
        metadata={
            "help": "Compute logits only at the masked positions and run the last backbone and head layers only at "
            "the rows the losses read (same losses, faster); default: the config's (True)."
        },
    )
    attn_implementation: str | None = field(
        default=None,
        metadata={
            "help": "Attention backend: sdpa_recompute (sdpa that recomputes the attention probabilities in backward "
            "where sdpa would keep them, CPU training with dropout: less memory, same results), sdpa, eager, "
            "flex_attention or flash_attention_2; default: sdpa_recompute."
        },
    )
    cocondenser: bool = field(
        default=False,
        metadata={
            "help": "coCondenser mode: add the contrastive span loss (train data must be a coCondenser-mode dataset "
            "of documents with >= 2 spans)."
        },
    )


@dataclass
class DataArguments:
    """Where the prepared data is and how batches are made."""

    _argument_group_name = "data"

    train_dir: str | None = field(
        default=None, metadata={"help": "Training dataset written by condenser-prepare (datasets save_to_disk)."}
    )
    eval_dir: str | None = field(default=None, metadata={"help": "Optional evaluation dataset, same format."})
    retrieval_eval_dir: str | None = field(
        default=None,
        metadata={
            "help": "A BEIR-format folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) to evaluate retrieval on "
            "at every evaluation (--eval_strategy steps|epoch): logs eval_MRR@10, eval_nDCG@10, eval_R@100 and "
            "eval_R@1000, usable as --metric_for_best_model eval_MRR@10. Keep it small: the corpus is encoded at "
            "every evaluation. Needs the evaluation extra."
        },
    )
    retrieval_eval_split: str = field(
        default="dev", metadata={"help": "The qrels split of --retrieval_eval_dir (qrels/<split>.tsv)."}
    )
    retrieval_query_max_length: int | None = field(
        default=None,
        metadata={"help": "Query tokens of the retrieval evaluation, special tokens included; default: 32."},
    )
    retrieval_passage_max_length: int | None = field(
        default=None,
        metadata={
            "help": "Passage tokens of the retrieval evaluation, special tokens included; default: 128, or the "
            "model's longest input if shorter."
        },
    )
    max_length: int = field(default=128, metadata={"help": "Maximum sequence length, special tokens included."})
    mlm_probability: float = field(default=0.15, metadata={"help": "Fraction of tokens masked (whole words)."})
    pad_to_multiple_of: int | None = field(
        default=None, metadata={"help": "Pad batches to a multiple of this (8 helps tensor cores)."}
    )


@dataclass
class CondenserPretrainingArguments(CondenserTrainingArguments):
    """[`CondenserTrainingArguments`] (all of `TrainingArguments` plus the gradient cache) and what to write at the end."""

    _argument_group_name = TRAINING_ARGUMENTS_GROUP

    export_bert_dir: str | None = field(
        default=None,
        metadata={
            "help": "Also write a plain BERT export of the final model here (BERT backbones only; see "
            "--export_backbone_dir)."
        },
    )
    export_backbone_dir: str | None = field(
        default=None,
        metadata={
            "help": "Also write the final model's backbone and MLM head here as a plain checkpoint of its own family "
            "(BertForMaskedLM, RobertaForMaskedLM or XLMRobertaForMaskedLM), as condenser-export-backbone does."
        },
    )
    model_card: bool = field(default=True, metadata={"help": "Write a README.md model card into --output_dir."})
    loss_curve: bool = field(default=True, metadata={"help": "Write loss_curve.png into --output_dir."})


def _config_source(model_args: ModelArguments) -> str:
    """The checkpoint or config the run's configuration is read from."""
    if model_args.model_name_or_path is not None:
        return model_args.model_name_or_path
    if model_args.config_name is None:
        raise ValueError(
            "Pass --model_name_or_path (a BERT, RoBERTa, XLM-RoBERTa or Condenser checkpoint) or --config_name."
        )
    return model_args.config_name


def _load_config(model_args: ModelArguments) -> CondenserConfig:
    """The run's [`CondenserConfig`], read from the checkpoint's or `--config_name`'s config.json alone (no weights),
    with the command line's head flags applied; a head the backbone cannot take is refused naming the flag."""
    source = _config_source(model_args)
    overrides = {
        name: value
        for name in ("skip_from", "n_head_layers", "late_mlm", "sparse_prediction")
        if (value := getattr(model_args, name)) is not None
    }
    # The dataset's mode follows the flag, so the flag decides, also for a checkpoint saved by the other mode.
    overrides["cocondenser"] = model_args.cocondenser
    flag = "--model_name_or_path" if model_args.model_name_or_path is not None else "--config_name"
    try:
        config_dict, _ = PretrainedConfig.get_config_dict(source)
    except OSError as error:
        raise OSError(
            f"{flag} {source}: no config.json there (a local folder, or a Hub id reachable or cached); pass the folder "
            "of a checkpoint or a Hub id."
        ) from error
    layers = config_dict.get("num_hidden_layers")
    skip_from = overrides.get("skip_from", config_dict.get("skip_from", CondenserConfig.skip_from))
    if isinstance(layers, int) and layers >= 2 and not 1 <= skip_from <= layers - 1:
        given = "" if "skip_from" in overrides else " (the default; the checkpoint sets none)"
        raise ValueError(
            f"--skip_from {skip_from}{given} is out of range for this {layers}-layer backbone: the Condenser head reads "
            f"the output of an early layer, 1 to {layers - 1}. Pass --skip_from {max(1, layers // 2)} (the middle "
            "layer, as the paper's 6 of 12) or another value in that range."
        )
    if "n_head_layers" in overrides and overrides["n_head_layers"] < 1:
        raise ValueError(
            f"--n_head_layers {overrides['n_head_layers']}: the Condenser head needs at least 1 layer; pass "
            "--n_head_layers 2 (the paper's)."
        )
    config = CondenserConfig.from_pretrained(source, **overrides)
    if model_args.model_name_or_path is None:
        config._attn_implementation = model_args.attn_implementation
    return config


def _load_model(model_args: ModelArguments, config: CondenserConfig) -> CondenserForPreTraining:
    """Warm-start, resume or build the pre-training model the arguments describe, with the checked `config`."""
    if model_args.model_name_or_path is not None:
        return CondenserForPreTraining.from_pretrained(
            model_args.model_name_or_path, config=config, attn_implementation=model_args.attn_implementation
        )
    return CondenserForPreTraining(config)


def _check_model_fits(
    config: CondenserConfig,
    tokenizer,
    max_length: int,
    training_args: CondenserPretrainingArguments,
    from_scratch: bool = False,
) -> None:
    """Refuse, before any weight is loaded, a sequence length, tokenizer or export the model cannot take
    (`from_scratch`: the model is built from `--config_name`, whose vocabulary must be the tokenizer's)."""
    limit = config.max_sequence_length
    if max_length > limit:
        if config.backbone_type == "bert":
            reason = f"max_position_embeddings ({config.max_position_embeddings})"
        else:
            reason = (
                f"max_position_embeddings ({config.max_position_embeddings}) - pad_token_id ({config.pad_token_id}) "
                f"- 1, since a {config.backbone_type} backbone numbers positions from pad_token_id + 1"
            )
        raise ValueError(
            f"--max_length ({max_length}) exceeds the longest input the model's position embeddings cover: {limit} = "
            f"{reason}. Pass --max_length {limit} or less."
        )
    if from_scratch and config.vocab_size != len(tokenizer):
        raise ValueError(
            f"The config's vocab_size ({config.vocab_size}) differs from the tokenizer's ({len(tokenizer)}); "
            "set vocab_size in the config to the tokenizer's size."
        )
    if len(tokenizer) > config.vocab_size:
        raise ValueError(
            f"The tokenizer has {len(tokenizer)} tokens, more than the model's vocab_size ({config.vocab_size}): pass "
            "the tokenizer the model was trained with (--tokenizer_name)."
        )
    if config.backbone_type != "bert" and tokenizer.pad_token_id != config.pad_token_id:
        # RoBERTa-family embeddings number positions from the padding id: another id would give padding positions
        # and shift every token's position.
        raise ValueError(
            f"The tokenizer pads with id {tokenizer.pad_token_id}, but the {config.backbone_type} backbone's "
            f"pad_token_id is {config.pad_token_id} (its position ids count from it): pass the tokenizer the model "
            "was trained with (--tokenizer_name)."
        )
    if training_args.export_bert_dir and config.backbone_type != "bert":
        raise ValueError(
            f"--export_bert_dir writes a BERT, but this model has a {config.backbone_type} backbone: pass "
            "--export_backbone_dir instead, which writes the backbone in its own architecture."
        )


def _load_dataset(path: str | None, mode: str):
    """A dataset written by `condenser-prepare`, checked to hold the column the mode needs."""
    from datasets import load_from_disk

    if path is None:
        return None
    if not Path(path).is_dir():
        raise OSError(f"No prepared dataset at {path}; write one with `condenser-prepare`.")
    dataset = load_from_disk(path)
    column = "spans" if mode == "cocondenser" else "input_ids"
    if column not in dataset.column_names:
        raise ValueError(
            f"{path} has columns {dataset.column_names}, but {mode} pre-training needs a `{column}` column: prepare it "
            f"with `condenser-prepare --mode {mode}`."
        )
    return dataset


def _load_retrieval_data(data_args: DataArguments, training_args: CondenserPretrainingArguments):
    """The BEIR split of `--retrieval_eval_dir`, read and checked up front (`None` without the flag)."""
    if data_args.retrieval_eval_dir is None:
        return None
    if training_args.eval_strategy == "no":
        raise ValueError(
            "--retrieval_eval_dir evaluates retrieval at every evaluation, but --eval_strategy is `no`: pass "
            "--eval_strategy steps --eval_steps N (or --eval_strategy epoch)."
        )
    with extra_imports("evaluation"):
        import ir_measures  # noqa: F401

    from .beir_evaluation import load_beir_folder

    return load_beir_folder(data_args.retrieval_eval_dir, data_args.retrieval_eval_split)


def _check_output_dir(output_dir: str) -> None:
    """Create `--output_dir` if missing and write (then remove) a small file there: no permission or no space left
    fails now, naming the folder, rather than at the first checkpoint hours into the run."""
    folder = Path(output_dir).resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, probe = tempfile.mkstemp(prefix=".condenser-write-check-", dir=folder)
        try:
            os.write(descriptor, b"condenser-pretrain checks that --output_dir is writable\n")
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
            os.unlink(probe)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            fix = "free space on that device or pass an --output_dir on another one"
        elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            fix = "pass an --output_dir you can write to (or fix the folder's permissions)"
        else:
            fix = "pass another --output_dir"
        reason = error.strerror or str(error)
        raise OSError(error.errno, f"--output_dir {folder} is not writable ({reason}): {fix}.") from error


def _check_prepared_data(
    path: str | None, flag: str, mode: str, tokenizer, max_length: int, config: CondenserConfig
) -> None:
    """The preparation report of the dataset at `path` against the run: its mode, tokenizer, length and vocabulary."""
    if path is None:
        return
    from .data import check_prepared_dataset

    try:
        check_prepared_dataset(path, tokenizer, mode=mode, max_length=max_length, vocab_size=config.vocab_size)
    except ValueError as error:
        raise ValueError(f"{flag}: {error}") from None


def run_pretraining(
    model_args: ModelArguments, data_args: DataArguments, training_args: CondenserPretrainingArguments
) -> Path:
    """Pre-train as the arguments say, save the final checkpoint (head included) and the end-of-run extras.

    Everything that can be checked before the model's weights are loaded is checked first, so that a wrong
    combination fails in seconds: the flags, the configuration (`--skip_from`, `--max_length` against the position
    embeddings), the tokenizer against the model's vocabulary, each prepared dataset against the run (mode, tokenizer,
    `--max_length`, token ids within the vocabulary) and that `--output_dir` is writable.

    Returns:
        `Path`: the output directory.
    """
    from .collators import DataCollatorForCoCondenser, DataCollatorForCondenser

    if data_args.train_dir is None:
        raise ValueError("Pass --train_dir: a dataset written by `condenser-prepare`.")
    if training_args.gradient_cache_chunk_size is not None and not model_args.cocondenser:
        raise ValueError("--gradient_cache_chunk_size only applies to coCondenser pre-training (--cocondenser).")
    mode = "cocondenser" if model_args.cocondenser else "condenser"
    tokenizer_source = model_args.tokenizer_name or model_args.model_name_or_path
    if tokenizer_source is None and model_args.config_name is not None:
        raise ValueError("Pass --tokenizer_name when building the model from --config_name.")
    set_seed(training_args.seed)
    # Our datasets hold `input_ids` or `spans`, which the collators turn into model inputs: keep them.
    training_args.remove_unused_columns = False

    # Everything that can be checked is checked before any model is loaded: a wrong combination fails in seconds.
    config = _load_config(model_args)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
    from_scratch = model_args.model_name_or_path is None
    _check_model_fits(config, tokenizer, data_args.max_length, training_args, from_scratch=from_scratch)
    _check_prepared_data(data_args.train_dir, "--train_dir", mode, tokenizer, data_args.max_length, config)
    _check_prepared_data(data_args.eval_dir, "--eval_dir", mode, tokenizer, data_args.max_length, config)
    train_dataset = _load_dataset(data_args.train_dir, mode)
    eval_dataset = _load_dataset(data_args.eval_dir, mode)
    retrieval_data = _load_retrieval_data(data_args, training_args)
    settings = None
    if retrieval_data is not None:
        from .beir_evaluation import EvaluationSettings, check_lengths

        limit = config.max_sequence_length
        query_length, passage_length = data_args.retrieval_query_max_length, data_args.retrieval_passage_max_length
        settings = EvaluationSettings(
            split=data_args.retrieval_eval_split,
            query_max_length=min(32, limit) if query_length is None else query_length,
            passage_max_length=min(128, limit) if passage_length is None else passage_length,
            batch_size=training_args.per_device_eval_batch_size,
        )
        check_lengths(settings, config)
    if training_args.should_save:
        _check_output_dir(training_args.output_dir)

    model = _load_model(model_args, config)
    collator_class = DataCollatorForCoCondenser if model_args.cocondenser else DataCollatorForCondenser
    collator = collator_class(
        tokenizer,
        max_length=data_args.max_length,
        mlm_probability=data_args.mlm_probability,
        pad_to_multiple_of=data_args.pad_to_multiple_of,
        seed=training_args.seed,
    )
    callbacks = []
    if retrieval_data is not None:
        from .beir_evaluation import RetrievalEvaluationCallback

        callbacks.append(RetrievalEvaluationCallback(retrieval_data, tokenizer, settings))
    trainer = CondenserTrainer(
        model=model,
        args=training_args,
        data_collator=collator,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)

    # The final model and its extras are written beside the checkpoints, into a staging folder first: an interrupted
    # save leaves the previous final model of --output_dir intact, never a half-written one.
    output_dir = Path(training_args.output_dir).resolve()
    is_main_process = trainer.is_world_process_zero()
    with atomic_update(
        output_dir, is_main_process=is_main_process, wait_for_everyone=trainer.accelerator.wait_for_everyone
    ) as staging:
        trainer.save_model(str(staging))
        if is_main_process:
            _write_extras(trainer, model_args, training_args, staging, output_dir)
    if is_main_process and training_args.export_bert_dir:
        from .conversion import export_to_bert

        logger.info(f"Plain BERT export: {export_to_bert(output_dir, training_args.export_bert_dir)}")
    if is_main_process and training_args.export_backbone_dir:
        from .conversion import export_backbone

        logger.info(f"Plain backbone export: {export_backbone(output_dir, training_args.export_backbone_dir)}")
    return output_dir


def _write_extras(
    trainer, model_args: ModelArguments, training_args: CondenserPretrainingArguments, folder: Path, output_dir: Path
):
    """Log history, loss curve and model card, written into `folder` (the staging folder of `output_dir`): what a user
    looks at or ships after pre-training."""
    (folder / "trainer_log_history.json").write_text(json.dumps(trainer.state.log_history, indent=2))
    if training_args.loss_curve:
        from .evaluation import plot_loss_curves

        plot_loss_curves(trainer.state.log_history, folder / "loss_curve.png", title="Pre-training loss")
        logger.info(f"Loss curve: {output_dir / 'loss_curve.png'}")
    if training_args.model_card:
        from .model_card import write_model_card

        base_model = model_args.model_name_or_path
        write_model_card(
            folder,
            repo_id=output_dir.name,
            base_model=base_model if base_model and not Path(base_model).exists() else None,
            cocondenser=model_args.cocondenser,
        )


def build_parser() -> HfArgumentParser:
    """The `condenser-pretrain` parser: our flags first, grouped (model and head, data, Condenser training and
    outputs), then every `TrainingArguments` flag."""
    parser = HfArgumentParser(
        (ModelArguments, DataArguments, CondenserPretrainingArguments),
        prog=PROG,
        usage="%(prog)s --train_dir DIR --output_dir DIR (--model_name_or_path PATH | --config_name PATH "
        "--tokenizer_name PATH) [FLAG VALUE ...]\n       %(prog)s ARGUMENTS.json",
        description="Condenser and coCondenser pre-training on a dataset written by condenser-prepare. "
        f"Errors end with one line and exit status 1; {DEBUG_FLAG} (or {DEBUG_ENV}=1) shows the full traceback "
        "instead. Ctrl-C stops the run and prints the --resume_from_checkpoint flag that continues it. A single "
        "argument ending in .json is read as a file of all the arguments.",
    )
    # `HfArgumentParser` puts the `TrainingArguments` subclass's own fields among the ~300 inherited ones: move them
    # into a group of their own, listed before the inherited flags.
    inherited = {field.name for field in dataclasses.fields(TrainingArguments)}
    own = {field.name for field in dataclasses.fields(CondenserPretrainingArguments)} - inherited
    groups = {group.title: group for group in parser._action_groups}
    training_group = groups.get(TRAINING_ARGUMENTS_GROUP)
    if training_group is not None:
        training_group.description = (
            "Every transformers TrainingArguments flag is accepted (bf16/fp16, gradient accumulation and "
            "checkpointing, saving, logging, evaluation, report_to, DeepSpeed/FSDP ...), as documented at "
            "https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments. Note that "
            f"{DEBUG_FLAG} is condenser-pretrain's (full tracebacks), not TrainingArguments' debug option."
        )
        condenser_group = parser.add_argument_group(CONDENSER_TRAINING_GROUP)
        for action in list(training_group._group_actions):
            if action.dest in own:
                training_group._group_actions.remove(action)
                condenser_group._group_actions.append(action)
        # Listed before the inherited flags.
        parser._action_groups.remove(condenser_group)
        parser._action_groups.insert(parser._action_groups.index(training_group), condenser_group)
    return parser


_interrupted_run: dict[str, str | None] = {"output_dir": None}


def _resume_hint() -> str | None:
    """After Ctrl-C: the flag that resumes the run from its last checkpoint, or that none was saved yet."""
    output_dir = _interrupted_run["output_dir"]
    if output_dir is None:
        return None
    last = get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None
    if last is None:
        return (
            f"No checkpoint was saved yet under {output_dir}: running the same command again starts over "
            "(--save_steps N sets how often checkpoints are written)."
        )
    return f"Resume with the same command plus --resume_from_checkpoint {last}"


def _flags_given(argv: list[str]) -> set[str]:
    """The `--name` flags on a command line (`--name value` and `--name=value`)."""
    return {argument[2:].split("=", 1)[0] for argument in argv if argument.startswith("--")}


@cli_entry_point(PROG, interrupt_hint=_resume_hint)
def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of `condenser-pretrain` (also `python -m transformers_condenser.pretrain`)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 1 and argv[0].endswith(".json"):
        path = os.path.abspath(argv[0])
        model_args, data_args, training_args = parser.parse_json_file(path)
        given = set(json.loads(Path(path).read_text()))
    else:
        model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
        given = _flags_given(argv)
    # Our own lines (loss curve, exports) are informational: shown by default, transformers' stay at WARNING.
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    logging.getLogger(__package__).setLevel(logging.INFO)
    if not {"dataloader_pin_memory", "no_dataloader_pin_memory"} & given and training_args.device.type == "cpu":
        # Pinned memory only speeds up copies to an accelerator; on a CPU run torch warns about it at every epoch.
        training_args.dataloader_pin_memory = False
    _interrupted_run["output_dir"] = str(Path(training_args.output_dir).resolve())
    output_dir = run_pretraining(model_args, data_args, training_args)
    _shut_down_process_group()
    print(f"saved the pre-trained model (backbone, MLM head and Condenser head) to {output_dir}")
    return 0


def _shut_down_process_group() -> None:
    """Destroy the default process group (torchrun, `accelerate launch`) once the run is over, as torch asks of every
    program that creates one: left to the interpreter's exit, gloo's worker threads can outlive it and abort a process
    that finished its work ("terminate called without an active exception", SIGABRT), which fails the whole launch."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
