"""`value_labeling`: score value models on the Suboptimal-Value-Bench, train and run the WVM."""

from __future__ import annotations

from typing import Sequence

from value_labeling.baselines.config import TrainBaselineConfig
from value_labeling.bench.config import BenchConfig, ModelsConfig
from value_labeling.cli_support import run_subcommands
from value_labeling.wvm.config import PretrainVaeConfig, PretrainVideoConfig, TrainConfig

# name -> (frozen config dataclass, "module:runner"); the runner is imported after parsing.
COMMANDS: dict[str, tuple[type, str]] = {
    "bench": (BenchConfig, "value_labeling.bench.run:run_bench"),
    "models": (ModelsConfig, "value_labeling.bench.run:run_models"),
    "train": (TrainConfig, "value_labeling.wvm.train:run_train"),
    "pretrain-vae": (PretrainVaeConfig, "value_labeling.wvm.vae_train:run_pretrain_vae"),
    "pretrain-video": (PretrainVideoConfig, "value_labeling.wvm.train:run_pretrain_video"),
    "train-baseline": (TrainBaselineConfig, "value_labeling.baselines.train:run_train_baseline"),
}


def main(argv: Sequence[str] | None = None):
    return run_subcommands(COMMANDS, argv, description=__doc__)


if __name__ == "__main__":  # `torchrun ... -m value_labeling.cli train ...`
    main()
