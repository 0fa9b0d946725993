"""The value column read back for the commands that build on it (advantages, flag, report)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robodata.annotations import read_annotations
from robodata.dataset import check_dataset_dir, episode_rows, frame_table, read_column


def load_values(root: Path, value_column: str) -> tuple[np.ndarray, np.ndarray]:
    """(values by global index, episode_index by global index); clear errors when the column is missing."""
    info = check_dataset_dir(root)
    if value_column not in info["features"]:
        raise ValueError(
            f"{root} has no {value_column!r} column; make it first with "
            f"`curate label-values {root}` (or name the column with --value-column)"
        )
    return read_column(root, value_column), frame_table(root)["episode_index"]


def episode_curves(root: Path, value_column: str) -> dict[int, np.ndarray]:
    """Episode -> its values in time order."""
    values, _ = load_values(root, value_column)
    frames = frame_table(root)
    return {ep: values[frames["index"][sel]] for ep, sel in episode_rows(frames).items()}


def episode_annotations(root: Path) -> dict[int, dict]:
    """Episode -> its row of meta/suboptimal_annotations.parquet (mode, m, n, T); {} without the table."""
    return {int(r["episode_index"]): r for r in read_annotations(root) or []}
