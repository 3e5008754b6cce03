"""Calibration of the training study's decision rule (issue 16, item 4): the rule that turns an arm - control
contrast into a verdict (``culturelens.experiments.study.effects``: Student's pooled t over the arms' per-seed
values, two-sided p < alpha) must reject at the nominal rate when the two arms have the same law, and detect a planted
effect. Reported beside it: how often the CI resampling seeds x battery clusters x countries excludes 0 (too wide to
decide: its standard error vs the true spread of the estimate). Run by ``benchmarks/calibration.py`` (rows ``study/...``) or on its own:

    python benchmarks/study_calibration.py --sims 200 --out benchmarks/results/study_calibration.json

Simulation on the embedded reference, the CPU config's held-out block (its split: held-out questions x seen
countries, their battery clusters, Western strata). Each arm x seed is a score grid

    m_qc = b_qc + g * beta_q * z_{pi(c)} + e_qc,   e ~ N(0, sd_seed)

b: the untrained model (one fixed draw, shared by every arm: country-blind mean + a country-consistent quirk);
z_c: the country's position (first principal component of its human means on the train questions); beta_q: each
held-out question's loading on it (regression of the human means on z); pi: the arm's country permutation.
- SHUFFLED's pi is drawn as the study draws it (``synth.study_data.country_permutation``: a derangement of the seen
  countries, redrawn until no country keeps its own labels), a NEW one per seed as the study's ``seed_settings``
  does (seed s: ``core.seeded.derived(data.shuffle_seed, s)``); unseen countries are never trained, so they are not
  in it (pi = identity there; the endpoint is on seen countries);
- null "SHUFFLED vs SHUFFLED": both arms draw their own permutation per seed, same g;
- power "REAL vs SHUFFLED": the REAL arm has pi = identity (it learned the countries' true positions).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

N_SEEDS = 3


def setting(config: str = "configs/experiments/training_study.yaml") -> dict:
    """The study's held-out block on the embedded reference: human grid, clusters, strata, country positions."""
    from culturelens.core.countries import load_countries
    from culturelens.core.inputs import load_question_bank
    from culturelens.core.reference import load_reference
    from culturelens.experiments.study.data import study_split
    from culturelens.experiments.study.run import load_study_config

    cfg = load_study_config(config, [], smoke=False)
    bank, ref, table = load_question_bank(None), load_reference("default"), load_countries()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        split = study_split(cfg, Path(tmp), bank, ref, table)
    from culturelens.experiments.study.effects import human_grid
    from culturelens.synth.study_split import cluster_of

    countries = [c for c in split["seen"] + split["unseen"]]
    human = human_grid(ref, split["heldout"], countries)
    keep = np.isfinite(human).any(axis=0)
    countries = [c for c, k in zip(countries, keep) if k]
    human = human[:, keep]
    train = ref.means().reindex(index=split["train"] + [q for q in split.get("eligible", []) if q not in split["heldout"]][:40],
                                columns=countries).to_numpy(float)
    train = np.where(np.isnan(train), np.nanmean(train, axis=1, keepdims=True), train)
    centred = train - train.mean(axis=1, keepdims=True)
    z = np.linalg.svd(centred, full_matrices=False)[2][0]
    z = (z - z.mean()) / z.std()
    beta = np.array([np.polyfit(z[np.isfinite(h)], h[np.isfinite(h)], 1)[0] if np.isfinite(h).sum() > 2 else 0.0 for h in human])
    cl = cluster_of(split)
    return {"human": human, "z": z, "beta": beta, "countries": countries, "qids": split["heldout"],
            "clusters": [cl.get(q, -1 - i) for i, q in enumerate(split["heldout"])],
            "western": np.array([table[c].western for c in countries]), "is_seen": np.isin(countries, split["seen"])}


def shuffled_positions(s: dict, rng: np.random.Generator) -> np.ndarray:
    """pi of one SHUFFLED arm x seed: the study's own draw (a derangement of the seen countries) from a fresh seed."""
    from culturelens.synth.study_data import country_permutation

    seen = [c for c, k in zip(s["countries"], s["is_seen"]) if k]
    perm = country_permutation(seen, int(rng.integers(2**32)))
    index = {c: i for i, c in enumerate(s["countries"])}
    pi = np.arange(len(s["countries"]))
    for c, d in perm.items():
        pi[index[c]] = index[d]
    return pi


def simulate(s: dict, sims: int, effect: bool, g: float = 0.5, sd_seed: float = 0.05, quirk: float = 0.1, n_boot: int = 500,
             alpha: float = 0.05, seed: int = 0, both_real: bool = False, n_seeds: int = N_SEEDS) -> dict:
    from culturelens.core.ci import CI
    from culturelens.experiments.study.effects import Resampler, contrast

    rng = np.random.default_rng(seed)
    q, c = s["human"].shape
    rejections, resampled, estimates, ses = 0, 0, [], []
    for i in range(sims):
        base = np.nanmean(s["human"], axis=1, keepdims=True) + quirk * rng.normal(size=(1, c))
        runs = {}
        for arm in ("a", "b"):
            runs[arm] = {}
            for k in range(n_seeds):
                perm = np.arange(c) if ((effect and arm == "a") or both_real) else shuffled_positions(s, rng)
                grid = base + g * s["beta"][:, None] * s["z"][perm][None, :] + sd_seed * rng.normal(size=(q, c))
                runs[arm][k] = np.where(np.isfinite(s["human"]), grid, np.nan)
        grids = {"qids": s["qids"], "countries": s["countries"], "human": s["human"], "runs": runs, "clusters": s["clusters"],
                 "western": s["western"], "is_heldout": np.ones(q, bool), "is_seen": s["is_seen"]}
        row = contrast(grids, Resampler(grids, n_boot, seed * 100_000 + i), "a", "b", "question_r", "heldout", "seen", alpha, 0.8)
        estimates.append(row["estimate"])
        ses.append(row["se_resampled"])
        rejections += row["p"] is not None and row["p"] < alpha
        resampled += CI.model_validate(row["ci_resampled"]).excludes_zero() != 0
    return {"sims": sims, "rejection_rate": rejections / sims, "resampled_ci_excludes_0": resampled / sims,
            "mean_estimate": float(np.mean(estimates)), "sd_estimate": float(np.std(estimates)),
            "mean_se_resampled": float(np.mean(ses)), "alpha": alpha, "g": g, "sd_seed": sd_seed, "n_seeds": n_seeds,
            "n_boot": n_boot}


def run(sims: int, n_boot: int = 500) -> dict:
    s = setting()
    t0 = time.time()
    out = {"rule": "study contrast: bootstrap over seeds x battery clusters x countries, two-sided p < 0.05",
           "block": f"{len(s['qids'])} held-out questions x {int(s['is_seen'].sum())} seen countries",
           "null_shuffled_vs_shuffled": simulate(s, sims, effect=False, n_boot=n_boot),
           "power_real_vs_shuffled_g0.5": simulate(s, sims, effect=True, n_boot=n_boot, seed=1),
           "power_real_vs_shuffled_g0.2": simulate(s, sims, effect=True, g=0.2, n_boot=n_boot, seed=2),
           "power_real_vs_shuffled_g1.0": simulate(s, sims, effect=True, g=1.0, n_boot=n_boot, seed=3)}
    out["seconds"] = round(time.time() - t0, 1)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--n-boot", type=int, default=500)
    parser.add_argument("--out", default="benchmarks/results/study_calibration.json")
    args = parser.parse_args()
    result = run(args.sims, args.n_boot)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def _rate(hits: float, n: int) -> dict:
    return {"rate": hits, "n": n, "se": float(np.sqrt(hits * (1 - hits) / n))}


def study_block(n_sims: int, seed: int = 0, n_boot: int = 200) -> dict:
    """The study's rule as a block of benchmarks/calibration.py (nulls must lie in the band, effects are power)."""
    s = setting()
    null = simulate(s, n_sims, effect=False, n_boot=n_boot, seed=seed)
    second = simulate(s, n_sims, effect=False, g=0.0, n_boot=n_boot, seed=seed + 7)
    reals = simulate(s, n_sims, effect=False, both_real=True, n_boot=n_boot, seed=seed + 8)
    strong = simulate(s, n_sims, effect=True, n_boot=n_boot, seed=seed + 1)
    weak = simulate(s, n_sims, effect=True, g=0.2, n_boot=n_boot, seed=seed + 2)
    large = simulate(s, n_sims, effect=True, g=1.0, n_boot=n_boot, seed=seed + 3)
    five = simulate(s, n_sims, effect=True, g=1.0, n_boot=n_boot, seed=seed + 4, n_seeds=5)
    return {"alpha": 0.05, "band": [0.025, 0.075], "sided": "two",
            "what": "training study: arm - control, Student's pooled t over 3 seeds per arm (5 where stated) (two-sided 5 %), "
                    "on the CPU config's "
                    "held-out questions x seen countries; beside it the CI resampling seeds x battery clusters x countries",
            "nulls": {"SHUFFLED vs a second SHUFFLED (another permutation per seed), g=0.5": _rate(null["rejection_rate"], n_sims),
                      "two arms of the base model + seed noise only (g=0)": _rate(second["rejection_rate"], n_sims),
                      "REAL vs a second REAL (seed noise only), g=0.5": _rate(reals["rejection_rate"], n_sims)},
            "effects": {"REAL vs SHUFFLED, g=0.2": _rate(weak["rejection_rate"], n_sims),
                        "REAL vs SHUFFLED, g=0.5": _rate(strong["rejection_rate"], n_sims),
                        "REAL vs SHUFFLED, g=1.0": _rate(large["rejection_rate"], n_sims),
                        "REAL vs SHUFFLED, g=1.0, 5 seeds per arm (the GPU config)": _rate(five["rejection_rate"], n_sims)},
            "resampled_ci_excludes_0": {"null g=0.5": null["resampled_ci_excludes_0"], "effect g=0.5": strong["resampled_ci_excludes_0"]},
            "sd_estimate_vs_resampled_se": {"null g=0.5": [null["sd_estimate"], null["mean_se_resampled"]]}}
