"""`curate flag`: segments where the value curve stalls or falls (hesitation and retry candidates).

The rule lives in `value_labeling/segments.py` (`find_segments`); this module runs it over a
dataset's value column and writes the table and plots. `find_segments` gives one size per segment (a
stall's length in frames, a fall's drop in value); the table keeps the two quantities apart, each in its
own unit: `frames` (every segment's length) and `value_drop` (a fall's drop; empty for a stall).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from curate.config import FlagConfig
from curate.values import episode_annotations, episode_curves
from robodata.columns import read_provenance
from robodata.dataset import dataset_fps
from value_labeling.segments import find_segments


def flag_dataset(root: Path, value_column: str, fps: float, **rule) -> list[dict]:
    return flag_curves(episode_curves(root, value_column), fps, **rule)


def flag_curves(curves: dict[int, np.ndarray], fps: float, **rule) -> list[dict]:
    """The segment table of `find_segments` over every episode's value curve."""
    rows = []
    for ep, v in curves.items():
        for s, e, kind, size in find_segments(v, fps, **rule):
            rows.append(
                {
                    "episode_index": int(ep),
                    "start": s,
                    "end": e,
                    "kind": kind,
                    "frames": e - s + 1,
                    "value_drop": round(size, 4) if kind == "fall" else None,
                }
            )
    return rows


def segment_scores(predicted: list[dict], annotations: list[dict], min_iou: float = 0.2) -> dict:
    """Segment-level precision/recall: a stall matches a hesitation, a fall a retry, by IoU >= min_iou."""
    kind_of = {"hesitation": "stall", "retry": "fall"}
    truth = [(a["episode_index"], a["m"], a["n"], kind_of[a["mode"]]) for a in annotations if a["mode"] in kind_of]

    def iou(a0, a1, b0, b1):
        inter = max(0, min(a1, b1) - max(a0, b0) + 1)
        return inter / (max(a1, b1) - min(a0, b0) + 1)

    def matched(seg, pool):
        return any(ep == seg[0] and k == seg[3] and iou(seg[1], seg[2], m, n) >= min_iou for ep, m, n, k in pool)

    pred = [(p["episode_index"], p["start"], p["end"], p["kind"]) for p in predicted]
    tp_pred = sum(matched(p, truth) for p in pred)
    tp_truth = sum(matched(t, pred) for t in truth)
    return {
        "precision": tp_pred / len(pred) if pred else float("nan"),
        "recall": tp_truth / len(truth) if truth else float("nan"),
        "predicted": len(pred),
        "annotated": len(truth),
    }


def run_flag(cfg: FlagConfig) -> list[dict]:
    root = Path(cfg.dataset).resolve()
    fps = dataset_fps(root)
    rule = dict(
        stall_seconds=cfg.stall_seconds,
        stall_tolerance=cfg.stall_tolerance,
        fall_min_drop=cfg.fall_min_drop,
        smooth_seconds=cfg.smooth_seconds,
    )
    curves = episode_curves(root, cfg.value_column)
    # `curate label-values` checked the dataset against the model's training data; flags on values a model
    # gave to data unlike it are as doubtful as the values, so say so again (one line).
    warning = read_provenance(root).get(cfg.value_column, {}).get("domain_warning")
    if warning:
        print(warning, file=sys.stderr)
    rows = flag_curves(curves, fps, **rule)
    annotations = episode_annotations(root)  # each episode's mode, when the dataset has the table
    if annotations:
        for r in rows:
            r["mode"] = annotations[r["episode_index"]]["mode"] if r["episode_index"] in annotations else None
    mode_head = f" {'mode':>10}" if annotations else ""
    print(f"{'episode':>7}{mode_head} {'start':>6} {'end':>6} {'kind':>6} {'frames':>7} {'value drop':>10}")
    for r in rows:
        mode = f" {r['mode'] or '-':>10}" if annotations else ""
        drop = "" if r["value_drop"] is None else f"{r['value_drop']:.3f}"
        print(f"{r['episode_index']:>7}{mode} {r['start']:>6} {r['end']:>6} {r['kind']:>6} {r['frames']:>7} {drop:>10}")
    print(
        f"{len(rows)} segments ({sum(r['kind'] == 'stall' for r in rows)} stalls, "
        f"{sum(r['kind'] == 'fall' for r in rows)} falls)"
    )
    if annotations:
        by_mode = {
            m: sorted(e for e, a in annotations.items() if a["mode"] == m and e in curves)
            for m in ("expert", "hesitation", "retry")
        }
        print(
            "episodes by annotated mode: "
            + "; ".join(
                f"{m} {len(e)}" + (f" ({', '.join(map(str, e[:10]))}{', ...' if len(e) > 10 else ''})" if e else "")
                for m, e in by_mode.items()
            )
        )
    if cfg.out is not None:
        import polars as pl

        schema = {
            "episode_index": pl.Int64,
            "start": pl.Int64,
            "end": pl.Int64,
            "kind": pl.Utf8,
            "frames": pl.Int64,
            "value_drop": pl.Float64,
        }
        df = pl.DataFrame(rows, schema=schema | ({"mode": pl.Utf8} if annotations else {}))
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        df.write_parquet(cfg.out) if str(cfg.out).endswith(".parquet") else df.write_csv(cfg.out)
        print(f"wrote {cfg.out}")
    if cfg.plots is not None:
        from curate.plots import plot_episode_curves

        paths = plot_episode_curves(curves, cfg.value_column, rows, Path(cfg.plots), annotations=annotations, fps=fps)
        print(f"plots: {len(paths)} PNGs in {cfg.plots}")
    return rows
