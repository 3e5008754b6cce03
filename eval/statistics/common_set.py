"""One data source and one country set for comparisons across question groups.

Comparing the paper's metric between question groups (norms vs systems vs progress) is only fair
when every group is measured over the same countries from the same kind of data: per-question r
over 55 countries of published country means is not comparable with r over 9 countries of
respondent data. ``source_kind`` names the kind of a reference row (the part of ``source`` before
':', e.g. ``wvs7`` respondent files vs ``means`` country-mean tables); ``common_block`` picks, within
one kind, the countries and questions where every (country, question) pair exists.

Algorithm of ``common_block``: order the countries by how many of the questions they answer (most
first, ties by code); for k = n .. min_countries take the first k countries and the questions all
of them answer; keep the k with the most (country, question) cells (ties: more countries).
Dropping a country that was not asked a block of questions (e.g. China on 18 systems items) then
beats dropping those questions for everyone.
"""
from __future__ import annotations

import pandas as pd


def source_kind(source: str) -> str:
    """'wvs7:Germany.csv' -> 'wvs7'; 'means:country_question_means.csv' -> 'means'."""
    return str(source).split(":", 1)[0]


def kinds(human_df: pd.DataFrame) -> dict[str, int]:
    """Data kinds in a reference with their number of rows, most rows first."""
    counts = human_df["source"].map(source_kind).value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def common_block(human_df: pd.DataFrame, qids: list[str], kind: str, min_countries: int = 3) -> tuple[list[str], list[str]]:
    """(countries, questions) of ``kind`` where every pair has a human row (see the module docstring)."""
    rows = human_df[human_df["qid"].isin(qids) & (human_df["source"].map(source_kind) == kind)]
    have = rows.groupby("country")["qid"].apply(set)
    if have.empty:
        return [], []
    order = sorted(have.index, key=lambda c: (-len(have[c]), c))
    best: tuple[int, int, list[str], list[str]] = (0, 0, [], [])
    for k in range(len(order), min_countries - 1, -1):
        chosen = order[:k]
        common = set.intersection(*(have[c] for c in chosen))
        qs = [q for q in qids if q in common]
        if (k * len(qs), k) > best[:2]:
            best = (k * len(qs), k, sorted(chosen), qs)
    return best[2], best[3]
