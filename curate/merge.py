"""`curate merge A B ... --out NEW`: several LeRobot v3.0 datasets as one new dataset.

The episodes, frames, videos, tasks and stats are merged by lerobot's own `aggregate_datasets` (lerobot
0.4.4), which appends the inputs in the order given: input k's episode e becomes episode
e + (episodes of inputs 0..k-1). Two things it does not know about are carried over here:
- `meta/suboptimal_annotations.parquet`, re-indexed the same way (and each row's T checked against the
  merged episode). An input without the table contributes all-expert rows, the convention the bench
  applies to such a dataset (embodiment: lerobot's robot_type, task: the episode's instruction).
- `meta/value_labels.json`, the provenance of per-frame columns (`curate label-values`, `curate advantages`):
  kept when every input's column came from the same model / formula (timestamps aside), each input listed
  under `merged_from`; columns of different origins are refused rather than silently mixed.
The inputs are read only; the new dataset is built beside `--out` and renamed into place when complete.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import tyro

from robodata import atomic
from robodata.annotations import all_expert_rows, read_annotations, write_annotations
from robodata.columns import PROVENANCE_FILE, read_provenance
from robodata.dataset import check_dataset_dir, episode_rows, frame_table, open_dataset

VOLATILE = {"labelled_at"}  # provenance fields that may differ between inputs of one column


@dataclasses.dataclass(frozen=True)
class MergeConfig:
    """Merge LeRobot v3.0 datasets (same fps, robot type and features) into a new one, keeping the annotation
    table and the value columns' provenance."""

    datasets: tyro.conf.Positional[tuple[Path, ...]]
    """Two or more dataset directories, merged in this order."""
    out: Path
    """The new dataset directory (must not exist yet)."""
    debug: bool = False


def check_inputs(roots: list[Path], out: Path) -> list[dict]:
    """Each input's info.json; one-line errors for anything aggregate_datasets would refuse late or verbosely."""
    if len(roots) < 2:
        raise ValueError("give at least two datasets to merge")
    if len(set(roots)) != len(roots):
        raise ValueError("a dataset is given twice; each input must be a different directory")
    if out.exists():
        raise ValueError(f"--out {out} exists; choose a new directory (the inputs are never modified)")
    infos = [check_dataset_dir(r) for r in roots]
    first = infos[0]
    for root, info in zip(roots[1:], infos[1:]):
        if info["fps"] != first["fps"]:
            raise ValueError(
                f"{root} is recorded at {info['fps']} fps but {roots[0]} at {first['fps']}; datasets of one fps only"
            )
        if info.get("robot_type") != first.get("robot_type"):
            raise ValueError(
                f"{root} has robot_type {info.get('robot_type')!r} but {roots[0]} {first.get('robot_type')!r}"
            )
        a, b = first["features"], info["features"]
        differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if differ:
            raise ValueError(
                f"{root} and {roots[0]} differ in features {differ}; merge datasets with the same "
                "features (label or drop value columns in all of them alike)"
            )
    return infos


def merged_annotations(roots: list[Path], offsets: list[int]) -> list[dict] | None:
    """The inputs' annotation rows, episodes shifted by each input's offset; None when no input has a table."""
    tables = [read_annotations(r) for r in roots]
    if all(t is None for t in tables):
        return None
    rows = []
    for root, table, offset in zip(roots, tables, offsets):
        if table is None:
            table = all_expert_rows(open_dataset(root), root)
        rows += [dict(r, episode_index=int(r["episode_index"]) + offset) for r in table]
    return rows


def merged_provenance(roots: list[Path], offsets: list[int], counts: list[int], columns: set[str]) -> dict:
    """One provenance entry per column, when every input's entry agrees (timestamps aside)."""
    provs = [read_provenance(r) for r in roots]
    merged = {}
    for col in sorted(set().union(*provs) & columns):
        entries = [p.get(col) for p in provs]
        if any(e is None for e in entries):
            missing = next(r for r, e in zip(roots, entries) if e is None)
            raise ValueError(
                f"column {col!r}: {missing} has no provenance for it in {PROVENANCE_FILE}; "
                f"relabel it (`curate label-values {missing}`) before merging"
            )
        stable = [{k: v for k, v in e.items() if k not in VOLATILE} for e in entries]
        for root, s in zip(roots[1:], stable[1:]):
            if s != stable[0]:
                diff = sorted(k for k in set(s) | set(stable[0]) if s.get(k) != stable[0].get(k))
                raise ValueError(
                    f"column {col!r} of {root} differs from {roots[0]}'s in {diff}; relabel the inputs "
                    f"alike (same model, same -H) so the merged column means one thing"
                )
        merged[col] = dict(
            stable[0],
            merged_from=[
                {"dataset": str(r), "episodes": [o, o + c - 1], **{k: e[k] for k in VOLATILE if k in e}}
                for r, e, o, c in zip(roots, entries, offsets, counts)
            ],
        )
    return merged


def run_merge(cfg: MergeConfig) -> Path:
    roots = [Path(d).resolve() for d in cfg.datasets]
    out = Path(cfg.out).resolve()
    infos = check_inputs(roots, out)
    counts = [int(i["total_episodes"]) for i in infos]
    offsets = [sum(counts[:k]) for k in range(len(counts))]
    rows = merged_annotations(roots, offsets)
    columns = {k for k, f in infos[0]["features"].items() if f.get("dtype") not in ("video", "image")}
    provenance = merged_provenance(roots, offsets, counts, columns)

    from lerobot.datasets.aggregate import aggregate_datasets

    staging = atomic.sibling(out, "merging")
    shutil.rmtree(staging, ignore_errors=True)  # a previous run killed before its rename
    try:
        aggregate_datasets([f"local/{r.name}" for r in roots], f"local/{out.name}", roots=roots, aggr_root=staging)
        lengths = {ep: len(sel) for ep, sel in episode_rows(frame_table(staging)).items()}
        if rows is not None:
            for r in rows:
                if lengths.get(r["episode_index"]) != r["T"]:
                    raise RuntimeError(
                        f"merged episode {r['episode_index']} has {lengths.get(r['episode_index'])} "
                        f"frames but its annotation says T={r['T']}; aggregate_datasets did not keep "
                        "the input order (nothing was written to --out)"
                    )
            write_annotations(staging, rows)
        if provenance:
            atomic.write_json(staging / PROVENANCE_FILE, provenance)
        atomic.fsync_tree(staging)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    modes = {}
    for r in rows or []:
        modes[r["mode"]] = modes.get(r["mode"], 0) + 1
    per_mode = f" ({', '.join(f'{n} {m}' for m, n in modes.items())})" if modes else ""
    print(
        f"merged {len(roots)} datasets: {sum(counts)} episodes{per_mode}, {sum(i['total_frames'] for i in infos)} "
        f"frames -> {out}" + (f"; columns with provenance: {', '.join(provenance)}" if provenance else "")
    )
    for r, o, c in zip(roots, offsets, counts):
        print(f"  episodes {o}-{o + c - 1} <- {r}")
    return out
