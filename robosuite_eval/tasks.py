"""The six RoboSuite tasks of the paper's bench (table B.3) and how to build their environments.

One environment object is reused across episodes: `reset_env(env, seed)` re-seeds robosuite's own
generator in place (the placement samplers and the robot's init noise hold a reference to it), so a
seed fixes the object placement and the arm's start pose without paying for a new MuJoCo model.
Images come from `render_cameras`, called only for the frames that are recorded; robosuite's offscreen
buffer is bottom-up, so rows are flipped to put the images the right way up.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

CONTROL_FREQ = 20  # Hz: physics/control rate; recorded fps divides it
CAMERAS = ("agentview", "robot0_eye_in_hand")


@dataclass(frozen=True)
class TaskSpec:
    name: str  # short name used on the command line and in the annotation table
    env_name: str  # robosuite environment class
    family: str  # "lift" | "pickplace" | "stack": which oracle drives it
    instruction: str  # the natural-language task string stored in the dataset
    horizon: int  # control steps before an episode is cut off
    objects: tuple[str, ...] = ()  # robosuite's object names whose poses form observation.environment_state


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in [
        TaskSpec("lift", "Lift", "lift", "lift the red cube", 400, ("cube",)),
        TaskSpec("pickplace_bread", "PickPlaceBread", "pickplace", "put the bread in its bin", 600, ("Bread",)),
        TaskSpec("pickplace_can", "PickPlaceCan", "pickplace", "put the can in its bin", 600, ("Can",)),
        TaskSpec("pickplace_cereal", "PickPlaceCereal", "pickplace", "put the cereal box in its bin", 600, ("Cereal",)),
        TaskSpec("pickplace_milk", "PickPlaceMilk", "pickplace", "put the milk carton in its bin", 600, ("Milk",)),
        TaskSpec("stack", "Stack", "stack", "stack the red cube on the green cube", 500, ("cubeA", "cubeB")),
    ]
}


def get_task(name: str) -> TaskSpec:
    key = name.lower()
    for t in TASKS.values():  # accept robosuite's class names too
        if t.env_name.lower() == key:
            return t
    if key not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {sorted(TASKS)} (or 'all' where accepted)")
    return TASKS[key]


def resolve_tasks(name: str) -> list[TaskSpec]:
    if name.lower() == "all":
        return list(TASKS.values())
    return [get_task(name)]


def _quiet_robosuite() -> None:
    import logging

    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    logging.getLogger("robosuite_logs").setLevel(logging.ERROR)


def make_env(task: TaskSpec | str, render: bool | int = False, seed: int = 0):
    """A robosuite env for `task`: Panda, OSC_POSE (delta, base frame), 20 Hz, no camera observations.

    With `render` (True or the image size) an offscreen context is attached so `render_cameras` can draw
    recorded frames. It is set up for small software-rendered images (Mesa EGL on CPU): no multisampling,
    a 1024 shadow map instead of robosuite's 4096, a framebuffer the size of the images, and no mirror
    reflections; that cuts the CPU time of a 128x128 frame about fourfold with no visible loss at that size.
    """
    _quiet_robosuite()
    import robosuite as suite
    from robosuite.controllers import load_composite_controller_config
    from robosuite.utils.log_utils import ROBOSUITE_DEFAULT_LOGGER

    ROBOSUITE_DEFAULT_LOGGER.setLevel("ERROR")
    spec = get_task(task) if isinstance(task, str) else task
    cfg = load_composite_controller_config(controller="BASIC", robot="Panda")
    cfg["body_parts"] = {"right": cfg["body_parts"]["right"]}  # OSC_POSE arm + gripper only
    env = suite.make(
        spec.env_name,
        robots="Panda",
        controller_configs=cfg,
        has_renderer=False,
        has_offscreen_renderer=False,
        use_camera_obs=False,
        use_object_obs=True,
        control_freq=CONTROL_FREQ,
        horizon=spec.horizon,
        ignore_done=True,
        hard_reset=False,
        reward_shaping=False,
        seed=seed,
    )
    if render:
        attach_renderer(env, 256 if render is True else int(render))
    return env


@functools.cache
def _offscreen_context_class():
    from robosuite.utils.binding_utils import MjRenderContextOffscreen

    class OwnContextOffscreen(MjRenderContextOffscreen):
        """robosuite's offscreen context, freed inside its own GL context.

        robosuite's `__del__` frees the MuJoCo render context (framebuffers, textures) in whatever GL
        context is current; with two envs in one process (a generator's cached env dropped while a newer
        one is current) that deleted the newer env's framebuffer and it recorded garbage frames."""

        def __del__(self):
            try:
                self.gl_ctx.make_current()
            except Exception:
                pass
            super().__del__()

    return OwnContextOffscreen


def attach_renderer(env, max_size: int = 256) -> None:
    import mujoco

    m = env.sim.model._model
    m.vis.quality.offsamples = 0
    m.vis.quality.shadowsize = 1024
    m.vis.global_.offwidth = m.vis.global_.offheight = max_size
    ctx = _offscreen_context_class()(env.sim, device_id=-1, max_width=max_size, max_height=max_size)
    ctx.vopt.geomgroup[0] = 0  # hide collision meshes, as robosuite does
    ctx.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0


def reset_env(env, seed: int) -> dict:
    """Reset with a reproducible placement: re-seed robosuite's generator in place, then reset."""
    env.rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state
    return env.reset()


def render_cameras(env, size: int | tuple[int, int], cameras=CAMERAS) -> dict[str, np.ndarray]:
    """(H, W, 3) uint8 images, right way up, from the env's current state."""
    h, w = (size, size) if isinstance(size, int) else size
    # robosuite renders into whichever GL context is current; with several envs in one process (a
    # generator's cached env beside a rollout env) that is the last one created, so make ours current.
    env.sim._render_context_offscreen.gl_ctx.make_current()
    out = {}
    for cam in cameras:
        img = env.sim.render(width=w, height=h, camera_name=cam)
        out[cam] = np.ascontiguousarray(img[::-1])  # MuJoCo's buffer is bottom-up
    return out


def robot_state(obs: dict) -> np.ndarray:
    """observation.state: eef position (3), eef quaternion xyzw (4), gripper finger positions (2)."""
    return np.concatenate([obs["robot0_eef_pos"], obs["robot0_eef_quat"], obs["robot0_gripper_qpos"]]).astype(
        np.float32
    )


POSE_NAMES = ("x", "y", "z", "qx", "qy", "qz", "qw")


def environment_state(obs: dict, task: TaskSpec) -> np.ndarray:
    """observation.environment_state: each task object's world position (3) and quaternion xyzw (4).

    Privileged low-dimensional state (what the scripted oracle plans from), for policies trained without
    cameras; (7 * objects,) float32 in the order of `task.objects`.
    """
    return np.concatenate([np.concatenate([obs[f"{o}_pos"], obs[f"{o}_quat"]]) for o in task.objects]).astype(
        np.float32
    )


def environment_state_names(task: TaskSpec) -> list[str]:
    return [f"{o}_{c}" for o in task.objects for c in POSE_NAMES]


STATE_NAMES = ["eef_x", "eef_y", "eef_z", "eef_qx", "eef_qy", "eef_qz", "eef_qw", "gripper_l", "gripper_r"]
ACTION_NAMES = ["dx", "dy", "dz", "drx", "dry", "drz", "gripper"]
