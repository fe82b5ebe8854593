"""Rolling-origin backtests, baselines beside every model, and choosing a model on validation.

A backtest forecasts ``horizon`` steps from several origins on the tail of a series. An origin
is the row of the first forecast step; the forecaster is fitted on the rows before the first
origin (or, with ``retrain``, before each origin) and forecasts from each origin seeing only the
rows before it. That is the only data a ``Fitter`` and a ``Forecaster`` are ever handed, so no
model can see the future it is scored on. Scores are in the data's original units.

The JSON document of ``Report.to_dict`` is described in ``docs/json-output.md``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from rnncast._keras import import_keras
from rnncast.backtest import (
    BASELINES,
    SCHEMA_VERSION,
    BacktestOptions,
    Fitter,
    Forecast,
    Forecaster,
    _before,
    _model_config,
    backtest_origins,
    backtest_settings_json,
    run_backtest,
    score_forecast,
)
from rnncast.config import DataOptions, TrainConfig
from rnncast.data import TimeSeries, infer_season
from rnncast.errors import DataError, ModelFileError, UsageError
from rnncast.jsonable import json_safe
from rnncast.members import median_forecast, pooled_paths
from rnncast.metrics import INTERVAL, seasonal_scale
from rnncast.models import AUTO_CANDIDATES, ZOO, check_options
from rnncast.windows import default_window, minimum_rows, validation_rows

if TYPE_CHECKING:
    from rnncast.panel_evaluate import PanelReport

log = logging.getLogger("rnncast")

# `--model auto` tries these models with the AUTO_PREPROCESSING preprocessing methods that the ridge
# ranks best, the other trainable candidates with its first choice only: a bounded number of fits.
AUTO_VARIED = ("gru",)
AUTO_PREPROCESSING = 3


def zoo_fitter(config: TrainConfig, mc_samples: int | None = None) -> Fitter:
    """Fit ``config.model`` with ``training.fit`` (``config.ensemble`` seeds of it with
    ``ensemble.fit_ensemble``) and forecast with its network (their median); with ``mc_samples``
    and a network with dropout, also MC-Dropout samples for interval coverage and width."""

    def fit_on(series: TimeSeries) -> Forecaster:
        from rnncast.ensemble import fit_ensemble, fitted_member
        from rnncast.training import fit

        fitted = fit_ensemble(series, config, rank=rank_models)[0] if config.ensemble > 1 else fit(series, config)
        members = fitted.runners() if config.ensemble > 1 else [fitted_member(fitted)]
        sampling = mc_samples is not None and any(m.engine.stochastic is not None for m in members)
        target_index = fitted.target_index

        def forecast(histories: list[np.ndarray]) -> Forecast:
            windows = fitted.scaler.transform(np.stack([history[-fitted.config.window :] for history in histories]))
            point = fitted.scaler.inverse(median_forecast(members, windows, config.horizon, target_index), target_index)
            if not sampling:
                return Forecast(point)
            paths = pooled_paths(members, windows, config.horizon, target_index, mc_samples, config.seed)
            return Forecast(point, fitted.scaler.inverse(paths, target_index).transpose(1, 0, 2, 3))

        return forecast

    return fit_on


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


@dataclasses.dataclass
class Report:
    """Every model's backtest on the same origins, best (lowest mean MASE) first;
    ``requested`` names the models asked for, the others being the baselines added beside them."""

    series: TimeSeries
    horizon: int
    options: BacktestOptions
    season: int | None
    origins: np.ndarray
    scale: np.ndarray
    models: list[ModelResult]
    best_baseline: str | None
    requested: tuple[str, ...]

    def to_dict(self, command: str) -> dict[str, Any]:
        """The JSON document, schema version ``SCHEMA_VERSION`` (``docs/json-output.md``); an undefined
        score is NaN, which ``render.json_text`` prints as null."""
        index = self.series.frame.index
        document = {
            "schema_version": SCHEMA_VERSION,
            "command": command,
            "data": {
                "path": os.path.abspath(self.series.source),
                "rows": len(self.series),
                "time_column": self.series.time_column,
                "freq": self.series.freq,
                "targets": list(self.series.targets),
            },
            "backtest": {
                **backtest_settings_json(self.options, self.horizon, self.season),
                "interval": INTERVAL,
                "origins": [_json_time(index[o]) for o in self.origins],
                "fit_rows": int(self.origins[0]),
                "mase_scale": dict(zip(self.series.targets, map(float, self.scale))),
            },
            "best_baseline": self.best_baseline,
            "models": [
                {
                    "rank": result.rank,
                    "model": result.model,
                    "baseline": result.baseline,
                    "mase": result.mase,
                    "smape": result.smape,
                    "mase_vs_best_baseline": _mean(result.mase_vs_best_baseline.values()),
                    "seconds": result.seconds,
                    "config": result.config.to_dict(),
                    "targets": {
                        target: {**scores, "mase_vs_best_baseline": result.mase_vs_best_baseline[target]}
                        for target, scores in result.targets.items()
                    },
                }
                for result in self.models
            ],
        }
        return document

    def leaderboard(self) -> list[dict[str, Any]]:
        """One row per model and target, best model first."""
        return [
            {
                "rank": result.rank, "model": result.model, "target": target,
                "mase": scores["overall"]["mase"], "smape": scores["overall"]["smape"],
                "mae": scores["overall"]["mae"], "rmse": scores["overall"]["rmse"],
                **_interval_columns(self, scores["overall"]),
                "vs_best_baseline": result.mase_vs_best_baseline[target],
                "seconds": result.seconds,
            }
            for result in self.models
            for target, scores in result.targets.items()
        ]

    def details(self) -> list[dict[str, Any]]:
        """Overall scores of every model, then per horizon step for the models asked for;
        ``vs_best_baseline`` divides MASE by the best baseline's, overall or at the same step."""
        best = next((r for r in self.models if r.model == self.best_baseline), None)
        rows = []
        for result in self.models:
            for target, scores in result.targets.items():
                reference = best.targets[target]["overall"] if best else None
                rows.append(self._detail_row(result, target, "all", scores["overall"], reference))
        for result in self.models:
            if result.model not in self.requested:
                continue
            for target, scores in result.targets.items():
                references = best.targets[target]["steps"] if best else [None] * self.horizon
                rows.extend(
                    self._detail_row(result, target, metrics["step"], metrics, reference)
                    for metrics, reference in zip(scores["steps"], references)
                )
        return rows

    def _detail_row(self, result: ModelResult, target: str, step: int | str, metrics: dict[str, Any],
                    reference: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "model": result.model, "target": target, "step": step,
            "mae": metrics["mae"], "rmse": metrics["rmse"], "mase": metrics["mase"], "smape": metrics["smape"],
            **_interval_columns(self, metrics),
            "vs_best_baseline": _ratio(metrics["mase"], reference["mase"]) if reference else math.nan,
        }

    def describe(self) -> str:
        """One line saying what was backtested, for a person."""
        index = self.series.frame.index
        stride = self.options.stride or self.horizon
        fits = "refitted at each origin" if self.options.retrain else f"fitted once on the {self.origins[0]} rows before the first"
        scale = f"seasonal-naive (season {self.season})" if self.season else "naive"
        return (
            f"Backtest of {self.options.folds} fold(s) every {stride} steps, horizon {self.horizon}, origins "
            f"{_json_time(index[self.origins[0]])} .. {_json_time(index[self.origins[-1]])}; models {fits}. "
            f"MASE is scaled by the in-sample {scale} error; the best baseline is {self.best_baseline}."
        )


def _interval_columns(report: Report, metrics: dict[str, Any]) -> dict[str, Any]:
    """Coverage and width columns, only when some model produced samples."""
    has_samples = any(r.targets[t]["overall"]["coverage"] is not None for r in report.models for t in r.targets)
    return {"coverage": metrics["coverage"], "width": metrics["width"]} if has_samples else {}


def backtest(
    data: str | os.PathLike[str] | TimeSeries,
    models: Sequence[str],
    config: TrainConfig = TrainConfig(),
    options: BacktestOptions = BacktestOptions(),
    *,
    data_options: DataOptions = DataOptions(),
    on_fit: Callable[[str, int, int], None] | None = None,
    given: Sequence[str] = (),
) -> "Report | PanelReport":
    """Backtest ``models`` and the baselines on the same origins at the tail of ``data``.

    A long-format CSV of many series (``data_options.id_column``, or a ``unique_id`` column) is
    backtested per series with global models, and returns a ``panel_evaluate.PanelReport``.

    Args:
        data: path of the CSV, or a ``TimeSeries`` from ``load_csv`` or a ``Panel`` from ``load_data``.
        models: zoo names; the baselines naive, seasonal-naive and linear are always added.
        config: settings shared by every model (the model name in it is ignored); ``ensemble``
            applies to the trained models asked for, the others being single models.
        options: folds, stride and whether to refit at each origin.
        data_options: how to read the CSV.
        on_fit: called as ``on_fit(model, done, total)`` before each model is backtested.
        given: the ``config`` fields the user set; one that no model of the backtest takes is
            refused, as ``train`` refuses one its model does not take (``models.check_options``).

    Raises:
        UsageError: an unknown model name, an option no model takes, or an ensemble of models with nothing to train.
        DataError: too few rows for the folds, window and horizon.
    """
    unknown = [name for name in models if name not in ZOO]
    if unknown:
        raise UsageError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(ZOO)} (see `rnncast models`).")
    check_options(list(dict.fromkeys([*models, *BASELINES])), given)
    from rnncast.panel import Panel, load_data

    # Seeds of a model with nothing to train all forecast alike, so only trained models get them.
    ensembles = [name for name in models if ZOO[name].trainable]
    if config.ensemble > 1 and not ensembles:
        raise UsageError(
            f"`--ensemble {config.ensemble}` fits seeds of the models asked for, and {', '.join(models)} "
            f"{'has' if len(models) == 1 else 'have'} nothing to train (every seed forecasts the same); add a trained model such as gru."
        )
    series = data if isinstance(data, (TimeSeries, Panel)) else load_data(data, data_options)
    if isinstance(series, Panel):
        if config.ensemble > 1:
            raise UsageError("`--ensemble` is not available for global models of many series yet; backtest without it.")
        from rnncast.panel_evaluate import backtest_panel

        return backtest_panel(series, models, config, options, on_fit)
    season = config.season or infer_season(series.freq)
    origins = backtest_origins(len(series), config.horizon, options)
    config = dataclasses.replace(
        config, season=season, window=config.window or default_window(season, config.horizon, max(int(origins[0]), 1)),
    )
    names = list(dict.fromkeys([*models, *BASELINES]))
    if season is None and "seasonal-naive" in names:
        log.warning("seasonal-naive is left out: the data's frequency gives no season; pass --season N to include it.")
        names.remove("seasonal-naive")
    configs = [_model_config(config if name in ensembles else dataclasses.replace(config, ensemble=1), name) for name in names]
    _check_length(series, configs, options, origins)

    values = series.frame.to_numpy(dtype=np.float64)
    target_index = [series.columns.index(t) for t in series.targets]
    actual = values[origins[:, None] + np.arange(config.horizon)][..., target_index]
    scale = seasonal_scale(values[: origins[0], target_index], season)
    import_keras()  # once up front, so that no model's time includes importing TensorFlow
    results = []
    for done, model_config in enumerate(configs):
        if on_fit is not None:
            on_fit(model_config.model, done, len(configs))
        started = time.perf_counter()
        forecast = run_backtest(series, zoo_fitter(model_config, options.mc_samples), origins, options.retrain)
        seconds = round(time.perf_counter() - started, 2)
        results.append(ModelResult(model_config.model, model_config, seconds, score_forecast(forecast, actual, scale, series.targets)))
    best_baseline = _rank(results, series.targets)
    return Report(series, config.horizon, options, season, origins, scale, results, best_baseline, tuple(models))


def _check_length(series: TimeSeries, configs: list[TrainConfig], options: BacktestOptions, origins: np.ndarray) -> None:
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


def _rank(results: list[ModelResult], targets: Sequence[str]) -> str | None:
    """Sort ``results`` best first, number them, fill in MASE relative to the best baseline; return its name."""
    results.sort(key=lambda r: (math.isnan(r.mase), r.mase, r.smape))
    for rank, result in enumerate(results, start=1):
        result.rank = rank
    baselines = [r for r in results if r.baseline]
    best = baselines[0] if baselines else None
    for result in results:
        result.mase_vs_best_baseline = {
            t: _ratio(result.targets[t]["overall"]["mase"], best.targets[t]["overall"]["mase"]) if best else math.nan
            for t in targets
        }
    return best.model if best else None


def saved_settings(model_dir: str | os.PathLike[str], data_options: DataOptions = DataOptions()) -> tuple[TrainConfig, DataOptions]:
    """The training settings and data options of a saved model, to backtest it by refitting.

    The saved network itself is not used: it was fitted on data that may include the tail.
    Data options set in ``data_options`` replace the saved ones.

    Raises:
        ModelFileError: no readable model in ``model_dir``.
    """
    from rnncast.store import load_card

    try:
        card = load_card(model_dir)
    except ModelFileError as error:
        raise ModelFileError(f"{error} To backtest a zoo model instead, pass --model NAME.") from None
    if card.ensemble is not None and card.ensemble["kind"] == "top-k":
        names = ",".join(member["model"] for member in card.ensemble["members"])
        raise UsageError(
            f"{model_dir}: is an ensemble of the best {len(card.ensemble['members'])} models of --model auto, "
            f"which a backtest does not refit; compare them with `rnncast compare DATA.csv --models {names}`."
        )
    return TrainConfig.from_dict(card.config), data_options.over(card.data_options)


def select_model(series: TimeSeries, config: TrainConfig, candidates: Sequence[str] | None = None) -> tuple[TrainConfig, dict[str, Any]]:
    """The best of ``rank_models``: its config and the summary for the model card."""
    ranked, summary = rank_models(series, config, candidates)
    return ranked[0], summary


def rank_models(series: TimeSeries, config: TrainConfig, candidates: Sequence[str] | None = None) -> tuple[list[TrainConfig], dict[str, Any]]:
    """Backtest ``candidates`` (default ``AUTO_CANDIDATES``) and the baselines on the validation
    tail of ``series`` and rank them by mean MASE.

    The origins tile the validation part (``config.validation_fraction`` of the rows) every
    ``horizon`` steps; every candidate is fitted once on the rows before it. Trainable candidates
    use the preprocessing that ``select_preprocessing`` ranks first on those rows; the models of
    ``AUTO_VARIED`` are also tried with the next ``AUTO_PREPROCESSING - 1``, so the cost is one
    fit per trainable candidate plus ``AUTO_PREPROCESSING - 1`` per varied one (six fits by default).

    Returns:
        The configs (window and season resolved), best first, and a summary for the model card.
    """
    from rnncast.panel import Panel
    from rnncast.training import rank_preprocessing, resolve_config

    if isinstance(series, Panel):
        return _rank_global_models(series, config, candidates)
    config = resolve_config(series, config)
    held_out = validation_rows(len(series), config.horizon, config.validation_fraction)
    options = BacktestOptions(folds=(held_out - config.horizon) // config.horizon + 1)
    origins = backtest_origins(len(series), config.horizon, options)
    names = [n for n in dict.fromkeys([*(candidates or AUTO_CANDIDATES), *BASELINES]) if n != "seasonal-naive" or config.season]
    _check_length(series, [_model_config(config, name) for name in names], options, origins)
    methods = rank_preprocessing(_before(series, int(origins[0])), config)
    configs = []
    for name in names:
        tries = (methods[:AUTO_PREPROCESSING] if name in AUTO_VARIED else methods[:1]) if ZOO[name].trainable else ["none"]
        configs += [dataclasses.replace(_model_config(config, name), preprocess=method) for method in tries]

    values = series.frame.to_numpy(dtype=np.float64)
    target_index = [series.columns.index(t) for t in series.targets]
    actual = values[origins[:, None] + np.arange(config.horizon)][..., target_index]
    scale = seasonal_scale(values[: origins[0], target_index], config.season)
    results = []
    for candidate in configs:
        started = time.perf_counter()
        forecast = run_backtest(series, zoo_fitter(candidate), origins, retrain=False)
        seconds = round(time.perf_counter() - started, 2)
        results.append(ModelResult(candidate.model, candidate, seconds, score_forecast(forecast, actual, scale, series.targets)))
    _rank(results, series.targets)
    best = results[0]
    summary = {
        "chosen": best.model,
        "preprocess": best.config.preprocess,
        "candidates": [r.model for r in results],
        "fits": sum(ZOO[r.model].trainable for r in results),
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


def _rank_global_models(panel, config: TrainConfig, candidates: Sequence[str] | None) -> tuple[list[TrainConfig], dict[str, Any]]:
    """``rank_models`` of many series: one global model per candidate, backtested on the validation
    tail of every series and ranked by MASE averaged over series (``panel_evaluate.backtest_panel``);
    each fit chooses its preprocessing on all series."""
    from rnncast.panel import resolve_panel_config
    from rnncast.panel_evaluate import backtest_panel

    config, usable, _ = resolve_panel_config(panel, config)
    median = int(np.median([len(one) for one in usable.series.values()]))
    held_out = validation_rows(median, config.horizon, config.validation_fraction)
    options = BacktestOptions(folds=(held_out - config.horizon) // config.horizon + 1)
    names = [n for n in (candidates or AUTO_CANDIDATES) if n != "seasonal-naive" or config.season]
    report = backtest_panel(usable, names, dataclasses.replace(config, fallback=False), options)
    results = [r for r in report.models if r.model in names]

    def mean(result, metric: str) -> float:
        return float(np.nanmean([result.mean(t, metric) for t in panel.targets]))

    summary = {
        "chosen": results[0].model,
        "preprocess": results[0].config.preprocess,
        "candidates": [r.model for r in results],
        "fits": sum(ZOO[r.model].trainable for r in results),
        "folds": options.folds,
        "horizon": config.horizon,
        "season": config.season,
        "scores": [{"model": r.model, "preprocess": r.config.preprocess, "mase": mean(r, "mase"), "smape": mean(r, "smape")} for r in results],
    }
    return [dataclasses.replace(r.config, fallback=config.fallback) for r in results], json_safe(summary)


def _ratio(value: float, reference: float) -> float:
    return value / reference if reference > 0 else math.nan


def _mean(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else math.nan


def _json_time(value: Any) -> str | int:
    return value.isoformat() if hasattr(value, "isoformat") else int(value)
