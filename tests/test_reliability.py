"""Cron-grade behaviour: locks, exit codes, kept models, kills during saves, quiet output, safe loading."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rnncast.errors import ExitStatus
from rnncast.lock import hold
from rnncast.store import CARD_NAME, FILES_LOCK, TRAIN_LOCK, load_card

from conftest import TINY, TINY_OPTIONS, seasonal_frame

ROOT = Path(__file__).resolve().parents[1]


def rnncast_process(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "rnncast", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.fixture(scope="module")
def two_models(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A CSV and two different tiny models trained on it: (csv, model_a, model_b)."""
    from rnncast.cli import run

    root = tmp_path_factory.mktemp("models")
    csv = root / "daily.csv"
    seasonal_frame().to_csv(csv, index=False)
    for name, model in (("a", "naive"), ("b", "linear")):
        assert run(["train", str(csv), "--model", model, "-d", str(root / name), *TINY_OPTIONS[model]]) == 0
    return csv, root / "a", root / "b"


def test_second_training_waits_then_gives_up_with_its_own_code(cli, two_models, tmp_path):
    csv, _, _ = two_models
    model_dir = tmp_path / "busy"
    model_dir.mkdir()
    started = time.monotonic()
    with hold(model_dir / TRAIN_LOCK, exclusive=True, timeout=0, purpose="training"):
        result = cli("train", csv, "-d", model_dir, "--lock-timeout", "0.5", *TINY)
    assert result.code == ExitStatus.LOCK_TIMEOUT
    assert time.monotonic() - started >= 0.5
    assert f"another rnncast process (pid {os.getpid()}) is training a model there; waited 0.5 s" in result.err
    assert "--lock-timeout" in result.err and not (model_dir / CARD_NAME).exists()


def test_forecast_does_not_wait_for_a_training(cli, two_models):
    _, model_a, _ = two_models
    with hold(model_a / TRAIN_LOCK, exclusive=True, timeout=0, purpose="training"):
        assert cli("forecast", "-d", model_a).code == 0


def test_forecast_waits_for_a_save_in_progress(two_models):
    from rnncast.errors import LockTimeout
    from rnncast.store import load

    _, model_a, _ = two_models
    with hold(model_a / FILES_LOCK, exclusive=True, timeout=0, purpose="saving"):
        with pytest.raises(LockTimeout):
            import rnncast.store as store

            original = store.FILES_LOCK_TIMEOUT
            store.FILES_LOCK_TIMEOUT = 0.2
            try:
                load(model_a)
            finally:
                store.FILES_LOCK_TIMEOUT = original


def test_diverging_training_keeps_the_previous_model(cli, two_models, tmp_path):
    import shutil

    csv, model_a, _ = two_models
    model_dir = tmp_path / "kept"
    shutil.copytree(model_a, model_dir)
    card_before = (model_dir / CARD_NAME).read_bytes()
    result = cli("train", csv, "--model", "linear", "--lr", "1e20", "-d", model_dir, *TINY_OPTIONS["linear"])
    assert result.code == ExitStatus.DIVERGED
    assert "training diverged" in result.err and "lower --lr or set --clipnorm" in result.err
    assert (model_dir / CARD_NAME).read_bytes() == card_before
    assert cli("forecast", "-d", model_dir).code == 0


def test_internal_errors_exit_1_without_traceback(cli, two_models, monkeypatch):
    import rnncast.api

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(rnncast.api, "predict", broken)
    result = cli("forecast", "-d", two_models[1])
    assert result.code == ExitStatus.FAILURE
    assert result.err == "rnncast: error: internal error (RuntimeError: boom); rerun with --verbose for details and report it.\n"


def test_lambda_layers_are_refused_by_safe_mode(cli, two_models, tmp_path):
    from rnncast._keras import import_keras
    from rnncast.store import save

    keras = import_keras()
    _, model_a, _ = two_models
    inputs = keras.Input((8, 1))
    network = keras.Model(inputs, keras.layers.Lambda(lambda x: x[:, -3:, :])(inputs))
    save(tmp_path / "lambda", network, load_card(model_a))
    result = cli("forecast", "-d", tmp_path / "lambda")
    assert result.code == ExitStatus.MODEL and "cannot be loaded safely" in result.err


def test_quiet_process_prints_only_results(two_models, tmp_path):
    csv, _, _ = two_models
    train = rnncast_process("train", csv, "-d", tmp_path / "q", *TINY)
    out, err = train.communicate(timeout=300)
    assert (train.returncode, err) == (0, "")
    assert "naive_mae" in out
    forecast = rnncast_process("forecast", "-d", tmp_path / "q", "--quiet")
    out, err = forecast.communicate(timeout=120)
    assert (forecast.returncode, err) == (0, "") and out.startswith("date,y\n")


SAVE_LOOP = textwrap.dedent(
    """
    import sys
    from rnncast.store import load_card, load_network, save
    target, first, second = sys.argv[1:]
    models = [(load_card(d), load_network(d, load_card(d))) for d in (first, second)]
    print("ready", flush=True)
    while True:
        for card, network in models:
            save(target, network, card)
    """
)


def test_kill_during_saves_leaves_one_complete_model(cli, two_models, tmp_path):
    _, model_a, model_b = two_models
    expected = {load_card(m).config["model"]: cli("forecast", "-d", m).out for m in (model_a, model_b)}
    target = tmp_path / "target"
    rng = random.Random(0)
    for _ in range(3):
        process = subprocess.Popen([sys.executable, "-c", SAVE_LOOP, str(target), str(model_a), str(model_b)],
                                   env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "ready"
        # Kill only once a first model is committed: before that, "no model" is the right answer.
        deadline = time.monotonic() + 120
        while not (target / CARD_NAME).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.2, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        forecast = cli("forecast", "-d", target)
        assert forecast.code == 0 and forecast.out == expected[load_card(target).config["model"]]
    from rnncast.store import load_network, save

    save(target, load_network(model_a, load_card(model_a)), load_card(model_a))
    names = sorted(p.name for p in target.iterdir())
    assert names[:2] == [FILES_LOCK, CARD_NAME] and all(n.startswith("model-") for n in names[2:])
    assert len(names) == 2 + len([k for k in load_card(target).files if k in ("keras", "onnx", "onnx_mc")])


def test_kill_during_training_keeps_the_previous_model(cli, two_models, tmp_path):
    import shutil

    csv, model_a, _ = two_models
    model_dir = tmp_path / "m"
    shutil.copytree(model_a, model_dir)
    before = (model_dir / CARD_NAME).read_text()
    train = rnncast_process("train", csv, "-d", model_dir, "--epochs", "50", "--patience", "50", "--units", "4", "--window", "8", "--horizon", "3", "--no-fallback")
    time.sleep(random.Random(1).uniform(3, 8))
    train.send_signal(signal.SIGKILL)
    train.wait()
    card = json.loads((model_dir / CARD_NAME).read_text())
    assert card == json.loads(before) or card["config"]["model"] == "gru"
    assert cli("forecast", "-d", model_dir).code == 0


def test_check_reports_problems_and_their_fixes(cli, write_csv):
    text = "date,y,z,name\n2020-01-01,1,5,a\n2020-01-02,,5,b\n2020-01-02,3,5,c\n2020-01-05,4,5,d\n2020-01-06,4,5,d\n"
    result = cli("check", write_csv(text), "--format", "json")
    assert result.code == ExitStatus.BAD_DATA
    rows = {row["check"]: row for row in json.loads(result.out)}
    assert rows["duplicates"]["finding"] == "1 repeated time stamp(s)"
    assert rows["column 'y'"]["finding"] == "numeric, 1 missing" and "--fill" in rows["column 'y'"]["advice"]
    assert rows["column 'z'"]["finding"] == "numeric, constant"
    assert rows["column 'name'"]["finding"] == "text (ignored)"
    assert rows["verdict"]["finding"].startswith("data.csv: duplicate timestamp 2020-01-02")


def test_check_accepts_a_good_file(cli, write_csv):
    frame = seasonal_frame().drop(index=[30, 31])
    gaps = cli("check", write_csv(frame), "--format", "json")
    rows = {row["check"]: row for row in json.loads(gaps.out)}
    assert gaps.code == ExitStatus.BAD_DATA
    assert rows["gaps"]["finding"] == "2 missing time stamp(s), first 2020-01-31 00:00:00"
    assert rows["gaps"]["advice"] == "--resample D --fill interpolate"
    fixed = cli("check", write_csv(frame), "--resample", "D", "--fill", "interpolate", "--format", "json")
    assert fixed.code == 0 and json.loads(fixed.out)[-1]["finding"] == "train accepts this file"
