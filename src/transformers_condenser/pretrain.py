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

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from transformers import AutoTokenizer, HfArgumentParser, set_seed
from transformers.utils import logging as hf_logging

from .configuration_condenser import CondenserConfig
from .file_utils import atomic_update
from .modeling_condenser import CondenserForPreTraining
from .trainer import CondenserTrainer, CondenserTrainingArguments
from .utils_import import extra_imports


# Read by `_load_dataset`; imported here so that the tool fails at start-up, not after building the model.
with extra_imports("pretraining"):
    import datasets  # noqa: F401


logger = hf_logging.get_logger(__name__)


@dataclass
class ModelArguments:
    """Which model to pre-train and how its Condenser head is shaped."""

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


def _load_model(model_args: ModelArguments, tokenizer) -> CondenserForPreTraining:
    """Warm-start, resume or build the pre-training model the arguments describe."""
    overrides = {
        name: value
        for name in ("skip_from", "n_head_layers", "late_mlm", "sparse_prediction")
        if (value := getattr(model_args, name)) is not None
    }
    # The dataset's mode follows the flag, so the flag decides, also for a checkpoint saved by the other mode.
    overrides["cocondenser"] = model_args.cocondenser
    if model_args.model_name_or_path is not None:
        config = CondenserConfig.from_pretrained(model_args.model_name_or_path, **overrides)
        return CondenserForPreTraining.from_pretrained(
            model_args.model_name_or_path, config=config, attn_implementation=model_args.attn_implementation
        )
    if model_args.config_name is None:
        raise ValueError(
            "Pass --model_name_or_path (a BERT, RoBERTa, XLM-RoBERTa or Condenser checkpoint) or --config_name."
        )
    config = CondenserConfig.from_pretrained(model_args.config_name, **overrides)
    config._attn_implementation = model_args.attn_implementation
    if config.vocab_size != len(tokenizer):
        raise ValueError(
            f"The config's vocab_size ({config.vocab_size}) differs from the tokenizer's ({len(tokenizer)}); "
            "set vocab_size in the config to the tokenizer's size."
        )
    return CondenserForPreTraining(config)


def _check_model_fits(
    config: CondenserConfig, tokenizer, max_length: int, training_args: CondenserPretrainingArguments
) -> None:
    """Refuse, before training, a sequence length, tokenizer or export the model cannot take."""
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


def run_pretraining(
    model_args: ModelArguments, data_args: DataArguments, training_args: CondenserPretrainingArguments
) -> Path:
    """Pre-train as the arguments say, save the final checkpoint (head included) and the end-of-run extras.

    Returns:
        `Path`: the output directory.
    """
    from .collators import DataCollatorForCoCondenser, DataCollatorForCondenser

    if data_args.train_dir is None:
        raise ValueError("Pass --train_dir: a dataset written by `condenser-prepare`.")
    if training_args.gradient_cache_chunk_size is not None and not model_args.cocondenser:
        raise ValueError("--gradient_cache_chunk_size only applies to coCondenser pre-training (--cocondenser).")
    mode = "cocondenser" if model_args.cocondenser else "condenser"
    set_seed(training_args.seed)
    # Our datasets hold `input_ids` or `spans`, which the collators turn into model inputs: keep them.
    training_args.remove_unused_columns = False

    # Data first: a wrong dataset fails in a second, before any model is loaded.
    train_dataset = _load_dataset(data_args.train_dir, mode)
    eval_dataset = _load_dataset(data_args.eval_dir, mode)
    retrieval_data = _load_retrieval_data(data_args, training_args)
    tokenizer_source = model_args.tokenizer_name or model_args.model_name_or_path
    if tokenizer_source is None:
        raise ValueError("Pass --tokenizer_name when building the model from --config_name.")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
    model = _load_model(model_args, tokenizer)
    _check_model_fits(model.config, tokenizer, data_args.max_length, training_args)
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
        from .beir_evaluation import EvaluationSettings, RetrievalEvaluationCallback, check_lengths

        limit = model.config.max_sequence_length
        query_length, passage_length = data_args.retrieval_query_max_length, data_args.retrieval_passage_max_length
        settings = EvaluationSettings(
            split=data_args.retrieval_eval_split,
            query_max_length=min(32, limit) if query_length is None else query_length,
            passage_max_length=min(128, limit) if passage_length is None else passage_length,
            batch_size=training_args.per_device_eval_batch_size,
        )
        check_lengths(settings, model.config)
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

        logger.warning(f"Plain BERT export: {export_to_bert(output_dir, training_args.export_bert_dir)}")
    if is_main_process and training_args.export_backbone_dir:
        from .conversion import export_backbone

        logger.warning(f"Plain backbone export: {export_backbone(output_dir, training_args.export_backbone_dir)}")
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
        logger.warning(f"Loss curve: {output_dir / 'loss_curve.png'}")
    if training_args.model_card:
        from .model_card import write_model_card

        base_model = model_args.model_name_or_path
        write_model_card(
            folder,
            repo_id=output_dir.name,
            base_model=base_model if base_model and not Path(base_model).exists() else None,
            cocondenser=model_args.cocondenser,
        )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of `condenser-pretrain` (also `python -m transformers_condenser.pretrain`)."""
    parser = HfArgumentParser((ModelArguments, DataArguments, CondenserPretrainingArguments))
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 1 and argv[0].endswith(".json"):
        model_args, data_args, training_args = parser.parse_json_file(os.path.abspath(argv[0]))
    else:
        model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    try:
        output_dir = run_pretraining(model_args, data_args, training_args)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"saved the pre-trained model (backbone, MLM head and Condenser head) to {output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
