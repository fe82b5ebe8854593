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

from rnncast.errors import UNWRITABLE, LockTimeout

POLL_SECONDS = 0.1


@contextlib.contextmanager
def hold(path: Path, *, exclusive: bool, timeout: float, purpose: str, remove: bool = False) -> Iterator[None]:
    """Hold the lock file ``path`` for the block, waiting at most ``timeout`` seconds.

    A shared lock in a directory where the lock file cannot be created is skipped: see ``_open``.
    With ``remove``, the lock file is deleted on release (while still held), so it is not left
    behind; a waiter that then gets the lock on the deleted file notices and locks the new one.

    Raises:
        LockTimeout: another process held it for the whole timeout.
        OSError: an exclusive lock file cannot be created (a read-only or full directory).
    """
    deadline = time.monotonic() + timeout
    while True:
        descriptor = _open(path, exclusive, remove)
        if descriptor is None:
            yield
            return
        try:
            _acquire(descriptor, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, deadline, timeout, path, purpose)
        except BaseException:
            os.close(descriptor)
            raise
        if not remove or _is_current(descriptor, path):
            break
        os.close(descriptor)
    try:
        if exclusive:
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode())
        yield
    finally:
        if remove:
            path.unlink(missing_ok=True)
        os.close(descriptor)


def _open(path: Path, exclusive: bool, remove: bool) -> int | None:
    """A descriptor of the lock file, created if missing; None for a shared lock that cannot be had.

    A shared lock needs only a readable file, so a model trained elsewhere and then mounted
    read-only (a container image, NFS) still takes it. Where the file cannot be created, reading
    goes unlocked: on a read-only mount nobody can replace the model; where only permissions stop
    us, its owner's save may delete the old files under us, which the hash check of every file
    refuses (``store.load``: "train again"), never a mix of two models.
    """
    if exclusive:
        if remove:  # the previous holder may have removed the directory along with the lock file
            path.parent.mkdir(exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        return os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError as error:
        if error.errno in UNWRITABLE:
            return None
        raise


def _is_current(descriptor: int, path: Path) -> bool:
    """Whether the locked file is still the one at ``path`` (not deleted by its previous holder)."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    locked = os.fstat(descriptor)
    return (locked.st_dev, locked.st_ino) == (current.st_dev, current.st_ino)


def _acquire(descriptor: int, mode: int, deadline: float, timeout: float, path: Path, purpose: str) -> None:
    while True:
        try:
            fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                try:
                    holder = path.read_text(encoding="utf-8", errors="replace").strip() or "unknown"
                except FileNotFoundError:  # its holder removed it on release, just now
                    holder = "unknown"
                raise LockTimeout(
                    f"{path.parent}: another rnncast process (pid {holder}) is {purpose}; waited {timeout:g} s. "
                    "Try again later, or pass --lock-timeout SECONDS to wait longer."
                ) from None
            time.sleep(POLL_SECONDS)
