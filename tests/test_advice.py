"""Advice that can be followed: `check` and `train` accept the same files, and every fix a message
names is an option of the command that printed it."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import typer

from conftest import TINY_SHAPE, seasonal_frame
from rnncast.cli import app
from rnncast.errors import ExitStatus

READING_COMMANDS = {
    "check": [],
    "train": ["--model", "naive", "--window", "8", "--horizon", "3", "--quiet"],
    "evaluate": ["--model", "naive", "--window", "8", "--horizon", "3", "--quiet"],
    "compare": ["--models", "naive", "--window", "8", "--horizon", "3", "--quiet"],
}


def _options(command: str) -> set[str]:
    params = typer.main.get_command(app).commands[command].params
    return {flag for param in params for flag in [*param.opts, *param.secondary_opts]}


def _broken_files() -> dict[str, pd.DataFrame]:
    frame = seasonal_frame(60)
    missing = frame.copy()
    missing.loc[[40, 41], "y"] = None
    unsorted = frame.copy()
    unsorted.loc[[30, 31]] = unsorted.loc[[31, 30]].to_numpy()
    return {
        "gap": frame.drop(index=[50, 51]),
        "missing": missing,
        "duplicate": pd.concat([frame.iloc[:45], frame.iloc[44:]]),
        "unsorted": unsorted,
        "irregular": frame.assign(date=pd.to_datetime(frame["date"]) + pd.to_timedelta([(i * i) % 5 for i in range(60)], unit="h")).astype({"date": str}),
    }


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from rnncast.cli import run

    root = tmp_path_factory.mktemp("advice")
    seasonal_frame(60).to_csv(root / "good.csv", index=False)
    assert run(["train", str(root / "good.csv"), "--model", "naive", "-d", str(root / "m"), *TINY_SHAPE]) == 0
    return root / "m"


@pytest.mark.parametrize("case", sorted(_broken_files()))
def test_every_fix_a_message_names_is_an_option_of_its_command(cli, write_csv, model_dir, case):
    path = write_csv(_broken_files()[case], f"{case}.csv")
    runs = {name: [name, path, *extra] for name, extra in READING_COMMANDS.items()}
    runs["forecast"] = ["forecast", "-d", model_dir, "--data", path, "--quiet"]
    for command, argv in runs.items():
        result = cli(*argv)
        assert result.code == ExitStatus.BAD_DATA, (command, case, result.err)
        named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", result.out + result.err))
        assert named, (command, case, result.out + result.err)  # every refusal names a fix
        assert named <= _options(command), (command, case, named - _options(command))


def test_forecast_follows_the_advice_for_missing_values(cli, write_csv, model_dir):
    frame = seasonal_frame(60)
    frame.loc[[55], "y"] = None
    path = write_csv(frame)
    refused = cli("forecast", "-d", model_dir, "--data", path)
    assert refused.code == ExitStatus.BAD_DATA and "--fill" in refused.err
    fixed = cli("forecast", "-d", model_dir, "--data", path, "--fill", "interpolate")
    assert fixed.code == 0 and fixed.out.splitlines()[1].startswith("2020-03-01,")


@pytest.mark.parametrize("rows, horizon", [(5, None), (25, "10"), (40, "10"), (60, None)])
def test_check_accepts_exactly_what_train_accepts(cli, write_csv, tmp_path, rows, horizon):
    path = write_csv(seasonal_frame(rows))
    shape = ["--horizon", horizon] if horizon else []
    checked = cli("check", path, "--format", "json", *shape)
    trained = cli("train", path, "--model", "naive", "-d", tmp_path / "m", "--quiet", *shape)
    assert (checked.code == 0) == (trained.code == 0)
    if trained.code:
        verdict = json.loads(checked.out)[-1]["finding"]
        assert trained.err == f"rnncast: error: {verdict}\n"


def test_a_window_rnncast_chose_is_not_called_an_option(cli, write_csv, tmp_path):
    result = cli("train", write_csv(seasonal_frame(5)), "-d", tmp_path / "m")
    assert result.code == ExitStatus.BAD_DATA
    assert "the default window of 1 rows and --horizon 10 need at least" in result.err and "--window 1" not in result.err


def test_long_format_without_id_column_is_named_as_many_series(cli, write_csv):
    stores = pd.concat([seasonal_frame(40, seed=i).assign(store=f"s{i}") for i in range(3)])[["date", "store", "y"]]
    path = write_csv(stores)
    train = cli("train", path, "--quiet")
    assert train.code == ExitStatus.BAD_DATA
    assert train.err == (
        "rnncast: error: data.csv: time stamps repeat, once for each value of 'store' (3 series, e.g. 's0', 's1'): "
        "a long-format file of many series; pass --id-column store to train one model on all of them.\n"
    )
    checked = cli("check", path, "--format", "json")
    rows = {row["check"]: row for row in json.loads(checked.out)}
    assert checked.code == ExitStatus.BAD_DATA and rows["long format"]["advice"] == "--id-column store"
    assert "order" not in rows and "duplicates" not in rows  # no advice that would merge the series
    assert cli("check", path, "--id-column", "store").code == 0
