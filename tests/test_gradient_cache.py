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
"""The coCondenser gradient cache (`gradient_cache_step`) and `CondenserTrainer` (SPEC §2, §6).

The cached step must give the loss and the gradients of the uncached step, dropout included (the dropout random state
is replayed per chunk), with chunks of any size down to 1, the MLM term counted once (the original doubled it), under
gradient accumulation and under autocast; and `CondenserTrainer` must train identically with and without the cache.
The distributed case is in `tests/models/condenser/test_cocondenser.py`.
"""

import contextlib
import copy
import tempfile
import unittest
from unittest import mock

import torch
from parameterized import parameterized

from tests.models.condenser.testing_utils import NO_DROPOUT, tiny_batch, tiny_config, tiny_model
from transformers_condenser import CondenserForPreTraining
from transformers_condenser import gradient_cache as gradient_cache_module
from transformers_condenser.gradient_cache import gradient_cache_step
from transformers_condenser.loss_condenser import contrastive_span_loss
from transformers_condenser.trainer import CondenserTrainer, CondenserTrainingArguments


ATOL = 1e-5
# Span pairs of 4 documents.
BATCH_SIZE = 8


def gradients(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: param.grad.clone() for name, param in model.named_parameters() if param.grad is not None}


def assert_same_gradients(
    test: unittest.TestCase, actual: torch.nn.Module, expected: torch.nn.Module, atol=ATOL
) -> None:
    actual_grads, expected_grads = gradients(actual), gradients(expected)
    test.assertEqual(actual_grads.keys(), expected_grads.keys())
    for name, grad in expected_grads.items():
        torch.testing.assert_close(actual_grads[name], grad, atol=atol, rtol=0, msg=name)


def uncached_step_in_chunks(model, batch, chunk_size, num_items_in_batch=None, contrastive_loss_scale=1.0):
    """The uncached step computed chunk by chunk with gradient (all activations kept): same dropout draws as the cache."""
    if num_items_in_batch is None:
        num_items_in_batch = (batch["labels"] != -100).sum()
    outputs = [
        model(
            **{key: value[start : start + chunk_size] for key, value in batch.items()},
            compute_contrastive_loss=False,
            num_items_in_batch=num_items_in_batch,
        )
        for start in range(0, batch["input_ids"].shape[0], chunk_size)
    ]
    mlm_loss = sum(output.loss for output in outputs)
    contrastive_loss = contrastive_span_loss(torch.cat([output.cls_vectors for output in outputs]))
    (mlm_loss + contrastive_loss * contrastive_loss_scale).backward()
    return mlm_loss + contrastive_loss


class GradientCacheStepTest(unittest.TestCase):
    def test_single_chunk_equals_uncached_step_with_dropout(self) -> None:
        model = tiny_model(
            CondenserForPreTraining, cocondenser=True, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1
        ).train()
        cached_model = copy.deepcopy(model)
        batch = tiny_batch(model.config, BATCH_SIZE, span_pairs=True)
        torch.manual_seed(3)
        outputs = model(**batch)
        outputs.loss.backward()
        next_random = torch.rand(3)
        torch.manual_seed(3)
        cached = gradient_cache_step(cached_model, batch, chunk_size=batch["input_ids"].shape[0])
        for name in ("loss", "head_mlm_loss", "late_mlm_loss", "contrastive_loss"):
            torch.testing.assert_close(getattr(cached, name), getattr(outputs, name).detach(), atol=ATOL, rtol=0)
        assert_same_gradients(self, cached_model, model)
        # The random state ends where one forward pass leaves it, so later steps draw the same masks as well.
        torch.testing.assert_close(torch.rand(3), next_random)

    @parameterized.expand([(1,), (3,), (4,)])
    def test_chunks_equal_uncached_step_with_same_dropout_masks(self, chunk_size: int) -> None:
        model = tiny_model(
            CondenserForPreTraining, cocondenser=True, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1
        ).train()
        cached_model = copy.deepcopy(model)
        batch = tiny_batch(model.config, BATCH_SIZE, span_pairs=True)
        torch.manual_seed(5)
        expected_loss = uncached_step_in_chunks(model, batch, chunk_size)
        torch.manual_seed(5)
        cached = gradient_cache_step(cached_model, batch, chunk_size)
        torch.testing.assert_close(cached.loss, expected_loss.detach(), atol=ATOL, rtol=0)
        assert_same_gradients(self, cached_model, model)

    def test_without_dropout_replay_gradients_differ(self) -> None:
        # The replay is what makes the chunk's re-run match its cached CLS vectors: without it the test above fails.
        model = tiny_model(
            CondenserForPreTraining, cocondenser=True, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1
        ).train()
        cached_model = copy.deepcopy(model)
        batch = tiny_batch(model.config, BATCH_SIZE, span_pairs=True)
        torch.manual_seed(5)
        uncached_step_in_chunks(model, batch, 3)
        torch.manual_seed(5)
        with mock.patch.object(gradient_cache_module._RandomState, "replay", lambda self: contextlib.nullcontext()):
            gradient_cache_step(cached_model, batch, 3)
        grad, expected = gradients(cached_model), gradients(model)
        self.assertFalse(all(torch.allclose(grad[name], expected[name], atol=ATOL, rtol=0) for name in expected))

    @parameterized.expand([(1,), (2,), (3,), (8,)])
    def test_chunks_equal_full_batch_without_dropout(self, chunk_size: int) -> None:
        model = tiny_model(CondenserForPreTraining, cocondenser=True, **NO_DROPOUT)
        cached_model = copy.deepcopy(model)
        batch = tiny_batch(model.config, BATCH_SIZE, span_pairs=True)
        outputs = model(**batch)
        outputs.loss.backward()
        cached = gradient_cache_step(cached_model, batch, chunk_size)
        torch.testing.assert_close(cached.loss, outputs.loss.detach(), atol=ATOL, rtol=0)
        assert_same_gradients(self, cached_model, model)

    def test_mlm_term_is_weighted_as_without_cache(self) -> None:
        # With the contrastive term switched off only the MLM gradient remains: it must be the uncached one, not 2x.
        model = tiny_model(CondenserForPreTraining, cocondenser=True, **NO_DROPOUT)
        cached_model = copy.deepcopy(model)
        batch = tiny_batch(model.config, BATCH_SIZE, span_pairs=True)
        model(**batch, compute_contrastive_loss=False).loss.backward()
        cached = gradient_cache_step(cached_model, batch, chunk_size=3, contrastive_loss_scale=0.0)
        torch.testing.assert_close(
            cached.head_mlm_loss + cached.late_mlm_loss, model(**batch).loss - model(**batch).contrastive_loss
        )
        assert_same_gradients(self, cached_model, model)

    def test_gradient_accumulation_matches_uncached_accumulation(self) -> None:
        model = tiny_model(CondenserForPreTraining, cocondenser=True, **NO_DROPOUT)
        cached_model = copy.deepcopy(model)
        micro_batches = [
            tiny_batch(model.config, BATCH_SIZE, seed=11, span_pairs=True),
            tiny_batch(model.config, BATCH_SIZE, seed=12, span_pairs=True),
        ]
        total_items = sum((batch["labels"] != -100).sum() for batch in micro_batches)
        for batch in micro_batches:
            outputs = model(**batch, num_items_in_batch=total_items)
            (outputs.head_mlm_loss + outputs.late_mlm_loss + outputs.contrastive_loss / 2).backward()
            gradient_cache_step(cached_model, batch, 3, num_items_in_batch=total_items, contrastive_loss_scale=0.5)
        assert_same_gradients(self, cached_model, model)

    def test_bfloat16_autocast_runs_and_matches_uncached(self) -> None:
        model = tiny_model(CondenserForPreTraining, cocondenser=True, **NO_DROPOUT)
        cached_model = copy.deepcopy(model)
        batch = tiny_batch(model.config, BATCH_SIZE, span_pairs=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            outputs = model(**batch)
        outputs.loss.backward()
        cached = gradient_cache_step(
            cached_model, batch, 3, forward_context=lambda: torch.autocast("cpu", dtype=torch.bfloat16)
        )
        torch.testing.assert_close(cached.loss, outputs.loss.detach().float(), atol=0.05, rtol=0.01)
        actual, expected = gradients(cached_model), gradients(model)
        for name, grad in expected.items():
            self.assertTrue(torch.isfinite(actual[name]).all(), name)
            if name.endswith("attention.self.key.bias"):
                # Adding a bias to every key shifts a query's scores by a constant, which the softmax ignores: this
                # gradient is 0 in exact arithmetic and bf16 rounding noise here, with no direction to compare.
                continue
            cosine = torch.nn.functional.cosine_similarity(actual[name].flatten(), grad.flatten(), dim=0)
            self.assertGreater(cosine.item(), 0.99, name)

    def test_bfloat16_autocast_single_chunk_equals_uncached_step_with_dropout(self) -> None:
        # Training on the CPU recomputes the attention probabilities (the default "sdpa_recompute" attention): the
        # cache's first pass (without gradient) and its replay must take that same path, or their values differ by
        # bf16 rounding.
        model = tiny_model(
            CondenserForPreTraining, cocondenser=True, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1
        ).train()
        cached_model = copy.deepcopy(model)
        batch = tiny_batch(model.config, BATCH_SIZE, span_pairs=True)
        torch.manual_seed(3)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            outputs = model(**batch)
        outputs.loss.backward()
        torch.manual_seed(3)
        cached = gradient_cache_step(
            cached_model,
            batch,
            chunk_size=batch["input_ids"].shape[0],
            forward_context=lambda: torch.autocast("cpu", dtype=torch.bfloat16),
        )
        torch.testing.assert_close(cached.contrastive_loss, outputs.contrastive_loss.detach(), atol=1e-5, rtol=0)
        assert_same_gradients(self, cached_model, model, atol=1e-4)

    def test_invalid_arguments_raise(self) -> None:
        model = tiny_model(CondenserForPreTraining, cocondenser=True, **NO_DROPOUT)
        batch = tiny_batch(model.config, BATCH_SIZE, span_pairs=True)
        for chunk_size in (0, -1, 1.5, True):
            with self.assertRaisesRegex(ValueError, "chunk_size"):
                gradient_cache_step(model, batch, chunk_size)
        with self.assertRaisesRegex(ValueError, r"\[d1s1, d1s2, d2s1, d2s2, \.\.\.\]"):
            gradient_cache_step(model, {key: value[:5] for key, value in batch.items()}, 2)
        with self.assertRaisesRegex(ValueError, "labels"):
            gradient_cache_step(model, {"input_ids": batch["input_ids"]}, 2)


def document_dataset(num_documents: int = 8) -> list[dict[str, torch.Tensor]]:
    """One example per document holding its 2 spans, as a coCondenser collator receives them."""
    spans = tiny_batch(tiny_config(), 2 * num_documents, seed=21, span_pairs=True)
    return [{key: value[2 * index : 2 * index + 2] for key, value in spans.items()} for index in range(num_documents)]


def collate_documents(documents: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The layout [d1s1, d1s2, d2s1, d2s2, ...]."""
    return {key: torch.cat([document[key] for document in documents]) for key in documents[0]}


def train_one_step(model, output_dir: str, trainer_chunk_size: int | None = None, **arguments) -> CondenserTrainer:
    """One optimizer step of SGD; `trainer_chunk_size` goes to `CondenserTrainer`, `arguments` to the arguments."""
    args = CondenserTrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=2,
        max_steps=1,
        learning_rate=0.5,
        optim="sgd",
        lr_scheduler_type="constant",
        weight_decay=0.0,
        max_grad_norm=0.0,
        seed=0,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
        **arguments,
    )
    trainer = CondenserTrainer(
        model=model,
        args=args,
        train_dataset=document_dataset(),
        data_collator=collate_documents,
        gradient_cache_chunk_size=trainer_chunk_size,
    )
    trainer.train()
    return trainer


class CondenserTrainerTest(unittest.TestCase):
    def assert_same_parameters(self, actual: torch.nn.Module, expected: torch.nn.Module) -> None:
        expected_parameters = dict(expected.named_parameters())
        for name, param in actual.named_parameters():
            torch.testing.assert_close(param, expected_parameters[name], atol=ATOL, rtol=0, msg=name)

    def test_one_step_with_gradient_cache_equals_without_with_dropout(self) -> None:
        model = tiny_model(
            CondenserForPreTraining, cocondenser=True, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1
        )
        cached_model = copy.deepcopy(model)
        with tempfile.TemporaryDirectory() as directory:
            train_one_step(model, directory)
            # One chunk of the whole batch (4 spans): the same dropout draws as the uncached step.
            train_one_step(cached_model, directory, gradient_cache_chunk_size=4)
        self.assertFalse(
            torch.equal(
                model.bert.embeddings.word_embeddings.weight,
                tiny_model(
                    CondenserForPreTraining, cocondenser=True, **NO_DROPOUT
                ).bert.embeddings.word_embeddings.weight,
            )
        )
        self.assert_same_parameters(cached_model, model)

    def test_gradient_accumulation_with_and_without_cache_equals_the_reference(self) -> None:
        model = tiny_model(CondenserForPreTraining, cocondenser=True, **NO_DROPOUT)
        cached_model = copy.deepcopy(model)
        reference = copy.deepcopy(model)
        with tempfile.TemporaryDirectory() as directory:
            train_one_step(model, directory, gradient_accumulation_steps=2)
            # The chunk size given to the trainer itself rather than through the arguments.
            train_one_step(cached_model, directory, trainer_chunk_size=1, gradient_accumulation_steps=2)
        self.assert_same_parameters(cached_model, model)

        # By hand: MLM over every labelled position of the 2 micro-batches, contrastive averaged over them; SGD lr 0.5.
        with tempfile.TemporaryDirectory() as directory:
            train_one_step(
                model_sequential := copy.deepcopy(reference),
                directory,
                gradient_accumulation_steps=2,
                train_sampling_strategy="sequential",
            )
        documents = document_dataset()
        micro_batches = [collate_documents(documents[0:2]), collate_documents(documents[2:4])]
        total_items = sum((batch["labels"] != -100).sum() for batch in micro_batches)
        for batch in micro_batches:
            outputs = reference(**batch, num_items_in_batch=total_items)
            (outputs.head_mlm_loss + outputs.late_mlm_loss + outputs.contrastive_loss / 2).backward()
        with torch.no_grad():
            for param in reference.parameters():
                param -= 0.5 * param.grad
        self.assert_same_parameters(model_sequential, reference)

    def test_bfloat16_training_with_gradient_cache_follows_the_float32_loss(self) -> None:
        model = tiny_model(CondenserForPreTraining, cocondenser=True, **NO_DROPOUT)
        reference = copy.deepcopy(model).train()
        with tempfile.TemporaryDirectory() as directory:
            trainer = train_one_step(
                model, directory, bf16=True, gradient_cache_chunk_size=1, train_sampling_strategy="sequential"
            )
        expected = reference(**collate_documents(document_dataset()[0:2])).loss.item()
        self.assertAlmostEqual(trainer.state.log_history[-1]["train_loss"], expected, delta=0.05 * expected)

    def test_condenser_model_takes_the_default_path(self) -> None:
        model = tiny_model(CondenserForPreTraining, **NO_DROPOUT)
        reference = copy.deepcopy(model).train()
        with tempfile.TemporaryDirectory() as directory:
            with self.assertRaisesRegex(ValueError, "cocondenser=True"):
                train_one_step(copy.deepcopy(model), directory, gradient_cache_chunk_size=2)
            train_one_step(model, directory, train_sampling_strategy="sequential")
        # Trainer's own step: the MLM loss of the batch, one SGD update.
        reference(**collate_documents(document_dataset()[0:2])).loss.backward()
        with torch.no_grad():
            for param in reference.parameters():
                param -= 0.5 * param.grad
        self.assert_same_parameters(model, reference)

    def test_chunk_size_argument_is_validated(self) -> None:
        with tempfile.TemporaryDirectory() as directory:
            with self.assertRaisesRegex(ValueError, "gradient_cache_chunk_size"):
                CondenserTrainingArguments(output_dir=directory, gradient_cache_chunk_size=0, report_to="none")
            with self.assertRaisesRegex(ValueError, "gradient_cache_chunk_size"):
                train_one_step(
                    tiny_model(CondenserForPreTraining, cocondenser=True, **NO_DROPOUT),
                    directory,
                    trainer_chunk_size=0,
                )


if __name__ == "__main__":
    unittest.main()
