"""Value models: anything that maps an episode's frames to per-frame progress in [0, 1].

A value model has `name`, `target_fps`, `fingerprint()` and `predict(frames, fps, instruction)` (the
`ValueModel` protocol below). The bench and `curate label-values` only ever talk to this interface, so
baselines, the WVM and user models are interchangeable; `label_episode` is how every caller gets one
episode's values at the native frame rate.

`load_value_model(name_or_path)` looks a name up in `VALUE_MODELS` (name -> zero-argument factory), or
loads a filesystem path with the first `CHECKPOINT_LOADERS` entry whose predicate accepts it (a WVM
checkpoint directory). Both are plain module-level tables; add your own model with

    VALUE_MODELS["mine"] = MyModel          # or: @register_value_model("mine") on the class/factory
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from value_labeling.baselines import is_baseline_checkpoint, load_baseline_checkpoint, shipped_models
from value_labeling.models.default import default_checkpoint_exists, load_default_model
from value_labeling.models.reference import TimeModel
from value_labeling.wvm import is_wvm_checkpoint, load_wvm_checkpoint


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


#: Name of the embedded default model (a trained checkpoint shipped in the package), when it ships.
DEFAULT_MODEL = "default"

#: name -> zero-argument factory.
VALUE_MODELS: dict[str, Callable[[], ValueModel]] = {"time": TimeModel}
if default_checkpoint_exists():  # a trimmed install without the weights falls back to `time`
    VALUE_MODELS[DEFAULT_MODEL] = load_default_model
VALUE_MODELS.update(shipped_models())  # learned baselines beside the default: baseline-frame, baseline-temporal

#: (predicate(path) -> bool, loader(path) -> ValueModel), tried in order for filesystem paths.
CHECKPOINT_LOADERS: list[tuple[Callable[[Path], bool], Callable[[Path], ValueModel]]] = [
    (is_wvm_checkpoint, load_wvm_checkpoint),
    (is_baseline_checkpoint, load_baseline_checkpoint),
]


def register_value_model(name: str):
    """Decorator form of `VALUE_MODELS[name] = factory`; a name taken already is an error."""

    def deco(factory: Callable[[], ValueModel]):
        if name in VALUE_MODELS:
            raise ValueError(f"value model {name!r} is registered twice")
        VALUE_MODELS[name] = factory
        return factory

    return deco


def available_models() -> list[str]:
    return sorted(VALUE_MODELS)


def default_model_name() -> str | None:
    """The embedded default model's name if one ships with this installation, else None."""
    return DEFAULT_MODEL if DEFAULT_MODEL in VALUE_MODELS else None


def load_value_model(name_or_path: str) -> ValueModel:
    """A model from the table by name, a trained checkpoint by path, or precomputed values (`progress:FILE`)."""
    if name_or_path.startswith("progress:"):
        from value_labeling.models.progress_file import ProgressFileModel

        return ProgressFileModel.from_spec(name_or_path[len("progress:") :])
    if name_or_path in VALUE_MODELS:
        return VALUE_MODELS[name_or_path]()
    path = Path(name_or_path)
    if path.exists():
        for predicate, loader in CHECKPOINT_LOADERS:
            if predicate(path):
                return loader(path)
        raise ValueError(f"{path} exists but is not a checkpoint any value-model family recognises")
    raise ValueError(
        f"unknown value model {name_or_path!r}: not a registered name ({', '.join(sorted(VALUE_MODELS))}) "
        f"and no such checkpoint path"
    )


def label_episode(ds, model, ep: int, camera: str) -> np.ndarray:
    """(T,) float32 values in [0, 1] for every native frame of episode `ep`.

    The model sees the frames at its own `target_fps` (native rate when None); values at the frames
    in between are linearly interpolated, and the last sampled value holds to the episode's end.
    """
    from robodata.dataset import episode_length, episode_task, read_episode_frames
    from robodata.resample import resample_indices, to_native

    T = episode_length(ds, ep)
    native = float(ds.meta.fps)
    fps = native if model.target_fps is None else min(float(model.target_fps), native)
    idx = resample_indices(T, native, fps)
    frames = read_episode_frames(ds, ep, camera, idx)
    pred = np.asarray(model.predict(frames, fps, episode_task(ds, ep)), dtype=np.float64).reshape(-1)
    if pred.shape != idx.shape:
        raise ValueError(f"episode {ep}: model {model.name!r} returned {pred.size} values for {idx.size} frames")
    if not np.all(np.isfinite(pred)):
        raise ValueError(f"episode {ep}: model {model.name!r} returned NaN/inf values")
    return np.clip(to_native(T, idx, pred), 0.0, 1.0).astype(np.float32)
