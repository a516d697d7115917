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

from tests.models.condenser.testing_utils import tiny_model
from transformers_condenser import CondenserForPreTraining, CondenserModel


@pytest.fixture(scope="module")
def good_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, CondenserForPreTraining]:
    """A tiny saved pre-training checkpoint, the bytes of its intact weights file, and the saved model."""
    folder = tmp_path_factory.mktemp("checkpoint")
    model = tiny_model(CondenserForPreTraining)
    model.save_pretrained(folder)
    return folder, (folder / "model.safetensors").read_bytes(), model


@pytest.mark.parametrize("model_class", [CondenserForPreTraining, CondenserModel])
@pytest.mark.parametrize(
    "corrupt",
    [lambda data: b"", lambda data: data[: len(data) // 2], lambda data: b"\x00garbage" * 64],
    ids=["empty", "truncated", "garbage"],
)
def test_unreadable_weights_raise_os_error_naming_the_fix(good_weights, model_class, corrupt):
    folder, data, model = good_weights
    weights = folder / "model.safetensors"
    try:
        weights.write_bytes(corrupt(data))
        with pytest.raises(OSError, match="empty, truncated or corrupt.*force_download=True"):
            model_class.from_pretrained(folder)
    finally:
        weights.write_bytes(data)
    # The intact file still loads, every weight as saved: the error came from the corruption.
    saved = model if model_class is CondenserForPreTraining else model.base_model
    expected, loaded = saved.state_dict(), model_class.from_pretrained(folder).state_dict()
    assert loaded.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0, msg=key)
