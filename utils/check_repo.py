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
"""Repository consistency checks: exports, Auto-class registration, API docs, tests and the docs table of contents.

Run from anywhere with `python utils/check_repo.py`; it prints every problem found and exits with status 1 if there is
any. Each check is an importable function that returns a list of human-readable problems (empty when all is well), so
tests can call them on real or fabricated inputs.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

import yaml


REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_NAME = "transformers_condenser"
DOCS_DIR = REPO_ROOT / "docs" / "source" / "en"
TESTS_DIR = REPO_ROOT / "tests"
SOURCE_DIR = REPO_ROOT / "src" / PACKAGE_NAME

AUTODOC_PATTERN = re.compile(r"^\[\[autodoc\]\]\s+(\S+)", re.MULTILINE)


def check_names_exported(package: ModuleType) -> list[str]:
    """Every name listed in the package's `__all__` must exist as an attribute of the package."""
    names = getattr(package, "__all__", None)
    if names is None:
        return [f"`{package.__name__}` has no `__all__`; list its public names there."]
    problems = [
        f"`{name}` is listed in `{package.__name__}.__all__` but `{package.__name__}` has no attribute of that name."
        for name in names
        if not hasattr(package, name)
    ]
    duplicates = sorted({name for name in names if list(names).count(name) > 1})
    problems += [f"`{name}` is listed more than once in `{package.__name__}.__all__`." for name in duplicates]
    return problems


def module_all_names(source_file: Path) -> list[str] | None:
    """The string literals of a module's top-level `__all__` assignment, read without importing it (None if absent)."""
    tree = ast.parse(source_file.read_text(encoding="utf-8"), filename=str(source_file))
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(target, ast.Name) and target.id == "__all__" for target in targets) and node.value:
            return [element.value for element in ast.walk(node.value) if isinstance(element, ast.Constant)]
    return None


def check_module_names_in_package(source_dir: Path, package_names: Iterable[str]) -> list[str]:
    """Every public name in a source module's `__all__` must also be in the package `__all__`.

    Modules without `__all__` (command-line helpers, for instance) export nothing and are not checked.
    """
    package_names = set(package_names)
    problems = []
    for source_file in sorted(source_dir.glob("*.py")):
        names = [] if source_file.name == "__init__.py" else module_all_names(source_file) or []
        for name in names:
            if not name.startswith("_") and name not in package_names:
                problems.append(
                    f"`{name}` is in `{source_file.name}`'s `__all__` but not in the package `__all__` "
                    f"(src/{PACKAGE_NAME}/__init__.py): import and export it there."
                )
    return problems


def expected_auto_class(name: str, obj: object) -> str | None:
    """The transformers Auto class a public class should be registered with, decided by its type and name suffix.

    Configurations go to `AutoConfig`; `<Model>For<Task>` goes to `AutoModelFor<Task>`; the base model (a name ending
    in `Model` that is not the abstract `PreTrainedModel`) goes to `AutoModel`; anything else needs no registration.
    """
    from transformers import PreTrainedConfig, PreTrainedModel

    if not inspect.isclass(obj):
        return None
    if issubclass(obj, PreTrainedConfig):
        return "AutoConfig"
    if not issubclass(obj, PreTrainedModel) or name.endswith("PreTrainedModel"):
        return None
    if "For" in name:
        return "AutoModelFor" + name.rsplit("For", 1)[1]
    if name.endswith("Model"):
        return "AutoModel"
    return None


def check_auto_registration(package: ModuleType) -> list[str]:
    """Each public configuration and model must be registered with the Auto class its name calls for."""
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    problems = []
    for name in getattr(package, "__all__", []):
        obj = getattr(package, name, None)
        auto_name = expected_auto_class(name, obj)
        if auto_name is None:
            continue
        if auto_name == "AutoConfig":
            model_type = getattr(obj, "model_type", "")
            registered = CONFIG_MAPPING[model_type] if model_type in CONFIG_MAPPING else None
            if registered is not obj:
                problems.append(
                    f"`{name}` (model_type {model_type!r}) is not registered with AutoConfig: call "
                    f"`AutoConfig.register({name}.model_type, {name}, exist_ok=True)` in the package `__init__`."
                )
            continue
        auto_class = getattr(transformers, auto_name, None)
        if auto_class is None:
            problems.append(f"`{name}` would belong to `{auto_name}`, which transformers does not provide; rename it.")
            continue
        config_class = getattr(obj, "config_class", None)
        try:
            registered = auto_class._model_mapping[config_class]
        except KeyError:
            registered = None
        # A variant of the registered class for the same config and checkpoint format (e.g. coCondenser adds a loss,
        # no weights, to Condenser) cannot take the same Auto slot; subclassing it is what keeps the two compatible.
        if registered is not obj and not (inspect.isclass(registered) and issubclass(obj, registered)):
            problems.append(
                f"`{name}` is not registered with {auto_name} (nor a subclass of the class registered there): call "
                f"`{auto_name}.register({getattr(config_class, '__name__', config_class)}, {name}, exist_ok=True)` "
                "in the package `__init__`."
            )
    return problems


def autodoc_names(docs_dir: Path) -> set[str]:
    """The names documented by `[[autodoc]]` blocks in every markdown page under `docs_dir` (last dotted part)."""
    names = set()
    for page in docs_dir.rglob("*.md"):
        names.update(match.rsplit(".", 1)[-1] for match in AUTODOC_PATTERN.findall(page.read_text(encoding="utf-8")))
    return names


def check_names_documented(names: Iterable[str], documented: set[str]) -> list[str]:
    """Every public name must appear in an `[[autodoc]]` block."""
    return [
        f"`{name}` has no `[[autodoc]] {name}` block in docs/source/en/ (add it to its model_doc page)."
        for name in names
        if name not in documented
    ]


def check_names_tested(names: Iterable[str], test_sources: dict[str, str]) -> list[str]:
    """Every public name must be used (as a whole word) in at least one test file."""
    problems = []
    for name in names:
        pattern = re.compile(rf"\b{re.escape(name)}\b")
        if not any(pattern.search(text) for text in test_sources.values()):
            problems.append(f"`{name}` is not used in any test file under tests/; add a test that exercises it.")
    return problems


def read_test_sources(tests_dir: Path) -> dict[str, str]:
    """Map each `*.py` file under `tests_dir` (relative path) to its text."""
    return {
        str(path.relative_to(tests_dir)): path.read_text(encoding="utf-8") for path in sorted(tests_dir.rglob("*.py"))
    }


def toctree_pages(toctree: object) -> list[str]:
    """All `local:` entries of a parsed doc-builder `_toctree.yml`, in order, at any nesting depth."""
    pages = []
    if isinstance(toctree, list):
        for item in toctree:
            pages += toctree_pages(item)
    elif isinstance(toctree, dict):
        if "local" in toctree:
            pages.append(str(toctree["local"]))
        pages += toctree_pages(toctree.get("sections", []))
    return pages


def check_toctree(docs_dir: Path) -> list[str]:
    """Every markdown page must be listed in `_toctree.yml`, and every listed page must exist."""
    toctree_file = docs_dir / "_toctree.yml"
    if not toctree_file.is_file():
        return [f"{toctree_file} is missing: list every docs page there."]
    listed = toctree_pages(yaml.safe_load(toctree_file.read_text(encoding="utf-8")))
    pages = {path.relative_to(docs_dir).with_suffix("").as_posix() for path in docs_dir.rglob("*.md")}
    problems = [f"docs page `{page}.md` is not listed in _toctree.yml." for page in sorted(pages - set(listed))]
    problems += [
        f"_toctree.yml lists `{page}` but `{page}.md` does not exist." for page in listed if page not in pages
    ]
    return problems


def run_all_checks(
    package_name: str = PACKAGE_NAME,
    source_dir: Path = SOURCE_DIR,
    docs_dir: Path = DOCS_DIR,
    tests_dir: Path = TESTS_DIR,
) -> list[str]:
    """Run every repository check and return all problems found."""
    package = importlib.import_module(package_name)
    names = list(getattr(package, "__all__", []))
    problems = check_names_exported(package)
    problems += check_module_names_in_package(source_dir, names)
    problems += check_auto_registration(package)
    problems += check_names_documented(names, autodoc_names(docs_dir))
    problems += check_names_tested(names, read_test_sources(tests_dir))
    problems += check_toctree(docs_dir)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: print the problems and return 1 if there are any, else 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    problems = run_all_checks()
    if problems:
        print(f"check_repo: {len(problems)} problem(s) found:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("check_repo: all exports, Auto registrations, docs, tests and the toctree are consistent.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
