"""`curate filter`: a cleaned copy of a LeRobot v3.0 dataset that any trainer can read.

Two levels, both driven by the per-frame value column (`curate label-values`):

- episodes: a score per episode (the final value; the share of frames whose chunk advantage
  Delta = V(min(t+H-1, T-1)) - V(t) is negative; the seconds of agreed stalls), and a rule
  (`--drop-below`, `--drop-above`, `--drop-worst PCT`). Dropping is lerobot's own `delete_episodes`.
- frames (`--cut stalls`): a frame is cut when the value model and the robot's own state agree that
  nothing happens there. The paper gives no such rule; ours: the value model says *whether* (a stall of
  the smoothed value curve, `value_labeling.segments.find_segments`), the state says *exactly where*: runs of still
  frames, where no state dimension changes until the next frame by more than `still_fraction` times its
  typical per-frame change (that dimension's 90th percentile over the dataset, so metres, quaternions and
  gripper widths are each measured in their own unit). A still run that overlaps a value stall is cut,
  limited to the stall widened by the smoothing radius (the value curve's edges are blurred by its
  smoothing and, for models run at 2 fps, by the interpolation). Each dimension is measured in its own
  unit because one norm over the raw state lets the fastest dimension (RoboSuite's wrist rotation early
  in an episode) set the scale, and translations would count as still. The first and last frames are
  never cut. Cutting the still frames of a stall leaves the trajectory continuous: the last frame before
  the stall and the first after it are where the robot was anyway. Retreats (falls) are never cut.
  Labelled stall frames in which the arm is still settling or rotating stay
  (bench/results/filter_stalls.md).

The source is only read. The new dataset is built beside `--out` and swapped into place at the end
(`robodata.atomic.replace_dir`), so an interrupted run leaves nothing at `--out` (or the previous
dataset, with --overwrite); what a killed run left beside it is removed by the next run. Inside the new dataset, `meta/filter_source_frames.parquet` maps
every kept frame to its source frame, `meta/curate_filter.json` records what was done, and the bench's
annotation table (if any) follows the kept frames; the report (`OUT_filter_report/`) holds a summary,
a per-episode table and before/after value curves.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from curate.config import FilterConfig, StallCutConfig
from value_labeling.segments import find_segments

HIGHER_IS_BETTER = {"final-value": True, "falling-share": False, "stall-seconds": False}
SOURCE_FRAMES_FILE = "meta/filter_source_frames.parquet"
FILTER_RECORD_FILE = "meta/curate_filter.json"


# ---------------------------------------------------------------- the rules (pure numpy, per episode)


def frame_changes(states: np.ndarray) -> np.ndarray:
    """(T, D) states -> (T, D) |s[t+1] - s[t]|: how far each dimension moves from frame t on (last: as t-1)."""
    s = np.asarray(states, dtype=np.float64).reshape(len(states), -1)
    d = np.abs(np.diff(s, axis=0))  # (T-1, D)
    return np.concatenate([d, d[-1:]]) if len(d) else np.zeros_like(s)


def motion_scale(changes: list[np.ndarray]) -> np.ndarray:
    """(D,) each state dimension's typical per-frame change: its 90th percentile over the whole dataset."""
    return np.maximum(np.quantile(np.concatenate(changes), 0.9, axis=0), 1e-12)


def motion(states: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(T,) the largest per-frame change of any state dimension, in units of that dimension's scale."""
    return (frame_changes(states) / scale).max(axis=1)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True as inclusive (start, end) pairs."""
    m = np.r_[False, np.asarray(mask, dtype=bool), False]
    edges = np.flatnonzero(m[1:] != m[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def stall_cut_mask(
    values: np.ndarray, states: np.ndarray, scale: np.ndarray, fps: float, rule: StallCutConfig
) -> np.ndarray:
    """(T,) bool, True where value and state agree that the robot stalls (see the module docstring)."""
    v = np.asarray(values, dtype=np.float64)
    T = len(v)
    cut = np.zeros(T, dtype=bool)
    if T < 3:
        return cut
    stalls = [
        (s, e)
        for s, e, kind, _ in find_segments(
            v, fps, stall_seconds=rule.min_seconds, stall_tolerance=rule.tolerance, smooth_seconds=rule.smooth_seconds
        )
        if kind == "stall"
    ]
    if not stalls:
        return cut
    still = motion(states, scale) <= rule.still_fraction
    radius = round(rule.smooth_seconds * fps) // 2 + 1
    still_runs = runs(still)
    for s, e in stalls:
        lo, hi = max(0, s - radius), min(T - 1, e + radius)
        for a, b in still_runs:
            if a <= e and s <= b:  # this still run overlaps the value stall: both agree
                cut[max(a, lo) : min(b, hi) + 1] = True
    cut[0] = cut[-1] = False
    return cut


def episode_score(kind: str, values: np.ndarray, cut: np.ndarray | None, fps: float, chunk_length: int) -> float:
    v = np.asarray(values, dtype=np.float64)
    if kind == "final-value":
        return float(v[-1])
    if kind == "falling-share":
        from curate.advantage_math import chunk_advantage

        return float((chunk_advantage(v, np.zeros(len(v), dtype=np.int64), chunk_length) < 0).mean())
    if kind == "stall-seconds":
        return float(cut.sum() / fps)
    raise ValueError(f"unknown --score {kind!r}; choose one of {', '.join(HIGHER_IS_BETTER)}")


def choose_drops(
    scores: dict[int, float], kind: str, drop_below: float | None, drop_above: float | None, drop_worst: float | None
) -> list[int]:
    """Episodes to drop: below/above the thresholds, plus the worst PCT percent (rounded down)."""
    drop = {
        ep
        for ep, s in scores.items()
        if (drop_below is not None and s < drop_below) or (drop_above is not None and s > drop_above)
    }
    if drop_worst is not None:
        if not 0 <= drop_worst < 100:
            raise ValueError(f"--drop-worst is a percentage in [0, 100), got {drop_worst}")
        sign = 1.0 if HIGHER_IS_BETTER[kind] else -1.0
        order = sorted(scores, key=lambda ep: (sign * scores[ep], ep))  # worst first, ties by index
        drop |= set(order[: int(np.floor(drop_worst / 100 * len(scores) + 1e-9))])
    return sorted(drop)


# ---------------------------------------------------------------- reading the source


def _read_states(root: Path, key: str) -> np.ndarray:
    """(N, D) float64 state rows indexed by the global frame index."""
    import pyarrow.parquet as pq

    from curate.frame_cut import column_array

    idx, vals = [], []
    for f in sorted((Path(root) / "data").glob("*/*.parquet")):
        t = pq.read_table(f, columns=["index", key])
        idx.append(t["index"].to_numpy())
        vals.append(column_array(t[key]).astype(np.float64).reshape(len(t), -1))
    index = np.concatenate(idx)
    out = np.empty((len(index), vals[0].shape[1]))
    out[index] = np.concatenate(vals)
    return out


def plan(root: Path, cfg: FilterConfig) -> dict:
    """Per source episode: values, score, cut mask; and the list of episodes to drop."""
    from curate.values import load_values
    from robodata.dataset import episode_rows, frame_table

    info = json.loads((root / "meta" / "info.json").read_text())
    fps = float(info["fps"])
    values, _ = load_values(root, cfg.value_column)
    needs_state = cfg.cut == "stalls" or cfg.score == "stall-seconds"
    if needs_state and cfg.stall.state_key not in info["features"]:
        raise ValueError(
            f"{root} has no {cfg.stall.state_key!r} feature, which --cut stalls and --score "
            f"stall-seconds need (name the robot-state feature with --stall.state-key)"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{root}: column {cfg.value_column!r} holds NaN/inf; relabel with `curate label-values`")
    states = _read_states(root, cfg.stall.state_key) if needs_state else None
    frames = frame_table(root)
    by_episode = episode_rows(frames)
    if needs_state:
        scale = motion_scale([frame_changes(states[frames["index"][sel]]) for sel in by_episode.values()])
    episodes = {}
    for ep, sel in by_episode.items():
        rows = frames["index"][sel]
        v = values[rows]
        cut = stall_cut_mask(v, states[rows], scale, fps, cfg.stall) if needs_state else np.zeros(len(v), dtype=bool)
        episodes[ep] = {
            "values": v,
            "rows": rows,
            "cut": cut if cfg.cut == "stalls" else np.zeros(len(v), dtype=bool),
            "score": episode_score(cfg.score, v, cut, fps, cfg.chunk_length),
        }
    scores = {ep: e["score"] for ep, e in episodes.items()}
    drops = choose_drops(scores, cfg.score, cfg.drop_below, cfg.drop_above, cfg.drop_worst)
    if len(drops) == len(episodes):
        raise ValueError(
            f"the rule drops all {len(episodes)} episodes of {root}; loosen --drop-below/--drop-above/--drop-worst"
        )
    return {"fps": fps, "episodes": episodes, "drop": drops, "states": states, "scale": scale if needs_state else None}


def print_plan(p: dict, cfg: FilterConfig) -> None:
    fps = p["fps"]
    print(f"{'episode':>7} {cfg.score:>14} {'frames':>6} {'cut':>4} {'cut s':>6}  verdict")
    for ep, e in p["episodes"].items():
        dropped = ep in p["drop"]
        n_cut = 0 if dropped else int(e["cut"].sum())
        spans = ", ".join(f"{a}-{b}" for a, b in runs(e["cut"])) if n_cut else ""
        verdict = "drop" if dropped else (f"cut frames {spans}" if n_cut else "keep")
        print(f"{ep:>7} {e['score']:>14.4f} {len(e['values']):>6} {n_cut:>4} {n_cut / fps:>6.1f}  {verdict}")
    kept = [ep for ep in p["episodes"] if ep not in p["drop"]]
    frames_after = sum(len(p["episodes"][ep]["values"]) - int(p["episodes"][ep]["cut"].sum()) for ep in kept)
    print(
        f"keep {len(kept)}/{len(p['episodes'])} episodes, {frames_after}/"
        f"{sum(len(e['values']) for e in p['episodes'].values())} frames"
    )


# ---------------------------------------------------------------- writing


def _work_dir(out: Path) -> Path:
    """Scratch space beside --out (lerobot's delete_episodes writes its stage here)."""
    return out.parent / f".{out.name}.filter-work"


def report_dir(out: Path) -> Path:
    return out.parent / f"{out.name}_filter_report"


def _copy_tree(src: Path, dst: Path) -> None:
    """Data and videos hard-linked (never written again), meta/ copied (this command rewrites files there)."""
    from robodata.columns import _link_or_copy

    def copy(s, d):
        (shutil.copy2 if Path(s).relative_to(src).parts[0] == "meta" else _link_or_copy)(Path(s), Path(d))

    shutil.copytree(src, dst, copy_function=copy, ignore=shutil.ignore_patterns(".curate_*"))


def _check_paths(src: Path, out: Path, overwrite: bool) -> None:
    from robodata.dataset import check_dataset_dir

    check_dataset_dir(src)
    if out == src or src in out.parents or out in src.parents:
        raise ValueError(f"--out {out} overlaps the source dataset {src}; choose a directory outside it")
    for path in (out, report_dir(out)):
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists; choose another --out or pass --overwrite")
    if out.exists() and not (out / "meta" / "info.json").is_file():
        raise ValueError(f"{out} exists and is not a LeRobot dataset; refusing to replace it")
    if not out.parent.exists():
        raise FileNotFoundError(f"the parent directory of --out, {out.parent}, does not exist; create it first")
    if not os.access(out.parent, os.W_OK):
        raise PermissionError(f"cannot write beside --out in {out.parent}; choose a writable location")


def _fill_missing_stats(root: Path) -> None:
    """Scalar columns without per-episode stats (e.g. curate's `value`, whose stats only live in
    meta/stats.json) lose their entry in lerobot's re-aggregated stats: recompute them over the kept frames."""
    from robodata.columns import column_stats
    from robodata.dataset import read_column

    info = json.loads((root / "meta" / "info.json").read_text())
    stats_path = root / "meta" / "stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    missing = [
        k
        for k, f in info["features"].items()
        if k not in stats and f["dtype"] in ("float32", "float64", "int64", "int32") and list(f["shape"]) == [1]
    ]
    for k in missing:
        stats[k] = column_stats(read_column(root, k))
    if missing:
        stats_path.write_text(json.dumps(stats, indent=4))


def _write_source_table(
    root: Path, new_of_old: dict[int, int], source_frames: dict[int, np.ndarray], source_rows: dict[int, np.ndarray]
) -> None:
    """meta/filter_source_frames.parquet: every kept frame's new and source coordinates."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {
        k: []
        for k in ("index", "episode_index", "frame_index", "source_episode_index", "source_frame_index", "source_index")
    }
    start = 0
    for old, new in sorted(new_of_old.items(), key=lambda kv: kv[1]):
        sf = source_frames[old]
        cols["index"].append(np.arange(start, start + len(sf)))
        cols["episode_index"].append(np.full(len(sf), new))
        cols["frame_index"].append(np.arange(len(sf)))
        cols["source_episode_index"].append(np.full(len(sf), old))
        cols["source_frame_index"].append(sf)
        cols["source_index"].append(source_rows[old][sf])
        start += len(sf)
    pq.write_table(
        pa.table({k: np.concatenate(v).astype(np.int64) for k, v in cols.items()}), root / SOURCE_FRAMES_FILE
    )


def _write_annotations(
    src: Path, dst: Path, new_of_old: dict[int, int], source_frames: dict[int, np.ndarray]
) -> list[int]:
    """Carry the bench's annotation table over: new episode indices, lengths and [m, n] in kept frames.

    A suboptimal segment with fewer than two kept frames (a hesitation that was cut) is gone: the episode
    is annotated `expert`. Returns the new episode indices whose mode changed that way."""
    from robodata.annotations import read_annotations, write_annotations
    from robodata.ground_truth import validate_annotation

    rows = read_annotations(src)
    if rows is None:
        return []
    out, cleared = [], []
    for r in rows:
        new = new_of_old.get(int(r["episode_index"]))
        if new is None:
            continue
        sf = source_frames[int(r["episode_index"])]
        row = {**r, "episode_index": new, "T": len(sf)}
        if r["mode"] != "expert":
            inside = np.flatnonzero((sf >= r["m"]) & (sf <= r["n"]))
            row["m"], row["n"] = (int(inside[0]), int(inside[-1])) if len(inside) else (None, None)
            try:
                validate_annotation(row["mode"], row["T"], row["m"], row["n"])
            except ValueError:
                row.update(mode="expert", m=None, n=None)
                cleared.append(new)
        out.append(row)
    write_annotations(dst, out)
    return cleared


def build(src: Path, p: dict, cfg: FilterConfig, dst: Path, work: Path) -> dict:
    """Write the filtered dataset to `dst` (a new directory; `work` is scratch space); returns the source-frame map."""
    from lerobot.datasets.dataset_tools import delete_episodes
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from curate.frame_cut import cut_frames

    stage = src
    kept = [ep for ep in p["episodes"] if ep not in p["drop"]]
    new_of_old = {old: new for new, old in enumerate(kept)}
    if p["drop"]:
        print(f"dropping {len(p['drop'])} episodes with lerobot's delete_episodes ...", flush=True)
        stage = work / "kept"
        delete_episodes(
            LeRobotDataset(f"local/{src.name}", root=src), p["drop"], output_dir=stage, repo_id=f"local/{cfg.out.name}"
        )
    keep = {new_of_old[old]: ~p["episodes"][old]["cut"] for old in kept}
    if any(not k.all() for k in keep.values()):
        n = sum(int((~k).sum()) for k in keep.values())
        print(
            f"cutting {n} stalled frames from {sum(not k.all() for k in keep.values())} episodes "
            f"(re-encoding the videos that hold them) ...",
            flush=True,
        )
        cut_frames(stage, keep, dst, repo_id=f"local/{cfg.out.name}")
    elif stage != src:
        stage.rename(dst)
    else:
        print("nothing to drop or cut: writing an unchanged copy", flush=True)
        _copy_tree(src, dst)
    if stage != src and stage.exists():
        shutil.rmtree(stage)
    for name in ("meta/value_labels.json",):  # per-frame values are still valid for the kept frames
        if (src / name).is_file() and not (dst / name).exists():
            shutil.copy2(src / name, dst / name)
    _fill_missing_stats(dst)
    source_frames = {old: np.flatnonzero(~p["episodes"][old]["cut"]) for old in kept}
    _write_source_table(dst, new_of_old, source_frames, {ep: e["rows"] for ep, e in p["episodes"].items()})
    cleared = _write_annotations(src, dst, new_of_old, source_frames)
    return {"new_of_old": new_of_old, "source_frames": source_frames, "annotations_cleared": cleared}


def write_report(src: Path, dst: Path, p: dict, built: dict, cfg: FilterConfig, out: Path) -> dict:
    """summary.json, episodes.csv and value_curves.png (before/after for the most-cut episodes)."""
    from curate.plots import pyplot
    from curate.values import episode_curves

    plt = pyplot()

    fps = p["fps"]
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for ep, e in p["episodes"].items():
        new = built["new_of_old"].get(ep)
        after = 0 if new is None else len(built["source_frames"][ep])
        rows.append(
            {
                "source_episode": ep,
                "episode": new,
                "score": round(e["score"], 6),
                "dropped": new is None,
                "frames_before": len(e["values"]),
                "frames_after": after,
                "seconds_removed": round((len(e["values"]) - after) / fps, 3),
                "cut_frames": " ".join(f"{a}-{b}" for a, b in runs(e["cut"])) if new is not None else "",
            }
        )
    with open(out / "episodes.csv", "w") as fh:
        fh.write(",".join(rows[0]) + "\n")
        fh.writelines(",".join("" if v is None else str(v) for v in r.values()) + "\n" for r in rows)
    frames_before = sum(r["frames_before"] for r in rows)
    frames_after = sum(r["frames_after"] for r in rows)
    summary = {
        "command": (
            "curate filter " + " ".join(sys.argv[2:])
            if sys.argv[1:2] == ["filter"]
            else f"curate filter (called from {Path(sys.argv[0]).name})"
        ),
        "source": str(src),
        "out": str(cfg.out),
        "score": cfg.score,
        "cut": cfg.cut,
        "episodes_before": len(rows),
        "episodes_after": sum(not r["dropped"] for r in rows),
        "episodes_dropped": [r["source_episode"] for r in rows if r["dropped"]],
        "frames_before": frames_before,
        "frames_after": frames_after,
        "seconds_removed": round((frames_before - frames_after) / fps, 3),
        "seconds_cut_in_kept_episodes": round(sum(r["seconds_removed"] for r in rows if not r["dropped"]), 3),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))

    after_curves = episode_curves(dst, cfg.value_column)
    kept = [r for r in rows if not r["dropped"]]
    shown = sorted(kept, key=lambda r: (-r["seconds_removed"], r["source_episode"]))[: max(1, cfg.report_episodes)]
    fig, axes = plt.subplots(len(shown), 1, figsize=(7, 2.4 * len(shown)), squeeze=False)
    for ax, r in zip(axes[:, 0], shown):
        ep = r["source_episode"]
        before = p["episodes"][ep]["values"]
        after = after_curves[r["episode"]]
        ax.plot(np.arange(len(before)) / fps, before, color="tab:gray", lw=2, label="before (source)")
        ax.plot(np.arange(len(after)) / fps, after, color="tab:blue", lw=1.5, label="after (filtered)")
        for i, (a, b) in enumerate(runs(p["episodes"][ep]["cut"])):
            ax.axvspan(
                a / fps, (b + 1) / fps, color="tab:orange", alpha=0.3, label="cut (source time)" if i == 0 else None
            )
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel(f"{cfg.value_column} (progress)")
        ax.set_title(
            f"source episode {ep} -> episode {r['episode']}: {r['frames_before']} -> "
            f"{r['frames_after']} frames ({r['seconds_removed']:.1f} s removed)",
            fontsize=9,
        )
        ax.legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel("time in the episode (s)")
    fig.suptitle(f"curate filter {src.name} -> {cfg.out.name}: value before and after", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "value_curves.png", dpi=100)
    plt.close(fig)
    return summary


def run_filter(cfg: FilterConfig) -> dict | None:
    from robodata.atomic import recover_dir, replace_dir, sibling, writer_lock

    src = Path(cfg.dataset).resolve()
    out = Path(cfg.out).resolve()
    cfg = replace(cfg, dataset=src, out=out)
    if not cfg.dry_run:
        _check_paths(src, out, cfg.overwrite)
    print(f"reading {cfg.value_column!r} of {src} ...", flush=True)
    p = plan(src, cfg)
    print_plan(p, cfg)
    if cfg.dry_run:
        print("dry run: nothing written")
        return None
    with writer_lock(out, tag="filter", busy="another curate filter"):
        # A killed run may have left a half-built tree or a cut swap beside --out: finish or drop it.
        for path in (out, report_dir(out)):
            recover_dir(path, sibling(path, "filter-new"), sibling(path, "filter-old"))
        work = _work_dir(out)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            # create=False: lerobot's writers create the dataset root themselves
            with replace_dir(out, tag="filter", create=False) as new:
                built = build(src, p, cfg, new, work)
                record = {
                    "source": str(src),
                    "config": json.loads(json.dumps(asdict(cfg), default=str)),
                    "dropped_source_episodes": p["drop"],
                    "annotated_expert_after_cut": built["annotations_cleared"],
                    "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                (new / FILTER_RECORD_FILE).write_text(json.dumps(record, indent=2))
                with replace_dir(report_dir(out), tag="filter") as report:
                    summary = write_report(src, new, p, built, cfg, report)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"wrote {out}: {summary['episodes_after']}/{summary['episodes_before']} episodes, "
        f"{summary['frames_after']}/{summary['frames_before']} frames ({summary['seconds_removed']} s removed)"
    )
    print(f"report: {report_dir(out)}/value_curves.png, episodes.csv, summary.json")
    return summary
