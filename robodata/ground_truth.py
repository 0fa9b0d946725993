"""Ground-truth progress curves of the Suboptimal-Value-Bench (paper appendix B, eqs. B.1-B.3).

Each curve is piecewise linear through (0, 0), (m, v_m), (n, v_n), (T-1, 1), where [m, n] is the
annotated suboptimal segment (inclusive) and T the trajectory length at the dataset's native fps.
"""

from __future__ import annotations

import numpy as np

MODES = ("expert", "hesitation", "retry")


def control_values(mode: str, T: int, m: int, n: int) -> tuple[float, float]:
    """(v_m, v_n) for a suboptimal segment; x = n - m is its length."""
    x = n - m
    if mode == "hesitation":
        # A plateau: the T-1-x effective frames cover unit progress at a constant rate (eq. B.2).
        v = m / (T - 1 - x)
        return v, v
    if mode == "retry":
        # A retraction backwards at the forward rate r = 1/(T-2x), clamped at 0 (eq. B.3).
        return m / (T - 2 * x), max(0.0, (m - x) / (T - 2 * x))
    raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")


def validate_annotation(mode: str, T: int, m: int | None, n: int | None) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (T={T}, m={m}, n={n}); expected one of {MODES}")
    if T < 2:
        raise ValueError(f"invalid {mode} annotation: T={T}, m={m}, n={n}; a trajectory needs T >= 2 frames")
    if mode == "expert":
        return
    if m is None or n is None or not (0 < m < n < T - 1):
        raise ValueError(f"invalid {mode} annotation: T={T}, m={m}, n={n}; need 0 < m < n < T-1")
    if mode == "retry" and T - 2 * (n - m) <= 0:
        raise ValueError(
            f"invalid retry annotation: T={T}, m={m}, n={n}; the retraction x={n - m} leaves T-2x <= 0 "
            "frames of net forward progress"
        )


def progress_curve(mode: str, T: int, m: int | None = None, n: int | None = None) -> np.ndarray:
    """Per-frame ground-truth progress, shape (T,), starting at 0 and ending at 1."""
    validate_annotation(mode, T, m, n)
    t = np.arange(T, dtype=np.float64)
    if mode == "expert":
        return t / (T - 1)
    v_m, v_n = control_values(mode, T, m, n)
    return np.interp(t, [0, m, n, T - 1], [0.0, v_m, v_n, 1.0])
