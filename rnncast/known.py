"""Known-future inputs: columns whose values over the horizon the user supplies (``--known``), or
that the calendar implies (``--calendar``, ``--holidays``), and how a network sees them.

A network sees the horizon's known values as extra input columns, "leads": in each row, the known
column's values 1..steps rows ahead (``promo@+1`` ...), ``steps`` being what one pass predicts
(the horizon for a direct model, one step for an autoregressive one). The window's last row then
carries the whole block's known future, so any zoo model takes it without a new architecture, and
windows cut from the data carry the actual known future of their origin (backtests, validation).
Calendar encodings need no leads (a row's calendar fixes the next rows'); holidays do. The lead
rows past the data's end are unknown: they repeat the last value until ``extend`` replaces them
with the supplied future.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from rnncast.config import DataOptions
from rnncast.errors import UsageError
from rnncast.windows import seasonal_rows

if TYPE_CHECKING:
    import pandas as pd

    from rnncast.data import TimeSeries
    from rnncast.models import NetworkShape

LEAD = "@+"
CALENDAR = "calendar:"
HOLIDAYS = "holidays:"
STATIC = "static:"
ADDED = (CALENDAR, HOLIDAYS, STATIC)


def input_only(columns: Sequence[str], options: DataOptions) -> list[int]:
    """The columns no network predicts: the known ones, the calendar's and their leads."""
    return [i for i, c in enumerate(columns) if c in options.known or LEAD in c or c.startswith(ADDED)]


def data_columns(columns: Sequence[str]) -> list[str]:
    """The columns of ``columns`` that a data file has, not the ones rnncast adds."""
    return [c for c in columns if not (LEAD in c or c.startswith(ADDED))]


def network_outputs(strategy: str, target_index: list[int], n_columns: int, inputs: Sequence[int]) -> list[int]:
    """The columns a network predicts: the targets (direct), or every column but ``inputs`` (autoregressive)."""
    return list(target_index) if strategy == "direct" else [i for i in range(n_columns) if i not in inputs]


def lead_columns(columns: Sequence[str], steps: int) -> tuple[tuple[int, ...], ...]:
    """The columns holding the known values 0..``steps`` rows after a row: ``[offset][source]``,
    the known columns themselves at offset 0 and their leads after, the sources in the same
    order at every offset; empty without leads."""
    columns = list(columns)
    sources = [c.rpartition(LEAD)[0] for c in columns if c.rpartition(LEAD)[1:] == (LEAD, "1")]
    if not sources:
        return ()
    return tuple(tuple(columns.index(f"{source}{LEAD}{step}" if step else source) for source in sources) for step in range(steps + 1))


def needs_future(options: DataOptions) -> bool:
    """Whether a model trained with ``options`` has inputs it needs over the horizon."""
    return bool(options.known or options.calendar or options.holidays or options.static)


def with_known(series: TimeSeries, options: DataOptions, steps: int) -> TimeSeries:
    """``series`` with the calendar's columns and the known columns' leads added (``design``), and
    every input-only column named in ``series.known``.

    Raises:
        UsageError: a column of the file is named like those rnncast adds, or ``design``'s.
    """
    if not needs_future(options):
        return series
    name = os.path.basename(series.source)
    clash = [c for c in series.frame.columns if LEAD in c or c.startswith(ADDED)]
    if clash:
        raise UsageError(f"{name}: column {clash[0]!r} is named like the inputs rnncast adds for --known, --calendar, --holidays "
                         "and --static; rename it.")
    frame = design(series.frame, series.freq, options, steps, name)
    return dataclasses.replace(series, frame=frame, known=tuple(frame.columns[input_only(frame.columns, options)]))


def design(frame: pd.DataFrame, freq: Any, options: DataOptions, steps: int, name: str) -> pd.DataFrame:
    """``frame`` with the calendar's columns and the leads of the known ones added.

    Raises:
        UsageError: ``--calendar`` or ``--holidays`` without dated rows.
    """
    import pandas as pd

    from rnncast.calendars import calendar_features, holiday_features

    added: dict[str, np.ndarray] = {}
    stamps = _stamps(frame.index, options, name)
    if options.calendar:
        added |= {CALENDAR + key: value for key, value in calendar_features(stamps, freq).items()}
    holidays = {}
    if options.holidays:
        holidays = {HOLIDAYS + key: value for key, value in holiday_features(stamps, freq, options.holidays, options.holidays_left_out).items()}
    columns = {**{c: frame[c].to_numpy() for c in frame.columns}, **added, **holidays}
    for source in [*options.known, *holidays]:
        values = pd.Series(columns[source])
        for step in range(1, steps + 1):
            columns[f"{source}{LEAD}{step}"] = values.shift(-step).ffill().fillna(values.iloc[-1]).to_numpy()
    return pd.DataFrame({key: np.asarray(value, dtype=np.float64) for key, value in columns.items()}, index=frame.index)


def _stamps(index: pd.Index, options: DataOptions, name: str) -> np.ndarray:
    import pandas as pd

    if (options.calendar or options.holidays) and not isinstance(index, pd.DatetimeIndex):
        flag = "--calendar" if options.calendar else "--holidays"
        raise UsageError(f"{name}: `{flag}` needs a time column of dates, and the rows are numbered steps; drop {flag} or add dates.")
    return index.to_numpy()


def extend(window: pd.DataFrame, future: Mapping[str, np.ndarray], future_index: pd.Index, columns: Sequence[str], freq: Any,
           options: DataOptions, steps: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The window's rows and the ``horizon`` rows after it, ``[rows, columns]`` in ``columns``' order,
    with the known inputs' leads and the calendar's columns computed over both, and NaN in the
    future's columns that a forecast predicts.

    ``window`` holds at least the data's own columns (targets, inputs, known) with time stamps;
    ``future`` each known column's values over ``future_index``.
    """
    import pandas as pd

    static = [c for c in columns if c.startswith(STATIC)]
    base = [c for c in data_columns(columns) if c in window.columns] + static
    # A series' attributes hold over the horizon; the other columns' future is given or unknown.
    after = pd.DataFrame({c: future.get(c, window[c].iloc[-1] if c in static else np.full(len(future_index), np.nan)) for c in base},
                         index=future_index)
    both = design(pd.concat([window[base], after]), freq, options, steps, name)
    values = both[list(columns)].to_numpy(dtype=np.float64)
    return values[: len(window)], values[len(window) :]


def read_static(path: str, options: DataOptions, id_column: str, ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each series' attributes from the ``--static`` file: a row per id, number columns as they
    are and text columns one-hot (``static:type=A``), named ``static:<column>``.

    Raises:
        DataError: the file lacks the id column, a series, or a value, or repeats an id.
    """
    import pandas as pd

    from rnncast.data import read_frame
    from rnncast.errors import DataError
    from rnncast.numparse import coerce_numeric

    name = os.path.basename(path)
    raw = read_frame(path, options)
    if id_column not in raw.columns:
        raise DataError(f"{name}: has no column {id_column!r}, the data's id column; --static needs it beside the attributes.")
    keys = raw[id_column].astype(str)
    if keys.duplicated().any():
        line = int(np.argmax(keys.duplicated().to_numpy())) + 2
        raise DataError(f"{name}: {id_column} {keys[keys.duplicated()].iloc[0]!r} has a second row at line {line}; give each series one row.")
    missing = [key for key in ids if key not in set(keys)]
    if missing:
        raise DataError(f"{name}: has no row for {len(missing)} series of the data ({id_column} {', '.join(map(repr, missing[:3]))}); "
                        "add their attributes.")
    columns: dict[str, pd.Series] = {}
    for column in (c for c in raw.columns if c != id_column):
        cells = raw[column]
        if cells.isna().any():
            line = int(np.argmax(cells.isna().to_numpy())) + 2
            raise DataError(f"{name}: column {column!r} is empty at line {line}; every series needs each attribute.")
        numbers = cells.astype("float64") if pd.api.types.is_numeric_dtype(cells) else coerce_numeric(cells, options.thousands)
        if numbers.notna().all():
            columns[f"{STATIC}{column}"] = numbers
        else:
            for value in sorted(cells.astype(str).unique()):
                columns[f"{STATIC}{column}={value}"] = (cells.astype(str) == value).astype("float64")
    table = pd.DataFrame(columns).set_axis(keys)
    return {key: table.loc[key].to_dict() for key in ids}


def provenance(options: DataOptions) -> dict[str, str]:
    """What the card records of where the known inputs came from: the holidays package's version."""
    if not options.holidays:
        return {}
    from rnncast.calendars import holidays_version

    return {"holidays_package": holidays_version()}


def describe(options: DataOptions) -> str | None:
    """The known-future inputs, for ``rnncast info``."""
    parts = []
    if options.known:
        parts.append(f"known {', '.join(options.known)} (forecast with --future FILE)")
    if options.calendar:
        parts.append("calendar")
    if options.holidays:
        left_out = f" but {', '.join(options.holidays_left_out)} (the data does not set them apart)" if options.holidays_left_out else ""
        parts.append(f"holidays {options.holidays}{left_out}")
    if options.static:
        parts.append(f"static attributes from {os.path.basename(options.static)}")
    if not parts:
        return None
    return "; ".join(parts)


def trailing_future(raw: pd.DataFrame, targets: Sequence[str], options: DataOptions) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """An updated file's rows (``data.read_frame``'s) split into the data and the rows at its end
    whose targets are all empty: the known inputs' future, when the model takes known columns."""
    if not options.known or any(t not in raw.columns for t in targets):
        return raw, None
    filled = np.flatnonzero(raw[list(targets)].notna().any(axis=1).to_numpy())
    end = filled[-1] + 1 if len(filled) else 0
    return (raw, None) if end == len(raw) else (raw.iloc[:end], raw.iloc[end:])


def read_future(path: str | os.PathLike[str] | None, card: Any, options: DataOptions, last: Mapping[str | None, Any],
                horizon: int, rows: pd.DataFrame | None = None) -> dict[str | None, dict[str, np.ndarray]]:
    """The known columns' values over the ``horizon`` steps after each series' ``last`` time stamp
    (``None``: the one series), from the ``--future`` file at ``path`` or the ``rows`` at the end
    of an updated file (``trailing_future``), for a saved model (``card``, a ``store.ModelCard``);
    none for a model whose known inputs are all the calendar's.

    Raises:
        UsageError: the model takes known columns and neither gives them, or both do.
        DataError: they lack values the forecast needs (``future.load_future``).
    """
    if not options.known:
        return {key: {} for key in last}
    if path is not None and rows is not None:
        raise UsageError(f"--future and the {len(rows)} row(s) without targets at the end of --data both give the future; keep one.")
    if path is None and rows is None:
        raise UsageError(
            f"this model takes the future values of {', '.join(options.known)} (trained with --known); pass --future FILE.csv "
            f"with {'it' if len(options.known) == 1 else 'them'} and the time column for the {horizon} step(s) after the data, "
            "or end --data with those rows, their targets empty."
        )
    from rnncast.future import future_from_rows, load_future

    settings = dict(known=list(options.known), time_column=card.time_column, id_column=card.id_column, freq=card.freq, last=last,
                    horizon=horizon, series=[*card.series, *card.skipped])
    if rows is None:
        loaded = load_future(path, options, **settings)
    else:
        takes = [c for c in (card.id_column, card.time_column) if c is not None] + list(options.known)
        loaded = future_from_rows(rows[takes], os.path.basename(card.source["path"]) + " (rows without targets)", options, **settings)
    return {key: {column: values[:, i] for i, column in enumerate(options.known)} for key, values in loaded.items()}


def future_rows(window: pd.DataFrame, last_time: Any, card: Any, options: DataOptions, horizon: int,
                values: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``extend`` for a saved model (``card``): its window, and the ``horizon`` rows after
    ``last_time`` with the known columns' ``values`` (``read_future``'s)."""
    from rnncast.timeparse import future_index

    steps = card.config["horizon"] if card.config["strategy"] == "direct" else 1
    index = future_index(last_time, card.freq, horizon, card.time_column)
    return extend(window, values, index, card.columns, card.freq, options, steps, os.path.basename(card.source["path"]))


def known_weights(network, train: Sequence[np.ndarray], shape: "NetworkShape", season: int, model: str) -> None:
    """Least-squares weights of a seasonal baseline's known inputs (``models``' ``known_linear``):
    what the standardised training rows ``train`` of each series (pooled) say each step's change
    in a known column, against the rows ``model`` repeats or averages, adds to the outputs'."""
    reference = seasonal_rows(shape.window, shape.steps, season, every=model == "seasonal-mean")
    changes, residuals = [], []
    for rows in train:
        starts = np.arange(len(rows) - shape.window - shape.steps + 1)
        windows = rows[starts[:, None] + np.arange(shape.window)]
        future = rows[starts[:, None] + shape.window + np.arange(shape.steps)][..., list(shape.outputs)]
        repeated = np.einsum("hw,nwc->nhc", reference, windows)
        changes.append((windows[:, -1][:, np.array(shape.leads[1:])] - repeated[..., list(shape.leads[0])]).reshape(-1, len(shape.leads[0])))
        residuals.append((future - repeated[..., list(shape.outputs)]).reshape(-1, len(shape.outputs)))
    weights = np.linalg.lstsq(np.concatenate(changes), np.concatenate(residuals), rcond=None)[0]
    network.get_layer("known_linear").set_weights([weights.astype(np.float32)])
