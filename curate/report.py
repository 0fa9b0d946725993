"""`curate report`: what a person looks at before trusting the labels.

Writes value curves per episode with the flagged segments shaded, a histogram of the chunk advantage
Delta, the fraction of frames each filter keeps (binary, top-70% percentile, AWR's effective sample size) and a
`summary.json` with the same numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from curate.advantage_math import awr_weights, binary_weights, chunk_advantage, percentile_threshold
from curate.config import ReportConfig
from curate.flag import flag_curves
from curate.plots import draw_curve, pyplot
from curate.values import episode_curves
from robodata.dataset import check_dataset_dir


def run_report(cfg: ReportConfig) -> dict:
    plt = pyplot()
    root = Path(cfg.dataset).resolve()
    info = check_dataset_dir(root)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = episode_curves(root, cfg.value_column)
    segments = flag_curves(curves, float(info["fps"]))

    eps = list(curves)[: cfg.max_episodes]
    cols = min(3, len(eps))
    rows = int(np.ceil(len(eps) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.4 * rows), squeeze=False)
    for ax, ep in zip(axes.flat, eps):
        draw_curve(ax, ep, curves[ep], segments)
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
