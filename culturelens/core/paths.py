"""Output paths checked before any work starts: writable folders, and children that stay inside their root.

Every stage checks its output folder first (before a model loads), so a read-only, unwritable or
mistyped path (a folder under a file) is one DataError line in the first second, not after minutes.
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from culturelens.core.errors import DataError


def _why(exc: OSError) -> str:
    if isinstance(exc, (FileExistsError, NotADirectoryError)) or exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return "a part of the path is a file, not a folder"
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied or read-only"
    return exc.strerror or type(exc).__name__


def ensure_writable_dir(path: str | Path, what: str = "output folder") -> Path:
    """Create `path` (with its parents) and check that a file can be written in it; DataError otherwise."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=p, prefix=".culturelens-write-test-"):
            pass
    except OSError as exc:
        raise DataError(f"{what} '{p}' cannot be written ({_why(exc)}): choose a writable folder") from None
    return p


def child_inside(root: str | Path, *parts: str) -> Path:
    """root/parts..., refused (DataError) when the result would leave `root` (e.g. a run_name of '../../x')."""
    base = Path(root).resolve()
    target = base.joinpath(*parts).resolve()
    if target != base and base not in target.parents:
        raise DataError(f"'{'/'.join(parts)}' would write outside '{root}': use a plain name without '..' or '/'")
    return Path(root).joinpath(*parts)


def swap_into_place(staged: Path, final: Path, old: Path) -> Path:
    """Move the finished folder `staged` to `final` by renames (each atomic within one file system): a folder already
    at `final` is first renamed to `old` and removed only once the new one is in place, so a reader sees the old
    folder or the new one, never half of either. Returns `final`."""
    replaced = final.exists()
    if replaced:
        os.replace(final, old)
    os.replace(staged, final)
    if replaced:
        shutil.rmtree(old, ignore_errors=True)
    return final

def fresh_output_dir(path: str | Path, what: str, overwrite: bool, marker: str) -> Path:
    """An empty output folder for an export: a non-empty folder is refused (its old files would mix with the new ones),
    unless `overwrite` and it holds an earlier export of the same kind (its `marker` file): then it is emptied first."""
    import shutil

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise DataError(f"{what} '{p}' is a file: pass a folder")
    if p.is_dir() and any(p.iterdir()):
        if not overwrite:
            raise DataError(f"{what} '{p}' is not empty (old files would mix with the new export): pass an empty or new folder, "
                            "or --overwrite to replace an earlier export there")
        if not (p / marker).exists():
            raise DataError(f"{what} '{p}' is not empty and holds no earlier export ({marker} missing): --overwrite only "
                            "replaces an export; pass an empty or new folder")
        shutil.rmtree(p)
    return ensure_writable_dir(p, what)
