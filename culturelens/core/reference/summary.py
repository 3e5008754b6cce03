"""What a reference holds, as one dict: countries (with / without distributions), questions, sections and their
groups, rows per source, the consistency report and the citation. ``culturelens data summary`` prints it."""
from __future__ import annotations

from culturelens.core.questions import DEFAULT_GROUPS, WVS_SECTIONS
from culturelens.core.reference._common import default_bank, qid_key
from culturelens.core.reference.consistency import describe
from culturelens.core.reference.model import HumanReference

# the prefix of a row's ``source`` -> the kind of source it came from
SOURCE_KINDS = {"wvs7": "wvs7_respondents", "shares": "wvs7_shares", "means": "country_means"}


def _countries(ref: HumanReference) -> dict:
    with_dist = ref.distribution_countries()
    means_only = sorted(set(ref.countries) - set(with_dist))
    return {"total": len(ref.countries), "with_distributions": len(with_dist), "means_only": len(means_only),
            "with_distributions_list": with_dist, "means_only_list": means_only}


def _sections(ref: HumanReference, bank) -> dict:
    section_of = {q: (bank.get(q).category if q in bank else "(not in the question bank)") for q in ref.qids}
    rows = ref.df["qid"].map(section_of).value_counts().to_dict()
    out = {}
    order = {s: i for i, s in enumerate(WVS_SECTIONS)}
    for name in sorted(set(section_of.values()), key=lambda s: (order.get(s, len(order)), s)):
        qids = [q for q, s in section_of.items() if s == name]
        out[name] = {"group": DEFAULT_GROUPS.get(name), "questions": len(qids), "rows": int(rows.get(name, 0))}
    return out


def summarize(ref: HumanReference, bank=None) -> dict:
    bank = default_bank(bank)
    kinds = ref.df["source"].str.split(":", n=1).str[0].map(lambda p: SOURCE_KINDS.get(p, p or "(unnamed)"))
    with_dist = ref.df.loc[ref.df["dist"].notna(), "qid"].unique().tolist()
    comparisons = (ref.meta.get("consistency") or {}).get("comparisons", [])
    return {
        "countries": _countries(ref),
        "questions": {"total": len(ref.qids), "with_distributions": len(with_dist),
                      "list": ref.qids, "with_distributions_list": sorted(with_dist, key=qid_key)},
        "sections": _sections(ref, bank),
        "rows": len(ref.df),
        "rows_per_source": {k: int(v) for k, v in kinds.value_counts().sort_index().items()},
        "sources": ref.meta.get("sources", []),
        "precedence": ref.meta.get("precedence", []),
        "consistency": [describe(c) for c in comparisons],
        "citation": ref.meta.get("citation"),
    }
