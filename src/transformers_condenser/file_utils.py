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

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


# The staging folder of `atomic_update`, inside the updated folder: hidden, and the same name in every process.
STAGING_NAME = ".staging.tmp"


@contextmanager
def atomic_directory(output_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of `output_dir` to write into; on success, swap it in place of `output_dir`.

    If the block raises (or the process is killed), the temporary directory is removed (or left as a hidden
    `.NAME.tmp-*` sibling) and a previous `output_dir` is left untouched: an interrupted run never destroys earlier
    output nor leaves a half-written one under the final name.

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
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.tmp-", dir=output_dir.parent))
    try:
        yield staging
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


def check_output_dir(output_dir: str | os.PathLike, *inputs: str | os.PathLike) -> Path:
    """Refuse an output directory whose replacement would destroy data: one that is, or contains, an input, or an
    existing non-empty directory that is not a checkpoint (no `config.json`), e.g. a parent folder given by mistake.

    Returns:
        `Path`: the resolved output directory.

    Raises:
        `ValueError`: naming the clash and what to pass instead.
    """
    output_dir = Path(output_dir).resolve()
    for source in inputs:
        source = Path(source).resolve()
        if source == output_dir or source.is_relative_to(output_dir):
            raise ValueError(
                f"The output directory {output_dir} is or contains the input {source}, which writing it would destroy; "
                "choose a new folder."
            )
    if output_dir.is_dir() and any(output_dir.iterdir()) and not (output_dir / "config.json").is_file():
        raise ValueError(
            f"The output directory {output_dir} already exists, is not empty and is not a checkpoint (no config.json); "
            "it would be replaced as a whole. Choose a new or empty folder, or remove it yourself first."
        )
    return output_dir
