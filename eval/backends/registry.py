"""The backend registry: which builder makes the backend an eval config asks for (see eval/backends/base.py).

`make_backend(cfg, inputs)` picks a `BACKENDS` entry by the `<kind>:` prefix of `model.name_or_path` when that
prefix is registered, and by `probe.backend` otherwise. Adding a backend: a builder `(cfg, inputs) -> backend`
below and one line in BACKENDS. The backend modules import `base`, never this registry.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from culturelens.core.errors import ConfigError
from culturelens.eval.backends.base import ProbeBackend


def build_hf(cfg, inputs) -> ProbeBackend:
    from culturelens.core.models import load_model
    from culturelens.core.threads import ThreadPolicy
    from culturelens.eval.backends.probe import Probe

    return Probe.from_loaded(load_model(cfg.model), batch_size=cfg.probe.batch_size, prefix_sharing=cfg.probe.prefix_sharing,
                             tokens_per_forward=cfg.probe.tokens_per_forward, threads=ThreadPolicy(cfg.probe.threads),
                             pack_workers=cfg.probe.pack_workers)


def build_server(cfg, inputs) -> ProbeBackend:
    from culturelens.eval.backends.vllm_backend import ServerProbe

    return ServerProbe.from_config(cfg)


def build_baseline(cfg, inputs) -> ProbeBackend:
    from culturelens.eval.backends.baseline_backend import build_baseline as build

    return build(cfg, inputs)


BACKENDS: dict[str, Callable[[Any, Any], ProbeBackend]] = {
    "hf": build_hf,
    "vllm": build_server,
    "baseline": build_baseline,
}


def backend_kind(cfg) -> str:
    prefix = cfg.model.name_or_path.split(":", 1)[0] if ":" in cfg.model.name_or_path else None
    return prefix if prefix in BACKENDS else cfg.probe.backend


def make_backend(cfg, inputs=None) -> ProbeBackend:
    """The backend an EvalConfig asks for; `inputs` (EvalInputs) is for backends that predict from data."""
    kind = backend_kind(cfg)
    if cfg.probe.fingerprint and kind == "hf":
        raise ConfigError("probe.fingerprint pins a server's cache key; the hf backend hashes the weights: remove probe.fingerprint")
    return BACKENDS[kind](cfg, inputs)
