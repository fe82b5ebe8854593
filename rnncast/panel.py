"""The model card of a global model of many series."""

from __future__ import annotations

import dataclasses
import datetime
import os
from typing import Any

import numpy as np

from rnncast._version import __version__
from rnncast.config import DataOptions
from rnncast.dataset import Panel
from rnncast.jsonable import time_to_json
from rnncast.known import provenance


def panel_card(panel: Panel, fitted, data_options: DataOptions, ensemble: dict[str, Any] | None = None):
    """The model card of a global model: shared settings at the top level, each series' scaler, last
    window and span under ``panel``. The top-level ``last_window`` and ``scaler`` are empty."""
    from rnncast.store import ModelCard
    from rnncast.values import observed

    kept = panel.subset(list(fitted.scalers))
    window = fitted.config.window
    series = {
        key: {
            "scaler": fitted.scalers[key].to_dict(),
            "last_time": time_to_json(one.frame.index[-1]),
            "last_window": one.frame.iloc[-window:].to_numpy().tolist(),
            "rows": len(one),
            "start": time_to_json(one.frame.index[0]),
        }
        for key, one in kept.series.items()
    }
    ends = [one.frame.index[-1] for one in kept.series.values()]
    return ModelCard(
        config=fitted.config.to_dict(),
        data_options={**dataclasses.replace(data_options, date_format=panel.first.date_format).to_dict(), "id_column": panel.id_column},
        columns=list(panel.columns),
        targets=list(panel.targets),
        time_column=panel.time_column,
        freq=kept.freq,
        last_time=time_to_json(max(ends)),
        last_window=[],
        scaler={},
        metrics=fitted.metrics,
        training=fitted.history,
        source={
            "path": os.path.abspath(panel.source),
            "rows": sum(len(one) for one in kept.series.values()),
            "start": time_to_json(min(one.frame.index[0] for one in kept.series.values())),
            "end": time_to_json(max(ends)),
            "series": len(kept),
            **provenance(data_options),
            **observed(np.concatenate([one.frame[list(panel.targets)].to_numpy(dtype=np.float64) for one in kept.series.values()]),
                       panel.targets),
        },
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        rnncast_version=__version__,
        preprocessing=fitted.preprocessing.to_dict(),
        uncertainty=fitted.uncertainty,
        ensemble=ensemble,
        panel={"id_column": panel.id_column, "series": series, "skipped": fitted.skipped},
    )
