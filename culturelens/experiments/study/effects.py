"""The study's effects: every arm's metrics and every contrast with a CI that resamples seeds, battery clusters and
countries together; the primary endpoints with Holm across the claims; estimates first, verdicts second, with the
minimum detectable effect.

Resampling (one replicate): the endpoint's battery clusters of questions with replacement (a question weighs as
often as its cluster is drawn), its countries with replacement within Western / non-Western strata, and each arm's
training seeds with replacement; all from ``eval.statistics.bootstrap`` (the engine's only source of random
draws), shared by every arm so contrasts are paired on questions and countries. Metrics (``eval.statistics``):
- ``question_r``: the mean over questions of Pearson r across countries between the model's score and the human
  mean (the paper's metric) on the endpoint's questions x countries;
- ``western_pull``: the Western gap of the engine's fidelity slope (Western minus non-Western mean per-country
  slope of the model's answers on the human answers, both relative to their side's mean); > 0 = the model
  reproduces Western countries' distinctiveness better. Equal noise for every country leaves it at 0.
Decision rule (calibrated in ``benchmarks/study_calibration.py``, run by ``benchmarks/calibration.py``): the training
seed is the independent replicate, so the verdict's test is Student's pooled t between the arms' per-seed metrics
(each on the whole block; the engine's ``ttest.two_sample_t(equal_var=True)``, df = n_a + n_b - 2), two-sided. Under
the null the two arms are the same training procedure with other seeds, so their per-seed values are exchangeable and
the pooled t is exact at 3 vs 3 seeds (Welch's t, which the rule used before, rejected 2.2 % at 5 %). Holm across the
primary endpoints; ``supported`` when the adjusted p < alpha in the predicted direction, ``contradicted`` when < alpha
the other way (either marked ``fragile`` when the resampled CI below covers 0), else ``no evidence`` with the
minimum detectable effect (the true difference that the same pooled t detects with probability ``power``, from the
noncentral t law, df = n_a + n_b - 2); ``not testable`` with fewer than 2 seeds in an arm.
The CI that resamples seeds x battery clusters x countries is reported beside it (``ci_resampled``) as the effect's
generalisation interval: under SHUFFLED vs SHUFFLED its standard error is ~2x the true spread (0.097 vs 0.046) (a random country pattern
correlates with questions of opposite sign and cancels in the mean over questions, which resampling clusters and
countries as independent units does not see), so a verdict from it would never reject (0 of 400 simulated nulls in
benchmarks/results/calibration.json).
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
from scipy import stats

from culturelens.core.ci import CI
from culturelens.core.errors import DataError
from culturelens.core.runfolder import RunFolder
from culturelens.eval.statistics import bootstrap as bs
from culturelens.eval.statistics import multiple
from culturelens.eval.statistics import weighted as wt
from culturelens.eval.statistics.ttest import two_sample_t
from culturelens.experiments.study.config import StudyConfig

SEED_TEST = "Student's pooled t over seeds"
OVER = "training seeds x battery clusters x countries (Western / non-Western strata), drawn together"


# ------------------------------------------------------------------------------------------- grids


def human_grid(reference, qids: list[str], countries: list[str]) -> np.ndarray:
    table = reference.means().reindex(index=qids, columns=countries)
    return table.to_numpy(dtype=float)


def run_grid(folder: Path, qids: list[str], countries: list[str]) -> np.ndarray:
    scores = RunFolder(folder).require_complete().scores()
    table = scores.pivot_table(index="qid", columns="country", values="score")
    return table.reindex(index=qids, columns=countries).to_numpy(dtype=float)


def ridge_grid(human_all, train_q: list[str], target_q: list[str], countries: list[str], seen: list[str], lam: float) -> np.ndarray:
    """The 'country position' reference: per target question, ridge regression across the SEEN countries from each
    country's human means on the train questions to its mean on the question; predicts every country."""
    x = human_all.reindex(index=train_q, columns=countries).to_numpy(float).T  # (C, F)
    col_mean = np.nanmean(x, axis=0)
    x = np.where(np.isnan(x), col_mean, x)
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mu) / sd
    is_seen = np.isin(countries, seen)
    out = np.full((len(target_q), len(countries)), np.nan)
    for i, q in enumerate(target_q):
        y = human_all.reindex(index=[q], columns=countries).to_numpy(float)[0]
        fit = is_seen & np.isfinite(y)
        if fit.sum() < 3:
            continue
        zs, ys = z[fit], y[fit]
        beta = np.linalg.solve(zs.T @ zs + lam * np.eye(zs.shape[1]), zs.T @ (ys - ys.mean()))
        out[i] = ys.mean() + z @ beta
    return out


def load_grids(cfg: StudyConfig, root: Path, runs: dict[str, dict[int, Path]], split: dict) -> dict:
    """Every run's (Q, C) score grid over the evaluated questions x the study's countries, the human grid, the ridge."""
    from culturelens.experiments.study.data import study_inputs

    _, reference, table = study_inputs(cfg)
    qids = split["heldout"] if cfg.eval_questions == "heldout" else split["train"] + split["heldout"]
    countries = split["seen"] + split["unseen"]
    grids = {arm: {seed: run_grid(path, qids, countries) for seed, path in by_seed.items()} for arm, by_seed in runs.items()}
    if "ridge" in cfg.references:
        ridge = ridge_grid(reference.means(), split["train"], qids, countries, split["seen"], cfg.effects.ridge_lambda)
        grids["ridge"] = {0: np.where(np.isin(qids, split["heldout"])[:, None], ridge, np.nan)}
    from culturelens.synth.study_split import cluster_of

    cl = cluster_of(split)
    return {"qids": qids, "countries": countries, "human": human_grid(reference, qids, countries), "runs": grids,
            "clusters": [cl.get(q, -1 - i) for i, q in enumerate(qids)],
            "western": np.array([bool(table[c].western) for c in countries]),
            "is_heldout": np.isin(qids, split["heldout"]), "is_seen": np.isin(countries, split["seen"])}


# ------------------------------------------------------------------------------------------- metrics


def question_r(model: np.ndarray, human: np.ndarray, wq=None, wc=None, western=None) -> np.ndarray:
    """Mean over questions of r across countries; model (..., Q, C); weights (B, Q) and (B, C) or None."""
    r = wt.pearson(model, human, None if wc is None else wc[..., None, :], axis=-1)
    return wt.mean(r, wq, axis=-1)


def western_pull(model: np.ndarray, human: np.ndarray, wq=None, wc=None, western=None) -> np.ndarray:
    """Western minus non-Western mean fidelity slope (the engine's Western-bias measure), with bootstrap weights."""
    valid = np.isfinite(model) & np.isfinite(human)
    sides = []
    for flag in (True, False):
        cols = western == flag
        w_c = None if wc is None else wc[..., None, cols]
        v = valid[..., cols]
        x = wt.centre(human[..., cols], v, w_c)
        y = wt.centre(model[..., cols], v, w_c)
        b = wt.slope(x, y, None if wq is None else wq[..., :, None], axis=-2)  # (..., C_side)
        sides.append(wt.mean(b, None if wc is None else wc[..., cols], axis=-1))
    return sides[0] - sides[1]


METRICS = {"question_r": question_r, "western_pull": western_pull}


def _block(grids: dict, questions: str, countries: str) -> tuple[np.ndarray, np.ndarray]:
    rows = grids["is_heldout"] if questions == "heldout" else ~grids["is_heldout"]
    cols = {"seen": grids["is_seen"], "unseen": ~grids["is_seen"], "all": np.ones_like(grids["is_seen"])}[countries]
    return rows, cols


class Resampler:
    """One set of replicate weights per (questions, countries) block, shared by every arm (paired contrasts)."""

    def __init__(self, grids: dict, n_boot: int, seed: int):
        self.grids, self.n_boot, self.seed = grids, n_boot, seed
        self._cache: dict = {}

    def weights(self, questions: str, countries: str):
        key = (questions, countries)
        if key not in self._cache:
            rows, cols = _block(self.grids, questions, countries)
            clusters = np.asarray(self.grids["clusters"])[rows]
            strata = self.grids["western"][cols].astype(int)
            self._cache[key] = bs.two_way_weights(clusters, int(cols.sum()), self.n_boot, self.seed, strata) if rows.any() else None
        return self._cache[key]

    def seed_weights(self, arm: str, n_seeds: int) -> np.ndarray:
        g = bs.rng(zlib.crc32(f"{self.seed}|{arm}".encode()))  # a fixed stream per arm (str hash() is salted)
        return bs.unit_weights(n_seeds, self.n_boot, g)


def arm_values(grids: dict, res: Resampler, arm: str, metric: str, questions: str, countries: str,
               per_seed: list | None = None) -> tuple[float, np.ndarray]:
    """(estimate: the mean over seeds, (B,) replicates) of one arm's metric on one block; ``per_seed`` receives the
    per-seed values."""
    runs = grids["runs"].get(arm) or {}
    rows, cols = _block(grids, questions, countries)
    w = res.weights(questions, countries)
    if not runs or w is None:
        return float("nan"), np.full(res.n_boot, np.nan)
    fn = METRICS[metric]
    human = grids["human"][np.ix_(rows, cols)]
    west = grids["western"][cols]
    seeds = sorted(runs)
    point = [float(fn(runs[s][np.ix_(rows, cols)], human, western=west)) for s in seeds]
    if per_seed is not None:
        per_seed.extend(point)
    reps = np.stack([fn(runs[s][np.ix_(rows, cols)], human, w[0], w[1], west) for s in seeds], axis=-1)  # (B, S)
    ws = res.seed_weights(arm, len(seeds))
    return float(np.nanmean(point)), wt.mean(reps, ws, axis=-1)


def summarise(estimate: float, reps: np.ndarray, alpha: float, power: float) -> dict:
    """Estimate with its resampled CI (seeds x battery clusters x countries), bootstrap p and MDE (descriptive rows)."""
    ok = reps[np.isfinite(reps)]
    if not np.isfinite(estimate) or ok.size < 10:
        return {"estimate": None, "ci": CI().model_dump(), "p": None, "mde": None, "se": None}
    ci = bs.percentile_ci(ok, level=1 - alpha, over=OVER)
    p = min(1.0, 2 * min((1 + (ok <= 0).sum()) / (1 + ok.size), (1 + (ok >= 0).sum()) / (1 + ok.size)))
    se = float(ok.std(ddof=1))
    mde = (stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * se
    bounds = CI(lo=round(ci.lo, 4), hi=round(ci.hi, 4), level=ci.level)  # type: ignore[union-attr,arg-type]  # over: effects["over"]
    return {"estimate": round(estimate, 4), "ci": bounds.model_dump(), "p": round(float(p), 4),
            "mde": round(float(mde), 4), "se": round(se, 4)}


def seed_test(a: list[float], b: list[float], alpha: float, power: float) -> dict:
    """Student's pooled t between two arms' per-seed values: the verdict's test (module docstring)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if min(a.size, b.size) < 2:
        untestable = f"not testable: {a.size} and {b.size} seeds (need 2 each)"
        return {"p": None, "ci": CI(level=1 - alpha, method=SEED_TEST).model_dump(), "mde": None, "se": None, "test": untestable}
    diff, lo, hi, p, mde = (float(x) for x in two_sample_t(a, b, equal_var=True, level=1 - alpha, power=power))
    if not np.isfinite(p):  # identical seeds on both sides (e.g. SEED-ONLY without a teacher): no difference to test
        p, lo, hi, mde = 1.0, diff, diff, 0.0
    se = (hi - lo) / (2 * stats.t.ppf(1 - alpha / 2, a.size + b.size - 2))
    ci = CI(lo=round(lo, 4), hi=round(hi, 4), level=1 - alpha, method=SEED_TEST)
    return {"p": round(p, 4), "ci": ci.model_dump(), "mde": round(mde, 4), "se": round(se, 4),
            "test": f"Student's pooled t over seeds ({a.size} vs {b.size}, df {a.size + b.size - 2})"}


def contrast(grids, res, arm: str, control: str, metric: str, questions: str, countries: str, alpha: float, power: float) -> dict:
    """arm - control on one block: the estimate, the seed-level test (verdict) and the resampled CI (generalisation)."""
    sa: list[float] = []
    sc: list[float] = []
    ea, ra = arm_values(grids, res, arm, metric, questions, countries, sa)
    ec, rc = arm_values(grids, res, control, metric, questions, countries, sc)
    resampled = summarise(ea - ec, ra - rc, alpha, power)
    out = {"estimate": resampled["estimate"], **seed_test(sa, sc, alpha, power), "ci_resampled": resampled["ci"],
           "p_resampled": resampled["p"], "se_resampled": resampled["se"]}
    return {"arm": arm, "control": control, "metric": metric, "questions": questions, "countries": countries,
            "arm_estimate": None if not np.isfinite(ea) else round(ea, 4),
            "control_estimate": None if not np.isfinite(ec) else round(ec, 4), **out}


def verdict(row: dict, expect: str, alpha: float) -> str:
    if row["estimate"] is None or row.get("p_holm") is None:
        return "not testable"
    if row["p_holm"] < alpha:
        right = row["estimate"] > 0 if expect == "greater" else row["estimate"] < 0
        return "supported" if right else "contradicted"
    return f"no evidence (minimum detectable effect {row['mde']:.3f})"


def fragile(row: dict) -> bool:
    """A supported or contradicted verdict whose CI over seeds x battery clusters x countries covers 0: the seeds agree,
    but other questions and countries could move the effect to either sign. A qualifier only (it weakens a verdict and
    never issues one, so it needs no calibration of its own); the report prints it beside the verdict."""
    ci = row.get("ci_resampled") or {}
    if row.get("verdict") not in ("supported", "contradicted") or ci.get("lo") is None or ci.get("hi") is None:
        return False
    return ci["lo"] <= 0 <= ci["hi"]


SECONDARY = [("real", "base"), ("real", "ridge"), ("shuffled", "base"), ("dpo_shuffled", "shuffled"),
             ("seed_only", "real"), ("extra_sft", "real"), ("dpo_real", "real")]


def compute_effects(cfg: StudyConfig, grids: dict, split: dict) -> dict:
    e = cfg.effects
    res = Resampler(grids, e.n_boot, e.seed)
    names = [a for a in list(cfg.references) + list(cfg.arms) if a in grids["runs"]]
    names += [f"{a}_native" for a in cfg.arms if f"{a}_native" in grids["runs"]]
    arms = []
    blocks = [("question_r", "heldout"), ("western_pull", "heldout")] + ([("question_r", "train")] if (~grids["is_heldout"]).any() else [])
    for name in names:
        for metric, questions in blocks:
            for countries in (("seen", "unseen") if metric == "question_r" else ("all",)):
                est, reps = arm_values(grids, res, name, metric, questions, countries)
                arms.append({"arm": name, "seeds": len(grids["runs"][name]), "metric": metric, "questions": questions,
                             "countries": countries, **summarise(est, reps, e.alpha, e.power)})
    primary = []
    for ep in cfg.endpoints:
        row = contrast(grids, res, ep.arm, ep.control, ep.metric, ep.questions, ep.countries, e.alpha, e.power)
        primary.append({"claim": ep.claim, "expect": ep.expect, "primary": True, **row})
    adjusted = multiple.holm([r["p"] if r["p"] is not None else np.nan for r in primary])
    for r, p in zip(primary, adjusted):
        r["p_holm"] = None if not np.isfinite(p) else round(float(p), 4)
        r["verdict"] = verdict(r, r["expect"], e.alpha)
        r["fragile"] = fragile(r)
    secondary = []
    for ep in cfg.endpoints:  # the other country block of each claim
        other = {"seen": ["unseen"], "unseen": ["seen"], "all": []}[ep.countries]
        for countries in other:
            secondary.append({"claim": ep.claim, "primary": False,
                              **contrast(grids, res, ep.arm, ep.control, ep.metric, ep.questions, countries, e.alpha, e.power)})
    for arm, control in SECONDARY:
        if arm in names and control in names:
            for countries in ("seen", "unseen"):
                secondary.append({"claim": "descriptive", "primary": False,
                                  **contrast(grids, res, arm, control, "question_r", "heldout", countries, e.alpha, e.power)})
    per_run = []  # each arm x seed's own numbers (its W&B run logs them)
    for name in names:
        for seed, grid in grids["runs"][name].items():
            row = {"arm": name, "seed": seed}
            for metric, questions, countries in (("question_r", "heldout", "seen"), ("question_r", "heldout", "unseen"),
                                                 ("western_pull", "heldout", "all"), ("question_r", "train", "seen")):
                rows, cols = _block(grids, questions, countries)
                value = METRICS[metric](grid[np.ix_(rows, cols)], grids["human"][np.ix_(rows, cols)], western=grids["western"][cols]) \
                    if rows.any() and cols.any() else np.nan
                row[f"{metric}/{questions}/{countries}"] = None if not np.isfinite(value) else round(float(value), 4)
            per_run.append(row)
    if not any(r["estimate"] is not None for r in arms):
        raise DataError("no arm has a metric: the evaluations produced no scores on the study's questions and countries")
    return {"over": OVER, "n_boot": e.n_boot, "alpha": e.alpha, "arms": arms, "primary": primary, "secondary": secondary,
            "per_run": per_run,
            "n_heldout": int(grids["is_heldout"].sum()),
            "n_clusters_heldout": len({c for c, h in zip(grids["clusters"], grids["is_heldout"]) if h}),
            "n_seen": int(grids["is_seen"].sum()), "n_unseen": int((~grids["is_seen"]).sum())}
