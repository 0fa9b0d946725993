import os
import shutil

# Tests never touch the network, render offscreen and stay polite on a 2-core machine.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sys  # noqa: E402

import absl.logging  # noqa: E402
import pytest  # noqa: E402

from runtime.priority import keep_normal_priority  # noqa: E402

# absl (dm_control's logging, imported by the AgileX (sim) scene) creates a handler on the sys.stderr of its
# import, and closes that stream when logging's handlers are shut down unless it is the sys.stderr of that
# moment. uvicorn's logging setup (`policy_ft serve`, `value_labeling annotate`) shuts every handler down; under
# pytest's capture the stream is then the session's capture file, and the run dies ("lost sys.stderr"). The
# process's own stderr is never closed by it.
absl.logging.get_absl_handler().python_handler.stream = sys.__stderr__

# Writing a LeRobot video raises the writing thread to real-time priority as root (runtime.priority); keep the
# test process, and what it spawns afterwards (Ray workers, servers, the browser), at normal priority.
keep_normal_priority()


@pytest.fixture(scope="session")
def synthetic_bench(tmp_path_factory):
    """A small annotated LeRobot v3.0 dataset: 2 expert, 2 hesitation, 2 retry episodes."""
    from testing.synthetic_bench import make_synthetic_bench

    return make_synthetic_bench(tmp_path_factory.mktemp("bench") / "synthetic", 2, 2, 2, seed=0)


@pytest.fixture()
def dataset(synthetic_bench, tmp_path):
    """A private, writable copy of the synthetic bench (tests that label or rewrite a dataset)."""
    dst = tmp_path / "ds"
    shutil.copytree(synthetic_bench, dst)
    return dst
