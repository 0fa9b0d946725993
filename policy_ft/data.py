"""The per-frame value / advantage columns of a LeRobot dataset, as arrays indexed by global frame index.

`curate label-values` writes a float32 `value` column (V in [0, 1]) into the dataset's parquet files,
`curate advantages` a chunk-advantage column. Training needs Δ for every frame it may sample, so the
column is read once from the parquet files (cheap: three scalar columns) rather than per batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


def _data_files(root: Path) -> list[Path]:
    files = sorted((root / "data").glob("**/*.parquet"))
    if not files:
        raise FileNotFoundError(f"{root}/data holds no parquet files: is it a LeRobot v3.0 dataset?")
    return files


def read_frame_columns(root: str | Path, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index, episode_index, column) sorted by global frame index; column as float32 (N,)."""
    root = Path(root)
    idx, ep, val = [], [], []
    for f in _data_files(root):
        names = pq.read_schema(f).names
        if column not in names:
            return _missing(root, column, names)
        t = pq.read_table(f, columns=["index", "episode_index", column])
        idx.append(t["index"].to_numpy())
        ep.append(t["episode_index"].to_numpy())
        col = t[column].to_numpy(zero_copy_only=False)
        if col.dtype == object:  # fixed-size list column of shape (1,)
            col = np.asarray([np.asarray(v).reshape(-1)[0] for v in col])
        val.append(np.asarray(col, dtype=np.float32).reshape(len(t), -1)[:, 0])
    index = np.concatenate(idx).astype(np.int64)
    order = np.argsort(index, kind="stable")
    index = index[order]
    if not np.array_equal(index, np.arange(index.size)):
        raise ValueError(f"{root}: the global `index` column is not 0..N-1; the dataset looks damaged")
    return index, np.concatenate(ep)[order].astype(np.int64), np.concatenate(val)[order]


def _missing(root: Path, column: str, names: list[str]):
    candidates = [n for n in names if n in ("value", "advantage", "delta") or "value" in n or "adv" in n]
    hint = f" (columns that look related: {', '.join(candidates)})" if candidates else ""
    raise ValueError(
        f"dataset {root} has no '{column}' column{hint}. Label it first: "
        f"`curate label-values {root}` writes the per-frame value column (and `curate advantages` "
        f"the advantage column); or name another column with --value-column / --advantage-column."
    )


def chunk_deltas(root: str | Path, chunk_length: int, value_column: str = "value",
                 advantage_column: str | None = None) -> np.ndarray:
    """Δ (eq. E.4) of the sample anchored at every frame, indexed by global frame index: (N,) float32."""
    if advantage_column is not None:
        _, _, delta = read_frame_columns(root, advantage_column)
        return delta
    from curate.advantage import chunk_advantage

    _, episode, values = read_frame_columns(root, value_column)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{root}: the '{value_column}' column has NaN/inf values; re-run `curate label-values`")
    return np.asarray(chunk_advantage(values, episode, chunk_length), dtype=np.float32)
