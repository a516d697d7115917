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
"""Tests of the repository checks in `utils/`: they pass on this repository, and each of them can fail."""

import os
import sys
import textwrap
import types
from pathlib import Path

import pytest
from transformers import PreTrainedConfig, PreTrainedModel


os.environ.setdefault("HF_HUB_OFFLINE", "1")
UTILS_DIR = Path(__file__).resolve().parents[1] / "utils"
sys.path.insert(0, str(UTILS_DIR))

import check_doc_examples  # noqa: E402
import check_docstrings  # noqa: E402
import check_repo  # noqa: E402


def write(path: Path, text: str) -> Path:
    """Write dedented `text` to `path`, creating its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# The repository itself passes every check.


def test_repository_is_consistent() -> None:
    assert check_repo.run_all_checks() == []


def test_every_public_definition_is_documented() -> None:
    assert check_docstrings.check_docstrings() == []


def test_every_docstring_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # The docs pages' examples (about 2 CPU-minutes) run in `make quality`, which CI runs too; the docstrings' here.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert check_doc_examples.check_doc_examples([], jobs=1) == []


# check_repo


def test_missing_export_is_reported() -> None:
    package = types.ModuleType("fake_package")
    package.__all__ = ["Present", "Absent"]
    package.Present = object()
    problems = check_repo.check_names_exported(package)
    assert len(problems) == 1 and "`Absent`" in problems[0]


def test_module_name_missing_from_package_all_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "modeling_fake.py", '__all__ = ["FakeModel", "FakeHelper"]\n')
    write(tmp_path / "cli.py", "class NotExported:\n    pass\n")  # no `__all__`: exports nothing
    problems = check_repo.check_module_names_in_package(tmp_path, ["FakeModel"])
    assert len(problems) == 1 and "`FakeHelper`" in problems[0]


@pytest.mark.parametrize(
    "name, base, expected",
    [
        ("FakeModel", PreTrainedModel, "AutoModel"),
        ("FakeForPreTraining", PreTrainedModel, "AutoModelForPreTraining"),
        ("FakeForMaskedLM", PreTrainedModel, "AutoModelForMaskedLM"),
        ("FakePreTrainedModel", PreTrainedModel, None),
        ("FakeConfig", PreTrainedConfig, "AutoConfig"),
        ("FakeOutput", object, None),
    ],
)
def test_auto_class_follows_the_class_name(name: str, base: type, expected: str | None) -> None:
    assert check_repo.expected_auto_class(name, type(name, (base,), {})) == expected


def test_unregistered_config_and_model_are_reported() -> None:
    class UnregisteredConfig(PreTrainedConfig):
        model_type = "unregistered-for-test"

    class UnregisteredForMaskedLM(PreTrainedModel):
        config_class = UnregisteredConfig

    package = types.ModuleType("fake_package")
    package.__all__ = ["UnregisteredConfig", "UnregisteredForMaskedLM"]
    package.UnregisteredConfig, package.UnregisteredForMaskedLM = UnregisteredConfig, UnregisteredForMaskedLM
    problems = check_repo.check_auto_registration(package)
    assert len(problems) == 2
    assert "AutoConfig" in problems[0] and "AutoModelForMaskedLM" in problems[1]


def test_undocumented_name_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "model_doc" / "fake.md", "## FakeModel\n\n[[autodoc]] models.fake.FakeModel\n    - forward\n")
    documented = check_repo.autodoc_names(tmp_path)
    assert documented == {"FakeModel"}
    problems = check_repo.check_names_documented(["FakeModel", "FakeConfig"], documented)
    assert len(problems) == 1 and "`FakeConfig`" in problems[0]


def test_untested_name_is_reported() -> None:
    sources = {"test_fake.py": "from fake import FakeModelTester\nFakeModel()\n"}
    problems = check_repo.check_names_tested(["FakeModel", "FakeConfig", "FakeModelTest"], sources)
    # Whole words only: `FakeModelTester` does not count as a use of `FakeModelTest`.
    assert [problem.split("`")[1] for problem in problems] == ["FakeConfig", "FakeModelTest"]


def test_page_missing_from_toctree_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "index.md", "# Home\n")
    write(tmp_path / "model_doc" / "fake.md", "# Fake\n")
    write(
        tmp_path / "_toctree.yml", "- sections:\n  - local: index\n    title: Home\n  - local: gone\n    title: Gone\n"
    )
    problems = check_repo.check_toctree(tmp_path)
    assert any("`model_doc/fake.md` is not listed" in problem for problem in problems)
    assert any("lists `gone`" in problem for problem in problems)
    assert len(problems) == 2


# check_docstrings


def test_undocumented_definitions_are_reported(tmp_path: Path) -> None:
    package_name = "undocumented_package_for_test"
    write(tmp_path / package_name / "__init__.py", '"""A package."""\n')
    write(
        tmp_path / package_name / "tools.py",
        '''
        """Tools."""

        from transformers import PreTrainedConfig


        def documented():
            """Has a docstring."""


        def undocumented():
            pass


        def _private():
            pass


        class Documented:
            """Has a docstring."""

            def method_without_docstring(self):
                pass

            def __repr__(self):
                return "dunder methods are private"


        class ToolConfig(PreTrainedConfig):
            """A configuration.

            Args:
                documented_field (`int`, *optional*, defaults to 1):
                    Documented.
            """

            documented_field: int = 1
            forgotten_field: int = 2
        ''',
    )
    try:
        problems = check_docstrings.check_docstrings(tmp_path, package_name)
    finally:
        for module in [name for name in sys.modules if name.startswith(package_name)]:
            del sys.modules[module]
    assert len(problems) == 3
    assert "tools.undocumented`: function has no docstring" in problems[0]
    assert "Documented.method_without_docstring`: method has no docstring" in problems[1]
    assert "ToolConfig`: field `forgotten_field` is not documented" in problems[2]


# check_doc_examples


def test_markdown_blocks_and_skip_markers_are_parsed() -> None:
    page = textwrap.dedent(
        """\
        ```python
        a = 1
        ```
        ```bash
        echo not python
        ```
        <!-- no-run -->

        ```python
        skipped_by_comment()
        ```
        ```python no-run
        skipped_by_flag()
        ```
        - a list item:
          ```py
          if a:
              b = 2
          ```
        """
    )
    blocks = check_doc_examples.extract_markdown_blocks(page)
    assert [(block.lineno, block.skipped) for block in blocks] == [(2, False), (10, True), (13, True), (17, False)]
    assert blocks[3].code == "if a:\n    b = 2\n"


def test_failing_markdown_block_is_reported(tmp_path: Path) -> None:
    page = write(
        tmp_path / "page.md",
        """\
        # Page

        ```python
        value = 41
        ```

        <!-- no-run -->
        ```python
        raise RuntimeError("skipped, never runs")
        ```

        ```python
        assert value + 1 == 43, "off by one"
        ```
        """,
    )
    problems = check_doc_examples.check_doc_examples([page], source_root=None)
    assert len(problems) == 1
    assert "python block 2 (line 13) failed" in problems[0]  # numbered among the blocks that run
    assert "AssertionError: off by one" in problems[0] and 'assert value + 1 == 43, "off by one"' in problems[0]


def test_wrong_docstring_output_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package_name = "doctested_package_for_test"
    write(tmp_path / package_name / "__init__.py", "")
    source = write(
        tmp_path / package_name / "arithmetic.py",
        f'''
        def add(a, b):
            """Add two numbers.

            Example:

            ```python
            >>> from {package_name}.arithmetic import add
            >>> add(2, 2)
            4
            >>> [add(i, i) for i in range(20)]
            [0, 2, ..., 38]
            >>> add(1, 1)
            3
            ```
            """
            return a + b
        ''',
    )
    examples = check_doc_examples.extract_docstring_examples(tmp_path, package_name)
    assert [example.name for example in examples] == [f"{package_name}.arithmetic.add"]
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    problems = check_doc_examples.run_blocks("doctest", examples, timeout=60)
    # ELLIPSIS lets `...` match and the closing fence is not read as output: only `add(1, 1)` fails, at its own line.
    failing_line = source.read_text().splitlines().index("    >>> add(1, 1)") + 1
    assert len(problems) == 1
    assert f"line {failing_line}," in problems[0] and "Expected:\n    3\nGot:\n    2" in problems[0]


def test_cli_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    passing = write(tmp_path / "ok.md", "```python\nprint('fine')\n```\n")
    failing = write(tmp_path / "bad.md", "```python\n1 / 0\n```\n")
    assert check_doc_examples.main([str(passing)]) == 0
    assert check_doc_examples.main([str(passing), str(failing)]) == 1
    assert "ZeroDivisionError" in capsys.readouterr().err
