"""Keeping a baseline instead of a network that validation says is worse, and the seasonal-naive figures beside it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import rnncast
from rnncast.store import load_card

from conftest import TINY


def test_a_network_worse_than_seasonal_naive_on_validation_gives_way_to_it(cli, daily_csv, tmp_path):
    """One epoch of four units cannot beat seasonal-naive on a clean weekly cycle: the card keeps the baseline and says why."""
    model_dir = tmp_path / "m"
    result = cli("train", daily_csv, "-d", model_dir, "--format", "json", *[a for a in TINY if a not in ("--no-fallback", "--quiet")])
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
    sampled = cli("forecast", "-d", model_dir, "--mc-samples", "10")
    assert (sampled.code, sampled.out) == (2, "")
    assert sampled.err == (
        "rnncast: error: `--mc-samples` needs a network with dropout, and this model is the seasonal-naive baseline kept instead of "
        "the trained gru, which forecast the validation part worse (see `rnncast info`); retrain with --no-fallback to keep the "
        "network, or forecast without --mc-samples.\n"
    )
    info = cli("info", "-d", model_dir)
    assert "kept seasonal-naive, not the trained gru" in info.out and "(naive " in info.out and ", seasonal-naive " in info.out


def test_fallback_picks_the_baseline_only_when_it_beats_the_model():
    from rnncast.training import better_baseline

    metrics = {"model": {"a": {"mae": 2.0}, "b": {"mae": 10.0}}, "naive": {"a": {"mae": 1.0}, "b": {"mae": 30.0}},
               "seasonal_naive": {"a": {"mae": 3.0}, "b": {"mae": 12.0}}}
    assert better_baseline(metrics, np.array([1.0, 10.0])) is None  # model 1.5 vs naive 2.0, seasonal-naive 2.1 (scaled MAE)
    assert better_baseline(metrics, np.array([1.0, 100.0])) == "naive"  # model 1.05 vs naive 0.65
    assert better_baseline({k: v for k, v in metrics.items() if k != "naive"}, np.array([1.0, 100.0])) is None
