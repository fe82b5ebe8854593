"""End to end through the CLI and the library API: train, save, forecast, describe."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnncast
from rnncast.cli import run
from rnncast.errors import ExitStatus
from rnncast.store import CARD_NAME, load_card

from conftest import TINY, seasonal_frame


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny direct GRU on a daily univariate series: (csv, model_dir)."""
    root = tmp_path_factory.mktemp("trained")
    csv = root / "daily.csv"
    seasonal_frame().to_csv(csv, index=False)
    model_dir = root / "model"
    assert run(["train", str(csv), "--model-dir", str(model_dir), *TINY]) == 0
    return csv, model_dir


@pytest.fixture(scope="module")
def trained_multivariate(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Direct and autoregressive GRUs forecasting 'load' from load, temp and solar."""
    root = tmp_path_factory.mktemp("multi")
    csv = root / "multi.csv"
    seasonal_frame(columns=("load", "temp", "solar")).to_csv(csv, index=False)
    direct, autoregressive = root / "direct", root / "ar"
    for model_dir, strategy in ((direct, "direct"), (autoregressive, "autoregressive")):
        code = run(["train", str(csv), "--target", "load", "--strategy", strategy, "-d", str(model_dir), *TINY])
        assert code == 0
    return csv, direct, autoregressive


def test_train_saves_card_and_one_network_file(trained):
    _, model_dir = trained
    files = sorted(p.name for p in model_dir.iterdir() if not p.name.endswith(".lock"))
    card = load_card(model_dir)
    assert files == sorted([CARD_NAME, card.files["keras"], card.files["onnx"], card.files["onnx_mc"]])
    assert card.files["keras"] == f"model-{card.files['keras_sha256']}.keras"
    assert (card.config["model"], card.config["window"], card.config["horizon"]) == ("gru", 8, 3)
    assert (card.targets, card.time_column, card.freq, card.last_time) == (["y"], "date", "D", "2020-04-29T00:00:00")
    assert (card.format_version, card.id_column, card.skipped, list(card.series)) == (2, None, {}, [""])
    assert np.asarray(card.series[""]["last_window"]).shape == (8, 1)
    assert card.series[""]["last_time"] == card.last_time and card.series[""]["rows"] == 120
    written = json.loads((model_dir / CARD_NAME).read_text())
    assert written["format_version"] == 2 and not {"last_window", "scaler", "panel"} & set(written)
    assert set(card.metrics["model"]["y"]) == {"mae", "rmse"}


def test_scaler_is_fitted_on_the_training_part_only(trained):
    csv, model_dir = trained
    card = load_card(model_dir)
    values = pd.read_csv(csv)["y"].to_numpy()
    train_rows = 120 - 24  # the newest 20% are the validation tail
    mean = card.series[""]["scaler"]["mean"][0]
    assert mean == pytest.approx(values[:train_rows].mean())
    assert mean != pytest.approx(values.mean(), abs=1e-9)


def test_train_json_summary_reports_model_and_naive(cli, daily_csv, tmp_path):
    result = cli("train", daily_csv, "-d", tmp_path / "m", "--format", "json", *TINY)
    assert result.code == 0
    (row,) = json.loads(result.out)
    assert row["target"] == "y" and row["mae"] > 0 and row["naive_mae"] > 0
    assert row["mae_vs_naive"] == pytest.approx(row["mae"] / row["naive_mae"])


def test_forecast_csv_continues_the_dates(cli, trained):
    _, model_dir = trained
    result = cli("forecast", "--horizon", "3", "-d", model_dir)
    assert result.code == 0 and result.err == ""
    frame = pd.read_csv(io.StringIO(result.out))
    assert list(frame.columns) == ["date", "y"]
    assert list(frame["date"]) == ["2020-04-30", "2020-05-01", "2020-05-02"]
    assert frame["y"].between(5, 15).all()


def test_forecast_beyond_the_trained_horizon_chains_blocks(cli, trained):
    _, model_dir = trained
    short = pd.read_csv(io.StringIO(cli("forecast", "-H", "3", "-d", model_dir).out))
    long = pd.read_csv(io.StringIO(cli("forecast", "-H", "8", "-d", model_dir).out))
    assert len(long) == 8 and long["date"].iloc[-1] == "2020-05-07"
    np.testing.assert_allclose(long["y"].iloc[:3], short["y"])


def test_forecast_formats_and_output_file(cli, trained, tmp_path):
    _, model_dir = trained
    csv_text = cli("forecast", "-d", model_dir).out
    document = json.loads(cli("forecast", "-d", model_dir, "--format", "json").out)
    assert document["time_column"] == "date" and document["targets"] == ["y"]
    assert [row["date"] for row in document["forecast"]] == ["2020-04-30", "2020-05-01", "2020-05-02"]
    np.testing.assert_allclose([row["y"] for row in document["forecast"]], pd.read_csv(io.StringIO(csv_text))["y"])
    table = cli("forecast", "-d", model_dir, "--format", "table").out
    assert "date" in table and "2020-05-02" in table
    written = cli("forecast", "-d", model_dir, "--output", tmp_path / "f.csv")
    assert written.out == "" and (tmp_path / "f.csv").read_text() == csv_text


def test_forecast_from_updated_data(cli, trained, write_csv):
    _, model_dir = trained
    newer = write_csv(seasonal_frame(rows=130, seed=3), "newer.csv")
    frame = pd.read_csv(io.StringIO(cli("forecast", "--data", newer, "-d", model_dir).out))
    assert frame["date"].iloc[0] == "2020-05-10"


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (seasonal_frame(columns=("z",)), "lacks the model's column(s) y"),
        (seasonal_frame(rows=5), "has 5 rows; the model needs the last 8"),
        (seasonal_frame(freq="h"), "frequency is 'h', the model was trained on 'D' data"),
    ],
)
def test_forecast_refuses_mismatched_data(cli, trained, write_csv, frame, message):
    _, model_dir = trained
    result = cli("forecast", "--data", write_csv(frame, "new.csv"), "-d", model_dir)
    assert result.code == ExitStatus.BAD_DATA and message in result.err


def test_multivariate_direct_and_autoregressive(cli, trained_multivariate):
    _, direct, autoregressive = trained_multivariate
    frame = pd.read_csv(io.StringIO(cli("forecast", "-d", direct).out))
    assert list(frame.columns) == ["date", "load"] and len(frame) == 3
    long = pd.read_csv(io.StringIO(cli("forecast", "-d", autoregressive, "-H", "6").out))
    assert list(long.columns) == ["date", "load"] and len(long) == 6
    assert load_card(autoregressive).config["strategy"] == "autoregressive"


def test_direct_model_with_inputs_cannot_chain(cli, trained_multivariate):
    _, direct, _ = trained_multivariate
    result = cli("forecast", "-d", direct, "-H", "5")
    assert result.code == ExitStatus.USAGE
    assert "other input columns have no future values" in result.err and "--strategy autoregressive" in result.err


def test_library_api_matches_the_cli(cli, trained):
    _, model_dir = trained
    frame = rnncast.forecast(model_dir, horizon=3)
    printed = pd.read_csv(io.StringIO(cli("forecast", "-d", model_dir).out))
    np.testing.assert_allclose(frame["y"].to_numpy(), printed["y"].to_numpy())
    assert frame.index.name == "date" and frame.index[0] == pd.Timestamp("2020-04-30")


def test_seeded_training_is_reproducible(cli, daily_csv, tmp_path):
    forecasts = []
    for name in ("a", "b"):
        assert cli("train", daily_csv, "-d", tmp_path / name, *TINY).code == 0
        forecasts.append(cli("forecast", "-d", tmp_path / name).out)
    assert forecasts[0] == forecasts[1]


def test_no_terminal_means_no_progress_or_colour(cli, daily_csv, tmp_path):
    result = cli("train", daily_csv, "-d", tmp_path / "m", *[a for a in TINY if a != "--quiet"])
    assert result.code == 0
    assert "\x1b[" not in result.err + result.out
    assert result.err.startswith("Saved gru (direct, window 8, horizon 3)")


def test_info_and_models(cli, trained):
    _, model_dir = trained
    info = cli("info", "-d", model_dir)
    assert info.code == 0 and "gru" in info.out and "validation y" in info.out
    document = json.loads(cli("info", "-d", model_dir, "--format", "json").out)
    assert document["targets"] == ["y"] and document["format_version"] == 2
    assert set(document["series"][""]) == {"scaler", "last_time", "rows", "start"}  # every field but the data
    listed = json.loads(cli("models", "--format", "json").out)
    assert {"naive", "seasonal-naive", "linear", "lstm", "gru"} <= {m["model"] for m in listed}


def test_damaged_or_missing_models_are_refused(cli, trained, tmp_path):
    _, model_dir = trained
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    network = next(copy.glob("model-*.keras"))
    network.write_bytes(network.read_bytes()[:-10] + b"0123456789")
    tampered = cli("forecast", "-d", copy)
    assert tampered.code == ExitStatus.MODEL and "does not match the hash in the card" in tampered.err
    card = json.loads((copy / CARD_NAME).read_text())
    (copy / CARD_NAME).write_text(json.dumps({**card, "format_version": 99}))
    assert "model format version 99 is not supported" in cli("forecast", "-d", copy).err
    network.unlink()
    (copy / CARD_NAME).write_text(json.dumps(card))
    assert "is missing" in cli("info", "-d", copy).err or cli("forecast", "-d", copy).code == ExitStatus.MODEL
    missing = cli("forecast", "-d", tmp_path / "none")
    assert missing.code == ExitStatus.MODEL and "no saved model in" in missing.err


def test_usage_errors_are_clean(cli, daily_csv):
    for args, message in [
        (("train", daily_csv, "--model", "transformer"), "`--model` must be one of naive"),
        (("train", daily_csv, "--horizon", "0"), "`--horizon` must be at least 1. Received: 0."),
        (("train", daily_csv, "--strategy", "sideways"), "`--strategy` must be one of direct, autoregressive"),
        (("train", daily_csv, "--fill", "zero"), "`--fill` must be one of ffill, interpolate"),
        (("forecast", "--horizon", "-2"), "`--horizon` must be at least 1. Received: -2."),
    ]:
        result = cli(*args)
        assert result.code == ExitStatus.USAGE and message in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("horizon", [0, -5])
def test_the_library_refuses_a_horizon_below_one(trained, horizon):
    from rnncast.errors import UsageError

    _, model_dir = trained
    with pytest.raises(UsageError, match=f"^`--horizon` must be at least 1. Received: {horizon}.$"):
        rnncast.forecast(model_dir, horizon=horizon)


def test_the_library_refuses_an_interval_without_mc_samples(cli, trained):
    from rnncast.errors import UsageError
    from rnncast.rollout import MCOptions

    with pytest.raises(UsageError, match="^`--interval 0.8` sets the error bars of --mc-samples, which was not given"):
        MCOptions.asked(None, 0.8)
    assert MCOptions.asked(None) is None and MCOptions.asked(50, seed=1) == MCOptions(50, 0.9, True, 1)
    refused = cli("forecast", "-d", trained[1], "--interval", "0.8")
    assert refused.code == ExitStatus.USAGE and refused.err.startswith("rnncast: error: `--interval 0.8` sets the error bars")


def test_the_report_of_a_card_is_library_text(trained):
    from rnncast.report import card_facts, train_summary, validation_rows

    _, model_dir = trained
    card = load_card(model_dir)
    facts = {row["field"]: row["value"] for row in card_facts(card)}
    assert facts["model"] == "gru" and facts["targets"] == "y" and facts["validation y"].startswith("MAE ")
    assert train_summary(card, model_dir)[0].startswith(f"Saved gru (direct, window {card.config['window']}, horizon ")
    assert [row["target"] for row in validation_rows(card.metrics)] == ["y"]


def test_every_data_option_is_declared_once_for_every_reading_command():
    import dataclasses

    import typer

    from rnncast.cli import app
    from rnncast.cli_options import DATA, READING
    from rnncast.config import DataOptions

    assert set(DATA) == {field.name for field in dataclasses.fields(DataOptions) if not field.metadata.get("learned")}
    commands = typer.main.get_command(app).commands
    for command, names in {"train": DATA, "check": DATA, "evaluate": DATA, "compare": DATA, "forecast": READING}.items():
        assert set(names) <= {param.name for param in commands[command].params}, command


def test_the_library_refuses_options_a_model_does_not_take_before_reading_data(tmp_path):
    import rnncast
    from rnncast.config import TrainConfig
    from rnncast.errors import UsageError

    with pytest.raises(UsageError, match="`--units` does not apply to --model naive"):
        rnncast.train(tmp_path / "missing.csv", TrainConfig(model="naive", units=4), model_dir=tmp_path / "m", given=["model", "units"])
    assert not (tmp_path / "m").exists()
