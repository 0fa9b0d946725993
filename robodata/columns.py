"""Adding per-frame columns to a LeRobot v3.0 dataset, all or nothing.

A column lives in four places: every `data/chunk-*/file-*.parquet`, `meta/info.json` (the feature
declaration), `meta/stats.json` and per-episode stats in `meta/episodes/` (robodata/episode_stats.py).
LeRobot refuses to load a dataset whose Parquet columns and declared features disagree, so these files
must change together. We therefore never edit the dataset
in place: `robodata.atomic.replace_dir` builds a complete new tree beside it (`.<name>.curate-new`,
unchanged files hard-linked, so videos cost nothing, every file and directory with the mode and owner
of its original) and swaps the two directories atomically. A kill at any moment leaves the dataset
path holding either the old tree or the new one; `recover`, which every writing command calls once
first, cleans up or completes what a killed commit left.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from robodata import atomic
from robodata.dataset import check_dataset_dir, read_table
from robodata.episode_stats import write_episode_stats

TAG = "curate"  # .<name>.curate-new / -old / -lock beside the dataset
MARKER = ".curate_complete"
STAGING_DIR = ".curate_staging"
PROVENANCE_FILE = "meta/value_labels.json"
#: LeRobot's bookkeeping columns: never overwritten.
RESERVED = {"index", "episode_index", "frame_index", "timestamp", "task_index"}


def new_tree_path(root: Path) -> Path:
    return atomic.sibling(Path(root), f"{TAG}-new")


def old_tree_path(root: Path) -> Path:
    return atomic.sibling(Path(root), f"{TAG}-old")


def lock_path(root: Path) -> Path:
    return atomic.lock_path(Path(root), TAG)


def has_leftovers(root: Path) -> bool:
    return new_tree_path(root).exists() or old_tree_path(root).exists()


def writer_lock(root: Path):
    """One writing curate command per dataset at a time (see `robodata.atomic.writer_lock`).

    The lock is taken only on a dataset (or on what a killed commit left of one), so a mistyped
    path leaves no `.NAME.curate-lock` behind: it fails with a `DatasetError` instead.
    """
    root = Path(root)
    if not has_leftovers(root):
        check_dataset_dir(root)
    return atomic.writer_lock(root, TAG, busy="another curate command")


def recover(root: Path) -> None:
    """Finish or undo whatever an interrupted commit left behind. Idempotent; needs a writable parent."""
    root = Path(root)
    if os.access(root.parent, os.W_OK):
        atomic.recover_dir(root, new_tree_path(root), old_tree_path(root), MARKER)


def check_writable(root: Path) -> None:
    for d in (root, root / "data", root / "meta", root.parent):
        if not os.access(d, os.W_OK):
            raise PermissionError(
                f"cannot write to {d}: the dataset (and its parent directory, for the atomic "
                "swap) must be writable. For a read-only dataset write a sidecar table with "
                "--out FILE.parquet"
            )


def column_stats(values: np.ndarray) -> dict:
    """The statistics LeRobot keeps per feature (meta/stats.json), for a scalar column."""
    v = np.asarray(values, dtype=np.float64)
    q = np.quantile(v, [0.01, 0.10, 0.50, 0.90, 0.99]) if len(v) else np.zeros(5)
    return {
        "min": [float(v.min())],
        "max": [float(v.max())],
        "mean": [float(v.mean())],
        "std": [float(v.std())],
        "count": [int(len(v))],
        "q01": [float(q[0])],
        "q10": [float(q[1])],
        "q50": [float(q[2])],
        "q90": [float(q[3])],
        "q99": [float(q[4])],
    }


def read_provenance(root: Path) -> dict:
    path = Path(root) / PROVENANCE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def commit_columns(root: Path, columns: dict[str, np.ndarray], provenance: dict[str, dict]) -> None:
    """Write `columns` (name -> (N,) float32 indexed by the global frame `index`) into the dataset.

    Existing columns of the same name are replaced. Provenance (model, fingerprint, ...) goes into
    meta/value_labels.json under each column's name. The caller holds `writer_lock` and has run
    `recover` (once, before it read the dataset).
    """
    root = Path(root).resolve()
    info = check_dataset_dir(root)
    stats_path = root / "meta" / "stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    total = int(info["total_frames"])
    for name, values in columns.items():
        if values.shape != (total,):
            raise ValueError(f"column {name!r} has {values.shape[0]} values for a dataset of {total} frames")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"column {name!r} holds NaN/inf values; refusing to write it")
        info["features"][name] = {"dtype": "float32", "shape": [1], "names": None}
        stats[name] = column_stats(values)
    prov = read_provenance(root)
    prov.update(provenance)

    rewritten = {"meta/info.json": info, "meta/stats.json": stats, PROVENANCE_FILE: prov}
    with atomic.replace_dir(root, new=new_tree_path(root), old=old_tree_path(root), marker=MARKER) as new:
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = Path(dirpath).relative_to(root)
            dirnames[:] = [d for d in dirnames if not (rel_dir == Path(".") and d == STAGING_DIR)]
            if rel_dir != Path("."):
                (new / rel_dir).mkdir()
                atomic.keep_owner_and_mode(Path(dirpath), new / rel_dir)
            for fname in filenames:
                rel = (rel_dir / fname).as_posix()
                if rel in rewritten or fname == MARKER:
                    continue
                src, dst = Path(dirpath) / fname, new / rel_dir / fname
                if rel.startswith("data/") and fname.endswith(".parquet"):
                    _write_data_file(src, dst, columns)
                    atomic.keep_owner_and_mode(src, dst)
                elif rel.startswith("meta/episodes/") and fname.endswith(".parquet"):
                    write_episode_stats(src, dst, columns)  # stats/<name>/<stat>, as LeRobot keeps per episode
                    atomic.keep_owner_and_mode(src, dst)
                else:
                    _link_or_copy(src, dst)
        for rel, obj in rewritten.items():
            dst = new / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(json.dumps(obj, indent=4))
            if (root / rel).exists():
                atomic.keep_owner_and_mode(root / rel, dst)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # same inode: mode and owner come along
    except OSError:
        shutil.copy2(src, dst)
        atomic.keep_owner_and_mode(src, dst)


def _write_data_file(src: Path, dst: Path, columns: dict[str, np.ndarray]) -> None:
    table = read_table(src)
    index = table["index"].to_numpy()
    for name, values in columns.items():
        arr = pa.array(np.asarray(values, dtype=np.float32)[index], type=pa.float32())
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, arr)
        else:
            table = table.append_column(name, arr)
    pq.write_table(table, dst)
