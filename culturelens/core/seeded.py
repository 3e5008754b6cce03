"""Seeded random draws, the one way every stage makes them (the same seed gives the same numbers everywhere)."""
from __future__ import annotations

import numpy as np


def rng(seed: int) -> np.random.Generator:
    """numpy's default generator seeded with `seed`."""
    return np.random.default_rng(seed)


def normal(shape, seed: int, sd: float = 1.0) -> np.ndarray:
    """Seeded N(0, sd) draws (the reference predictors and the calibration simulations)."""
    return rng(seed).normal(0.0, sd, size=shape)


def derived(*parts: int) -> int:
    """One seed from several integers (a base seed and a replicate's index, e.g. (data.shuffle_seed, training seed)):
    numpy's SeedSequence hash of the tuple, so distinct tuples give unrelated seeds (no ``base * 1000 + i`` collisions)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])
