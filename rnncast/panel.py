"""Many series in one long-format CSV: loading, one global model for all of them, forecasts.

A long-format file stacks series: every row is a series id, a time and the value columns, the
layout of statsforecast and neuralforecast (``unique_id, ds, y``). Each series goes through the
single-series loader's checks. One network learns from the windows of every series, each series
standardised with the statistics of its own training part, so that the network learns shapes
rather than levels and one series' scale does not swamp the others.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
from collections import Counter
from typing import Any, Sequence

import numpy as np
import pandas as pd

from rnncast import distribute
from rnncast._version import __version__
from rnncast.config import DataOptions, TrainConfig
from rnncast.data import TimeSeries, read_frame, series_from_frame
from rnncast.errors import DataError, UsageError
from rnncast.jsonable import time_to_json
from rnncast.numparse import choose_targets, numeric_columns
from rnncast.known import STATIC, lead_columns, network_outputs, provenance, read_static, with_known
from rnncast.models import NetworkShape, build_model, configure, get_spec
from rnncast.preprocessing import Preprocessing, Standardizer, check_window, select_preprocessing
from rnncast.timeparse import find_time_column, infer_season, parse_time
from rnncast.windows import default_window, minimum_rows, validation_rows, window_phrase

log = logging.getLogger("rnncast")

# The id column of the statsforecast/neuralforecast convention, used when --id-column is not given.
CONVENTIONAL_ID = "unique_id"
# Validation windows scored per series: enough for a stable error, few enough for thousands of series.
ORIGINS_PER_SERIES = 50
NAMED_IN_WARNINGS = 10


@dataclasses.dataclass(frozen=True)
class Panel:
    """Series of one long-format file by id (sorted), sharing columns, time column and frequency."""

    series: dict[str, TimeSeries]
    id_column: str
    source: str

    @property
    def first(self) -> TimeSeries:
        return next(iter(self.series.values()))

    @property
    def columns(self) -> tuple[str, ...]:
        return self.first.columns

    @property
    def targets(self) -> tuple[str, ...]:
        return self.first.targets

    @property
    def time_column(self) -> str | None:
        return self.first.time_column

    @property
    def freq(self) -> str | int | None:
        """The frequency most series have (series of fewer than three rows have none)."""
        known = Counter(s.freq for s in self.series.values() if s.freq is not None)
        return known.most_common(1)[0][0] if known else None

    def subset(self, ids: Sequence[str]) -> "Panel":
        return dataclasses.replace(self, series={key: self.series[key] for key in ids})

    def __len__(self) -> int:
        return len(self.series)


def load_data(path: str | os.PathLike[str], options: DataOptions = DataOptions()) -> TimeSeries | Panel:
    """Read a CSV of one series (wide format) or, with an id column, of many (long format).

    The id column is ``options.id_column``, else a column named ``unique_id`` if there is one.

    Raises:
        DataError: the file, or one of its series, cannot be used (the message names the series).
        UsageError: ``--id-column`` or another option names a column the file does not have.
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    raw = read_frame(path, options)
    id_column = _find_id_column(raw, options, name)
    if id_column is None:
        return series_from_frame(raw, options, name, path)
    return _split(raw, id_column, options, name, path)


def with_known_inputs(data: TimeSeries | Panel, options: DataOptions, steps: int) -> TimeSeries | Panel:
    """The data with the columns of its known-future inputs (``known.with_known``), every series of
    a panel alike, and each series' attributes of ``--static`` as constant columns.

    Raises:
        UsageError: ``--static`` for a single series.
    """
    if not isinstance(data, Panel):
        if options.static:
            raise UsageError("`--static` gives attributes per series of a long-format file (--id-column), and this file has one series.")
        return with_known(data, options, steps)
    static = read_static(options.static, options, data.id_column, list(data.series)) if options.static else {}
    series = {}
    for key, one in data.series.items():
        one = with_known(one, options, steps)
        if static:
            one = dataclasses.replace(one, frame=one.frame.assign(**static[key]), known=(*one.known, *static[key]))
        series[key] = one
    return dataclasses.replace(data, series=series)


def check_future(data: TimeSeries | Panel, path: str | os.PathLike[str], options: DataOptions, horizon: int) -> None:
    """Raise what ``forecast --future`` would for the ``--future`` file at ``path`` after ``data``'s end."""
    from rnncast.future import load_future

    if not options.known:
        raise UsageError("`--future` holds the future values of --known columns, and no --known column was given.")
    series = data.series if isinstance(data, Panel) else {None: data}
    load_future(path, options, known=list(options.known), time_column=data.time_column, id_column=getattr(data, "id_column", None),
                freq=data.freq, last={key: time_to_json(one.frame.index[-1]) for key, one in series.items()}, horizon=horizon)


def _find_id_column(raw: pd.DataFrame, options: DataOptions, name: str) -> str | None:
    if options.id_column is None:
        return CONVENTIONAL_ID if CONVENTIONAL_ID in raw.columns else None
    if options.id_column not in raw.columns:
        raise UsageError(f"`--id-column` {options.id_column!r} is not a column of {name}. Columns: {', '.join(raw.columns)}.")
    return options.id_column


def _split(raw: pd.DataFrame, id_column: str, options: DataOptions, name: str, path: str) -> Panel:
    if raw.empty:
        raise DataError(f"{name}: has a header but no data rows.")
    ids = raw[id_column]
    if ids.isna().any():
        first = int(np.argmax(ids.isna().to_numpy()))
        raise DataError(f"{name}: {int(ids.isna().sum())} row(s) have no {id_column!r} (first at line {first + 2}); every row needs its series id.")
    rest = raw.drop(columns=[id_column])
    # One time column and one set of value columns for the whole file, decided (and warned about) once.
    time_column = find_time_column(rest, options, name, ids)
    numeric = numeric_columns(rest.drop(columns=[time_column] if time_column else []), options, name)
    targets = choose_targets(numeric, options, name)
    date_format = options.date_format
    if time_column is not None:
        times = rest[time_column]
        if not pd.api.types.is_numeric_dtype(times):
            # One format for the whole file's time stamps, read once rather than once per series.
            index, date_format, _ = parse_time(times, time_column, rest.index.to_numpy() + 2, options, name)
            times = pd.Series(index, index=rest.index)
        numeric.insert(0, time_column, times)
    per_series = dataclasses.replace(options, time_column=time_column, targets=targets, date_format=date_format)
    series = {
        str(key): series_from_frame(rows, per_series, f"{name} ({id_column} {key})", path)
        for key, rows in numeric.groupby(ids.astype(str), sort=True)
    }
    panel = Panel(series, id_column, path)
    freq = panel.freq
    for key, one in series.items():
        if one.columns != panel.columns:
            raise DataError(
                f"{name} ({id_column} {key}): has columns {', '.join(one.columns)} where the other series have "
                f"{', '.join(panel.columns)}; give every series values in every column."
            )
        if one.freq is not None and one.freq != freq:
            raise DataError(
                f"{name} ({id_column} {key}): frequency is {one.freq!r} where most series have {freq!r}; "
                f"pass --resample {freq} to put every series on one grid."
            )
    return panel


@dataclasses.dataclass
class FittedPanel:
    """A global network with each series' scaler and scores; ``skipped`` names the series too
    short to train on, with their lengths."""

    network: Any
    config: TrainConfig
    scalers: dict[str, Standardizer]
    target_index: list[int]
    metrics: dict[str, Any]
    history: dict[str, Any]
    skipped: dict[str, int]
    preprocessing: Preprocessing = dataclasses.field(default_factory=Preprocessing)
    uncertainty: dict[str, Any] | None = None

    # The columns the network predicts (``known.network_outputs``).
    outputs: list[int] = dataclasses.field(default_factory=list)


def resolve_panel_config(panel: Panel, config: TrainConfig) -> tuple[TrainConfig, Panel, dict[str, int]]:
    """Fill in season and window (from the median series length), and set aside the series too short
    for one training window plus a validation tail, with a warning naming them.

    Returns:
        The config, the panel of usable series, and the skipped series with their lengths.

    Raises:
        DataError: no series is long enough.
    """
    season = config.season or infer_season(panel.freq)
    lengths = {key: len(one) for key, one in panel.series.items()}
    window = config.window or default_window(season, config.horizon, int(np.median(list(lengths.values()))))
    given_window, config = config.window, dataclasses.replace(config, season=season, window=window)
    if config.preprocess != "auto":
        check_window(config.preprocess, season, window)
    needed = minimum_rows(window, config.horizon, config.validation_fraction)
    skipped = {key: n for key, n in lengths.items() if n < needed}
    name = os.path.basename(panel.source)
    if len(skipped) == len(panel):
        raise DataError(
            f"{name}: every series is too short: the longest has {max(lengths.values())} rows, but {window_phrase(given_window, window)} and "
            f"--horizon {config.horizon} need at least {needed}; use a smaller --window or --horizon, or more data."
        )
    if skipped:
        log.warning(
            "%s: skipping %d of %d series with fewer than the %d rows %s and --horizon %d need: %s.",
            name, len(skipped), len(panel), needed, window_phrase(given_window, window), config.horizon, first_few(f"{k} ({n} rows)" for k, n in skipped.items()),
        )
    return config, panel.subset([key for key in panel.series if key not in skipped]), skipped


def first_few(items) -> str:
    """The first ``NAMED_IN_WARNINGS`` items, and how many more there are."""
    items = list(items)
    shown = ", ".join(items[:NAMED_IN_WARNINGS])
    return shown + (f" and {len(items) - NAMED_IN_WARNINGS} more" if len(items) > NAMED_IN_WARNINGS else "")


def fit_panel(panel: Panel, config: TrainConfig, on_epoch=None) -> FittedPanel:
    """Train one ``config.model`` on the windows of every series long enough, each standardised on
    its own training part, with the preprocessing of a single series (chosen on the windows of all
    series for "auto"), and score it per series on each one's validation tail. With
    ``config.fallback``, the baseline whose validation MAE (relative to each series' scale, averaged
    over series) beats the network's is kept for every series instead.

    Raises:
        DataError: no series is long enough.
        TrainingDiverged: the loss became NaN or infinite.
    """
    from rnncast.fitloop import fit_series, start
    from rnncast.training import better_baseline, fall_back, fit_known_weights, score

    config, panel, skipped = resolve_panel_config(panel, configure(config))
    keras = start(config)
    values = {key: one.frame.to_numpy(dtype=np.float64) for key, one in panel.series.items()}
    train_ends = {key: len(v) - validation_rows(len(v), config.horizon, config.validation_fraction) for key, v in values.items()}
    scalers = {key: Standardizer.fit(v[: train_ends[key]]) for key, v in values.items()}
    _share_static_scale(scalers, values, list(panel.columns))
    scaled = {key: scalers[key].transform(v) for key, v in values.items()}

    columns = list(panel.columns)
    target_index = [columns.index(t) for t in panel.targets]
    outputs = network_outputs(config.strategy, target_index, len(columns), [columns.index(c) for c in panel.first.known])
    trainable = get_spec(config.model).trainable
    selection = None
    if not trainable:
        config = dataclasses.replace(config, preprocess="none")
    elif config.preprocess == "auto":
        method, selection = select_preprocessing(list(scaled.values()), list(train_ends.values()), config.window, config.horizon,
                                                 config.season, target_index)
        config = dataclasses.replace(config, preprocess=method)
    preprocessing = Preprocessing.fit(config.preprocess, [scaled[k][: train_ends[k]] for k in scaled], config.season)
    shape = NetworkShape(config.window - preprocessing.dropped, len(columns), config.output_steps, tuple(outputs), bool(panel.first.known),
                         lead_columns(columns, config.output_steps))
    with distribute.strategy(config.distribute).scope():
        network = build_model(shape, config)
        history: dict[str, Any] = {"epochs": 0, "best_epoch": 0, "seconds": 0.0}
        if trainable:
            cuts = [(preprocessing.series(scaled[k]), train_ends[k] - preprocessing.dropped) for k in scaled]
            history = fit_series(keras, network, cuts, shape, config, on_epoch, preprocessing.window_map(shape.window, shape.steps))
        elif config.model == "seasonal-naive" and shape.leads:
            fit_known_weights(network, [scaled[k][: train_ends[k]] for k in scaled], shape, config.season)

    from rnncast.rollout import keras_predictor, rollout
    from rnncast.uncertainty import calibrate, network_forecasts

    tails = [values[k][train_ends[k] - config.window :] for k in values]
    predict = preprocessing.wrap(keras_predictor(network), outputs)
    metrics = score(lambda windows, after: rollout(predict, windows, config.horizon, target_index, outputs, after), tails,
                    list(scalers.values()), config,
                    target_index, panel.targets, list(values), ORIGINS_PER_SERIES)
    if selection is not None:
        metrics["preprocessing"] = selection
    kept = better_baseline(_relative(metrics, scalers, target_index), np.ones(len(target_index))) if config.fallback and trainable else None
    if kept is not None:
        config, metrics, history = fall_back(kept, config, metrics, history)
        key = "naive" if kept == "naive" else "seasonal_naive"
        metrics["series"] = {k: {**one, "model": one[key]} for k, one in metrics["series"].items()}
        preprocessing = Preprocessing()
        network = build_model(NetworkShape(config.window, len(columns), config.output_steps, tuple(outputs)), config)
    forecasters = network_forecasts(network, lambda p: preprocessing.wrap(p, outputs), config.horizon, target_index, outputs, config.seed)
    calibration = calibrate(*forecasters, tails, list(scalers.values()), config.window, config.horizon, target_index)
    return FittedPanel(network, config, scalers, target_index, metrics, history, skipped, preprocessing, calibration.to_dict(), outputs)


def _share_static_scale(scalers: dict[str, Standardizer], values: dict[str, np.ndarray], columns: list[str]) -> None:
    """Scale each ``--static`` attribute alike across series: per series it is a constant, which
    its own standardisation would turn into 0 for every series."""
    shared = [i for i, c in enumerate(columns) if c.startswith(STATIC)]
    if not shared:
        return
    overall = Standardizer.fit(np.stack([v[0, shared] for v in values.values()]))
    for scaler in scalers.values():
        scaler.mean[shared], scaler.scale[shared] = overall.mean, overall.scale


def _relative(metrics: dict[str, Any], scalers: dict[str, Standardizer], target_index: list[int]) -> dict[str, Any]:
    """The validation MAEs of the model and baselines divided by each series' scale and averaged over
    series, so that the fallback weighs series alike whatever their levels."""
    series = metrics["series"]
    kinds = [key for key in ("model", "naive", "seasonal_naive") if key in metrics]
    return {
        kind: {t: {"mae": float(np.mean([one[kind][t]["mae"] / scalers[k].scale[i] for k, one in series.items()]))}
               for t, i in zip(metrics["model"], target_index)}
        for kind in kinds
    }


def panel_card(panel: Panel, fitted: FittedPanel, data_options: DataOptions, ensemble: dict[str, Any] | None = None):
    """The model card of a global model: shared settings at the top level, each series' scaler, last
    window and span under ``panel``. The top-level ``last_window`` and ``scaler`` are empty."""
    from rnncast.store import ModelCard
    from rnncast.values import observed

    kept = panel.subset(list(fitted.scalers))
    window = fitted.config.window
    series = {
        key: {
            "scaler": fitted.scalers[key].to_dict(),
            "last_time": time_to_json(one.frame.index[-1]),
            "last_window": one.frame.iloc[-window:].to_numpy().tolist(),
            "rows": len(one),
            "start": time_to_json(one.frame.index[0]),
        }
        for key, one in kept.series.items()
    }
    ends = [one.frame.index[-1] for one in kept.series.values()]
    return ModelCard(
        config=fitted.config.to_dict(),
        data_options={**dataclasses.replace(data_options, date_format=panel.first.date_format).to_dict(), "id_column": panel.id_column},
        columns=list(panel.columns),
        targets=list(panel.targets),
        time_column=panel.time_column,
        freq=kept.freq,
        last_time=time_to_json(max(ends)),
        last_window=[],
        scaler={},
        metrics=fitted.metrics,
        training=fitted.history,
        source={
            "path": os.path.abspath(panel.source),
            "rows": sum(len(one) for one in kept.series.values()),
            "start": time_to_json(min(one.frame.index[0] for one in kept.series.values())),
            "end": time_to_json(max(ends)),
            "series": len(kept),
            **provenance(data_options),
            **observed(np.concatenate([one.frame[list(panel.targets)].to_numpy(dtype=np.float64) for one in kept.series.values()]),
                       panel.targets),
        },
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        rnncast_version=__version__,
        preprocessing=fitted.preprocessing.to_dict(),
        uncertainty=fitted.uncertainty,
        ensemble=ensemble,
        panel={"id_column": panel.id_column, "series": series, "skipped": fitted.skipped},
    )
