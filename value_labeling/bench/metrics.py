"""Suboptimal-Value-Bench metrics (paper section 4): Hesitation-RMSE, Retry-VOC and Expert-VOC.

VOC (value-order correlation, GVL) is the Spearman rank correlation between predicted values and a
reference order. Ties take average ranks; when either side is constant the correlation is undefined
and we return NaN, which tables print as "/" as the paper does.
"""

from __future__ import annotations

import numpy as np


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..N-1 with ties sharing the mean of the ranks they span."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    # Boundaries of runs of equal values in sorted order.
    starts = np.r_[0, np.flatnonzero(np.diff(xs)) + 1]
    ends = np.r_[starts[1:], len(xs)]
    run_rank = (starts + ends - 1) / 2.0
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def value_order_correlation(pred: np.ndarray, reference: np.ndarray | None = None) -> float:
    """Spearman correlation of `pred` with `reference` (time order when None); NaN if ill-defined."""
    pred = np.asarray(pred, dtype=np.float64)
    ref = np.arange(len(pred), dtype=np.float64) if reference is None else np.asarray(reference, np.float64)
    if pred.shape != ref.shape:
        raise ValueError(f"pred has shape {pred.shape} but reference has shape {ref.shape}")
    if len(pred) < 2 or np.ptp(pred) == 0 or np.ptp(ref) == 0 or not np.all(np.isfinite(pred)):
        return float("nan")
    a = average_ranks(pred)
    b = average_ranks(ref)
    a -= a.mean()
    b -= b.mean()
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


def expert_voc(pred: np.ndarray) -> float:
    """VOC over a whole expert trajectory against time order."""
    return value_order_correlation(pred)


def _window(pred, gt, m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"pred has shape {pred.shape} but ground truth has shape {gt.shape}")
    if not (0 <= m <= n < len(gt)):
        raise ValueError(f"segment [{m}, {n}] is outside a trajectory of {len(gt)} frames")
    return pred[m : n + 1], gt[m : n + 1]


def hesitation_rmse(pred: np.ndarray, gt: np.ndarray, m: int, n: int) -> float:
    """RMSE over frames m..n inclusive, where ground truth holds a constant plateau (eq. 8)."""
    p, g = _window(pred, gt, m, n)
    return float(np.sqrt(np.mean((p - g) ** 2)))


def retry_voc(pred: np.ndarray, gt: np.ndarray, m: int, n: int) -> float:
    """VOC over the window m..n where ground truth decreases: +1 tracks the fall, -1 rises instead.

    The reference order is the negated time order (the ground truth falls monotonically there);
    using time order rather than the clamped gt values keeps the reference strictly ordered.
    """
    p, _ = _window(pred, gt, m, n)
    return value_order_correlation(p, -np.arange(len(p), dtype=np.float64))
