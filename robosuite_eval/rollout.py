"""`robosuite_eval rollout`: seeded trials of a policy in a RoboSuite task, scored by the env's own check.

Protocol (paper appendix E: "each RoboSuite task is rolled out for 50 trials"; the rest is ours):
- trial i resets the scene with seed `seed + i` (the same placements for every policy compared);
- the policy runs at `fps` (10 Hz, the recorded datasets' rate): at each policy step the rollout renders
  the cameras the policy reads (only those, at its resolution, the right way up; none at all, and no
  offscreen renderer, for a policy that reads only observation.state / observation.environment_state) and
  asks for an action chunk when the previous one is used up; each action is held for 20/fps control steps, mirroring how
  the recorded datasets store one action per 10 fps frame;
- a trial succeeds as soon as `env._check_success()` holds after a control step; it fails at `max_steps`;
- the success rate comes with a 95% Wilson score interval (sound at 0 or 50 of 50, unlike the normal
  approximation), written to rollout.json with every trial's seed, outcome and length.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from robodata import atomic

STATE_DIM, ACTION_DIM = 9, 7
IMAGE_PREFIX = "observation.images."


def wilson_interval(successes: int, trials: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion.

    At 0 (or all) successes the lower (upper) end is exactly 0 (1); the closed form leaves a rounding
    residue there (5.55e-17) that would read as a nonzero bound.
    """
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)
    hi = 1.0 if successes >= trials else min(1.0, centre + half)
    return lo, hi


def camera_sizes(spec, cameras: tuple[str, ...], default: int = 128, embodiment=None) -> dict[str, tuple[int, int]]:
    """camera -> (H, W) the policy reads; refuses features the environment cannot provide (RoboSuite's,
    unless `embodiment` names another: robosuite_eval/embodiments.py)."""
    valid = [IMAGE_PREFIX + c for c in cameras]
    where = "RoboSuite" if embodiment is None else embodiment.name
    if where != "RoboSuite":
        _check_dims(spec, embodiment)
    if where == "RoboSuite" and spec.state_dim is not None and spec.state_dim != STATE_DIM:
        raise ValueError(
            f"the policy reads observation.state of size {spec.state_dim}, but RoboSuite provides "
            f"{STATE_DIM} (eef position 3, quaternion xyzw 4, gripper 2); train it on a dataset "
            "recorded by `robosuite_eval generate`"
        )
    if where == "RoboSuite" and spec.action_dim is not None and spec.action_dim != ACTION_DIM:
        raise ValueError(
            f"the policy outputs {spec.action_dim}-d actions, but RoboSuite OSC_POSE takes "
            f"{ACTION_DIM} (dx dy dz drx dry drz gripper)"
        )
    if not spec.image_shapes:
        return {} if spec.inputs_known else {c: (default, default) for c in cameras}
    sizes = {}
    for key, shape in spec.image_shapes.items():
        if key not in valid:
            raise ValueError(
                f"the policy reads camera feature {key!r}, which {where} does not provide; "
                f"valid camera features: {', '.join(valid)}"
            )
        shape = tuple(int(s) for s in shape)
        if len(shape) != 3 or 3 not in (shape[0], shape[-1]):
            raise ValueError(f"camera feature {key!r} has shape {shape}; expected (3, H, W)")
        h, w = shape[1:] if shape[0] == 3 else shape[:2]
        sizes[key[len(IMAGE_PREFIX) :]] = (h, w)
    return sizes


def _check_dims(spec, emb) -> None:
    """A policy's state and action sizes against a non-RoboSuite embodiment's."""
    names = f"{len(emb.state_names)} ({', '.join(emb.state_names[:7])}, ...)"
    if spec.state_dim is not None and spec.state_dim != len(emb.state_names):
        raise ValueError(
            f"the policy reads observation.state of size {spec.state_dim}, but {emb.name} provides {names}; "
            "train it on a dataset recorded by `robosuite_eval generate` for this task"
        )
    if spec.action_dim is not None and spec.action_dim != len(emb.action_names):
        raise ValueError(
            f"the policy outputs {spec.action_dim}-d actions, but {emb.name} takes {len(emb.action_names)} "
            "(joint targets of both arms and the two grippers)"
        )


def write_video(frames: list[np.ndarray], path: Path, fps: int) -> Path:
    """H.264 mp4 of (H, W, 3) uint8 frames, written beside and renamed into place."""
    import av

    h, w = frames[0].shape[:2]
    h2, w2 = h + h % 2, w + w % 2  # yuv420p needs even sizes
    with atomic.replace_file(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w2, h2, "yuv420p"
        for f in frames:
            if (h2, w2) != (h, w):
                f = np.pad(f, ((0, h2 - h), (0, w2 - w), (0, 0)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def check_env_state(spec, task) -> bool:
    """Whether the policy reads observation.environment_state (refusing one of another size)."""
    from robosuite_eval.embodiments import environment_state_names

    if not spec.env_state_dim:
        return False
    want = len(environment_state_names(task))
    if spec.env_state_dim != want:
        raise ValueError(
            f"the policy reads observation.environment_state of size {spec.env_state_dim}, but {task.name} "
            f"provides {want} ({', '.join(task.objects)}: position 3 + quaternion xyzw 4 each); "
            f"train it on a {task.name} dataset recorded by `robosuite_eval generate`"
        )
    return True


def run_trial(
    env,
    task,
    policy,
    seed: int,
    sizes: dict,
    stride: int,
    replan: int | None,
    max_steps: int,
    record: bool,
    env_state: bool = False,
    io=None,
) -> dict:
    """One seeded trial; `io` is the scene as the embodiment presents it (default: a RoboSuite env)."""
    from robosuite_eval.embodiments import trial_io

    io = io or trial_io(env, task)
    io.reset(seed)
    policy.reset()
    queue: list[np.ndarray] = []
    frames: list[np.ndarray] = []
    success, steps, inferences = False, 0, 0
    t0 = time.perf_counter()
    while steps < max_steps and not success:
        images = {}
        for cam, (h, w) in sizes.items():
            images[cam] = io.render(cam, (h, w))
        if record and images:
            frames.append(
                np.concatenate([images[c] for c in sizes], axis=1)
                if len({s[0] for s in sizes.values()}) == 1
                else images[next(iter(sizes))]
            )
        if not queue:
            o = {IMAGE_PREFIX + c: img for c, img in images.items()}
            o["observation.state"] = io.state()
            if env_state:
                o["observation.environment_state"] = io.environment_state()
            o["task"] = o["prompt"] = task.instruction
            chunk = np.asarray(policy.infer(o), dtype=np.float32)
            chunk = chunk[None] if chunk.ndim == 1 else chunk
            if chunk.ndim != 2 or chunk.shape[1] != io.action_dim:
                raise ValueError(f"the policy returned actions of shape {chunk.shape}; expected (H, {io.action_dim})")
            queue = list(chunk[: replan or len(chunk)])
            inferences += 1
        action = io.clip(queue.pop(0))
        for _ in range(stride):
            io.step(action)
            steps += 1
            if io.success():
                success = True
                break
    out = {
        "seed": seed,
        "success": bool(success),
        "control_steps": steps,
        "inferences": inferences,
        "wall_s": round(time.perf_counter() - t0, 2),
        "_frames": frames,
    }
    if getattr(io, "diverged", False):  # AgileX (sim): the simulation blew up under the policy's targets
        out["diverged"] = True
    if hasattr(io, "progress"):  # AgileX (sim): how far the trial got (gym-aloha's reward stages)
        out["max_reward"] = io.progress()
    return out


def run_rollout(cfg) -> dict:
    """Run `cfg.trials` seeded trials (cfg: config.RolloutConfig) and write rollout.json + videos to cfg.out."""
    from tqdm import tqdm

    from robosuite_eval.embodiments import ROBOSUITE, embodiment_of, get_task

    # Bad input fails before any work.
    task = get_task(cfg.task)
    emb = embodiment_of(task)
    if cfg.trials <= 0:
        raise ValueError(f"--trials must be positive, got {cfg.trials}")
    if cfg.fps <= 0 or emb.control_freq % cfg.fps:
        raise ValueError(
            f"--fps {cfg.fps} must divide the {emb.control_freq} Hz control rate of {emb.name} (e.g. 10 or 5)"
        )
    from robosuite_eval.policy import load_policy

    policy = load_policy(cfg.policy, device=cfg.device)
    default_size = int(getattr(cfg, "image_size", None) or emb.image_size)
    sizes = camera_sizes(policy.spec, emb.cameras, default=default_size, embodiment=None if emb is ROBOSUITE else emb)
    env_state = check_env_state(policy.spec, task)
    stride = emb.control_freq // cfg.fps
    # `replan_steps` is optional in the config (None: the policy's own n_action_steps).
    replan_cfg = getattr(cfg, "replan_steps", None)
    if replan_cfg is not None and replan_cfg <= 0:
        raise ValueError(f"--replan-steps must be positive, got {replan_cfg}")
    replan = replan_cfg or policy.spec.n_action_steps
    max_steps = cfg.max_steps or int(getattr(task, "horizon", 600))

    if emb is ROBOSUITE:
        from robosuite_eval.tasks import make_env
    else:
        from robosuite_eval.embodiments import make_env as make_scene

        def make_env(task, render):
            return make_scene(task, render_size=None)  # dm_control renders on demand

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    env = make_env(task, render=bool(sizes))  # a state-only policy: no offscreen renderer, no camera drawn
    trials = []
    bar = tqdm(range(cfg.trials), desc=f"rollout {task.name}", unit="trial")
    for i in bar:
        res = run_trial(
            env,
            task,
            policy,
            cfg.seed + i,
            sizes,
            stride,
            replan,
            max_steps,
            record=i < cfg.videos,
            env_state=env_state,
        )
        frames = res.pop("_frames")
        if frames:
            res["video"] = str(write_video(frames, out / f"trial_{i:03d}.mp4", cfg.fps).name)
        trials.append(res)
        done = sum(t["success"] for t in trials)
        bar.set_postfix(success=f"{done}/{len(trials)}")
    env.close()
    successes = sum(t["success"] for t in trials)
    lo, hi = wilson_interval(successes, len(trials))
    result = {
        "task": task.name,
        "instruction": task.instruction,
        "policy": str(cfg.policy),
        "policy_name": getattr(policy, "name", type(policy).__name__),
        "trials": len(trials),
        "successes": successes,
        "success_rate": successes / len(trials),
        "wilson95": [lo, hi],
        "seed": cfg.seed,
        "fps": cfg.fps,
        "replan_steps": replan,
        "max_steps": max_steps,
        "cameras": {c: list(s) for c, s in sizes.items()},
        "environment_state": env_state,
        "per_trial": trials,
    }
    atomic.write_text(out / "rollout.json", json.dumps(result, indent=2))
    print(
        f"{task.name}: {successes}/{len(trials)} = {successes / len(trials):.2f} "
        f"(95% Wilson [{lo:.2f}, {hi:.2f}]) -> {out / 'rollout.json'}"
    )
    return result
