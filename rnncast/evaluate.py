"""Rolling-origin backtests of one series or many, baselines beside every model, and their report
(choosing a model on validation is ``selection``; the shared pieces are ``backtest``).

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
    MODELS,
    SCHEMA_VERSION,
    BacktestOptions,
    model_config,
    backtest_origins,
    backtest_settings_json,
    run_backtest,
    fitter,
    score_forecast,
)
from rnncast.config import DataOptions, TrainConfig
from rnncast.data import TimeSeries, infer_season
from rnncast.errors import ModelFileError, UsageError
from rnncast.metrics import INTERVAL, ratio, seasonal_scale
from rnncast.models import ZOO, check_options
from rnncast.selection import ModelResult, check_length, rank_results
from rnncast.windows import default_window

if TYPE_CHECKING:
    from rnncast.panel_evaluate import PanelReport

log = logging.getLogger("rnncast")


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
            "vs_best_baseline": ratio(metrics["mase"], reference["mase"]) if reference else math.nan,
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
        models: zoo names or "pretrained" (``backtest.MODELS``); the baselines naive, seasonal-naive and linear are always added.
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
    unknown = [name for name in models if name not in MODELS]
    if unknown:
        raise UsageError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)} (see `rnncast models`).")
    check_options([name for name in dict.fromkeys([*models, *BASELINES]) if name in ZOO], given)
    from rnncast.card import ONE_SERIES
    from rnncast.dataset import Panel, load_data, with_known_inputs

    # Seeds of a model with nothing to train all forecast alike, so only trained models get them.
    # The pretrained model's seeds would all start from the same weights (``ensemble.check_ensemble``).
    ensembles = [name for name in models if name in ZOO and ZOO[name].trainable]
    if config.ensemble > 1 and not ensembles:
        raise UsageError(
            f"`--ensemble {config.ensemble}` fits seeds of the models asked for, and {', '.join(models)} "
            f"{'has' if len(models) == 1 else 'have'} nothing to train (every seed forecasts the same); add a trained model such as gru."
        )
    series = data if isinstance(data, Panel) else Panel.of(data) if isinstance(data, TimeSeries) else load_data(data, data_options)
    series = with_known_inputs(series, data_options, config.output_steps)
    if series.many:
        from rnncast.panel_evaluate import backtest_panel

        return backtest_panel(series, models, config, options, on_fit, given)
    data, series = series, series.first
    season = config.season or infer_season(series.freq)
    origins = backtest_origins(len(series), config.horizon, options)
    config = dataclasses.replace(
        config, season=season,
        window=config.window or default_window(season, config.horizon, max(int(origins[0]), 1), config.validation_fraction),
    )
    names = list(dict.fromkeys([*models, *BASELINES]))
    if season is None and "seasonal-naive" in names:
        log.warning("seasonal-naive is left out: the data's frequency gives no season; pass --season N to include it.")
        names.remove("seasonal-naive")
    configs = [model_config(config if name in ensembles else dataclasses.replace(config, ensemble=1), name) for name in names]
    check_length(series, configs, options, origins)

    values = series.frame.to_numpy(dtype=np.float64)
    target_index = [series.columns.index(t) for t in series.targets]
    actual = values[origins[:, None] + np.arange(config.horizon)][..., target_index]
    scale = seasonal_scale(values[: origins[0], target_index], season)
    import_keras()  # once up front, so that no model's time includes importing TensorFlow
    results = []
    for done, candidate in enumerate(configs):
        if on_fit is not None:
            on_fit(candidate.model, done, len(configs))
        started = time.perf_counter()
        forecast = run_backtest(data, fitter(candidate, options.mc_samples, given), {ONE_SERIES: origins}, options.retrain)[ONE_SERIES]
        seconds = round(time.perf_counter() - started, 2)
        results.append(ModelResult(candidate.model, candidate, seconds, score_forecast(forecast, actual, scale, series.targets)))
    best_baseline = rank_results(results, series.targets)
    return Report(series, config.horizon, options, season, origins, scale, results, best_baseline, tuple(models))


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
    config = TrainConfig.from_dict(card.config)
    if config.model == "pretrained":
        # Its window is the network's context, cut to the longest series it saw: no window the
        # baselines should share, or that the rows before the first origin must hold.
        config = dataclasses.replace(config, window=None)
    return config, data_options.over(card.data_options)


def _mean(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else math.nan


def _json_time(value: Any) -> str | int:
    return value.isoformat() if hasattr(value, "isoformat") else int(value)
