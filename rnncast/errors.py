"""Errors the library raises and the exit status each one maps to.

Only the CLI turns these into messages and exit codes; the library just raises.
"""

from __future__ import annotations

import enum


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
