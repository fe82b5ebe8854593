"""Zero-shot forecasts from the weights shipped in the package: `rnncast forecast --data FILE`
with no saved model, or `--model pretrained`."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnncast.errors import ExitStatus
from rnncast.pretrained import KERAS_FILE, MIN_CONTEXT, ONNX_FILE, SPEC_FILE, WEIGHTS, anchor, encode, left_padded, load_spec

ROOT = Path(__file__).resolve().parents[1]
NO_MODEL = "warning: no saved model in rnncast-model: forecasting zero-shot with the pretrained model"


def monthly_frame(rows: int = 96, seed: int = 0) -> pd.DataFrame:
    """A trend, a yearly season of amplitude 20 and noise of std 3, monthly from 2015."""
    t = np.arange(rows)
    noise = np.random.default_rng(seed).normal(0, 3, rows)
    return pd.DataFrame({"date": pd.date_range("2015-01-01", periods=rows, freq="MS").strftime("%Y-%m-%d"),
                         "sales": (100 + 0.8 * t + 20 * np.sin(2 * np.pi * t / 12) + noise).round(1)})


def truth(steps: np.ndarray) -> np.ndarray:
    return 100 + 0.8 * steps + 20 * np.sin(2 * np.pi * steps / 12)


@pytest.fixture
def monthly_csv(write_csv) -> Path:
    return write_csv(monthly_frame(), "sales.csv")


def read(out: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(out))


def test_the_package_declares_and_ships_the_weights_its_spec_names():
    spec = load_spec()
    assert (spec.context, spec.horizon, spec.quantiles, spec.anchor) == (104, 48, (0.05, 0.1, 0.5, 0.9, 0.95), "seasonal")
    for suffix, name in (("onnx", ONNX_FILE), ("keras", KERAS_FILE)):
        assert hashlib.sha256((WEIGHTS / name).read_bytes()).hexdigest() == spec.files[suffix]
    assert sum((WEIGHTS / name).stat().st_size for name in (ONNX_FILE, KERAS_FILE, SPEC_FILE)) < 3 * 2**20
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["rnncast"]
    assert {f"weights/{name}" for name in (ONNX_FILE, KERAS_FILE, SPEC_FILE)} <= set(declared)
    # The shipped weights are the training run's, as pretrain/export.py copies them.
    run = ROOT / "pretrain" / "weights" / spec.run / "model.keras"
    assert hashlib.sha256(run.read_bytes()).hexdigest() == spec.files["keras"]


def test_encoding_scales_by_the_context_and_the_anchor_repeats_the_last_season():
    past, mask = left_padded([np.arange(1.0, 9.0)], 10)
    assert mask.tolist() == [[False, False] + [True] * 8]
    inputs, scale = encode(past, mask, np.array([4]))
    assert inputs.shape == (1, 10, 5) and scale == pytest.approx([4.5])
    np.testing.assert_allclose(inputs[0, 2:, 0], np.arange(1.0, 9.0) / 4.5, rtol=1e-6)
    np.testing.assert_allclose(inputs[0, :, 4], np.log(4) / np.log(52), rtol=1e-6)
    assert anchor(past, mask, np.array([4]), 6, "seasonal").tolist() == [[5, 6, 7, 8, 5, 6]]
    assert anchor(past, mask, np.array([12]), 3, "seasonal").tolist() == [[8, 8, 8]]  # less than a season: the last value
    assert anchor(past, mask, np.array([4]), 2, "last").tolist() == [[8, 8]]


def test_forecast_without_a_saved_model_is_zero_shot(cli, monthly_csv):
    result = cli("forecast", "--data", monthly_csv, "--horizon", "12")
    assert result.code == 0, result.err
    assert result.err.startswith(NO_MODEL)
    frame = read(result.out)
    assert list(frame.columns) == ["date", "sales"]
    assert frame["date"].tolist() == list(pd.date_range("2023-01-01", periods=12, freq="MS").strftime("%Y-%m-%d"))
    # The season is learnt from the data, not flattened: well within the amplitude of 20.
    assert np.abs(frame["sales"].to_numpy() - truth(np.arange(96, 108))).mean() < 6
    asked = cli("forecast", "--data", monthly_csv, "--horizon", "12", "--model", "pretrained")
    assert asked.code == 0 and asked.err == "" and asked.out == result.out


def test_the_season_comes_from_the_frequency_unless_given(cli, monthly_csv):
    default = read(cli("forecast", "--data", monthly_csv, "-H", "12", "-m", "pretrained").out)["sales"]
    twelve = read(cli("forecast", "--data", monthly_csv, "-H", "12", "-m", "pretrained", "--season", "12").out)["sales"]
    none = read(cli("forecast", "--data", monthly_csv, "-H", "12", "-m", "pretrained", "--season", "1").out)["sales"]
    np.testing.assert_allclose(default, twelve)
    assert np.abs(none - default).max() > 1
    # The default horizon is one season.
    assert len(read(cli("forecast", "--data", monthly_csv, "-m", "pretrained").out)) == 12


def test_intervals_are_calibrated_and_honour_the_level(cli, monthly_csv):
    frames = {level: read(cli("forecast", "--data", monthly_csv, "-H", "12", "-m", "pretrained", "--mc-samples", "2",
                              "--interval", level).out) for level in ("0.8", "0.9", "0.95")}
    assert list(frames["0.9"].columns) == ["date", "sales", "sales_std", "sales_lower", "sales_upper"]
    widths = {level: (frame["sales_upper"] - frame["sales_lower"]).to_numpy() for level, frame in frames.items()}
    assert (widths["0.8"] < widths["0.9"]).all() and (widths["0.9"] < widths["0.95"]).all()
    frame = frames["0.9"]
    assert ((frame["sales_lower"] <= frame["sales"]) & (frame["sales"] <= frame["sales_upper"])).all()
    assert (frame["sales_std"] > 0).all()
    raw = read(cli("forecast", "--data", monthly_csv, "-H", "12", "-m", "pretrained", "--mc-samples", "2", "--no-calibrate").out)
    np.testing.assert_allclose(raw["sales"], frame["sales"])
    assert np.abs(raw["sales_upper"] - frame["sales_upper"]).max() > 0.01


def test_calibrated_intervals_cover_held_out_values_at_their_level():
    from rnncast.zeroshot import forecast

    rng = np.random.default_rng(3)
    histories, futures = [], []
    for _ in range(200):
        steps = np.arange(72)
        level = 50 + np.cumsum(rng.normal(0, rng.uniform(0.2, 2), 72))
        series = level + rng.uniform(0, 10) * np.sin(2 * np.pi * steps / 12) + rng.normal(0, rng.uniform(0.5, 3), 72)
        histories.append(series[:60])
        futures.append(series[60:])
    result = forecast([f"s{i}" for i in range(200)], histories, [12] * 200, 12, interval=0.9)
    inside = (result["lower"] <= np.array(futures)) & (np.array(futures) <= result["upper"])
    assert result["mean"].shape == result["lower"].shape == (200, 12)
    assert 0.8 <= inside.mean() <= 0.97


def test_every_target_and_every_series_of_a_long_file(cli, write_csv):
    wide = write_csv(pd.DataFrame({"t": range(40), "a": np.arange(40.0), "b": 100 - np.arange(40.0)}), "wide.csv")
    result = read(cli("forecast", "--data", wide, "-H", "3", "-m", "pretrained").out)
    assert list(result.columns) == ["t", "a", "b"] and result["t"].tolist() == [40, 41, 42]
    assert result["a"].to_numpy() == pytest.approx([40, 41, 42], abs=1.5)
    assert result["b"].to_numpy() == pytest.approx([60, 59, 58], abs=1.5)
    frames = [monthly_frame(60 + 12 * k, seed=k).assign(store=f"s{k}") for k in range(3)]
    long = write_csv(pd.concat(frames), "long.csv")
    out = cli("forecast", "--data", long, "--id-column", "store", "-H", "4", "-m", "pretrained", "--mc-samples", "2")
    assert out.code == 0, out.err
    frame = read(out.out)
    assert list(frame.columns) == ["store", "date", "sales", "sales_std", "sales_lower", "sales_upper"]
    assert frame.groupby("store").size().to_dict() == {"s0": 4, "s1": 4, "s2": 4}
    assert frame.loc[frame["store"] == "s1", "date"].iloc[0] == "2021-01-01"
    one = read(cli("forecast", "--data", long, "--id-column", "store", "-H", "4", "-m", "pretrained", "--id", "s1").out)
    np.testing.assert_allclose(one["sales"], frame.loc[frame["store"] == "s1", "sales"])


def test_a_plot_of_a_zero_shot_forecast(cli, monthly_csv, tmp_path):
    result = cli("forecast", "--data", monthly_csv, "-m", "pretrained", "--mc-samples", "2", "--plot", tmp_path / "f.png")
    assert result.code == 0, result.err
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(("args", "code", "message"), [
    (("-H", "49"), ExitStatus.USAGE, "`--horizon` 49 is beyond the pretrained model's 48 steps; forecast at most 48, "
                                     "or train a model for it (`rnncast train DATA.csv --horizon 49`)."),
    (("--model", "gru"), ExitStatus.USAGE, "`--model` of forecast must be pretrained (the model shipped with rnncast); "
                                           "a trained model is read from --model-dir. Received: gru."),
    (("--engine", "keras"), ExitStatus.USAGE, "`--engine keras`: the pretrained model runs on onnxruntime; drop --engine or pass onnx."),
    (("--season", "0"), ExitStatus.USAGE, "`--season` must be at least 1. Received: 0."),
    (("--id", "s1"), ExitStatus.USAGE, "`--id` picks series of a long-format CSV (--id-column); this file has one series."),
])
def test_usage_errors_are_one_line(cli, monthly_csv, args, code, message):
    result = cli("forecast", "--data", monthly_csv, "-m", "pretrained", "-q", *args)
    assert (result.code, result.out, result.err) == (code, "", f"rnncast: error: {message}\n")


def test_a_series_too_short_is_bad_data(cli, write_csv):
    short = write_csv(monthly_frame(MIN_CONTEXT - 1), "short.csv")
    result = cli("forecast", "--data", short, "-m", "pretrained")
    assert (result.code, result.out) == (ExitStatus.BAD_DATA, "")
    assert result.err == f"rnncast: error: short.csv: has {MIN_CONTEXT - 1} rows; the pretrained model needs at least {MIN_CONTEXT}.\n"
    missing = cli("forecast", "-m", "pretrained")
    assert missing.code == ExitStatus.USAGE and "pass --data FILE.csv" in missing.err


def test_a_series_too_short_for_calibration_gets_raw_quantiles_and_says_so(cli, write_csv):
    short = write_csv(monthly_frame(20), "short.csv")
    result = cli("forecast", "--data", short, "-m", "pretrained", "-H", "12", "--mc-samples", "2")
    assert result.code == 0
    assert ("warning: short.csv: too short to calibrate the intervals on the series' own tail (22 rows needed for this horizon); "
            "they are the pretrained model's raw quantiles.") in result.err
    assert len(read(result.out)) == 12


def test_a_saved_model_is_used_when_there_is_one(cli, monthly_csv, tmp_path):
    assert cli("train", monthly_csv, "--model", "naive", "--horizon", "3", "--quiet").code == 0
    result = cli("forecast", "--data", monthly_csv)
    assert result.code == 0 and result.err == ""
    assert read(result.out)["sales"].tolist() == [monthly_frame()["sales"].iloc[-1]] * 3
    refused = cli("forecast", "--data", monthly_csv, "--season", "12")
    assert refused.code == ExitStatus.USAGE and "apply to the pretrained model" in refused.err


PROBE = """
import json, sys
from rnncast.cli import run
code = run(json.loads(sys.argv[1]))
print(json.dumps({"code": int(code), "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}), file=sys.stderr)
"""


def test_zero_shot_never_imports_tensorflow(monthly_csv, tmp_path):
    argv = ["forecast", "--data", str(monthly_csv), "-H", "12", "--mc-samples", "2", "-q"]
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert json.loads(result.stderr.strip().splitlines()[-1]) == {"code": 0, "tensorflow": False, "keras": False}
    assert len(read(result.stdout)) == 12


def test_the_model_list_names_the_pretrained_model(cli):
    listed = {m["model"]: m["description"] for m in json.loads(cli("models", "--format", "json").out)}
    assert "zero-shot (forecast --data FILE, no training)" in listed["pretrained"] and "gru" in listed

