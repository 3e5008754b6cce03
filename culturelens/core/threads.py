"""How many intra-op threads torch may use: the CPUs this process may run on, fewer while other processes want them.

`usable_cpus()` is the cap: the CPUs of the process's affinity mask, the cgroup's CPU quota (cgroup v2 `cpu.max`,
v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`, rounded up) and `OMP_NUM_THREADS` when set, whichever is smallest.

`ThreadPolicy("auto")` starts at the cap and, every `interval_s` seconds of a job (`adjust()`, called between
forward passes), measures how busy the other processes kept this process's CPUs (per-CPU busy time from /proc/stat
minus this process's own CPU time) and uses `cap - round(others)` threads, at least 1. Why: an intra-op thread pool
synchronises at every operator; when another runnable process takes one of its cores, the other threads wait for
the descheduled one (spinning, in OpenMP), so 2 threads on 2 shared cores run far slower than 1 thread (a
20-fold slowdown was measured with two competing processes). With one thread per free core the job keeps its share.
`ThreadPolicy(n)` pins n threads. Where /proc/stat is missing (not Linux), "auto" keeps the cap.
"""
from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["ThreadPolicy", "cgroup_cpu_quota", "usable_cpus"]


def _affinity() -> set[int]:
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


def cgroup_cpu_quota(root: str | Path = "/sys/fs/cgroup") -> float | None:
    """CPUs' worth of time the cgroup may use per period (cgroup v2 or v1), None when unlimited or unknown."""
    root = Path(root)
    try:
        v2 = root / "cpu.max"
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1 = root / "cpu" / "cpu.cfs_quota_us"
        if v1.is_file():
            quota_us = int(v1.read_text())
            return None if quota_us <= 0 else quota_us / int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None


def _omp_env() -> int | None:
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def usable_cpus() -> int:
    """The most threads worth running: min(affinity CPUs, cgroup quota rounded up, OMP_NUM_THREADS), at least 1."""
    limits = [len(_affinity())]
    quota = cgroup_cpu_quota()
    if quota is not None:
        limits.append(math.ceil(quota - 1e-9))
    if (omp := _omp_env()) is not None:
        limits.append(omp)
    return max(1, min(limits))


def _busy_jiffies(cpus: set[int]) -> float | None:
    """Busy time (all but idle and iowait) of the given CPUs since boot, in seconds; None without /proc/stat."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = 0
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        values = [int(v) for v in fields[:8]]
        busy += sum(values) - values[3] - values[4]  # minus idle, iowait
    return busy / tick


class ThreadPolicy:
    """Intra-op threads for torch: "auto" (adapts to contention, see the module docstring) or a fixed number."""

    def __init__(self, setting: int | str = "auto", interval_s: float = 2.0):
        self.auto = setting == "auto"
        self.cap = usable_cpus() if self.auto else int(setting)
        self.threads = self.cap
        self.interval_s = interval_s
        self.cpus = _affinity()
        self.history: list[tuple[float, int, float]] = []  # (seconds into the job, threads chosen, others' CPUs busy)
        self._mark: tuple[float, float, float] | None = None

    def apply(self, probe_s: float = 0.3) -> None:
        """Before a job: with "auto", look at the other processes' CPU use for `probe_s` seconds (the first forward
        pass should not start with more threads than free cores), set torch's intra-op threads; start measuring."""
        import torch

        self._start = time.monotonic()
        if self.auto and self.cap > 1 and probe_s > 0 and (mark := self._sample()) is not None:
            time.sleep(probe_s)
            self._mark = mark
            self._choose(self._sample())
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        self._mark = self._sample()

    def _sample(self) -> tuple[float, float, float] | None:
        busy = _busy_jiffies(self.cpus)
        return None if busy is None else (time.monotonic(), busy, time.process_time())

    def adjust(self) -> None:
        """Between forward passes: after `interval_s`, re-choose the threads from the other processes' CPU use."""
        if not self.auto or self.cap <= 1 or self._mark is None or time.monotonic() - self._mark[0] < self.interval_s:
            return
        now = self._sample()
        if now is None:
            return
        if self._choose(now):
            import torch

            torch.set_num_threads(self.threads)
        self._mark = now

    def _choose(self, now: tuple[float, float, float] | None) -> bool:
        """Threads from the other processes' CPU use since the last mark; True when the choice changed."""
        if now is None or self._mark is None or now[0] <= self._mark[0]:
            return False
        wall, busy, own = (b - a for a, b in zip(self._mark, now))
        others = max(0.0, (busy - own) / wall)  # CPUs' worth of time the other processes ran on our CPUs
        threads = max(1, min(self.cap, self.cap - round(others)))
        self.history.append((round(now[0] - self._start, 2), threads, round(others, 2)))
        changed = threads != self.threads
        if changed:
            log.info("intra-op threads %d -> %d (other processes kept %.1f of %d CPUs busy)", self.threads, threads, others, self.cap)
            self.threads = threads
        return changed
