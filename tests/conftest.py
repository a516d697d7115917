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
"""Test-suite settings, applied before any test module imports transformers or huggingface_hub."""

import importlib.metadata
import os
import sys
from pathlib import Path


# The suite never touches the network: every model is built in the test or shipped by a package.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One intra-op thread per test process. `make test` runs two pytest workers (`-n 2`) on a 2-core machine and many tests
# start torchrun or fresh interpreters besides; with torch's default of one thread per core, the processes fight over
# the cores (OpenMP threads spin while they wait) and the suite takes about 30% longer. Subprocesses inherit the
# variable. Set `OMP_NUM_THREADS` yourself to override it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
if "torch" in sys.modules:  # imported by a plugin before this file: the variable is read too late, set it directly
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# transformers' own common test mixins, fetched from the sdist of the installed version by
# `utils/fetch_transformers_tests.py` (`make install` runs it) as the package `transformers_tests`. Where the cache
# is missing, the tests built on them skip (see `tests/models/condenser/testing_utils.py`).
TRANSFORMERS_TESTS_DIR = (
    Path(__file__).resolve().parents[1] / ".cache" / "transformers-tests" / importlib.metadata.version("transformers")
)
if (TRANSFORMERS_TESTS_DIR / "transformers_tests" / ".complete").is_file() and str(
    TRANSFORMERS_TESTS_DIR
) not in sys.path:
    sys.path.insert(0, str(TRANSFORMERS_TESTS_DIR))

# Markers the transformers mixins put on their tests (upstream registers them in its own pyproject.toml).
TRANSFORMERS_TEST_MARKERS = (
    "accelerate_tests",
    "slow",
    "flash_attn_test",
    "flash_attn_3_test",
    "flash_attn_4_test",
    "torch_compile_test",
    "generate",
    "is_training_test",
)


def pytest_configure(config):
    """Register the markers of transformers' mixins, so that they do not warn as unknown."""
    for marker in TRANSFORMERS_TEST_MARKERS:
        config.addinivalue_line("markers", f"{marker}: set by transformers' common test mixins")
