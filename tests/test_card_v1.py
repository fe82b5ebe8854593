"""Model directories written by rnncast 0.x with card format version 1 still load and forecast
the numbers that code printed (tests/fixtures/v1: a single-series GRU with dropout, an ensemble
of two, and a global model of two series; trained with --units 4 --epochs 1), and linear models
of one series and of many with a known input (tests/fixtures/v1/known, see its README)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnncast
from rnncast.rollout import MCOptions

FIXTURES = Path(__file__).parent / "fixtures" / "v1"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


def _columns(frame) -> dict[str, list]:
    flat = frame.reset_index()
    return {c: (flat[c].tolist() if c in frame.columns else flat[c].astype(str).tolist()) for c in flat.columns}


def _assert_same(got: dict[str, list], expected: dict[str, list]) -> None:
    assert list(got) == list(expected)
    for name, values in expected.items():
        if isinstance(values[0], str):
            assert got[name] == values, name
        else:
            np.testing.assert_allclose(got[name], values, rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("kind", ["single", "ensemble", "global"])
@pytest.mark.parametrize("engine", ["onnx", "keras"])
def test_v1_model_forecasts_as_before(kind, engine):
    _assert_same(_columns(rnncast.forecast(FIXTURES / kind, horizon=3, engine=engine)), EXPECTED[kind][engine])


def test_v1_model_mc_forecast_as_before():
    frame = rnncast.forecast(FIXTURES / "single", horizon=3, mc=MCOptions(samples=50, seed=3), engine="onnx")
    _assert_same(_columns(frame), EXPECTED["single"]["mc"])


KNOWN = FIXTURES / "known"  # linear models with a known input, written by the code of this commit's parent


def _fixture(name: str) -> str:
    return str(KNOWN / name)


def _printed(text: str, name: str) -> pd.DataFrame:
    """A forecast as printed: the rows of the CSV, or of the JSON document's "forecast"."""
    return pd.DataFrame(json.loads(text)["forecast"]) if name.endswith(".json") else pd.read_csv(io.StringIO(text))


@pytest.mark.parametrize("args, printed", [
    (["-d", "single", "--future", "one_future.csv", "--format", "json"], "single_forecast.json"),
    (["-d", "single", "--future", "one_future.csv", "--mc-samples", "20", "--seed", "1"], "single_mc_forecast.csv"),
    (["-d", "panel", "--future", "many_future.csv", "--format", "json"], "panel_forecast.json"),
    (["-d", "panel", "--data", "many.csv", "--future", "many_future.csv", "--mc-samples", "20", "--seed", "1"], "panel_data_mc_forecast.csv"),
])
def test_v1_model_with_known_inputs_prints_what_it_printed(cli, args, printed):
    result = cli("forecast", *[_fixture(a) if (KNOWN / a).exists() else a for a in args])
    assert result.code == 0, result.err
    expected = (KNOWN / printed).read_text()
    pd.testing.assert_frame_equal(_printed(result.out, printed), _printed(expected, printed), rtol=1e-5, atol=1e-6)
    if printed.endswith(".json"):
        assert {k: v for k, v in json.loads(result.out).items() if k != "forecast"} == {
            k: v for k, v in json.loads(expected).items() if k != "forecast"}


@pytest.mark.parametrize("model_dir", [FIXTURES / "single", FIXTURES / "ensemble", FIXTURES / "global", KNOWN / "single", KNOWN / "panel"])
def test_info_describes_v1_models(cli, model_dir):
    table = cli("info", "-d", model_dir)
    assert table.code == 0 and table.err == ""
    assert "validation y" in table.out and "onnxruntime" in table.out
    document = json.loads(cli("info", "-d", model_dir, "--format", "json").out)
    saved = json.loads((model_dir / "card.json").read_text())
    assert document["targets"] == ["y"] and document["config"] == saved["config"] and document["metrics"] == saved["metrics"]
