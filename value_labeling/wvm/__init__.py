"""The World Value Model (paper section 3, appendix A/F): model, training, chunked inference.

Importing this package is light (no torch/diffusers): it holds only what the value-model table
(`value_labeling.models`) needs to recognise and load a trained checkpoint directory.
"""

from __future__ import annotations

from pathlib import Path


def is_wvm_checkpoint(path: Path) -> bool:
    """A run directory (latest.json) or a step directory (wvm.json) of `value_labeling train`."""
    path = Path(path)
    return path.is_dir() and ((path / "wvm.json").is_file() or (path / "latest.json").is_file())


def load_wvm_checkpoint(path: Path):
    from value_labeling.wvm.inference import WVMValueModel

    return WVMValueModel.from_checkpoint(path)
