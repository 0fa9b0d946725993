"""Generator v2: human-paced scripted episodes with long, exactly labelled suboptimal segments.

Why. Generator v1 drives every move at a constant 0.15 m/s, so its trajectories last 5-17 s where the
paper's RoboSuite bench averages 17-28 s (Table B.3), and its hesitations (0.5-1.5 s) and retractions
(0.6-1.6 s) hold 1-3 frames at the bench's 2 fps. v2 keeps v1's oracles and exact labels and changes
the pace and the injections:

- Pacing, drawn per episode: a cruise speed (the task's pace times a log-uniform factor in [0.8, 1.25]),
  raised-cosine acceleration ramps of 0.3-0.7 s at both ends of every move, and a per-move speed jitter
  of +-12 %. Per-task paces are calibrated so that the mean duration of the hesitation and retry
  episodes lands on Table B.3's (minutes per 50 trajectories / 50; `TABLE_B3_SECONDS`).
- No unlabelled pauses: holds are only the gripper's own closing and opening; the scripted end-of-task
  hold of v1 is gone, so every stretch where nothing moves lies inside the labelled [m, n].
- Hesitation (eq. B.2), 2-8 s, interrupting a move drawn among the task's motions at a drawn fraction of
  its length: the move decelerates to a via point, then one of four styles, a full `stop`, or
  task-irrelevant micro-movements, `wiggle` (a 1-D sine, 4-15 mm, 0.5-2 Hz), `wander` (a smooth 3-D
  drift, a sum of incommensurate sines, 5-15 mm, 0.2-0.8 Hz) or `wrist` (yaw oscillation, 0.08-0.25 rad,
  0.3-1 Hz), each under a smooth envelope so it starts and ends at the via point; then the move resumes.
  [m, n] are the frames observed from the first to the last stalled control step: the plateau.
- Retry (eq. B.3), a retraction of 1.5-5 s, in two styles: `miss` (close beside the object, open, and
  retrace the approach backwards) and `regrasp` (grasp, lift 4-8 cm, then retrace that backwards: lower,
  release, rise, and grasp again; the lift is lowered when the drawn retraction is short, so that the
  release falls inside it). The retraction replays the forward references in reverse, so it runs
  at the forward per-frame rate, as eq. B.3 assumes; m is the peak (the first reversed step, on a
  recorded frame), n = m + x. The drawn length is never clamped: an episode whose attempt so far is
  shorter than the drawn retraction is redrawn with a derived seed, like a failed one. x is lengthened
  by at most 4 frames when that puts one more 2 fps scored frame inside [m, n], so every segment holds
  at least 4 scored frames (`MIN_SCORED`).
- Draws depend on the task and the seed: the generator is seeded with a stable hash of (task, seed)
  (`episode_seed`), so the six tasks do not share their draws at a given seed.

Choices the paper does not specify (it gives only durations and the segment semantics): the speed and
ramp ranges, the styles and their ranges above, and the 2-8 s / 1.5-5 s lengths (issue 13).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from robodata.ground_truth import MODES
from robosuite_eval.tasks import CONTROL_FREQ, TaskSpec

#: Table B.3 (RoboSuite rows): minutes per 50 bench trajectories (25 hesitation + 25 retry).
TABLE_B3_MINUTES = {
    "lift": 14.0,
    "pickplace_bread": 20.4,
    "pickplace_can": 23.3,
    "pickplace_cereal": 23.3,
    "pickplace_milk": 21.3,
    "stack": 17.6,
}
#: Mean trajectory duration (s) per task: minutes / 50 trajectories * 60.
TABLE_B3_SECONDS = {t: m * 60.0 / 50 for t, m in TABLE_B3_MINUTES.items()}
DURATION_TOLERANCE = 0.2  # v2's mean hesitation+retry duration lands within 20 % of TABLE_B3_SECONDS

#: Cruise speed (m/s) of each task's moves before the per-episode factor; calibrated so the mean
#: hesitation+retry duration matches TABLE_B3_SECONDS (the bench reports
#: the achieved means per task beside them).
PACE = {
    "lift": 0.07,
    "pickplace_bread": 0.108,
    "pickplace_can": 0.086,
    "pickplace_cereal": 0.09,
    "pickplace_milk": 0.102,
    "stack": 0.051,
}
PACE_FACTOR = (0.8, 1.25)  # per-episode speed factor, log-uniform
RAMP_SECONDS = (0.3, 0.7)  # acceleration / deceleration time of every move
MOVE_JITTER = 0.12  # per-move speed factor in [1 - j, 1 + j]
YAW_PER_METRE = 8.0  # rad of wrist turn per metre of travel at the same pace (v1: 1.2 rad/s at 0.15 m/s)

HESITATION_SECONDS = (2.0, 8.0)
HESITATION_STYLES = ("stop", "wiggle", "wander", "wrist")
RETRY_SECONDS = (1.5, 5.0)
RETRY_STYLES = ("miss", "regrasp")
REGRASP_LIFT = (0.04, 0.08)  # m
EVAL_FPS = 2  # the bench's scoring rate
MIN_SCORED = 4  # scored (2 fps) frames every segment holds
MOTIONS = {
    "lift": ("approach", "descend", "lift"),
    "pickplace": ("approach", "descend", "lift", "transport", "place"),
    "stack": ("approach", "descend", "lift", "transport", "place"),
}
#: Moves near the object: the micro-movements there are kept to a few millimetres so they do not push it.
NEAR_OBJECT = ("descend", "place")


def episode_seed(task: str, seed: int) -> int:
    """A 64-bit seed from (task, seed) by SHA-256: stable across processes and Python versions."""
    return int.from_bytes(hashlib.sha256(f"robosuite_eval/v2|{task}|{seed}".encode()).digest()[:8], "little")


def max_steps(task: TaskSpec) -> int:
    """Control steps before a v2 episode is cut off: three times the task's Table B.3 duration."""
    return int(3 * TABLE_B3_SECONDS[task.name] * CONTROL_FREQ)


@dataclass(frozen=True)
class HumanInjection:
    """One v2 episode's pace and suboptimal behaviour (drawn by `plan_human`, stored with the episode)."""

    mode: str = "expert"
    generator: str = "v2"
    speed: float = 0.1  # cruise speed of this episode (m/s)
    ramp_steps: int = 10  # control steps of each acceleration ramp
    jitter_seed: int = 0  # seeds the per-move speed jitter
    seconds: float = 0.0  # hesitation: stall length; retry: drawn retraction length (s)
    style: str = ""  # hesitation: stop | wiggle | wander | wrist; retry: miss | regrasp
    phase: str = ""  # hesitation: the move it interrupts
    fraction: float = 0.0  # hesitation: where along that move (0-1)
    amplitude: float = 0.0  # hesitation: m (wiggle, wander) or rad (wrist)
    frequency: float = 0.0  # hesitation: Hz
    direction: tuple[float, float, float] = (0.0, 0.0, 0.0)  # hesitation wiggle direction
    phases3: tuple[float, float, float] = (0.0, 0.0, 0.0)  # hesitation wander: per-axis phase (rad)
    offset: float = 0.0  # retry miss: how far beside the object the failed grasp closes (m)
    lift: float = 0.0  # retry regrasp: how high the object is lifted before it is put back (m)


def plan_human(task: TaskSpec, mode: str, seed: int) -> HumanInjection:
    """Draw one v2 episode from (task, seed): pace first, then the injection (fixed draw order)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
    rng = np.random.default_rng(episode_seed(task.name, seed))
    factor = float(np.exp(rng.uniform(*np.log(PACE_FACTOR))))
    pace = {
        "speed": PACE[task.name] * factor,
        "ramp_steps": int(round(rng.uniform(*RAMP_SECONDS) * CONTROL_FREQ)),
        "jitter_seed": int(rng.integers(2**31)),
    }
    if mode == "expert":
        return HumanInjection(mode="expert", **pace)
    if mode == "retry":
        style = RETRY_STYLES[int(rng.integers(len(RETRY_STYLES)))]
        return HumanInjection(
            mode="retry",
            **pace,
            seconds=float(rng.uniform(*RETRY_SECONDS)),
            style=style,
            offset=float(rng.uniform(0.01, 0.03)),
            lift=float(rng.uniform(*REGRASP_LIFT)),
        )
    phase = MOTIONS[task.family][int(rng.integers(len(MOTIONS[task.family])))]
    near = phase in NEAR_OBJECT
    return draw_hesitation(rng, pace, phase, caps=(0.006, 0.007) if near else (0.015, 0.015))


def draw_hesitation(rng: np.random.Generator, pace: dict, phase: str, caps: tuple[float, float]) -> HumanInjection:
    """A hesitation's style and micro-movement, drawn after the pace and phase (a fixed draw order: a dataset's
    episodes depend on it). `caps`: the upper ends of the wiggle and wander amplitudes (m), smaller near an
    object so the hand does not push it. Shared by every embodiment's human-paced generator."""
    style = HESITATION_STYLES[int(rng.integers(len(HESITATION_STYLES)))]
    amplitude, frequency = {
        "stop": (0.0, 0.0),
        "wiggle": (rng.uniform(0.004, caps[0]), rng.uniform(0.5, 2.0)),
        "wander": (rng.uniform(0.005, caps[1]), rng.uniform(0.2, 0.8)),
        "wrist": (rng.uniform(0.08, 0.25), rng.uniform(0.3, 1.0)),
    }[style]
    d = rng.normal(size=3)
    d[2] *= 0.5  # mostly sideways: a hand that hesitates rarely bobs up and down
    return HumanInjection(
        mode="hesitation",
        **pace,
        seconds=float(rng.uniform(*HESITATION_SECONDS)),
        style=style,
        phase=phase,
        fraction=float(rng.uniform(0.2, 0.8)),
        amplitude=float(amplitude),
        frequency=float(frequency),
        direction=tuple(float(v) for v in d / np.linalg.norm(d)),
        phases3=tuple(float(v) for v in rng.uniform(0, 2 * np.pi, 3)),
    )


def envelope(n: int, ramp: int) -> np.ndarray:
    """(n,) a flat-topped window rising from 0 and falling back to 0 over `ramp` steps at each end."""
    w = np.ones(n)
    r = min(ramp, n // 2)
    if r > 0:
        up = 0.5 * (1 - np.cos(np.pi * np.arange(1, r + 1) / (r + 1)))
        w[:r], w[n - r :] = up, up[::-1]
    w[-1] = 0.0  # ends exactly where it began
    return w


def stall_offsets(inj: HumanInjection, n: int, control_freq: int = CONTROL_FREQ) -> tuple[np.ndarray, np.ndarray]:
    """The hesitation's micro-movement over n control steps at `control_freq` Hz (RoboSuite 20, AgileX (sim) 50):
    ((n, 3) position offsets in m, (n,) yaw / wrist-roll offsets in rad); zero for a full stop. Smooth envelope
    (0.5 s ramps): starts and ends at rest."""
    t = np.arange(1, n + 1) / control_freq  # s
    env = envelope(n, control_freq // 2)
    pos, yaw = np.zeros((n, 3)), np.zeros(n)
    if inj.style == "wiggle":
        pos = (inj.amplitude * env * np.sin(2 * np.pi * inj.frequency * t))[:, None] * np.asarray(inj.direction)
    elif inj.style == "wander":
        # three incommensurate rhythms, one per axis (z at half amplitude): a slow, aimless drift
        ratios = np.array([1.0, np.sqrt(2.0), 0.5 * (1 + np.sqrt(5.0))])
        pos = inj.amplitude * env[:, None] * np.sin(2 * np.pi * inj.frequency * ratios * t[:, None] + inj.phases3)
        pos[:, 2] *= 0.5
    elif inj.style == "wrist":
        yaw = inj.amplitude * env * np.sin(2 * np.pi * inj.frequency * t)
    return pos, yaw


#: "Nothing moves" between two frames: hand under 1 cm/s, wrist quaternion under 0.03 /s per component,
#: fingers under 3 mm/s (observation.state: eef position, quaternion, finger positions).
STILL_PER_SECOND = (0.01, 0.03, 0.003)


def still_runs(states: np.ndarray, fps: float, m: int | None = None, n: int | None = None) -> list[tuple[int, int]]:
    """Maximal runs [a, b) of frame-to-frame steps in which nothing moves, outside the labelled [m, n]
    (the steps into and out of it included in the label): unlabelled pauses. states: (T, 9)."""
    s = np.asarray(states, dtype=np.float64)
    hand, quat, fingers = (np.abs(np.diff(s[:, sl], axis=0)) for sl in (slice(0, 3), slice(3, 7), slice(7, 9)))
    limits = np.asarray(STILL_PER_SECOND) / fps
    still = (np.linalg.norm(hand, axis=1) < limits[0]) & (quat.max(1) < limits[1]) & (fingers.max(1) < limits[2])
    if m is not None:
        still[max(m - 1, 0) : n + 1] = False
    runs, start = [], None
    for t, v in enumerate([*still, False]):
        if v and start is None:
            start = t
        elif not v and start is not None:
            runs.append((start, t))
            start = None
    return runs
