"""Embedded Ray that cannot start: retried once, then a one-line warning and in-process labelling (the
values still get written); a cluster named by --address never falls back: its failure is one line."""

import os

import numpy as np
import pytest
import ray

from curate.cli import main as curate
from robodata.dataset import open_dataset, read_column

# The two start-up failures seen on a loaded 2-core machine (issue 18), as Ray raises them.
GCS_ERRORS = [
    ray.exceptions.RaySystemError(
        "Failed to connect to GCS. Please check if the GCS server is running "
        "and if this node can connect to the head node."
    ),
    Exception(
        "The current node timed out during startup. This could happen because some of the raylet "
        "failed to startup or the GCS has become overloaded."
    ),
]


def _time_values(dataset):
    ds = open_dataset(dataset)
    return np.concatenate([np.arange(int(e["length"])) / (int(e["length"]) - 1) for e in ds.meta.episodes])


@pytest.mark.parametrize("error", GCS_ERRORS, ids=["gcs-connect", "gcs-overloaded"])
def test_embedded_ray_start_failure_falls_back_to_in_process(dataset, monkeypatch, capsys, error):
    calls = []
    auth_before = os.environ.get("RAY_AUTH_MODE")

    def failing_init(*args, **kwargs):
        calls.append(kwargs)
        raise error

    assert not ray.is_initialized()  # else RaySession would reuse the running Ray and never start one
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "init", failing_init)
    curate(["label-values", str(dataset), "--model", "time"])  # --address auto: the embedded Ray
    err = capsys.readouterr().err
    assert len(calls) == 2  # one clean retry
    assert all(c["address"] == "local" and c["include_dashboard"] is False and "_system_config" in c for c in calls)
    warning = [line for line in err.splitlines() if line.startswith("warning: embedded Ray did not start")]
    assert len(warning) == 1 and "labelling in this process instead" in warning[0]
    assert str(error).splitlines()[0][:40] in warning[0]
    assert "Traceback" not in err
    np.testing.assert_allclose(read_column(dataset, "value"), _time_values(dataset), atol=1e-6)  # written anyway
    temp_dirs = [c["_temp_dir"] for c in calls]
    assert len(set(temp_dirs)) == 2 and not any(os.path.exists(d) for d in temp_dirs)  # a fresh one each, removed
    assert os.environ.get("RAY_AUTH_MODE") == auth_before  # the environment is restored


def test_named_cluster_that_does_not_answer_is_one_line_and_no_fallback(dataset, capsys):
    with pytest.raises(SystemExit) as exit_info:
        curate(["label-values", str(dataset), "--model", "time", "--address", "ray://127.0.0.1:1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if "ray://127.0.0.1:1" in line]
    assert len(lines) == 1 and "error: cannot join the Ray cluster at ray://127.0.0.1:1" in lines[0]
    assert "--address local" in lines[0]
    assert "Traceback" not in err and "labelling in this process" not in err
    assert "value" not in open_dataset(dataset).meta.features  # nothing was labelled in-process


def test_named_cluster_failure_is_not_retried_in_process(dataset, monkeypatch, capsys):
    """A --address HOST:PORT whose ray.init raises the GCS error: one error line, no fallback, no retry."""
    calls = []

    def failing_init(*args, **kwargs):
        calls.append(kwargs)
        raise GCS_ERRORS[0]

    monkeypatch.setattr(ray, "init", failing_init)
    with pytest.raises(SystemExit):
        curate(["label-values", str(dataset), "--model", "time", "--address", "127.0.0.1:6379"])
    err = capsys.readouterr().err.strip()
    assert len(calls) == 1
    assert err.count("\n") == 0 and "cannot join the Ray cluster at 127.0.0.1:6379" in err
    assert "RaySystemError" in err and "Failed to connect to GCS" in err


def test_gcs_failure_right_after_init_counts_as_a_failed_start(dataset, monkeypatch, capsys):
    """ray.init returns but the GCS state client cannot connect (Ray connects it lazily): still the fallback."""
    probes = []

    def failing_probe():
        probes.append(1)
        raise GCS_ERRORS[0]

    assert not ray.is_initialized()
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "init", lambda *a, **k: None)
    monkeypatch.setattr(ray, "cluster_resources", failing_probe)
    curate(["label-values", str(dataset), "--model", "time"])
    err = capsys.readouterr().err
    assert len(probes) == 2 and "labelling in this process instead" in err and "Traceback" not in err
    np.testing.assert_allclose(read_column(dataset, "value"), _time_values(dataset), atol=1e-6)
