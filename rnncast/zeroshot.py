"""Zero-shot forecasts from the pretrained weights (``pretrained``), on onnxruntime, with intervals
calibrated split-conformal on each series' own tail.

The network's quantile head gives a spread: its outermost quantiles (5% and 95%) as a normal
interval define a std. How well that spread fits a given series is measured where it costs
nothing: forecasts from up to ``CALIBRATION_ORIGINS`` rolling origins on the series' own tail,
each a full horizon before its end, scored against what followed; ``uncertainty.fit_spread``
turns those scores into per-step factors for each side, as for any trained model, which here
only widen the head's interval (``widened``). The windows of one tail overlap and are few, so they
count alike (no recency weighting).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import logging
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from rnncast._version import __version__
from rnncast.engines import onnx_engine
from rnncast.errors import DataError, ModelFileError, UsageError
from rnncast.pretrained import MIN_CONTEXT, ONNX_FILE, WEIGHTS, Spec, anchor, encode, left_padded, load_spec
from rnncast.jsonable import time_to_json
from rnncast.store import ModelCard
from rnncast.timeaxis import fixed_step_seconds
from rnncast.uncertainty import bounds, fit_spread, z_value
from rnncast.values import observed

if TYPE_CHECKING:
    from rnncast.data import TimeSeries

log = logging.getLogger("rnncast")

# Rolling origins on a series' tail whose forecasts calibrate its intervals: enough for the
# conformal 95% quantile of each side of a 90% interval, and one batch of a few thousand windows.
CALIBRATION_ORIGINS = 48
# Fewer held-out windows than this leave the network's own quantiles uncalibrated.
MIN_CALIBRATION_WINDOWS = 5
# Steps forecast by default for a series without a season (the M1 and tourism competitions asked
# 4 and 6 of yearly series); a seasonal one gets a season.
DEFAULT_HORIZON = 8


@functools.lru_cache(maxsize=1)
def network() -> tuple[Spec, Callable[[np.ndarray], np.ndarray]]:
    """The shipped spec and an onnxruntime predictor of the network, checked against its sha256.

    Raises:
        ModelFileError: the package's weights are missing or damaged.
    """
    path = WEIGHTS / ONNX_FILE
    try:
        spec, content = load_spec(), path.read_bytes()
    except (OSError, ValueError, KeyError) as error:
        raise ModelFileError(f"the pretrained weights in {WEIGHTS} are unreadable ({error}); reinstall rnncast.") from None
    if hashlib.sha256(content).hexdigest() != spec.files["onnx"]:
        raise ModelFileError(f"{path}: the pretrained weights are damaged (their sha256 differs from the package's); reinstall rnncast.")
    return spec, onnx_engine(content, None).deterministic


def quantiles(histories: Sequence[np.ndarray], seasons: np.ndarray, horizon: int,
              predict: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """The network's quantile forecasts ``[n, horizon, quantiles]`` after each history, in its units;
    ``predict`` runs another network of the same spec (a fine-tuned one) instead of the shipped one."""
    spec, shipped = network()
    predict = predict or shipped
    past, mask = left_padded(histories, spec.context)
    inputs, scale = encode(past, mask, seasons)
    base = anchor(past, mask, seasons, horizon, spec.anchor)
    predicted = predict(inputs)[:, :horizon].astype(np.float64)
    return base[..., None] + predicted * scale[:, None, None]


def default_horizon(season: int) -> int:
    """One season ahead, at most the network's horizon; ``DEFAULT_HORIZON`` without a season."""
    return min(season, load_spec().horizon) if season > 1 else DEFAULT_HORIZON


def series_forecast(series: Mapping[Any, TimeSeries], name: str, id_column: str | None, season: int, horizon: int,
                    interval: float | None, calibrate: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``forecast`` of every target of each series (a wide file's one, or a long-format file's by id):
    per target, its columns ``[series, horizon]`` in ``forecast``'s order (``_std``, ``_lower``,
    ``_upper`` after it), and the card's facts of the values forecast (``values.observed``)."""
    first = next(iter(series.values()))
    targets = list(first.targets)
    labels = [(key, t) for key in series for t in targets]
    names = [name if id_column is None else f"{name} ({id_column} {key})" for key, _ in labels]
    result = forecast(names, [series[key].frame[t].to_numpy(dtype=np.float64) for key, t in labels], [season] * len(labels),
                      horizon, interval, calibrate)
    columns = {}
    for t, target in enumerate(targets):  # the results run through the series, each with its targets in turn
        columns[target] = result["mean"][t :: len(targets)]
        columns.update({f"{target}_{key}": result[key][t :: len(targets)] for key in ("std", "lower", "upper") if key in result})
    values = np.concatenate([one.frame[targets].to_numpy(dtype=np.float64) for one in series.values()])
    return columns, {"rows": len(values), **observed(values, targets)}


def pretrained_card(series: TimeSeries, horizon: int, season: int, source: dict[str, Any]) -> ModelCard:
    """The card of the shipped model as it forecasts ``series``: what printing the forecast needs."""
    spec = load_spec()
    return ModelCard(
        config={"model": "pretrained", "window": spec.context, "horizon": horizon, "season": season, "pretrained": spec.to_dict()},
        data_options={}, columns=list(series.columns), targets=list(series.targets), time_column=series.time_column,
        freq=series.freq, step_seconds=fixed_step_seconds(series.freq) if isinstance(series.freq, str) else None,
        last_time=time_to_json(series.frame.index[-1]), time_format=series.time_format,
        metrics={}, training={}, source=source, created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        rnncast_version=__version__,
    )


def check(names: Sequence[str], histories: Sequence[np.ndarray], horizon: int) -> None:
    """Refuse a horizon beyond the network's and a series shorter than it has ever read.

    Raises:
        UsageError: ``horizon`` is beyond the network's.
        DataError: a history has fewer than ``MIN_CONTEXT`` values.
    """
    spec = load_spec()
    if horizon > spec.horizon:
        # Not chained: the network was trained for at most this many steps, and its intervals are
        # calibrated on held-out windows of the horizon's length, which longer horizons would outrun.
        raise UsageError(f"`--horizon` {horizon} is beyond the pretrained model's {spec.horizon} steps; "
                         f"forecast at most {spec.horizon}, or train a model for it (`rnncast train DATA.csv --horizon {horizon}`).")
    for name, history in zip(names, histories):
        if len(history) < MIN_CONTEXT:
            raise DataError(f"{name}: has {len(history)} rows; the pretrained model needs at least {MIN_CONTEXT}.")


def forecast(names: Sequence[str], histories: Sequence[np.ndarray], seasons: Sequence[int], horizon: int,
             interval: float | None = None, calibrate: bool = True) -> dict[str, np.ndarray]:
    """Zero-shot forecasts of ``horizon`` steps after each history (``names`` label them in messages).

    Returns:
        ``mean`` ``[n, horizon]`` (the median quantile) and, with ``interval``, ``std``, ``lower``
        and ``upper``: the central ``interval``, calibrated on each series' tail unless ``calibrate``
        is False or the series is too short for ``MIN_CALIBRATION_WINDOWS`` held-out windows.
    """
    check(names, histories, horizon)
    spec = load_spec()
    seasons = np.asarray(seasons, dtype=np.int64)
    histories = [np.asarray(h, dtype=np.float64) for h in histories]
    tails = [_tail_origins(len(h), horizon) if interval is not None and calibrate else np.zeros(0, int) for h in histories]
    contexts = [*histories, *(h[:o] for h, ends in zip(histories, tails) for o in ends)]
    owners = np.concatenate([np.arange(len(histories)), *(np.full(len(ends), i) for i, ends in enumerate(tails))])
    predicted = quantiles(contexts, seasons[owners], horizon)
    median, std = median_std(predicted, spec)
    result = {"mean": median[: len(histories)]}
    if interval is None:
        return result
    columns: dict[str, list[np.ndarray]] = {"std": [], "lower": [], "upper": []}
    raw = []
    done = len(histories)
    for i, (history, ends) in enumerate(zip(histories, tails)):
        factors = None
        if len(ends) >= MIN_CALIBRATION_WINDOWS:
            actual = history[ends[:, None] + np.arange(horizon)]
            held = slice(done, done + len(ends))
            calibration = fit_spread(median[held, :, None], std[held, :, None], actual[..., None], time_ordered=False)
            factors = widened(*(f[:, 0] for f in calibration.factor(interval, horizon)))
        elif calibrate:
            raw.append(names[i])
        done += len(ends)
        one = bounds(median[i], std[i], interval, factors)
        for key in columns:
            columns[key].append(one[key])
    if raw:
        log.warning("%s: too short to calibrate the intervals on the series' own tail (%d rows needed for this horizon); "
                    "they are the pretrained model's raw quantiles.", _some(raw), MIN_CONTEXT + horizon + MIN_CALIBRATION_WINDOWS - 1)
    return {**result, **{key: np.stack(values) for key, values in columns.items()}}


def widened(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calibration factors that only widen the quantile head's interval, never narrow it.

    A short tail's held-out windows are few and overlap, so their scores are a noisy sample,
    where the head learnt its spread over a corpus of many series. On the M1 and tourism sets
    (`benchmarks/zero_shot.py --model pretrained --limit 100`) the 90% interval covered 0.75-0.94
    of the held-out values calibrated both ways, 0.72-0.92 raw, and 0.81-0.96 widened only.
    """
    return np.maximum(lower, 1.0), np.maximum(upper, 1.0)


def _tail_origins(length: int, horizon: int) -> np.ndarray:
    """The forecast origins of the held-out windows on a tail: each a full horizon before the end."""
    last = length - horizon
    return np.arange(max(MIN_CONTEXT, last - CALIBRATION_ORIGINS + 1), last + 1)


def median_std(predicted: np.ndarray, spec: Spec) -> tuple[np.ndarray, np.ndarray]:
    """The median quantile, and the std of the normal whose central interval the outermost quantiles bound."""
    low, high = spec.quantiles[0], spec.quantiles[-1]
    median = predicted[..., spec.quantiles.index(0.5)]
    spread = (predicted[..., -1] - predicted[..., 0]) / (2 * z_value(high - low))
    return median, np.maximum(spread, 0.0)


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")
