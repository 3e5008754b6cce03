"""Probe backends: one interface for everything that turns prompts into option distributions.

A run's probe step is the same for every backend:
  1. the backend says how prompts must be rendered (`tokenizer` with its chat template, `is_chat`);
  2. the runner renders the prompts and hands them to `CachingBackend(backend, ProbeCache)`
     (eval/backends/cache.py), which looks each prompt up by (backend.fingerprint, prompt key) and passes
     only the missing ones to `backend.score`;
  3. `score` returns {prompt key: ProbeResult} and calls `on_batch(results)` after every finished
     batch, so the cache and results.partial.jsonl grow while the run goes (resume after kill -9).

Every backend reads, for each prompt, a non-negative weight per presented option label (a
probability, or a prediction's share) and passes it to `option_distribution`, which renormalises
over the K options and maps presented positions back to scale order: p_k = raw_k / sum(raw), or
uniform when nothing fell on the labels; `mass` = sum(raw) before renormalising.

Backends (one registry line each, in BACKENDS of eval/backends/registry.py):
  hf        eval/backends/probe.py             transformers forward passes here (`Probe`; prefix sharing: eval/backends/prefix.py)
  vllm      eval/backends/vllm_backend.py      an OpenAI-compatible completions server with log-probs (`ServerProbe`)
  baseline  eval/backends/baseline_backend.py  `model.name_or_path: baseline:leave_one_out|global_mean|uniform`: a
                                      reference predictor made from the human data, no forward pass

Adding one: write a small class with the attributes of `ProbeBackend` and its `score`, plus a builder
`(cfg, inputs) -> backend`, and add `"baseline": build_baseline` to BACKENDS. `backend_kind` picks a
registry entry by the `<kind>:` prefix of `model.name_or_path` when that prefix is registered, and by
`probe.backend` otherwise. A backend that needs no tokenizer sets `tokenizer = None` and
`is_chat = False` (prompts are then rendered as plain text).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from culturelens.core.prompts import PromptItem


@dataclass
class ProbeResult:
    probs: list[float]  # over the options in scale order
    mass: float
    mode: str  # "token", "sequence" or "server": how the raw weights were read


OnBatch = Callable[[dict[str, ProbeResult]], None]


class ProbeBackend(Protocol):
    name: str  # display name in reports
    fingerprint: str  # what cached results are keyed by (with the prompt key)
    tokenizer: Any  # renders prompts (chat template); None: plain text
    is_chat: bool
    source: str  # hub | local | gguf | embedded | server | ...
    num_parameters: int | None
    fallback_labels: set[str]  # labels that were not one token and were scored another way

    def score(self, items: Sequence[PromptItem], on_batch: OnBatch | None = None, progress: bool = True,
              desc: str = "probe") -> dict[str, ProbeResult]: ...


def option_distribution(item: PromptItem, raw_presented: list[float], mode: str) -> ProbeResult:
    """Renormalise raw label weights (presented order) over the options, in scale order."""
    mass = sum(raw_presented)
    probs = [0.0] * len(raw_presented)
    for pos, option in enumerate(item.option_index):
        probs[option] = raw_presented[pos] / mass if mass > 0 else 1.0 / len(raw_presented)
    return ProbeResult(probs=probs, mass=mass, mode=mode)
