"""JSON-safe values: numpy/pandas scalars become Python ones, nan/inf/NA become None (JSON has no NaN).

Every JSON file culturelens writes (summary.json, comparison.json, claims.json, ...) goes through
`write_json`, so no file ever holds a bare `NaN` that strict JSON readers reject.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel


def safe_float(x) -> float | None:
    """A JSON-safe float: None for None/nan/inf or anything not convertible."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def json_safe(obj):
    """Recursively turn numpy/pandas scalars into Python ones, pydantic models into dicts, paths into strings and nan into
    None."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, BaseModel):  # e.g. a CI (culturelens/core/ci.py) inside a results dict
        return json_safe(obj.model_dump())
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return safe_float(obj)
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def dumps_json(obj, indent: int | None = 2) -> str:
    """Strict JSON text of `obj` (after `json_safe`); raises TypeError for objects JSON cannot hold."""
    return json.dumps(json_safe(obj), indent=indent, allow_nan=False)


def write_json(path: str | Path, obj, indent: int | None = 2) -> Path:
    path = Path(path)
    path.write_text(dumps_json(obj, indent=indent))
    return path
