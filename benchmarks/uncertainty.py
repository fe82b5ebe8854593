"""How honest are rnncast's MC-Dropout error bars? Coverage and width on a held-out tail.

For each task, a model is trained with rnncast (its validation split also fits the calibration),
then MC-sampled on held-out windows it never saw. Printed per task and nominal level (80%, 90%):
the share of actual values inside the raw and the calibrated interval, and the mean width.

    python benchmarks/uncertainty.py                 # chapter task, daily_sales, hourly_energy
    python benchmarks/uncertainty.py --placement     # where dropout goes: accuracy and coverage

Tasks:
- chapter: ``generate_time_series`` of Hands-On ML ch. 15 (two sines + noise, many short series),
  50 steps in, the next 10 out, as in the chapter; up to 7000 / 2000 / 1000 series for train / validation / test
  (calibration uses 200 validation series, coverage 300 test series).
- daily_sales, hourly_energy: the bundled CSVs; the last 20% of rows is the held-out tail.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rnncast.config import TrainConfig  # noqa: E402
from rnncast.rollout import mc_rollout, stochastic_predictor  # noqa: E402
from rnncast.uncertainty import CALIBRATION_SAMPLES, fit_calibration, summarize  # noqa: E402

LEVELS = (0.8, 0.9)
TEST_WINDOWS = 300


def generate_time_series(batch_size, n_steps, rng):
    """The chapter's generator (with an explicit random generator)."""
    freq1, freq2, offsets1, offsets2 = rng.random((4, batch_size, 1))
    time_ = np.linspace(0, 1, n_steps)
    series = 0.5 * np.sin((time_ - offsets1) * (freq1 * 10 + 10))  # wave 1
    series += 0.2 * np.sin((time_ - offsets2) * (freq2 * 20 + 20))  # + wave 2
    series += 0.1 * (rng.random((batch_size, n_steps)) - 0.5)  # + noise
    return series[..., np.newaxis].astype(np.float32)


def interval_rows(task, paths_val, actual_val, paths_test, actual_test):
    """Coverage and mean width on the test windows, raw and calibrated on the validation ones."""
    calibration = fit_calibration(paths_val, actual_val)
    rows = []
    for level in LEVELS:
        row = {"task": task, "nominal": level}
        for name, factors in (("raw", None), ("calibrated", calibration.factor(level, actual_test.shape[1]))):
            stats = summarize(paths_test, level, factors)
            inside = (actual_test >= stats["lower"]) & (actual_test <= stats["upper"])
            row[f"{name}_coverage"] = float(inside.mean())
            row[f"{name}_width"] = float((stats["upper"] - stats["lower"]).mean())
        rows.append(row)
    return rows


def chapter_task(config: TrainConfig, epochs: int, train_series: int, seed: int = 42):
    """Train on the chapter's task like the chapter (arrays in, 10 steps out); MC-sample validation and test."""
    from rnncast._keras import import_keras
    from rnncast.models import NetworkShape, build_model

    keras = import_keras()
    keras.utils.set_random_seed(seed)
    series = generate_time_series(10000, 60, np.random.default_rng(seed))
    x, y = series[:, :50], series[:, 50:]
    shape = NetworkShape(50, 1, 10, (0,))
    network = build_model(shape, config)
    network.compile(optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate), loss="mse")
    started = time.perf_counter()
    network.fit(x[:train_series], y[:train_series], validation_data=(x[7000:9000], y[7000:9000]), epochs=epochs, batch_size=32, verbose=0)
    seconds = time.perf_counter() - started
    val_mse = float(network.evaluate(x[7000:9000], y[7000:9000], verbose=0))
    predict = stochastic_predictor(network, seed)
    val = slice(7000, 7000 + 200)
    test = slice(9000, 9000 + TEST_WINDOWS)
    paths_val = mc_rollout(predict, x[val], 10, [0], CALIBRATION_SAMPLES)
    paths_test = mc_rollout(predict, x[test], 10, [0], CALIBRATION_SAMPLES)
    return val_mse, seconds, (paths_val, y[val], paths_test, y[test])


def csv_task(path: Path, config: TrainConfig):
    """Train with rnncast on all but the last 20% of rows; MC-sample windows of that held-out tail."""
    from rnncast.api import train
    from rnncast.card import ONE_SERIES
    from rnncast.data import load_csv
    from rnncast.preprocessing import Preprocessing, Standardizer
    from rnncast.store import load_network
    from rnncast.windows import origins

    series = load_csv(path)
    cut = int(len(series) * 0.8)
    with tempfile.TemporaryDirectory() as model_dir:
        card = train(dataclasses.replace(series, frame=series.frame.iloc[:cut]), config, model_dir=model_dir)
        network = load_network(model_dir, card)
    window, horizon = card.config["window"], card.config["horizon"]
    scaler = Standardizer.from_dict(card.series[ONE_SERIES]["scaler"])
    target_index = [card.columns.index(t) for t in card.targets]
    values = series.frame.to_numpy(dtype=np.float64)[cut - window :]
    scaled = scaler.transform(values)
    starts = origins(len(scaled), window, horizon, limit=TEST_WINDOWS)
    windows = scaled[starts[:, None] + np.arange(window)]
    actual = values[starts[:, None] + np.arange(window, window + horizon)][..., target_index]
    # The network sees what the card's preprocessing makes of the windows, as at forecast time.
    outputs = target_index if card.config["strategy"] == "direct" else list(range(len(card.columns)))
    predict = Preprocessing.from_dict(card.preprocessing).wrap(stochastic_predictor(network, 0), outputs)
    paths = scaler.inverse(mc_rollout(predict, windows, horizon, target_index, CALIBRATION_SAMPLES), target_index)
    return card, paths, actual


def print_rows(rows, columns):
    print(" ".join(f"{c:>19}" for c in columns))
    for row in rows:
        print(" ".join(f"{row[c]:>19.4g}" if isinstance(row[c], float) else f"{row[c]!s:>19}" for c in columns))


def coverage_benchmark(epochs: int, train_series: int, tasks: list[str]) -> None:
    from rnncast.uncertainty import Calibration

    columns = ["task", "nominal", "raw_coverage", "calibrated_coverage", "raw_width", "calibrated_width"]
    rows = []
    # The network's own intervals are measured: a baseline kept in its place would have none.
    defaults = TrainConfig(fallback=False)
    chapter = dataclasses.replace(defaults, units=20, horizon=10, window=50)
    if "chapter" in tasks:
        val_mse, seconds, arrays = chapter_task(chapter, epochs, train_series)
        print(f"chapter: GRU 2x20 dropout {chapter.dropout} recurrent_dropout {chapter.recurrent_dropout}, "
              f"{train_series} training series, {epochs} epochs, val MSE {val_mse:.4f}, {seconds:.0f} s", flush=True)
        rows += interval_rows("chapter", *arrays)
    for name, horizon in (("daily_sales", 14), ("hourly_energy", 24)):
        if name not in tasks:
            continue
        config = dataclasses.replace(defaults, horizon=horizon, epochs=epochs, patience=5, seed=0)
        card, paths, actual = csv_task(ROOT / "sample_data" / f"{name}.csv", config)
        # The calibration rnncast stored in the card at train time, applied to the held-out tail.
        calibration = Calibration.from_dict(card.uncertainty)
        # Every target together, then each one when there are several (widths are in its own units).
        parts = [(name, slice(None))] + ([(f"{name}:{t}", slice(i, i + 1)) for i, t in enumerate(card.targets)] if len(card.targets) > 1 else [])
        for label, part in parts:
            for level in LEVELS:
                row = {"task": label, "nominal": level}
                for kind, factors in (("raw", None), ("calibrated", calibration.factor(level, horizon))):
                    stats = summarize(paths, level, factors)
                    inside = (actual >= stats["lower"]) & (actual <= stats["upper"])
                    row[f"{kind}_coverage"] = float(inside[..., part].mean())
                    row[f"{kind}_width"] = float((stats["upper"] - stats["lower"])[..., part].mean())
                rows.append(row)
        errors = card.metrics["model"]
        print(f"{name}: {card.config['model']} window {card.config['window']} horizon {horizon}, "
              f"{card.training['epochs']} epochs, {card.training['seconds']} s, validation MAE "
              + ", ".join(f"{t} {e['mae']:.4g} (naive {card.metrics['naive'][t]['mae']:.4g})" for t, e in errors.items()),
              flush=True)
    print()
    print_rows(rows, columns)


def placement_benchmark(epochs: int, train_series: int) -> None:
    """The chapter's 2-layer GRU with dropout in different places: accuracy, coverage, width, time."""
    columns = ["placement", "val_mse", "seconds", "raw_cov_90", "cal_cov_90", "raw_width_90", "cal_width_90"]
    rows = []
    for label, dropout, recurrent in (("none", 0.0, 0.0), ("dropout 0.1", 0.1, 0.0), ("dropout 0.2", 0.2, 0.0),
                                      ("recurrent 0.2", 0.0, 0.2), ("both 0.2", 0.2, 0.2)):
        config = TrainConfig(units=20, horizon=10, window=50, dropout=dropout, recurrent_dropout=recurrent)
        val_mse, seconds, arrays = chapter_task(config, epochs, train_series)
        row = {"placement": label, "val_mse": val_mse, "seconds": seconds}
        if dropout or recurrent:
            ninety = interval_rows(label, *arrays)[1]
            row.update(raw_cov_90=ninety["raw_coverage"], cal_cov_90=ninety["calibrated_coverage"],
                       raw_width_90=ninety["raw_width"], cal_width_90=ninety["calibrated_width"])
        else:
            row.update(raw_cov_90="-", cal_cov_90="-", raw_width_90="-", cal_width_90="-")
        rows.append(row)
        print(f"{label}: val MSE {val_mse:.4f}, {seconds:.0f} s", file=sys.stderr, flush=True)
    print(f"placement on the chapter task: GRU 2x20, {train_series} training series, {epochs} epochs; 90% intervals")
    print_rows(rows, columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--placement", action="store_true", help="compare where dropout goes (chapter task)")
    parser.add_argument("--epochs", type=int, default=20, help="most training epochs per model")
    parser.add_argument("--train-series", type=int, default=7000, help="chapter task: training series (at most 7000)")
    parser.add_argument("--tasks", default="chapter,daily_sales,hourly_energy", help="comma-separated coverage tasks to run")
    args = parser.parse_args()
    train_series = min(args.train_series, 7000)
    if args.placement:
        placement_benchmark(args.epochs, train_series)
    else:
        coverage_benchmark(args.epochs, train_series, args.tasks.split(","))


if __name__ == "__main__":
    main()
