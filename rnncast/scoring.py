"""Validation errors of a forecaster and of the naive baselines on the same windows of each
series' validation tail: what the fallback, ensembles and fine-tuning judge by."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from rnncast.config import TrainConfig
from rnncast.preprocessing import Standardizer
from rnncast.windows import MAX_VALIDATION_ORIGINS, cut_windows, origins


def score(forecast: Callable[[np.ndarray], np.ndarray], tails: Sequence[np.ndarray], scalers: Sequence[Standardizer], config: TrainConfig,
          target_index: list[int], targets: tuple[str, ...], ids: Sequence[str] | None = None, limit: int = MAX_VALIDATION_ORIGINS,
          ) -> dict[str, Any]:
    """Validation MAE and RMSE of the model's ``horizon``-step forecasts and of the naive baseline
    (and seasonal-naive, when the window holds a season), in original units, on the same windows.

    ``forecast`` maps scaled windows ``[n, window, columns]`` and the rows after them ``[n, horizon,
    columns]`` (whose known-future inputs a forecast may read, see ``rollout``) to scaled forecasts
    ``[n, horizon, targets]``.

    ``tails`` are the series' rows from ``window`` rows before their validation parts, each scaled
    by its own scaler, and forecast in one batched pass over up to ``limit`` windows per series.
    With ``ids``, the errors of each series are under ``series`` and the top-level ones are their
    means over series; without, ``tails`` is one series.
    """
    starts = [origins(len(tail), config.window, config.horizon, limit) for tail in tails]
    windows, after = cut_windows(tails, starts, scalers, config.window, config.horizon)
    predicted = forecast(windows, after)
    future = np.arange(config.window, config.window + config.horizon)
    season = config.season
    per_series, done = [], 0
    for tail, first, scaler in zip(tails, starts, scalers):
        actual = tail[first[:, None] + future][..., target_index]
        model = scaler.inverse(predicted[done : done + len(first)], target_index)
        naive = np.repeat(tail[first + config.window - 1][:, None, target_index], config.horizon, axis=1)
        metrics = {"windows": int(len(first)), "horizon": config.horizon, "model": errors(model, actual, targets),
                   "naive": errors(naive, actual, targets)}
        if season and 1 < season <= config.window:
            repeated = config.window - season + np.arange(config.horizon) % season
            metrics["seasonal_naive"] = errors(tail[first[:, None] + repeated][..., target_index], actual, targets)
        per_series.append(metrics)
        done += len(first)
    if ids is None:
        return per_series[0]
    kinds = [key for key in ("model", "naive", "seasonal_naive") if key in per_series[0]]
    mean = {kind: {t: {m: float(np.mean([s[kind][t][m] for s in per_series])) for m in ("mae", "rmse")} for t in targets} for kind in kinds}
    series = {key: {k: v for k, v in metrics.items() if k != "horizon"} for key, metrics in zip(ids, per_series)}
    return {"windows": done, "horizon": config.horizon, **mean, "series": series}


def errors(predicted: np.ndarray, actual: np.ndarray, targets: tuple[str, ...]) -> dict[str, dict[str, float]]:
    error = predicted - actual
    per_target = {
        name: {"mae": float(np.abs(error[..., i]).mean()), "rmse": float(np.sqrt((error[..., i] ** 2).mean()))}
        for i, name in enumerate(targets)
    }
    return per_target
