"""The time column of a CSV: finding it, reading it with one format, and stepping along it.

A text column of dates is read with ONE format for all its values: ISO 8601 if it reads them
all, else the single format (day-first, month-first, with or without a time) that reads every
value. A column that two formats read differently (every day and month at most 12) is refused,
never guessed, and so is one that mixes formats. Integer columns named after calendar parts
(year and month, ...) are combined into one time column instead of becoming targets.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from rnncast.config import DataOptions
from rnncast.errors import DataError, UsageError

log = logging.getLogger("rnncast")

TIME_COLUMN_NAMES = ("date", "datetime", "time", "timestamp", "ds", "period", "month", "year", "day", "week", "hour")
# "ds" is the time column of the statsforecast convention, integers in M3's "other" series.
INTEGER_TIME_NAMES = ("step", "t", "index", "idx", "time", "period", "year", "ds")
ISO = "ISO8601"
# Date layouts tried besides ISO and pandas' guesses from the first value; a layout that reads
# every value is kept, and the data decides between day-first and month-first.
DATES = ("%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%m-%d-%Y", "%d.%m.%y", "%d/%m/%y", "%m/%d/%y")
TIMES = ("", " %H:%M", " %H:%M:%S")
# Whole-number columns that are parts of a time stamp (English and German names), by part.
CALENDAR_PARTS = {
    "year": "year", "jahr": "year", "quarter": "quarter", "quartal": "quarter", "month": "month",
    "monat": "month", "week": "week", "woche": "week", "day": "day", "tag": "day", "hour": "hour", "stunde": "hour",
}
# The parts that make one time stamp, each row written as ISO text and then read like any date.
CALENDAR_STAMPS = {
    frozenset({"year", "month"}): ("year", "-", "month"),
    frozenset({"year", "quarter"}): ("year", "-", "quarter", "-01"),
    frozenset({"year", "month", "day"}): ("year", "-", "month", "-", "day"),
    frozenset({"year", "month", "day", "hour"}): ("year", "-", "month", "-", "day", " ", "hour", ":00"),
}
# ISO months (2020-01) are printed back the same way in forecasts, not as their first day.
ISO_MONTH = len("2020-01")
# Dates written as whole numbers (20200112), read in a column named like a date.
COMPACT_DATE = "%Y%m%d"


def combine_calendar_parts(frame: pd.DataFrame, options: DataOptions, name: str) -> pd.DataFrame:
    """Replace whole-number calendar-part columns (year and month, ...) by one time column named
    after them (``year-month``), so that they are never taken as targets.

    A year alone is left as an axis of years, and any other lone part that only increases as an
    axis of steps; parts beside another time column are dropped, with a warning.

    Raises:
        DataError: the parts do not make a time stamp (e.g. month without year), or one is missing.
    """
    parts = {
        CALENDAR_PARTS[column.lower()]: column for column in frame.columns
        if column.lower() in CALENDAR_PARTS and column not in options.targets and column != options.time_column
        and _whole_numbers(frame[column])
    }
    if not parts or set(parts) == {"year"} or (len(parts) == 1 and is_integer_axis(frame[next(iter(parts.values()))])):
        return frame
    columns = list(parts.values())
    listed = ", ".join(f"'{c}'" for c in columns)
    other = options.time_column or find_time_column(frame.drop(columns=columns), options, name)
    if other is not None:
        log.warning("%s: ignoring calendar column(s) %s: the time column '%s' gives the time.", name, listed, other)
        return frame.drop(columns=columns)
    layout = CALENDAR_STAMPS.get(frozenset(parts))
    if layout is None:
        raise DataError(
            f"{name}: column(s) {listed} look like calendar parts but do not make a time stamp (it takes year and "
            "month, year and quarter, or year, month and day, and hour); pass --time-column, or rename them if they are values."
        )
    for column in columns:
        if frame[column].isna().any():
            line = int(np.argmax(frame[column].isna().to_numpy())) + 2
            raise DataError(f"{name}: calendar column '{column}' has a missing value at line {line}; fill it in.")
    fields = {part: frame[column].astype("int64") for part, column in parts.items()}
    if "quarter" in fields:
        fields["quarter"] = 3 * fields["quarter"] - 2  # the quarter's first month
    text = pd.Series("", index=frame.index)
    for piece in layout:
        text = text + (fields[piece].astype(str).str.zfill(4 if piece == "year" else 2) if piece in fields else piece)
    combined = "-".join(columns)
    return frame.drop(columns=columns).assign(**{combined: text})[[combined, *frame.columns.drop(columns)]]


def _whole_numbers(values: pd.Series) -> bool:
    if not pd.api.types.is_numeric_dtype(values):
        return False
    present = values.dropna()
    return len(present) > 0 and bool((present == np.round(present)).all())


def find_time_column(frame: pd.DataFrame, options: DataOptions, name: str, ids: pd.Series | None = None) -> str | None:
    """The column of time stamps or steps: ``options.time_column``, else one found by name or content.

    ``ids`` (a long-format file's series ids) makes integer steps count as a time axis when they
    increase within each series, as they restart at every new one.
    """
    if options.time_column is not None:
        if options.time_column not in frame.columns:
            raise UsageError(
                f"`--time-column` {options.time_column!r} is not a column of {name}. "
                f"Columns: {', '.join(frame.columns)}."
            )
        return options.time_column
    names = TIME_COLUMN_NAMES + INTEGER_TIME_NAMES
    # A column named like year-month was made of calendar parts by combine_calendar_parts.
    by_name = [c for c in frame.columns if (c.lower() in names or all(p.lower() in CALENDAR_PARTS for p in c.split("-")))
               and c not in options.targets]
    text_columns = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    for column in by_name + [c for c in text_columns if c not in by_name]:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):
            if (column.lower() in INTEGER_TIME_NAMES or column.lower() in CALENDAR_PARTS) and is_integer_axis(values, ids):
                return column
            if column.lower() in TIME_COLUMN_NAMES and _compact_dates(values) is not None:
                return column
            continue
        parsed = to_datetime(values, options)
        if parsed.notna().mean() >= 0.9 or (column in by_name and parsed.notna().any()):
            return column
    return None


def _compact_dates(values: pd.Series) -> pd.Series | None:
    """The dates of whole numbers such as 20200112, if every value is one."""
    if not pd.api.types.is_integer_dtype(values) or not values.between(10000101, 29991231).all():
        return None
    parsed = pd.to_datetime(values.astype(str), format=COMPACT_DATE, errors="coerce")
    return parsed if parsed.notna().all() else None


def is_integer_axis(values: pd.Series, ids: pd.Series | None = None) -> bool:
    """Whether ``values`` are integers increasing (within each series of ``ids``, if given)."""
    if values.isna().any() or not pd.api.types.is_integer_dtype(values):
        return False
    if ids is not None:
        steps = values.groupby(ids.to_numpy(), sort=False).diff().dropna()
        return len(steps) > 0 and steps.min() > 0
    steps = np.diff(values.to_numpy())
    return len(steps) > 0 and steps.min() > 0


def to_datetime(values: pd.Series, options: DataOptions = DataOptions()) -> pd.Series:
    """The reading of a time column by the one format that reads most of its values (NaT elsewhere)."""
    readings = _readings(values, options)
    return max(readings.values(), key=lambda reading: reading.notna().sum())


def _readings(values: pd.Series, options: DataOptions) -> dict[str, pd.Series]:
    """Each candidate format's reading of a column, ISO first; ISO alone when it reads every value."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return {options.date_format or ISO: values}
    if options.date_format:
        return {options.date_format: _parse(values, options.date_format)}
    iso = _parse(values, ISO)
    present = values.notna()
    if iso[present].notna().all() or not present.any():
        return {ISO: iso}
    first = str(values[present].iloc[0]).strip()
    with warnings.catch_warnings():  # pandas warns when a day-first guess meets an ISO-like value
        warnings.simplefilter("ignore")
        guesses = [guess_datetime_format(first, dayfirst=dayfirst) for dayfirst in (False, True)]
    formats = [f for f in dict.fromkeys([*filter(None, guesses), *(d + t for d in DATES for t in TIMES)])
               if _order(f) != _unwanted_order(options.dayfirst) and _parse(pd.Series([first]), f).notna().all()]
    return {ISO: iso, **{f: _parse(values, f) for f in formats}}


def _unwanted_order(dayfirst: bool | None) -> str | None:
    return None if dayfirst is None else "month-first" if dayfirst else "day-first"


def _order(fmt: str) -> str | None:
    """Whether a format puts the day or the month first, where it has both and no year before them."""
    if "%d" not in fmt or "%m" not in fmt or fmt.startswith("%Y"):
        return None
    return "day-first" if fmt.index("%d") < fmt.index("%m") else "month-first"


def _parse(values: pd.Series, fmt: str) -> pd.Series:
    for utc in (False, True):  # offsets that change (daylight saving time) only parse as UTC
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # mixed offsets without utc: object dtype, and a warning
                parsed = pd.to_datetime(values, errors="coerce", format=fmt, utc=utc)
        except (ValueError, TypeError, OverflowError):
            continue
        if pd.api.types.is_datetime64_any_dtype(parsed):
            return parsed
    return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")


def parse_time(
    values: pd.Series, column: str, lines: np.ndarray, options: DataOptions, name: str
) -> tuple[pd.Index, str | None, str | None]:
    """The time stamps (or integer steps) of a time column, the format its text was read with,
    and the format forecasts print time stamps in where pandas' default would change it (years,
    months); None for each where it does not apply.

    Raises:
        DataError: a value is not a time stamp, the column mixes formats or reads two ways.
    """
    if pd.api.types.is_numeric_dtype(values):
        if CALENDAR_PARTS.get(column.lower()) == "year" and values.between(1000, 2999).all():
            return pd.DatetimeIndex(pd.to_datetime(values.astype(int).astype(str), format="%Y")), None, "%Y"
        if not pd.api.types.is_integer_dtype(values):
            raise DataError(f"{name}: time column '{column}' holds numbers that are not whole steps.")
        compact = _compact_dates(values) if column.lower() in TIME_COLUMN_NAMES else None
        if compact is not None:
            return pd.DatetimeIndex(compact), None, COMPACT_DATE
        return pd.Index(values.to_numpy()), None, None
    readings = _readings(values, options)
    present = values.notna()
    complete = {f: r for f, r in readings.items() if r[present].notna().all()}
    if complete:
        fmt, parsed = next(iter(complete.items()))
        for other, reading in complete.items():
            if not reading.equals(parsed):
                raise _ambiguity(values, column, lines, name, {fmt: parsed, other: reading})
    else:
        fmt = max(readings, key=lambda f: readings[f].notna().sum())
        parsed = readings[fmt]
    bad = parsed.isna().to_numpy()
    if bad.any():
        first = int(np.argmax(bad))
        value = values.iloc[first]
        if options.date_format:
            raise DataError(
                f"{name}: time column '{column}' has {int(bad.sum())} value(s) that do not match --date-format "
                f"{options.date_format!r} (first: {value!r} at line {lines[first]}); fix them, or pass another --date-format."
            )
        alone = _readings(values.iloc[[first]], options) if pd.notna(value) else {}
        if any(reading.notna().all() for reading in alone.values()):
            start = int(np.argmax(parsed.notna().to_numpy()))
            raise DataError(
                f"{name}: time column '{column}' mixes date formats ({values.iloc[start]!r} at line {lines[start]}, "
                f"{value!r} at line {lines[first]}); write every date in one format, or pass --date-format."
            )
        raise DataError(
            f"{name}: time column '{column}' has {int(bad.sum())} value(s) that are not timestamps "
            f"(first: {value!r} at line {lines[first]})."
        )
    if not pd.api.types.is_datetime64_any_dtype(parsed):
        raise DataError(f"{name}: time column '{column}' mixes time zones; use one time zone throughout.")
    months = fmt == ISO and len(str(values.iloc[0]).strip()) == ISO_MONTH and (values.str.strip().str.len() == ISO_MONTH).all()
    return pd.DatetimeIndex(parsed), fmt, "%Y-%m" if months else None


def _ambiguity(values: pd.Series, column: str, lines: np.ndarray, name: str, readings: dict[str, pd.Series]) -> DataError:
    (one, first), (two, second) = sorted(readings.items(), key=lambda reading: _order(reading[0]) != "day-first")
    where = int(np.argmax((first != second).to_numpy()))
    return DataError(
        f"{name}: time column '{column}' reads as both {_order(one) or one} ({_stamp(first.iloc[where])} ..) and "
        f"{_order(two) or two} ({_stamp(second.iloc[where])} ..) from {values.iloc[where]!r} at line {lines[where]}; "
        "pass --dayfirst, --monthfirst or --date-format."
    )


def _stamp(value: pd.Timestamp) -> str:
    return str(value.date()) if value == value.normalize() else str(value)


def infer_season(freq: str | int | None) -> int | None:
    """The natural seasonal period of a frequency: 7 for daily, 24 for hourly, 12 for monthly..."""
    if not isinstance(freq, str):
        return None
    offset = pd.tseries.frequencies.to_offset(freq)
    base = offset.rule_code.split("-")[0].upper()
    by_base = {"B": 5, "D": 7, "W": 52, "M": 12, "ME": 12, "MS": 12, "BME": 12, "BMS": 12,
               "SME": 24, "SMS": 24, "Q": 4, "QE": 4, "QS": 4, "BQE": 4, "BQS": 4}
    if base in by_base and offset.n == 1:
        return by_base[base]
    try:
        step = pd.Timedelta(offset)
    except ValueError:
        return None
    for period in (pd.Timedelta(days=1), pd.Timedelta(hours=1), pd.Timedelta(minutes=1)):
        if step < period and period % step == pd.Timedelta(0):
            return int(period / step)
    if step == pd.Timedelta(days=1):
        return 7
    return None


def future_index(last: Any, freq: str | int | None, horizon: int, name: str | None) -> pd.Index:
    """The ``horizon`` time stamps (or steps) after ``last``."""
    if isinstance(freq, str):
        index = pd.date_range(pd.Timestamp(last), periods=horizon + 1, freq=freq)[1:]
    else:
        step = freq or 1
        index = pd.Index(np.arange(1, horizon + 1) * step + int(last))
    return index.rename(name or "step")


def past_index(last: Any, freq: str | int | None, rows: int, name: str | None) -> pd.Index:
    """The ``rows`` time stamps (or steps) ending at ``last``, ``last`` included."""
    if isinstance(freq, str):
        index = pd.date_range(end=pd.Timestamp(last), periods=rows, freq=freq)
    else:
        step = freq or 1
        index = pd.Index(int(last) - np.arange(rows - 1, -1, -1) * step)
    return index.rename(name or "step")
