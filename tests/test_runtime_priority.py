"""runtime.priority: a real-time thread of our own process is put back to normal scheduling."""

import os
import threading

from runtime.priority import demote_realtime_threads, keep_normal_priority


def _raise_to_fifo(done: threading.Event, policy: list) -> None:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))  # 0: this thread (Linux tid semantics)
        policy.append("raised")
    except PermissionError:
        policy.append("not permitted")
    done.wait(10)
    policy.append(os.sched_getscheduler(0))


def test_fifo_thread_is_demoted():
    done, policy = threading.Event(), []
    t = threading.Thread(target=_raise_to_fifo, args=(done, policy))
    t.start()
    while not policy:
        pass
    moved = demote_realtime_threads()
    done.set()
    t.join()
    if policy[0] == "raised":  # root (CI, containers): the case the module exists for
        assert moved == 1
        assert policy[1] == os.SCHED_OTHER
    else:  # an unprivileged user cannot raise a thread, so nothing is real-time and nothing moves
        assert moved == 0
        assert policy[1] == os.SCHED_OTHER


def test_keep_normal_priority_starts_one_thread():
    keep_normal_priority(period_s=60)
    keep_normal_priority(period_s=60)
    assert sum(t.name == "normal-priority" for t in threading.enumerate()) == 1
