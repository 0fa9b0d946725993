"""Label one episode: decode, resample to the model's rate, predict, interpolate back, clip."""

from __future__ import annotations

import numpy as np

from value_labeling.bench.protocol import resample_indices
from value_labeling.dataset import episode_length, episode_task, read_episode_frames


def label_episode(ds, model, ep: int, camera: str) -> np.ndarray:
    """(T,) float32 values in [0, 1] for every native frame of episode `ep`.

    The model sees the frames at its own `target_fps` (native rate when None); values at the frames
    in between are linearly interpolated, and the last sampled value holds to the episode's end.
    """
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
    values = np.interp(np.arange(T), idx, pred)
    return np.clip(values, 0.0, 1.0).astype(np.float32)
