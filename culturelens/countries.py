"""Country metadata: ISO codes, English name, main languages, Inglehart-Welzel cultural zone, Western flag."""
from __future__ import annotations

from dataclasses import dataclass

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
