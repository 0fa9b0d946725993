"""`curate report`: what a person looks at before trusting the labels.

Writes value curves per episode with the flagged segments shaded, a histogram of the chunk advantage
Delta, the fraction of frames each filter keeps (binary, top-70% percentile, AWR's effective sample size) and a
`summary.json` with the same numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from curate.advantage import awr_weights, binary_weights, chunk_advantage, percentile_threshold
from curate.config import ReportConfig

KIND_COLOR = {"stall": "tab:orange", "fall": "tab:red"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def episode_curves(root: Path, value_column: str) -> dict[int, np.ndarray]:
    from curate.advantage_column import load_values
    from curate.dataset_writer import episode_rows, frame_table

    values, _ = load_values(root, value_column)
    frames = frame_table(root)
    return {ep: values[frames["index"][sel]] for ep, sel in episode_rows(frames).items()}


def _draw(ax, ep: int, v: np.ndarray, segments: list[dict]) -> None:
    ax.plot(np.arange(len(v)), v, lw=1.5)
    for s in segments:
        if s["episode_index"] == ep:
            ax.axvspan(s["start"], s["end"], color=KIND_COLOR[s["kind"]], alpha=0.25)
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"episode {ep}", fontsize=8)


def plot_episode_curves(root: Path, value_column: str, segments: list[dict], out: Path,
                        max_episodes: int | None = None) -> list[Path]:
    """One PNG per episode: the value curve, stalls (orange) and falls (red) shaded."""
    plt = _plt()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ep, v in list(episode_curves(root, value_column).items())[:max_episodes]:
        fig, ax = plt.subplots(figsize=(6, 2.6))
        _draw(ax, ep, v, segments)
        ax.set_xlabel("frame")
        ax.set_ylabel(value_column)
        fig.tight_layout()
        paths.append(out / f"episode_{ep:06d}.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths


def run_report(cfg: ReportConfig) -> dict:
    from curate.flag import flag_dataset
    from value_labeling.dataset import check_dataset_dir

    plt = _plt()
    root = Path(cfg.dataset).resolve()
    info = check_dataset_dir(root)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = episode_curves(root, cfg.value_column)
    segments = flag_dataset(root, cfg.value_column, float(info["fps"]))

    eps = list(curves)[: cfg.max_episodes]
    cols = min(3, len(eps))
    rows = int(np.ceil(len(eps) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.4 * rows), squeeze=False)
    for ax, ep in zip(axes.flat, eps):
        _draw(ax, ep, curves[ep], segments)
    for ax in list(axes.flat)[len(eps):]:
        ax.axis("off")
    fig.suptitle(f"{root.name}: {cfg.value_column} per episode (orange: stall, red: fall)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "value_curves.png", dpi=100)
    plt.close(fig)

    values = np.concatenate([curves[e] for e in curves])
    episodes = np.concatenate([np.full(len(curves[e]), e) for e in curves])
    delta = chunk_advantage(values, episodes, cfg.chunk_length)
    kappa = percentile_threshold(delta, cfg.keep)
    awr = awr_weights(delta, cfg.tau, cfg.clip)
    kept = {
        "binary (Delta >= 0)": float(binary_weights(delta).mean()),
        f"percentile (top {cfg.keep:.0%}, kappa={kappa:.3f})": float(binary_weights(delta, kappa).mean()),
        # AWR keeps every frame; what it "keeps" is its effective sample size (Kish): (sum w)^2 / (N sum w^2),
        # 1 when all weights are equal, 1/N when one frame carries all the weight.
        f"AWR effective sample size (tau={cfg.tau:g}, clip={cfg.clip:g})": float(awr.sum() ** 2 / (len(awr) * (awr**2).sum())),
    }
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.2))
    a1.hist(delta, bins=50, color="tab:blue")
    a1.axvline(0, color="k", lw=1)
    a1.axvline(kappa, color="tab:green", ls="--", label=f"top-{cfg.keep:.0%} kappa")
    a1.set_xlabel(f"Delta (H={cfg.chunk_length})")
    a1.legend(fontsize=7)
    a2.barh(list(kept), list(kept.values()), color="tab:green")
    a2.set_xlim(0, 1)
    a2.set_xlabel("fraction of frames kept")
    a2.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(out / "advantages.png", dpi=100)
    plt.close(fig)

    summary = {"dataset": str(root), "frames": int(len(values)), "episodes": len(curves),
               "chunk_length": cfg.chunk_length, "delta_mean": float(delta.mean()), "kappa_top": kappa,
               "kept": kept, "segments": {"stall": sum(s["kind"] == "stall" for s in segments),
                                          "fall": sum(s["kind"] == "fall" for s in segments)}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"report: {out / 'value_curves.png'}, {out / 'advantages.png'}, {out / 'summary.json'}")
    return summary
