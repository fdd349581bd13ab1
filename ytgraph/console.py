"""How long-running library calls report to a person, without knowing whether a terminal listens.

A library function takes ``echo`` (a line of news) and ``progress`` (stage, done, total) callbacks;
the CLI passes ones that draw on the terminal, a notebook passes its own or none.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

Echo = Callable[[str], None]
Progress = Callable[[str, int, int], None]  # (stage, done, total)


def stderr_line(msg: str) -> None:
    """The default ``echo``: one line on stderr, so stdout stays clean for ``--json``."""
    print(msg, file=sys.stderr)


def quiet(_msg: str) -> None:
    """An ``echo`` that says nothing."""


def no_progress(_stage: str, _done: int, _total: int) -> None:
    """A ``progress`` that shows nothing."""
