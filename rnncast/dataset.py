"""The one data object: a ``Panel`` of series, loaded from a wide CSV (one series) or a long-format
CSV (many), with their known-future inputs.

A long-format file stacks series: every row is a series id, a time and the value columns, the
layout of statsforecast and neuralforecast (``unique_id, ds, y``). Each series goes through the
single-series loader's checks (``data``). A wide file is a panel of one series, with no id
column, so that fitting, scoring and calibration are written once for one series or many.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from typing import Sequence

import numpy as np
import pandas as pd

from rnncast.card import ONE_SERIES
from rnncast.config import DataOptions
from rnncast.data import TimeSeries, read_frame, series_from_frame
from rnncast.errors import DataError, UsageError
from rnncast.jsonable import time_to_json
from rnncast.known import read_static, with_known
from rnncast.numparse import choose_targets, numeric_columns
from rnncast.timeparse import find_time_column, parse_time, past_index

# The id column of the statsforecast/neuralforecast convention, used when --id-column is not given.
CONVENTIONAL_ID = "unique_id"
NAMED_IN_WARNINGS = 10


@dataclasses.dataclass(frozen=True)
class Panel:
    """Series by id (sorted), sharing columns, time column and frequency: those of a long-format
    file, or a wide file's one series under the key ``ONE_SERIES`` with no ``id_column``."""

    series: dict[str, TimeSeries]
    id_column: str | None
    source: str

    @classmethod
    def of(cls, series: TimeSeries) -> "Panel":
        """The panel of one series, as a wide file loads."""
        return cls({ONE_SERIES: series}, None, series.source)

    @classmethod
    def from_array(cls, values: np.ndarray, name: str) -> "Panel":
        """Undated series ``[series, time, features]`` (rows are steps; columns y0, y1...), as the chapter's arrays."""
        columns = [f"y{i}" for i in range(values.shape[2])]
        return cls({f"{i:05d}": TimeSeries(pd.DataFrame(one, columns=columns), tuple(columns), None, None, name)
                    for i, one in enumerate(np.asarray(values, dtype=np.float64))}, "series", name)

    @property
    def many(self) -> bool:
        """Whether the series came from a long-format file (by id), however many it holds."""
        return self.id_column is not None

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


def load_data(path: str | os.PathLike[str], options: DataOptions = DataOptions()) -> Panel:
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
        return Panel.of(series_from_frame(raw, options, name, path))
    return _split(raw, id_column, options, name, path)


def with_known_inputs(data: Panel, options: DataOptions, steps: int) -> Panel:
    """The data with the columns of its known-future inputs (``known.with_known``), every series of
    a panel alike, and each series' attributes of ``--static`` as constant columns.

    Raises:
        UsageError: ``--static`` for a single series.
    """
    if options.static and not data.many:
        raise UsageError("`--static` gives attributes per series of a long-format file (--id-column), and this file has one series.")
    static = read_static(options.static, options, data.id_column, list(data.series)) if options.static else {}
    series = {}
    for key, one in data.series.items():
        one = with_known(one, options, steps)
        if static:
            one = dataclasses.replace(one, frame=one.frame.assign(**static[key]), known=(*one.known, *static[key]))
        series[key] = one
    return dataclasses.replace(data, series=series)


def noticed_holidays(data: Panel, options: DataOptions, horizon: int, fraction: float) -> DataOptions:
    """``options`` with the holidays of ``--holidays`` that no series' targets set apart before
    its validation tail left out (``calendars.unnoticed_holidays``), so that a day such as
    Veterans Day, when births do not drop, is not taken for Christmas, when they do."""
    if not options.holidays or options.holidays_left_out:
        return options
    from rnncast.calendars import unnoticed_holidays
    from rnncast.windows import validation_rows

    left_out: set[str] | None = None
    for one in data.series.values():
        train = one.frame.iloc[: len(one) - validation_rows(len(one), horizon, fraction)]
        names = set(unnoticed_holidays(train.index, train[list(data.targets)].to_numpy(dtype=float), data.freq, options.holidays))
        left_out = names if left_out is None else left_out & names
    return dataclasses.replace(options, holidays_left_out=tuple(sorted(left_out or ())))


def check_future(data: Panel, path: str | os.PathLike[str], options: DataOptions, horizon: int) -> None:
    """Raise what ``forecast --future`` would for the ``--future`` file at ``path`` after ``data``'s end."""
    from rnncast.future import load_future

    if not options.known:
        raise UsageError("`--future` holds the future values of --known columns, and no --known column was given.")
    last = {key if data.many else None: time_to_json(one.frame.index[-1]) for key, one in data.series.items()}
    load_future(path, options, known=list(options.known), time_column=data.time_column, id_column=data.id_column,
                freq=data.freq, last=last, horizon=horizon)


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


def left_padded(series: TimeSeries, rows: int, freq: str | int | None) -> TimeSeries:
    """``series`` with its first row repeated before it, at the time stamps (of ``freq``) before its
    start, up to ``rows`` rows: one of many series too short for a global model's window and
    validation tail still gets windows, whose start is flat, as the padding of N-BEATS' short series."""
    missing = rows - len(series)
    if missing <= 0:
        return series
    frame = series.frame
    index = past_index(time_to_json(frame.index[0]), freq, missing + 1, frame.index.name)[:-1]
    pad = pd.DataFrame(np.repeat(frame.iloc[:1].to_numpy(), missing, axis=0), index=index, columns=frame.columns)
    return dataclasses.replace(series, frame=pd.concat([pad, frame]), padded=series.padded + missing)


def first_few(items) -> str:
    """The first ``NAMED_IN_WARNINGS`` items, and how many more there are."""
    items = list(items)
    shown = ", ".join(items[:NAMED_IN_WARNINGS])
    return shown + (f" and {len(items) - NAMED_IN_WARNINGS} more" if len(items) > NAMED_IN_WARNINGS else "")
