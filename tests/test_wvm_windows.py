"""WVM training windows: clip layout, labels, rewinding, prefix randomization, dataset loading."""

from __future__ import annotations

import numpy as np
import pytest

from value_labeling.wvm.windows import (
    Augment,
    EpisodeData,
    clip_positions,
    load_trajectories,
    sample_batch,
    sample_window,
)

H = 4


def _episode(n=41, fps=10.0, target=2.0):
    # Frame k carries its own index in every pixel, so a clip's frames reveal which indices were taken.
    frames = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 2, 2, 3)).copy()
    values = (np.arange(n) / (n - 1)).astype(np.float32)
    return EpisodeData(frames, values, fps, target, "do it", "test:0")


def test_clip_positions_clamp_and_spacing():
    # step 5 (10 fps kept, 2 fps target): prefix at base, then 2h frames 5 apart; clamped into [0, n-1].
    assert clip_positions(0.0, 5.0, H, 41).tolist() == [0, 5, 10, 15, 20, 25, 30, 35, 40]
    assert clip_positions(-5.0, 5.0, H, 41).tolist() == [0, 0, 5, 10, 15, 20, 25, 30, 35]
    assert clip_positions(20.0, 5.0, H, 41).tolist() == [20, 25, 30, 35, 40, 40, 40, 40, 40]


def test_rising_window_labels_follow_frames():
    ep = _episode()
    rng = np.random.default_rng(0)
    for _ in range(50):
        clip, vals, instr = sample_window(ep, H, rng, Augment(prefix_p=0.0, rewind_ratio=0.0, plateau_ratio=0.0))
        idx = clip[:, 0, 0, 0].astype(int)
        assert clip.shape == (2 * H + 1, 2, 2, 3) and instr == "do it"
        assert np.all(np.diff(idx) >= 0)  # time runs forward
        assert np.all(np.diff(idx)[:H] <= 5)  # 2 fps from 10 fps: 5 frames apart (less only when clamped)
        np.testing.assert_allclose(vals, ep.values[idx[: H + 1]])  # prefix + h current labels
        assert idx[1] <= 40 - 0 and idx[H] >= idx[1]


def test_rewind_and_plateau_windows():
    ep = _episode()
    rng = np.random.default_rng(1)
    down = Augment(prefix_p=0.0, rewind_ratio=1.0, plateau_ratio=0.0)
    flat = Augment(prefix_p=0.0, rewind_ratio=0.0, plateau_ratio=1.0)
    for _ in range(20):
        clip, vals, _ = sample_window(ep, H, rng, down)
        idx = clip[:, 0, 0, 0].astype(int)
        assert np.all(np.diff(idx) <= 0)  # played backwards
        assert np.all(np.diff(vals) <= 0)  # relabelled: descending values
        np.testing.assert_allclose(vals, ep.values[idx[: H + 1]])
        clip, vals, _ = sample_window(ep, H, rng, flat)
        assert len(np.unique(clip[:, 0, 0, 0])) == 1  # one frame held
        assert np.ptp(vals) == 0.0


def test_augmentation_frequencies_and_prefix_randomization():
    ep = _episode()
    rng = np.random.default_rng(2)
    aug = Augment(prefix_p=0.5, rewind_ratio=0.5, plateau_ratio=0.1)
    kinds, randomized = {"up": 0, "down": 0, "flat": 0}, 0
    n = 2000
    for _ in range(n):
        clip, vals, _ = sample_window(ep, H, rng, aug)
        idx = clip[:, 0, 0, 0].astype(int)
        d = np.diff(idx)
        if np.all(d == 0):
            kinds["flat"] += 1
        elif np.all(d >= 0):
            kinds["up"] += 1
        else:
            kinds["down"] += 1
        # The h current labels always follow the frames; only the prefix may be replaced by U[0, 1].
        np.testing.assert_allclose(vals[1:], ep.values[idx[1 : H + 1]])
        randomized += not np.isclose(vals[0], ep.values[idx[0]])
    assert abs(kinds["down"] / n - 0.5) < 0.05
    assert abs(kinds["flat"] / n - 0.1) < 0.03  # (a clamped rising window at the very end can also look flat)
    assert abs(randomized / n - 0.5) < 0.05


def test_bad_ratios_are_rejected():
    with pytest.raises(ValueError, match="prefix_p"):
        Augment(prefix_p=1.5)
    with pytest.raises(ValueError, match="> 1"):
        Augment(rewind_ratio=0.7, plateau_ratio=0.5)


def test_load_trajectories_labels_from_annotations(synthetic_bench):
    from robodata.annotations import read_annotations
    from robodata.ground_truth import progress_curve

    trajs = load_trajectories([synthetic_bench], None, 2.0, (32, 32))
    rows = read_annotations(synthetic_bench)
    assert len(trajs) == len(rows) == 6
    for tr, row in zip(trajs, rows):
        curve = progress_curve(row["mode"], row["T"], row["m"], row["n"])
        # 10 fps native >= 4x 2 fps: every native frame kept, labels = the bench ground truth.
        assert tr.fps == 10.0 and tr.target_fps == 2.0 and len(tr.frames) == row["T"]
        np.testing.assert_allclose(tr.values, curve, atol=1e-6)
        assert tr.frames.shape[1:] == (32, 32, 3) and tr.instruction
    clips, vals, instr = sample_batch(trajs, np.random.default_rng(0), 4, H)
    assert tuple(clips.shape) == (4, 2 * H + 1, 32, 32, 3) and tuple(vals.shape) == (4, H + 1) and len(instr) == 4
