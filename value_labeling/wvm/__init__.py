"""The World Value Model (paper sections 3, appendix A/F): model, training, chunked inference.

Importing this package is light (no torch/diffusers): it only registers the checkpoint loader with
the value-model registry, so `value_labeling bench --model CKPT_DIR` scores a trained WVM.
"""

from __future__ import annotations

from pathlib import Path

from value_labeling.models.registry import register_checkpoint_loader


def is_wvm_checkpoint(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and ((path / "wvm.json").is_file() or (path / "latest.json").is_file())


def _load(path: Path):
    from value_labeling.wvm.inference import WVMValueModel

    return WVMValueModel.from_checkpoint(path)


register_checkpoint_loader(is_wvm_checkpoint, _load)
