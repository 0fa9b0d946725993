"""Learned baseline value models (`frame-regressor`, `temporal`): see model.py.

Importing this package is light (no torch): the value-model table (`value_labeling.models`) takes from
it the shipped checkpoints by name and the loader for `train-baseline` run directories.
"""

from __future__ import annotations

from pathlib import Path

#: Shipped checkpoints (built by bench/build_baselines.py): registered name -> directory.
SHIPPED = {
    "baseline-frame": Path(__file__).parents[1] / "models" / "baseline_frame",
    "baseline-temporal": Path(__file__).parents[1] / "models" / "baseline_temporal",
}


def is_baseline_checkpoint(path: Path) -> bool:
    """A `train-baseline` run directory or one of its step directories (both hold baseline.json)."""
    return Path(path).is_dir() and (Path(path) / "baseline.json").is_file()


def load_baseline_checkpoint(path: Path, name: str | None = None):
    from value_labeling.baselines.model import BaselineValueModel

    return BaselineValueModel(path, name=name)


def shipped_models() -> dict:
    """name -> zero-argument factory, for the shipped checkpoints present in this installation."""
    return {
        name: (lambda n=name, d=d: load_baseline_checkpoint(d, n))
        for name, d in SHIPPED.items()
        if is_baseline_checkpoint(d)
    }
