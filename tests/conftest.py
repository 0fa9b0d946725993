import os
import shutil

# Tests never touch the network, render offscreen and stay polite on a 2-core machine.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from runtime.priority import keep_normal_priority  # noqa: E402

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
