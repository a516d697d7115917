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
"""Retrieval metrics during pre-training: `condenser-pretrain --retrieval_eval_dir` (issue 15, item 2).

Evaluations log `eval_MRR@10`, `eval_nDCG@10`, `eval_R@100` into `trainer_log_history.json`, with or without an MLM
evaluation set; `--metric_for_best_model eval_MRR@10 --load_best_model_at_end` keeps the best checkpoint; 2 gloo
processes evaluate alike; the callback's metrics equal `evaluate_beir` on the same weights.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from datasets import Dataset
from transformers import BertForMaskedLM

from tests.models.condenser.testing_utils import FOUR_LAYER_FIELDS, tiny_bert_config
from transformers_condenser import CondenserModel
from transformers_condenser.beir_evaluation import (
    EvaluationSettings,
    RetrievalEvaluationCallback,
    evaluate_beir,
    load_beir_folder,
)
from transformers_condenser.demo import load_demo_corpus, train_demo_tokenizer
from transformers_condenser.pretrain import main


FLAGS = ["--per_device_train_batch_size", "4", "--logging_steps", "1", "--report_to", "none", "--use_cpu"]
FLAGS += ["--seed", "0", "--dataloader_num_workers", "0", "--max_length", "64", "--skip_from", "2"]
RETRIEVAL_METRICS = ("eval_MRR@10", "eval_nDCG@10", "eval_R@100", "eval_R@1000")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tokenizer and tiny BERT, a prepared block dataset, and a BEIR folder (dev split) from the demo corpus: each
    document's first half is a query whose relevant document is the second half."""
    root = tmp_path_factory.mktemp("retrieval-eval")
    corpus = load_demo_corpus()[:60]
    tokenizer = train_demo_tokenizer(corpus, vocab_size=600)
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"][:30] for text in corpus]
    Dataset.from_dict({"input_ids": [row for row in ids if len(row) >= 8]}).save_to_disk(str(root / "blocks"))
    torch.manual_seed(0)
    BertForMaskedLM(tiny_bert_config(vocab_size=len(tokenizer), **FOUR_LAYER_FIELDS)).save_pretrained(root / "bert")
    tokenizer.save_pretrained(root / "bert")

    beir = root / "beir"
    (beir / "qrels").mkdir(parents=True)
    documents = [text.split() for text in corpus[:30] if len(text.split()) >= 12]
    with open(beir / "corpus.jsonl", "w") as file:
        for index, words in enumerate(documents):
            file.write(
                json.dumps({"_id": f"d{index}", "title": "", "text": " ".join(words[len(words) // 2 :])}) + "\n"
            )
    with open(beir / "queries.jsonl", "w") as file:
        for index, words in enumerate(documents):
            file.write(json.dumps({"_id": f"q{index}", "text": " ".join(words[: len(words) // 2][:12])}) + "\n")
    rows = "".join(f"q{index}\td{index}\t1\n" for index in range(len(documents)))
    (beir / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return {"root": root, "blocks": root / "blocks", "bert": root / "bert", "beir": beir}


def history_of(output_dir: Path) -> list[dict]:
    return json.loads((output_dir / "trainer_log_history.json").read_text())


def test_four_steps_evaluating_every_two_log_two_retrieval_evaluations_without_an_mlm_eval_set(workspace):
    output_dir = workspace["root"] / "retrieval-only"
    flags = ["--model_name_or_path", str(workspace["bert"]), "--train_dir", str(workspace["blocks"])]
    flags += ["--output_dir", str(output_dir), "--max_steps", "4", "--save_strategy", "no"]
    flags += ["--retrieval_eval_dir", str(workspace["beir"]), "--eval_strategy", "steps", "--eval_steps", "2"]
    assert main(flags + FLAGS) == 0
    evaluations = [entry for entry in history_of(output_dir) if "eval_MRR@10" in entry]
    assert [entry["step"] for entry in evaluations] == [2, 4]
    for entry in evaluations:
        assert all(0.0 <= entry[name] <= 1.0 for name in RETRIEVAL_METRICS), entry
        assert "eval_loss" not in entry  # no MLM evaluation set
    # Losses are still logged at every step, in entries of their own.
    assert [entry["step"] for entry in history_of(output_dir) if "loss" in entry] == [1, 2, 3, 4]


def test_best_checkpoint_by_mrr_with_an_mlm_eval_set_too(workspace):
    output_dir = workspace["root"] / "best"
    flags = ["--model_name_or_path", str(workspace["bert"]), "--train_dir", str(workspace["blocks"])]
    flags += ["--eval_dir", str(workspace["blocks"]), "--output_dir", str(output_dir), "--max_steps", "4"]
    flags += ["--retrieval_eval_dir", str(workspace["beir"]), "--eval_strategy", "steps", "--eval_steps", "2"]
    flags += ["--save_strategy", "steps", "--save_steps", "2", "--learning_rate", "5e-3"]
    flags += ["--metric_for_best_model", "eval_MRR@10", "--load_best_model_at_end"]
    assert main(flags + FLAGS) == 0
    evaluations = [entry for entry in history_of(output_dir) if "eval_MRR@10" in entry]
    assert [entry["step"] for entry in evaluations] == [2, 4]
    # One entry per evaluation: the MLM loss and the retrieval metrics side by side.
    assert all("eval_loss" in entry for entry in evaluations)
    state = json.loads((output_dir / "checkpoint-4" / "trainer_state.json").read_text())
    best = max(evaluations, key=lambda entry: (entry["eval_MRR@10"], -entry["step"]))
    assert state["best_metric"] == pytest.approx(best["eval_MRR@10"])
    assert state["best_model_checkpoint"].endswith(f"checkpoint-{best['step']}")
    # The final model is the best checkpoint's weights.
    final = CondenserModel.from_pretrained(output_dir)
    best_model = CondenserModel.from_pretrained(output_dir / f"checkpoint-{best['step']}")
    for key, tensor in best_model.state_dict().items():
        assert torch.equal(final.state_dict()[key], tensor), key


def test_callback_adds_the_metrics_of_evaluate_beir_to_the_evaluation_entry(workspace):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(workspace["bert"])
    model = CondenserModel.from_pretrained(workspace["bert"], skip_from=2).eval()
    data = load_beir_folder(workspace["beir"], "dev")
    settings = EvaluationSettings(split="dev", passage_max_length=64)
    callback = RetrievalEvaluationCallback(data, tokenizer, settings)
    # The lengths are checked against the model when training begins, before any step.
    too_long = RetrievalEvaluationCallback(data, tokenizer, EvaluationSettings(split="dev", passage_max_length=65))
    with pytest.raises(ValueError, match="`passage_max_length` is 65, but the model's position embeddings cover 64"):
        too_long.on_train_begin(None, None, None, model=model)
    state = SimpleNamespace(
        global_step=6, epoch=1.5, log_history=[{"loss": 3.0, "step": 6}, {"eval_loss": 2.5, "step": 6}]
    )
    metrics = {"eval_loss": 2.5}
    callback.on_evaluate(None, state, None, model=model, metrics=metrics)
    expected, _, _ = evaluate_beir(model, tokenizer, data, settings, show_progress=False)
    for name, value in expected.items():
        assert metrics[f"eval_{name}"] == value
        assert state.log_history[-1][f"eval_{name}"] == value
    assert len(state.log_history) == 2 and "eval_MRR@10" not in state.log_history[0]


@pytest.mark.parametrize("with_mlm_eval_set", [False, True])
def test_loggers_and_early_stopping_see_the_retrieval_metrics(workspace, with_mlm_eval_set):
    """`CondenserTrainer` adds the retrieval metrics before it logs an evaluation: `on_log` (TensorBoard, W&B, the
    console) and `on_evaluate` (early stopping) get them, in the one log entry of the evaluation."""
    from datasets import load_from_disk
    from transformers import AutoTokenizer, TrainerCallback

    from transformers_condenser import CondenserForPreTraining, CondenserTrainer, DataCollatorForCondenser
    from transformers_condenser.pretrain import CondenserPretrainingArguments

    class Recorder(TrainerCallback):
        def __init__(self):
            self.logged, self.evaluated = [], []

        def on_log(self, args, state, control, logs=None, **kwargs):
            self.logged.append(dict(logs))

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            self.evaluated.append(dict(metrics))

    tokenizer = AutoTokenizer.from_pretrained(workspace["bert"])
    model = CondenserForPreTraining.from_pretrained(workspace["bert"], skip_from=2)
    data = load_beir_folder(workspace["beir"], "dev")
    retrieval = RetrievalEvaluationCallback(data, tokenizer, EvaluationSettings(split="dev", passage_max_length=64))
    recorder = Recorder()
    blocks = load_from_disk(str(workspace["blocks"]))
    args = CondenserPretrainingArguments(
        output_dir=str(workspace["root"] / "trainer"), report_to="none", use_cpu=True, eval_strategy="steps",
        eval_steps=1, remove_unused_columns=False, per_device_eval_batch_size=8,
    )  # fmt: skip
    trainer = CondenserTrainer(
        model=model, args=args, data_collator=DataCollatorForCondenser(tokenizer, max_length=64),
        train_dataset=blocks, eval_dataset=blocks.select(range(8)) if with_mlm_eval_set else None,
        processing_class=tokenizer, callbacks=[retrieval, recorder],
    )  # fmt: skip
    metrics = trainer.evaluate()
    assert all(name in metrics for name in RETRIEVAL_METRICS)
    assert ("eval_loss" in metrics) == with_mlm_eval_set
    assert len(recorder.logged) == 1 and all(name in recorder.logged[0] for name in RETRIEVAL_METRICS)
    assert recorder.evaluated == [metrics]
    entries = [entry for entry in trainer.state.log_history if "eval_MRR@10" in entry]
    assert len(entries) == 1 and entries[0]["eval_MRR@10"] == metrics["eval_MRR@10"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--retrieval_eval_dir", "{beir}"], "--eval_strategy is `no`"),
        (["--retrieval_eval_dir", "{root}/missing", "--eval_strategy", "steps"], "missing is not a folder"),
        (["--retrieval_eval_dir", "{beir}", "--retrieval_eval_split", "test", "--eval_strategy", "steps"],
         "pass --split with one of: dev"),
    ],
)  # fmt: skip
def test_bad_retrieval_arguments_fail_before_training(workspace, capsys, extra, message):
    values = {name: str(path) for name, path in workspace.items()}
    flags = ["--model_name_or_path", str(workspace["bert"]), "--train_dir", str(workspace["blocks"])]
    flags += ["--output_dir", str(workspace["root"] / "never"), "--max_steps", "1"]
    with pytest.raises(SystemExit) as stop:
        main(flags + [flag.format(**values) for flag in extra] + FLAGS)
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (workspace["root"] / "never").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_gloo_processes_evaluate_alike(workspace):
    output_dir = workspace["root"] / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1"]
    command += ["--master_port", str(_free_port()), "-m", "transformers_condenser.pretrain", "--ddp_backend", "gloo"]
    command += ["--model_name_or_path", str(workspace["bert"]), "--train_dir", str(workspace["blocks"])]
    command += ["--output_dir", str(output_dir), "--max_steps", "2", "--save_strategy", "no"]
    command += ["--retrieval_eval_dir", str(workspace["beir"]), "--eval_strategy", "steps", "--eval_steps", "1"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(command + FLAGS, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    evaluations = [entry for entry in history_of(output_dir) if "eval_MRR@10" in entry]
    assert [entry["step"] for entry in evaluations] == [1, 2]
