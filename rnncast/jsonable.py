"""Values as strict JSON: NaN and infinities as null, time stamps as ISO strings or step numbers."""

from __future__ import annotations

import math
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities, at any depth of dicts, lists and tuples, replaced by None."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def time_to_json(value: Any) -> str | int:
    import pandas as pd

    return value.isoformat() if isinstance(value, pd.Timestamp) else int(value)
