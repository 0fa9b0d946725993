"""Configuration of `value_labeling train-baseline` (no torch import, so `--help` stays instant)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Literal

import tyro

Kind = Literal["frame-regressor", "temporal"]


@dataclasses.dataclass(frozen=True)
class TrainBaselineConfig:
    """Train a learned baseline value model (a small CNN regressing progress) on LeRobot v3.0 datasets.

    The labels are the WVM's: t/(T-1) for expert episodes, the bench's ground-truth curve for episodes
    in meta/suboptimal_annotations.parquet. The output directory loads as a value model (--model OUT)."""

    data: Annotated[tuple[Path, ...], tyro.conf.arg(aliases=["-d"]), tyro.conf.UseAppendAction]
    """Training dataset directory; repeat for several."""
    out: Path
    """Run directory (created; an existing run there is resumed)."""
    kind: Kind = "frame-regressor"
    """frame-regressor: one frame + task embedding. temporal: the last --context frames at --context-fps."""
    context: int = 3
    """Frames the temporal model sees (current and the ones before it), ignored by frame-regressor."""
    context_fps: float = 2.0
    """Spacing of the temporal model's frames (the bench's evaluation rate: 3 frames = the last 1 s)."""
    width: int = 24
    """Channels of the first conv layer (the encoder doubles them twice)."""
    steps: int = 3000
    batch_size: int = 64
    lr: float = 1e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    rewind_ratio: float = 0.5
    """Temporal model: probability that a context is played backwards (ReWiND, as the WVM's windows)."""
    plateau_ratio: float = 0.1
    """Temporal model: probability that one frame is held over the context (a stall)."""
    shift: int = 2
    """Random-shift augmentation: frames are padded by this many pixels and randomly cropped back."""
    camera: str | None = None
    """Camera key (default: each dataset's first camera). Recorded: the bench reads it by default."""
    image_size: tuple[int, int] = (64, 64)
    save_every: int = 500
    log_every: int = 25
    keep_checkpoints: int = 2
    seed: int = 0
    device: str = "auto"
    """auto = cuda when available else cpu."""
    max_episodes: int | None = None
    """Use only the first N episodes of each dataset."""
    episodes: Literal["all", "annotated", "expert"] = "all"
    """all: every episode (those without a row in meta/suboptimal_annotations.parquet as experts);
    annotated: only the episodes annotated (`value_labeling annotate`); expert: only those annotated expert."""
    debug: bool = False
