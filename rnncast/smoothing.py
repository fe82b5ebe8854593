"""Holt-Winters exponential smoothing (damped additive trend, additive season) as a fixed linear map
of the window: the ``holt-winters`` baseline.

Started inside the window (level from its first season, trend from its first two, season from
the first season around that trend) and
run over the rest, the smoothing recurrence with fixed parameters is linear in the window's values,
so its forecast of every step is a weighted sum of them: a ``[steps, window]`` matrix, which a
Keras layer applies and ONNX exports as any other. The window is as much of the training rows as
``WINDOW_SEASONS`` allows, and the parameters are the grid's point whose one-step-ahead errors over
it have the least sum of squares, as ETS fits its own. Positive columns are smoothed in logs, where
a season that grows with the level (most sales, passengers, counts) is additive: on 19 short real
series with three origins each, 0.713 geometric mean relative MASE against 0.764 additive
(benchmarks/README.md).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Sequence

import numpy as np

# Smoothing of the level (alpha), trend (beta) and season (gamma), and damping of the trend (phi).
GRID = tuple(itertools.product((0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9), (0.0, 0.02, 0.05, 0.1, 0.2),
                               (0.0, 0.05, 0.1, 0.2, 0.4), (0.8, 0.9, 0.98)))
# The longest window, in seasons (a series without a season: of 4 rows): the map is a layer's
# weights, ``[steps, window]`` per column, and at most of the grid's points the start matters little
# twenty seasons on. Started as far back as the training rows allow, the smoothing is one over the whole history, as
# ETS runs: on the M1 and tourism sets (benchmarks/README.md) 0.743 against 0.817 geometric mean
# relative MASE on M1 quarterly, 0.793 against 0.914 on M1 monthly, than in a window of six seasons
# with the parameters chosen on the h-step errors of the windows after it.
WINDOW_SEASONS = 20


@dataclasses.dataclass(frozen=True)
class Smoothing:
    """The parameters chosen for one column, whether it is smoothed in logs, and the MAE of its
    one-step-ahead forecasts of the training rows, in the column's units."""

    alpha: float
    beta: float
    gamma: float
    phi: float
    log: bool
    mae: float

    def to_dict(self) -> dict[str, float | bool]:
        return dataclasses.asdict(self)


def smoothing_window(season: int | None, window: int, rows: int) -> int:
    """The window to run the smoothing in: the ``rows`` training rows, up to ``WINDOW_SEASONS``
    seasons, never shorter than ``window``."""
    return max(window, min(WINDOW_SEASONS * max(season or 1, 4), rows))


def calibration_window(season: int | None, window: int, rows: int, steps: int, windows: int) -> int:
    """The window whose ``steps``-step errors over a history of ``rows`` calibrate the intervals:
    ``window`` where the history leaves ``windows`` windows after it, else shorter, down to two
    seasons (eight rows without a season)."""
    return min(window, max(2 * max(season or 1, 4), rows - steps - windows + 1))


def smoothing_map(window: int, steps: int, season: int | None, alpha: float, beta: float, gamma: float, phi: float) -> np.ndarray:
    """The ``[steps, window]`` matrix of the forecast of smoothing with these parameters started in the window."""
    forecast, _ = _smooth(np.eye(window), steps, season, *(np.array([[p]]) for p in (alpha, beta, gamma, phi)))
    return forecast[0]


def _smooth(x: np.ndarray, steps: int, season: int | None, alpha, beta, gamma, phi) -> tuple[np.ndarray, np.ndarray]:
    """Run the smoothing over the rows of ``x [rows, k]`` for each of ``G`` parameter points (arrays
    ``[G, 1]``): the ``[G, steps, k]`` forecasts after the last row, and the ``[G, rows - start, k]``
    one-step-ahead errors of the rows after the start-up season (the first row without a season)."""
    rows = len(x)
    seasonal = bool(season and 1 < season <= rows)
    m = season if seasonal else 1
    if seasonal:
        middle = x[:m].mean(axis=0)
        trend = (x[m : 2 * m].mean(axis=0) - middle) / m if rows >= 2 * m else np.zeros_like(middle)
        # The first season's mean is the level at its middle: each row's index is what it holds
        # beyond the level at that row, and the level starts at the season's last row.
        indices = [np.broadcast_to(x[i] - middle - trend * (i - (m - 1) / 2), (len(alpha), x.shape[1])) for i in range(m)]
        level = middle + trend * (m - 1) / 2
    else:
        level, trend, gamma = x[0], (x[1] - x[0] if rows > 1 else np.zeros_like(x[0])), np.zeros_like(gamma)
        indices = [np.zeros((len(alpha), x.shape[1]))]
    level, trend = np.broadcast_to(level, (len(alpha), x.shape[1])), np.broadcast_to(trend, (len(alpha), x.shape[1]))
    errors = []
    for t in range(m, rows):
        phase = t % m
        previous = level
        errors.append(x[t] - (level + phi * trend + indices[phase]))
        level = alpha * (x[t] - indices[phase]) + (1 - alpha) * (level + phi * trend)
        trend = beta * (level - previous) + (1 - beta) * phi * trend
        indices[phase] = gamma * (x[t] - level) + (1 - gamma) * indices[phase]
    damping = np.cumsum(phi[:, :, None] ** np.arange(1, steps + 1), axis=-1)  # [G, 1, steps]
    forecast = np.stack([level + damping[:, :, h] * trend + indices[(rows + h) % m] for h in range(steps)], axis=1)
    return forecast, np.stack(errors, axis=1) if errors else np.zeros((len(alpha), 0, x.shape[1]))


def fit_smoothing(series: Sequence[np.ndarray], window: int, steps: int, season: int | None, log: bool,
                  offsets: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, Smoothing]:
    """The map and parameters of the grid point whose one-step-ahead forecasts of the last
    ``window`` rows of every one of ``series`` (one column's values as smoothed, per series, pooled)
    have the least sum of squared errors; ``log``: the values are logs; ``offsets``: what the known
    inputs add to each row (``known_effect``), left out of the smoothing and added back to each step."""
    grid = np.array([point for point in GRID if not point[2] or (season and 1 < season <= window)])
    parameters = [grid[:, [i]] for i in range(4)]
    squares = np.zeros(len(grid))
    for values in series:
        squares += (_smooth(values[-window:, None], 1, season, *parameters)[1][..., 0] ** 2).sum(axis=1)
    best = grid[int(np.argmin(squares))]
    units = (lambda values: np.exp(np.minimum(values, 700))) if log else (lambda values: values)
    offsets = offsets if offsets is not None else [np.zeros(len(values)) for values in series]
    absolute = []
    for values, offset in zip(series, offsets):
        errors = _smooth(values[-window:, None], 1, season, *(np.array([[p]]) for p in best))[1][0, :, 0]
        actual, added = values[len(values) - len(errors) :], offset[len(offset) - len(errors) :]
        absolute.append(np.abs(units(actual + added) - units(actual - errors + added)))
    absolute = np.concatenate(absolute)
    mae = float(absolute.mean()) if len(absolute) else 0.0
    return smoothing_map(window, steps, season, *best), Smoothing(*(float(p) for p in best), log, mae)


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


def resize_smoothing(target, source, fits: dict[str, dict], season: int | None) -> None:
    """Give ``target``, a holt-winters network of another window, the smoothing of ``source``: the
    same parameters (``fits``, ``set_smoothing``'s) and weights, and the map of its own window."""
    weights = source.get_layer("forecast").get_weights()
    _, steps, window = target.get_layer("forecast").get_weights()[0].shape
    kernel = np.stack([smoothing_map(window, steps, season, p["alpha"], p["beta"], p["gamma"], p["phi"]) for p in fits.values()])
    target.get_layer("forecast").set_weights([kernel.astype(np.float32), *weights[1:]])
