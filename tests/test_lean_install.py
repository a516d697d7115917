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
"""Tests of the lean core install: what `import transformers_condenser` loads, the extras and their error messages.

The import checks run in fresh interpreters, since the test process has imported everything already.
"""

import json
import os
import re
import runpy
import subprocess
import sys
import textwrap
from itertools import chain
from pathlib import Path
from unittest import mock

import transformers_condenser


SETUP_PY = Path(__file__).resolve().parents[1] / "setup.py"

# The dependencies of pre-training and evaluation (and what they pull in), which the core must never import.
HEAVY_MODULES = ("datasets", "pyarrow", "pandas", "matplotlib", "accelerate", "ir_measures", "sentencex")
CORE_REQUIREMENTS = {"torch", "transformers", "safetensors", "huggingface-hub", "tokenizers"}

# Save a tiny Condenser, load it back with `AutoModel` and run it; print the result as JSON on the last line.
LOAD_AND_RUN_CHECKPOINT = """
import json, sys, tempfile

import torch

import transformers_condenser
from transformers import AutoModel

config = transformers_condenser.CondenserConfig(
    vocab_size=99, hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37, skip_from=2
)
with tempfile.TemporaryDirectory() as checkpoint:
    transformers_condenser.CondenserForPreTraining(config).save_pretrained(checkpoint)
    model = AutoModel.from_pretrained(checkpoint)
with torch.no_grad():
    hidden = model(input_ids=torch.tensor([[2, 5, 7, 3]])).last_hidden_state
result = {"class": type(model).__name__, "shape": list(hidden.shape), "imported": sorted(set(sys.modules) - before)}
"""


def run_python(script: str) -> dict:
    """Run `script` in a fresh offline interpreter and return the JSON object it prints last."""
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def heavy_modules_in(module_names: list[str]) -> list[str]:
    """The names among `module_names` that are, or are inside, one of `HEAVY_MODULES`."""
    return sorted(name for name in module_names if name.split(".")[0] in HEAVY_MODULES)


def test_loading_a_checkpoint_imports_no_extra_dependency():
    # transformers' `modeling_utils` imports accelerate whenever it is installed (`from transformers import
    # BertModel` does the same), so what it imports is the baseline; a lean install has no accelerate to import.
    script = "import sys\nimport transformers.modeling_utils\nbefore = set(sys.modules)\n"
    result = run_python(script + LOAD_AND_RUN_CHECKPOINT + "print(json.dumps(result))")

    assert result["class"] == "CondenserModel"
    assert result["shape"] == [1, 4, 32]
    assert heavy_modules_in(result["imported"]) == []


def test_missing_extras_name_their_pip_install_command():
    # A lean install, simulated: each optional dependency is absent (`None` in `sys.modules` fails its import).
    script = f"""
    import sys
    for name in {HEAVY_MODULES!r}:
        sys.modules[name] = None
    before = set()
    {textwrap.indent(LOAD_AND_RUN_CHECKPOINT, "    ").strip()}

    def import_error(statement):
        try:
            exec(statement)
        except ImportError as error:
            return str(error)
        return None

    result["errors"] = {{
        statement: import_error(statement)
        for statement in (
            "from transformers_condenser import prepare_dataset",
            "from transformers_condenser import CondenserTrainer",
            "from transformers_condenser.data import prepare_main",  # condenser-prepare
            "from transformers_condenser.pretrain import main",  # condenser-pretrain
            "from transformers_condenser.demo import main",  # condenser-demo
            "transformers_condenser.compute_metrics({{'q': {{'d': 1.0}}}}, {{'q': {{'d': 1}}}})",
        )
    }}
    # condenser-pretrain again, with accelerate installed and only datasets missing: its own check must say so.
    del sys.modules["accelerate"]
    result["errors"]["pretrain without datasets"] = import_error("from transformers_condenser.pretrain import main")
    print(json.dumps(result))
    """
    result = run_python(script)

    # The core works without any extra.
    assert result["class"] == "CondenserModel"
    assert result["shape"] == [1, 4, 32]
    pretraining = 'pip install "transformers-condenser[pretraining]"'
    evaluation = 'pip install "transformers-condenser[evaluation]"'
    for statement, message in result["errors"].items():
        assert message is not None, f"`{statement}` did not fail without the extras"
        expected = evaluation if "compute_metrics" in statement else pretraining
        assert expected in message, f"`{statement}` failed with: {message}"
    assert "`datasets`" in result["errors"]["pretrain without datasets"]


def read_setup_arguments() -> dict:
    """The keyword arguments `setup.py` passes to `setuptools.setup`, read without building anything."""
    with mock.patch("setuptools.setup") as setup:
        runpy.run_path(str(SETUP_PY))
    return setup.call_args.kwargs


def requirement_name(requirement: str) -> str:
    """The normalised distribution name of a requirement string (`huggingface_hub>=1.31,<3` -> `huggingface-hub`)."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group()).lower()


def test_core_requirements_are_what_loading_a_checkpoint_needs():
    arguments = read_setup_arguments()
    assert {requirement_name(r) for r in arguments["install_requires"]} == CORE_REQUIREMENTS
    # `make test-oldest` reads the oldest transformers from this exact string.
    assert re.search(r'"transformers>=[0-9.]+,<6"', SETUP_PY.read_text(encoding="utf-8"))

    extras = {
        name: set(map(requirement_name, requirements)) for name, requirements in arguments["extras_require"].items()
    }
    assert {"datasets", "sentencex", "accelerate"} <= extras["pretraining"]
    assert {"ir-measures", "matplotlib"} <= extras["evaluation"]
    assert extras["faiss"] == {"faiss-cpu"}
    assert extras["all"] == (
        extras["pretraining"] | extras["evaluation"] | extras["sentence-transformers"] | extras["faiss"]
    )
    assert extras["dev"] == extras["all"] | extras["testing"] | extras["quality"]
    assert not extras["all"] & CORE_REQUIREMENTS


def test_every_public_name_resolves_and_is_listed():
    names = transformers_condenser.__all__
    lazy_names = chain.from_iterable(transformers_condenser._import_structure.values())
    assert sorted(names) == sorted(lazy_names)
    assert len(set(names)) == len(names)
    unresolved = [name for name in names if getattr(transformers_condenser, name, None) is None]
    assert unresolved == []
    assert set(names) <= set(dir(transformers_condenser))
    assert transformers_condenser.__version__ == "0.1.0.dev0"
