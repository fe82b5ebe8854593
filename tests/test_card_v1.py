"""Model directories written by rnncast 0.x with card format version 1 still load and forecast
the numbers that code printed (tests/fixtures/v1: a single-series GRU with dropout, an ensemble
of two, and a global model of two series; trained with --units 4 --epochs 1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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
