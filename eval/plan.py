"""What an eval would do, without doing it: `culturelens eval --dry-run` (and the dry runs of `run`, `claims` and the
study, which plan one eval per model with `plan_eval`).

A plan resolves the inputs, checks every path, loads the backend (tokenizer and weights: the probe cache is keyed
by the model's content fingerprint; no forward pass) and renders every prompt, then counts the prompts the probe
cache already holds. The time estimate divides the prompts left by a measured rate: the rate of the latest finished
run of the same model (same fingerprint) under output_dir, else the repository's measured CPU throughput of
SmolLM2-135M (benchmarks/results/eval_throughput.json, float32, no prefix sharing) scaled by parameter count. The
plan says which basis it used.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from culturelens.core.inputs import resolve_inputs, slug
from culturelens.core.runfolder import RunFolder
from culturelens.eval.backends import make_backend
from culturelens.eval.backends.cache import ProbeCache
from culturelens.eval.config import EvalConfig

REFERENCE_RATE = 5.74  # prompts/s: SmolLM2-135M, float32, batch 16, 2 CPU cores (benchmarks/results/eval_throughput.json)
REFERENCE_PARAMETERS = 134_515_008


@dataclass
class EvalPlan:
    run_dir: str
    model: str
    fingerprint: str
    countries: int
    questions: int
    templates: list[str]
    orders: list[str]
    n_prompts: int
    n_cached: int
    prompts_per_second: float | None
    rate_basis: str
    exists: bool  # a finished run folder of this name is already there (eval refuses it without --overwrite)
    notes: list[str] = field(default_factory=list)

    @property
    def n_to_score(self) -> int:
        return self.n_prompts - self.n_cached

    @property
    def estimated_seconds(self) -> float | None:
        if self.n_to_score == 0:
            return 0.0
        return self.n_to_score / self.prompts_per_second if self.prompts_per_second else None

    def to_json(self) -> dict:
        return {**asdict(self), "n_to_score": self.n_to_score, "estimated_seconds": self.estimated_seconds}

    def lines(self) -> list[str]:
        est = self.estimated_seconds
        when = "nothing to score" if est == 0 else (f"~{format_seconds(est)}" if est is not None else "unknown")
        out = [f"eval {self.model} -> {self.run_dir}" + ("  (exists: needs --overwrite)" if self.exists else ""),
               f"  {self.countries} countries x {self.questions} questions; templates {', '.join(self.templates)}; "
               f"orders {', '.join(self.orders)}",
               f"  prompts: {self.n_prompts} ({self.n_cached} cached, {self.n_to_score} to score)",
               f"  estimated probe time: {when}" + (f" at {self.prompts_per_second:.1f} prompts/s ({self.rate_basis})"
                                                    if self.prompts_per_second and est else "")]
        return out + [f"  note: {n}" for n in self.notes]


def format_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def measured_rate(output_dir: str | Path, fingerprint: str) -> tuple[float | None, str]:
    """prompts/s of the newest finished run of this model (by fingerprint) under output_dir, if any."""
    best = None
    for summary_path in Path(output_dir).glob("*/*/summary.json"):
        try:
            run = json.loads(summary_path.read_text()).get("run") or {}
        except (OSError, ValueError):
            continue
        rate = run.get("prompts_per_second")
        if run.get("fingerprint") == fingerprint and rate and (best is None or summary_path.stat().st_mtime > best[0]):
            best = (summary_path.stat().st_mtime, float(rate), summary_path.parent)
    if best is None:
        return None, ""
    return best[1], f"measured in {best[2]}"


def plan_eval(cfg: EvalConfig) -> EvalPlan:
    """The plan of one eval (see the module docstring); the same checks as `run_eval` before its probe."""
    from culturelens.eval.runner import build_items, check_files

    inputs = resolve_inputs(cfg)
    check_files(cfg)
    backend = make_backend(cfg, inputs)
    items = build_items(cfg, inputs, backend)
    keys = sorted({it.key for it in items})
    cache = ProbeCache(cfg.cache_dir)
    try:
        n_cached = len(cache.get_many(backend.fingerprint, keys))
    finally:
        cache.close()
    rate, basis = measured_rate(cfg.output_dir, backend.fingerprint)
    params = getattr(backend, "num_parameters", None)
    if rate is None and params:
        rate = REFERENCE_RATE * REFERENCE_PARAMETERS / params
        basis = "SmolLM2-135M's measured CPU rate scaled by parameter count; a GPU is much faster"
    run_dir = Path(cfg.output_dir) / slug(cfg.experiment) / (cfg.run_name or slug(backend.name))
    notes = []
    if len(inputs.countries) < 3:
        notes.append(f"{len(inputs.countries)} countries: per-question r (the paper's metric) needs at least 3")
    return EvalPlan(run_dir=str(run_dir), model=backend.name, fingerprint=backend.fingerprint, countries=len(inputs.countries),
                    questions=len(inputs.qids), templates=list(cfg.probe.templates), orders=list(cfg.probe.orders),
                    n_prompts=len(keys), n_cached=n_cached, prompts_per_second=rate, rate_basis=basis or "no rate known",
                    exists=RunFolder(run_dir).is_complete(), notes=notes)
