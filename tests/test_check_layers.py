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
"""Tests of `utils/check_layers.py`: the package respects its layers, and each rule reports a file and line."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "utils"))

import check_layers  # noqa: E402


# A tiny package that respects every rule: the model file reaches the config and a kernel through relative imports,
# the trainer sits above the model, and the tools import everything.
CLEAN_PACKAGE = {
    "__init__.py": """
        from .configuration_condenser import CondenserConfig
        from .modeling_condenser import CondenserModel
        from .trainer import CondenserTrainer
        """,
    "configuration_condenser.py": """
        import transformers
        """,
    "file_utils.py": """
        import os
        """,
    "training_kernels.py": """
        import torch

        from .configuration_condenser import CondenserConfig
        """,
    "loss_condenser.py": """
        import torch
        from torch import distributed as dist
        """,
    "hub_mixin.py": """
        from huggingface_hub import ModelCard

        from . import file_utils
        """,
    "modeling_condenser.py": """
        from __future__ import annotations

        import math
        from typing import TYPE_CHECKING

        import torch
        from transformers import PreTrainedModel

        from .configuration_condenser import CondenserConfig
        from .hub_mixin import CondenserHubMixin
        from .training_kernels import recomputed_attention

        if TYPE_CHECKING:
            import numpy


        class CondenserModel(CondenserHubMixin, PreTrainedModel):
            def plot(self):
                import matplotlib

                from transformers_condenser.model_card import write_model_card
        """,
    "trainer.py": """
        import transformers_condenser.modeling_condenser
        from transformers_condenser import loss_condenser

        from .modeling_condenser import CondenserModel
        """,
}


def write_package(root: Path, files: dict[str, str]) -> Path:
    """Write a package folder holding `files` (name -> dedented source) under `root`; return its path."""
    package_dir = root / "transformers_condenser"
    package_dir.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (package_dir / name).write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return package_dir


def located(violations: list[check_layers.Violation]) -> list[tuple[str, int]]:
    """The (file name, line) of each violation."""
    return [(violation.path.name, violation.line) for violation in violations]


def test_real_package_respects_its_layers() -> None:
    violations = check_layers.check_layers(check_layers.PACKAGE_DIR)
    assert violations == [], "\n".join(str(violation) for violation in violations)


def test_clean_package_passes(tmp_path: Path) -> None:
    package_dir = write_package(tmp_path, CLEAN_PACKAGE)
    assert check_layers.check_layers(package_dir) == []
    assert set(check_layers.remote_code_files(package_dir)) == {
        "modeling_condenser",
        "configuration_condenser",
        "hub_mixin",
        "training_kernels",
        "file_utils",
    }


@pytest.mark.parametrize(
    "import_line",
    [
        "from .trainer import CondenserTrainer",
        "from . import trainer",
        "import transformers_condenser.trainer",
        "from transformers_condenser import trainer",
        "from transformers_condenser.trainer import CondenserTrainer",
    ],
)
def test_import_from_a_higher_layer_is_reported(tmp_path: Path, import_line: str) -> None:
    files = dict(CLEAN_PACKAGE)
    files["collators.py"] = f"import torch\n\n\ndef collate():\n    {import_line}\n"
    violations = check_layers.check_import_directions(write_package(tmp_path, files))
    assert located(violations) == [("collators.py", 5)]
    message = str(violations[0])
    assert "collators.py:5:" in message
    assert "`trainer` (layer 6 training)" in message and "`collators` (layer 5 data)" in message
    assert "move" in message


def test_import_of_the_package_root_from_below_the_tools_is_reported(tmp_path: Path) -> None:
    files = dict(CLEAN_PACKAGE)
    files["data.py"] = "import os\n\nfrom . import CondenserConfig\nimport transformers_condenser\n"
    violations = check_layers.check_import_directions(write_package(tmp_path, files))
    assert located(violations) == [("data.py", 3), ("data.py", 4)]
    assert all("`__init__` (layer 8 tools)" in str(violation) for violation in violations)


def test_module_outside_the_map_is_reported(tmp_path: Path) -> None:
    files = dict(CLEAN_PACKAGE)
    files["new_helpers.py"] = "import os\n"
    violations = check_layers.check_layers(write_package(tmp_path, files))
    assert located(violations) == [("new_helpers.py", 1)]
    assert "utils/check_layers.py" in str(violations[0]) and "CONTRIBUTING.md" in str(violations[0])


def test_long_model_file_is_reported(tmp_path: Path) -> None:
    files = dict(CLEAN_PACKAGE)
    files["modeling_condenser.py"] = "x = 1\n" * (check_layers.MAX_MODEL_LINES + 1)
    violations = check_layers.check_model_file(write_package(tmp_path, files))
    assert located(violations) == [("modeling_condenser.py", check_layers.MAX_MODEL_LINES + 1)]
    assert f"{check_layers.MAX_MODEL_LINES + 1} lines" in str(violations[0])


@pytest.mark.parametrize(
    "import_line",
    [
        "import torch.distributed",
        "import torch.distributed as dist",
        "from torch import distributed",
        "from torch.distributed import all_gather",
        "from torch.distributed.nn import functional",
    ],
)
def test_distributed_import_in_the_model_file_is_reported(tmp_path: Path, import_line: str) -> None:
    files = dict(CLEAN_PACKAGE)
    files["modeling_condenser.py"] = f"import torch\n\n\ndef gather():\n    {import_line}\n"
    violations = check_layers.check_model_file(write_package(tmp_path, files))
    assert located(violations) == [("modeling_condenser.py", 5)]
    assert "loss_condenser" in str(violations[0])


@pytest.mark.parametrize(
    "import_line", ["import huggingface_hub", "from huggingface_hub.utils import is_offline_mode"]
)
def test_hub_import_in_the_model_file_is_reported(tmp_path: Path, import_line: str) -> None:
    files = dict(CLEAN_PACKAGE)
    files["modeling_condenser.py"] = f"import torch\n{import_line}\n"
    violations = check_layers.check_model_file(write_package(tmp_path, files))
    assert located(violations) == [("modeling_condenser.py", 2)]
    assert "hub_mixin" in str(violations[0])


@pytest.mark.parametrize("base", ["torch.autograd.Function", "autograd.Function", "Function"])
def test_autograd_function_in_the_model_file_is_reported(tmp_path: Path, base: str) -> None:
    files = dict(CLEAN_PACKAGE)
    files["modeling_condenser.py"] = f"import torch\n\n\nclass _Kernel({base}):\n    pass\n"
    violations = check_layers.check_model_file(write_package(tmp_path, files))
    assert located(violations) == [("modeling_condenser.py", 4)]
    assert "`_Kernel`" in str(violations[0]) and "training_kernels" in str(violations[0])


def test_module_level_third_party_import_in_remote_code_is_reported(tmp_path: Path) -> None:
    files = dict(CLEAN_PACKAGE)
    # The kernel file is reached from the model file, so it is copied next to checkpoints too.
    files["training_kernels.py"] = "import os\n\nimport numpy as np\nimport torch\n\n\ndef f():\n    import scipy\n"
    violations = check_layers.check_remote_code(write_package(tmp_path, files))
    assert located(violations) == [("training_kernels.py", 3)]
    message = str(violations[0])
    assert "`numpy`" in message and "modeling_condenser -> training_kernels" in message


def test_remote_code_reaching_above_the_model_is_reported(tmp_path: Path) -> None:
    files = dict(CLEAN_PACKAGE)
    files["hub_mixin.py"] = "def push():\n    from .evaluation import evaluate\n"
    files["evaluation.py"] = "import os\n"
    violations = check_layers.check_remote_code(write_package(tmp_path, files))
    assert located(violations) == [("hub_mixin.py", 2)]
    assert "modeling_condenser -> hub_mixin -> evaluation" in str(violations[0])


def test_module_level_absolute_package_import_in_remote_code_is_reported(tmp_path: Path) -> None:
    files = dict(CLEAN_PACKAGE)
    files["configuration_condenser.py"] = (
        "import transformers\nfrom transformers_condenser import file_utils\n\n\n"
        "def save():\n    from transformers_condenser import file_utils\n"
    )
    violations = check_layers.check_remote_code(write_package(tmp_path, files))
    assert located(violations) == [("configuration_condenser.py", 2)]
    assert "relative import" in str(violations[0])


def test_command_line_reports_each_violation_on_its_own_line(tmp_path: Path) -> None:
    files = dict(CLEAN_PACKAGE)
    files["file_utils.py"] = "from .modeling_condenser import CondenserModel\n"
    files["modeling_condenser.py"] = (
        textwrap.dedent(CLEAN_PACKAGE["modeling_condenser.py"]) + "import torch.distributed\n"
    )
    package_dir = write_package(tmp_path, files)
    script = REPO_ROOT / "utils" / "check_layers.py"
    result = subprocess.run(
        [sys.executable, str(script), "--package-dir", str(package_dir)], capture_output=True, text=True
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "check_layers: 2 problem(s) found:"
    assert "file_utils.py:1:" in lines[1] and "modeling_condenser.py:" in lines[2]

    clean = write_package(tmp_path / "clean", CLEAN_PACKAGE)
    result = subprocess.run([sys.executable, str(script), "--package-dir", str(clean)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("check_layers: 8 modules in 8 layers")
