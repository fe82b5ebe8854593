"""Fitting a zoo model on one series or one global model on many: split, scale, window, train,
score against the baselines, fall back, calibrate."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Callable, Sequence

import numpy as np

from rnncast import distribute
from rnncast.config import TrainConfig
from rnncast.data import TimeSeries, infer_season
from rnncast.dataset import SINGLE, Panel, first_few
from rnncast.errors import DataError
from rnncast.known import STATIC, network_outputs
from rnncast.fitloop import EpochCallback, fit_series, panel_dataset, sequence_times, start, train_network
from rnncast.rollout import keras_predictor, rollout
from rnncast.models import NetworkShape, build_model, configure, get_spec
from rnncast.preprocessing import Preprocessing, Standardizer, check_window, select_preprocessing
from rnncast.windows import MAX_VALIDATION_ORIGINS, cut_windows, default_window, minimum_rows, origins, validation_rows, window_phrase

log = logging.getLogger("rnncast")

# Validation windows scored per series of many: enough for a stable error, few enough for thousands of series.
ORIGINS_PER_SERIES = 50


@dataclasses.dataclass
class FittedModel:
    """A trained network with everything needed to forecast from it: for one series or a global
    model of many, each series' scaler (``skipped``: the series too short to train on, with their lengths)."""

    network: Any
    config: TrainConfig
    scalers: dict[str, Standardizer]
    shape: NetworkShape
    target_index: list[int]
    metrics: dict[str, Any]
    history: dict[str, Any]
    uncertainty: dict[str, Any] | None = None
    preprocessing: Preprocessing = dataclasses.field(default_factory=Preprocessing)
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def outputs(self) -> list[int]:
        """The columns the network predicts."""
        return list(self.shape.outputs)

    @property
    def scaler(self) -> Standardizer:
        """The first series' scaler: a wide file's one."""
        return next(iter(self.scalers.values()))


def resolve(data: Panel, config: TrainConfig) -> tuple[TrainConfig, Panel, dict[str, int]]:
    """Fill in the choices left to rnncast (season; window from the median series length), and set
    aside the series too short for training windows plus a validation tail, with a warning naming them.

    Returns:
        The config, the panel of usable series, and the skipped series with their lengths.

    Raises:
        DataError: no series is long enough (for a wide file: the series is too short).
    """
    season = config.season or infer_season(data.freq)
    lengths = {key: len(one) for key, one in data.series.items()}
    window = config.window or default_window(season, config.horizon, int(np.median(list(lengths.values()))))
    given_window, config = config.window, dataclasses.replace(config, season=season, window=window)
    if config.preprocess != "auto":
        check_window(config.preprocess, season, window)
    needed = minimum_rows(window, config.horizon, config.validation_fraction)
    skipped = {key: n for key, n in lengths.items() if n < needed}
    name = os.path.basename(data.source)
    need = f"{window_phrase(given_window, window)} and --horizon {config.horizon} need at least {needed}"
    if len(skipped) == len(data):
        has = f"has {lengths[SINGLE]} rows" if not data.many else f"every series is too short: the longest has {max(lengths.values())} rows"
        raise DataError(f"{name}: {has}, but {need} (training windows plus a validation tail); use a smaller --window or --horizon, or more data.")
    if skipped:
        log.warning("%s: skipping %d of %d series with fewer than the %d rows %s and --horizon %d need: %s.",
                    name, len(skipped), len(data), needed, window_phrase(given_window, window), config.horizon,
                    first_few(f"{k} ({n} rows)" for k, n in skipped.items()))
    return config, data.subset([key for key in data.series if key not in skipped]), skipped


def fit(data: Panel | TimeSeries, config: TrainConfig, on_epoch: EpochCallback | None = None) -> FittedModel:
    """Train ``config.model`` on the windows of every series long enough, each standardised on its
    own training part, and score it on each one's chronological validation tail.

    Many series train one global network, so that it learns shapes rather than levels and one
    series' scale does not swamp the others; preprocessing "auto" is chosen on the windows of all
    series. With ``config.fallback``, the baseline whose validation MAE (relative to each series'
    scale, averaged over series) beats the network's is kept instead.

    Raises:
        DataError: no series is long enough for the window and horizon.
        TrainingDiverged: the loss became NaN or infinite.
    """
    data = data if isinstance(data, Panel) else Panel.of(data)
    config, data, skipped = resolve(data, configure(config))
    keras = start(config)
    values, train_ends, scalers, scaled = _split(data, config)
    columns = list(data.columns)
    target_index = [columns.index(t) for t in data.targets]
    outputs = network_outputs(config.strategy, target_index, len(columns), [columns.index(c) for c in data.first.known])
    trainable = get_spec(config.model).trainable
    selection = None
    if not trainable:
        # The baselines repeat observed values: they are defined on the series itself.
        config = dataclasses.replace(config, preprocess="none")
    elif config.preprocess == "auto":
        method, selection = select_preprocessing(scaled, train_ends, config.window, config.horizon, config.season, target_index)
        config = dataclasses.replace(config, preprocess=method)
    preprocessing = Preprocessing.fit(config.preprocess, [v[:end] for v, end in zip(scaled, train_ends)], config.season)
    shape = NetworkShape(config.window - preprocessing.dropped, len(columns), config.output_steps, tuple(outputs), bool(data.first.known))
    with distribute.strategy(config.distribute).scope():
        network = build_model(shape, config)
        history: dict[str, Any] = {"epochs": 0, "best_epoch": 0, "seconds": 0.0}
        if trainable:
            cuts = [(preprocessing.series(v), end - preprocessing.dropped) for v, end in zip(scaled, train_ends)]
            history = fit_series(keras, network, cuts, shape, config, on_epoch, preprocessing.window_map(shape.window, shape.steps))

    tails = [v[end - config.window :] for v, end in zip(values, train_ends)]
    ids = list(data.series) if data.many else None
    predict = preprocessing.wrap(keras_predictor(network), outputs)
    metrics = score(lambda windows, after: rollout(predict, windows, config.horizon, target_index, outputs, after), tails,
                    list(scalers.values()), config, target_index, data.targets, ids, ORIGINS_PER_SERIES if ids else MAX_VALIDATION_ORIGINS)
    if selection is not None:
        metrics["preprocessing"] = selection
    kept = better_baseline(_relative(metrics, list(scalers.values()), target_index), np.ones(len(target_index))) if config.fallback and trainable else None
    if kept is not None:
        config, metrics, history = fall_back(kept, config, metrics, history)
        preprocessing = Preprocessing()
        shape = NetworkShape(config.window, len(columns), config.output_steps, tuple(outputs))
        network = build_model(shape, config)
    from rnncast.uncertainty import calibrate, network_forecasts

    forecasters = network_forecasts(network, lambda p: preprocessing.wrap(p, outputs), config.horizon, target_index, outputs, config.seed)
    calibration = calibrate(*forecasters, tails, list(scalers.values()), config.window, config.horizon, target_index)
    return FittedModel(network, config, scalers, shape, target_index, metrics, history, calibration.to_dict(), preprocessing, skipped)


# Validation-metric keys of the baselines a trained network must beat, and their zoo names.
FALLBACKS = {"naive": "naive", "seasonal_naive": "seasonal-naive"}


def better_baseline(metrics: dict[str, Any], scale: np.ndarray) -> str | None:
    """The baseline (zoo name) with the lowest validation MAE, if it is lower than the model's;
    MAEs are divided by the targets' training standard deviations so that targets weigh alike."""

    def mae(key: str) -> float:
        return float(np.mean([errors["mae"] for errors in metrics[key].values()] / scale))

    best = min((key for key in FALLBACKS if key in metrics), key=mae)
    return FALLBACKS[best] if mae(best) < mae("model") else None


def fall_back(baseline: str, config: TrainConfig, metrics: dict[str, Any], history: dict[str, Any]):
    """The config, metrics and history of ``baseline`` kept instead of the trained network; the
    network's own are kept under ``metrics["fallback"]`` for the card."""
    key = next(k for k, name in FALLBACKS.items() if name == baseline)
    network = {"model": config.model, "preprocess": config.preprocess, "validation": metrics["model"], "training": history}
    if "preprocessing" in metrics:
        network["preprocessing"] = metrics.pop("preprocessing")
    metrics = {
        **metrics,
        "model": metrics[key],
        "fallback": {"kept": baseline, "reason": f"its validation MAE is lower than the trained {config.model}'s", "network": network},
    }
    if "series" in metrics:
        metrics["series"] = {k: {**one, "model": one[key]} for k, one in metrics["series"].items()}
    config = dataclasses.replace(config, model=baseline, preprocess="none")
    return config, metrics, {"epochs": 0, "best_epoch": 0, "seconds": 0.0}


def _split(data: Panel, config: TrainConfig) -> tuple[list[np.ndarray], list[int], dict[str, Standardizer], list[np.ndarray]]:
    """Each series' values, its first validation row, its scaler fitted before that row, and its scaled values."""
    values = [one.frame.to_numpy(dtype=np.float64) for one in data.series.values()]
    train_ends = [len(v) - validation_rows(len(v), config.horizon, config.validation_fraction) for v in values]
    scalers = {key: Standardizer.fit(v[:end]) for key, v, end in zip(data.series, values, train_ends)}
    _share_static_scale(list(scalers.values()), values, list(data.columns))
    return values, train_ends, scalers, [scaler.transform(v) for scaler, v in zip(scalers.values(), values)]


def _share_static_scale(scalers: list[Standardizer], values: list[np.ndarray], columns: list[str]) -> None:
    """Scale each ``--static`` attribute alike across series: per series it is a constant, which
    its own standardisation would turn into 0 for every series."""
    shared = [i for i, c in enumerate(columns) if c.startswith(STATIC)]
    if not shared:
        return
    overall = Standardizer.fit(np.stack([v[0, shared] for v in values]))
    for scaler in scalers:
        scaler.mean[shared], scaler.scale[shared] = overall.mean, overall.scale


def _relative(metrics: dict[str, Any], scalers: list[Standardizer], target_index: list[int]) -> dict[str, Any]:
    """The validation MAEs of the model and baselines divided by each series' scale and averaged over
    series, so that the fallback weighs series alike whatever their levels."""
    series = list(metrics["series"].values()) if "series" in metrics else [metrics]
    kinds = [key for key in ("model", *FALLBACKS) if key in metrics]
    return {
        kind: {t: {"mae": float(np.mean([one[kind][t]["mae"] / scaler.scale[i] for one, scaler in zip(series, scalers)]))}
               for t, i in zip(metrics["model"], target_index)}
        for kind in kinds
    }


def rank_preprocessing(data: Panel | TimeSeries, config: TrainConfig) -> list[str]:
    """The preprocessing methods that apply to ``data``, best first by ``select_preprocessing``'s validation score."""
    config, data, _ = resolve(data if isinstance(data, Panel) else Panel.of(data), config)
    columns = list(data.columns)
    _, train_ends, _, scaled = _split(data, config)
    _, selection = select_preprocessing(scaled, train_ends, config.window, config.horizon, config.season, [columns.index(t) for t in data.targets])
    scores = {method: value for method, value in selection["scores"].items() if value is not None}
    return sorted(scores, key=scores.__getitem__) or ["none"]


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
        metrics = {"windows": int(len(first)), "horizon": config.horizon, "model": _errors(model, actual, targets),
                   "naive": _errors(naive, actual, targets)}
        if season and 1 < season <= config.window:
            repeated = config.window - season + np.arange(config.horizon) % season
            metrics["seasonal_naive"] = _errors(tail[first[:, None] + repeated][..., target_index], actual, targets)
        per_series.append(metrics)
        done += len(first)
    if ids is None:
        return per_series[0]
    kinds = [key for key in ("model", "naive", "seasonal_naive") if key in per_series[0]]
    mean = {kind: {t: {m: float(np.mean([s[kind][t][m] for s in per_series])) for m in ("mae", "rmse")} for t in targets} for kind in kinds}
    series = {key: {k: v for k, v in metrics.items() if k != "horizon"} for key, metrics in zip(ids, per_series)}
    return {"windows": done, "horizon": config.horizon, **mean, "series": series}


def _errors(predicted: np.ndarray, actual: np.ndarray, targets: tuple[str, ...]) -> dict[str, dict[str, float]]:
    error = predicted - actual
    per_target = {
        name: {"mae": float(np.abs(error[..., i]).mean()), "rmse": float(np.sqrt((error[..., i] ** 2).mean()))}
        for i, name in enumerate(targets)
    }
    return per_target


def fit_many(series: np.ndarray, config: TrainConfig, *, validation: np.ndarray | None = None,
             target_index: Sequence[int] | None = None, on_epoch: EpochCallback | None = None) -> FittedModel:
    """Train one model on many independent series at once, as the chapter does.

    Windows are cut within each series, never across two. The model is scored on forecasting the
    last ``horizon`` rows of each validation series from the ``window`` rows before them.

    Args:
        series: training series ``[series, time, features]``.
        config: model and training settings; ``window`` of None means every row but the horizon.
        validation: validation series of the same shape; by default the last
            ``config.validation_fraction`` of ``series``.
        target_index: the feature columns to forecast (default: all).
        on_epoch: called as ``on_epoch(epoch, max_epochs, logs)`` after each epoch.

    Raises:
        DataError: the arrays are not 3-D, disagree in shape, or are too short for window and horizon.
        TrainingDiverged: the loss became NaN or infinite.
    """
    values = _panel(series, "series")
    if validation is None:
        count = max(1, round(len(values) * config.validation_fraction))
        if count >= len(values):
            raise DataError(f"series: has {len(values)} series; holding out {count} for validation leaves none to train on.")
        values, validation = values[:-count], values[-count:]
    validation = _panel(validation, "validation")
    if validation.shape[2] != values.shape[2]:
        raise DataError(f"validation: has {validation.shape[2]} features per step, the training series {values.shape[2]}.")
    config = configure(config)
    window = config.window or values.shape[1] - config.output_steps
    config = dataclasses.replace(config, window=window)
    for name, array, needed in (("series", values, window + config.output_steps), ("validation", validation, window + config.horizon)):
        if array.shape[1] < needed:
            raise DataError(
                f"{name}: has {array.shape[1]} steps per series, but --window {window} and --horizon "
                f"{config.horizon} need at least {needed}; use a smaller --window or --horizon."
            )
    keras = start(config)
    n_features = values.shape[2]
    targets = list(range(n_features)) if target_index is None else list(target_index)
    outputs = targets if config.strategy == "direct" else list(range(n_features))
    shape = NetworkShape(window, n_features, config.output_steps, tuple(outputs))
    scaler = Standardizer.fit(values.reshape(-1, n_features))
    network = build_model(shape, config)
    history: dict[str, Any] = {"epochs": 0, "best_epoch": 0, "seconds": 0.0}
    if get_spec(config.model).trainable:
        times = sequence_times(config, window)
        seed = config.seed if config.seed is not None else int(np.random.default_rng().integers(2**31))
        train = panel_dataset(scaler.transform(values), shape, config.batch_size, shuffle=True, seed=seed, sequence_times=times)
        held_out = panel_dataset(scaler.transform(validation), shape, 1024, shuffle=False, seed=None, sequence_times=times)
        history = train_network(keras, network, train, held_out, config, on_epoch)
    fitted = FittedModel(network, config, scaler, shape, targets, {}, history)
    fitted.metrics = evaluate_many(fitted, validation)
    return fitted


def evaluate_many(fitted: FittedModel, series: np.ndarray, horizon: int | None = None) -> dict[str, Any]:
    """Errors of forecasting the last ``horizon`` rows of each series (default: the trained horizon)
    from the window before them, beside the naive baseline, in original units; targets are named by index.

    Raises:
        DataError: the series are not 3-D, or too short for the window and horizon.
        UsageError: the horizon needs chained blocks that the model cannot chain.
    """
    values = _panel(series, "series")
    horizon = horizon or fitted.config.horizon
    window = fitted.config.window
    if values.shape[1] < window + horizon:
        raise DataError(f"series: has {values.shape[1]} steps per series; --window {window} and --horizon {horizon} need {window + horizon}.")
    windows = fitted.scaler.transform(values[:, -window - horizon : values.shape[1] - horizon])
    actual = values[:, -horizon:][..., fitted.target_index]
    predicted = fitted.scaler.inverse(rollout(keras_predictor(fitted.network), windows, horizon, fitted.target_index), fitted.target_index)
    naive = np.repeat(values[:, -horizon - 1 : -horizon][..., fitted.target_index], horizon, axis=1)
    names = tuple(str(i) for i in fitted.target_index)
    return {"windows": len(values), "horizon": horizon, "model": _errors(predicted, actual, names), "naive": _errors(naive, actual, names)}


def _panel(array: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(array, dtype=np.float64)
    if values.ndim != 3 or 0 in values.shape:
        raise DataError(f"{name}: expected a non-empty 3-D array [series, time, features]. Received shape: {values.shape}.")
    if not np.isfinite(values).all():
        raise DataError(f"{name}: holds {int((~np.isfinite(values)).sum())} missing or infinite values; fill or drop them first.")
    return values
