"""File locks that let ytgraph processes take turns: one at a time starts or stops a managed server,
one at a time loads into a count state.

An exclusive ``fcntl.flock`` on a small file. The kernel drops it when its holder exits, however it
exits (kill -9 included), so a lock is never left behind; the file itself stays and is harmless. The
holder writes its pid into the file, so a process that has to wait can say who it waits for.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ytgraph.errors import BusyError

POLL_S = 0.1


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def holder(path: Path) -> str:
    """The pid recorded in a lock file ('?' when there is none yet)."""
    try:
        return path.read_text().strip() or "?"
    except OSError:
        return "?"


@contextlib.contextmanager
def exclusive(
    path: Path,
    *,
    timeout: float,
    busy: Callable[[str], str],
    waiting: Callable[[str], object] | None = None,
    quiet_s: float = 0.0,
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the ``with`` block.

    When another process holds it: wait up to ``timeout`` seconds (0: not at all), calling
    ``waiting`` once with its pid if the wait lasts more than ``quiet_s``; past the timeout, raise
    ``BusyError(busy(pid))``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # os.open's descriptors are not inherited by child processes, so a server started under the
    # lock does not keep holding it after this process lets go.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd):
            if timeout <= 0:
                raise BusyError(busy(holder(path)))
            start = time.monotonic()
            said = False
            while not _try_lock(fd):
                now = time.monotonic()
                if now - start >= timeout:
                    raise BusyError(busy(holder(path)))
                if waiting is not None and not said and now - start >= quiet_s:
                    said = True
                    waiting(holder(path))
                time.sleep(POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
