"""`rnncast train DATA.csv --model pretrained`: the shipped forecaster fine-tuned on one series, and
the choice, on the validation tail, between it, the shipped weights as they are and the baselines.

The network's windows are cut from the series itself, as in pretraining (``pretrained.training_pairs``):
every origin of the training part with at least ``MIN_CONTEXT`` rows before it, its future cut at
the end of the training part and at the horizon. The windows whose origins lie in the validation
tail stop the fine-tuning early (the best epoch's weights are kept), and the zero-shot network, the
fine-tuned one, naive and seasonal-naive are scored on the full-horizon forecasts from those origins.
The kept network's quantile spread is calibrated there too (``uncertainty.fit_spread``, widening only,
as ``zeroshot.widened`` explains), so the saved model forecasts through ``rnncast forecast`` with
error bars like any other.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from rnncast.card import ONE_SERIES
from rnncast.config import TrainConfig
from rnncast.data import TimeSeries, infer_season
from rnncast.errors import DataError, UsageError
from rnncast.preprocessing import Preprocessing, Standardizer
from rnncast.pretrained import KERAS_FILE, MIN_CONTEXT, WEIGHTS, left_padded, load_spec, training_pairs
from rnncast.uncertainty import Calibration, bounds, fit_spread
from rnncast.windows import MAX_VALIDATION_ORIGINS, validation_rows
from rnncast.training import _errors, better_baseline, fit
from rnncast.zeroshot import check, median_std, quantiles, widened

log = logging.getLogger("rnncast")

# The options `train --model pretrained` takes (TrainConfig fields); the network's shape is fixed.
TAKES = ("horizon", "season", "epochs", "patience", "learning_rate", "batch_size", "validation_fraction", "seed", "fallback")
# Fine-tuning defaults where the user gave none: a tenth of the pretraining rate moves the weights
# towards the series without forgetting the corpus, and a few epochs suffice on one series' windows.
LEARNING_RATE = 2e-4
EPOCHS = 20
PATIENCE = 3


@dataclasses.dataclass
class FittedPretrained:
    """The kept network (fine-tuned, or the shipped one) with what ``api`` writes into the card."""

    network: Any
    config: TrainConfig
    scaler: Standardizer
    metrics: dict[str, Any]
    history: dict[str, Any]
    uncertainty: dict[str, Any]
    preprocessing: Preprocessing = dataclasses.field(default_factory=Preprocessing)
    # One series, none skipped: what a model card reads of every fitted model (``fitted_card``).
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def scalers(self) -> dict[str, Standardizer]:
        return {ONE_SERIES: self.scaler}


def check_options(given: Iterable[str]) -> None:
    """Refuse the options that do not apply to the pretrained network.

    Raises:
        UsageError: naming them and what it takes.
    """
    foreign = [name for name in given if name not in (*TAKES, "model")]
    if foreign:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in foreign).replace("--learning-rate", "--lr")
        raise UsageError(f"{flags}: not an option of --model pretrained, whose network is fixed; "
                         "it takes --horizon, --season, --epochs, --patience, --lr, --batch-size, --validation-fraction, --seed and --fallback.")


def fit_pretrained(series: TimeSeries, config: TrainConfig, given: Sequence[str] = (), on_epoch=None) -> FittedPretrained:
    """Fine-tune the shipped network on ``series`` and keep, of it and the shipped weights, the one
    with the lower validation MAE (``metrics["pretrained"]`` has both).

    Raises:
        UsageError: a horizon beyond the network's.
        DataError: a series too short for a training window and a validation tail.
    """
    from rnncast.fitloop import start

    spec = load_spec()
    name = series.source.rsplit("/", 1)[-1]
    values = series.frame[list(series.targets)].to_numpy(dtype=np.float64)
    n = len(values)
    check([name], [values[:, 0]], config.horizon)
    season = config.season or infer_season(series.freq) or 1
    train_end = n - validation_rows(n, config.horizon, config.validation_fraction)
    if train_end <= MIN_CONTEXT:
        needed = MIN_CONTEXT + 1 + config.horizon
        while needed - validation_rows(needed, config.horizon, config.validation_fraction) <= MIN_CONTEXT:
            needed += 1
        raise DataError(f"{name}: has {n} rows; fine-tuning the pretrained model with --horizon {config.horizon} needs at least "
                        f"{needed} (training windows and a validation tail); forecast it zero-shot with `rnncast forecast --data`.")
    window = min(spec.context, n)
    config = dataclasses.replace(config, model="pretrained", strategy="direct", window=window, season=season, preprocess="none")
    settings = {key: getattr(config, key) if key in given else default
                for key, default in (("learning_rate", LEARNING_RATE), ("epochs", EPOCHS), ("patience", PATIENCE))}
    keras = start(config)
    network = keras.models.load_model(WEIGHTS / KERAS_FILE, compile=False)
    shipped = keras.models.clone_model(network)
    shipped.set_weights(network.get_weights())
    started = time.perf_counter()
    fit = _windows(values, season, range(MIN_CONTEXT, train_end), train_end, config.horizon, spec)
    held = _windows(values, season, range(train_end, n), n, config.horizon, spec)
    network.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"], clipnorm=1.0), loss=pinball(spec.quantiles))
    callbacks = [keras.callbacks.EarlyStopping(patience=settings["patience"], restore_best_weights=True),
                 keras.callbacks.TerminateOnNaN()]
    if on_epoch is not None:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: on_epoch(epoch + 1, settings["epochs"], logs)))
    trained = network.fit(*fit, validation_data=held, epochs=settings["epochs"], batch_size=config.batch_size, callbacks=callbacks,
                          verbose=0, shuffle=True)
    losses = trained.history["val_loss"]
    history = {"epochs": len(losses), "best_epoch": int(np.argmin(losses)) + 1, "seconds": round(time.perf_counter() - started, 2),
               "learning_rate": settings["learning_rate"]}
    origins = np.arange(train_end, n - config.horizon + 1)[-MAX_VALIDATION_ORIGINS:]
    actual = np.stack([values[origins[:, None] + np.arange(config.horizon), t] for t in range(values.shape[1])], axis=-1)
    scored = {kind: _validation(one, values, origins, season, config.horizon, spec) for kind, one in (("zero_shot", shipped), ("fine_tuned", network))}
    errors = {kind: _errors(median, actual, series.targets) for kind, (median, _) in scored.items()}
    kept = min(errors, key=lambda kind: np.mean([e["mae"] for e in errors[kind].values()]))
    metrics = {"windows": len(origins), "horizon": config.horizon, "model": errors[kept],
               **_baselines(values, origins, season, config.horizon, actual, series.targets),
               "pretrained": {"kept": kept.replace("_", "-"), **{kind.replace("_", "-"): e for kind, e in errors.items()}}}
    scale = values[:train_end].std(axis=0)
    baseline = better_baseline(metrics, np.where(scale > 0, scale, 1.0)) if config.fallback else None
    fallen = _fall_back(series, baseline, config, metrics, history) if baseline is not None else None
    if fallen is not None:
        return fallen
    median, std = scored[kept]
    calibration = fit_spread(median, std, actual, time_ordered=False)  # few, overlapping windows, as on a zero-shot tail
    identity = Standardizer(np.zeros(len(series.columns)), np.ones(len(series.columns)))  # the network scales each window itself
    return FittedPretrained(network if kept == "fine_tuned" else shipped, config, identity, metrics, history, calibration.to_dict())


def _fall_back(series: TimeSeries, baseline: str, config: TrainConfig, metrics: dict[str, Any], history: dict[str, Any]):
    """``baseline`` fitted as a zoo model, with the pretrained model's validation kept under ``metrics["fallback"]``;
    None where the series is too short for the baseline's own window and validation tail."""
    try:
        fitted = fit(series, dataclasses.replace(config, model=baseline, window=None, preprocess="none"))
    except DataError:
        return None
    kind = metrics["pretrained"]["kept"]
    fitted.metrics["fallback"] = {
        "kept": baseline, "reason": f"its validation MAE is lower than the pretrained model's ({kind})",
        "network": {"model": "pretrained", "preprocess": "none", "validation": metrics["model"], "training": history,
                    "pretrained": metrics["pretrained"]},
    }
    return fitted


def pinball(levels: Sequence[float]):
    """The quantile (pinball) loss over ``y_true [..., 2]`` = target and per-step weight."""
    import tensorflow as tf

    q = tf.constant(levels, tf.float32)

    def loss(y_true, y_pred):
        target, weight = y_true[..., :1], y_true[..., 1:]
        error = target - y_pred
        return tf.reduce_mean(weight * tf.maximum(q * error, (q - 1) * error), axis=[1, 2])

    return loss


def saved_forecast(predict: Callable[[np.ndarray], np.ndarray], recent: np.ndarray, targets: list[str], target_index: list[int],
                   season: int, horizon: int, uncertainty: dict[str, Any] | None, interval: float | None,
                   calibrate: bool = True) -> dict[str, np.ndarray]:
    """A saved pretrained model's forecast after ``recent [rows, columns]``: per target its median and,
    with ``interval``, ``_std``, ``_lower`` and ``_upper``, calibrated as on validation."""
    check(["the data"], [recent[:, target_index[0]]], horizon)
    histories = [recent[:, t] for t in target_index]
    median, std = median_std(quantiles(histories, np.full(len(histories), season), horizon, predict), load_spec())
    columns = {}
    factors = None
    if interval is not None and calibrate and uncertainty is not None:
        factors = widened(*Calibration.from_dict(uncertainty).factor(interval, horizon))
    for t, name in enumerate(targets):
        columns[name] = median[t]
        if interval is not None:
            one = bounds(median[t], std[t], interval, None if factors is None else (factors[0][:, t], factors[1][:, t]))
            columns.update({f"{name}_{key}": one[key] for key in ("std", "lower", "upper")})
    return columns


def _windows(values: np.ndarray, season: int, origins: Iterable[int], end: int, horizon: int, spec) -> tuple[np.ndarray, np.ndarray]:
    """Network inputs and ``[target, weight]`` of every target's windows at ``origins``, futures cut at ``end`` and ``horizon``."""
    origins = np.asarray(list(origins))
    rows = [(o, t) for t in range(values.shape[1]) for o in origins]
    past, mask = left_padded([values[:o, t] for o, t in rows], spec.context)
    steps = np.arange(spec.horizon)
    index = np.array([o for o, _ in rows])[:, None] + steps
    future = np.stack([values[np.minimum(i, len(values) - 1), t] for i, (_, t) in zip(index, rows)])
    future_mask = (index < end) & (steps < horizon)
    inputs, target, weight = training_pairs(past, mask, np.full(len(rows), season), future, future_mask, spec.anchor)
    return inputs, np.stack([target, weight], axis=-1).astype(np.float32)


def _validation(network, values: np.ndarray, origins: np.ndarray, season: int, horizon: int, spec) -> tuple[np.ndarray, np.ndarray]:
    """Median and std ``[origins, horizon, targets]`` of ``network``'s forecasts from each origin."""
    histories = [values[:o, t] for t in range(values.shape[1]) for o in origins]
    predict = lambda inputs: network.predict(inputs, batch_size=1024, verbose=0)  # noqa: E731
    median, std = median_std(quantiles(histories, np.full(len(histories), season), horizon, predict), spec)
    shape = (values.shape[1], len(origins), horizon)
    return median.reshape(shape).transpose(1, 2, 0), std.reshape(shape).transpose(1, 2, 0)


def _baselines(values: np.ndarray, origins: np.ndarray, season: int, horizon: int, actual: np.ndarray, targets) -> dict[str, Any]:
    naive = np.repeat(values[origins - 1][:, None], horizon, axis=1)
    out = {"naive": _errors(naive, actual, targets)}
    if season > 1 and origins[0] >= season:
        out["seasonal_naive"] = _errors(values[origins[:, None] - season + np.arange(horizon) % season], actual, targets)
    return out
