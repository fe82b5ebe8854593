"""Known-future inputs through the CLI and the library: --known with --future, --calendar,
--holidays, and the rollout that feeds the known values of the horizon to the network."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnncast.config import DataOptions, TrainConfig
from rnncast.errors import ExitStatus, UsageError
from rnncast.known import LEAD, design, input_only, lead_columns
from rnncast.models import NetworkShape, build_model
from rnncast.rollout import rollout
from rnncast.windows import seasonal_rows

HORIZON = 7
QUICK = ["--horizon", str(HORIZON), "--window", "14", "--epochs", "40", "--seed", "1", "--quiet"]


def promo_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """Daily sales with a weekly cycle, lifted by 40 on the irregular days of a promotion."""
    rng = np.random.default_rng(seed)
    promo = (rng.random(rows) < 0.2).astype(int)
    sales = 100 + 10 * np.sin(2 * np.pi * np.arange(rows) / 7) + 40 * promo + rng.normal(0, 2, rows)
    return pd.DataFrame({"date": pd.date_range("2024-01-01", periods=rows, freq="D"), "sales": sales.round(2), "promo": promo})


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("known")
    frame = promo_frame(300 + HORIZON)
    paths = {name: root / f"{name}.csv" for name in ("train", "future", "actual")}
    frame.iloc[:300].to_csv(paths["train"], index=False)
    frame.iloc[300:][["date", "promo"]].to_csv(paths["future"], index=False)
    frame.iloc[300:].to_csv(paths["actual"], index=False)
    return paths


def _forecast(cli, *args) -> pd.DataFrame:
    result = cli("forecast", "--format", "json", *args)
    assert result.code == 0, result.err
    return pd.DataFrame(json.loads(result.out)["forecast"])


@pytest.mark.parametrize("strategy", ["direct", "autoregressive"])
def test_known_promotions_reach_the_forecast(cli, files, tmp_path, strategy):
    result = cli("train", files["train"], "--known", "promo", "--strategy", strategy, "-d", tmp_path / "m", *QUICK)
    assert result.code == 0, result.err
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    assert card["targets"] == ["sales"] and card["data_options"]["known"] == ["promo"]
    assert f"promo{LEAD}1" in card["columns"]

    forecast = _forecast(cli, "-d", tmp_path / "m", "--future", files["future"])
    actual = pd.read_csv(files["actual"])
    assert len(forecast) == HORIZON and list(forecast["sales"].index) == list(range(HORIZON))
    # The promotion lifts sales by 40: a forecast that sees it errs far less than that.
    assert np.abs(forecast["sales"].to_numpy() - actual["sales"].to_numpy()).mean() < 12

    # All promotion against none: the forecast follows what the file says of the horizon.
    for value, name in ((1, "all.csv"), (0, "none.csv")):
        pd.read_csv(files["future"]).assign(promo=value).to_csv(tmp_path / name, index=False)
    lifted = _forecast(cli, "-d", tmp_path / "m", "--future", tmp_path / "all.csv")["sales"]
    plain = _forecast(cli, "-d", tmp_path / "m", "--future", tmp_path / "none.csv")["sales"]
    assert (lifted - plain).mean() > 20


def test_known_inputs_beat_the_same_model_without_them(cli, files, tmp_path):
    assert cli("train", files["train"], "--known", "promo", "-d", tmp_path / "with", *QUICK).code == 0
    assert cli("train", files["train"], "--target", "sales", "-d", tmp_path / "without", *QUICK).code == 0
    actual = pd.read_csv(files["actual"])["sales"].to_numpy()
    with_known = _forecast(cli, "-d", tmp_path / "with", "--future", files["future"])["sales"].to_numpy()
    without = _forecast(cli, "-d", tmp_path / "without")["sales"].to_numpy()
    assert np.abs(with_known - actual).mean() < 0.6 * np.abs(without - actual).mean()


def test_forecast_refuses_a_model_s_missing_or_needless_future(cli, files, tmp_path):
    assert cli("train", files["train"], "--known", "promo", "-d", tmp_path / "m", *QUICK, "--epochs", "1").code == 0
    missing = cli("forecast", "-d", tmp_path / "m")
    assert missing.code == ExitStatus.USAGE
    assert "promo" in missing.err and "--future" in missing.err and missing.err.count("\n") == 1

    short = tmp_path / "short.csv"
    pd.read_csv(files["future"]).iloc[:3].to_csv(short, index=False)
    too_short = cli("forecast", "-d", tmp_path / "m", "--future", short)
    assert too_short.code == ExitStatus.BAD_DATA and "2024-10-30" in too_short.err

    assert cli("train", files["train"], "--target", "sales", "-d", tmp_path / "plain", *QUICK, "--epochs", "1").code == 0
    needless = cli("forecast", "-d", tmp_path / "plain", "--future", files["future"])
    assert needless.code == ExitStatus.USAGE and "--known" in needless.err


def test_check_future_answers_as_forecast_would(cli, files, tmp_path):
    good = cli("check", files["train"], "--known", "promo", "--horizon", str(HORIZON), "--future", files["future"], "--format", "json")
    assert good.code == 0, good.err
    gap = tmp_path / "gap.csv"
    pd.read_csv(files["future"]).drop(index=2).to_csv(gap, index=False)
    bad = cli("check", files["train"], "--known", "promo", "--horizon", str(HORIZON), "--future", gap, "--format", "json")
    assert bad.code == ExitStatus.BAD_DATA
    assert "2024-10-29" in json.dumps(json.loads(bad.out))


def test_calendar_and_holidays_need_no_file_and_are_recorded(cli, files, tmp_path):
    result = cli("train", files["train"], "--target", "sales", "--calendar", "--holidays", "us", "-d", tmp_path / "m", *QUICK, "--epochs", "2")
    assert result.code == 0, result.err
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    assert card["data_options"]["holidays"] == "US" and card["source"]["holidays_package"]
    assert {"calendar:dow_sin", "holidays:holiday", f"holidays:holiday{LEAD}{HORIZON}"} <= set(card["columns"])
    assert len(_forecast(cli, "-d", tmp_path / "m")) == HORIZON
    info = cli("info", "-d", tmp_path / "m", "--format", "json")
    assert info.code == 0
    facts = cli("info", "-d", tmp_path / "m", "--format", "csv").out
    assert "calendar; holidays US" in facts and "calendar:dow_sin" not in facts


def test_holidays_the_training_data_does_not_set_apart_are_left_out_and_recorded(cli, tmp_path):
    dates = pd.date_range("2021-01-01", "2023-12-31", freq="D")
    christmas = np.isin(dates.strftime("%m-%d"), ["12-25"])
    rng = np.random.default_rng(1)
    sales = 100 + 10 * np.sin(2 * np.pi * np.arange(len(dates)) / 7) + rng.normal(0, 1, len(dates)) - 40 * christmas
    pd.DataFrame({"date": dates, "sales": sales.round(2)}).to_csv(tmp_path / "sales.csv", index=False)
    assert cli("train", tmp_path / "sales.csv", "--holidays", "US", "-d", tmp_path / "m", *QUICK, "--epochs", "1").code == 0
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    left_out = card["data_options"]["holidays_left_out"]
    assert "Veterans Day" in left_out and "Thanksgiving Day" in left_out and "Christmas Day" not in left_out
    facts = cli("info", "-d", tmp_path / "m", "--format", "csv").out
    assert f"holidays US but {', '.join(left_out)} (the data does not set them apart)" in facts
    # The forecast computes the holidays of its horizon the same way: a week of Christmas, none of Thanksgiving.
    assert len(_forecast(cli, "-d", tmp_path / "m", "--horizon", "7")) == 7
    last = design(pd.DataFrame({"sales": sales}, index=dates), "D", DataOptions(holidays="US", holidays_left_out=tuple(left_out)), 1, "x")
    assert last.loc["2023-11-23", "holidays:holiday"] == 0 and last.loc["2023-12-25", "holidays:holiday"] == 1


def test_unknown_holiday_country_is_refused_before_reading(cli, tmp_path):
    result = cli("train", tmp_path / "absent.csv", "--holidays", "Germany")
    assert result.code == ExitStatus.USAGE and "DE" in result.err


def test_known_column_rules(cli, files):
    missing = cli("train", files["train"], "--known", "price", "--quiet")
    assert missing.code == ExitStatus.USAGE and "'price'" in missing.err
    both = cli("train", files["train"], "--known", "promo", "--target", "promo", "--quiet")
    assert both.code == ExitStatus.USAGE and "--target" in both.err


def test_design_adds_leads_and_keeps_them_out_of_what_is_predicted():
    frame = promo_frame(20).set_index("date")
    options = DataOptions(known=("promo",), calendar=True)
    designed = design(frame, "D", options, steps=3, name="x.csv")
    promo = frame["promo"].to_numpy()
    np.testing.assert_array_equal(designed[f"promo{LEAD}2"].to_numpy()[:-2], promo[2:])
    # Past the data's end a lead repeats the last value, until a forecast's future replaces it.
    np.testing.assert_array_equal(designed[f"promo{LEAD}3"].to_numpy()[-3:], promo[-1])
    inputs = [designed.columns[i] for i in input_only(designed.columns, options)]
    assert "sales" not in inputs and {"promo", "calendar:dow_sin", f"promo{LEAD}1"} <= set(inputs)
    with pytest.raises(UsageError, match="--calendar"):
        design(frame.reset_index(drop=True), None, options, steps=1, name="x.csv")


def test_rollout_feeds_back_predictions_and_the_future_s_known_values():
    # Column 0 is predicted, column 1 is known: the predictor adds the known value of the last row.
    def predict(windows):
        return (windows[:, -1:, :1] + windows[:, -1:, 1:]).astype(np.float32)

    windows = np.zeros((1, 2, 2), dtype=np.float32)
    future = np.array([[[np.nan, 1.0], [np.nan, 10.0], [np.nan, 100.0]]])
    path = rollout(predict, windows, 3, [0], outputs=[0], future=future)
    np.testing.assert_allclose(path[0, :, 0], [0.0, 1.0, 11.0])
    with pytest.raises(UsageError):
        rollout(predict, windows, 3, [0], outputs=[0], future=np.full((1, 3, 2), np.nan))


def test_many_series_take_known_inputs_and_static_attributes(cli, tmp_path):
    frames, futures = [], []
    for i, store in enumerate(["a", "b", "c"]):
        frame = promo_frame(150 + HORIZON, seed=i).assign(store=store)
        frames.append(frame.iloc[:150])
        futures.append(frame.iloc[150:][["store", "date", "promo"]])
    pd.concat(frames).to_csv(tmp_path / "long.csv", index=False)
    pd.concat(futures).to_csv(tmp_path / "future.csv", index=False)
    pd.DataFrame({"store": ["a", "b", "c", "d"], "kind": ["big", "small", "big", "small"], "size": [3, 1, 2, 1]}).to_csv(
        tmp_path / "static.csv", index=False)
    result = cli("train", tmp_path / "long.csv", "--id-column", "store", "--known", "promo", "--static", tmp_path / "static.csv",
                 "-d", tmp_path / "m", *QUICK, "--epochs", "3")
    assert result.code == 0, result.err
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    assert {"static:kind=big", "static:kind=small", "static:size"} <= set(card["columns"])
    # Standardised alike across series, so that the attribute still tells the series apart.
    sizes = {key: one["scaler"]["mean"][card["columns"].index("static:size")] for key, one in card["series"].items()}
    assert len(set(sizes.values())) == 1

    one = _forecast(cli, "-d", tmp_path / "m", "--future", tmp_path / "future.csv", "--id", "b")
    assert len(one) == HORIZON and set(one["store"]) == {"b"}
    update = _forecast(cli, "-d", tmp_path / "m", "--future", tmp_path / "future.csv", "--data", tmp_path / "long.csv")
    full = _forecast(cli, "-d", tmp_path / "m", "--future", tmp_path / "future.csv")
    np.testing.assert_allclose(update["sales"], full["sales"], rtol=1e-6)

    pd.concat(futures).query("store != 'c'").to_csv(tmp_path / "partial.csv", index=False)
    lacking = cli("forecast", "-d", tmp_path / "m", "--future", tmp_path / "partial.csv")
    assert lacking.code == ExitStatus.BAD_DATA and "'c'" in lacking.err
    pd.DataFrame({"store": ["a", "b"], "kind": ["big", "small"]}).to_csv(tmp_path / "few.csv", index=False)
    few = cli("train", tmp_path / "long.csv", "--id-column", "store", "--static", tmp_path / "few.csv", "-d", tmp_path / "n", *QUICK)
    assert few.code == ExitStatus.BAD_DATA and "'c'" in few.err


def test_rows_without_targets_at_the_end_of_data_are_the_future(cli, files, tmp_path):
    assert cli("train", files["train"], "--known", "promo", "-d", tmp_path / "m", *QUICK, "--epochs", "1").code == 0
    update = tmp_path / "update.csv"
    future = pd.read_csv(files["future"]).assign(sales="")
    pd.concat([pd.read_csv(files["train"]).astype({"sales": object}), future[["date", "sales", "promo"]]]).to_csv(update, index=False)
    from_rows = _forecast(cli, "-d", tmp_path / "m", "--data", update)
    from_file = _forecast(cli, "-d", tmp_path / "m", "--future", files["future"])
    np.testing.assert_allclose(from_rows["sales"], from_file["sales"], rtol=1e-6)
    both = cli("forecast", "-d", tmp_path / "m", "--data", update, "--future", files["future"])
    assert both.code == ExitStatus.USAGE and "keep one" in both.err


def test_the_pretrained_model_takes_no_known_inputs(cli, files):
    train = cli("train", files["train"], "--model", "pretrained", "--known", "promo", "--quiet")
    assert train.code == ExitStatus.USAGE and "--model gru" in train.err
    zero_shot = cli("forecast", "--data", files["train"], "--model", "pretrained", "--future", files["future"])
    assert zero_shot.code == ExitStatus.USAGE and "--future" in zero_shot.err


def test_a_column_named_like_an_added_input_is_refused(cli, files, tmp_path):
    renamed = tmp_path / "renamed.csv"
    pd.read_csv(files["train"]).rename(columns={"promo": "promo@+1"}).to_csv(renamed, index=False)
    result = cli("train", renamed, "--calendar", "--quiet")
    assert result.code == ExitStatus.USAGE and "'promo@+1'" in result.err and "rename it" in result.err


def test_lead_columns_group_the_known_values_by_step():
    columns = ["sales", "promo", f"promo{LEAD}1", f"promo{LEAD}2", "holidays:holiday", f"holidays:holiday{LEAD}1",
               f"holidays:holiday{LEAD}2", f"promo{LEAD}12"]
    assert lead_columns(columns, 2) == ((1, 4), (2, 5), (3, 6))
    assert lead_columns(["sales", "calendar:dow_sin"], 2) == ()


def test_each_source_s_known_values_reach_every_step_through_one_shared_weight(tmp_path):
    import keras

    # Columns: the target, promo, then promo's leads for steps 1..3; one weight per source and output.
    shape = NetworkShape(window=5, n_inputs=5, steps=3, outputs=(0,), known=True, leads=((1,), (2,), (3,), (4,)))
    network = build_model(shape, TrainConfig(model="gru", horizon=3, units=4, layers=1, seed=1))
    windows = np.arange(50, dtype=np.float32).reshape(2, 5, 5) / 50
    raised = windows.copy()
    raised[:, -1, 3] += 1.0  # the known value of step 2, as the last row holds it
    network.get_layer("known_linear").set_weights([np.zeros((1, 1))])
    before = network.predict(raised, verbose=0) - network.predict(windows, verbose=0)
    network.get_layer("known_linear").set_weights([np.full((1, 1), 2.0)])
    after = network.predict(raised, verbose=0) - network.predict(windows, verbose=0)
    # The shared weight adds 2 per unit of step 2's known value to step 2 alone.
    np.testing.assert_allclose((after - before)[..., 0], [[0.0, 2.0, 0.0]] * 2, atol=1e-5)
    network.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(windows, verbose=0), network.predict(windows, verbose=0), rtol=1e-5, atol=1e-6)


def test_seasonal_naive_with_known_inputs_adds_their_fitted_effect(cli, files, tmp_path):
    baseline = [a for a in QUICK if a not in ("--epochs", "40")]
    assert cli("train", files["train"], "--model", "seasonal-naive", "--known", "promo", "-d", tmp_path / "m", *baseline).code == 0
    train, future = pd.read_csv(files["train"]), pd.read_csv(files["future"])
    forecast = _forecast(cli, "-d", tmp_path / "m", "--future", files["future"])["sales"].to_numpy()
    # The week repeated, plus the promotion's lift of 40 where the horizon's day and the repeated one differ.
    repeated = train.iloc[-7:]
    expected = repeated["sales"].to_numpy() + 40 * (future["promo"].to_numpy() - repeated["promo"].to_numpy())
    np.testing.assert_allclose(forecast, expected, atol=6)


def test_seasonal_rows_weigh_the_latest_or_every_row_whole_seasons_before_each_step():
    latest, every = seasonal_rows(10, 6, 4), seasonal_rows(10, 6, 4, every=True)
    # Step 0 is row 10: 4 and 8 rows before it are rows 6 and 2; step 4 (row 14) reaches back to rows 6 and 2 too (8 and 12 before).
    assert [list(np.flatnonzero(row)) for row in every] == [[2, 6], [3, 7], [0, 4, 8], [1, 5, 9], [2, 6], [3, 7]]
    np.testing.assert_allclose(every.sum(axis=1), 1.0)
    assert list(latest.argmax(axis=1)) == [6, 7, 8, 9, 6, 7] and latest.sum() == 6


def test_seasonal_mean_with_known_inputs_averages_the_window_s_weeks_and_adds_their_fitted_effect(cli, files, tmp_path):
    baseline = [a for a in QUICK if a not in ("--epochs", "40")]
    assert cli("train", files["train"], "--model", "seasonal-mean", "--known", "promo", "-d", tmp_path / "m", *baseline).code == 0
    train, future = pd.read_csv(files["train"]), pd.read_csv(files["future"])
    forecast = _forecast(cli, "-d", tmp_path / "m", "--future", files["future"])["sales"].to_numpy()
    # The window's two weeks averaged, plus the promotion's lift of 40 times how the day's promo differs from theirs.
    weeks = [train.iloc[-14:-7], train.iloc[-7:]]
    mean = {column: np.mean([week[column].to_numpy() for week in weeks], axis=0) for column in ("sales", "promo")}
    np.testing.assert_allclose(forecast, mean["sales"] + 40 * (future["promo"].to_numpy() - mean["promo"]), atol=5)


def test_a_global_model_is_validated_against_seasonal_naive_with_the_known_inputs(cli, tmp_path):
    many = pd.concat([promo_frame(200, seed).assign(unique_id=key, sales=lambda f, s=seed: f["sales"] + 50 * s)
                      for seed, key in enumerate(("a", "b"))])
    many.to_csv(tmp_path / "many.csv", index=False)
    assert cli("train", tmp_path / "many.csv", "--known", "promo", "-d", tmp_path / "m", *QUICK, "--epochs", "1").code == 0
    metrics = json.loads((tmp_path / "m" / "card.json").read_text())["metrics"]
    for key, one in metrics["series"].items():
        sales = many[many["unique_id"] == key]["sales"]
        # Near the noise (sd 2) in each series, where plain seasonal-naive errs by the lifts it repeats or misses.
        assert one["seasonal_naive"]["sales"]["mae"] < 0.3 * np.abs(sales.diff(7)).iloc[-40:].mean()
    assert metrics["seasonal_naive"]["sales"]["mae"] == pytest.approx(np.mean([s["seasonal_naive"]["sales"]["mae"] for s in metrics["series"].values()]))


def test_the_fallback_keeps_the_seasonal_baseline_with_the_known_inputs_that_validates_best(cli, files, tmp_path):
    # One epoch leaves the gru worse than the baselines, which then take the promotions too.
    assert cli("train", files["train"], "--known", "promo", "-d", tmp_path / "m", *QUICK, "--epochs", "1").code == 0
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    metrics = card["metrics"]
    keys = {"naive": "naive", "seasonal-naive": "seasonal_naive", "seasonal-mean": "seasonal_mean", "holt-winters": "holt_winters"}
    mae = {name: metrics[key]["sales"]["mae"] for name, key in keys.items()}
    # On a noisy but fixed weekly cycle, the mean of the window's two weeks repeats half the noise one week
    # does, and smoothing the season over the weeks of a longer window less still.
    assert metrics["fallback"]["kept"] == card["config"]["model"] == min(mae, key=mae.get) == "holt-winters"
    assert metrics["model"] == metrics["holt_winters"] and mae["holt-winters"] < mae["seasonal-mean"] < 0.9 * mae["seasonal-naive"]
    assert card["metrics"]["smoothing"]["sales"]["known"]["promo"] > 0
    train = pd.read_csv(files["train"])
    repeated = np.abs(train["sales"].diff(7)).iloc[-60:].mean()
    # Validation error near the noise (sd 2), where plain seasonal-naive errs by the lifts it repeats or misses.
    assert metrics["seasonal_naive"]["sales"]["mae"] < 0.3 * repeated
    for value, name in ((1, "all.csv"), (0, "none.csv")):
        pd.read_csv(files["future"]).assign(promo=value).to_csv(tmp_path / name, index=False)
    lifted = _forecast(cli, "-d", tmp_path / "m", "--future", tmp_path / "all.csv")["sales"]
    plain = _forecast(cli, "-d", tmp_path / "m", "--future", tmp_path / "none.csv")["sales"]
    assert (lifted - plain).mean() == pytest.approx(40, abs=6)
