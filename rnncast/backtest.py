"""The pieces of a rolling-origin backtest that one series and many share: options, origins, the
``Forecast`` of a fitted forecaster from each origin, and its scores (``evaluate`` and
``panel_evaluate`` put them together)."""

from __future__ import annotations

import dataclasses
import os
import statistics
from typing import Any, Callable, Sequence

import numpy as np

from rnncast.config import TrainConfig
from rnncast.dataset import Panel
from rnncast.ensemble import fit_ensemble, fitted_member
from rnncast.errors import UsageError
from rnncast.finetune import fit_pretrained, saved_forecast
from rnncast.members import median_forecast, pooled_paths
from rnncast.metrics import INTERVAL, interval_metrics, point_metrics
from rnncast.models import ZOO
from rnncast.training import fit

BASELINES = ("naive", "seasonal-naive", "linear")
# What a backtest can fit: the zoo, and the shipped network fine-tuned (``finetune``).
MODELS = (*ZOO, "pretrained")
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


# A forecaster maps histories (each the rows before one origin of series ``keys[i]``, all columns)
# and the known future after each (the horizon's rows, NaN but in the known-future inputs) to a
# Forecast; a fitter makes one from the series it may learn from, each cut at an origin.
Forecaster = Callable[[list[str], list[np.ndarray], list[np.ndarray]], Forecast]
Fitter = Callable[[Panel], Forecaster]


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


def run_backtest(data: Panel, fitter: Fitter, origins: dict[str, np.ndarray], retrain: bool) -> dict[str, Forecast]:
    """Forecast each series from each of its ``origins`` in one call of the forecaster per fit,
    fitting once on the rows before each series' first origin or, with ``retrain``, before each fold's."""
    values = {key: one.frame.to_numpy(dtype=np.float64) for key, one in data.series.items()}
    inputs = [data.columns.index(c) for c in data.first.known]
    key = next(iter(origins))
    horizon = len(values[key]) - origins[key][-1]  # the last fold ends at the last row (backtest_origins)
    folds = [slice(None)] if not retrain else [slice(i, i + 1) for i in range(len(origins[key]))]
    parts = []
    for fold in folds:
        at = {key: o[fold] for key, o in origins.items()}
        forecaster = fitter(rows_before(data, {key: int(o[0]) for key, o in at.items()}))
        keys = [key for key in values for _ in at[key]]
        histories = [values[key][:origin] for key in values for origin in at[key]]
        known = [np.where(np.isin(np.arange(v.shape[1]), inputs), v[origin : origin + horizon], np.nan)
                 for key, v in values.items() for origin in at[key]]
        forecast, done = forecaster(keys, histories, known), 0
        part = {}
        for key in values:
            count = len(at[key])
            part[key] = Forecast(forecast.point[done : done + count],
                                 None if forecast.samples is None else forecast.samples[:, done : done + count])
            done += count
        parts.append(part)
    return {key: Forecast(np.concatenate([part[key].point for part in parts]),
                          None if any(part[key].samples is None for part in parts)
                          else np.concatenate([part[key].samples for part in parts], axis=1))
            for key in values}


def rows_before(data: Panel, cuts: dict[str, int]) -> Panel:
    """Each series up to, not including, its row ``cuts[key]``: all a fitter may see."""
    return dataclasses.replace(data, series={key: dataclasses.replace(one, frame=one.frame.iloc[: cuts[key]])
                                             for key, one in data.series.items()})


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


def zoo_fitter(config: TrainConfig, mc_samples: int | None = None) -> Fitter:
    """Fit ``config.model`` with ``training.fit`` (``config.ensemble`` seeds of it with
    ``ensemble.fit_ensemble``) and forecast with its network (their median), each history in its
    series' scale; with ``mc_samples`` and a network with dropout, also MC-Dropout samples for
    interval coverage and width."""

    def fit_on(data: Panel) -> Forecaster:
        fitted = fit_ensemble(data, config)[0] if config.ensemble > 1 else fit(data, config)
        members = fitted.runners() if config.ensemble > 1 else [fitted_member(fitted)]
        sampling = mc_samples is not None and any(m.engine.stochastic is not None for m in members)
        target_index = fitted.target_index

        def forecast(keys: list[str], histories: list[np.ndarray], known: list[np.ndarray]) -> Forecast:
            scalers = [fitted.scalers[key] for key in keys]
            windows = np.stack([scaler.transform(history[-fitted.config.window :]) for scaler, history in zip(scalers, histories)])
            after = np.stack([scaler.transform(rows) for scaler, rows in zip(scalers, known)])

            def inverse(scaled: np.ndarray) -> np.ndarray:
                return np.stack([scaler.inverse(one, target_index) for scaler, one in zip(scalers, scaled)])

            point = inverse(median_forecast(members, windows, config.horizon, target_index, after))
            if not sampling:
                return Forecast(point)
            paths = pooled_paths(members, windows, config.horizon, target_index, mc_samples, config.seed, after)
            return Forecast(point, inverse(paths).transpose(1, 0, 2, 3))

        return forecast

    return fit_on


def fitter(config: TrainConfig, mc_samples: int | None = None, given: Sequence[str] = ()) -> Fitter:
    """The fitter of ``config.model``: ``pretrained_fitter`` for the shipped network (``given``: the
    fields the user set, which override its fine-tuning defaults), else ``zoo_fitter``."""
    if config.model == "pretrained":
        return pretrained_fitter(config, mc_samples, given)
    return zoo_fitter(config, mc_samples)


def pretrained_fitter(config: TrainConfig, mc_samples: int | None = None, given: Sequence[str] = ()) -> Fitter:
    """Fine-tune the shipped network (``finetune.fit_pretrained``, which may keep it as shipped) and
    forecast its median quantile. Its error bars are a distribution, not MC samples: with
    ``mc_samples``, that many of its quantiles, evenly spaced and calibrated as a saved model's,
    stand for samples, so that interval coverage and width are scored as for any model."""

    def fit_on(data: Panel) -> Forecaster:
        fitted = fit_pretrained(data, config, given)
        targets = list(data.targets)
        target_index = [data.columns.index(t) for t in targets]
        predict = lambda inputs: fitted.network.predict(inputs, batch_size=1024, verbose=0)  # noqa: E731

        def forecast(keys: list[str], histories: list[np.ndarray], known: list[np.ndarray]) -> Forecast:
            names = [f"{os.path.basename(data.source)} ({data.id_column} {key})" if data.many else os.path.basename(data.source) for key in keys]
            columns = saved_forecast(predict, histories, names, targets,
                                     target_index, fitted.config.season, config.horizon, fitted.uncertainty,
                                     INTERVAL if mc_samples else None)
            point = np.stack([columns[t] for t in targets], axis=-1)
            if not mc_samples:
                return Forecast(point)
            lower, upper = (np.stack([columns[f"{t}_{side}"] for t in targets], axis=-1) for side in ("lower", "upper"))
            normal = statistics.NormalDist()
            z = np.array([normal.inv_cdf((i + 0.5) / mc_samples) for i in range(mc_samples)])[:, None, None, None]
            edge = normal.inv_cdf((1 + INTERVAL) / 2)
            return Forecast(point, point + z * np.where(z < 0, point - lower, upper - point) / edge)

        return forecast

    return fit_on


def model_config(config: TrainConfig, name: str) -> TrainConfig:
    """The settings of model ``name`` in a backtest that shares ``config``."""
    # The seasonal baselines repeat or average whole seasons, so their window must hold one.
    window = max(config.window, config.season) if name in ("seasonal-naive", "seasonal-mean") else config.window
    # A backtest measures the model it names, never a baseline kept in its place.
    return dataclasses.replace(config, model=name, window=window, fallback=False)
