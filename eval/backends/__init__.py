"""Probe backends: everything that turns rendered prompts into option distributions.

- ``base``: the ``ProbeBackend`` protocol, ``ProbeResult``, ``option_distribution``; ``registry``: ``BACKENDS``,
  ``make_backend`` (both re-exported here);
- ``probe`` (transformers forward passes; ``prefix`` shares a prompt's common prefix, ``label_sequences`` scores
  multi-token labels), ``vllm_backend`` + ``server_labels`` (an OpenAI-compatible server),
  ``baseline_backend`` + ``baselines`` (reference predictors from the human data, no forward pass);
- ``cache``: the on-disk probe cache every backend is wrapped in.

Backends import neither the statistics nor the reporting room.
"""
from culturelens.eval.backends.base import OnBatch, ProbeBackend, ProbeResult, option_distribution
from culturelens.eval.backends.registry import BACKENDS, backend_kind, make_backend

__all__ = ["BACKENDS", "OnBatch", "ProbeBackend", "ProbeResult", "backend_kind", "make_backend", "option_distribution"]
