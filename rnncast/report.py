"""What a model card means for a person: the facts `rnncast info` lists, the summary `train` prints,
and the validation table. Plain text and plain rows; printing them is the CLI's business.

Nothing heavy is imported here, so that `rnncast info` stays light.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

from rnncast.config import DataOptions
from rnncast.known import data_columns
from rnncast.known import describe as describe_known

if TYPE_CHECKING:
    from rnncast.store import ModelCard


def card_facts(card: ModelCard) -> list[dict[str, str]]:
    """The rows (``field``, ``value``) of `rnncast info`: data, columns, window, horizon, metrics."""
    from rnncast.store import network_files
    from rnncast.uncertainty import describe

    config, metrics, source = card.config, card.metrics, card.source
    facts = {
        "model": config["model"],
        "strategy": config["strategy"],
        "window": config["window"],
        "horizon": config["horizon"],
        "targets": ", ".join(card.targets),
        "inputs": ", ".join(data_columns(card.columns)),
        "known future": describe_known(DataOptions.from_dict(card.data_options)) or "(none)",
        "time column": card.time_column or "(none: row numbers)",
        "frequency": card.freq if card.freq is not None else "(steps)",
        "season": config["season"] or "(none)",
        "preprocessing": preprocessing_fact(config, metrics.get("preprocessing")),
        "trained on": f"{source['path']} ({source['rows']} rows, {source['start']} .. {source['end']})",
        **({"series": series_fact(card)} if card.id_column is not None else {}),
        "training": training_fact(card.training),
        "created": f"{card.created} by rnncast {card.rnncast_version}",
    }
    baselines = [(name, key) for name, key in (("naive", "naive"), ("seasonal-naive", "seasonal_naive"), ("seasonal-mean", "seasonal_mean"),
                                                      ("holt-winters", "holt_winters"))
                 if key in metrics]
    for target, errors in metrics["model"].items():
        facts[f"validation {target}"] = ", ".join(
            f"{metric.upper()} {errors[metric]:.4g} ("
            + ", ".join(f"{name} {metrics[key][target][metric]:.4g}" for name, key in baselines) + ")"
            for metric in ("mae", "rmse")
        )
    if "smoothing" in metrics:
        facts["smoothing"] = smoothing_fact(metrics["smoothing"])
    if "init" in metrics:
        facts["init"] = init_fact(metrics["init"])
    if "fallback" in metrics:
        facts["fallback"] = fallback_fact(metrics["fallback"])
    if card.ensemble is not None:
        facts["ensemble"] = f"{ensemble_fact(card.ensemble)}; the validation above is of their median"
        for i, member in enumerate(card.ensemble["members"], start=1):
            errors = ", ".join(f"{t} {e['mae']:.4g}" for t, e in member["metrics"]["model"].items())
            # A baseline has nothing to train, so its seed means nothing.
            seed = f", seed {member['seed']}" if member["training"]["epochs"] else ""
            facts[f"member {i}"] = f"{member['model']}{seed}, validation MAE {errors}"
    facts["error bars"] = describe(card)
    facts["forecast engine"] = engine_fact(network_files(card))
    return [{"field": field, "value": str(value)} for field, value in facts.items()]


def train_summary(card: ModelCard, model_dir: str | os.PathLike[str]) -> list[str]:
    """The lines `rnncast train` prints on stderr after saving ``card`` to ``model_dir``."""
    run, metrics, config = card.training, card.metrics, card.config
    what = config["model"] if card.ensemble is None else ensemble_fact(card.ensemble)
    lines = [
        f"Saved {what} ({config['strategy']}, window {config['window']}, horizon {config['horizon']}) to {model_dir} "
        f"after {training_fact(run)}. Validation{' of the median' if card.ensemble else ''} on {metrics['windows']} windows"
        + (f" of {card.source['series']} series (the mean over series last):" if card.id_column else ":")
    ]
    if card.ensemble is not None:
        lines.append(f"members' validation MAE: {spread_fact(card)}.")
    if "distribute" in run and not run["distribute"]["chief"]:
        lines.append("This worker is not the chief: its copy of the model was not kept.")
    if "selection" in metrics:
        selection = metrics["selection"]
        scores = ", ".join(f"{candidate(row['model'], row['preprocess'])} {row['mase']:.3g}" for row in selection["scores"])
        chose = f"the best {len(card.ensemble['members'])}" if card.ensemble else candidate(selection["chosen"], selection["preprocess"])
        lines.append(f"auto chose {chose} ({selection['fits']} fits); backtest MASE on validation: {scores}.")
    if "preprocessing" in metrics:
        lines.append(f"preprocessing: {preprocessing_fact(config, metrics['preprocessing'])}.")
    if "pretrained" in metrics:
        lines.append(f"pretrained: {kept_fact(metrics['pretrained'], ('zero-shot', 'fine-tuned'))}.")
    if "init" in metrics:
        lines.append(f"init: {init_fact(metrics['init'])}.")
    if "fallback" in metrics:
        lines.append(f"fallback: {fallback_fact(metrics['fallback'])}; --no-fallback keeps the network.")
    return lines


def smoothing_fact(smoothing: dict[str, dict[str, Any]]) -> str:
    """The parameters holt-winters chose for each column (``smoothing.Smoothing``)."""
    return "; ".join(
        f"{column} alpha {p['alpha']:g}, beta {p['beta']:g}, gamma {p['gamma']:g}, phi {p['phi']:g}" + (", in logs" if p["log"] else "")
        + "".join(f", {name} weight {weight:.4g}" for name, weight in p.get("known", {}).items())
        for column, p in smoothing.items()
    )


def init_fact(choice: dict[str, Any]) -> str:
    """Where `train --init` started from, and whether the saved or the continued network was kept."""
    return f"from {choice['from']}" + (f", {kept_fact(choice, ('saved', 'continued'))}" if "kept" in choice else "")


def kept_fact(choice: dict[str, Any], kinds: tuple[str, str]) -> str:
    """Which of a network as it started and as trained further (`train --model pretrained`, `--init`) was kept, and why."""
    maes = "; ".join(f"{kind} " + ", ".join(f"{t} {e['mae']:.4g}" for t, e in choice[kind].items()) for kind in kinds)
    return f"kept the {choice['kept']} network, the lower validation MAE ({maes})"


def validation_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The validation errors of a card's ``metrics`` beside the baselines', one row per target
    (for a global model: per series and target, then the means over series, id "all")."""
    if "series" in metrics:
        return [
            {"id": key, **row}
            for key, scores in [*metrics["series"].items(), ("all", metrics)]
            for row in validation_rows({"model": scores["model"], "naive": scores["naive"]})
        ]
    rows = []
    for target, model_errors in metrics["model"].items():
        naive = metrics["naive"][target]
        seasonal = metrics.get("seasonal_naive", {}).get(target)
        rows.append({
            "target": target,
            "mae": model_errors["mae"], "naive_mae": naive["mae"],
            **({"seasonal_naive_mae": seasonal["mae"]} if seasonal else {}),
            "rmse": model_errors["rmse"], "naive_rmse": naive["rmse"],
            **({"seasonal_naive_rmse": seasonal["rmse"]} if seasonal else {}),
            "mae_vs_naive": model_errors["mae"] / naive["mae"] if naive["mae"] else float("nan"),
        })
    return rows


def candidate(model: str, preprocess: str) -> str:
    """A candidate of `--model auto` with its preprocessing, e.g. gru/difference."""
    return model if preprocess == "none" else f"{model}/{preprocess}"


def series_fact(card: ModelCard) -> str:
    """How many series a global model forecasts, by which id column, and which were too short to train on."""
    from rnncast.dataset import first_few  # here: pandas loads with it, and `info` of one series needs none

    skipped = first_few(f"{key} ({rows} rows)" for key, rows in card.skipped.items())
    return f"{len(card.series)} by {card.id_column}" + (f"; skipped as too short: {skipped}" if skipped else "")


def engine_fact(networks: list[dict[str, str]]) -> str:
    for files in networks:
        if "onnx" not in files:
            return f"Keras (TensorFlow): the ONNX export failed: {files.get('onnx_error', 'not attempted')}"
    with_mc = " and MC Dropout" if any("onnx_mc" in files for files in networks) else ""
    return f"onnxruntime for point forecasts{with_mc} (export checked against Keras); --engine keras to use TensorFlow"


def training_fact(run: dict[str, Any]) -> str:
    if "members" in run:
        return f"{run['epochs']} epoch(s) over {run['members']} members, {run['seconds']} s"
    return f"{run['epochs']} epoch(s)" + (f", best {run['best_epoch']}" if run["epochs"] else "") + f", {run['seconds']} s"


def ensemble_fact(ensemble: dict[str, Any]) -> str:
    members = ensemble["members"]
    if ensemble["kind"] == "seeds":
        return f"the median of {len(members)} {members[0]['model']} seeds"
    return f"the median of the best {len(members)} of auto: {', '.join(m['model'] for m in members)}"


def spread_fact(card: ModelCard) -> str:
    """Per target, the range of the members' validation MAE beside their median's."""
    facts = []
    for target, errors in card.metrics["model"].items():
        maes = [member["metrics"]["model"][target]["mae"] for member in card.ensemble["members"]]
        facts.append(f"{target} {min(maes):.4g}..{max(maes):.4g} (their median forecast {errors['mae']:.4g})")
    return "; ".join(facts)


def preprocessing_fact(config: dict[str, Any], selection: dict[str, Any] | None) -> str:
    method = config.get("preprocess", "none")
    if selection is None:
        return method
    scores = ", ".join(f"{m} {s:.4g}" for m, s in selection["scores"].items() if s is not None)
    return f"{method}, chosen on validation (standardised MAE of a linear model: {scores})"


def fallback_fact(fallback: dict[str, Any]) -> str:
    network = fallback["network"]
    maes = ", ".join(f"{target} {errors['mae']:.4g}" for target, errors in network["validation"].items())
    return (f"kept {fallback['kept']}, not the trained {network['model']} (preprocessing {network['preprocess']}): "
            f"{fallback['reason']} (the {network['model']}'s validation MAE: {maes})")


def card_document(card: ModelCard) -> dict[str, Any]:
    """The card as `rnncast info --format json` prints it: every field but the series' last windows of data."""
    document = dataclasses.asdict(card)
    document["series"] = {key: {k: v for k, v in one.items() if k != "last_window"} for key, one in card.series.items()}
    return document
