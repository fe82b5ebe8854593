"""Forecast errors in one place: MAE, RMSE, MASE and sMAPE of a point forecast, coverage and width
of an interval, and the seasonal-naive scale that MASE divides by."""

from __future__ import annotations

import math

import numpy as np

INTERVAL = 0.9


def seasonal_scale(history: np.ndarray, season: int | None) -> np.ndarray:
    """MASE denominator per column: mean absolute error of the in-sample seasonal-naive forecast
    (naive when there is no season)."""
    lag = season or 1
    return np.abs(history[lag:] - history[:-lag]).mean(axis=0)


def point_metrics(predicted: np.ndarray, actual: np.ndarray, scale: float) -> dict[str, float]:
    """MAE, RMSE, MASE (MAE / ``scale``, NaN when the scale is 0) and sMAPE in percent
    (a point where forecast and actual are both 0 counts as no error)."""
    error = predicted - actual
    mae = float(np.abs(error).mean())
    denominator = np.abs(actual) + np.abs(predicted)
    shares = np.divide(np.abs(error), denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return {
        "mae": mae,
        "rmse": float(np.sqrt((error**2).mean())),
        "mase": mae / scale if scale > 0 else math.nan,
        "smape": float(200 * shares.mean()),
    }


def interval_metrics(samples: np.ndarray, actual: np.ndarray, level: float = INTERVAL) -> dict[str, float]:
    """Share of actual values inside the central ``level`` interval of the samples (axis 0), and its mean width."""
    lower, upper = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return {
        "coverage": float(((actual >= lower) & (actual <= upper)).mean()),
        "width": float((upper - lower).mean()),
    }


def ratio(value: float, reference: float) -> float:
    """``value / reference``, NaN when the reference is not positive (a MASE against a perfect baseline)."""
    return value / reference if reference > 0 else math.nan
