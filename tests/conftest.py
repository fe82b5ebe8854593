"""Shared fixtures: tiny generated CSVs and an in-process CLI runner."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnncast.cli import run

# Options every model takes; baselines accept no training options and linear no --units.
# Networks trained this little lose to the baselines: --no-fallback keeps them, so tests see the model they name.
TINY_SHAPE = ["--window", "8", "--horizon", "3", "--seed", "1", "--no-fallback", "--quiet"]
TINY = ["--epochs", "2", "--units", "4", *TINY_SHAPE]
TINY_OPTIONS = {"naive": TINY_SHAPE, "linear": ["--epochs", "2", *TINY_SHAPE]}


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path: Path, monkeypatch) -> None:
    """Run every test in its own directory, so that a command given no --model-dir writes its
    ./rnncast-model there and never into the directory pytest was started from."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _library_logging():
    """The CLI sends the 'rnncast' logger to stderr and stops its propagation; undo that after
    each test, so that caplog in a later test of the same worker sees the library's warnings."""
    yield
    logger = logging.getLogger("rnncast")
    logger.handlers.clear()
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


@dataclasses.dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run ``rnncast ARGS`` in this process; returns exit code, stdout and stderr."""

    def invoke(*args: str) -> Result:
        code = run([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(int(code), captured.out, captured.err)

    return invoke


def train_into(folder: Path, name: str, frame: pd.DataFrame, *args: str) -> tuple[Path, Path, str]:
    """``frame`` written to ``folder/name`` and ``rnncast train`` run on it into ``folder/model``
    with ``args``, in this process: (csv, model_dir, what train printed on stderr)."""
    import contextlib
    import io

    csv, model_dir, err = folder / name, folder / "model", io.StringIO()
    frame.to_csv(csv, index=False)
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = run(["train", str(csv), "-d", str(model_dir), *args])
    assert code == 0, err.getvalue()
    return csv, model_dir, err.getvalue()


def seasonal_frame(rows: int = 120, freq: str = "D", columns: tuple[str, ...] = ("y",), seed: int = 0) -> pd.DataFrame:
    """Seasonal series with noise, one column per name, a 'date' column first."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    data = {"date": pd.date_range("2020-01-01", periods=rows, freq=freq).astype(str)}
    for i, name in enumerate(columns):
        data[name] = 10 + i + np.sin(2 * np.pi * t / 7 + i) + 0.1 * rng.standard_normal(rows)
    return pd.DataFrame(data)


@pytest.fixture
def write_csv(tmp_path: Path):
    """Write a frame (or raw text) to a CSV under tmp_path and return its path."""

    def write(content: pd.DataFrame | str | bytes, name: str = "data.csv") -> Path:
        path = tmp_path / name
        if isinstance(content, pd.DataFrame):
            content.to_csv(path, index=False)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture
def daily_csv(write_csv) -> Path:
    return write_csv(seasonal_frame())


@pytest.fixture
def multivariate_csv(write_csv) -> Path:
    return write_csv(seasonal_frame(columns=("load", "temp", "solar")), "multi.csv")
