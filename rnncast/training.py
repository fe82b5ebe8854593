"""Fitting a zoo model on one series or one global model on many: split, scale, window, train,
score against the baselines, fall back, calibrate."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

import numpy as np

from rnncast import distribute
from rnncast.config import TrainConfig
from rnncast.data import TimeSeries, infer_season
from rnncast.card import ONE_SERIES
from rnncast.dataset import Panel, first_few, left_padded
from rnncast.errors import DataError
from rnncast.known import STATIC, known_weights, lead_columns, network_outputs
from rnncast.fitloop import EpochCallback, fit_series, start
from rnncast.rollout import keras_predictor, rollout
from rnncast.models import NetworkShape, build_model, configure, get_spec
from rnncast.preprocessing import Preprocessing, Standardizer, check_window, select_preprocessing
from rnncast.scoring import score
from rnncast.smoothing import calibration_window, resize_smoothing, set_smoothing, smoothing_window
from rnncast.windows import MAX_VALIDATION_ORIGINS, default_window, minimum_rows, validation_rows, window_phrase

log = logging.getLogger("rnncast")

# Rows before its validation tail that a short series of many needs to be padded rather than skipped:
# the naive forecast's last value and one more are observed, not padding.
MIN_PADDED_ROWS = 2
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
    # The one scaler of every series under ``fit(scale="global")``, held-out ones included.
    shared: Standardizer | None = None

    @property
    def outputs(self) -> list[int]:
        """The columns the network predicts."""
        return list(self.shape.outputs)

    @property
    def scaler(self) -> Standardizer:
        """The first series' scaler: a wide file's one."""
        return next(iter(self.scalers.values()))


def resolve(data: Panel, config: TrainConfig, whole: bool = False) -> tuple[TrainConfig, Panel, dict[str, int]]:
    """Fill in the choices left to rnncast (season; window from the median series length). Of many
    series, those too short for training windows plus a validation tail (``whole``: for one
    training window, the series having no validation tail) are left-padded to fit
    (``dataset.left_padded``) if they hold a validation tail and two rows before it, and set aside
    if not, with a warning naming them.

    Returns:
        The config, the panel of usable series (padded where short), and the skipped series with their lengths.

    Raises:
        DataError: no series is long enough (for a wide file: the series is too short).
    """
    season = config.season or infer_season(data.freq)
    lengths = {key: len(one) for key, one in data.series.items()}
    window = config.window or default_window(season, config.horizon, int(np.median(list(lengths.values()))), config.validation_fraction)
    given_window, config = config.window, dataclasses.replace(config, season=season, window=window)
    if config.preprocess != "auto":
        check_window(config.preprocess, season, window)
    needed = window + config.output_steps if whole else minimum_rows(window, config.horizon, config.validation_fraction)
    short = {key: n for key, n in lengths.items() if n < needed}
    skipped = {key: n for key, n in short.items() if not data.many or n < config.horizon + MIN_PADDED_ROWS}
    padded = [key for key in short if key not in skipped]
    name = os.path.basename(data.source)
    if len(skipped) == len(data) and not data.many:
        raise DataError(f"{name}: has {lengths[ONE_SERIES]} rows, but {window_phrase(given_window, window)} and --horizon {config.horizon} "
                        f"need at least {needed} (training windows plus a validation tail); use a smaller --window or --horizon, or more data.")
    least = config.horizon + MIN_PADDED_ROWS
    if len(skipped) == len(data):
        raise DataError(f"{name}: every series is too short: the longest has {max(lengths.values())} rows, but --horizon {config.horizon} "
                        f"needs at least {least} (a validation tail and {MIN_PADDED_ROWS} rows before it); use a smaller --horizon, or more data.")
    if skipped:
        log.warning("%s: skipping %d of %d series with fewer than the %d rows --horizon %d needs (a validation tail and %d before it): %s.",
                    name, len(skipped), len(data), least, config.horizon, MIN_PADDED_ROWS,
                    first_few(f"{k} ({n} rows)" for k, n in skipped.items()))
    if padded:
        log.warning("%s: padding %d of %d series shorter than the %d rows %s and --horizon %d need with their first value: %s.",
                    name, len(padded), len(data), needed, window_phrase(given_window, window), config.horizon,
                    first_few(f"{k} ({lengths[k]} rows)" for k in padded))
    series = {key: left_padded(one, needed, data.freq) if key in padded else one for key, one in data.series.items() if key not in skipped}
    return config, dataclasses.replace(data, series=series), skipped


def fit(data: Panel | TimeSeries, config: TrainConfig, on_epoch: EpochCallback | None = None, held_out: Panel | None = None,
        scale: str = "series", initial=None) -> FittedModel:
    """Train ``config.model`` on the windows of every series long enough, each standardised on its
    own training part, and score it on each one's chronological validation tail.

    Many series train one global network, so that it learns shapes rather than levels and one
    series' scale does not swamp the others; preprocessing "auto" is chosen on the windows of all
    series. With ``config.fallback``, the baseline whose validation MAE (relative to each series'
    scale, averaged over series) beats the network's is kept instead.

    ``initial``: a saved network of the same settings (``train --init``) to train on from; of it as it
    was and as trained further, the better on validation is kept (``metrics["init"]``).

    ``held_out``: series set apart for validation, as the chapter sets 2,000 of its 10,000 apart:
    the series of ``data`` then train whole, and the network is validated, scored and calibrated on
    the last ``horizon`` rows of each held-out series (``score_held_out``). ``scale`` "global"
    standardises every series with the statistics of all training rows, for series on one scale
    whose level and spread are information (the chapter's), instead of each on its own.

    Raises:
        DataError: no series is long enough for the window and horizon.
        TrainingDiverged: the loss became NaN or infinite.
        ValueError: ``held_out`` with preprocessing "auto", which is chosen on validation tails.
    """
    data = data if isinstance(data, Panel) else Panel.of(data)
    window_given = config.window is not None
    config, data, skipped = resolve(data, configure(config), whole=held_out is not None)
    if held_out is not None and config.preprocess == "auto" and get_spec(config.model).trainable:
        raise ValueError("`held_out` series leave no validation tail to choose preprocessing on; pass a method. Received: auto.")
    keras = start(config)
    values, train_ends, scalers, scaled = _split(data, config, 0 if held_out is not None else None, scale == "global")
    if config.model == "holt-winters" and not (window_given or data.many or held_out is not None):
        config = dataclasses.replace(config, window=smoothing_window(config.season, config.window, train_ends[0]))
    # The rows the network is validated and scored on: each series' validation tail, or the held-out series' last horizon.
    checked = held_out if held_out is not None else data
    shared = next(iter(scalers.values())) if scale == "global" else None
    scored = (values, train_ends, scalers) if held_out is None else _split(held_out, config, config.horizon, shared=shared)[:3]
    columns = list(data.columns)
    target_index = [columns.index(t) for t in data.targets]
    outputs = network_outputs(config.strategy, target_index, len(columns), [columns.index(c) for c in data.first.known])
    trainable = get_spec(config.model).trainable
    selection = smoothing = None
    if not trainable:
        # The baselines repeat observed values: they are defined on the series itself.
        config = dataclasses.replace(config, preprocess="none")
    elif config.preprocess == "auto":
        method, selection = select_preprocessing(scaled, train_ends, config.window, config.horizon, config.season, target_index)
        config = dataclasses.replace(config, preprocess=method)
    training_rows = [v[:end] for v, end in zip(scaled, train_ends)]
    preprocessing = Preprocessing.fit(config.preprocess, training_rows, config.season)
    shape = NetworkShape(config.window - preprocessing.dropped, len(columns), config.output_steps, tuple(outputs), bool(data.first.known),
                         lead_columns(columns, config.output_steps))
    with distribute.strategy(config.distribute).scope():
        network = build_model(shape, config)
        if initial is not None:
            network.set_weights(initial.get_weights())
        history: dict[str, Any] = {"epochs": 0, "best_epoch": 0, "seconds": 0.0}
        if trainable:
            cuts = [(preprocessing.series(v), end - preprocessing.dropped) for v, end in zip(scaled, train_ends)]
            if held_out is not None:
                # Each held-out series as its validation part and the window before it, which holds no training window.
                cuts += [(preprocessing.series(scaler.transform(v[end - config.window :])), shape.window)
                         for v, end, scaler in zip(scored[0], scored[1], scored[2].values())]
            history = fit_series(keras, network, cuts, shape, config, on_epoch, preprocessing.window_map(shape.window, shape.steps))
        elif config.model in KNOWN_BASELINES and shape.leads:
            known_weights(network, training_rows, shape, config.season, config.model)
        elif config.model == "holt-winters":
            smoothing = set_smoothing(network, training_rows, list(scalers.values()), shape, config.season, columns)

    tails = [v[end - config.window :] for v, end in zip(scored[0], scored[1])]
    tail_scalers = list(scored[2].values())
    ids = list(checked.series) if checked.many else None
    limit = ORIGINS_PER_SERIES if ids else MAX_VALIDATION_ORIGINS
    predict = preprocessing.wrap(keras_predictor(network), outputs)
    metrics = score(lambda windows, after: rollout(predict, windows, config.horizon, target_index, outputs, after), tails,
                    tail_scalers, config, target_index, data.targets, ids, limit)
    if initial is not None:
        _keep_better(network, initial, metrics, score(lambda windows, after: rollout(preprocessing.wrap(keras_predictor(initial), outputs), windows,
                     config.horizon, target_index, outputs, after), tails, tail_scalers, config, target_index, data.targets, ids, limit),
                     tail_scalers, target_index)
    if selection is not None:
        metrics["preprocessing"] = selection
    fallbacks = config.fallback and trainable
    baselines = {}  # zoo name: (shape, network) of the fitted baselines: with the known inputs, or the smoothing
    if fallbacks and shape.leads and "seasonal_naive" in metrics:
        # Plain seasonal-naive cannot know a holiday or promotion ahead; the network would be judged
        # against a baseline that ignores what it was given. The seasonal baselines with the known
        # inputs (a regression on them in seasonal differences, as AutoARIMA's with regressors) are fair;
        # seasonal-mean, which repeats a fraction of one season's noise, is the one to beat on a noisy
        # but steady season (benchmarks/README.md, known_future.py: promo 0.300 MASE against 0.369).
        baseline_shape = dataclasses.replace(shape, window=config.window)
        for name in KNOWN_BASELINES:
            baseline = build_model(baseline_shape, dataclasses.replace(config, model=name))
            known_weights(baseline, training_rows, baseline_shape, config.season, name)
            repeat = keras_predictor(baseline)
            regressed = score(lambda windows, after: rollout(repeat, windows, config.horizon, target_index, outputs, after), tails,
                              tail_scalers, config, target_index, data.targets, ids, limit)
            key = next(k for k, zoo_name in FALLBACKS.items() if zoo_name == name)
            metrics[key] = regressed["model"]
            for series_key, one in metrics.get("series", {}).items():
                one[key] = regressed["series"][series_key]["model"]
            baselines[name] = baseline_shape, baseline
    if fallbacks and not data.many and held_out is None:
        # Exponential smoothing brings to a short series the structure the statistical methods bring
        # (benchmarks/README.md, real_world.py: kept on a quarter of the real series' forecasts); with
        # known inputs, with a regression on them, as AutoARIMA's with regressors.
        window = smoothing_window(config.season, config.window, train_ends[0])
        smoothing_shape = dataclasses.replace(shape, window=window)
        smoother = build_model(smoothing_shape, dataclasses.replace(config, model="holt-winters"))
        smoothing = set_smoothing(smoother, training_rows, list(scalers.values()), smoothing_shape, config.season, columns)
        smoothed = keras_predictor(smoother)
        metrics["holt_winters"] = score(lambda windows, after: rollout(smoothed, windows, config.horizon, target_index, outputs, after),
                                        [v[end - window :] for v, end in zip(values, train_ends)], tail_scalers,
                                        dataclasses.replace(config, window=window), target_index, data.targets)["model"]
        baselines["holt-winters"] = smoothing_shape, smoother
    kept = better_baseline(_relative(metrics, tail_scalers, target_index), np.ones(len(target_index))) if fallbacks else None
    if kept is not None:
        config, metrics, history = fall_back(kept, config, metrics, history)
        preprocessing = Preprocessing()
        if kept in baselines:
            shape, network = baselines[kept]
            config = dataclasses.replace(config, window=shape.window)
        else:
            shape = NetworkShape(config.window, len(columns), config.output_steps, tuple(outputs))
            network = build_model(shape, config)
    if config.model == "holt-winters":
        metrics["smoothing"] = smoothing
    # A baseline learns nothing from the training rows (known inputs: a few least-squares weights), so
    # every window of a series is out of sample for it: its intervals are calibrated on the whole history,
    # not on a short series' few, overlapping validation windows. A padded series keeps its validation tail.
    network_kept = get_spec(config.model).trainable
    whole = not network_kept and held_out is None
    if whole:
        tails = [tail if one.padded else v for tail, v, one in zip(tails, values, data.series.values())]
    from rnncast.uncertainty import FEW_WINDOWS, at_least, calibrate, network_forecasts, through_baseline

    if network_kept and held_out is None and not checked.many and not data.first.padded and metrics["windows"] < FEW_WINDOWS:
        # Seasonal-naive where the window holds a season, as MASE scales: naive's errors dip every season.
        key = "seasonal_naive" if "seasonal_naive" in metrics else "naive"
        name = FALLBACKS[key]
        reference = keras_predictor(baselines[name][1] if name in baselines else build_model(
            NetworkShape(config.window, len(columns), config.output_steps, tuple(outputs)), dataclasses.replace(config, model=name)))
        calibration = through_baseline(lambda windows, after: rollout(reference, windows, config.horizon, target_index, outputs, after), name,
                                       metrics, key, values[0], tail_scalers[0], config.window, config.horizon, target_index)
    else:
        calibrated, window = network, config.window
        if whole and config.model == "holt-winters" and not checked.many:
            # Its window, every training row, leaves the history few windows: the same smoothing started
            # later, leaving as many as validation scores per series for a stable 90% quantile.
            window = calibration_window(config.season, config.window, len(values[0]), config.horizon, ORIGINS_PER_SERIES)
            calibrated = build_model(dataclasses.replace(shape, window=window), config)
            resize_smoothing(calibrated, network, metrics["smoothing"], config.season)
        forecasters = network_forecasts(calibrated, lambda p: preprocessing.wrap(p, outputs), config.horizon, target_index, outputs, config.seed)
        calibration = calibrate(*forecasters, tails, tail_scalers, window, config.horizon, target_index, whole)
    if calibration.scale is not None and held_out is None and not checked.many:
        # Residual intervals of one series, from its history or a baseline's, are never narrower than
        # the newest errors, those of the validation tail.
        calibration = at_least(calibration, np.array([one["rmse"] for one in metrics["model"].values()]))
    return FittedModel(network, config, scalers, shape, target_index, metrics, history, calibration.to_dict(), preprocessing, skipped, shared)


def _keep_better(network, initial, metrics: dict[str, Any], saved: dict[str, Any], scalers: list[Standardizer], target_index: list[int]) -> None:
    """Of ``network`` trained on from ``initial``'s weights (its validation in ``metrics``) and ``initial``
    as it was (``saved``), keep the lower mean MAE relative to each series' scale, in ``network``
    and ``metrics``; ``metrics["init"]`` records both."""
    relative = {kind: np.mean([e["mae"] for e in _relative(one, scalers, target_index)["model"].values()])
                for kind, one in (("continued", metrics), ("saved", saved))}
    kept = min(relative, key=relative.get)
    choice = {"kept": kept, "saved": saved["model"], "continued": metrics["model"]}
    if kept == "saved":
        network.set_weights(initial.get_weights())
        metrics.update(saved)
    metrics["init"] = choice


# Validation-metric keys of the baselines a trained network must beat, and their zoo names;
# seasonal-mean only with known inputs (``KNOWN_BASELINES``), holt-winters for one series.
FALLBACKS = {"naive": "naive", "seasonal_naive": "seasonal-naive", "seasonal_mean": "seasonal-mean", "holt_winters": "holt-winters"}
# The baselines that take known inputs through weights fitted by least squares (``known.known_weights``).
KNOWN_BASELINES = ("seasonal-naive", "seasonal-mean")


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


def _split(data: Panel, config: TrainConfig, tail: int | None = None, pooled: bool = False, shared: Standardizer | None = None,
           ) -> tuple[list[np.ndarray], list[int], dict[str, Standardizer], list[np.ndarray]]:
    """Each series' values, its first validation row (the last ``tail`` rows are validation; by
    default ``config.validation_fraction`` of them), its scaler fitted before that row (``pooled``:
    one fitted on every series' rows before it; else ``shared`` if given), and its scaled values."""
    values = [one.frame.to_numpy(dtype=np.float64) for one in data.series.values()]
    train_ends = [len(v) - (validation_rows(len(v), config.horizon, config.validation_fraction) if tail is None else tail) for v in values]
    if pooled:
        shared = Standardizer.fit(np.concatenate([v[:end] for v, end in zip(values, train_ends)]))
    scalers = {key: shared if shared is not None else Standardizer.fit(v[:end]) for key, v, end in zip(data.series, values, train_ends)}
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


def score_held_out(fitted: FittedModel, series: Panel, horizon: int | None = None) -> dict[str, Any]:
    """Errors of forecasting the last ``horizon`` rows (default: the trained horizon) of each of
    ``series``, which the model did not train on, from the window before them, each series
    standardised on its rows before them; per series and their means, beside the baselines.

    Raises:
        DataError: a series is too short for the window and horizon.
    """
    config = dataclasses.replace(fitted.config, horizon=horizon or fitted.config.horizon)
    short = [key for key, one in series.series.items() if len(one) < config.window + config.horizon]
    if short:
        raise DataError(f"series {short[0]}: has {len(series.series[short[0]])} rows; --window {config.window} and --horizon "
                        f"{config.horizon} need {config.window + config.horizon}.")
    values, ends, scalers, _ = _split(series, config, config.horizon, shared=fitted.shared)
    tails = [v[end - config.window :] for v, end in zip(values, ends)]
    predict = fitted.preprocessing.wrap(keras_predictor(fitted.network), fitted.outputs)
    return score(lambda windows, after: rollout(predict, windows, config.horizon, fitted.target_index, fitted.outputs, after), tails,
                 list(scalers.values()), config, fitted.target_index, series.targets, list(series.series))
