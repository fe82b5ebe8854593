"""MC-Dropout error bars and their calibration on the validation windows.

The raw interval at level ``p`` is the normal one, ``mean ± z(p)·std`` of the MC passes.
MC Dropout measures only the model's own uncertainty, so that interval is usually too narrow.
Calibration is split-conformal on signed residuals scaled by the MC std: on validation windows the
score ``(actual - mean) / std`` is computed per horizon step and target, and its conformal lower
and upper quantiles (``(1 - p) / 2`` of the scores below and above, each) replace ``-z(p)`` and
``+z(p)``. Signed scores keep a bias of the mean that validation shows (a trend the network lags
behind) on its own side instead of spreading it over both. The validation windows of one
series are weighted by recency (``RECENCY_HALF_LIFE``), so errors that grow with time widen the
interval beyond what an even weighting would. The card keeps only the two
half-widths over ``z(p)`` (widening factors, at least 0 so the interval holds the mean) for a few
levels, per step and target; other levels interpolate between them.

A model without dropout (a baseline kept by the fallback, ``linear``, ``--dropout 0``) has no MC
spread; its intervals come from its validation residuals instead, calibrated the same way with the
root mean square of the validation errors per step and target (``Calibration.scale``) in place
of the MC std: the interval is the point forecast plus calibrated quantiles of those errors.
A baseline's errors are measured over its whole history, and a network's on a short series are
a baseline's, rescaled (``through_baseline``).
"""

from __future__ import annotations

import dataclasses
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from rnncast.config import TrainConfig
from rnncast.errors import UsageError
from rnncast.rollout import MCOptions, Predictor, has_dropout, keras_predictor, mc_rollout, rollout, stochastic_predictor
from rnncast.members import Member, median_forecast, pooled_paths
from rnncast.preprocessing import Standardizer
from rnncast.windows import MAX_VALIDATION_ORIGINS, cut_windows, origins

if TYPE_CHECKING:
    from rnncast.store import ModelCard

LEVELS = (0.5, 0.8, 0.9, 0.95, 0.99)
# Enough passes for a stable std, on enough windows for a 99% quantile, in a few seconds on CPU.
CALIBRATION_SAMPLES = 100
CALIBRATION_WINDOWS = 200
# Half-life of the recency weights, as a share of the validation windows: the newest third of the
# validation part carries a little over half the weight. Chosen on the held-out tails of
# benchmarks/uncertainty.py: on hourly_energy, whose temperature and solar output rise beyond the
# validation part, it lifted the coverage of the 90% interval from 83.5% to 86.9% (a quarter:
# 87.6%, a half: 86.0%), where daily_sales went from 91.7% to 94.0% (a quarter: 94.7%).
RECENCY_HALF_LIFE = 1 / 3
# Below this many validation windows the 90% bounds (5% of the weight each side) are the most
# extreme score (``_conformal``): a short series' validation part is too small to calibrate a
# network's intervals on, and a baseline's errors over the whole history stand in (``through_baseline``).
FEW_WINDOWS = 19


def z_value(level: float) -> float:
    """Half-width, in standard deviations, of the central normal interval holding ``level``."""
    return NormalDist().inv_cdf(0.5 + level / 2)


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Widening factors fitted on validation, and how the raw intervals fared there.

    The calibrated interval at ``levels[l]``, horizon step ``h`` and target ``t`` runs from
    ``mean - lower[l, h, t]·z·std`` to ``mean + upper[l, h, t]·z·std``. ``raw_coverage[l]`` is the
    share of validation values the raw interval held. ``scale`` ``[steps, targets]``, for a model
    without dropout, is the RMS validation error that stands in for the MC std (None: MC Dropout).
    ``history``: the windows span each series' whole history, not its validation tail (a baseline).
    ``reference``: the baseline whose history errors, rescaled, calibrate a network (``through_baseline``).
    """

    levels: tuple[float, ...]
    lower: np.ndarray
    upper: np.ndarray
    raw_coverage: tuple[float, ...]
    samples: int
    windows: int
    scale: np.ndarray | None = None
    # Whether ``scale`` is in each series' standardised units (a global model of many series).
    standardised: bool = False
    history: bool = False
    reference: str | None = None

    def factor(self, level: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper factors ``[steps, targets]`` for ``level``: between the stored levels each
        half-width is interpolated linearly; outside them, the nearest level's factors; steps beyond
        the validated horizon reuse its last step."""
        return self._interpolate(self.lower, level, steps), self._interpolate(self.upper, level, steps)

    def _interpolate(self, factors: np.ndarray, level: float, steps: int) -> np.ndarray:
        # Interpolate the half-widths q = factor * z, which grow with the level, not the factors.
        level = min(max(level, self.levels[0]), self.levels[-1])
        widths = (factors * np.array([z_value(p) for p in self.levels])[:, None, None]).reshape(len(self.levels), -1)
        per_level = np.array([np.interp(level, self.levels, column) for column in widths.T])
        return _steps(per_level.reshape(factors.shape[1:]) / z_value(level), steps)

    def std(self, steps: int) -> np.ndarray:
        """The residual scale ``[steps, targets]``, steps beyond the validated horizon reusing its last."""
        return _steps(self.scale, steps)

    def to_dict(self) -> dict[str, Any]:
        residual = {} if self.scale is None else {"scale": self.scale.tolist(), **({"scale_units": "standardised"} if self.standardised else {})}
        return {
            "method": ("mc-dropout, split-conformal on signed error / MC std per horizon step" if self.scale is None
                       else f"{'history' if self.history else 'validation'} residuals, split-conformal on signed error / RMS error per horizon step"),
            **residual,
            **({"reference": self.reference} if self.reference else {}),
            "samples": self.samples,
            "windows": self.windows,
            "levels": list(self.levels),
            "raw_coverage": [round(c, 4) for c in self.raw_coverage],
            "lower_factors": np.round(self.lower, 4).tolist(),
            "upper_factors": np.round(self.upper, 4).tolist(),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Calibration":
        # Cards written before signed scores hold one symmetric "factors" table.
        lower = values.get("lower_factors", values.get("factors"))
        upper = values.get("upper_factors", values.get("factors"))
        return cls(
            levels=tuple(values["levels"]),
            lower=np.asarray(lower, dtype=np.float64),
            upper=np.asarray(upper, dtype=np.float64),
            raw_coverage=tuple(values["raw_coverage"]),
            samples=values["samples"],
            windows=values["windows"],
            scale=np.asarray(values["scale"], dtype=np.float64) if "scale" in values else None,
            standardised=values.get("scale_units") == "standardised",
            history=values.get("method", "").startswith("history"),
            reference=values.get("reference"),
        )


def _steps(table: np.ndarray, steps: int) -> np.ndarray:
    """The first ``steps`` rows of a per-step table, the last row repeated beyond it."""
    return table[np.minimum(np.arange(steps), len(table) - 1)]


def summarize(paths: np.ndarray, level: float, factors: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Mean, std and interval bounds over the sample axis of ``paths [..., samples, steps, targets]``.

    ``factors``: the lower and upper factors ``[steps, targets]`` of ``Calibration.factor`` (None: raw).
    """
    return bounds(paths.mean(axis=-3), paths.std(axis=-3), level, factors)


def bounds(mean: np.ndarray, std: np.ndarray, level: float, factors: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """``summarize`` from a mean and a std: the interval ``mean ± z·std``, each side rescaled by its factors."""
    half = z_value(level) * std
    lower, upper = (1.0, 1.0) if factors is None else factors
    return {"mean": mean, "std": std, "lower": mean - lower * half, "upper": mean + upper * half}


def fit_calibration(paths: np.ndarray, actual: np.ndarray, levels: tuple[float, ...] = LEVELS,
                    time_ordered: bool = False) -> Calibration:
    """Fit per-step factors from MC ``paths [n, samples, steps, targets]`` and ``actual [n, steps, targets]``.

    ``time_ordered``: the windows are the validation windows of one series, oldest first, and a
    window ``RECENCY_HALF_LIFE`` of them older than the newest counts half as much (False: all
    count the same, as for independent series). Weighted split-conformal prediction
    (Barber et al., "Conformal prediction beyond exchangeability", 2023) keeps its coverage on
    exchangeable data and, weighting recent errors more, follows errors that grow with time.
    """
    return _conformal(paths.mean(axis=1), paths.std(axis=1), actual, levels, time_ordered, paths.shape[1])


def fit_residuals(point: np.ndarray, actual: np.ndarray, levels: tuple[float, ...] = LEVELS, time_ordered: bool = True) -> Calibration:
    """Calibrate the intervals of a model without dropout from its validation forecasts
    ``point [n, steps, targets]`` (oldest window first, if ``time_ordered``) and ``actual``: the
    scores are the signed errors over their RMS per step and target, which is then the forecast's std."""
    scale = np.sqrt(np.mean((actual - point) ** 2, axis=0))
    return dataclasses.replace(_conformal(point, scale, actual, levels, time_ordered, 1), scale=scale)


def fit_spread(mean: np.ndarray, std: np.ndarray, actual: np.ndarray, levels: tuple[float, ...] = LEVELS,
               time_ordered: bool = True) -> Calibration:
    """Calibrate intervals ``mean ± z·std`` of any forecaster that gives a spread (a quantile head)
    from its forecasts ``mean``, ``std`` and ``actual [n, steps, targets]`` of held-out windows."""
    return _conformal(mean, std, actual, levels, time_ordered, 1)


def _conformal(mean: np.ndarray, std: np.ndarray, actual: np.ndarray, levels: tuple[float, ...], time_ordered: bool,
               samples: int) -> Calibration:
    scores = (actual - mean) / np.maximum(std, 1e-12)
    n = len(scores)
    age = np.arange(n)[::-1]
    weights = 0.5 ** (age / (RECENCY_HALF_LIFE * n)) if time_ordered else np.ones(n)
    # The new window's own score, of weight 1, is unknown: its mass sits beyond every score, so a
    # bound the others cannot reach falls back to the most extreme score.
    weights = weights / (weights.sum() + 1.0)
    order = np.argsort(scores, axis=0)
    ascending, ordered_weights = np.take_along_axis(scores, order, axis=0), weights[order]
    below = np.cumsum(ordered_weights, axis=0)
    above = np.cumsum(ordered_weights[::-1], axis=0)
    lower, upper, coverage = [], [], []
    for level in levels:
        z = z_value(level)
        share = (1 + level) / 2
        # The smallest score with at least ``share`` of the weight at or below it, and the mirror image.
        k_high = np.where((below >= share).any(axis=0), np.argmax(below >= share, axis=0), n - 1)
        k_low = np.where((above >= share).any(axis=0), np.argmax(above >= share, axis=0), n - 1)
        upper.append(np.maximum(np.take_along_axis(ascending, k_high[None], axis=0)[0], 0.0) / z)
        lower.append(np.maximum(-np.take_along_axis(ascending[::-1], k_low[None], axis=0)[0], 0.0) / z)
        coverage.append(float((np.abs(scores) <= z).mean()))
    return Calibration(levels, np.stack(lower), np.stack(upper), tuple(coverage), samples, n)


def network_forecasts(network, wrap: Callable[[Predictor], Predictor], horizon: int, target_index: list[int], outputs: list[int],
                      seed: int | None):
    """``calibrate``'s point and sampled forecasters of one network (sampled: None without dropout)."""
    point = lambda windows, after: rollout(wrap(keras_predictor(network)), windows, horizon, target_index, outputs, after)  # noqa: E731
    if not has_dropout(network):
        return point, None
    return point, lambda windows, samples, after: mc_rollout(  # noqa: E731
        wrap(stochastic_predictor(network, seed)), windows, horizon, target_index, samples, outputs, after)


def calibrate(point: Callable[[np.ndarray], np.ndarray], paths: Callable[[np.ndarray, int], np.ndarray] | None,
              tails: Sequence[np.ndarray], scalers: Sequence[Standardizer], window: int, horizon: int,
              target_index: list[int], history: bool = False, centred: bool = False) -> Calibration:
    """Fit the intervals' calibration on the validation windows of every series: a model with
    dropout is MC-sampled on up to ``CALIBRATION_WINDOWS`` of them; one without forecasts the windows
    ``training.score`` uses, once each, for its residuals.

    Args:
        point: scaled windows ``[n, window, columns]`` and the rows after them (``training.score``'s)
            to the scaled forecast ``[n, horizon, targets]`` (``network_forecasts``; an ensemble's median).
        paths: scaled windows, a sample count and the rows after them to MC paths ``[n, samples,
            horizon, targets]``; None for a model without dropout.
        tails: each series' validation rows with ``window`` rows of context before them, in original
            units; one series' windows are weighted by recency, many series' windows alike, and
            their residual scale is in each series' standardised units (``Calibration.standardised``).
        scalers: each series' scaler.
        history: ``tails`` are whole series, for a model without weights (``Calibration.history``).
        centred: calibrate the errors around their mean per step and target (``through_baseline``).
    """
    sampled = paths is not None
    limit = max(1, (CALIBRATION_WINDOWS if sampled else MAX_VALIDATION_ORIGINS) // len(tails))
    starts = [origins(len(tail), window, horizon, limit=limit) for tail in tails]
    windows, after = cut_windows(tails, starts, scalers, window, horizon)
    many = len(tails) > 1
    # Many series' errors are compared in each one's standardised units.
    units = [scaler.scale[target_index] if many else 1.0 for scaler in scalers]
    actual = np.concatenate([
        tail[first[:, None] + np.arange(window, window + horizon)][..., target_index] / unit for tail, first, unit in zip(tails, starts, units)
    ])

    def inverse(scaled: np.ndarray) -> np.ndarray:
        parts, done = [], 0
        for first, scaler, unit in zip(starts, scalers, units):
            parts.append(scaler.inverse(scaled[done : done + len(first)], target_index) / unit)
            done += len(first)
        return np.concatenate(parts)

    if not sampled:
        predicted = inverse(point(windows, after))
        if centred:
            predicted = predicted + (actual - predicted).mean(axis=0)
        calibration = fit_residuals(predicted, actual, time_ordered=not many)
        return dataclasses.replace(calibration, standardised=many, history=history)
    return fit_calibration(inverse(paths(windows, CALIBRATION_SAMPLES, after)), actual, time_ordered=not many)


def through_baseline(baseline: Callable[[np.ndarray, np.ndarray], np.ndarray], name: str, metrics: dict[str, Any], key: str,
                     series: np.ndarray, scaler: Standardizer, window: int, horizon: int, target_index: list[int]) -> Calibration:
    """The residual calibration of a network trained on a short series (fewer than ``FEW_WINDOWS``
    validation windows): the ``baseline`` point forecaster's (zoo ``name``) errors over every window of
    the whole ``series`` give the per-step scale and the conformal factors, and the scale is
    multiplied per target by the network's RMS validation error over the baseline's (``metrics``,
    the baseline under ``key``), measured on the same validation windows. The few validation windows
    then fit one ratio per target, not a quantile of each step's errors, and even that is shrunk
    towards 1 (the baseline's own error) as if the windows validation lacks short of
    ``FEW_WINDOWS`` had shown the two alike: unshrunk, a network that beat the baseline on one or
    two windows got intervals too narrow for its test (benchmarks/README.md, zero_shot.py). The
    baseline's errors are taken around their mean: its bias (seasonal-naive lags a trend) is not
    the network's."""
    squared = np.array([(one["rmse"] / max(metrics[key][target]["rmse"], 1e-12)) ** 2 for target, one in metrics["model"].items()])
    windows = min(metrics["windows"], FEW_WINDOWS)
    ratio = np.sqrt((windows * squared + FEW_WINDOWS - windows) / FEW_WINDOWS)
    history = calibrate(baseline, None, [series], [scaler], window, horizon, target_index, history=True, centred=True)
    return dataclasses.replace(history, scale=history.scale * ratio, reference=name)


def at_least(calibration: Calibration, rmse: np.ndarray) -> Calibration:
    """``calibration`` (of residuals) with its scale raised, per target, to an RMS over the steps of
    at least ``rmse`` (the forecaster's RMS validation error). Errors over a whole history that grow
    with the level are smaller than the recent ones validation measured: on air passengers a network
    calibrated through seasonal-naive's centred history errors had a scale of 11 against a validation
    RMSE of 18, and its intervals covered 14 of 36 held-out points (benchmarks/README.md, real_world.py)."""
    level = np.sqrt((calibration.scale**2).mean(axis=0))
    return dataclasses.replace(calibration, scale=calibration.scale * np.maximum(1.0, rmse / np.maximum(level, 1e-12)))


def mc_forecast_columns(members: Sequence[Member], card: "ModelCard", scalers: Sequence[Standardizer], recent: np.ndarray,
                        horizon: int, mc: MCOptions, future: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Forecast with error bars of ``horizon`` steps after each series' scaled ``recent [series, rows,
    columns]`` window (and ``future``, ``rollout``'s rows after it): per target, its mean ``[series, horizon]``, then ``<target>_std``, ``_lower``
    and ``_upper``. MC Dropout pools the samples of every member (``members.pooled_paths``; a
    single model is one member); a model calibrated on its residuals gives its point forecast, the
    RMS validation error as std, and ``mc.samples`` is moot.

    Raises:
        UsageError: the model has neither dropout nor residual calibration (cards written before it).
    """
    calibration = Calibration.from_dict(card.uncertainty) if card.uncertainty is not None else None
    target_index = [card.columns.index(t) for t in card.targets]
    factors = calibration.factor(mc.interval, horizon) if mc.calibrate and calibration is not None else None
    if calibration is not None and calibration.scale is not None:
        point = median_forecast(members, recent, horizon, target_index, future)
        units = [scaler.scale[target_index] if calibration.standardised else 1.0 for scaler in scalers]
        stats = [bounds(scaler.inverse(one, target_index), calibration.std(horizon) * unit, mc.interval, factors)
                 for one, scaler, unit in zip(point, scalers, units)]
    else:
        _refuse_without_dropout(members, card)
        paths = pooled_paths(members, recent, horizon, target_index, mc.samples, mc.seed, future)
        stats = [summarize(scaler.inverse(one, target_index), mc.interval, factors) for one, scaler in zip(paths, scalers)]
    columns = {}
    for t, name in enumerate(card.targets):
        columns[name] = np.stack([one["mean"][:, t] for one in stats])
        for key in ("std", "lower", "upper"):
            columns[f"{name}_{key}"] = np.stack([one[key][:, t] for one in stats])
    return columns


def _refuse_without_dropout(members: Sequence[Member], card: "ModelCard") -> None:
    if "fallback" in card.metrics:
        raise UsageError(
            f"`--mc-samples` needs a network with dropout, and this model is the {card.config['model']} baseline kept instead of "
            f"the trained {card.metrics['fallback']['network']['model']}, which forecast the validation part worse (see `rnncast info`); "
            "retrain with --no-fallback to keep the network, or forecast without --mc-samples."
        )
    if card.uncertainty is None or all(m.engine.stochastic is None for m in members):
        raise UsageError(
            f"`--mc-samples` needs a network with dropout, and this {card.config['model']} model has none "
            f"(trained with --dropout {card.config['dropout']}, --recurrent-dropout {card.config['recurrent_dropout']}); "
            f"retrain a recurrent model with --dropout {TrainConfig.dropout} (the default), or forecast without --mc-samples."
        )


def describe(card: "ModelCard") -> str:
    """What error bars the model gives, for `rnncast info`."""
    if card.uncertainty is None:
        if "fallback" in card.metrics:
            return (f"none (the {card.config['model']} baseline kept by the fallback has no dropout, and this model was saved "
                    "before rnncast calibrated intervals on validation residuals, so --mc-samples is refused; retrain for them)")
        return "none (trained without dropout, so --mc-samples is refused)"
    calibration = Calibration.from_dict(card.uncertainty)
    i = calibration.levels.index(0.9)
    factors = [*calibration.lower[i].ravel(), *calibration.upper[i].ravel()]
    # A baseline learned nothing from its series: every window of the history tells its errors.
    kind = "history" if calibration.history else "validation"
    rescale = (f"{calibration.windows} {'windows of the whole history' if calibration.history else 'validation windows'}, so forecasts rescale each side by a per-step factor "
               f"{min(factors):.2f}..{max(factors):.2f} (calibrated by default; --no-calibrate for the raw interval)")
    if card.config["model"] == "pretrained":
        widest = max(1.0, *factors)  # its forecasts only widen the head's spread (zeroshot.widened)
        return (f"the pretrained network's quantile head (its 5-95% spread as the std; --mc-samples N gives them for any N); "
                f"raw 90% intervals covered {calibration.raw_coverage[i]:.0%} of {calibration.windows} validation windows, so "
                f"forecasts widen each side by a per-step factor 1..{widest:.2f} (calibrated by default; --no-calibrate for the raw spread)")
    if calibration.scale is None:
        return f"MC Dropout; raw 90% intervals covered {calibration.raw_coverage[i]:.0%} of {rescale}"
    if calibration.reference:
        return (f"history residuals of the {calibration.reference} baseline, rescaled by this {card.config['model']}'s validation "
                f"error relative to it (a validation part of under {FEW_WINDOWS} windows is too few to calibrate on; --mc-samples N "
                f"gives them for any N); the baseline's raw 90% intervals covered {calibration.raw_coverage[i]:.0%} of {rescale}")
    fallback = card.metrics.get("fallback")
    why = (f"the {card.config['model']} baseline kept by the fallback instead of the trained {fallback['network']['model']}"
           if fallback else f"this {card.config['model']} model") + " has no dropout"
    return (f"{kind} residuals ({why}; --mc-samples N gives them for any N); raw 90% intervals "
            f"(the {kind} RMS error per step as std) covered {calibration.raw_coverage[i]:.0%} of {rescale}")
