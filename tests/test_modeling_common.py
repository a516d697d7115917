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
"""Checks every model class of the package must pass, whatever the architecture.

`ModelTesterMixin` knows nothing about a particular model. A model's test file plugs a small "model tester" (tiny
config and random inputs) into it, as transformers' own model tests do.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import torch
from parameterized import parameterized
from safetensors import safe_open
from torch import nn
from transformers import AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput

from tests.test_configuration_common import capture_logs_and_warnings


SEED = 0
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def flatten_outputs(outputs: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten a `ModelOutput`, tuple or tensor into `{"name.index": tensor}`, dropping `None` entries.

    Tuple outputs are named by position (`"0"`, `"1.3"`, ...); `ModelOutput`s by field (`"hidden_states.3"`).
    """
    if outputs is None:
        return {}
    if isinstance(outputs, torch.Tensor):
        return {prefix or "output": outputs}
    if isinstance(outputs, ModelOutput):
        items = [(key, value) for key, value in outputs.items()]
    elif isinstance(outputs, (tuple, list)):
        items = [(str(index), value) for index, value in enumerate(outputs)]
    else:
        raise TypeError(f"Cannot flatten an output of type {type(outputs).__name__}")
    flat = {}
    for key, value in items:
        flat.update(flatten_outputs(value, f"{prefix}.{key}" if prefix else key))
    return flat


def random_projection_loss(tensors: list[torch.Tensor], seed: int = SEED) -> torch.Tensor:
    """A scalar that depends on every element of every tensor, with a gradient that is never trivially zero.

    (A sum of squares is not enough: after a fresh LayerNorm it is constant, so its gradient vanishes.)
    """
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros((), dtype=torch.float32)
    for tensor in tensors:
        weights = torch.randn(tensor.shape, generator=generator, dtype=torch.float32)
        total = total + (tensor.float() * weights).sum()
    return total


def disable_dropout(model: nn.Module) -> nn.Module:
    """Set every dropout probability to 0 (attention dropout included: it reads `nn.Dropout.p`), in place."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return model


class ModelTesterMixin:
    """Common checks for every model class of a model, mixed into a `unittest.TestCase`.

    Contract for the concrete test class:

    - `all_model_classes`: tuple of the `PreTrainedModel` classes under test (all sharing one config class).
    - `self.model_tester`, set in `setUp`, exposing `batch_size`, `seq_length`, `hidden_size`, `num_hidden_layers`,
      `num_attention_heads`, `vocab_size` and `prepare_config_and_inputs_for_common() -> (config, inputs_dict)`.
      `inputs_dict` holds `input_ids` and `attention_mask` (which may contain zeros) and optionally other per-token
      inputs such as `token_type_ids`, all of shape `(batch_size, seq_length)`. The config should be tiny and keep
      dropout on (the dropout checks need it).
    - `_prepare_for_class(inputs_dict, model_class, return_labels=False)`: may be overridden to add labels for
      classes that take them. The default returns a copy of `inputs_dict` without any `labels`.

    Optional hooks (override in the concrete class):

    - `expected_num_hidden_states(config) -> int`: length of `hidden_states` (default `num_hidden_layers + 1`).
    - `expected_num_attentions(config) -> int`: length of `attentions` (default `num_hidden_layers`).
    - `check_module_initialisation(name, module, config)`: asserts that a freshly initialised module follows the
      model's `_init_weights`. The default checks transformers' standard scheme: `nn.Linear` and `nn.Embedding`
      weights ~ N(0, `config.initializer_range`), biases and padding rows 0, LayerNorm weight 1 and bias 0.
    - `pretrained_model_class`: the model's shared `XxxPreTrainedModel` base; when set, every class must derive from
      it and inherit its `config_class` and `base_model_prefix`.
    - `output_types`: `{model_class: ModelOutput subclass}`; when set, dict outputs must be exactly these types.
    - Class attributes: `max_num_parameters` (tiny-config bound), `test_gradient_checkpointing`,
      `test_resize_embeddings`, `test_torch_compile` (switch whole checks off), `torch_compile_fullgraph` (compile
      the forward as one graph, so that a graph break fails the check), `equivalence_atol` (float32 tolerance of the
      numerical equivalence checks).
    """

    all_model_classes: tuple[type[PreTrainedModel], ...] = ()
    pretrained_model_class: type[PreTrainedModel] | None = None
    output_types: dict[type[PreTrainedModel], type[ModelOutput]] = {}
    max_num_parameters: int = 1_000_000
    test_gradient_checkpointing: bool = True
    test_resize_embeddings: bool = True
    test_torch_compile: bool = True
    torch_compile_fullgraph: bool = False
    equivalence_atol: float = 1e-5

    # ------------------------------------------------------------------------------------------------------- hooks

    def _prepare_for_class(
        self, inputs_dict: dict[str, Any], model_class: type[PreTrainedModel], return_labels: bool = False
    ) -> dict[str, Any]:
        """Inputs for `model_class`; the default never adds labels (override to add them)."""
        return {
            key: value.clone() if torch.is_tensor(value) else value
            for key, value in inputs_dict.items()
            if key != "labels"
        }

    def expected_num_hidden_states(self, config: PreTrainedConfig) -> int:
        """Number of tensors in `outputs.hidden_states`: the embeddings output plus one per layer."""
        return config.num_hidden_layers + 1

    def expected_num_attentions(self, config: PreTrainedConfig) -> int:
        """Number of tensors in `outputs.attentions`: one per layer."""
        return config.num_hidden_layers

    def check_module_initialisation(self, name: str, module: nn.Module, config: PreTrainedConfig) -> None:
        """Assert `module` (fresh from `_init_weights`) follows transformers' standard BERT-style initialisation."""
        std = config.initializer_range
        if isinstance(module, nn.LayerNorm):
            if module.weight is not None:
                torch.testing.assert_close(module.weight, torch.ones_like(module.weight), msg=f"{name}.weight")
            if module.bias is not None:
                torch.testing.assert_close(module.bias, torch.zeros_like(module.bias), msg=f"{name}.bias")
        elif isinstance(module, (nn.Linear, nn.Embedding)):
            weight = module.weight.detach()
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                self.assertTrue(bool((weight[module.padding_idx] == 0).all()), f"{name}: padding row is not zero")
                weight = torch.cat([weight[: module.padding_idx], weight[module.padding_idx + 1 :]])
            self.assert_normal_with_std(weight, std, name)
            if getattr(module, "bias", None) is not None:
                torch.testing.assert_close(module.bias, torch.zeros_like(module.bias), msg=f"{name}.bias")

    # ----------------------------------------------------------------------------------------------------- helpers

    def assert_normal_with_std(self, tensor: torch.Tensor, std: float, name: str) -> None:
        """Mean ~ 0 and std ~ `std`, with tolerances scaled to the sample size (about 6 standard errors)."""
        values = tensor.detach().double().flatten()
        count = values.numel()
        self.assertGreater(count, 1, name)
        mean_tolerance = 6 * std / math.sqrt(count)
        std_relative_tolerance = max(0.1, 6 / math.sqrt(2 * count))
        self.assertLess(abs(values.mean().item()), mean_tolerance, f"{name}: mean {values.mean().item():.3g} != 0")
        self.assertAlmostEqual(
            values.std().item() / std,
            1.0,
            delta=std_relative_tolerance,
            msg=f"{name}: std {values.std().item():.4g} != {std}",
        )

    def assert_outputs_close(
        self, expected: Any, actual: Any, atol: float = 0.0, rtol: float = 0.0, msg: str = ""
    ) -> None:
        """Same output names, shapes and values (exact by default)."""
        expected_flat, actual_flat = flatten_outputs(expected), flatten_outputs(actual)
        self.assertEqual(sorted(expected_flat), sorted(actual_flat), f"{msg} output names differ")
        for key, value in expected_flat.items():
            torch.testing.assert_close(
                actual_flat[key], value, atol=atol, rtol=rtol, msg=lambda m, k=key: f"{msg} {k}: {m}"
            )

    def _config_and_inputs(self) -> tuple[PreTrainedConfig, dict[str, Any]]:
        config, inputs_dict = self.model_tester.prepare_config_and_inputs_for_common()
        return copy.deepcopy(config), inputs_dict

    def _make_model(
        self, model_class: type[PreTrainedModel], config: PreTrainedConfig, **kwargs: Any
    ) -> PreTrainedModel:
        """A freshly initialised model, seeded, built on a copy of `config` (`kwargs` go to `_from_config`)."""
        torch.manual_seed(SEED)
        return model_class._from_config(copy.deepcopy(config), **kwargs)

    def _base_model_class(self) -> type[PreTrainedModel] | None:
        """The class in `all_model_classes` that is its own base model (e.g. `XxxModel`), if any."""
        config, _ = self._config_and_inputs()
        for model_class in self.all_model_classes:
            if self._make_model(model_class, config).base_model.__class__ is model_class:
                return model_class
        return None

    def _iter_model_classes(self) -> Iterator[type[PreTrainedModel]]:
        self.assertGreater(len(self.all_model_classes), 0, "`all_model_classes` is empty")
        for model_class in self.all_model_classes:
            with self.subTest(model_class=model_class.__name__):
                yield model_class

    @staticmethod
    def _with_trailing_padding(inputs: dict[str, Any], real_lengths: list[int], seed: int = SEED) -> dict[str, Any]:
        """Inputs where row `i` keeps its first `real_lengths[i]` tokens and the rest is masked-out padding.

        The padded token ids are replaced by random ids (drawn from `seed`), so that only the mask can hide them.
        """
        padded = {key: value.clone() if torch.is_tensor(value) else value for key, value in inputs.items()}
        input_ids = padded["input_ids"]
        batch_size, seq_length = input_ids.shape
        generator = torch.Generator().manual_seed(seed)
        mask = torch.zeros(batch_size, seq_length, dtype=torch.long)
        for row, length in enumerate(real_lengths):
            mask[row, :length] = 1
        noise = torch.randint(int(input_ids.max()) + 1, (batch_size, seq_length), generator=generator)
        padded["input_ids"] = torch.where(mask.bool(), input_ids, noise)
        padded["attention_mask"] = mask
        return padded

    def _padding_lengths(self) -> list[int]:
        """Real lengths per row: the first row unpadded, each later row padded by more tokens (at least 2 kept)."""
        batch_size, seq_length = self.model_tester.batch_size, self.model_tester.seq_length
        return [max(seq_length - row * max(1, seq_length // (2 * batch_size)) - row, 2) for row in range(batch_size)]

    def _assert_real_positions_close(
        self, expected: Any, actual: Any, real_lengths: list[int], atol: float, msg: str = ""
    ) -> None:
        """Compare per-token outputs at each row's real positions and per-sequence outputs in full."""
        expected_flat, actual_flat = flatten_outputs(expected), flatten_outputs(actual)
        self.assertEqual(sorted(expected_flat), sorted(actual_flat), msg)
        batch_size, seq_length = self.model_tester.batch_size, self.model_tester.seq_length
        compared = 0
        for key, value in expected_flat.items():
            other = actual_flat[key]
            if value.dim() >= 2 and tuple(value.shape[:2]) == (batch_size, seq_length):
                for row, length in enumerate(real_lengths):
                    torch.testing.assert_close(
                        other[row, :length],
                        value[row, :length],
                        atol=atol,
                        rtol=0,
                        msg=lambda m, k=key, r=row: f"{msg} {k}[{r}]: {m}",
                    )
                compared += 1
            elif value.dim() >= 1 and value.shape[0] == batch_size:
                torch.testing.assert_close(other, value, atol=atol, rtol=0, msg=lambda m, k=key: f"{msg} {k}: {m}")
                compared += 1
        self.assertGreater(compared, 0, f"{msg} no per-sequence output to compare")

    # --------------------------------------------------------------------------------------------- model structure

    def test_model_tester_config_is_tiny(self):
        config, _ = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            num_parameters = self._make_model(model_class, config).num_parameters()
            self.assertLess(num_parameters, self.max_num_parameters, "use a smaller test config")

    def test_config_class_and_base_model_prefix_are_consistent(self):
        config, _ = self._config_and_inputs()
        config_classes, prefixes = set(), set()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config)
            self.assertIsInstance(model.config, model_class.config_class)
            self.assertIs(type(config), model_class.config_class)
            self.assertIsInstance(model_class.base_model_prefix, str)
            self.assertNotEqual(model_class.base_model_prefix, "")
            self.assertIsInstance(model.base_model, PreTrainedModel)
            if model.base_model is not model:
                # A model with a head reaches its backbone through the prefix, so checkpoints of both line up.
                self.assertIs(getattr(model, model_class.base_model_prefix), model.base_model)
            config_classes.add(model_class.config_class)
            prefixes.add(model_class.base_model_prefix)
        self.assertEqual(len(config_classes), 1, "all model classes of a model share one config class")
        self.assertEqual(len(prefixes), 1, "all model classes of a model share one base_model_prefix")

    def test_model_classes_share_the_pretrained_model_base(self):
        if self.pretrained_model_class is None:
            self.skipTest("no `pretrained_model_class` declared")
        base = self.pretrained_model_class
        self.assertTrue(issubclass(base, PreTrainedModel))
        for model_class in self._iter_model_classes():
            self.assertTrue(
                issubclass(model_class, base), f"{model_class.__name__} does not derive from {base.__name__}"
            )
            self.assertIs(model_class.config_class, base.config_class)
            self.assertEqual(model_class.base_model_prefix, base.base_model_prefix)

    def test_outputs_have_the_declared_types(self):
        if not self.output_types:
            self.skipTest("no `output_types` declared")
        self.assertEqual(set(self.output_types), set(self.all_model_classes), "declare a type for every class")
        config, inputs_dict = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config).eval()
            with torch.no_grad():
                for return_labels in (False, True):
                    outputs = model(**self._prepare_for_class(inputs_dict, model_class, return_labels=return_labels))
                    self.assertIs(type(outputs), self.output_types[model_class])

    def test_forward_signature_starts_with_input_ids_and_attention_mask(self):
        for model_class in self._iter_model_classes():
            self.assertEqual(model_class.main_input_name, "input_ids")
            parameters = list(inspect.signature(model_class.forward).parameters)
            self.assertEqual(parameters[:3], ["self", "input_ids", "attention_mask"])

    def test_auto_model_builds_the_base_model_class(self):
        base_model_class = self._base_model_class()
        if base_model_class is None:
            self.skipTest("no base model class among `all_model_classes`")
        config, _ = self._config_and_inputs()
        self.assertIs(type(AutoModel.from_config(config)), base_model_class)

    def test_input_and_output_embeddings_accessors(self):
        config, inputs_dict = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config).eval()
            input_embeddings = model.get_input_embeddings()
            self.assertIsInstance(input_embeddings, nn.Embedding)
            self.assertEqual(input_embeddings.num_embeddings, self.model_tester.vocab_size)
            output_embeddings = model.get_output_embeddings()
            self.assertTrue(output_embeddings is None or isinstance(output_embeddings, nn.Linear))
            # A replacement set through the setter is the one the forward uses.
            replacement = nn.Embedding(input_embeddings.num_embeddings, input_embeddings.embedding_dim)
            nn.init.zeros_(replacement.weight)
            model.set_input_embeddings(replacement)
            self.assertIs(model.get_input_embeddings(), replacement)
            inputs = self._prepare_for_class(inputs_dict, model_class)
            with torch.no_grad():
                reference = model(**inputs)
                inputs["input_ids"] = (inputs["input_ids"] + 1) % self.model_tester.vocab_size
                shifted = model(**inputs)
            # All-zero word embeddings make the token ids irrelevant.
            self.assert_outputs_close(reference, shifted, atol=1e-6, msg="after set_input_embeddings:")

    # ---------------------------------------------------------------------------------------------- forward basics

    def test_eval_forward_is_deterministic(self):
        config, inputs_dict = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config).eval()
            inputs = self._prepare_for_class(inputs_dict, model_class)
            with torch.no_grad():
                first, second = model(**inputs), model(**inputs)
            self.assert_outputs_close(first, second)

    def test_dropout_is_active_in_train_mode_only(self):
        config, inputs_dict = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config)
            if not any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.modules()):
                self.skipTest("the test config has no dropout")
            inputs = self._prepare_for_class(inputs_dict, model_class)
            with torch.no_grad():
                model.train()
                train_first, train_second = flatten_outputs(model(**inputs)), flatten_outputs(model(**inputs))
                model.eval()
                eval_output = flatten_outputs(model(**inputs))
            key = next(iter(train_first))
            self.assertFalse(torch.equal(train_first[key], train_second[key]), "train mode: dropout had no effect")
            self.assertFalse(torch.equal(train_first[key], eval_output[key]))

    def test_tuple_outputs_match_dict_outputs(self):
        config, inputs_dict = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config).eval()
            for return_labels in (False, True):
                for extra in ({}, {"output_hidden_states": True}):
                    inputs = {
                        **self._prepare_for_class(inputs_dict, model_class, return_labels=return_labels),
                        **extra,
                    }
                    with torch.no_grad():
                        dict_outputs = model(**inputs)
                        tuple_outputs = model(**inputs, return_dict=False)
                    self.assertIsInstance(dict_outputs, ModelOutput)
                    self.assertIsInstance(tuple_outputs, tuple)
                    self.assertNotIsInstance(tuple_outputs, ModelOutput)
                    self.assert_outputs_close(dict_outputs.to_tuple(), tuple_outputs, msg=f"{return_labels=} {extra}:")
            # `config.return_dict=False` is the model-wide way to ask for tuples.
            tuple_config = copy.deepcopy(config)
            tuple_config.return_dict = False
            tuple_model = self._make_model(model_class, tuple_config).eval()
            with torch.no_grad():
                outputs = tuple_model(**self._prepare_for_class(inputs_dict, model_class))
            self.assertIsInstance(outputs, tuple)

    def test_batched_outputs_match_one_by_one(self):
        config, inputs_dict = self._config_and_inputs()
        batch_size = self.model_tester.batch_size
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config).eval()
            inputs = self._prepare_for_class(inputs_dict, model_class)
            with torch.no_grad():
                batched = flatten_outputs(model(**inputs))
                rows = [
                    flatten_outputs(model(**{k: v[i : i + 1] if torch.is_tensor(v) else v for k, v in inputs.items()}))
                    for i in range(batch_size)
                ]
            compared = 0
            for key, value in batched.items():
                if value.dim() == 0 or value.shape[0] != batch_size:
                    continue
                stacked = torch.cat([row[key] for row in rows])
                torch.testing.assert_close(
                    stacked, value, atol=self.equivalence_atol, rtol=0, msg=lambda m, k=key: f"{k}: {m}"
                )
                compared += 1
            self.assertGreater(compared, 0)

    def test_inputs_embeds_match_input_ids(self):
        config, inputs_dict = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config).eval()
            inputs = self._prepare_for_class(inputs_dict, model_class, return_labels=True)
            with torch.no_grad():
                from_ids = model(**inputs)
                embeds_inputs = dict(inputs)
                embeds_inputs["inputs_embeds"] = model.get_input_embeddings()(embeds_inputs.pop("input_ids"))
                from_embeds = model(**embeds_inputs)
            self.assert_outputs_close(from_ids, from_embeds, atol=1e-6)

    def test_eval_outputs_do_not_depend_on_padding(self):
        self._check_padding_invariance("sdpa")

    def test_eval_outputs_do_not_depend_on_padding_with_eager_attention(self):
        self._check_padding_invariance("eager")

    def _check_padding_invariance(self, attn_implementation: str) -> None:
        """A padded row gives the same real-position outputs as the same row alone without padding."""
        config, inputs_dict = self._config_and_inputs()
        real_lengths = self._padding_lengths()
        self.assertLess(min(real_lengths), self.model_tester.seq_length, "the check needs at least one padded row")
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config, attn_implementation=attn_implementation).eval()
            inputs = self._prepare_for_class(inputs_dict, model_class)
            padded = self._with_trailing_padding(inputs, real_lengths, seed=1)
            repadded = self._with_trailing_padding(inputs, real_lengths, seed=2)
            with torch.no_grad():
                padded_outputs = model(**padded)
                # Other garbage under the mask must not change anything.
                self._assert_real_positions_close(padded_outputs, model(**repadded), real_lengths, atol=1e-6)
                for row, length in enumerate(real_lengths):
                    alone = model(
                        **{k: v[row : row + 1, :length] if torch.is_tensor(v) else v for k, v in padded.items()}
                    )
                    for key, value in flatten_outputs(alone).items():
                        batched = flatten_outputs(padded_outputs)[key][row : row + 1]
                        if value.dim() >= 2 and value.shape[1] == length:
                            batched = batched[:, :length]
                        torch.testing.assert_close(
                            batched,
                            value,
                            atol=self.equivalence_atol,
                            rtol=0,
                            msg=lambda m, k=key, r=row: f"row {r} {k}: {m}",
                        )

    # ------------------------------------------------------------------------------------------- attention backends

    def test_eager_and_sdpa_match_with_padding(self):
        config, inputs_dict = self._config_and_inputs()
        real_lengths = self._padding_lengths()
        for model_class in self._iter_model_classes():
            eager = self._make_model(model_class, config, attn_implementation="eager").eval()
            sdpa = self._make_model(model_class, config, attn_implementation="sdpa").eval()
            self.assertEqual(eager.config._attn_implementation, "eager")
            self.assertEqual(sdpa.config._attn_implementation, "sdpa")
            sdpa.load_state_dict(eager.state_dict())
            inputs = self._with_trailing_padding(self._prepare_for_class(inputs_dict, model_class), real_lengths)
            with torch.no_grad():
                eager_outputs = eager(**inputs, output_hidden_states=True)
                sdpa_outputs = sdpa(**inputs, output_hidden_states=True)
            self._assert_real_positions_close(eager_outputs, sdpa_outputs, real_lengths, atol=self.equivalence_atol)

    def test_hidden_states_output(self):
        config, inputs_dict = self._config_and_inputs()
        batch_size, seq_length = self.model_tester.batch_size, self.model_tester.seq_length
        for model_class in self._iter_model_classes():
            inputs = self._prepare_for_class(inputs_dict, model_class)
            model = self._make_model(model_class, config).eval()
            with torch.no_grad():
                without = model(**inputs)
                by_kwarg = model(**inputs, output_hidden_states=True)
            self.assertIsNone(getattr(without, "hidden_states", None), "hidden states returned without being asked")
            hidden_states = by_kwarg.hidden_states
            self.assertEqual(len(hidden_states), self.expected_num_hidden_states(config))
            for hidden_state in hidden_states:
                self.assertEqual(tuple(hidden_state.shape), (batch_size, seq_length, self.model_tester.hidden_size))
            if "last_hidden_state" in by_kwarg:
                torch.testing.assert_close(hidden_states[-1], by_kwarg.last_hidden_state, atol=0, rtol=0)
            # Consecutive layers transform the states: no entry is a stale copy of the previous one.
            for index in range(1, len(hidden_states)):
                self.assertFalse(
                    torch.equal(hidden_states[index], hidden_states[index - 1]), f"hidden_states[{index}]"
                )
            # The config flag asks for the same thing.
            flag_config = copy.deepcopy(config)
            flag_config.output_hidden_states = True
            flag_model = self._make_model(model_class, flag_config).eval()
            with torch.no_grad():
                by_config = flag_model(**inputs)
            self.assert_outputs_close(by_kwarg.hidden_states, by_config.hidden_states)

    def test_attention_outputs_with_eager_attention(self):
        config, inputs_dict = self._config_and_inputs()
        batch_size, seq_length = self.model_tester.batch_size, self.model_tester.seq_length
        expected_shape = (batch_size, self.model_tester.num_attention_heads, seq_length, seq_length)
        for model_class in self._iter_model_classes():
            inputs = self._prepare_for_class(inputs_dict, model_class)
            attention_mask = inputs["attention_mask"]
            self.assertFalse(bool(attention_mask.all()), "the check needs some masked-out tokens in the inputs")
            model = self._make_model(model_class, config, attn_implementation="eager").eval()
            with torch.no_grad():
                attentions = model(**inputs, output_attentions=True).attentions
            self.assertEqual(len(attentions), self.expected_num_attentions(config))
            for layer, attention in enumerate(attentions):
                self.assertEqual(tuple(attention.shape), expected_shape, f"layer {layer}")
                # Probabilities over keys: they sum to 1 and masked-out keys get none.
                torch.testing.assert_close(attention.sum(-1), torch.ones(expected_shape[:-1]), msg=f"layer {layer}")
                masked_keys = (attention_mask == 0)[:, None, None, :].expand(expected_shape)
                self.assertEqual(attention[masked_keys].abs().max().item(), 0.0, f"layer {layer} attends to padding")
            flag_config = copy.deepcopy(config)
            flag_config.output_attentions = True
            flag_model = self._make_model(model_class, flag_config, attn_implementation="eager").eval()
            with torch.no_grad():
                by_config = flag_model(**inputs).attentions
            self.assert_outputs_close(attentions, by_config)

    def test_gradients_flow_into_hidden_states_and_attentions(self):
        config, inputs_dict = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config, attn_implementation="eager").eval()
            inputs = self._prepare_for_class(inputs_dict, model_class)
            outputs = model(**inputs, output_hidden_states=True, output_attentions=True)
            for tensor in (*outputs.hidden_states, *outputs.attentions):
                tensor.retain_grad()
            # Only the first output feeds the loss: the gradients must reach the intermediate states through the model.
            random_projection_loss([outputs[0]]).backward()
            for name, tensors in (("hidden_states", outputs.hidden_states), ("attentions", outputs.attentions)):
                for index, tensor in enumerate(tensors):
                    self.assertIsNotNone(tensor.grad, f"{name}[{index}] received no gradient")
                    self.assertTrue(bool(torch.isfinite(tensor.grad).all()), f"{name}[{index}]")
                    self.assertGreater(tensor.grad.abs().sum().item(), 0.0, f"{name}[{index}] gradient is zero")

    # --------------------------------------------------------------------------------------------------- training

    def _loss(self, model: PreTrainedModel, inputs: dict[str, Any]) -> torch.Tensor:
        outputs = model(**inputs)
        if getattr(outputs, "loss", None) is not None:
            return outputs.loss
        return random_projection_loss(list(flatten_outputs(outputs).values()))

    def test_training_step_gives_every_parameter_a_finite_gradient(self):
        config, inputs_dict = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config).train()
            inputs = self._prepare_for_class(inputs_dict, model_class, return_labels=True)
            loss = self._loss(model, inputs)
            self.assertEqual(loss.dim(), 0)
            self.assertTrue(bool(torch.isfinite(loss)))
            loss.backward()
            for name, parameter in model.named_parameters():
                self.assertTrue(parameter.requires_grad, name)
                self.assertIsNotNone(parameter.grad, f"{name} received no gradient")
                self.assertTrue(bool(torch.isfinite(parameter.grad).all()), f"{name} has a non-finite gradient")
                self.assertGreater(parameter.grad.abs().sum().item(), 0.0, f"{name} has an all-zero gradient")
            before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
            torch.optim.SGD(model.parameters(), lr=0.1).step()
            for name, parameter in model.named_parameters():
                self.assertFalse(torch.equal(before[name], parameter.detach()), f"{name} not updated by the step")

    def test_gradient_checkpointing_gives_same_outputs_and_gradients(self):
        if not self.test_gradient_checkpointing:
            self.skipTest("gradient checkpointing check switched off")
        config, inputs_dict = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            self.assertTrue(model_class.supports_gradient_checkpointing)
            inputs = self._prepare_for_class(inputs_dict, model_class, return_labels=True)
            results = {}
            for checkpointing in (False, True):
                # Train mode (checkpointing is only active while training) without dropout, so both runs compute the same.
                model = disable_dropout(self._make_model(model_class, config)).train()
                if checkpointing:
                    model.activation_checkpointing_enable()
                self.assertEqual(model.is_activation_checkpointing, checkpointing)
                calls = self._count_layer_inner_calls(model)
                loss = self._loss(model, inputs)
                loss.backward()
                grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
                results[checkpointing] = (loss.detach(), grads, list(calls))
            (plain_loss, plain_grads, plain_calls), (ckpt_loss, ckpt_grads, ckpt_calls) = results[False], results[True]
            self.assertGreater(len(plain_calls), 0, "the model has no checkpointable layer")
            # Checkpointed layers run their inside twice: once forward, once again during backward.
            self.assertEqual(plain_calls, [1] * len(plain_calls))
            self.assertEqual(ckpt_calls, [2] * len(ckpt_calls), "layers were not recomputed: checkpointing is off")
            torch.testing.assert_close(ckpt_loss, plain_loss, atol=self.equivalence_atol, rtol=0)
            self.assertEqual(sorted(ckpt_grads), sorted(plain_grads))
            for name, grad in plain_grads.items():
                torch.testing.assert_close(
                    ckpt_grads[name], grad, atol=self.equivalence_atol, rtol=1e-4, msg=lambda m, n=name: f"{n}: {m}"
                )
            model.activation_checkpointing_disable()
            self.assertFalse(model.is_activation_checkpointing)

    @staticmethod
    def _count_layer_inner_calls(model: nn.Module) -> list[int]:
        """Per checkpointable layer, a live counter of how often its first leaf module runs.

        Hooks on the layer itself sit outside the checkpoint and fire once; a child runs again on recomputation.
        """
        counters: list[int] = []
        for module in model.modules():
            if isinstance(module, GradientCheckpointingLayer):
                # The first leaf module (for BERT layers, the query projection) runs on every path through a layer, and
                # first when a checkpointed layer is recomputed.
                child = next(leaf for leaf in module.modules() if next(leaf.children(), None) is None)
                index = len(counters)
                counters.append(0)

                def hook(*_: Any, index: int = index) -> None:
                    counters[index] += 1

                child.register_forward_hook(hook)
        return counters

    # ------------------------------------------------------------------------------------------ save / load / init

    def test_save_load_preserves_outputs_in_one_safetensors_file(self):
        config, inputs_dict = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config).eval()
            inputs = self._prepare_for_class(inputs_dict, model_class, return_labels=True)
            with tempfile.TemporaryDirectory() as tmp_dir:
                model.save_pretrained(tmp_dir)
                files = sorted(os.listdir(tmp_dir))
                self.assertEqual([f for f in files if f.endswith(".safetensors")], ["model.safetensors"])
                self.assertEqual([f for f in files if f.endswith(PICKLE_SUFFIXES)], [], "pickle files written")
                self.assertIn("config.json", files)
                with safe_open(os.path.join(tmp_dir, "model.safetensors"), "pt") as safetensors_file:
                    saved_keys = set(safetensors_file.keys())
                with capture_logs_and_warnings() as captured:
                    reloaded, loading_info = model_class.from_pretrained(tmp_dir, output_loading_info=True)
            reloaded.eval()
            self.assertEqual(
                {key: sorted(value) for key, value in loading_info.items() if key != "error_msgs"},
                {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []},
            )
            self.assertNotIn("LOAD REPORT", captured.text)
            # Every saved tensor is one the model owns (tied copies are not saved twice).
            self.assertTrue(saved_keys <= set(model.state_dict()), saved_keys - set(model.state_dict()))
            for key, value in model.state_dict().items():
                torch.testing.assert_close(reloaded.state_dict()[key], value, atol=0, rtol=0, msg=key)
            self._assert_tied_embeddings(reloaded)
            with torch.no_grad():
                self.assert_outputs_close(model(**inputs), reloaded(**inputs), msg="after reload:")

    def _assert_tied_embeddings(self, model: PreTrainedModel) -> None:
        """The output embeddings share the input embeddings' tensor, and every declared tie holds."""
        output_embeddings = model.get_output_embeddings()
        if output_embeddings is not None and model.config.tie_word_embeddings:
            self.assertIs(output_embeddings.weight, model.get_input_embeddings().weight, "decoder is not tied")
            for target, source in (getattr(model, "all_tied_weights_keys", None) or {}).items():
                self.assertIs(model.get_parameter(target), model.get_parameter(source), f"{target} is not tied")

    def test_from_pretrained_with_state_dict_and_no_path(self):
        config, inputs_dict = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config).eval()
            # Different seed: a model that ignored the state dict would not match.
            torch.manual_seed(SEED + 1)
            loaded = model_class.from_pretrained(None, config=config, state_dict=model.state_dict()).eval()
            inputs = self._prepare_for_class(inputs_dict, model_class, return_labels=True)
            with torch.no_grad():
                self.assert_outputs_close(model(**inputs), loaded(**inputs))
            self._assert_tied_embeddings(loaded)

    def test_loading_reports_missing_keys(self):
        config, _ = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config)
            state_dict = model.state_dict()
            shared = self._shared_tensor_keys(state_dict)
            # An untied weight deep in the model: a tied one could be filled from its twin.
            dropped = [key for key in state_dict if key.endswith(".weight") and key not in shared][-2]
            del state_dict[dropped]
            with capture_logs_and_warnings() as captured:
                _, loading_info = model_class.from_pretrained(
                    None, config=config, state_dict=state_dict, output_loading_info=True
                )
            self.assertEqual(set(loading_info["missing_keys"]), {dropped})
            self.assertEqual(set(loading_info["unexpected_keys"]), set())
            self.assertIn(dropped, captured.text, "the missing key must be reported in the logs")

    def test_loading_reports_unexpected_keys(self):
        config, _ = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config)
            state_dict = model.state_dict()
            unexpected = "unexpected_module.dense.weight"
            state_dict[unexpected] = torch.zeros(2, 2)
            with capture_logs_and_warnings() as captured:
                _, loading_info = model_class.from_pretrained(
                    None, config=config, state_dict=state_dict, output_loading_info=True
                )
            self.assertEqual(set(loading_info["unexpected_keys"]), {unexpected})
            self.assertEqual(set(loading_info["missing_keys"]), set())
            self.assertIn(unexpected, captured.text, "the unexpected key must be reported in the logs")

    def test_loading_mismatched_shapes_raises_unless_ignored(self):
        config, _ = self._config_and_inputs()
        bigger_vocab = copy.deepcopy(config)
        bigger_vocab.vocab_size = config.vocab_size + 8
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config)
            with tempfile.TemporaryDirectory() as tmp_dir:
                model.save_pretrained(tmp_dir)
                with self.assertRaises(RuntimeError), capture_logs_and_warnings():
                    model_class.from_pretrained(tmp_dir, config=bigger_vocab)
                with capture_logs_and_warnings():
                    loaded, loading_info = model_class.from_pretrained(
                        tmp_dir, config=bigger_vocab, ignore_mismatched_sizes=True, output_loading_info=True
                    )
            mismatched = {key for key, *_ in loading_info["mismatched_keys"]}
            embedding_key = next(
                key
                for key, value in model.state_dict().items()
                if value.data_ptr() == model.get_input_embeddings().weight.data_ptr()
            )
            self.assertIn(embedding_key, mismatched)
            self.assertEqual(loaded.get_input_embeddings().num_embeddings, bigger_vocab.vocab_size)

    def test_base_and_head_checkpoints_load_into_each_other(self):
        base_model_class = self._base_model_class()
        head_classes = [c for c in self.all_model_classes if c is not base_model_class]
        if base_model_class is None or not head_classes:
            self.skipTest("needs a base model class and at least one class with a head")
        config, _ = self._config_and_inputs()
        prefix = base_model_class.base_model_prefix
        for head_class in head_classes:
            with self.subTest(model_class=head_class.__name__):
                head_model = self._make_model(head_class, config)
                base_model = self._make_model(base_model_class, config)
                with tempfile.TemporaryDirectory() as tmp_dir, capture_logs_and_warnings():
                    # A head checkpoint gives the backbone its weights, and the head weights are dropped.
                    head_model.save_pretrained(tmp_dir)
                    base_from_head, info = base_model_class.from_pretrained(tmp_dir, output_loading_info=True)
                self.assertEqual(set(info["missing_keys"]), set())
                for key, value in head_model.base_model.state_dict().items():
                    torch.testing.assert_close(base_from_head.state_dict()[key], value, atol=0, rtol=0, msg=key)
                with tempfile.TemporaryDirectory() as tmp_dir, capture_logs_and_warnings():
                    # A backbone checkpoint fills the head model's backbone; only head weights are missing.
                    base_model.save_pretrained(tmp_dir)
                    head_from_base, info = head_class.from_pretrained(tmp_dir, output_loading_info=True)
                self.assertEqual(set(info["unexpected_keys"]), set())
                self.assertTrue(info["missing_keys"], "a head model loaded from a backbone must miss its head")
                for key in info["missing_keys"]:
                    self.assertFalse(key.startswith(prefix + "."), f"backbone weight {key} was not loaded")
                for key, value in base_model.state_dict().items():
                    torch.testing.assert_close(
                        head_from_base.base_model.state_dict()[key], value, atol=0, rtol=0, msg=key
                    )

    def test_from_pretrained_dtype_sets_parameter_dtype(self):
        config, inputs_dict = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config)
            with tempfile.TemporaryDirectory() as tmp_dir:
                model.save_pretrained(tmp_dir)
                loaded = model_class.from_pretrained(tmp_dir, dtype=torch.bfloat16).eval()
            self.assertEqual(loaded.config.dtype, torch.bfloat16)
            self.assertEqual({p.dtype for p in loaded.parameters()}, {torch.bfloat16})
            self.assertEqual({p.dtype for p in model.parameters()}, {torch.float32}, "default dtype is float32")
            with torch.no_grad():
                outputs = flatten_outputs(
                    loaded(**self._prepare_for_class(inputs_dict, model_class, return_labels=True))
                )
            for key, value in outputs.items():
                self.assertTrue(bool(torch.isfinite(value.float()).all()), key)

    def test_fresh_model_follows_init_weights(self):
        config, _ = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config)
            checked = 0
            for name, module in model.named_modules():
                if isinstance(module, (nn.Linear, nn.Embedding, nn.LayerNorm)):
                    if module is model.get_output_embeddings() and config.tie_word_embeddings:
                        continue  # it is the word embedding matrix, checked as such
                    self.check_module_initialisation(name, module, config)
                    checked += 1
            self.assertGreater(checked, 0)

    def test_missing_weights_are_initialised_and_loaded_weights_kept(self):
        config, _ = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config)
            state_dict = model.state_dict()
            shared = self._shared_tensor_keys(state_dict)
            dropped_modules = self._modules_to_drop(model, shared)
            self.assertEqual(len(dropped_modules), 3, f"found only {sorted(dropped_modules)}")
            dropped_keys = {key for key in state_dict for name in dropped_modules if key.startswith(name + ".")}
            # One more Linear loses only its bias: `_init_weights` then runs on a module whose weight WAS loaded.
            half_loaded = self._first_untied_linear_with_bias(model, shared, exclude=set(dropped_modules))
            self.assertIsNotNone(half_loaded, "no second Linear with a bias to half-load")
            dropped_keys.add(f"{half_loaded}.bias")
            # Loaded weights get a value `_init_weights` never produces, so any re-initialisation shows.
            sentinel = 0.5
            kept = {
                key: torch.full_like(value, sentinel) if value.is_floating_point() else value
                for key, value in state_dict.items()
                if key not in dropped_keys
            }
            torch.manual_seed(SEED + 1)
            with capture_logs_and_warnings():
                loaded, info = model_class.from_pretrained(
                    None, config=config, state_dict=kept, output_loading_info=True
                )
            self.assertEqual(set(info["missing_keys"]), dropped_keys)
            for name, module in loaded.named_modules():
                if name in dropped_modules:
                    self.check_module_initialisation(name, module, config)
                if name == half_loaded:
                    torch.testing.assert_close(module.bias, torch.zeros_like(module.bias), msg=f"{name}.bias")
            loaded_state = loaded.state_dict()
            for key, value in kept.items():
                if value.is_floating_point():
                    self.assertTrue(
                        bool((loaded_state[key] == sentinel).all()), f"loaded weight {key} was overwritten"
                    )

    @staticmethod
    def _shared_tensor_keys(state_dict: dict[str, torch.Tensor]) -> set[str]:
        """Keys of tensors that share storage with another key (tied weights)."""
        by_pointer: dict[int, list[str]] = {}
        for key, value in state_dict.items():
            by_pointer.setdefault(value.data_ptr(), []).append(key)
        return {key for keys in by_pointer.values() if len(keys) > 1 for key in keys}

    @staticmethod
    def _first_untied_linear_with_bias(model: PreTrainedModel, shared: set[str], exclude: set[str]) -> str | None:
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear) and module.bias is not None and name not in exclude:
                if f"{name}.weight" not in shared and f"{name}.bias" not in shared:
                    return name
        return None

    @staticmethod
    def _modules_to_drop(model: PreTrainedModel, shared: set[str]) -> dict[str, nn.Module]:
        """The last untied `nn.Linear` with a bias, the last `nn.LayerNorm`, and an untied `nn.Embedding`
        (one with a padding row if there is one)."""
        chosen: dict[type, tuple[str, nn.Module]] = {}
        embeddings = []
        for name, module in model.named_modules():
            if any(f"{name}.{p}" in shared for p, _ in module.named_parameters(recurse=False)):
                continue
            if isinstance(module, nn.Linear) and module.bias is not None:
                chosen[nn.Linear] = (name, module)
            elif isinstance(module, nn.LayerNorm):
                chosen[nn.LayerNorm] = (name, module)
            elif isinstance(module, nn.Embedding):
                embeddings.append((name, module))
        if embeddings:
            with_padding = [entry for entry in embeddings if entry[1].padding_idx is not None]
            chosen[nn.Embedding] = (with_padding or embeddings)[0]
        return dict(chosen.values())

    # ------------------------------------------------------------------------------------------- embedding resize

    @parameterized.expand([("grow", 10), ("shrink", -5)])
    def test_resize_token_embeddings_keeps_decoder_tied(self, _, delta):
        if not self.test_resize_embeddings:
            self.skipTest("resize check switched off")
        config, inputs_dict = self._config_and_inputs()
        old_vocab = self.model_tester.vocab_size
        new_vocab = old_vocab + delta
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config).eval()
            old_input = model.get_input_embeddings().weight.detach().clone()
            with capture_logs_and_warnings():
                returned = model.resize_token_embeddings(new_vocab)
            self.assertIs(returned, model.get_input_embeddings())
            self.assertEqual(tuple(returned.weight.shape), (new_vocab, self.model_tester.hidden_size))
            self.assertEqual(model.config.vocab_size, new_vocab)
            kept_rows = min(old_vocab, new_vocab)
            torch.testing.assert_close(returned.weight[:kept_rows], old_input[:kept_rows], atol=0, rtol=0)
            output_embeddings = model.get_output_embeddings()
            if output_embeddings is not None:
                self.assertEqual(output_embeddings.weight.shape[0], new_vocab)
                if output_embeddings.bias is not None:
                    self.assertEqual(tuple(output_embeddings.bias.shape), (new_vocab,))
                self._assert_tied_embeddings(model)
                # Tied means one tensor: an edit through the input side shows on the output side.
                with torch.no_grad():
                    returned.weight[new_vocab - 1].fill_(0.25)
                self.assertTrue(bool((output_embeddings.weight[new_vocab - 1] == 0.25).all()))
            inputs = self._prepare_for_class(inputs_dict, model_class, return_labels=True)
            for key in ("input_ids", "labels"):
                if key in inputs:
                    # Keep ids inside the new vocabulary and use the last new id, -100 labels stay as they are.
                    ids = inputs[key]
                    ids = torch.where(ids >= 0, ids % new_vocab, ids)
                    ids[0, -1] = new_vocab - 1 if key == "input_ids" else ids[0, -1]
                    inputs[key] = ids
            with torch.no_grad():
                outputs = model(**inputs)
            for key, value in flatten_outputs(outputs).items():
                self.assertTrue(bool(torch.isfinite(value).all()), key)
            if output_embeddings is not None and "logits" in outputs:
                self.assertEqual(outputs.logits.shape[-1], new_vocab)

    # ----------------------------------------------------------------------------------------------- torch.compile

    def test_torch_compile_forward_matches_eager(self):
        if not self.test_torch_compile:
            self.skipTest("torch.compile check switched off")
        config, inputs_dict = self._config_and_inputs()
        for model_class in self._iter_model_classes():
            model = self._make_model(model_class, config).eval()
            inputs = self._prepare_for_class(inputs_dict, model_class, return_labels=True)
            torch._dynamo.reset()
            compiled = torch.compile(model, backend="aot_eager", fullgraph=self.torch_compile_fullgraph)
            try:
                with torch.no_grad():
                    # Compiled first, on a model that never ran: lazy first-call setup must be traceable too.
                    actual = compiled(**inputs)
                    expected = model(**inputs)
            finally:
                torch._dynamo.reset()
            self.assert_outputs_close(expected, actual, atol=self.equivalence_atol, rtol=1e-5)
