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
"""The fast and lean training paths: mixed-precision autocast (bf16 and fp16), a compiled training step and the
attention recomputation that saves memory on the CPU (the `"sdpa_recompute"` attention implementation of
`training_kernels`, the pre-training model's default).

Each path must give the loss and gradients of the plain float32 eager step (within the precision of the path), for
Condenser and coCondenser alike.
"""

import copy
import unittest

import torch
from parameterized import parameterized

from transformers_condenser import CondenserModel
from transformers_condenser.modeling_condenser import CondenserForPreTraining
from transformers_condenser.training_kernels import (
    RECOMPUTE_ATTENTION,
    _AttentionWithRecomputedProbabilities,
    recomputes_probabilities,
)

from .testing_utils import NO_DROPOUT, SENSITIVE_FIELDS, tiny_batch, tiny_config, tiny_model
from .training_helpers import assert_close, assert_low_precision_step_follows, sgd_training_losses


# (name, config.cocondenser)
MODEL_CLASSES = [("condenser", False), ("cocondenser", True)]


# Four padded rows: two documents x two spans for coCondenser, four sequences for Condenser.
LENGTHS = (12, 8, 5, 10)


def sdpa_fields(cocondenser: bool, **overrides) -> dict:
    """The tiny test model's fields (`SENSITIVE_FIELDS`) with sdpa attention, as Condenser or coCondenser."""
    return SENSITIVE_FIELDS | {"attn_implementation": "sdpa", "cocondenser": cocondenser} | overrides


def with_recompute_attention(model: CondenserForPreTraining, recompute: bool) -> CondenserForPreTraining:
    """A copy of `model` (same weights, same mode) with the `"sdpa_recompute"` attention or with `"sdpa"`."""
    twin = copy.deepcopy(model)
    twin.set_attn_implementation(RECOMPUTE_ATTENTION if recompute else "sdpa")
    return twin


def attention_shaped_saved_tensors(model: CondenserForPreTraining, batch: dict) -> list[torch.dtype]:
    """dtypes of the tensors that autograd keeps for backward during `model(**batch)` and that have the shape of
    attention probabilities, `(batch, heads, queries, keys)` with one key per position; then runs the backward."""
    batch_size, length = batch["input_ids"].shape
    heads = model.config.num_attention_heads
    dtypes = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.dim() == 4 and tensor.shape[:2] == (batch_size, heads) and tensor.shape[-1] == length:
            dtypes.append(tensor.dtype)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(**batch).loss
    loss.backward()
    return dtypes


def loss_and_gradients(model: CondenserForPreTraining, batch: dict, **autocast) -> tuple[torch.Tensor, dict]:
    """One forward and backward pass (under `torch.autocast(**autocast)` when given); returns loss and gradients."""
    model.zero_grad(set_to_none=True)
    if autocast:
        with torch.autocast(**autocast):
            outputs = model(**batch)
    else:
        outputs = model(**batch)
    outputs.loss.backward()
    gradients = {name: parameter.grad.detach().clone() for name, parameter in model.named_parameters()}
    return outputs.loss.detach(), gradients


class AutocastTest(unittest.TestCase):
    """bf16 and fp16 autocast: losses are computed in float32 and follow the float32 step."""

    @parameterized.expand(
        [
            (f"{name}_{dtype_name}", model_class, dtype)
            for name, model_class in MODEL_CLASSES
            for dtype_name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16))
        ]
    )
    def test_autocast_step_follows_the_float32_step(self, _, model_class, dtype) -> None:
        # Dropout off (eval mode), so that both passes compute the same function.
        model = tiny_model(CondenserForPreTraining, **sdpa_fields(model_class))
        batch = tiny_batch(model.config, lengths=LENGTHS)
        expected_loss, expected_gradients = loss_and_gradients(model, batch)
        with torch.autocast("cpu", dtype=dtype):
            outputs = model(**batch)
        # The low-precision matmuls really ran, and the losses were still reduced in float32.
        self.assertEqual(outputs.logits.dtype, dtype)
        for name in ("loss", "head_mlm_loss", "late_mlm_loss"):
            self.assertEqual(getattr(outputs, name).dtype, torch.float32, name)
        loss, gradients = loss_and_gradients(model, batch, device_type="cpu", dtype=dtype)
        assert_low_precision_step_follows(loss, gradients, expected_loss, expected_gradients)


class CompiledTrainingStepTest(unittest.TestCase):
    """`torch.compile(model)` (what `Trainer(torch_compile=True)` does) trains like the eager model: same losses and
    weights over several SGD steps, forward and backward traced without graph breaks."""

    @parameterized.expand(MODEL_CLASSES)
    def test_compiled_training_steps_match_eager(self, _, model_class) -> None:
        eager = tiny_model(CondenserForPreTraining, **sdpa_fields(model_class, **NO_DROPOUT)).train()
        compiled_model = copy.deepcopy(eager)
        batches = [tiny_batch(eager.config, lengths=LENGTHS, seed=seed) for seed in range(3)]

        torch._dynamo.reset()
        try:
            eager_losses = sgd_training_losses(eager, eager, batches)
            # The compiled model runs the last layers on every position where the eager one runs them on the loss rows
            # only: the same values up to float32 rounding.
            compiled = torch.compile(compiled_model, backend="aot_eager", fullgraph=True)
            compiled_losses = sgd_training_losses(compiled_model, compiled, batches)
        finally:
            torch._dynamo.reset()

        assert_close(compiled_losses, eager_losses, atol=1e-5)
        # Training really happened (the weights moved), and identically.
        self.assertFalse(torch.equal(eager_losses[0], eager_losses[-1]))
        for (name, actual), expected in zip(compiled_model.named_parameters(), eager.parameters()):
            assert_close(actual, expected, atol=1e-5, msg=name)


class RecomputedAttentionTest(unittest.TestCase):
    """`"sdpa_recompute"`: where sdpa would keep every layer's attention probabilities for backward (training on the
    CPU with dropout), they are recomputed in backward instead, with the same dropout masks: losses and gradients are
    sdpa's (up to float rounding), the random-number state afterwards the same."""

    @parameterized.expand(MODEL_CLASSES)
    def test_training_step_with_dropout_is_unchanged_and_keeps_no_attention_probabilities(
        self, _, model_class
    ) -> None:
        # Training mode with BERT's attention and hidden dropout (0.1): the recomputation must replay the masks.
        model = tiny_model(
            CondenserForPreTraining,
            **sdpa_fields(model_class, attention_probs_dropout_prob=0.1, hidden_dropout_prob=0.1),
        ).train()
        batch = tiny_batch(model.config, lengths=LENGTHS)
        results = {}
        for recompute in (False, True):
            twin = with_recompute_attention(model, recompute)
            torch.manual_seed(1)
            loss, gradients = loss_and_gradients(twin, batch)
            results[recompute] = (loss, gradients, torch.get_rng_state())

        (kept_loss, kept_gradients, kept_rng), (loss, gradients, rng) = results[False], results[True]
        # The same dropout masks (drawn from the same stream, which ends in the same state): equal up to float32
        # rounding, relative to the values (gradients here reach about 8).
        torch.testing.assert_close(loss, kept_loss, rtol=1e-5, atol=1e-6)
        for name, gradient in kept_gradients.items():
            torch.testing.assert_close(gradients[name], gradient, rtol=1e-5, atol=1e-5, msg=name)
        self.assertTrue(torch.equal(rng, kept_rng), "the recomputation left the random-number state elsewhere")
        # Dropout was on: another seed gives another loss (so the agreement above compared two equal dropout draws).
        torch.manual_seed(2)
        self.assertGreater((loss_and_gradients(model, batch)[0] - kept_loss).abs().item(), 1e-3)

        # What the setting is for: of the attention-probability-shaped tensors, backward keeps only the dropout's
        # boolean keep-masks (one per layer, 4 backbone + 2 head layers), where it otherwise keeps the probabilities
        # (and for sdpa's math kernel the dropped-out probabilities too) in floating point.
        torch.manual_seed(1)
        self.assertEqual(
            attention_shaped_saved_tensors(with_recompute_attention(model, True), batch), [torch.bool] * 6
        )
        torch.manual_seed(1)
        kept = attention_shaped_saved_tensors(with_recompute_attention(model, False), batch)
        self.assertGreaterEqual(sum(dtype.is_floating_point for dtype in kept), 6)

    @parameterized.expand(
        [(f"{name}_{dtype}", model_class, dtype) for name, model_class in MODEL_CLASSES for dtype in ("bf16", "fp16")]
    )
    def test_autocast_training_step_with_recomputed_attention_follows_the_float32_step(
        self, _, model_class, dtype
    ) -> None:
        # Under autocast the recomputation receives half-precision queries, keys and values; with the same dropout
        # masks its step follows the float32 step that keeps the probabilities.
        model = tiny_model(
            CondenserForPreTraining,
            **sdpa_fields(model_class, attention_probs_dropout_prob=0.1, hidden_dropout_prob=0.1),
        ).train()
        batch = tiny_batch(model.config, lengths=LENGTHS)
        torch.manual_seed(1)
        expected_loss, expected_gradients = loss_and_gradients(with_recompute_attention(model, False), batch)
        torch.manual_seed(1)
        autocast = {"device_type": "cpu", "dtype": {"bf16": torch.bfloat16, "fp16": torch.float16}[dtype]}
        loss, gradients = loss_and_gradients(with_recompute_attention(model, True), batch, **autocast)
        assert_low_precision_step_follows(loss, gradients, expected_loss, expected_gradients)

    @parameterized.expand(
        [
            ("cpu_dropout", "cpu", 0.1, True),
            ("cpu_no_dropout", "cpu", 0.0, False),  # sdpa's fused CPU kernel keeps nothing to save
            ("other_device", "meta", 0.1, False),  # fused accelerator kernels neither
        ]
    )
    def test_recomputes_only_where_sdpa_keeps_probabilities(self, _, device, dropout, expected) -> None:
        attention = (
            tiny_model(CondenserForPreTraining, **sdpa_fields(False)).bert.encoder.layer[0].attention.self.train()
        )
        query = torch.empty(1, 1, 1, 1, device=device)
        self.assertIs(recomputes_probabilities(attention, query, dropout), expected)
        if expected:
            # Training without gradient takes the same path (the gradient cache's first pass must compute what its
            # replay computes); evaluation does not.
            with torch.no_grad():
                self.assertTrue(recomputes_probabilities(attention, query, dropout))
            self.assertFalse(recomputes_probabilities(attention.eval(), query, dropout))

    @parameterized.expand(
        [
            (f"{mask}_{dropout}", mask, dropout)
            for mask in ("none", "bool", "additive", "fewer_queries")
            for dropout in (0.0, 0.3)
        ]
    )
    def test_recomputed_attention_gradients_pass_gradcheck_in_float64(self, _, mask, dropout) -> None:
        generator = torch.Generator().manual_seed(0)
        batch, heads, queries, keys, head_dim = 2, 3, 5, 5, 4
        if mask == "fewer_queries":
            queries = 2  # the row-selected last layers: fewer queries than keys
        shape = (batch, heads, queries, head_dim)
        query = torch.randn(shape, generator=generator, dtype=torch.float64, requires_grad=True)
        key, value = (
            torch.randn((batch, heads, keys, head_dim), generator=generator, dtype=torch.float64, requires_grad=True)
            for _ in range(2)
        )
        padding = torch.ones(batch, 1, queries, keys, dtype=torch.bool)
        padding[1, ..., 3:] = False
        attention_mask = {
            "none": None,
            "bool": padding,
            "fewer_queries": padding,
            "additive": torch.zeros(padding.shape, dtype=torch.float64).masked_fill(~padding, -1e9),
        }[mask]

        def attention(query, key, value):
            # The same dropout masks at every evaluation gradcheck makes.
            with torch.random.fork_rng():
                torch.manual_seed(0)
                return _AttentionWithRecomputedProbabilities.apply(query, key, value, attention_mask, 0.5, dropout)

        self.assertTrue(torch.autograd.gradcheck(attention, (query, key, value)))

    def test_pretraining_model_defaults_to_recomputed_attention_and_the_backbone_to_sdpa(self) -> None:
        # A fresh config each time: a model writes the backend it resolved into the config it is built from.
        self.assertEqual(CondenserForPreTraining(tiny_config()).config._attn_implementation, RECOMPUTE_ATTENTION)
        self.assertEqual(CondenserModel(tiny_config()).config._attn_implementation, "sdpa")
        # An explicit choice is kept, and nothing about the backend is saved with the config.
        explicit = CondenserForPreTraining._from_config(tiny_config(), attn_implementation="eager")
        self.assertEqual(explicit.config._attn_implementation, "eager")
        self.assertNotIn("sdpa_recompute", explicit.config.to_json_string())
