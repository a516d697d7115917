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
"""What every `condenser-*` command does with an error: a short message and a non-zero exit, no traceback.

Bad input (a malformed file, a wrong flag combination, a missing extra, a full disk) surfaces as `ValueError`,
`TypeError`, `OSError` or `ImportError` raised at our API boundary with a message that names the problem and the fix.
[`cli_entry_point`] turns those into one line on standard error and exit status 1, and Ctrl-C into exit status 130
with an optional hint (how to resume). `--debug` on the command line, or `CONDENSER_DEBUG=1` in the environment, lets
the traceback through instead, for bug reports.
"""

import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any


DEBUG_ENV = "CONDENSER_DEBUG"
"""Environment variable that, set to anything but empty or `0`, shows the full traceback of an error."""

DEBUG_FLAG = "--debug"
"""Command-line flag every `condenser-*` command accepts with the same effect as `CONDENSER_DEBUG=1`."""

EXIT_ERROR = 1
"""Exit status of a command stopped by bad input (argparse's usage errors keep their status 2)."""

EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError, ImportError)
"""Errors that mean bad input or a bad environment rather than a bug: reported without a traceback."""


def debug_requested(argv: Sequence[str] | None = None) -> bool:
    """Whether `--debug` is in `argv` (default: `sys.argv[1:]`) or `CONDENSER_DEBUG` is set to a true value."""
    argv = sys.argv[1:] if argv is None else argv
    return DEBUG_FLAG in argv or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def _text(error: BaseException) -> str:
    """`str(error)`, without the `[Errno N]` prefix of an `OSError` (the file it names is kept)."""
    if isinstance(error, OSError) and error.strerror:
        text = str(error.strerror)
        if error.filename is not None and str(error.filename) not in text:
            text += f": {error.filename}"
        return text
    return str(error)


def error_message(error: BaseException) -> str:
    """One line (or a few) for the user: the error's own message, and the messages of the errors it wraps when they
    add something (libraries such as `datasets` wrap the real cause in a generic error)."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = _text(current).strip()
        if text and not any(text in part for part in parts):
            parts.append(text)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    if not parts:
        return type(error).__name__
    return parts[0] if len(parts) == 1 else parts[0] + "\n  caused by: " + "\n  caused by: ".join(parts[1:])


def cli_entry_point(
    prog: str, interrupt_hint: Callable[[], str | None] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate the `main(argv=None)` of a command-line tool so that bad input ends it cleanly.

    The decorated `main`:

    - removes `--debug` from `argv` (so the tool's parser never sees it) and, with `--debug` or `CONDENSER_DEBUG=1`,
      lets every exception through unchanged;
    - otherwise prints `"{prog}: error: {message}"` to standard error for a [`USER_ERRORS`] exception and exits with
      status 1; the exception's causes are named on the following lines;
    - on Ctrl-C prints `"{prog}: interrupted"` and `interrupt_hint()` (when it returns a line), and exits with 130;
    - returns what `main` returns otherwise (`None` or an exit status), and lets `SystemExit` (argparse) through.

    Example:

    ```python
    >>> from transformers_condenser.cli_utils import cli_entry_point

    >>> @cli_entry_point("condenser-example")
    ... def main(argv=None):
    ...     raise ValueError("data/corpus.jsonl, line 3: not valid JSON. Fix the line or pass --skip_bad_records.")

    >>> try:
    ...     main([])
    ... except SystemExit as stop:
    ...     print("exit status", stop.code)
    exit status 1
    ```
    """

    def decorate(main: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(main)
        def wrapper(argv: Sequence[str] | None = None) -> Any:
            arguments = list(sys.argv[1:] if argv is None else argv)
            debug = debug_requested(arguments)
            arguments = [argument for argument in arguments if argument != DEBUG_FLAG]
            if debug:
                return main(arguments)
            try:
                return main(arguments)
            except KeyboardInterrupt:
                sys.stdout.flush()
                print(f"\n{prog}: interrupted", file=sys.stderr)
                hint = interrupt_hint() if interrupt_hint is not None else None
                if hint:
                    print(hint, file=sys.stderr)
                raise SystemExit(EXIT_INTERRUPTED) from None
            except USER_ERRORS as error:
                sys.stdout.flush()
                print(f"{prog}: error: {error_message(error)}", file=sys.stderr)
                print(f"(run again with {DEBUG_FLAG} or {DEBUG_ENV}=1 for the full traceback)", file=sys.stderr)
                raise SystemExit(EXIT_ERROR) from None

        return wrapper

    return decorate


# Internal to the command-line tools: nothing here is part of the package's public API.
__all__: list[str] = []
