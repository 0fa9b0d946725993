"""runtime.priority: a real-time thread of our own process is put back to normal scheduling."""

import json
import os
import subprocess
import sys
import threading

from runtime.priority import keep_normal_priority

# Run in a fresh interpreter: the test process itself keeps a demoting thread (tests/conftest.py) that would
# race this check.
PROBE = """
import json, os, threading
from runtime.priority import demote_realtime_threads

done, raised, policy = threading.Event(), threading.Event(), []
def worker():
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))  # 0: this thread (Linux tid semantics)
        policy.append("raised")
    except PermissionError:
        policy.append("not permitted")
    raised.set()
    done.wait(10)
    policy.append(os.sched_getscheduler(0))
t = threading.Thread(target=worker)
t.start()
raised.wait(10)
moved = demote_realtime_threads()
done.set()
t.join()
print(json.dumps({"moved": moved, "policy": policy}))
"""


def test_fifo_thread_is_demoted():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if res["policy"][0] == "raised":  # root (CI, containers): the case the module exists for
        assert res["moved"] == 1
    else:  # an unprivileged user cannot raise a thread, so nothing is real-time and nothing moves
        assert res["moved"] == 0
    assert res["policy"][1] == os.SCHED_OTHER


def test_keep_normal_priority_starts_one_thread():
    keep_normal_priority(period_s=60)
    keep_normal_priority(period_s=60)
    assert sum(t.name == "normal-priority" for t in threading.enumerate()) == 1
