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
"""Imports of optional dependencies, which fail with the `pip install` command of the extra that provides them.

`pip install transformers-condenser` installs only what loading and running a checkpoint needs. Pre-training
(`datasets`, `sentencex`, `accelerate`) and evaluation (`ir-measures`, `matplotlib`) come with extras of the same
name (see `setup.py`); the modules that need them import them inside [`extra_imports`]. This module uses only the
standard library, so that it can be imported anywhere.
"""

from collections.abc import Iterator
from contextlib import contextmanager


DISTRIBUTION_NAME = "transformers-condenser"


def extra_install_command(extra: str) -> str:
    """The `pip install` command of the extra `extra`, e.g. `pip install "transformers-condenser[evaluation]"`."""
    return f'pip install "{DISTRIBUTION_NAME}[{extra}]"'


@contextmanager
def extra_imports(extra: str) -> Iterator[None]:
    """Import optional dependencies of the extra `extra`; a missing one raises an `ImportError` that names the fix.

    ```python
    with extra_imports("pretraining"):
        from datasets import load_from_disk
    ```

    Only a missing module is translated (a module that is installed but fails to import raises its own error). The
    error is a plain `ImportError`, not a `ModuleNotFoundError`, so that the package's lazy attribute access passes
    it on unchanged instead of replacing it with a generic message.
    """
    try:
        yield
    except ModuleNotFoundError as error:
        missing = (error.name or "").partition(".")[0]
        if not missing or missing == __name__.partition(".")[0]:
            raise  # a bug in this package, not a missing extra
        raise ImportError(
            f"This feature of {DISTRIBUTION_NAME} needs `{missing}`, which is not installed. It comes with the "
            f"`{extra}` extra: {extra_install_command(extra)}",
            name=missing,
        ) from error
