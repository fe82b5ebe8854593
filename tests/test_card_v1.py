"""Model directories written by rnncast 0.x with card format version 1 still load and forecast
the numbers that code printed (tests/fixtures/v1: a single-series GRU with dropout, an ensemble
of two, and a global model of two series; trained with --units 4 --epochs 1), and linear models
of one series and of many with a known input (tests/fixtures/v1/known, see its README)."""

from __future__ import annotations

import copy
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnncast
from rnncast.card import upgrade
from rnncast.errors import ExitStatus
from rnncast.rollout import MCOptions
from rnncast.store import load_card, load_network, save

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


@pytest.mark.parametrize("model_dir, id_column, keys", [
    (FIXTURES / "single", None, [""]), (FIXTURES / "ensemble", None, [""]), (FIXTURES / "global", "unique_id", ["a", "b"]),
    (KNOWN / "single", None, [""]), (KNOWN / "panel", "unique_id", ["a", "b"]),
])
def test_a_v1_card_is_read_as_version_2(model_dir, id_column, keys):
    saved = json.loads((model_dir / "card.json").read_text())
    card = load_card(model_dir)
    assert (saved["format_version"], card.format_version, card.id_column, list(card.series)) == (1, 2, id_column, keys)
    if id_column is None:
        assert card.series[""] == {"scaler": saved["scaler"], "last_time": saved["last_time"], "last_window": saved["last_window"],
                                   "rows": saved["source"]["rows"], "start": saved["source"]["start"]}
        assert card.skipped == {}
    else:
        assert (card.series, card.skipped) == (saved["panel"]["series"], saved["panel"]["skipped"])
    assert card.last_time == saved["last_time"]


def test_upgrade_leaves_the_card_it_reads_alone_and_a_version_2_card_as_it_is():
    saved = json.loads((KNOWN / "panel" / "card.json").read_text())
    before = copy.deepcopy(saved)
    upgraded = upgrade(saved, KNOWN / "panel" / "card.json")
    assert saved == before and {"panel", "scaler", "last_window"}.isdisjoint(upgraded) and upgraded["skipped"] == {"c": 5}
    assert upgrade(upgraded, Path("card.json")) is upgraded


def test_info_json_of_a_v1_model_shows_the_version_2_layout(cli):
    document = json.loads(cli("info", "-d", KNOWN / "panel", "--format", "json").out)
    assert (document["format_version"], document["id_column"], document["skipped"]) == (2, "unique_id", {"c": 5})
    assert set(document["series"]["a"]) == {"scaler", "last_time", "rows", "start"}  # the data of the last window is left out


@pytest.mark.parametrize("kind, change, problem", [
    ("single", lambda c: c["last_window"].pop(), "field 'last_window' has 5 rows; config.window is 6"),
    ("single", lambda c: c.pop("scaler"), "field 'scaler.mean' is missing"),
    ("panel", lambda c: c["panel"]["series"]["b"]["scaler"]["mean"].pop(), "field 'panel.series.b.scaler.mean' must have one value per column (5)"),
    ("panel", lambda c: c["panel"].pop("skipped"), "field 'panel.skipped' is missing"),
])
def test_a_damaged_v1_card_is_refused_naming_its_own_field(cli, tmp_path, kind, change, problem):
    model_dir = tmp_path / kind
    shutil.copytree(KNOWN / kind, model_dir)
    card = json.loads((model_dir / "card.json").read_text())
    change(card)
    (model_dir / "card.json").write_text(json.dumps(card))
    result = cli("forecast", "-d", model_dir, "--future", _fixture("one_future.csv" if kind == "single" else "many_future.csv"))
    assert (result.code, result.out) == (ExitStatus.MODEL, "")
    assert result.err == (f"rnncast: error: {model_dir / 'card.json'}: {problem}; "
                          "the model directory was edited or damaged — train again.\n")


def test_a_v1_model_saved_again_is_written_as_version_2(tmp_path):
    card = load_card(KNOWN / "single")
    save(tmp_path / "m", load_network(KNOWN / "single", card), card)
    written = json.loads((tmp_path / "m" / "card.json").read_text())
    assert written["format_version"] == 2 and written["series"] == card.series and {"panel", "scaler", "last_window"}.isdisjoint(written)
    again, before = (rnncast.forecast(model_dir, future=KNOWN / "one_future.csv") for model_dir in (tmp_path / "m", KNOWN / "single"))
    pd.testing.assert_frame_equal(again, before, rtol=1e-5, atol=1e-6)


def test_info_of_a_global_model_names_its_series_and_those_skipped(cli):
    def facts(model_dir: Path) -> dict[str, str]:
        return dict(pd.read_csv(io.StringIO(cli("info", "-d", model_dir, "--format", "csv").out)).itertuples(index=False))

    assert facts(KNOWN / "panel")["series"] == "2 by unique_id; skipped as too short: c (5 rows)"
    assert facts(FIXTURES / "global")["series"] == "2 by unique_id"
    assert "series" not in facts(KNOWN / "single")
