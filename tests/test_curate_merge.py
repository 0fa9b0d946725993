"""`curate merge`: lerobot's aggregate_datasets plus what it drops (the annotation table, value provenance),
checked on real LeRobot v3.0 files: frames, videos and columns land where the re-indexed table says."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from curate.cli import main as curate
from robodata.annotations import ANNOTATIONS_FILE, read_annotations
from robodata.columns import PROVENANCE_FILE, commit_columns
from robodata.dataset import frame_table, open_dataset, read_column, read_episode


@pytest.fixture()
def two_labelled(synthetic_bench, tmp_path):
    """Two copies of the synthetic bench (6 episodes each), both with a `value` column of one model; the
    second's values shifted so that a mix-up of rows would show."""
    roots = [tmp_path / "a", tmp_path / "b"]
    for k, root in enumerate(roots):
        shutil.copytree(synthetic_bench, root)
        n = len(frame_table(root)["index"])
        values = (np.arange(n, dtype=np.float32) % 7) / 10 + 0.3 * k
        commit_columns(root, {"value": values}, {"value": {"model": "m", "fingerprint": "f0", "labelled_at": str(k)}})
    return roots


def test_merge_keeps_annotations_values_and_videos_in_step(two_labelled, tmp_path, capsys):
    a, b = two_labelled
    out = tmp_path / "merged"
    curate(["merge", str(a), str(b), "--out", str(out)])
    assert "12 episodes (4 expert, 4 hesitation, 4 retry)" in capsys.readouterr().out

    merged, src_a, src_b = open_dataset(out), open_dataset(a), open_dataset(b)
    assert merged.meta.total_episodes == 12 and len(merged) == len(src_a) + len(src_b)
    rows = read_annotations(out)
    ann_a, ann_b = read_annotations(a), read_annotations(b)
    assert rows == ann_a + [dict(r, episode_index=r["episode_index"] + 6) for r in ann_b]
    # Values follow their frames (b's rows after a's), and lerobot itself returns them.
    np.testing.assert_array_equal(read_column(out, "value"), np.r_[read_column(a, "value"), read_column(b, "value")])
    assert float(merged[len(src_a)]["value"]) == pytest.approx(float(read_column(b, "value")[0]))
    # Episode 6 + e of the merge shows b's episode e: same length, same decoded frames.
    cam = merged.meta.video_keys[0]
    for e in (0, 5):
        mine, theirs = read_episode(merged, 6 + e, cam), read_episode(src_b, e, cam)
        assert len(mine.frames) == rows[6 + e]["T"] == len(theirs.frames)
        np.testing.assert_array_equal(mine.frames, theirs.frames)
    prov = json.loads((out / PROVENANCE_FILE).read_text())["value"]
    assert (prov["model"], prov["fingerprint"]) == ("m", "f0")
    assert [(m["episodes"], m["labelled_at"]) for m in prov["merged_from"]] == [([0, 5], "0"), ([6, 11], "1")]


def test_unannotated_input_merges_as_expert_and_bad_merges_write_nothing(two_labelled, tmp_path, capsys):
    a, b = two_labelled
    (b / ANNOTATIONS_FILE).unlink()
    out = tmp_path / "merged"
    curate(["merge", str(a), str(b), "--out", str(out)])
    rows = read_annotations(out)
    assert [r["mode"] for r in rows[6:]] == ["expert"] * 6 and [r["episode_index"] for r in rows] == list(range(12))
    assert [r["T"] for r in rows[6:]] == [len(read_episode(open_dataset(b), e).frames) for e in range(6)]

    # Refused up front, one line each, nothing written: an existing --out, values of another model.
    for args, message in (
        (["--out", str(out)], "exists; choose a new directory"),
        (["--out", str(tmp_path / "x")], "differs from"),
    ):
        if message == "differs from":
            commit_columns(b, {"value": read_column(b, "value")}, {"value": {"model": "other", "fingerprint": "f1"}})
        with pytest.raises(SystemExit) as err:
            curate(["merge", str(a), str(b), *args])
        assert err.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.*"))
