"""The one rule for an older name of a key (a config setting, a results-file field): move it to its new name."""
from __future__ import annotations


def move_legacy_key(src: dict, old: str, dst: dict, new: str, old_name: str, new_name: str) -> bool:
    """Move `src[old]` (an older name of a key) to `dst[new]`; both set is an error naming the two keys. The one
    rule for every older key: TRL's names inside `train:` (train/trlargs.py LEGACY_NAMES), top-level DPO keys
    (train/config.py), older summary.json / claims.json fields (culturelens/core/ci.py, runfolder.py)."""
    if old not in src:
        return False
    if new in dst:
        raise ValueError(f"{old_name} and {new_name} are the same setting: keep {new_name}")
    dst[new] = src.pop(old)
    return True


__all__ = ["move_legacy_key"]
