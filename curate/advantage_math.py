"""Chunk advantages and the weights built on them (paper appendix E, eqs. E.4, E.6, E.7).

All functions are vectorised over a whole dataset's rows (in dataset order: each episode's frames
contiguous and in time order), so 10 million frames take well under a second. Inputs with NaN are
refused: a NaN weight would silently poison a training batch. Per-batch renormalisation of AWR
weights to mean 1 belongs to training (`policy_ft/weighting.py`), not here.
"""

from __future__ import annotations

import numpy as np


def _finite(name: str, x) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per frame), got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"{name} holds {int(bad.sum())} NaN/inf entries (first at row {int(np.argmax(bad))}); "
            "relabel the dataset with `curate label-values` before computing advantages"
        )
    return arr


def episode_last_row(episode_index) -> np.ndarray:
    """For every row, the row index of the last frame of its episode. Episodes must be contiguous."""
    ep = np.asarray(episode_index)
    if ep.ndim != 1:
        raise ValueError(f"episode_index must be 1-D, got shape {ep.shape}")
    if len(ep) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(ep[1:] != ep[:-1]) + 1]
    if len(np.unique(ep[starts])) != len(starts):
        raise ValueError("episode_index is not in dataset order: an episode's rows are not contiguous")
    ends = np.r_[starts[1:], len(ep)] - 1
    return np.repeat(ends, np.diff(np.r_[starts, len(ep)]))


def chunk_advantage(values, episode_index, chunk_length: int) -> np.ndarray:
    """Delta_t = V(min(t + H - 1, T - 1)) - V(t) within each episode (eq. E.4), float32 per row."""
    if int(chunk_length) < 1:
        raise ValueError(f"chunk_length must be >= 1, got {chunk_length}")
    v = _finite("values", values)
    last = episode_last_row(episode_index)
    if len(last) != len(v):
        raise ValueError(f"values has {len(v)} rows but episode_index has {len(last)}")
    rows = np.arange(len(v))
    tail = np.minimum(rows + int(chunk_length) - 1, last)
    return (v[tail] - v).astype(np.float32)


def binary_weights(delta, kappa: float = 0.0) -> np.ndarray:
    """Filtered BC: w = 1[Delta >= kappa] (eq. E.6); kappa = 0 keeps chunks whose value does not fall."""
    d = _finite("delta", delta)
    return (d >= kappa).astype(np.float32)


def percentile_threshold(delta, keep: float = 0.7) -> float:
    """kappa that keeps the top `keep` fraction of chunks: the (1 - keep) quantile of Delta.

    Computed once over the training set (keep=0.7 -> the 30th percentile), never per batch.
    """
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    d = _finite("delta", delta)
    if len(d) == 0:
        raise ValueError("cannot take a percentile of an empty advantage column")
    return float(np.quantile(d, 1.0 - keep))


def awr_weights(delta, tau: float, clip: float = 2.0, return_clipped: bool = False):
    """AWR: w = min(exp(tau * Delta), clip) (eq. E.7), float32 per row.

    With `return_clipped`, also the (N,) bool mask of rows whose weight hit the ceiling `clip`
    (training logs that fraction).
    """
    if clip <= 0:
        raise ValueError(f"clip must be positive, got {clip}")
    d = _finite("delta", delta)
    # exp of a large argument overflows to inf before the clip; clip the exponent instead.
    w = np.exp(np.minimum(tau * d, np.log(clip))).astype(np.float32)
    if not return_clipped:
        return w
    with np.errstate(over="ignore"):
        clipped = np.exp(tau * d) >= clip
    return w, clipped
