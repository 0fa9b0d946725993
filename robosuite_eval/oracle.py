"""Scripted oracles: state machines over privileged simulator state that drive a moving reference.

An oracle does not emit actions directly. It yields one *reference* per control step (end-effector
position, gripper yaw, gripper command, phase name); `Tracker` turns the reference into an OSC_POSE
delta action with a proportional law. Keeping the plan in reference space is what makes suboptimal
behaviour exact and physical:

- a straight-line move advances the reference by a fixed distance per control step (constant speed),
  so "running backwards along the approach at the same speed" is literally replaying the approach's
  references in reverse order;
- a hesitation freezes (or wiggles by millimetres) the reference, and the arm, which tracks it with a
  small lag, stops.

Each segment's target is computed when the segment starts, from the simulator's privileged state
(object pose and extent, bin placement, the in-hand offset of a grasped object), so the plan is closed
loop between segments and open loop within one.

Design choices the paper does not specify (appendix B gives only "scripted oracle"): 0.15 m/s reference
speed, a top-down grasp with the fingers closing across the object's narrower horizontal side, a lift
or carry height that clears the bins, and a short hold after the last motion so the success check sees
a settled scene.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from robosuite_eval.tasks import CONTROL_FREQ, TaskSpec

SPEED = 0.15  # m/s along a straight move
STEP = SPEED / CONTROL_FREQ  # reference advance per control step
YAW_STEP = 1.2 / CONTROL_FREQ  # rad per control step
OPEN, CLOSED = -1.0, 1.0
STILL_STEP = 5e-4  # m per control step (1 mm per 10 fps frame): slower than this, a v2 hand is not moving
OSC_POS_SCALE = 0.05  # m per unit action (robosuite OSC_POSE output_max)
OSC_ROT_SCALE = 0.5  # rad per unit action


@dataclass
class Ref:
    """Where the hand should be at one control step."""

    pos: np.ndarray  # (3,) world frame, the gripper's grip site
    yaw: float  # rotation about world z of a top-down gripper
    grip: float  # -1 open, +1 closed
    phase: str


def _scored(m: int, n: int, step: int) -> int:
    """Multiples of `step` in [m, n]: the frames the bench scores there (2 fps from 10 fps: step 5)."""
    return n // step - (m + step - 1) // step + 1


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


DOWN = np.diag([1.0, -1.0, -1.0])  # the Panda hand pointing down, fingers closing along world y


def yaw_of_gripper(R: np.ndarray) -> float:
    """The yaw that `_rot_z(yaw) @ DOWN` best matches."""
    M = R @ DOWN.T
    return float(np.arctan2(M[1, 0], M[0, 0]))


def _rotvec(R: np.ndarray) -> np.ndarray:
    """Axis-angle vector of a rotation matrix (log map)."""
    cos = np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cos)
    if angle < 1e-6:
        return np.zeros(3)
    axis = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    if np.sin(angle) < 1e-4:  # near pi: use the diagonal
        axis = np.sqrt(np.clip((np.diag(R) + 1.0) / 2.0, 0.0, None))
        return axis / np.linalg.norm(axis) * angle
    return axis / (2.0 * np.sin(angle)) * angle


def quat_xyzw_to_mat(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


class Tracker:
    """Proportional OSC_POSE delta law: action = gain * (reference - current) / output scale."""

    def __init__(self, pos_gain: float = 1.5, rot_gain: float = 1.0):
        self.pos_gain, self.rot_gain = pos_gain, rot_gain

    def action(self, obs: dict, ref: Ref) -> np.ndarray:
        eef = obs["robot0_eef_pos"]
        R = quat_xyzw_to_mat(obs["robot0_eef_quat"])
        a = np.zeros(7)
        a[:3] = np.clip(self.pos_gain * (ref.pos - eef) / OSC_POS_SCALE, -1.0, 1.0)
        a[3:6] = np.clip(self.rot_gain * _rotvec(_rot_z(ref.yaw) @ DOWN @ R.T) / OSC_ROT_SCALE, -1.0, 1.0)
        a[6] = ref.grip
        return a


# ---------------------------------------------------------------- privileged object geometry


@dataclass
class ObjectPose:
    center: np.ndarray  # (3,) world centre of the collision bounding box
    half: np.ndarray  # (3,) half extents in the object's own frame
    yaw: float  # object's rotation about z

    @property
    def top(self) -> float:
        return float(self.center[2] + self.half[2])

    @property
    def bottom(self) -> float:
        return float(self.center[2] - self.half[2])


def object_pose(env, body_name: str) -> ObjectPose:
    """Bounding box of a body's collision geoms, from the MuJoCo model (works for meshes and boxes)."""
    m, d = env.sim.model._model, env.sim.data._data
    import mujoco

    bid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, body_name)
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for g in np.nonzero(m.geom_bodyid == bid)[0]:
        if m.geom_contype[g] == 0 and m.geom_conaffinity[g] == 0:
            continue  # visual-only geom
        Rg = np.zeros(9)
        mujoco.mju_quat2Mat(Rg, m.geom_quat[g])
        c, h = m.geom_aabb[g][:3], m.geom_aabb[g][3:]
        for sx in (-1, 1):
            for sy in (-1, 1):
                for sz in (-1, 1):
                    p = m.geom_pos[g] + Rg.reshape(3, 3) @ (c + h * np.array([sx, sy, sz]))
                    lo, hi = np.minimum(lo, p), np.maximum(hi, p)
    Rb = d.xmat[bid].reshape(3, 3)
    center_local = (lo + hi) / 2.0
    return ObjectPose(
        center=d.xpos[bid] + Rb @ center_local, half=(hi - lo) / 2.0, yaw=float(np.arctan2(Rb[1, 0], Rb[0, 0]))
    )


def grasp_yaw(obj: ObjectPose, round_object: bool = False) -> float:
    """Gripper yaw that closes the fingers across the object's narrower horizontal side, turning least."""
    if round_object:
        return 0.0
    hx, hy = obj.half[0], obj.half[1]
    yaw = obj.yaw - np.pi / 2 if hx <= hy else obj.yaw  # fingers close along the gripper's y axis
    period = np.pi / 2 if abs(hx - hy) < 0.15 * max(hx, hy) else np.pi  # square section: 4-fold symmetric
    return float((yaw + period / 2) % period - period / 2)


# ---------------------------------------------------------------- the oracle


@dataclass
class GraspFailure:
    """Retry injection: the first grasp closes beside the object, then the approach is reversed.

    v2 (`style` set): `retract_frames` is the drawn length, never shortened; `style` "regrasp" grasps and
    lifts the object by `lift` before the reversal lowers and releases it."""

    offset: float  # lateral miss distance (m) beyond the object's side
    retract_frames: int  # length of the retraction in recorded frames
    frame_stride: int  # control steps per recorded frame
    retract_steps: list[int] = field(default_factory=list)  # filled in: control steps of the retraction
    style: str = ""  # v2: "miss" | "regrasp"; "" is v1 (a miss whose retraction a short approach clamps)
    lift: float = 0.0  # v2 regrasp: lift height (m)
    min_scored: int = 0  # v2: lengthen the retraction (<= 4 frames) until [m, n] holds this many scored frames
    score_stride: int = 5  # recorded frames per scored frame


class InfeasibleRetry(RuntimeError):
    """The attempt so far is shorter than the drawn retraction (v2 redraws rather than clamp)."""


@dataclass(frozen=True)
class Pace:
    """v2 pacing: cruise speed, raised-cosine ramps, per-move jitter, and an optional hesitation."""

    speed: float  # m/s
    ramp_steps: int  # control steps of each acceleration / deceleration ramp
    jitter: float  # per-move speed factor in [1 - jitter, 1 + jitter]
    yaw_per_metre: float  # rad/m: the wrist turns at speed * yaw_per_metre rad/s
    stall_phase: str = ""  # the move a hesitation interrupts ("" : none)
    stall_fraction: float = 0.5  # where along it
    stall_pos: np.ndarray | None = None  # (N, 3) position offsets of the stall's N control steps
    stall_yaw: np.ndarray | None = None  # (N,) yaw offsets
    frame_stride: int = 2  # control steps per recorded frame: the stall starts on a recorded frame


class Oracle:
    """Yields one `Ref` per control step until the task's script is done.

    `failure`, when given, makes the first grasp miss and inserts the reversed approach (retry mode).
    """

    def __init__(
        self,
        env,
        task: TaskSpec,
        failure: GraspFailure | None = None,
        rng: np.random.Generator | None = None,
        pace: Pace | None = None,
    ):
        self.env, self.task, self.failure, self.pace = env, task, failure, pace
        self.rng = rng or np.random.default_rng(0)
        self.step = 0  # control steps yielded so far
        self.history: list[Ref] = []
        self.stall_steps: tuple[int, int] | None = None  # v2 hesitation: [first, last + 1) control steps

    # -- privileged state --------------------------------------------------------------------
    def eef(self) -> np.ndarray:
        return np.array(self.env.sim.data.site_xpos[self.env.robots[0].eef_site_id["right"]])

    def eef_yaw(self) -> float:
        R = np.array(self.env.sim.data.site_xmat[self.env.robots[0].eef_site_id["right"]]).reshape(3, 3)
        return yaw_of_gripper(R)

    def grasp_object(self) -> ObjectPose:
        fam = self.task.family
        if fam == "lift":
            return object_pose(self.env, self.env.cube.root_body)
        if fam == "stack":
            return object_pose(self.env, self.env.cubeA.root_body)
        return object_pose(self.env, self.env.objects[self.env.object_id].root_body)

    def grasp_z(self, obj: ObjectPose) -> float:
        """Grip-site height for a grasp: the box centre, but fingertips (1.2 cm below) stay off the floor."""
        return max(obj.center[2], obj.bottom + 0.022)

    # -- motion primitives -------------------------------------------------------------------
    def _emit(self, ref: Ref) -> Ref:
        self.history.append(ref)
        self.step += 1
        return ref

    def move(self, target, yaw: float, grip: float, phase: str, settle: int = 12, tol: float = 0.006) -> Iterator[Ref]:
        if self.pace is not None:
            yield from self._paced_move(target, yaw, grip, phase, settle, tol)
            return
        start = self.history[-1] if self.history else Ref(self.eef(), self.eef_yaw(), OPEN, phase)
        target = np.asarray(target, dtype=float)
        dyaw = (yaw - start.yaw + np.pi) % (2 * np.pi) - np.pi
        n = int(max(np.ceil(np.linalg.norm(target - start.pos) / STEP), np.ceil(abs(dyaw) / YAW_STEP), 1))
        for i in range(1, n + 1):
            t = i / n
            yield self._emit(Ref(start.pos + t * (target - start.pos), start.yaw + t * dyaw, grip, phase))
        for _ in range(settle):  # hold until the arm has caught up with the reference
            if np.linalg.norm(self.eef() - target) < tol:
                break
            yield self._emit(Ref(target.copy(), start.yaw + dyaw, grip, phase))

    def _paced_move(self, target, yaw: float, grip: float, phase: str, settle: int, tol: float) -> Iterator[Ref]:
        """v2: a straight move with raised-cosine acceleration ramps at this episode's pace; the move the
        hesitation interrupts decelerates to a via point, stalls there, then goes on."""
        p = self.pace
        start = self.history[-1] if self.history else Ref(self.eef(), self.eef_yaw(), OPEN, phase)
        target = np.asarray(target, dtype=float)
        dyaw = (yaw - start.yaw + np.pi) % (2 * np.pi) - np.pi
        if p.stall_phase == phase and self.stall_steps is None:
            f = p.stall_fraction
            via = start.pos + f * (target - start.pos)
            self.stall_steps = (-1, -1)  # the recursive calls below must not stall again
            yield from self._paced_move(via, start.yaw + f * dyaw, grip, phase, settle=12, tol=0.004)
            while self.step % p.frame_stride:  # on a recorded frame, so [m, n] spans exactly N / stride frames
                yield from self.hold(grip, 1, phase)
            first = self.step
            for dp, dy in zip(p.stall_pos, p.stall_yaw):
                yield self._emit(Ref(via + dp, start.yaw + f * dyaw + dy, grip, "hesitate"))
            self.stall_steps = (first, self.step)
            yield from self._paced_move(target, yaw, grip, phase, settle, tol)
            return
        speed = p.speed * self.rng.uniform(1 - p.jitter, 1 + p.jitter) / CONTROL_FREQ  # m per control step
        cruise = max(np.linalg.norm(target - start.pos) / speed, abs(dyaw) / (speed * p.yaw_per_metre))
        # a raised-cosine ramp of r steps covers r/2 cruise steps' distance: r/2 + r/2 extra steps in all
        n = max(int(np.ceil(cruise + p.ramp_steps)), 1)
        w = np.ones(n)
        r = min(p.ramp_steps, n // 2)
        if r > 0:
            up = 0.5 * (1 - np.cos(np.pi * np.arange(1, r + 1) / (r + 1)))
            w[:r], w[n - r :] = up, up[::-1]
        s = np.cumsum(w) / w.sum()  # (n,) progress along the move, ends at 1
        for t in s:
            yield self._emit(Ref(start.pos + t * (target - start.pos), start.yaw + t * dyaw, grip, phase))
        prev = self.eef()
        for _ in range(settle):  # hold until the arm has caught up with the reference ...
            if np.linalg.norm(prev - target) < tol:
                break
            yield self._emit(Ref(target.copy(), start.yaw + dyaw, grip, phase))
            now = self.eef()
            if np.linalg.norm(now - prev) < STILL_STEP:  # ... or stops against a contact: waiting = a pause
                break
            prev = now

    def grip_hold(self, grip: float, steps: int, phase: str) -> Iterator[Ref]:
        """v1: a fixed hold; v2: hold until the fingers have stopped (at most `steps`, at least 4 steps),
        so no stretch of stillness outside a labelled segment."""
        if self.pace is None:
            yield from self.hold(grip, steps, phase)
            return
        fingers = self.env.robots[0].gripper_joints["right"]
        last = None
        for i in range(steps):
            yield from self.hold(grip, 1, phase)
            q = np.array([self.env.sim.data.get_joint_qpos(j) for j in fingers])
            if i >= 3 and last is not None and np.abs(q - last).max() < 2e-4:
                break
            last = q

    def hold(self, grip: float, steps: int, phase: str) -> Iterator[Ref]:
        last = self.history[-1]
        for _ in range(steps):
            yield self._emit(Ref(last.pos.copy(), last.yaw, grip, phase))

    def reverse(self, refs: list[Ref], phase: str) -> Iterator[Ref]:
        """Replay references backwards (same per-step advance, so the same speed), gripper open."""
        for r in reversed(refs):
            yield self._emit(Ref(r.pos.copy(), r.yaw, OPEN, phase))

    # -- task scripts ------------------------------------------------------------------------
    def _grasp_yaw(self, obj: ObjectPose) -> float:
        yaw = grasp_yaw(obj, self.task.name == "pickplace_can")
        if self.task.family != "stack":
            return yaw
        # Stack: the cubes can start a few cm apart, and a finger that comes down on cube B stops the
        # descent (4 of 50 seeds failed that way). A cube can be gripped across either pair of faces, so
        # close the fingers (gripper y axis) across the A->B direction, i.e. fingers beside, not towards, B.
        #
        # The two-finger hand is symmetric under a half turn, so each candidate is taken modulo pi at the
        # representative nearest the hand's current yaw (a turn of at most pi/2). Picking by |yaw| instead
        # asked for a turn of ~pi from the start yaw (~pi/2) on some seeds; wrapped the wrong way, that
        # drove the wrist into its joint limit, the hand swung 10 cm off cube A and closed on air (seed 17).
        ab = object_pose(self.env, self.env.cubeB.root_body).center[:2] - obj.center[:2]
        ab = ab / max(np.linalg.norm(ab), 1e-9)
        current = self.history[-1].yaw if self.history else self.eef_yaw()
        candidates = [y + np.pi * np.round((current - y) / np.pi) for y in (yaw, yaw + np.pi / 2)]
        finger_along_ab = [abs((_rot_z(y) @ np.array([0.0, 1.0, 0.0]))[:2] @ ab) for y in candidates]
        best = min(range(2), key=lambda i: (round(finger_along_ab[i], 3), abs(candidates[i] - current)))
        return float(candidates[best])

    def approach_and_grasp(self) -> Iterator[Ref]:
        obj = self.grasp_object()
        yaw = self._grasp_yaw(obj)
        if self.failure is not None:
            if self.failure.style == "regrasp":
                yield from self._put_back(obj, yaw)
            else:
                yield from self._failed_grasp(obj, yaw)
            obj = self.grasp_object()
            yaw = self._grasp_yaw(obj)
        xy = obj.center[:2]
        yield from self.move([*xy, obj.top + 0.08], yaw, OPEN, "approach")
        yield from self.move([*xy, self.grasp_z(obj)], yaw, OPEN, "descend", settle=16, tol=0.004)
        yield from self.grip_hold(CLOSED, 14, "grasp")

    def _failed_grasp(self, obj: ObjectPose, yaw: float) -> Iterator[Ref]:
        """Approach a point beside the object, close on nothing, open, then back out along the approach."""
        f = self.failure
        # miss sideways, perpendicular to the closing direction, towards the workspace centre
        side = _rot_z(yaw) @ np.array([1.0, 0.0, 0.0])
        half_side = abs(side[:2] @ (_rot_z(obj.yaw)[:2, :2] @ np.diag(obj.half[:2]) @ np.ones(2)))
        toward_centre = self._workspace_centre() - obj.center[:2]
        sign = 1.0 if side[:2] @ toward_centre >= 0 else -1.0
        miss_xy = obj.center[:2] + sign * side[:2] * (half_side + 0.012 + f.offset)
        start = len(self.history)
        yield from self.move([*miss_xy, obj.top + 0.08], yaw, OPEN, "approach", settle=0)
        yield from self.move([*miss_xy, max(self.grasp_z(obj), obj.bottom + 0.03)], yaw, OPEN, "descend", settle=0)
        approach = self.history[start:]
        yield from self.grip_hold(CLOSED, 12, "grasp")
        yield from self.grip_hold(OPEN, 10, "release")
        # align the retraction to a recorded frame so [m, n] is exact in native frames
        while self.step % f.frame_stride:
            yield from self.hold(OPEN, 1, "release")
        if f.style:
            yield from self._retract(approach, lambda r: OPEN)
            return
        # the retraction cannot run further back than the approach came (a short approach clamps it)
        n_steps = min(f.retract_frames, len(approach) // f.frame_stride) * f.frame_stride
        first = self.step
        yield from self.reverse(approach[-n_steps:], "retract")
        f.retract_steps = list(range(first, self.step))

    def _retract(self, forward: list[Ref], grip_of) -> Iterator[Ref]:
        """v2: replay the last x frames of `forward` backwards, x the drawn length (lengthened by at most 4
        frames to hold `min_scored` scored frames); `grip_of(ref)` is the gripper command while replaying."""
        f, s = self.failure, self.failure.frame_stride
        m, x = self.step // s, f.retract_frames
        while f.min_scored and _scored(m, m + x, f.score_stride) < f.min_scored and x < f.retract_frames + 4:
            x += 1
        if x * s > len(forward):
            raise InfeasibleRetry(
                f"a retraction of {x} frames needs {x * s} control steps of forward motion; the attempt made {len(forward)}"
            )
        first = self.step
        for r in reversed(forward[len(forward) - x * s :]):
            yield self._emit(Ref(r.pos.copy(), r.yaw, grip_of(r), "retract"))
        f.retract_steps = list(range(first, self.step))

    def _put_back(self, obj: ObjectPose, yaw: float) -> Iterator[Ref]:
        """v2 regrasp retry: grasp, lift, then retrace that backwards: lower, release, rise."""
        f = self.failure
        start = len(self.history)
        xy = obj.center[:2]
        yield from self.move([*xy, obj.top + 0.08], yaw, OPEN, "approach")
        yield from self.move([*xy, self.grasp_z(obj)], yaw, OPEN, "descend", settle=16, tol=0.004)
        yield from self.grip_hold(CLOSED, 14, "grasp")
        # the release must fall inside the drawn retraction: the lift may take at most x minus the grasp
        # hold minus 3 frames of rising (the lift height is lowered for that, never the retraction)
        hold_steps = len(self.history) - start - sum(r.phase in ("approach", "descend") for r in self.history[start:])
        budget = f.retract_frames * f.frame_stride - hold_steps - 3 * f.frame_stride - 2 * self.pace.ramp_steps
        step_len = self.pace.speed * (1 - self.pace.jitter) / CONTROL_FREQ
        lift = min(f.lift, max(budget, 0) * step_len)
        last = self.history[-1]
        yield from self.move(last.pos + [0, 0, lift], last.yaw, CLOSED, "lift", settle=0)
        while self.step % f.frame_stride:
            yield from self.hold(CLOSED, 1, "lift")
        # lowering holds the object; from the grasp back, the hand is open: the object is released
        yield from self._retract(self.history[start:], lambda r: CLOSED if r.phase == "lift" else OPEN)

    def _base_xy(self) -> np.ndarray:
        m = self.env.sim.model
        return np.array(self.env.sim.data.body_xpos[m.body_name2id(self.env.robots[0].robot_model.root_body)][:2])

    def _bin_goal(self) -> np.ndarray:
        """The target quadrant's centre, pulled towards the robot by 40% of the success tolerance.

        The far quadrant (the can's) is at the edge of the Panda's reach; robosuite's check accepts an
        object within a quarter bin of the centre, so aiming nearer the robot keeps the arm unstretched.
        """
        centre = np.asarray(self.env.target_bin_placements[self.env.object_id][:2], dtype=float)
        tol = np.asarray(self.env.bin_size[:2], dtype=float) / 4.0
        return centre + 0.4 * tol * np.sign(self._base_xy() - centre)

    def _workspace_centre(self) -> np.ndarray:
        if self.task.family == "pickplace":
            return np.asarray(self.env.bin1_pos[:2], dtype=float)
        return np.asarray(self.env.table_offset[:2], dtype=float)

    def script(self) -> Iterator[Ref]:
        fam = self.task.family
        yield from self.approach_and_grasp()
        if fam == "lift":
            last = self.history[-1]
            yield from self.move(last.pos + [0, 0, 0.15], last.yaw, CLOSED, "lift")
            if self.pace is None:  # v2 ends with the motion: no unlabelled pause
                yield from self.hold(CLOSED, 10, "hold")
            return
        obj = self.grasp_object()
        in_hand = obj.center - self.eef()  # object centre relative to the grip site
        last = self.history[-1]
        if fam == "pickplace":
            carry_bottom = 1.0  # object bottom above the bin walls
            goal_xy = self._bin_goal()
            place_bottom = float(self.env.bin2_pos[2]) + 0.045
        else:  # stack: cube A onto cube B
            cube_b = object_pose(self.env, self.env.cubeB.root_body)
            carry_bottom = cube_b.top + 0.05
            goal_xy = cube_b.center[:2]
            place_bottom = cube_b.top + 0.004
        lift_z = carry_bottom - (in_hand[2] - obj.half[2])
        yield from self.move([*last.pos[:2], lift_z], last.yaw, CLOSED, "lift", settle=0)
        yield from self.move([*(goal_xy - in_hand[:2]), lift_z], last.yaw, CLOSED, "transport")
        obj = self.grasp_object()
        in_hand = obj.center - self.eef()
        place_z = place_bottom - (in_hand[2] - obj.half[2])
        yield from self.move([*(goal_xy - in_hand[:2]), place_z], last.yaw, CLOSED, "place", settle=10)
        yield from self.grip_hold(OPEN, 10, "release")
        last = self.history[-1]
        back = self._base_xy() - last.pos[:2]
        back = 0.06 * back / np.linalg.norm(back)  # up and towards the base: never a stretched arm
        yield from self.move(last.pos + [back[0], back[1], 0.12], last.yaw, OPEN, "retreat", settle=0)
        if self.pace is None:
            yield from self.hold(OPEN, 10, "hold")
