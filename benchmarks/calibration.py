"""Calibration of every verdict rule by simulation: rejection rate under nulls (type-I error) and under planted
effects (power), on the embedded human reference's own grids.

Grids: the main job's 48 questions x 24 countries (configs/eval/default.yaml; questions in their questionnaire battery
clusters) and the ethics55 set, 19 items x 55 countries (configs/eval/ethics55.yaml). Per simulation a model's
scores are drawn from the human means h (question mean mu_q; Western mean W_q), the rule is applied exactly as the
engine applies it (``eval/statistics``), and the rejection is counted.

Rules (alpha):
- ``paper_metric``: mean per-question r beats the joint country-permutation null (one-sided p < 5 %);
- ``section``: the same per WVS section (each of the 12 sections of the main job counts; rate over sections);
- ``western``: the fidelity-slope Western verdict is not ``no evidence`` (two-sided 95 % Welch CI excludes 0);
- ``compare``: compare's paired difference of the paper's metric for a fine-tune vs its base, two-sided 5 % against
  the fine-tuning ('change') null;
- ``compare_swap``: the same for any other pair (two models, two adapters of one base), against the 'swap' null
  (``eval.compare.paired_null`` picks the null);
- ``finetune``: the claim-5/6 rule (REAL - SHUFFLED, DPO - extra SFT): one-sided permutation p < 2.5 % in the
  claimed direction against the swap null (alpha = 2.5 %, band [1.25 %, 3.75 %]), with 1000 permutations as claims
  and compare draw them (``N_PERM_PAIRED``; at 199 the strict p < 2.5 % can reach only 4 / 200 = 2.0 %, below the
  rule's level 25 / 1001, and --perms does not apply). Under ``at_most_alpha`` a null for
  which the rule is conservative by design (a fine-tune that only adds a random shift LOWERS the metric in
  expectation, so it passes less often than alpha): only the upper end of the band applies.
- ``claim_paired``: claims 4/5/6 (larger - smaller, SFT - base, instruct - base, DPO - SFT/base): one-sided
  permutation p < 2.5 % against the 'change' null (alpha = 2.5 %, band [1.25 %, 3.75 %]); Holm across the claims only
  makes a claim's rule more conservative;
- ``claim_1``: claim 1's primary contrast, mean per-question fidelity slope of norms minus systems and progress of one
  model, studentized permutation p (the group label swapped across battery clusters, ``eval/statistics/group_contrast``)
  < 2.5 %, one-sided, under the claim's null (the same real signal on both groups: equal, weaker, per-country, with
  quirks, battery-clustered noise); models without knowledge are rows at most alpha (the premise fails);
- ``claim_3``: claim 3, the English-centric model has a Western gap (verdict ``western``) AND its fidelity-slope gap
  minus the multilingual model's is above 0 (Welch on per-country slope differences), one-sided 2.5 %;
- ``study``: the training study's verdict rule (``culturelens study``: arm - control, Student's pooled t over the
  arms' per-seed values, two-sided 5 %), with SHUFFLED vs a second SHUFFLED among its nulls: each arm x seed draws its
  own permutation as the study does (a derangement of the seen countries, ``synth.study_data.country_permutation``)
  (benchmarks/study_calibration.py).
Nulls and effects are named in the output with their parameters. The band for a two-sided / 5 % rule is
[2.5 %, 7.5 %]; tests/test_calibration.py reads the JSON and fails when a rule leaves its band.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/calibration.py [--sims 400] [--perms 199]
      (``--only study`` reruns the study's block alone and replaces it in the JSON; ``--table`` prints docs' table)
Writes benchmarks/results/calibration.json (simulation: wall time does not depend on load beyond speed).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from culturelens.core.batteries import questionnaire_clusters
from culturelens.core.config import load_config
from culturelens.core.inputs import resolve_inputs
from culturelens.eval.config import EvalConfig
from culturelens.eval.statistics import bootstrap as bs
from culturelens.eval.statistics import engine
from culturelens.eval.statistics.western_slope import western_slope
from culturelens.experiments.claims.context import N_PERM_PAIRED

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "calibration.json"


def load_grid(config: str) -> dict:
    """The human means of a config's questions x countries, battery clusters, sections, Western flags."""
    cfg = load_config(EvalConfig, ROOT / config, [])
    inputs = resolve_inputs(cfg)
    df = inputs.reference.df
    qids = list(inputs.qids)
    countries = sorted(df["country"].unique())
    human = df.pivot_table(index="qid", columns="country", values="mean").reindex(index=qids, columns=countries).to_numpy(float)
    meta = {c.alpha3: c for c in inputs.countries}
    cl = {q: i for i, members in enumerate(questionnaire_clusters(inputs.bank, qids)) for q in members}
    return {"config": config, "qids": qids, "countries": countries, "human": human, "groups": cfg.groups,
            "clusters": np.array([cl[q] for q in qids]), "sections": [inputs.bank.get(q).category for q in qids],
            "western": np.array([bool(meta[c].western) for c in countries])}


class Sim:
    """Seeded draws of models on one grid."""

    def __init__(self, grid: dict, seed: int):
        self.g = grid
        self.h = grid["human"]
        self.valid = np.isfinite(self.h)
        self.mu = np.nanmean(self.h, axis=1, keepdims=True)
        self.rng = bs.rng(seed)

    def noise(self, sd: float) -> np.ndarray:
        return self.rng.normal(0.0, sd, self.h.shape)

    def quirk(self, sd: float) -> np.ndarray:
        return self.rng.normal(0.0, sd, (1, self.h.shape[1]))

    def shuffled_human(self) -> np.ndarray:
        idx = bs.induced(self.rng.permutation(self.h.shape[1])[None, :], self.valid)[0]
        return np.take_along_axis(self.h, idx, axis=-1)

    def mask(self, m: np.ndarray) -> np.ndarray:
        return np.where(self.valid, m, np.nan)

    # models
    def no_knowledge(self):
        return self.mask(self.mu + self.noise(0.1))

    def country_quirk(self):
        return self.mask(self.mu + self.quirk(0.15) + self.noise(0.05))

    def shuffled_link(self):
        return self.mask(self.shuffled_human() + self.noise(0.1))

    def signal(self, lam: float):
        return self.mask(self.mu + lam * (self.h - self.mu) + self.noise(0.1))

    def human_noise(self, sd: float):
        return self.mask(self.h + self.noise(sd))

    def west_pull(self, f: float, sd: float = 0.1):
        m = self.h + self.noise(sd)
        w = np.nanmean(self.h[:, self.g["western"]], axis=1, keepdims=True)
        m[:, ~self.g["western"]] = (1 - f) * m[:, ~self.g["western"]] + f * w
        return self.mask(m)


# B a fine-tune of A (the setting of compare's 'change' null and of claims 4/5/6): nulls and planted effects
FINE_TUNE_PAIRS = {
    "null:B = A + a country-consistent shift N(0, 0.1) per country": lambda s, a: (a, s.mask(a + s.quirk(0.1))),
    "null:B = A + iid N(0, 0.1)": lambda s, a: (a, s.mask(a + s.noise(0.1))),
    "null:B = A + per-question shift N(0, 0.1) + per-country shift N(0, 0.1)": lambda s, a: (
        a, s.mask(a + s.rng.normal(0, 0.1, (a.shape[0], 1)) + s.quirk(0.1))),
    "effect:B = A + 0.1 (h - mu)": lambda s, a: (a, s.mask(a + 0.1 * (s.h - s.mu))),
    "effect:B = A + 0.2 (h - mu)": lambda s, a: (a, s.mask(a + 0.2 * (s.h - s.mu))),
}


def draws_for(sim: Sim, n_perm: int) -> engine.Draws:
    perm = bs.induced(np.stack([sim.rng.permutation(sim.h.shape[1]) for _ in range(n_perm)]), sim.valid)
    one = np.ones((1, sim.h.shape[0])), np.ones((1, sim.h.shape[1]))
    return engine.Draws(perm, *one, swap=sim.rng.random((n_perm, sim.h.shape[1])) < 0.5)


def paper_rule(sim: Sim, model: np.ndarray, n_perm: int) -> tuple[bool, list[bool]]:
    """(overall rejects, per-section rejects) at one-sided 5 %."""
    d = draws_for(sim, n_perm)
    data = engine.GridData(sim.g["qids"], sim.g["countries"], model, sim.h, sim.g["clusters"])
    r_model = engine.question_r(model, sim.h)
    r_null = engine.question_r(data.permuted(d.perm), sim.h)  # (P, Q)
    sections = np.array(sim.g["sections"], dtype=object)
    out = []
    for rows in [np.ones(len(sections), bool)] + [sections == s for s in dict.fromkeys(sim.g["sections"])]:
        value = np.nanmean(r_model[rows])
        null = np.nanmean(r_null[:, rows], axis=1)
        out.append(bool(bs.permutation_p(value, null) < 0.05))
    return out[0], out[1:]


def western_rule(sim: Sim, model: np.ndarray) -> bool:
    return western_slope(model, sim.h, sim.g["western"]).verdict in ("western", "non-western")


def paired_rule(sim: Sim, a: np.ndarray, b: np.ndarray, n_perm: int, alternative: str, alpha: float, null: str) -> bool:
    d = draws_for(sim, n_perm)
    t = engine.paired_difference(a, b, sim.h, d, alternative=alternative, alpha=alpha, null=null)
    return t.p_perm is not None and t.p_perm < alpha


def claim1_rule(sim: Sim, model: np.ndarray, n_perm: int, seed: int) -> bool:
    """Claim 1's primary contrast as ``paper_claims.claim_norms`` applies it (``norms_contrast``), for one model."""
    from culturelens.experiments.claims.paper_claims import norms_contrast

    group = np.array([sim.g["groups"].get(c) for c in sim.g["sections"]], dtype=object)
    res = norms_contrast(model[None], sim.h, sim.g["clusters"], group == "norms", (group == "systems") | (group == "progress"),
                         0.025, n_perm, seed)
    return res["p"] is not None and res["p"] < 0.025


def claim1_cases(sim_grid: dict) -> dict:
    """Claim 1's nulls (norms and systems judged equally well: the same signal on both groups), the nulls without
    knowledge (the rule's premise fails: kept as rows at most alpha) and planted effects."""
    group = np.array([sim_grid["groups"].get(c) for c in sim_grid["sections"]], dtype=object)
    norms = (group == "norms")[:, None]
    labels, idx = np.unique(sim_grid["clusters"], return_inverse=True)

    def lam(s, a, b, extra=0.0):
        return s.mask(s.mu + np.where(norms, a, b) * (s.h - s.mu) + extra + s.noise(0.1))

    return {
        "null:equal signal 0.3 (mu + 0.3 (h - mu) + iid N(0, 0.1) on every question)": lambda s: s.signal(0.3),
        "null:equal signal 0.15": lambda s: s.signal(0.15),
        "null:equal signal 0.3 + per-country quirk N(0, 0.1)": lambda s: s.mask(s.signal(0.3) + s.quirk(0.1)),
        "null:equal signal, per country 0.3 + N(0, 0.15) (the same on both groups)": lambda s: s.mask(
            s.mu + (0.3 + s.rng.normal(0, 0.15, (1, s.h.shape[1]))) * (s.h - s.mu) + s.noise(0.1)),
        "null:equal signal 0.3, noise clustered in batteries (N(0, 0.07) per battery x country + iid N(0, 0.07))": lambda s: s.mask(
            s.mu + 0.3 * (s.h - s.mu) + s.rng.normal(0, 0.07, (labels.size, s.h.shape[1]))[np.ravel(idx)] + s.noise(0.07)),
        "null:equal signal 0.3 + per-country quirk N(0, 0.15) (a quirk larger than the signal)": lambda s: s.mask(
            s.signal(0.3) + s.quirk(0.15)),
        "at_most_alpha:no_knowledge (question mean + iid N(0, 0.1); premise fails: no signal to compare)": lambda s: s.no_knowledge(),
        "at_most_alpha:country_quirk (question mean + per-country N(0, 0.15) + iid N(0, 0.05); no knowledge)": lambda s: s.country_quirk(),
        "at_most_alpha:shuffled_link (human answers, countries jointly shuffled, + iid N(0, 0.1); no knowledge)": lambda s: (
            s.shuffled_link()),
        "effect:signal 0.4 on norms, 0.2 on systems and progress": lambda s: lam(s, 0.4, 0.2),
        "effect:signal 0.3 on norms, 0.2 on systems and progress": lambda s: lam(s, 0.3, 0.2),
    }


def claim3_rule(sim: Sim, a: np.ndarray, b: np.ndarray) -> bool:
    """Claim 3 as ``paper_claims._corpus_pair`` applies it: a premise (A's verdict 'western') and the one-sided test."""
    from culturelens.eval.statistics.western_slope import side_slopes
    from culturelens.experiments.claims.bias import BiasGap, gap_reduction
    from culturelens.experiments.claims.results import one_sided

    west, cs = sim.g["western"], sim.g["countries"]
    gaps = [BiasGap(western_slope(m, sim.h, west).model_dump(), {}, cs, side_slopes(m, sim.h, west), west, None) for m in (a, b)]
    if gaps[0].verdict != "western":
        return False
    d = gap_reduction(gaps[0], gaps[1], {})
    p = one_sided(d.get("p"), d.get("diff"))
    return p is not None and p < 0.025


CLAIMS_RULES = ("claim_paired", "claim_1", "claim_3", "compare_swap")
OWN_PERMS = ("claim_1", "finetune")  # rules simulated with the claims' own permutation count (N_PERM_PAIRED), not --perms


def claims_blocks(n_sims: int, n_perm: int, seed: int = 0, only: str | None = None) -> dict:
    """The claims' rules not covered by the blocks above (claims 1, 3 and the 'change' null of claims 4/5/6)."""
    main, ethics = load_grid("configs/eval/default.yaml"), load_grid("configs/eval/ethics55.yaml")
    res: dict = {}
    wanted = CLAIMS_RULES if only is None else (only,)
    paired = res["claim_paired"] = {"alpha": 0.025, "band": [0.0125, 0.0375], "sided": "one", "nulls": {}, "effects": {},
                                    "what": "claims 4/5/6: metric(B) - metric(A), one-sided permutation p < 2.5 % against the "
                                            "'change' null: " + engine.NULLS["change"]}
    simulate(paired, FINE_TUNE_PAIRS if "claim_paired" in wanted else {}, main, seed + 20_000, n_sims,
             lambda s, i, make: paired_rule(s, *make(s, s.signal(0.3)), n_perm, "greater", 0.025, "change"))

    c1 = res["claim_1"] = {"alpha": 0.025, "band": [0.0125, 0.0375], "sided": "one", "nulls": {}, "effects": {}, "at_most_alpha": {},
                           "what": "claim 1: mean per-question fidelity slope of norms minus systems and progress, studentized "
                                   "permutation p (group label swapped across battery clusters) < 2.5 %, one-sided; the claim's null: "
                                   "the same signal on both groups"}
    simulate(c1, claim1_cases(main) if "claim_1" in wanted else {}, main, seed + 30_000, n_sims,
             lambda s, i, make: claim1_rule(s, make(s), N_PERM_PAIRED, seed + i))

    c3 = res["claim_3"] = {"alpha": 0.025, "band": [0.0125, 0.0375], "sided": "one", "nulls": {}, "effects": {},
                           "what": "claim 3: premise (A 'western') and gap(A) - gap(B) above 0, one-sided Welch 2.5 %, ethics55"}
    cases = {"null:A and B both west_pull f=0.4 (equal gaps)": lambda s: (s.west_pull(0.4), s.west_pull(0.4)),
             "null:A west_pull f=0.4, B the same pull + a per-country shift N(0, 0.15)": lambda s: (
                 s.west_pull(0.4), s.mask(s.west_pull(0.4) + s.quirk(0.15))),
             "null:A and B both west_pull f=0.2 (equal, smaller gaps; independent noise)": lambda s: (
                 s.west_pull(0.2), s.west_pull(0.2)),
             "null:A and B both west_pull f=0.4, each + its own per-country shift N(0, 0.1)": lambda s: (
                 s.mask(s.west_pull(0.4) + s.quirk(0.1)), s.mask(s.west_pull(0.4) + s.quirk(0.1))),
             "at_most_alpha:A and B both human_noise sd=0.1 (no gap: the premise rarely holds)": lambda s: (
                 s.human_noise(0.1), s.human_noise(0.1)),
             "effect:A west_pull f=0.4, B west_pull f=0.2": lambda s: (s.west_pull(0.4), s.west_pull(0.2)),
             "effect:A west_pull f=0.4, B human_noise sd=0.1": lambda s: (s.west_pull(0.4), s.human_noise(0.1))}
    simulate(c3, cases if "claim_3" in wanted else {}, ethics, seed + 40_000, n_sims, lambda s, i, make: claim3_rule(s, *make(s)))

    cs = res["compare_swap"] = {"alpha": 0.05, "band": [0.025, 0.075], "nulls": {}, "effects": {},
                                "what": "compare for a pair that is not a fine-tune of the baseline's own model (two models, two "
                                        "adapters of one base): metric(B) - metric(A), two-sided 5 % against the 'swap' null: "
                                        + engine.NULLS["swap"]}
    cases = {"null:two human_noise sd=0.3 draws (two independent runs of equal quality)": lambda s: (
                 s.human_noise(0.3), s.human_noise(0.3)),
             "null:two signal 0.3 models, each with its own per-country shift N(0, 0.1)": lambda s: (
                 s.mask(s.signal(0.3) + s.quirk(0.1)), s.mask(s.signal(0.3) + s.quirk(0.1))),
             "null:two no_knowledge models": lambda s: (s.no_knowledge(), s.no_knowledge()),
             "effect:signal 0.3 vs signal 0.4": lambda s: (s.signal(0.3), s.signal(0.4)),
             "effect:signal 0.3 vs signal 0.5": lambda s: (s.signal(0.3), s.signal(0.5))}
    simulate(cs, cases if "compare_swap" in wanted else {}, main, seed + 50_000, n_sims,
             lambda s, i, make: paired_rule(s, *make(s), n_perm, "two-sided", 0.05, "swap"))
    return {k: v for k, v in res.items() if k in wanted}


def finetune_block(n_sims: int, seed: int = 0, grid: dict | None = None) -> dict:
    """Claims 5/6 for two arms of one base (REAL - SHUFFLED, DPO - extra SFT): metric(B) - metric(A), one-sided
    permutation p < 2.5 % against the 'swap' null, with the claims' own number of permutations (``N_PERM_PAIRED``):
    the rule's level is 25 / 1001 there, while 199 permutations would simulate a rule of level 4 / 200."""
    main = grid or load_grid("configs/eval/default.yaml")
    block = {"alpha": 0.025, "band": [0.0125, 0.0375], "sided": "one", "nulls": {}, "effects": {}, "at_most_alpha": {},
             "what": "claims 5/6: REAL - SHUFFLED (or DPO - extra SFT) on the paper's metric, one-sided permutation p < 2.5 % "
                     f"({N_PERM_PAIRED} permutations, as the claims draw them) in the claimed direction, against the 'swap' null: "
                     + engine.NULLS["swap"]}

    def tuned(s, a, gamma, link):
        target = s.h if link == "real" else s.shuffled_human()
        return s.mask(a + gamma * (target - s.mu) + s.noise(0.05))

    cases = {
        "null:SHUFFLED vs a second SHUFFLED (another permutation), gamma=0.2": lambda s, a: (
            tuned(s, a, 0.2, "shuffled"), tuned(s, a, 0.2, "shuffled")),
        "null:two seeds of one arm (iid N(0, 0.05) changes)": lambda s, a: (s.mask(a + s.noise(0.05)), s.mask(a + s.noise(0.05))),
        "null:two arms that only add a random country-consistent shift N(0, 0.1) each": lambda s, a: (
            s.mask(a + s.quirk(0.1)), s.mask(a + s.quirk(0.1))),
        "at_most_alpha:a fine-tune that only adds a random country-consistent shift N(0, 0.1) vs its base": lambda s, a: (
            a, s.mask(a + s.quirk(0.1))),
        "effect:REAL vs SHUFFLED, gamma=0.1": lambda s, a: (tuned(s, a, 0.1, "shuffled"), tuned(s, a, 0.1, "real")),
        "effect:REAL vs SHUFFLED, gamma=0.2": lambda s, a: (tuned(s, a, 0.2, "shuffled"), tuned(s, a, 0.2, "real")),
    }
    simulate(block, cases, main, seed + 10_000, n_sims,
             lambda s, i, make: paired_rule(s, *make(s, s.signal(0.3)), N_PERM_PAIRED, "greater", 0.025, "swap"))
    return block


def rate(hits: list) -> dict:
    x = np.asarray(hits, dtype=float)
    return {"rate": float(x.mean()), "n": int(x.size), "se": float(np.sqrt(x.mean() * (1 - x.mean()) / x.size))}


SLOT = {"null": "nulls", "effect": "effects", "at_most_alpha": "at_most_alpha"}


def simulate(block: dict, cases: dict, grid: dict, first_seed: int, n_sims: int, rule) -> None:
    """Each case ``kind:label`` (kind null, effect or at_most_alpha): ``rule(sim, i, make)`` -> rejected or not over
    ``n_sims`` simulations ``Sim(grid, first_seed + i)``; the rate filed under ``block[nulls|effects|at_most_alpha]``."""
    for name, make in cases.items():
        kind, label = name.split(":", 1)
        hits = [rule(Sim(grid, first_seed + i), i, make) for i in range(n_sims)]
        block.setdefault(SLOT[kind], {})[label] = rate(hits)


def rule_in_band(rule: dict) -> bool:
    """Every rule's rates under its nulls lie inside its band, one-sided rules included (a one-sided rule states its
    alpha and holds it: a rate of 0 is a rule that cannot reject, not a calibrated one); rows ``at_most_alpha`` (nulls
    under which the rule is conservative by design, named as such) are held to the upper end only."""
    lo, hi = rule["band"]
    return (all(lo <= v["rate"] <= hi for v in rule["nulls"].values())
            and all(v["rate"] <= hi for v in rule.get("at_most_alpha", {}).values()))


def run(n_sims: int, n_perm: int, seed: int = 0) -> dict:
    main, ethics = load_grid("configs/eval/default.yaml"), load_grid("configs/eval/ethics55.yaml")
    res: dict = {}

    def block(rule: str, alpha: float, band: list[float], what: str, sided: str = "two") -> dict:
        res[rule] = {"alpha": alpha, "band": band, "sided": sided, "what": what, "nulls": {}, "effects": {}}
        return res[rule]

    paper = block("paper_metric", 0.05, [0.025, 0.075], "mean per-question r vs the joint country-permutation null, one-sided p < 5 %",
                  "one")
    section = block("section", 0.05, [0.025, 0.075], "the paper's metric per WVS section vs the null (rate over the 12 sections)")
    cases = {"null:no_knowledge (question mean + iid N(0, 0.1))": lambda s: s.no_knowledge(),
             "null:country_quirk (question mean + per-country N(0, 0.15) + iid N(0, 0.05))": lambda s: s.country_quirk(),
             "null:shuffled_link (human answers, countries jointly shuffled, + iid N(0, 0.1))": lambda s: s.shuffled_link(),
             "effect:signal 0.1 (mu + 0.1 (h - mu) + iid N(0, 0.1))": lambda s: s.signal(0.1),
             "effect:signal 0.2 (mu + 0.2 (h - mu) + iid N(0, 0.1))": lambda s: s.signal(0.2)}
    for name, make in cases.items():
        hits, sec = [], []
        for i in range(n_sims):
            sim = Sim(main, seed + i)
            overall, per_section = paper_rule(sim, make(sim), n_perm)
            hits.append(overall)
            sec += per_section
        kind, label = name.split(":", 1)
        paper["nulls" if kind == "null" else "effects"][label] = rate(hits)
        section["nulls" if kind == "null" else "effects"][label] = rate(sec)

    west = block("western", 0.05, [0.025, 0.075], "fidelity-slope Western verdict not 'no evidence' (Welch 95 % CI excludes 0), ethics55")
    cases = {"null:human_noise sd=0.3": lambda s: s.human_noise(0.3), "null:human_noise sd=0.1": lambda s: s.human_noise(0.1),
             "null:country_quirk sd=0.15 (+ iid 0.05)": lambda s: s.country_quirk(),
             "null:no_knowledge (question mean + iid 0.1)": lambda s: s.no_knowledge(),
             "effect:west_pull f=0.1": lambda s: s.west_pull(0.1), "effect:west_pull f=0.2": lambda s: s.west_pull(0.2),
             "effect:west_pull f=0.4": lambda s: s.west_pull(0.4)}
    simulate(west, cases, ethics, seed, n_sims, lambda s, i, make: western_rule(s, make(s)))

    compare = block("compare", 0.05, [0.025, 0.075], "compare: paired difference of the paper's metric (run B - run A), two-sided 5 % "
                    "against the 'change' null: " + engine.NULLS["change"])
    simulate(compare, FINE_TUNE_PAIRS, main, seed, n_sims,
             lambda s, i, make: paired_rule(s, *make(s, s.signal(0.3)), n_perm, "two-sided", 0.05, "change"))
    res["finetune"] = finetune_block(n_sims, seed, main)
    from study_calibration import study_block  # the training study's rule (benchmarks/study_calibration.py)

    res["study"] = study_block(n_sims, seed)
    res.update(claims_blocks(n_sims, n_perm, seed))
    return res


def markdown_table(out: dict) -> str:
    """The calibration table of docs/statistics.md from calibration.json."""
    lines = ["| rule | α (band) | case | kind | rejection rate |", "|---|---|---|---|---:|"]
    for name, rule in out["rules"].items():
        band = f"{rule['alpha']:.3g} ([{rule['band'][0]:.4g}, {rule['band'][1]:.4g}])"
        for kind, label in (("nulls", "null"), ("at_most_alpha", "null (≤ α by design)"), ("effects", "effect (power)")):
            for case, v in rule.get(kind, {}).items():
                lines.append(f"| `{name}` | {band} | {case} | {label} | {v['rate']:.3f} |")
    return "\n".join(lines)


def rerun_one(args) -> None:
    """Replace one rule's block of an existing calibration.json (its own sims count, CPU and wall seconds beside it)."""
    from study_calibration import study_block

    out = json.loads(Path(args.out).read_text())
    t0, cpu0 = time.time(), time.process_time()
    if args.only == "study":
        block = study_block(args.sims, args.seed)
    elif args.only == "finetune":
        block = finetune_block(args.sims, args.seed)
    else:
        block = claims_blocks(args.sims, args.perms, args.seed, args.only)[args.only]
    block["run"] = {"n_sims": args.sims, "seed": args.seed, "wall_seconds": round(time.time() - t0, 1),
                    "cpu_seconds": round(time.process_time() - cpu0, 1), "load_average": os.getloadavg(),
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                    "n_perm": N_PERM_PAIRED if args.only in OWN_PERMS else args.perms,
                    "command": f"OMP_NUM_THREADS=1 benchmarks/calibration.py --only {args.only} --sims {args.sims}"
                               + ("" if args.only in OWN_PERMS else f" --perms {args.perms}")}
    out["rules"][args.only] = block
    out["all_nulls_in_band"][args.only] = rule_in_band(block)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    for kind in ("nulls", "at_most_alpha", "effects"):
        for name, v in block.get(kind, {}).items():
            print(f"  {kind[:-1]:6s} {v['rate']:.3f}  {name}")
    print("in band:", out["all_nulls_in_band"][args.only], block["run"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=400)
    ap.add_argument("--perms", type=int, default=199)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--table", action="store_true", help="print the markdown table of an existing --out and exit")
    ap.add_argument("--only", choices=["study", "finetune", *CLAIMS_RULES],
                    help="rerun this rule's block alone and replace it in the existing --out")
    args = ap.parse_args()
    if args.table:
        print(markdown_table(json.loads(Path(args.out).read_text())))
        return
    if args.only:
        rerun_one(args)
        return
    t0, cpu0 = time.time(), time.process_time()
    rules = run(args.sims, args.perms, args.seed)
    in_band = {r: rule_in_band(b) for r, b in rules.items()}
    out = {"rules": rules, "all_nulls_in_band": in_band, "n_sims": args.sims, "n_perm": args.perms, "seed": args.seed,
           "wall_seconds": round(time.time() - t0, 1), "cpu_seconds": round(time.process_time() - cpu0, 1),
           "load_average": os.getloadavg(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    for r, b in rules.items():
        print(f"{r} (alpha {b['alpha']}, band {b['band']}):")
        for kind in ("nulls", "at_most_alpha", "effects"):
            for name, v in b.get(kind, {}).items():
                print(f"  {kind[:-1]:6s} {v['rate']:.3f}  {name}")
    print("in band:", in_band, f"({out['wall_seconds']} s wall, {out['cpu_seconds']} s CPU, load {out['load_average'][0]:.1f})")


if __name__ == "__main__":
    main()
