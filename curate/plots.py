"""The figures of `curate flag --plots` and `curate report`: value curves with flagged segments shaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

KIND_COLOR = {"stall": "tab:orange", "fall": "tab:red"}


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only; no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_curve(ax, ep: int, v: np.ndarray, segments: list[dict]) -> None:
    """One episode's value curve on `ax`, its stalls (orange) and falls (red) shaded."""
    ax.plot(np.arange(len(v)), v, lw=1.5)
    for s in segments:
        if s["episode_index"] == ep:
            ax.axvspan(s["start"], s["end"], color=KIND_COLOR[s["kind"]], alpha=0.25)
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"episode {ep}", fontsize=8)


def plot_episode_curves(curves: dict[int, np.ndarray], value_column: str, segments: list[dict], out: Path,
                        max_episodes: int | None = None) -> list[Path]:
    """One PNG per episode: the value curve, stalls (orange) and falls (red) shaded."""
    plt = pyplot()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ep, v in list(curves.items())[:max_episodes]:
        fig, ax = plt.subplots(figsize=(6, 2.6))
        draw_curve(ax, ep, v, segments)
        ax.set_xlabel("frame")
        ax.set_ylabel(value_column)
        fig.tight_layout()
        paths.append(out / f"episode_{ep:06d}.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths
