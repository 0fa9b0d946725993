"""Stalls and falls in a value curve: where an episode makes no progress or loses it.

The rule (the paper gives none; this is ours): smooth each episode's values with a centred moving
average of `smooth_seconds`; a *stall* is a maximal run of at least `stall_seconds` over which the
smoothed value stays within `stall_tolerance` (runs at v >= 0.97, a finished task waiting, are not
flagged); a *fall* is a maximal run of decreasing smoothed values whose total drop is at least
`fall_min_drop`. A stall that overlaps a fall is dropped: it is the smoothed turning point at the
top or bottom of a retreat, not a hesitation. Size: a stall's length in frames, a fall's drop in value.

`curate flag`, `curate filter` and the proposals of `value_labeling annotate` all use it.
"""

from __future__ import annotations

import numpy as np

DONE_LEVEL = 0.97


def smooth(v: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(v) < 3:
        return v.astype(np.float64)
    window = min(window | 1, len(v) // 2 * 2 - 1)  # odd, not longer than the episode
    pad = window // 2
    padded = np.pad(v.astype(np.float64), pad, mode="edge")
    return np.convolve(padded, np.ones(window) / window, mode="valid")


def find_segments(
    values: np.ndarray,
    fps: float,
    stall_seconds: float = 1.0,
    stall_tolerance: float = 0.02,
    fall_min_drop: float = 0.05,
    smooth_seconds: float = 0.5,
) -> list[tuple[int, int, str, float]]:
    """[(start, end inclusive, "stall" | "fall", size)] for one episode's per-frame values."""
    v = smooth(np.asarray(values, dtype=np.float64), int(round(smooth_seconds * fps)))
    n = len(v)
    segments = []
    min_len = max(2, int(round(stall_seconds * fps)))
    s = 0
    while s < n:
        lo = hi = v[s]
        e = s
        while e + 1 < n and max(hi, v[e + 1]) - min(lo, v[e + 1]) <= stall_tolerance:
            e += 1
            lo, hi = min(lo, v[e]), max(hi, v[e])
        if e - s + 1 >= min_len:
            if v[s : e + 1].mean() < DONE_LEVEL:
                segments.append((s, e, "stall", float(e - s + 1)))
            s = e + 1  # also past a long finished-task run: rescanning it from every frame is quadratic
        else:
            s += 1
    d = np.diff(v)
    s = 0
    while s < n - 1:
        if d[s] < 0:
            e = s
            while e + 1 < n - 1 and d[e + 1] < 0:
                e += 1
            drop = v[s] - v[e + 1]
            if drop >= fall_min_drop:
                segments.append((s, e + 1, "fall", float(drop)))
            s = e + 1
        else:
            s += 1
    falls = [(a, b) for a, b, kind, _ in segments if kind == "fall"]
    segments = [seg for seg in segments if seg[2] == "fall" or not any(seg[0] <= b and a <= seg[1] for a, b in falls)]
    return sorted(segments)
