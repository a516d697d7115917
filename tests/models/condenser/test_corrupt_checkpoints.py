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
"""Empty, truncated or corrupt weight files fail with an `OSError` that says what is wrong and how to fix it."""

from pathlib import Path

import pytest
import torch

from transformers_condenser import CondenserConfig, CondenserForPreTraining, CondenserModel


@pytest.fixture(scope="module")
def good_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A tiny saved pre-training checkpoint and the bytes of its intact weights file."""
    folder = tmp_path_factory.mktemp("checkpoint")
    torch.manual_seed(0)
    config = CondenserConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37, skip_from=2
    )
    CondenserForPreTraining(config).save_pretrained(folder)
    return folder, (folder / "model.safetensors").read_bytes()


@pytest.mark.parametrize("model_class", [CondenserForPreTraining, CondenserModel])
@pytest.mark.parametrize(
    "corrupt",
    [lambda data: b"", lambda data: data[: len(data) // 2], lambda data: b"\x00garbage" * 64],
    ids=["empty", "truncated", "garbage"],
)
def test_unreadable_weights_raise_os_error_naming_the_fix(good_weights, model_class, corrupt):
    folder, data = good_weights
    weights = folder / "model.safetensors"
    try:
        weights.write_bytes(corrupt(data))
        with pytest.raises(OSError, match="empty, truncated or corrupt.*force_download=True"):
            model_class.from_pretrained(folder)
    finally:
        weights.write_bytes(data)
    # The intact file still loads: the error came from the corruption.
    assert isinstance(model_class.from_pretrained(folder), model_class)
