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


def read_number_columns(frame: pd.DataFrame, thousands: str | None, name: str) -> pd.DataFrame:
    """``frame`` (all text) with each column whose every value is a number as numbers:
    int64 where all are whole and present, else float64.

    Raises:
        DataError: a column reads completely as numbers two ways.
    """
    numbers = {}
    for column in frame.columns:
        readings = read_numbers(frame[column], thousands)
        if readings[0][1].notna().sum() == frame[column].notna().sum():
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
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
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


def coerce_numeric(values: pd.Series, thousands: str | None = None) -> pd.Series:
    """The reading of a column that reads most of its values as numbers (NaN elsewhere)."""
    return read_numbers(values, thousands)[0][1].astype("float64")


def read_numbers(values: pd.Series, thousands: str | None) -> list[tuple[tuple[str, str], pd.Series]]:
    """Each (thousands separator, decimal mark) reading of a column of text as numbers, the one
    that reads most values first; ``thousands`` narrows them to that separator.

    Digits are only grouped by threes, so that a date such as 12.01.2020 is never a number.
    """
    present = values.notna()
    text = values[present].astype(str).str.strip()
    if thousands:
        conventions = [(thousands, d) for d in ".," if d != thousands]
    else:
        found = [t for t in THOUSANDS if text.str.contains(t, regex=False).any()]
        conventions = [("", "."), ("", ","), *((t, d) for t in found for d in ".," if d != t)]
    readings = []
    for t, d in conventions:
        if (t, d) == ("", "."):
            numbers = pd.to_numeric(text, errors="coerce")
        else:
            digits = rf"[1-9]\d{{0,2}}(?:{re.escape(t)}\d{{3}})+|\d+" if t else r"\d+"
            pattern = rf"[+-]?(?:(?:{digits})(?:{re.escape(d)}\d*)?|{re.escape(d)}\d+)(?:[eE][+-]?\d+)?"
            plain = text.where(text.str.fullmatch(pattern)).str.replace(t, "", regex=False).str.replace(d, ".", regex=False)
            numbers = pd.to_numeric(plain, errors="coerce")
        readings.append(((t, d), numbers.reindex(values.index)))
    return sorted(readings, key=lambda reading: -reading[1].notna().sum())


def _refuse_second_reading(readings: list[tuple[tuple[str, str], pd.Series]], values: pd.Series, column: str, name: str) -> None:
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
