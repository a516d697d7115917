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
"""Checks every configuration class of the package must pass, whatever the model.

`ConfigTester` knows nothing about a particular model: a model's test file builds one with its config class and a few
non-default keyword arguments, then calls `run_common_tests()`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import os
import tempfile
import unittest
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from huggingface_hub.errors import StrictDataclassError
from transformers import AutoConfig, PreTrainedConfig


# Keys whose value legitimately differs between a config and its reloaded copy: where it was loaded from, and the
# library version stamped at serialisation time.
_VOLATILE_KEYS = ("_name_or_path", "transformers_version")


@dataclasses.dataclass
class CapturedLogs:
    """What `capture_logs_and_warnings` recorded: log records (WARNING and above) and python warnings."""

    records: list[logging.LogRecord] = dataclasses.field(default_factory=list)
    warnings: list[warnings.WarningMessage] = dataclasses.field(default_factory=list)

    @property
    def messages(self) -> list[str]:
        """Every captured log message and warning message, as text."""
        return [record.getMessage() for record in self.records] + [str(w.message) for w in self.warnings]

    @property
    def text(self) -> str:
        """All captured messages joined with newlines, convenient for `assertIn`."""
        return "\n".join(self.messages)


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]):
        super().__init__(level=logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)


@contextlib.contextmanager
def capture_logs_and_warnings(*logger_names: str) -> Iterator[CapturedLogs]:
    """Record WARNING-and-above log records and every python warning raised inside the block.

    Listens on the `transformers` library logger (its children do not propagate to the root logger), on the root
    logger, and on any extra `logger_names` (e.g. the top-level package of a plugin, whose loggers may not propagate
    either).
    """
    captured = CapturedLogs()
    handler = _ListHandler(captured.records)
    loggers = [logging.getLogger("transformers"), logging.getLogger()]
    loggers += [logging.getLogger(name) for name in logger_names if name]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield captured
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    captured.warnings.extend(caught)


def comparable_config_dict(config: PreTrainedConfig) -> dict[str, Any]:
    """`config.to_dict()` without the keys that are expected to change across a save/load round trip."""
    config_dict = config.to_dict()
    for key in _VOLATILE_KEYS:
        config_dict.pop(key, None)
    return config_dict


class ConfigTester:
    """Common checks for a `PreTrainedConfig` subclass, in the spirit of transformers' own config tests.

    Args:
        parent: the running `unittest.TestCase`; its assertion methods report the failures.
        config_class: the configuration class under test.
        has_text_modality: whether the config must expose `vocab_size` (text models do).
        **config_kwargs: non-default field values used to build the config under test; every check runs on
            `config_class(**config_kwargs)` so that non-default values, not just defaults, are shown to survive.

    `run_common_tests()` runs every `check_*` method, each in its own `subTest`, so one failure does not hide
    another. The checks can also be called one by one.
    """

    # Properties every transformer config exposes, through a field or an `attribute_map` alias.
    common_properties: tuple[str, ...] = ("hidden_size", "num_attention_heads", "num_hidden_layers")

    def __init__(
        self,
        parent: unittest.TestCase,
        config_class: type[PreTrainedConfig],
        has_text_modality: bool = True,
        **config_kwargs: Any,
    ):
        self.parent = parent
        self.config_class = config_class
        self.has_text_modality = has_text_modality
        self.config_kwargs = config_kwargs

    # ----------------------------------------------------------------------------------------------------- helpers

    def make_config(self, **overrides: Any) -> PreTrainedConfig:
        """The config under test: `config_class(**config_kwargs, **overrides)`."""
        return self.config_class(**{**self.config_kwargs, **overrides})

    def assert_configs_equal(self, first: PreTrainedConfig, second: PreTrainedConfig, msg: str = "") -> None:
        """Same class and same serialisable content (ignoring the load path and the library version stamp)."""
        self.parent.assertIs(type(first), type(second), msg)
        first_dict, second_dict = comparable_config_dict(first), comparable_config_dict(second)
        differing = sorted(
            key for key in first_dict.keys() | second_dict.keys() if first_dict.get(key) != second_dict.get(key)
        )
        self.parent.assertEqual(
            differing,
            [],
            f"{msg} fields differ: "
            + ", ".join(f"{k}: {first_dict.get(k)!r} != {second_dict.get(k)!r}" for k in differing),
        )
        # Attribute by attribute too: a field that `to_dict` forgot would be missing from both dicts above.
        names = {field.name for field in dataclasses.fields(self.config_class)} | set(self.config_kwargs)
        for name in sorted(names - set(_VOLATILE_KEYS)):
            self.parent.assertEqual(getattr(first, name), getattr(second, name), f"{msg} attribute `{name}` differs")

    def _own_fields(self) -> list[dataclasses.Field]:
        """Dataclass fields the config class declares on top of `PreTrainedConfig`'s."""
        base_names = {field.name for field in dataclasses.fields(PreTrainedConfig)}
        return [field for field in dataclasses.fields(self.config_class) if field.name not in base_names]

    # ------------------------------------------------------------------------------------------------------ checks

    def check_config_kwargs_are_applied(self) -> None:
        """Every keyword argument given to the constructor ends up as the attribute's value."""
        config = self.make_config()
        for key, value in self.config_kwargs.items():
            self.parent.assertEqual(getattr(config, key), value, f"`{key}` was not applied")

    def check_common_properties_exist_and_are_settable(self) -> None:
        """The standard properties exist, can be set after construction, and can be passed to the constructor."""
        properties = list(self.common_properties) + (["vocab_size"] if self.has_text_modality else [])
        config = self.make_config()
        for name in properties:
            self.parent.assertTrue(hasattr(config, name), f"config has no `{name}`")
            # A value that keeps hidden_size / num_attention_heads compatible whichever is changed.
            value = getattr(config, name) * 2 if name != "num_attention_heads" else getattr(config, name)
            setattr(config, name, value)
            self.parent.assertEqual(getattr(config, name), value, f"setting `{name}` did not stick")
            rebuilt = self.make_config(**{name: value})
            self.parent.assertEqual(getattr(rebuilt, name), value, f"`{name}` passed to the constructor was lost")

    def check_every_field_has_a_default(self) -> None:
        """`config_class()` works without arguments: every field has a default, so Hub configs missing a key load."""
        for field in dataclasses.fields(self.config_class):
            has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
            self.parent.assertTrue(has_default, f"field `{field.name}` has no default")
        config = self.config_class()
        self.parent.assertIsInstance(config, self.config_class)

    def check_default_init_logs_no_warnings(self) -> None:
        """Building the default config, and the config under test, logs no warning and raises no python warning."""
        package = self.config_class.__module__.split(".")[0]
        with capture_logs_and_warnings(package) as captured:
            self.config_class()
            self.make_config()
        self.parent.assertEqual(captured.messages, [], "constructing the config logged warnings")

    def check_model_type_is_set_and_registered(self) -> None:
        """`model_type` is a non-empty class attribute, is serialised, and `AutoConfig` maps it back to the class."""
        model_type = self.config_class.model_type
        self.parent.assertIsInstance(model_type, str)
        self.parent.assertNotEqual(model_type, "", "`model_type` is empty")
        self.parent.assertEqual(self.make_config().to_dict()["model_type"], model_type)
        self.parent.assertIs(type(AutoConfig.for_model(model_type)), self.config_class)

    def check_to_dict_round_trip(self) -> None:
        """`from_dict(to_dict())` rebuilds an equal config, and `to_dict` does not alias the config's own state."""
        config = self.make_config()
        config_dict = config.to_dict()
        self.assert_configs_equal(config, self.config_class.from_dict(config_dict), "to_dict/from_dict:")
        for key, value in self.config_kwargs.items():
            self.parent.assertEqual(config_dict[key], value, f"`{key}` missing from to_dict()")
        # Mutating the returned dict must not leak back into the config.
        config_dict["id2label"] = {0: "mutated"}
        self.parent.assertNotEqual(config.id2label, {0: "mutated"})

    def check_to_json_string_round_trip(self) -> None:
        """Both the full and the diff JSON strings are valid JSON that rebuild an equal config."""
        config = self.make_config()
        for use_diff in (True, False):
            parsed = json.loads(config.to_json_string(use_diff=use_diff))
            self.parent.assertEqual(parsed["model_type"], self.config_class.model_type)
            for key, value in self.config_kwargs.items():
                self.parent.assertEqual(parsed[key], value, f"`{key}` missing from to_json_string({use_diff=})")
            self.assert_configs_equal(config, self.config_class.from_dict(parsed), f"to_json_string({use_diff=}):")

    def check_to_json_file_round_trip(self) -> None:
        """`to_json_file` then `from_json_file` rebuilds an equal config."""
        config = self.make_config()
        with tempfile.TemporaryDirectory() as tmp_dir:
            json_file = os.path.join(tmp_dir, "config.json")
            config.to_json_file(json_file)
            reloaded = self.config_class.from_json_file(json_file)
        self.assert_configs_equal(config, reloaded, "to_json_file/from_json_file:")

    def check_save_pretrained_round_trip(self) -> None:
        """`save_pretrained` writes `config.json`; `from_pretrained` and `AutoConfig.from_pretrained` read it back."""
        config = self.make_config()
        with tempfile.TemporaryDirectory() as tmp_dir:
            config.save_pretrained(tmp_dir)
            self.parent.assertTrue(os.path.isfile(os.path.join(tmp_dir, "config.json")))
            reloaded = self.config_class.from_pretrained(tmp_dir)
            auto_reloaded = AutoConfig.from_pretrained(tmp_dir)
        self.assert_configs_equal(config, reloaded, "save_pretrained/from_pretrained:")
        self.assert_configs_equal(config, auto_reloaded, "save_pretrained/AutoConfig.from_pretrained:")

    def check_save_pretrained_with_subfolder(self) -> None:
        """A config saved in a subfolder loads with `subfolder=`, and is not found at the top level by mistake."""
        config = self.make_config()
        with tempfile.TemporaryDirectory() as tmp_dir:
            config.save_pretrained(os.path.join(tmp_dir, "nested"))
            reloaded = self.config_class.from_pretrained(tmp_dir, subfolder="nested")
            self.parent.assertFalse(os.path.exists(os.path.join(tmp_dir, "config.json")))
        self.assert_configs_equal(config, reloaded, "save/load with subfolder:")

    def check_common_kwargs_are_accepted_and_round_trip(self) -> None:
        """The keyword arguments every `PreTrainedConfig` accepts are kept and survive a save/load round trip."""
        common_kwargs = {
            "output_hidden_states": True,
            "output_attentions": True,
            "return_dict": False,
            "chunk_size_feed_forward": 5,
            "architectures": ["SomeModelForSomething"],
            "id2label": {0: "negative", 1: "neutral", 2: "positive"},
            "label2id": {"negative": 0, "neutral": 1, "positive": 2},
            "problem_type": "single_label_classification",
            "dtype": "float16",
        }
        config = self.make_config(**common_kwargs)
        expected = {**common_kwargs, "dtype": torch.float16}
        for key, value in expected.items():
            self.parent.assertEqual(getattr(config, key), value, f"common kwarg `{key}` was not applied")
        self.parent.assertEqual(config.num_labels, 3)
        with tempfile.TemporaryDirectory() as tmp_dir:
            config.save_pretrained(tmp_dir)
            with open(os.path.join(tmp_dir, "config.json"), encoding="utf-8") as config_file:
                saved = json.load(config_file)
            reloaded = self.config_class.from_pretrained(tmp_dir)
        self.parent.assertEqual(saved["dtype"], "float16", "dtype must be written as a string")
        for key, value in expected.items():
            self.parent.assertEqual(getattr(reloaded, key), value, f"common kwarg `{key}` lost on reload")
        self.parent.assertEqual(reloaded.num_labels, 3)

    def check_num_labels_builds_label_maps(self) -> None:
        """`num_labels` builds consistent `id2label` / `label2id` maps, also when changed after construction."""
        config = self.make_config(num_labels=4)
        self.parent.assertEqual(config.num_labels, 4)
        self.parent.assertEqual(sorted(config.id2label), [0, 1, 2, 3])
        self.parent.assertEqual({v: k for k, v in config.id2label.items()}, config.label2id)
        config.num_labels = 2
        self.parent.assertEqual(len(config.id2label), 2)
        self.parent.assertEqual(len(config.label2id), 2)

    def check_legacy_torch_dtype_kwarg_sets_dtype(self) -> None:
        """Old configs carry `torch_dtype`: it must be read into `dtype` and not kept as a stray attribute."""
        config = self.make_config(torch_dtype="bfloat16")
        self.parent.assertEqual(config.dtype, torch.bfloat16)
        self.parent.assertNotIn("torch_dtype", config.to_dict())

    def check_attn_implementation_kwarg_is_runtime_only(self) -> None:
        """`attn_implementation` is honoured but is a runtime choice: it is not written to `config.json`."""
        config = self.make_config(attn_implementation="eager")
        self.parent.assertEqual(config._attn_implementation, "eager")
        serialised = json.loads(config.to_json_string(use_diff=False))
        self.parent.assertNotIn("attn_implementation", serialised)
        self.parent.assertNotIn("_attn_implementation_internal", serialised)

    def check_unknown_kwargs_are_kept_as_attributes(self) -> None:
        """Keys the class does not know (e.g. from a newer version or a user) are kept and round-trip."""
        config = self.make_config(custom_unknown_setting=17, another_custom_flag="yes")
        self.parent.assertEqual(config.custom_unknown_setting, 17)
        self.parent.assertEqual(config.another_custom_flag, "yes")
        with tempfile.TemporaryDirectory() as tmp_dir:
            config.save_pretrained(tmp_dir)
            reloaded = self.config_class.from_pretrained(tmp_dir)
        self.parent.assertEqual(reloaded.custom_unknown_setting, 17)
        self.parent.assertEqual(reloaded.another_custom_flag, "yes")

    def check_from_pretrained_kwargs_override_saved_values(self) -> None:
        """Keyword arguments of `from_pretrained` override the saved values; `return_unused_kwargs` reports the rest."""
        config = self.make_config()
        with tempfile.TemporaryDirectory() as tmp_dir:
            config.save_pretrained(tmp_dir)
            reloaded, unused = self.config_class.from_pretrained(
                tmp_dir, output_hidden_states=not config.output_hidden_states, return_unused_kwargs=True, foo_unused=1
            )
        self.parent.assertEqual(reloaded.output_hidden_states, not config.output_hidden_states)
        self.parent.assertEqual(unused, {"foo_unused": 1})

    def check_field_types_are_validated(self) -> None:
        """`@strict` configs reject a value of the wrong type for a declared `int` field at construction."""
        int_fields = [field.name for field in self._own_fields() if field.type in (int, "int")]
        if not int_fields:
            self.parent.skipTest(f"{self.config_class.__name__} declares no plain `int` field")
        for name in int_fields:
            with self.parent.assertRaises(
                (TypeError, ValueError, StrictDataclassError), msg=f"`{name}`='not a number'"
            ):
                self.make_config(**{name: "not a number"})

    def check_copy_is_independent_and_equality_sees_changes(self) -> None:
        """A deep copy compares equal; changing a field on the copy breaks equality and leaves the original alone."""
        config = self.make_config()
        duplicate = copy.deepcopy(config)
        self.parent.assertEqual(config, duplicate)
        duplicate.output_hidden_states = not config.output_hidden_states
        self.parent.assertNotEqual(config, duplicate)
        self.parent.assertEqual(config.output_hidden_states, self.make_config().output_hidden_states)

    def check_repr_shows_class_and_json(self) -> None:
        """`repr` names the class and holds the JSON serialisation (what users see when they print a config)."""
        config = self.make_config()
        text = repr(config)
        self.parent.assertTrue(text.startswith(self.config_class.__name__ + " "))
        self.parent.assertEqual(
            json.loads(text[len(self.config_class.__name__) + 1 :]), json.loads(config.to_json_string())
        )

    def run_common_tests(self) -> None:
        """Run every `check_*` method, each in its own `subTest`."""
        checks = sorted(name for name in dir(self) if name.startswith("check_") and callable(getattr(self, name)))
        self.parent.assertGreater(len(checks), 0)
        for name in checks:
            with self.parent.subTest(check=name):
                getattr(self, name)()
