"""`curate filter` on a real RoboSuite dataset with known hesitations (values: the bench's ground truth).

The stall cut must remove the labelled stalls and little else, the output must be a LeRobot v3.0 dataset
that lerobot loads and trains on, with videos that decode to exactly the kept source frames.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.cli import main
from curate.config import StallCutConfig
from curate.filter import (
    SOURCE_FRAMES_FILE,
    choose_drops,
    report_dir,
    runs,
    stall_cut_mask,
)
from robodata.annotations import read_annotations
from robodata.columns import commit_columns
from robodata.dataset import episode_rows, frame_table, open_dataset, read_episode_frames
from robodata.ground_truth import progress_curve

CAMERAS = ("observation.images.agentview", "observation.images.robot0_eye_in_hand")


@pytest.fixture(scope="module")
def hes_ds(tmp_path_factory):
    """2 lift episodes with a hesitation each (a 'micro' wiggle, a 'stop'), values = ground-truth curves."""
    from robosuite_eval.config import GenerateConfig
    from robosuite_eval.generate import run_generate

    root = tmp_path_factory.mktemp("filter") / "lift_hes"
    # generator v1 (pinned: v2 is the default): its seed-0 episodes are the 'micro' and 'stop' styles above
    run_generate(
        GenerateConfig(
            out=root, task="lift", mode="hesitation", episodes=2, seed=0, image_size=32, workers=0, generator="v1"
        )
    )
    frames = frame_table(root)
    rows = episode_rows(frames)
    values = np.zeros(len(frames["index"]), dtype=np.float32)
    for a in read_annotations(root):
        values[frames["index"][rows[a["episode_index"]]]] = progress_curve(a["mode"], a["T"], a["m"], a["n"])
    commit_columns(root, {"value": values}, {"value": {"model": "ground-truth (eq. B.2)"}})
    return root


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _frames(ds, ep):
    return {cam: read_episode_frames(ds, ep, cam).astype(np.int16) for cam in CAMERAS}


@pytest.fixture(scope="module")
def cut_out(hes_ds, tmp_path_factory):
    out = tmp_path_factory.mktemp("filtered") / "lift_clean"
    before = _tree_digest(hes_ds)
    main(["filter", str(hes_ds), "--out", str(out), "--cut", "stalls"])
    assert _tree_digest(hes_ds) == before, "the source dataset was modified"
    return out


def test_cut_removes_labelled_stalls_and_little_else(hes_ds, cut_out):
    table = pq.read_table(cut_out / SOURCE_FRAMES_FILE).to_pandas()
    ann = read_annotations(hes_ds)
    non_stall_total = non_stall_cut = 0
    for a in ann:
        kept = set(table.loc[table.source_episode_index == a["episode_index"], "source_frame_index"])
        stall = set(range(a["m"], a["n"] + 1))
        assert len(stall - kept) >= 0.9 * len(stall), (a, sorted(stall & kept))
        other = set(range(a["T"])) - stall
        non_stall_total += len(other)
        non_stall_cut += len(other - kept)
    assert non_stall_cut <= 0.05 * non_stall_total, (non_stall_cut, non_stall_total)


def test_output_is_a_consistent_lerobot_dataset(hes_ds, cut_out):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset("local/lift_clean", root=cut_out)
    table = pq.read_table(cut_out / SOURCE_FRAMES_FILE).to_pandas()
    info = json.loads((cut_out / "meta" / "info.json").read_text())
    assert ds.meta.total_episodes == 2 and len(ds) == len(table) == info["total_frames"]
    hf = ds.hf_dataset.with_format("numpy")
    np.testing.assert_array_equal(hf["index"], np.arange(len(ds)))
    np.testing.assert_array_equal(hf["episode_index"], table["episode_index"])
    np.testing.assert_array_equal(hf["frame_index"], table["frame_index"])
    np.testing.assert_allclose(hf["timestamp"], table["frame_index"] / ds.fps, atol=1e-6)
    # the value column travels with its frames and keeps stats
    src = LeRobotDataset("local/lift_hes", root=hes_ds).hf_dataset.with_format("numpy")
    np.testing.assert_array_equal(hf["value"], src["value"][table["source_index"].to_numpy()])
    np.testing.assert_array_equal(hf["observation.state"], src["observation.state"][table["source_index"].to_numpy()])
    stats = json.loads((cut_out / "meta" / "stats.json").read_text())
    assert stats["value"]["count"] == [len(ds)] and stats["observation.state"]["count"] == [len(ds)]
    for ep in range(2):
        e = ds.meta.episodes[ep]
        assert e["length"] == int((table.episode_index == ep).sum())
        for cam in CAMERAS:
            assert e[f"videos/{cam}/to_timestamp"] - e[f"videos/{cam}/from_timestamp"] == pytest.approx(
                e["length"] / ds.fps
            )
    item = ds[len(ds) - 1]  # lerobot's own __getitem__ decodes a frame at its new timestamp
    assert tuple(item[CAMERAS[0]].shape) == (3, 32, 32)


def test_videos_decode_to_exactly_the_kept_frames(hes_ds, cut_out):
    src, out = open_dataset(hes_ds), open_dataset(cut_out)
    table = pq.read_table(cut_out / SOURCE_FRAMES_FILE).to_pandas()
    for ep in range(out.meta.total_episodes):
        rows = table[table.episode_index == ep]
        sf = rows.source_frame_index.to_numpy()
        s_frames, o_frames = _frames(src, int(rows.source_episode_index.iloc[0])), _frames(out, ep)
        for cam in CAMERAS:
            o, s = o_frames[cam], s_frames[cam]
            assert len(o) == len(sf)
            aligned = np.abs(o - s[sf]).mean(axis=(1, 2, 3))  # (L',) per-frame error of a second AV1 encode
            shifted = np.abs(o[:-3] - s[sf[3:]]).mean()  # the same frames misaligned by 3
            assert aligned.max() < 6.0 and aligned.mean() < 0.5 * shifted, (cam, aligned.max(), shifted)


def test_report_beside_the_output(cut_out):
    rep = report_dir(cut_out)
    summary = json.loads((rep / "summary.json").read_text())
    assert summary["episodes_after"] == 2 and summary["frames_after"] < summary["frames_before"]
    lines = (rep / "episodes.csv").read_text().splitlines()
    assert lines[0].startswith("source_episode,episode,score") and len(lines) == 3
    assert (rep / "value_curves.png").stat().st_size > 10_000


def test_lerobot_train_runs_on_the_filtered_dataset(cut_out, tmp_path):
    """lerobot's own trainer, a tiny ACT on the CPU, offline: two optimisation steps."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    cmd = [
        str(Path(sys.executable).parent / "lerobot-train"),
        "--dataset.repo_id=local/lift_clean",
        f"--dataset.root={cut_out}",
        "--dataset.video_backend=pyav",
        "--policy.type=act",
        "--policy.device=cpu",
        "--policy.push_to_hub=false",
        "--policy.dim_model=32",
        "--policy.n_heads=2",
        "--policy.dim_feedforward=64",
        "--policy.n_encoder_layers=1",
        "--policy.n_decoder_layers=1",
        "--policy.n_vae_encoder_layers=1",
        "--policy.latent_dim=8",
        "--policy.pretrained_backbone_weights=null",
        "--policy.chunk_size=5",
        "--policy.n_action_steps=5",
        "--steps=2",
        "--batch_size=2",
        "--num_workers=0",
        "--log_freq=1",
        "--eval_freq=0",
        "--save_checkpoint=false",
        "--wandb.enable=false",
        f"--output_dir={tmp_path / 'run'}",
    ]
    res = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stdout + res.stderr
    assert "step:2" in log and "End of training" in log


def test_drop_and_cut_together_and_dry_run(hes_ds, tmp_path, capsys, monkeypatch):
    import lerobot.datasets.dataset_tools as tools

    out = tmp_path / "clean"
    args = [
        "filter",
        str(hes_ds),
        "--out",
        str(out),
        "--score",
        "stall-seconds",
        "--drop-worst",
        "50",
        "--cut",
        "stalls",
    ]
    main([*args, "--dry-run"])
    printed = capsys.readouterr().out
    assert "drop" in printed and "dry run: nothing written" in printed and not out.exists()

    calls = []
    real = tools.delete_episodes
    monkeypatch.setattr(tools, "delete_episodes", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    main(args)
    ann = {a["episode_index"]: a for a in read_annotations(hes_ds)}
    longest = max(ann, key=lambda ep: ann[ep]["n"] - ann[ep]["m"])
    assert calls == [[longest]]  # lerobot's own tool dropped the episode with the longest stall
    table = pq.read_table(out / SOURCE_FRAMES_FILE).to_pandas()
    assert sorted(set(table.source_episode_index)) == sorted(set(ann) - {longest})
    ds = open_dataset(out)
    assert ds.meta.total_episodes == 1 and len(ds) == len(table)
    for ep in range(1):
        rows = table[table.episode_index == ep]
        a = ann[int(rows.source_episode_index.iloc[0])]
        assert not set(range(a["m"] + 1, a["n"])) & set(rows.source_frame_index)  # this one is cut too
    # the bench's annotation table follows: the cut hesitations are gone, the lengths are the new ones
    out_ann = read_annotations(out)
    assert [(r["episode_index"], r["mode"], r["m"]) for r in out_ann] == [(0, "expert", None)]
    assert out_ann[0]["T"] == len(table)


def test_stall_rule_needs_both_value_and_state():
    fps = 10.0
    v = np.r_[np.linspace(0, 0.4, 20), np.full(10, 0.4), np.linspace(0.42, 1, 20)]  # a 1 s value plateau
    moving = np.cumsum(np.full((50, 3), 0.01), axis=0)
    velocity = np.full((50, 3), 0.01)
    velocity[20:30] = 0.0
    still = np.cumsum(velocity, axis=0)  # frames 19..29 hold one pose over the plateau
    rule = StallCutConfig()
    scale = np.full(3, 0.01)
    cut = stall_cut_mask(v, still, scale, fps, rule)
    assert runs(cut) == [(19, 28)]  # the state gives the edges: 29, the last of the pose, moves on to 30
    assert not stall_cut_mask(v, moving, scale, fps, rule).any()  # value flat but the robot moves: kept
    assert not stall_cut_mask(np.linspace(0, 1, 50), still, scale, fps, rule).any()  # robot still, progress: kept


def test_choose_drops_orientation_and_ties():
    scores = {0: 0.9, 1: 0.2, 2: 0.2, 3: 0.5}
    assert choose_drops(scores, "final-value", 0.3, None, None) == [1, 2]
    assert choose_drops(scores, "final-value", None, None, 50) == [1, 2]
    assert choose_drops(scores, "stall-seconds", None, None, 25) == [0]  # lower is better: 0.9 s is worst
    assert choose_drops(scores, "falling-share", None, 0.6, None) == [0]
    assert choose_drops(scores, "final-value", None, None, 24) == []  # 24% of 4 rounds down to none


@pytest.mark.parametrize(
    "extra,message",
    [
        ([], "already exists"),
        (["--value-column", "nope"], "no 'nope' column"),
        (["--drop-worst", "100"], "percentage"),
        (["--drop-below", "2"], "drops all 2 episodes"),
        (["--stall.state-key", "observation.joints", "--cut", "stalls"], "no 'observation.joints' feature"),
    ],
)
def test_bad_input_is_one_line(hes_ds, tmp_path, capsys, extra, message):
    out = tmp_path / "o"
    if message == "already exists":
        out.mkdir()
    with pytest.raises(SystemExit) as err:
        main(["filter", str(hes_ds), "--out", str(out), *extra])
    lines = capsys.readouterr().err.strip().splitlines()
    assert err.value.code == 2 and len(lines) == 1 and message in lines[0], lines
    assert not (out / "meta").exists() and not report_dir(out).exists()


def test_bad_paths_are_one_line(hes_ds, tmp_path, capsys):
    for args, message in [
        ([str(tmp_path / "missing"), "--out", str(tmp_path / "o")], "is not a LeRobot dataset"),
        ([str(hes_ds), "--out", str(hes_ds / "inside")], "overlaps the source"),
    ]:
        with pytest.raises(SystemExit):
            main(["filter", *args])
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines


def test_interrupted_run_leaves_nothing_at_out(hes_ds, tmp_path, monkeypatch):
    from curate import frame_cut

    out = tmp_path / "clean"
    tmp = tmp_path / ".clean.filter-new"
    (tmp / "data").mkdir(parents=True)  # what a killed (SIGKILL) run leaves behind

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(frame_cut, "_cut_video_file", killed)
    with pytest.raises(KeyboardInterrupt):
        main(["filter", str(hes_ds), "--out", str(out), "--cut", "stalls"])
    assert not out.exists() and not report_dir(out).exists() and not tmp.exists()
    monkeypatch.undo()
    main(["filter", str(hes_ds), "--out", str(out), "--drop-worst", "50"])  # and a rerun just works
    assert open_dataset(out).meta.total_episodes == 1
    before = _tree_digest(hes_ds)
    main(["filter", str(hes_ds), "--out", str(out), "--overwrite"])  # --overwrite swaps in the new one
    assert open_dataset(out).meta.total_episodes == 2 and _tree_digest(hes_ds) == before  # (a linked copy)
    assert json.loads((report_dir(out) / "summary.json").read_text())["episodes_after"] == 2
