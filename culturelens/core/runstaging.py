"""Writing an eval run folder safely: a lock, a temporary folder, a completion marker, one move into place.

    <output_dir>/<experiment>/
        .<name>.lock           held (flock) while a run named <name> is written: a second one stops at once;
                               removed when the run ends
        .<name>.tmp-<pid>      the run being written (config.yaml, partial results, ..., summary.json, report)
        <name>/                the finished run, moved here when complete (complete.json inside)

1. `begin`: take the lock (another live run of <name> -> DataError); if <name>/ already exists and
   `overwrite` is off -> DataError naming the two ways out (--overwrite, another run_name); remove
   stale temporary folders of <name> (their writers are dead: the lock is ours); create ours.
2. The run writes into `path` (the temporary folder).
3. `finish`: write complete.json (RunFolder.mark_complete), then rename the temporary folder to <name>/
   (an old run there is first renamed to .<name>.old-<pid>, and removed after the new one is in place).

So a finished folder is never a mix of two runs: a run killed at any point (even kill -9) leaves
<name>/ as it was and a stale temporary folder the next run removes; the probe cache keeps every
finished batch, so that rerun resumes where the killed one stopped. The lock dies with its process.
"""
from __future__ import annotations

import glob
import logging
import os
import shutil
from pathlib import Path

from culturelens.core.errors import DataError
from culturelens.core.folderlock import FolderLock
from culturelens.core.paths import child_inside, swap_into_place
from culturelens.core.runfolder import RunFolder

log = logging.getLogger(__name__)


class RunStaging:
    """One run folder being written (see the module docstring); use `begin`, write into `path`, then `finish`."""

    def __init__(self, parent: str | Path, name: str, overwrite: bool = False):
        self.parent = Path(parent)
        self.final = child_inside(self.parent, name)
        self.name = self.final.name
        self.path = self.parent / f".{self.name}.tmp-{os.getpid()}"
        self.overwrite = overwrite
        self._lock: FolderLock | None = None

    def begin(self) -> RunStaging:
        self._take_lock()
        if self.final.exists() and not self.overwrite:
            self.release()
            state = "a finished run" if RunFolder(self.final).is_complete() else "files of an older or unfinished run"
            raise DataError(f"run folder '{self.final}' already holds {state}: pass --overwrite to replace it, "
                            f"or run_name=<new name> to keep both")
        if self.final.exists() and not self.final.is_dir():
            self.release()
            raise DataError(f"'{self.final}' is a file, not a run folder: remove it or choose another run_name")
        for stale in self.parent.glob(f".{glob.escape(self.name)}.tmp-*"):
            log.info("removing %s, left by a run that was killed", stale)
            shutil.rmtree(stale, ignore_errors=True)
        self.path.mkdir(parents=True)
        return self

    @property
    def lock_path(self) -> Path:
        return self.parent / f".{self.name}.lock"

    def _take_lock(self) -> None:
        """The run name's lock (core.folderlock: flock, removed again on release)."""
        self._lock = FolderLock(self.lock_path, f"another eval is writing run folder '{self.final}' right now: wait for it "
                                                "to finish, or choose another run_name").acquire()

    def relocated(self, text: str | None) -> str | None:
        """A path recorded during the run (e.g. the W&B folder) as it reads once the run is moved into place."""
        if text is None or not str(text).startswith(str(self.path)):
            return text
        return str(self.final) + str(text)[len(str(self.path)):]

    def finish(self) -> Path:
        """Mark the run complete and move it into place (replacing an old run when `overwrite`); returns it."""
        RunFolder(self.path).mark_complete()
        swap_into_place(self.path, self.final, self.parent / f".{self.name}.old-{os.getpid()}")
        self.release()
        return self.final

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()  # the lock file is removed while still held: none is left in the experiment folder
            self._lock = None
