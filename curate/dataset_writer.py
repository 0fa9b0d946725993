"""Adding per-frame columns to a LeRobot v3.0 dataset, all or nothing.

A column lives in four places: every `data/chunk-*/file-*.parquet`, `meta/info.json` (the feature
declaration), `meta/stats.json` and per-episode stats in `meta/episodes/` (curate/episode_stats.py).
LeRobot refuses to load a dataset whose Parquet columns and declared features disagree, so these
files must change together. We therefore never edit the dataset in place: we build a complete new
tree beside it (`.<name>.curate-new`, unchanged files hard-linked, so videos cost nothing) and swap
the two directories with one atomic `renameat2(RENAME_EXCHANGE)`.
A kill at any moment leaves the dataset path holding either the old tree or the new one; leftovers
are cleaned up by `recover`, which every run calls first. On filesystems without RENAME_EXCHANGE we
fall back to two renames, and `recover` completes a swap that was cut in between.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.episode_stats import write_episode_stats

MARKER = ".curate_complete"
STAGING_DIR = ".curate_staging"
PROVENANCE_FILE = "meta/value_labels.json"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def new_tree_path(root: Path) -> Path:
    return root.parent / f".{root.name}.curate-new"


def old_tree_path(root: Path) -> Path:
    return root.parent / f".{root.name}.curate-old"


def exchange_dirs(a: Path, b: Path) -> bool:
    """Atomically swap two directory entries; False when the OS or filesystem cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, f"renameat2({a}, {b}, RENAME_EXCHANGE) failed: {os.strerror(err)}")


def lock_path(root: Path) -> Path:
    return root.parent / f".{root.name}.curate-lock"


@contextlib.contextmanager
def writer_lock(root: Path):
    """One writing curate command per dataset at a time.

    Without it a second run's `recover` would delete the tree the first run is building, and the
    first could then swap an incomplete tree into place. The lock lives beside the dataset (the
    dataset directory itself is swapped), is an flock (released by the kernel when the process dies,
    so a killed run never leaves a stale lock) and the small file is left in place on purpose:
    unlinking a lock file lets two later runs lock two different files.
    """
    import fcntl

    root = Path(root)
    if not os.access(root.parent, os.W_OK):
        yield  # nothing can be written here anyway; check_writable reports it
        return
    with open(lock_path(root), "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"another curate command is writing to {root} right now (it holds "
                             f"{lock_path(root)}); wait for it to finish, then rerun") from None
        yield


def recover(root: Path) -> None:
    """Finish or undo whatever an interrupted commit left behind. Idempotent."""
    root = Path(root)
    new, old = new_tree_path(root), old_tree_path(root)
    if not root.exists():
        # Cut between the two renames of the fallback swap.
        if (new / MARKER).exists():
            os.rename(new, root)
        elif old.exists():
            os.rename(old, root)
    if (root / MARKER).exists():
        (root / MARKER).unlink()
    for leftover in (new, old):
        if leftover.exists():
            shutil.rmtree(leftover)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=4))


def column_stats(values: np.ndarray) -> dict:
    """The statistics LeRobot keeps per feature (meta/stats.json), for a scalar column."""
    v = np.asarray(values, dtype=np.float64)
    q = np.quantile(v, [0.01, 0.10, 0.50, 0.90, 0.99]) if len(v) else np.zeros(5)
    return {
        "min": [float(v.min())], "max": [float(v.max())], "mean": [float(v.mean())], "std": [float(v.std())],
        "count": [int(len(v))], "q01": [float(q[0])], "q10": [float(q[1])], "q50": [float(q[2])],
        "q90": [float(q[3])], "q99": [float(q[4])],
    }


def read_provenance(root: Path) -> dict:
    path = Path(root) / PROVENANCE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def commit_columns(root: Path, columns: dict[str, np.ndarray], provenance: dict[str, dict]) -> None:
    """Write `columns` (name -> (N,) float32 indexed by the global frame `index`) into the dataset.

    Existing columns of the same name are replaced. Provenance (model, fingerprint, ...) goes into
    meta/value_labels.json under each column's name.
    """
    root = Path(root).resolve()
    recover(root)
    new = new_tree_path(root)
    info = json.loads((root / "meta" / "info.json").read_text())
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

    rewritten = {"meta/info.json", "meta/stats.json", PROVENANCE_FILE}
    new.mkdir()
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        dirnames[:] = [d for d in dirnames if not (rel_dir == Path(".") and d == STAGING_DIR)]
        (new / rel_dir).mkdir(exist_ok=True)
        for fname in filenames:
            rel = (rel_dir / fname).as_posix()
            if rel in rewritten or fname == MARKER:
                continue
            src, dst = Path(dirpath) / fname, new / rel_dir / fname
            if rel.startswith("data/") and fname.endswith(".parquet"):
                _write_data_file(src, dst, columns)
            elif rel.startswith("meta/episodes/") and fname.endswith(".parquet"):
                write_episode_stats(src, dst, columns)  # stats/<name>/<stat>, as LeRobot keeps per episode
            else:
                _link_or_copy(src, dst)
    _write_json(new / "meta" / "info.json", info)
    _write_json(new / "meta" / "stats.json", stats)
    _write_json(new / PROVENANCE_FILE, prov)
    (new / MARKER).write_text("complete\n")
    _fsync_tree(new)

    if not exchange_dirs(root, new):
        os.rename(root, old_tree_path(root))
        os.rename(new, root)
    recover(root)  # removes the marker and the old tree


def _write_data_file(src: Path, dst: Path, columns: dict[str, np.ndarray]) -> None:
    table = pq.read_table(src)
    index = table["index"].to_numpy()
    for name, values in columns.items():
        arr = pa.array(np.asarray(values, dtype=np.float32)[index], type=pa.float32())
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, arr)
        else:
            table = table.append_column(name, arr)
    pq.write_table(table, dst)


def _fsync_tree(top: Path) -> None:
    for dirpath, _, filenames in os.walk(top):
        for f in filenames:
            p = Path(dirpath) / f
            if p.stat().st_nlink == 1:  # hard links point at files that are already durable
                with open(p, "rb") as fh:
                    os.fsync(fh.fileno())


def read_column(root: Path, name: str) -> np.ndarray:
    """A column as (N,) float32 indexed by the global frame index."""
    files = sorted((Path(root) / "data").glob("*/*.parquet"))
    idx, vals = [], []
    for f in files:
        t = pq.read_table(f, columns=["index", name])
        idx.append(t["index"].to_numpy())
        vals.append(t[name].to_numpy().astype(np.float32))
    index = np.concatenate(idx)
    out = np.empty(len(index), dtype=np.float32)
    out[index] = np.concatenate(vals)
    return out


def frame_table(root: Path) -> dict[str, np.ndarray]:
    """index, episode_index, frame_index of every frame, sorted by index."""
    files = sorted((Path(root) / "data").glob("*/*.parquet"))
    t = pa.concat_tables([pq.read_table(f, columns=["index", "episode_index", "frame_index"]) for f in files])
    order = np.argsort(t["index"].to_numpy(), kind="stable")
    return {k: t[k].to_numpy()[order] for k in ("index", "episode_index", "frame_index")}


def episode_rows(frames: dict[str, np.ndarray]) -> dict[int, np.ndarray]:
    """Episode -> its rows of `frames` (a `frame_table`) in time order, for every episode in one sort.

    A boolean mask per episode would cost O(frames x episodes): minutes at 10M frames / 20k episodes.
    """
    order = np.lexsort((frames["frame_index"], frames["episode_index"]))
    ep = frames["episode_index"][order]
    if len(ep) == 0:
        return {}
    starts = np.r_[0, np.flatnonzero(ep[1:] != ep[:-1]) + 1]
    ends = np.r_[starts[1:], len(ep)]
    return {int(ep[s]): order[s:e] for s, e in zip(starts, ends)}
