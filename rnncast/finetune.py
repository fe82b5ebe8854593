"""`rnncast train DATA.csv --model pretrained`: the shipped forecaster fine-tuned on one series or
on many at once, and the choice, on the validation tails, between it, the shipped weights as they
are and the baselines; and `train --init MODEL_DIR`, which continues a saved network the same way.

The network's windows are cut from each series itself, as in pretraining (``pretrained.training_pairs``):
every origin of a series' training part with at least ``MIN_CONTEXT`` rows before it, its future cut
at the end of the training part and at the horizon. The windows whose origins lie in the validation
tails stop the fine-tuning early (the best epoch's weights are kept), and the zero-shot network, the
fine-tuned one, naive and seasonal-naive are scored on the full-horizon forecasts from those origins,
per series and, for many series, on the mean over series of the errors relative to each series'
scale. The kept network's quantile spread is calibrated there too, across the series
(``uncertainty.fit_spread``, widening only, as ``zeroshot.widened`` explains), so the saved model
forecasts through ``rnncast forecast`` with error bars like any other.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from rnncast.config import DataOptions, TrainConfig
from rnncast.data import infer_season
from rnncast.dataset import Panel, first_few
from rnncast.errors import DataError, UsageError
from rnncast.preprocessing import Preprocessing, Standardizer
from rnncast.store import ModelCard, load_card
from rnncast.pretrained import KERAS_FILE, MIN_CONTEXT, WEIGHTS, left_padded, load_spec, training_pairs
from rnncast.uncertainty import Calibration, bounds, fit_spread
from rnncast.windows import MAX_VALIDATION_ORIGINS, validation_rows
from rnncast.scoring import errors
from rnncast.training import ORIGINS_PER_SERIES, _relative, better_baseline, fit
from rnncast.zeroshot import check, median_std, quantiles, widened

log = logging.getLogger("rnncast")

# The options `train --model pretrained` takes (TrainConfig fields); the network's shape is fixed.
TAKES = ("horizon", "season", "epochs", "patience", "learning_rate", "batch_size", "validation_fraction", "seed", "fallback")
# Fine-tuning defaults where the user gave none: a tenth of the pretraining rate moves the weights
# towards the series without forgetting the corpus, and a few epochs suffice on one series' windows.
LEARNING_RATE = 2e-4
EPOCHS = 20
PATIENCE = 3
KINDS = ("zero_shot", "fine_tuned")
# What `train --init MODEL_DIR` takes besides the saved settings: how long and how to train further.
CONTINUES = ("epochs", "patience", "learning_rate", "batch_size", "validation_fraction", "seed", "fallback")
KNOWN_INPUTS = ("the pretrained model reads each target's own history only; --known, --calendar, --holidays and --static "
                "need a network trained on them, e.g. --model gru.")


@dataclasses.dataclass
class FittedPretrained:
    """The kept network (fine-tuned, or the shipped one) with what ``api`` writes into the card."""

    network: Any
    config: TrainConfig
    # One per series: the identity, as the network scales each window itself.
    scalers: dict[str, Standardizer]
    metrics: dict[str, Any]
    history: dict[str, Any]
    uncertainty: dict[str, Any]
    skipped: dict[str, int]
    preprocessing: Preprocessing = dataclasses.field(default_factory=Preprocessing)


def check_options(given: Iterable[str]) -> None:
    """Refuse the options that do not apply to the pretrained network.

    Raises:
        UsageError: naming them and what it takes.
    """
    foreign = [name for name in given if name not in (*TAKES, "model", "ensemble")]  # `ensemble.check_ensemble` says why not
    if foreign:
        raise UsageError(f"{_flags(foreign)}: not an option of --model pretrained, whose network is fixed; "
                         "it takes --horizon, --season, --epochs, --patience, --lr, --batch-size, --validation-fraction, --seed and --fallback.")


def continued(init: str | os.PathLike[str], config: TrainConfig, data_options: DataOptions, given: Sequence[str],
              ) -> tuple[TrainConfig, DataOptions, ModelCard | None]:
    """The settings `train --init` trains with: ``init`` "pretrained" is `--model pretrained`; a model
    directory gives its saved settings and data options, with the options of ``CONTINUES`` the user
    set (``given``) and the data options set in ``data_options`` over them, and its card (None for
    "pretrained"), whose network ``training.fit`` or ``fit_pretrained`` then starts from.

    Raises:
        UsageError: ``--model`` or a setting of the network besides ``init``, or an ensemble or a baseline in ``init``.
        ModelFileError: no readable model in ``init``.
    """
    if "model" in given:
        raise UsageError("`--init` and `--model` exclude each other: --init continues the model in a directory with its own settings, "
                         "and --init pretrained is --model pretrained.")
    if os.fspath(init) == "pretrained":
        return dataclasses.replace(config, model="pretrained"), data_options, None
    card = load_card(init)
    saved = TrainConfig.from_dict(card.config)
    if card.ensemble is not None or saved.model in ("naive", "seasonal-naive"):
        what = f"an ensemble of {len(card.ensemble['members'])}" if card.ensemble is not None else f"{saved.model}, with nothing trained"
        raise UsageError(f"`--init {init}`: holds {what}; --init continues one trained network. Train anew with --model.")
    foreign = [name for name in given if name not in CONTINUES]
    if foreign:
        raise UsageError(f"{_flags(foreign)}: --init continues the network in {init} with its own settings ({saved.model}, window {saved.window}, "
                         f"horizon {saved.horizon}); it takes --epochs, --patience, --lr, --batch-size, --validation-fraction, --seed and --fallback.")
    return dataclasses.replace(saved, ensemble=1, **{name: getattr(config, name) for name in given}), data_options.over(card.data_options), card


def fit_pretrained(data: Panel, config: TrainConfig, given: Sequence[str] = (), on_epoch=None, initial=None) -> FittedPretrained:
    """Fine-tune the shipped network (``initial``: a saved fine-tuned one) on the series of ``data``
    (one, or many at once) and keep, of it and the weights it started from, the one with the lower
    validation MAE (``metrics["pretrained"]`` has both; with ``initial``, ``metrics["init"]``, as saved and continued).
    Of many series, those too short for a training window and a validation tail add no windows to
    fine-tune on but are forecast (and validated where a full horizon follows ``MIN_CONTEXT`` rows);
    only those shorter than ``MIN_CONTEXT`` are set aside.

    Raises:
        UsageError: a horizon beyond the network's, or known-future inputs.
        DataError: a series (of many: every series) too short for a training window and a validation tail.
    """
    from rnncast.fitloop import start

    if data.first.known:
        raise UsageError(KNOWN_INPUTS)
    spec, horizon = load_spec(), config.horizon
    check([], [], horizon)
    name = os.path.basename(data.source)
    values = {key: one.frame[list(data.targets)].to_numpy(dtype=np.float64) for key, one in data.series.items()}
    ends = {key: len(v) - validation_rows(len(v), horizon, config.validation_fraction) for key, v in values.items()}
    trainable = [key for key, end in ends.items() if end > MIN_CONTEXT]
    if not trainable:
        _refuse_short(name, data.many, values, config)
    skipped = {key: len(v) for key, v in values.items() if len(v) < MIN_CONTEXT}
    _warn_short(name, len(values), skipped, {key: len(v) for key, v in values.items() if key not in skipped and key not in trainable}, config)
    values = {key: v for key, v in values.items() if key not in skipped}
    # A series too short to train on is validated from the first origin the network can read.
    first = {key: max(ends[key], MIN_CONTEXT) for key in values}
    season = config.season or infer_season(data.freq) or 1
    window = min(spec.context, max(len(v) for v in values.values()))
    config = dataclasses.replace(config, model="pretrained", strategy="direct", window=window, season=season, preprocess="none")
    settings = {key: getattr(config, key) if key in given else default
                for key, default in (("learning_rate", LEARNING_RATE), ("epochs", EPOCHS), ("patience", PATIENCE))}
    keras = start(config)
    network = initial if initial is not None else keras.models.load_model(WEIGHTS / KERAS_FILE, compile=False)
    shipped = keras.models.clone_model(network)
    shipped.set_weights(network.get_weights())
    started = time.perf_counter()
    fit_on = _stacked(_windows(values[key], season, range(MIN_CONTEXT, ends[key]), ends[key], horizon, spec) for key in trainable)
    held = _stacked(_windows(v, season, range(first[key], len(v)), len(v), horizon, spec) for key, v in values.items() if first[key] < len(v))
    network.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"], clipnorm=1.0), loss=pinball(spec.quantiles))
    callbacks = [keras.callbacks.EarlyStopping(patience=settings["patience"], restore_best_weights=True),
                 keras.callbacks.TerminateOnNaN()]
    if on_epoch is not None:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: on_epoch(epoch + 1, settings["epochs"], logs)))
    trained = network.fit(*fit_on, validation_data=held, epochs=settings["epochs"], batch_size=config.batch_size, callbacks=callbacks,
                          verbose=0, shuffle=True)
    losses = trained.history["val_loss"]
    history = {"epochs": len(losses), "best_epoch": int(np.argmin(losses)) + 1, "seconds": round(time.perf_counter() - started, 2),
               "learning_rate": settings["learning_rate"]}
    limit = ORIGINS_PER_SERIES if data.many else MAX_VALIDATION_ORIGINS
    origins = {key: np.arange(first[key], len(v) - horizon + 1)[-limit:] for key, v in values.items()}
    validated = {key: v for key, v in values.items() if len(origins[key])}
    actual = {key: v[origins[key][:, None] + np.arange(horizon)] for key, v in validated.items()}
    scored = {kind: _validation(one, validated, origins, season, horizon, spec) for kind, one in zip(KINDS, (shipped, network))}
    per_series = {key: {"windows": len(origins[key]), **{kind: errors(scored[kind][key][0], actual[key], data.targets) for kind in KINDS},
                        **_baselines(v, origins[key], season, horizon, actual[key], data.targets)} for key, v in validated.items()}
    scalers = [Standardizer.fit(v[: first[key]]) for key, v in validated.items()]
    kept = min(KINDS, key=lambda kind: np.mean([[e["mae"] / s for e, s in zip(one[kind].values(), scaler.scale)]
                                                for one, scaler in zip(per_series.values(), scalers)]))
    metrics = _metrics(per_series, kept, horizon, data.many, initial is not None)
    columns = list(range(len(data.targets)))
    baseline = better_baseline(_relative(metrics, scalers, columns), np.ones(len(columns))) if config.fallback else None
    fallen = _fall_back(data, baseline, config, metrics, history) if baseline is not None else None
    if fallen is not None:
        return fallen
    median, std = (np.concatenate([scored[kept][key][i] for key in validated]) for i in (0, 1))
    calibration = fit_spread(median, std, np.concatenate(list(actual.values())), time_ordered=False)  # few, overlapping windows per series
    identity = Standardizer(np.zeros(len(data.columns)), np.ones(len(data.columns)))
    return FittedPretrained(network if kept == "fine_tuned" else shipped, config, {key: identity for key in values}, metrics, history,
                            calibration.to_dict(), skipped)


def _flags(names: Iterable[str]) -> str:
    return ", ".join(f"--{name.replace('_', '-')}" for name in names).replace("--learning-rate", "--lr")


def _least_rows(config: TrainConfig) -> int:
    """The fewest rows of a series with a training window and a validation tail."""
    needed = MIN_CONTEXT + 1 + config.horizon
    while needed - validation_rows(needed, config.horizon, config.validation_fraction) <= MIN_CONTEXT:
        needed += 1
    return needed


def _refuse_short(name: str, many: bool, values: dict[str, np.ndarray], config: TrainConfig) -> None:
    """Refuse a series (of many: series of which none) long enough to fine-tune on."""
    advice = f"fine-tuning the pretrained model with --horizon {config.horizon} needs at least {_least_rows(config)} (training windows and a validation tail)"
    if not many:
        raise DataError(f"{name}: has {len(next(iter(values.values())))} rows; {advice}; forecast it zero-shot with `rnncast forecast --data`.")
    raise DataError(f"{name}: every series is too short: the longest has {max(len(v) for v in values.values())} rows; {advice}; "
                    "forecast them zero-shot with `rnncast forecast --data`.")


def _warn_short(name: str, count: int, skipped: dict[str, int], untrained: dict[str, int], config: TrainConfig) -> None:
    """Name the series of many set aside (shorter than the network reads) and those it forecasts without training on them."""
    if skipped:
        log.warning("%s: skipping %d of %d series with fewer than the %d rows the pretrained model reads: %s.", name, len(skipped), count,
                    MIN_CONTEXT, first_few(f"{k} ({n} rows)" for k, n in skipped.items()))
    if untrained:
        log.warning("%s: %d of %d series have fewer than the %d rows of a training window and a validation tail; the network is "
                    "fine-tuned on the others and forecasts them too: %s.", name, len(untrained), count, _least_rows(config),
                    first_few(f"{k} ({n} rows)" for k, n in untrained.items()))


def _metrics(per_series: dict[str, dict[str, Any]], kept: str, horizon: int, many: bool, continued: bool) -> dict[str, Any]:
    """The card's validation of the ``kept`` network beside the baselines: of one series, or the means
    over series with each one's own under ``series``; the choice of network under ``pretrained``
    (``continued``: under ``init``, the network a saved model started from being "saved")."""
    choice, labels = ("init", ("saved", "continued")) if continued else ("pretrained", ("zero-shot", "fine-tuned"))
    baselines = [key for key in ("naive", "seasonal_naive") if all(key in one for one in per_series.values())]
    mean = {kind: {t: {m: float(np.mean([one[kind][t][m] for one in per_series.values()])) for m in ("mae", "rmse")}
                   for t in next(iter(per_series.values()))[kind]}
            for kind in (*KINDS, *baselines)}
    metrics = {"windows": sum(one["windows"] for one in per_series.values()), "horizon": horizon, "model": mean[kept],
               **{key: mean[key] for key in baselines},
               choice: {"kept": labels[KINDS.index(kept)], **{label: mean[kind] for kind, label in zip(KINDS, labels)}}}
    if many:
        metrics["series"] = {key: {"windows": one["windows"], "model": one[kept], **{b: one[b] for b in ("naive", "seasonal_naive") if b in one}}
                             for key, one in per_series.items()}
    return metrics


def _fall_back(data: Panel, baseline: str, config: TrainConfig, metrics: dict[str, Any], history: dict[str, Any]):
    """``baseline`` fitted as a zoo model, with the pretrained model's validation kept under ``metrics["fallback"]``;
    None where the series are too short for the baseline's own window and validation tail."""
    try:
        # A window of one season, so that a series too short for it is a DataError (the network is kept),
        # not a default window shorter than the season that seasonal-naive refuses.
        window = config.season if baseline == "seasonal-naive" else None
        fitted = fit(data, dataclasses.replace(config, model=baseline, window=window, preprocess="none"))
    except DataError:
        return None
    choice = next(key for key in ("pretrained", "init") if key in metrics)
    fitted.metrics["fallback"] = {
        "kept": baseline, "reason": f"its validation MAE is lower than the pretrained model's ({metrics[choice]['kept']})",
        "network": {"model": "pretrained", "preprocess": "none", "validation": metrics["model"], "training": history,
                    choice: metrics[choice]},
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


def saved_forecast(predict: Callable[[np.ndarray], np.ndarray], histories: Sequence[np.ndarray], names: Sequence[str], targets: list[str],
                   target_index: list[int], season: int, horizon: int, uncertainty: dict[str, Any] | None, interval: float | None,
                   calibrate: bool = True) -> dict[str, np.ndarray]:
    """A saved pretrained model's forecast after each of ``histories [rows, columns]`` (``names``
    label them in messages): per target its median ``[series, horizon]`` and, with ``interval``,
    ``_std``, ``_lower`` and ``_upper``, calibrated as on validation."""
    check(names, [h[:, target_index[0]] for h in histories], horizon)
    flat = [h[:, t] for h in histories for t in target_index]
    median, std = (block.reshape(len(histories), len(targets), horizon)
                   for block in median_std(quantiles(flat, np.full(len(flat), season), horizon, predict), load_spec()))
    columns = {}
    factors = None
    if interval is not None and calibrate and uncertainty is not None:
        factors = widened(*Calibration.from_dict(uncertainty).factor(interval, horizon))
    for t, name in enumerate(targets):
        columns[name] = median[:, t]
        if interval is not None:
            one = bounds(median[:, t], std[:, t], interval, None if factors is None else (factors[0][:, t], factors[1][:, t]))
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


def _stacked(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    inputs, targets = zip(*pairs)
    return np.concatenate(inputs), np.concatenate(targets)


def _validation(network, values: dict[str, np.ndarray], origins: dict[str, np.ndarray], season: int, horizon: int,
                spec) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per series, median and std ``[origins, horizon, targets]`` of ``network``'s forecasts from each
    of its origins, in one batched pass over every series."""
    histories = [v[:o, t] for key, v in values.items() for t in range(v.shape[1]) for o in origins[key]]
    predict = lambda inputs: network.predict(inputs, batch_size=1024, verbose=0)  # noqa: E731
    median, std = median_std(quantiles(histories, np.full(len(histories), season), horizon, predict), spec)
    out, done = {}, 0
    for key, v in values.items():
        shape = (v.shape[1], len(origins[key]), horizon)
        block = slice(done, done + shape[0] * shape[1])
        out[key] = median[block].reshape(shape).transpose(1, 2, 0), std[block].reshape(shape).transpose(1, 2, 0)
        done = block.stop
    return out


def _baselines(values: np.ndarray, origins: np.ndarray, season: int, horizon: int, actual: np.ndarray, targets) -> dict[str, Any]:
    naive = np.repeat(values[origins - 1][:, None], horizon, axis=1)
    out = {"naive": errors(naive, actual, targets)}
    if season > 1 and origins[0] >= season:
        out["seasonal_naive"] = errors(values[origins[:, None] - season + np.arange(horizon) % season], actual, targets)
    return out
