"""The five writer faults of issue 12, each reproduced: damaged input, full disk, file modes, a
mistyped path, a SIGKILLed driver with an embedded Ray cluster."""

import errno
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robodata.columns import lock_path, new_tree_path, old_tree_path
from robodata.dataset import data_files, read_column

ROOT = Path(__file__).resolve().parents[1]


def _curate(*args):
    """`curate ...` as a user runs it (its own process, the CLI's error path)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "curate.cli", *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_truncated_data_file_is_one_line_naming_the_file(dataset):
    from curate.cli import main as curate

    curate(["label-values", str(dataset), "--model", "time", "--address", "local"])
    bad = data_files(dataset)[0]
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    for cmd in (
        ["label-values", str(dataset), "--model", "time", "--address", "local", "--column", "v2"],
        ["advantages", str(dataset), "-H", "2"],
        ["flag", str(dataset)],
    ):
        r = _curate(*cmd)
        assert r.returncode == 2, r.stderr
        err = [line for line in r.stderr.splitlines() if "error" in line]
        assert len(err) == 1 and str(bad) in err[0] and "Traceback" not in r.stderr, r.stderr


def test_full_disk_is_one_line_and_leaves_no_partial_tree(dataset, monkeypatch, capsys):
    from curate.cli import main as curate
    from robodata import columns

    before = {p.relative_to(dataset): p.read_bytes() for p in dataset.rglob("*") if p.is_file()}
    real = columns._write_data_file

    def write_then_fill_the_disk(src, dst, cols):
        real(src, dst, cols)  # part of the new tree exists when the disk fills
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(columns, "_write_data_file", write_then_fill_the_disk)
    with pytest.raises(SystemExit) as exc:
        curate(["label-values", str(dataset), "--model", "time", "--address", "local"])
    assert exc.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "no space left" in err[0] and str(dataset) in err[0]
    assert not new_tree_path(dataset).exists() and not old_tree_path(dataset).exists()
    after = {
        p.relative_to(dataset): p.read_bytes()
        for p in dataset.rglob("*")
        if p.is_file() and ".curate_staging" not in p.parts
    }
    assert after == before  # the dataset is untouched; the staged episodes wait for the rerun
    monkeypatch.setattr(columns, "_write_data_file", real)
    curate(["label-values", str(dataset), "--model", "time", "--address", "local"])
    assert read_column(dataset, "value").shape[0] > 0


def _modes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_rewrite_keeps_file_and_directory_modes_and_owner(dataset):
    """Directories 2750 and files 640 of another owner (as root) or of another group of ours come back so."""
    from curate.cli import main as curate

    # As root: a foreign owner and group. Otherwise: our last group (chown to another user needs root).
    uid, gid = (12345, 23456) if os.geteuid() == 0 else (-1, (os.getgroups() or [os.getgid()])[-1])
    for p in [dataset, *dataset.rglob("*")]:
        os.chown(p, uid, gid)
        os.chmod(p, 0o2750 if p.is_dir() else 0o640)
    before = _modes(dataset)
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in [dataset, *dataset.rglob("*")]}
    curate(["label-values", str(dataset), "--model", "time", "--address", "local"])
    curate(["advantages", str(dataset), "-H", "2"])
    new_files = {"meta/value_labels.json"}  # written by curate: there is nothing to inherit from
    after = {k: v for k, v in _modes(dataset).items() if k not in new_files}
    assert after == before
    assert {
        (p.stat().st_uid, p.stat().st_gid)
        for p in [dataset, *dataset.rglob("*")]
        if p.relative_to(dataset).as_posix() not in new_files
    } == owners


@pytest.mark.parametrize("make", ["missing", "empty dir", "file"])
def test_not_a_dataset_leaves_no_lock(tmp_path, make):
    target = tmp_path / "not_a_dataset"
    if make == "empty dir":
        target.mkdir()
    elif make == "file":
        target.write_text("x")
    for cmd in (
        ["label-values", str(target), "--model", "time", "--address", "local"],
        ["advantages", str(target), "-H", "2"],
    ):
        r = _curate(*cmd)
        assert r.returncode == 2 and "not a LeRobot dataset" in r.stderr, r.stderr
        assert not lock_path(target).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if make == "missing" else ["not_a_dataset"])


DRIVER = """
import sys, time
from curate.workers import RaySession
with RaySession("auto", num_cpus=1) as s:
    print(s.tmp, flush=True)
    time.sleep(600)
"""


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmd:
            found.append(int(pid))
    return found


def test_sigkilled_driver_leaves_no_ray_process_or_temp_dir():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True, env=env)
    try:
        tmp = driver.stdout.readline().strip()
        assert tmp.startswith("/tmp/curate-ray-"), tmp
        deadline = time.time() + 60  # the agents start a moment after ray.init returns
        while (
            not any(
                "agent" in Path(f"/proc/{p}/cmdline").read_text(errors="replace") for p in _processes_mentioning(tmp)
            )
            and time.time() < deadline
        ):
            time.sleep(0.5)
        assert len(_processes_mentioning(tmp)) >= 3  # raylet, GCS, agents: a real cluster to leave behind
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    deadline = time.time() + 60
    while (_processes_mentioning(tmp) or Path(tmp).exists()) and time.time() < deadline:
        time.sleep(0.5)
    assert _processes_mentioning(tmp) == []
    assert not Path(tmp).exists()
