"""`rnncast train DATA --model pretrained`: the shipped forecaster fine-tuned on one series, chosen on
validation against itself unchanged and the baselines, and forecast through the usual path."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import train_into
from rnncast.errors import ExitStatus
from rnncast.store import load_card

ROOT = Path(__file__).resolve().parents[1]


def monthly_frame(rows: int = 96, noise: float = 3.0) -> pd.DataFrame:
    t = np.arange(rows)
    values = 100 + 0.8 * t + 20 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, noise, rows)
    return pd.DataFrame({"date": pd.date_range("2015-01-01", periods=rows, freq="MS").strftime("%Y-%m-%d"), "sales": values.round(1)})


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> tuple[Path, Path, str]:
    """A model fine-tuned on a noisy monthly series, and what `train` printed on stderr."""
    return train_into(tmp_path_factory.mktemp("tuned"), "sales.csv", monthly_frame(), "--model", "pretrained", "--horizon", "12", "--seed", "1")


def test_fine_tuning_keeps_the_better_network_and_says_which(tuned):
    _, model_dir, err = tuned
    card = load_card(model_dir)
    assert (card.config["model"], card.config["window"], card.config["horizon"], card.config["season"]) == ("pretrained", 96, 12, 12)
    choice = card.metrics["pretrained"]
    mae = {kind: choice[kind]["sales"]["mae"] for kind in ("zero-shot", "fine-tuned")}
    assert choice["kept"] == min(mae, key=mae.get)
    assert card.metrics["model"]["sales"]["mae"] == pytest.approx(min(mae.values()))
    assert card.metrics["model"]["sales"]["mae"] < card.metrics["seasonal_naive"]["sales"]["mae"]
    assert f"pretrained: kept the {choice['kept']} network, the lower validation MAE" in err
    assert card.files.keys() >= {"keras", "onnx"} and card.uncertainty["levels"]


def test_info_describes_the_pretrained_model(cli, tuned):
    _, model_dir, _ = tuned
    facts = dict(pd.read_csv(io.StringIO(cli("info", "-d", model_dir, "-f", "csv").out)).to_numpy())
    assert facts["error bars"].startswith("the pretrained network's quantile head (its 5-95% spread as the std")
    assert facts["preprocessing"] == "none"


def test_the_saved_model_forecasts_through_forecast_without_tensorflow(tuned, tmp_path):
    _, model_dir, _ = tuned
    probe = ("import json, sys\nfrom rnncast.cli import run\ncode = run(json.loads(sys.argv[1]))\n"
             "print(json.dumps({'code': int(code), 'tensorflow': 'tensorflow' in sys.modules}), file=sys.stderr)")
    argv = ["forecast", "--model-dir", str(model_dir), "-H", "12", "--mc-samples", "2", "--interval", "0.8"]
    result = subprocess.run([sys.executable, "-c", probe, json.dumps(argv)], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert json.loads(result.stderr.strip().splitlines()[-1]) == {"code": 0, "tensorflow": False}
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns) == ["date", "sales", "sales_std", "sales_lower", "sales_upper"]
    assert frame["date"].iloc[0] == "2023-01-01" and len(frame) == 12
    t = np.arange(96, 108)
    assert np.abs(frame["sales"] - (100 + 0.8 * t + 20 * np.sin(2 * np.pi * t / 12))).mean() < 6
    assert ((frame["sales_lower"] <= frame["sales"]) & (frame["sales"] <= frame["sales_upper"])).all()


def test_forecast_from_updated_data_uses_its_newest_rows(cli, tuned, write_csv):
    _, model_dir, _ = tuned
    shifted = monthly_frame(108).assign(sales=lambda f: f["sales"] + 1000)
    frame = pd.read_csv(io.StringIO(cli("forecast", "--model-dir", model_dir, "--data", write_csv(shifted), "-H", "3").out))
    assert frame["date"].iloc[0] == "2024-01-01" and (frame["sales"] > 1000).all()


def test_a_series_a_baseline_forecasts_exactly_falls_back(cli, write_csv, tmp_path):
    pattern = np.tile([10.0, 30.0, 20.0, 50.0, 40.0, 60.0, 10.0, 0.0, 5.0, 15.0, 25.0, 35.0], 8)
    data = write_csv(pd.DataFrame({"date": pd.date_range("2015-01-01", periods=96, freq="MS").strftime("%Y-%m-%d"), "y": pattern}))
    assert cli("train", data, "--model", "pretrained", "-H", "6", "--epochs", "2", "-q", "-d", tmp_path / "m").code == 0
    card = load_card(tmp_path / "m")
    assert card.config["model"] == "seasonal-naive"
    assert card.metrics["fallback"]["network"]["model"] == "pretrained"
    assert "its validation MAE is lower than the pretrained model's" in card.metrics["fallback"]["reason"]
    kept = cli("train", data, "--model", "pretrained", "-H", "6", "--epochs", "1", "--no-fallback", "-q", "-d", tmp_path / "n")
    assert kept.code == 0 and load_card(tmp_path / "n").config["model"] == "pretrained"


@pytest.mark.parametrize(("args", "message"), [
    (("--units", "8"), "--units: not an option of --model pretrained, whose network is fixed; it takes --horizon, --season"),
    (("--horizon", "49"), "`--horizon` 49 is beyond the pretrained model's 48 steps"),
])
def test_usage_errors(cli, write_csv, args, message):
    result = cli("train", write_csv(monthly_frame()), "--model", "pretrained", "-q", *args)
    assert result.code == ExitStatus.USAGE and result.out == ""
    assert result.err.startswith(f"rnncast: error: {message}") and result.err.count("\n") == 1


def test_a_series_too_short_to_fine_tune_is_bad_data(cli, write_csv):
    result = cli("train", write_csv(monthly_frame(12), "short.csv"), "--model", "pretrained", "-H", "6", "-q")
    assert result.code == ExitStatus.BAD_DATA
    assert result.err == ("rnncast: error: short.csv: has 12 rows; fine-tuning the pretrained model with --horizon 6 needs at least 13 "
                          "(training windows and a validation tail); forecast it zero-shot with `rnncast forecast --data`.\n")
