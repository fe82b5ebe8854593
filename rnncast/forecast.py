"""Forecasting strategies over any one-pass predictor.

A predictor maps windows ``[n, window, columns]`` (scaled) to ``[n, steps, outputs]``.
An autoregressive network predicts one step of every column, which is fed back; a direct
network predicts ``steps`` steps of the targets at once, and longer horizons chain blocks
(possible only when every input column is a target, since other inputs have no future).
Outputs are in column order, so a block that covers every column can be appended as is.
"""

from __future__ import annotations

import sys
import types
from typing import Callable

import numpy as np

from rnncast.errors import UsageError

Predictor = Callable[[np.ndarray], np.ndarray]


def rollout(predict: Predictor, windows: np.ndarray, horizon: int, target_index: list[int]) -> np.ndarray:
    """Forecast ``horizon`` steps of the target columns from each window.

    Returns:
        An array ``[n, horizon, len(target_index)]`` in the windows' (scaled) units.

    Raises:
        UsageError: the horizon needs chained blocks but some inputs are not targets.
    """
    window, n_columns = windows.shape[1:]
    history = windows.astype(np.float32)
    blocks = []
    produced = 0
    while produced < horizon:
        block = np.asarray(predict(history[:, -window:]), dtype=np.float32)
        predicts_every_column = block.shape[-1] == n_columns
        blocks.append(block[..., target_index] if predicts_every_column else block)
        produced += block.shape[1]
        if produced >= horizon:
            break
        if not predicts_every_column:
            raise UsageError(
                f"this direct model predicts {block.shape[1]} steps and --horizon {horizon} needs more, "
                "but its other input columns have no future values to chain on; "
                f"use --horizon {block.shape[1]} or less, or train with a longer --horizon or --strategy autoregressive."
            )
        history = np.concatenate([history[:, -window:], block], axis=1)
    return np.concatenate(blocks, axis=1)[:, :horizon]


def keras_predictor(model) -> Predictor:
    """Deterministic one-pass predictions of a Keras model, in batches."""

    def predict(windows: np.ndarray) -> np.ndarray:
        return model.predict(windows, batch_size=1024, verbose=0)

    return predict


class _CallableModule(types.ModuleType):
    """Importing this module shadows the package's ``rnncast.forecast()`` function with the module
    itself, so the module forwards calls to the API: ``rnncast.forecast(...)`` works either way."""

    def __call__(self, *args, **kwargs):
        from rnncast.api import forecast

        return forecast(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
