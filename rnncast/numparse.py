"""Reading the columns of a CSV as numbers: decimal marks and thousands separators.

Every cell is read as text and a column becomes numbers by the one convention (thousands
separator, decimal mark) that reads all its values; a column that two conventions read
differently (1,234 or 1.234 with nothing to tell) is refused, never guessed.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from rnncast.config import DataOptions
from rnncast.errors import DataError, UsageError

log = logging.getLogger("rnncast")

# Thousands separators recognised in numbers written as text: comma, dot, space, no-break
# spaces and apostrophe; each goes with the decimal marks it can stand beside.
THOUSANDS = ",. '\u00a0\u202f"
# Values each convention is tried on first: one that fails any of them cannot read the column,
# so most columns are read by one convention instead of several.
SAMPLE = 100
Convention = tuple[str, str]  # (thousands separator or "", decimal mark)
# A number whose one separator is followed by other than three digits, or preceded by more
# than three, can only be written with that separator as its decimal mark (7.58, 1234,5).
DECIMAL_ONLY = re.compile(r"^\s*[+-]?(?:\d*([.,])(?:\d{1,2}|\d{4,})|\d{4,}([.,])\d+)\s*$")


def read_number_columns(frame: pd.DataFrame, thousands: str | None, name: str) -> pd.DataFrame:
    """``frame`` (all text) with each column whose every value is a number as numbers:
    int64 where all are whole and present, else float64.

    Raises:
        DataError: a column reads completely as numbers two ways.
    """
    numbers = {}
    decimal = None if thousands else _file_decimal_mark(frame)
    for column in frame.columns:
        text = _text(frame[column])
        conventions = [c for c in _conventions(text, thousands) if _read(text.head(SAMPLE), c).notna().all()
                       and decimal in (None, c[1])]
        readings = _readings(frame[column], text, conventions)
        if readings and readings[0][1].notna().sum() == len(text):
            _refuse_second_reading(readings, frame[column], column, name)
            numbers[column] = readings[0][1]
    return frame.assign(**numbers)


def numeric_columns(frame: pd.DataFrame, options: DataOptions, name: str) -> pd.DataFrame:
    """The numeric columns of ``frame`` as float64; text columns are left out with a warning
    that names their first cell that is not a number.

    Raises:
        DataError: a column is mostly numbers but not all, or no column is numeric.
        UsageError: ``--target`` names a column the frame does not have.
    """
    columns: dict[str, pd.Series] = {}
    ignored: list[str] = []
    for column in frame.columns:
        values = frame[column]
        if values.isna().all() and column not in options.targets:
            log.warning("%s: ignoring empty column '%s'.", name, column)
            continue
        if pd.api.types.is_numeric_dtype(values):
            columns[column] = values.astype("float64")
            continue
        present = values.notna()
        failed = present & coerce_numeric(values, options.thousands).isna()
        first = int(np.argmax(failed.to_numpy()))
        cell = f"{values.iloc[first]!r} at line {values.index[first] + 2}"
        if failed.sum() < 0.5 * present.sum():
            raise DataError(
                f"{name}: column '{column}' has {int(failed.sum())} non-numeric value(s) (first: {cell}); fix or remove them."
            )
        if column in options.targets:
            raise DataError(f"{name}: target column '{column}' is not numeric (e.g. {values.dropna().iloc[0]!r}).")
        ignored.append(f"'{column}' is text: {cell} is not a number")
        log.warning("%s: ignoring text column '%s' (%s is not a number).", name, column, cell)
    for target in options.targets:
        if target not in frame.columns:
            raise UsageError(
                f"`--target` {target!r} is not a column of {name}. Columns: {', '.join(frame.columns)}."
            )
    if not columns:
        why = f"; {ignored[0]}" if ignored else ""
        raise DataError(f"{name}: no numeric column to forecast (columns: {', '.join(frame.columns) or 'none'}{why}).")
    return pd.DataFrame(columns)


def choose_targets(numeric: pd.DataFrame, options: DataOptions, name: str) -> tuple[str, ...]:
    """The columns to forecast, in column order (so that a forecast of every column can be fed back
    as a row): ``--target``'s, or every numeric column but the ``--known`` ones, whose future the
    user supplies and which are therefore inputs only.

    Raises:
        UsageError: a ``--known`` column is missing, not numeric, or also a ``--target``.
    """
    for column in options.known:
        if column not in numeric.columns:
            raise UsageError(f"`--known` {column!r} is not a numeric column of {name}. Numeric columns: {', '.join(numeric.columns)}.")
        if column in options.targets:
            raise UsageError(f"`--known` {column!r} is also a `--target`; a column is either forecast or supplied for the horizon.")
    targets = tuple(c for c in numeric.columns if c in options.targets or (not options.targets and c not in options.known))
    if not targets:
        raise UsageError(f"{name}: every numeric column is `--known`; leave at least one column to forecast.")
    return targets


def coerce_numeric(values: pd.Series, thousands: str | None = None) -> pd.Series:
    """The reading of a column that reads most of its values as numbers (NaN elsewhere)."""
    text = _text(values)
    return _readings(values, text, _conventions(text, thousands))[0][1].astype("float64")


def _file_decimal_mark(frame: pd.DataFrame) -> str | None:
    """The decimal mark that some value of the file can only have been written with, when the
    file shows one and not both: a spreadsheet writes every column with the same mark, so
    21.125 beside 7.58 is twenty-one and a bit, not 21125."""
    marks = set()
    for column in frame.columns:
        found = _text(frame[column]).str.extract(DECIMAL_ONLY.pattern).to_numpy().ravel()
        marks.update(mark for mark in found if isinstance(mark, str))
    return marks.pop() if len(marks) == 1 else None


def _text(values: pd.Series) -> pd.Series:
    return values.dropna().astype(str)


def _conventions(text: pd.Series, thousands: str | None) -> list[Convention]:
    """The conventions to try: those of ``thousands``, else those of the separators ``text`` holds."""
    if thousands:
        return [(thousands, d) for d in ".," if d != thousands]
    joined = "".join(text.tolist())
    comma = [("", ",")] if "," in joined else []
    return [("", "."), *comma, *((t, d) for t in THOUSANDS if t in joined for d in ".," if d != t)]


def _readings(values: pd.Series, text: pd.Series, conventions: list[Convention]) -> list[tuple[Convention, pd.Series]]:
    """Each convention's reading of ``values`` (``text``, its present values), the one that reads most first."""
    readings = [(convention, _read(text, convention).reindex(values.index)) for convention in conventions]
    return sorted(readings, key=lambda reading: -reading[1].notna().sum())


def _read(text: pd.Series, convention: Convention) -> pd.Series:
    """Numbers written by a convention, NaN where a value does not follow it. Digits are only
    grouped by threes, so that a date such as 12.01.2020 is never a number."""
    t, d = convention
    if convention == ("", "."):
        numbers = pd.to_numeric(text, errors="coerce")
        if pd.api.types.is_float_dtype(numbers):
            # pandas' own parser can be one unit in the last place off; Python's float is exact.
            read = numbers.notna()
            numbers[read] = text[read].astype("float64")
        return numbers
    digits = rf"[1-9]\d{{0,2}}(?:{re.escape(t)}\d{{3}})+|\d+" if t else r"\d+"
    pattern = rf"\s*[+-]?(?:(?:{digits})(?:{re.escape(d)}\d*)?|{re.escape(d)}\d+)(?:[eE][+-]?\d+)?\s*"
    plain = text.where(text.str.fullmatch(pattern)).str.replace(t, "", regex=False).str.replace(d, ".", regex=False)
    return pd.to_numeric(plain, errors="coerce")


def _refuse_second_reading(readings: list[tuple[Convention, pd.Series]], values: pd.Series, column: str, name: str) -> None:
    """Refuse a column that two conventions read completely but differently (1,234 with a
    thousands comma or a decimal comma)."""
    (mark, best), count = readings[0], readings[0][1].notna().sum()
    for other_mark, other in readings[1:]:
        if other.notna().sum() == count and not other.equals(best):
            where = int(np.argmax((other != best).to_numpy()))
            separator = mark[0] or other_mark[0]
            decimal_alternative = "." if separator == "," else ","
            raise DataError(
                f"{name}: column '{column}' reads two ways: {values.iloc[where]!r} at line {values.index[where] + 2} "
                f"is {best.iloc[where]:g} or {other.iloc[where]:g}; pass --thousands {separator!r} if {separator!r} separates "
                f"thousands, or --thousands {decimal_alternative!r} if {separator!r} is the decimal mark."
            )
