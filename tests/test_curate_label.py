"""curate label-values / advantages / flag on real LeRobot v3.0 files."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from curate.cli import main as curate
from robodata.columns import commit_columns, new_tree_path, old_tree_path, recover
from robodata.dataset import open_dataset, read_column

ROOT = Path(__file__).resolve().parents[1]


def expected_time_values(ds):
    return np.concatenate([np.arange(int(e["length"])) / (int(e["length"]) - 1) for e in ds.meta.episodes])


def test_label_in_process_then_lerobot_reads_the_column(dataset, capsys):
    curate(["label-values", str(dataset), "--model", "time", "--address", "local"])
    ds = open_dataset(dataset)
    assert ds.meta.features["value"]["dtype"] == "float32"
    item = ds[5]
    assert float(item["value"]) == pytest.approx(5 / (int(ds.meta.episodes[0]["length"]) - 1), abs=1e-6)
    np.testing.assert_allclose(read_column(dataset, "value"), expected_time_values(ds), atol=1e-6)
    stats = json.loads((dataset / "meta" / "stats.json").read_text())["value"]
    assert stats["min"] == [0.0] and stats["max"] == [1.0] and stats["count"] == [ds.meta.total_frames]
    prov = json.loads((dataset / "meta" / "value_labels.json").read_text())["value"]
    assert prov["model"] == "time" and prov["camera"] == "observation.images.front"
    assert not new_tree_path(dataset).exists() and not (dataset / ".curate_staging").exists()
    # Same model again: nothing to do; a different model needs --overwrite.
    curate(["label-values", str(dataset), "--model", "time", "--address", "local"])
    assert "nothing to do" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        curate(
            [
                "label-values",
                str(dataset),
                "--model",
                "time",
                "--camera",
                "front",
                "--address",
                "local",
                "--column",
                "frame_index",
            ]
        )


def test_advantages_hand_checked_at_episode_ends(dataset):
    curate(["label-values", str(dataset), "--model", "time", "--address", "local"])
    curate(["advantages", str(dataset), "-H", "10"])
    ds = open_dataset(dataset)
    adv = read_column(dataset, "advantage")
    T0 = int(ds.meta.episodes[0]["length"])
    assert adv[0] == pytest.approx(9 / (T0 - 1), abs=1e-6)  # V(9) - V(0)
    assert adv[T0 - 3] == pytest.approx(2 / (T0 - 1), abs=1e-6)  # clipped at the episode's last frame
    assert adv[T0 - 1] == 0.0 and adv[T0] == pytest.approx(9 / (int(ds.meta.episodes[1]["length"]) - 1), abs=1e-6)
    assert float(ds[0]["advantage"]) == pytest.approx(adv[0])


def test_sidecar_leaves_the_dataset_untouched(dataset, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in dataset.rglob("*") if p.is_file()}
    out = tmp_path / "values.parquet"
    curate(["label-values", str(dataset), "--model", "time", "--address", "local", "--out", str(out)])
    import pyarrow.parquet as pq

    t = pq.read_table(out)
    assert t.column_names == ["index", "episode_index", "frame_index", "value"]
    np.testing.assert_allclose(t["value"].to_numpy(), expected_time_values(open_dataset(dataset)), atol=1e-6)
    assert {p: p.stat().st_mtime_ns for p in dataset.rglob("*") if p.is_file()} == before


def test_bad_camera_lists_valid_keys(dataset, capsys):
    with pytest.raises(SystemExit):
        curate(["label-values", str(dataset), "--model", "time", "--camera", "wrist", "--address", "local"])
    assert "observation.images.front" in capsys.readouterr().err


def test_corrupt_video_fails_that_episode_only(dataset, capsys):
    # Cut the shared video file so the last episodes cannot be decoded.
    video = next((dataset / "videos").rglob("*.mp4"))
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 3])
    with pytest.raises(SystemExit):
        curate(["label-values", str(dataset), "--model", "time", "--address", "local", "--retries", "0"])
    err = capsys.readouterr().err
    assert "episodes failed" in err and "nothing was written to the dataset" in err
    assert "value" not in json.loads((dataset / "meta" / "info.json").read_text())["features"]
    assert len(list((dataset / ".curate_staging" / "value").glob("episode_*.npy"))) >= 1  # the good ones kept


def test_recover_completes_a_fallback_swap_cut_in_the_middle(dataset):
    commit_columns(dataset, {"v2": np.zeros(open_dataset(dataset).meta.total_frames, np.float32)}, {"v2": {}})
    # Simulate a kill between the two renames of the fallback swap: old tree aside, new tree complete.
    new = new_tree_path(dataset)
    shutil.copytree(dataset, new)
    (new / ".curate_complete").write_text("complete\n")
    os.rename(dataset, old_tree_path(dataset))
    recover(dataset)
    assert dataset.is_dir() and not new.exists() and not old_tree_path(dataset).exists()
    assert open_dataset(dataset).meta.features["v2"]["dtype"] == "float32"


def test_label_on_real_ray_workers(dataset):
    token = Path.home() / ".ray" / "auth_token"
    had_token = token.exists()
    curate(["label-values", str(dataset), "--model", "time", "--workers", "2"])
    np.testing.assert_allclose(read_column(dataset, "value"), expected_time_values(open_dataset(dataset)), atol=1e-6)
    import ray

    assert not ray.is_initialized()  # the embedded cluster is stopped
    assert token.exists() == had_token  # and left no auth token behind to confuse later runs


SLOW_MODEL = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from value_labeling.models import register_value_model
    from value_labeling.models.reference import TimeModel

    class SlowTime(TimeModel):
        name = "slow-time"
        def predict(self, frames, fps, instruction):
            with open(os.environ["CALL_LOG"], "a") as f:
                f.write(f"{len(frames)}\\n")
            time.sleep(float(os.environ.get("SLEEP", "0")))
            return super().predict(frames, fps, instruction)

    register_value_model("slow-time")(SlowTime)
    from curate.cli import main
    main(sys.argv[1:])
""")


def test_killed_run_resumes_without_recomputing(dataset, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SLOW_MODEL)
    log1, log2 = tmp_path / "calls1.log", tmp_path / "calls2.log"
    args = [sys.executable, str(script), "label-values", str(dataset), "--model", "slow-time", "--address", "local"]
    env = {**os.environ, "CALL_LOG": str(log1), "SLEEP": "1.0"}
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    staging = dataset / ".curate_staging" / "value"
    deadline = time.time() + 120
    while len(list(staging.glob("episode_*.npy"))) < 2 and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    staged = len(list(staging.glob("episode_*.npy")))
    assert 2 <= staged < 6, "the kill must land mid-run"
    info = json.loads((dataset / "meta" / "info.json").read_text())
    assert "value" not in info["features"]  # unchanged and loadable
    open_dataset(dataset)

    env = {**os.environ, "CALL_LOG": str(log2), "SLEEP": "0"}
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"resuming: {staged} of 6 episodes already labelled" in done.stderr
    assert len(log2.read_text().split()) == 6 - staged  # finished episodes were not recomputed
    np.testing.assert_allclose(read_column(dataset, "value"), expected_time_values(open_dataset(dataset)), atol=1e-6)


def test_flag_finds_the_annotated_segments(dataset, capsys):
    from curate.flag import flag_dataset, segment_scores
    from robodata.annotations import read_annotations
    from robodata.ground_truth import progress_curve

    ann = read_annotations(dataset)
    gt = np.concatenate([progress_curve(a["mode"], a["T"], a["m"], a["n"]) for a in ann]).astype(np.float32)
    commit_columns(dataset, {"value": gt}, {"value": {"model": "ground-truth"}})
    rows = flag_dataset(dataset, "value", 10.0)
    scores = segment_scores(rows, ann)
    assert scores["precision"] == 1.0 and scores["recall"] == 1.0
    curate(["flag", str(dataset)])
    assert "2 stalls, 2 falls" in capsys.readouterr().out
