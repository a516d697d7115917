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
"""Tests of `cli_utils.cli_entry_point`: the error contract every `condenser-*` command shares."""

import pytest

from transformers_condenser.cli_utils import DEBUG_ENV, EXIT_ERROR, EXIT_INTERRUPTED, cli_entry_point


def _tool(error: BaseException | None = None, seen: list | None = None):
    @cli_entry_point("condenser-x", interrupt_hint=lambda: "resume with --resume_from_checkpoint out/checkpoint-4")
    def main(argv=None):
        if seen is not None:
            seen.append(list(argv))
        if error is not None:
            raise error
        return 0

    return main


@pytest.mark.parametrize("error", [ValueError("bad line 3"), TypeError("bad type"), OSError(28, "No space left"),
                                   ImportError("pip install x")])  # fmt: skip
def test_user_errors_end_with_one_message_and_status_1(error, capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit) as stop:
        _tool(error)([])
    assert stop.value.code == EXIT_ERROR
    err = capsys.readouterr().err
    expected = error.strerror if isinstance(error, OSError) else str(error)  # without "[Errno 28]"
    assert err.startswith(f"condenser-x: error: {expected}") and "Traceback" not in err
    assert "--debug" in err


def test_the_wrapped_cause_is_named(capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    try:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    except UnicodeDecodeError as cause:
        wrapped = OSError("corpus.txt, line 7: the bytes are not UTF-8")
        wrapped.__cause__ = cause
    with pytest.raises(SystemExit):
        _tool(wrapped)([])
    err = capsys.readouterr().err
    assert "corpus.txt, line 7" in err and "caused by: 'utf-8' codec can't decode" in err


def test_ctrl_c_prints_the_hint_and_exits_130(capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit) as stop:
        _tool(KeyboardInterrupt())([])
    assert stop.value.code == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert "condenser-x: interrupted" in err and "--resume_from_checkpoint out/checkpoint-4" in err
    assert "Traceback" not in err


def test_debug_flag_or_environment_lets_the_traceback_through(monkeypatch):
    seen = []
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(ValueError, match="bad"):
        _tool(ValueError("bad"), seen)(["--x", "1", "--debug"])
    assert seen == [["--x", "1"]]  # the tool's own parser never sees --debug
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(ValueError, match="bad"):
        _tool(ValueError("bad"))([])
    monkeypatch.setenv(DEBUG_ENV, "0")
    with pytest.raises(SystemExit):
        _tool(ValueError("bad"))([])


def test_bugs_and_usage_errors_are_not_swallowed(monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(RuntimeError):
        _tool(RuntimeError("a bug"))([])
    with pytest.raises(SystemExit) as stop:
        _tool(SystemExit(2))([])
    assert stop.value.code == 2
    assert _tool()([]) == 0
