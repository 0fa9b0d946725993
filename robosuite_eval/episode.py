"""One scripted episode: expert, hesitation or retry, with exact frame labels.

Timing. Physics and control run at 20 Hz; a recorded frame is taken every `stride` control steps
(stride 2 at the default 10 fps): frame k is the observation before control step k*stride, and its
action is the mean of the `stride` actions that follow it (a policy trained at 10 fps repeats its
action `stride` times, see `rollout.py`). Only recorded frames are rendered.

Labels (inclusive, in recorded frames, the bench's [m, n]; see robodata/ground_truth.py):

- hesitation: the reference freezes (or wiggles by a few millimetres) for `2*F` control steps starting at
  control step a (a multiple of the stride). Frame a/stride is taken before the freeze, while the arm
  is still moving; from frame a/stride + 1 on it has caught up with the frozen reference. So
  m = a/stride + 1, n = a/stride + F: F frames over which progress is flat (eq. B.2).
- retry: after the missed grasp the approach references are replayed backwards from control step a to
  b-1. Frame a/stride is the deepest point of the failed attempt (the peak of progress), frame b/stride the
  end of the retraction. So m = a/stride, n = b/stride, x = n - m = retraction frames (eq. B.3).

Generator v2 (a `HumanInjection`, robosuite_eval/human_pace.py) paces the oracle like a person and labels
its own stall and retraction: a hesitation's [m, n] are the frames observed from its first to its last
stalled control step; a retry's as above.

The hesitation's start is drawn from a dry run of the same seed without rendering (the simulation is
deterministic, so the injected run matches it up to the freeze): a random control step inside a motion
phase, so that the stall interrupts visible progress.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from robosuite_eval.human_pace import (
    EVAL_FPS,
    MIN_SCORED,
    MOVE_JITTER,
    YAW_PER_METRE,
    HumanInjection,
    max_steps,
    stall_offsets,
)
from robosuite_eval.oracle import GraspFailure, InfeasibleRetry, Oracle, Pace, Ref, Tracker
from robosuite_eval.tasks import (
    CAMERAS,
    CONTROL_FREQ,
    TaskSpec,
    environment_state,
    render_cameras,
    reset_env,
    robot_state,
)

MODES = ("expert", "hesitation", "retry")
MOTION_PHASES = ("approach", "descend", "lift", "transport", "place")
HESITATION_FRAMES = (5, 15)  # inclusive range of stalled frames (0.5-1.5 s at 10 fps)
RETRY_FRAMES = (6, 16)  # inclusive range of retraction frames
MICRO_AMPLITUDE = (0.003, 0.006)  # m, task-irrelevant wiggle during a "micro" hesitation


@dataclass(frozen=True)
class Injection:
    """What to inject into one episode; drawn by `plan_injection`, stored with the episode."""

    mode: str = "expert"
    frames: int = 0  # hesitation: stalled frames F; retry: requested retraction frames x
    start_step: int = -1  # hesitation: control step where the freeze begins
    style: str = ""  # hesitation: "stop" | "micro"
    amplitude: float = 0.0  # micro hesitation wiggle amplitude (m)
    direction: tuple[float, float, float] = (0.0, 0.0, 0.0)  # micro wiggle direction
    offset: float = 0.0  # retry: how far beside the object the failed grasp closes (m)


@dataclass
class EpisodeResult:
    task: str
    seed: int
    injection: Injection | HumanInjection
    success: bool
    steps: int  # control steps run
    stride: int
    states: np.ndarray  # (T, 9) observation.state per recorded frame
    actions: np.ndarray  # (T, 7) mean action over each frame's control steps
    eef_pos: np.ndarray  # (T, 3) grip-site position per frame
    target_pos: np.ndarray  # (T, 3) the grasp object's centre per frame
    phases: list[str]  # (T,) the oracle's phase at each frame
    images: dict[str, np.ndarray] = field(default_factory=dict)  # cam -> (T, H, W, 3) uint8
    env_states: np.ndarray | None = None  # (T, 7 * objects) observation.environment_state per frame
    m: int | None = None
    n: int | None = None

    @property
    def T(self) -> int:
        return len(self.states)

    def annotation(self, embodiment: str = "RoboSuite") -> dict:
        return {
            "mode": self.injection.mode,
            "m": self.m,
            "n": self.n,
            "T": self.T,
            "embodiment": embodiment,
            "task": self.task,
        }

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


def _stride(fps: int) -> int:
    if CONTROL_FREQ % fps:
        raise ValueError(f"fps {fps} must divide the control rate {CONTROL_FREQ} Hz (e.g. 10, 20, 5)")
    return CONTROL_FREQ // fps


def plan_injection(env, task: TaskSpec, mode: str, seed: int, fps: int = 10) -> Injection:
    """Draw the suboptimal behaviour for `seed` (lengths and phase are random per seed)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
    rng = np.random.default_rng([seed, 7919])
    if mode == "expert":
        return Injection()
    if mode == "retry":
        return Injection(
            mode="retry",
            frames=int(rng.integers(RETRY_FRAMES[0], RETRY_FRAMES[1] + 1)),
            offset=float(rng.uniform(0.01, 0.03)),
        )
    stride = _stride(fps)
    dry = run_episode(env, task, seed, Injection(), fps=fps, render_size=None)
    steps = np.arange(len(dry.phases)) * stride  # the phase at each recorded frame's control step
    ok = [s for s, p in zip(steps, dry.phases) if p in MOTION_PHASES and s >= 2 * stride]
    start = int(rng.choice(ok)) if ok else 2 * stride
    style = "stop" if rng.random() < 0.5 else "micro"
    d = rng.normal(size=3)
    return Injection(
        mode="hesitation",
        frames=int(rng.integers(HESITATION_FRAMES[0], HESITATION_FRAMES[1] + 1)),
        start_step=start,
        style=style,
        amplitude=float(rng.uniform(*MICRO_AMPLITUDE)) if style == "micro" else 0.0,
        direction=tuple(float(v) for v in d / np.linalg.norm(d)),
    )


def _stall(last: Ref, inj: Injection, n_steps: int) -> list[Ref]:
    """The frozen (or gently wiggling) reference: whole sine periods, so it ends where it began."""
    if inj.style != "micro":
        return [Ref(last.pos.copy(), last.yaw, last.grip, "hesitate") for _ in range(n_steps)]
    cycles = max(1, round(n_steps / CONTROL_FREQ))  # about 1 Hz
    k = np.arange(1, n_steps + 1)
    off = inj.amplitude * np.sin(2 * np.pi * cycles * k / n_steps)
    return [Ref(last.pos + o * np.asarray(inj.direction), last.yaw, last.grip, "hesitate") for o in off]


def _v2_plan(inj: HumanInjection, fps: int) -> tuple[GraspFailure | None, Pace, np.random.Generator]:
    """The oracle's pace (and retry) for a v2 injection; the stall's micro-movement is precomputed."""
    stall_pos = stall_yaw = None
    if inj.mode == "hesitation":
        # whole recorded frames, never fewer than drawn: (n - m) / fps >= the drawn seconds
        stall_pos, stall_yaw = stall_offsets(inj, int(np.ceil(inj.seconds * fps - 1e-9)) * _stride(fps))
    pace = Pace(
        speed=inj.speed,
        ramp_steps=inj.ramp_steps,
        jitter=MOVE_JITTER,
        yaw_per_metre=YAW_PER_METRE,
        stall_phase=inj.phase if inj.mode == "hesitation" else "",
        stall_fraction=inj.fraction,
        stall_pos=stall_pos,
        stall_yaw=stall_yaw,
        frame_stride=_stride(fps),
    )
    failure = None
    if inj.mode == "retry":
        failure = GraspFailure(
            offset=inj.offset,
            retract_frames=int(np.ceil(inj.seconds * fps - 1e-9)),
            frame_stride=_stride(fps),
            style=inj.style,
            lift=inj.lift,
            min_scored=MIN_SCORED,
            score_stride=max(1, fps // EVAL_FPS),
        )
    return failure, pace, np.random.default_rng(inj.jitter_seed)


def run_episode(
    env,
    task: TaskSpec,
    seed: int,
    injection: Injection | HumanInjection,
    fps: int = 10,
    render_size: int | None = 128,
    cameras=CAMERAS,
) -> EpisodeResult:
    """Run the oracle (with the injection) on `env` reset to `seed`; render recorded frames if asked.

    A `HumanInjection` runs generator v2 (robosuite_eval/human_pace.py); an `Injection`, v1."""
    stride = _stride(fps)
    obs = reset_env(env, seed)
    v2 = getattr(injection, "generator", "v1") == "v2"
    horizon = max_steps(task) if v2 else task.horizon
    failure, pace, rng = None, None, None
    if v2:
        failure, pace, rng = _v2_plan(injection, fps)
    elif injection.mode == "retry":
        failure = GraspFailure(offset=injection.offset, retract_frames=injection.frames, frame_stride=stride)
    oracle = Oracle(env, task, failure=failure, rng=rng, pace=pace)
    tracker = Tracker()

    def refs():
        for i, ref in enumerate(oracle.script()):
            if not v2 and injection.mode == "hesitation" and i == injection.start_step and oracle.history[:-1]:
                yield from _stall(oracle.history[-2], injection, injection.frames * stride)
            yield ref
        # pad with holds to a whole frame
        while True:
            yield Ref(oracle.history[-1].pos.copy(), oracle.history[-1].yaw, oracle.history[-1].grip, "end")

    states, env_states, actions, eef, target, phases = [], [], [], [], [], []
    images: dict[str, list] = {c: [] for c in cameras} if render_size else {}
    step, acc = 0, np.zeros(7)
    it = refs()
    done = False
    while not done:
        try:
            ref = next(it)
        except InfeasibleRetry:  # v2: the drawn retraction does not fit; the caller redraws
            break
        if step % stride == 0:
            if ref.phase == "end" or step >= horizon:
                break
            states.append(robot_state(obs))
            env_states.append(environment_state(obs, task))
            eef.append(np.array(obs["robot0_eef_pos"]))
            target.append(oracle.grasp_object().center)
            phases.append(ref.phase)
            if render_size:
                for cam, img in render_cameras(env, render_size, cameras).items():
                    images[cam].append(img)
        a = tracker.action(obs, ref)
        acc += a
        obs, _, _, _ = env.step(a)
        step += 1
        if step % stride == 0:
            actions.append(acc / stride)
            acc = np.zeros(7)
    success = bool(env._check_success())

    res = EpisodeResult(
        task=task.name,
        seed=seed,
        injection=injection,
        success=success,
        steps=step,
        stride=stride,
        states=np.asarray(states, dtype=np.float32),
        actions=np.asarray(actions, dtype=np.float32),
        env_states=np.asarray(env_states, dtype=np.float32),
        eef_pos=np.asarray(eef),
        target_pos=np.asarray(target),
        phases=phases,
        images={c: np.stack(v) for c, v in images.items()} if render_size else {},
    )
    if v2 and injection.mode == "hesitation":
        if oracle.stall_steps is not None and oracle.stall_steps[0] >= 0:
            a, b = oracle.stall_steps  # stalled control steps [a, b): frames observed from a to b are still
            res.m, res.n = -(-a // stride), b // stride
    elif injection.mode == "hesitation":
        a = injection.start_step // stride
        res.m, res.n = a + 1, a + injection.frames
    elif injection.mode == "retry" and failure is not None and failure.retract_steps:
        res.m = failure.retract_steps[0] // stride
        res.n = (failure.retract_steps[-1] + 1) // stride
    return res
