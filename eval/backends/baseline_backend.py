"""The reference predictors of ``eval/backends/baselines.py`` as a probe backend: ``model.name_or_path: baseline:<name>``.

No forward pass: each prompt gets the predictor's option probabilities for its (country, question),
whatever the template or option order (so the per-order spread of a baseline is 0). Everything
after the probe -- scores, summary, nulls, report, compare, claims -- is the same as for a model.

- persona prompts: the predictor's distribution for that country (``baselines.predict``); where
  the prediction is a mean only (means-only questions), the two-point distribution with exactly
  that mean (``baselines.distribution_with_mean``), so the score is the predicted mean;
- no-persona prompts: the mean over all countries (every baseline has no country to leave out).
The fingerprint hashes the predictor's name and the human data it was built from, so a cached
result is reused only for the same countries, questions and reference values.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import pandas as pd

from culturelens.core.errors import ConfigError
from culturelens.core.prompts import NO_COUNTRY, PromptItem
from culturelens.eval.backends import baselines
from culturelens.eval.backends.base import OnBatch, ProbeResult

PREFIX = "baseline:"


def baseline_name(name_or_path: str) -> str:
    """'baseline:leave_one_out' -> 'leave_one_out', 'baseline:west_pull:f=0.4' -> 'west_pull:f=0.4' (ConfigError for an
    unknown name or bad parameters)."""
    name = name_or_path[len(PREFIX):] if name_or_path.startswith(PREFIX) else name_or_path
    try:
        baselines.parse_spec(name)
    except ConfigError as e:
        raise ConfigError(f"{e} (in model.name_or_path)") from None
    return name


def _as_probs(row_probs, score: float, values: list[float]) -> list[float]:
    return list(row_probs) if row_probs is not None else baselines.distribution_with_mean(values, score)


def prediction_table(name: str, reference, scores: dict, western: dict | None = None) -> dict[tuple[str, str], list[float]]:
    """(country, qid) -> option probabilities in scale order; country NONE = the all-country mean."""
    pred = baselines.predict(name, reference, scores, western)
    table = {(c, q): _as_probs(p, s, scores[q]) for c, q, p, s in pred[["country", "qid", "probs", "score"]].itertuples(index=False)
             if pd.notna(s)}
    everyone = baselines.predict("uniform" if name == "uniform" else "global_mean", reference, scores)
    for q, group in everyone.groupby("qid", sort=False):
        row = group.iloc[0]
        table[(NO_COUNTRY, q)] = _as_probs(row["probs"], row["score"], scores[q])
    return table


def _fingerprint(name: str, reference) -> str:
    rows = reference.df[["country", "qid", "mean", "dist"]].to_json(orient="values", double_precision=10)
    return hashlib.sha256(json.dumps(["baseline", name, rows]).encode()).hexdigest()[:16]


class BaselineBackend:
    """A ``ProbeBackend`` (eval/backends/base.py) that answers from a prediction table."""

    tokenizer = None
    is_chat = False
    source = "baseline"
    num_parameters = None

    def __init__(self, name: str, table: dict[tuple[str, str], list[float]], fingerprint: str):
        self.name = f"{PREFIX}{name}"
        self.table = table
        self.fingerprint = fingerprint
        self.fallback_labels: set[str] = set()

    @classmethod
    def from_inputs(cls, name: str, inputs) -> BaselineBackend:
        scores = {q: list(inputs.bank.get(q).scores) for q in inputs.qids}
        western = {c.alpha3: bool(c.western) for c in inputs.countries}
        return cls(name, prediction_table(name, inputs.reference, scores, western), _fingerprint(name, inputs.reference))

    def score(self, items: Sequence[PromptItem], on_batch: OnBatch | None = None, progress: bool = True,
              desc: str = "probe") -> dict[str, ProbeResult]:
        out = {}
        for it in items:
            probs = self.table.get((it.country, it.qid))
            if probs is None:
                raise ConfigError(f"{self.name} has no prediction for {it.country}/{it.qid}: the reference has no human answers there")
            out[it.key] = ProbeResult(probs=list(probs), mass=1.0, mode="baseline")
        if on_batch is not None and out:
            on_batch(out)
        return out


def build_baseline(cfg, inputs) -> BaselineBackend:
    """The builder for eval/backends/base.py's registry: ``model.name_or_path: baseline:<name>``."""
    if inputs is None:
        raise ConfigError("a baseline backend predicts from the human reference: call make_backend(cfg, inputs)")
    return BaselineBackend.from_inputs(baseline_name(cfg.model.name_or_path), inputs)
