"""The library API the CLI is a thin layer over: ``train`` and ``forecast``."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from rnncast.card import ONE_SERIES
from rnncast.config import DataOptions, TrainConfig
from rnncast.errors import DataError, UsageError
from rnncast.jsonable import time_to_json
from rnncast.known import needs_future
from rnncast.rollout import MCOptions
from rnncast.store import CARD_NAME, DEFAULT_MODEL_DIR, ModelCard, load, load_network, save, training_lock

if TYPE_CHECKING:
    import pandas as pd

    from rnncast.data import TimeSeries

log = logging.getLogger("rnncast")

DEFAULT_LOCK_TIMEOUT = 60.0


def train(
    data: str | os.PathLike[str] | TimeSeries,
    config: TrainConfig = TrainConfig(),
    *,
    data_options: DataOptions = DataOptions(),
    model_dir: str | os.PathLike[str] = DEFAULT_MODEL_DIR,
    on_epoch=None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    given: Sequence[str] | None = None,
    init: str | os.PathLike[str] | None = None,
) -> ModelCard:
    """Train a model on a CSV (or a loaded series) and save it to ``model_dir``.

    A long-format CSV (``data_options.id_column``, or a ``unique_id`` column) trains one global
    model on all its series. With ``config.distribute`` "multi-worker", only the
    chief saves to ``model_dir``; the other workers' cards describe models that were discarded.

    Args:
        data: path of the CSV, or a ``TimeSeries`` from ``load_csv`` or a ``Panel`` from ``load_data``.
        config: model and training settings; model "auto" backtests the candidates of
            ``selection.AUTO_MODELS``, with preprocessing variants (``selection.rank_models``), on the
            validation part and keeps the best (``metrics["selection"]``);
            ``ensemble`` K above 1 trains K seeds of the model, or the best K candidates of "auto",
            and forecasts their median (``rnncast.ensemble``).
        data_options: how to read the CSV.
        model_dir: where the model is saved (replaced atomically).
        on_epoch: called as ``on_epoch(epoch, max_epochs, logs)`` after each epoch.
        lock_timeout: seconds to wait for another training into ``model_dir`` to finish.
        given: the ``config`` fields the caller set explicitly; one that ``config.model`` does not
            take is refused (``models.configure``), before the data is read.
        init: a model directory whose network training starts from, with its settings and data
            options (``finetune.continued``); "pretrained" is ``config.model`` "pretrained".

    Returns:
        The card of the saved model, with its validation metrics.

    Raises:
        UsageError: options that do not apply to the model, or a meaningless ensemble.
        EnvironmentFailure: ``model_dir`` cannot be created or written, or the disk filled up
            while saving; the previous model is kept.
    """
    from rnncast.ensemble import check_ensemble
    from rnncast.models import configure

    saved = None
    if init is not None:
        from rnncast.finetune import continued

        config, data_options, saved = continued(init, config, data_options, given or ())
    # Refused before pandas and TensorFlow load, so that a mistyped option answers at once.
    if config.model == "pretrained":
        from rnncast.finetune import KNOWN_INPUTS, check_options

        check_options(given or ())
        if needs_future(data_options):
            raise UsageError(KNOWN_INPUTS)
    elif config.model != "auto":
        configure(config, given)
    check_ensemble(config)
    from rnncast.data import TimeSeries
    from rnncast.dataset import Panel, load_data, noticed_holidays, with_known_inputs
    from rnncast.distribute import writable_dir
    from rnncast.fitted_card import model_card
    from rnncast.training import fit

    series = data if isinstance(data, Panel) else Panel.of(data) if isinstance(data, TimeSeries) else load_data(data, data_options)
    data_options = noticed_holidays(series, data_options, config.horizon, config.validation_fraction)
    series = with_known_inputs(series, data_options, config.output_steps)
    if saved is not None and list(series.columns) != saved.columns:
        raise DataError(f"{os.path.basename(series.source)}: has the columns {', '.join(series.columns)}; the model in {init} was trained "
                        f"on {', '.join(saved.columns)}.")
    with writable_dir(model_dir, config.distribute) as model_dir, training_lock(model_dir, lock_timeout):
        initial = None if saved is None else load_network(init, saved)
        selection = summary = None
        if config.ensemble > 1:
            from rnncast.ensemble import fit_ensemble
            from rnncast.selection import rank_models

            fitted, selection = fit_ensemble(series, config, on_epoch, rank_models)
            networks, summary = fitted.networks, fitted.summary
        else:
            if config.model == "auto":
                from rnncast.selection import select_model

                config, selection = select_model(series, config, given=given or ())
            if config.model == "pretrained":
                from rnncast.finetune import fit_pretrained

                fitted = fit_pretrained(series, config, given or (), on_epoch, initial)
            else:
                fitted = fit(series, config, on_epoch, initial=initial)
            networks = fitted.network
        if saved is not None:
            fitted.metrics.setdefault("init", {})["from"] = os.path.abspath(init)
        return save(model_dir, networks, model_card(series, fitted, data_options, selection, summary))


def check(
    data: str | os.PathLike[str], config: TrainConfig = TrainConfig(), data_options: DataOptions = DataOptions(),
    future: str | os.PathLike[str] | None = None,
) -> tuple[list[dict[str, str]], str | None]:
    """What ``rnncast check`` reports: the loader's findings, and the error ``train`` would raise
    with these settings before fitting (None when it accepts the file); with ``future``, also the
    error ``forecast --future`` would raise for the ``config.horizon`` steps after the data.

    The verdict runs ``train``'s own acceptance (loading, and the window and
    horizon resolution that ``fit`` runs first), so that the two cannot disagree.
    """
    from rnncast.data import describe_csv
    from rnncast.dataset import check_future, load_data, with_known_inputs
    from rnncast.training import resolve

    try:
        series = with_known_inputs(load_data(data, data_options), data_options, config.output_steps)
        resolve(series, config)
        if future is not None:
            check_future(series, future, data_options, config.horizon)
        verdict = None
    except (DataError, UsageError) as error:
        verdict = str(error)
    return describe_csv(data, data_options), verdict


@dataclasses.dataclass(frozen=True)
class Forecast:
    """The forecast of one series before it becomes a DataFrame, so that the CLI can print it
    without importing pandas."""

    card: ModelCard
    last_time: str | int
    columns: dict[str, np.ndarray]

    @property
    def horizon(self) -> int:
        return len(next(iter(self.columns.values())))

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        from rnncast.timeparse import future_index

        index = future_index(self.last_time, self.card.freq, self.horizon, self.card.time_column)
        return pd.DataFrame(self.columns, index=index)

    def time_labels(self) -> list[str | int]:
        """The future time stamps as printed (ISO without the T, or in the input's own format of
        years or months) or the future integer steps."""
        freq, last = self.card.freq, self.last_time
        if not isinstance(freq, str):
            step = freq or 1
            return [int(last) + step * h for h in range(1, self.horizon + 1)]
        if self.card.time_format is not None:
            return list(self.frame().index.strftime(self.card.time_format))
        labels = None
        if self.card.step_seconds is not None:
            from rnncast.timeaxis import future_labels

            labels = future_labels(str(last), self.card.step_seconds, self.horizon)
        return labels if labels is not None else [str(t) for t in self.frame().index.astype(str)]


def forecast(
    model_dir: str | os.PathLike[str] = DEFAULT_MODEL_DIR,
    horizon: int | None = None,
    data: str | os.PathLike[str] | None = None,
    mc: MCOptions | None = None,
    engine: str = "auto",
    ids: Sequence[str] | None = None,
    data_options: DataOptions = DataOptions(),
    allow_negative: bool = False,
    future: str | os.PathLike[str] | None = None,
    model: str | None = None,
    season: int | None = None,
) -> pd.DataFrame:
    """Forecast ``horizon`` steps (default: the trained horizon) after the end of the data.

    Args:
        model_dir: a directory written by ``train``.
        horizon: steps to forecast; beyond a direct model's horizon, blocks are chained.
        data: an updated CSV with the model's columns; the forecast starts after its last row.
            Without it, the forecast starts after the data the model was trained on.
        mc: error bars: ``mc.samples`` MC-Dropout passes instead of one deterministic one (of each
            member of an ensemble, pooled); a model without dropout gives its intervals calibrated
            on validation residuals instead.
        engine: "onnx" (onnxruntime, no TensorFlow), "keras", or "auto": ONNX where the model has an export.
        ids: for a global model of many series, the series to forecast (default: all).
        data_options: how to read ``data`` where it differs from the training CSV (e.g. ``fill``
            for missing values that the training data did not have).
        allow_negative: keep negative forecasts of a target that was never negative in training
            (by default they, and their interval bounds, are clipped at 0).
        future: a CSV of the known columns' values (``--known``) over the horizon, with the time
            column (and the id column of many series); rows up to the data's end are ignored.
        model: "pretrained" forecasts ``data`` zero-shot (``zero_shot``); so does None when
            ``model_dir`` holds no saved model and ``data`` is given.
        season: the seasonal period the pretrained model is told (default: from the frequency).

    Returns:
        A frame indexed by the future time stamps (or steps), one column per target,
        in the original units (an ensemble's: the median of its members' forecasts), rounded to
        two digits beyond the training data's decimal places;
        for a global model, indexed by (id, time) in long format.
        With ``mc``, each target's mean followed by its ``<target>_std``, ``<target>_lower``
        and ``<target>_upper``.

    Raises:
        UsageError: ``horizon`` is below 1, or ``mc`` was asked of a model saved without any calibration of its intervals.
    """
    result = predict(model_dir, horizon, data, mc, engine, ids, data_options, allow_negative, future=future, model=model,
                     season=season)
    return result.frame() if isinstance(result, Forecast) else result


def predict(
    model_dir: str | os.PathLike[str] = DEFAULT_MODEL_DIR,
    horizon: int | None = None,
    data: str | os.PathLike[str] | None = None,
    mc: MCOptions | None = None,
    engine: str = "auto",
    ids: Sequence[str] | None = None,
    data_options: DataOptions = DataOptions(),
    allow_negative: bool = False,
    future: str | os.PathLike[str] | None = None,
    model: str | None = None,
    season: int | None = None,
) -> Forecast | pd.DataFrame:
    """``forecast``, with the forecast of one series left as a ``Forecast``; pandas is imported
    only for a global model, for ``data``, and for calendar frequencies."""
    if horizon is not None and horizon < 1:
        raise UsageError(f"`--horizon` must be at least 1. Received: {horizon}.")
    if uses_pretrained(model, model_dir, data):
        if future is not None:
            raise UsageError("`--future` gives the known inputs of a model trained with --known; the pretrained model reads each "
                             "target's own history only.")
        return zero_shot(data, horizon, mc, season, engine, ids, data_options, allow_negative)
    if season is not None or data_options.targets or data_options.time_column or data_options.id_column:
        raise UsageError("`--season`, `--target`, `--time-column` and `--id-column` apply to the pretrained model; "
                         f"the model in {model_dir} reads its data as it was trained.")
    from rnncast.members import median_forecast, saved_members
    from rnncast.preprocessing import Standardizer
    from rnncast.values import held_to_data, warn_if_far

    card, engines = load(model_dir, engine)
    members = saved_members(card, engines)
    horizon = horizon or card.config["horizon"]
    warn_if_far(horizon, card.config["horizon"])
    if card.id_column is not None:  # many series go through pandas; one series need not
        from rnncast.panel_forecast import forecast_panel

        frame = forecast_panel(card, members, horizon, data, ids, data_options, mc, future)
        return frame.assign(**held_to_data(dict(frame.items()), card.targets, card.source, allow_negative))
    if ids:
        raise UsageError("`--id` picks series of a model trained on a long-format CSV (--id-column); this model has one series.")
    window = card.config["window"]
    options = data_options.over(card.data_options)
    if future is not None and not needs_future(options):
        raise UsageError("`--future` gives the values of --known columns, and this model was trained without any.")
    ahead, saved = None, card.series[ONE_SERIES]
    if data is None:
        recent = np.asarray(saved["last_window"], dtype=np.float64)
        last_time: Any = saved["last_time"]
    else:
        from rnncast.recent import recent_rows

        recent, last_time, ahead = recent_rows(data, options, card, window)
    scaler = Standardizer.from_dict(saved["scaler"])
    target_index = [card.columns.index(t) for t in card.targets]
    if card.config["model"] == "pretrained":  # fine-tuned (or kept as shipped) by `train --model pretrained`
        from rnncast.finetune import saved_forecast

        columns = saved_forecast(engines[0].deterministic, [recent], ["the data"], list(card.targets), target_index, card.config["season"],
                                 horizon, card.uncertainty, mc and mc.interval, not mc or mc.calibrate)
        return Forecast(card, last_time, held_to_data({name: one[0] for name, one in columns.items()}, card.targets, card.source,
                                                      allow_negative))
    after = None
    if needs_future(options):
        from rnncast.known import future_rows, read_future

        values = read_future(future, card, options, {None: last_time}, horizon, ahead)[None]
        from rnncast.recent import saved_window

        frame = saved_window(recent, last_time, card) if data is None else recent
        recent, after = future_rows(frame, last_time, card, options, horizon, values)
        after = scaler.transform(after)[None]
    if mc is not None:
        from rnncast.uncertainty import mc_forecast_columns

        columns = {name: one[0] for name, one in mc_forecast_columns(members, card, [scaler], scaler.transform(recent)[None], horizon, mc,
                                                                     after).items()}
    else:
        scaled = median_forecast(members, scaler.transform(recent)[None], horizon, target_index, after)[0]
        values = scaler.inverse(scaled, target_index)
        columns = {name: values[:, t] for t, name in enumerate(card.targets)}
    return Forecast(card, last_time, held_to_data(columns, card.targets, card.source, allow_negative))


def uses_pretrained(model: str | None, model_dir: str | os.PathLike[str], data: str | os.PathLike[str] | None) -> bool:
    """Whether a forecast comes from the pretrained weights: asked for, or with ``data`` and no saved model.

    Raises:
        UsageError: ``model`` is another model than "pretrained".
    """
    if model is not None and model != "pretrained":
        raise UsageError(f"`--model` of forecast must be pretrained (the model shipped with rnncast); a trained model is "
                         f"read from --model-dir. Received: {model}.")
    if model is None and (data is None or Path(model_dir, CARD_NAME).is_file()):
        return False
    if model is None:
        log.warning("no saved model in %s: forecasting zero-shot with the pretrained model (pass --model pretrained to say so).", model_dir)
    return True


def zero_shot(data: str | os.PathLike[str] | None, horizon: int | None = None, mc: MCOptions | None = None, season: int | None = None,
              engine: str = "auto", ids: Sequence[str] | None = None, data_options: DataOptions = DataOptions(),
              allow_negative: bool = False) -> Forecast | pd.DataFrame:
    """Forecast every target of ``data`` (each series of a long-format file) with the pretrained
    weights on onnxruntime, without fitting and without TensorFlow (``zeroshot``).

    ``horizon`` defaults to one season (at most the network's), else ``zeroshot.DEFAULT_HORIZON``;
    ``mc`` asks for error bars (its ``samples`` are moot): the quantile head's, calibrated on
    each series' tail; ``season`` defaults to the one of the data's frequency (1: none).
    """
    if data is None:
        raise UsageError("the pretrained model forecasts the newest rows of a CSV: pass --data FILE.csv.")
    if engine not in ("auto", "onnx"):
        raise UsageError(f"`--engine {engine}`: the pretrained model runs on onnxruntime; drop --engine or pass onnx.")
    if season is not None and season < 1:
        raise UsageError(f"`--season` must be at least 1. Received: {season}.")
    from rnncast.dataset import load_data
    from rnncast.timeparse import future_index, infer_season
    from rnncast.values import held_to_data
    from rnncast.zeroshot import default_horizon, pretrained_card, series_forecast

    loaded = load_data(data, data_options)
    name = os.path.basename(os.fspath(data))
    if ids and not loaded.many:
        raise UsageError("`--id` picks series of a long-format CSV (--id-column); this file has one series.")
    unknown = [key for key in ids or () if key not in loaded.series]
    if unknown:
        raise UsageError(f"`--id` {unknown[0]} is not a series of {name}.")
    series = (loaded.subset(list(dict.fromkeys(ids))) if ids else loaded).series
    season = season or infer_season(loaded.freq) or 1
    horizon = horizon or default_horizon(season)
    columns, source = series_forecast(series, name, loaded.id_column, season, horizon, mc and mc.interval, not mc or mc.calibrate)
    source["path"] = os.path.abspath(data)
    held = held_to_data(columns, loaded.targets, source, allow_negative)
    if not loaded.many:
        return Forecast(pretrained_card(loaded.first, horizon, season, source), time_to_json(loaded.first.frame.index[-1]),
                        {out: block[0] for out, block in held.items()})
    import pandas as pd

    frames = [pd.DataFrame({out: block[i] for out, block in held.items()},
                           index=future_index(time_to_json(one.frame.index[-1]), one.freq or loaded.freq, horizon, loaded.time_column))
              for i, one in enumerate(series.values())]
    return pd.concat(frames, keys=list(series), names=[loaded.id_column, frames[0].index.name])
