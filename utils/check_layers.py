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
"""Layer check for the package source: no module imports from a layer above its own.

Every `src/transformers_condenser/*.py` belongs to one layer of `LAYERS` (bottom to top; see the "Layers" section of
CONTRIBUTING.md for why). The source is read with `ast`, never imported, and every import counts wherever it is
(module level or inside a function): `from .x import y`, `from . import x`, `import transformers_condenser.x` and
`from transformers_condenser import x`. The checks:

- a module imports package modules of its own layer or below only;
- every module is in the map (a new module must be given a layer);
- the model file (`modeling_condenser.py`, what would go upstream to transformers) stays config-driven model code:
  at most `MAX_MODEL_LINES` lines, no `torch.distributed` import, no `huggingface_hub` import, no
  `torch.autograd.Function` subclass (kernels, losses and Hub behaviour live in their own layers);
- the files transformers copies next to a checkpoint for `trust_remote_code=True` (the closure of relative imports
  from the model file) are in layers 1-4 and import at module level nothing beyond the standard library and
  `REMOTE_CODE_LIBRARIES` (imports inside functions are allowed).

Run with `python utils/check_layers.py` from the repository root; it exits with status 1 and prints one line per
problem (`file:line: ...`) if there are any. Modules of the map that do not exist are skipped.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_NAME = "transformers_condenser"
PACKAGE_DIR = REPO_ROOT / "src" / PACKAGE_NAME

# Bottom to top. Keep in step with the "Layers" section of CONTRIBUTING.md.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("cli_utils", "configuration_condenser", "file_utils", "utils_import")),
    ("kernels", ("training_kernels", "loss_condenser")),
    ("plugin", ("hub_mixin", "model_card")),
    ("model", ("modeling_condenser",)),
    ("data", ("collators", "data")),
    ("training", ("gradient_cache", "trainer")),
    ("evaluation", ("evaluation", "beir_evaluation")),
    ("tools", ("pretrain", "demo", "conversion", "sentence_transformers_export", "__init__")),
]
MODEL_MODULE = "modeling_condenser"
MAX_MODEL_LINES = 600
# The highest layer (1-based) a file copied for `trust_remote_code=True` may belong to: the model's own.
MAX_REMOTE_CODE_LAYER = 4
# Besides the standard library, what a checkpoint's remote code may import at module level: transformers itself and
# what transformers already depends on.
REMOTE_CODE_LIBRARIES = frozenset({"torch", "transformers", "safetensors", "huggingface_hub", "tokenizers"})

MAP_HINT = "add it to LAYERS in utils/check_layers.py and to the 'Layers' section of CONTRIBUTING.md"


@dataclass(frozen=True)
class Violation:
    """One problem: where it is and what to do about it."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{display_path(self.path)}:{self.line}: {self.message}"


@dataclass(frozen=True)
class PackageImport:
    """An import of a package module found in a source file."""

    line: int
    module: str  # module name within the package; "__init__" for the package itself
    relative: bool  # written as a relative import (what transformers follows when copying remote code)
    deferred: bool  # inside a function (or an `if TYPE_CHECKING:` block): not run when the module is imported


@dataclass(frozen=True)
class ExternalImport:
    """An import of something outside the package."""

    line: int
    module: str  # the dotted module as written: "torch.distributed" for `import torch.distributed as dist`
    names: tuple[str, ...]  # the names of `from module import a, b`; empty for `import module`
    bound: tuple[str, ...]  # the names the statement binds: ("dist",) for `from torch import distributed as dist`
    deferred: bool  # inside a function (or an `if TYPE_CHECKING:` block): not run when the module is imported


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it is under it, as given otherwise."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def layer_of(module: str) -> tuple[int, str] | None:
    """The 1-based index and name of the layer of `module`, or `None` if the map does not place it."""
    for index, (name, modules) in enumerate(LAYERS, start=1):
        if module in modules:
            return index, name
    return None


def describe_layer(module: str) -> str:
    """`layer 4 model` for the model file, `no layer` for a module outside the map."""
    layer = layer_of(module)
    return f"layer {layer[0]} {layer[1]}" if layer else "no layer"


def package_modules(package_dir: Path) -> dict[str, Path]:
    """The modules present in the package folder (its top-level `*.py` files), by name."""
    return {path.stem: path for path in sorted(Path(package_dir).glob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    """Whether an `if` tests `TYPE_CHECKING`: its imports are for type checkers and never run."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_in(node: ast.AST, deferred: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement in `node`, with whether it is deferred (not run when the module is imported)."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, deferred
        return
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        for statement in node.body:
            yield from _imports_in(statement, True)
        for statement in node.orelse:
            yield from _imports_in(statement, deferred)
        return
    deferred = deferred or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
    for child in ast.iter_child_nodes(node):
        yield from _imports_in(child, deferred)


def find_imports(path: Path, known_modules: set[str]) -> tuple[list[PackageImport], list[ExternalImport]]:
    """The package imports and the external imports of the source file at `path`.

    `known_modules` are the names that are package modules (present or mapped): `from . import x` imports module `x`
    if `x` is one of them, and a name of the package's `__init__` otherwise.
    """
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=str(path))
    package_imports: list[PackageImport] = []
    external_imports: list[ExternalImport] = []

    def imported_from_package(submodule: str | None, names: list[str], line: int, relative: bool, deferred: bool):
        if submodule:
            package_imports.append(PackageImport(line, submodule.split(".")[0], relative, deferred))
            return
        for name in names:
            module = name if name in known_modules else "__init__"
            package_imports.append(PackageImport(line, module, relative, deferred))

    for node, deferred in _imports_in(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top, _, rest = alias.name.partition(".")
                if top == PACKAGE_NAME:
                    imported_from_package(rest or None, ["__init__"], node.lineno, False, deferred)
                else:
                    bound = (alias.asname or top,)
                    external_imports.append(ExternalImport(node.lineno, alias.name, (), bound, deferred))
        elif node.level == 1:
            imported_from_package(node.module, [alias.name for alias in node.names], node.lineno, True, deferred)
        elif node.level == 0 and node.module:
            top, _, rest = node.module.partition(".")
            names = [alias.name for alias in node.names]
            if top == PACKAGE_NAME:
                imported_from_package(rest or None, names, node.lineno, False, deferred)
            else:
                bound = tuple(alias.asname or alias.name for alias in node.names)
                external_imports.append(ExternalImport(node.lineno, node.module, tuple(names), bound, deferred))
    return package_imports, external_imports


def check_layer_map(package_dir: Path = PACKAGE_DIR) -> list[Violation]:
    """Every module of the package is in a layer of the map."""
    return [
        Violation(path, 1, f"module `{name}` is in no layer of the package map; {MAP_HINT}")
        for name, path in package_modules(package_dir).items()
        if layer_of(name) is None
    ]


def check_import_directions(package_dir: Path = PACKAGE_DIR) -> list[Violation]:
    """No module imports a package module of a higher layer (at module level or inside a function)."""
    modules = package_modules(package_dir)
    known = set(modules) | {module for _, names in LAYERS for module in names}
    violations = []
    for name, path in modules.items():
        own = layer_of(name)
        if own is None:
            continue  # reported by check_layer_map
        for imported in find_imports(path, known)[0]:
            target = layer_of(imported.module)
            if target is None or target[0] <= own[0]:
                continue
            violations.append(
                Violation(
                    path,
                    imported.line,
                    f"`{name}` ({describe_layer(name)}) imports `{imported.module}` ({describe_layer(imported.module)}), "
                    f"a higher layer; move the code that needs `{imported.module}` up to {target[1]} or above, or "
                    f"move what it uses down to {own[1]} or below",
                )
            )
    return violations


def _mentions_function(base: ast.expr) -> bool:
    """Whether a base class reads as an autograd `Function` (`Function`, `autograd.Function`, ...)."""
    return re.search(r"\bFunction\b", ast.unparse(base)) is not None


def check_model_file(package_dir: Path = PACKAGE_DIR) -> list[Violation]:
    """The model file holds model code only: short, no distributed or Hub imports, no autograd functions."""
    path = Path(package_dir) / f"{MODEL_MODULE}.py"
    if not path.is_file():
        return []
    source = path.read_text(encoding="utf-8")
    violations = []
    line_count = len(source.splitlines())
    if line_count > MAX_MODEL_LINES:
        violations.append(
            Violation(
                path,
                MAX_MODEL_LINES + 1,
                f"the model file has {line_count} lines (at most {MAX_MODEL_LINES}); move kernels to "
                "training_kernels, losses to loss_condenser and Hub behaviour to hub_mixin",
            )
        )
    for imported in find_imports(path, set())[1]:
        written = f"from {imported.module} import {', '.join(imported.names)}" if imported.names else imported.module
        if (
            imported.module.split(".")[:2] == ["torch", "distributed"]
            or (imported.module == "torch" and "distributed" in imported.names)
            or "dist" in imported.bound
        ):
            violations.append(
                Violation(
                    path,
                    imported.line,
                    f"the model file imports `{written}`; a cross-process gather is the trainer's choice, never a "
                    "side effect of forward: keep it in loss_condenser",
                )
            )
        elif imported.module.split(".")[0] == "huggingface_hub":
            violations.append(
                Violation(
                    path,
                    imported.line,
                    f"the model file imports `{written}`; Hub-facing behaviour goes in hub_mixin, which the model "
                    "class inherits",
                )
            )
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.ClassDef) and any(_mentions_function(base) for base in node.bases):
            violations.append(
                Violation(
                    path,
                    node.lineno,
                    f"the model file defines `{node.name}`, a torch.autograd.Function subclass; kernels go in "
                    "training_kernels (registered through AttentionInterface), cross-process gathers in "
                    "loss_condenser",
                )
            )
    return violations


def remote_code_files(package_dir: Path = PACKAGE_DIR) -> dict[str, list[str]]:
    """The modules transformers copies next to a checkpoint, each with the chain of imports that reaches it.

    transformers follows the relative imports of the model file, recursively, wherever they are in a file; this
    follows `from . import x` too, since such a file is needed all the same.
    """
    modules = package_modules(package_dir)
    if MODEL_MODULE not in modules:
        return {}
    known = set(modules) | {module for _, names in LAYERS for module in names}
    chains = {MODEL_MODULE: [MODEL_MODULE]}
    pending = [MODEL_MODULE]
    while pending:
        name = pending.pop(0)
        for imported in find_imports(modules[name], known)[0]:
            if imported.relative and imported.module in modules and imported.module not in chains:
                chains[imported.module] = [*chains[name], imported.module]
                pending.append(imported.module)
    return chains


def check_remote_code(package_dir: Path = PACKAGE_DIR) -> list[Violation]:
    """The files copied for `trust_remote_code=True` are in layers 1-4 and light at module level."""
    modules = package_modules(package_dir)
    chains = remote_code_files(package_dir)
    known = set(modules) | {module for _, names in LAYERS for module in names}
    allowed = set(sys.stdlib_module_names) | REMOTE_CODE_LIBRARIES
    violations = []
    for name in chains:
        package_imports, external_imports = find_imports(modules[name], known)
        for imported in package_imports:
            if not imported.relative and not imported.deferred:
                violations.append(
                    Violation(
                        modules[name],
                        imported.line,
                        f"`{name}` is copied next to checkpoints for trust_remote_code=True (relative imports "
                        f"{' -> '.join(chains[name])}) and imports `{PACKAGE_NAME}` at module level, which a "
                        "checkpoint's copy cannot count on: use a relative import, or import it inside the function "
                        "that needs it",
                    )
                )
            if not imported.relative or imported.module not in chains:
                continue
            layer = layer_of(imported.module)
            if layer is not None and layer[0] <= MAX_REMOTE_CODE_LAYER:
                continue
            chain = " -> ".join(chains[imported.module])
            violations.append(
                Violation(
                    modules[name],
                    imported.line,
                    f"`{imported.module}` ({describe_layer(imported.module)}) is copied next to checkpoints for "
                    f"trust_remote_code=True (relative imports {chain}); remote code must stay in layers "
                    f"1-{MAX_REMOTE_CODE_LAYER}: import it inside the function with an absolute "
                    f"`{PACKAGE_NAME}.{imported.module}` import, or move what is needed down",
                )
            )
        for imported in external_imports:
            if imported.deferred or imported.module.split(".")[0] in allowed:
                continue
            chain = " -> ".join(chains[name])
            violations.append(
                Violation(
                    modules[name],
                    imported.line,
                    f"`{name}` is copied next to checkpoints for trust_remote_code=True (relative imports {chain}) "
                    f"and imports `{imported.module}` at module level; remote code may import only the standard "
                    f"library and {', '.join(sorted(REMOTE_CODE_LIBRARIES))} at module level: import it inside the "
                    "function that needs it",
                )
            )
    return violations


def check_layers(package_dir: Path = PACKAGE_DIR) -> list[Violation]:
    """Every check of this script on the package at `package_dir`."""
    return [
        *check_layer_map(package_dir),
        *check_import_directions(package_dir),
        *check_model_file(package_dir),
        *check_remote_code(package_dir),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: print the problems and return 1 if there are any, else 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--package-dir", type=Path, default=PACKAGE_DIR, help=f"package folder to check (default: {PACKAGE_DIR})"
    )
    args = parser.parse_args(argv)
    violations = check_layers(args.package_dir)
    if violations:
        print(f"check_layers: {len(violations)} problem(s) found:", file=sys.stderr)
        for violation in violations:
            print(violation, file=sys.stderr)
        return 1
    modules = package_modules(args.package_dir)
    remote = ", ".join(f"{name}.py" for name in remote_code_files(args.package_dir))
    print(
        f"check_layers: {len(modules)} modules in {len(LAYERS)} layers, no import goes up a layer; "
        f"the model file is model code only; remote-code files: {remote or 'none'}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
