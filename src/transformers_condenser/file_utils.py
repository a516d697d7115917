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
"""File-system helpers shared by every tool of the package that writes a checkpoint or a dataset."""

import errno
import fnmatch
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path


# The staging folder of `atomic_update`, inside the updated folder: hidden, and the same name in every process.
STAGING_NAME = ".staging.tmp"

# Errors of the file system a user fixes by freeing space or choosing another folder, not by changing the input.
_NO_SPACE_ERRNOS = frozenset(code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None)
_NO_PERMISSION_ERRNOS = frozenset((errno.EACCES, errno.EPERM, errno.EROFS))


def current_umask() -> int:
    """The process's file-mode creation mask (`umask`), read without changing it for longer than one call."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_mode(is_dir: bool) -> int:
    """The permission bits `mkdir` (`is_dir=True`) or `open` give a new folder or file under the current umask:
    `0o777 & ~umask` and `0o666 & ~umask`.

    Temporary folders and files (`tempfile.mkdtemp`, `tempfile.mkstemp`) are created private to the user (`0o700`,
    `0o600`) whatever the umask; an output renamed into place from one is given this mode, so that a group sharing a
    cluster can read it as it could read any other output.
    """
    return (0o777 if is_dir else 0o666) & ~current_umask()


def write_error(error: OSError, output: str | os.PathLike, option: str | None = None) -> OSError:
    """An error of the same class as `error` whose message names `output` and the fix, for a write that failed
    because the disk is full or the folder cannot be written; `error` itself for any other failure, and for an error
    about a file outside `output`'s parent folder (an input that cannot be read).

    The result keeps `errno` and `filename`, so that callers can still tell the cases apart. With `option`, the
    command-line flag that chose `output` (`"--output_dir"`), the fix names that flag.
    """
    if error.filename is not None and isinstance(error.filename, (str, os.PathLike)):
        where = Path(os.path.abspath(error.filename))
        if not where.is_relative_to(Path(os.path.abspath(output)).parent):
            return error
    elsewhere = f"pass an {option}" if option else "choose an output folder"
    if error.errno in _NO_SPACE_ERRNOS:
        message = (
            f"No space left on the device to write {output}. Free some space or {elsewhere} on another disk; "
            "nothing was written under the final name and a previous output, if any, is intact."
        )
    elif error.errno in _NO_PERMISSION_ERRNOS:
        message = (
            f"No permission to write {output}. {elsewhere.capitalize()} you can write to, or ask for write "
            "permission on its parent folder; a previous output, if any, is intact."
        )
    else:
        return error
    # `OSError(errno, message)` keeps the errno (and the subclass: `PermissionError` for `EACCES`).
    wrapped = OSError(error.errno, message)
    if error.filename is not None:
        wrapped.filename = error.filename
    return wrapped


@contextmanager
def reporting_write_errors(output: str | os.PathLike) -> Iterator[None]:
    """Re-raise an `OSError` of the block through [`write_error`]: a full disk or a missing permission gets a message
    naming `output` and the fix; any other error passes unchanged."""
    try:
        yield
    except OSError as error:
        wrapped = write_error(error, output)
        if wrapped is error:
            raise
        raise wrapped from error


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to the file `path` atomically: a reader sees the previous file or the complete new one, never a
    half-written one, and a failed write leaves the previous file untouched.

    The file gets the mode a plain `open(path, "w")` would give it under the current umask (see [`default_mode`]).

    Raises:
        `OSError`: the file cannot be written; for a full disk or a missing permission the message names `path` and
            the fix (see [`write_error`]).

    Example:

    ```python
    >>> import tempfile
    >>> from pathlib import Path
    >>> from transformers_condenser.file_utils import atomic_write_text

    >>> path = atomic_write_text(Path(tempfile.mkdtemp()) / "README.md", "# Card\\n")
    >>> path.read_text()
    '# Card\\n'
    ```
    """
    path = Path(path)
    with reporting_write_errors(path):
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.chmod(temporary, default_mode(is_dir=False))
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return path


@contextmanager
def atomic_directory(output_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of `output_dir` to write into; on success, swap it in place of `output_dir`.

    If the block raises (or the process is killed), the temporary directory is removed (or left as a hidden
    `.NAME.tmp-*` sibling) and a previous `output_dir` is left untouched: an interrupted run never destroys earlier
    output nor leaves a half-written one under the final name. A full disk or a folder that cannot be written raises
    an `OSError` whose message names `output_dir` and the fix (see [`write_error`]).

    The final folder gets the mode a plain `mkdir` would give it under the current umask (see [`default_mode`]), not
    the private `0o700` of the temporary folder it was written in.

    Example:

    ```python
    >>> import tempfile
    >>> from pathlib import Path
    >>> from transformers_condenser.file_utils import atomic_directory

    >>> root = Path(tempfile.mkdtemp())
    >>> with atomic_directory(root / "out") as staging:
    ...     _ = (staging / "weights.txt").write_text("new")
    >>> (root / "out" / "weights.txt").read_text()
    'new'
    ```
    """
    output_dir = Path(output_dir).resolve()
    with reporting_write_errors(output_dir):
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.tmp-", dir=output_dir.parent))
    try:
        with reporting_write_errors(output_dir):
            yield staging
            os.chmod(staging, default_mode(is_dir=True))
        if output_dir.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.old-", dir=output_dir.parent))
            os.replace(output_dir, retired / output_dir.name)
            try:
                os.replace(staging, output_dir)
            except BaseException:
                # Put the previous output back before reporting the failure.
                os.replace(retired / output_dir.name, output_dir)
                retired.rmdir()
                raise
            shutil.rmtree(retired)
        else:
            os.replace(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextmanager
def atomic_update(
    output_dir: str | os.PathLike,
    *,
    is_main_process: bool = True,
    wait_for_everyone: Callable[[], None] | None = None,
) -> Iterator[Path]:
    """Yield a staging folder inside `output_dir`; on success, move each file and folder written there into
    `output_dir`, replacing the entry of the same name.

    For a folder that also holds what must stay, such as the `checkpoint-N` folders next to a final model, and so
    cannot be replaced as a whole by [`atomic_directory`]. Nothing takes its final name before everything was written:
    if the block raises, or the process is killed, the previous files of `output_dir` are left untouched and no
    half-written file sits under a final name (the staging folder, `.staging.tmp`, is removed, or left hidden and
    removed by the next call). Each entry is then swapped in by one rename; only a kill during those renames, which
    take microseconds, would leave some entries new and others old.

    Args:
        output_dir (`str` or `os.PathLike`): The folder to update; created if missing.
        is_main_process (`bool`, *optional*, defaults to `True`): Under several processes, only the main one creates,
            moves and removes the staging folder; every process gets the same path, so all may write into it.
        wait_for_everyone (`Callable`, *optional*): A barrier of the processes (`accelerator.wait_for_everyone`), run
            once the staging folder exists and again before it is moved in place.

    Example:

    ```python
    >>> import tempfile
    >>> from pathlib import Path
    >>> from transformers_condenser.file_utils import atomic_update

    >>> out = Path(tempfile.mkdtemp())
    >>> _ = (out / "keep.txt").write_text("kept")
    >>> with atomic_update(out) as staging:
    ...     _ = (staging / "model.txt").write_text("new")
    >>> sorted(path.name for path in out.iterdir())
    ['keep.txt', 'model.txt']
    ```
    """
    barrier = wait_for_everyone or (lambda: None)
    output_dir = Path(output_dir).resolve()
    staging = output_dir / STAGING_NAME
    if is_main_process:
        shutil.rmtree(staging, ignore_errors=True)  # a previous run's, killed before it finished
        staging.mkdir(parents=True)
    barrier()
    try:
        yield staging
        barrier()
        if is_main_process:
            for entry in sorted(staging.iterdir()):
                _replace_entry(entry, output_dir / entry.name)
            staging.rmdir()
    except BaseException:
        if is_main_process:
            shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace_entry(source: Path, destination: Path) -> None:
    """Rename `source` to `destination`, replacing a file with one rename and a folder by a rename and a removal."""
    if destination.is_dir() and not destination.is_symlink():
        retired = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old-", dir=destination.parent))
        os.replace(destination, retired / destination.name)
        os.replace(source, destination)
        shutil.rmtree(retired)
    else:
        os.replace(source, destination)


def check_output_dir(
    output_dir: str | os.PathLike,
    *inputs: str | os.PathLike,
    own_entries: Collection[str] | None = None,
) -> Path:
    """Refuse an output directory whose replacement would destroy data: one that is, or contains, an input, or an
    existing non-empty directory that is not a checkpoint (no `config.json`), e.g. a parent folder given by mistake.

    With `own_entries`, the names (`fnmatch` patterns such as `"*.py"`) of everything the tool itself writes, an
    existing folder is replaced only when it holds nothing else, that is when it is the tool's own previous output:
    a checkpoint that also holds a model card, training logs or another tool's files is refused rather than lost.

    Args:
        output_dir (`str` or `os.PathLike`): The folder the tool will replace as a whole.
        inputs (`str` or `os.PathLike`): The tool's inputs, which the output must not be nor contain.
        own_entries (`Collection[str]`, *optional*): The names of the files and folders the tool writes.

    Returns:
        `Path`: the resolved output directory.

    Raises:
        `ValueError`: naming the clash and what to pass instead.

    Example:

    ```python
    >>> import tempfile
    >>> from pathlib import Path
    >>> from transformers_condenser.file_utils import check_output_dir

    >>> out = Path(tempfile.mkdtemp())
    >>> _ = (out / "config.json").write_text("{}")
    >>> _ = (out / "notes.txt").write_text("mine")
    >>> try:
    ...     check_output_dir(out, own_entries=("config.json", "model.safetensors"))
    ... except ValueError as error:
    ...     print("refused:", "notes.txt" in str(error))
    refused: True
    ```
    """
    output_dir = Path(output_dir).resolve()
    for source in inputs:
        source = Path(source).resolve()
        if source == output_dir or source.is_relative_to(output_dir):
            raise ValueError(
                f"The output directory {output_dir} is or contains the input {source}, which writing it would destroy; "
                "choose a new folder."
            )
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"The output directory {output_dir} is a file; choose a folder.")
    entries = sorted(entry.name for entry in output_dir.iterdir()) if output_dir.is_dir() else []
    if not entries:
        return output_dir
    if "config.json" not in entries:
        raise ValueError(
            f"The output directory {output_dir} already exists, is not empty and is not a checkpoint (no config.json); "
            "it would be replaced as a whole. Choose a new or empty folder, or remove it yourself first."
        )
    if own_entries is not None:
        others = [name for name in entries if not any(fnmatch.fnmatchcase(name, pattern) for pattern in own_entries)]
        if others:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            raise ValueError(
                f"The output directory {output_dir} holds files this tool did not write ({shown}); it would be "
                "replaced as a whole and they would be lost. Choose a new or empty folder, or move them away first "
                "(a previous output of the same tool is replaced without asking)."
            )
    return output_dir
