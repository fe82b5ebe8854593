"""ONNX exports agree with Keras for every model of the zoo, deterministic and MC Dropout,
and forecasting from them needs no TensorFlow."""

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

from rnncast.config import TrainConfig
from rnncast.errors import ExitStatus
from rnncast.models import ZOO, NetworkShape, build_model
from rnncast.store import CARD_NAME

from conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
SHAPE = NetworkShape(window=8, n_inputs=2, steps=3, outputs=(0,))


@pytest.mark.parametrize("name", list(ZOO))
def test_onnx_export_matches_keras(name, tmp_path):
    from rnncast.engines import export_onnx, onnx_engine
    from rnncast.rollout import has_dropout

    network = build_model(SHAPE, TrainConfig(model=name, units=4, window=8, horizon=3, season=4, dropout=0.3))
    windows = np.random.default_rng(1).standard_normal((16, 8, 2)).astype(np.float32)
    expected = network.predict(windows, verbose=0)
    stochastic = str(tmp_path / "mc.onnx") if has_dropout(network) else None
    export_onnx(network, str(tmp_path / "net.onnx"), stochastic)
    engine = onnx_engine((tmp_path / "net.onnx").read_bytes(), Path(stochastic).read_bytes() if stochastic else None)
    # Outputs are in standardised units, so this is relative to the series' scale. The layer
    # norm of ln-rnn is rebuilt from elementary ONNX ops and rounds differently, by about 1e-5.
    tolerance = 3e-5 if name == "ln-rnn" else 1e-5
    np.testing.assert_allclose(engine.deterministic(windows), expected, rtol=0, atol=tolerance * max(1, np.abs(expected).max()))
    if stochastic is None:
        return
    copies = np.repeat(windows[:1], 4000, axis=0)
    onnx_passes = engine.stochastic(0)(copies)
    keras_passes = network(copies, training=True).numpy()
    assert onnx_passes.std(axis=0).mean() == pytest.approx(keras_passes.std(axis=0).mean(), rel=0.1)
    np.testing.assert_allclose(onnx_passes.mean(axis=0), keras_passes.mean(axis=0), atol=0.1 * keras_passes.std(axis=0).max())


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    from rnncast.cli import run
    from conftest import seasonal_frame

    root = tmp_path_factory.mktemp("exported")
    seasonal_frame().to_csv(root / "daily.csv", index=False)
    assert run(["train", str(root / "daily.csv"), "-d", str(root / "model"), *TINY]) == 0
    return root / "model"


def test_onnx_and_keras_engines_forecast_alike(cli, exported):
    onnx = pd.read_csv(io.StringIO(cli("forecast", "-d", exported, "-H", "7", "--engine", "onnx").out))
    keras = pd.read_csv(io.StringIO(cli("forecast", "-d", exported, "-H", "7", "--engine", "keras").out))
    assert list(onnx["date"]) == list(keras["date"])
    np.testing.assert_allclose(onnx["y"], keras["y"], rtol=1e-5)
    assert "onnxruntime for point forecasts and MC Dropout" in cli("info", "-d", exported).out


def test_onnx_mc_is_seeded_and_spreads(cli, exported):
    first = cli("forecast", "-d", exported, "--mc-samples", "50", "--seed", "3").out
    assert first == cli("forecast", "-d", exported, "--mc-samples", "50", "--seed", "3").out
    assert first != cli("forecast", "-d", exported, "--mc-samples", "50", "--seed", "4").out
    frame = pd.read_csv(io.StringIO(first))
    assert (frame["y_std"] > 0).all() and (frame["y_lower"] < frame["y"]).all() and (frame["y"] < frame["y_upper"]).all()


def test_model_without_export_falls_back_to_keras(cli, exported, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    card = json.loads((copy / CARD_NAME).read_text())
    card["files"] = {k: v for k, v in card["files"].items() if k.startswith("keras")} | {"onnx_error": "unsupported op"}
    (copy / CARD_NAME).write_text(json.dumps(card))
    assert cli("forecast", "-d", copy).out == cli("forecast", "-d", exported, "--engine", "keras").out
    refused = cli("forecast", "-d", copy, "--engine", "onnx")
    assert refused.code == ExitStatus.USAGE and "has no ONNX export" in refused.err
    assert "the ONNX export failed: unsupported op" in cli("info", "-d", copy).out


def test_forecast_process_imports_neither_tensorflow_nor_pandas(exported, tmp_path):
    probe = (
        "import sys\nfrom rnncast.cli import run\n"
        f"code = run(['forecast', '-d', {str(exported)!r}, '--mc-samples', '20', '-q'])\n"
        "print(int(code), sorted(m for m in ('tensorflow', 'keras', 'tf2onnx', 'pandas') if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.stderr.strip().splitlines()[-1] == "0 []"
    assert result.stdout.startswith("date,y,y_std,y_lower,y_upper\n")
