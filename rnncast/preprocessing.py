"""Invertible transforms fitted on the training part only and stored in the model card."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

from rnncast.config import PREPROCESS_CHOICES
from rnncast.errors import DataError, UsageError


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """Per-column standardisation: (x - mean) / scale."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> "Standardizer":
        mean = values.mean(axis=0)
        scale = values.std(axis=0)
        if not (np.isfinite(mean).all() and np.isfinite(scale).all()):
            raise DataError("values are too large to standardise; rescale the data.")
        return cls(mean=mean, scale=np.where(scale > 0, scale, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.mean) / self.scale).astype(np.float32)

    def inverse(self, values: np.ndarray, columns: list[int] | None = None) -> np.ndarray:
        """Back to original units; ``columns`` picks the parameters for a subset of columns."""
        mean, scale = (self.mean, self.scale) if columns is None else (self.mean[columns], self.scale[columns])
        return values.astype(np.float64) * scale + mean

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Standardizer":
        return cls(mean=np.asarray(values["mean"], dtype=np.float64), scale=np.asarray(values["scale"], dtype=np.float64))


# How the network sees a standardised series, so that trends and levels outside the training
# range do not break it: "difference" and "seasonal-difference" predict changes over one step or
# one season; "window-relative" expresses each window relative to its own last value;
# "seasonal-residual" predicts what seasonal-naive gets wrong, from the window relative to its
# last value (a whole window, unlike seasonal differencing, which loses its first season).
PREPROCESS_METHODS = PREPROCESS_CHOICES[1:]
DIFFERENCING = ("difference", "seasonal-difference")
# Enough windows for a stable linear fit per candidate, few enough that "auto" takes well under a second.
SELECTION_WINDOWS = 2000
SELECTION_RIDGE = 1.0


def lag_of(method: str, season: int | None) -> int:
    """Rows the method looks back over: the differencing lag, or the season of the seasonal-naive reference.

    Raises:
        UsageError: a seasonal method without a season.
    """
    if method == "difference":
        return 1
    if method in ("seasonal-difference", "seasonal-residual"):
        if not season or season < 2:
            raise UsageError(
                f"`--preprocess {method}` needs a season of at least 2; the frequency gave {season}. "
                "Pass --season N, or use --preprocess difference."
            )
        return season
    return 0


def check_window(method: str, season: int | None, window: int) -> None:
    """Raises UsageError when ``window`` is too short for what ``method`` looks back over."""
    lag = lag_of(method, season)
    if method in DIFFERENCING and lag >= window:
        raise UsageError(
            f"`--preprocess {method}` differences over {lag} rows, so --window must be longer than that. Received: {window}."
        )
    if method == "seasonal-residual" and lag > window:
        raise UsageError(
            f"`--preprocess {method}` repeats the last season ({lag} rows), so --window must be at least that. Received: {window}."
        )


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """Maps standardised windows to what the network sees, and its outputs back, exactly.

    ``scale`` (per column, in standardised units) brings changes, which are much smaller than
    levels on a trending series, back to unit size.
    """

    method: str = "none"
    lag: int = 0
    scale: np.ndarray = dataclasses.field(default_factory=lambda: np.ones(1))

    @classmethod
    def fit(cls, method: str, train: np.ndarray | Sequence[np.ndarray], season: int | None) -> "Preprocessing":
        """Fit on the standardised training rows ``[rows, columns]`` of one series, or of each of
        many (one network sees them all: the scale of changes is pooled over the series)."""
        if method not in PREPROCESS_METHODS:
            raise UsageError(f"`--preprocess` must be one of {', '.join(PREPROCESS_CHOICES)}. Received: {method}.")
        parts = [train] if isinstance(train, np.ndarray) else list(train)
        lag = lag_of(method, season)
        columns = parts[0].shape[1]
        if method == "none":
            return cls(method, 0, np.ones(columns))
        changes = np.concatenate([part[lag or 1 :] - part[: -(lag or 1)] for part in parts])
        scale = changes.std(axis=0) if len(changes) > 1 else np.ones(columns)
        return cls(method, lag, np.where(scale > 1e-8, scale, 1.0))

    @property
    def relative(self) -> bool:
        """Whether the network sees each window minus its last row."""
        return self.method in ("window-relative", "seasonal-residual")

    @property
    def dropped(self) -> int:
        """Rows the network's window is shorter than the model's: differencing loses the first ``lag``."""
        return self.lag if self.method in DIFFERENCING else 0

    def series(self, values: np.ndarray) -> np.ndarray:
        """The training array of the network: changes over ``lag`` rows, or the rows rescaled
        (cut into windows, those are then mapped by ``window_map``)."""
        if self.dropped:
            values = values[self.lag :] - values[: -self.lag]
        return (values / self.scale).astype(np.float32)

    def window_map(self, window: int, steps: int) -> np.ndarray | None:
        """The linear map over time that turns ``window + steps`` rows cut from ``series()`` into
        the network's input rows, then its target rows; None where they are used as they are."""
        if not self.relative:
            return None
        size = window + steps
        mapping = np.eye(size)
        mapping[:, window - 1] -= 1  # every row minus the window's last
        if self.method == "seasonal-residual":
            mapping[window:] = np.eye(size)[window:]
            mapping[np.arange(window, size), self._reference_rows(window, steps)] -= 1
        return mapping.astype(np.float32)

    def _reference_rows(self, window: int, steps: int) -> np.ndarray:
        """Rows of the window that seasonal-naive repeats at each future step."""
        return window - self.lag + np.arange(steps) % self.lag

    def inputs(self, windows: np.ndarray) -> np.ndarray:
        """Standardised windows ``[n, window, columns]`` as the network sees them."""
        if self.dropped:
            windows = windows[:, self.lag :] - windows[:, : -self.lag]
        elif self.relative:
            windows = windows - windows[:, -1:]
        return (windows / self.scale).astype(np.float32)

    def _reference(self, windows: np.ndarray, steps: int, outputs: list[int]) -> np.ndarray:
        """What the network's target is relative to, for ``steps`` future rows: the window's last
        row (window-relative) or the seasonal-naive forecast (seasonal-residual)."""
        if self.method == "seasonal-residual":
            return windows[:, self._reference_rows(windows.shape[1], steps)][..., outputs]
        return windows[:, -1:, outputs]

    def encode(self, windows: np.ndarray, future: np.ndarray, outputs: list[int]) -> np.ndarray:
        """The network's target for the standardised ``future [n, steps, len(outputs)]`` after ``windows``."""
        scale = self.scale[outputs]
        if self.relative:
            return (future - self._reference(windows, future.shape[1], outputs)) / scale
        if self.lag:
            full = np.concatenate([windows[..., outputs], future], axis=1)
            return (full[:, self.lag :] - full[:, : -self.lag])[:, -future.shape[1] :] / scale
        return future / scale

    def decode(self, windows: np.ndarray, encoded: np.ndarray, outputs: list[int]) -> np.ndarray:
        """Standardised values of the output columns from the network's ``encoded [n, steps, len(outputs)]``."""
        changes = np.asarray(encoded, dtype=np.float64) * self.scale[outputs]
        if self.relative:
            return changes + self._reference(windows, changes.shape[1], outputs)
        if not self.lag:
            return changes
        # Each step adds its change to the value ``lag`` rows earlier, observed or already rebuilt.
        full = np.concatenate([windows[..., outputs], np.zeros_like(changes)], axis=1)
        start = windows.shape[1]
        for step in range(changes.shape[1]):
            full[:, start + step] = changes[:, step] + full[:, start + step - self.lag]
        return full[:, start:]

    def wrap(self, predict: Callable[[np.ndarray], np.ndarray], outputs: list[int]) -> Callable[[np.ndarray], np.ndarray]:
        """A predictor over standardised windows from one over the network's inputs, so that every
        strategy, engine and MC-Dropout sample is undone the same way."""
        if self.method == "none":
            return predict
        return lambda windows: self.decode(windows, predict(self.inputs(windows)), outputs)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "lag": self.lag, "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "Preprocessing":
        if values is None:  # cards written before preprocessing existed
            return cls()
        return cls(values["method"], int(values["lag"]), np.asarray(values["scale"], dtype=np.float64))


def select_preprocessing(scaled: np.ndarray | Sequence[np.ndarray], train_end: int | Sequence[int], window: int, horizon: int,
                         season: int | None, target_index: list[int]) -> tuple[str, dict[str, Any]]:
    """Pick the method whose ridge regression over the same windows has the lowest validation MAE.

    ``scaled`` and ``train_end`` are one standardised series and its first validation row, or
    lists of them for many series, whose windows are then pooled (up to ``SELECTION_WINDOWS`` in all).

    A linear model whose outputs are clipped to the training targets' range reveals what the
    choice is mostly about (can forecasts follow a level the training part never reached?) in
    milliseconds, where training the network once per method would multiply training time by five.

    Returns:
        The method, and the standardised validation MAE of each candidate (None where the window
        is too short for its lag) for the model card.
    """
    parts = [(scaled, train_end)] if isinstance(scaled, np.ndarray) else list(zip(scaled, train_end, strict=True))
    limit = max(1, SELECTION_WINDOWS // len(parts))
    scores: dict[str, float | None] = {}
    steps = np.arange(window + horizon)
    for method in PREPROCESS_METHODS:
        try:
            check_window(method, season, window)
        except UsageError:
            scores[method] = None
            continue
        prep = Preprocessing.fit(method, [values[:end] for values, end in parts], season)
        fit_rows = np.concatenate([values[_spread(end - window - horizon + 1, limit)[:, None] + steps] for values, end in parts])
        test_rows = np.concatenate([
            values[end - window + _spread(len(values) - end - horizon + 1, limit)[:, None] + steps] for values, end in parts
        ])
        if len(fit_rows) < 2 or len(test_rows) < 1:
            scores[method] = None
            continue
        targets = prep.encode(fit_rows[:, :window], fit_rows[:, window:, target_index], target_index).reshape(len(fit_rows), -1)
        weights = _ridge(_features(prep, fit_rows[:, :window]), targets)
        # A linear model extrapolates a trend where a network, whose units saturate, stays within the
        # targets it was trained on; clipping to their range makes the ridge fail where the network would.
        encoded = np.clip(_features(prep, test_rows[:, :window]) @ weights, targets.min(axis=0), targets.max(axis=0))
        encoded = encoded.reshape(len(test_rows), horizon, len(target_index))
        predicted = prep.decode(test_rows[:, :window], encoded, target_index)
        scores[method] = round(float(np.abs(predicted - test_rows[:, window:, target_index]).mean()), 6)
    chosen = min((m for m in PREPROCESS_METHODS if scores[m] is not None), key=lambda m: scores[m], default="none")
    return chosen, {"chosen": chosen, "by": "ridge regression over the windows, clipped to the training range; standardised validation MAE", "scores": scores}


def _spread(count: int, limit: int = SELECTION_WINDOWS) -> np.ndarray:
    return np.unique(np.linspace(0, count - 1, min(max(count, 0), limit)).round().astype(int))


def _features(prep: Preprocessing, windows: np.ndarray) -> np.ndarray:
    flat = prep.inputs(windows).reshape(len(windows), -1).astype(np.float64)
    return np.concatenate([flat, np.ones((len(flat), 1))], axis=1)


def _ridge(features: np.ndarray, targets: np.ndarray) -> np.ndarray:
    penalty = SELECTION_RIDGE * np.eye(features.shape[1])
    return np.linalg.solve(features.T @ features + penalty, features.T @ targets)
