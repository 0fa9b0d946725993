"""`robosuite_eval`: scripted RoboSuite experts, suboptimal bench trajectories and policy rollouts."""

from __future__ import annotations

from collections.abc import Sequence

from robosuite_eval.config import ExpertsConfig, GenerateConfig, RobotLoopConfig, RolloutConfig
from runtime.cli import run_subcommands

# name -> (frozen config dataclass, "module:runner"); the runner is imported after parsing.
COMMANDS: dict[str, tuple[type, str]] = {
    "experts": (ExpertsConfig, "robosuite_eval.experts:run_experts"),
    "generate": (GenerateConfig, "robosuite_eval.generate:run_generate"),
    "rollout": (RolloutConfig, "robosuite_eval.rollout:run_rollout"),
    "robot-loop": (RobotLoopConfig, "robosuite_eval.sim_robot:run_robot_loop"),
}


def main(argv: Sequence[str] | None = None):
    return run_subcommands(COMMANDS, argv, description=__doc__)


if __name__ == "__main__":
    main()
