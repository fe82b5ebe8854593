"""Forecasts of a saved global model: every series (or those asked for) from the card's windows
or an updated long-format file, in one batched pass of each member."""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
import pandas as pd

from rnncast.config import DataOptions
from rnncast.errors import DataError, UsageError
from rnncast.jsonable import time_to_json
from rnncast.known import STATIC, data_columns, future_rows, needs_future, read_future
from rnncast.dataset import first_few, left_padded, load_data
from rnncast.preprocessing import Standardizer
from rnncast.timeparse import future_index, past_index


def forecast_panel(card, members, horizon: int, data: str | os.PathLike[str] | None, ids: Sequence[str] | None,
                   data_options: DataOptions = DataOptions(), mc=None, future: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Forecast every series of a global model (or those in ``ids``) in one batched pass of each of
    ``members`` (``members.saved_members``), with ``mc``'s error bars if given.

    Returns:
        A long-format frame indexed by (id, time), one column per target (with ``mc``: followed by
        its ``_std``, ``_lower`` and ``_upper``), in original units.

    Raises:
        UsageError: an id the model was not trained on.
        DataError: ``data`` lacks a series, or its rows do not fit the model.
    """
    from rnncast.members import median_forecast
    from rnncast.uncertainty import mc_forecast_columns

    known = card.series
    wanted = list(dict.fromkeys(ids)) if ids else list(known)
    _check_ids(wanted, card)
    window = card.config["window"]
    options = data_options.over(card.data_options)
    if data is None:
        recent = {key: pd.DataFrame(known[key]["last_window"], columns=card.columns,
                                    index=past_index(known[key]["last_time"], card.freq, window, card.time_column)) for key in wanted}
        last = {key: known[key]["last_time"] for key in wanted}
    else:
        recent, last = _recent_rows(data, options, card, wanted, window, padded=card.config["model"] != "pretrained")
        # A series' --static attributes are the model's, not the update's.
        static = {c: card.columns.index(c) for c in card.columns if c.startswith(STATIC)}
        recent = {key: frame.assign(**{c: known[key]["last_window"][-1][i] for c, i in static.items()}) for key, frame in recent.items()}
    if card.config["model"] == "pretrained":  # fine-tuned by `train --model pretrained`: it reads each series' own rows, unpadded
        return _frame(card, wanted, last, horizon, _pretrained_columns(card, members, recent, wanted, horizon, mc, data is None))
    scalers = [Standardizer.from_dict(known[key]["scaler"]) for key in wanted]
    after = None
    if needs_future(options):
        values = read_future(future, card, options, last, horizon)
        rows = [future_rows(recent[key], last[key], card, options, horizon, values[key]) for key in wanted]
        windows = np.stack([scaler.transform(past) for (past, _), scaler in zip(rows, scalers)])
        after = np.stack([scaler.transform(ahead) for (_, ahead), scaler in zip(rows, scalers)])
    else:
        windows = np.stack([scaler.transform(recent[key].to_numpy(dtype=np.float64)) for key, scaler in zip(wanted, scalers)])
    target_index = [card.columns.index(t) for t in card.targets]
    if mc is not None:
        columns = mc_forecast_columns(members, card, scalers, windows, horizon, mc, after)
    else:
        scaled = median_forecast(members, windows, horizon, target_index, after)
        point = np.stack([scaler.inverse(block, target_index) for scaler, block in zip(scalers, scaled)])
        columns = {name: point[..., t] for t, name in enumerate(card.targets)}
    return _frame(card, wanted, last, horizon, columns)


def _frame(card, wanted: list[str], last: dict[str, Any], horizon: int, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The long-format forecast of ``columns`` (each ``[series, horizon]``), indexed by (id, time)."""
    frames = []
    for i, key in enumerate(wanted):
        index = future_index(last[key], card.freq, horizon, card.time_column)
        frames.append(pd.DataFrame({name: values[i] for name, values in columns.items()}, index=index))
    return pd.concat(frames, keys=wanted, names=[card.id_column, index.name])


def _pretrained_columns(card, members, recent: dict[str, pd.DataFrame], wanted: list[str], horizon: int, mc,
                        saved: bool) -> dict[str, np.ndarray]:
    """The forecast columns of a fine-tuned pretrained model: from each series' saved window without
    the padding of a short series (``saved``), or from the rows of an update."""
    from rnncast.finetune import saved_forecast

    rows = {key: card.series[key]["rows"] if saved else len(recent[key]) for key in wanted}
    histories = [recent[key].to_numpy(dtype=np.float64)[-rows[key] :] for key in wanted]
    return saved_forecast(members[0].engine.deterministic, histories, [f"{card.id_column} {key}" for key in wanted], list(card.targets),
                          [card.columns.index(t) for t in card.targets], card.config["season"], horizon, card.uncertainty,
                          mc and mc.interval, not mc or mc.calibrate)


def _check_ids(wanted: list[str], card) -> None:
    known, skipped = card.series, card.skipped
    for key in wanted:
        if key in skipped:
            raise UsageError(f"`--id` {key}: the series was skipped in training ({skipped[key]} rows, too short for the window); it has no forecast.")
        if key not in known:
            raise UsageError(f"`--id` {key} is not a series of this model. Series: {first_few(known)}.")


def _recent_rows(data, options: DataOptions, card, wanted: list[str], window: int,
                 padded: bool = True) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Each wanted series' last ``window`` rows of the file's columns (``padded``: a shorter series
    left-padded to ``window``), and its last time stamp."""
    name = os.path.basename(os.fspath(data))
    loaded = load_data(data, options)
    if not loaded.many:
        raise DataError(f"{name}: has no id column {card.id_column!r}; the model forecasts series in long format.")
    columns = data_columns(card.columns)
    missing = [c for c in columns if c not in loaded.columns]
    if missing:
        raise DataError(f"{name}: lacks the model's column(s) {', '.join(missing)}; the model was trained on {', '.join(columns)}.")
    if loaded.freq != card.freq and loaded.freq is not None:
        raise DataError(f"{name}: frequency is {loaded.freq!r}, the model was trained on {card.freq!r} data.")
    recent, last = {}, {}
    for key in wanted:
        if key not in loaded.series:
            raise DataError(f"{name}: has no rows for {card.id_column} {key}; pass --id for the series it has.")
        # A series shorter than the window is padded as training padded the short ones.
        frame = (left_padded(loaded.series[key], window, loaded.freq) if padded else loaded.series[key]).frame[columns]
        recent[key], last[key] = frame.iloc[-window:], time_to_json(frame.index[-1])
    return recent, last
