"""The embedded default value model: a trained `wvm-tiny` checkpoint shipped inside the package.

`bench/build_default_model.py` (`make default-model`) rebuilds it from scratch; `default_card.py`
writes its model card, `default_wvm/MODEL_CARD.md`. When the directory is absent (a trimmed install)
the model table has no `default` entry and callers fall back to the `time` reference, saying so.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_DIR = Path(__file__).parent / "default_wvm"


def default_checkpoint_exists() -> bool:
    return (DEFAULT_DIR / "wvm.json").is_file() and (DEFAULT_DIR / "model.safetensors").is_file()


def load_default_model():
    from value_labeling.wvm.inference import WVMValueModel

    model = WVMValueModel.from_checkpoint(DEFAULT_DIR)
    model.name = "wvm-tiny-default"
    return model
