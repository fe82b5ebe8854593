"""The pieces of a rolling-origin backtest that one series and many share: options, origins, the
``Forecast`` of a fitted forecaster from each origin, and its scores (``evaluate`` and
``panel_evaluate`` put them together)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

from rnncast.config import TrainConfig
from rnncast.data import TimeSeries
from rnncast.errors import UsageError
from rnncast.metrics import interval_metrics, point_metrics

BASELINES = ("naive", "seasonal-naive", "linear")
AUTO = "auto"
SCHEMA_VERSION = 1
METRICS = ("mae", "rmse", "mase", "smape", "coverage", "width")


@dataclasses.dataclass(frozen=True)
class BacktestOptions:
    """Where the origins lie: the last ``folds`` origins, ``stride`` rows apart, the last one
    forecasting the final ``horizon`` rows. ``stride`` None means the horizon (forecast periods
    that tile the tail without overlap)."""

    folds: int = 5
    stride: int | None = None
    retrain: bool = False
    mc_samples: int | None = None

    def __post_init__(self) -> None:
        if self.folds < 1:
            raise UsageError(f"`--folds` must be at least 1. Received: {self.folds}.")
        if self.stride is not None and self.stride < 1:
            raise UsageError(f"`--stride` must be at least 1. Received: {self.stride}.")
        if self.mc_samples is not None and self.mc_samples < 2:
            raise UsageError(f"`--mc-samples` must be at least 2. Received: {self.mc_samples}.")


@dataclasses.dataclass(frozen=True)
class Forecast:
    """Forecasts from each origin in original units.

    ``point`` is ``[origins, horizon, targets]``. ``samples`` is ``[n, origins, horizon, targets]``
    when the forecaster is stochastic (MC Dropout): then the scores add interval coverage and width.
    """

    point: np.ndarray
    samples: np.ndarray | None = None


# A forecaster maps histories (each the rows before one origin, all columns) and the known
# future after each (the horizon's rows, NaN but in the known-future inputs) to a Forecast;
# a fitter makes one from the rows it is allowed to learn from.
Forecaster = Callable[[list[np.ndarray], list[np.ndarray]], Forecast]
Fitter = Callable[[TimeSeries], Forecaster]


def backtest_settings_json(options: BacktestOptions, horizon: int, season: int | None) -> dict[str, Any]:
    """The settings part of the ``backtest`` object of the JSON report (docs/json-output.md)."""
    return {
        "horizon": horizon,
        "folds": options.folds,
        "stride": options.stride or horizon,
        "retrain": options.retrain,
        "season": season,
    }


def backtest_origins(n_rows: int, horizon: int, options: BacktestOptions) -> np.ndarray:
    """Rows of the first forecast step of each fold, oldest first; the last fold ends at the last row."""
    stride = options.stride or horizon
    return n_rows - horizon - stride * np.arange(options.folds)[::-1]


def run_backtest(series: TimeSeries, fitter: Fitter, origins: np.ndarray, retrain: bool) -> Forecast:
    """Forecast from every origin, fitting once before the first origin or, with ``retrain``, before each."""
    values = series.frame.to_numpy(dtype=np.float64)
    known = np.full_like(values, np.nan)
    inputs = [series.columns.index(c) for c in series.known]
    known[:, inputs] = values[:, inputs]
    horizon = len(values) - origins[-1]  # the last fold ends at the last row (backtest_origins)
    if not retrain:
        forecaster = fitter(rows_before(series, origins[0]))
        return forecaster([values[:origin] for origin in origins], [known[origin : origin + horizon] for origin in origins])
    forecasts = [fitter(rows_before(series, origin))([values[:origin]], [known[origin : origin + horizon]]) for origin in origins]
    samples = [f.samples for f in forecasts]
    return Forecast(
        np.concatenate([f.point for f in forecasts]),
        None if any(s is None for s in samples) else np.concatenate(samples, axis=1),
    )


def rows_before(series: TimeSeries, origin: int) -> TimeSeries:
    """The series up to, not including, row ``origin``: all a fitter may see."""
    return dataclasses.replace(series, frame=series.frame.iloc[:origin])


def score_forecast(forecast: Forecast, actual: np.ndarray, scale: np.ndarray, targets: Sequence[str]) -> dict[str, Any]:
    """Scores per target, overall and per horizon step; coverage and width are None without samples."""

    def metrics(index) -> dict[str, float | None]:
        point = point_metrics(forecast.point[index], actual[index], float(scale[index[-1]]))
        if forecast.samples is None:
            return {**point, "coverage": None, "width": None}
        return {**point, **interval_metrics(forecast.samples[(slice(None), *index)], actual[index])}

    horizon = actual.shape[1]
    return {
        target: {
            "overall": metrics((slice(None), slice(None), i)),
            "steps": [{"step": step + 1, **metrics((slice(None), step, i))} for step in range(horizon)],
        }
        for i, target in enumerate(targets)
    }


def model_config(config: TrainConfig, name: str) -> TrainConfig:
    """The settings of model ``name`` in a backtest that shares ``config``."""
    # Seasonal-naive repeats the last season, so its window must hold one.
    window = max(config.window, config.season) if name == "seasonal-naive" else config.window
    # A backtest measures the model it names, never a baseline kept in its place.
    return dataclasses.replace(config, model=name, window=window, fallback=False)
