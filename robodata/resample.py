"""Frame resampling between a dataset's native rate and a model's rate, and back.

Paper section 5.1 / appendix D: a trajectory is downsampled to the evaluation (or latent target)
frame rate before a value model sees it. We sample at k / fps seconds and take the nearest native
frame; values predicted on the sampled frames are linearly interpolated back to every native frame.
"""

from __future__ import annotations

import math

import numpy as np


def resample_indices(T: int, native_fps: float, eval_fps: float) -> np.ndarray:
    """Native frame indices of the frames sampled at `eval_fps` (k / eval_fps seconds, nearest frame)."""
    if eval_fps <= 0 or native_fps <= 0:
        raise ValueError(f"frame rates must be positive (native {native_fps}, eval {eval_fps})")
    if eval_fps >= native_fps:
        return np.arange(T)
    step = native_fps / eval_fps
    k = np.arange(int(math.floor((T - 1) / step + 1e-9)) + 1)
    return np.unique(np.minimum(np.round(k * step).astype(np.int64), T - 1))


def to_native(T: int, indices: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(T,) float64 values at every native frame from `values` at the sampled `indices`.

    Linear between samples; the last sampled value holds to the end (and the first from the start).
    """
    return np.interp(np.arange(T), np.asarray(indices), np.asarray(values, dtype=np.float64))
