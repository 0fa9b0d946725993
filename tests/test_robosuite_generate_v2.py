"""Generator v2 (robosuite_eval/human_pace.py) on real RoboSuite physics: human-paced durations, long
segments with exact labels and >= 4 scored frames, draws that depend on the task, and v1 unchanged."""

import json

import numpy as np
import pytest

from robodata.annotations import read_annotations
from robodata.ground_truth import progress_curve
from robodata.resample import resample_indices
from robosuite_eval.episode import Injection, plan_injection, run_episode
from robosuite_eval.human_pace import (
    HESITATION_SECONDS,
    HESITATION_STYLES,
    MIN_SCORED,
    RETRY_SECONDS,
    TABLE_B3_SECONDS,
    episode_seed,
    plan_human,
    still_runs,
)
from robosuite_eval.tasks import get_task, make_env

FPS = 10


@pytest.fixture(scope="module")
def lift():
    env = make_env("lift")
    yield env, get_task("lift")
    env.close()


def _v2(env, task, mode, seed):
    inj = plan_human(task, mode, seed)
    return inj, run_episode(env, task, seed, inj, fps=FPS, render_size=None)


def _scored(res) -> int:
    idx = resample_indices(res.T, FPS, 2)  # the bench's own 2 fps sampling
    return int(((idx >= res.m) & (idx <= res.n)).sum())


def _pauses_outside(res, min_frames: int = 5) -> list[tuple[int, int]]:
    """Runs of >= min_frames frames outside [m, n] in which nothing moves: unlabelled non-progress."""
    return [(a, b) for a, b in still_runs(res.states, FPS, res.m, res.n) if b - a >= min_frames]


def test_v1_output_is_unchanged(lift):
    """Same seed, same episode as before v2 existed (values recorded from v1's code at commit 7faaa85)."""
    env, task = lift
    expected = {
        ("hesitation", 0): (63, 20, 34, 113.841, [0.0138, 0.0025, 0.982]),
        ("retry", 1): (77, 30, 41, 155.978, [-0.0053, 0.0031, 0.9718]),
    }
    for (mode, seed), (T, m, n, total, last) in expected.items():
        res = run_episode(env, task, seed, plan_injection(env, task, mode, seed), render_size=None)
        assert (res.T, res.m, res.n) == (T, m, n)
        assert round(float(res.states.astype(np.float64).sum()), 3) == pytest.approx(total, abs=2e-3)
        np.testing.assert_allclose(res.states[-1][:3], last, atol=2e-4)
        assert isinstance(res.injection, Injection) and "generator" not in res.info()["injection"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_v2_hesitation_is_long_still_exactly_labelled_and_human_paced(lift, seed):
    env, task = lift
    inj, res = _v2(env, task, "hesitation", seed)
    assert res.success and res.m is not None
    m, n = res.m, res.n
    assert 0 < m < n < res.T - 1
    seconds = (n - m) / FPS
    assert HESITATION_SECONDS[0] <= inj.seconds <= seconds < inj.seconds + 1 / FPS + 1e-9  # never shorter
    assert _scored(res) >= MIN_SCORED
    e = res.states[:, :3].astype(np.float64)
    # a plateau: the hand ends the stall where it began it, never further than the micro-movement's reach
    assert np.linalg.norm(e[n] - e[m]) < 0.004
    assert np.linalg.norm(e[m : n + 1] - e[m], axis=1).max() < 0.03
    # ... while the unstalled run moves on over as many frames
    expert = run_episode(env, task, seed, plan_human(task, "expert", seed), render_size=None)
    assert expert.success and expert.T < res.T
    assert not _pauses_outside(res), _pauses_outside(res)
    assert 0.65 * TABLE_B3_SECONDS["lift"] < res.T / FPS < 1.5 * TABLE_B3_SECONDS["lift"]
    # the ground truth is exact on these labels: flat over [m, n]
    gt = progress_curve("hesitation", res.T, m, n)
    assert gt[m] == gt[n] and gt[-1] == 1.0


@pytest.mark.parametrize("task_name,seed,style", [("lift", 1, "miss"), ("lift", 0, "regrasp"), ("stack", 3, None)])
def test_v2_retry_retraces_the_attempt_for_the_drawn_length(task_name, seed, style):
    task = get_task(task_name)
    env = make_env(task)
    inj, res = _v2(env, task, "retry", seed)
    env.close()
    if style:
        assert inj.style == style  # the cases cover both styles
    assert res.success and res.m is not None, "a retry trajectory must end in task success"
    m, n = res.m, res.n
    x = n - m
    drawn = int(np.ceil(inj.seconds * FPS - 1e-9))
    assert RETRY_SECONDS[0] <= inj.seconds <= RETRY_SECONDS[1]
    assert drawn <= x <= drawn + 4  # never clamped; lengthened only onto the scoring grid
    assert _scored(res) >= MIN_SCORED
    # uniform-speed retraction (eq. B.3): the hand retraces the attempt's own path at the attempt's speed
    e = res.states[:, :3].astype(np.float64)
    back = e[m : n + 1]
    off_path = np.linalg.norm(back[:, None] - e[None, :m], axis=2).min(1)  # (x+1,) to the nearest earlier frame
    # (within the arm's tracking lag, which trails the reference one way going and the other way back)
    assert off_path.max() < 0.03 and off_path.mean() < 0.006, off_path
    step = np.linalg.norm(np.diff(e, axis=0), axis=1)
    forward = [i for i in range(m) if res.phases[i] in ("approach", "descend", "lift")][-x:]  # what it retraces
    assert 0.75 < np.median(step[m:n]) / np.median(step[forward]) < 1.33
    assert not _pauses_outside(res), _pauses_outside(res)
    lo, hi = 0.65 * TABLE_B3_SECONDS[task_name], 1.5 * TABLE_B3_SECONDS[task_name]
    assert lo < res.T / FPS < hi
    if inj.style == "regrasp":  # the object was up at m and is back down (released) by n
        z = res.target_pos[:, 2]
        assert z[m] - z[0] > 0.02 and z[n] - z[0] < 0.01
        assert res.states[n, 7] - res.states[m, 7] > 0.005  # the fingers opened
    gt = progress_curve("retry", res.T, m, n)
    assert gt[m] > gt[n] and gt[-1] == 1.0


def test_v2_pick_and_place_expert_never_pauses():
    """Placing once pressed the object into the bin for half a second before releasing it: an unlabelled
    pause; the move now ends when the hand stops against the contact."""
    task = get_task("pickplace_can")
    env = make_env(task)
    res = run_episode(env, task, 0, plan_human(task, "expert", 0), fps=FPS, render_size=None)
    env.close()
    assert res.success and res.m is None
    assert not _pauses_outside(res, min_frames=4), _pauses_outside(res, min_frames=4)


def test_v2_draws_depend_on_task_and_seed_through_a_stable_hash():
    # a constant: SHA-256 of the (task, seed) string, the same in every process and Python version
    assert episode_seed("lift", 0) == episode_seed("lift", 0) != episode_seed("stack", 0)
    assert episode_seed("lift", 0) == int.from_bytes(
        __import__("hashlib").sha256(b"robosuite_eval/v2|lift|0").digest()[:8], "little"
    )
    for mode in ("hesitation", "retry"):
        plans = [plan_human(get_task(t), mode, 7) for t in ("lift", "pickplace_can", "stack")]
        assert len({p.seconds for p in plans}) == 3 and len({p.speed for p in plans}) == 3
        assert plan_human(get_task("lift"), mode, 7) == plans[0]  # and reproducible
    with pytest.raises(ValueError, match="unknown mode"):
        plan_human(get_task("lift"), "sloppy", 0)


def test_generate_v2_writes_one_camera_and_refuses_a_v1_resume(tmp_path, capsys):
    from robodata.dataset import open_dataset
    from robosuite_eval.cli import main
    from robosuite_eval.generate import RECORD_FILE

    out = tmp_path / "lift_retry"
    args = ["generate", "--out", str(out), "--task", "lift", "--mode", "retry", "--episodes", "1"]
    args += ["--image-size", "32", "--cameras", "robot0_eye_in_hand", "--workers", "0", "--seed", "1"]
    main([*args, "--generator", "v2"])
    ds = open_dataset(out)
    assert set(ds.meta.video_keys) == {"observation.images.robot0_eye_in_hand"}
    (row,) = read_annotations(out)
    record = json.loads((out / RECORD_FILE).read_text())
    (info,) = record["episodes"]
    assert record["generator"] == "v2" and info["injection"]["generator"] == "v2"
    assert (row["mode"], row["m"], row["n"], row["T"]) == ("retry", info["m"], info["n"], ds.meta.total_frames)
    assert row["T"] / FPS > 0.65 * TABLE_B3_SECONDS["lift"]
    with pytest.raises(SystemExit):
        main([*args, "--episodes", "2", "--generator", "v1"])
    assert "generator: dataset has 'v2', asked 'v1'" in capsys.readouterr().err
    assert open_dataset(out).meta.total_episodes == 1


def test_generate_defaults_to_v2_human_paced_and_a_v1_resume_names_the_flag(tmp_path, capsys):
    """v2 is `generate`'s default (the data the default value model was trained on): a command without
    --generator records v2 and writes a human-paced hesitation of 2-8 s, not v1's 0.5-1.5 s stall. A v1
    dataset (made when v1 was the default) resumed without the flag is refused with the flag to add."""
    from robodata.dataset import open_dataset
    from robosuite_eval.cli import main
    from robosuite_eval.config import GenerateConfig
    from robosuite_eval.generate import RECORD_FILE, recorded_generator, resolve_config
    from robosuite_eval.tasks import get_task

    assert resolve_config(GenerateConfig(out=tmp_path), get_task("lift")).generator == "v2"
    out = tmp_path / "lift_hesitation"
    args = ["generate", "--out", str(out), "--task", "lift", "--mode", "hesitation", "--episodes", "1"]
    args += ["--image-size", "32", "--cameras", "robot0_eye_in_hand", "--workers", "0"]
    main(args)  # no --generator
    assert recorded_generator(out) == "v2"
    (row,) = read_annotations(out)
    (info,) = json.loads((out / RECORD_FILE).read_text())["episodes"]
    inj = info["injection"]
    assert inj["generator"] == "v2" and inj["style"] in HESITATION_STYLES
    assert HESITATION_SECONDS[0] <= inj["seconds"] <= HESITATION_SECONDS[1]
    # the annotation table holds the human-paced segment: [m, n] spans the drawn stall, >= 4 scored frames
    assert (row["mode"], row["m"], row["n"], row["T"]) == ("hesitation", info["m"], info["n"], info["T"])
    assert (row["n"] - row["m"]) / FPS >= inj["seconds"] >= HESITATION_SECONDS[0]
    idx = resample_indices(row["T"], FPS, 2)
    assert int(((idx >= row["m"]) & (idx <= row["n"])).sum()) >= MIN_SCORED
    assert row["T"] / FPS > 0.65 * TABLE_B3_SECONDS["lift"]

    old = tmp_path / "lift_hesitation_v1"
    v1 = ["generate", "--out", str(old), "--task", "lift", "--mode", "hesitation", "--episodes", "1"]
    v1 += ["--image-size", "32", "--cameras", "robot0_eye_in_hand", "--workers", "0"]
    main([*v1, "--generator", "v1"])
    (row,) = read_annotations(old)
    assert recorded_generator(old) == "v1" and row["T"] / FPS < 0.65 * TABLE_B3_SECONDS["lift"]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main([*v1, "--episodes", "2"])
    err = capsys.readouterr().err
    assert "generator: dataset has 'v1', asked 'v2'" in err and "add --generator v1 to resume it" in err
    assert open_dataset(old).meta.total_episodes == 1
    main([*v1, "--episodes", "2", "--generator", "v1"])  # the flag resumes it
    assert open_dataset(old).meta.total_episodes == 2
