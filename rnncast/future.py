"""A ``--future`` file: the values of known inputs over the forecast horizon, checked before any forecasting.

The file has the model's time column (none for a step-indexed model), its id column for many
series, and one column per known input (``--known``). It is read by the same reader, dialect
rules and options as training data (``data.read_frame``: delimiter, decimal marks, date formats).
Rows at or before a series' last time stamp in the data are ignored, so a file may span history
and future; the rows after must run on from the next step, without gaps, for at least the
horizon; rows beyond it are ignored. Anything else is a ``DataError`` naming the file, the line,
the column or series, and the fix.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rnncast.config import DataOptions
from rnncast.data import read_frame
from rnncast.errors import DataError, UsageError
from rnncast.numparse import coerce_numeric
from rnncast.timeparse import future_index, parse_time

# Series ids a message names before it gives only their count.
NAMED = 3


def load_future(path: str | os.PathLike[str], options: DataOptions, **where: Any) -> dict[str | None, np.ndarray]:
    """``future_from_rows`` of the ``--future`` CSV at ``path``, read like the model's data."""
    path = os.fspath(path)
    return future_from_rows(read_frame(path, options), os.path.basename(path), options, **where)


def future_from_rows(
    raw: pd.DataFrame,
    name: str,
    options: DataOptions,
    *,
    known: Sequence[str],
    time_column: str | None,
    id_column: str | None,
    freq: str | int | None,
    last: Mapping[str | None, Any],
    horizon: int,
    series: Collection[str] | None = None,
) -> dict[str | None, np.ndarray]:
    """The known inputs of the ``horizon`` steps after each series' data, from a ``--future``
    file's rows already read (``data.read_frame``) or the rows at the end of ``forecast --data``
    whose targets are empty.

    Args:
        raw: the rows; ``name`` is what messages call them.
        options: how the model's data was read (the card's ``DataOptions``, with what the user
            gives now over it); its ``date_format`` and ``dayfirst`` settle dates that read two ways.
        known: the known columns, in the order the model takes them.
        time_column: the model's time column; None for a model of step-indexed rows, whose future
            rows are taken in order (only their count and values can be checked).
        id_column: the model's id column for many series in long format; None for one series.
        freq: the model's frequency: a pandas alias, an integer step, or None (steps of 1).
        last: each series' last time stamp (ISO text, ``pd.Timestamp``) or step in the data, by id
            (None for one series); the series to read inputs for.
        horizon: the steps to forecast.
        series: every id the model knows, when ``last`` holds only some of them (``--id``): rows
            of the others are ignored rather than refused. Default: the ids of ``last``.

    Returns:
        By id (as in ``last``), a float64 array ``[horizon, len(known)]``, columns in ``known``'s order.

    Raises:
        DataError: the file is missing, unreadable, or does not give every known value of the horizon.
        UsageError: ``horizon`` is below 1.
    """
    if horizon < 1:
        raise UsageError(f"`--horizon` must be at least 1. Received: {horizon}.")
    known = list(known)
    takes = [c for c in (id_column, time_column) if c is not None] + known
    _check_columns(raw, takes, name)
    if raw.empty:
        raise DataError(f"{name}: has a header but no data rows; add the rows of the {horizon} step(s) after the data.")
    lines = raw.index.to_numpy() + 2
    ids = _series_ids(raw, id_column, last, series, lines, name)
    stamps = None if time_column is None else _stamps(raw[time_column], time_column, freq, lines, options, name)
    values, unreadable = _numbers(raw, known, options)
    cells = raw[known]
    # Each series' rows, found once: thousands of series must not each scan the whole file.
    rows_of = {None: np.arange(len(raw))} if ids is None else pd.Series(np.arange(len(raw))).groupby(ids, sort=False).indices
    inputs = {}
    for key, end in last.items():
        rows = rows_of[key]
        where = "" if ids is None else f" ({id_column} {key})"
        if stamps is None:
            picked = _next_rows(rows, end, horizon, name, where)
        else:
            picked = rows[_next_steps(stamps[rows], lines[rows], end, freq, horizon, name, where)]
        _check_values(values, unreadable, cells, picked, lines, known, name, where)
        inputs[key] = values[picked]
    return inputs


def _check_columns(raw: pd.DataFrame, takes: list[str], name: str) -> None:
    takes_phrase = f"a --future file for this model takes the columns {', '.join(takes)}"
    missing = [c for c in takes if c not in raw.columns]
    if missing:
        raise DataError(
            f"{name}: has no column {', '.join(map(repr, missing))}; {takes_phrase}: add {'it' if len(missing) == 1 else 'them'}."
        )
    extra = [c for c in raw.columns if c not in takes]
    if extra:
        raise DataError(
            f"{name}: has column(s) {', '.join(map(repr, extra))} that the model does not take; {takes_phrase}: "
            "remove the others (a column becomes a known input when the model is trained with --known)."
        )


def _series_ids(
    raw: pd.DataFrame, id_column: str | None, last: Mapping[str | None, Any], series: Collection[str] | None,
    lines: np.ndarray, name: str,
) -> np.ndarray | None:
    """Each row's series id as text (as ``panel`` keys series), after checking them against the model's."""
    if id_column is None:
        return None
    values = raw[id_column]
    if values.isna().any():
        first = int(np.argmax(values.isna().to_numpy()))
        raise DataError(f"{name}: line {lines[first]} has no {id_column!r}; every row needs its series id.")
    ids = values.astype(str).to_numpy()
    model = set(last if series is None else series)
    unknown = [key for key in dict.fromkeys(ids) if key not in model]
    if unknown:
        line = lines[int(np.argmax(ids == unknown[0]))]
        raise DataError(
            f"{name}: {_some(unknown)} (first at line {line}) {'is not a series' if len(unknown) == 1 else 'are not series'} "
            f"of the model, which knows {len(model)} ({_some(sorted(model))}); fix the {id_column!r} values or remove those rows."
        )
    present = set(ids)
    missing = [key for key in last if key not in present]
    if missing:
        raise DataError(
            f"{name}: has no rows for {len(missing)} series of the model ({id_column} {_some(missing)}); "
            "add their future rows."
        )
    return ids


def _some(keys: Sequence[Any]) -> str:
    shown = ", ".join(repr(k) for k in keys[:NAMED])
    return shown + (f" and {len(keys) - NAMED} more" if len(keys) > NAMED else "")


def _stamps(values: pd.Series, column: str, freq: str | int | None, lines: np.ndarray, options: DataOptions, name: str) -> pd.Index:
    """The time column read as training reads it, of the kind (dates or integer steps) the model's is."""
    stamps, _, _ = parse_time(values, column, lines, options, name)
    dated = isinstance(freq, str)
    if dated != isinstance(stamps, pd.DatetimeIndex):
        has, wants = ("dates", "integer steps") if not dated else ("integer steps", "dates")
        raise DataError(f"{name}: time column '{column}' holds {has} where the model's holds {wants}; write the time stamps as in the data.")
    return stamps


def _numbers(raw: pd.DataFrame, known: Sequence[str], options: DataOptions) -> tuple[np.ndarray, np.ndarray]:
    """The known columns as float64 (NaN where empty or unreadable), and where a cell holds text that is not a number."""
    columns, unreadable = [], []
    for column in known:
        cells = raw[column]
        numbers = cells.astype("float64") if pd.api.types.is_numeric_dtype(cells) else coerce_numeric(cells, options.thousands)
        columns.append(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
        unreadable.append((cells.notna() & numbers.isna()).to_numpy())
    shape = (len(raw), len(known))
    return np.array(columns, dtype=np.float64).T.reshape(shape), np.array(unreadable, dtype=bool).T.reshape(shape)


def _next_rows(rows: np.ndarray, last: Any, horizon: int, name: str, where: str) -> np.ndarray:
    """A step-indexed model's future rows: the first ``horizon`` rows, in the file's order."""
    if len(rows) < horizon:
        first = int(last) + len(rows) + 1
        raise DataError(
            f"{name}{where}: has {len(rows)} row(s) where the forecast needs {horizon}, one per step after the data "
            f"(steps {int(last) + 1} to {int(last) + horizon}); the first missing is step {first}: add {horizon - len(rows)} row(s)."
        )
    return rows[:horizon]


def _next_steps(
    stamps: pd.Index, lines: np.ndarray, last: Any, freq: str | int | None, horizon: int, name: str, where: str,
) -> np.ndarray:
    """Positions in ``stamps`` (one series' rows, in file order) of the ``horizon`` steps after ``last``."""
    end = _last_stamp(last, stamps, name)
    if isinstance(stamps, pd.DatetimeIndex) and stamps.tz is not None:
        stamps = stamps.tz_convert(end.tz)  # the same instants, compared and shown in the data's zone
    order = np.argsort(stamps, kind="stable")
    ordered = stamps[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    if len(same):
        first = same[0]
        raise DataError(
            f"{name}{where}: time stamp {_show(ordered[first])} appears twice (lines {lines[order[first]]} and "
            f"{lines[order[first + 1]]}); keep one row per time stamp."
        )
    expected = _grid(end, freq, horizon)
    ahead = (ordered > end) & (ordered <= expected[-1])
    candidates, positions = ordered[ahead], order[ahead]
    off = ~candidates.isin(expected)
    if off.any():
        i = int(np.argmax(off))
        raise DataError(
            f"{name}{where}: line {lines[positions[i]]}: time stamp {_show(candidates[i])} is not a step of the model's "
            f"{_frequency(freq)} after the data's last, {_show(end)} (expected {_show(expected[min(i, horizon - 1)])}); "
            "write the time stamps on the data's grid."
        )
    present = expected.isin(candidates)
    if not present.all():
        i = int(np.argmin(present))
        before = _show(expected[i - 1] if i else end)
        if (candidates > expected[i]).any():
            raise DataError(
                f"{name}{where}: no row for {_show(expected[i])}, the step after {before}, though later rows follow; "
                "the future rows must run on without gaps: add it."
            )
        raise DataError(
            f"{name}{where}: the forecast needs {horizon} row(s) after the data's last time stamp {_show(end)}, through "
            f"{_show(expected[-1])}; the file has {i}, the first missing is {_show(expected[i])}: add {horizon - i} "
            "row(s), or forecast a shorter --horizon."
        )
    return positions[candidates.get_indexer(expected)]


# Series of a panel mostly end together: their horizon's stamps are built once.
@functools.lru_cache(maxsize=256)
def _grid(end: Any, freq: str | int | None, horizon: int) -> pd.Index:
    return future_index(end, freq, horizon, None)


def _last_stamp(last: Any, stamps: pd.Index, name: str) -> Any:
    """``last`` as a value comparable with ``stamps``: a ``pd.Timestamp`` in their time zone, or an integer."""
    if not isinstance(stamps, pd.DatetimeIndex):
        return int(last)
    end = pd.Timestamp(last)
    if (end.tz is None) != (stamps.tz is None):
        zone = f"in {end.tz}" if end.tz is not None else "without a time zone"
        raise DataError(f"{name}: the data's time stamps are {zone} ({_show(end)}); write the future ones the same way.")
    return end


def _check_values(
    values: np.ndarray, unreadable: np.ndarray, cells: pd.DataFrame, picked: np.ndarray, lines: np.ndarray,
    known: Sequence[str], name: str, where: str,
) -> None:
    """Refuse a known value of the horizon (rows ``picked``) that is not a finite number, naming its line and column."""
    problems = unreadable[picked] | ~np.isfinite(values[picked])
    if not problems.any():
        return
    step, column = divmod(int(np.argmax(problems)), len(known))
    row = picked[step]
    count = int(problems[:, column].sum())
    if unreadable[row, column]:
        what = f"{cells.iat[row, column]!r}, not a number"
    else:
        what = "empty" if np.isnan(values[row, column]) else f"{values[row, column]}, not a finite number"
    raise DataError(
        f"{name}{where}: line {lines[row]}: known column '{known[column]}' is {what} ({count} such value(s) in the "
        "horizon); give every known input a number for every forecast step."
    )


def _show(stamp: Any) -> str:
    if isinstance(stamp, pd.Timestamp) and stamp == stamp.normalize() and stamp.tz is None:
        return str(stamp.date())
    return str(stamp)


def _frequency(freq: str | int | None) -> str:
    return f"frequency {freq!r}" if isinstance(freq, str) else f"step of {freq or 1}"
