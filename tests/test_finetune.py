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

from conftest import seasonal_frame, train_into
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


def test_a_baseline_falls_back_with_a_window_of_its_season_on_a_series_shorter_than_five_seasons(cli, write_csv, tmp_path):
    # 48 rows: a fifth of them (9) is shorter than the season seasonal-naive repeats; the baseline gets a window of its season.
    pattern = np.tile([10.0, 30.0, 20.0, 50.0, 40.0, 60.0, 10.0, 0.0, 5.0, 15.0, 25.0, 35.0], 4)
    data = write_csv(pd.DataFrame({"date": pd.date_range("2015-01-01", periods=48, freq="MS").strftime("%Y-%m-%d"), "y": pattern}))
    assert cli("train", data, "--model", "pretrained", "-H", "12", "--epochs", "1", "-q", "-d", tmp_path / "m").code == 0
    card = load_card(tmp_path / "m")
    assert (card.config["model"], card.config["window"]) == ("seasonal-naive", 12)
    assert card.metrics["model"]["y"]["mae"] == pytest.approx(0, abs=1e-4)


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


def many_frame() -> pd.DataFrame:
    """Three monthly series on scales a thousand apart, one too short to fine-tune on and one too short to read."""
    parts = [monthly_frame(60).assign(sales=lambda f, s=scale: (f["sales"] * s).round(1), store=name)
             for name, scale in (("a", 1.0), ("b", 100.0), ("c", 0.1))]
    return pd.concat([*parts, monthly_frame(9).assign(store="brief"), monthly_frame(5).assign(store="tiny")]).rename(columns={"store": "unique_id"})


@pytest.fixture(scope="module")
def tuned_many(tmp_path_factory) -> tuple[Path, Path, str]:
    return train_into(tmp_path_factory.mktemp("many"), "stores.csv", many_frame(), "--model", "pretrained", "-H", "6", "--epochs", "2",
                      "--seed", "1")


def test_many_series_are_fine_tuned_together_and_scored_per_series(tuned_many):
    _, model_dir, err = tuned_many
    card = load_card(model_dir)
    assert card.config["model"] == "pretrained" and sorted(card.series) == ["a", "b", "brief", "c"] and card.skipped == {"tiny": 5}
    assert "skipping 1 of 5 series with fewer than the 6 rows the pretrained model reads: tiny (5 rows)." in err
    assert ("1 of 5 series have fewer than the 13 rows of a training window and a validation tail; the network is fine-tuned on the "
            "others and forecasts them too: brief (9 rows).") in err
    per = card.metrics["series"]
    assert sorted(per) == ["a", "b", "c"]  # brief has no full horizon after the 6 rows the network reads first
    assert card.metrics["windows"] == sum(one["windows"] for one in per.values()) == 3 * 7
    for kind in ("model", "naive", "seasonal_naive"):
        assert card.metrics[kind]["sales"]["mae"] == pytest.approx(np.mean([per[k][kind]["sales"]["mae"] for k in per]))
    # Each series' errors are in its own units: b's are about a hundred times a's.
    assert 30 < per["b"]["naive"]["sales"]["mae"] / per["a"]["naive"]["sales"]["mae"] < 300
    assert f"pretrained: kept the {card.metrics['pretrained']['kept']} network" in err


def test_a_fine_tuned_model_of_many_series_forecasts_each_from_its_window_or_an_update(cli, tuned_many):
    csv, model_dir, _ = tuned_many
    saved = pd.read_csv(io.StringIO(cli("forecast", "-d", model_dir, "--mc-samples", "2").out))
    assert saved["unique_id"].tolist() == ["a"] * 6 + ["b"] * 6 + ["brief"] * 6 + ["c"] * 6
    assert saved["date"].iloc[0] == "2020-01-01" and (saved["sales_lower"] <= saved["sales"]).all()
    level = saved.groupby("unique_id")["sales"].mean()
    assert 50 < level["b"] / level["a"] < 200 and 0.05 < level["c"] / level["a"] < 0.2
    updated = pd.read_csv(io.StringIO(cli("forecast", "-d", model_dir, "--data", csv, "--mc-samples", "2").out))
    pd.testing.assert_frame_equal(updated, saved)
    assert saved[saved["unique_id"] == "brief"]["date"].iloc[0] == "2015-10-01"
    tiny = cli("forecast", "-d", model_dir, "--id", "tiny")
    assert tiny.code == ExitStatus.USAGE and "tiny: the series was skipped in training (5 rows" in tiny.err


def test_an_ensemble_of_the_pretrained_model_is_refused_for_why(cli, write_csv):
    result = cli("train", write_csv(monthly_frame()), "--model", "pretrained", "--ensemble", "2", "-q")
    assert result.code == ExitStatus.USAGE
    assert result.err.startswith("rnncast: error: `--ensemble 2` trains seeds of a model, and every seed of --model pretrained starts")


def test_backtests_fine_tune_the_pretrained_model_at_each_fit_and_score_its_intervals(cli, write_csv):
    one = cli("evaluate", write_csv(monthly_frame()), "--model", "pretrained", "-H", "6", "--folds", "2", "--epochs", "1",
              "--mc-samples", "40", "--seed", "1", "-f", "json", "-q")
    assert one.code == 0, one.err
    scores = {m["model"]: m["targets"]["sales"]["overall"] for m in json.loads(one.out)["models"]}
    assert scores.keys() == {"pretrained", "naive", "seasonal-naive", "linear"}
    assert np.isfinite(scores["pretrained"]["mase"]) and 0 <= scores["pretrained"]["coverage"] <= 1 and scores["pretrained"]["width"] > 0
    assert scores["pretrained"]["mase"] < scores["naive"]["mase"]  # a trending seasonal series: the network reads both
    many = cli("compare", write_csv(many_frame(), "stores.csv"), "--models", "pretrained", "-H", "6", "--folds", "2", "--seed", "1",
               "-f", "json", "-q")
    assert many.code == 0, many.err
    pretrained = next(m for m in json.loads(many.out)["models"] if m["model"] == "pretrained")
    assert sorted(pretrained["series"]) == ["a", "b", "c"] and all(np.isfinite(s["sales"]["mase"]) for s in pretrained["series"].values())


def test_known_inputs_are_refused_by_the_pretrained_model_in_a_backtest_too(cli, write_csv):
    frame = monthly_frame().assign(promo=np.arange(96) % 5 == 0)
    result = cli("evaluate", write_csv(frame.assign(promo=frame["promo"].astype(int))), "--model", "pretrained", "--known", "promo", "-q")
    assert result.code == ExitStatus.USAGE and result.err.startswith("rnncast: error: the pretrained model reads each target's own history only")


def test_auto_backtests_the_pretrained_model_beside_the_zoo_unless_known_inputs_rule_it_out(cli, write_csv, tmp_path, monkeypatch):
    monkeypatch.setattr("rnncast.selection.AUTO_MODELS", ("naive", "linear", "pretrained"))
    frame = monthly_frame()
    chosen = cli("train", write_csv(frame), "--model", "auto", "-H", "6", "--epochs", "1", "--seed", "1", "-q", "-d", tmp_path / "a")
    assert chosen.code == 0, chosen.err
    selection = load_card(tmp_path / "a").metrics["selection"]
    assert sorted(selection["candidates"]) == ["linear", "naive", "pretrained", "seasonal-naive"] and selection["fits"] == 2
    assert load_card(tmp_path / "a").config["model"] == selection["chosen"]
    known = cli("train", write_csv(frame.assign(promo=np.arange(96) % 7 == 0).astype({"promo": int}), "promo.csv"), "--known", "promo",
                "--model", "auto", "-H", "6", "--epochs", "1", "--seed", "1", "-q", "-d", tmp_path / "k")
    assert known.code == 0, known.err
    assert "pretrained" not in load_card(tmp_path / "k").metrics["selection"]["candidates"]


def test_init_trains_on_from_a_saved_network_with_its_settings(cli, write_csv, tmp_path):
    csv = write_csv(seasonal_frame(), "daily.csv")
    assert cli("train", csv, "--model", "lstm", "--window", "10", "-H", "3", "--units", "8", "--epochs", "3", "--seed", "1",
               "--no-fallback", "-q", "-d", tmp_path / "base").code == 0
    # A learning rate too small to move the weights: what is saved is, within round-off, the network it started from.
    result = cli("train", csv, "--init", tmp_path / "base", "--lr", "1e-9", "--epochs", "1", "--seed", "2", "--no-fallback", "-d", tmp_path / "on")
    assert result.code == 0, result.err
    card = load_card(tmp_path / "on")
    assert (card.config["model"], card.config["window"], card.config["units"], card.config["learning_rate"]) == ("lstm", 10, 8, 1e-9)
    choice = card.metrics["init"]
    assert choice["from"] == str(tmp_path / "base") and choice["kept"] in ("saved", "continued")
    assert card.metrics["model"] == choice[choice["kept"]]
    assert choice["saved"]["y"]["mae"] == pytest.approx(choice["continued"]["y"]["mae"], rel=1e-3)
    assert f"init: from {tmp_path / 'base'}, kept the {choice['kept']} network" in result.err
    facts = dict(pd.read_csv(io.StringIO(cli("info", "-d", tmp_path / "on", "-f", "csv").out)).to_numpy())
    assert facts["init"].startswith(f"from {tmp_path / 'base'}, kept the {choice['kept']} network, the lower validation MAE (saved y ")
    before, after = (pd.read_csv(io.StringIO(cli("forecast", "-d", tmp_path / name).out))["y"] for name in ("base", "on"))
    np.testing.assert_allclose(after, before, rtol=1e-3)
    shipped = cli("train", write_csv(monthly_frame(), "m.csv"), "--init", "pretrained", "-H", "6", "--epochs", "1", "-q", "-d", tmp_path / "pre")
    assert shipped.code == 0 and load_card(tmp_path / "pre").config["model"] == "pretrained"


@pytest.mark.parametrize(("args", "code", "message"), [
    (("--units", "4"), ExitStatus.USAGE, "--units: --init continues the network in {base} with its own settings (lstm, window 10, horizon 3)"),
    (("--model", "gru"), ExitStatus.USAGE, "`--init` and `--model` exclude each other"),
])
def test_init_refuses_settings_of_the_network(cli, write_csv, tmp_path, args, code, message):
    csv = write_csv(seasonal_frame(), "daily.csv")
    assert cli("train", csv, "--model", "lstm", "--window", "10", "-H", "3", "--units", "4", "--epochs", "1", "--no-fallback", "-q", "-d",
               tmp_path / "base").code == 0
    result = cli("train", csv, "--init", tmp_path / "base", *args, "-q")
    assert result.code == code and message.format(base=tmp_path / "base") in result.err


def test_init_refuses_what_it_cannot_continue(cli, write_csv, tmp_path):
    csv = write_csv(seasonal_frame(), "daily.csv")
    assert cli("train", csv, "--model", "naive", "-H", "3", "-q", "-d", tmp_path / "naive").code == 0
    naive = cli("train", csv, "--init", tmp_path / "naive", "-q")
    assert naive.code == ExitStatus.USAGE and "holds naive, with nothing trained; --init continues one trained network" in naive.err
    missing = cli("train", csv, "--init", tmp_path / "nowhere", "-q")
    assert missing.code == ExitStatus.MODEL and missing.err.count("\n") == 1
    assert cli("train", csv, "--model", "linear", "-H", "3", "--epochs", "1", "--no-fallback", "-q", "-d", tmp_path / "linear").code == 0
    other = cli("train", write_csv(seasonal_frame(columns=("y", "z")), "two.csv"), "--init", tmp_path / "linear", "-q")
    assert other.code == ExitStatus.BAD_DATA and "two.csv: has the columns y, z; the model in" in other.err


def test_evaluate_a_saved_pretrained_model_refits_it_with_the_baselines_own_window(cli, tuned_many):
    csv, model_dir, _ = tuned_many
    result = cli("evaluate", csv, "-d", model_dir, "--folds", "1", "--epochs", "1", "-f", "json", "-q")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    models = {m["model"]: m for m in document["models"]}
    assert models.keys() == {"pretrained", "naive", "seasonal-naive", "linear"}
    assert models["linear"]["config"]["window"] != load_card(model_dir).config["window"]
