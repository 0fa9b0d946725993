"""The figures of `curate flag --plots` and `curate report`, readable without the code: every axis says what
it counts and in which unit, every colour and line is in a legend, each episode panel names its annotated
mode (expert / hesitation / retry) and draws the ground-truth progress (paper eqs. B.1-B.3) when the dataset
has `meta/suboptimal_annotations.parquet`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

KIND_COLOR = {"stall": "tab:orange", "fall": "tab:red"}
KIND_LABEL = {"stall": "flagged stall (hesitation candidate)", "fall": "flagged fall (retry candidate)"}
TRUTH_STYLE = dict(color="k", ls="--", lw=1.0)


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only; no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def ground_truth(annotation: dict | None, length: int) -> np.ndarray | None:
    """The episode's ground-truth progress curve, or None without an annotation (or one of another length)."""
    if annotation is None or int(annotation["T"]) != length:
        return None
    from robodata.ground_truth import progress_curve

    return progress_curve(annotation["mode"], int(annotation["T"]), annotation["m"], annotation["n"])


def episode_title(ep: int, annotation: dict | None) -> str:
    """'episode 2: retry, annotated frames 36-45' (or just 'episode 2' without an annotation table)."""
    if annotation is None:
        return f"episode {ep}"
    if annotation["mode"] == "expert":
        return f"episode {ep}: expert"
    return f"episode {ep}: {annotation['mode']}, annotated frames {annotation['m']}-{annotation['n']}"


def legend_handles(value_column: str, truth: bool):
    """One legend entry per colour and line the curve panels use."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color="tab:blue", lw=1.5, label=f"{value_column} (model)")]
    if truth:
        handles.append(Line2D([], [], **TRUTH_STYLE, label="ground truth (annotation, eqs. B.1-B.3)"))
    handles += [Patch(color=KIND_COLOR[k], alpha=0.25, label=KIND_LABEL[k]) for k in ("stall", "fall")]
    return handles


def draw_curve(
    ax, ep: int, v: np.ndarray, segments: list[dict], annotation: dict | None = None, fps: float | None = None
) -> bool:
    """One episode's value curve on `ax` (x: native frames), its stalls and falls shaded, the ground truth
    dashed when known. Returns whether the ground truth was drawn."""
    ax.plot(np.arange(len(v)), v, color="tab:blue", lw=1.5)
    truth = ground_truth(annotation, len(v))
    if truth is not None:
        ax.plot(np.arange(len(truth)), truth, **TRUTH_STYLE)
    for s in segments:
        if s["episode_index"] == ep:
            ax.axvspan(s["start"], s["end"], color=KIND_COLOR[s["kind"]], alpha=0.25)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlim(0, max(len(v) - 1, 1))
    ax.set_title(episode_title(ep, annotation), fontsize=8)
    ax.set_xlabel(f"frame ({fps:g} fps)" if fps else "frame", fontsize=8)
    ax.set_ylabel("progress (0-1)", fontsize=8)
    ax.tick_params(labelsize=7)
    return truth is not None


def plot_episode_curves(
    curves: dict[int, np.ndarray],
    value_column: str,
    segments: list[dict],
    out: Path,
    max_episodes: int | None = None,
    annotations: dict[int, dict] | None = None,
    fps: float | None = None,
) -> list[Path]:
    """One PNG per episode: the value curve, stalls and falls shaded, the ground truth when annotated."""
    plt = pyplot()
    out.mkdir(parents=True, exist_ok=True)
    annotations = annotations or {}
    paths = []
    for ep, v in list(curves.items())[:max_episodes]:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        truth = draw_curve(ax, ep, v, segments, annotations.get(ep), fps)
        ax.set_title(f"{episode_title(ep, annotations.get(ep))}: {value_column} per frame", fontsize=9)
        ax.legend(handles=legend_handles(value_column, truth), fontsize=7, loc="upper left")
        fig.tight_layout()
        paths.append(out / f"episode_{ep:06d}.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths


def plot_value_grid(
    curves: dict[int, np.ndarray],
    value_column: str,
    segments: list[dict],
    out: Path,
    title: str,
    annotations: dict[int, dict] | None = None,
    fps: float | None = None,
) -> Path:
    """All episodes' curves in one grid (3 columns), one legend for the figure."""
    plt = pyplot()
    annotations = annotations or {}
    eps = list(curves)
    cols = min(3, len(eps))
    rows = int(np.ceil(len(eps) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows + 0.9), squeeze=False)
    truth = False
    for ax, ep in zip(axes.flat, eps):
        truth |= draw_curve(ax, ep, curves[ep], segments, annotations.get(ep), fps)
    for ax in list(axes.flat)[len(eps) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.legend(handles=legend_handles(value_column, truth), loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.3 / (2.6 * rows + 0.9), 1, 1))
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_advantages(
    delta: np.ndarray,
    awr: np.ndarray,
    ess: float,
    kept: dict[str, float],
    kappa: float,
    out: Path,
    title: str,
    chunk_length: int,
    keep: float,
    tau: float,
    clip: float,
) -> Path:
    """Three panels, one quantity per axis: the Δ histogram (frames), the fraction of frames each filter
    keeps, and the distribution of AWR weights (frames) with its effective sample size in the legend."""
    plt = pyplot()
    import textwrap

    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(16, 4.2), gridspec_kw={"width_ratios": [1.2, 1, 1]})
    a1.hist(delta, bins=50, color="tab:blue", label=f"{len(delta)} frames")
    a1.axvline(0, color="k", lw=1, label="Δ = 0 (binary filter keeps Δ ≥ 0)")
    a1.axvline(kappa, color="tab:green", ls="--", label=f"κ = {kappa:.3f} (top-{keep:.0%} filter keeps Δ ≥ κ)")
    a1.set_title(
        f"Chunk advantage Δ = V(min(t+H-1, T-1)) - V(t) (eq. E.4)\nchunk length H = {chunk_length} frames", fontsize=9
    )
    a1.set_xlabel("Δ (change in progress over one chunk, 0-1 scale)")
    a1.set_ylabel("frames (count)")
    a1.legend(fontsize=7)

    a2.barh([textwrap.fill(k, 20) for k in kept], list(kept.values()), color="tab:green")
    for y, frac in enumerate(kept.values()):
        a2.text(min(frac, 0.97), y, f"{frac:.0%}", va="center", ha="right" if frac > 0.15 else "left", fontsize=8)
    a2.set_xlim(0, 1)
    a2.set_title("Filters (eq. E.6): share of frames\nthey train on (the rest get weight 0)", fontsize=9)
    a2.set_xlabel("fraction of frames kept")
    a2.tick_params(axis="y", labelsize=7)

    a3.hist(
        awr,
        bins=40,
        range=(0, clip),
        color="tab:purple",
        label=f"effective sample size {ess:.0%} of frames\n(Kish: (Σw)² / (N Σw²))",
    )
    a3.axvline(1, color="k", lw=1, label="w = 1 (Δ = 0)")
    a3.set_title(
        f"AWR weights w = min(exp(τΔ), δ) (eq. E.7)\nτ = {tau:g}, clip δ = {clip:g}: every frame trains, weighted",
        fontsize=9,
    )
    a3.set_xlabel("weight w (before per-batch renormalisation)")
    a3.set_ylabel("frames (count)")
    a3.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
