"""Forecast time stamps keep the input's own format: a year stays a year."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from rnncast.api import Forecast
from rnncast.store import ModelCard

from conftest import TINY_SHAPE


def _card(**fields) -> ModelCard:
    return ModelCard(config={}, data_options={}, columns=["lynx"], targets=["lynx"], time_column="year", freq="YS-JAN",
                     last_time="1989-01-01T00:00:00", metrics={}, training={}, source={},
                     created="", rnncast_version="", **fields)


def test_a_card_with_a_year_format_prints_years_and_one_without_prints_dates():
    columns = {"lynx": np.array([1.0, 2.0])}
    assert Forecast(_card(time_format="%Y"), "1989-01-01T00:00:00", columns).time_labels() == ["1990", "1991"]
    # A card written before time_format: missing key, today's labels.
    assert Forecast(_card(), "1989-01-01T00:00:00", columns).time_labels() == ["1990-01-01", "1991-01-01"]


def test_yearly_file_forecasts_years(cli, write_csv, tmp_path):
    path = write_csv(pd.DataFrame({"year": range(1950, 1990), "lynx": np.sin(np.arange(40.0)) + 5}))
    model_dir = tmp_path / "model"
    assert cli("train", path, "--model", "naive", "--model-dir", model_dir, *TINY_SHAPE).code == 0
    assert json.loads((model_dir / "card.json").read_text())["time_format"] == "%Y"
    result = cli("forecast", "--model-dir", model_dir)
    assert result.code == 0
    assert [line.split(",")[0] for line in result.out.splitlines()] == ["year", "1990", "1991", "1992"]
    data = cli("forecast", "--model-dir", model_dir, "--data", path, "--format", "json")
    assert [row["year"] for row in json.loads(data.out)["forecast"]] == ["1990", "1991", "1992"]


def test_day_first_file_trains_and_forecasts_with_its_stored_format(cli, write_csv, tmp_path):
    dates = pd.date_range("2020-01-13", periods=60, freq="D")
    text = "Datum;y\n" + "".join(f"{t:%d.%m.%Y};{i % 7},5\n" for i, t in enumerate(dates))
    model_dir = tmp_path / "model"
    assert cli("train", write_csv(text), "--model", "naive", "--model-dir", model_dir, *TINY_SHAPE).code == 0
    card = json.loads((model_dir / "card.json").read_text())
    assert card["data_options"]["date_format"] == "%d.%m.%Y"
    # The newest rows alone (days 1 to 12 of March) would read both ways; the stored format settles them.
    update = write_csv("Datum;y\n" + "".join(f"{d:02d}.03.2020;{d},5\n" for d in range(1, 13)), "update.csv")
    result = cli("forecast", "--model-dir", model_dir, "--data", update)
    assert result.code == 0, result.err
    assert [line.split(",")[0] for line in result.out.splitlines()[1:]] == ["2020-03-13", "2020-03-14", "2020-03-15"]
