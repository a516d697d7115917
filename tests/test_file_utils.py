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
"""Tests of the atomic output-directory helpers every writer of the package uses."""

import errno
import os
from pathlib import Path
from unittest import mock

import pytest

from transformers_condenser import file_utils
from transformers_condenser.file_utils import (
    STAGING_NAME,
    atomic_directory,
    atomic_update,
    atomic_write_text,
    check_output_dir,
)


def read_tree(root: Path) -> dict[str, str]:
    """Every file below `root` by relative path, with its text."""
    return {str(path.relative_to(root)): path.read_text() for path in sorted(root.rglob("*")) if path.is_file()}


def test_new_output_appears_only_when_the_block_succeeds(tmp_path: Path):
    with atomic_directory(tmp_path / "out") as staging:
        (staging / "a.txt").write_text("new")
        assert not (tmp_path / "out").exists()
    assert read_tree(tmp_path) == {"out/a.txt": "new"}


def test_existing_output_is_replaced_whole(tmp_path: Path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    with atomic_directory(tmp_path / "out") as staging:
        (staging / "new.txt").write_text("new")
    assert read_tree(tmp_path) == {"out/new.txt": "new"}


def test_exception_in_the_block_keeps_previous_output(tmp_path: Path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(tmp_path / "out") as staging:
            (staging / "half.txt").write_text("half")
            raise KeyboardInterrupt
    assert read_tree(tmp_path) == {"out/old.txt": "old"}


def test_failed_final_rename_restores_previous_output(tmp_path: Path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    real_replace = os.replace
    calls = []

    def replace_failing_second_time(source, destination):
        calls.append((source, destination))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_replace(source, destination)

    with mock.patch.object(file_utils.os, "replace", side_effect=replace_failing_second_time):
        with pytest.raises(OSError, match="No space left"):
            with atomic_directory(tmp_path / "out") as staging:
                (staging / "new.txt").write_text("new")
    assert len(calls) >= 2
    assert read_tree(tmp_path) == {"out/old.txt": "old"}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_update_replaces_what_was_written_and_keeps_the_rest(tmp_path: Path):
    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-2" / "model.txt").write_text("checkpoint")
    (tmp_path / "model.txt").write_text("old")
    (tmp_path / "tokenizer").mkdir()
    (tmp_path / "tokenizer" / "stale.txt").write_text("old")
    with atomic_update(tmp_path) as staging:
        (staging / "model.txt").write_text("new")
        (staging / "card.txt").write_text("new")
        (staging / "tokenizer").mkdir()
        (staging / "tokenizer" / "vocab.txt").write_text("new")
        assert read_tree(tmp_path)["model.txt"] == "old"  # nothing takes its final name before the end
    assert read_tree(tmp_path) == {
        "card.txt": "new",
        "checkpoint-2/model.txt": "checkpoint",
        "model.txt": "new",
        "tokenizer/vocab.txt": "new",
    }
    assert sorted(path.name for path in tmp_path.iterdir()) == ["card.txt", "checkpoint-2", "model.txt", "tokenizer"]


def test_exception_in_an_update_keeps_the_previous_files(tmp_path: Path):
    (tmp_path / "model.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_update(tmp_path) as staging:
            (staging / "model.txt").write_text("half")
            raise KeyboardInterrupt
    assert read_tree(tmp_path) == {"model.txt": "old"}
    assert not (tmp_path / STAGING_NAME).exists()


def test_update_removes_the_staging_folder_of_a_killed_run(tmp_path: Path):
    (tmp_path / STAGING_NAME).mkdir()
    (tmp_path / STAGING_NAME / "model.txt").write_text("half")  # as a killed run left it
    with atomic_update(tmp_path) as staging:
        (staging / "card.txt").write_text("new")
    assert read_tree(tmp_path) == {"card.txt": "new"}


def test_only_the_main_process_moves_the_update_in_place(tmp_path: Path):
    barriers = []
    (tmp_path / STAGING_NAME).mkdir()  # made by the main process before the first barrier
    with atomic_update(tmp_path, is_main_process=False, wait_for_everyone=lambda: barriers.append(1)) as staging:
        assert staging == tmp_path.resolve() / STAGING_NAME
        (staging / "shard.txt").write_text("from another process")
    assert len(barriers) == 2  # after the staging folder exists, and before it is moved in place
    assert read_tree(tmp_path) == {f"{STAGING_NAME}/shard.txt": "from another process"}


def test_check_output_dir_refuses_inputs_and_their_parents(tmp_path: Path):
    source = tmp_path / "models" / "model"
    source.mkdir(parents=True)
    for output in (source, tmp_path / "models", tmp_path):
        with pytest.raises(ValueError, match="is or contains the input"):
            check_output_dir(output, source)
    assert check_output_dir(tmp_path / "elsewhere", source) == (tmp_path / "elsewhere").resolve()


def test_check_output_dir_refuses_a_non_empty_folder_that_is_not_a_checkpoint(tmp_path: Path):
    (tmp_path / "folder").mkdir()
    assert check_output_dir(tmp_path / "folder") == (tmp_path / "folder").resolve()  # empty: fine
    (tmp_path / "folder" / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="not a checkpoint"):
        check_output_dir(tmp_path / "folder")
    (tmp_path / "folder" / "config.json").write_text("{}")
    assert check_output_dir(tmp_path / "folder") == (tmp_path / "folder").resolve()


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_outputs_honour_the_umask(tmp_path: Path, umask: int):
    """Temporary folders and files are private (0700 / 0600); the final output gets what mkdir / open would give."""
    previous = os.umask(umask)
    try:
        with atomic_directory(tmp_path / "out") as staging:
            (staging / "weights.txt").write_text("new")
        with atomic_directory(tmp_path / "out") as staging:  # replacing a previous output, too
            (staging / "weights.txt").write_text("newer")
        card = atomic_write_text(tmp_path / "README.md", "card")
        atomic_write_text(card, "card again")
    finally:
        os.umask(previous)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (tmp_path / "out" / "weights.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert card.stat().st_mode & 0o777 == 0o666 & ~umask
    assert card.read_text() == "card again"


@pytest.mark.parametrize(
    "code, error_class, fix",
    [
        (errno.ENOSPC, OSError, "Free some space"),
        (errno.EACCES, PermissionError, "Choose an output folder you can write to"),
        (errno.EROFS, OSError, "Choose an output folder you can write to"),
    ],
)
def test_full_disk_and_missing_permission_name_the_output_and_the_fix(tmp_path: Path, code, error_class, fix):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "config.json").write_text("previous")
    with pytest.raises(error_class, match=fix) as failure:
        with atomic_directory(tmp_path / "out") as staging:
            raise OSError(code, os.strerror(code))
    assert str(tmp_path / "out") in str(failure.value) and failure.value.errno == code
    assert not staging.exists()
    assert read_tree(tmp_path) == {"out/config.json": "previous"}
    with mock.patch.object(file_utils.tempfile, "mkstemp", side_effect=OSError(code, os.strerror(code))):
        with pytest.raises(error_class, match=fix):
            atomic_write_text(tmp_path / "README.md", "card")
    assert not (tmp_path / "README.md").exists()


def test_other_errors_and_unreadable_inputs_pass_unchanged(tmp_path: Path):
    original = OSError(errno.EIO, "I/O error")
    with pytest.raises(OSError) as failure, atomic_directory(tmp_path / "out"):
        raise original
    assert failure.value is original
    # A file that cannot be read elsewhere is the input's problem, not the output's.
    unreadable = PermissionError(errno.EACCES, "Permission denied", "/elsewhere/corpus.jsonl")
    with pytest.raises(PermissionError) as failure, atomic_directory(tmp_path / "inputs" / "out"):
        raise unreadable
    assert failure.value is unreadable


def test_check_output_dir_replaces_only_its_own_previous_output(tmp_path: Path):
    own = ("config.json", "model.safetensors", "*.py")
    out = tmp_path / "out"
    out.mkdir()
    for name in ("config.json", "model.safetensors", "modeling_condenser.py"):
        (out / name).write_text("x")
    assert check_output_dir(out, own_entries=own) == out.resolve()
    (out / "README.md").write_text("card")
    with pytest.raises(ValueError, match=r"did not write \(README.md\)"):
        check_output_dir(out, own_entries=own)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        check_output_dir(tmp_path / "file")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_write_error_names_the_command_line_flag_that_chose_the_output(tmp_path: Path, code):
    error = OSError(code, os.strerror(code), str(tmp_path / ".out.tmp-1" / "data.arrow"))
    wrapped = file_utils.write_error(error, tmp_path / "out", option="--output_dir")
    assert wrapped.errno == code and wrapped.filename == error.filename
    assert str(tmp_path / "out") in str(wrapped) and "ass an --output_dir" in str(wrapped)
    assert "--output_dir" not in str(file_utils.write_error(error, tmp_path / "out"))
    # An error about a file elsewhere (an input that cannot be read) is not a write error: passed through unchanged.
    elsewhere = OSError(code, os.strerror(code), "/somewhere/else/corpus.jsonl")
    assert file_utils.write_error(elsewhere, tmp_path / "out", option="--output_dir") is elsewhere
