"""CSV dialects: date formats, calendar-part columns and number formats are read right or refused.

No TensorFlow here: the loader is called directly, and `check` through the CLI.
"""

from __future__ import annotations

import csv
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnncast.config import DataOptions
from rnncast.data import load_csv
from rnncast.errors import DataError, ExitStatus, UsageError


def dated(dates: pd.DatetimeIndex, fmt: str, sep: str = ";", column: str = "Datum") -> str:
    return f"{column}{sep}y\n" + "".join(f"{t.strftime(fmt)}{sep}{i}\n" for i, t in enumerate(dates))


def test_day_first_german_dates_are_read_day_first(write_csv):
    dates = pd.date_range("2020-01-12", periods=400, freq="D")
    series = load_csv(write_csv(dated(dates, "%d.%m.%Y")))
    assert (len(series), series.freq, series.time_column) == (400, "D", "Datum")
    assert series.frame.index[-1] == pd.Timestamp("2021-02-14")
    assert series.date_format == "%d.%m.%Y"


MONTHLY_DAY_FIRST = pd.date_range("2020-01-01", periods=12, freq="MS")


def test_dates_that_read_both_ways_are_refused(write_csv):
    with pytest.raises(DataError) as error:
        load_csv(write_csv(dated(MONTHLY_DAY_FIRST, "%d.%m.%Y")))
    assert str(error.value) == (
        "data.csv: time column 'Datum' reads as both day-first (2020-02-01 ..) and month-first (2020-01-02 ..) "
        "from '01.02.2020' at line 3; pass --dayfirst, --monthfirst or --date-format."
    )


@pytest.mark.parametrize(
    ("options", "freq", "last"),
    [
        (DataOptions(dayfirst=True), "MS", "2020-12-01"),
        (DataOptions(dayfirst=False), "D", "2020-01-12"),
        (DataOptions(date_format="%d.%m.%Y"), "MS", "2020-12-01"),
    ],
)
def test_dayfirst_monthfirst_and_date_format_settle_the_reading(write_csv, options, freq, last):
    series = load_csv(write_csv(dated(MONTHLY_DAY_FIRST, "%d.%m.%Y")), options)
    assert (series.freq, series.frame.index[-1]) == (freq, pd.Timestamp(last))


def test_check_exits_bad_data_on_ambiguous_dates_and_accepts_them_with_dayfirst(cli, write_csv):
    path = write_csv(dated(MONTHLY_DAY_FIRST, "%d/%m/%Y", sep=","))
    refused = cli("check", path, "--format", "csv")
    assert refused.code == ExitStatus.BAD_DATA and "reads as both day-first" in refused.out
    accepted = cli("check", path, "--dayfirst", "--horizon", "2", "--window", "3", "--format", "csv")  # 12 rows: a small model
    assert accepted.code == 0 and "MS (season 12)" in accepted.out


def test_iso_dates_are_never_ambiguous(write_csv):
    series = load_csv(write_csv(dated(MONTHLY_DAY_FIRST, "%Y-%m-%d"), "iso.csv"))
    assert (series.freq, series.date_format) == ("MS", "ISO8601")


def test_dates_written_as_whole_numbers_are_dates_not_a_target(write_csv):
    dates = pd.date_range("2020-01-25", periods=20, freq="D")
    series = load_csv(write_csv("ds,y\n" + "".join(f"{t:%Y%m%d},{i}\n" for i, t in enumerate(dates))))
    assert (series.time_column, series.columns, series.freq) == ("ds", ("y",), "D")
    assert (series.frame.index[-1], series.time_format) == (pd.Timestamp("2020-02-13"), "%Y%m%d")


def test_a_column_mixing_date_formats_is_refused(write_csv):
    text = "date,y\n" + "".join(f"2020-01-{d:02d},{d}\n" for d in range(1, 14)) + "14.01.2020,3\n"
    with pytest.raises(DataError, match=r"^data.csv: time column 'date' mixes date formats \('2020-01-01' at line 2, "
                                        r"'14.01.2020' at line 15\); write every date in one format, or pass --date-format.$"):
        load_csv(write_csv(text))


def test_date_format_that_does_not_match_names_the_value(write_csv):
    with pytest.raises(DataError, match=r"1 value\(s\) that do not match --date-format '%d.%m.%Y' \(first: '2020-13-01' at line 3\)"):
        load_csv(write_csv("date,y\n01.01.2020,1\n2020-13-01,2\n02.01.2020,3\n"), DataOptions(date_format="%d.%m.%Y"))


@pytest.mark.parametrize(
    ("header", "rows", "column", "freq", "last"),
    [
        ("year,month,sales", [f"{2000 + i // 12},{i % 12 + 1},{i}" for i in range(30)], "year-month", "MS", "2002-06-01"),
        ("Jahr;Monat;Umsatz", [f"{2000 + i // 12};{i % 12 + 1};{i}" for i in range(30)], "Jahr-Monat", "MS", "2002-06-01"),
        ("Year,Quarter,sales", [f"{2000 + i // 4},{i % 4 + 1},{i}" for i in range(10)], "Year-Quarter", "QS-JAN", "2002-04-01"),
        ("year,month,day,sales", [f"2020,1,{d},{d}" for d in range(1, 32)], "year-month-day", "D", "2020-01-31"),
        ("year,month,day,hour,sales", [f"2020,1,1,{h},{h}" for h in range(24)], "year-month-day-hour", "h", "2020-01-01 23:00"),
    ],
)
def test_calendar_part_columns_make_one_time_column_not_targets(write_csv, header, rows, column, freq, last):
    sep = header[4]
    series = load_csv(write_csv(header + "\n" + "\n".join(rows) + "\n"))
    # pandas before 3 names quarters starting in January QS-OCT, pandas 3 QS-JAN: one grid.
    assert series.freq.replace("QS-OCT", "QS-JAN") == freq
    assert (series.time_column, series.frame.index[-1]) == (column, pd.Timestamp(last))
    assert series.targets == (header.split(sep)[-1],)


def test_year_and_month_print_back_as_months(write_csv):
    series = load_csv(write_csv("year,month,sales\n" + "".join(f"2020,{m},{m}\n" for m in range(1, 13))))
    assert series.time_format == "%Y-%m"
    assert load_csv(write_csv("year,lynx\n" + "".join(f"{1950 + i},{i}\n" for i in range(40)), "y.csv")).time_format == "%Y"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("month,sales\n" + "".join(f"{i % 12 + 1},{i}\n" for i in range(30)),
         "data.csv: column(s) 'month' look like calendar parts but do not make a time stamp (it takes year and month, "
         "year and quarter, or year, month and day, and hour); pass --time-column, or rename them if they are values."),
        ("year,week,sales\n" + "".join(f"2020,{w},{w}\n" for w in range(1, 30)),
         "data.csv: column(s) 'year', 'week' look like calendar parts"),
        ("year,month,sales\n2020,1,1\n2020,13,2\n2021,1,3\n", "(first: '2020-13' at line 3)"),
        ("year,month,sales\n2020,1,1\n2020,,2\n2020,3,3\n", "data.csv: calendar column 'month' has a missing value at line 3; fill it in."),
    ],
)
def test_calendar_parts_that_make_no_time_stamp_are_refused(write_csv, text, message):
    with pytest.raises(DataError) as error:
        load_csv(write_csv(text))
    assert message in str(error.value)


def test_calendar_parts_beside_a_date_column_are_dropped(write_csv, caplog):
    dates = pd.date_range("2020-01-01", periods=30, freq="D")
    text = "date,year,month,sales\n" + "".join(f"{t:%Y-%m-%d},{t.year},{t.month},{i}\n" for i, t in enumerate(dates))
    series = load_csv(write_csv(text))
    assert (series.time_column, series.columns) == ("date", ("sales",))
    assert "ignoring calendar column(s) 'year', 'month': the time column 'date' gives the time." in caplog.text


DAYS = [f"2020-01-{d:02d}" for d in range(1, 21)]


@pytest.mark.parametrize(
    ("sep", "cells", "expected"),
    [
        (",", [f'"{d},234.5"' for d in range(1, 21)], 1234.5),
        (";", [f"{d}.234,5" for d in range(1, 21)], 1234.5),
        (";", [f"{d} 234,5" for d in range(1, 21)], 1234.5),
        (";", [f"{d}\u00a0234,5" for d in range(1, 21)], 1234.5),
        (",", [f"{d}'234.5" for d in range(1, 21)], 1234.5),
        (";", [f"{d},25" for d in range(1, 21)], 1.25),
    ],
    ids=["comma", "dot", "space", "no-break space", "apostrophe", "decimal comma"],
)
def test_thousands_separators_are_detected(write_csv, sep, cells, expected):
    series = load_csv(write_csv(f"date{sep}revenue\n" + "".join(f"{d}{sep}{c}\n" for d, c in zip(DAYS, cells))))
    assert series.frame["revenue"].iloc[0] == expected
    assert series.frame["revenue"].iloc[-1] == expected + 19 * (1000 if expected > 1000 else 1)


THREE_DIGITS = "date,revenue\n" + "".join(f'{d},"{i},234"\n' for i, d in enumerate(DAYS, 1))


def test_a_number_that_reads_two_ways_is_refused(write_csv):
    with pytest.raises(DataError) as error:
        load_csv(write_csv(THREE_DIGITS))
    assert str(error.value) == (
        "data.csv: column 'revenue' reads two ways: '1,234' at line 2 is 1.234 or 1234; pass --thousands ',' "
        "if ',' separates thousands, or --thousands '.' if ',' is the decimal mark."
    )


@pytest.mark.parametrize(("thousands", "first"), [(",", 1234.0), (".", 1.234)])
def test_thousands_option_settles_the_reading(write_csv, thousands, first):
    assert load_csv(write_csv(THREE_DIGITS), DataOptions(thousands=thousands)).frame["revenue"].iloc[0] == first


def test_a_dot_before_three_digits_is_refused_until_the_option_says_what_it_is(write_csv):
    path = write_csv("Datum;Umsatz\n" + "".join(f"{d:02d}.01.2020;{d}.500\n" for d in range(13, 31)))
    with pytest.raises(DataError) as error:
        load_csv(path)
    assert str(error.value) == (
        "data.csv: column 'Umsatz' reads two ways: '13.500' at line 2 is 13.5 or 13500; pass --thousands '.' "
        "if '.' separates thousands, or --thousands ',' if '.' is the decimal mark."
    )
    series = load_csv(path, DataOptions(thousands="."))
    assert (series.frame["Umsatz"].iloc[0], series.freq) == (13500.0, "D")
    assert load_csv(path, DataOptions(thousands=",")).frame["Umsatz"].iloc[0] == 13.5


def test_ignored_text_column_names_its_first_bad_cell(write_csv, caplog):
    text = "date,revenue,y\n" + "".join(f'{d},"{i},23x",{i}\n' for i, d in enumerate(DAYS, 1))
    assert load_csv(write_csv(text)).columns == ("y",)
    assert "ignoring text column 'revenue' ('1,23x' at line 2 is not a number)." in caplog.text
    only_text = "date,revenue\n" + "".join(f'{d},"{i},23x"\n' for i, d in enumerate(DAYS, 1))
    with pytest.raises(DataError, match=r"^data.csv: no numeric column to forecast \(columns: revenue; 'revenue' is text: "
                                        r"'1,23x' at line 2 is not a number\)\.$"):
        load_csv(write_csv(only_text))


def test_new_options_are_checked():
    with pytest.raises(UsageError, match="`--thousands` must be a single character"):
        DataOptions(thousands="ab")
    with pytest.raises(UsageError, match="`--date-format` must be a strftime format"):
        DataOptions(date_format="dd.mm.yyyy")


# The property: a valid series written in any supported dialect reads back exactly, or is refused.
DATE_FORMATS = ["%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y"]
SEPARATORS = ["", ",", ".", " ", "'"]


def _number(value: int, places: int, thousands: str, decimal: str) -> str:
    text = f"{abs(value) / 10**places:,.{places}f}".replace(",", "\0").replace(".", decimal).replace("\0", thousands)
    return ("-" if value < 0 else "") + text


@settings(max_examples=int(os.environ.get("RNNCAST_FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    rows=st.integers(min_value=3, max_value=30),
    start=st.dates(min_value=pd.Timestamp("1990-01-01").date(), max_value=pd.Timestamp("2030-12-31").date()),
    date_format=st.sampled_from(DATE_FORMATS),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    decimal=st.sampled_from([".", ","]),
    thousands=st.sampled_from(SEPARATORS),
    places=st.integers(min_value=0, max_value=3),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]),
    line_end=st.sampled_from(["\n", "\r\n"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    tell_thousands=st.booleans(),
    names=st.sampled_from([("date", "y"), ("Datum", "température"), ("ds", "value")]),
)
def test_any_dialect_reads_back_exactly_or_is_refused(
    tmp_path, data, rows, start, date_format, delimiter, decimal, thousands, places, encoding, line_end, quoting,
    tell_thousands, names,
):
    thousands = "" if thousands == decimal else thousands
    values = data.draw(st.lists(st.integers(-(10**8), 10**8), min_size=rows, max_size=rows))
    dates = pd.date_range(start, periods=rows, freq="D")
    frame = pd.DataFrame({
        names[0]: dates.strftime(date_format),
        names[1]: [_number(v, places, thousands, decimal) for v in values],
    })
    path = tmp_path / "dialect.csv"
    frame.to_csv(path, sep=delimiter, index=False, encoding=encoding, lineterminator=line_end, quoting=quoting)
    # A thousands separator of "." is what says "," is the decimal mark.
    told = thousands or ("." if decimal == "," else "")
    options = DataOptions(encoding="latin-1" if encoding == "latin-1" else "utf-8", thousands=told if tell_thousands and told else None)
    ambiguous = date_format != "%Y-%m-%d" and all(t.day <= 12 for t in dates) and any(t.day != t.month for t in dates)
    try:
        series = load_csv(path, options)
    except DataError as error:
        assert "\n" not in str(error)
        assert ambiguous or not options.thousands, str(error)
        return
    assert not ambiguous
    assert list(series.frame.index) == list(dates)
    expected = [float(_number(v, places, "", ".")) for v in values]
    np.testing.assert_array_equal(series.frame[names[1]].to_numpy(), np.array(expected))


def test_latin1_needs_the_encoding_option_and_then_reads(write_csv):
    path = write_csv("Datum;température\n" .encode("latin-1") + "".join(f"{d:02d}.01.2020;{d},5\n" for d in range(13, 31)).encode("latin-1"))
    with pytest.raises(DataError, match="pass --encoding"):
        load_csv(path)
    assert load_csv(path, DataOptions(encoding="latin-1")).frame["température"].iloc[0] == 13.5


def test_a_decimal_mark_shown_elsewhere_in_the_file_settles_three_digit_decimals(write_csv):
    # 21.125 alone could be 21125 with a thousands dot; 7.58 beside it shows the file's decimal mark.
    text = "date,temp,load\n" + "".join(f"{d},{20 + i / 8:.3f},{i + 0.58:.2f}\n" for i, d in enumerate(DAYS, 1))
    series = load_csv(write_csv(text))
    assert series.frame["temp"].iloc[0] == 20.125 and series.frame["load"].iloc[0] == 1.58
    german = "Datum;Umsatz;Preis\n" + "".join(f"{d:02d}.01.2020;{d}.500;{d},5\n" for d in range(13, 31))
    assert load_csv(write_csv(german)).frame["Umsatz"].iloc[0] == 13500.0


def test_an_excel_separator_line_names_the_delimiter_and_lines_still_count_it(write_csv):
    rows = "".join(f"{d};{i},5\n" for i, d in enumerate(DAYS, 1))
    series = load_csv(write_csv("sep=;\ndate;y\n" + rows))
    assert (series.columns, series.frame["y"].iloc[-1], len(series)) == (("y",), 20.5, 20)
    with pytest.raises(DataError, match=r"first: 'x' at line 5\)"):
        load_csv(write_csv("sep=;\ndate;y\n" + rows.replace(";3,5", ";x")))
