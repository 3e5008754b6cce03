"""Country metadata: ISO codes, English name, main languages, Inglehart-Welzel cultural zone, Western flag.

The embedded table (culturelens/data/countries.csv) covers the WVS wave-7 countries. Zone
assignments follow the Inglehart-Welzel cultural map as closely as a single label allows and are
approximate; a user CSV with the same columns (`countries_file` in an eval or synth config, or
`load_countries(path)`) adds countries or replaces the embedded rows of the same alpha3.
The default Western flag is the published 11-country 'rich West' set of the 55-country ethics data
(Andorra, Argentina, Australia, Canada, Chile, Cyprus, Germany, Greece, Netherlands, New Zealand,
United States); countries outside that set are Western iff their zone is English-speaking,
Protestant Europe or Catholic Europe. `western_flag(c, "zones")` gives the zone-based definition.
"""
from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from culturelens.core.errors import DataError

ZONES = (
    "English-speaking",
    "Protestant Europe",
    "Catholic Europe",
    "Orthodox Europe",
    "Confucian",
    "West & South Asia",
    "African-Islamic",
    "Latin America",
)
WESTERN_ZONES = ("English-speaking", "Protestant Europe", "Catholic Europe")


@dataclass(frozen=True)
class Country:
    alpha3: str  # ISO 3166-1 alpha-3, e.g. "DEU"
    alpha2: str  # "DE"
    numeric: int  # ISO 3166-1 numeric, = WVS B_COUNTRY, e.g. 276
    name: str  # English short name, e.g. "Germany"
    languages: tuple[str, ...]  # main language(s), ISO 639-1 codes, most spoken first, e.g. ("de",)
    zone: str  # one of ZONES
    western: bool  # default Western flag (the published 'rich West' set where it covers the country)
    aliases: tuple[str, ...] = ()  # other English names, e.g. "United States of America", "USA"


def _parse(text: str, source: str) -> dict[str, Country]:
    rows = list(csv.DictReader(io.StringIO(text)))
    need = {"alpha3", "alpha2", "numeric", "name", "languages", "zone", "western"}
    if not rows or need - set(rows[0]):
        raise DataError(f"{source}: a countries CSV needs the columns {', '.join(sorted(need))} (+ optional aliases)")
    out = {}
    for r in rows:
        if r["zone"] not in ZONES:
            raise DataError(f"{source}: unknown zone '{r['zone']}' for {r['alpha3']}; use one of: {', '.join(ZONES)}")
        out[r["alpha3"].upper()] = Country(
            alpha3=r["alpha3"].upper(), alpha2=r["alpha2"].upper(), numeric=int(r["numeric"]), name=r["name"],
            languages=tuple(x for x in r["languages"].split(";") if x), zone=r["zone"],
            western=r["western"].strip().lower() == "true",
            aliases=tuple(x for x in (r.get("aliases") or "").split(";") if x),
        )
    return out


@cache
def _embedded() -> dict[str, Country]:
    text = (resources.files("culturelens.core") / "data" / "countries.csv").read_text(encoding="utf-8")
    return _parse(text, "embedded countries.csv")


def load_countries(path: str | Path | None = None) -> dict[str, Country]:
    """Countries keyed by ISO alpha-3: the embedded table, with the rows of a user CSV (same columns) added or
    replacing the embedded row of the same alpha3."""
    table = dict(_embedded())
    if path is None:
        return table
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"countries file '{p}' does not exist: pass a CSV with the columns of "
                        "culturelens/core/data/countries.csv (`culturelens data countries` shows them)")
    table.update(_parse(p.read_text(encoding="utf-8"), str(p)))
    return table


def _build_index(table: dict[str, Country]) -> dict[str, str]:
    idx: dict[str, str] = {}
    for c in table.values():
        for key in (c.alpha3, c.alpha2, str(c.numeric), c.name, *c.aliases):
            if key:
                idx[key.casefold()] = c.alpha3
    return idx


@cache
def _index() -> dict[str, str]:
    return _build_index(_embedded())


def resolve_country(code_or_name: str | int, table: dict[str, Country] | None = None) -> Country:
    """A country from its ISO alpha-3 / alpha-2 / numeric code, English name or alias (case-insensitive), in
    ``table`` (from ``load_countries``; default: the embedded table)."""
    index = _index() if table is None else _build_index(table)
    key = str(code_or_name).strip().casefold()
    alpha3 = index.get(key)
    if alpha3 is None:
        close = difflib.get_close_matches(key, list(index), n=3, cutoff=0.75)
        hint = f" (did you mean {', '.join(repr(index[c]) for c in close)}?)" if close else ""
        raise DataError(
            f"unknown country '{code_or_name}'{hint}: use an ISO alpha-3 code such as DEU; "
            "`culturelens data countries` lists them"
        )
    return (_embedded() if table is None else table)[alpha3]


def resolve_countries(items, table: dict[str, Country] | None = None) -> list[Country]:
    seen, out = set(), []
    for item in items:
        c = resolve_country(item, table)
        if c.alpha3 not in seen:
            seen.add(c.alpha3)
            out.append(c)
    return out


def western_flag(country: Country, definition: str = "rich_west") -> bool:
    if definition == "rich_west":
        return country.western
    if definition == "zones":
        return country.zone in WESTERN_ZONES
    raise DataError(f"unknown Western definition '{definition}': use rich_west or zones")


def country_table():
    import pandas as pd

    return pd.DataFrame(
        [{"alpha3": c.alpha3, "alpha2": c.alpha2, "numeric": c.numeric, "name": c.name, "languages": ",".join(c.languages),
          "zone": c.zone, "western": c.western} for c in _embedded().values()]
    )


# Names of the main languages, for prompts that ask a teacher to write or translate into them.
LANGUAGE_NAMES = {"es": "Spanish", "pt": "Portuguese", "de": "German", "tr": "Turkish", "ar": "Arabic", "zh": "Chinese",
                  "bn": "Bengali", "en": "English", "fr": "French", "ru": "Russian", "fa": "Persian", "ur": "Urdu", "id": "Indonesian",
                  "ja": "Japanese", "ko": "Korean", "vi": "Vietnamese", "th": "Thai", "nl": "Dutch", "el": "Greek", "ro": "Romanian",
                  "uk": "Ukrainian", "hi": "Hindi", "ms": "Malay", "am": "Amharic", "sw": "Swahili"}
