"""MC-Dropout error bars: batching and trajectories, reproducibility, calibration, refusal, plots."""

from __future__ import annotations

import io
import itertools
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import TINY, seasonal_frame
from rnncast.config import TrainConfig
from rnncast.rollout import MCOptions, mc_rollout
from rnncast.uncertainty import Calibration, bounds, fit_calibration, fit_residuals, summarize, z_value

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def noisy_walk(rows: int = 160, seed: int = 0) -> pd.DataFrame:
    """A random walk: the further ahead, the less is known, so honest bands must widen."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "date": pd.date_range("2021-01-01", periods=rows, freq="D").astype(str),
        "y": 50 + np.cumsum(rng.standard_normal(rows)),
    })


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Tiny saved models: direct with dropout, autoregressive with dropout, and one without dropout."""
    import rnncast

    root = tmp_path_factory.mktemp("mc")
    seasonal, walk = root / "seasonal.csv", root / "walk.csv"
    seasonal_frame().to_csv(seasonal, index=False)
    noisy_walk().to_csv(walk, index=False)
    tiny = dict(epochs=2, units=4, window=8, horizon=3, seed=1, fallback=False)
    rnncast.train(seasonal, TrainConfig(dropout=0.2, **tiny), model_dir=root / "direct")
    # Trained long enough to learn persistence, so that fed-back samples carry their errors forward.
    walker = {**tiny, "epochs": 20, "units": 8}
    rnncast.train(walk, TrainConfig(strategy="autoregressive", dropout=0.2, **walker), model_dir=root / "autoregressive")
    rnncast.train(seasonal, TrainConfig(dropout=0.0, **tiny), model_dir=root / "plain")
    return root


def read_csv(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), index_col=0)


def test_rollout_of_repeated_windows_makes_each_sample_its_own_trajectory():
    calls = []

    def noisy_last_value(windows):  # a stochastic one-step predictor of every column
        calls.append(len(windows))
        return windows[:, -1:, :] + rng.standard_normal((len(windows), 1, 1))

    rng = np.random.default_rng(0)
    windows = np.zeros((2, 4, 1), dtype=np.float32)
    paths = mc_rollout(noisy_last_value, windows, horizon=9, target_index=[0], samples=2000)

    assert paths.shape == (2, 2000, 9, 1)
    assert calls == [2 * 2000] * 9  # one batched call per step, never one per sample
    # Fed-back noise accumulates: a random walk's variance grows as the step number.
    np.testing.assert_allclose(paths.var(axis=1)[0, :, 0], np.arange(1, 10), rtol=0.15)


def test_chained_direct_blocks_carry_each_sample_forward():
    calls = []

    def noisy_block(windows):  # a stochastic direct predictor of three steps of every column
        calls.append(len(windows))
        return windows[:, -1:, :] + np.cumsum(rng.standard_normal((len(windows), 3, 1)), axis=1)

    rng = np.random.default_rng(1)
    paths = mc_rollout(noisy_block, np.zeros((1, 4, 1), dtype=np.float32), horizon=8, target_index=[0], samples=3000)

    assert paths.shape == (1, 3000, 8, 1)
    assert calls == [3000] * 3
    np.testing.assert_allclose(paths.var(axis=1)[0, :, 0], np.arange(1, 9), rtol=0.15)


def test_calibration_factors_interpolate_widths_between_levels_and_reuse_the_last_step():
    levels = (0.5, 0.9)
    lower = np.array([[[1.0], [2.0]], [[3.0], [4.0]]])  # levels x steps x targets
    upper = 2 * lower
    calibration = Calibration(levels, lower, upper, (0.3, 0.5), samples=10, windows=50)
    widths = lower[:, :, 0] * np.array([[z_value(0.5)], [z_value(0.9)]])
    middle = (widths[0] + widths[1]) / 2 / z_value(0.7)

    np.testing.assert_allclose(calibration.factor(0.7, 2)[0][:, 0], middle)
    np.testing.assert_allclose(calibration.factor(0.7, 2)[1][:, 0], 2 * middle)
    np.testing.assert_allclose(calibration.factor(0.99, 4)[0][:, 0], [3.0, 4.0, 4.0, 4.0])
    np.testing.assert_allclose(calibration.factor(0.2, 1)[1][:, 0], [2.0])
    restored = Calibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    np.testing.assert_allclose(restored.lower, lower)
    np.testing.assert_allclose(restored.upper, upper)
    assert (restored.levels, restored.raw_coverage, restored.samples, restored.windows) == (levels, (0.3, 0.5), 10, 50)


def test_cards_with_one_symmetric_factor_table_still_load():
    old = {"levels": [0.9], "factors": [[[1.5]]], "raw_coverage": [0.7], "samples": 10, "windows": 50}

    lower, upper = Calibration.from_dict(old).factor(0.9, 1)

    assert lower.tolist() == upper.tolist() == [[1.5]]


def test_mc_forecast_is_reproducible_with_seed_and_bounds_are_ordered(cli, trained):
    args = ["forecast", "--model-dir", trained / "direct", "--mc-samples", "40", "--seed", "7"]
    first, second = cli(*args), cli(*args)
    other = cli(*args[:-1], "8")

    assert (first.code, first.err) == (0, "")
    assert first.out == second.out
    assert other.out != first.out
    frame = read_csv(first.out)
    assert list(frame.columns) == ["y", "y_std", "y_lower", "y_upper"]
    assert frame.index.name == "date" and len(frame) == 3
    assert (frame["y_std"] > 0).all()
    assert (frame["y_lower"] < frame["y"]).all() and (frame["y"] < frame["y_upper"]).all()


def test_calibrated_interval_differs_from_raw_by_the_card_factors(cli, trained):
    base = ["forecast", "--model-dir", trained / "direct", "--mc-samples", "40", "--seed", "7", "--interval", "0.8"]
    raw = read_csv(cli(*base, "--no-calibrate").out)
    calibrated = read_csv(cli(*base).out)
    card = json.loads((trained / "direct" / "card.json").read_text())
    lower, upper = (side[:, 0] for side in Calibration.from_dict(card["uncertainty"]).factor(0.8, 3))

    np.testing.assert_allclose(raw["y"], calibrated["y"])
    np.testing.assert_allclose(raw["y_upper"] - raw["y"], z_value(0.8) * raw["y_std"], rtol=1e-6)
    np.testing.assert_allclose(calibrated["y_upper"] - calibrated["y"], upper * (raw["y_upper"] - raw["y"]), rtol=1e-3)
    np.testing.assert_allclose(calibrated["y"] - calibrated["y_lower"], lower * (raw["y"] - raw["y_lower"]), rtol=1e-3)


def test_mean_of_many_passes_is_close_to_the_deterministic_forecast(cli, trained):
    deterministic = read_csv(cli("forecast", "--model-dir", trained / "direct").out)
    mc = read_csv(cli("forecast", "--model-dir", trained / "direct", "--mc-samples", "400", "--seed", "1").out)

    # Dropout is scaled to keep activations' expectations, so the MC mean sits near the plain pass.
    assert (np.abs(mc["y"] - deterministic["y"]) < mc["y_std"]).all()


def test_autoregressive_bands_widen_with_the_horizon_on_noisy_data(cli, trained):
    result = cli("forecast", "--model-dir", trained / "autoregressive", "--mc-samples", "200", "--seed", "3",
                 "--horizon", "12", "--no-calibrate")

    assert result.code == 0, result.err
    std = read_csv(result.out)["y_std"].to_numpy()
    assert std[-3:].mean() > 1.3 * std[:2].mean()


def test_calibration_moves_coverage_towards_nominal_on_a_constructed_case():
    rng = np.random.default_rng(0)

    def case(error_scale: float, n: int):
        # MC passes spread with std 1 around the mean, while actual errors have std error_scale.
        paths = rng.standard_normal((n, 300, 2, 1))
        actual = paths.mean(axis=1) + error_scale * rng.standard_normal((n, 2, 1))
        return paths, actual

    def coverage(paths, actual, factors):
        stats = summarize(paths, 0.9, factors)
        return ((actual >= stats["lower"]) & (actual <= stats["upper"])).mean()

    for (error_scale, direction), time_ordered in itertools.product(((3.0, 1), (0.3, -1)), (False, True)):  # too narrow, too wide
        calibration = fit_calibration(*case(error_scale, 1000), time_ordered=time_ordered)
        fresh = case(error_scale, 4000)
        raw = coverage(*fresh, None)
        calibrated = coverage(*fresh, calibration.factor(0.9, 2))

        assert np.sign(calibrated - raw) == direction
        assert abs(calibrated - 0.9) < 0.03
        assert np.all(np.sign(calibration.lower - 1) == direction) and np.all(np.sign(calibration.upper - 1) == direction)
        assert np.sign(0.9 - calibration.raw_coverage[calibration.levels.index(0.9)]) == direction


def test_recency_weights_follow_errors_that_grow_with_time():
    rng = np.random.default_rng(2)

    def case(error_scale, n: int):
        paths = rng.standard_normal((n, 300, 1, 1))
        return paths, paths.mean(axis=1) + error_scale * rng.standard_normal((n, 1, 1))

    def coverage(paths, actual, calibration):
        stats = summarize(paths, 0.9, calibration.factor(0.9, 1))
        return ((actual >= stats["lower"]) & (actual <= stats["upper"])).mean()

    growing = case(np.linspace(1.0, 3.0, 400)[:, None, None], 400)  # oldest window first
    even, recent = fit_calibration(*growing), fit_calibration(*growing, time_ordered=True)
    following = case(3.0, 2000)  # the windows after validation: errors as large as the newest

    assert np.all(recent.lower > even.lower) and np.all(recent.upper > even.upper)
    assert coverage(*following, even) + 0.05 < coverage(*following, recent)


def test_calibration_puts_a_biased_mean_s_errors_on_their_own_side():
    rng = np.random.default_rng(1)

    def case(n: int):
        # Actual values sit one MC std above the mean on average (a trend the network lags behind).
        paths = rng.standard_normal((n, 300, 2, 1))
        actual = paths.mean(axis=1) + 1.0 + rng.standard_normal((n, 2, 1))
        return paths, actual

    calibration = fit_calibration(*case(400))
    paths, actual = case(2000)
    factors = calibration.factor(0.9, 2)
    stats = summarize(paths, 0.9, factors)
    symmetric = summarize(paths, 0.9, (np.maximum(*factors),) * 2)

    assert np.all(factors[1] > factors[0])
    assert abs(((actual >= stats["lower"]) & (actual <= stats["upper"])).mean() - 0.9) < 0.03
    # The symmetric interval that is as wide on both sides covers more only by being wider.
    assert (stats["upper"] - stats["lower"]).mean() < (symmetric["upper"] - symmetric["lower"]).mean()


def test_card_keeps_small_calibration_and_info_says_intervals_are_calibrated(cli, trained):
    card = json.loads((trained / "direct" / "card.json").read_text())
    result = cli("info", "--model-dir", trained / "direct", "--format", "csv")

    assert card["uncertainty"]["levels"] == [0.5, 0.8, 0.9, 0.95, 0.99]
    assert np.shape(card["uncertainty"]["lower_factors"]) == np.shape(card["uncertainty"]["upper_factors"]) == (5, 3, 1)  # levels x steps x targets
    assert len(json.dumps(card["uncertainty"])) < 1000
    assert result.code == 0
    assert "MC Dropout; raw 90% intervals covered" in result.out
    assert "calibrated by default; --no-calibrate for the raw interval" in result.out


def test_model_without_dropout_gives_residual_intervals_and_an_old_card_refuses(cli, trained, tmp_path):
    plain = cli("forecast", "--model-dir", trained / "plain")
    sampled = cli("forecast", "--model-dir", trained / "plain", "--mc-samples", "10", "--interval", "0.8", "--engine", "keras")

    assert (sampled.code, sampled.err) == (0, "")
    frame, point = read_csv(sampled.out), read_csv(plain.out)
    assert list(frame.columns) == ["y", "y_std", "y_lower", "y_upper"]
    np.testing.assert_allclose(frame["y"], point["y"], rtol=1e-5)
    assert (frame["y_std"] > 0).all() and (frame["y_lower"] <= frame["y"]).all() and (frame["y"] <= frame["y_upper"]).all()
    assert "validation residuals (this gru model has no dropout;" in cli("info", "--model-dir", trained / "plain").out

    old = tmp_path / "old"
    shutil.copytree(trained / "plain", old)
    card = json.loads((old / "card.json").read_text())
    (old / "card.json").write_text(json.dumps({**card, "uncertainty": None}))
    result = cli("forecast", "--model-dir", old, "--mc-samples", "10")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "rnncast: error: `--mc-samples` needs a network with dropout, and this gru model has none "
        "(trained with --dropout 0.0, --recurrent-dropout 0.0); retrain a recurrent model with --dropout 0.1 "
        "(the default), or forecast without --mc-samples.\n"
    )
    assert "none (trained without dropout, so --mc-samples is refused)" in cli("info", "--model-dir", old).out


def test_residual_intervals_sit_at_calibrated_quantiles_of_the_validation_errors():
    rng = np.random.default_rng(3)
    point = rng.standard_normal((2000, 2, 1))
    actual = point + 1.0 + 2.0 * rng.standard_normal((2000, 2, 1))  # errors biased by +1, std 2

    calibration = fit_residuals(point, actual)
    fresh = rng.standard_normal((4000, 2, 1))
    stats = bounds(fresh, calibration.std(2), 0.9, calibration.factor(0.9, 2))

    np.testing.assert_allclose(calibration.scale, np.sqrt(5), rtol=0.05)  # RMS error: sqrt(1² + 2²)
    np.testing.assert_allclose(stats["upper"] - fresh, 1.0 + z_value(0.9) * 2, rtol=0.08)  # the 95th percentile of the errors
    np.testing.assert_allclose(fresh - stats["lower"], -1.0 + z_value(0.9) * 2, rtol=0.1)
    outcome = fresh + 1.0 + 2.0 * rng.standard_normal(fresh.shape)
    assert abs(((outcome >= stats["lower"]) & (outcome <= stats["upper"])).mean() - 0.9) < 0.02
    restored = Calibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    np.testing.assert_allclose(restored.std(3)[:, 0], [*calibration.scale[:, 0], calibration.scale[-1, 0]])


@pytest.mark.parametrize(("args", "message"), [
    (["--mc-samples", "1"], "`--mc-samples` must be at least 2 (a spread needs several passes). Received: 1."),
    (["--mc-samples", "5", "--interval", "1.5"], "`--interval` must be in (0, 1), e.g. 0.9 for a 90% interval. Received: 1.5."),
])
def test_bad_mc_options_are_usage_errors(cli, trained, args, message):
    result = cli("forecast", "--model-dir", trained / "direct", *args)

    assert (result.code, result.out, result.err) == (2, "", f"rnncast: error: {message}\n")


@pytest.mark.parametrize(("model", "dropout", "recurrent_dropout", "expected"), [
    ("gru", 0.1, 0.0, True), ("lstm", 0.0, 0.2, True), ("gru", 0.0, 0.0, False), ("linear", 0.1, 0.0, False),
])
def test_has_dropout_looks_at_the_network_not_the_options(model, dropout, recurrent_dropout, expected):
    from rnncast.rollout import has_dropout
    from rnncast.models import NetworkShape, build_model

    config = TrainConfig(model=model, dropout=dropout, recurrent_dropout=recurrent_dropout, units=4)
    assert has_dropout(build_model(NetworkShape(8, 1, 3, (0,)), config)) is expected


def test_mc_options_validate_in_the_library():
    with pytest.raises(Exception, match="at least 2"):
        MCOptions(samples=0)


def test_plot_is_a_png_with_and_without_error_bars(cli, trained, tmp_path):
    banded, plain = tmp_path / "mc.png", tmp_path / "plain.png"
    with_bars = cli("forecast", "--model-dir", trained / "direct", "--mc-samples", "20", "--seed", "1", "--plot", banded)
    without = cli("forecast", "--model-dir", trained / "plain", "--plot", plain, "--format", "json")

    assert with_bars.code == 0 and without.code == 0
    assert banded.read_bytes()[:8] == PNG_SIGNATURE
    assert plain.read_bytes()[:8] == PNG_SIGNATURE
    assert json.loads(without.out)["targets"] == ["y"]  # the result still goes to stdout


def test_multivariate_mc_forecast_and_plot_with_updated_data(cli, multivariate_csv, tmp_path):
    model_dir = tmp_path / "multi"
    # The default dropout is enough for error bars.
    trained = cli("train", multivariate_csv, *TINY, "--target", "load", "--target", "solar", "--model-dir", model_dir)
    plot = tmp_path / "multi.png"
    result = cli("forecast", "--model-dir", model_dir, "--data", multivariate_csv, "--mc-samples", "20",
                 "--seed", "1", "--plot", plot)

    assert trained.code == 0, trained.err
    assert result.code == 0, result.err
    frame = read_csv(result.out)
    assert list(frame.columns) == [f"{t}{s}" for t in ("load", "solar") for s in ("", "_std", "_lower", "_upper")]
    assert plot.read_bytes()[:8] == PNG_SIGNATURE


def test_plot_to_an_unwritable_path_is_a_usage_error(cli, trained, tmp_path):
    result = cli("forecast", "--model-dir", trained / "plain", "--plot", tmp_path / "missing" / "f.png")

    assert (result.code, result.out) == (2, "")
    assert result.err.startswith(f"rnncast: error: `--plot` {tmp_path / 'missing' / 'f.png'}: cannot write")
