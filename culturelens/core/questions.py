"""The WVS wave-7 question bank: ids, thematic sections, the project's prompt wording, options and scale values.

Scores follow the paper: the K answer options, in the order of their WVS codes after remapping
(lowest code first), get scale values spread linearly over [-1, 1]: s_k = -1 + 2k/(K-1).

The embedded bank (``data/questions.json``, written by ``scripts/build_bank.py``) holds every WVS-7 value question
of the 12 value sections that is one ordinal (or two-point) scale; its ``meta`` names the sources and lists the
items left out with their reasons. A section's group (norms / systems / progress) is ``DEFAULT_GROUPS`` here, the
one place that maps them; eval configs override it with ``groups:``.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from culturelens.core.errors import DataError

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


class Remap(Mapping):
    """Raw WVS answer code -> scale code, or None to drop the answer: an immutable, hashable mapping."""

    __slots__ = ("_codes",)

    def __init__(self, pairs: Mapping | Iterable[tuple] = ()):
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        self._codes: dict[int, int | None] = {int(k): (None if v is None or v == "" else int(v)) for k, v in items}

    def __getitem__(self, code: int) -> int | None:
        return self._codes[code]

    def __iter__(self) -> Iterator[int]:
        return iter(self._codes)

    def __len__(self) -> int:
        return len(self._codes)

    def __hash__(self) -> int:
        return hash(frozenset(self._codes.items()))

    def __repr__(self) -> str:
        return f"Remap({self._codes!r})"


@dataclass(frozen=True)
class Question:
    qid: str  # "Q27"
    category: str  # one of WVS_SECTIONS
    text: str  # the project's wording: a statement or a question, without options
    options: tuple[Option, ...]  # in scale order, lowest code first
    short: str = ""  # short name, e.g. "divorce" (used to match country-means files)
    aliases: tuple[str, ...] = ()  # other texts that name this question in user files
    direction: str = ""  # what a high score means, e.g. "disagree", "justifiable"
    remap: Remap = field(default_factory=Remap)  # raw WVS code -> scale code; -> None drops (a dict is converted)
    scale: str = ""  # "ordinal", "binary" (yes/no, a choice of two) or "mentioned" (2-point mentioned / not mentioned)

    def __post_init__(self) -> None:
        if not isinstance(self.remap, Remap):
            object.__setattr__(self, "remap", Remap(self.remap or {}))

    @property
    def section(self) -> str:
        """The WVS thematic section (the same as ``category``)."""
        return self.category

    @property
    def group(self) -> str | None:
        """The section's default group (norms / systems / progress) per ``DEFAULT_GROUPS``."""
        return DEFAULT_GROUPS.get(self.category)

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


def _question_from_dict(d: dict) -> Question:
    opts = sorted(d["options"], key=lambda o: int(o["code"]))
    scores = linear_scores(len(opts))
    remap = Remap(d.get("remap") or {})
    return Question(
        qid=d["qid"], category=d.get("section") or d["category"], text=d["text"],
        options=tuple(Option(int(o["code"]), o["label"], s) for o, s in zip(opts, scores)),
        short=d.get("short", ""), aliases=tuple(d.get("aliases", ())), direction=d.get("direction", ""), remap=remap,
        scale=d.get("scale", ""),
    )


def _norm(text: str) -> str:
    return " ".join(str(text).casefold().replace("’", "'").split()).strip(" ?.")


class QuestionBank:
    """An ordered collection of questions, looked up by id (`get`) or by the text users' files name them with (`find`)."""

    def __init__(self, questions, meta: dict | None = None):
        self.meta: dict = dict(meta or {})  # where the questions come from, what was left out and why
        self.questions: dict[str, Question] = {}
        for q in questions:
            self.questions[q.qid] = q
        self._by_text: dict[str, Question] = {}
        for q in self.questions.values():
            for t in (q.qid, q.short, *q.aliases):
                if t:
                    self._by_text.setdefault(_norm(t), q)

    def __len__(self) -> int:
        return len(self.questions)

    def __iter__(self):
        return iter(self.questions.values())

    @staticmethod
    def _key(qid: str | int) -> str:
        """The bank id a user's question id names: "q27", " Q27 ", "27" and 27 all name Q27."""
        key = str(qid).strip().upper()
        return key if key.startswith("Q") else "Q" + key

    def __contains__(self, qid) -> bool:
        return self._key(qid) in self.questions

    def get(self, qid: str) -> Question:
        key = self._key(qid)
        if key not in self.questions:
            examples = ", ".join(list(self.questions)[:3])
            raise DataError(
                f"unknown question id '{qid}': not in the question bank ({len(self)} questions, e.g. {examples}); "
                "add questions with questions_file (a bank .json or WorldValuesBench metadata folder)"
            )
        return self.questions[key]

    def find(self, text: str) -> Question | None:
        return self._by_text.get(_norm(text))

    def merge(self, other: QuestionBank) -> QuestionBank:
        """Questions of both banks; on the same id this bank's question wins."""
        merged = dict(other.questions)
        merged.update(self.questions)
        return QuestionBank(merged.values(), self.meta or other.meta)


_EMBEDDED: QuestionBank | None = None


def _bank_from_json(data) -> QuestionBank:
    """A bank from {"meta": {...}, "questions": [...]} (the embedded layout) or a plain list of questions."""
    if isinstance(data, dict):
        return QuestionBank((_question_from_dict(d) for d in data["questions"]), data.get("meta"))
    return QuestionBank(_question_from_dict(d) for d in data)


def load_bank(path: str | Path | None = None) -> QuestionBank:
    """The embedded bank (every WVS-7 value question, see ``meta``) or a bank .json (a list of questions, or
    {"meta": ..., "questions": [...]})."""
    global _EMBEDDED
    if path is None:
        if _EMBEDDED is None:
            text = (resources.files("culturelens.core") / "data" / "questions.json").read_text(encoding="utf-8")
            _EMBEDDED = _bank_from_json(json.loads(text))
        return _EMBEDDED
    p = Path(path)
    if not p.exists():
        raise DataError(f"question bank file '{p}' does not exist")
    try:
        return _bank_from_json(json.loads(p.read_text(encoding="utf-8")))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"'{p}' is not a question bank file (expected a list of questions with qid, category, text, "
                        f"options): {exc}") from None


def _clean_label(label: str) -> str:
    label = " ".join(str(label).split())
    return label[:1].upper() + label[1:] if label else label


def load_worldvaluesbench(
    question_metadata_path: str | Path,
    codebook_path: str | Path,
    answer_adjustment_path: str | Path | None = None,
    use_case: str = "value",
) -> QuestionBank:
    """All value questions of the WorldValuesBench layout (question_metadata.json + codebook.json).

    Options are the non-negative codebook codes after the answer adjustments (raw code -> new code;
    "" drops the code), in code order. The text is the metadata's self-contained sentence without its
    leading "On a scale of ..." clause (the options carry the scale).
    """
    meta = json.loads(Path(question_metadata_path).read_text())
    codebook = json.loads(Path(codebook_path).read_text())
    adjust = json.loads(Path(answer_adjustment_path).read_text()) if answer_adjustment_path else {}
    questions = []
    for qid, m in meta.items():
        if m.get("use_case") != use_case or qid not in codebook:
            continue
        remap_raw = adjust.get(qid, {})
        remap = {int(k): (int(v) if v != "" else None) for k, v in remap_raw.items()}
        labels: dict[int, str] = {}
        for code, label in codebook[qid].get("choices", {}).items():
            code = int(code)
            if code < 0:
                continue
            new = remap.get(code, code)
            if new is None:
                continue
            labels.setdefault(new, _clean_label(label))
        if len(labels) < 2:
            continue
        text = re.sub(r"^On a scale of [^,]+,[^,]+,\s*", "", m["question"]).strip()
        text = text[:1].upper() + text[1:]
        opts = sorted(labels.items())
        scores = linear_scores(len(opts))
        questions.append(Question(qid, m["category"], text, tuple(Option(c, lab, s) for (c, lab), s in zip(opts, scores)),
                                  short=" ".join(codebook[qid].get("question", "").split()).lower(), remap=Remap(remap)))
    return QuestionBank(questions)


def load_questions_file(path: str | Path) -> QuestionBank:
    """Extra questions: a bank .json, or a folder with WorldValuesBench question_metadata.json + codebook.json."""
    p = Path(path)
    if p.is_dir():
        meta, codebook = p / "question_metadata.json", p / "codebook.json"
        if not meta.exists() or not codebook.exists():
            raise DataError(f"'{p}' needs question_metadata.json and codebook.json (the WorldValuesBench layout)")
        adj = p / "answer_adjustment.json"
        return load_worldvaluesbench(meta, codebook, adj if adj.exists() else None)
    return load_bank(p)
