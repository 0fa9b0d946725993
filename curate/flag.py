"""`curate flag`: segments where the value curve stalls or falls (hesitation and retry candidates).

The rule (the paper gives none; this is ours): smooth each episode's values with a centred moving
average of `smooth_seconds`; a *stall* is a maximal run of at least `stall_seconds` over which the
smoothed value stays within `stall_tolerance` (runs at v >= 0.97, a finished task waiting, are not
flagged); a *fall* is a maximal run of decreasing smoothed values whose total drop is at least
`fall_min_drop`. A stall that overlaps a fall is dropped: it is the smoothed turning point at the
top or bottom of a retreat, not a hesitation. Size: a stall's length in frames, a fall's drop in value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate.config import FlagConfig
from curate.values import episode_curves
from robodata.dataset import dataset_fps

DONE_LEVEL = 0.97


def smooth(v: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(v) < 3:
        return v.astype(np.float64)
    window = min(window | 1, len(v) // 2 * 2 - 1)  # odd, not longer than the episode
    pad = window // 2
    padded = np.pad(v.astype(np.float64), pad, mode="edge")
    return np.convolve(padded, np.ones(window) / window, mode="valid")


def find_segments(values: np.ndarray, fps: float, stall_seconds: float = 1.0, stall_tolerance: float = 0.02,
                  fall_min_drop: float = 0.05, smooth_seconds: float = 0.5) -> list[tuple[int, int, str, float]]:
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
    segments = [seg for seg in segments
                if seg[2] == "fall" or not any(seg[0] <= b and a <= seg[1] for a, b in falls)]
    return sorted(segments)


def flag_dataset(root: Path, value_column: str, fps: float, **rule) -> list[dict]:
    return flag_curves(episode_curves(root, value_column), fps, **rule)


def flag_curves(curves: dict[int, np.ndarray], fps: float, **rule) -> list[dict]:
    """The segment table of `find_segments` over every episode's value curve."""
    rows = []
    for ep, v in curves.items():
        for s, e, kind, size in find_segments(v, fps, **rule):
            rows.append({"episode_index": int(ep), "start": s, "end": e, "kind": kind, "size": round(size, 4)})
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
    return {"precision": tp_pred / len(pred) if pred else float("nan"),
            "recall": tp_truth / len(truth) if truth else float("nan"),
            "predicted": len(pred), "annotated": len(truth)}


def run_flag(cfg: FlagConfig) -> list[dict]:
    root = Path(cfg.dataset).resolve()
    fps = dataset_fps(root)
    rule = dict(stall_seconds=cfg.stall_seconds, stall_tolerance=cfg.stall_tolerance,
                fall_min_drop=cfg.fall_min_drop, smooth_seconds=cfg.smooth_seconds)
    curves = episode_curves(root, cfg.value_column)
    rows = flag_curves(curves, fps, **rule)
    print(f"{'episode':>7} {'start':>6} {'end':>6} {'kind':>6} {'size':>8}")
    for r in rows:
        print(f"{r['episode_index']:>7} {r['start']:>6} {r['end']:>6} {r['kind']:>6} {r['size']:>8.3f}")
    print(f"{len(rows)} segments ({sum(r['kind'] == 'stall' for r in rows)} stalls, "
          f"{sum(r['kind'] == 'fall' for r in rows)} falls)")
    if cfg.out is not None:
        import polars as pl

        df = pl.DataFrame(rows, schema={"episode_index": pl.Int64, "start": pl.Int64, "end": pl.Int64,
                                        "kind": pl.Utf8, "size": pl.Float64})
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        df.write_parquet(cfg.out) if str(cfg.out).endswith(".parquet") else df.write_csv(cfg.out)
        print(f"wrote {cfg.out}")
    if cfg.plots is not None:
        from curate.plots import plot_episode_curves

        paths = plot_episode_curves(curves, cfg.value_column, rows, Path(cfg.plots))
        print(f"plots: {len(paths)} PNGs in {cfg.plots}")
    return rows
