"""Keeping a baseline instead of a network that validation says is worse, and the seasonal-naive figures beside it."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest

import rnncast
from rnncast.store import load_card

from conftest import TINY, Result, seasonal_frame


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A gru trained too little to beat seasonal-naive, with the fallback on: the data, the model and the run."""
    from rnncast.cli import run

    root = tmp_path_factory.mktemp("fallback")
    daily_csv, model_dir = root / "data.csv", root / "m"
    # A weekly cycle that wanders, each week the last one plus noise: seasonal-naive's own model, which
    # holt-winters, smoothing the season over weeks, does not beat;
    # --preprocess none, as a network on seasonal differences would match seasonal-naive.
    frame = seasonal_frame()
    walk, noise = frame["y"].to_numpy(copy=True), np.random.default_rng(0).standard_normal(len(frame))
    for t in range(7, len(walk)):
        walk[t] = walk[t - 7] + 0.3 * noise[t]
    frame.assign(y=walk).to_csv(daily_csv, index=False)
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
        code = run([str(a) for a in ("train", daily_csv, "-d", model_dir, "--format", "json",
                                     *[a for a in TINY if a not in ("--no-fallback", "--quiet")], "--preprocess", "none")])
    return daily_csv, model_dir, Result(int(code), out.getvalue(), err.getvalue())


def test_a_network_worse_than_seasonal_naive_on_validation_gives_way_to_it(cli, kept):
    """Two epochs of four units cannot beat seasonal-naive on a weekly cycle: the card keeps the baseline and says why."""
    daily_csv, model_dir, result = kept
    assert result.code == 0, result.err
    card = load_card(model_dir)
    fallback = card.metrics["fallback"]
    assert (card.config["model"], card.preprocessing["method"], fallback["kept"], fallback["network"]["model"]) == ("seasonal-naive", "none", "seasonal-naive", "gru")
    assert card.metrics["model"] == card.metrics["seasonal_naive"]
    assert fallback["network"]["validation"]["y"]["mae"] > card.metrics["seasonal_naive"]["y"]["mae"]
    assert "fallback: kept seasonal-naive, not the trained gru" in result.err and "--no-fallback keeps the network." in result.err
    (row,) = json.loads(result.out)
    assert row["mae"] == row["seasonal_naive_mae"] < row["naive_mae"]

    y = pd.read_csv(daily_csv)["y"].to_numpy()
    # Validation windows start at rows 88..109 (the last 24 rows and a window before them); a week back is 7 rows back.
    starts = np.arange(88, 110)[:, None] + 8 + np.arange(3)
    assert row["seasonal_naive_mae"] == pytest.approx(np.abs(y[starts] - y[starts - 7]).mean())
    np.testing.assert_allclose(rnncast.forecast(model_dir, engine="keras")["y"], y[-7:-4], rtol=1e-6)
    info = cli("info", "-d", model_dir)
    assert "kept seasonal-naive, not the trained gru" in info.out and "(naive " in info.out and ", seasonal-naive " in info.out


def test_a_kept_baseline_gives_intervals_from_its_residuals_over_the_whole_history_on_both_engines(cli, kept, tmp_path):
    """The cron job's `--mc-samples 200` keeps working on the night the fallback keeps seasonal-naive;
    a baseline learned nothing from the series, so every window of it, not only validation's, tells its errors."""
    from rnncast.uncertainty import Calibration, z_value

    daily_csv, model_dir, _ = kept
    card = load_card(model_dir)
    assert card.config["model"] == "seasonal-naive"
    calibration = Calibration.from_dict(card.uncertainty)
    y = pd.read_csv(daily_csv)["y"].to_numpy()
    # Every window of 8 rows and the 3 after it in the 120 rows, once each: seasonal-naive's RMS error per step.
    assert calibration.history and calibration.windows == 110
    steps = np.arange(110)[:, None] + 8 + np.arange(3)
    np.testing.assert_allclose(calibration.scale[:, 0], np.sqrt(((y[steps] - y[steps - 7]) ** 2).mean(axis=0)), rtol=1e-6)

    frames = {}
    for engine, samples in (("onnx", "200"), ("keras", "2")):
        result = cli("forecast", "-d", model_dir, "--mc-samples", samples, "--engine", engine)
        assert (result.code, result.err) == (0, ""), result.err
        frames[engine] = pd.read_csv(io.StringIO(result.out), index_col=0)
    frame = frames["onnx"]
    assert list(frame.columns) == list(frames["keras"].columns) == ["y", "y_std", "y_lower", "y_upper"]
    np.testing.assert_allclose(frame.to_numpy(), frames["keras"].to_numpy(), rtol=1e-5)  # N does not matter
    np.testing.assert_allclose(frame["y"], y[-7:-4], rtol=1e-5)  # the point forecast, not a mean of passes
    np.testing.assert_allclose(frame["y_std"], calibration.scale[:, 0], rtol=1e-5)  # the RMS error per step
    lower, upper = calibration.factor(0.9, 3)
    np.testing.assert_allclose(frame["y_upper"] - frame["y"], upper[:, 0] * z_value(0.9) * frame["y_std"], rtol=1e-4)
    np.testing.assert_allclose(frame["y"] - frame["y_lower"], lower[:, 0] * z_value(0.9) * frame["y_std"], rtol=1e-4)
    info = cli("info", "-d", model_dir, "--format", "csv").out
    assert ("history residuals (the seasonal-naive baseline kept by the fallback instead of the trained gru has no dropout; "
            "--mc-samples N gives them for any N); raw 90% intervals (the history RMS error per step as std) covered ") in info
    assert " of 110 windows of the whole history, so forecasts rescale" in info

    # A card saved before residual calibration keeps the old refusal, and info says why.
    model_dir = shutil.copytree(model_dir, tmp_path / "old")
    card_path = model_dir / "card.json"
    card_path.write_text(json.dumps({**json.loads(card_path.read_text()), "uncertainty": None}))
    sampled = cli("forecast", "-d", model_dir, "--mc-samples", "10")
    assert (sampled.code, sampled.out) == (2, "")
    assert sampled.err == (
        "rnncast: error: `--mc-samples` needs a network with dropout, and this model is the seasonal-naive baseline kept instead of "
        "the trained gru, which forecast the validation part worse (see `rnncast info`); retrain with --no-fallback to keep the "
        "network, or forecast without --mc-samples.\n"
    )
    assert ("none (the seasonal-naive baseline kept by the fallback has no dropout, and this model was saved before rnncast "
            "calibrated intervals on validation residuals, so --mc-samples is refused; retrain for them)") in cli("info", "-d", model_dir).out


def test_fallback_picks_the_baseline_only_when_it_beats_the_model():
    from rnncast.training import better_baseline

    metrics = {"model": {"a": {"mae": 2.0}, "b": {"mae": 10.0}}, "naive": {"a": {"mae": 1.0}, "b": {"mae": 30.0}},
               "seasonal_naive": {"a": {"mae": 3.0}, "b": {"mae": 12.0}}}
    assert better_baseline(metrics, np.array([1.0, 10.0])) is None  # model 1.5 vs naive 2.0, seasonal-naive 2.1 (scaled MAE)
    assert better_baseline(metrics, np.array([1.0, 100.0])) == "naive"  # model 1.05 vs naive 0.65
    assert better_baseline({k: v for k, v in metrics.items() if k != "naive"}, np.array([1.0, 100.0])) is None


def test_a_network_on_a_short_series_takes_its_intervals_from_seasonal_naive_over_the_history(cli, tmp_path):
    """40 rows and --horizon 3 leave 8 validation rows, 6 windows: too few to calibrate a network on.
    Seasonal-naive's errors over every window of the history, around their mean per step, set the
    shape and the factors; the network's RMS validation error over seasonal-naive's, shrunk
    towards 1 for the windows validation lacks, sets the size."""
    from rnncast.uncertainty import Calibration

    data = tmp_path / "short.csv"
    seasonal_frame(rows=40).to_csv(data, index=False)
    assert cli("train", data, "-d", tmp_path / "m", *TINY).code == 0
    card = load_card(tmp_path / "m")
    calibration = Calibration.from_dict(card.uncertainty)
    assert (card.config["model"], card.metrics["windows"], calibration.reference) == ("gru", 6, "seasonal-naive")
    y = pd.read_csv(data)["y"].to_numpy()
    steps = np.arange(40 - 8 - 3 + 1)[:, None] + 8 + np.arange(3)
    errors = y[steps] - y[steps - 7]
    # The ratio is shrunk towards 1 as if 19 - 6 more windows had shown the two alike.
    ratio = np.sqrt((6 * (card.metrics["model"]["y"]["rmse"] / card.metrics["seasonal_naive"]["y"]["rmse"]) ** 2 + 13) / 19)
    # ... but never below the network's own validation error.
    own = card.metrics["model"]["y"]["rmse"]
    level = np.sqrt((errors.std(axis=0) ** 2).mean())
    assert calibration.windows == len(steps)
    np.testing.assert_allclose(calibration.scale[:, 0], max(ratio, own / level) * errors.std(axis=0), rtol=1e-5)
    assert np.sqrt((calibration.scale[:, 0] ** 2).mean()) >= own * (1 - 1e-6)

    frame = pd.read_csv(io.StringIO(cli("forecast", "-d", tmp_path / "m", "--mc-samples", "50").out), index_col=0)
    np.testing.assert_allclose(frame["y_std"], calibration.scale[:, 0], rtol=1e-5)
    assert "history residuals of the seasonal-naive baseline, rescaled by this gru's validation error" in cli("info", "-d", tmp_path / "m").out


@pytest.mark.parametrize(("rows", "window"), [(48, 12), (30, 6)])
def test_the_default_window_holds_a_season_where_the_rows_allow_so_seasonal_naive_can_be_kept(cli, tmp_path, rows, window):
    """Four years of monthly data and --horizon 12: a fifth of the rows (9) would hide part of the
    year from the network and leave seasonal-naive out of the fallback. 30 rows hold no window of 12
    besides a validation tail and the horizon: the window stays a fifth of the rows."""
    pattern = np.tile([10.0, 30.0, 20.0, 50.0, 40.0, 60.0, 10.0, 0.0, 5.0, 15.0, 25.0, 35.0], 4)[:rows]
    data = tmp_path / "monthly.csv"
    pd.DataFrame({"date": pd.date_range("2015-01-01", periods=rows, freq="MS").strftime("%Y-%m-%d"), "y": pattern}).to_csv(data, index=False)
    # 30 rows: the network's window, not that of holt-winters (every training row) where the fallback keeps it.
    assert cli("train", data, "-d", tmp_path / "m", "-H", "12", "--epochs", "1", "-q", *(["--no-fallback"] if rows == 30 else [])).code == 0
    card = load_card(tmp_path / "m")
    assert card.config["window"] == window
    assert ("seasonal_naive" in card.metrics) == (rows == 48)
    if rows == 48:
        assert card.config["model"] == "seasonal-naive" and card.metrics["model"]["y"]["mae"] == pytest.approx(0, abs=1e-4)


def test_a_network_through_a_baseline_is_never_given_a_scale_below_its_own_validation_error():
    """On a season that grows with the level, seasonal-naive's errors over the whole history, centred,
    are small beside the recent ones; a network that beat it on validation keeps at least its own
    RMS validation error as the scale, with the baseline's shape over the steps."""
    from rnncast.preprocessing import Standardizer
    from rnncast.uncertainty import at_least, through_baseline

    t = np.arange(60)
    y = (10 + t) * (1 + 0.3 * np.sin(2 * np.pi * t / 4)) + np.random.default_rng(0).normal(0, 0.05, 60) * t
    series = y[:, None]
    scaler = Standardizer.fit(series)

    def repeat(windows, after):
        return windows[:, -4 + np.arange(3) % 4, :1]

    def calibration(own: float):
        metrics = {"windows": 6, "model": {"y": {"rmse": own}}, "seasonal_naive": {"y": {"rmse": 40.0}}}
        return at_least(through_baseline(repeat, "seasonal-naive", metrics, "seasonal_naive", series, scaler, 8, 3, [0]), np.array([own]))

    small, large = calibration(1.0), calibration(20.0)
    rms = lambda c: float(np.sqrt((c.scale[:, 0] ** 2).mean()))  # noqa: E731
    assert rms(small) < 5.0  # the shrunk ratio alone: far below what the second network showed
    np.testing.assert_allclose(rms(large), 20.0, rtol=1e-6)
    np.testing.assert_allclose(large.scale / rms(large), small.scale / rms(small), rtol=1e-6)  # the baseline's shape
    np.testing.assert_allclose(large.upper, small.upper)


def test_a_baseline_whose_errors_grew_with_the_level_is_given_its_validation_error_as_the_scale(cli, tmp_path):
    """A weekly cycle ten times as large at the end as at the start: seasonal-naive's errors over the
    whole history are small beside those of its validation tail, and the interval keeps the latter."""
    from rnncast.uncertainty import Calibration

    frame = seasonal_frame()
    t = np.arange(len(frame))
    noise = np.random.default_rng(1).standard_normal(len(frame))
    y = (1 + 9 * t / len(t)) * (5 + np.sin(2 * np.pi * t / 7) + noise)
    frame.assign(y=y).to_csv(tmp_path / "grows.csv", index=False)
    assert cli("train", tmp_path / "grows.csv", "-d", tmp_path / "m", "--model", "seasonal-naive", "--horizon", "3", "--quiet").code == 0
    card = load_card(tmp_path / "m")
    calibration = Calibration.from_dict(card.uncertainty)
    steps = np.arange(len(y) - card.config["window"] - 2)[:, None] + card.config["window"] + np.arange(3)
    history = np.sqrt(((y[steps] - y[steps - 7]) ** 2).mean(axis=0))
    validation = card.metrics["model"]["y"]["rmse"]
    assert calibration.history and np.sqrt((history**2).mean()) < 0.8 * validation
    np.testing.assert_allclose(calibration.scale[:, 0], history * validation / np.sqrt((history**2).mean()), rtol=1e-5)
