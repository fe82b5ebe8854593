"""Advisory file locks on a model directory, so that overlapping cron jobs cannot collide.

Two locks: ``.train.lock`` is held by a training run from start to save, so a second
training waits or gives up; ``.files.lock`` is held exclusively only while a save publishes
its files and shared while a forecast reads them, so forecasts never wait for a training.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Iterator

from rnncast.errors import LockTimeout

POLL_SECONDS = 0.1


@contextlib.contextmanager
def hold(path: Path, *, exclusive: bool, timeout: float, purpose: str) -> Iterator[None]:
    """Hold the lock file ``path`` for the block, waiting at most ``timeout`` seconds.

    Raises:
        LockTimeout: another process held it for the whole timeout.
    """
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        if exclusive:
            raise
        yield  # a read-only model directory: nobody can be writing to it either
        return
    try:
        _acquire(descriptor, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, timeout, path, purpose)
        if exclusive:
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(descriptor)


def _acquire(descriptor: int, mode: int, timeout: float, path: Path, purpose: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = path.read_text(encoding="utf-8", errors="replace").strip() or "unknown"
                raise LockTimeout(
                    f"{path.parent}: another rnncast process (pid {holder}) is {purpose}; waited {timeout:g} s. "
                    "Try again later, or pass --lock-timeout SECONDS to wait longer."
                ) from None
            time.sleep(POLL_SECONDS)
