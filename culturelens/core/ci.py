"""The one confidence-interval type: every CI the statistics compute and every CI in summary.json / claims.json.

``CI(lo, hi)``: bounds (None when undefined), with ``level`` (0.95), ``over`` (what the replicates resample) and
``method`` (percentile bootstrap) written to JSON only when they differ from those defaults, so a CI in a results file
reads ``{"lo": 0.1, "hi": 0.3}``. Readers use ``ci.lo`` / ``ci.hi`` (``formatting.fmt_interval(ci)`` as text).

Older results files wrote a CI as a ``[lo, hi]`` list or as two keys ``ci_lo`` / ``ci_hi``; both still read:
the list through the validator below, the key pair through ``move_legacy_ci`` (the one legacy-key rule,
``culturelens.core.legacy.move_legacy_key``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

from culturelens.core.legacy import move_legacy_key

LEVEL = 0.95
METHOD = "percentile bootstrap"


class CI(BaseModel):
    """A confidence interval: bounds (None when undefined), its level, what was resampled, how it was made."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lo: float | None = None
    hi: float | None = None
    level: float = LEVEL
    over: str = ""  # what the replicates resample, e.g. "battery clusters x countries"
    method: str = METHOD

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, data: Any) -> Any:
        """A ``[lo, hi]`` pair (how older results files wrote a CI) reads as ``CI(lo, hi)``."""
        if isinstance(data, (list, tuple)):
            if len(data) != 2:
                raise ValueError(f"a CI is [lo, hi] (got {len(data)} values)")
            return {"lo": data[0], "hi": data[1]}
        return data

    @model_serializer(mode="wrap")
    def _lean(self, handler) -> dict:
        out = handler(self)
        for key, default in (("level", LEVEL), ("over", ""), ("method", METHOD)):
            if out.get(key) == default:
                out.pop(key, None)
        return out

    @property
    def defined(self) -> bool:
        return self.lo is not None and self.hi is not None

    def excludes_zero(self) -> int:
        """+1 when wholly above 0, -1 when wholly below, 0 otherwise (or undefined)."""
        if self.lo is None or self.hi is None:
            return 0
        return 1 if self.lo > 0 else -1 if self.hi < 0 else 0

    def contains(self, x: float | None) -> bool:
        return self.lo is not None and self.hi is not None and x is not None and self.lo <= x <= self.hi

    def shifted(self, by: float | None) -> CI:
        """The same interval minus ``by`` (a fixed number, e.g. the null's mean); undefined when ``by`` is."""
        if self.lo is None or self.hi is None or by is None or not np.isfinite(by):
            return self.model_copy(update={"lo": None, "hi": None})
        return self.model_copy(update={"lo": self.lo - by, "hi": self.hi - by})

    def as_list(self) -> list[float | None]:
        return [self.lo, self.hi]


def move_legacy_ci(data: dict, new: str = "ci", lo: str = "ci_lo", hi: str = "ci_hi") -> bool:
    """An older results file's ``lo`` / ``hi`` key pair in ``data`` moved to one CI under ``new`` (``move_legacy_key``:
    both the pair and ``new`` set is an error naming them)."""
    if lo not in data and hi not in data:
        return False
    pair = {"pair": [data.pop(lo, None), data.pop(hi, None)]}
    return move_legacy_key(pair, "pair", data, new, f"{lo}/{hi}", new)


__all__ = ["CI", "LEVEL", "move_legacy_ci"]
