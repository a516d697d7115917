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
"""Run every code example of the documentation, so that no example can rot.

- Markdown (`docs/source/en/**/*.md` and `README.md`): the ```python blocks of a page run in order, in one namespace
  that is fresh for each page, in a subprocess of their own. A block fenced as ```python no-run, or preceded by an
  `<!-- no-run -->` line, is skipped (for snippets that need a network or a GPU; use sparingly).
- Docstrings (`src/`): every docstring holding `>>>` examples runs as a doctest (ELLIPSIS and NORMALIZE_WHITESPACE),
  so the outputs it shows are checked too. Markdown fences around the examples are ignored.

Every subprocess runs offline (`HF_HUB_OFFLINE=1`) in an empty temporary working directory. Run with
`python utils/check_doc_examples.py`; it exits with status 1 listing each failing block with its traceback.
"""

from __future__ import annotations

import argparse
import ast
import doctest
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = REPO_ROOT / "docs" / "source" / "en"
SOURCE_ROOT = REPO_ROOT / "src"
PACKAGE_NAME = "transformers_condenser"

DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.FAIL_FAST
PYTHON_LANGUAGES = {"python", "py"}
NO_RUN_FLAG = "no-run"
NO_RUN_COMMENT = "<!-- no-run -->"
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass
class CodeBlock:
    """One runnable example: a markdown code block or a docstring's doctest."""

    path: str  # file the example comes from
    lineno: int  # 1-based line of the example's first code line in that file
    code: str
    name: str = ""  # for docstrings: the dotted name of the documented object
    skipped: bool = False

    @property
    def label(self) -> str:
        """`file:line` (and the documented object), for messages."""
        return f"{self.path}:{self.lineno}" + (f" `{self.name}`" if self.name else "")


def extract_markdown_blocks(text: str, path: str = "<markdown>") -> list[CodeBlock]:
    """The ```python / ```py blocks of a markdown text, in order, with their skip markers applied."""
    blocks = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        info = opening["info"].strip().split()
        closing = re.compile(rf"^\s*{re.escape(opening['fence'][0])}{{{len(opening['fence'])},}}\s*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        if info and info[0].lower() in PYTHON_LANGUAGES:
            indent = len(opening["indent"])
            body = [line[indent:] if not line[:indent].strip() else line.lstrip() for line in lines[index + 1 : end]]
            previous = next((line.strip() for line in reversed(lines[:index]) if line.strip()), "")
            skipped = NO_RUN_FLAG in info[1:] or previous == NO_RUN_COMMENT
            blocks.append(CodeBlock(path, index + 2, "\n".join(body) + "\n", skipped=skipped))
        index = end + 1
    return blocks


def _strip_fences(docstring: str) -> str:
    """Blank out markdown fence lines so that doctest does not read a closing fence as expected output."""
    return "\n".join("" if FENCE.match(line) else line for line in docstring.splitlines())


def _documented_nodes(node: ast.AST, prefix: str) -> list[tuple[str, ast.AST]]:
    """`(dotted name, node)` for `node` and every class or function nested in it, depth first."""
    found = [(prefix, node)]
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            found += _documented_nodes(child, f"{prefix}.{child.name}")
    return found


def extract_docstring_examples(source_root: Path = SOURCE_ROOT, package_name: str = PACKAGE_NAME) -> list[CodeBlock]:
    """The docstrings under `source_root/package_name` that hold `>>>` examples, one block per docstring."""
    examples = []
    for path in sorted((source_root / package_name).rglob("*.py")):
        module = ".".join(path.relative_to(source_root).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, node in _documented_nodes(tree, module):
            # Uncleaned: cleaning drops leading blank lines, which would shift every reported line number.
            docstring = ast.get_docstring(node, clean=False)
            if docstring and ">>>" in docstring:
                examples.append(CodeBlock(str(path), node.body[0].lineno, _strip_fences(docstring), name=name))
    return examples


def markdown_pages(docs_dir: Path = DOCS_DIR, extra_pages: Sequence[Path] = (REPO_ROOT / "README.md",)) -> list[Path]:
    """The markdown files whose examples are checked: every page under `docs_dir`, then the extra ones that exist."""
    return sorted(docs_dir.rglob("*.md")) + [page for page in extra_pages if page.is_file()]


def _subprocess_env(threads: int | None = None) -> dict[str, str]:
    """The environment of an example subprocess: offline, importing this source tree, `threads` intra-op threads."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    if threads and "OMP_NUM_THREADS" not in env:
        # Pages run side by side: share the cores between them instead of oversubscribing every one.
        env["OMP_NUM_THREADS"] = str(threads)
    # The source tree comes first, so a clone works without `pip install -e .`.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE_ROOT), env.get("PYTHONPATH", "")]))
    return env


def run_blocks(mode: str, blocks: Sequence[CodeBlock], timeout: float, threads: int | None = None) -> list[str]:
    """Run `blocks` in one fresh subprocess (`mode` is "markdown" or "doctest"); return the failures.

    `threads` caps the subprocess' intra-op threads (`OMP_NUM_THREADS`) unless the environment already sets it.
    """
    runnable = [block for block in blocks if not block.skipped]
    if not runnable:
        return []
    payload = json.dumps([asdict(block) for block in runnable])
    with tempfile.TemporaryDirectory(prefix="doc-examples-") as workdir:
        try:
            result = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--worker", mode],
                input=payload,
                capture_output=True,
                text=True,
                cwd=workdir,
                env=_subprocess_env(threads),
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return [f"{runnable[0].path}: the examples did not finish within {timeout:.0f} s."]
    if result.returncode == 0:
        return []
    report = result.stdout.strip() or f"exited with status {result.returncode}"
    return (
        [f"{report}\n--- stderr (last 3000 characters) ---\n{result.stderr[-3000:]}"]
        if result.stderr.strip()
        else [report]
    )


def _run_markdown_worker(blocks: list[CodeBlock]) -> int:
    """Execute markdown blocks in order in one namespace; stop at the first failure, print it, return 1."""
    namespace: dict[str, object] = {"__name__": "__main__"}
    for number, block in enumerate(blocks, start=1):
        # Padding with newlines makes traceback line numbers equal the markdown file's, so linecache shows the source.
        source = "\n" * (block.lineno - 1) + block.code
        try:
            if block.code.lstrip().startswith(">>>"):
                failures = _run_doctest(block, namespace)
                if failures:
                    print(f"{block.path}, python block {number} (line {block.lineno}) failed:\n{failures}")
                    return 1
            else:
                exec(compile(source, block.path, "exec"), namespace)
        except BaseException as error:
            # Drop this function's own frame: the traceback starts in the example.
            frames = traceback.format_exception(type(error), error, error.__traceback__.tb_next)
            print(f"{block.path}, python block {number} (line {block.lineno}) failed:\n{''.join(frames)}")
            return 1
    return 0


def _run_doctest(block: CodeBlock, globs: dict[str, object]) -> str:
    """Run one doctest; return the failure report ('' when it passes)."""
    test = doctest.DocTestParser().get_doctest(
        block.code, globs, block.name or block.path, block.path, block.lineno - 1
    )
    output: list[str] = []
    runner = doctest.DocTestRunner(verbose=False, optionflags=DOCTEST_FLAGS)
    runner.run(test, out=output.append, clear_globs=False)
    return "".join(output) if runner.failures else ""


def _run_doctest_worker(blocks: list[CodeBlock]) -> int:
    """Run each docstring's doctest in its own namespace; print every failure; return 1 if any failed."""
    failed = 0
    for block in blocks:
        failures = _run_doctest(block, {"__name__": block.name})
        if failures:
            failed += 1
            print(f"docstring example of {block.label} failed:\n{failures}")
    return 1 if failed else 0


def check_doc_examples(
    pages: Sequence[Path] | None = None,
    source_root: Path | None = SOURCE_ROOT,
    package_name: str = PACKAGE_NAME,
    jobs: int | None = None,
    timeout: float = 600,
) -> list[str]:
    """Run the examples of `pages` (default: all docs pages and README.md) and of the docstrings under `source_root`
    (None: skip docstrings); return one problem per failing page or docstring."""
    pages = markdown_pages() if pages is None else pages
    jobs_to_run: list[tuple[str, list[CodeBlock]]] = [
        ("markdown", extract_markdown_blocks(page.read_text(encoding="utf-8"), str(Path(page).resolve())))
        for page in pages
    ]
    if source_root is not None:
        jobs_to_run.append(("doctest", extract_docstring_examples(source_root, package_name)))
    cores = os.cpu_count() or 1
    workers = max(1, min(jobs or cores, len(jobs_to_run)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda job: run_blocks(job[0], job[1], timeout, max(1, cores // workers)), jobs_to_run)
        return [problem for problems in results for problem in problems]


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: print the failures and return 1 if there are any, else 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "pages",
        nargs="*",
        type=Path,
        help="markdown files to check (default: every page under docs/source/en/ and README.md, plus src/ docstrings)",
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help="pages run in parallel (default: the number of CPU cores)"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per page (default: 600)")
    parser.add_argument("--worker", choices=["markdown", "doctest"], help=argparse.SUPPRESS)  # internal: subprocess
    args = parser.parse_args(argv)

    if args.worker:
        blocks = [CodeBlock(**fields) for fields in json.loads(sys.stdin.read())]
        return _run_markdown_worker(blocks) if args.worker == "markdown" else _run_doctest_worker(blocks)

    start = time.perf_counter()
    pages = args.pages or None
    problems = check_doc_examples(pages, SOURCE_ROOT if pages is None else None, jobs=args.jobs, timeout=args.timeout)
    elapsed = time.perf_counter() - start
    if problems:
        print(f"check_doc_examples: {len(problems)} failure(s) ({elapsed:.0f} s):", file=sys.stderr)
        for problem in problems:
            print(f"\n{problem}", file=sys.stderr)
        return 1
    what = f"{len(markdown_pages())} markdown page(s) and the docstrings" if pages is None else f"{len(pages)} page(s)"
    print(f"check_doc_examples: all examples of {what} pass ({elapsed:.0f} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
