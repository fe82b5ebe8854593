"""--future files: the known inputs of the horizon are read like training data, or refused with
a one-line message that names the file, the line, the column or series, and the fix.

No TensorFlow: ``load_future`` is called directly on small written files.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnncast.config import DataOptions
from rnncast.data import load_csv
from rnncast.errors import DataError, ExitStatus, UsageError
from rnncast.future import load_future

KNOWN = ("promo", "price")
DAILY = {"known": KNOWN, "time_column": "date", "id_column": None, "freq": "D", "last": {None: "2024-01-31T00:00:00"}}
STORES = {"known": KNOWN, "time_column": "date", "id_column": "store", "freq": "D",
          "last": {"a": "2024-01-31T00:00:00", "b": "2024-01-31T00:00:00"}}


def daily_rows(start: int, count: int, month: str = "2024-02") -> str:
    """Rows ``date,promo,price`` of consecutive February days from day ``start``; promo is the day."""
    return "".join(f"{month}-{day:02d},{day},{10 + day / 2}\n" for day in range(start, start + count))


def refused(write_csv, text: str, horizon: int = 3, options: DataOptions = DataOptions(), **model) -> str:
    """The message of the DataError that loading ``text`` as a --future file raises."""
    with pytest.raises(DataError) as error:
        load_future(write_csv(text, "future.csv"), options, horizon=horizon, **{**DAILY, **model})
    message = str(error.value)
    assert error.value.exit_status == ExitStatus.BAD_DATA
    assert "\n" not in message and message.startswith("future.csv")
    return message


# --- what is read -------------------------------------------------------------------------------


def test_one_daily_series_gives_the_horizon_rows_in_the_order_of_known(write_csv):
    path = write_csv("date,price,promo\n" + "".join(f"2024-02-{d:02d},{10 + d / 2},{d}\n" for d in range(1, 6)))
    inputs = load_future(path, DataOptions(), horizon=3, **DAILY)
    assert list(inputs) == [None]
    assert inputs[None].dtype == np.float64 and inputs[None].shape == (3, 2)
    np.testing.assert_allclose(inputs[None], [[1, 10.5], [2, 11.0], [3, 11.5]])


def test_rows_at_or_before_the_data_are_ignored_even_with_gaps_and_holes(write_csv):
    history = "2024-01-20,,9\n2024-01-30,1,\n2024-01-31,0,10\n"  # holes in the history are not the horizon's
    inputs = load_future(write_csv("date,promo,price\n" + history + daily_rows(1, 4)), DataOptions(), horizon=2, **DAILY)
    np.testing.assert_allclose(inputs[None], [[1, 10.5], [2, 11.0]])


def test_monthly_month_start_stamps(write_csv):
    text = "date,promo,price\n2024-01-01,5,1\n2024-02-01,1,2\n2024-03-01,0,3\n2024-04-01,1,4\n"
    inputs = load_future(write_csv(text), DataOptions(), horizon=3,
                         **{**DAILY, "freq": "MS", "last": {None: "2024-01-01T00:00:00"}})
    np.testing.assert_allclose(inputs[None], [[1, 2], [0, 3], [1, 4]])


@pytest.mark.parametrize(
    ("freq", "last", "stamps"),
    [
        ("W-SUN", "2024-01-28", ["2024-02-04", "2024-02-11", "2024-02-18"]),
        ("B", "2024-02-01", ["2024-02-02", "2024-02-05", "2024-02-06"]),  # Friday, then Monday
        ("QE-DEC", "2023-12-31", ["2024-03-31", "2024-06-30", "2024-09-30"]),
        ("h", "2024-02-01T22:00:00", ["2024-02-01 23:00", "2024-02-02 00:00", "2024-02-02 01:00"]),
    ],
)
def test_the_next_steps_follow_the_models_frequency(write_csv, freq, last, stamps):
    text = "date,promo,price\n" + "".join(f"{stamp},{i},1\n" for i, stamp in enumerate(stamps))
    inputs = load_future(write_csv(text), DataOptions(), horizon=3, **{**DAILY, "freq": freq, "last": {None: last}})
    np.testing.assert_allclose(inputs[None][:, 0], [0, 1, 2])


def test_long_format_with_two_series_in_any_row_order(write_csv):
    rows = [f"{store},2024-02-0{day},{day * (2 if store == 'b' else 1)},{day}\n" for day in (3, 1, 2) for store in "ba"]
    inputs = load_future(write_csv("store,date,promo,price\n" + "".join(rows)), DataOptions(), horizon=3, **STORES)
    assert list(inputs) == ["a", "b"]
    np.testing.assert_allclose(inputs["a"], [[1, 1], [2, 2], [3, 3]])
    np.testing.assert_allclose(inputs["b"], [[2, 1], [4, 2], [6, 3]])


def test_series_that_end_at_different_stamps_each_start_after_their_own_end(write_csv):
    rows = "".join(f"{store},2024-02-0{day},{day},{day}\n" for store in "ab" for day in range(1, 6))
    inputs = load_future(write_csv("store,date,promo,price\n" + rows), DataOptions(), horizon=2,
                         **{**STORES, "last": {"a": "2024-02-02", "b": "2024-01-31"}})
    np.testing.assert_allclose(inputs["a"][:, 0], [3, 4])
    np.testing.assert_allclose(inputs["b"][:, 0], [1, 2])


def test_numeric_ids_are_keyed_as_text_and_other_known_series_may_be_left_out(write_csv):
    rows = "".join(f"{store},2024-02-0{day},{store},{day}\n" for store in (7, 12) for day in range(1, 4))
    inputs = load_future(write_csv("store,date,promo,price\n" + rows), DataOptions(), horizon=3,
                         **{**STORES, "last": {"12": "2024-01-31"}, "series": ["7", "12"]})
    np.testing.assert_allclose(inputs["12"], [[12, 1], [12, 2], [12, 3]])


def test_no_time_column_takes_the_rows_in_order(write_csv):
    inputs = load_future(write_csv("promo,price\n1,5\n0,6\n1,7\n9,9\n"), DataOptions(), horizon=3,
                         **{**DAILY, "time_column": None, "freq": None, "last": {None: 99}})
    np.testing.assert_allclose(inputs[None], [[1, 5], [0, 6], [1, 7]])


def test_an_integer_time_column_continues_by_its_step(write_csv):
    text = "step,promo,price\n8,0,0\n10,0,0\n12,1,1\n14,2,2\n16,3,3\n"
    inputs = load_future(write_csv(text), DataOptions(), horizon=3,
                         **{**DAILY, "time_column": "step", "freq": 2, "last": {None: 10}})
    np.testing.assert_allclose(inputs[None], [[1, 1], [2, 2], [3, 3]])


def test_the_dialect_of_the_data_is_read_the_same_way(write_csv):
    text = "Datum;promo;price\n01.02.2024;1;1.234,5\n02.02.2024;0;2,25\n03.02.2024;1;3\n"
    inputs = load_future(write_csv(text), DataOptions(date_format="%d.%m.%Y"), horizon=3,
                         **{**DAILY, "time_column": "Datum"})
    np.testing.assert_allclose(inputs[None], [[1, 1234.5], [0, 2.25], [1, 3]])


def test_hourly_stamps_in_utc_after_an_iso_last_stamp_with_its_offset(write_csv):
    text = "date,promo,price\n" + "".join(f"2024-02-01T0{h}:00:00+00:00,{h},1\n" for h in range(1, 4))
    inputs = load_future(write_csv(text), DataOptions(), horizon=3,
                         **{**DAILY, "freq": "h", "last": {None: "2024-02-01T00:00:00+00:00"}})
    np.testing.assert_allclose(inputs[None][:, 0], [1, 2, 3])


def test_checking_a_pair_in_advance_takes_the_last_stamps_of_the_loaded_data(write_csv):
    # What `rnncast check data.csv --future future.csv --known promo` does before any model exists.
    data = load_csv(write_csv("date,sales,promo\n" + "".join(f"2024-01-{d:02d},{d},{d % 2}\n" for d in range(1, 32))))
    future = write_csv("date,promo\n2024-01-31,1\n2024-02-01,0\n2024-02-02,1\n", "future.csv")
    inputs = load_future(future, DataOptions(), known=["promo"], time_column=data.time_column, id_column=None,
                         freq=data.freq, last={None: data.frame.index[-1]}, horizon=2)
    np.testing.assert_allclose(inputs[None], [[0], [1]])


def test_checking_a_long_format_pair_in_advance(write_csv):
    from rnncast.dataset import load_data

    rows = "".join(f"{s},2024-01-{d:02d},{d},{d % 2}\n" for s in "ab" for d in range(1, 11 if s == "a" else 12))
    panel = load_data(write_csv("store,date,sales,promo\n" + rows), DataOptions(id_column="store"))
    future = write_csv("store,date,promo\n" + "".join(f"{s},2024-01-{d},1\n" for s in "ab" for d in (11, 12)), "future.csv")
    last = {key: one.frame.index[-1] for key, one in panel.series.items()}
    with pytest.raises(DataError, match=r"^future\.csv \(store b\): the forecast needs 2 row\(s\) after the data's last "
                                        r"time stamp 2024-01-11, through 2024-01-13; the file has 1, the first missing is 2024-01-13"):
        load_future(future, DataOptions(), known=["promo"], time_column=panel.time_column, id_column=panel.id_column,
                    freq=panel.freq, last=last, horizon=2)


# --- what is refused ----------------------------------------------------------------------------


def test_too_short_names_the_first_missing_stamp_and_how_many_rows(write_csv):
    message = refused(write_csv, "date,promo,price\n" + daily_rows(1, 3), horizon=5)
    assert message == (
        "future.csv: the forecast needs 5 row(s) after the data's last time stamp 2024-01-31, through 2024-02-05; "
        "the file has 3, the first missing is 2024-02-04: add 2 row(s), or forecast a shorter --horizon."
    )


def test_too_short_for_one_series_of_many_names_it(write_csv):
    rows = "".join(f"{s},2024-02-0{d},1,1\n" for s in "ab" for d in range(1, 4 if s == "a" else 3))
    message = refused(write_csv, "store,date,promo,price\n" + rows, **STORES)
    assert message.startswith("future.csv (store b): the forecast needs 3 row(s)")
    assert "the first missing is 2024-02-03" in message


def test_a_file_that_ends_with_the_data_is_too_short(write_csv):
    message = refused(write_csv, "date,promo,price\n2024-01-30,1,1\n2024-01-31,1,1\n")
    assert "the file has 0, the first missing is 2024-02-01: add 3 row(s)" in message


def test_a_gap_names_the_first_missing_stamp(write_csv):
    message = refused(write_csv, "date,promo,price\n" + daily_rows(1, 1) + daily_rows(3, 3))
    assert message == (
        "future.csv: no row for 2024-02-02, the step after 2024-02-01, though later rows follow; "
        "the future rows must run on without gaps: add it."
    )


def test_future_rows_must_start_at_the_next_step(write_csv):
    message = refused(write_csv, "date,promo,price\n" + daily_rows(3, 5))
    assert message.startswith("future.csv: no row for 2024-02-01, the step after 2024-01-31, though later rows follow")


def test_a_gap_in_one_series_of_many_names_it(write_csv):
    rows = "".join(f"{s},2024-02-0{d},1,1\n" for s in "ab" for d in (1, 2, 3) if (s, d) != ("a", 2))
    assert refused(write_csv, "store,date,promo,price\n" + rows, **STORES).startswith(
        "future.csv (store a): no row for 2024-02-02")


def test_an_empty_known_value_names_the_column_line_and_series(write_csv):
    rows = "store,date,promo,price\n" + "".join(f"{s},2024-02-0{d},{'' if (s, d) == ('b', 2) else 1},1\n"
                                                for s in "ab" for d in (1, 2, 3))
    message = refused(write_csv, rows, **STORES)
    assert message == (
        "future.csv (store b): line 6: known column 'promo' is empty (1 such value(s) in the horizon); "
        "give every known input a number for every forecast step."
    )


@pytest.mark.parametrize("missing", ["", "NA", "nan"])
def test_missing_markers_in_a_known_column_are_refused(write_csv, missing):
    message = refused(write_csv, f"date,promo,price\n2024-02-01,1,1\n2024-02-02,1,{missing}\n2024-02-03,1,1\n")
    assert message.startswith("future.csv: line 3: known column 'price' is empty")


def test_an_infinite_known_value_is_refused(write_csv):
    message = refused(write_csv, "date,promo,price\n2024-02-01,1,1\n2024-02-02,inf,1\n2024-02-03,1,1\n")
    assert message.startswith("future.csv: line 3: known column 'promo' is inf, not a finite number")


def test_text_in_a_known_column_is_named_with_its_line(write_csv):
    message = refused(write_csv, "date,promo,price\n2024-02-01,1,1\n2024-02-02,1,1\n2024-02-03,yes,1\n")
    assert message.startswith("future.csv: line 4: known column 'promo' is 'yes', not a number (1 such value(s)")


def test_a_missing_known_column_is_named_with_the_columns_the_model_takes(write_csv):
    message = refused(write_csv, "date,promo\n" + "".join(f"2024-02-0{d},1\n" for d in (1, 2, 3)))
    assert message == (
        "future.csv: has no column 'price'; a --future file for this model takes the columns date, promo, price: add it."
    )


def test_a_missing_time_or_id_column_is_named(write_csv):
    assert refused(write_csv, "promo,price\n1,1\n").startswith("future.csv: has no column 'date';")
    assert refused(write_csv, "date,promo,price\n" + daily_rows(1, 3), **STORES).startswith(
        "future.csv: has no column 'store'; a --future file for this model takes the columns store, date, promo, price"
    )


def test_an_extra_column_is_named_with_the_columns_the_model_takes(write_csv):
    message = refused(write_csv, "date,promo,price,sales\n" + "".join(f"2024-02-0{d},1,1,5\n" for d in (1, 2, 3)))
    assert message == (
        "future.csv: has column(s) 'sales' that the model does not take; a --future file for this model takes the "
        "columns date, promo, price: remove the others (a column becomes a known input when the model is trained with --known)."
    )


def test_a_time_column_for_a_step_indexed_model_is_an_extra_column(write_csv):
    message = refused(write_csv, "date,promo,price\n" + daily_rows(1, 3),
                      **{"time_column": None, "freq": None, "last": {None: 99}})
    assert message.startswith("future.csv: has column(s) 'date' that the model does not take")


def test_a_daily_model_given_stamps_at_noon_names_the_line_and_the_expected_stamp(write_csv):
    text = "date,promo,price\n" + "".join(f"2024-02-0{d} 12:00,1,1\n" for d in (1, 2, 3))
    assert refused(write_csv, text) == (
        "future.csv: line 2: time stamp 2024-02-01 12:00:00 is not a step of the model's frequency 'D' after the "
        "data's last, 2024-01-31 (expected 2024-02-01); write the time stamps on the data's grid."
    )


def test_a_weekend_day_for_a_business_day_model_is_off_its_frequency(write_csv):
    text = "date,promo,price\n2024-02-02,1,1\n2024-02-03,1,1\n2024-02-05,1,1\n"
    message = refused(write_csv, text, freq="B", last={None: "2024-02-01"})
    assert message.startswith("future.csv: line 3: time stamp 2024-02-03 is not a step of the model's frequency 'B'")
    assert "(expected 2024-02-05)" in message


def test_a_monthly_model_given_mid_month_dates(write_csv):
    text = "date,promo,price\n2024-02-15,1,1\n2024-03-15,1,1\n2024-04-15,1,1\n"
    message = refused(write_csv, text, freq="MS", last={None: "2024-01-01"})
    assert message.startswith("future.csv: line 2: time stamp 2024-02-15 is not a step of the model's frequency 'MS'")
    assert "(expected 2024-02-01)" in message


def test_an_off_step_row_among_good_ones_expects_the_stamp_at_its_place(write_csv):
    text = "date,promo,price\n2024-02-01,1,1\n2024-02-02,1,1\n2024-02-02 06:00,1,1\n2024-02-03,1,1\n"
    message = refused(write_csv, text, horizon=4)
    assert message.startswith("future.csv: line 4: time stamp 2024-02-02 06:00:00 is not a step")
    assert "(expected 2024-02-03)" in message


def test_an_integer_time_column_off_its_step(write_csv):
    message = refused(write_csv, "step,promo,price\n12,1,1\n13,1,1\n14,1,1\n16,1,1\n",
                      **{"time_column": "step", "freq": 2, "last": {None: 10}})
    assert message.startswith("future.csv: line 3: time stamp 13 is not a step of the model's step of 2 after the data's last, 10")
    assert "(expected 14)" in message


def test_dates_for_a_model_of_integer_steps_are_refused(write_csv):
    message = refused(write_csv, "step,promo,price\n2024-02-01,1,1\n", **{"time_column": "step", "freq": 1, "last": {None: 10}})
    assert message == (
        "future.csv: time column 'step' holds dates where the model's holds integer steps; write the time stamps as in the data."
    )


def test_series_of_the_model_missing_from_the_file_are_named_and_counted(write_csv):
    rows = "".join(f"a,2024-02-0{d},1,1\n" for d in (1, 2, 3))
    last = {key: "2024-01-31" for key in "abcdef"}
    message = refused(write_csv, "store,date,promo,price\n" + rows, **{**STORES, "last": last})
    assert message == (
        "future.csv: has no rows for 5 series of the model (store 'b', 'c', 'd' and 2 more); add their future rows."
    )


def test_ids_the_model_does_not_know_are_named_with_their_line(write_csv):
    rows = "".join(f"{s},2024-02-0{d},1,1\n" for s in ("a", "b", "x") for d in (1, 2, 3))
    message = refused(write_csv, "store,date,promo,price\n" + rows, **STORES)
    assert message == (
        "future.csv: 'x' (first at line 8) is not a series of the model, which knows 2 ('a', 'b'); "
        "fix the 'store' values or remove those rows."
    )


def test_a_row_without_its_series_id_is_named(write_csv):
    message = refused(write_csv, "store,date,promo,price\na,2024-02-01,1,1\n,2024-02-02,1,1\n", **STORES)
    assert message == "future.csv: line 3 has no 'store'; every row needs its series id."


def test_a_duplicate_stamp_names_both_lines(write_csv):
    text = "date,promo,price\n" + daily_rows(1, 2) + "2024-02-02,5,5\n" + daily_rows(3, 1)
    assert refused(write_csv, text) == (
        "future.csv: time stamp 2024-02-02 appears twice (lines 3 and 4); keep one row per time stamp."
    )


def test_no_time_column_can_only_be_too_short(write_csv):
    message = refused(write_csv, "promo,price\n1,1\n2,2\n", horizon=4,
                      **{"time_column": None, "freq": None, "last": {None: 99}})
    assert message == (
        "future.csv: has 2 row(s) where the forecast needs 4, one per step after the data (steps 100 to 103); "
        "the first missing is step 102: add 2 row(s)."
    )


def test_no_time_column_still_refuses_an_empty_value(write_csv):
    message = refused(write_csv, "promo,price\n1,1\n,2\n", horizon=2, **{"time_column": None, "freq": None, "last": {None: 9}})
    assert message.startswith("future.csv: line 3: known column 'promo' is empty")


def test_unparseable_time_stamps_get_the_readers_message(write_csv):
    message = refused(write_csv, "date,promo,price\n2024-02-01,1,1\nsoon,1,1\n2024-02-03,1,1\n")
    assert "time column 'date'" in message and "'soon' at line 3" in message


def test_a_time_zone_the_data_did_not_have_is_refused(write_csv):
    text = "date,promo,price\n" + "".join(f"2024-02-0{d}T00:00:00+00:00,1,1\n" for d in (1, 2, 3))
    assert refused(write_csv, text) == (
        "future.csv: the data's time stamps are without a time zone (2024-01-31); write the future ones the same way."
    )


def test_a_missing_or_header_only_file_is_bad_data(write_csv, tmp_path):
    with pytest.raises(DataError, match=r"nothere\.csv: no such file\.$"):
        load_future(tmp_path / "nothere.csv", DataOptions(), horizon=3, **DAILY)
    assert refused(write_csv, "date,promo,price\n") == (
        "future.csv: has a header but no data rows; add the rows of the 3 step(s) after the data."
    )


def test_a_horizon_below_one_is_a_usage_error(write_csv):
    with pytest.raises(UsageError, match=r"^`--horizon` must be at least 1\. Received: 0\.$"):
        load_future(write_csv("date,promo,price\n" + daily_rows(1, 3)), DataOptions(), horizon=0, **DAILY)
