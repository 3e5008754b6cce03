"""Small helpers shared by the reference model and its readers: question-id order, column names, short lists."""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

WVS_CITATION = (
    "Haerpfer, C., Inglehart, R., Moreno, A., Welzel, C., Kizilova, K., Diez-Medrano J., M. Lagos, P. Norris, "
    "E. Ponarin & B. Puranen (eds.). 2022. World Values Survey: Round Seven - Country-Pooled Datafile Version 5.0. "
    "Madrid, Spain & Vienna, Austria: JD Systems Institute & WVSA Secretariat. doi:10.14281/18241.24."
)
WVS_DOI = "10.14281/18241.24"
COUNTRY_COLUMN = "B_COUNTRY_ALPHA"
COLUMNS = ["country", "qid", "n", "mean", "dist", "source"]
DECIMALS = 6


def version() -> str:
    try:
        from culturelens import __version__

        return str(__version__)
    except Exception:  # pragma: no cover
        return "unknown"


def qid_key(qid: str) -> tuple:
    """Natural order of question ids: Q2 < Q27 < Q122 < Q122A."""
    m = re.match(r"^([A-Za-z_]*)(\d+)(.*)$", str(qid))
    if not m:
        return (str(qid), -1, "")
    return (m.group(1).upper(), int(m.group(2)), m.group(3))


def norm_col(name: Any) -> str:
    return str(name).replace("\ufeff", "").strip().strip('"').strip().upper()


def shorten(items: Iterable[Any], limit: int = 8) -> str:
    items = [str(i) for i in items]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... ({len(items)} in all)"


def fmt_code(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def resolve_alpha3(names: Iterable[str]) -> list[str]:
    from culturelens.core.countries import resolve_country

    return [resolve_country(str(name)).alpha3 for name in names]


def default_bank(bank):
    if bank is not None:
        return bank
    from culturelens.core.questions import load_bank

    return load_bank()
