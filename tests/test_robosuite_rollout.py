"""Rollouts of lerobot policies in real RoboSuite physics: a tiny randomly initialised ACT is saved with
lerobot's own save_pretrained, loaded back through the factory, rolled out locally and over the openpi
websocket protocol; the Wilson interval against hand-computed values; bad policies refused up front."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest

from robosuite_eval.config import RolloutConfig
from robosuite_eval.policy import PolicySpec
from robosuite_eval.rollout import camera_sizes, wilson_interval


def save_tiny_act(
    out: Path, state_dim: int = 9, action_dim: int = 7, camera: str = "agentview", size: int = 32
) -> Path:
    import torch
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.factory import make_pre_post_processors

    from policy_ft.policies import make_config

    cfg = make_config("act", chunk_length=4, size="tiny")
    img = f"observation.images.{camera}"
    cfg.input_features = {
        img: PolicyFeature(FeatureType.VISUAL, (3, size, size)),
        "observation.state": PolicyFeature(FeatureType.STATE, (state_dim,)),
    }
    cfg.output_features = {"action": PolicyFeature(FeatureType.ACTION, (action_dim,))}
    torch.manual_seed(0)
    policy = ACTPolicy(cfg)
    stats = {
        "observation.state": {"mean": torch.zeros(state_dim), "std": torch.ones(state_dim)},
        "action": {"mean": torch.zeros(action_dim), "std": torch.full((action_dim,), 0.3)},
        img: {"mean": torch.full((3, 1, 1), 0.5), "std": torch.full((3, 1, 1), 0.25)},
    }
    pre, post = make_pre_post_processors(cfg, dataset_stats=stats)
    for obj in (policy, pre, post):
        obj.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_act(tmp_path_factory) -> Path:
    return save_tiny_act(tmp_path_factory.mktemp("act") / "pretrained_model")


def test_wilson_interval_matches_hand_computed_values():
    z = 1.959963984540054
    # 0 of 2: centre = (z^2/4) / (1 + z^2/2), half-width equal to it.
    c = (z * z / 4) / (1 + z * z / 2)
    assert wilson_interval(0, 2) == pytest.approx((0.0, 2 * c))
    # 50 of 50: the upper end is 1, the lower end 1 / (1 + z^2/50).
    lo, hi = wilson_interval(50, 50)
    assert hi == pytest.approx(1.0) and lo == pytest.approx(1 / (1 + z * z / 50))
    # 25 of 50: symmetric around 1/2 with half-width z*sqrt(1/200 + z^2/10000)/(1 + z^2/50).
    lo, hi = wilson_interval(25, 50)
    half = z * math.sqrt(0.25 / 50 + z * z / 10000) / (1 + z * z / 50)
    assert (lo, hi) == pytest.approx((0.5 - half, 0.5 + half))
    assert (lo, hi) == pytest.approx((0.3664, 0.6336), abs=1e-4)  # the textbook 25/50 interval


def test_policy_features_are_checked_against_the_environment():
    cams = ("agentview", "robot0_eye_in_hand")
    spec = PolicySpec({"observation.images.robot0_eye_in_hand": (3, 48, 64)}, 9, 7, 4)
    assert camera_sizes(spec, cams) == {"robot0_eye_in_hand": (48, 64)}
    with pytest.raises(ValueError, match="observation.images.agentview, observation.images.robot0_eye_in_hand"):
        camera_sizes(PolicySpec({"observation.images.front": (3, 32, 32)}, 9, 7), cams)
    with pytest.raises(ValueError, match="observation.state of size 8"):
        camera_sizes(PolicySpec({}, 8, 7), cams)
    with pytest.raises(ValueError, match="6-d actions"):
        camera_sizes(PolicySpec({}, 9, 6), cams)


def test_rollout_of_a_lerobot_checkpoint_writes_results_and_video(tiny_act, tmp_path):
    import av

    from robosuite_eval.rollout import run_rollout

    out = tmp_path / "ro"
    res = run_rollout(
        RolloutConfig(policy=str(tiny_act), task="lift", trials=2, seed=3, out=out, max_steps=16, videos=1)
    )
    saved = json.loads((out / "rollout.json").read_text())
    assert saved["trials"] == 2 and [t["seed"] for t in saved["per_trial"]] == [3, 4]
    assert saved["successes"] == sum(t["success"] for t in saved["per_trial"]) == res["successes"]
    lo, hi = saved["wilson95"]
    assert 0.0 <= lo <= saved["success_rate"] <= hi <= 1.0
    assert saved["replan_steps"] == 4 and saved["cameras"] == {"agentview": [32, 32]}
    for t in saved["per_trial"]:
        # An untrained policy does not lift the cube within 16 control steps: every step ran.
        assert not t["success"] and t["control_steps"] == 16 and t["inferences"] == 2
    assert saved["per_trial"][0]["video"] == "trial_000.mp4" and "video" not in saved["per_trial"][1]
    with av.open(str(out / "trial_000.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 8 and frames[0].shape == (32, 32, 3)  # 16 control steps at 20 Hz = 8 frames at 10 fps
    assert frames[0].std() > 5  # a rendered scene, not a blank buffer


def test_rollout_over_the_openpi_websocket_protocol(tiny_act, tmp_path):
    from policy_ft.serve import PolicyRunner, make_server
    from robosuite_eval.rollout import run_rollout

    server = make_server(PolicyRunner(tiny_act), "127.0.0.1", 0)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        res = run_rollout(
            RolloutConfig(
                policy=f"ws://127.0.0.1:{port}", task="lift", trials=1, out=tmp_path / "ws", max_steps=16, videos=0
            )
        )
    finally:
        server.shutdown()
    trial = res["per_trial"][0]
    # The server's metadata says what to render and how many actions of a chunk to execute.
    assert res["cameras"] == {"agentview": [32, 32]} and res["replan_steps"] == 4
    assert trial["control_steps"] == 16 and trial["inferences"] == 2  # 8 policy steps, a new chunk every 4


def test_bad_rollout_input_fails_before_any_trial(tiny_act, tmp_path):
    from robosuite_eval.rollout import run_rollout

    with pytest.raises(ValueError, match="unknown task"):
        run_rollout(RolloutConfig(policy=str(tiny_act), task="open_door", out=tmp_path / "a"))
    with pytest.raises(ValueError, match="trials must be positive"):
        run_rollout(RolloutConfig(policy=str(tiny_act), trials=0, out=tmp_path / "b"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_rollout(RolloutConfig(policy=str(tmp_path / "nope"), out=tmp_path / "c"))
    wrong = save_tiny_act(tmp_path / "wrong", state_dim=8)
    with pytest.raises(ValueError, match="observation.state of size 8"):
        run_rollout(RolloutConfig(policy=str(wrong), out=tmp_path / "d"))
    assert not (tmp_path / "d").exists()  # refused before creating anything
    with pytest.raises(ValueError, match="ws://HOST:PORT"):
        run_rollout(RolloutConfig(policy="ws://localhost", out=tmp_path / "e"))


def test_recorded_actions_replayed_through_the_rollout_loop_succeed(tmp_path):
    """The convention shared by datasets and rollouts: a dataset frame's action, held for 20/fps control
    steps from the same seeded reset, reproduces the recorded episode; the rollout renders what the
    dataset recorded (same camera, resolution and orientation) and reads the same state."""
    from robodata.dataset import open_dataset, read_episode_frames
    from robosuite_eval.config import GenerateConfig
    from robosuite_eval.generate import RECORD_FILE, run_generate
    from robosuite_eval.rollout import run_trial
    from robosuite_eval.tasks import get_task, make_env

    root = tmp_path / "lift"
    run_generate(GenerateConfig(out=root, task="lift", mode="expert", episodes=1, seed=7, image_size=32, workers=0))
    seed = json.loads((root / RECORD_FILE).read_text())["episodes"][0]["seed"]
    from robodata.annotations import read_annotations

    T = json.loads((root / "meta" / "info.json").read_text())["total_frames"]
    assert read_annotations(root) == [
        {"episode_index": 0, "mode": "expert", "m": None, "n": None, "T": T, "embodiment": "RoboSuite", "task": "lift"}
    ]  # experts carry the table too
    ds = open_dataset(root)
    ds._ensure_hf_dataset_loaded()
    actions = np.stack([np.asarray(a, dtype=np.float32) for a in ds.hf_dataset["action"]])
    states = np.stack([np.asarray(s, dtype=np.float32) for s in ds.hf_dataset["observation.state"]])
    recorded = read_episode_frames(ds, 0, "observation.images.agentview")

    class Replay:
        spec = PolicySpec({"observation.images.agentview": (3, 32, 32)}, 9, 7, None)

        def __init__(self):
            self.first_obs = None

        def reset(self):
            self.first_obs = None

        def infer(self, obs):
            self.first_obs = self.first_obs or obs
            return actions

    task = get_task("lift")
    env = make_env(task, render=True)
    policy = Replay()
    res = run_trial(
        env,
        task,
        policy,
        seed,
        {"agentview": (32, 32)},
        stride=2,
        replan=None,
        max_steps=2 * len(actions) + 2,
        record=True,
    )
    env.close()
    assert res["success"] and res["inferences"] == 1
    np.testing.assert_allclose(policy.first_obs["observation.state"], states[0], atol=1e-5)
    diff = np.abs(res["_frames"][0].astype(float) - recorded[0].astype(float)).mean()
    flipped = np.abs(res["_frames"][0][::-1].astype(float) - recorded[0].astype(float)).mean()
    print(f"rendered vs recorded frame 0: mean |diff| {diff:.2f}, flipped {flipped:.2f}")
    assert diff < 6 < flipped, (diff, flipped)  # equal up to video compression; not upside down


def test_dropping_one_env_does_not_corrupt_another_envs_rendering():
    """Two rendering envs in one process (a generator's cached env and a rollout env): garbage-collecting
    the first must not free the second's framebuffer (robosuite frees in the current GL context)."""
    import gc

    from robosuite_eval.tasks import get_task, make_env, render_cameras, reset_env

    task = get_task("lift")
    a = make_env(task, render=32)
    reset_env(a, 3)
    render_cameras(a, 32)
    b = make_env(task, render=32)
    reset_env(b, 3)
    before = render_cameras(b, 32)["agentview"].astype(float)
    del a
    gc.collect()
    after = render_cameras(b, 32)["agentview"].astype(float)
    b.close()
    assert before.mean() > 100 and np.abs(after - before).mean() < 1.0
