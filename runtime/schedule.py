"""The learning-rate schedule of every trainer here: linear warm-up, then cosine decay (Table A.1)."""

from __future__ import annotations

import math


def warmup_cosine(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Multiplier of the peak lr at optimiser step `step` (0-based).

    (step + 1) / warmup during the first `warmup` steps, then a cosine from 1 down to `min_ratio` at
    `total`. `min_ratio` = 1 is warm-up then constant."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def lambda_lr(optimizer, warmup: int, total: int, min_ratio: float, start: int = 0):
    """A torch LambdaLR over `warmup_cosine`, positioned at optimiser step `start` (a resumed run).

    Resuming needs the optimiser's param groups to carry `initial_lr` (they do once restored from a
    checkpoint of a run that had this scheduler)."""
    import torch

    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, warmup, total, min_ratio), last_epoch=start - 1
    )
