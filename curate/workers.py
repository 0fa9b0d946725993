"""Labelling many episodes (`value_labeling.models.label_episode` each), in-process or on Ray actors
that hold the model once.

Both executors yield `(episode, values | None, error | None)` as episodes finish, so the caller can
stage each result the moment it exists. A failed episode is retried `retries` times and then reported;
it never stops the others. On Ray, episodes are the unit of work and each actor (a model replica)
reserves a fraction of a CPU: on a 2-CPU machine whole-CPU actors would leave nothing for Ray's own
work and the job would hang.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from robodata.dataset import open_dataset
from value_labeling.models import label_episode

_AUTH_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")

#: The reaper of an embedded Ray cluster (run as `python -c REAPER FD TEMP_DIR`, in its own session).
#: It blocks on a pipe whose only writer is the driver; EOF means the driver has exited, however it
#: died (kill -9 included). It then kills every process started with the cluster's private temp dir
#: on its command line (raylet, GCS, dashboard and runtime-env agents, monitors; Ray leaves two
#: agents running after a SIGKILLed driver) and removes the temp dir. After a clean shutdown it
#: finds nothing to do.
REAPER = r"""
import os, shutil, signal, sys, time
fd, tmp = int(sys.argv[1]), sys.argv[2]
while os.read(fd, 1):
    pass
def ours():
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if int(pid) != os.getpid() and tmp.encode() in cmd:
            found.append(int(pid))
    return found
for sig in (signal.SIGTERM, signal.SIGKILL):
    for pid in ours():
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    for _ in range(30):
        if not ours():
            break
        time.sleep(0.1)
shutil.rmtree(tmp, ignore_errors=True)
"""


def _error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def label_in_process(root: Path, model_spec: str, camera: str, episodes: list[int], retries: int) -> Iterator:
    from value_labeling.models import load_value_model

    ds = open_dataset(root)
    model = load_value_model(model_spec)
    for ep in episodes:
        error = None
        for _ in range(retries + 1):
            try:
                yield ep, label_episode(ds, model, ep, camera), None
                break
            except Exception as err:  # noqa: BLE001  (reported per episode)
                error = _error_text(err)
        else:
            yield ep, None, error


class RayStartError(RuntimeError):
    """The embedded Ray cluster did not come up (after its retry): the caller may label in-process instead."""


#: Ray settings of the embedded cluster, chosen for a loaded 2-core machine: no worker processes
#: started ahead of the first task (fewer processes competing with the GCS and raylet while they come
#: up), no metrics collection, and generous allowances for workers to register and for the GCS's
#: health checks (a busy machine stalls them for tens of seconds; the defaults then declare the node
#: dead). All are RayConfig entries (`ray.init(_system_config=...)`, Ray 2.x).
EMBEDDED_SYSTEM_CONFIG = {
    "prestart_worker_first_driver": False,
    "enable_worker_prestart": False,
    "enable_metrics_collection": False,
    "worker_register_timeout_seconds": 300,
    "health_check_timeout_ms": 60_000,
    "health_check_failure_threshold": 10,
}
#: The driver's wait for the GCS (RayConfig `py_gcs_connect_timeout_s`, read from the environment by
#: the driver's core worker; Ray's default is 20 s, which "Failed to connect to GCS" on a busy machine).
EMBEDDED_ENV = {"RAY_py_gcs_connect_timeout_s": "180"}
START_ATTEMPTS = 2


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


class RaySession:
    """Embedded local Ray (started here, stopped on exit, its temp dir removed) or a cluster address.

    The embedded cluster gets `START_ATTEMPTS` tries, each with a fresh temp dir; when none comes up,
    `RayStartError` (one line) lets the caller fall back to in-process labelling. A named cluster
    (`--address HOST:PORT`, `ray://...`, or RAY_ADDRESS) never falls back: failing to join it is a
    `ValueError` with one line, because the user asked for that cluster.
    """

    def __init__(self, address: str, num_cpus: int | None = None, attempts: int = START_ATTEMPTS):
        self.address, self.num_cpus, self.tmp, self.attempts = address, num_cpus, None, attempts
        self.owned = False

    @property
    def embedded(self) -> bool:
        return self.address == "auto" and not os.environ.get("RAY_ADDRESS")

    def __enter__(self):
        import ray

        if ray.is_initialized():  # e.g. tests sharing one session: reuse it, leave it running
            return self
        kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        if not self.embedded:
            # As in Ray itself, RAY_ADDRESS names the cluster to join (e.g. inside `ray job submit`).
            address = os.environ["RAY_ADDRESS"] if self.address == "auto" else self.address
            self.owned = True
            try:
                ray.init(address=address, **kwargs)
            except Exception as err:  # noqa: BLE001  (any failure to join is the same user-facing fact)
                self.__exit__()
                raise ValueError(
                    f"cannot join the Ray cluster at {address} ({_first_line(err)}); check that it "
                    "is running (`ray status`), or pass --address auto (an embedded Ray) or "
                    "--address local (no Ray)"
                ) from None
            return self
        errors = []
        for attempt in range(self.attempts):
            try:
                self._start_embedded(ray, kwargs)
                return self
            except Exception as err:  # noqa: BLE001  (retried, then reported in one line)
                errors.append(_first_line(err))
                if attempt + 1 < self.attempts:
                    print(f"embedded Ray did not start ({errors[-1]}); retrying", file=sys.stderr)
        raise RayStartError(f"embedded Ray did not start after {self.attempts} attempts ({errors[-1]})")

    def _start_embedded(self, ray, kwargs: dict) -> None:
        self.owned = True
        # A private temp dir (short path: Ray's socket paths are length-limited) so nothing left
        # behind can block or be joined by a later run.
        self.tmp = tempfile.mkdtemp(prefix="curate-ray-", dir="/tmp")
        self._start_reaper()
        # Ray 2.5x enables token auth for new local clusters and writes ~/.ray/auth_token, which
        # later `--address` connections then present to other clusters. The embedded cluster is
        # private to this process and listens on loopback only, so it runs without a token file.
        self.saved_env = {k: os.environ.get(k) for k in (*_AUTH_ENV, *EMBEDDED_ENV)}
        os.environ["RAY_AUTH_MODE"] = "disabled"
        os.environ.update({k: os.environ.get(k, v) for k, v in EMBEDDED_ENV.items()})
        try:
            ray.init(
                address="local",
                num_cpus=self.num_cpus or os.cpu_count(),
                _temp_dir=self.tmp,
                _node_ip_address="127.0.0.1",
                _system_config=dict(EMBEDDED_SYSTEM_CONFIG),
                runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}},
                **kwargs,
            )
            # The GCS state client connects lazily: probe it here, so its failure ("Failed to connect
            # to GCS") counts as a failed start (retried, then the fallback), not as a labelling error.
            ray.cluster_resources()
        except BaseException:
            self.__exit__()  # a failed start leaves no processes, temp dir or changed environment behind
            raise

    def _start_reaper(self) -> None:
        read_fd, self.reaper_fd = os.pipe()  # not inheritable: Ray's processes do not hold the write end
        self.reaper = subprocess.Popen(
            [sys.executable, "-c", REAPER, str(read_fd), self.tmp],
            pass_fds=(read_fd,),
            start_new_session=True,
            stdin=subprocess.DEVNULL,
        )
        os.close(read_fd)

    def __exit__(self, *exc):
        import ray

        if not self.owned:
            return False
        self.owned = False
        with contextlib.suppress(Exception):
            ray.shutdown()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            os.close(self.reaper_fd)  # the reaper wakes, kills anything left of this cluster, exits
            try:
                self.reaper.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.reaper.kill()
            self.tmp = None
            for k, v in self.saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return False


def _actor_class():
    import ray

    @ray.remote(max_restarts=1)
    class LabelActor:
        """One model replica: loads the dataset handle and the model once, labels episodes on request."""

        def __init__(self, root: str, model_spec: str, camera: str):
            from value_labeling.models import load_value_model

            self.ds = open_dataset(root)
            self.model = load_value_model(model_spec)
            self.camera = camera

        def label(self, ep: int):
            try:
                return ep, label_episode(self.ds, self.model, ep, self.camera), None
            except Exception as err:  # noqa: BLE001
                return ep, None, f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=3)}"

    return LabelActor


def label_on_ray(
    root: Path,
    model_spec: str,
    camera: str,
    episodes: list[int],
    retries: int,
    workers: int,
    cpus_per_worker: float,
    gpus_per_worker: float | None,
) -> Iterator:
    import ray

    LabelActor = _actor_class()
    n_actors = max(1, min(workers, len(episodes)))
    opts = {"num_cpus": cpus_per_worker}
    gpus = ray.cluster_resources().get("GPU", 0)
    if gpus_per_worker is None:  # GPU actors whenever GPUs exist
        gpus_per_worker = min(1.0, gpus / n_actors) if gpus > 0 else 0.0
    if gpus_per_worker > 0:
        if gpus <= 0:
            raise ValueError(f"--gpus-per-worker {gpus_per_worker} but the Ray cluster has no GPUs")
        opts["num_gpus"] = gpus_per_worker
    actors = [LabelActor.options(**opts).remote(str(root), model_spec, camera) for _ in range(n_actors)]
    queue = deque(episodes)
    attempts: dict[int, int] = {}
    in_flight: dict = {}  # ObjectRef -> (actor index, episode)

    def submit(actor_i: int) -> None:
        if queue:
            ep = queue.popleft()
            attempts[ep] = attempts.get(ep, 0) + 1
            in_flight[actors[actor_i].label.remote(ep)] = (actor_i, ep)

    for i in range(n_actors):  # two in flight per actor keeps the decode and the model busy
        submit(i)
        submit(i)
    while in_flight:
        (ref,), _ = ray.wait(list(in_flight), num_returns=1)
        actor_i, ep = in_flight.pop(ref)
        try:
            _, values, error = ray.get(ref)
        except Exception as err:  # noqa: BLE001  (actor died: Ray restarts it once)
            values, error = None, _error_text(err)
        if values is None and attempts[ep] <= retries:
            queue.appendleft(ep)
        elif values is None:
            yield ep, None, error
        else:
            yield ep, np.asarray(values, dtype=np.float32), None
        submit(actor_i)
    for a in actors:
        ray.kill(a)
