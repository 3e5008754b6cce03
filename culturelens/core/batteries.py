"""Battery clusters of the seed questions: the units the held-out split keeps whole.

Two questions are *battery mates* when either link holds:
- **stem link**: neighbours in questionnaire order (natural id order over the whole bank: Q182 then Q183)
  with the same answer options and the same stem, i.e. a common leading text of at least
  ``min_stem_words`` words ("On a scale from 1 (never justifiable) to 10 (always justifiable), how
  justifiable is" + the item). Linking neighbours only keeps two batteries apart that merely share a
  generic lead-in (Q27-Q32 and Q169-Q170 both start "How much do you agree or disagree ...");
- **correlation link**: the human mean scores of the two questions correlate across countries with
  |Pearson r| >= ``correlation_threshold``, over the countries of the reference that have both, and only when at
  least ``min_countries`` countries do. Over few countries the rule links unrelated items through the
  one dominant cultural dimension: on the default reference (9 respondent countries for 50 questions,
  55 for the 19 "justifiable" items), counting every pair with >= 3 countries, |r| >= 0.9 holds for
  115 pairs (neighbourhood robberies ~ TV news favouring the government, over 6 countries) and joins
  all 69 questions into one cluster; with >= 9 countries 61 links still join 44. With the default
  20 countries the links are the 16 among the justifiable items, which their stem already joins.

Clusters are the connected components of both link kinds (union-find, scipy's
``connected_components``), restricted to the questions in use; links through bank questions that are
not in use still join (Q27 and Q32 share a battery even if Q28-Q31 are not selected).
"""
from __future__ import annotations

import itertools
import re

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def id_key(qid: str) -> tuple:
    """Natural order of question ids: Q2 < Q27 < Q122 < Q122A."""
    m = re.match(r"^([A-Za-z_]*)(\d+)(.*)$", str(qid))
    return (m.group(1).upper(), int(m.group(2)), m.group(3)) if m else (str(qid), -1, "")


def common_stem(a: str, b: str) -> str:
    """The longest common leading run of whole words of two texts."""
    shared = []
    for wa, wb in zip(a.split(), b.split()):
        if wa != wb:
            break
        shared.append(wa)
    return " ".join(shared)


def stem_links(bank, min_stem_words: int) -> list[dict]:
    """Links between questionnaire neighbours with the same options and a shared stem."""
    ordered = sorted(bank, key=lambda q: id_key(q.qid))
    links = []
    for a, b in zip(ordered, ordered[1:]):
        stem = common_stem(a.text, b.text)
        same_options = [o.label for o in a.options] == [o.label for o in b.options]
        if same_options and len(stem.split()) >= min_stem_words:
            links.append({"a": a.qid, "b": b.qid, "kind": "stem", "stem": stem})
    return links


def correlation_links(means, qids: list[str], threshold: float, min_countries: int) -> list[dict]:
    """Pairs whose human means (a qid x country table) correlate with |r| >= threshold over >= min_countries countries."""
    have = [q for q in qids if q in means.index]
    values = means.reindex(index=have).to_numpy(dtype=float)
    links = []
    for i, j in itertools.combinations(range(len(have)), 2):
        both = ~np.isnan(values[i]) & ~np.isnan(values[j])
        n = int(both.sum())
        if n < max(min_countries, 3):
            continue
        x, y = values[i, both], values[j, both]
        if x.std() == 0 or y.std() == 0:
            continue
        r = float(np.corrcoef(x, y)[0, 1])
        if abs(r) >= threshold:
            links.append({"a": have[i], "b": have[j], "kind": "correlation", "r": round(r, 4), "countries": n})
    return links


def clusters_from_links(qids: list[str], links: list[dict], nodes: list[str]) -> list[list[str]]:
    """Connected components over ``nodes`` (qids plus any bank questions links pass through), restricted to qids."""
    index = {q: i for i, q in enumerate(nodes)}
    rows = [index[link["a"]] for link in links]
    cols = [index[link["b"]] for link in links]
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(nodes), len(nodes)))
    _, label = connected_components(graph, directed=False)
    groups: dict[int, list[str]] = {}
    for q in sorted(qids, key=id_key):
        groups.setdefault(int(label[index[q]]), []).append(q)
    return sorted(groups.values(), key=lambda members: id_key(members[0]))


def battery_clusters(bank, qids: list[str], means, settings) -> tuple[list[list[str]], list[dict]]:
    """(clusters of qids, the links that made them). ``means``: the human reference's qid x country mean table;
    ``settings``: the synth config's ``SplitSettings`` (min_stem_words, correlation_threshold, min_countries)."""
    wanted = set(qids)
    links = stem_links(bank, settings.min_stem_words)
    links += correlation_links(means, sorted(wanted, key=id_key), settings.correlation_threshold, settings.min_countries)
    nodes = sorted(wanted | {q.qid for q in bank}, key=id_key)
    clusters = clusters_from_links(list(wanted), links, nodes)
    in_use = [link for link in links if link["a"] in wanted or link["b"] in wanted]
    return clusters, in_use


# The WVS-7 questionnaire's batteries (blocks of items asked under one stem or card), written out by hand from the
# master questionnaire: stem and correlation links miss a battery whose items start differently (Q142-Q143 and
# Q146-Q148 are one "how worried are you" card) or sit apart in the numbering.
WVS7_BATTERIES: tuple[tuple[str, ...], ...] = tuple(
    tuple(f"Q{i}" for i in range(a, b + 1)) + extra for a, b, extra in (
        (1, 6, ()), (7, 17, ()), (18, 26, ()), (27, 32, ()), (33, 41, ()), (43, 45, ()), (51, 55, ()),
        (58, 63, ()), (64, 89, ()), (94, 105, ()), (106, 110, ()), (113, 117, ()), (122, 129, ()),
        (132, 138, ()), (139, 141, ()), (142, 143, ("Q146", "Q147", "Q148")), (144, 145, ()), (149, 150, ()),
        (158, 162, ()), (165, 168, ()), (169, 170, ()), (171, 172, ()), (174, 175, ()), (177, 195, ()),
        (196, 198, ()), (201, 208, ()), (209, 220, ()), (221, 222, ()), (224, 233, ()), (235, 239, ()),
        (241, 249, ()), (250, 252, ()), (255, 259, ()),
    )
)


def questionnaire_links(bank, batteries=WVS7_BATTERIES) -> list[dict]:
    """Every pair of members of each hand-listed battery that the bank has (kind ``battery``)."""
    have = {q.qid for q in bank}
    links = []
    for number, members in enumerate(batteries):
        present = [q for q in members if q in have]
        links += [{"a": a, "b": b, "kind": "battery", "battery": number} for a, b in itertools.combinations(present, 2)]
    return links


def questionnaire_clusters(bank, qids: list[str], min_stem_words: int = 5) -> list[list[str]]:
    """Clusters of ``qids`` joined by questionnaire links only (shared stem, hand-listed WVS-7 batteries): the question
    units a bootstrap over questions resamples whole (eval/statistics). Correlation links are left out on purpose: on
    the embedded reference they join almost every question through the one dominant cultural dimension, and that
    shared country pattern is what resampling countries together with the questions covers."""
    links = stem_links(bank, min_stem_words) + questionnaire_links(bank)
    nodes = sorted(set(qids) | {q.qid for q in bank}, key=id_key)
    return clusters_from_links(list(qids), links, nodes)
