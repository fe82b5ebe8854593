"""The model card of a fitted model, for one series or many: the settings, the data it learned
from, each series' scaler and last window, its validation and its intervals' calibration."""

from __future__ import annotations

import dataclasses
import datetime
import os
from typing import Any

import numpy as np

from rnncast._version import __version__
from rnncast.config import DataOptions
from rnncast.dataset import Panel, left_padded
from rnncast.jsonable import time_to_json
from rnncast.known import provenance
from rnncast.store import ModelCard
from rnncast.timeaxis import fixed_step_seconds
from rnncast.values import observed


def model_card(data: Panel, fitted, data_options: DataOptions, selection: dict[str, Any] | None = None,
               ensemble: dict[str, Any] | None = None) -> ModelCard:
    """The card of ``fitted`` (a ``training.FittedModel``, an ensemble or a fine-tuned pretrained
    model) trained on ``data``: each series it forecasts under ``series`` with its span and the last
    window (a short series' padded as training padded it), the series too short to train on under
    ``skipped``, and the ``--model auto`` selection under ``metrics``."""
    window, first = fitted.config.window, data.first
    kept = {key: one for key, one in data.series.items() if key in fitted.scalers}
    series = {
        key: {"scaler": fitted.scalers[key].to_dict(), "last_time": time_to_json(one.frame.index[-1]),
              "last_window": left_padded(one, window, data.freq).frame.iloc[-window:].to_numpy().tolist(),
              "rows": len(one), "start": time_to_json(one.frame.index[0])}
        for key, one in kept.items()
    }
    ends = [one.frame.index[-1] for one in kept.values()]
    freq = data.freq
    return ModelCard(
        config=fitted.config.to_dict(),
        # The format the time stamps were read with, so that `forecast --data` reads an update the same way.
        data_options=dataclasses.replace(data_options, date_format=first.date_format, id_column=data.id_column).to_dict(),
        columns=list(data.columns),
        targets=list(data.targets),
        time_column=data.time_column,
        freq=freq,
        step_seconds=fixed_step_seconds(freq) if isinstance(freq, str) else None,
        last_time=time_to_json(max(ends)),
        time_format=first.time_format,
        id_column=data.id_column,
        series=series,
        skipped=fitted.skipped,
        metrics=fitted.metrics if selection is None else {**fitted.metrics, "selection": selection},
        training=fitted.history,
        source={
            "path": os.path.abspath(data.source),
            "rows": sum(len(one) for one in kept.values()),
            "start": time_to_json(min(one.frame.index[0] for one in kept.values())),
            "end": time_to_json(max(ends)),
            **({"series": len(kept)} if data.many else {}),
            **observed(np.concatenate([one.frame[list(data.targets)].to_numpy(dtype=np.float64) for one in kept.values()]), data.targets),
            **provenance(data_options),
        },
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        rnncast_version=__version__,
        uncertainty=fitted.uncertainty,
        preprocessing=fitted.preprocessing.to_dict(),
        ensemble=ensemble,
    )
