"""`value_labeling`: score value models on the Suboptimal-Value-Bench, train and run the WVM."""

from __future__ import annotations

from collections.abc import Sequence

from runtime.cli import run_subcommands
from value_labeling.annotate.config import AnnotateConfig
from value_labeling.baselines.config import TrainBaselineConfig
from value_labeling.bench.config import BenchConfig, ModelsConfig
from value_labeling.wvm.config import MODE_DEFAULTS

# name -> (frozen config dataclass or default instance, "module:runner"[, help]); the runner is imported
# after parsing. The three training commands share one config and differ by mode and defaults.
COMMANDS: dict[str, tuple] = {
    "bench": (BenchConfig, "value_labeling.bench.run:run_bench"),
    "models": (ModelsConfig, "value_labeling.bench.run:run_models"),
    "train": (
        MODE_DEFAULTS["value"],
        "value_labeling.wvm.train:run_train",
        "Train a World Value Model (L = L_value + lambda * L_video) on LeRobot v3.0 datasets.",
    ),
    "pretrain-vae": (
        MODE_DEFAULTS["vae"],
        "value_labeling.wvm.train:run_train",
        "Train the video VAE as an autoencoder on the training videos (wvm-tiny has no pretrained "
        "VAE). The output is a diffusers-format Wan directory (trained vae/, random transformer/), "
        "usable as `pretrain-video --video-model DIR`.",
    ),
    "pretrain-video": (
        MODE_DEFAULTS["video"],
        "value_labeling.wvm.train:run_train",
        "Video-only world-model pretraining: the Wan video DiT alone, future-latent flow matching. "
        "The output directory is a diffusers-format Wan directory (transformer/ and vae/), usable "
        "as `train --video-model DIR`.",
    ),
    "train-baseline": (
        TrainBaselineConfig,
        "value_labeling.baselines.train:run_train_baseline",
        "Train a learned baseline value model (a small CNN regressing progress from one frame, or "
        "the last second of frames, plus a task embedding); the output loads as --model RUN.",
    ),
    "annotate": (AnnotateConfig, "value_labeling.annotate.app:run_annotate"),
}


def main(argv: Sequence[str] | None = None):
    return run_subcommands(COMMANDS, argv, description=__doc__)


if __name__ == "__main__":  # `torchrun ... -m value_labeling.cli train ...`
    main()
