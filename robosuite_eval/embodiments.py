"""The simulated embodiments behind `robosuite_eval generate`: one interface, two simulators.

`generate` (and the bench scripts built on it) see a task spec and an `Embodiment`: what the robot's state,
action and cameras are called, its control rate, how to build a scene and how to simulate one scripted
episode into arrays. RoboSuite (Panda, 9-d end-effector state, 7-d OSC actions, 20 Hz) keeps its own
modules (tasks.py, oracle.py, episode.py, human_pace.py) unchanged behind it; AgileX (sim) (two ViperX arms,
14-d joint state and action, 50 Hz, gym-aloha) lives in agilex_sim.py and agilex_expert.py.

A light module: nothing here imports robosuite, gym-aloha, torch or lerobot until a scene is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robosuite_eval import agilex_sim, tasks


@dataclass(frozen=True)
class Embodiment:
    name: str  # the annotation table's embodiment column
    robot_type: str  # lerobot's meta/info.json robot_type
    control_freq: int  # Hz; a recorded fps must divide it
    cameras: tuple[str, ...]  # what a real robot of this kind carries, rendered by default
    image_size: int  # default rendered size
    generators: tuple[str, ...]  # first: the default
    state_names: tuple[str, ...]
    action_names: tuple[str, ...]

    def check_fps(self, fps: int) -> int:
        """Control steps per recorded frame."""
        if fps <= 0 or self.control_freq % fps:
            raise ValueError(
                f"--fps {fps} must divide the {self.name} control rate {self.control_freq} Hz (e.g. 10, 5)"
            )
        return self.control_freq // fps


ROBOSUITE = Embodiment(
    name="RoboSuite",
    robot_type="panda",
    control_freq=tasks.CONTROL_FREQ,
    cameras=tasks.CAMERAS,
    image_size=128,
    generators=("v2", "v1"),
    state_names=tuple(tasks.STATE_NAMES),
    action_names=tuple(tasks.ACTION_NAMES),
)
AGILEX_SIM = Embodiment(
    name=agilex_sim.EMBODIMENT,
    robot_type="aloha",
    control_freq=agilex_sim.CONTROL_FREQ,
    cameras=agilex_sim.CAMERAS,
    image_size=agilex_sim.DEFAULT_IMAGE_SIZE,
    generators=("v2",),  # human-paced only
    state_names=tuple(agilex_sim.STATE_NAMES),
    action_names=tuple(agilex_sim.ACTION_NAMES),
)


def embodiment_of(task) -> Embodiment:
    return AGILEX_SIM if isinstance(task, agilex_sim.AgilexTask) else ROBOSUITE


def get_task(name: str):
    """A RoboSuite or AgileX (sim) task spec by name."""
    try:
        return tasks.get_task(name)
    except ValueError:
        pass
    try:
        return agilex_sim.get_task(name)
    except ValueError:
        names = sorted(tasks.TASKS) + sorted(agilex_sim.TASKS)
        raise ValueError(f"unknown task {name!r}; choose one of {names} (or 'all' / 'agilex_all')") from None


def resolve_tasks(name: str) -> list:
    """`all`: the six RoboSuite tasks (as before AgileX existed); `agilex_all`: the AgileX (sim) tasks."""
    if name.lower() == "agilex_all":
        return list(agilex_sim.TASKS.values())
    if name.lower() == "all":
        return tasks.resolve_tasks("all")
    return [get_task(name)]


def environment_state_names(task) -> list[str]:
    if embodiment_of(task) is AGILEX_SIM:
        return agilex_sim.environment_state_names(task)
    return tasks.environment_state_names(task)


def make_env(task, render_size: int | None):
    """A scene for `task`, able to render frames of up to `render_size` (None: state only)."""
    if embodiment_of(task) is AGILEX_SIM:
        return agilex_sim.AlohaSim(task)  # dm_control renders on demand
    return tasks.make_env(task, render=max(render_size, 16) if render_size else False)


def simulate(env, task, mode: str, seed: int, fps: int, render_size: int | None, cameras, generator: str):
    """One scripted episode on `env` reset to `seed`: an object with success, m, n, states, env_states,
    actions, images (camera -> (T, H, W, 3) uint8) and info()."""
    if embodiment_of(task) is AGILEX_SIM:
        from robosuite_eval.agilex_expert import plan_agilex, run_episode

        size = render_size if cameras else None  # state only: nothing is rendered
        return run_episode(env, seed, plan_agilex(task, mode, seed), fps=fps, render_size=size, cameras=tuple(cameras))
    from robosuite_eval.episode import plan_injection, run_episode
    from robosuite_eval.human_pace import plan_human

    plan = plan_human(task, mode, seed) if generator == "v2" else plan_injection(env, task, mode, seed, fps)
    return run_episode(env, task, seed, plan, fps=fps, render_size=render_size, cameras=tuple(cameras))


class RobosuiteIO:
    """A rollout's view of a RoboSuite env: OSC_POSE deltas clipped to [-1, 1], the env's own success check.
    robosuite_eval.tasks' functions are looked up at call time (tests replace them)."""

    action_dim = len(tasks.ACTION_NAMES)

    def __init__(self, env, task):
        self.env, self.task, self.obs = env, task, None

    def reset(self, seed: int) -> None:
        self.obs = tasks.reset_env(self.env, seed)

    def render(self, cam: str, size: tuple[int, int]):
        return tasks.render_cameras(self.env, size, cameras=(cam,))[cam]

    def state(self):
        return tasks.robot_state(self.obs)

    def environment_state(self):
        return tasks.environment_state(self.obs, self.task)

    def clip(self, action):
        return np.clip(action, -1.0, 1.0)

    def step(self, action) -> None:
        self.obs, _, _, _ = self.env.step(action)

    def success(self) -> bool:
        return bool(self.env._check_success())


class AgilexIO:
    """A rollout's view of an AgileX (sim) scene: 14-d joint targets (the actuators clamp them to their
    ranges), gym-aloha's own success. A reset lets the objects settle as the recorded episodes did."""

    action_dim = len(agilex_sim.ACTION_NAMES)

    def __init__(self, sim, task):
        self.sim, self.task = sim, task
        self.diverged = False

    def reset(self, seed: int) -> None:
        from robosuite_eval.agilex_expert import OPEN

        self.diverged = False
        self.sim.reset(seed)
        q = self.sim.physics.data.qpos
        hold = np.r_[q[0:6], OPEN, q[8:14], OPEN]
        for _ in range(10):  # as agilex_expert.run_episode does before it records: the objects drop 3 cm
            self.sim.step(hold)

    def render(self, cam: str, size: tuple[int, int]):
        return self.sim.render(size, (cam,))[cam]

    def state(self):
        return self.sim.state()

    def environment_state(self):
        return self.sim.environment_state()

    def clip(self, action):
        return np.asarray(action, dtype=np.float64)

    def step(self, action) -> None:
        """One control step; a policy whose targets make MuJoCo's state blow up (dm_control's PhysicsError)
        ends its trial as a failure: the scene is frozen (later steps do nothing) until the next reset."""
        from dm_control.rl.control import PhysicsError

        if self.diverged:
            return
        try:
            self.sim.step(action)
        except PhysicsError:
            self.diverged = True

    def success(self) -> bool:
        return not self.diverged and self.sim.success()

    def progress(self) -> float:
        """The highest gym-aloha reward so far (transfer cube: 1 the right gripper touches the cube, 2 it lifts
        it off the table, 3 the left gripper touches it, 4 the left one holds it off the table)."""
        return float(self.sim.best)


def trial_io(env, task):
    return AgilexIO(env, task) if embodiment_of(task) is AGILEX_SIM else RobosuiteIO(env, task)
