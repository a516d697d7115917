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
"""Fetch transformers' own common test mixins (`ModelTesterMixin`, `ConfigTester`) for the installed version.

The model tests plug into transformers' own checks rather than copies of them. The wheel ships no tests, but the
source distribution of every release ships the top-level `tests/*.py` files. This script downloads the sdist of the
*installed* transformers version with pip, and extracts the files the mixins import into

    .cache/transformers-tests/<version>/transformers_tests/

as a package named `transformers_tests` (our own test package is already called `tests`), which `tests/conftest.py`
puts on `sys.path`. The sdist does not ship the sub-packages of upstream `tests/` that the mixin modules import
(`exporters/`, `generation/`, `utils/`); small stand-ins written here take their place (see `STAND_INS`).

Idempotent: does nothing when the cache of the installed version is complete. Run with the interpreter of the virtual
environment under test (`make install` does):

    python utils/fetch_transformers_tests.py [--version X.Y.Z] [--force]
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_ROOT = REPO_ROOT / ".cache" / "transformers-tests"
PACKAGE = "transformers_tests"
# Written last: a folder without it is an interrupted fetch and is redone.
COMPLETE_MARKER = ".complete"
# The modules our tests import; everything they import relatively from the sdist's `tests/` comes along.
ENTRY_MODULES = ("test_modeling_common", "test_configuration_common")

# Modules the mixins import relatively that the sdist does not ship, with the stand-in written in their place. Each
# is the smallest definition that keeps the import working; what it stands for is not run.
STAND_INS = {
    "exporters.test_export": '''"""Stand-in: the transformers sdist does not ship `tests/exporters/`.

`ModelTesterMixin` derives from `ExportTesterMixin`; with this empty stand-in its export tests (torch.export, ONNX,
ExecuTorch, ...) are not collected. Condenser is not an export target of this package.
"""


class ExportTesterMixin:
    """Empty: no export tests."""
''',
    "generation.test_utils": '''"""Stand-in: the transformers sdist does not ship `tests/generation/`.

`ModelTesterMixin` only checks `issubclass(test_class, GenerationTesterMixin)` to make sure generative models run the
generation tests; Condenser models do not generate, so their test classes do not derive from it.
"""


class GenerationTesterMixin:
    """Empty: no generation tests."""
''',
    "utils.test_configuration_utils": '''"""Stand-in: the transformers sdist does not ship `tests/utils/`.

`ConfigTester.check_config_arguments_init` passes these `PreTrainedConfig` keyword arguments, each with a
non-default value, and checks that the config keeps them.
"""

config_common_kwargs = {
    "return_dict": False,
    "output_hidden_states": True,
    "output_attentions": True,
    "dtype": "float16",
    "chunk_size_feed_forward": 5,
    "architectures": ["BertModel"],
    "id2label": {0: "label"},
    "label2id": {"label": "0"},
    "problem_type": "regression",
}
''',
}


def installed_transformers_version() -> str:
    """The version of transformers installed for this interpreter (read from its metadata: no import)."""
    try:
        return importlib.metadata.version("transformers")
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit(f"transformers is not installed for {sys.executable}; run `make install` first.") from None


def cache_dir_for(version: str, cache_root: Path = CACHE_ROOT) -> Path:
    """The folder that goes on `sys.path` for `version`; it holds the `transformers_tests` package."""
    return cache_root / version


def is_complete(version: str, cache_root: Path = CACHE_ROOT) -> bool:
    """Whether the cache of `version` was fetched to the end."""
    return (cache_dir_for(version, cache_root) / PACKAGE / COMPLETE_MARKER).is_file()


def pip_download_command(version: str, destination: Path) -> list[str]:
    """`pip download` of the sdist alone. pip prepares the sdist's metadata, which needs setuptools: the one in this
    environment when there is one, else pip installs it in an isolated build environment (from the index)."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
    if importlib.util.find_spec("setuptools") is not None:
        command.append("--no-build-isolation")
    return [*command, f"transformers=={version}", "--dest", str(destination)]


def download_sdist(version: str, destination: Path) -> Path:
    """Download transformers' sdist of `version` into `destination` with pip; return the archive's path."""
    command = pip_download_command(version, destination)
    print("Running:", " ".join(command), flush=True)
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise SystemExit(
            f"Downloading the transformers {version} sdist failed (pip exited with {result.returncode}). It needs "
            "access to the package index; without it the model conformance tests are skipped."
        )
    archives = sorted(destination.glob("transformers-*.tar.gz"))
    if len(archives) != 1:
        raise SystemExit(f"Expected one transformers sdist in {destination}, found {[a.name for a in archives]}.")
    return archives[0]


def relative_imports(source: str, module: str) -> set[str]:
    """Dotted names (relative to the `tests` package) of the modules that `module`'s source imports relatively."""
    package_parts = module.split(".")[:-1]
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = package_parts[: len(package_parts) - (node.level - 1)]
            if node.module:
                names.add(".".join([*base, node.module]))
            else:  # `from . import x`: each name is a module
                names.update(".".join([*base, alias.name]) for alias in node.names)
    return names


def read_test_modules(archive: Path) -> dict[str, str]:
    """Every `tests/**.py` file of the sdist, keyed by dotted module name relative to `tests`."""
    modules = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            # "transformers-X.Y.Z/tests/<...>.py"
            if member.isfile() and len(parts) >= 3 and parts[1] == "tests" and member.name.endswith(".py"):
                dotted = ".".join(parts[2:])[: -len(".py")]
                modules[dotted] = tar.extractfile(member).read().decode("utf-8")
    return modules


def select_modules(available: dict[str, str]) -> dict[str, str]:
    """The entry modules and everything they import relatively, transitively; stand-ins for what the sdist lacks."""
    selected: dict[str, str] = {}
    pending = list(ENTRY_MODULES)
    while pending:
        name = pending.pop()
        if name in selected:
            continue
        if name in available:
            selected[name] = available[name]
            pending.extend(relative_imports(available[name], name))
        elif name in STAND_INS:
            selected[name] = STAND_INS[name]
        else:
            raise SystemExit(
                f"The transformers test modules import `tests.{name}`, which the sdist does not ship and which has "
                "no stand-in; add one to STAND_INS in utils/fetch_transformers_tests.py."
            )
    return selected


def write_package(modules: dict[str, str], package_dir: Path) -> None:
    """Write `modules` as the package `package_dir`, with an `__init__.py` in every folder."""
    package_dir.mkdir(parents=True)
    (package_dir / "__init__.py").write_text("", encoding="utf-8")
    for name, source in sorted(modules.items()):
        *folders, stem = name.split(".")
        folder = package_dir.joinpath(*folders)
        for depth in range(1, len(folders) + 1):
            init = package_dir.joinpath(*folders[:depth], "__init__.py")
            init.parent.mkdir(exist_ok=True)
            if not init.exists():
                init.write_text("", encoding="utf-8")
        (folder / f"{stem}.py").write_text(source, encoding="utf-8")


def fetch(version: str, cache_root: Path = CACHE_ROOT, force: bool = False) -> Path:
    """Make sure the cache of `version` is complete; return the folder to put on `sys.path`."""
    target = cache_dir_for(version, cache_root)
    if is_complete(version, cache_root) and not force:
        print(f"transformers {version} test mixins already in {target}")
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_root, prefix=f".{version}-") as staging:
        staging = Path(staging)
        archive = download_sdist(version, staging / "sdist")
        modules = select_modules(read_test_modules(archive))
        built = staging / "build"
        write_package(modules, built / PACKAGE)
        (built / PACKAGE / COMPLETE_MARKER).write_text(f"transformers {version}: {archive.name}\n", encoding="utf-8")
        # Replace any interrupted or forced earlier copy in one rename.
        if target.exists():
            shutil.rmtree(target)
        built.rename(target)
    print(f"transformers {version} test mixins written to {target}: {', '.join(sorted(modules))}")
    return target


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", help="transformers version (default: the installed one)")
    parser.add_argument("--cache-root", type=Path, default=CACHE_ROOT, help="default: %(default)s")
    parser.add_argument("--force", action="store_true", help="fetch again even if the cache is complete")
    args = parser.parse_args(argv)
    fetch(args.version or installed_transformers_version(), args.cache_root, force=args.force)


if __name__ == "__main__":
    main()
