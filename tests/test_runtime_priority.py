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


POOL_PROBE = """
import json, os
from robosuite_eval.generate import worker_pool

def policy(_):
    return os.sched_getscheduler(0)

if __name__ == "__main__":
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))  # as the video encoder leaves the main thread
        raised = True
    except PermissionError:
        raised = False
    with worker_pool(2) as pool:
        print(json.dumps({"raised": raised, "workers": pool.map(policy, range(4))}))
"""


def test_generation_workers_start_at_normal_priority(tmp_path):
    """Workers spawned by a real-time main thread inherit its policy; the pool's initializer demotes them."""
    script = tmp_path / "probe.py"
    script.write_text(POOL_PROBE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True, env=env
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["workers"] == [os.SCHED_OTHER] * 4
