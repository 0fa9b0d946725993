"""AgileX (sim) on gym-aloha's real physics: the scripted bimanual expert succeeds, its hesitation and retry
labels are exact, and `robosuite_eval generate` records it as a LeRobot v3.0 dataset with the annotation
table and the ground-truth curves of RoboSuite v2."""

import json
import re

import numpy as np
import pytest

from robodata.annotations import read_annotations
from robodata.dataset import open_dataset
from robodata.ground_truth import progress_curve
from robosuite_eval.agilex_expert import RETRY_STYLES, plan_agilex, run_episode
from robosuite_eval.agilex_sim import CONTROL_FREQ, AlohaSim
from robosuite_eval.config import GenerateConfig
from robosuite_eval.generate import RECORD_FILE, run_generate

FPS = 10
STRIDE = CONTROL_FREQ // FPS
TASKS = ("agilex_transfer_cube", "agilex_insertion")


@pytest.fixture(scope="module")
def sims():
    out = {name: AlohaSim(name) for name in TASKS}
    yield out
    for sim in out.values():
        sim.close()


@pytest.mark.parametrize("task", TASKS)
def test_expert_succeeds_and_its_recorded_joints_replay(sims, task):
    """gym-aloha's own success on two seeds; the recorded 14-d joint targets, each held for a frame as a
    policy at 10 fps would, redo the task in a fresh reset of the joint-controlled scene."""
    sim = sims[task]
    for seed in (0, 1):
        res = run_episode(sim, seed, plan_agilex(sim.task, "expert", seed), fps=FPS)
        assert res.success, f"{task} seed {seed}"
        assert res.states.shape == res.actions.shape == (res.T, 14)
        assert res.env_states.shape == (res.T, 7 * len(sim.task.objects))
        assert 10 < res.T / FPS < 40  # human-paced, not the 8 s of a constant-speed script
        sim.reset(seed)
        assert not sim.success()
        for a in res.actions:
            for _ in range(STRIDE):
                sim.step(a)
        assert sim.success(), f"{task} seed {seed}: the recorded actions do not redo the task"


def _arm_motion(states: np.ndarray, cols: slice) -> np.ndarray:
    """(T-1,) per-frame joint change of one arm (rad)."""
    return np.abs(np.diff(states[:, cols], axis=0)).max(1)


def test_hesitation_stop_is_still_inside_and_moving_around(sims):
    sim = sims["agilex_transfer_cube"]
    seed = next(s for s in range(100) if plan_agilex(sim.task, "hesitation", s).style == "stop")
    inj = plan_agilex(sim.task, "hesitation", seed)
    res = run_episode(sim, seed, inj, fps=FPS)
    assert res.success and res.m is not None
    assert res.n - res.m == int(np.ceil(inj.seconds * FPS - 1e-9))  # the drawn length, in whole frames
    motion = np.maximum(_arm_motion(res.states, slice(0, 6)), _arm_motion(res.states, slice(7, 13)))
    assert motion[res.m + 1 : res.n].max() < 2e-3  # the plateau: nothing moves (after the arm settles)
    assert motion[: res.m].max() > 2e-2 and motion[res.n :].max() > 2e-2
    curve = progress_curve("hesitation", res.T, res.m, res.n)
    assert curve[res.m] == curve[res.n] and curve[0] == 0 and curve[-1] == 1


@pytest.mark.parametrize("task", TASKS)
def test_retry_retraces_the_failed_attempt(sims, task):
    """Each retry style: the task is not done before the retraction; over [m, n] the failing arm runs back
    through poses it held before (its approach, reversed), then the redone attempt succeeds."""
    sim = sims[task]
    for style in RETRY_STYLES[sim.task.env_name]:
        for seed in range(200):
            inj = plan_agilex(sim.task, "retry", seed)
            if inj.style != style:
                continue
            res = run_episode(sim, seed, inj, fps=FPS)
            if res.m is not None:  # a retraction longer than the attempt is redrawn by generate
                break
        assert res.success and res.m is not None, f"{task} {style}"
        # waist, shoulder, elbow: stiff enough to follow their references (the wrist joints' friction exceeds
        # their gains, so where they sit depends on the direction they came from)
        arm = slice(0, 3) if style in ("handover", "miss_socket") else slice(7, 10)
        seg = res.states[res.m : res.n + 1, arm]
        before = res.states[: res.m, arm]
        # every pose of the retraction was held on the way in (within a frame's travel)
        gaps = [np.abs(before - s).max(1).min() for s in seg]
        assert max(gaps) < 0.06, f"{task} {style}: {max(gaps):.3f} rad from the approach"
        assert np.abs(seg[-1] - seg[0]).max() > 0.05  # it did travel back
        curve = progress_curve("retry", res.T, res.m, res.n)
        assert curve[res.n] < curve[res.m] and np.all(np.diff(curve[res.m : res.n + 1]) < 0)


def test_generate_round_trips_through_lerobot_state_only(tmp_path):
    """A hesitation and a retry episode, state only (nothing rendered): shapes, annotations, curves."""
    out = tmp_path / "agx"
    run_generate(
        GenerateConfig(
            out=out, task="agilex_transfer_cube", mode="mixed", mix="0:1:1", episodes=2, cameras=(), workers=0
        )
    )
    ds = open_dataset(out)
    assert ds.meta.robot_type == "aloha" and ds.meta.fps == FPS
    assert not any(k.startswith("observation.images.") for k in ds.meta.features)
    rows = read_annotations(out)
    assert [r["mode"] for r in rows] == ["hesitation", "retry"]
    assert {r["embodiment"] for r in rows} == {"AgileX (sim)"}
    rec = json.loads((out / RECORD_FILE).read_text())
    assert rec["generator"] == "v2" and rec["cameras"] == [] and rec["environment_state"][0] == "box_x"
    starts, ends = ds.meta.episodes["dataset_from_index"], ds.meta.episodes["dataset_to_index"]
    for r, info in zip(rows, rec["episodes"]):
        lo, hi = starts[r["episode_index"]], ends[r["episode_index"]]
        assert hi - lo == r["T"] == info["T"] and (r["m"], r["n"]) == (info["m"], info["n"])
        frame = ds[lo]
        assert frame["observation.state"].shape == frame["action"].shape == (14,)
        assert frame["observation.environment_state"].shape == (7,)
        curve = progress_curve(r["mode"], r["T"], r["m"], r["n"])
        assert curve.shape == (r["T"],) and curve[0] == 0 and curve[-1] == 1


def test_generate_records_the_three_agilex_cameras(tmp_path):
    """The high camera and both wrists, decoded back from lerobot's videos: the right shape, not blank, and
    the wrist cameras see different things."""
    out = tmp_path / "agx_cams"
    run_generate(GenerateConfig(out=out, task="agilex_insertion", episodes=1, fps=2, image_size=32, workers=0))
    ds = open_dataset(out)
    cams = ("cam_high", "cam_left_wrist", "cam_right_wrist")
    assert sorted(k for k in ds.meta.features if k.startswith("observation.images.")) == [
        f"observation.images.{c}" for c in cams
    ]
    frame = ds[len(ds) // 2]
    imgs = {c: frame[f"observation.images.{c}"].numpy() for c in cams}
    for c, img in imgs.items():
        assert img.shape == (3, 32, 32) and img.std() > 0.02, c
    assert np.abs(imgs["cam_left_wrist"] - imgs["cam_right_wrist"]).mean() > 0.02
    assert read_annotations(out)[0]["mode"] == "expert"


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"cameras": ("agentview",)}, "AgileX (sim) has cam_high"),
        ({"generator": "v1"}, "AgileX (sim) has v2"),
        ({"fps": 20}, "must divide the AgileX (sim) control rate 50 Hz"),
    ],
)
def test_bad_settings_fail_before_any_work(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        run_generate(GenerateConfig(out=tmp_path / "x", task="agilex_insertion", episodes=1, workers=0, **kwargs))
    assert not (tmp_path / "x").exists()


class _Replay:
    """A 'policy' that plays the expert's recorded 10 fps actions back in 50-step chunks (the AgileX preset's
    chunk length), reading one camera and the objects' poses, and keeps what it was shown."""

    def __init__(self, actions: np.ndarray, spec):
        self.actions, self.spec, self.seen, self.t = actions, spec, [], 0

    def reset(self) -> None:
        self.t = 0

    def infer(self, obs: dict) -> np.ndarray:
        self.seen.append({k: np.shape(v) for k, v in obs.items() if k.startswith("observation.")})
        chunk = self.actions[self.t : self.t + 50]
        self.t += len(chunk)
        return chunk if len(chunk) else self.actions[-1:]


def test_rollout_runs_a_14d_chunked_policy_in_the_agilex_scene(sims, tmp_path, monkeypatch):
    from robosuite_eval import policy as policy_mod
    from robosuite_eval.config import RolloutConfig
    from robosuite_eval.policy import PolicySpec
    from robosuite_eval.rollout import run_rollout

    sim = sims["agilex_transfer_cube"]
    res = run_episode(sim, 3, plan_agilex(sim.task, "expert", 3), fps=FPS)
    spec = PolicySpec({"observation.images.cam_high": (3, 32, 32)}, 14, 14, 50, 7, True)
    replay = _Replay(res.actions, spec)
    monkeypatch.setattr(policy_mod, "load_policy", lambda path, device="cpu": replay)
    out = run_rollout(
        RolloutConfig(policy="replay", task="agilex_transfer_cube", trials=1, seed=3, out=tmp_path, videos=0)
    )
    assert out["successes"] == 1 and out["cameras"] == {"cam_high": [32, 32]} and out["environment_state"] is True
    assert replay.seen[0] == {
        "observation.images.cam_high": (32, 32, 3),
        "observation.state": (14,),
        "observation.environment_state": (7,),
    }
    assert len(replay.seen) == int(np.ceil(out["per_trial"][0]["control_steps"] / STRIDE / 50))
    # a RoboSuite-shaped policy is refused before any trial
    replay.spec = PolicySpec({}, 9, 7, inputs_known=True)
    with pytest.raises(ValueError, match=re.escape("observation.state of size 9, but AgileX (sim) provides 14")):
        run_rollout(RolloutConfig(policy="replay", task="agilex_insertion", trials=1, out=tmp_path / "r2"))


def _tiny_act(out, dim: int = 14, camera: str | tuple[str, ...] = "cam_high", size: int = 32, chunk: int = 50):
    """A randomly initialised tiny ACT with AgileX shapes (one camera or several), saved with lerobot's own
    save_pretrained."""
    import torch
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.factory import make_pre_post_processors

    from policy_ft.policies import make_config

    cfg = make_config("act", chunk_length=chunk, size="tiny")
    imgs = [f"observation.images.{c}" for c in ((camera,) if isinstance(camera, str) else camera)]
    cfg.input_features = {
        **{img: PolicyFeature(FeatureType.VISUAL, (3, size, size)) for img in imgs},
        "observation.state": PolicyFeature(FeatureType.STATE, (dim,)),
    }
    cfg.output_features = {"action": PolicyFeature(FeatureType.ACTION, (dim,))}
    torch.manual_seed(0)
    policy = ACTPolicy(cfg)
    stats = {
        "observation.state": {"mean": torch.zeros(dim), "std": torch.ones(dim)},
        "action": {"mean": torch.zeros(dim), "std": torch.full((dim,), 0.3)},
        **{img: {"mean": torch.full((3, 1, 1), 0.5), "std": torch.full((3, 1, 1), 0.25)} for img in imgs},
    }
    pre, post = make_pre_post_processors(cfg, dataset_stats=stats)
    for obj in (policy, pre, post):
        obj.save_pretrained(out)
    return out


def test_rollout_through_policy_ft_serve_sends_14d_joints_and_runs_50_step_chunks(tmp_path):
    """The real-robot client loop over the openpi websocket protocol: a tiny ACT with the AgileX shapes (14-d
    state and action, the high camera, chunk H = 50 as the agilex preset) served by `policy_ft serve`; the
    rollout renders what the server's metadata asks for and asks again only after 50 executed actions."""
    import threading

    from policy_ft.serve import PolicyRunner, make_server
    from robosuite_eval.config import RolloutConfig
    from robosuite_eval.rollout import run_rollout

    ckpt = _tiny_act(tmp_path / "act")
    server = make_server(PolicyRunner(ckpt), "127.0.0.1", 0)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        out = run_rollout(
            RolloutConfig(
                policy=f"ws://127.0.0.1:{port}",
                task="agilex_transfer_cube",
                trials=1,
                max_steps=60 * STRIDE,  # 60 policy steps at 10 fps
                out=tmp_path / "ws",
                videos=0,
            )
        )
    finally:
        server.shutdown()
    (trial,) = out["per_trial"]
    assert out["cameras"] == {"cam_high": [32, 32]} and out["replan_steps"] == 50
    assert trial["control_steps"] == 60 * STRIDE and trial["inferences"] == 2 and not trial["success"]


class _Flaky:
    """A robot whose first request carries a NaN joint (a glitching encoder): the server refuses it."""

    def __init__(self, robot):
        self.robot, self.calls = robot, 0

    def observe(self):
        obs = self.robot.observe()
        self.calls += 1
        if self.calls == 2:  # the first is run_loop's shape check; the second is the first request
            obs["observation/state"] = obs["observation/state"].copy()
            obs["observation/state"][3] = np.nan
        return obs

    def __getattr__(self, name):
        return getattr(self.robot, name)


def test_the_robot_client_loop_runs_agilex_through_policy_ft_serve(tmp_path):
    """policy_ft.robot_client's loop, as a real AgileX runs it, on the simulated robot: 14-d joints and the
    three cameras go in, each 50-step chunk comes out and is executed action by action, a refused observation
    is held through, and the same loop runs as the `robosuite_eval robot-loop` command."""
    import threading

    from policy_ft.robot_client import run_loop
    from policy_ft.serve import PolicyRunner, make_server
    from robosuite_eval.cli import main as cli_main
    from robosuite_eval.embodiments import get_task
    from robosuite_eval.sim_robot import SimRobot

    cams = ("cam_high", "cam_left_wrist", "cam_right_wrist")
    runner = PolicyRunner(_tiny_act(tmp_path / "act", camera=cams))
    replies, reply = [], runner.reply

    def recording_reply(actions, *args, **kwargs):  # the chunks the server sends, as sent
        out = reply(actions, *args, **kwargs)
        replies.append(np.asarray(out["actions"]).copy())
        return out

    runner.reply = recording_reply
    server = make_server(runner, "127.0.0.1", 0)
    port = server.socket.getsockname()[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    task = get_task("agilex_transfer_cube")
    try:
        robot = SimRobot(task, 5, FPS, {c: (32, 32) for c in cams}, env_state=False, max_steps=70 * STRIDE)
        stats = run_loop(_Flaky(robot), port=port, prompt=task.instruction, log=lambda msg: None)
        robot.close()
        # a robot of another shape is refused before it moves
        small = SimRobot(task, 5, FPS, {}, env_state=False, max_steps=STRIDE)
        small.observe = lambda: {"observation/state": np.zeros(7, np.float32)}
        with pytest.raises(ValueError, match=re.escape("state has shape (7,) but the served policy reads (14,)")):
            run_loop(small, port=port, log=lambda msg: None)
        small.close()
        argv = ["robot-loop", "--server", f"ws://127.0.0.1:{port}", "--seed", "5", "--max-steps", str(60 * STRIDE)]
        cli_main([*argv, "--out", str(tmp_path / "loop")])
    finally:
        server.shutdown()
    # one hold for the refused request, then 69 actions from chunks asked at actions 0 and 50
    assert (stats.refused, stats.steps, stats.actions, stats.chunks) == (1, 70, 69, 2)
    assert robot.control_steps == 70 * STRIDE and small.control_steps == 0
    assert robot.states[0].shape == (14,) and replies[0].shape == (50, 14)
    executed = np.stack(robot.applied)
    np.testing.assert_array_equal(executed[:50], replies[0])  # each chunk executed as sent, in order
    np.testing.assert_array_equal(executed[50:], replies[1][:19])
    out = json.loads((tmp_path / "loop" / "robot_loop.json").read_text())
    assert out["cameras"] == {c: [32, 32] for c in cams} and (out["state_dim"], out["action_dim"]) == (14, 14)
    assert (out["actions"], out["chunks"], out["refused"], out["control_steps"]) == (60, 2, 0, 60 * STRIDE)
