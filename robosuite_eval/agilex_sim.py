"""AgileX (sim): gym-aloha's bimanual ViperX tasks as a joint-controlled embodiment, plus the IK the expert plans with.

What it stands in for. AgileX's Cobot Magic is an ALOHA-style rig: two 6-DoF arms with parallel grippers,
14-d joint-position control, a high camera and a camera on each wrist. gym-aloha (LeRobot's `aloha` extra)
simulates the ALOHA rig in MuJoCo through dm_control, at 50 Hz with joint-position actuators. We build its
dm_control task directly (gym-aloha's `AlohaEnv` renders three 640x480 images on every step, which costs a
second per step on software EGL): the same MJCF, the same actuators, the same `before_step` action mapping
and the same reward (4: the task is done), with images drawn only for the recorded frames.

Conventions (gym-aloha's): observation.state and action are [left arm 6 joints, left gripper (0 closed,
1 open), right arm 6 joints, right gripper]; the state's grippers are the normalised finger positions.
observation.environment_state is each object's position and quaternion xyzw (RoboSuite's layout).
Cameras take the real rig's names: cam_high is gym-aloha's `top`, cam_left_wrist / cam_right_wrist its wrists.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

EMBODIMENT = "AgileX (sim)"
CONTROL_FREQ = 50  # Hz: gym-aloha's DT = 0.02 s
CAMERAS = ("cam_high", "cam_left_wrist", "cam_right_wrist")
#: our camera name -> gym-aloha's MJCF camera
MJCF_CAMERA = {"cam_high": "top", "cam_left_wrist": "left_wrist", "cam_right_wrist": "right_wrist"}
DEFAULT_IMAGE_SIZE = 64  # software rendering: three 64x64 cameras cost ~0.2 s per recorded frame
ARMS = ("left", "right")
JOINT_NAMES = ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate")
#: Kinematics.ik: the damping of its least-squares step, and a pull of the forearm roll towards 0 (gain per
#: iteration) inside the task's null space.
DAMPING = 1e-2
NULL_GAIN = 0.2
ROLL_PULL = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
STATE_NAMES = [f"{arm}_{j}" for arm in ARMS for j in (*JOINT_NAMES, "gripper")]
ACTION_NAMES = list(STATE_NAMES)
POSE_NAMES = ("x", "y", "z", "qx", "qy", "qz", "qw")
#: Tool centre point: between the fingertips, in the gripper_link frame (x points along the fingers).
TCP_OFFSET = np.array([0.1, 0.0, 0.0])
ARM_BASE = {"left": np.array([-0.469, 0.5, 0.0]), "right": np.array([0.469, 0.5, 0.0])}


@dataclass(frozen=True)
class AgilexTask:
    name: str  # short name on the command line and in the annotation table
    env_name: str  # gym-aloha's task name
    instruction: str
    objects: tuple[str, ...]  # MJCF bodies whose poses form observation.environment_state
    horizon: int  # control steps before an episode is cut off (50 Hz)
    embodiment: str = EMBODIMENT
    family: str = "agilex"


TASKS: dict[str, AgilexTask] = {
    t.name: t
    for t in [
        AgilexTask(
            "agilex_transfer_cube",
            "transfer_cube",
            "pick up the cube with the right arm and hand it over to the left arm",
            ("box",),
            3000,
        ),
        AgilexTask(
            "agilex_insertion",
            "insertion",
            "pick up the peg and the socket and insert the peg into the socket",
            ("peg", "socket"),
            3000,
        ),
    ]
}


def get_task(name: str) -> AgilexTask:
    key = name.lower()
    for t in TASKS.values():  # gym-aloha's names too
        if key in (t.env_name, f"aloha_{t.env_name}", f"aloha{t.env_name.replace('_', '')}-v0"):
            return t
    if key not in TASKS:
        raise ValueError(f"unknown AgileX (sim) task {name!r}; choose one of {sorted(TASKS)}")
    return TASKS[key]


def environment_state_names(task: AgilexTask) -> list[str]:
    return [f"{o}_{c}" for o in task.objects for c in POSE_NAMES]


@functools.cache
def _task_classes():
    from gym_aloha.tasks.sim import InsertionTask, TransferCubeTask

    def no_images(cls):
        class Task(cls):
            """gym-aloha's task without the three 640x480 images it renders on every step."""

            def get_observation(self, physics):
                return {"qpos": self.get_qpos(physics), "env_state": self.get_env_state(physics)}

        Task.__name__ = cls.__name__
        return Task

    return {"transfer_cube": no_images(TransferCubeTask), "insertion": no_images(InsertionTask)}


class AlohaSim:
    """One gym-aloha scene: reset to a seed, step 14-d joint targets, read state, render cameras."""

    def __init__(self, task: AgilexTask | str):
        os.environ.setdefault("MUJOCO_GL", "egl")
        os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
        from dm_control import mujoco as dm_mujoco
        from dm_control.rl import control
        from gym_aloha.constants import ASSETS_DIR, DT

        self.task = get_task(task) if isinstance(task, str) else task
        physics = dm_mujoco.Physics.from_xml_path(str(ASSETS_DIR / f"bimanual_viperx_{self.task.env_name}.xml"))
        self.env = control.Environment(
            physics, _task_classes()[self.task.env_name](), time_limit=float("inf"), control_timestep=DT
        )
        self.physics = physics
        self.kin = Kinematics(physics.model.ptr)

    def reset(self, seed: int) -> None:
        """gym-aloha's seeded placement (its `sample_*_pose(seed)`), then its reset."""
        from gym_aloha.tasks import sim
        from gym_aloha.utils import sample_box_pose, sample_insertion_pose

        if self.task.env_name == "transfer_cube":
            sim.BOX_POSE[0] = sample_box_pose(seed)
        else:
            sim.BOX_POSE[0] = np.concatenate(sample_insertion_pose(seed))
        self.env.reset()
        self.reward = self.best = 0.0

    def step(self, action: np.ndarray) -> float:
        ts = self.env.step(np.asarray(action, dtype=np.float64))
        self.reward = float(ts.reward or 0.0)
        self.best = max(self.best, self.reward)
        return self.reward

    def success(self) -> bool:
        """gym-aloha's own criterion: its gym env ends an episode as a success on the first step whose reward
        is the task's top reward (4: the left hand holds the cube off the table / the peg touches the pin)."""
        return self.best == self.env.task.max_reward

    def state(self) -> np.ndarray:
        return self.env.task.get_qpos(self.physics).astype(np.float32)

    def environment_state(self) -> np.ndarray:
        """Each object's position (3) and quaternion xyzw (4), float32."""
        q = self.physics.data.qpos[16:].reshape(-1, 7)
        return np.concatenate([np.r_[p[:3], p[4:7], p[3]] for p in q]).astype(np.float32)

    def object_pose(self, body: str) -> tuple[np.ndarray, np.ndarray]:
        """(position, 3x3 rotation) of an MJCF body."""
        d = self.physics.named.data
        return d.xpos[body].copy(), d.xmat[body].reshape(3, 3).copy()

    def tcp(self, arm: str) -> tuple[np.ndarray, np.ndarray]:
        return self.kin.tcp_of(self.physics.data.ptr, arm)

    def render(self, size: int | tuple[int, int], cameras=CAMERAS) -> dict[str, np.ndarray]:
        h, w = (size, size) if isinstance(size, int) else size
        return {c: self.physics.render(height=h, width=w, camera_id=MJCF_CAMERA[c]) for c in cameras}

    def close(self) -> None:
        self.physics.free()


class Kinematics:
    """Damped least-squares IK for each 6-DoF arm on a private MjData (the simulation is never touched)."""

    def __init__(self, model):
        import mujoco

        self.mj, self.model, self.data = mujoco, model, mujoco.MjData(model)
        self.body = {a: mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, f"vx300s_{a}/gripper_link") for a in ARMS}
        self.qadr = {
            a: np.array([model.jnt_qposadr[model.joint(f"vx300s_{a}/{j}").id] for j in JOINT_NAMES]) for a in ARMS
        }
        self.dadr = {
            a: np.array([model.jnt_dofadr[model.joint(f"vx300s_{a}/{j}").id] for j in JOINT_NAMES]) for a in ARMS
        }
        self.lo = {a: model.jnt_range[[model.joint(f"vx300s_{a}/{j}").id for j in JOINT_NAMES], 0] for a in ARMS}
        self.hi = {a: model.jnt_range[[model.joint(f"vx300s_{a}/{j}").id for j in JOINT_NAMES], 1] for a in ARMS}

    def tcp_of(self, data, arm: str) -> tuple[np.ndarray, np.ndarray]:
        b = self.body[arm]
        R = data.xmat[b].reshape(3, 3).copy()
        return data.xpos[b] + R @ TCP_OFFSET, R

    def fk(self, arm: str, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.data.qpos[self.qadr[arm]] = q
        self.mj.mj_kinematics(self.model, self.data)
        return self.tcp_of(self.data, arm)

    def ik(self, arm: str, pos: np.ndarray, R: np.ndarray, q0: np.ndarray, iters: int = 30) -> np.ndarray:
        """Joint angles putting the TCP at `pos` with orientation `R`, starting from `q0` (warm start).

        The ViperX wrist is roll-pitch-roll: near a straight wrist (wrist_angle ~ 0) the forearm roll and the
        wrist rotate turn about one axis and only their sum is fixed by the pose. With light damping the step
        then swings both by up to +-pi, either way, as the numerics decide: episodes reached the same hand
        pose with the forearm rolled over one way or the other (bench/results/downstream_agilex_sim.md, its
        expert data check), joint targets no policy can imitate. A heavier damping and a null-space pull of
        the forearm roll towards 0 keep one branch in every episode.
        """
        mj, m, d = self.mj, self.model, self.data
        q = np.array(q0, dtype=np.float64)
        jacp, jacr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
        for _ in range(iters):
            p, Rc = self.fk(arm, q)
            ep = pos - p
            er = 0.5 * sum(np.cross(Rc[:, i], R[:, i]) for i in range(3))
            if np.linalg.norm(ep) < 1e-4 and np.linalg.norm(er) < 1e-3:
                break
            mj.mj_comPos(m, d)
            mj.mj_jac(m, d, jacp, jacr, p, self.body[arm])
            J = np.vstack([jacp[:, self.dadr[arm]], 0.5 * jacr[:, self.dadr[arm]]])
            e = np.r_[ep, 0.5 * er]
            J_pinv = J.T @ np.linalg.inv(J @ J.T + DAMPING * np.eye(6))  # (6 joints, 6 task)
            dq = J_pinv @ e + (np.eye(6) - J_pinv @ J) @ (NULL_GAIN * ROLL_PULL * -q)
            q = np.clip(q + dq, self.lo[arm], self.hi[arm])
        return q


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def gripper_frame(arm: str, pitch: float, roll: float = 0.0) -> np.ndarray:
    """The gripper's orientation: fingers pointing away from the arm's base (left arm +x, right arm -x),
    tilted down by `pitch` and turned about their own axis by `roll` (0: the fingers close horizontally)."""
    yaw = 0.0 if arm == "left" else np.pi
    return rot_z(yaw) @ rot_y(pitch) @ rot_x(roll)
