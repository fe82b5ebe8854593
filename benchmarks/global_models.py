"""One global model over many series vs one model per series vs seasonal-naive, and whether the
tf.data pipeline keeps up with the network.

    python benchmarks/global_models.py                 # 1,000 series; under 10 minutes on 2 cores
    python benchmarks/global_models.py --series 200 --subset 10 --epochs 5

The series are generated: daily, weekly seasonal, 120 to 400 rows, each with its own level,
amplitude, trend and noise, and random start dates. Accuracy is a backtest at each series' tail
(``--folds`` origins ``--horizon`` apart), scored by MASE against each series' in-sample
seasonal-naive error. One-model-per-series is fitted on a random ``--subset`` of the series only:
its accuracy is compared on that subset, and its training time for all series is extrapolated
from the subset's mean (the output says so).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time

import numpy as np
import pandas as pd

from rnncast.config import TrainConfig
from rnncast.backtest import BacktestOptions, Forecast, backtest_origins, run_backtest, score_forecast, zoo_fitter
from rnncast.metrics import seasonal_scale
from rnncast.card import ONE_SERIES
from rnncast.dataset import Panel, load_data
from rnncast.fitloop import panel_dataset
from rnncast.panel_evaluate import backtest_panel


def generate(series: int, seed: int) -> pd.DataFrame:
    """Long-format frame of ``series`` daily series of varying length, level and shape."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(series):
        rows = int(rng.integers(120, 401))
        t = np.arange(rows)
        start = pd.Timestamp("2020-01-01") + pd.Timedelta(days=int(rng.integers(0, 365)))
        level, amplitude = rng.uniform(10, 1000), rng.uniform(0.05, 0.3)
        trend = rng.normal(0, 0.002) * level
        shape = np.sin(2 * np.pi * t / 7 + rng.uniform(0, 2 * np.pi)) + 0.5 * np.sin(4 * np.pi * t / 7)
        values = level + trend * t + amplitude * level * shape + rng.normal(0, 0.05 * level, rows)
        frames.append(pd.DataFrame({
            "unique_id": f"s{i:04d}", "ds": pd.date_range(start, periods=rows, freq="D").strftime("%Y-%m-%d"), "y": values,
        }))
    return pd.concat(frames, ignore_index=True)


def per_series(panel, keys, config: TrainConfig, options: BacktestOptions) -> tuple[dict[str, float], float]:
    """MASE of one model fitted per series on ``keys``, and the mean seconds per series."""
    mase, seconds = {}, []
    for key in keys:
        series = panel.series[key]
        values = series.frame.to_numpy(dtype=np.float64)
        origins = backtest_origins(len(values), config.horizon, options)
        started = time.perf_counter()
        forecast = run_backtest(Panel.of(series), zoo_fitter(config), {ONE_SERIES: origins}, retrain=False)[ONE_SERIES]
        seconds.append(time.perf_counter() - started)
        actual = values[origins[:, None] + np.arange(config.horizon)][..., [0]]
        scale = seasonal_scale(values[: origins[0], [0]], config.season)
        mase[key] = score_forecast(Forecast(forecast.point), actual, scale, ("y",))["y"]["overall"]["mase"]
    return mase, float(np.mean(seconds))


def steps_per_second(panel, config: TrainConfig, batches: int) -> dict[str, float]:
    """Training steps per second on the same shuffled, batched, prefetched windows: the real
    network, a trivial one (the pipeline's ceiling with a model), and the pipeline alone."""
    from rnncast._keras import import_keras
    from rnncast.models import NetworkShape, build_model
    from rnncast.preprocessing import Standardizer

    keras = import_keras()
    arrays = [Standardizer.fit(s.frame.to_numpy()).transform(s.frame.to_numpy()) for s in panel.series.values()]
    shape = NetworkShape(config.window, 1, config.horizon, (0,))
    dataset = panel_dataset(arrays, shape, config.batch_size, shuffle=True, seed=0).repeat()

    def trivial():
        inputs = keras.Input((config.window, 1))
        outputs = keras.layers.Reshape((config.horizon, 1))(keras.layers.Dense(config.horizon)(keras.layers.Flatten()(inputs)))
        return keras.Model(inputs, outputs)

    rates = {}
    for name, network in (("real model (" + config.model + ")", build_model(shape, config)), ("trivial model (linear)", trivial())):
        network.compile(optimizer="adam", loss="mse", jit_compile=True)
        network.fit(dataset, steps_per_epoch=20, epochs=1, verbose=0)  # tracing and compiling
        started = time.perf_counter()
        network.fit(dataset, steps_per_epoch=batches, epochs=1, verbose=0)
        rates[name] = batches / (time.perf_counter() - started)
    iterator = iter(dataset)
    next(iterator)
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    rates["pipeline alone (no model)"] = batches / (time.perf_counter() - started)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--subset", type=int, default=10, help="series given their own model (time extrapolated to all)")
    parser.add_argument("--model", default="gru")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--horizon", type=int, default=7)
    parser.add_argument("--window", type=int, default=21)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200, help="batches timed for steps per second")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "panel.csv")
        generate(args.series, args.seed).to_csv(path, index=False)
        started = time.perf_counter()
        panel = load_data(path)
        load_seconds = time.perf_counter() - started
    rows = sum(len(s) for s in panel.series.values())
    config = TrainConfig(model=args.model, horizon=args.horizon, window=args.window, units=16, layers=1,
                         epochs=args.epochs, patience=3, batch_size=256, season=7, seed=args.seed)
    options = BacktestOptions(folds=args.folds)
    print(f"{len(panel)} series, {rows} rows (loaded and checked in {load_seconds:.1f} s); {args.model}, window "
          f"{args.window}, horizon {args.horizon}, {args.folds} fold(s), at most {args.epochs} epochs.")

    report = backtest_panel(panel, [args.model], config, options)
    results = {r.model: r for r in report.models}
    keys = list(np.random.default_rng(args.seed).choice(list(panel.series), size=min(args.subset, len(panel)), replace=False))
    local_mase, local_seconds = per_series(panel, keys, dataclasses.replace(config, batch_size=32), options)

    def mase(model: str, subset=None) -> float:
        return float(np.nanmean([results[model].overall(k, "y", "mase") for k in (subset or results[model].series)]))

    def beats(values: dict[str, float]) -> float:
        return float(np.mean([values[k] < results["seasonal-naive"].overall(k, "y", "mase") for k in values]))

    global_on = {k: results[args.model].overall(k, "y", "mase") for k in results[args.model].series}
    table = [
        ("global " + args.model, mase(args.model), mase(args.model, keys), beats(global_on),
         f"{results[args.model].seconds:.1f} (measured)"),
        (f"one {args.model} per series", float("nan"), float(np.nanmean(list(local_mase.values()))), beats(local_mase),
         f"{local_seconds * len(panel):.1f} (extrapolated: {local_seconds:.2f} s x {len(panel)} series, "
         f"measured on {len(keys)})"),
        ("seasonal-naive", mase("seasonal-naive"), mase("seasonal-naive", keys), 0.0, f"{results['seasonal-naive'].seconds:.1f}"),
        ("global linear", mase("linear"), mase("linear", keys),
         beats({k: results["linear"].overall(k, "y", "mase") for k in global_on}), f"{results['linear'].seconds:.1f}"),
        ("naive", mase("naive"), mase("naive", keys), beats({k: results["naive"].overall(k, "y", "mase") for k in global_on}),
         f"{results['naive'].seconds:.1f}"),
    ]
    print()
    print(f"| model | mean MASE, all {len(report.origins)} series | mean MASE, subset of {len(keys)} | beats seasonal-naive | training + backtest seconds |")
    print("|---|---|---|---|---|")
    for name, everywhere, subset, share, seconds in table:
        everywhere_text = "(subset only)" if np.isnan(everywhere) else f"{everywhere:.3f}"
        print(f"| {name} | {everywhere_text} | {subset:.3f} | {share:.0%} | {seconds} |")
    print("\n'beats seasonal-naive' is the share of series (all for global and baselines, the subset for one-per-series)"
          " where the model's MASE is lower.")

    rates = steps_per_second(panel, config, args.steps)
    print(f"\nSteps per second, batch {config.batch_size}, on the same shuffled, batched, prefetched windows of all series:\n")
    print("| pipeline feeding | steps/s |")
    print("|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.0f} |")


if __name__ == "__main__":
    main()
