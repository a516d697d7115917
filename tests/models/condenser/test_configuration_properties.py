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
"""Property-based tests of `CondenserConfig`: every valid config round-trips, every invalid one is rejected."""

import json
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transformers_condenser import CondenserConfig


PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


@st.composite
def valid_fields(draw: st.DrawFn) -> dict:
    """Fields of a valid config: heads divide the hidden size, skip_from in 1..layers-1, at least one head layer."""
    num_attention_heads = draw(st.integers(1, 16))
    num_hidden_layers = draw(st.integers(2, 24))
    return {
        "num_attention_heads": num_attention_heads,
        "hidden_size": num_attention_heads * draw(st.integers(1, 64)),
        "num_hidden_layers": num_hidden_layers,
        "skip_from": draw(st.integers(1, num_hidden_layers - 1)),
        "n_head_layers": draw(st.integers(1, 6)),
        "late_mlm": draw(st.booleans()),
        "vocab_size": draw(st.integers(8, 50_000)),
        "intermediate_size": draw(st.integers(1, 4096)),
        "max_position_embeddings": draw(st.integers(1, 4096)),
        "hidden_dropout_prob": draw(st.floats(0.0, 0.9)),
        "initializer_range": draw(st.floats(1e-4, 1.0)),
    }


@PROPERTY_SETTINGS
@given(valid_fields())
def test_every_valid_config_round_trips_through_dict_json_and_disk(fields: dict):
    config = CondenserConfig(**fields)
    for name, value in fields.items():
        assert getattr(config, name) == value
    expected = config.to_dict()
    assert CondenserConfig.from_dict(config.to_dict()).to_dict() == expected
    assert CondenserConfig.from_dict(json.loads(config.to_json_string())).to_dict() == expected
    with tempfile.TemporaryDirectory() as folder:
        config.save_pretrained(folder)
        from_disk = CondenserConfig.from_pretrained(folder).to_dict()
    # Saving records where `trust_remote_code=True` finds the class; everything else is unchanged.
    assert from_disk.pop("auto_map") == {"AutoConfig": "configuration_condenser.CondenserConfig"}
    assert from_disk == expected


@PROPERTY_SETTINGS
@given(valid_fields(), st.data())
def test_skip_from_outside_its_range_is_rejected_naming_the_range(fields: dict, data: st.DataObject):
    layers = fields["num_hidden_layers"]
    bad = data.draw(st.one_of(st.integers(-5, 0), st.integers(layers, layers + 10)))
    try:
        CondenserConfig(**{**fields, "skip_from": bad})
    except ValueError as error:
        assert f"`skip_from` is {bad}" in str(error) and f"(= {layers - 1})" in str(error)
    else:
        raise AssertionError(f"skip_from={bad} with {layers} layers was accepted")


@PROPERTY_SETTINGS
@given(valid_fields(), st.integers(-5, 0))
def test_fewer_than_one_head_layer_is_rejected(fields: dict, bad: int):
    try:
        CondenserConfig(**{**fields, "n_head_layers": bad})
    except ValueError as error:
        assert f"`n_head_layers` is {bad}" in str(error)
    else:
        raise AssertionError(f"n_head_layers={bad} was accepted")


@PROPERTY_SETTINGS
@given(st.integers(2, 16), st.integers(1, 1024))
def test_hidden_size_not_divisible_by_heads_is_rejected(heads: int, hidden_size: int):
    fields = {"num_attention_heads": heads, "hidden_size": hidden_size, "num_hidden_layers": 4, "skip_from": 2}
    if hidden_size % heads == 0:
        assert CondenserConfig(**fields).hidden_size == hidden_size
        return
    try:
        CondenserConfig(**fields)
    except ValueError as error:
        assert f"`hidden_size` ({hidden_size})" in str(error) and f"({heads})" in str(error)
    else:
        raise AssertionError(f"hidden_size={hidden_size} with {heads} heads was accepted")
