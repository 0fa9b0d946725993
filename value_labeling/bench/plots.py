"""Figure-4-style plots: a model's prediction against the ground-truth curve, segment shaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SEGMENT_COLOR = {"hesitation": "tab:orange", "retry": "tab:red"}


def plot_trajectory(
    path: Path,
    title: str,
    native_fps: float,
    T: int,
    mode: str,
    m,
    n,
    indices: np.ndarray,
    gt_native: np.ndarray,
    preds: dict[str, np.ndarray],
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    t_native = np.arange(T) / native_fps
    ax.plot(t_native, gt_native, color="black", lw=2, label="ground truth")
    for name, pred in preds.items():
        ax.plot(indices / native_fps, pred, marker="o", ms=3, lw=1.5, label=name)
    if mode in SEGMENT_COLOR:
        ax.axvspan(m / native_fps, n / native_fps, color=SEGMENT_COLOR[mode], alpha=0.2, label=mode)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("progress")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
