"""Start-up stays light: help and usage errors never import TensorFlow or Keras."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
from rnncast.cli import run
code = run(json.loads(sys.argv[1]))
heavy = sorted(m for m in ("tensorflow", "keras", "pandas") if m in sys.modules)
print(json.dumps({"code": int(code), "heavy": heavy}), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("argv", "code", "allowed"),
    [
        (["--help"], 0, []),
        (["train", "--help"], 0, []),
        (["forecast", "--help"], 0, []),
        (["evaluate", "--help"], 0, []),
        (["models"], 0, []),
        (["train"], 2, []),
        (["train", "x.csv", "--horizon", "0"], 2, []),
        (["train", "x.csv", "--model", "transformer"], 2, []),
        (["forecast", "--horizon", "0"], 2, []),
        (["train", "missing.csv"], 3, ["pandas"]),
    ],
)
def test_no_tensorflow_for_help_and_usage_errors(argv, code, allowed, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv)], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
    )
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["code"] == code
    assert set(report["heavy"]) <= set(allowed)
