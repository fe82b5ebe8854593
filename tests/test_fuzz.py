"""Fuzzing the CSV loader: every input loads or fails with an RnncastError; nothing else escapes."""

from __future__ import annotations

import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnncast.config import DataOptions
from rnncast.data import describe_csv, load_csv
from rnncast.errors import RnncastError

EXAMPLES = int(os.environ.get("RNNCAST_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["", "nan", "NA", "inf", "-inf", "1e308", "1e-320", "1,5", "2020-01-01", "2020-13-45",
                     "2021-03-28T02:30:00+01:00", "\"quoted, cell\"", "\"", "é", "\u2028", "0x1F", " 7 ", "true"]),
    st.text(max_size=8),
)


def _load(content: bytes, options: DataOptions) -> None:
    with tempfile.NamedTemporaryFile("wb", suffix=".csv", delete=False) as handle:
        handle.write(content)
    try:
        series = load_csv(handle.name, options)
        values = series.frame.to_numpy()
        assert np.isfinite(values).all() and len(series.targets) >= 1
        describe_csv(handle.name, options)
    except RnncastError as error:
        assert str(error) and "\n" not in str(error)
    finally:
        os.unlink(handle.name)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(content):
    _load(content, DataOptions())


@FUZZ
@given(
    header=st.lists(st.sampled_from(["date", "time", "y", "x", "value", "ds", "year", "step", "é", ""]), min_size=1, max_size=4),
    rows=st.lists(st.lists(CELLS, min_size=0, max_size=5), max_size=40),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]),
    fill=st.sampled_from([None, "ffill", "interpolate"]),
)
def test_random_csv_shapes(header, rows, delimiter, encoding, fill):
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in rows]
    content = ("\n".join(lines) + "\n").encode(encoding, errors="replace")
    _load(content, DataOptions(fill=fill))


@FUZZ
@given(
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=60),
    start=st.datetimes(),
    freq=st.sampled_from(["D", "h", "MS", "min", "W"]),
    fill=st.sampled_from([None, "ffill", "interpolate"]),
)
def test_regular_series_with_extreme_values(values, start, freq, fill):
    import pandas as pd

    try:
        dates = pd.date_range(start, periods=len(values), freq=freq).astype(str)
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        return
    lines = ["date,y"] + [f"{d},{v!r}" for d, v in zip(dates, values)]
    _load(("\n".join(lines) + "\n").encode(), DataOptions(fill=fill))
