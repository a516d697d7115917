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
"""The fast training paths: mixed-precision autocast (bf16 and fp16) and a compiled training step.

Each path must give the loss and gradients of the plain float32 eager step (within the precision of the path), for
Condenser and coCondenser alike.
"""

import copy
import unittest

import torch
from parameterized import parameterized

from transformers_condenser.modeling_condenser import CoCondenserForPreTraining, CondenserForPreTraining

from .test_pretraining_condenser import build_pretraining_model, make_pretraining_batch
from .training_helpers import assert_close, assert_low_precision_step_follows, sgd_training_losses


MODEL_CLASSES = [("condenser", CondenserForPreTraining), ("cocondenser", CoCondenserForPreTraining)]


def build(model_class: type[CondenserForPreTraining], **config_overrides) -> CondenserForPreTraining:
    """A tiny model of `model_class` (sdpa, the default backend) with the shared test weights."""
    model = build_pretraining_model(attn_implementation="sdpa", **config_overrides)
    if model_class is CondenserForPreTraining:
        return model
    other = model_class(model.config)
    other.load_state_dict(model.state_dict())
    return other


def pairs_batch(vocab_size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Four padded rows: two documents x two spans for coCondenser, four sequences for Condenser."""
    return make_pretraining_batch(vocab_size, lengths=[12, 8, 5, 10], seq_len=12, seed=seed)


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
        model = build(model_class).eval()
        batch = pairs_batch(model.config.vocab_size)
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
        eager = build(model_class, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).train()
        compiled_model = copy.deepcopy(eager)
        batches = [pairs_batch(eager.config.vocab_size, seed=seed) for seed in range(3)]

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
