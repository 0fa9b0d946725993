"""observation.environment_state: recorded by `generate` (the objects' poses, declared once in the features),
trained on by a state-only policy, and fed back in a rollout that renders nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robosuite_eval.config import GenerateConfig, RolloutConfig


@pytest.fixture(scope="module")
def lift_no_camera(tmp_path_factory) -> Path:
    from robosuite_eval.generate import run_generate

    out = tmp_path_factory.mktemp("envstate") / "lift"
    run_generate(GenerateConfig(out=out, task="lift", mode="expert", episodes=2, cameras=(), workers=0))
    return out


def test_generated_dataset_records_the_objects_poses(lift_no_camera):
    import pyarrow.parquet as pq

    from robosuite_eval.tasks import environment_state, get_task, make_env, reset_env

    info = json.loads((lift_no_camera / "meta/info.json").read_text())
    feat = info["features"]["observation.environment_state"]
    assert feat["shape"] == [7] and feat["names"] == [
        "cube_x",
        "cube_y",
        "cube_z",
        "cube_qx",
        "cube_qy",
        "cube_qz",
        "cube_qw",
    ]
    assert not [k for k in info["features"] if k.startswith("observation.images.")]  # --cameras () renders none
    table = pq.read_table(sorted((lift_no_camera / "data").glob("*/*.parquet"))[0]).to_pandas()
    record = json.loads((lift_no_camera / "meta/robosuite_eval.json").read_text())
    env = make_env(get_task("lift"))
    for ep in record["episodes"]:
        rows = table[table.episode_index == ep["episode_index"]].sort_values("frame_index")
        first = np.asarray(rows["observation.environment_state"].iloc[0])
        # frame 0 is the reset scene of the episode's seed: the cube where robosuite placed it
        np.testing.assert_allclose(first, environment_state(reset_env(env, ep["seed"]), get_task("lift")), atol=1e-6)
        last = np.asarray(rows["observation.environment_state"].iloc[-1])
        assert last[2] > first[2] + 0.05  # the lifted cube's height is in the state
    env.close()


def test_state_only_policy_trains_and_rolls_out_without_rendering(lift_no_camera, tmp_path, monkeypatch):
    import robosuite_eval.tasks as tasks
    from policy_ft.config import TrainConfig
    from policy_ft.train import Trainer
    from robosuite_eval.rollout import run_rollout

    res = Trainer(
        TrainConfig(
            dataset=lift_no_camera,
            out=tmp_path / "act",
            policy="act",
            size="tiny",
            steps=2,
            batch_size=4,
            weighting="none",
            chunk_length=4,
            save_every=1000,
            inputs=("observation.state", "observation.environment_state"),
        )
    ).run()
    seen, made = [], []

    def no_render(*a, **k):
        raise AssertionError("a state-only rollout rendered a camera")

    real_make_env = tasks.make_env

    def make_env(task, render=False, seed=0):
        made.append(render)
        return real_make_env(task, render=render, seed=seed)

    from robosuite_eval import policy as policy_mod

    real_infer = policy_mod.LeRobotPolicy.infer

    def infer(self, obs):
        seen.append(sorted(obs))
        return real_infer(self, obs)

    monkeypatch.setattr(tasks, "render_cameras", no_render)
    monkeypatch.setattr(tasks, "make_env", make_env)
    monkeypatch.setattr(policy_mod.LeRobotPolicy, "infer", infer)
    out = run_rollout(
        RolloutConfig(policy=res["checkpoint"], task="lift", trials=1, max_steps=12, videos=1, out=tmp_path / "roll")
    )
    assert made == [False] and out["cameras"] == {} and out["environment_state"] is True
    assert seen and all("observation.environment_state" in keys for keys in seen)
    assert not list((tmp_path / "roll").glob("*.mp4"))
    # a policy trained on another task's objects is refused before any trial
    with pytest.raises(ValueError, match="environment_state of size 7, but stack provides 14"):
        run_rollout(RolloutConfig(policy=res["checkpoint"], task="stack", trials=1, out=tmp_path / "r2"))
