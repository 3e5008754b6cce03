"""What a run is asked about: the question bank, the human reference, the countries and the questions.

One ``resolve_inputs`` serves every stage (eval, synth, translate) and the experiments; every bad name is a ``DataError``.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

from culturelens.core.countries import Country, load_countries, resolve_countries, western_flag
from culturelens.core.errors import ConfigError, DataError
from culturelens.core.questions import QuestionBank, load_bank
from culturelens.core.reference import HumanReference, load_reference


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """The input fields of a run config; ``of`` reads them from any config that has (some of) them."""

    reference: str = "default"
    countries: list[str] | None = None
    questions: list[str] | None = None
    questions_file: str | None = None
    countries_file: str | None = None  # a CSV like culturelens/core/data/countries.csv: adds or replaces rows
    western: Literal["rich_west", "zones"] = "rich_west"

    @classmethod
    def of(cls, cfg: Any) -> InputSpec:
        if isinstance(cfg, cls):
            return cfg
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{n: getattr(cfg, n) for n in names if getattr(cfg, n, None) is not None})


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower() or "run"


@dataclasses.dataclass
class EvalInputs:
    bank: QuestionBank
    reference: HumanReference
    countries: list[Country]
    qids: list[str]


def load_question_bank(questions_file: str | None) -> QuestionBank:
    bank = load_bank()
    if not questions_file:
        return bank
    from culturelens.core.questions import load_questions_file  # noqa: PLC0415

    return bank.merge(load_questions_file(questions_file))


def check_not_empty(cfg: InputSpec) -> None:
    """`countries: []` or `questions: []` selects nothing; it must not silently mean "all" (leave the key out for all)."""
    for key in ("countries", "questions"):
        if getattr(cfg, key) == []:
            raise ConfigError(f"{key}=[] selects no {key}: leave {key} out (or set it to null) to use every one the "
                              f"reference has, or list some, e.g. {key}=[{'DEU,USA' if key == 'countries' else 'Q27,Q28'}]")


def check_known_countries(reference: HumanReference, table: dict[str, Country], cfg: InputSpec) -> None:
    """Every country of the reference must be in the country table (its zone and Western flag are needed)."""
    unknown = [c for c in reference.countries if c not in table]
    if unknown:
        raise DataError(f"reference '{cfg.reference}' has countries the country table does not know: {', '.join(unknown[:8])}: "
                        "fix their codes (ISO alpha-3, see `culturelens data countries`) or add them with countries_file")


def resolve_inputs(cfg: InputSpec) -> EvalInputs:
    """Question bank, human reference, countries and questions of a run; every bad name is a DataError.

    ``cfg`` is any config with the input fields (``EvalConfig``, ``SynthConfig``, ``TranslateConfig``, or an ``InputSpec``).
    """
    cfg = InputSpec.of(cfg)
    check_not_empty(cfg)
    bank = load_question_bank(cfg.questions_file)
    reference = load_reference(cfg.reference, bank=bank)
    table = load_countries(cfg.countries_file)
    check_known_countries(reference, table, cfg)
    if cfg.countries:
        countries = resolve_countries(cfg.countries, table)
        missing = [c.alpha3 for c in countries if c.alpha3 not in set(reference.countries)]
        if missing:
            raise DataError(
                f"no human answers for {', '.join(missing)} in reference '{cfg.reference}' "
                f"(it has {len(reference.countries)} countries: {', '.join(reference.countries[:12])}...): "
                "drop them or pass a reference built from WVS data that covers them"
            )
    else:
        countries = [table[c] for c in reference.countries]
    if cfg.western == "zones":
        countries = [dataclasses.replace(c, western=western_flag(c, "zones")) for c in countries]
    if cfg.questions:
        qids = [bank.get(q).qid for q in cfg.questions]
        absent = [q for q in qids if q not in set(reference.qids)]
        if absent:
            raise DataError(
                f"question(s) {', '.join(absent)} have no human answers in reference '{cfg.reference}': "
                "drop them or pass a reference that has them"
            )
    else:
        qids = [q for q in reference.qids if q in bank]
    have = reference.df[reference.df["qid"].isin(qids)]
    covered = set(have["country"])
    empty = [c.alpha3 for c in countries if c.alpha3 not in covered]
    if empty and cfg.countries:
        raise DataError(
            f"no human answers for {', '.join(empty)} on the chosen questions ({', '.join(qids[:5])}{'...' if len(qids) > 5 else ''}) "
            f"in reference '{cfg.reference}': choose other questions or countries"
        )
    countries = [c for c in countries if c.alpha3 in covered]  # default country list: keep those with data
    if not countries:
        raise DataError("the chosen countries and questions have no human answers in common in the reference")
    chosen = {c.alpha3 for c in countries}
    return EvalInputs(bank, reference.subset(countries=sorted(chosen), qids=qids), countries, qids)
