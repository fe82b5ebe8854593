"""The rows a forecast starts from: the window a model was saved with, or the newest rows of an
updated file (with the known inputs' future at its end), and the history a plot draws."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from rnncast.card import ONE_SERIES
from rnncast.config import DataOptions
from rnncast.errors import DataError
from rnncast.jsonable import time_to_json
from rnncast.known import data_columns, needs_future
from rnncast.store import DEFAULT_MODEL_DIR, ModelCard, load_card

if TYPE_CHECKING:
    import pandas as pd


def recent_history(model_dir: str | os.PathLike[str] = DEFAULT_MODEL_DIR, data: str | os.PathLike[str] | None = None,
                   data_options: DataOptions = DataOptions(), pretrained: bool = False) -> pd.DataFrame:
    """The newest observed rows of the targets that a forecast continues, with their time stamps.

    From ``data``, the last rows (a window, or three horizons if longer); without it, the
    window the model was saved with. For a global model, every series', indexed by (id, time).
    ``pretrained``: the forecast was zero-shot (``api.zero_shot``), from the last rows of ``data``.
    """
    import pandas as pd

    from rnncast.data import read_frame, series_from_frame
    from rnncast.known import trailing_future
    from rnncast.dataset import load_data

    if pretrained:
        from rnncast.pretrained import load_spec

        loaded, rows = load_data(data, data_options), load_spec().context
        if loaded.many:
            return pd.concat({key: one.frame[list(one.targets)].iloc[-rows:] for key, one in loaded.series.items()},
                             names=[loaded.id_column, loaded.time_column])
        return loaded.first.frame[list(loaded.targets)].iloc[-rows:]
    card = load_card(model_dir)
    rows = max(card.config["window"], 3 * card.config["horizon"])
    options = data_options.over(card.data_options)
    if data is None:
        # A short series' saved window starts with padding (``dataset.left_padded``), which is no history.
        frames = {key: saved_window(one["last_window"], one["last_time"], card)[card.targets].iloc[-one["rows"] :]
                  for key, one in card.series.items()}
    elif card.id_column is not None:
        frames = {key: one.frame[card.targets].iloc[-rows:] for key, one in load_data(data, options).series.items()}
    else:  # a wide file may end with rows that give only the known inputs' future
        raw, _ = trailing_future(read_frame(os.fspath(data), options), card.targets, options)
        loaded = series_from_frame(raw, options, os.path.basename(os.fspath(data)), os.fspath(data))
        frames = {ONE_SERIES: loaded.frame[card.targets].iloc[-rows:]}
    if card.id_column is None:
        return frames[ONE_SERIES]
    return pd.concat(frames, names=[card.id_column, card.time_column])


def saved_window(last_window: list | np.ndarray, last_time: Any, card: ModelCard) -> pd.DataFrame:
    """A series' saved window (its ``last_window`` in ``card.series``) with its time stamps."""
    import pandas as pd

    from rnncast.timeparse import past_index

    values = np.asarray(last_window, dtype=np.float64)
    index = past_index(last_time, card.freq, len(values), card.time_column)
    return pd.DataFrame(values, index=index, columns=card.columns)


def recent_rows(data: str | os.PathLike[str], options: DataOptions, card: ModelCard, window: int) -> tuple[Any, Any, Any]:
    """The last ``window`` rows of ``data`` and their last time stamp: as values, or for a model with
    known-future inputs as a frame of the file's columns (``known.future_rows`` adds the others),
    and the rows at the file's end that give the known inputs' future instead of ``--future`` (or None)."""
    from rnncast.data import read_frame, series_from_frame
    from rnncast.known import trailing_future

    path = os.fspath(data)
    name = os.path.basename(path)
    raw, ahead = trailing_future(read_frame(path, options), card.targets, options)
    series = series_from_frame(raw, options, name, path)
    columns = data_columns(card.columns)
    missing = [c for c in columns if c not in series.columns]
    if missing:
        raise DataError(f"{name}: lacks the model's column(s) {', '.join(missing)}; the model was trained on {', '.join(columns)}.")
    if series.time_column != card.time_column:
        raise DataError(f"{name}: time column is {series.time_column!r}, the model's is {card.time_column!r}.")
    if series.freq != card.freq and len(series) >= 3:
        raise DataError(f"{name}: frequency is {series.freq!r}, the model was trained on {card.freq!r} data.")
    if len(series) < window:
        raise DataError(f"{name}: has {len(series)} rows; the model needs the last {window} (its window).")
    frame = series.frame[columns].iloc[-window:]
    return frame if needs_future(options) else frame.to_numpy(dtype=np.float64), time_to_json(frame.index[-1]), ahead


