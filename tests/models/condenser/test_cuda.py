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
"""The pre-training step on a CUDA device.

What only a GPU exercises: sdpa's fused attention kernels (with dropout in training), bf16 autocast on the device,
the row selection of the last layers with device tensors, the gradient cache's replay of the CUDA dropout state,
inductor-compiled training, and host-device synchronisation in encoding. These tests are skipped where no CUDA device
is visible (CI has none); run them on a GPU machine with `python -m pytest tests/models/condenser/test_cuda.py`.
"""

import copy
import itertools
import unittest
import warnings

import torch

from tests.models.condenser.testing_utils import tiny_batch, tiny_bert_config, tiny_config, tiny_model
from tests.models.condenser.training_helpers import (
    assert_close,
    assert_low_precision_step_follows,
    sgd_training_losses,
)
from transformers_condenser import CondenserModel
from transformers_condenser.gradient_cache import gradient_cache_step
from transformers_condenser.modeling_condenser import CondenserForPreTraining
from transformers_condenser.training_kernels import RECOMPUTE_ATTENTION


requires_cuda = unittest.skipUnless(torch.cuda.is_available(), "needs a CUDA device")
# config.cocondenser: Condenser and coCondenser
COCONDENSER = (False, True)


def build(cocondenser: bool, dropout: float = 0.0, attn: str = "sdpa", seed: int = 0) -> CondenserForPreTraining:
    """A tiny Condenser or coCondenser model on the CPU, seeded, with the given dropout and attention backend."""
    dropouts = {"hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout}
    model = tiny_model(CondenserForPreTraining, seed, cocondenser=cocondenser, attn_implementation=attn, **dropouts)
    return model.train()


def span_pairs(seed: int = 0) -> dict[str, torch.Tensor]:
    """4 documents x 2 spans from the shared factory."""
    return tiny_batch(tiny_config(), batch_size=8, seed=seed, span_pairs=True)


def on(device: torch.device | str, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.to(device) for key, value in batch.items()}


def loss_and_gradients(model: torch.nn.Module, batch: dict, **forward_kwargs) -> tuple[torch.Tensor, dict]:
    """Loss and parameter gradients of one forward + backward pass, both moved to the CPU."""
    model.zero_grad(set_to_none=True)
    loss = model(**batch, **forward_kwargs).loss
    loss.backward()
    gradients = {name: parameter.grad.detach().cpu() for name, parameter in model.named_parameters()}
    return loss.detach().cpu(), gradients


def assert_same_step(loss, gradients: dict, expected_loss, expected_gradients: dict, atol: float) -> None:
    """The loss and every parameter's gradient agree within `atol`."""
    assert_close(loss, expected_loss, atol=atol)
    assert gradients.keys() == expected_gradients.keys()
    for name, expected in expected_gradients.items():
        assert_close(gradients[name], expected, atol=atol, msg=name)


@requires_cuda
class CudaPreTrainingStepTest(unittest.TestCase):
    """The step on the GPU computes what the CPU step computes."""

    def test_gpu_step_equals_cpu_step(self) -> None:
        for cocondenser, attn in itertools.product(COCONDENSER, ("eager", "sdpa")):
            with self.subTest(cocondenser=cocondenser, attn=attn):
                cpu_model = build(cocondenser, attn=attn).eval()
                gpu_model = copy.deepcopy(cpu_model).to("cuda")
                batch = span_pairs()
                expected_loss, expected_gradients = loss_and_gradients(cpu_model, batch)
                loss, gradients = loss_and_gradients(gpu_model, on("cuda", batch))
                assert_same_step(loss, gradients, expected_loss, expected_gradients, atol=1e-4)

    def test_recompute_attention_backend_on_gpu_is_sdpa(self) -> None:
        # "sdpa_recompute" (the pre-training default) recomputes only where sdpa keeps the probabilities, on the CPU;
        # on the GPU, in training with dropout, it is sdpa's fused kernel: the same dropout draws, loss and gradients.
        for cocondenser in COCONDENSER:
            with self.subTest(cocondenser=cocondenser):
                sdpa_model = build(cocondenser, dropout=0.1, attn="sdpa").train().to("cuda")
                model = copy.deepcopy(sdpa_model)
                model.set_attn_implementation(RECOMPUTE_ATTENTION)
                batch = on("cuda", span_pairs())
                torch.manual_seed(1)
                expected_loss, expected_gradients = loss_and_gradients(sdpa_model, batch)
                torch.manual_seed(1)
                loss, gradients = loss_and_gradients(model, batch)
                assert_same_step(loss, gradients, expected_loss, expected_gradients, atol=0)

    def test_loss_rows_path_equals_full_path_on_gpu(self) -> None:
        # With labels, the last layers run at the CLS + labelled rows only; asking for the hidden states runs them on
        # every position. Both must give the same loss and gradients, here with device tensors for the row indices.
        for cocondenser in COCONDENSER:
            with self.subTest(cocondenser=cocondenser):
                model = build(cocondenser).eval().to("cuda")
                batch = on("cuda", span_pairs())
                rows_loss, rows_gradients = loss_and_gradients(model, batch)
                full_loss, full_gradients = loss_and_gradients(model, batch, output_hidden_states=True)
                assert_same_step(rows_loss, rows_gradients, full_loss, full_gradients, atol=1e-5)

    def test_bf16_autocast_step_on_gpu(self) -> None:
        for cocondenser in COCONDENSER:
            with self.subTest(cocondenser=cocondenser):
                model = build(cocondenser).eval().to("cuda")
                batch = on("cuda", span_pairs())
                expected_loss, expected_gradients = loss_and_gradients(model, batch)
                model.zero_grad(set_to_none=True)
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    outputs = model(**batch)
                self.assertEqual(outputs.logits.dtype, torch.bfloat16)
                self.assertEqual(outputs.loss.dtype, torch.float32)
                outputs.loss.backward()
                gradients = {name: parameter.grad.cpu() for name, parameter in model.named_parameters()}
                assert_low_precision_step_follows(
                    outputs.loss.detach().cpu(), gradients, expected_loss, expected_gradients
                )

    def test_training_with_dropout_in_fused_attention_kernels(self) -> None:
        # Training mode on the GPU: sdpa runs its fused kernels with attention dropout, in float32 and under bf16.
        for cocondenser, dtype in itertools.product(COCONDENSER, (torch.float32, torch.bfloat16)):
            with self.subTest(model=cocondenser.__name__, dtype=dtype):
                model = build(cocondenser, dropout=0.1).train().to("cuda")
                optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
                batch = on("cuda", span_pairs())
                losses = []
                for _ in range(10):
                    with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
                        loss = model(**batch).loss
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    losses.append(float(loss.detach()))
                self.assertTrue(all(torch.isfinite(torch.tensor(losses))), losses)
                self.assertLess(losses[-1], losses[0])


@requires_cuda
class CudaGradientCacheTest(unittest.TestCase):
    """The gradient cache replays the CUDA random state, so that dropout draws the same masks twice."""

    def test_single_chunk_equals_uncached_step_with_dropout_on_gpu(self) -> None:
        model = build(True, dropout=0.1).train().to("cuda")
        twin = copy.deepcopy(model)
        batch = on("cuda", span_pairs())

        torch.manual_seed(7)
        expected = twin(**batch)
        expected.loss.backward()
        expected_state = torch.cuda.get_rng_state()

        torch.manual_seed(7)
        outputs = gradient_cache_step(model, batch, chunk_size=len(batch["input_ids"]))
        assert_close(outputs.loss.detach().cpu(), expected.loss.detach().cpu(), atol=1e-5)
        for (name, parameter), expected_parameter in zip(model.named_parameters(), twin.parameters()):
            assert_close(parameter.grad.cpu(), expected_parameter.grad.cpu(), atol=1e-5, msg=name)
        # Afterwards the CUDA generator is where one forward pass would have left it.
        self.assertTrue(torch.equal(torch.cuda.get_rng_state(), expected_state))


@requires_cuda
class CudaCompiledTrainingTest(unittest.TestCase):
    """`torch.compile` with inductor, the default backend, trains like the eager model on the GPU."""

    def test_inductor_compiled_training_steps_match_eager(self) -> None:
        eager = build(True).train().to("cuda")
        compiled_model = copy.deepcopy(eager)
        batches = [on("cuda", span_pairs(seed=seed)) for seed in range(3)]
        torch._dynamo.reset()
        try:
            eager_losses = sgd_training_losses(eager, eager, batches)
            compiled_losses = sgd_training_losses(
                compiled_model, torch.compile(compiled_model, fullgraph=True), batches
            )
        finally:
            torch._dynamo.reset()
        assert_close(compiled_losses, eager_losses, atol=1e-4)
        self.assertFalse(torch.equal(eager_losses[0], eager_losses[-1]))
        for (name, actual), expected in zip(compiled_model.named_parameters(), eager.parameters()):
            assert_close(actual.detach().cpu(), expected.detach().cpu(), atol=1e-4, msg=name)


@requires_cuda
class CudaEncodingSynchronisationTest(unittest.TestCase):
    """Encoding adds no host-device synchronisation to what transformers' `BertModel` does."""

    def count_synchronisations(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> int:
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                with torch.inference_mode():
                    model(**batch)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        # Only the per-operation warnings count (torch also warns once that the debug mode is a prototype).
        return sum("called a synchronizing CUDA operation" in str(warning.message) for warning in caught)

    def test_condenser_model_synchronises_no_more_than_bert(self) -> None:
        from transformers import BertModel

        condenser = tiny_model(CondenserModel).to("cuda")
        bert = BertModel(tiny_bert_config(), add_pooling_layer=False).eval().to("cuda")
        bert.load_state_dict(condenser.state_dict())
        batch = on("cuda", {key: span_pairs()[key] for key in ("input_ids", "attention_mask")})
        for model in (condenser, bert):
            model(**batch)  # warm-up: one-time initialisation may synchronise
        self.assertLessEqual(self.count_synchronisations(condenser, batch), self.count_synchronisations(bert, batch))
