"""AgileX (sim) scripted bimanual expert, human-paced, with exactly labelled hesitations and retries.

The expert plans in end-effector space and records joint positions. Every move is a straight line of the
tool centre point (between the fingertips) with the orientation slerped along it, paced like generator v2
of RoboSuite (robosuite_eval/human_pace.py: a drawn cruise speed, raised-cosine ramps, per-move jitter);
each control step's pose goes through damped least-squares IK (agilex_sim.Kinematics) and the 14 joint
targets are what the joint-controlled gym-aloha scene executes and what the dataset records as action.
Targets are computed when a move starts from the objects' simulated poses, so the plan is closed loop
between moves (the left hand meets the cube where the right hand actually holds it; the peg is aligned with
the socket as they are actually held) and open loop within one.

Scripts (ours; gym-aloha ships none): transfer-cube: the right hand picks the cube and lifts it to the middle,
the left hand comes in sideways with its fingers upright and takes it, the right hand lets go and withdraws.
Insertion: the right hand picks the peg and the left the socket, one after the other, both lift them to the
middle, the peg is aligned with the socket's axis in front of its mouth and pushed in until it meets the pin.

Suboptimal behaviour, with the semantics and labels of RoboSuite v2 (robodata/ground_truth.py):
- hesitation (2-8 s): a move drawn among the script's motions decelerates to a via point at a drawn fraction,
  stalls there (full stop, a 1-D `wiggle`, a 3-D `wander` of the moving hands or a `wrist` roll) and resumes;
  the stall starts on a recorded frame, m, and lasts the drawn length in whole frames: n = m + x.
- retry (1.5-5 s of retraction): a failed grasp (`miss`: the hand closes short of the object, above it)
  or, on transfer-cube, a failed hand-over (`handover`: the left hand closes short of the cube); the hand
  opens and the joint references of the approach are replayed backwards at the forward rate, then the
  attempt is redone. m is the first reversed step (a recorded frame), n = m + x. A drawn retraction longer
  than the attempt so far raises `InfeasibleRetry` and the caller redraws with a derived seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

from robosuite_eval.agilex_sim import ARMS, CAMERAS, CONTROL_FREQ, AgilexTask, AlohaSim, gripper_frame, rot_x
from robosuite_eval.human_pace import (
    MOVE_JITTER,
    PACE_FACTOR,
    RAMP_SECONDS,
    RETRY_SECONDS,
    HumanInjection,
    draw_hesitation,
    envelope,
    stall_offsets,
)
from robosuite_eval.oracle import InfeasibleRetry

MODES = ("expert", "hesitation", "retry")
PACE = 0.09  # m/s cruise speed before the per-episode factor: 13-20 s expert episodes
#: rad: how far the picking hand points down. The long peg and socket are taken from straight above, so
#: that the fingers close over their centre of mass and gravity does not pivot them in the grip.
PICK_PITCH = {"transfer_cube": 1.0, "insertion": 1.45}
OPEN, CLOSED = 1.0, 0.0  # gym-aloha's normalised gripper command
GRIP_SECONDS = 0.6  # closing or opening the fingers
MEET = np.array([0.0, 0.5, 0.22])  # where the hands meet (world, m)
MOTIONS = {
    "transfer_cube": ("approach", "descend", "lift", "reach", "take", "withdraw"),
    "insertion": ("approach", "descend", "lift", "approach_socket", "descend_socket", "lift_socket", "align", "insert"),
}
RETRY_STYLES = {"transfer_cube": ("miss", "handover"), "insertion": ("miss", "miss_socket")}
MISS_HEIGHT = (0.03, 0.05)  # m: a missed grasp closes this far above the object's centre
HANDOVER_SHORT = (0.09, 0.12)  # m: a failed hand-over closes this far short of the cube (clear of it)


def episode_seed(task: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"agilex_sim/v2|{task}|{seed}".encode()).digest()[:8], "little")


def plan_agilex(task: AgilexTask, mode: str, seed: int) -> HumanInjection:
    """Draw one episode from (task, seed): pace first, then the injection (fixed draw order)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
    rng = np.random.default_rng(episode_seed(task.name, seed))
    pace = {
        "speed": PACE * float(np.exp(rng.uniform(*np.log(PACE_FACTOR)))),
        "ramp_steps": int(round(rng.uniform(*RAMP_SECONDS) * CONTROL_FREQ)),
        "jitter_seed": int(rng.integers(2**31)),
    }
    if mode == "expert":
        return HumanInjection(mode="expert", **pace)
    if mode == "retry":
        styles = RETRY_STYLES[task.env_name]
        style = styles[int(rng.integers(len(styles)))]
        short = HANDOVER_SHORT if style == "handover" else MISS_HEIGHT
        return HumanInjection(
            mode="retry",
            **pace,
            seconds=float(rng.uniform(*RETRY_SECONDS)),
            style=style,
            offset=float(rng.uniform(*short)),
        )
    motions = MOTIONS[task.env_name]
    phase = motions[int(rng.integers(len(motions)))]
    return draw_hesitation(rng, pace, phase, caps=(0.012, 0.012))


def _slerp(R0: np.ndarray, R1: np.ndarray, s: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation, Slerp

    return Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([R0, R1])))(np.clip(s, 0, 1)).as_matrix()


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector a onto unit vector b."""
    v, c = np.cross(a, b), float(np.dot(a, b))
    if np.linalg.norm(v) < 1e-9:
        return np.eye(3)
    K = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + K + K @ K / (1 + c)


@dataclass
class Step:
    action: np.ndarray  # (14,) joint targets + normalised grippers
    phase: str


@dataclass
class Expert:
    """Yields one `Step` per 50 Hz control step; reads the scene only when a move starts."""

    sim: AlohaSim
    inj: HumanInjection
    stride: int  # control steps per recorded frame
    fps: int
    rng: np.random.Generator = field(init=False)
    stall_steps: tuple[int, int] | None = None  # hesitation: stalled control steps [a, b)
    retract_steps: list[int] = field(default_factory=list)  # retry: control steps of the retraction
    steps: int = 0  # control steps yielded so far
    done_before_retry: bool = False  # the task's top reward came before the retraction: not a failed attempt

    def __post_init__(self):
        self.rng = np.random.default_rng(self.inj.jitter_seed)
        qpos = self.sim.physics.data.qpos
        self.q = {"left": qpos[0:6].copy(), "right": qpos[8:14].copy()}
        self.grip = {"left": OPEN, "right": OPEN}
        self.pose = {a: self.sim.kin.fk(a, self.q[a]) for a in ARMS}
        self.history: list[np.ndarray] = []  # the joint targets of every motion step, for a retraction
        self.retried = False

    # ------------------------------------------------------------------ primitives

    def action(self) -> np.ndarray:
        return np.r_[self.q["left"], self.grip["left"], self.q["right"], self.grip["right"]]

    def _emit(self, phase: str, motion: bool) -> Step:
        a = self.action()
        if motion:
            self.history.append(a)
        self.steps += 1
        return Step(a, phase)

    def move(self, targets: dict, phase: str) -> Iterator[Step]:
        """Straight TCP lines for the hands in `targets` (arm -> (pos, R)), paced; may hold a hesitation."""
        inj = self.inj
        if inj.mode == "hesitation" and inj.phase == phase and self.stall_steps is None:
            via = {}
            for arm, (p, R) in targets.items():
                p0, R0 = self.pose[arm]
                via[arm] = (p0 + inj.fraction * (p - p0), _slerp(R0, R, np.array([inj.fraction]))[0])
            yield from self._line(via, phase)
            yield from self._stall(list(targets), phase)
        yield from self._line(targets, phase)

    def _line(self, targets: dict, phase: str) -> Iterator[Step]:
        start = {arm: self.pose[arm] for arm in targets}
        dist = max(
            max(np.linalg.norm(p - start[a][0]), 0.05 * np.linalg.norm(R - start[a][1]))
            for a, (p, R) in targets.items()
        )
        speed = self.inj.speed * self.rng.uniform(1 - MOVE_JITTER, 1 + MOVE_JITTER)
        ramp = self.inj.ramp_steps
        n = max(int(np.ceil(dist / speed * CONTROL_FREQ)) + ramp, 2 * ramp, 2)
        vel = envelope(n + 1, ramp)[:n] + 1e-9
        s = np.cumsum(vel) / vel.sum()
        rots = {a: _slerp(start[a][1], R, s) for a, (p, R) in targets.items()}
        for k in range(n):
            for arm, (p, _) in targets.items():
                pos = start[arm][0] + s[k] * (p - start[arm][0])
                self._set(arm, pos, rots[arm][k])
            yield self._emit(phase, motion=True)

    def _set(self, arm: str, pos: np.ndarray, R: np.ndarray) -> None:
        self.q[arm] = self.sim.kin.ik(arm, pos, R, self.q[arm])
        self.pose[arm] = (np.asarray(pos, dtype=np.float64), np.asarray(R, dtype=np.float64))

    def _stall(self, arms: list[str], phase: str) -> Iterator[Step]:
        # The labelled stall starts on a recorded frame and lasts whole frames, never fewer than drawn, so
        # n - m is exactly the drawn length; the < 1 frame before that frame is held too (it is the pause's start).
        pad = -self.steps % self.stride
        n = pad + int(np.ceil(self.inj.seconds * self.fps - 1e-9)) * self.stride
        pos, roll = stall_offsets(self.inj, n, CONTROL_FREQ)
        base = {a: self.pose[a] for a in arms}
        a0 = self.steps + pad
        for k in range(n):
            for arm in arms:
                p, R = base[arm]
                self._set(arm, p + pos[k], R @ rot_x(roll[k]))
            yield self._emit("hesitate", motion=False)
        for arm in arms:
            self.pose[arm] = base[arm]
        self.stall_steps = (a0, self.steps)

    def hold(self, seconds: float, phase: str, **grips) -> Iterator[Step]:
        """Open or close grippers (arm=OPEN/CLOSED) and give the fingers `seconds` to get there."""
        self.grip.update(grips)
        for _ in range(int(round(seconds * CONTROL_FREQ))):
            yield self._emit(phase, motion=False)

    def retract(self, arm: str, attempt: int) -> Iterator[Step]:
        """Replay `arm`'s joint references of the attempt (motion steps from `attempt` on) backwards from the
        next recorded frame, the peak; the other hand keeps still."""
        while self.steps % self.stride:  # m: the first reversed step falls on a recorded frame
            yield self._emit("retry", motion=False)
        self.done_before_retry = self.sim.success()
        x = int(np.ceil(self.inj.seconds * self.fps - 1e-9)) * self.stride
        if x > len(self.history) - 1 - attempt:
            raise InfeasibleRetry(f"retraction of {x} steps, attempt of {len(self.history) - 1 - attempt}")
        cols = slice(0, 6) if arm == "left" else slice(7, 13)
        for k in range(x):
            self.q[arm] = self.history[-2 - k][cols].copy()
            self.retract_steps.append(self.steps)
            self.steps += 1
            yield Step(self.action(), "retract")
        self.pose[arm] = self.sim.kin.fk(arm, self.q[arm])
        del self.history[len(self.history) - x :]

    def failing(self, style: str) -> bool:
        return self.inj.mode == "retry" and self.inj.style == style and not self.retried

    # ------------------------------------------------------------------ the scripts

    def pick(
        self, arm: str, body: str, phases: tuple[str, str, str], style: str, lift_to: np.ndarray
    ) -> Iterator[Step]:
        """Approach above the object, descend, close, lift to `lift_to`; a `style` retry misses first."""
        approach, descend, lift = phases
        R = gripper_frame(arm, PICK_PITCH[self.sim.task.env_name])
        while True:
            attempt = len(self.history)
            obj, _ = self.sim.object_pose(body)
            yield from self.move({arm: (obj + [0, 0, 0.10], R)}, approach)
            miss = self.failing(style)
            yield from self.move({arm: (obj + [0, 0, self.inj.offset if miss else 0.0], R)}, descend)
            yield from self.hold(GRIP_SECONDS, "grasp", **{arm: CLOSED})
            if not miss:
                break
            yield from self.hold(GRIP_SECONDS, "release", **{arm: OPEN})
            self.history.append(self.action())  # the peak: where the failed attempt ended
            yield from self.retract(arm, attempt)
            self.retried = True
        yield from self.move({arm: (lift_to, R)}, lift)

    def transfer_cube(self) -> Iterator[Step]:
        yield from self.pick("right", "box", ("approach", "descend", "lift"), "miss", MEET + [0.02, 0, 0])
        R = gripper_frame("left", 0.0, np.pi / 2)  # fingers upright: they close on the cube's top and bottom
        while True:
            attempt = len(self.history)
            cube, _ = self.sim.object_pose("box")
            yield from self.move({"left": (cube + [-0.12, 0, 0], R)}, "reach")
            short = self.inj.offset if self.failing("handover") else 0.0
            yield from self.move({"left": (cube + [-0.005 - short, 0, 0], R)}, "take")
            yield from self.hold(GRIP_SECONDS, "grasp", left=CLOSED)
            if not short:
                break
            yield from self.hold(GRIP_SECONDS, "release", left=OPEN)
            self.history.append(self.action())
            yield from self.retract("left", attempt)
            self.retried = True
        yield from self.hold(GRIP_SECONDS, "release", right=OPEN)
        p, R_right = self.pose["right"]
        pl, R_left = self.pose["left"]
        yield from self.move(
            {"right": (p + [0.10, 0, 0.03], R_right), "left": (pl + [-0.06, 0, 0], R_left)}, "withdraw"
        )

    def insertion(self) -> Iterator[Step]:
        yield from self.pick("right", "peg", ("approach", "descend", "lift"), "miss", MEET + [0.16, 0, 0])
        yield from self.pick(
            "left", "socket", ("approach_socket", "descend_socket", "lift_socket"), "miss_socket", MEET + [-0.10, 0, 0]
        )
        for _ in range(2):  # the socket pivots in the fingers: turn the left hand until it lies along x
            yield from self._level_socket()
        for phase, depth in (("align", 0.20), ("align", 0.17), ("align", 0.15), ("insert", 0.12), ("insert", 0.07)):
            yield from self._to_socket(depth, phase)

    def _level_socket(self) -> Iterator[Step]:
        _, Rs = self.sim.object_pose("socket")
        turn = _align(Rs[:, 0] * np.sign(Rs[0, 0]), np.array([1.0, 0.0, 0.0]))
        p_cmd, R_cmd = self.pose["left"]
        yield from self.move({"left": (p_cmd, turn @ R_cmd)}, "level")

    def _to_socket(self, depth: float, phase: str) -> Iterator[Step]:
        """Put the peg's centre on the socket's axis, `depth` from its centre, the peg along the axis
        (a correction from the measured poses: the objects sit in the fingers where they sit)."""
        sock, Rs = self.sim.object_pose("socket")
        peg, Rp = self.sim.object_pose("peg")
        axis, peg_axis = Rs[:, 0] * np.sign(Rs[0, 0]), Rp[:, 0] * np.sign(Rp[0, 0])
        tcp, _ = self.sim.tcp("right")
        turn = _align(peg_axis, axis)
        goal_peg = sock + depth * axis
        p_cmd, R_cmd = self.pose["right"]
        target = p_cmd + (goal_peg - (tcp + turn @ (peg - tcp)))
        yield from self.move({"right": (target, turn @ R_cmd)}, phase)

    def script(self) -> Iterator[Step]:
        yield from getattr(self, self.sim.task.env_name)()


@dataclass
class AgilexEpisode:
    """One recorded episode (the fields `generate` writes; see robosuite_eval/episode.py's EpisodeResult)."""

    task: str
    seed: int
    injection: HumanInjection
    success: bool
    steps: int
    stride: int
    states: np.ndarray  # (T, 14)
    actions: np.ndarray  # (T, 14)
    env_states: np.ndarray  # (T, 7 * objects)
    phases: list[str]
    images: dict[str, np.ndarray] = field(default_factory=dict)
    m: int | None = None
    n: int | None = None

    @property
    def T(self) -> int:
        return len(self.states)

    def info(self) -> dict:
        return {
            "task": self.task,
            "seed": self.seed,
            "success": self.success,
            "steps": self.steps,
            "m": self.m,
            "n": self.n,
            "T": self.T,
            "injection": asdict(self.injection),
        }


def run_episode(
    sim: AlohaSim,
    seed: int,
    injection: HumanInjection,
    fps: int = 10,
    render_size: int | None = None,
    cameras=CAMERAS,
    settle: int = 10,
) -> AgilexEpisode:
    """Reset to `seed`, let the objects settle, run the expert; frame k is the observation before control step
    k*stride, its action the joint targets of that frame's last control step (where the arm should be at
    the next frame; a policy at `fps` holds it for `stride` steps)."""
    if CONTROL_FREQ % fps:
        raise ValueError(f"fps {fps} must divide the AgileX (sim) control rate {CONTROL_FREQ} Hz (e.g. 10, 25, 50)")
    stride = CONTROL_FREQ // fps
    sim.reset(seed)
    hold = np.r_[sim.physics.data.qpos[0:6], OPEN, sim.physics.data.qpos[8:14], OPEN]
    for _ in range(settle):  # the objects are placed 3 cm above the table; the fingers open
        sim.step(hold)
    expert = Expert(sim, injection, stride, fps)
    states, env_states, actions, phases = [], [], [], []
    images: dict[str, list] = {c: [] for c in cameras} if render_size else {}
    step, last = 0, None
    it = expert.script()
    while step < sim.task.horizon:
        try:
            s = next(it)
        except (StopIteration, InfeasibleRetry) as err:
            if isinstance(err, InfeasibleRetry):
                break
            if step % stride == 0:
                break
            s = Step(last.action, "end")  # pad the last frame with a hold
        if step % stride == 0:
            states.append(sim.state())
            env_states.append(sim.environment_state())
            phases.append(s.phase)
            if render_size:
                for cam, img in sim.render(render_size, cameras).items():
                    images[cam].append(img)
        sim.step(s.action)
        last = s
        step += 1
        if step % stride == 0:
            actions.append(s.action.astype(np.float32))
    states = states[: len(actions)]
    res = AgilexEpisode(
        task=sim.task.name,
        seed=seed,
        injection=injection,
        success=sim.success() and not expert.done_before_retry,
        steps=step,
        stride=stride,
        states=np.asarray(states, dtype=np.float32),
        actions=np.asarray(actions, dtype=np.float32),
        env_states=np.asarray(env_states[: len(actions)], dtype=np.float32),
        phases=phases[: len(actions)],
        images={c: np.stack(v[: len(actions)]) for c, v in images.items()} if render_size else {},
    )
    if injection.mode == "hesitation" and expert.stall_steps is not None:
        a, b = expert.stall_steps
        res.m, res.n = -(-a // stride), b // stride
    elif injection.mode == "retry" and expert.retract_steps:
        res.m = expert.retract_steps[0] // stride
        res.n = (expert.retract_steps[-1] + 1) // stride
    return res
