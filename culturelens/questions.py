"""The WVS wave-7 question bank: ids, thematic sections, the project's prompt wording, options and scale values.

Scores follow the paper: the K answer options, in the order of their WVS codes after remapping
(lowest code first), get scale values spread linearly over [-1, 1]: s_k = -1 + 2k/(K-1).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from culturelens.errors import DataError

# The 13 thematic sections of the WVS wave-7 questionnaire (names as in WorldValuesBench metadata).
WVS_SECTIONS = (
    "Social Values, Norms, Stereotypes",
    "Happiness and Wellbeing",
    "Social Capital, Trust and Organizational Membership",
    "Economic Values",
    "Perceptions of Corruption",
    "Perceptions of Migration",
    "Perceptions of Security",
    "Index of Postmaterialism",
    "Perceptions about Science and Technology",
    "Religious Values",
    "Ethical Values",
    "Political Interest and Political Participation",
    "Political Culture and Political Regimes",
)

# Default mapping of sections to the paper's three groups (the paper's exact mapping is not public).
DEFAULT_GROUPS: dict[str, str] = {
    "Social Values, Norms, Stereotypes": "norms",
    "Happiness and Wellbeing": "norms",
    "Social Capital, Trust and Organizational Membership": "norms",
    "Religious Values": "norms",
    "Ethical Values": "norms",
    "Economic Values": "systems",
    "Perceptions of Corruption": "systems",
    "Perceptions of Migration": "systems",
    "Perceptions of Security": "systems",
    "Index of Postmaterialism": "systems",
    "Political Interest and Political Participation": "systems",
    "Political Culture and Political Regimes": "systems",
    "Perceptions about Science and Technology": "progress",
}


@dataclass(frozen=True)
class Option:
    code: int  # WVS answer code after remapping (scale order)
    label: str  # answer text shown to the model
    score: float  # s_k in [-1, 1]


@dataclass(frozen=True)
class Question:
    qid: str  # "Q27"
    category: str  # one of WVS_SECTIONS
    text: str  # the project's wording: a statement or a question, without options
    options: tuple[Option, ...]  # in scale order, lowest code first
    short: str = ""  # short name, e.g. "divorce" (used to match country-means files)
    aliases: tuple[str, ...] = ()  # other texts that name this question in user files
    direction: str = ""  # what a high score means, e.g. "disagree", "justifiable"
    remap: dict[int, int] = field(default_factory=dict)  # raw WVS code -> scale code; -> None drops

    @property
    def codes(self) -> list[int]:
        return [o.code for o in self.options]

    @property
    def scores(self) -> list[float]:
        return [o.score for o in self.options]


def linear_scores(k: int) -> list[float]:
    if k < 2:
        raise DataError(f"a question needs at least 2 answer options, got {k}")
    return [-1.0 + 2.0 * i / (k - 1) for i in range(k)]
