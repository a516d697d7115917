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
"""Training-loop helpers shared by the CPU and CUDA training-path tests (no test here; torch and the package only)."""

from collections.abc import Callable, Iterable

import torch


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
