"""Holt-Winters exponential smoothing (damped additive trend, additive season) as a fixed linear map
of the window: the ``holt-winters`` baseline.

Started inside the window (level and season from its first season, trend from its first two) and
run over the rest, the smoothing recurrence with fixed parameters is linear in the window's values,
so its forecast of every step is a weighted sum of them: a ``[steps, window]`` matrix, which a
Keras layer applies and ONNX exports as any other. The parameters are the grid's point whose
``steps``-step forecasts of the training windows have the lowest MAE, the criterion rnncast's
fallback judges by. Positive columns are smoothed in logs, where a season that grows with the
level (most sales, passengers, counts) is additive: on 19 short real series with three origins
each, 0.713 geometric mean relative MASE against 0.764 additive (benchmarks/README.md).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Sequence

import numpy as np

from rnncast.windows import origins

# Smoothing of the level (alpha), trend (beta) and season (gamma), and damping of the trend (phi).
GRID = tuple(itertools.product((0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9), (0.0, 0.02, 0.05, 0.1, 0.2),
                               (0.0, 0.05, 0.1, 0.2, 0.4), (0.8, 0.9, 0.98)))
# The window the smoothing starts in: this many seasons (a non-seasonal series: of 4 rows), as far as
# the training rows allow while leaving FIT_WINDOWS windows to choose the parameters on. A longer
# start than the network's window is what brings the smoothing near a full-history one.
WINDOW_SEASONS = 6
FIT_WINDOWS = 16
# Windows of a long series the parameters are chosen on, evenly spaced: the grid then takes about a
# second however long the series.
FIT_LIMIT = 1000


@dataclasses.dataclass(frozen=True)
class Smoothing:
    """The parameters chosen for one column, whether it is smoothed in logs, and the training MAE."""

    alpha: float
    beta: float
    gamma: float
    phi: float
    log: bool
    mae: float

    def to_dict(self) -> dict[str, float | bool]:
        return dataclasses.asdict(self)


def smoothing_window(season: int | None, window: int, rows: int, steps: int) -> int:
    """The window to start the smoothing in: ``WINDOW_SEASONS`` seasons where ``rows`` training rows
    leave ``FIT_WINDOWS`` windows of ``steps`` steps after it, never shorter than ``window``."""
    return max(window, min(WINDOW_SEASONS * max(season or 1, 4), rows - steps - FIT_WINDOWS + 1))


def smoothing_map(window: int, steps: int, season: int | None, alpha: float, beta: float, gamma: float, phi: float) -> np.ndarray:
    """The ``[steps, window]`` matrix of the forecast of smoothing with these parameters started in the window."""
    x = np.eye(window)
    seasonal = bool(season and 1 < season <= window)
    m = season if seasonal else 1
    if seasonal:
        level = x[:m].mean(axis=0)
        trend = (x[m : 2 * m].mean(axis=0) - level) / m if window >= 2 * m else np.zeros(window)
        # The first season's mean is the level at its middle; move it to its last row.
        level = level + trend * (m - 1) / 2
        indices = list(x[:m] - level)
    else:
        level, trend, gamma = x[0], (x[1] - x[0] if window > 1 else np.zeros(window)), 0.0
        indices = [np.zeros(window)]
    for t in range(m, window):
        phase = t % m
        previous = level
        level = alpha * (x[t] - indices[phase]) + (1 - alpha) * (level + phi * trend)
        trend = beta * (level - previous) + (1 - beta) * phi * trend
        indices[phase] = gamma * (x[t] - level) + (1 - gamma) * indices[phase]
    damping = np.cumsum(phi ** np.arange(1, steps + 1))
    return np.stack([level + damping[h] * trend + indices[(window + h) % m] for h in range(steps)])


def fit_smoothing(series: Sequence[np.ndarray], window: int, steps: int, season: int | None, log: bool,
                  offsets: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, Smoothing]:
    """The map and parameters of the grid point whose ``steps``-step forecasts of every window of
    ``series`` (one column's values as smoothed, per series, pooled) have the lowest MAE; ``log``:
    the values are logs, judged back in their units; ``offsets``: what the known inputs add to
    each row (``known_effect``), left out of the smoothing and added back to each step."""
    offsets = offsets if offsets is not None else [np.zeros(len(values)) for values in series]
    windows, future, added = [], [], []
    for values, offset in zip(series, offsets):
        starts = origins(len(values), window, steps, FIT_LIMIT)
        ahead = starts[:, None] + window + np.arange(steps)
        windows.append(values[starts[:, None] + np.arange(window)])
        future.append(values[ahead] + offset[ahead])
        added.append(offset[ahead])
    x, y, added = np.concatenate(windows), np.concatenate(future), np.concatenate(added)
    units = (lambda values: np.exp(np.minimum(values, 700))) if log else (lambda values: values)
    actual = units(y)
    best = None
    for alpha, beta, gamma, phi in GRID:
        if gamma and not (season and 1 < season <= window):
            continue
        matrix = smoothing_map(window, steps, season, alpha, beta, gamma, phi)
        mae = float(np.abs(units(x @ matrix.T + added) - actual).mean())
        if best is None or mae < best[1].mae:
            best = matrix, Smoothing(alpha, beta, gamma, phi, log, mae)
    return best


def known_effect(series: Sequence[np.ndarray], known: Sequence[np.ndarray], season: int | None) -> np.ndarray:
    """Least-squares weights of the known inputs (``[rows, sources]`` per series) on the values as
    smoothed, in differences over a season (one row without), which leave out the level, trend and
    season the smoothing follows, as AutoARIMA's regression on its differenced series does."""
    lag = season if season and season > 1 else 1
    changes = np.concatenate([k[lag:] - k[:-lag] for k in known])
    values = np.concatenate([v[lag:] - v[:-lag] for v in series])
    return np.linalg.lstsq(changes, values, rcond=None)[0]


def set_smoothing(network, rows: Sequence[np.ndarray], scalers: Sequence, shape, season: int | None, names: Sequence[str]) -> dict[str, dict]:
    """Fit the smoothing of each output column of ``shape`` on the standardised training rows of each
    series (``rows``, pooled; ``scalers`` undo the standardisation) and set the weights of the
    ``forecast`` layer of ``network`` (``models``' holt-winters); returns each column's parameters
    by name (``names``) for the model card. One series is smoothed in logs where its column is
    positive; many share one map, in their standardised units. With known inputs (``shape.leads``)
    their effect is fitted first and smoothed around."""
    sources = list(shape.leads[0]) if shape.leads else []
    scaler = scalers[0]
    kernels, logs, means, scales, floors, effects, fits = [], [], [], [], [], [], {}
    for column in shape.outputs:
        original = scaler.inverse(rows[0][:, [column]], [column])[:, 0]
        log = len(rows) == 1 and bool((original > 0).all())
        series = [np.log(original)] if log else [one[:, column] for one in rows]
        effect = known_effect(series, [one[:, sources] for one in rows], season) if sources else np.zeros(0)
        offsets = [one[:, sources] @ effect for one in rows] if sources else None
        smoothed = [values - offset for values, offset in zip(series, offsets)] if sources else series
        matrix, fitted = fit_smoothing(smoothed, shape.window, shape.steps, season, log, offsets)
        kernels.append(matrix)
        logs.append(float(log))
        means.append(scaler.mean[column] if log else 0.0)
        scales.append(scaler.scale[column] if log else 1.0)
        floors.append(original.min() / 2 if log else 1.0)
        effects.append(effect)
        fits[names[column]] = {**fitted.to_dict(), **({"known": dict(zip([names[i] for i in sources], effect.tolist()))} if sources else {})}
    weights = [np.stack(kernels)] + [np.asarray(v) for v in (logs, means, scales, floors)] + ([np.stack(effects)] if sources else [])
    network.get_layer("forecast").set_weights([w.astype(np.float32) for w in weights])
    return fits
