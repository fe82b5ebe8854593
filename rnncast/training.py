"""Fitting a zoo model on a series: split, scale, window, train, score against the naive baseline."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Callable, Sequence

import numpy as np

from rnncast import distribute
from rnncast.config import TrainConfig
from rnncast.data import TimeSeries, infer_season
from rnncast.errors import DataError
from rnncast.known import lead_columns, network_outputs
from rnncast.fitloop import EpochCallback, fit_series, panel_dataset, sequence_times, start, train_network
from rnncast.rollout import keras_predictor, rollout
from rnncast.models import NetworkShape, build_model, configure, get_spec
from rnncast.preprocessing import Preprocessing, Standardizer, check_window, select_preprocessing
from rnncast.windows import MAX_VALIDATION_ORIGINS, cut_windows, default_window, minimum_rows, origins, validation_rows, window_phrase

log = logging.getLogger("rnncast")


@dataclasses.dataclass
class FittedModel:
    """A trained network with everything needed to forecast from it."""

    network: Any
    config: TrainConfig
    scaler: Standardizer
    shape: NetworkShape
    target_index: list[int]
    metrics: dict[str, Any]
    history: dict[str, Any]
    uncertainty: dict[str, Any] | None = None
    preprocessing: Preprocessing = dataclasses.field(default_factory=Preprocessing)

    @property
    def outputs(self) -> list[int]:
        """The columns the network predicts."""
        return list(self.shape.outputs)


def resolve_config(series: TimeSeries, config: TrainConfig) -> TrainConfig:
    """Fill in the choices left to rnncast (season, window) and check the series is long enough."""
    season = config.season or infer_season(series.freq)
    window = config.window or default_window(season, config.horizon, len(series))
    given_window, config = config.window, dataclasses.replace(config, season=season, window=window)
    if config.preprocess != "auto":
        check_window(config.preprocess, season, window)
    needed = minimum_rows(window, config.horizon, config.validation_fraction)
    if len(series) < needed:
        raise DataError(
            f"{os.path.basename(series.source)}: has {len(series)} rows, but {window_phrase(given_window, window)} and "
            f"--horizon {config.horizon} need at least {needed} (training windows plus a validation tail); "
            "use a smaller --window or --horizon, or more data."
        )
    return config


def fit(series: TimeSeries, config: TrainConfig, on_epoch: EpochCallback | None = None) -> FittedModel:
    """Train ``config.model`` on ``series`` and score it on the chronological validation tail.

    Raises:
        DataError: the series is too short for the window and horizon.
        TrainingDiverged: the loss became NaN or infinite.
    """
    config = resolve_config(series, configure(config))
    keras = start(config)

    values, train_end, scaler, scaled, target_index = _split(series, config)
    columns = list(series.columns)
    outputs = network_outputs(config.strategy, target_index, len(columns), [columns.index(c) for c in series.known])
    selection = None
    if not get_spec(config.model).trainable:
        # The baselines repeat observed values: they are defined on the series itself.
        config = dataclasses.replace(config, preprocess="none")
    elif config.preprocess == "auto":
        method, selection = select_preprocessing(scaled, train_end, config.window, config.horizon, config.season, target_index)
        config = dataclasses.replace(config, preprocess=method)
    preprocessing = Preprocessing.fit(config.preprocess, scaled[:train_end], config.season)
    shape = NetworkShape(config.window - preprocessing.dropped, len(columns), config.output_steps, tuple(outputs), bool(series.known),
                         lead_columns(columns, config.output_steps))
    with distribute.strategy(config.distribute).scope():
        network = build_model(shape, config)
        history: dict[str, Any] = {"epochs": 0, "best_epoch": 0, "seconds": 0.0}
        if get_spec(config.model).trainable:
            history = fit_series(keras, network, [(preprocessing.series(scaled), train_end - preprocessing.dropped)], shape, config,
                                 on_epoch, preprocessing.window_map(shape.window, shape.steps))
        elif config.model == "seasonal-naive" and shape.leads:
            fit_known_weights(network, scaled[:train_end], shape, config.season)

    predict = preprocessing.wrap(keras_predictor(network), outputs)
    metrics = score(lambda windows, after: rollout(predict, windows, config.horizon, target_index, outputs, after),
                    [values[train_end - config.window :]], [scaler],
                    config, target_index, series.targets)
    if selection is not None:
        metrics["preprocessing"] = selection
    fallbacks = config.fallback and get_spec(config.model).trainable
    baseline = None  # (shape, network) of seasonal-naive with the known inputs
    if fallbacks and shape.leads and "seasonal_naive" in metrics:
        # Plain seasonal-naive cannot know a holiday or promotion ahead; the network would be judged
        # against a baseline that ignores what it was given. Seasonal-naive with the known inputs
        # (a regression on them in seasonal differences, as AutoARIMA's with regressors) is the fair one.
        baseline_shape = dataclasses.replace(shape, window=config.window)
        baseline = baseline_shape, build_model(baseline_shape, dataclasses.replace(config, model="seasonal-naive"))
        fit_known_weights(baseline[1], scaled[:train_end], baseline_shape, config.season)
        repeat = keras_predictor(baseline[1])
        metrics["seasonal_naive"] = score(lambda windows, after: rollout(repeat, windows, config.horizon, target_index, outputs, after),
                                          [values[train_end - config.window :]], [scaler], config, target_index, series.targets)["model"]
    kept = better_baseline(metrics, scaler.scale[target_index]) if fallbacks else None
    if kept is not None:
        config, metrics, history = fall_back(kept, config, metrics, history)
        preprocessing = Preprocessing()
        if kept == "seasonal-naive" and baseline is not None:
            shape, network = baseline
        else:
            shape = NetworkShape(config.window, len(columns), config.output_steps, tuple(outputs))
            network = build_model(shape, config)
    from rnncast.uncertainty import calibrate, network_forecasts

    forecasters = network_forecasts(network, lambda p: preprocessing.wrap(p, outputs), config.horizon, target_index, outputs, config.seed)
    calibration = calibrate(*forecasters, [values[train_end - config.window :]], [scaler], config.window, config.horizon, target_index)
    uncertainty = calibration.to_dict()
    return FittedModel(network, config, scaler, shape, target_index, metrics, history, uncertainty, preprocessing)


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
    config = dataclasses.replace(config, model=baseline, preprocess="none")
    return config, metrics, {"epochs": 0, "best_epoch": 0, "seconds": 0.0}


def fit_known_weights(network, train: np.ndarray | Sequence[np.ndarray], shape: NetworkShape, season: int) -> None:
    """Least-squares weights of seasonal-naive's known inputs (``models``' ``known_linear``): what
    the standardised training rows ``train`` (of one series, or of each of many, pooled) say each
    step's change in a known column, against the row seasonal-naive repeats, adds to the outputs'."""
    changes, residuals = [], []
    for rows in [train] if isinstance(train, np.ndarray) else train:
        starts = np.arange(len(rows) - shape.window - shape.steps + 1)
        windows = rows[starts[:, None] + np.arange(shape.window)]
        future = rows[starts[:, None] + shape.window + np.arange(shape.steps)][..., list(shape.outputs)]
        repeated = windows[:, shape.window - season + np.arange(shape.steps) % season]
        changes.append((windows[:, -1][:, np.array(shape.leads[1:])] - repeated[..., list(shape.leads[0])]).reshape(-1, len(shape.leads[0])))
        residuals.append((future - repeated[..., list(shape.outputs)]).reshape(-1, len(shape.outputs)))
    weights = np.linalg.lstsq(np.concatenate(changes), np.concatenate(residuals), rcond=None)[0]
    network.get_layer("known_linear").set_weights([weights.astype(np.float32)])


def _split(series: TimeSeries, config: TrainConfig):
    """The values, the first validation row, the scaler fitted before it, the scaled values and the targets' columns."""
    values = series.frame.to_numpy(dtype=np.float64)
    train_end = len(values) - validation_rows(len(values), config.horizon, config.validation_fraction)
    scaler = Standardizer.fit(values[:train_end])
    return values, train_end, scaler, scaler.transform(values), [series.columns.index(t) for t in series.targets]


def rank_preprocessing(series: TimeSeries, config: TrainConfig) -> list[str]:
    """The preprocessing methods that apply to ``series``, best first by ``select_preprocessing``'s validation score."""
    config = resolve_config(series, config)
    _, train_end, _, scaled, target_index = _split(series, config)
    _, selection = select_preprocessing(scaled, train_end, config.window, config.horizon, config.season, target_index)
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
