"""The CSV loader: what it accepts, what it repairs when asked, and how it refuses bad files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnncast.config import DataOptions
from rnncast.data import load_csv
from rnncast.timeparse import future_index, infer_season
from rnncast.errors import DataError, ExitStatus, UsageError
from rnncast.timeaxis import fixed_step_seconds, future_labels

from conftest import TINY, seasonal_frame


def test_detects_time_column_frequency_and_targets(write_csv):
    series = load_csv(write_csv(seasonal_frame(columns=("a", "b"))))
    assert series.time_column == "date"
    assert series.freq == "D"
    assert series.targets == ("a", "b")
    assert series.features == ()
    assert isinstance(series.frame.index, pd.DatetimeIndex)
    assert series.frame.shape == (120, 2)


def test_targets_choose_outputs_and_other_numeric_columns_become_inputs(write_csv):
    path = write_csv(seasonal_frame(columns=("load", "temp", "solar")))
    series = load_csv(path, DataOptions(targets=("solar", "load")))
    assert series.targets == ("load", "solar")
    assert series.features == ("temp",)


def test_time_column_by_option_and_without_time_column(write_csv):
    frame = seasonal_frame().rename(columns={"date": "when"})
    assert load_csv(write_csv(frame), DataOptions(time_column="when")).freq == "D"
    plain = load_csv(write_csv(frame.drop(columns="when"), "plain.csv"))
    assert plain.time_column is None and plain.freq is None
    assert list(plain.frame.index[:3]) == [0, 1, 2]


@pytest.mark.parametrize(
    ("dates", "freq"),
    [
        (pd.date_range("2000-01-01", periods=40, freq="MS"), "MS"),
        (pd.date_range("2000-01-01", periods=40, freq="h"), "h"),
        (pd.date_range("2000-01-03", periods=40, freq="W-MON"), "W-MON"),
    ],
)
def test_frequencies_are_inferred(write_csv, dates, freq):
    frame = pd.DataFrame({"date": dates.astype(str), "y": np.arange(40.0)})
    assert load_csv(write_csv(frame)).freq == freq


def test_integer_year_column_is_a_time_axis(write_csv):
    frame = pd.DataFrame({"year": range(1950, 1990), "lynx": np.arange(40.0)})
    series = load_csv(write_csv(frame))
    assert series.time_column == "year"
    assert series.freq.startswith("Y")
    assert str(future_index(series.frame.index[-1], series.freq, 2, "year")[0].year) == "1990"


def test_integer_step_column_continues_its_step(write_csv):
    frame = pd.DataFrame({"step": range(0, 80, 2), "y": np.arange(40.0)})
    series = load_csv(write_csv(frame))
    assert (series.time_column, series.freq) == ("step", 2)
    assert list(future_index(series.frame.index[-1], series.freq, 3, "step")) == [80, 82, 84]


def test_semicolon_delimiter_decimal_comma_and_bom(write_csv):
    text = "\ufeffdate;price\n" + "".join(f"2020-01-{d:02d};{d},5\n" for d in range(1, 29))
    series = load_csv(write_csv(text))
    assert series.time_column == "date"
    assert series.frame["price"].iloc[0] == pytest.approx(1.5)


def test_utf16_file_is_read(write_csv):
    text = "date,y\n" + "".join(f"2020-01-{d:02d},{d}\n" for d in range(1, 29))
    series = load_csv(write_csv(text.encode("utf-16")))
    assert series.frame["y"].iloc[-1] == 28


def test_text_columns_are_ignored_with_a_warning(write_csv, caplog):
    frame = seasonal_frame()
    frame["store"] = "north"
    series = load_csv(write_csv(frame))
    assert series.columns == ("y",)
    assert "ignoring text column 'store'" in caplog.text


def test_fill_repairs_missing_values(write_csv):
    frame = seasonal_frame()
    frame.loc[[0, 5, 6], "y"] = np.nan
    path = write_csv(frame)
    filled = load_csv(path, DataOptions(fill="interpolate")).frame["y"]
    assert not filled.isna().any()
    assert filled.iloc[5] == pytest.approx(frame["y"].iloc[4] + (frame["y"].iloc[7] - frame["y"].iloc[4]) / 3)
    assert load_csv(path, DataOptions(fill="ffill")).frame["y"].iloc[6] == frame["y"].iloc[4]


def test_resample_regularises_gaps_and_duplicates(write_csv):
    frame = seasonal_frame(rows=60).drop(index=[10, 11])
    frame = pd.concat([frame, frame.iloc[[20]]]).reset_index(drop=True)
    frame.loc[len(frame) - 1, "y"] = frame.loc[20, "y"] + 2
    series = load_csv(write_csv(frame.sort_values("date")), DataOptions(resample="D", fill="interpolate"))
    assert len(series) == 60 and series.freq == "D"
    assert series.frame["y"].iloc[22] == pytest.approx(frame.loc[20, "y"] + 1)


def test_season_follows_frequency():
    assert [infer_season(f) for f in ("D", "h", "MS", "W-SUN", "QS-JAN", "30min", "B", None)] == [7, 24, 12, 52, 4, 48, 5, None]


def _rows(n: int, start: int = 1) -> str:
    return "".join(f"2020-01-{d:02d},{d}\n" for d in range(start, start + n))


BAD_FILES = {
    "empty": ("", "the file is empty"),
    "header only": ("date,y\n", "has a header but no data rows"),
    "no numeric column": ("date,name\n2020-01-01,a\n2020-01-02,b\n", "no numeric column"),
    "non-numeric value": ("date,y\n" + _rows(5) + "2020-01-06,abc\n" + _rows(5, 7), "non-numeric value(s) (first: 'abc' at line 7)"),
    "missing value": ("date,y\n" + _rows(3) + "2020-01-04,\n" + _rows(5, 5), "1 missing value(s); column 'y' has 1 (first at line 5); pass --fill"),
    "unsorted": ("date,y\n2020-01-02,1\n2020-01-01,2\n2020-01-03,3\n", "not in increasing order: line 3 (2020-01-01"),
    "duplicate timestamp": ("date,y\n2020-01-01,1\n2020-01-02,2\n2020-01-02,3\n", "duplicate timestamp 2020-01-02 00:00:00 at lines 3 and 4"),
    "gap": ("date,y\n" + _rows(5) + _rows(10, 8), "2 timestamp(s) missing from the 'D' grid (first: 2020-01-06"),
    "irregular": ("date,y\n2020-01-01,1\n2020-01-02,2\n2020-01-05,3\n2020-01-06,3\n2020-01-13,4\n", "irregularly spaced"),
    "inf": ("date,y\n" + _rows(4) + "2020-01-05,inf\n" + _rows(5, 6), "infinite value(s) (first at line 6)"),
    "bad timestamp": ("date,y\n" + _rows(12) + "notadate,3\n", "1 value(s) that are not timestamps (first: 'notadate' at line 14)"),
    "too few rows": ("date,y\n" + _rows(12), "has 12 rows, but --window 8 and --horizon 3 need at least 14"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_bad_files_get_one_line_error_and_bad_data_code(cli, write_csv, case):
    text, message = BAD_FILES[case]
    result = cli("train", write_csv(text), *TINY)
    assert result.code == ExitStatus.BAD_DATA
    assert message in result.err
    assert result.err.count("\n") == 1 and result.err.startswith("rnncast: error: data.csv: ")
    assert result.out == ""


def test_missing_file_and_directory(cli, tmp_path):
    missing = cli("train", tmp_path / "nope.csv", *TINY)
    assert (missing.code, missing.err.strip()) == (ExitStatus.BAD_DATA, f"rnncast: error: {tmp_path / 'nope.csv'}: no such file.")
    directory = cli("train", tmp_path, *TINY)
    assert directory.code == ExitStatus.BAD_DATA and "is a directory" in directory.err


def test_encoding_problem_names_the_fix(cli, write_csv):
    result = cli("train", write_csv("date,température\n2020-01-01,1\n".encode("latin-1")), *TINY)
    assert result.code == ExitStatus.BAD_DATA
    assert "is not valid utf-8-sig text (byte 0xe9" in result.err and "--encoding" in result.err


def test_delimiter_problem_names_the_fix(cli, write_csv):
    text = "date y;x\n" + "".join(f"2020-01-{d:02d} {d};{d}|{d}\n" for d in range(1, 20))
    result = cli("train", write_csv(text), "--delimiter", ",", *TINY)
    assert result.code == ExitStatus.BAD_DATA
    assert "--delimiter" in result.err


def test_unknown_target_and_time_column_are_usage_errors(cli, daily_csv):
    target = cli("train", daily_csv, "--target", "sales", *TINY)
    assert target.code == ExitStatus.USAGE
    assert "`--target` 'sales' is not a column of data.csv. Columns: y." in target.err
    time = cli("train", daily_csv, "--time-column", "when", *TINY)
    assert time.code == ExitStatus.USAGE and "`--time-column` 'when'" in time.err


def test_text_target_is_refused():
    with pytest.raises(DataError, match="target column 'name' is not numeric"):
        frame = seasonal_frame()
        frame["name"] = "x"
        path = "/tmp/rnncast-text-target.csv"
        frame.to_csv(path, index=False)
        load_csv(path, DataOptions(targets=("name",)))


def test_option_values_are_checked():
    with pytest.raises(UsageError, match="`--fill` must be one of ffill, interpolate. Received: zero."):
        DataOptions(fill="zero")


def test_changing_utc_offsets_parse_as_utc(write_csv):
    times = pd.date_range("2021-03-27 22:00", periods=48, freq="h", tz="Europe/Berlin")
    frame = pd.DataFrame({"time": times.strftime("%Y-%m-%dT%H:%M:%S%z"), "y": np.arange(48.0)})
    series = load_csv(write_csv(frame))
    assert series.freq == "h" and str(series.frame.index.tz) == "UTC"
    assert series.frame.index[0] == pd.Timestamp("2021-03-27 21:00", tz="UTC")


def test_time_column_with_a_bad_value_is_reported_not_ignored(cli, write_csv):
    result = cli("train", write_csv("date,y\n2020-01-01,1\nQ2,2\n"), *TINY)
    assert result.code == ExitStatus.BAD_DATA and "(first: 'Q2' at line 3)" in result.err


@pytest.mark.parametrize(
    ("last", "freq", "horizon"),
    [
        ("2024-12-30T00:00:00", "D", 3),
        ("2024-12-31T22:00:00", "h", 4),
        ("2024-12-31T23:00:00", "h", 1),  # one label, at midnight: pandas prints the date alone
        ("2024-03-30T23:45:00", "15min", 6),
        ("2024-12-29T00:00:00", "W-SUN", 2),
        ("2024-03-31T00:00:00+00:00", "h", 3),
        ("2024-03-31T00:00:00+00:00", "D", 2),
    ],
)
def test_fixed_step_labels_match_pandas(last, freq, horizon):
    labels = future_labels(last, fixed_step_seconds(freq), horizon)
    assert labels == list(future_index(last, freq, horizon, "t").astype(str))


def test_calendar_frequencies_and_other_offsets_are_left_to_pandas():
    assert fixed_step_seconds("MS") is None and fixed_step_seconds("B") is None
    assert future_labels("2024-01-01T00:00:00-05:00", 3600, 2) is None
