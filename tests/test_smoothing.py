"""The holt-winters baseline: exponential smoothing as a linear map of the window, fitted on the
training rows, kept by the fallback where validation prefers it, and forecast on both engines."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

import rnncast
from rnncast.config import TrainConfig
from rnncast.smoothing import GRID, calibration_window, fit_smoothing, smoothing_map, smoothing_window
from rnncast.store import load_card
from rnncast.uncertainty import Calibration
from rnncast.windows import validation_rows


@pytest.mark.parametrize("parameters", [GRID[0], GRID[len(GRID) // 2], GRID[-1]])
def test_the_map_forecasts_a_constant_as_itself_and_a_repeating_season_exactly(parameters):
    """A constant window and a season repeating unchanged leave nothing to smooth: whatever the
    parameters, the forecast continues them."""
    matrix = smoothing_map(21, 10, 7, *parameters)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)
    season = np.array([3.0, -1.0, 4.0, 1.0, -5.0, 9.0, 2.0])
    np.testing.assert_allclose(matrix @ np.tile(season, 3), np.resize(season, 10), atol=1e-12)


def test_without_a_season_the_map_continues_a_straight_line_when_the_trend_is_not_damped():
    line = 2.0 + 0.5 * np.arange(30)
    np.testing.assert_allclose(smoothing_map(12, 5, None, 0.3, 0.1, 0.0, 1.0) @ line[:12], line[12:17], atol=1e-12)
    # Damped, each step ahead adds phi times the last step's change: the forecast levels off.
    steps = np.diff(smoothing_map(12, 5, None, 0.3, 0.1, 0.0, 0.5) @ line[:12])
    np.testing.assert_allclose(steps[1:] / steps[:-1], 0.5)
    assert steps[0] > 0


def test_a_season_growing_with_the_level_is_smoothed_in_logs():
    """Monthly values growing 1% a month with a season of +-20% around the level: additive in logs."""
    t = np.arange(96)
    values = 100 * 1.01**t * (1 + 0.2 * np.sin(2 * np.pi * t / 12))
    matrix, fitted = fit_smoothing([np.log(values[:84])], 36, 12, 12, log=True)
    forecast = np.exp(matrix @ np.log(values[48:84]))
    assert fitted.log and fitted.mae < 0.03 * values[:84].mean()
    np.testing.assert_allclose(forecast, values[84:], rtol=0.05)
    _, additive = fit_smoothing([values[:84]], 36, 12, 12, log=False)
    assert additive.mae > 1.5 * fitted.mae


def test_the_window_is_every_training_row_up_to_twenty_seasons():
    assert smoothing_window(12, 24, 200) == 200
    assert smoothing_window(12, 24, 300) == 240  # twenty seasons
    assert smoothing_window(12, 24, 20) == 24  # never shorter than the network's window
    assert smoothing_window(None, 10, 500) == 80  # without a season, twenty times four rows


def test_a_season_on_a_straight_line_is_continued_exactly_the_first_season_detrended():
    """The first season's rows hold the line's rise, which is not season: an undamped map continues
    line and season exactly from a window of two seasons or eight."""
    t = np.arange(48)
    season = np.array([3.0, -1.0, 4.0, 1.0, -5.0, -2.0])
    values = 0.5 * t + np.tile(season, 8)
    for window in (12, 48):
        np.testing.assert_allclose(smoothing_map(window, 6, 6, 0.3, 0.1, 0.2, 1.0) @ values[-window:], 0.5 * np.arange(48, 54) + season,
                                   atol=1e-9)


def test_the_parameters_are_the_grid_point_of_the_least_squared_one_step_errors():
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.standard_normal(40)) + np.tile([2.0, -1.0, 0.0, -1.0], 10) + rng.standard_normal(40)
    _, fitted = fit_smoothing([values], 40, 4, 4, log=False)

    def squares(point):  # each row from the rows before it, after the first season
        return sum((values[k] - smoothing_map(k, 1, 4, *point)[0] @ values[:k]) ** 2 for k in range(4, 40))

    chosen = squares((fitted.alpha, fitted.beta, fitted.gamma, fitted.phi))
    assert all(chosen <= squares(point) + 1e-9 for point in GRID[::7])
    assert chosen < squares(GRID[0]) and fitted.mae > 0


@pytest.fixture(scope="module")
def monthly(tmp_path_factory):
    """Six years of monthly sales with a trend and a season growing with it, and its last year held out."""
    rng = np.random.default_rng(3)
    t = np.arange(84)
    values = 200 * 1.012**t * (1 + 0.25 * np.sin(2 * np.pi * t / 12) + 0.1 * np.cos(4 * np.pi * t / 12)) * np.exp(0.02 * rng.standard_normal(84))
    frame = pd.DataFrame({"month": pd.date_range("2015-01-01", periods=84, freq="MS").strftime("%Y-%m-%d"), "sales": values})
    root = tmp_path_factory.mktemp("smoothing")
    frame.iloc[:72].to_csv(root / "sales.csv", index=False)
    return root, frame["sales"].to_numpy()


def test_the_fallback_keeps_holt_winters_where_it_beats_the_network_and_forecasts_as_the_model_itself(cli, monthly):
    """Two epochs of a tiny gru on 72 months: validation prefers the smoothing, which the card
    records with its parameters; forecasts agree on both engines and with `--model holt-winters`."""
    root, values = monthly
    trained = cli("train", root / "sales.csv", "-d", root / "kept", "-H", "12", "--epochs", "2", "--units", "4", "--seed", "1")
    assert trained.code == 0, trained.err
    assert "fallback: kept holt-winters, not the trained gru" in trained.err
    card = load_card(root / "kept")
    # Its window is every training row: the 72 less the validation tail.
    training_rows = 72 - validation_rows(72, 12, TrainConfig.validation_fraction)
    assert (card.config["model"], card.config["window"], card.metrics["fallback"]["kept"]) == ("holt-winters", training_rows, "holt-winters")
    assert card.metrics["model"] == card.metrics["holt_winters"]
    assert card.metrics["holt_winters"]["sales"]["mae"] < min(card.metrics[k]["sales"]["mae"] for k in ("naive", "seasonal_naive"))
    smoothing = card.metrics["smoothing"]["sales"]
    assert smoothing["log"] is True and {"alpha", "beta", "gamma", "phi"} <= set(smoothing)

    frames = {engine: rnncast.forecast(root / "kept", engine=engine) for engine in ("keras", "onnx")}
    np.testing.assert_allclose(frames["onnx"]["sales"], frames["keras"]["sales"], rtol=1e-5)
    # Off by under 5% on average over the held-out year, where seasonal-naive misses its growth by over 10%.
    assert np.abs(frames["onnx"]["sales"] / values[72:] - 1).mean() < 0.05 < 0.1 < np.abs(values[60:72] / values[72:] - 1).mean()

    assert cli("train", root / "sales.csv", "-d", root / "chosen", "-H", "12", "--model", "holt-winters").code == 0
    chosen = load_card(root / "chosen")
    assert (chosen.config["window"], chosen.metrics["smoothing"]) == (training_rows, card.metrics["smoothing"])
    np.testing.assert_allclose(rnncast.forecast(root / "chosen", engine="onnx")["sales"], frames["onnx"]["sales"], rtol=1e-6)

    info = pd.read_csv(io.StringIO(cli("info", "-d", root / "kept", "--format", "csv").out), index_col="field")["value"]
    assert info["model"] == "holt-winters" and "holt-winters " in info["validation sales"]
    assert info["smoothing"].startswith("sales alpha ") and info["smoothing"].endswith(", in logs")
    intervals = pd.read_csv(io.StringIO(cli("forecast", "-d", root / "kept", "--mc-samples", "50").out), index_col=0)
    assert (intervals["sales_lower"] <= intervals["sales"]).all() and (intervals["sales"] <= intervals["sales_upper"]).all()
    assert (intervals["sales_upper"] - intervals["sales_lower"] > 0.01 * intervals["sales"]).all()
    # Calibrated on the history's errors of the same smoothing started in a window short enough to leave
    # 50 windows of 12 months in the 72, down to two years: 24 months, not every training row.
    calibration = Calibration.from_dict(card.uncertainty)
    assert (calibration.history, calibration.windows) == (True, 72 - 24 - 12 + 1)
    assert calibration_window(12, training_rows, 72, 12, 50) == 24 and calibration_window(12, training_rows, 200, 12, 50) == training_rows

    # A month with no sales in the window (smoothed in logs, the training rows had none) counts as half the
    # smallest month training saw: the forecast bends (the trend too, which this smoothing updates at
    # beta 0.2), most in the same month a year on, and does not collapse to zero, as log(0) would make it.
    shut = pd.read_csv(root / "sales.csv")
    shut.loc[len(shut) - 1, "sales"] = 0.0
    shut.to_csv(root / "shut.csv", index=False)
    ratio = (rnncast.forecast(root / "kept", data=root / "shut.csv", engine="onnx")["sales"] / frames["onnx"]["sales"]).to_numpy()
    assert card.metrics["smoothing"]["sales"]["beta"] == 0.2
    assert np.isfinite(ratio).all() and ratio.min() == ratio[-1] > 0.15 and np.median(ratio) > 0.4


def test_with_known_inputs_the_smoothing_takes_a_promotion_as_a_multiplicative_lift(cli, tmp_path):
    """Daily sales with a weekly season and promotions that lift them by 60%: in logs the lift is one
    weight on the promo column, fitted in weekly differences and added to the steps the --future
    file marks; seasonal-naive with the promotion cannot scale it with the level."""
    rng = np.random.default_rng(5)
    days = 238
    t = np.arange(days)
    promo = np.zeros(days)
    for start in range(3, days, 11):
        promo[start : start + 2 + start % 3] = 1.0
    sales = (100 + 0.3 * t) * (1 + 0.2 * np.sin(2 * np.pi * t / 7)) * (1 + 0.6 * promo) * np.exp(0.02 * rng.standard_normal(days))
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=days, freq="D").strftime("%Y-%m-%d"), "sales": sales, "promo": promo})
    frame.iloc[:224].to_csv(tmp_path / "sales.csv", index=False)
    frame.iloc[224:][["date", "promo"]].to_csv(tmp_path / "future.csv", index=False)
    assert cli("train", tmp_path / "sales.csv", "--known", "promo", "--model", "holt-winters", "-H", "14", "-d", tmp_path / "m").code == 0
    card = load_card(tmp_path / "m")
    fitted = card.metrics["smoothing"]["sales"]
    assert fitted["log"] is True
    forecast = pd.read_csv(io.StringIO(cli("forecast", "-d", tmp_path / "m", "--future", tmp_path / "future.csv").out), index_col=0)["sales"]
    assert np.abs(forecast.to_numpy() / sales[224:] - 1).mean() < 0.05
    # Step for step the promotion's days are 1.6 times what they would be without it.
    frame.iloc[224:][["date"]].assign(promo=0.0).to_csv(tmp_path / "none.csv", index=False)
    plain = pd.read_csv(io.StringIO(cli("forecast", "-d", tmp_path / "m", "--future", tmp_path / "none.csv").out), index_col=0)["sales"]
    lifted = promo[224:] == 1
    assert lifted.any() and np.allclose(forecast[~lifted], plain[~lifted], rtol=1e-5)
    np.testing.assert_allclose(forecast[lifted] / plain[lifted], 1.6, rtol=0.05)
    info = pd.read_csv(io.StringIO(cli("info", "-d", tmp_path / "m", "--format", "csv").out), index_col="field")["value"]
    assert info["smoothing"].endswith(f", in logs, promo weight {fitted['known']['promo']:.4g}")
