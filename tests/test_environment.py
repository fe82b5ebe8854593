"""The machine's failures, not the user's: read-only and full directories, closed or full stdout,
Ctrl-C, and damaged model cards. Each ends in one line and a documented exit code."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from rnncast.errors import ExitStatus, LockTimeout
from rnncast.lock import hold
from rnncast.store import CARD_NAME, FILES_LOCK, TRAIN_LOCK

from conftest import TINY, TINY_OPTIONS, seasonal_frame

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
RNNCAST = f"{sys.executable} -m rnncast"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A CSV and a tiny model of each kind trained on it: single, ensemble, global (many series)."""
    from rnncast.cli import run

    root = tmp_path_factory.mktemp("env")
    csv, long_csv = root / "daily.csv", root / "long.csv"
    seasonal_frame().to_csv(csv, index=False)
    frames = [seasonal_frame(seed=i).rename(columns={"date": "ds"}).assign(unique_id=key) for i, key in enumerate(("a", "b"))]
    pd.concat(frames).to_csv(long_csv, index=False)
    linear = TINY_OPTIONS["linear"]
    for name, args in (("single", [csv, "--model", "linear", *linear]),
                       ("ensemble", [csv, "--model", "linear", "--ensemble", "2", *linear]),
                       ("panel", [long_csv, "--model", "linear", *linear])):
        assert run(["train", *map(str, args), "-d", str(root / name)]) == 0
    return {"csv": csv, "single": root / "single", "ensemble": root / "ensemble", "panel": root / "panel"}


def copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def shell(script: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script], env=ENV, capture_output=True, text=True, timeout=timeout)


# 1. A read-only model directory.

def in_mount_namespace(mounts: str, script: str) -> subprocess.CompletedProcess:
    """Run ``script`` after ``mounts`` (shell commands) in a mount namespace of its own, so that
    read-only and full file systems are real, not simulated; skipped where that is not allowed."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare here")
    result = subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c", f"{mounts} && echo mounted && {script}"],
                            env=ENV, capture_output=True, text=True, timeout=300)
    if not result.stdout.startswith("mounted"):
        pytest.skip(f"no mount namespace here: {result.stderr.strip()[:200]}")
    return result


def read_only(directory: Path) -> str:
    return f"mount --bind {directory} {directory} && mount -o remount,bind,ro {directory}"


def test_forecast_from_and_train_into_a_read_only_mount(cli, models, tmp_path):
    locked = copy_model(models["single"], tmp_path / "locked")
    never_locked = copy_model(models["single"], tmp_path / "never-locked")
    (never_locked / FILES_LOCK).unlink()  # as if copied into an image without its lock file
    expected = cli("forecast", "-d", locked).out
    result = in_mount_namespace(f"{read_only(locked)} && {read_only(never_locked)}", (
        f"{RNNCAST} forecast -d {locked} --quiet && {RNNCAST} forecast -d {never_locked} --quiet && "
        f"{RNNCAST} train {models['csv']} --model naive -d {locked} --quiet; echo status $?; "
        f"{RNNCAST} train {models['csv']} --model naive -d {locked}/new --quiet; echo status $?"
    ))
    assert result.stdout == f"mounted\n{expected}{expected}status 7\nstatus 7\n"
    assert result.stderr.splitlines()[-2:] == [
        f"rnncast: error: {locked}: cannot write the model directory (Read-only file system); choose another --model-dir.",
        f"rnncast: error: {locked}/new: cannot create the model directory (Read-only file system); choose another --model-dir.",
    ]


def read_only_os_open(monkeypatch) -> None:
    """What a read-only file system does to os.open: anything that may write is refused."""
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR) and not os.path.exists(path):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)


def test_forecast_needs_no_lock_file_where_none_can_be_created(cli, models, tmp_path, monkeypatch):
    model_dir = copy_model(models["single"], tmp_path / "m")
    expected = cli("forecast", "-d", model_dir).out
    (model_dir / FILES_LOCK).unlink()
    read_only_os_open(monkeypatch)
    assert cli("forecast", "-d", model_dir).out == expected
    train = cli("train", models["csv"], "--model", "naive", "-d", model_dir, "--quiet")
    assert (train.code, train.err) == (
        ExitStatus.ENVIRONMENT,
        f"rnncast: error: {model_dir}: cannot write the model directory (Read-only file system); choose another --model-dir.\n",
    )


# 2. A full disk.

def test_a_really_full_disk_keeps_the_previous_model(cli, models, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    model_dir = disk / "m"
    expected = cli("forecast", "-d", models["single"]).out
    result = in_mount_namespace(f"mount -t tmpfs -o size=1m tmpfs {disk} && cp -a {models['single']} {model_dir}", (
        # Leave two pages: one for the lock file, not enough for the network.
        f"head -c $(( $(stat -f -c '%a * %S' {disk}) - 8192 )) /dev/zero > {disk}/filler; "
        f"{RNNCAST} train {models['csv']} --model linear --seed 2 -d {model_dir} {' '.join(TINY_OPTIONS['linear'])}; "
        f"echo status $?; LC_ALL=C ls -A {model_dir}; {RNNCAST} forecast -d {model_dir}"
    ))
    files = "\n".join(sorted(path.name for path in models["single"].iterdir()))
    assert result.stdout == f"mounted\nstatus 7\n{files}\n{expected}"
    assert result.stderr.splitlines()[-1] == (
        f"rnncast: error: no space left on device while saving the model to {model_dir}; "
        "free space and train again; the previous model is kept."
    )


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def wrapped_no_space(*args, **kwargs):
    """A converter that reports a full disk inside its own exception."""
    try:
        no_space()
    except OSError as error:
        raise RuntimeError("could not write the model") from error


@pytest.mark.parametrize("where", ["fsync", "onnx"])
def test_a_full_disk_keeps_the_previous_model(cli, models, tmp_path, monkeypatch, where):
    import rnncast.engines

    model_dir = copy_model(models["single"], tmp_path / "m")
    before = {path.name: path.read_bytes() for path in model_dir.iterdir()}
    expected = cli("forecast", "-d", model_dir).out
    if where == "fsync":  # every network file and the card are synced before they are published
        monkeypatch.setattr(os, "fsync", no_space)
    else:  # the .keras file fits, the ONNX export does not: the model must not lose its fast engine
        monkeypatch.setattr(rnncast.engines, "export_onnx", wrapped_no_space)
    result = cli("train", models["csv"], "--model", "linear", "--seed", "2", "-d", model_dir, *TINY_OPTIONS["linear"])
    monkeypatch.undo()
    assert (result.code, result.err) == (
        ExitStatus.ENVIRONMENT,
        f"rnncast: error: no space left on device while saving the model to {model_dir}; "
        "free space and train again; the previous model is kept.\n",
    )
    assert {path.name: path.read_bytes() for path in model_dir.iterdir()} == before
    assert cli("forecast", "-d", model_dir).out == expected


# 3. A hand-edited or damaged card.

def edit(card: dict, change) -> dict:
    change(card)
    return card


CORRUPTIONS = {
    "window changed": (lambda c: c["config"].update(window=9), 'field \'series."".last_window\' has 8 rows; config.window is 9'),
    "scaler emptied": (lambda c: c["series"][""].update(scaler={}), 'field \'series."".scaler.mean\' is missing'),
    "last window emptied": (lambda c: c["series"][""].update(last_window=[]), 'field \'series."".last_window\' has 0 rows; config.window is 8'),
    "series renamed": (lambda c: c.update(series={"y": c["series"][""]}),
                       "field 'series' must hold the one series of a wide file, under the key \"\", when id_column is null"),
    "series gone": (lambda c: c.pop("series"), "field 'series' is missing"),
    "rows missing": (lambda c: c["series"][""].pop("rows"), 'field \'series."".rows\' is missing'),
    "field missing": (lambda c: c.pop("targets"), "field 'targets' is missing"),
    "wrong type": (lambda c: c["config"].update(horizon="3"), "field 'config.horizon' must be an integer of at least 1, not '3'"),
    "horizon 0": (lambda c: c["config"].update(horizon=0), "field 'config.horizon' must be an integer of at least 1, not 0"),
    "time format not text": (lambda c: c.update(time_format=4), "field 'time_format' must be a string or null, not 4"),
    "short row": (lambda c: c["series"][""]["last_window"][2].pop(), 'field \'series."".last_window.2\' must have one value per column (1)'),
    "unknown target": (lambda c: c.update(targets=["sales"]), "field 'targets' names 'sales', which is not one of the columns (y)"),
    "scaler of another width": (lambda c: c["series"][""]["scaler"]["scale"].append(1.0),
                                'field \'series."".scaler.scale\' must have one value per column (1)'),
    "unknown data option": (lambda c: c["data_options"].update(sheet=2), "field 'data_options.sheet' is not a way of reading a CSV that this rnncast knows"),
    "calibration emptied": (lambda c: c["uncertainty"].update(upper_factors=[]), "field 'uncertainty.upper_factors' must have one table per level (5)"),
    "calibration of another width": (lambda c: c["uncertainty"]["lower_factors"][0][0].append(1.0),
                                     "field 'uncertainty.lower_factors.0.0' must have one value per target (1)"),
}


@pytest.mark.parametrize("case", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_an_edited_card_names_the_field(cli, models, tmp_path, case):
    change, problem = CORRUPTIONS[case]
    model_dir = copy_model(models["single"], tmp_path / "m")
    card = model_dir / CARD_NAME
    card.write_text(json.dumps(edit(json.loads(card.read_text()), change)))
    result = cli("forecast", "-d", model_dir)
    assert (result.code, result.out) == (ExitStatus.MODEL, "")
    assert result.err == f"rnncast: error: {card}: {problem}; the model directory was edited or damaged — train again.\n"


def test_every_kind_of_card_passes_and_its_own_damage_is_named(cli, models, tmp_path):
    for kind in ("single", "ensemble", "panel"):
        assert cli("forecast", "-d", models[kind]).code == 0, kind
    damages = [
        ("ensemble", lambda c: c["ensemble"]["members"][1]["files"].pop("keras"), "field 'ensemble.members.1.files.keras' is missing"),
        ("panel", lambda c: c["series"]["b"].update(last_window=[[1.0]]), "field 'series.b.last_window' has 1 rows; config.window is 8"),
        ("panel", lambda c: c["skipped"].update(c=0), "field 'skipped.c' must be an integer of at least 1, not 0"),
        ("panel", lambda c: c["series"].clear(), "field 'series' holds no series"),
    ]
    for i, (kind, change, problem) in enumerate(damages):
        model_dir = copy_model(models[kind], tmp_path / str(i))
        card = model_dir / CARD_NAME
        card.write_text(json.dumps(edit(json.loads(card.read_text()), change)))
        result = cli("forecast", "-d", model_dir)
        assert (result.code, result.err) == (
            ExitStatus.MODEL, f"rnncast: error: {card}: {problem}; the model directory was edited or damaged — train again.\n")


# 4. A closed, full or broken standard output; 7. an --output file that cannot be written.

def test_closed_or_full_stdout_is_the_environments_fault(models):
    model_dir = models["single"]
    closed = shell(f"{RNNCAST} forecast -d {model_dir} --quiet >&-")
    assert (closed.returncode, closed.stderr) == (
        ExitStatus.ENVIRONMENT, "rnncast: error: standard output is closed; redirect it to a file or pass --output FILE.\n")
    full = shell(f"{RNNCAST} forecast -d {model_dir} --quiet > /dev/full")
    assert (full.returncode, full.stderr) == (
        ExitStatus.ENVIRONMENT,
        "rnncast: error: cannot write to standard output (No space left on device); redirect it to a file or pass --output FILE.\n",
    )
    both_closed = shell(f"{RNNCAST} forecast -d {model_dir} --quiet >&- 2>&-")
    assert both_closed.returncode == ExitStatus.ENVIRONMENT


def test_a_closed_pipe_stops_quietly_with_141(models):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line, as `| head -1` is once it has it
    process = subprocess.run([sys.executable, "-m", "rnncast", "forecast", "-d", str(models["single"]), "--quiet"],
                             env=ENV, stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write)
    assert (process.returncode, process.stderr) == (ExitStatus.BROKEN_PIPE, "")


def test_output_file_on_a_full_or_read_only_place(cli, models, tmp_path, monkeypatch):
    full = cli("forecast", "-d", models["single"], "--output", "/dev/full")
    assert (full.code, full.err) == (
        ExitStatus.ENVIRONMENT,
        "rnncast: error: `--output` /dev/full: cannot write (No space left on device); free space or write it elsewhere.\n",
    )
    missing = cli("forecast", "-d", models["single"], "--output", tmp_path / "no" / "f.csv")
    assert (missing.code, missing.err) == (
        ExitStatus.USAGE, f"rnncast: error: `--output` {tmp_path / 'no' / 'f.csv'}: cannot write (No such file or directory).\n")

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "write_text", read_only)
    refused = cli("forecast", "-d", models["single"], "--output", tmp_path / "f.csv")
    assert (refused.code, refused.err) == (
        ExitStatus.ENVIRONMENT,
        f"rnncast: error: `--output` {tmp_path / 'f.csv'}: cannot write (Read-only file system); write it elsewhere.\n",
    )


# 5. Ctrl-C.

def test_ctrl_c_during_training_says_so_and_keeps_the_model(models, tmp_path):
    model_dir = copy_model(models["single"], tmp_path / "m")
    before = (model_dir / CARD_NAME).read_bytes()
    train = subprocess.Popen([sys.executable, "-m", "rnncast", "train", str(models["csv"]), "-d", str(model_dir),
                              "--epochs", "500", "--patience", "500", *TINY[2:]],
                             env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (model_dir / TRAIN_LOCK).exists() and time.monotonic() < deadline:  # taken just before training
        time.sleep(0.05)
    time.sleep(1)
    train.send_signal(signal.SIGINT)
    out, err = train.communicate(timeout=120)
    assert (train.returncode, out, err.splitlines()[-1]) == (ExitStatus.INTERRUPTED, "", "rnncast: error: interrupted.")
    assert (model_dir / CARD_NAME).read_bytes() == before and not (model_dir / TRAIN_LOCK).exists()


def test_an_error_raised_while_ctrl_c_unwinds_still_says_interrupted(cli, models, monkeypatch):
    """Ctrl-C lands wherever the main thread is; cleanup code inside TensorFlow may then raise its own error."""
    import rnncast.api

    def interrupted_in_a_library(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("iterator closed") from None

    monkeypatch.setattr(rnncast.api, "train", interrupted_in_a_library)
    result = cli("train", models["csv"], *TINY)
    assert (result.code, result.err) == (ExitStatus.INTERRUPTED, "rnncast: error: interrupted.\n")
    monkeypatch.setattr(rnncast.api, "train", lambda *args, **kwargs: 1 / 0)
    assert cli("train", models["csv"], *TINY).err.startswith("rnncast: error: internal error (ZeroDivisionError")


# 6. Nothing left behind.

def test_a_failed_training_leaves_no_directory_or_lock(cli, models, write_csv, tmp_path):
    short = write_csv(seasonal_frame(rows=12))
    for model_dir in (tmp_path / "new" / "model", Path("rnncast-model")):
        result = cli("train", short, *(["-d", model_dir] if model_dir.is_absolute() else []), *TINY)
        assert result.code == ExitStatus.BAD_DATA
        assert not model_dir.exists() and not (tmp_path / "new").exists()
    kept = copy_model(models["single"], tmp_path / "kept")
    assert cli("train", short, "-d", kept, *TINY).code == ExitStatus.BAD_DATA
    assert not (kept / TRAIN_LOCK).exists() and (kept / CARD_NAME).exists()


def test_a_removed_lock_file_still_excludes(tmp_path):
    """A waiter that gets the lock on a file its holder has just deleted must lock the new one."""
    path = tmp_path / TRAIN_LOCK
    got_it, release = threading.Event(), threading.Event()

    def second() -> None:
        with hold(path, exclusive=True, timeout=10, purpose="training", remove=True):
            got_it.set()
            release.wait(10)

    with hold(path, exclusive=True, timeout=0, purpose="training", remove=True):
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.3)
    assert got_it.wait(10)
    with pytest.raises(LockTimeout):
        with hold(path, exclusive=True, timeout=0.2, purpose="training", remove=True):
            pass
    release.set()
    waiter.join()
    assert not path.exists()
