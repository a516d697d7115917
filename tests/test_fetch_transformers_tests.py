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
"""Tests of `utils/fetch_transformers_tests.py` on a fabricated sdist (no network)."""

import importlib.util
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest


REPO_ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "fetch_transformers_tests", REPO_ROOT / "utils" / "fetch_transformers_tests.py"
)
fetch_transformers_tests = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fetch_transformers_tests)

MIXIN_SOURCES = {
    "test_modeling_common": "from .exporters.test_export import ExportTesterMixin\n"
    "from .generation.test_utils import GenerationTesterMixin\n"
    "from .test_helpers import helper\n\n"
    "class ModelTesterMixin(ExportTesterMixin):\n    value = helper()\n",
    "test_configuration_common": "from .utils.test_configuration_utils import config_common_kwargs\n\n"
    "class ConfigTester:\n    kwargs = config_common_kwargs\n",
    "test_helpers": "def helper():\n    return 42\n",
    "test_unrelated": "raise RuntimeError('never imported')\n",
}


def make_sdist(folder: Path, version: str, sources: dict[str, str]) -> Path:
    """A `transformers-<version>.tar.gz` whose `tests/` holds `sources` (dotted name -> text)."""
    archive = folder / f"transformers-{version}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in sources.items():
            data = text.encode("utf-8")
            member = tarfile.TarInfo(f"transformers-{version}/tests/{name.replace('.', '/')}.py")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return archive


@pytest.fixture
def fake_download(monkeypatch, tmp_path):
    """Replace the pip download by a fabricated sdist; count the downloads."""
    calls = []

    def download(version: str, destination: Path) -> Path:
        calls.append(version)
        destination.mkdir(parents=True)
        return make_sdist(destination, version, MIXIN_SOURCES)

    monkeypatch.setattr(fetch_transformers_tests, "download_sdist", download)
    return calls


def test_relative_imports_resolve_against_the_importing_module():
    source = "from .a import x\nfrom ..b.c import y\nfrom . import d\nimport os\nfrom torch import nn\n"
    assert fetch_transformers_tests.relative_imports(source, "models.bert.test_modeling_bert") == {
        "models.bert.a",
        "models.b.c",
        "models.bert.d",
    }


def test_fetch_writes_the_mixins_their_imports_and_stand_ins_as_an_importable_package(fake_download, tmp_path):
    target = fetch_transformers_tests.fetch("9.9.9", cache_root=tmp_path)
    assert target == tmp_path / "9.9.9"
    package = target / "transformers_tests"
    assert (package / "test_helpers.py").is_file()
    assert not (package / "test_unrelated.py").exists(), "only what the mixins import is extracted"
    script = (
        "from transformers_tests.test_modeling_common import ModelTesterMixin\n"
        "from transformers_tests.test_configuration_common import ConfigTester\n"
        "assert ModelTesterMixin.value == 42 and ConfigTester.kwargs['return_dict'] is False\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=target, check=True)


def test_fetch_is_a_no_op_once_the_version_is_cached(fake_download, tmp_path):
    fetch_transformers_tests.fetch("9.9.9", cache_root=tmp_path)
    fetch_transformers_tests.fetch("9.9.9", cache_root=tmp_path)
    assert fake_download == ["9.9.9"]
    fetch_transformers_tests.fetch("9.9.8", cache_root=tmp_path)
    assert fake_download == ["9.9.9", "9.9.8"], "each version has its own cache"


def test_an_import_without_file_or_stand_in_fails_naming_the_module(monkeypatch, tmp_path):
    sources = {**MIXIN_SOURCES, "test_helpers": "from .brand_new.module import thing\n"}
    monkeypatch.setattr(
        fetch_transformers_tests,
        "download_sdist",
        lambda version, destination: destination.mkdir(parents=True) or make_sdist(destination, version, sources),
    )
    with pytest.raises(SystemExit, match=r"tests\.brand_new\.module"):
        fetch_transformers_tests.fetch("9.9.9", cache_root=tmp_path)
    assert not fetch_transformers_tests.is_complete("9.9.9", cache_root=tmp_path)


def test_pip_command_downloads_only_the_sdist_of_the_version():
    command = fetch_transformers_tests.pip_download_command("5.24.0", Path("/tmp/x"))
    assert command[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in command
    assert command[command.index("--no-binary") + 1] == ":all:"
    assert "transformers==5.24.0" in command
