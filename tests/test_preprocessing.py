"""Differencing and window-relative normalisation: exact inverses, chosen on validation, undone at forecast time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnncast
from rnncast.cli import run
from rnncast.config import TrainConfig
from rnncast.rollout import MCOptions
from rnncast.preprocessing import PREPROCESS_METHODS, Preprocessing, select_preprocessing
from rnncast.store import load_card

from conftest import TINY


def trending_frame(rows: int = 160, seed: int = 0) -> pd.DataFrame:
    """A weekly-seasonal series whose trend carries the validation part above anything seen in training."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    y = 0.5 * t + 3 * np.sin(2 * np.pi * t / 7) + 0.3 * rng.standard_normal(rows)
    return pd.DataFrame({"date": pd.date_range("2020-01-01", periods=rows, freq="D").astype(str), "y": y})


@pytest.mark.parametrize("method", PREPROCESS_METHODS)
def test_each_method_is_inverted_exactly(method):
    windows = np.arange(2 * 9 * 3, dtype=np.float64).reshape(2, 9, 3) ** 1.5
    future = np.arange(2 * 10 * 2, dtype=np.float64).reshape(2, 10, 2) * 0.7 - 3
    prep = Preprocessing.fit(method, np.arange(30.0).reshape(10, 3) ** 2, season=4)
    encoded = prep.encode(windows, future, [0, 2])
    np.testing.assert_allclose(prep.decode(windows, encoded, [0, 2]), future, rtol=0, atol=1e-9)
    # What the network is trained on equals what it sees at forecast time.
    series = prep.series(windows[0])
    inputs = prep.inputs(windows[:1])[0]
    expected = series - series[-1] if prep.relative else series
    np.testing.assert_allclose(inputs, expected, rtol=1e-6)
    assert inputs.shape == (9 - prep.dropped, 3)


@pytest.mark.parametrize("method", PREPROCESS_METHODS)
def test_training_windows_are_what_forecasting_sees_and_decodes(method):
    """The lazily cut training pairs equal the forecast-time inputs and targets of the same rows."""
    from rnncast.models import NetworkShape
    from rnncast.fitloop import panel_dataset

    values = np.sin(np.arange(40.0)[:, None] * [0.5, 0.9]) + np.arange(40.0)[:, None] * 0.1
    prep = Preprocessing.fit(method, values[:30], season=4)
    shape = NetworkShape(9 - prep.dropped, 2, 3, (0, 1))
    dataset = panel_dataset(prep.series(values)[None], shape, 64, shuffle=False, seed=None, window_map=prep.window_map(shape.window, 3))
    inputs, targets = (np.asarray(t) for t in next(iter(dataset)))
    starts = np.arange(len(inputs))[:, None]
    windows, future = values[starts + np.arange(9)], values[starts + np.arange(9, 12)]
    np.testing.assert_allclose(inputs, prep.inputs(windows), atol=1e-5)
    np.testing.assert_allclose(targets, prep.encode(windows, future, [0, 1]), atol=1e-5)


def test_seasonal_difference_rebuilds_steps_beyond_one_season():
    windows = np.tile(np.array([1.0, 5.0, 2.0]), 3)[None, :, None]  # three seasons of 3
    prep = Preprocessing("seasonal-difference", 3, np.ones(1))
    decoded = prep.decode(windows, np.zeros((1, 7, 1)), [0])
    np.testing.assert_array_equal(decoded[0, :, 0], [1, 5, 2, 1, 5, 2, 1])  # zero change = seasonal-naive


def test_seasonal_residual_is_the_error_of_seasonal_naive_from_the_whole_window():
    windows = np.array([9.0, 1.0, 5.0, 2.0, 4.0, 6.0, 8.0])[None, :, None]  # the last season is 4, 6, 8
    prep = Preprocessing("seasonal-residual", 3, np.full(1, 2.0))
    np.testing.assert_array_equal(prep.decode(windows, np.zeros((1, 5, 1)), [0])[0, :, 0], [4, 6, 8, 4, 6])
    np.testing.assert_array_equal(prep.encode(windows, np.full((1, 2, 1), 10.0), [0])[0, :, 0], [3, 2])
    np.testing.assert_array_equal(prep.inputs(windows)[0, :, 0], [0.5, -3.5, -1.5, -3, -2, -1, 0])  # all 7 rows, minus the last, / scale


def test_selection_prefers_changes_when_the_level_leaves_the_training_range():
    y = trending_frame()["y"].to_numpy()[:, None]
    scaled = (y - y[:128].mean()) / y[:128].std()
    method, summary = select_preprocessing(scaled, 128, 14, 3, 7, [0])
    scores = summary["scores"]
    assert method != "none" and summary["chosen"] == method
    assert scores["difference"] < scores["none"] / 2 and scores["window-relative"] < scores["none"] / 2


def test_differencing_and_window_relative_beat_plain_standardisation_on_a_trend(write_csv, tmp_path):
    csv = write_csv(trending_frame())
    mae = {}
    for method in ("none", "difference", "window-relative"):
        model_dir = tmp_path / method
        settings = ["--units", "8", "--layers", "1", "--epochs", "20", "--window", "14", "--horizon", "3", "--lr", "0.02", "--seed", "1", "--no-fallback", "--quiet"]
        assert run(["train", str(csv), "--model-dir", str(model_dir), "--preprocess", method, *settings]) == 0
        mae[method] = load_card(model_dir).metrics["model"]["y"]["mae"]
    assert mae["difference"] < mae["none"] / 2 and mae["window-relative"] < mae["none"] / 2


@pytest.fixture(scope="module")
def trending_model(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("trend")
    csv = root / "trend.csv"
    trending_frame().to_csv(csv, index=False)
    model_dir = root / "model"
    assert run(["train", str(csv), "--model-dir", str(model_dir), "--window", "14", "--horizon", "3", "--epochs", "2", "--units", "4", "--seed", "1", "--no-fallback", "-q"]) == 0
    return csv, model_dir


def test_card_records_the_choice_and_info_shows_it(cli, trending_model):
    _, model_dir = trending_model
    card = load_card(model_dir)
    chosen = card.metrics["preprocessing"]["chosen"]
    assert card.config["preprocess"] == card.preprocessing["method"] == chosen != "none"
    assert set(card.metrics["preprocessing"]["scores"]) == set(PREPROCESS_METHODS)
    result = cli("info", "--model-dir", model_dir)
    assert result.code == 0 and f"{chosen}, chosen on validation" in result.out


@pytest.mark.parametrize(("method", "strategy"), [
    ("difference", "direct"), ("seasonal-difference", "direct"), ("window-relative", "direct"), ("seasonal-residual", "autoregressive"),
])
def test_forecast_undoes_the_preprocessing(method, strategy, write_csv, tmp_path):
    """A forecast equals the network's output decoded by hand, for both engines, MC samples and new data."""
    frame = trending_frame()
    csv = write_csv(frame)
    model_dir = tmp_path / "model"
    assert run(["train", str(csv), "--model-dir", str(model_dir), "--preprocess", method, "--strategy", strategy, "--window", "14",
                "--horizon", "3", "--epochs", "2", "--units", "4", "--seed", "1", "--no-fallback", "-q"]) == 0
    card = load_card(model_dir)
    assert card.preprocessing["method"] == method and "preprocessing" not in card.metrics

    from rnncast.preprocessing import Standardizer
    from rnncast.store import load_network

    scaler, prep = Standardizer.from_dict(card.series[""]["scaler"]), Preprocessing.from_dict(card.preprocessing)
    windows = scaler.transform(frame[["y"]].to_numpy()[-14:])[None]
    network = load_network(model_dir, card)
    for _ in range(3 if strategy == "autoregressive" else 1):  # one step at a time, fed back
        step = prep.decode(windows, network.predict(prep.inputs(windows[:, -14:]), verbose=0), [0])
        windows = np.concatenate([windows, step], axis=1)
    expected = scaler.inverse(windows[:, 14:], [0])[0, :, 0]
    for engine in ("keras", "onnx"):
        np.testing.assert_allclose(rnncast.forecast(model_dir, engine=engine)["y"], expected, rtol=1e-4)

    shifted = frame.assign(y=frame["y"] + 1000)  # a level never seen in training
    moved = rnncast.forecast(model_dir, data=write_csv(shifted, "new.csv"), engine="keras")["y"]
    np.testing.assert_allclose(moved, expected + 1000, rtol=1e-4)
    chained = rnncast.forecast(model_dir, horizon=7, engine="keras")["y"]
    np.testing.assert_allclose(chained[:3], expected, rtol=1e-4)
    sampled = rnncast.forecast(model_dir, mc=MCOptions(samples=50, seed=0), engine="onnx")
    assert (sampled["y"] - expected).abs().max() < 5 * sampled["y_std"].max() + 1e-6
    assert sampled["y"].min() > frame["y"][:128].max() - 10


@pytest.mark.parametrize(("method", "window", "message"), [
    ("seasonal-difference", "7", "`--preprocess seasonal-difference` differences over 7 rows, so --window must be longer than that. Received: 7."),
    ("seasonal-residual", "6", "`--preprocess seasonal-residual` repeats the last season (7 rows), so --window must be at least that. Received: 6."),
])
def test_window_too_short_for_the_season_is_a_usage_error(cli, write_csv, method, window, message):
    result = cli("train", write_csv(trending_frame()), "--preprocess", method, "--window", window, *TINY[:4], *TINY[6:])
    assert (result.code, result.out) == (2, "")
    assert result.err == f"rnncast: error: {message}\n"


def test_config_rejects_unknown_method():
    with pytest.raises(Exception, match="`--preprocess` must be one of auto, none"):
        TrainConfig(preprocess="log")

