"""Strategies over known predictors, the baseline layers, and the store's round trip."""

from __future__ import annotations

import numpy as np
import pytest

from rnncast.errors import UsageError
from rnncast.rollout import rollout


def shift_by_one(windows: np.ndarray) -> np.ndarray:
    """One step of every column: last value + 1 (an autoregressive model of a ramp)."""
    return windows[:, -1:, :] + 1


def test_autoregressive_rollout_feeds_predictions_back():
    windows = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    result = rollout(shift_by_one, windows, horizon=4, target_index=[1])
    np.testing.assert_array_equal(result[:, :, 0], [[6, 7, 8, 9], [12, 13, 14, 15]])


def test_direct_blocks_chain_and_are_cut_to_the_horizon():
    calls = []

    def two_steps(windows):
        calls.append(windows.copy())
        return windows[:, -1:, :] + np.array([1, 2], dtype=np.float32)[None, :, None]

    windows = np.zeros((1, 4, 1), dtype=np.float32)
    result = rollout(two_steps, windows, horizon=5, target_index=[0])
    np.testing.assert_array_equal(result[0, :, 0], [1, 2, 3, 4, 5])
    assert len(calls) == 3 and calls[1].shape == (1, 4, 1)
    np.testing.assert_array_equal(calls[1][0, :, 0], [0, 0, 1, 2])


def test_direct_model_with_extra_inputs_refuses_to_chain():
    def targets_only(windows):
        return windows[:, -2:, :1]

    windows = np.zeros((1, 4, 3), dtype=np.float32)
    assert rollout(targets_only, windows, horizon=2, target_index=[0]).shape == (1, 2, 1)
    with pytest.raises(UsageError, match="use --horizon 2 or less"):
        rollout(targets_only, windows, horizon=3, target_index=[0])


def test_baseline_layers_repeat_last_value_and_last_season():
    from rnncast.layers import LastValue, SeasonalNaive

    inputs = np.arange(24, dtype=np.float32).reshape(2, 6, 2)
    np.testing.assert_array_equal(np.asarray(LastValue(3, [1])(inputs))[0, :, 0], [11, 11, 11])
    seasonal = np.asarray(SeasonalNaive(5, [0], season=2)(inputs))
    np.testing.assert_array_equal(seasonal[1, :, 0], [20, 22, 20, 22, 20])


def test_naive_model_scores_exactly_like_the_naive_baseline(cli, daily_csv, tmp_path):
    from rnncast.store import load_card

    result = cli("train", daily_csv, "--model", "naive", "-d", tmp_path / "naive", "--window", "8", "--horizon", "3", "-q")
    assert result.code == 0
    metrics = load_card(tmp_path / "naive").metrics
    assert metrics["model"]["y"] == pytest.approx(metrics["naive"]["y"])
    assert load_card(tmp_path / "naive").training["epochs"] == 0


def test_saved_network_predicts_like_the_trained_one(daily_csv, tmp_path):
    from rnncast.config import TrainConfig
    from rnncast.data import load_csv
    from rnncast.store import load_network, save
    from rnncast.training import fit

    fitted = fit(load_csv(daily_csv), TrainConfig(model="lstm", epochs=1, units=4, window=8, horizon=3, seed=0, fallback=False))
    windows = np.random.default_rng(0).standard_normal((5, 8, 1)).astype(np.float32)
    from rnncast.api import ModelCard

    card = ModelCard(config={}, data_options={}, columns=["y"], targets=["y"], time_column=None, freq=None,
                     last_time=0, metrics={}, training={}, source={}, created="", rnncast_version="")
    saved = save(tmp_path / "m", fitted.network, card)
    loaded = load_network(tmp_path / "m", saved)  # the card is a stub, which load_card would refuse
    np.testing.assert_array_equal(loaded.predict(windows, verbose=0), fitted.network.predict(windows, verbose=0))
    assert saved.files["keras"] == f"model-{saved.files['keras_sha256']}.keras"
