"""What rnncast prints: strict JSON from every command, precision, warnings, clipping, plot formats."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import TINY


def strict(text: str):
    """Parse as a strict parser would: NaN and Infinity are not JSON."""

    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def constant(tmp_path_factory):
    """A constant series (every error and scale 0, so ratios are undefined) and a model trained on it."""
    from rnncast.cli import run

    root = tmp_path_factory.mktemp("constant")
    path = root / "constant.csv"
    pd.DataFrame({"date": pd.date_range("2020-01-01", periods=120, freq="D").astype(str), "y": 5.0}).to_csv(path, index=False)
    assert run([str(a) for a in ("train", path, "-d", root / "m", *TINY)]) == 0
    return path, root / "m"


def test_every_command_prints_strict_json_even_for_a_constant_series(cli, constant):
    path, model_dir = constant
    shape = ["--window", "8", "--horizon", "3", "--folds", "2", "-q"]
    commands = {
        "train": ["train", path, "-d", model_dir.parent / "again", "--model", "naive", "--window", "8", "--horizon", "3", "-q"],
        "forecast": ["forecast", "-d", model_dir],
        "forecast --mc-samples": ["forecast", "-d", model_dir, "--mc-samples", "5", "--seed", "1"],
        "info": ["info", "-d", model_dir],
        "evaluate": ["evaluate", path, "--model", "naive", *shape],
        "compare": ["compare", path, "--models", "naive", *shape],
        "check": ["check", path],
        "models": ["models"],
    }
    documents = {}
    for name, args in commands.items():
        result = cli(*args, "--format", "json")
        assert result.code == 0, (name, result.err)
        documents[name] = strict(result.out)

    (row,) = documents["train"]
    assert (row["mae"], row["naive_mae"], row["mae_vs_naive"]) == (0.0, 0.0, None)
    assert documents["evaluate"]["models"][0]["mase"] is None  # the in-sample MAE that scales MASE is 0
    assert [r["y"] for r in documents["forecast"]["forecast"]] == pytest.approx([5.0] * 3, abs=1e-3)


def test_json_text_writes_null_for_undefined_numbers_at_any_depth():
    from rnncast.render import json_text

    document = {"a": float("nan"), "b": [1.5, float("inf"), {"c": -float("inf")}], "d": (np.float64("nan"), 2)}

    assert strict(json_text(document)) == {"a": None, "b": [1.5, None, {"c": None}], "d": [None, 2]}


def test_interval_without_mc_samples_is_refused(cli, constant):
    result = cli("forecast", "-d", constant[1], "--interval", "0.8")

    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "rnncast: error: `--interval 0.8` sets the error bars of --mc-samples, which was not given; "
        "add --mc-samples N (e.g. 200) or drop --interval.\n"
    )


@pytest.fixture(scope="module")
def counts(tmp_path_factory):
    """Whole counts near 2863 (never negative) and a naive model of them."""
    from rnncast.cli import run

    root = tmp_path_factory.mktemp("counts")
    path = root / "counts.csv"
    y = 2800 + (np.arange(60) * 37) % 101
    y[-1] = 2863
    pd.DataFrame({"date": pd.date_range("2020-01-01", periods=60, freq="D").astype(str), "y": y}).to_csv(path, index=False)
    assert run([str(a) for a in ("train", path, "-d", root / "m", "--model", "naive", "--window", "8", "--horizon", "3", "-q")]) == 0
    return path, root / "m"


def test_forecasts_keep_the_data_s_precision_plus_two_digits_in_every_format(cli, counts):
    from rnncast.store import load_card

    path, model_dir = counts
    assert load_card(model_dir).source["decimals"] == {"y": 0} and load_card(model_dir).source["non_negative"] == {"y": True}
    csv = cli("forecast", "-d", model_dir, "--mc-samples", "2").out.splitlines()
    table = cli("forecast", "-d", model_dir, "--format", "table").out
    document = strict(cli("forecast", "-d", model_dir, "--format", "json").out)

    assert csv[0] == "date,y,y_std,y_lower,y_upper"
    assert csv[1].startswith("2020-03-01,2863.0,")
    assert all(len(cell.partition(".")[2]) <= 2 for line in csv[1:] for cell in line.split(",")[1:])
    assert [row["y"] for row in document["forecast"]] == [2863.0] * 3
    assert "2863 " in table and "2862.99" not in table


def test_a_card_without_the_data_s_decimals_is_not_rounded(cli, counts, tmp_path):
    import shutil

    model_dir = shutil.copytree(counts[1], tmp_path / "old")
    card = json.loads((model_dir / "card.json").read_text())
    del card["source"]["decimals"]
    (model_dir / "card.json").write_text(json.dumps(card))
    (row,) = strict(cli("forecast", "-d", model_dir, "--format", "json", "--horizon", "1").out)["forecast"]

    assert row["y"] == pytest.approx(2863, abs=1e-3) and row["y"] != 2863.0  # float32 round-off shows


def test_a_series_never_negative_is_clipped_at_zero_unless_allowed(cli, counts, write_csv):
    path, model_dir = counts
    frame = pd.read_csv(path)
    frame.loc[frame.index[-1], "y"] = -40  # the updated data ends below zero: naive forecasts -40
    updated = write_csv(frame, "updated.csv")
    args = ["forecast", "-d", model_dir, "--data", updated, "--mc-samples", "2", "--format", "json"]

    clipped = strict(cli(*args).out)["forecast"]
    allowed = strict(cli(*args, "--allow-negative").out)["forecast"]

    assert [(r["y"], r["y_lower"]) for r in clipped] == [(0.0, 0.0)] * 3 and all(r["y_upper"] >= 0 for r in clipped)
    assert [r["y"] for r in allowed] == [-40.0] * 3 and all(r["y_lower"] < -40 for r in allowed)


def test_a_horizon_far_past_the_trained_one_warns_once_unless_quiet(cli, counts):
    model_dir = counts[1]
    far, near, quiet = (cli("forecast", "-d", model_dir, "--horizon", h, *q) for h, q in (("100", ()), ("12", ()), ("100", ("-q",))))

    assert far.code == near.code == quiet.code == 0
    assert far.err == (
        "warning: --horizon 100 is 33 times the trained horizon 3, the furthest validated: the model feeds its own forecasts "
        "back that far, so errors compound unchecked (a trend may carry values anywhere); train with a longer --horizon to validate it.\n"
    )
    assert near.err == quiet.err == ""
    assert len(far.out.splitlines()) == 101


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".jpg", b"\xff\xd8\xff"), (".svg", b"<?xml"), (".PDF", b"%PDF")])
def test_plot_writes_the_format_its_suffix_names(cli, counts, tmp_path, suffix, magic):
    plot = tmp_path / f"forecast{suffix}"
    result = cli("forecast", "-d", counts[1], "--plot", plot)

    assert result.code == 0, result.err
    assert plot.read_bytes().startswith(magic)


@pytest.mark.parametrize(("name", "reason"), [
    ("f.gif", ".gif is not an image format rnncast writes"), ("forecast", "the file name has no suffix"),
])
def test_plot_to_an_unknown_suffix_is_a_usage_error(cli, counts, tmp_path, name, reason):
    plot = tmp_path / name
    result = cli("forecast", "-d", counts[1], "--plot", plot)

    assert (result.code, result.out) == (2, "")
    assert result.err == f"rnncast: error: `--plot` {plot}: {reason}; end it in .png, .jpg, .jpeg, .svg, .pdf.\n"
    assert not plot.exists()


@pytest.mark.parametrize(("command", "args", "message"), [
    ("train", ["--model", "simple-rnn", "--layers", "1"],
     "`--layers` does not apply to --model simple-rnn, which takes --units, --dropout, --recurrent-dropout, "
     "--bidirectional, --seq2seq, --lr, --epochs, --batch-size, --patience, --loss, --clipnorm."),
    ("evaluate", ["--model", "simple-rnn", "--layers", "1"],
     "`--layers` does not apply to any model of the backtest (simple-rnn, naive, seasonal-naive, linear), which take --units, --dropout, "
     "--recurrent-dropout, --bidirectional, --seq2seq, --lr, --epochs, --batch-size, --patience, --loss, --clipnorm."),
    ("compare", ["--models", "naive", "--units", "4"],
     "`--units` does not apply to any model of the backtest (naive, seasonal-naive, linear), which take --lr, --epochs, --batch-size, "
     "--patience, --loss, --clipnorm."),
])
def test_train_evaluate_and_compare_refuse_options_that_no_model_takes(cli, daily_csv, tmp_path, command, args, message):
    destination = ["-d", tmp_path / "m"] if command == "train" else []
    result = cli(command, daily_csv, *destination, *args)

    assert (result.code, result.out, result.err) == (2, "", f"rnncast: error: {message}\n")


def test_a_backtest_takes_an_option_that_one_of_its_models_takes(cli, daily_csv):
    result = cli("compare", daily_csv, "--models", "naive,simple-rnn", "--units", "4", "--epochs", "1", "--window", "8",
                 "--horizon", "3", "--folds", "1", "-q", "--format", "json")

    assert result.code == 0, result.err
    assert {row["model"] for row in strict(result.out)["models"]} == {"naive", "simple-rnn", "seasonal-naive", "linear"}


def test_a_global_model_of_many_series_is_rounded_and_clipped_alike(cli, write_csv, tmp_path):
    dates = pd.date_range("2020-01-01", periods=40, freq="D").astype(str)
    frame = pd.concat([pd.DataFrame({"store": store, "date": dates, "y": 2800 + (np.arange(40) * 37 + shift) % 101})
                       for store, shift in (("north", 0), ("south", 50))])
    model_dir = tmp_path / "m"
    assert cli("train", write_csv(frame), "--id-column", "store", "--model", "naive", "--window", "8", "--horizon", "3",
               "-d", model_dir, "-q").code == 0
    frame.loc[(frame["store"] == "south") & (frame["date"] == dates[-1]), "y"] = -12
    updated = write_csv(frame, "updated.csv")

    rows = strict(cli("forecast", "-d", model_dir, "--data", updated, "--format", "json").out)["forecast"]
    allowed = strict(cli("forecast", "-d", model_dir, "--data", updated, "--format", "json", "--allow-negative").out)["forecast"]

    last = frame.groupby("store")["y"].last()
    assert [(r["store"], r["y"]) for r in rows] == [("north", float(last["north"]))] * 3 + [("south", 0.0)] * 3
    assert [r["y"] for r in allowed[3:]] == [-12.0] * 3
