"""Configs of the `robosuite_eval` subcommands (light module: no robosuite, torch or lerobot import)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Mode = Literal["expert", "hesitation", "retry"]
GenerateMode = Literal["expert", "hesitation", "retry", "mixed"]


@dataclass(frozen=True)
class ExpertsConfig:
    """Measure each scripted oracle's success rate with the environment's own `_check_success` (no rendering)."""

    task: str = "all"
    """A task short name (lift, pickplace_bread, pickplace_can, pickplace_cereal, pickplace_milk, stack) or all."""
    trials: int = 50
    """Seeded resets per task (seeds seed .. seed+trials-1)."""
    seed: int = 0
    mode: Mode = "expert"
    """Also measures how often the injected hesitation/retry episodes still succeed."""
    out: Path = Path("bench/results/robosuite_experts.json")
    """JSON: task -> {trials, successes, rate, failed_seeds}."""
    debug: bool = False


@dataclass(frozen=True)
class GenerateConfig:
    """Record scripted episodes into a LeRobot v3.0 dataset (with the bench's annotation table)."""

    out: Path
    """Dataset root for one task, or, with --task all, a folder that receives one dataset per task and mode."""
    task: str = "lift"
    """A RoboSuite task (lift, pickplace_bread, pickplace_can, pickplace_cereal, pickplace_milk, stack; all: the
    six) or an AgileX (sim) task (agilex_transfer_cube, agilex_insertion; agilex_all: both)."""
    mode: GenerateMode = "expert"
    """Behaviour of every episode; `mixed`: expert, hesitation and retry episodes in one dataset (see --mix),
    each episode's mode in meta/suboptimal_annotations.parquet."""
    mix: str | None = None
    """With --mode mixed: episode proportions expert:hesitation:retry (default 1:1:1); episodes follow the
    pattern in order (2:1:1 -> expert, hesitation, retry, expert, ...), so any prefix keeps the proportions."""
    episodes: int = 25
    seed: int = 0
    """Episode i uses simulator seed seed+i (a seed whose scripted run fails is retried with a derived seed)."""
    fps: int = 10
    """Recorded (native) fps; must divide the 20 Hz control rate."""
    image_size: int | None = None
    """Rendered size (default: the embodiment's, RoboSuite 128, AgileX (sim) 64: it renders in software)."""
    cameras: tuple[str, ...] | None = None
    """Cameras to render and record (each one costs rendering time; state-only uses need none of them: pass
    --cameras with no name). Default, the embodiment's: RoboSuite agentview and robot0_eye_in_hand (the
    default value model reads the wrist camera robot0_eye_in_hand); AgileX (sim) cam_high, cam_left_wrist
    and cam_right_wrist, the three cameras of an AgileX Cobot Magic."""
    workers: int = 2
    """Worker processes simulating and rendering episodes (0: in this process)."""
    embodiment: str | None = None
    """The annotation table's embodiment (default: the task's, "RoboSuite" or "AgileX (sim)")."""
    generator: Literal["v1", "v2"] | None = None
    """Default v2 for every embodiment: human-paced episodes (17-28 s, Table B.3) with 2-8 s hesitations and
    1.5-5 s retractions in several styles, draws seeded by (task, seed) (robosuite_eval/human_pace.py); the
    data the default value model was trained on and the bench uses. v1 (RoboSuite only): the original
    constant-speed scripts (5-17 s, 0.5-1.6 s segments), the default before v2 was: datasets and results made
    then by a command without --generator are v1's, so reproduce them with `--generator v1` (a resume of such
    a dataset says so). AgileX (sim) tasks (agilex_transfer_cube, agilex_insertion) have v2 only."""
    debug: bool = False


@dataclass(frozen=True)
class RolloutConfig:
    """Score a policy in simulation: per-trial success, success rate with a Wilson 95% interval, videos."""

    policy: str
    """A LeRobot checkpoint directory (config.json + model.safetensors) or ws://HOST:PORT (policy_ft serve)."""
    task: str = "lift"
    trials: int = 50
    seed: int = 0
    """Trial i resets the simulator with seed seed+i."""
    fps: int = 10
    """Policy rate; each action is repeated 20/fps control steps."""
    image_size: int = 128
    max_steps: int | None = None
    """Control steps per trial (default: the task's horizon)."""
    replan_steps: int | None = None
    """Actions executed from each predicted chunk before the policy is asked again (default: the policy's
    n_action_steps)."""
    videos: int = 3
    """Save MP4s of the first N trials (none for a policy that reads no camera: nothing is rendered)."""
    out: Path = Path("rollouts")
    """Folder for rollout.json (per-trial outcomes, success rate, Wilson interval) and the videos
    trial_000.mp4, trial_001.mp4, ... of the first --videos trials."""
    device: str = "cpu"
    debug: bool = False

    def validate(self) -> None:
        """Cheap checks run by the CLI before robosuite, torch and lerobot load (seconds, not a minute)."""
        from robosuite_eval.embodiments import embodiment_of, get_task
        from robosuite_eval.policy import resolve_checkpoint

        freq = embodiment_of(get_task(self.task)).control_freq
        if self.trials <= 0:
            raise ValueError(f"--trials must be positive, got {self.trials}")
        if self.fps <= 0 or freq % self.fps:
            raise ValueError(f"--fps {self.fps} must divide the {freq} Hz control rate (e.g. 10 or 5)")
        if not self.policy.startswith(("ws://", "wss://")):
            resolve_checkpoint(self.policy)


@dataclass(frozen=True)
class RobotLoopConfig:
    """Run one simulated episode through the client loop a real robot runs (policy_ft.robot_client) against
    a `policy_ft serve` server: the robot's state and cameras in, one action of the chunk per control period."""

    server: str
    """ws://HOST:PORT of a running `policy_ft serve`."""
    task: str = "agilex_transfer_cube"
    seed: int = 0
    """The simulator's seed for the episode's placement."""
    fps: int = 10
    """Control periods per second: each action is held control_freq/fps simulator steps (AgileX (sim) 50 Hz,
    RoboSuite 20 Hz)."""
    control_hz: float | None = None
    """Sleep to this many control periods per second, as a real robot's loop does (default: as fast as the
    simulation steps)."""
    max_steps: int | None = None
    """Simulator steps before the episode ends (default: the task's horizon)."""
    out: Path = Path("robot_loop")
    """Folder for robot_loop.json (success, steps, chunks asked, refusals, reconnects)."""
    debug: bool = False

    def validate(self) -> None:
        from robosuite_eval.embodiments import embodiment_of, get_task

        if not self.server.startswith(("ws://", "wss://")):
            raise ValueError(f"--server {self.server!r}: expected ws://HOST:PORT of `policy_ft serve`")
        embodiment_of(get_task(self.task)).check_fps(self.fps)
