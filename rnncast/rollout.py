"""Forecasting strategies over any one-pass predictor.

A predictor maps windows ``[n, window, columns]`` (scaled) to ``[n, steps, outputs]``.
An autoregressive network predicts one step of every column but the known-future inputs, which
is fed back with the known inputs' next row; a direct network predicts ``steps`` steps of the
targets at once, and longer horizons chain blocks (possible only when every other input column
is known for the horizon). Outputs are in column order, so that blocks can be appended as rows.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from rnncast.errors import UsageError

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True)
class MCOptions:
    """MC-Dropout error bars: stochastic passes, the central interval, calibrated or raw, and a seed."""

    samples: int = 200
    interval: float = 0.9
    calibrate: bool = True
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.samples < 2:
            raise UsageError(f"`--mc-samples` must be at least 2 (a spread needs several passes). Received: {self.samples}.")
        if not 0 < self.interval < 1:
            raise UsageError(f"`--interval` must be in (0, 1), e.g. 0.9 for a 90% interval. Received: {self.interval}.")

    @classmethod
    def asked(cls, samples: int | None, interval: float | None = None, calibrate: bool = True,
              seed: int | None = None) -> "MCOptions | None":
        """The error bars ``--mc-samples`` and ``--interval`` ask for (None: none); an interval without samples is a ``UsageError``."""
        if samples is None:
            if interval is not None:
                raise UsageError(f"`--interval {interval}` sets the error bars of --mc-samples, which was not given; "
                                 "add --mc-samples N (e.g. 200) or drop --interval.")
            return None
        return cls(samples, cls.interval if interval is None else interval, calibrate, seed)


def rollout(predict: Predictor, windows: np.ndarray, horizon: int, target_index: list[int],
            outputs: list[int] | None = None, future: np.ndarray | None = None) -> np.ndarray:
    """Forecast ``horizon`` steps of the target columns from each window.

    Args:
        outputs: the columns a block predicts when it is not as wide as a window (default: the
            targets); an autoregressive network with known-future inputs predicts all but those.
        future: the rows after each window, ``[n, horizon, columns]`` (scaled), whose values fill
            the columns a block does not predict when it is fed back: the known-future inputs.
            Only those columns are read, so rows of actual values (a backtest's) leak nothing.

    Returns:
        An array ``[n, horizon, len(target_index)]`` in the windows' (scaled) units.

    Raises:
        UsageError: the horizon needs chained blocks but some inputs have no future values.
    """
    window, n_columns = windows.shape[1:]
    history = windows.astype(np.float32)
    blocks = []
    produced = 0
    while produced < horizon:
        block = np.asarray(predict(history[:, -window:]), dtype=np.float32)
        predicted = list(range(n_columns)) if block.shape[-1] == n_columns else list(outputs or target_index)
        blocks.append(block[..., [predicted.index(t) for t in target_index]])
        produced += block.shape[1]
        if produced >= horizon:
            break
        rows = _rows_after(block, predicted, n_columns, None if future is None else future[:, produced - block.shape[1] : produced])
        if rows is None:
            raise UsageError(
                f"this direct model predicts {block.shape[1]} steps and --horizon {horizon} needs more, "
                "but its other input columns have no future values to chain on; "
                f"use --horizon {block.shape[1]} or less, or train with a longer --horizon or --strategy autoregressive."
            )
        history = np.concatenate([history[:, -window:], rows], axis=1)
    return np.concatenate(blocks, axis=1)[:, :horizon]


def _rows_after(block: np.ndarray, predicted: list[int], n_columns: int, future: np.ndarray | None) -> np.ndarray | None:
    """The rows a block adds to the history: its predictions, and the future's values in the other
    columns; None when some column has neither."""
    if len(predicted) == n_columns:
        return block
    if future is None or future.shape[1] < block.shape[1]:
        return None
    rows = np.array(future[:, : block.shape[1]], dtype=np.float32)
    rows[..., predicted] = block
    return None if np.isnan(rows).any() else rows


def keras_predictor(model) -> Predictor:
    """Deterministic one-pass predictions of a Keras model, in batches."""

    def predict(windows: np.ndarray) -> np.ndarray:
        return model.predict(windows, batch_size=1024, verbose=0)

    return predict


def stochastic_predictor(model, seed: int | None = None, batch_size: int = 4096) -> Predictor:
    """One pass per window with dropout active (``model(x, training=True)``), in batches.

    Every dropout layer draws fresh masks on each call, so repeated copies of a window give
    independent MC-Dropout samples. The generators are reseeded from ``seed`` first: a loaded
    network gets fresh random generator states, so without this MC output could not be repeated.
    """
    import tensorflow as tf

    generators = [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]
    seeds = np.random.default_rng(seed).integers(1, 2**31, size=len(generators))
    for variable, value in zip(generators, seeds):
        variable.assign(np.array([value, 0], dtype=variable.dtype))
    # A traced call runs the recurrent loop as one graph rather than op by op.
    call = tf.function(lambda x: model(x, training=True), reduce_retracing=True)

    def predict(windows: np.ndarray) -> np.ndarray:
        return np.concatenate([call(windows[i : i + batch_size]).numpy() for i in range(0, len(windows), batch_size)])

    return predict


def has_dropout(model) -> bool:
    """Whether any layer of the network, nested ones included, drops units in training mode."""
    for layer in model.layers:
        rates = (getattr(layer, name, 0) for name in ("rate", "dropout", "recurrent_dropout"))
        if any(isinstance(r, float) and r > 0 for r in rates) or (hasattr(layer, "layers") and has_dropout(layer)):
            return True
    return False


def mc_rollout(predict: Predictor, windows: np.ndarray, horizon: int, target_index: list[int], samples: int,
               outputs: list[int] | None = None, future: np.ndarray | None = None) -> np.ndarray:
    """``samples`` stochastic forecasts of each window, all passes in the same batched calls.

    Each window is repeated ``samples`` times and rolled out as one batch, so an autoregressive
    (or chained direct) sample feeds back its own predictions and draws its own masks at every
    step: each sample is its own trajectory and uncertainty compounds with the horizon.
    ``outputs`` and ``future`` are ``rollout``'s.

    Returns:
        An array ``[n, samples, horizon, len(target_index)]`` in the windows' (scaled) units.
    """
    repeated = np.repeat(windows, samples, axis=0)
    future = None if future is None else np.repeat(future, samples, axis=0)
    paths = rollout(predict, repeated, horizon, target_index, outputs, future)
    return paths.reshape(len(windows), samples, *paths.shape[1:])
