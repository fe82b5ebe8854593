"""Reproduce the experiment of chapter 15 of "Hands-On Machine Learning" with rnncast's own code.

The chapter's data (``generate_time_series``: 10,000 series of 50 steps plus the targets,
7,000 / 2,000 / 1,000 split, NumPy seed 42 as in its notebook) and one row per model of its
ladder, trained by ``rnncast.training.fit`` as one global model, validated on the 2,000 series
held out (``held_out``), twice:

1. chapter settings: the chapter's sizes, no dropout, 20 epochs, Adam at the chapter's learning rate,
   batch 32 (early stopping patience 20, so it never stops early);
2. rnncast defaults: what ``rnncast train --model M`` does (``TrainConfig()``: its units, layers,
   learning rate, plateau schedule, early stopping, dropout and seq2seq choice) within a time budget of
   ``--max-epochs`` (default 40: at 20, the chapter's, the one-step deep RNN with dropout had not
   converged, 0.0031 against 0.0021 at 40; rnncast's own default is 100 with early stopping).

Both columns standardise the data with the statistics of the training series (``scale="global"``:
the chapter's series share one scale, and a series' level is information a per-series
standardisation would take away), and neither preprocesses further (``--preprocess none``:
``auto`` is chosen on validation tails, and held-out series have none) nor falls back to a
baseline, as the chapter.

Validation and test MSE are in the data's units, of the forecast from each full window.

    python benchmarks/seed_chapter.py            # full run, the table and the total time on stdout
    python benchmarks/seed_chapter.py --jobs 2   # the same, two rows at a time in their own processes
    python benchmarks/seed_chapter.py --quick    # smoke run on 2% of the data, 1 epoch
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import multiprocessing
import os
import resource
import sys
import time

import numpy as np

from rnncast.config import TrainConfig
from rnncast.dataset import Panel
from rnncast.training import fit, score_held_out

N_STEPS = 50
# The chapter's protocol in both columns: no preprocessing but standardisation, no fallback to a baseline.
PROTOCOL = {"preprocess": "none", "fallback": False}


@dataclasses.dataclass(frozen=True)
class Row:
    label: str
    reference: float | None
    model: str
    horizon: int
    chapter: dict  # TrainConfig fields of the chapter's code
    from_row: str | None = None  # evaluate that row's one-step model autoregressively instead of training
    defaults: dict = dataclasses.field(default_factory=dict)  # options the row needs beside --model


CHAPTER_RNN = {"units": 20, "layers": 2}
ROWS = (
    Row("one step: naive", 0.0202, "naive", 1, {}),
    Row("one step: linear", 0.004, "linear", 1, {}),
    Row("one step: SimpleRNN, one unit", 0.014, "simple-rnn", 1, {"units": 1}),
    Row("one step: deep RNN", 0.003, "deep-rnn", 1, CHAPTER_RNN),
    Row("ten steps: naive", 0.2570, "naive", 10, {}),
    Row("ten steps: linear", 0.0188, "linear", 10, {}),
    Row("ten steps: one-step deep RNN, autoregressive", 0.029, "deep-rnn", 10, CHAPTER_RNN, from_row="one step: deep RNN"),
    # The defaults column of the next row is `--model deep-rnn --seq2seq`: with this one, the seq2seq measurement.
    Row("ten steps: seq-to-vector RNN", 0.008, "deep-rnn", 10, {**CHAPTER_RNN, "seq2seq": False}),
    Row("ten steps: seq2seq SimpleRNN", 0.006, "deep-rnn", 10, {**CHAPTER_RNN, "seq2seq": True, "learning_rate": 0.01},
        defaults={"seq2seq": True}),
    Row("ten steps: seq2seq ln-rnn", 0.0134, "ln-rnn", 10, {**CHAPTER_RNN, "seq2seq": True}),
    Row("ten steps: seq2seq lstm", 0.0095, "lstm", 10, {**CHAPTER_RNN, "seq2seq": True}),
    Row("ten steps: seq2seq gru", 0.0085, "gru", 10, {**CHAPTER_RNN, "seq2seq": True}),
    Row("ten steps: conv-gru", 0.0064, "conv-gru", 10, {**CHAPTER_RNN, "seq2seq": True}),
    Row("ten steps: wavenet", 0.0088, "wavenet", 10, {**CHAPTER_RNN, "seq2seq": True}),
    Row("ten steps: seq2seq peephole-lstm", None, "peephole-lstm", 10, {**CHAPTER_RNN, "seq2seq": True}),
)


def generate_time_series(batch_size: int, n_steps: int) -> np.ndarray:
    """The chapter's generator: two sines of random frequency and phase plus uniform noise."""
    freq1, freq2, offsets1, offsets2 = np.random.rand(4, batch_size, 1)
    time_ = np.linspace(0, 1, n_steps)
    series = 0.5 * np.sin((time_ - offsets1) * (freq1 * 10 + 10))
    series += 0.2 * np.sin((time_ - offsets2) * (freq2 * 20 + 20))
    series += 0.1 * (np.random.rand(batch_size, n_steps) - 0.5)
    return series[..., np.newaxis].astype(np.float32)


def chapter_data(horizon: int, fraction: float) -> tuple[Panel, Panel, Panel]:
    np.random.seed(42)  # the notebook reseeds before each data set
    series = generate_time_series(10000, N_STEPS + horizon)
    train, valid, test = series[:7000], series[7000:9000], series[9000:]
    keep = lambda a, name: Panel.from_array(a[: max(1, int(len(a) * fraction))], name)  # noqa: E731  (--quick)
    return keep(train, "train"), keep(valid, "valid"), keep(test, "test")


def mse(metrics: dict) -> float:
    """The MSE over every series' forecast steps, from their per-series RMSEs (each series has one window)."""
    return float(np.mean([one["model"]["y0"]["rmse"] ** 2 for one in metrics["series"].values()]))


@dataclasses.dataclass
class Result:
    valid: float
    test: float
    params: int
    seconds_per_epoch: float
    epochs: int


def run(config: TrainConfig, data, fitted_from=None) -> tuple[Result, object]:
    train, valid, test = data
    if fitted_from is not None:
        fitted, source = fitted_from
        held = lambda series: mse(score_held_out(fitted, series, config.horizon))  # noqa: E731
        return Result(held(valid), held(test), source.params, source.seconds_per_epoch, source.epochs), fitted
    fitted = fit(train, config, held_out=valid, scale="global")
    history = fitted.history
    epochs = history["epochs"]
    return Result(
        valid=mse(fitted.metrics),
        test=mse(score_held_out(fitted, test)),
        params=fitted.network.count_params(),
        seconds_per_epoch=history["seconds"] / epochs if epochs else 0.0,
        epochs=epochs,
    ), fitted


def chapter_config(row: Row, epochs: int) -> TrainConfig:
    trains = row.model not in ("naive",)
    values = {"model": row.model, "horizon": row.horizon, "window": N_STEPS, "seed": 42, **PROTOCOL}
    if trains:
        # The chapter's networks have no dropout; rnncast's default of 0.1 is for its error bars.
        values |= {"epochs": epochs, "learning_rate": 0.001, "batch_size": 32, "patience": epochs, "dropout": 0.0, **row.chapter}
    return TrainConfig(**values)


def defaults_config(row: Row, max_epochs: int) -> TrainConfig:
    values = {"model": row.model, "horizon": row.horizon, "window": N_STEPS, "seed": 42, **PROTOCOL, **row.defaults}
    if row.model != "naive":
        values["epochs"] = min(TrainConfig.epochs, max_epochs)
    return TrainConfig(**values)


def relative(value: float, reference: float | None) -> str:
    return f"{100 * (value / reference - 1):+.0f}%" if reference else "n/a"


def groups(rows: list[Row]) -> tuple[list[list[Row]], list[Row]]:
    """Rows that must share a process (a row, then the rows that re-use its models), and the rows
    skipped because the row they re-use was not selected."""
    labels = {row.label for row in rows}
    skipped = [row for row in rows if row.from_row is not None and row.from_row not in labels]
    return [
        [row] + [other for other in rows if other.from_row == row.label]
        for row in rows if row.from_row is None
    ], skipped


def run_group(rows: list[Row], fraction: float, chapter_epochs: int, max_epochs: int, started: float) -> list[tuple[str, Result, Result]]:
    """Train and score both columns of each row of one group, in order; progress on stderr."""
    data = {horizon: chapter_data(horizon, fraction) for horizon in {row.horizon for row in rows}}
    fitted: dict[tuple[str, str], tuple[object, Result]] = {}
    done = []
    for row in rows:
        results = []
        for column, config in (("chapter", chapter_config(row, chapter_epochs)), ("defaults", defaults_config(row, max_epochs))):
            source = None
            if row.from_row is not None:
                source = fitted[(row.from_row, column)]
                config = dataclasses.replace(source[0].config, horizon=row.horizon)
            result, model = run(config, data[row.horizon], source)
            fitted[(row.label, column)] = (model, result)
            results.append(result)
            print(f"[{time.time() - started:7.0f} s] {row.label} / {column}: valid {result.valid:.5f}, {result.epochs} epochs, "
                  f"{result.seconds_per_epoch:.1f} s/epoch, load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
        done.append((row.label, *results))
    return done


def table_row(row: Row, chapter: Result, defaults: Result) -> str:
    reference = f"{row.reference:g}" if row.reference else "n/a"
    return (
        f"| {row.label} | {reference} | {chapter.valid:.4f} | {relative(chapter.valid, row.reference)} "
        f"| {defaults.valid:.4f} | {relative(defaults.valid, row.reference)} "
        f"| {chapter.test:.4f} / {defaults.test:.4f} | {chapter.params} / {defaults.params} "
        f"| {chapter.seconds_per_epoch:.1f} / {defaults.seconds_per_epoch:.1f} | {defaults.epochs} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2%% of the data and 1 epoch: a smoke run")
    parser.add_argument("--max-epochs", type=int, default=40, help="the time budget of the defaults column, in epochs")
    parser.add_argument("--rows", default="", help="only rows whose label contains one of these comma-separated texts")
    parser.add_argument("--jobs", type=int, default=1, help="rows trained at once, each in its own process")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1. Received: {args.jobs}.")
    fraction, chapter_epochs, max_epochs = (0.02, 1, 1) if args.quick else (1.0, 20, args.max_epochs)
    selected = [row for row in ROWS if any(text in row.label for text in args.rows.split(","))]
    tasks, skipped = groups(selected)
    for row in skipped:
        print(f"skipped {row.label}: it needs the row {row.from_row!r}", file=sys.stderr)
    print("| row | reference | chapter settings | vs ref | rnncast defaults | vs ref | test MSE (chapter / defaults) "
          "| params (chapter / defaults) | s/epoch (chapter / defaults) | epochs (defaults) |\n"
          "|---|---|---|---|---|---|---|---|---|---|", flush=True)
    started = time.time()
    by_label = {row.label: row for row in selected}
    finished: dict[str, tuple[Result, Result]] = {}
    order = [row.label for row in selected if row not in skipped]

    def print_ready() -> None:
        # The table keeps the chapter's order whichever process finishes first.
        while order and order[0] in finished:
            label = order.pop(0)
            print(table_row(by_label[label], *finished[label]), flush=True)

    if args.jobs == 1:
        for task in tasks:
            for label, chapter, defaults in run_group(task, fraction, chapter_epochs, max_epochs, started):
                finished[label] = (chapter, defaults)
            print_ready()
    else:
        # The chapter's ladder ends with its heaviest models: starting them first keeps every process busy to the end.
        with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(run_group, task, fraction, chapter_epochs, max_epochs, started) for task in reversed(tasks)]
            for future in concurrent.futures.as_completed(futures):
                for label, chapter, defaults in future.result():
                    finished[label] = (chapter, defaults)
                print_ready()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    # CPU seconds (this process and its finished workers) say what the run costs whatever else the machine runs.
    cpu = sum(usage.ru_utime + usage.ru_stime for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))
    print(f"\n{'quick' if args.quick else 'full'} run, {args.jobs} process{'es' if args.jobs > 1 else ''}: "
          f"{time.time() - started:.0f} s wall and {cpu:.0f} CPU s in all; "
          f"load average at the end (1, 5, 15 min): {load} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
