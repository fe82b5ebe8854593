"""Ensembles: the median of the members is what is stored and served, every member round-trips
through the model directory, MC samples pool across members, and meaningless ensembles are refused."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnncast
from conftest import seasonal_frame, train_into
from rnncast.config import TrainConfig
from rnncast.engines import Engine
from rnncast.members import Member, median_forecast, pooled_paths
from rnncast.errors import ExitStatus
from rnncast.store import CARD_NAME, load_card

# No preprocessing, so that a member's forecast is its network's output, unscaled.
SETTINGS = ["--dropout", "0.2", "--epochs", "1", "--units", "4", "--layers", "1", "--window", "8", "--horizon", "3", "--preprocess", "none"]


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory) -> tuple[Path, Path, str]:
    """Two GRU seeds (1 and 2) with dropout on a daily series: (csv, model_dir, stderr of train)."""
    return train_into(tmp_path_factory.mktemp("ensemble"), "daily.csv", seasonal_frame(), "--ensemble", "2", "--seed", "1", *SETTINGS)


def member_networks(model_dir: Path) -> list:
    from rnncast._keras import import_keras

    keras = import_keras()
    members = load_card(model_dir).ensemble["members"]
    return [keras.saving.load_model(model_dir / m["files"]["keras"], compile=False, safe_mode=True) for m in members]


def unscale(card, values: np.ndarray) -> np.ndarray:
    scaler = card.series[""]["scaler"]
    return values * scaler["scale"][0] + scaler["mean"][0]


def test_every_member_is_saved_hashed_under_the_one_card(ensemble):
    _, model_dir, stderr = ensemble
    card = load_card(model_dir)
    members = card.ensemble["members"]
    assert (card.ensemble["kind"], card.ensemble["combine"], card.config["ensemble"]) == ("seeds", "median", 2)
    assert [(m["model"], m["seed"], m["config"]["seed"]) for m in members] == [("gru", 1, 1), ("gru", 2, 2)]
    named = [m["files"][k] for m in members for k in ("keras", "onnx", "onnx_mc")]
    assert sorted(p.name for p in model_dir.iterdir() if not p.name.endswith(".lock")) == sorted([CARD_NAME, *named])
    assert all(m["files"]["keras"] == f"model-{m['files']['keras_sha256']}.keras" for m in members)
    assert len(set(named)) == 6 and card.files == {}
    maes = sorted(m["metrics"]["model"]["y"]["mae"] for m in members)
    assert "Saved the median of 2 gru seeds (direct, window 8, horizon 3)" in stderr
    assert f"members' validation MAE: y {maes[0]:.4g}..{maes[1]:.4g} (their median forecast {card.metrics['model']['y']['mae']:.4g})." in stderr


@pytest.mark.parametrize("engine", ["onnx", "keras"])
def test_forecast_serves_the_median_of_the_members_own_forecasts(ensemble, engine):
    _, model_dir, _ = ensemble
    card = load_card(model_dir)
    saved = card.series[""]
    window = (np.asarray(saved["last_window"]) - saved["scaler"]["mean"]) / saved["scaler"]["scale"]
    own = np.stack([unscale(card, n.predict(window[None].astype(np.float32), verbose=0)[0, :, 0]) for n in member_networks(model_dir)])
    served = rnncast.forecast(model_dir, engine=engine)["y"].to_numpy()
    np.testing.assert_allclose(served, np.median(own, axis=0), rtol=1e-5)
    assert np.abs(own[0] - own[1]).min() > 1e-4  # the members differ, so the median is neither of them


def test_card_holds_the_validation_errors_of_the_median_and_of_each_member(ensemble):
    """Recomputed from the saved networks, they match what was measured in memory before saving."""
    from rnncast.windows import origins, validation_rows

    csv, model_dir, _ = ensemble
    card = load_card(model_dir)
    values = pd.read_csv(csv)["y"].to_numpy()
    train_end = len(values) - validation_rows(len(values), 3, 0.2)
    starts = train_end + origins(len(values) - train_end, 0, 3)
    scaler = card.series[""]["scaler"]
    windows = ((values[starts[:, None] + np.arange(-8, 0)] - scaler["mean"][0]) / scaler["scale"][0])[..., None]
    actual = values[starts[:, None] + np.arange(3)]
    forecasts = [unscale(card, n.predict(windows.astype(np.float32), verbose=0)[..., 0]) for n in member_networks(model_dir)]
    for forecast, member in zip(forecasts, card.ensemble["members"]):
        assert np.abs(forecast - actual).mean() == pytest.approx(member["metrics"]["model"]["y"]["mae"], rel=1e-6)
    median_mae = np.abs(np.median(forecasts, axis=0) - actual).mean()
    assert card.metrics["model"]["y"]["mae"] == pytest.approx(median_mae, rel=1e-6)
    assert card.metrics["windows"] == len(starts)


def test_backtest_of_an_ensemble_forecasts_the_median_of_its_seeds(daily_csv):
    """Also reproducibility: member i is exactly the single model trained with --seed + i."""
    from rnncast.backtest import zoo_fitter
    from rnncast.data import load_csv
    from rnncast.card import ONE_SERIES
    from rnncast.dataset import Panel

    series = Panel.of(load_csv(daily_csv))
    keys = [ONE_SERIES] * 2
    linear = TrainConfig(model="linear", epochs=1, window=8, horizon=3, preprocess="none", fallback=False)
    histories = [series.first.frame.to_numpy()[:end] for end in (90, 100)]
    known = [np.full((3, 1), np.nan)] * 2  # the series has no known-future inputs
    ensemble = zoo_fitter(dataclasses.replace(linear, seed=5, ensemble=2))(series)(keys, histories, known).point
    seeds = [zoo_fitter(dataclasses.replace(linear, seed=seed))(series)(keys, histories, known).point for seed in (5, 6)]
    np.testing.assert_allclose(ensemble, np.median(seeds, axis=0), rtol=1e-6)
    assert np.abs(seeds[0] - seeds[1]).min() > 1e-4


def test_mc_forecast_pools_the_members_samples(cli, ensemble):
    _, model_dir, _ = ensemble
    first = cli("forecast", "-d", model_dir, "--mc-samples", "20", "--seed", "3")
    assert first.code == 0, first.err
    frame = pd.read_csv(io.StringIO(first.out), index_col=0)
    assert list(frame.columns) == ["y", "y_std", "y_lower", "y_upper"] and len(frame) == 3
    assert (frame["y_lower"] < frame["y"]).all() and (frame["y"] < frame["y_upper"]).all() and (frame["y_std"] > 0).all()
    assert cli("forecast", "-d", model_dir, "--mc-samples", "20", "--seed", "3").out == first.out
    assert load_card(model_dir).uncertainty["samples"] == 2 * 100  # calibrated on both members' samples


def test_pooling_slices_each_members_window_and_repeats_a_deterministic_path():
    seen = []

    def noisy(windows):
        seen.append(windows.shape[1])
        return windows[:, -1:, :] + rng.standard_normal((len(windows), 3, 1))

    def last_value(windows):
        seen.append(windows.shape[1])
        return np.repeat(windows[:, -1:, :], 3, axis=1) + 100

    rng = np.random.default_rng(0)
    members = [Member(6, Engine("test", noisy, lambda seed: noisy)), Member(2, Engine("test", last_value, None))]
    recent = np.arange(2 * 6, dtype=np.float32).reshape(2, 6, 1)
    paths = pooled_paths(members, recent, horizon=3, target_index=[0], samples=50, seed=0)
    assert paths.shape == (2, 100, 3, 1)
    assert seen == [6, 2]
    np.testing.assert_array_equal(paths[:, 50:, :, 0], np.broadcast_to([[[105.0]], [[111.0]]], (2, 50, 3)))
    assert paths[:, :50].std(axis=1).min() > 0.5


def test_median_combines_members_per_step():
    members = [Member(1, Engine("test", lambda w, v=v: np.full((len(w), 2, 1), v, dtype=np.float32), None)) for v in (1.0, 7.0, 3.0)]
    np.testing.assert_array_equal(median_forecast(members, np.zeros((4, 1, 1)), 2, [0]), np.full((4, 2, 1), 3.0))


def test_info_lists_the_members(cli, ensemble):
    _, model_dir, _ = ensemble
    members = load_card(model_dir).ensemble["members"]
    rows = pd.read_csv(io.StringIO(cli("info", "-d", model_dir, "-f", "csv").out), index_col="field")["value"]
    assert rows["ensemble"] == "the median of 2 gru seeds; the validation above is of their median"
    for i, member in enumerate(members, start=1):
        assert rows[f"member {i}"] == f"gru, seed {i}, validation MAE y {member['metrics']['model']['y']['mae']:.4g}"


def test_a_damaged_member_file_refuses_the_model(cli, ensemble, tmp_path):
    _, model_dir, _ = ensemble
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    damaged = copy / load_card(copy).ensemble["members"][1]["files"]["onnx"]
    damaged.write_bytes(damaged.read_bytes()[:-1])
    result = cli("forecast", "-d", copy)
    assert result.code == ExitStatus.MODEL
    assert result.err == f"rnncast: error: {damaged}: the file does not match the hash in the card (modified or damaged); train again.\n"


def test_evaluate_refuses_to_refit_an_ensemble_of_the_best_models(cli, ensemble, tmp_path):
    csv, model_dir, _ = ensemble
    copy = tmp_path / "top"
    shutil.copytree(model_dir, copy)
    card = json.loads((copy / CARD_NAME).read_text())
    card["ensemble"]["kind"] = "top-k"
    (copy / CARD_NAME).write_text(json.dumps(card))
    result = cli("evaluate", csv, "-d", copy)
    assert result.code == ExitStatus.USAGE
    assert result.err == (
        f"rnncast: error: {copy}: is an ensemble of the best 2 models of --model auto, which a backtest does not refit; "
        "compare them with `rnncast compare DATA.csv --models gru,gru`.\n"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["train", "{csv}", "--ensemble", "0"], "`--ensemble` must be at least 1 (1 is a single model). Received: 0."),
        (["train", "{csv}", "--model", "naive", "--ensemble", "3"],
         "`--ensemble 3` trains seeds of a model, and --model naive has nothing to train (every seed forecasts the same); "
         "use a trained model such as gru, or `rnncast train --model auto` for the best K models."),
        (["compare", "{csv}", "--models", "naive,seasonal-naive", "--ensemble", "2"],
         "`--ensemble 2` fits seeds of the models asked for, and naive, seasonal-naive have nothing to train "
         "(every seed forecasts the same); add a trained model such as gru."),
        (["train", "{csv}", "--model", "auto", "--ensemble", "7"],
         "`--ensemble` with --model auto takes the best K of the 6 candidates (naive, seasonal-naive, linear, simple-rnn, "
         "lstm, gru), so K must be at most 6. Received: 7."),
    ],
)
def test_meaningless_ensembles_are_usage_errors(cli, write_csv, arguments, message):
    from test_panel import long_frame

    paths = {"csv": write_csv(seasonal_frame()), "long": write_csv(long_frame(id_column="store"), "long.csv")}
    result = cli(*[a.format(**paths) for a in arguments])
    assert (result.code, result.out, result.err) == (ExitStatus.USAGE, "", f"rnncast: error: {message}\n")
