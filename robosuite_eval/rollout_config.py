"""Config of `robosuite_eval rollout` (light: no torch/robosuite import, so `--help` is fast)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RolloutConfig:
    """Score a policy in RoboSuite: seeded trials, success rate with a 95% Wilson interval, videos."""

    policy: str
    """A LeRobot checkpoint directory (config.json + model.safetensors + processors; any policy type),
    or ws://HOST:PORT for a policy served over openpi's websocket protocol (`policy_ft serve`)."""
    task: str = "lift"
    """One of lift, pickplace_bread, pickplace_can, pickplace_cereal, pickplace_milk, stack."""
    trials: int = 50
    """Number of seeded trials (the paper rolls out each RoboSuite task 50 times)."""
    seed: int = 0
    """Trial i resets the scene with seed `seed + i`."""
    out: Path = Path("rollouts")
    """Output directory: rollout.json (per-trial results, rate, interval) and trial_XXX.mp4 videos."""
    fps: int = 10
    """Policy rate (Hz); each action is held for 20/fps control steps. Match the training data's fps."""
    replan_steps: int | None = None
    """Actions executed from each predicted chunk before asking again. Default: the policy's
    n_action_steps (lerobot checkpoints) or the whole chunk (websocket)."""
    max_steps: int | None = None
    """Control steps (20 Hz) per trial before it counts as a failure. Default: the task's horizon."""
    videos: int = 3
    """Save videos of the first this-many trials (agentview | eye-in-hand, side by side)."""
    device: str = "cpu"
    """torch device for a local checkpoint."""
    debug: bool = False
    """Show full tracebacks for bad input."""
