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
"""Helpers shared by the CPU and CUDA training-path tests (no test here; they need torch alone, so that the CUDA tests
run on a GPU machine without the test-only packages)."""

from collections.abc import Callable, Iterable

import torch


def assert_close(actual: torch.Tensor, expected: torch.Tensor, atol: float = 1e-5, msg: str | None = None) -> None:
    """`torch.testing.assert_close` with an absolute tolerance only (losses and logits are O(1))."""
    torch.testing.assert_close(actual, expected, rtol=0, atol=atol, msg=msg)


def assert_low_precision_step_follows(
    loss: torch.Tensor, gradients: dict[str, torch.Tensor], expected_loss: torch.Tensor, expected_gradients: dict
) -> None:
    """A bf16/fp16 step follows the float32 step: loss within 5%, every gradient finite and, where the float32
    gradient is not mathematically zero, pointing the same way (cosine > 0.98) to the precision of the format."""
    assert bool(torch.isfinite(loss)), loss
    assert_close(loss, expected_loss, atol=0.05 * float(expected_loss))
    largest = max(float(gradient.norm()) for gradient in expected_gradients.values())
    for name, expected in expected_gradients.items():
        gradient = gradients[name].float()
        assert bool(torch.isfinite(gradient).all()), name
        if float(expected.norm()) < 1e-4 * largest:
            # Mathematically zero (the attention keys' bias: softmax ignores a shift), so only rounding noise.
            continue
        cosine = torch.nn.functional.cosine_similarity(gradient.flatten(), expected.flatten(), dim=0)
        assert float(cosine) > 0.98, f"{name}: cosine {float(cosine):.4f}"


def sgd_training_losses(
    model: torch.nn.Module, forward: Callable[..., object], batches: Iterable[dict], lr: float = 0.5
) -> torch.Tensor:
    """Train `model` with SGD, one step per batch, calling `forward` (the model or a compiled version of it).

    SGD rather than Adam: Adam would blow the float32 rounding noise of mathematically zero gradients (the attention
    keys' bias) up to full-size steps, so two paths that differ only by rounding would drift apart. Returns the loss
    of each step, on the CPU.
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for batch in batches:
        loss = forward(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.detach().cpu())
    return torch.stack(losses)
