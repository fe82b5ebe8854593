"""Calendar and holiday inputs: their values on known dates, their names per frequency, their refusals.

No TensorFlow and no files: the functions are called on generated time stamps.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnncast.calendars import (
    calendar_features,
    check_country,
    holiday_columns,
    holiday_features,
    holidays_version,
    unnoticed_holidays,
)
from rnncast.errors import ExitStatus, UsageError

ROOT = Path(__file__).resolve().parent.parent


def days(start: str, count: int) -> np.ndarray:
    return np.arange(count) + np.datetime64(start, "D")


@pytest.mark.parametrize(
    ("freq", "names"),
    [
        ("h", ("hour_sin", "hour_cos", "dow_sin", "dow_cos")),
        ("H", ("hour_sin", "hour_cos", "dow_sin", "dow_cos")),
        ("15min", ("hour_sin", "hour_cos", "dow_sin", "dow_cos")),
        ("24h", ("dow_sin", "dow_cos")),
        ("D", ("dow_sin", "dow_cos", "doy_sin", "doy_cos")),
        ("B", ("dow_sin", "dow_cos", "doy_sin", "doy_cos")),
        ("7D", ("doy_sin", "doy_cos")),
        ("W-SUN", ("woy_sin", "woy_cos")),
        ("MS", ("month_sin", "month_cos")),
        ("ME", ("month_sin", "month_cos")),
        ("M", ("month_sin", "month_cos")),
        ("QS-JAN", ("quarter_sin", "quarter_cos")),
        ("QE-DEC", ("quarter_sin", "quarter_cos")),
    ],
)
def test_the_frequency_decides_the_calendar_columns(freq, names):
    # Old spellings (H, M) that saved cards may hold are not pandas 3's: the stamps come from the new ones.
    stamps = pd.date_range("2024-01-01", periods=5, freq={"H": "h", "M": "ME"}.get(freq, freq))
    features = calendar_features(stamps, freq)
    assert tuple(features) == names
    assert all(v.dtype == np.float64 and v.shape == (5,) for v in features.values())


def test_day_of_week_is_exactly_periodic_and_monday_is_zero():
    features = calendar_features(days("2024-01-01", 15), "D")  # a Monday
    for name in ("dow_sin", "dow_cos"):
        np.testing.assert_allclose(features[name][:8], features[name][7:15], atol=1e-12)
    assert features["dow_sin"][0] == pytest.approx(0.0) and features["dow_cos"][0] == pytest.approx(1.0)
    weekday = pd.DatetimeIndex(days("2024-01-01", 15)).day_of_week.to_numpy()
    np.testing.assert_allclose(features["dow_sin"], np.sin(2 * np.pi * weekday / 7), atol=1e-12)


@given(st.integers(-20_000, 40_000), st.integers(-50, 50))
def test_every_cycle_repeats_after_its_period(day, periods):
    start = np.datetime64("1970-01-01", "D") + day
    weekly = calendar_features(np.array([start, start + 7 * periods]), "D")
    np.testing.assert_allclose(weekly["dow_sin"][0], weekly["dow_sin"][1], atol=1e-9)
    np.testing.assert_allclose(weekly["dow_cos"][0], weekly["dow_cos"][1], atol=1e-9)
    month = start.astype("datetime64[M]")
    monthly = calendar_features(np.array([month, month + 12 * periods]).astype("datetime64[D]"), "MS")
    np.testing.assert_allclose(monthly["month_sin"][0], monthly["month_sin"][1], atol=1e-9)
    # The year's position is the day of that year over its length, as pandas counts them.
    stamp = pd.Timestamp(start)
    position = (stamp.day_of_year - 1) / (366 if stamp.is_leap_year else 365)
    np.testing.assert_allclose(weekly["doy_sin"][0], np.sin(2 * np.pi * position), atol=1e-9)


def test_sines_and_cosines_lie_on_the_unit_circle():
    features = calendar_features(pd.date_range("2023-03-01", periods=500, freq="h"), "h")
    for cycle in ("hour", "dow"):
        np.testing.assert_allclose(features[f"{cycle}_sin"] ** 2 + features[f"{cycle}_cos"] ** 2, 1.0, atol=1e-12)


def test_day_of_year_starts_each_year_at_zero_in_leap_years_too():
    stamps = np.array(["2023-01-01", "2024-01-01", "2024-12-31", "2025-01-01", "2024-07-02"], dtype="datetime64[D]")
    features = calendar_features(stamps, "D")
    np.testing.assert_allclose(features["doy_sin"][[0, 1, 3]], 0.0, atol=1e-12)
    np.testing.assert_allclose(features["doy_cos"][[0, 1, 3]], 1.0, atol=1e-12)
    np.testing.assert_allclose(features["doy_sin"][2], np.sin(2 * np.pi * 365 / 366), atol=1e-12)
    # 2 July 2024 is day 183 of 366: half way round.
    np.testing.assert_allclose(features["doy_cos"][4], -1.0, atol=1e-12)


def test_hour_of_day_counts_minutes_and_repeats_every_day():
    stamps = np.array(["2024-05-01T06:00", "2024-05-01T18:30", "2024-05-02T06:00"], dtype="datetime64[m]")
    features = calendar_features(stamps, "30min")
    np.testing.assert_allclose(features["hour_sin"][0], 1.0, atol=1e-12)  # 06:00 is a quarter round
    np.testing.assert_allclose(features["hour_cos"][1], np.cos(2 * np.pi * 18.5 / 24), atol=1e-12)
    np.testing.assert_allclose([features["hour_sin"][2], features["hour_cos"][2]],
                               [features["hour_sin"][0], features["hour_cos"][0]], atol=1e-12)


def test_month_and_quarter_of_year_from_month_starts_or_ends():
    starts = calendar_features(pd.date_range("2024-01-01", periods=13, freq="MS"), "MS")
    ends = calendar_features(pd.date_range("2024-01-31", periods=13, freq="ME"), "ME")
    np.testing.assert_allclose(starts["month_sin"], ends["month_sin"], atol=1e-12)
    np.testing.assert_allclose(starts["month_cos"][[0, 6, 12]], [1.0, -1.0, 1.0], atol=1e-12)
    quarters = calendar_features(pd.date_range("2024-01-01", periods=5, freq="QS"), "QS-JAN")
    np.testing.assert_allclose(quarters["quarter_sin"], [0, 1, 0, -1, 0], atol=1e-12)


def test_pandas_stamps_numpy_stamps_and_iso_text_give_the_same_features():
    index = pd.date_range("2024-02-27 22:00", periods=6, freq="h")
    from_pandas = calendar_features(index, "h")
    from_numpy = calendar_features(index.to_numpy(), "h")
    from_text = calendar_features([str(t) for t in index.to_numpy().astype("datetime64[s]")], "h")
    for name in from_pandas:
        np.testing.assert_allclose(from_pandas[name], from_numpy[name], atol=1e-12)
        np.testing.assert_allclose(from_pandas[name], from_text[name], atol=1e-12)


def test_the_future_labels_of_a_cold_forecast_give_their_wall_clock_features():
    from rnncast.timeaxis import future_labels

    labels = future_labels("2024-02-01T00:00:00+00:00", 3600, 3)  # 2024-02-01 01:00:00+00:00 ...
    features = calendar_features(labels, "h")
    np.testing.assert_allclose(features["hour_sin"], np.sin(2 * np.pi * np.arange(1, 4) / 24), atol=1e-12)
    # An offset is the zone the clock was read in: 05:00 in India is 05:00 there.
    india = calendar_features(["2024-02-01T05:00:00+05:30", "2024-02-01 05:00"], "h")
    np.testing.assert_allclose(india["hour_sin"], np.sin(2 * np.pi * 5 / 24), atol=1e-12)


def test_time_zones_give_local_wall_clock_features():
    local = pd.date_range("2024-03-01 09:00", periods=3, freq="D", tz="Europe/Berlin")
    naive = calendar_features(local.tz_localize(None), "D")
    aware = calendar_features(local, "D")
    for name in naive:
        np.testing.assert_allclose(aware[name], naive[name], atol=1e-12)
    hourly = calendar_features(pd.Series(pd.date_range("2024-03-01 09:00", periods=2, freq="h", tz="UTC")), "h")
    np.testing.assert_allclose(hourly["hour_sin"][0], np.sin(2 * np.pi * 9 / 24), atol=1e-12)


@pytest.mark.parametrize(
    ("freq", "why"),
    [
        ("YS", "'YS' is yearly"),
        ("YE-DEC", "'YE-DEC' is yearly"),
        ("12MS", "a step of '12MS' always lands on the same calendar position"),
        (None, "the data has no time column of dates"),
        (1, "the time column holds integer steps"),
    ],
)
def test_calendar_needs_a_dated_sub_yearly_axis(freq, why):
    with pytest.raises(UsageError) as error:
        calendar_features(days("2024-01-01", 3), freq)
    assert str(error.value) == (
        f"`--calendar` needs a dated time column with a sub-yearly frequency (hourly to quarterly); {why}. "
        "Train without `--calendar`."
    )
    assert error.value.exit_status == ExitStatus.USAGE


def test_an_unknown_frequency_is_a_usage_error():
    with pytest.raises(UsageError, match=r"^`--calendar`: 'fortnight' is not a pandas frequency such as D, h, W-SUN, MS\.$"):
        calendar_features(days("2024-01-01", 3), "fortnight")


def test_us_christmas_and_independence_day_with_their_neighbours():
    stamps = np.array(["2024-12-24", "2024-12-25", "2024-12-26", "2024-12-27", "2024-07-04", "2024-07-03"],
                      dtype="datetime64[D]")
    features = holiday_features(stamps, "D", "US")
    assert tuple(features) == ("holiday", "holiday_eve", "holiday_after") == holiday_columns("D")
    np.testing.assert_array_equal(features["holiday"], [0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(features["holiday_eve"], [1, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(features["holiday_after"], [0, 0, 1, 0, 0, 0])
    assert features["holiday"].dtype == np.float64


def test_neighbours_cross_the_year_and_the_data_edges():
    # New Year's Day lies outside the stamps: its eve and the day after are still known.
    features = holiday_features(np.array(["2024-12-31", "2025-01-02"], dtype="datetime64[D]"), "D", "US")
    np.testing.assert_array_equal(features["holiday"], [0, 0])
    np.testing.assert_array_equal(features["holiday_eve"], [1, 0])
    np.testing.assert_array_equal(features["holiday_after"], [0, 1])


def test_holidays_the_series_does_not_set_apart_are_named_and_left_out():
    stamps = days("2015-01-01", 6 * 365)
    christmas = np.isin(stamps, np.array([f"{year}-12-25" for year in range(2015, 2021)], dtype="datetime64[D]"))
    rng = np.random.default_rng(1)
    # A weekly cycle and noise; only Christmas Day drops (by 20 noise deviations), every other holiday is a day like any other.
    values = (100 + 10 * np.sin(2 * np.pi * np.arange(len(stamps)) / 7) + rng.normal(0, 2, len(stamps)) - 40 * christmas)[:, None]
    left_out = unnoticed_holidays(stamps, values, "D", "US")
    # New Year's Day too, though the week before it (Christmas) is no reference.
    assert left_out == ("Columbus Day", "Independence Day", "Labor Day", "Martin Luther King Jr. Day", "Memorial Day",
                        "New Year's Day", "Thanksgiving Day", "Veterans Day", "Washington's Birthday")
    kept = stamps[holiday_features(stamps, "D", "US", left_out)["holiday"] == 1]
    assert {str(day)[5:] for day in kept} == {"12-25", "12-26"} and len(kept) == 7  # 26 December 2016: Christmas observed
    # Weekly rows hold no single day to compare with its neighbours: nothing is left out.
    assert unnoticed_holidays(stamps[::7], values[::7], "W-SUN", "US") == ()


def test_a_region_has_its_own_holidays():
    epiphany = np.array(["2024-01-06"], dtype="datetime64[D]")  # a holiday in Bavaria, not in all of Germany
    assert holiday_features(epiphany, "D", "DE-BY")["holiday"][0] == 1.0
    assert holiday_features(epiphany, "D", "DE")["holiday"][0] == 0.0
    cesar_chavez = np.array(["2024-03-31"], dtype="datetime64[D]")
    assert holiday_features(cesar_chavez, "D", "us-ca")["holiday"][0] == 1.0
    assert holiday_features(cesar_chavez, "D", "US")["holiday"][0] == 0.0


def test_sub_daily_stamps_take_the_holiday_of_their_day():
    stamps = pd.date_range("2024-12-24 22:00", periods=4, freq="h")
    features = holiday_features(stamps, "h", "US")
    np.testing.assert_array_equal(features["holiday"], [0, 0, 1, 1])
    np.testing.assert_array_equal(features["holiday_eve"], [1, 1, 0, 0])


def test_weeks_months_and_quarters_count_their_holidays():
    # Weeks W-SUN end on their stamp: 23-29 December 2024 holds Christmas, 30 Dec - 5 Jan New Year.
    weeks = holiday_features(pd.date_range("2024-12-22", periods=3, freq="W-SUN"), "W-SUN", "US")
    assert tuple(weeks) == ("holiday",) == holiday_columns("W-SUN")
    np.testing.assert_array_equal(weeks["holiday"], [0, 1, 1])
    # US 2024: January has New Year and Martin Luther King Day, March none, November two.
    for freq, start in (("MS", "2024-01-01"), ("ME", "2024-01-31")):
        months = holiday_features(pd.date_range(start, periods=12, freq=freq), freq, "US")["holiday"]
        np.testing.assert_array_equal(months[[0, 2, 10]], [2, 0, 2])
        assert months.sum() == 11
    quarters = holiday_features(pd.date_range("2024-01-01", periods=4, freq="QS"), "QS-JAN", "US")["holiday"]
    ends = holiday_features(pd.date_range("2024-03-31", periods=4, freq="QE"), "QE-DEC", "US")["holiday"]
    np.testing.assert_array_equal(quarters, [3, 2, 2, 4])
    np.testing.assert_array_equal(ends, quarters)


def test_holidays_of_no_stamps_are_empty_columns():
    features = holiday_features(np.array([], dtype="datetime64[D]"), "D", "US")
    assert tuple(features) == holiday_columns("D") and all(len(v) == 0 for v in features.values())


@pytest.mark.parametrize("freq", ["YS", None, 1])
def test_holidays_need_a_dated_sub_yearly_axis(freq):
    with pytest.raises(UsageError, match=r"^`--holidays` needs a dated time column with a sub-yearly frequency"):
        holiday_features(days("2024-01-01", 3), freq, "US")


@pytest.mark.parametrize(("given", "recorded"), [("US", "US"), ("de", "DE"), ("DE-BY", "DE-BY"), ("us-ca", "US-CA")])
def test_country_codes_are_recorded_as_the_holidays_package_spells_them(given, recorded):
    assert check_country(given) == recorded


def test_an_unknown_country_names_a_close_match_and_how_to_list_codes():
    with pytest.raises(UsageError) as error:
        check_country("Germany")
    assert str(error.value) == (
        "`--holidays` 'Germany': no country code 'Germany' in the holidays package. Did you mean DE? Valid codes are "
        "ISO 3166 ones such as US, DE, GB; python -c \"import holidays; print(holidays.list_supported_countries())\" lists them."
    )
    assert error.value.exit_status == ExitStatus.USAGE
    with pytest.raises(UsageError, match=r"no country code 'QQ' in the holidays package\. Valid codes"):
        holiday_features(days("2024-01-01", 3), "D", "QQ")


def test_an_unknown_region_names_a_close_match_and_the_regions():
    with pytest.raises(UsageError) as error:
        check_country("DE-BYY")
    message = str(error.value)
    assert message.startswith("`--holidays` 'DE-BYY': DE has no region 'BYY'. Did you mean DE-BY? Its regions: BB, BE, BW, BY")
    assert message.endswith("holidays.list_supported_countries()['DE'] lists them all.")
    assert "\n" not in message


def test_the_holidays_version_is_the_package_version():
    import holidays

    assert holidays_version() == holidays.__version__ and holidays_version()


def test_calendar_features_do_not_import_pandas_or_holidays():
    code = (
        "import sys, numpy as np; from rnncast.calendars import calendar_features; "
        "calendar_features(np.arange(3) + np.datetime64('2024-01-01', 'D'), 'D'); "
        "print('pandas' in sys.modules, 'holidays' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert result.stdout.split() == ["False", "False"]
