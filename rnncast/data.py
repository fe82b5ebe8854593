"""Reading a CSV of time series into a checked, regular, all-numeric frame.

Every problem a user's file can have ends here as a ``DataError`` whose message names
the file, the column, the line and the fix. Line numbers count the header as line 1.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import logging
import os
import re
from collections import Counter

import numpy as np
import pandas as pd

from rnncast.config import DataOptions
from rnncast.errors import DataError, UsageError
from rnncast.numparse import choose_targets, coerce_numeric, numeric_columns, read_number_columns
from rnncast.timeparse import combine_calendar_parts, find_time_column, infer_season, parse_time, to_datetime

log = logging.getLogger("rnncast")

SNIFF_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
# Integer columns named like these can be series ids in a long-format file (store, item_id, sku...).
ID_NAME_ENDINGS = ("id", "store", "series", "item", "sku", "key")
EXCEL_SEPARATOR = re.compile(r"\ufeff?sep=(.)\r?\n")
MISSING = ["", "NA", "NaN", "nan", "null", "NULL", "None", "-", "?"]


@dataclasses.dataclass(frozen=True)
class TimeSeries:
    """A regular multivariate series: float64 columns indexed by time.

    ``freq`` is a pandas offset alias for timestamps, an integer step for an integer
    time column, and None when the file has no time column (rows are steps 0..n-1).
    ``date_format`` is the one format a text time column was read with; ``time_format`` the
    strftime format forecasts print time stamps in where pandas' default would change the
    input's (``%Y`` for years), None for pandas' default.
    """

    frame: pd.DataFrame
    targets: tuple[str, ...]
    time_column: str | None
    freq: str | int | None
    source: str
    date_format: str | None = None
    time_format: str | None = None
    # The input-only columns whose horizon values are known: --known, the calendar's, their leads (rnncast.known).
    known: tuple[str, ...] = ()
    # Rows before the first observation that repeat it (``dataset.left_padded``), for a model's window.
    padded: int = 0

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.frame.columns)

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(c for c in self.frame.columns if c not in self.targets)

    def __len__(self) -> int:
        return len(self.frame)


def load_csv(path: str | os.PathLike[str], options: DataOptions = DataOptions()) -> TimeSeries:
    """Read, check and repair (only as asked) a CSV of one or more series.

    Raises:
        DataError: the file is missing, unreadable or its contents cannot be used.
        UsageError: an option names a column the file does not have.
    """
    path = os.fspath(path)
    return series_from_frame(read_frame(path, options), options, os.path.basename(path), path)


def series_from_frame(raw: pd.DataFrame, options: DataOptions, name: str, source: str) -> TimeSeries:
    """Check and repair (only as asked) rows already read from a CSV: the body of ``load_csv``,
    also run on each series of a long-format file.

    ``raw``'s index holds each row's position among the file's data rows, so that errors name
    the file's lines; ``name`` is what messages call the data.
    """
    if raw.empty:
        raise DataError(f"{name}: has a header but no data rows.")
    line_numbers = raw.index.to_numpy() + 2

    time_column = find_time_column(raw, options, name)
    series_column = series_id_column(raw, time_column)
    if series_column is not None:
        examples = ", ".join(repr(str(v)) for v in raw[series_column].drop_duplicates().iloc[:2])
        raise DataError(
            f"{name}: time stamps repeat, once for each value of '{series_column}' ({raw[series_column].nunique()} "
            f"series, e.g. {examples}): a long-format file of many series; pass --id-column {series_column} "
            "to train one model on all of them."
        )
    numeric = numeric_columns(raw.drop(columns=[time_column] if time_column else []), options, name)
    targets = choose_targets(numeric, options, name)
    _check_finite(numeric, line_numbers, name)

    if time_column is None:
        frame = numeric.set_axis(pd.RangeIndex(len(numeric)))
        freq: str | int | None = None
        date_format = time_format = None
    else:
        index, date_format, time_format = parse_time(raw[time_column], time_column, line_numbers, options, name)
        frame = numeric.set_axis(index)
        frame.index.name = time_column
        frame, freq = _regularise(frame, line_numbers, options, name)

    frame = _fill_missing(frame, options.fill, name, line_numbers)
    for column in frame.columns:
        if len(frame) > 1 and frame[column].nunique() == 1:
            log.warning("%s: column '%s' is constant (%s); it carries no information.", name, column, frame[column].iloc[0])
    return TimeSeries(frame, tuple(targets), time_column, freq, source, date_format, time_format)


def series_id_column(raw: pd.DataFrame, time_column: str | None) -> str | None:
    """The column that makes repeated time stamps many series in long format, if there is one.

    Averaging such a file onto one grid (``--resample``) would merge the series, so its repeats
    are named for what they are: a column of labels (text, or integers named like an id) with
    several values, each on several rows, within each of which no time stamp repeats.
    """
    if time_column is None or not raw[time_column].duplicated().any():
        return None
    for column in raw.columns:
        values = raw[column]
        labels = not pd.api.types.is_numeric_dtype(values) or (
            pd.api.types.is_integer_dtype(values) and column.lower().replace("_", "").endswith(ID_NAME_ENDINGS)
        )
        if column != time_column and labels and 1 < values.nunique() <= len(values) / 2 and not raw.duplicated([column, time_column]).any():
            return column
    return None


def read_frame(path: str, options: DataOptions) -> pd.DataFrame:
    """The cells of a CSV as text and numbers, read with its dialect (encoding, delimiter, decimal
    mark) detected or as ``options`` say; the index is each row's position among the data rows."""
    name = os.path.basename(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file.")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, not a CSV file.")
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head.strip():
        raise DataError(f"{name}: the file is empty.")
    encoding = _encoding(head, options.encoding)
    try:
        sample = head.decode(encoding, errors="ignore" if len(head) == SNIFF_BYTES else "strict")
    except UnicodeDecodeError as error:
        raise _encoding_error(name, encoding, error) from None
    if "\x00" in sample:
        raise DataError(f"{name}: contains NUL bytes; it looks like a binary file, not CSV text.")
    # Excel writes a first line "sep=;" naming the delimiter when it exports for another locale.
    hint = EXCEL_SEPARATOR.match(sample)
    skipped = 1 if hint else 0
    delimiter = options.delimiter or (hint.group(1) if hint else _sniff_delimiter(sample))
    try:
        # Every cell as text, so that 1.234 is read as a number only where nothing else reads it.
        frame = pd.read_csv(
            path, sep=delimiter, encoding=encoding, skipinitialspace=True, low_memory=False,
            na_values=MISSING, keep_default_na=False, dtype=str, skiprows=skipped,
        )
    except UnicodeDecodeError as error:
        raise _encoding_error(name, encoding, error) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: the file is empty.") from None
    except (pd.errors.ParserError, csv.Error, ValueError) as error:
        detail = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise DataError(
            f"{name}: cannot be read as CSV with delimiter {delimiter!r} ({detail}); "
            "check the file, or pass --delimiter."
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    # Rows longer than the header make pandas index by their first fields; the index here
    # numbers data rows instead, which is what error messages turn into line numbers.
    frame = frame.set_axis(pd.RangeIndex(skipped, skipped + len(frame)))
    frame = read_number_columns(frame, options.thousands, name)
    if len(frame.columns) == 1:
        only = frame.columns[0]
        if any(d in only for d in DELIMITERS if d != delimiter):
            raise DataError(
                f"{name}: splitting on {delimiter!r} gives a single column {only!r}; pass --delimiter to name the separator."
            )
    return combine_calendar_parts(frame, options, name)


def _encoding(head: bytes, requested: str) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.lookup(requested)
    except LookupError:
        raise UsageError(f"`--encoding` must be an encoding Python knows. Received: {requested}.") from None
    return "utf-8-sig" if codecs.lookup(requested).name == "utf-8" else requested


def _encoding_error(name: str, encoding: str, error: UnicodeDecodeError) -> DataError:
    return DataError(
        f"{name}: is not valid {encoding} text (byte 0x{error.object[error.start]:02x} at offset {error.start}); "
        "pass --encoding with the file's encoding, e.g. --encoding latin-1."
    )


def _sniff_delimiter(sample: str) -> str:
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in DELIMITERS} if lines else {}
        best = max(counts, key=counts.get, default=",")
        return best if counts.get(best) else ","


def _check_finite(frame: pd.DataFrame, lines: np.ndarray, name: str) -> None:
    for column in frame.columns:
        infinite = np.isinf(frame[column].to_numpy())
        if infinite.any():
            first = int(np.argmax(infinite))
            raise DataError(
                f"{name}: column '{column}' has {int(infinite.sum())} infinite value(s) "
                f"(first at line {lines[first]}); replace them with real numbers or leave them empty and use --fill."
            )
        if (np.abs(frame[column].dropna()) > 1e150).any():
            raise DataError(f"{name}: column '{column}' has values too large to model (above 1e150); rescale it.")


def _regularise(
    frame: pd.DataFrame, lines: np.ndarray, options: DataOptions, name: str
) -> tuple[pd.DataFrame, str | int | None]:
    index = frame.index
    column = index.name
    if options.resample:
        if not isinstance(index, pd.DatetimeIndex):
            raise UsageError("`--resample` needs a time column of timestamps.")
        try:
            resampled = frame.sort_index().resample(options.resample).mean()
        except (ValueError, TypeError):
            raise UsageError(f"`--resample` must be a pandas frequency such as D, h, W, MS. Received: {options.resample}.") from None
        resampled.index.name = column
        return resampled, resampled.index.freqstr
    order = index.asi8 if isinstance(index, pd.DatetimeIndex) else np.asarray(index)
    steps = np.diff(order)
    if (steps < 0).any():
        first = int(np.argmax(steps < 0))
        raise DataError(
            f"{name}: timestamps are not in increasing order: line {lines[first + 1]} ({index[first + 1]}) "
            f"comes after line {lines[first]} ({index[first]}); sort the file by '{column}', or pass --resample."
        )
    if (steps == 0).any():
        first = int(np.argmax(steps == 0))
        raise DataError(
            f"{name}: duplicate timestamp {index[first]} at lines {lines[first]} and {lines[first + 1]}; "
            "remove duplicates, or pass --resample FREQ to average them."
        )
    if len(frame) < 3:
        return frame, None
    if not isinstance(index, pd.DatetimeIndex):
        step = int(steps.min())
        expected = pd.RangeIndex(int(order[0]), int(order[-1]) + 1, step)
        if len(expected) != len(index) or not (expected == index).all():
            raise DataError(f"{name}: time column '{column}' is not evenly spaced (expected a step of {step}).")
        return frame, step
    freq = _infer_freq(index)
    if freq is not None:
        return frame.asfreq(freq), freq
    freq = _likely_freq(index)
    if freq is None:
        raise DataError(
            f"{name}: timestamps in '{column}' are irregularly spaced and no frequency fits them; "
            "pass --resample FREQ (e.g. D, h, W, MS) to put them on a regular grid."
        )
    grid = pd.date_range(index[0], index[-1], freq=freq)
    missing = grid.difference(index)
    if not index.isin(grid).all() or len(missing) == 0:
        raise DataError(
            f"{name}: timestamps in '{column}' are irregularly spaced (most steps are '{freq}'); "
            f"pass --resample {freq} to put them on a regular grid."
        )
    raise DataError(
        f"{name}: {len(missing)} timestamp(s) missing from the '{freq}' grid (first: {missing[0]}); "
        f"pass --resample {freq} --fill interpolate (or ffill) to fill the gaps."
    )


def _infer_freq(index: pd.DatetimeIndex) -> str | None:
    try:
        with pd.option_context("future.infer_freq_returns_offset", True):
            freq = pd.infer_freq(index)
    except pd.errors.OptionError:  # pandas before 3 returns the alias already
        freq = pd.infer_freq(index)
    return getattr(freq, "freqstr", freq)


def _likely_freq(index: pd.DatetimeIndex) -> str | None:
    """The frequency most short runs of the index agree on, if any."""
    votes: Counter[str] = Counter()
    for start in range(0, len(index) - 4, max(1, (len(index) - 4) // 50)):
        candidate = _infer_freq(index[start : start + 5])
        if candidate:
            votes[candidate] += 1
    return votes.most_common(1)[0][0] if votes else None


def _fill_missing(frame: pd.DataFrame, fill: str | None, name: str, lines: np.ndarray) -> pd.DataFrame:
    missing = frame.isna()
    if not missing.to_numpy().any():
        return frame
    empty = [c for c in frame.columns if missing[c].all()]
    if empty:
        raise DataError(f"{name}: column '{empty[0]}' has no values at all.")
    if fill is None:
        column = next(c for c in frame.columns if missing[c].any())
        position = int(np.argmax(missing[column].to_numpy()))
        where = f"line {lines[position]}" if len(frame) == len(lines) else f"{frame.index[position]}"
        raise DataError(
            f"{name}: {int(missing.to_numpy().sum())} missing value(s); column '{column}' has "
            f"{int(missing[column].sum())} (first at {where}); pass --fill ffill or --fill interpolate."
        )
    if fill == "interpolate":
        method = "time" if isinstance(frame.index, pd.DatetimeIndex) else "linear"
        frame = frame.interpolate(method=method, limit_direction="both")
    return frame.ffill().bfill()


def describe_csv(path: str | os.PathLike[str], options: DataOptions = DataOptions()) -> list[dict[str, str]]:
    """What the loader sees in a CSV, and what to do about each problem, as rows of ``check``,
    ``finding`` and ``advice``; whether ``train`` accepts it is ``rnncast.api.check``'s verdict."""
    name = os.path.basename(os.fspath(path))
    try:
        raw = read_frame(os.fspath(path), options)
    except DataError as error:
        return [{"check": "file", "finding": str(error), "advice": ""}]
    rows = [{"check": "file", "finding": f"{len(raw)} rows, {len(raw.columns)} columns", "advice": ""}]
    try:
        time_column = find_time_column(raw, options, name)
    except UsageError as error:
        return rows + [{"check": "time column", "finding": str(error), "advice": ""}]
    rows += _time_findings(raw, time_column, options)
    for column in raw.columns:
        if column == time_column:
            continue
        values = raw[column]
        numbers = values if pd.api.types.is_numeric_dtype(values) else coerce_numeric(values)
        kind = "numeric" if numbers.notna().sum() >= 0.5 * values.notna().sum() and values.notna().any() else "text (ignored)"
        findings = [kind]
        advice = []
        if values.isna().any():
            findings.append(f"{int(values.isna().sum())} missing")
            advice.append("--fill ffill or --fill interpolate")
        if kind == "numeric" and np.isinf(numbers.to_numpy(dtype=float, na_value=np.nan)).any():
            findings.append("infinite values")
            advice.append("replace them with numbers or leave them empty")
        if kind == "numeric" and numbers.nunique() == 1:
            findings.append("constant")
            advice.append("drop it: it carries no information")
        rows.append({"check": f"column '{column}'", "finding": ", ".join(findings), "advice": "; ".join(advice)})
    return rows


def _time_findings(raw: pd.DataFrame, time_column: str | None, options: DataOptions) -> list[dict[str, str]]:
    if time_column is None:
        return [{"check": "time column", "finding": "none found: rows are steps 0..n-1", "advice": "name one with --time-column"}]
    parsed = to_datetime(raw[time_column], options) if not pd.api.types.is_numeric_dtype(raw[time_column]) else raw[time_column]
    valid = parsed.dropna()
    rows = [{"check": "time column", "finding": f"'{time_column}'", "advice": ""}]
    if len(valid) < len(parsed):
        rows.append({"check": "time stamps", "finding": f"{len(parsed) - len(valid)} not parseable", "advice": "fix them"})
    if len(valid):
        rows.append({"check": "time range", "finding": f"{valid.min()} .. {valid.max()}", "advice": ""})
    if not isinstance(valid.dtype, (pd.DatetimeTZDtype, np.dtypes.DateTime64DType)) or len(valid) < 3:
        return rows
    index = pd.DatetimeIndex(valid)
    unsorted = int((np.diff(index.asi8) < 0).sum())
    duplicates = int(index.duplicated().sum())
    series_column = series_id_column(raw, time_column)
    if series_column is not None:
        rows.append({"check": "long format", "finding": f"'{series_column}' names {raw[series_column].nunique()} series",
                     "advice": f"--id-column {series_column}"})
        return rows
    if unsorted:
        rows.append({"check": "order", "finding": f"{unsorted} step(s) back in time", "advice": "sort the file, or --resample FREQ"})
    if duplicates:
        rows.append({"check": "duplicates", "finding": f"{duplicates} repeated time stamp(s)", "advice": "--resample FREQ averages them"})
    ordered = index.sort_values().unique()
    freq = _infer_freq(ordered) or _likely_freq(ordered)
    if freq is None:
        rows.append({"check": "frequency", "finding": "irregular: no frequency fits", "advice": "--resample FREQ (e.g. D, h, W, MS)"})
        return rows
    missing = pd.date_range(ordered[0], ordered[-1], freq=freq).difference(ordered)
    rows.append({"check": "frequency", "finding": f"{freq} (season {infer_season(freq) or 'none'})", "advice": ""})
    if len(missing):
        rows.append({"check": "gaps", "finding": f"{len(missing)} missing time stamp(s), first {missing[0]}",
                     "advice": f"--resample {freq} --fill interpolate"})
    return rows
