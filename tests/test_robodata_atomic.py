"""The one atomic-commit primitive: replace a file or a tree, keep modes, leave nothing on failure."""

import errno
import os
import stat

import pytest

from robodata import atomic


def test_write_json_replaces_and_keeps_mode(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("old")
    os.chmod(p, 0o640)
    atomic.write_json(p, {"a": 1})
    assert p.read_text() == '{\n  "a": 1\n}\n'
    assert stat.S_IMODE(p.stat().st_mode) == 0o640
    assert [f.name for f in tmp_path.iterdir()] == ["x.json"]


def test_replace_file_failure_leaves_target_and_no_temp(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.replace_file(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert p.read_text() == "old" and [f.name for f in tmp_path.iterdir()] == ["x.txt"]


def test_replace_dir_swaps_and_cleans(tmp_path):
    d = tmp_path / "ds"
    d.mkdir()
    (d / "a").write_text("1")
    os.chmod(d, 0o2750)
    with atomic.replace_dir(d, tag="t") as new:
        (new / "b").write_text("2")
    assert sorted(f.name for f in d.iterdir()) == ["b"]
    assert stat.S_IMODE(d.stat().st_mode) == 0o2750
    assert sorted(f.name for f in tmp_path.iterdir()) == ["ds"]


def test_replace_dir_disk_full_removes_partial_tree(tmp_path):
    d = tmp_path / "ds"
    d.mkdir()
    (d / "a").write_text("1")
    with pytest.raises(atomic.DiskFullError, match="no space left"):
        with atomic.replace_dir(d, tag="t") as new:
            (new / "b").write_text("2")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["ds"]
    assert (d / "a").read_text() == "1"


def test_recover_completes_a_swap_cut_between_the_renames(tmp_path):
    d, new, old = tmp_path / "ds", tmp_path / ".ds.t-new", tmp_path / ".ds.t-old"
    old.mkdir()
    (old / "a").write_text("old")
    new.mkdir()
    (new / "a").write_text("new")
    (new / atomic.MARKER).write_text("complete\n")
    atomic.recover_dir(d, new, old)
    assert (d / "a").read_text() == "new" and not (d / atomic.MARKER).exists()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["ds"]
