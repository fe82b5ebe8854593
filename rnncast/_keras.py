"""The one place TensorFlow and Keras are imported, quietly unless asked otherwise."""

from __future__ import annotations

import logging
import os
import warnings
from types import ModuleType

VERBOSE_ENV = "RNNCAST_VERBOSE"


def import_keras() -> ModuleType:
    """Import Keras on the TensorFlow backend with TensorFlow's chatter silenced."""
    verbose = os.environ.get(VERBOSE_ENV) == "1"
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
        warnings.filterwarnings("ignore", module=r"(keras|tensorflow|absl)(\.|$)")
    import keras

    if not verbose:
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.ERROR)
    return keras
