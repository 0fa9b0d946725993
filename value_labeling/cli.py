"""`value_labeling`: score value models on the Suboptimal-Value-Bench, train and run the WVM."""

from __future__ import annotations

from typing import Sequence

from value_labeling.cli_support import run_subcommands

# name -> (frozen config dataclass, "module:runner"); later subcommands register here.
COMMANDS: dict[str, tuple[type, str]] = {}


def main(argv: Sequence[str] | None = None):
    from value_labeling.bench.config import BenchConfig

    COMMANDS.setdefault("bench", (BenchConfig, "value_labeling.bench.run:run_bench"))
    return run_subcommands(COMMANDS, argv, description=__doc__)
