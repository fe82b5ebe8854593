"""Errors the library raises and the exit status each one maps to.

Only the CLI turns these into messages and exit codes; the library just raises.
"""

from __future__ import annotations

import enum
import errno


class ExitStatus(enum.IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    BAD_DATA = 3
    MODEL = 4
    LOCK_TIMEOUT = 5
    DIVERGED = 6
    ENVIRONMENT = 7
    INTERRUPTED = 130
    # 128 + SIGPIPE: what a shell reports for a C tool stopped by a closed pipe (`| head -1`), so
    # `set -o pipefail` scripts see rnncast as they see cat or grep, and an output cut short is not 0.
    BROKEN_PIPE = 141


class RnncastError(Exception):
    """Base class of every error a user can cause."""

    exit_status = ExitStatus.FAILURE


class UsageError(RnncastError):
    """An option or a combination of options is invalid."""

    exit_status = ExitStatus.USAGE


class DataError(RnncastError):
    """The data file cannot be used as it is."""

    exit_status = ExitStatus.BAD_DATA


class ModelFileError(RnncastError):
    """The saved model is missing, damaged or from an incompatible version."""

    exit_status = ExitStatus.MODEL


class LockTimeout(RnncastError):
    """Another rnncast process holds the model directory."""

    exit_status = ExitStatus.LOCK_TIMEOUT


class TrainingDiverged(RnncastError):
    """The loss became NaN or infinite."""

    exit_status = ExitStatus.DIVERGED


class EnvironmentFailure(RnncastError):
    """The machine, not the user's input, stopped the command: a full disk, a read-only
    directory, a closed or full standard output."""

    exit_status = ExitStatus.ENVIRONMENT


# The errors of a full disk or quota, and of a directory this process cannot write (a read-only
# mount; permissions, when not root): the machine's doing, so EnvironmentFailure, not a usage error.
OUT_OF_SPACE = (errno.ENOSPC, errno.EDQUOT)
UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)
ENVIRONMENT_ERRNOS = (*OUT_OF_SPACE, *UNWRITABLE)
