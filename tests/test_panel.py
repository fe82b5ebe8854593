"""Many series in long format: loading, one global model, forecasts by id, per-series backtests,
and training across two worker processes with ``--distribute multi-worker``."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnncast.config import DataOptions
from rnncast.errors import DataError, ExitStatus
from rnncast.dataset import Panel, load_data
from rnncast.store import CARD_NAME, load_card

from conftest import TINY, train_into

ROOT = Path(__file__).resolve().parents[1]
# Series of different lengths and start dates; "short" is too short to be padded for horizon 3 (a validation tail and two rows).
LENGTHS = {"north": ("2020-01-01", 60), "south": ("2020-01-10", 80), "short": ("2020-02-01", 4), "west": ("2019-12-20", 70)}


def long_frame(id_column: str = "unique_id", time_column: str = "ds", value: str = "y") -> pd.DataFrame:
    """Weekly-seasonal daily series at different levels, stacked in long format."""
    rng = np.random.default_rng(0)
    frames = []
    for level, (key, (start, rows)) in enumerate(LENGTHS.items(), start=1):
        t = np.arange(rows)
        frames.append(pd.DataFrame({
            id_column: key,
            time_column: pd.date_range(start, periods=rows, freq="D").astype(str),
            value: 10 * level + level * np.sin(2 * np.pi * t / 7) + 0.1 * rng.standard_normal(rows),
        }))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def global_model(tmp_path_factory) -> tuple[Path, Path, str]:
    """A tiny global GRU on the four series (one skipped), trained with --distribute mirrored: (csv, model_dir, stderr)."""
    frame = long_frame(id_column="store", time_column="date", value="sales")
    arguments = [a for a in TINY if a != "--quiet"]
    return train_into(tmp_path_factory.mktemp("panel"), "stores.csv", frame, "--id-column", "store", "--distribute", "mirrored", "-f", "csv",
                      *arguments)


def test_long_format_with_the_unique_id_convention_loads_every_series(write_csv):
    panel = load_data(write_csv(long_frame()))
    assert isinstance(panel, Panel) and panel.id_column == "unique_id" and panel.time_column == "ds"
    assert list(panel.series) == ["north", "short", "south", "west"]
    assert {key: len(one) for key, one in panel.series.items()} == {k: rows for k, (_, rows) in LENGTHS.items()}
    assert panel.freq == "D" and panel.targets == ("y",)
    assert str(panel.series["west"].frame.index[0].date()) == "2019-12-20"


def test_integer_ds_is_the_time_column_of_a_long_file_as_of_a_wide_one(write_csv):
    """M3's "other" series as `unique_id, ds, y` with steps 1..n restarting per series: ``ds`` is
    time, not a second target to forecast."""
    frame = pd.DataFrame({"unique_id": ["a"] * 5 + ["b"] * 4, "ds": [1, 2, 3, 4, 5, 1, 2, 3, 4], "y": np.arange(9.0)})
    panel = load_data(write_csv(frame))
    assert panel.time_column == "ds" and panel.columns == ("y",) and panel.targets == ("y",) and panel.freq == 1
    assert list(panel.series["b"].frame.index) == [1, 2, 3, 4]
    wide = load_data(write_csv(frame[frame.unique_id == "a"].drop(columns="unique_id"), "wide.csv"))
    assert wide.time_column == "ds" and wide.columns == ("y",)


def test_each_series_gets_the_single_series_checks_with_file_lines(write_csv):
    frame = long_frame(id_column="store")
    frame.loc[65, "y"] = np.nan  # a row of "south" (rows 60..139), line 67 of the file
    with pytest.raises(DataError, match=r"data.csv \(store south\): 1 missing value\(s\); column 'y' has 1 \(first at line 67\); pass --fill"):
        load_data(write_csv(frame), DataOptions(id_column="store"))
    frame = long_frame(id_column="store").drop(index=[100])
    with pytest.raises(DataError, match=r"data.csv \(store south\): 1 timestamp\(s\) missing from the 'D' grid"):
        load_data(write_csv(frame), DataOptions(id_column="store"))


def test_an_unknown_id_column_is_a_usage_error(cli, write_csv):
    result = cli("train", write_csv(long_frame()), "--id-column", "shop", *TINY)
    assert result.code == ExitStatus.USAGE
    assert "`--id-column` 'shop' is not a column of data.csv. Columns: unique_id, ds, y." in result.err


def test_short_series_are_reported_and_skipped(global_model):
    _, model_dir, stderr = global_model
    assert ("warning: stores.csv: skipping 1 of 4 series with fewer than the 5 rows --horizon 3 needs (a validation tail and 2 before it): "
            "short (4 rows).") in stderr
    card = load_card(model_dir)
    assert card.skipped == {"short": 4} and sorted(card.series) == ["north", "south", "west"]
    assert (card.format_version, card.id_column) == (2, "store")
    assert all(set(one) == {"scaler", "last_time", "last_window", "rows", "start"} for one in card.series.values())
    assert card.last_time == max(one["last_time"] for one in card.series.values())
    assert not {"last_window", "scaler", "panel"} & set(json.loads((model_dir / "card.json").read_text()))
    assert card.training["distribute"]["strategy"] == "mirrored"


def test_a_series_too_short_for_the_window_is_padded_and_forecast(cli, write_csv):
    frame = long_frame()
    brief = frame[frame["unique_id"] == "north"].iloc[:6].assign(unique_id="brief")
    csv = write_csv(pd.concat([frame, brief]))
    trained = cli("train", csv, "--horizon", "3", "--window", "8", "--epochs", "1", "--seed", "1", "-f", "csv")
    assert trained.code == 0, trained.err
    assert ("warning: data.csv: padding 1 of 5 series shorter than the 14 rows --window 8 and --horizon 3 need with their first value: "
            "brief (6 rows).") in trained.err
    assert "brief" in pd.read_csv(io.StringIO(trained.out))["id"].tolist()  # validated on its own last 3 rows
    saved = load_card("rnncast-model").series["brief"]
    assert saved["rows"] == 6 and saved["start"] == "2020-01-01T00:00:00" and len(saved["last_window"]) == 8
    assert [row[0] for row in saved["last_window"][:3]] == [brief["y"].iloc[0]] * 3  # its first value, repeated before it
    forecast = pd.read_csv(io.StringIO(cli("forecast", "--id", "brief").out))
    assert forecast["ds"].tolist() == ["2020-01-07", "2020-01-08", "2020-01-09"] and forecast["y"].notna().all()
    updated = cli("forecast", "--id", "brief", "--data", write_csv(pd.concat([frame, brief.iloc[:4]]), "newer.csv"))
    assert updated.code == 0, updated.err
    assert pd.read_csv(io.StringIO(updated.out))["ds"].tolist() == ["2020-01-05", "2020-01-06", "2020-01-07"]
    from rnncast.recent import recent_history

    assert len(recent_history("rnncast-model").loc["brief"]) == 6  # its rows, not the padding before them
    ensemble = cli("train", csv, "--horizon", "3", "--window", "8", "--epochs", "1", "--seed", "1", "--ensemble", "2", "-d", "ens", "-f", "csv")
    assert ensemble.code == 0, ensemble.err
    assert ensemble.err.count("padding 1 of 5 series") == 1  # once, not once per member
    assert len(pd.read_csv(io.StringIO(cli("forecast", "-d", "ens", "--id", "brief").out))) == 3


def test_per_series_scaling_is_fitted_on_each_training_part(global_model):
    csv, model_dir, _ = global_model
    card = load_card(model_dir)
    sales = pd.read_csv(csv).groupby("store")["sales"]
    for key, rows in (("north", 60), ("south", 80)):
        train_rows = rows - int(np.ceil(rows * 0.2))
        assert card.series[key]["scaler"]["mean"][0] == pytest.approx(sales.get_group(key).to_numpy()[:train_rows].mean())


def test_train_prints_validation_per_series_and_the_mean(global_model):
    _, model_dir, _ = global_model
    metrics = load_card(model_dir).metrics
    assert sorted(metrics["series"]) == ["north", "south", "west"]
    mean = np.mean([s["model"]["sales"]["mae"] for s in metrics["series"].values()])
    assert metrics["model"]["sales"]["mae"] == pytest.approx(mean)


def test_forecast_every_series_in_long_format(cli, global_model):
    _, model_dir, _ = global_model
    result = cli("forecast", "-d", model_dir)
    assert result.code == 0 and result.err == ""
    frame = pd.read_csv(io.StringIO(result.out))
    assert list(frame.columns) == ["store", "date", "sales"] and len(frame) == 9
    assert frame.groupby("store")["date"].first().to_dict() == {"north": "2020-03-01", "south": "2020-03-30", "west": "2020-02-28"}
    levels = frame.groupby("store")["sales"].mean()
    assert levels["north"] < levels["south"] < levels["west"]  # each series in its own units


def test_forecast_chosen_ids_and_refusals(cli, global_model):
    _, model_dir, _ = global_model
    document = json.loads(cli("forecast", "-d", model_dir, "--id", "west", "--id", "north", "-f", "json").out)
    assert document["id_column"] == "store" and document["time_column"] == "date"
    assert [row["store"] for row in document["forecast"]] == ["west"] * 3 + ["north"] * 3
    unknown = cli("forecast", "-d", model_dir, "--id", "east")
    assert unknown.code == ExitStatus.USAGE and "`--id` east is not a series of this model. Series: north, south, west." in unknown.err
    skipped = cli("forecast", "-d", model_dir, "--id", "short")
    assert skipped.code == ExitStatus.USAGE and "the series was skipped in training (4 rows" in skipped.err


def test_forecast_from_updated_long_data(cli, global_model, write_csv):
    _, model_dir, _ = global_model
    newer = long_frame(id_column="store", time_column="date", value="sales")
    newer = newer[newer["store"] != "south"]
    frame = pd.read_csv(io.StringIO(cli("forecast", "-d", model_dir, "--data", write_csv(newer), "--id", "north").out))
    assert frame["date"].tolist() == ["2020-03-01", "2020-03-02", "2020-03-03"]
    missing = cli("forecast", "-d", model_dir, "--data", write_csv(newer, "newer.csv"), "--id", "south")
    assert missing.code == ExitStatus.BAD_DATA and "newer.csv: has no rows for store south" in missing.err


def test_evaluate_reports_each_series_and_the_aggregate(cli, write_csv):
    result = cli("evaluate", write_csv(long_frame()), "--model", "linear", "--horizon", "3", "--window", "8",
                 "--folds", "2", "--epochs", "1", "--seed", "1", "-f", "csv")
    assert result.code == 0, result.err
    assert "leaving out 1 of 4 series with fewer than the 20 rows the backtest needs: short (4 rows)" in result.err
    rows = pd.read_csv(io.StringIO(result.out))
    assert list(rows.columns) == ["id", "model", "target", "mae", "rmse", "mase", "smape", "beats_seasonal_naive"]
    linear = rows[(rows["model"] == "linear") & (rows["id"] != "all")]
    assert sorted(linear["id"]) == ["north", "south", "west"]
    overall = rows[rows["id"] == "all"].set_index("model")
    assert set(overall.index) == {"linear", "naive", "seasonal-naive"}
    assert overall.loc["linear", "mase"] == pytest.approx(linear["mase"].mean())
    assert overall.loc["linear", "beats_seasonal_naive"] == pytest.approx(linear["beats_seasonal_naive"].mean())
    assert overall.loc["seasonal-naive", "beats_seasonal_naive"] == 0.0


def test_compare_leaderboard_aggregates_over_series(cli, write_csv):
    result = cli("compare", write_csv(long_frame()), "--models", "naive", "--horizon", "3", "--window", "8",
                 "--folds", "2", "--epochs", "1", "--seed", "1", "-f", "json", "--quiet")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["data"]["series"] == 3 and document["data"]["skipped"] == {"short": 4}
    ranked = [(m["rank"], m["targets"]["y"]["mean_mase"]) for m in document["models"]]
    assert [rank for rank, _ in ranked] == [1, 2, 3] and [m for _, m in ranked] == sorted(m for _, m in ranked)
    assert {m["model"] for m in document["models"]} == {"naive", "seasonal-naive", "linear"}
    naive = next(m for m in document["models"] if m["model"] == "naive")
    assert naive["targets"]["y"]["mean_mase"] == pytest.approx(np.mean([s["y"]["mase"] for s in naive["series"].values()]))


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


WORKER = """
import json, sys
import rnncast
from rnncast.config import DataOptions, TrainConfig

config = TrainConfig(units=4, window=8, horizon=3, epochs=2, batch_size=8, seed=1, distribute="multi-worker", fallback=False)
card = rnncast.train(sys.argv[1], config, model_dir=sys.argv[2])
print(json.dumps(card.training["distribute"]))
"""


def test_two_workers_end_with_the_same_weights_and_one_model(tmp_path, write_csv):
    csv = write_csv(long_frame())
    model_dir, scratch = tmp_path / "model", tmp_path / "scratch"
    scratch.mkdir()
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(csv), str(model_dir)],
            env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(scratch), "CUDA_VISIBLE_DEVICES": "",
                 "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for index in range(2)
    ]
    outputs = [worker.communicate(timeout=240) for worker in workers]
    for worker, (_, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert [r["chief"] for r in reports] == [True, False]
    assert all(r["workers"] == 2 and r["replicas"] == 2 for r in reports)
    assert reports[0]["weights_sha256"] == reports[1]["weights_sha256"]
    card = load_card(model_dir)
    assert card.training["distribute"]["weights_sha256"] == reports[0]["weights_sha256"]
    written = sorted(p.name for p in model_dir.iterdir() if not p.name.endswith(".lock"))
    named = [card.files[k] for k in ("keras", "onnx", "onnx_mc") if k in card.files]
    assert written == sorted([CARD_NAME, *named])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "model", "scratch"]
    assert not any(p.name.startswith("rnncast-worker-") for p in scratch.iterdir())  # the non-chief's copy is gone


def test_multi_worker_without_tf_config_says_what_is_missing(cli, write_csv, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = cli("train", write_csv(long_frame()), "--distribute", "multi-worker", *TINY)
    assert result.code == ExitStatus.USAGE and "needs the TF_CONFIG environment variable" in result.err


def trending_frame() -> pd.DataFrame:
    """Three daily series that trend out of their training range at different levels and slopes."""
    rng = np.random.default_rng(1)
    t = np.arange(60)
    return pd.concat([
        pd.DataFrame({"unique_id": key, "ds": pd.date_range("2020-01-01", periods=60, freq="D").astype(str),
                      "y": level + slope * t + np.sin(2 * np.pi * t / 7) + 0.1 * rng.standard_normal(60)})
        for key, level, slope in (("a", 10, 0.5), ("b", 100, 2.0), ("c", 50, -0.3))
    ], ignore_index=True)


def test_global_model_takes_preprocessing_and_undoes_it_per_series(cli, write_csv):
    csv = write_csv(trending_frame())
    assert cli("train", csv, "--model", "gru", "--preprocess", "window-relative", *TINY).code == 0
    card = load_card("rnncast-model")
    assert card.config["preprocess"] == card.preprocessing["method"] == "window-relative"
    frames = [pd.read_csv(io.StringIO(cli("forecast", "--engine", engine).out)) for engine in ("onnx", "keras")]
    pd.testing.assert_frame_equal(*frames)
    # The network sees each window relative to its last row: forecasts start near each series' own last value.
    last = trending_frame().groupby("unique_id")["y"].last()
    first = frames[0].groupby("unique_id")["y"].first()
    assert (abs(first - last) < 0.2 * abs(last)).all()


def test_global_model_chooses_preprocessing_on_all_series_and_falls_back_in_aggregate(cli, write_csv):
    csv = write_csv(trending_frame())
    arguments = [a for a in TINY if a != "--no-fallback"]
    assert cli("train", csv, "--model", "gru", *arguments).code == 0
    card = load_card("rnncast-model")
    scores = card.metrics.get("fallback", {}).get("network", {}).get("preprocessing") or card.metrics["preprocessing"]
    assert scores["chosen"] != "none"  # the ridge sees the trends leave the training range
    if "fallback" in card.metrics:  # two epochs of four units lose to a baseline: kept for every series
        kept = card.metrics["fallback"]["kept"]
        assert card.config["model"] == kept and card.preprocessing["method"] == "none"
        key = kept.replace("-", "_")
        assert all(one["model"] == one[key] for one in card.metrics["series"].values())
        # A baseline has no dropout: its intervals come from the residuals of every series, each in its own units.
        assert card.uncertainty["scale_units"] == "standardised"
        frame = pd.read_csv(io.StringIO(cli("forecast", "--mc-samples", "5").out))
        assert (frame.y_lower <= frame.y).all() and (frame.y <= frame.y_upper).all()
    assert cli("forecast").code == 0


def test_global_model_mc_dropout_intervals_calibrated_across_series(cli, write_csv):
    csv = write_csv(trending_frame())
    assert cli("train", csv, "--model", "gru", "--dropout", "0.2", "--preprocess", "window-relative", *TINY).code == 0
    card = load_card("rnncast-model")
    assert card.uncertainty["windows"] == 3 * 10 and "scale" not in card.uncertainty  # every series' validation windows, MC
    assert all(0.0 <= c <= 1.0 for c in card.uncertainty["raw_coverage"])
    frame = pd.read_csv(io.StringIO(cli("forecast", "--mc-samples", "30", "--seed", "2").out))
    assert list(frame.columns) == ["unique_id", "ds", "y", "y_std", "y_lower", "y_upper"] and len(frame) == 9
    assert (frame.y_lower <= frame.y).all() and (frame.y <= frame.y_upper).all() and (frame.y_std > 0).all()
    again = pd.read_csv(io.StringIO(cli("forecast", "--mc-samples", "30", "--seed", "2", "--id", "b").out))
    assert list(again.unique_id) == ["b"] * 3 and list(again.ds) == list(frame.ds[frame.unique_id == "b"])
    # Each series' interval is in its own units: b's level and spread are several times a's.
    width = (frame.y_upper - frame.y_lower).groupby(frame.unique_id).mean()
    assert width["b"] > width["a"]


def test_plot_of_a_global_model_draws_the_first_series_or_those_asked(cli, global_model, tmp_path):
    csv, model_dir, _ = global_model
    for arguments in ([], ["--id", "west"], ["--data", csv, "--mc-samples", "5"]):
        image = tmp_path / f"plot{len(arguments)}.png"
        result = cli("forecast", "-d", model_dir, "--plot", image, *arguments)
        assert result.code == 0, result.err
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_many_series_with_mc_samples_scores_the_intervals(cli, write_csv):
    result = cli("evaluate", write_csv(long_frame()), "--model", "gru", "--mc-samples", "20", "--horizon", "3",
                 "--window", "8", "--folds", "2", "--epochs", "1", "--units", "4", "--seed", "1", "-f", "csv")
    assert result.code == 0, result.err
    rows = pd.read_csv(io.StringIO(result.out))
    assert list(rows.columns) == ["id", "model", "target", "mae", "rmse", "mase", "smape", "coverage", "width", "beats_seasonal_naive"]
    gru = rows[rows["model"] == "gru"]
    assert gru["coverage"].between(0, 1).all() and (gru["width"] > 0).all()
    assert rows[rows["model"] == "naive"]["coverage"].isna().all()  # a baseline has no MC samples


def test_ensemble_of_global_models_forecasts_the_median_of_its_members(cli, write_csv):
    csv = write_csv(trending_frame())
    assert cli("train", csv, "--model", "gru", "--ensemble", "2", "--preprocess", "window-relative", *TINY).code == 0
    card = load_card("rnncast-model")
    assert [m["seed"] for m in card.ensemble["members"]] == [1, 2] and sorted(card.series) == ["a", "b", "c"]
    assert card.uncertainty["windows"] == 30 and set(card.metrics["series"]) == {"a", "b", "c"}
    frames = [pd.read_csv(io.StringIO(cli("forecast", "--engine", engine).out)) for engine in ("onnx", "keras")]
    pd.testing.assert_frame_equal(*frames)
    mc = pd.read_csv(io.StringIO(cli("forecast", "--mc-samples", "10", "--seed", "1").out))
    assert len(mc) == 9 and (mc.y_lower <= mc.y_upper).all()


def test_backtest_of_an_ensemble_of_global_models(cli, write_csv):
    csv = write_csv(trending_frame())
    result = cli("compare", csv, "--models", "gru", "--ensemble", "2", "--folds", "2", "--horizon", "3", "--window", "8",
                 "--epochs", "1", "--units", "4", "--seed", "1", "-f", "json", "--quiet")
    assert result.code == 0, result.err
    models = {m["model"]: m for m in json.loads(result.out)["models"]}
    assert models["gru"]["config"]["ensemble"] == 2 and models["naive"]["config"]["ensemble"] == 1
    assert all(np.isfinite(one["y"]["mase"]) for one in models["gru"]["series"].values())


def test_auto_chooses_a_global_model_on_the_aggregate_of_the_series(cli, write_csv):
    csv = write_csv(trending_frame())
    result = cli("train", csv, "--model", "auto", *[a for a in TINY if a != "--quiet"])
    assert result.code == 0, result.err
    card = load_card("rnncast-model")
    selection = card.metrics["selection"]
    assert card.config["model"] == selection["chosen"] == selection["scores"][0]["model"]
    assert set(selection["candidates"]) == {"naive", "seasonal-naive", "linear", "simple-rnn", "lstm", "gru", "pretrained"}
    mase = [row["mase"] for row in selection["scores"]]
    assert mase == sorted(mase) and "auto chose" in result.err
    assert cli("forecast").code == 0
