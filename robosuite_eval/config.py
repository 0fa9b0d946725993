"""Configs of the `robosuite_eval` subcommands (light module: no robosuite, torch or lerobot import)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Mode = Literal["expert", "hesitation", "retry"]


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
    mode: Mode = "expert"
    episodes: int = 25
    seed: int = 0
    """Episode i uses simulator seed seed+i (a seed whose scripted run fails is retried with a derived seed)."""
    fps: int = 10
    """Recorded (native) fps; must divide the 20 Hz control rate."""
    image_size: int = 128
    workers: int = 2
    """Worker processes simulating and rendering episodes (0: in this process)."""
    embodiment: str = "RoboSuite"
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
    videos: int = 3
    """Save MP4s of the first N trials."""
    out: Path = Path("rollouts")
    """Folder for rollout.json (per-trial outcomes, success rate, Wilson interval) and the videos
    trial_000.mp4, trial_001.mp4, ... of the first --videos trials."""
    device: str = "cpu"
    debug: bool = False

    def validate(self) -> None:
        """Cheap checks run by the CLI before robosuite, torch and lerobot load (seconds, not a minute)."""
        from robosuite_eval.policy import resolve_checkpoint
        from robosuite_eval.tasks import CONTROL_FREQ, get_task

        get_task(self.task)
        if self.trials <= 0:
            raise ValueError(f"--trials must be positive, got {self.trials}")
        if self.fps <= 0 or CONTROL_FREQ % self.fps:
            raise ValueError(f"--fps {self.fps} must divide the {CONTROL_FREQ} Hz control rate (e.g. 10 or 20)")
        if not self.policy.startswith(("ws://", "wss://")):
            resolve_checkpoint(self.policy)
