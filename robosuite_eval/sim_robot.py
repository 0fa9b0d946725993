"""`robosuite_eval robot-loop`: a simulated robot driven by the very loop a real one runs (policy_ft.robot_client).

`rollout` talks to a server through its own chunk queue; this command instead puts a simulated robot behind
policy_ft.robot_client's `Robot` protocol and runs `run_loop`, the openpi client loop (ActionChunkBroker,
refusal and reconnect handling) that an AgileX Cobot Magic or a Panda runs on its own computer. What the
robot sends is what a real AgileX sends: its 14-d joint positions and its cameras (cam_high, both wrists) as
(H, W, 3) uint8; what it executes is one 14-d joint target per control period, `n_action_steps` of each
chunk (50 with the agilex preset) before it asks again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from robodata import atomic


class SimRobot:
    """One seeded episode of a simulated task behind the `Robot` protocol.

    An action is held for control_freq / fps simulator steps (one control period at the policy's rate), as
    recorded data and `rollout` do. `hold()` keeps the robot still: on AgileX (sim) by targeting the current
    joint positions (its actions are absolute joint targets), on RoboSuite with a zero OSC delta.
    """

    def __init__(self, task, seed: int, fps: int, sizes: dict[str, tuple[int, int]], env_state: bool, max_steps: int):
        from robosuite_eval.embodiments import AGILEX_SIM, embodiment_of, make_env, trial_io

        emb = embodiment_of(task)
        emb.check_fps(fps)
        self.stride = emb.control_freq // fps
        self.absolute = emb is AGILEX_SIM
        render = max((max(s) for s in sizes.values()), default=None)
        self.env = make_env(task, render_size=render)
        self.io = trial_io(self.env, task)
        self.io.reset(seed)
        self.sizes, self.env_state, self.max_steps = sizes, env_state, max_steps
        self.control_steps, self.success = 0, False
        self.states: list[np.ndarray] = []  # what the robot sent, one per observation
        self.applied: list[np.ndarray] = []  # what it executed

    def observe(self) -> dict:
        obs = {"observation/state": np.asarray(self.io.state(), dtype=np.float32)}
        if self.env_state:
            obs["observation/environment_state"] = np.asarray(self.io.environment_state(), dtype=np.float32)
        for cam, size in self.sizes.items():
            obs[f"observation/images/{cam}"] = np.ascontiguousarray(self.io.render(cam, size), dtype=np.uint8)
        self.states.append(obs["observation/state"])
        return obs

    def _run(self, action: np.ndarray) -> None:
        for _ in range(self.stride):
            self.io.step(action)
            self.control_steps += 1
            if self.io.success():
                self.success = True
                return

    def apply(self, action: np.ndarray) -> None:
        if action.shape != (self.io.action_dim,):
            raise ValueError(f"an action of shape {action.shape}; this robot takes ({self.io.action_dim},)")
        self.applied.append(action)
        self._run(self.io.clip(action))

    def hold(self) -> None:
        self._run(np.asarray(self.io.state(), dtype=np.float64) if self.absolute else np.zeros(self.io.action_dim))

    def done(self) -> bool:
        return self.success or self.control_steps >= self.max_steps

    def close(self) -> None:
        self.env.close()


def run_robot_loop(cfg) -> dict:
    """Connect to `cfg.server` (policy_ft serve), run one simulated episode through policy_ft.robot_client and
    write robot_loop.json (cfg: config.RobotLoopConfig)."""
    from urllib.parse import urlparse

    from policy_ft.robot_client import run_loop
    from robosuite_eval.embodiments import ROBOSUITE, embodiment_of, get_task
    from robosuite_eval.policy import WebsocketPolicy
    from robosuite_eval.rollout import camera_sizes, check_env_state

    task = get_task(cfg.task)
    emb = embodiment_of(task)
    emb.check_fps(cfg.fps)
    u = urlparse(cfg.server)
    # What the policy reads (its cameras and sizes, environment state), from the server's metadata.
    probe = WebsocketPolicy(cfg.server)
    probe.close()  # the episode gets its own connection below
    sizes = camera_sizes(probe.spec, emb.cameras, default=emb.image_size, embodiment=None if emb is ROBOSUITE else emb)
    env_state = check_env_state(probe.spec, task)
    max_steps = cfg.max_steps or int(getattr(task, "horizon", 600))
    robot = SimRobot(task, cfg.seed, cfg.fps, sizes, env_state, max_steps)
    try:
        stats = run_loop(robot, host=u.hostname, port=u.port, prompt=task.instruction, control_hz=cfg.control_hz)
    finally:
        robot.close()
    result = {
        "task": task.name,
        "embodiment": emb.name,
        "server": cfg.server,
        "seed": cfg.seed,
        "fps": cfg.fps,
        "success": robot.success,
        "control_steps": robot.control_steps,
        "max_steps": max_steps,
        "state_dim": int(robot.states[0].shape[0]),
        "action_dim": int(robot.io.action_dim),
        "cameras": {c: list(s) for c, s in sizes.items()},
        "environment_state": env_state,
        **{k: int(v) for k, v in vars(stats).items()},
    }
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / "robot_loop.json", json.dumps(result, indent=2))
    print(
        f"{task.name} ({emb.name}) via {cfg.server}: {'success' if robot.success else 'no success'} after "
        f"{robot.control_steps} control steps; {stats.actions} actions from {stats.chunks} chunks, "
        f"{stats.refused} refused, {stats.reconnects} reconnects -> {out / 'robot_loop.json'}"
    )
    return result
