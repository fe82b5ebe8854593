"""Choosing a model on validation (``--model auto``): every candidate backtested on the validation
tail beside the baselines and ranked by MASE; and the fitter that backtests and ensembles share."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any, Sequence

import numpy as np

from rnncast.backtest import (
    BASELINES,
    BacktestOptions,
    rows_before,
    model_config,
    backtest_origins,
    run_backtest,
    fitter,
    score_forecast,
)
from rnncast.config import TrainConfig
from rnncast.data import TimeSeries
from rnncast.card import ONE_SERIES
from rnncast.dataset import Panel
from rnncast.errors import DataError
from rnncast.jsonable import json_safe
from rnncast.metrics import ratio, seasonal_scale
from rnncast.models import AUTO_CANDIDATES, ZOO
from rnncast.pretrained import load_spec
from rnncast.windows import minimum_rows, validation_rows

# `--model auto` tries these models with the AUTO_PREPROCESSING preprocessing methods that the ridge
# ranks best, the other trainable candidates with its first choice only: a bounded number of fits.
AUTO_VARIED = ("gru",)
AUTO_PREPROCESSING = 3
# The candidates: the zoo's, and the shipped network fine-tuned where it can take the data.
AUTO_MODELS = (*AUTO_CANDIDATES, "pretrained")


@dataclasses.dataclass
class ModelResult:
    """One model's backtest: its resolved settings, time taken and scores per target."""

    model: str
    config: TrainConfig
    seconds: float
    targets: dict[str, Any]
    rank: int = 0
    mase_vs_best_baseline: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def baseline(self) -> bool:
        return self.model in BASELINES

    @property
    def mase(self) -> float:
        """Mean overall MASE over the targets: scale-free, so it ranks models across targets."""
        return float(np.mean([t["overall"]["mase"] for t in self.targets.values()]))

    @property
    def smape(self) -> float:
        return float(np.mean([t["overall"]["smape"] for t in self.targets.values()]))


def check_length(series: TimeSeries, configs: list[TrainConfig], options: BacktestOptions, origins: np.ndarray) -> None:
    """Every model must be able to fit (training windows plus a validation tail) on the rows before the first origin."""
    horizon = configs[0].horizon
    before = max(minimum_rows(c.window, horizon, c.validation_fraction) for c in configs)
    needed = before + int(len(series) - origins[0])
    if len(series) < needed:
        window = max(c.window for c in configs)
        raise DataError(
            f"{os.path.basename(series.source)}: has {len(series)} rows, but a backtest of --folds {options.folds} "
            f"every --stride {options.stride or horizon} steps with --horizon {horizon} and --window {window} needs at "
            f"least {needed} ({before} to fit on before the first origin); use fewer --folds, a smaller --stride, "
            "--window or --horizon, or more data."
        )


def rank_results(results: list[ModelResult], targets: Sequence[str]) -> str | None:
    """Sort ``results`` best first, number them, fill in MASE relative to the best baseline; return its name."""
    results.sort(key=lambda r: (math.isnan(r.mase), r.mase, r.smape))
    for rank, result in enumerate(results, start=1):
        result.rank = rank
    baselines = [r for r in results if r.baseline]
    best = baselines[0] if baselines else None
    for result in results:
        result.mase_vs_best_baseline = {
            t: ratio(result.targets[t]["overall"]["mase"], best.targets[t]["overall"]["mase"]) if best else math.nan
            for t in targets
        }
    return best.model if best else None


def select_model(series: TimeSeries, config: TrainConfig, candidates: Sequence[str] | None = None,
                 given: Sequence[str] = ()) -> tuple[TrainConfig, dict[str, Any]]:
    """The best of ``rank_models``: its config and the summary for the model card."""
    ranked, summary = rank_models(series, config, candidates, given)
    return ranked[0], summary


def rank_models(series: Panel | TimeSeries, config: TrainConfig, candidates: Sequence[str] | None = None,
                given: Sequence[str] = ()) -> tuple[list[TrainConfig], dict[str, Any]]:
    """Backtest ``candidates`` (default ``AUTO_MODELS``, without the pretrained network where the
    data has known-future inputs or the horizon is beyond its own) and the baselines on the
    validation tail of ``series`` and rank them by mean MASE; ``given``: the settings the user chose,
    which override the pretrained network's fine-tuning defaults.

    The origins tile the validation part (``config.validation_fraction`` of the rows) every
    ``horizon`` steps; every candidate is fitted once on the rows before it. Trainable candidates
    use the preprocessing that ``select_preprocessing`` ranks first on those rows; the models of
    ``AUTO_VARIED`` are also tried with the next ``AUTO_PREPROCESSING - 1``, so the cost is one
    fit per trainable candidate plus ``AUTO_PREPROCESSING - 1`` per varied one (six fits by default).

    Returns:
        The configs (window and season resolved), best first, and a summary for the model card.
    """
    from rnncast.training import rank_preprocessing, resolve

    data = series if isinstance(series, Panel) else Panel.of(series)
    if candidates is None:
        fits = not data.first.known and config.horizon <= load_spec().horizon
        candidates = [name for name in AUTO_MODELS if name != "pretrained" or fits]
    if data.many:
        return _rank_global_models(data, config, candidates, given)
    config, _, _ = resolve(data, config)
    series = data.first
    held_out = validation_rows(len(series), config.horizon, config.validation_fraction)
    options = BacktestOptions(folds=(held_out - config.horizon) // config.horizon + 1)
    origins = backtest_origins(len(series), config.horizon, options)
    names = [n for n in dict.fromkeys([*candidates, *BASELINES]) if n != "seasonal-naive" or config.season]
    check_length(series, [model_config(config, name) for name in names], options, origins)
    methods = rank_preprocessing(rows_before(data, {ONE_SERIES: int(origins[0])}), config)
    configs = []
    for name in names:
        tries = (methods[:AUTO_PREPROCESSING] if name in AUTO_VARIED else methods[:1]) if _varies(name) else ["none"]
        configs += [dataclasses.replace(model_config(config, name), preprocess=method) for method in tries]

    values = series.frame.to_numpy(dtype=np.float64)
    target_index = [series.columns.index(t) for t in series.targets]
    actual = values[origins[:, None] + np.arange(config.horizon)][..., target_index]
    scale = seasonal_scale(values[: origins[0], target_index], config.season)
    results = []
    for candidate in configs:
        started = time.perf_counter()
        forecast = run_backtest(data, fitter(candidate, given=given), {ONE_SERIES: origins}, retrain=False)[ONE_SERIES]
        seconds = round(time.perf_counter() - started, 2)
        results.append(ModelResult(candidate.model, candidate, seconds, score_forecast(forecast, actual, scale, series.targets)))
    rank_results(results, series.targets)
    best = results[0]
    summary = {
        "chosen": best.model,
        "preprocess": best.config.preprocess,
        "candidates": [r.model for r in results],
        "fits": sum(_fits(r.model) for r in results),
        "folds": options.folds,
        "horizon": config.horizon,
        "season": config.season,
        "scores": [
            {"model": r.model, "preprocess": r.config.preprocess, "mase": r.mase, "smape": r.smape,
             "targets": {t: s["overall"] for t, s in r.targets.items()}}
            for r in results
        ],
    }
    # The summary goes into the card, which stays strict JSON too.
    return [dataclasses.replace(r.config, fallback=config.fallback) for r in results], json_safe(summary)


def _varies(name: str) -> bool:
    """Whether model ``name`` learns on preprocessed data (the pretrained network reads raw windows)."""
    return name in ZOO and ZOO[name].trainable


def _fits(name: str) -> bool:
    return name == "pretrained" or ZOO[name].trainable


def _rank_global_models(panel, config: TrainConfig, candidates: Sequence[str], given: Sequence[str]) -> tuple[list[TrainConfig], dict[str, Any]]:
    """``rank_models`` of many series: one global model per candidate, backtested on the validation
    tail of every series and ranked by MASE averaged over series (``panel_evaluate.backtest_panel``);
    each fit chooses its preprocessing on all series."""
    from rnncast.panel_evaluate import backtest_panel
    from rnncast.training import resolve

    config, usable, _ = resolve(panel, config)
    median = int(np.median([len(one) for one in usable.series.values()]))
    held_out = validation_rows(median, config.horizon, config.validation_fraction)
    options = BacktestOptions(folds=(held_out - config.horizon) // config.horizon + 1)
    names = [n for n in candidates if n != "seasonal-naive" or config.season]
    report = backtest_panel(usable, names, dataclasses.replace(config, fallback=False), options, given=given)
    results = [r for r in report.models if r.model in names]

    def mean(result, metric: str) -> float:
        return float(np.nanmean([result.mean(t, metric) for t in panel.targets]))

    summary = {
        "chosen": results[0].model,
        "preprocess": results[0].config.preprocess,
        "candidates": [r.model for r in results],
        "fits": sum(_fits(r.model) for r in results),
        "folds": options.folds,
        "horizon": config.horizon,
        "season": config.season,
        "scores": [{"model": r.model, "preprocess": r.config.preprocess, "mase": mean(r, "mase"), "smape": mean(r, "smape")} for r in results],
    }
    return [dataclasses.replace(r.config, fallback=config.fallback) for r in results], json_safe(summary)
