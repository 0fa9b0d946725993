"""Learned baseline value models (`frame-regressor`, `temporal`): see model.py.

Importing this package is light (no torch): it registers the checkpoint loader, so `--model RUN_DIR`
loads a `train-baseline` run, and the shipped checkpoints by name.
"""

from __future__ import annotations

from pathlib import Path

from value_labeling.models.registry import register_checkpoint_loader, register_value_model

#: Shipped checkpoints (built by scripts/build_baselines.py): registered name -> directory.
SHIPPED = {"baseline-frame": Path(__file__).parents[1] / "models" / "baseline_frame",
           "baseline-temporal": Path(__file__).parents[1] / "models" / "baseline_temporal"}


def is_baseline_checkpoint(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / "baseline.json").is_file()


def _load(path: Path, name: str | None = None):
    from value_labeling.baselines.model import BaselineValueModel

    return BaselineValueModel(path, name=name)


register_checkpoint_loader(is_baseline_checkpoint, _load)
for _name, _dir in SHIPPED.items():
    if is_baseline_checkpoint(_dir):
        register_value_model(_name)(lambda n=_name, d=_dir: _load(d, n))
