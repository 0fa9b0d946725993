"""`curate report`: what a person looks at before trusting the labels.

Writes value curves per episode with the flagged segments shaded (each panel names its annotated mode and
draws the ground truth when the dataset has an annotation table), a histogram of the chunk advantage Delta,
the fraction of frames each filter keeps (binary, top-70% percentile), the AWR weights with their effective
sample size, and a `summary.json` with the same numbers (and each episode's mode).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from curate.advantage_math import awr_weights, binary_weights, chunk_advantage, percentile_threshold
from curate.config import ReportConfig
from curate.flag import flag_curves
from curate.plots import plot_advantages, plot_value_grid
from curate.values import episode_annotations, episode_curves
from robodata.dataset import check_dataset_dir


def run_report(cfg: ReportConfig) -> dict:
    root = Path(cfg.dataset).resolve()
    info = check_dataset_dir(root)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = episode_curves(root, cfg.value_column)
    fps = float(info["fps"])
    segments = flag_curves(curves, fps)
    annotations = episode_annotations(root)
    modes = {ep: annotations[ep]["mode"] for ep in curves if ep in annotations}
    shown = dict(list(curves.items())[: cfg.max_episodes])
    more = f", first {len(shown)} of {len(curves)} episodes" if len(shown) < len(curves) else ""
    plot_value_grid(
        shown,
        cfg.value_column,
        segments,
        out / "value_curves.png",
        f"{root.name}: {cfg.value_column} per episode{more}",
        annotations,
        fps,
    )

    values = np.concatenate([curves[e] for e in curves])
    episodes = np.concatenate([np.full(len(curves[e]), e) for e in curves])
    delta = chunk_advantage(values, episodes, cfg.chunk_length)
    kappa = percentile_threshold(delta, cfg.keep)
    awr = awr_weights(delta, cfg.tau, cfg.clip)
    filters = {
        "binary (Delta >= 0)": float(binary_weights(delta).mean()),
        f"percentile (top {cfg.keep:.0%}, kappa={kappa:.3f})": float(binary_weights(delta, kappa).mean()),
    }
    # AWR keeps every frame; what it "keeps" is its effective sample size (Kish): (sum w)^2 / (N sum w^2),
    # 1 when all weights are equal, 1/N when one frame carries all the weight.
    ess = float(awr.sum() ** 2 / (len(awr) * (awr**2).sum()))
    kept = filters | {f"AWR effective sample size (tau={cfg.tau:g}, clip={cfg.clip:g})": ess}
    plot_advantages(
        delta,
        awr,
        ess,
        filters,
        kappa,
        out / "advantages.png",
        f"{root.name}: {len(values)} frames, {len(curves)} episodes",
        cfg.chunk_length,
        cfg.keep,
        cfg.tau,
        cfg.clip,
    )

    summary = {
        "dataset": str(root),
        "frames": int(len(values)),
        "episodes": len(curves),
        "chunk_length": cfg.chunk_length,
        "delta_mean": float(delta.mean()),
        "kappa_top": kappa,
        "kept": kept,
        "segments": {
            "stall": sum(s["kind"] == "stall" for s in segments),
            "fall": sum(s["kind"] == "fall" for s in segments),
        },
    }
    if modes:  # from meta/suboptimal_annotations.parquet
        summary["modes"] = {str(ep): m for ep, m in modes.items()}
        summary["episodes_per_mode"] = {m: sum(v == m for v in modes.values()) for m in sorted(set(modes.values()))}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "modes"}, indent=2))
    print(f"report: {out / 'value_curves.png'}, {out / 'advantages.png'}, {out / 'summary.json'}")
    return summary
