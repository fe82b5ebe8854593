"""Whole-process speed and memory of rnncast, printed as a table.

    python benchmarks/perf.py            # everything (about 15 minutes on 2 cores)
    python benchmarks/perf.py --quick    # fewer repeats, no 5-million-row run

Each command runs as its own process; figures are the median wall seconds and peak RSS
(from wait4, forked from a small launcher: ``LAUNCHER``) over the repeats. Training speed compares rnncast with the chapter's plain
Keras code on the same GRU, data, windows and batch size, in the same run: a generated
series long enough for the chapter's 7,000 training windows, so that the figure is the
cost of training and not of Keras's per-epoch bookkeeping.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RNNCAST = [sys.executable, "-m", "rnncast"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


# Runs a command and reports its wall seconds, peak RSS (KB) and exit code. A forked child's
# ru_maxrss keeps the high-water mark of the process it was copied from, so the command is forked
# from this small interpreter (python -S, a few MB), not from the benchmark's own, which holds
# pandas and NumPy and would set every command's figure to its own size.
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def measure(command: list[str], repeats: int) -> tuple[float, float]:
    """Median wall seconds and median peak RSS (MB) of ``command`` over ``repeats`` runs."""
    seconds, peaks = [], []
    for _ in range(repeats):
        result = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, *command], env=ENV, capture_output=True, text=True)
        wall, rss, code = result.stdout.split()
        if int(code) != 0:
            raise SystemExit(f"{' '.join(command)} failed: {result.stderr}")
        seconds.append(float(wall))
        peaks.append(int(rss) / 1024)
    return statistics.median(seconds), statistics.median(peaks)


TRAINING_PROBE = """
import json, sys, time
import numpy as np
from rnncast._keras import import_keras
keras = import_keras()
keras.utils.set_random_seed(0)
which, csv, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
window, horizon, batch = 50, 10, 32
stamps = []
if which == "rnncast":
    from rnncast.config import TrainConfig
    from rnncast.data import load_csv
    from rnncast.training import fit
    # Seeded like the plain code (set_random_seed above), not with --seed, which also turns on
    # TensorFlow's op determinism and so would not compare like with like.
    config = TrainConfig(model="gru", units=20, layers=2, window=window, horizon=horizon, batch_size=batch,
                         epochs=epochs, patience=epochs, dropout=0.0, preprocess="none", fallback=False)
    stamps.append(time.perf_counter())
    model = fit(load_csv(csv), config, on_epoch=lambda *_: stamps.append(time.perf_counter())).network
else:
    import pandas as pd
    values = pd.read_csv(csv)["y"].to_numpy(dtype="float32")
    train = values[: int(len(values) * 0.8)]
    mean, std = train.mean(), train.std()
    series = (values - mean) / std
    starts = np.arange(len(series) - window - horizon + 1)
    X = series[starts[:, None] + np.arange(window)][..., None]
    Y = series[starts[:, None] + window + np.arange(horizon)]
    split = int(len(X) * 0.8)
    model = keras.models.Sequential([
        keras.layers.Input((window, 1)),
        keras.layers.GRU(20, return_sequences=True),
        keras.layers.GRU(20),
        keras.layers.Dense(horizon),
    ])
    model.compile(loss="mse", optimizer="adam")
    stamps.append(time.perf_counter())
    model.fit(X[:split], Y[:split], validation_data=(X[split:], Y[split:]), epochs=epochs, batch_size=batch,
              verbose=0, callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: stamps.append(time.perf_counter()))])
epochs_seconds = np.diff(stamps)
print(json.dumps({"first": float(epochs_seconds[0]), "steady": float(np.median(epochs_seconds[1:])),
                  "params": model.count_params()}))
"""


def training_speed(csv: Path, epochs: int) -> dict[str, dict[str, float]]:
    results = {}
    for which in ("plain-keras", "rnncast"):
        output = subprocess.run([sys.executable, "-c", TRAINING_PROBE, which, str(csv), str(epochs)],
                                env=ENV, capture_output=True, text=True, check=True).stdout
        results[which] = json.loads(output.strip().splitlines()[-1])
    return results


def training_csv(path: Path, rows: int) -> None:
    """A noisy two-season series (the chapter's kind of signal), with a time column."""
    rng = np.random.default_rng(42)
    t = np.arange(rows)
    y = 0.5 * np.sin(2 * np.pi * t / 24) + 0.2 * np.sin(2 * np.pi * t / 167) + 0.1 * rng.standard_normal(rows)
    pd.DataFrame({"time": pd.date_range("2020-01-01", periods=rows, freq="h"), "y": y}).to_csv(path, index=False)


def big_csv(path: Path, rows: int) -> None:
    """A 4-column hourly CSV of ``rows`` rows, written in chunks to keep this process small."""
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2000-01-01")
    with open(path, "w") as stream:
        stream.write("time,a,b,c,d\n")
        for offset in range(0, rows, 500_000):
            n = min(500_000, rows - offset)
            t = np.arange(offset, offset + n)
            frame = pd.DataFrame({
                "time": (start + pd.to_timedelta(t, unit="h")).strftime("%Y-%m-%d %H:%M"),
                **{c: np.sin(2 * np.pi * t / (24 * (i + 1))) + 0.1 * rng.standard_normal(n) for i, c in enumerate("abcd")},
            })
            frame.to_csv(stream, header=False, index=False, float_format="%.4f")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no 5-million-row run")
    parser.add_argument("--big-rows", type=int, default=5_000_000)
    parser.add_argument("--training-rows", type=int, default=8_824,
                        help="rows of the training-speed series (8,824: 7,000 training windows of 60 rows, as the chapter)")
    args = parser.parse_args()
    repeats = 3 if args.quick else 5
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        sales = ROOT / "sample_data" / "daily_sales.csv"
        model_dir = scratch / "gru"
        subprocess.run([*RNNCAST, "train", str(sales), "-d", str(model_dir), "--epochs", "2", "--no-fallback", "-q"], env=ENV, check=True,
                       stdout=subprocess.DEVNULL)

        rows.append(("rnncast --help", *measure([*RNNCAST, "--help"], repeats)))
        rows.append(("rnncast train --help", *measure([*RNNCAST, "train", "--help"], repeats)))
        for label, extra in FORECASTS:
            rows.append((label, *measure([*RNNCAST, "forecast", "--horizon", "10", "-d", str(model_dir), *extra], repeats)))

        windows = scratch / "windows.csv"
        training_csv(windows, args.training_rows)
        speed = training_speed(windows, epochs=4 if args.quick else 6)
        if not args.quick:
            big = scratch / "big.csv"
            big_csv(big, args.big_rows)
            seconds, peak = measure([*RNNCAST, "train", str(big), "--target", "a", "-d", str(scratch / "big"), "--epochs", "1",
                                     "--batch-size", "4096", "--window", "48", "--horizon", "24", "-q"], 1)
            rows.append((f"train on {args.big_rows:,} rows x 4 columns, 1 epoch (batch 4096)", seconds, peak))
            training = json.loads((scratch / "big" / "card.json").read_text())["training"]
            rows.append(("  of which the epoch (training and validation windows)", training["seconds"], float("nan")))

    print(f"{'what':<64} {'wall s':>8} {'peak RSS MB':>12}")
    for label, seconds, peak in rows:
        print(f"{label:<64} {seconds:>8.2f} {'' if np.isnan(peak) else f'{peak:.0f}':>12}")
    keras_speed, ours = speed["plain-keras"], speed["rnncast"]
    print()
    print(f"{'training, GRU 2x20, window 50, horizon 10, batch 32':<64} {'first epoch s':>14} {'later epochs s':>15} {'params':>7}")
    print(f"{'  plain Keras (chapter code, numpy windows)':<64} {keras_speed['first']:>14.2f} {keras_speed['steady']:>15.2f} "
          f"{keras_speed['params']:>7}")
    print(f"{'  rnncast (tf.data windows, XLA)':<64} {ours['first']:>14.2f} {ours['steady']:>15.2f} {ours['params']:>7}")
    print(f"{'  ratio rnncast / plain Keras (later epochs)':<64} {'':>14} {ours['steady'] / keras_speed['steady']:>15.2f}")


FORECASTS = [
    ("cold rnncast forecast --horizon 10 (onnxruntime)", []),
    ("cold rnncast forecast --horizon 10 --engine keras", ["--engine", "keras"]),
    ("cold rnncast forecast --horizon 10 --mc-samples 200 (onnxruntime)", ["--mc-samples", "200"]),
    ("cold rnncast forecast --horizon 10 --mc-samples 200 --engine keras", ["--mc-samples", "200", "--engine", "keras"]),
]

if __name__ == "__main__":
    main()
