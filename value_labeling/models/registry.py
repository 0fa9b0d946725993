"""The value-model interface and a registry of models by name.

A value model is anything with `predict(frames, fps, instruction) -> values`. The bench harness and
`curate label-values` only ever talk to this interface, so baselines, the WVM and user models are
interchangeable. Names resolve through the registry; a filesystem path resolves to a trained
checkpoint through the checkpoint loaders that model families register (the WVM registers one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ValueModel(Protocol):
    #: Stable identifier written into results and dataset provenance.
    name: str
    #: Frame rate the model wants its input at (frames are resampled to it); None accepts any rate.
    target_fps: float | None

    def fingerprint(self) -> str:
        """A short hash that changes whenever the model's outputs could change (weights, config)."""
        ...

    def predict(self, frames: np.ndarray, fps: float, instruction: str) -> np.ndarray:
        """frames (T, H, W, 3) uint8 sampled at `fps` -> (T,) float values in [0, 1]."""
        ...


def model_camera(model) -> str | None:
    """The camera a model wants when the user names none: an optional `camera` attribute (a trained
    WVM's training camera). Optional, so models written against the protocol above keep working."""
    return getattr(model, "camera", None)


_FACTORIES: dict[str, Callable[[], ValueModel]] = {}
#: (predicate(path) -> bool, loader(path) -> ValueModel), tried in order for filesystem paths.
_CHECKPOINT_LOADERS: list[tuple[Callable[[Path], bool], Callable[[Path], ValueModel]]] = []


def register_value_model(name: str):
    """Decorator: register a zero-argument factory under `name`."""

    def deco(factory: Callable[[], ValueModel]):
        if name in _FACTORIES:
            raise ValueError(f"value model {name!r} is registered twice")
        _FACTORIES[name] = factory
        return factory

    return deco


def register_checkpoint_loader(predicate: Callable[[Path], bool], loader: Callable[[Path], ValueModel]) -> None:
    _CHECKPOINT_LOADERS.append((predicate, loader))


def _import_builtin_models() -> None:
    # Importing the modules runs their registrations.
    import value_labeling.models.reference  # noqa: F401

    try:
        import value_labeling.models.default  # noqa: F401  (the shipped checkpoint, when present)
    except ImportError:
        pass

    import value_labeling.baselines  # noqa: F401  (learned baselines: shipped names + checkpoint loader)

    try:
        import value_labeling.wvm  # noqa: F401  (registers the WVM checkpoint loader and presets)
    except ImportError:
        pass


def available_models() -> list[str]:
    _import_builtin_models()
    return sorted(_FACTORIES)


#: Name under which the embedded default model (a trained checkpoint shipped in the package) registers.
DEFAULT_MODEL = "default"


def default_model_name() -> str | None:
    """The embedded default model's name if one ships with this installation, else None."""
    return DEFAULT_MODEL if DEFAULT_MODEL in available_models() else None


def load_value_model(name_or_path: str) -> ValueModel:
    """A registered model by name, or a trained checkpoint by path."""
    _import_builtin_models()
    if name_or_path in _FACTORIES:
        return _FACTORIES[name_or_path]()
    path = Path(name_or_path)
    if path.exists():
        for predicate, loader in _CHECKPOINT_LOADERS:
            if predicate(path):
                return loader(path)
        raise ValueError(f"{path} exists but is not a checkpoint any value-model family recognises")
    raise ValueError(
        f"unknown value model {name_or_path!r}: not a registered name ({', '.join(sorted(_FACTORIES))}) "
        f"and no such checkpoint path"
    )
