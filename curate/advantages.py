"""`curate advantages`: the chunk advantage Delta (eq. E.4) as a dataset column, written safely."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from curate.advantage_math import chunk_advantage
from curate.config import AdvantagesConfig
from curate.values import load_values
from robodata.columns import RESERVED, check_writable, commit_columns, read_provenance, recover, writer_lock
from robodata.dataset import check_dataset_dir


def run_advantages(cfg: AdvantagesConfig) -> None:
    with writer_lock(Path(cfg.dataset).resolve()):
        _run_advantages(cfg)


def _run_advantages(cfg: AdvantagesConfig) -> None:
    root = Path(cfg.dataset).resolve()
    recover(root)  # first: a commit cut mid-swap may have left nothing at the dataset path
    check_writable(root)
    if cfg.column in RESERVED or cfg.column == cfg.value_column:
        raise ValueError(f"--column {cfg.column!r} would overwrite a column this command reads or LeRobot needs")
    info = check_dataset_dir(root)
    if cfg.column in info["features"]:
        if cfg.column not in read_provenance(root):
            raise ValueError(f"{root} already has a feature {cfg.column!r} that curate did not write; choose --column")
        if not cfg.overwrite:
            raise ValueError(f"column {cfg.column!r} exists; drop --no-overwrite to recompute it")
    values, episodes = load_values(root, cfg.value_column)
    delta = chunk_advantage(values, episodes, cfg.chunk_length)
    commit_columns(
        root,
        {cfg.column: delta},
        {
            cfg.column: {
                "derived_from": cfg.value_column,
                "chunk_length": cfg.chunk_length,
                "formula": "V(min(t+H-1,T-1)) - V(t)",
                "source_fingerprint": read_provenance(root).get(cfg.value_column, {}).get("fingerprint"),
                "labelled_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        },
    )
    print(
        f"wrote {cfg.column!r} (H={cfg.chunk_length}) for {len(delta)} frames: mean {delta.mean():+.4f}, "
        f"fraction >= 0: {(delta >= 0).mean():.3f} -> {root}"
    )
