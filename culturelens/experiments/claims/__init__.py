"""`culturelens claims`: test the paper's six claims on a set of models and checkpoints.

Every model entry is evaluated with the same eval settings (cached: a rerun is free), tagged with its
training facts, and each claim is turned into an effect size with a bootstrap 95% CI and a verdict:
"supported" (CI excludes 0 in the claimed direction), "not supported" (it does not), or
"not testable with these models" (the entries needed for the comparison are not in the config).

Modules: `config` (ClaimsConfig, model facts), `context` (ClaimsContext: what every claim reads),
`results` (typed results, verdict rule), `paper_claims` (one function per claim, `CLAIMS`),
`studies` (claim 2 per template x order, English vs native prompts), `run` (run_claims), `report`.
"""
from culturelens.experiments.claims.config import ClaimsConfig, ModelEntry, ModelFacts
from culturelens.experiments.claims.context import ClaimsContext, ModelRun
from culturelens.experiments.claims.paper_claims import CLAIMS, compute_claims
from culturelens.experiments.claims.results import NOT_SUPPORTED, NOT_TESTABLE, SUPPORTED, ClaimResult, verdict_from_ci
from culturelens.experiments.claims.run import run_claims

__all__ = [
    "CLAIMS", "ClaimResult", "ClaimsConfig", "ClaimsContext", "ModelEntry", "ModelFacts", "ModelRun",
    "NOT_SUPPORTED", "NOT_TESTABLE", "SUPPORTED", "compute_claims", "run_claims", "verdict_from_ci",
]
