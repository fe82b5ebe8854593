"""Backtests, metrics, baselines and model selection: ``rnncast evaluate``, ``compare``, ``train --model auto``."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from rnncast.config import TrainConfig
from rnncast.data import TimeSeries
from rnncast.card import ONE_SERIES
from rnncast.dataset import Panel
from rnncast.backtest import (
    BacktestOptions,
    Forecast,
    backtest_origins,
    run_backtest,
    score_forecast,
)
from rnncast.metrics import interval_metrics, point_metrics, seasonal_scale

# Backtests of baselines: linear is the only one trained, and it takes no --units.
FAST = ["--epochs", "1", "--seed", "1", "--quiet"]


def steps_frame(values: np.ndarray, *extra: tuple[str, np.ndarray]) -> pd.DataFrame:
    """A frame with an integer "time" column (no frequency, so no season unless --season)."""
    return pd.DataFrame({"time": np.arange(len(values)), "y": values, **dict(extra)})


def series_of(values: np.ndarray) -> TimeSeries:
    frame = pd.DataFrame({"y": np.asarray(values, dtype=np.float64)})
    return TimeSeries(frame, ("y",), None, None, "generated.csv")


# Metrics on hand-computable cases (no TensorFlow).

def test_point_metrics_by_hand():
    actual = np.array([1.0, 2.0, 3.0, 0.0])
    predicted = np.array([2.0, 2.0, 1.0, 0.0])
    scores = point_metrics(predicted, actual, scale=0.5)
    assert scores["mae"] == pytest.approx(0.75)
    assert scores["rmse"] == pytest.approx(np.sqrt(5 / 4))
    assert scores["mase"] == pytest.approx(1.5)
    # 200|e|/(|a|+|f|): 200/3, 0, 200*2/4, and 0/0 counted as 0.
    assert scores["smape"] == pytest.approx((200 / 3 + 100) / 4)


def test_mase_is_undefined_for_a_zero_scale():
    assert np.isnan(point_metrics(np.ones(3), np.zeros(3), scale=0.0)["mase"])


def test_seasonal_scale_of_a_trend_is_the_season_times_the_slope():
    trend = np.arange(50.0)[:, None] * 2
    assert seasonal_scale(trend, 7) == pytest.approx([14.0])
    assert seasonal_scale(trend, None) == pytest.approx([2.0])


def test_interval_metrics_count_actuals_inside_the_central_interval():
    samples = np.linspace(0, 10, 1001)[:, None]  # the same spread at each of three points
    scores = interval_metrics(np.repeat(samples, 3, axis=1), np.array([5.0, 0.1, 9.8]), level=0.9)
    assert scores["width"] == pytest.approx(9.0)
    assert scores["coverage"] == pytest.approx(1 / 3)


def test_scores_with_samples_report_coverage_per_step():
    actual = np.zeros((2, 3, 1))
    samples = np.stack([actual - 1, actual + 1])
    scores = score_forecast(Forecast(actual, samples), actual, np.array([1.0]), ("y",))["y"]
    assert scores["overall"]["coverage"] == 1.0
    assert [s["width"] for s in scores["steps"]] == pytest.approx([1.8, 1.8, 1.8])


def test_origins_tile_the_tail_and_the_last_ends_at_the_last_row():
    assert backtest_origins(100, 3, BacktestOptions(folds=4)).tolist() == [88, 91, 94, 97]
    assert backtest_origins(100, 3, BacktestOptions(folds=3, stride=1)).tolist() == [95, 96, 97]


# Leakage is impossible by construction: y_t = t, so any value >= an origin seen before it is the future.

@pytest.mark.parametrize("retrain", [False, True])
def test_fitters_and_forecasters_see_only_rows_before_the_origin(retrain):
    series = series_of(np.arange(60.0))
    origins = backtest_origins(60, 4, BacktestOptions(folds=3, stride=2, retrain=retrain))
    seen = []

    def oracle_fitter(train: Panel):
        fitted_until = train.first.frame["y"].max()
        seen.append(("fit", fitted_until))

        def forecast(keys, histories, known):
            assert keys == [ONE_SERIES] * len(histories)
            # Cheats if it can: continues the trend from the newest value it was handed.
            seen.extend(("forecast", h[-1, 0]) for h in histories)
            # The rows after an origin hold only the known-future inputs, and this series has none.
            assert all(k.shape == (4, 1) and np.isnan(k).all() for k in known)
            return Forecast(np.stack([h[-1, 0] + np.arange(1, 5)[:, None] for h in histories]))

        return forecast

    forecast = run_backtest(Panel.of(series), oracle_fitter, {ONE_SERIES: origins}, retrain)[ONE_SERIES]
    fits = [value for kind, value in seen if kind == "fit"]
    newest = [value for kind, value in seen if kind == "forecast"]
    assert fits == ([o - 1 for o in origins] if retrain else [origins[0] - 1])
    assert newest == [o - 1 for o in origins]
    assert forecast.point[:, :, 0].tolist() == [list(range(o, o + 4)) for o in origins]


def test_unpredictable_future_scores_as_unpredictable(cli, write_csv):
    """White noise: a model that saw the values it forecasts would score far below the noise level."""
    noise = np.random.default_rng(7).standard_normal(160)
    path = write_csv(steps_frame(noise))
    result = cli("evaluate", path, "--model", "linear", "--horizon", "2", "--window", "8", "--folds", "20", "-f", "json", *FAST)
    assert result.code == 0, result.err
    for model in json.loads(result.out)["models"]:
        for step in model["targets"]["y"]["steps"]:
            # Best possible is E|noise| = 0.8; the naive forecast's is 2/sqrt(pi) = 1.13.
            assert step["mae"] > 0.5, (model["model"], step)


# Hand-computable backtests through the zoo's Keras baselines, in original units.

def test_linear_trend_scores_by_hand(cli, write_csv):
    path = write_csv(steps_frame(1000 + 5.0 * np.arange(80)))
    result = cli("compare", path, "--models", "naive", "--horizon", "3", "--window", "8", "--folds", "4", "-f", "json", *FAST)
    assert result.code == 0, result.err
    assert "seasonal-naive is left out" not in result.err  # --quiet keeps warnings off stderr
    document = json.loads(result.out)
    assert document["backtest"]["season"] is None
    assert document["backtest"]["origins"] == [68, 71, 74, 77]
    assert document["backtest"]["mase_scale"] == {"y": pytest.approx(5.0)}
    naive = next(m for m in document["models"] if m["model"] == "naive")["targets"]["y"]
    # The naive forecast lags by h steps of 5 units at step h.
    assert [s["mae"] for s in naive["steps"]] == pytest.approx([5.0, 10.0, 15.0], rel=1e-4)
    assert naive["overall"]["mae"] == pytest.approx(10.0, rel=1e-4)
    assert naive["overall"]["rmse"] == pytest.approx(np.sqrt((25 + 100 + 225) / 3), rel=1e-4)
    assert naive["overall"]["mase"] == pytest.approx(2.0, rel=1e-4)
    origins = np.array([68, 71, 74, 77])[:, None]
    actual = 1000 + 5.0 * (origins + np.arange(3))
    predicted = 1000 + 5.0 * (origins - 1)
    expected_smape = np.mean(200 * np.abs(predicted - actual) / (actual + predicted))
    assert naive["overall"]["smape"] == pytest.approx(expected_smape, rel=1e-3)
    assert {m["model"] for m in document["models"]} == {"naive", "linear"}  # no season: no seasonal-naive


def test_pure_seasonal_series_by_hand(cli, write_csv):
    pattern = np.tile([0.0, 1.0, 2.0, 3.0], 20)
    path = write_csv(steps_frame(pattern))
    result = cli("compare", path, "--models", "naive,seasonal-naive", "--season", "4", "--horizon", "4", "--window", "8",
                 "--folds", "3", "--stride", "4", "-f", "json", *FAST)
    assert result.code == 0, result.err
    models = {m["model"]: m for m in json.loads(result.out)["models"]}
    seasonal = models["seasonal-naive"]["targets"]["y"]
    assert seasonal["overall"]["mae"] == pytest.approx(0.0, abs=1e-5)
    assert seasonal["overall"]["mase"] is None  # the in-sample seasonal error is 0: MASE is undefined
    # Every origin starts a season: naive repeats 3 against 0, 1, 2, 3.
    naive = models["naive"]["targets"]["y"]
    assert [s["mae"] for s in naive["steps"]] == pytest.approx([3.0, 2.0, 1.0, 0.0], abs=1e-4)
    assert naive["overall"]["smape"] == pytest.approx((200 * 3 / 3 + 200 * 2 / 4 + 200 * 1 / 5 + 0) / 4, rel=1e-4)


def test_seasonal_naive_has_mase_one_on_seasonal_trend_and_ranks_first(cli, write_csv):
    t = np.arange(80)
    path = write_csv(steps_frame(t + np.tile([0.0, 10.0, 20.0, 30.0], 20)))
    result = cli("compare", path, "--models", "naive", "--season", "4", "--horizon", "4", "--window", "8",
                 "--folds", "3", "--stride", "4", "-f", "csv", *FAST)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "rank,model,target,mase,smape,mae,rmse,vs_best_baseline,seconds"
    rows = {row.split(",")[1]: row.split(",") for row in lines[1:]}
    assert rows["seasonal-naive"][0] == "1"
    assert float(rows["seasonal-naive"][3]) == pytest.approx(1.0, rel=1e-4)
    assert float(rows["seasonal-naive"][7]) == 1.0
    # Naive errors at steps 1..4 are 29, 18, 7, -4 (hand-computed), so MAE 14.5 and MASE 14.5 / 4.
    assert float(rows["naive"][5]) == pytest.approx(14.5, rel=1e-4)
    assert float(rows["naive"][7]) == pytest.approx(3.625, rel=1e-4)


# The CLI: formats, model directories, model selection and errors.

def test_evaluate_table_lists_overall_scores_then_steps_of_the_model(cli, daily_csv):
    result = cli("evaluate", daily_csv, "--model", "simple-rnn", "--horizon", "2", "--window", "8", "--folds", "2",
                 "--epochs", "1", "--units", "4", "--seed", "1")
    assert result.code == 0, result.err
    assert result.err.startswith("Backtest of 2 fold(s) every 2 steps, horizon 2, origins 2020-04-26T00:00:00 .. 2020-04-28T00:00:00;")
    lines = [line.split() for line in result.out.splitlines()]
    assert lines[0] == ["model", "┃", "target", "┃", "step", "┃", "mae", "┃", "rmse", "┃", "mase", "┃", "smape", "┃", "vs_best_baseline"]
    rows = [(line[0], line[4]) for line in lines[2:]]
    assert sorted(rows[:4]) == [("linear", "all"), ("naive", "all"), ("seasonal-naive", "all"), ("simple-rnn", "all")]
    assert rows[4:] == [("simple-rnn", "1"), ("simple-rnn", "2")]  # the baselines added beside it have no step rows


def test_evaluate_csv_and_saved_model_settings(cli, daily_csv, tmp_path):
    model_dir = tmp_path / "model"
    trained = cli("train", daily_csv, "--model", "naive", "--window", "8", "--horizon", "2", "--model-dir", model_dir, "--quiet")
    assert trained.code == 0, trained.err
    result = cli("evaluate", daily_csv, "--model-dir", model_dir, "--folds", "2", "--epochs", "1", "-f", "csv", "--quiet")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "model,target,step,mae,rmse,mase,smape,vs_best_baseline"
    steps = [line.split(",")[:3] for line in lines[1:]]
    assert sorted(steps[:3]) == [["linear", "y", "all"], ["naive", "y", "all"], ["seasonal-naive", "y", "all"]]
    assert steps[3:] == [["naive", "y", "1"], ["naive", "y", "2"]]  # the saved model's recipe, asked for


def test_compare_json_is_the_documented_document(cli, multivariate_csv):
    result = cli("compare", multivariate_csv, "--models", "naive", "--target", "load", "--target", "solar",
                 "--horizon", "2", "--window", "8", "--folds", "2", "-f", "json", *FAST)
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert set(document) == {"schema_version", "command", "data", "backtest", "best_baseline", "models"}
    assert document["schema_version"] == 1 and document["command"] == "compare"
    assert document["data"]["targets"] == ["load", "solar"]
    assert set(document["backtest"]) == {"horizon", "folds", "stride", "retrain", "season", "interval", "origins", "fit_rows", "mase_scale"}
    assert [m["rank"] for m in document["models"]] == [1, 2, 3]
    model = document["models"][0]
    assert set(model) == {"rank", "model", "baseline", "mase", "smape", "mase_vs_best_baseline", "seconds", "config", "targets"}
    assert set(model["targets"]) == {"load", "solar"}
    assert set(model["targets"]["load"]) == {"overall", "steps", "mase_vs_best_baseline"}
    assert [s["step"] for s in model["targets"]["load"]["steps"]] == [1, 2]
    assert set(model["targets"]["load"]["overall"]) == {"mae", "rmse", "mase", "smape", "coverage", "width"}
    assert document["models"][0]["model"] == document["best_baseline"]


def test_train_auto_keeps_the_best_and_records_the_choice(cli, daily_csv, tmp_path, monkeypatch):
    from rnncast.data import load_csv
    from rnncast.training import rank_preprocessing

    monkeypatch.setattr("rnncast.selection.AUTO_MODELS", ("naive", "seasonal-naive", "linear"))
    monkeypatch.setattr("rnncast.selection.AUTO_VARIED", ("linear",))
    monkeypatch.setattr("rnncast.selection.AUTO_PREPROCESSING", 2)
    model_dir = tmp_path / "auto"
    result = cli("train", daily_csv, "--model", "auto", "--window", "8", "--horizon", "3", "--epochs", "1",
                 "--seed", "1", "--model-dir", model_dir)
    assert result.code == 0, result.err
    card = json.loads((model_dir / "card.json").read_text())
    selection = card["metrics"]["selection"]
    best = selection["scores"][0]
    assert (card["config"]["model"], card["config"]["preprocess"]) == (selection["chosen"], selection["preprocess"]) == (best["model"], best["preprocess"])
    assert sorted(selection["candidates"]) == ["linear", "linear", "naive", "seasonal-naive"] and selection["fits"] == 2
    assert [r["mase"] for r in selection["scores"]] == sorted(r["mase"] for r in selection["scores"])
    # The linear model is tried with the two methods the ridge ranks best on the rows before the validation part.
    fitting = load_csv(daily_csv).frame.iloc[:96]
    ranked = rank_preprocessing(dataclasses.replace(load_csv(daily_csv), frame=fitting), TrainConfig(window=8, horizon=3))
    assert [r["preprocess"] for r in selection["scores"] if r["model"] == "linear"] in (ranked[:2], ranked[1::-1])
    assert f"auto chose {selection['chosen']}" in result.err and "(2 fits); backtest MASE on validation: " in result.err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["compare", "{data}", "--folds", "0"], 2, "`--folds` must be at least 1. Received: 0."),
        (["compare", "{data}", "--stride", "0"], 2, "`--stride` must be at least 1. Received: 0."),
        (["compare", "{data}", "--models", "naive,prophet"], 2, "unknown model(s) prophet; choose from naive, seasonal-naive,"),
        (["evaluate", "{data}", "--model", "prophet"], 2, "unknown model(s) prophet; choose from naive, seasonal-naive,"),
        (["compare", "{data}", "--models", " , "], 2, "`--models` must name at least one model"),
        (["compare", "{data}", "--format", "xml"], 2, "Invalid value for '--format'"),
        (["evaluate", "{data}", "--model", "naive", "--model-dir", "x"], 2, "pass either --model or --model-dir, not both."),
        (["evaluate", "{data}", "--model-dir", "{missing}"], 4, "To backtest a zoo model instead, pass --model NAME."),
        (["compare", "{data}", "--folds", "40", "--horizon", "3", "--window", "8"], 3,
         "data.csv: has 120 rows, but a backtest of --folds 40 every --stride 3 steps with --horizon 3 and --window 8 needs at least 134 (14 to fit on before the first origin)"),
    ],
)
def test_bad_options_exit_with_a_message(cli, daily_csv, tmp_path, args, code, message):
    result = cli(*[a.format(data=daily_csv, missing=tmp_path / "none") for a in args])
    assert (result.code, result.out) == (code, "")
    assert message in result.err


def test_mc_samples_add_interval_coverage_and_width(cli, write_csv):
    from conftest import seasonal_frame

    path = write_csv(seasonal_frame(rows=160))
    result = cli("evaluate", path, "--model", "gru", "--mc-samples", "30", "--folds", "2", "--format", "json",
                 "--epochs", "2", "--units", "4", "--window", "8", "--horizon", "3", "--seed", "1", "-q")
    assert result.code == 0, result.err
    scores = {m["model"]: m["targets"]["y"]["overall"] for m in json.loads(result.out)["models"]}
    assert 0 <= scores["gru"]["coverage"] <= 1 and scores["gru"]["width"] > 0
    assert scores["naive"]["coverage"] is None
