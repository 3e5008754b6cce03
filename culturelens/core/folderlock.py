"""An exclusive, non-blocking lock on a lock file (flock): a second writer of the same folder stops at once.

The lock dies with its process (kill -9 included), so a stale lock file never blocks anyone. `release` removes
the lock file, so no empty lock files stay behind after a run; a writer that opened the file just before it was
removed notices (the path no longer names its file) and takes the lock on the new file instead.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from culturelens.core.errors import DataError


class FolderLock:
    def __init__(self, lock_file: str | Path, busy_message: str):
        self.path = Path(lock_file)
        self.busy_message = busy_message
        self._fh: IO[str] | None = None

    def acquire(self) -> FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            fh = open(self.path, "a+")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                raise DataError(self.busy_message) from None
            try:
                same = os.fstat(fh.fileno()).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fh = fh
                return self
            fh.close()  # the holder removed the file between our open and our lock: lock the new one
        raise DataError(f"could not take the lock {self.path}: writers of this folder keep starting; retry")

    def release(self) -> None:
        if self._fh is None:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()
        self._fh = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


__all__ = ["FolderLock"]
