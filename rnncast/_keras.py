"""The one place TensorFlow and Keras are imported, quietly unless asked otherwise."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from types import ModuleType

VERBOSE_ENV = "RNNCAST_VERBOSE"


def import_keras() -> ModuleType:
    """Import Keras on the TensorFlow backend with TensorFlow's chatter silenced."""
    verbose = os.environ.get(VERBOSE_ENV) == "1"
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if verbose:
        import keras

        return keras
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", module=r"(keras|tensorflow|absl)(\.|$)")
    with _native_stderr_held():
        import keras
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    return keras


@contextlib.contextmanager
def _native_stderr_held() -> Iterator[None]:
    """Hold file descriptor 2 on a temporary file, and show what it caught only on failure.

    TensorFlow's native libraries log at load time ("oneDNN custom operations are on", on CPUs
    where TensorFlow enables oneDNN) through absl before any log level applies, so
    TF_CPP_MIN_LOG_LEVEL cannot stop them; a cron job would mail them on every run.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no standard error to protect
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            caught.seek(0)
            sys.stderr.write(caught.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
