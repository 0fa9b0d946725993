"""The per-frame value / advantage columns of a LeRobot dataset, as arrays indexed by global frame index.

`curate label-values` writes a float32 `value` column (V in [0, 1]) into the dataset's parquet files,
`curate advantages` a chunk-advantage column. Training needs Δ for every frame it may sample, so the
column is read once from the parquet files (cheap: three scalar columns) rather than per batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robodata import dataset


def read_frame_columns(root: str | Path, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index, episode_index, column) sorted by global frame index; column as float32 (N,)."""
    try:
        return dataset.read_frame_columns(root, column)
    except dataset.MissingColumnError as err:
        raise ValueError(
            f"{err}. Label it first: `curate label-values {err.root}` writes the per-frame value column (and "
            f"`curate advantages` the advantage column); or name another column with --value-column / "
            f"--advantage-column."
        ) from None


def chunk_deltas(
    root: str | Path, chunk_length: int, value_column: str = "value", advantage_column: str | None = None
) -> np.ndarray:
    """Δ (eq. E.4) of the sample anchored at every frame, indexed by global frame index: (N,) float32."""
    if advantage_column is not None:
        _, _, delta = read_frame_columns(root, advantage_column)
        return delta
    from curate.advantage_math import chunk_advantage

    _, episode, values = read_frame_columns(root, value_column)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{root}: the '{value_column}' column has NaN/inf values; re-run `curate label-values`")
    return np.asarray(chunk_advantage(values, episode, chunk_length), dtype=np.float32)
