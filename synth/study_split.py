"""The training study's split: questions by whole battery cluster (train / held-out) x countries (seen / unseen).

Clusters are built on the FULL human reference, never on the study's countries only (over a handful of countries no
correlation link can form and battery mates land on both sides):
- a **battery link** joins every member of a questionnaire battery to every other: questionnaire neighbours sharing
  a stem (``batteries.stem_links``) and the WVS-7 batteries listed by hand (``batteries.WVS7_BATTERIES``);
- a **correlation link** joins two questions whose human mean scores correlate with |r| >= ``correlation_threshold``
  across >= ``min_countries`` countries of the full reference.
Clusters are the connected components, so no held-out question shares a battery with, or is correlation-linked to, a
train question. On the embedded reference the correlation links (one dominant cultural dimension) and the batteries
join 219 of the 242 eligible questions into one cluster. A cluster larger than half the eligible questions always
trains; the held-out side takes a ``heldout_fraction`` share of the questions in the OTHER clusters (whole clusters,
stratified by category). So held-out batteries are those whose country pattern is not close to any train question's:
the study measures transfer to questions that a country's position on the train questions does not already give
away (the ridge reference predictor says how much it gives away anyway).

Only questions with answer distributions in >= ``min_questions_countries`` of the countries that have distributions
take part (r across 3-4 countries is noise). Countries: those with distributions, split seen / unseen in training,
stratified Western / non-Western, so every cell of the 2 x 2 (questions x countries) has both kinds.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from pydantic import Field

from culturelens.core.batteries import clusters_from_links, correlation_links, id_key, questionnaire_links, stem_links
from culturelens.core.config import StrictModel
from culturelens.core.errors import DataError
from culturelens.synth.split import split_clusters


class StudySplitSettings(StrictModel):
    seed: int = 0  # seed of the question and country split
    heldout_fraction: float = Field(0.6, gt=0, lt=1)  # of the questions outside a cluster too big to hold out
    unseen_fraction: float = Field(0.33, gt=0, lt=1)  # of the Western and of the non-Western countries
    correlation_threshold: float = Field(0.8, gt=0, le=1)  # |r| of two questions' human means that links them
    min_countries: int = Field(15, ge=3)  # a correlation link needs this many countries of the full reference
    min_stem_words: int = Field(5, ge=1)  # questionnaire neighbours with the same options and this many leading words in common
    min_questions_countries: int = Field(18, ge=2)  # a question needs distributions in this many countries
    max_train_questions: int | None = Field(None, ge=1)  # CPU scale: a seeded subset of each side
    max_heldout_questions: int | None = Field(None, ge=1)  # CPU scale: a seeded subset of the held-out side
    western: str = "rich_west"  # Western flag of the country strata (the country table's default)


def eligible_questions(bank, reference, min_countries: int) -> tuple[list[str], list[str]]:
    """(questions with distributions in >= min_countries of the distribution countries, those countries)."""
    countries = reference.distribution_countries()
    have = reference.df[reference.df["dist"].notna() & reference.df["country"].isin(countries)]
    counts = have.groupby("qid")["country"].nunique()
    qids = sorted((q for q, n in counts.items() if n >= min_countries and q in bank), key=id_key)
    return qids, countries


def study_clusters(bank, reference, qids: list[str], s: StudySplitSettings) -> tuple[list[list[str]], list[dict]]:
    """Battery clusters of ``qids`` from the full reference (module docstring) and the links that made them."""
    links = stem_links(bank, s.min_stem_words) + questionnaire_links(bank)
    links += correlation_links(reference.means(), qids, s.correlation_threshold, s.min_countries)
    nodes = sorted(set(qids) | {q.qid for q in bank}, key=id_key)
    clusters = clusters_from_links(qids, links, nodes)
    wanted = set(qids)
    return clusters, [link for link in links if link["a"] in wanted and link["b"] in wanted]


def split_countries(countries, unseen_fraction: float, seed: int, western: dict[str, bool]) -> tuple[list[str], list[str]]:
    """(seen, unseen): a seeded unseen share of the Western and of the non-Western countries, at least one of each."""
    rng = random.Random(seed)
    unseen: list[str] = []
    for flag in (True, False):
        side = sorted(c for c in countries if western[c] == flag)
        if len(side) < 2:
            raise DataError(f"the study needs at least two {'Western' if flag else 'non-Western'} countries with answer "
                            "distributions (one seen, one unseen): use a reference that has them")
        k = min(len(side) - 1, max(1, round(unseen_fraction * len(side))))
        unseen += rng.sample(side, k)
    return sorted(c for c in countries if c not in unseen), sorted(unseen)


def draw_study_split(bank, reference, table: dict, s: StudySplitSettings) -> dict:
    """The 2 x 2 split as a dict (also readable as an eval ``split.file``: it has ``train`` and ``heldout``)."""
    qids, countries = eligible_questions(bank, reference, s.min_questions_countries)
    if len(qids) < 2:
        raise DataError(f"only {len(qids)} question(s) have distributions in >= {s.min_questions_countries} countries: "
                        "lower split.min_questions_countries or use a reference with more countries")
    clusters, links = study_clusters(bank, reference, qids, s)
    if len(clusters) < 2:
        raise DataError(f"all {len(qids)} eligible questions form one battery cluster: nothing can be held out without a "
                        "mate in training; raise split.correlation_threshold")
    too_big = [c for c in clusters if len(c) > len(qids) / 2]  # trains whatever the fraction
    rest = [c for c in clusters if c not in too_big]
    held = split_clusters(rest, {q: bank.get(q).category for q in qids}, s.heldout_fraction, s.seed)
    train = [q for q in qids if q not in held]
    heldout = [q for q in qids if q in held]
    rng = random.Random(s.seed)
    if s.max_train_questions and len(train) > s.max_train_questions:
        train = sorted(rng.sample(train, s.max_train_questions), key=id_key)
    if s.max_heldout_questions and len(heldout) > s.max_heldout_questions:
        heldout = sorted(rng.sample(heldout, s.max_heldout_questions), key=id_key)
    seen, unseen = split_countries(countries, s.unseen_fraction, s.seed, {c: table[c].western for c in countries})
    sizes = sorted((len(c) for c in clusters), reverse=True)
    return {
        "train": train, "heldout": heldout, "seen": seen, "unseen": unseen,
        "western": sorted(c for c in countries if table[c].western),
        "eligible": qids, "seed": s.seed, "settings": s.model_dump(mode="json"),
        "clusters": [{"questions": m, "side": "heldout" if m[0] in held else "train"} for m in clusters],
        "largest_clusters": sizes[:5], "largest_cluster": linked_share(max(clusters, key=len), links),
        "links": {"battery": sum(1 for x in links if x["kind"] in ("stem", "battery")),
                  "correlation": sum(1 for x in links if x["kind"] == "correlation")},
    }


def linked_share(members: list[str], links: list[dict]) -> dict:
    """How many of a cluster's question pairs are linked themselves (the rest are joined through chains of links)."""
    inside = set(members)
    linked = {frozenset((x["a"], x["b"])) for x in links if x["a"] in inside and x["b"] in inside and x["a"] != x["b"]}
    pairs = len(members) * (len(members) - 1) // 2
    return {"questions": len(members), "pairs": pairs, "linked_pairs": len(linked),
            "linked_share": round(len(linked) / pairs, 4) if pairs else None}


def cluster_of(split: dict) -> dict[str, int]:
    """qid -> index of its battery cluster in ``split['clusters']`` (the resampling unit of the study's effects)."""
    return {q: i for i, c in enumerate(split["clusters"]) for q in c["questions"]}


def save_study_split(split: dict, path: Path) -> None:
    path.write_text(json.dumps(split, indent=1))


def load_study_split(path: Path) -> dict:
    split = json.loads(Path(path).read_text())
    if not {"train", "heldout", "seen", "unseen", "clusters"} <= set(split):
        raise DataError(f"'{path}' is not a study split (train, heldout, seen, unseen, clusters): delete it to draw a new one")
    return split
