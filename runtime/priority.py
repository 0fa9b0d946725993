"""Keep this process's threads at normal scheduling priority.

The SVT-AV1 encoder behind lerobot's video writing puts its threads, and the thread that calls it, under
SCHED_FIFO priority 99 when the process runs as root (as in most containers). Such a thread starves every
other job on the machine whatever `nice` says, and processes spawned afterwards (generation workers)
inherit the policy. Observed here during `robosuite_eval generate`: two workers at FIFO 99 held both cores.
The encoder gives no switch for it, so the toolkit demotes any real-time thread of its own process back to
SCHED_OTHER, once now and then every `period_s` from a daemon thread."""

from __future__ import annotations

import os
import threading
import time

_STARTED = threading.Event()


def demote_realtime_threads() -> int:
    """Move every SCHED_FIFO/SCHED_RR thread of this process to SCHED_OTHER; returns how many were moved."""
    moved = 0
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:  # not Linux
        return 0
    for tid in tids:
        try:
            if os.sched_getscheduler(int(tid)) in (os.SCHED_FIFO, os.SCHED_RR):
                os.sched_setscheduler(int(tid), os.SCHED_OTHER, os.sched_param(0))
                moved += 1
        except OSError:  # the thread ended meanwhile, or no permission (then it was never raised either)
            pass
    return moved


def keep_normal_priority(period_s: float = 2.0) -> None:
    """Demote real-time threads now and every `period_s` seconds for the life of the process (idempotent)."""
    demote_realtime_threads()
    if _STARTED.is_set() or not hasattr(os, "sched_getscheduler"):
        return
    _STARTED.set()

    def loop() -> None:
        while True:
            time.sleep(period_s)
            demote_realtime_threads()

    threading.Thread(target=loop, daemon=True, name="normal-priority").start()
