"""Chunked inference over a whole episode, and the trained WVM as a bench `ValueModel`.

Scheme (paper 3.2, Fig. 2, appendix A "Inference"):
- windows of h frames anchored at t = h-1, h-1+stride, ..., N-1 (the last window always ends on the
  last frame); stride defaults to h/2, so each frame is covered by up to two chunks;
- each window's clip is [frame t-h (prefix), frames t-h+1..t] - no future frames are needed because
  the current-video tokens never attend to the future latent (see model.py);
- the video stream (the expensive part) runs once for all windows of the episode in batches; the
  value stream then runs window by window, because each window's prefix value is the running
  (averaged) estimate of frame t-h from the earlier windows; the very first prefix is 0.0 (episodes
  start at zero progress, the same label clamped training windows get);
- flow head: explicit Euler from noise with `inference_steps` steps (paper: 1), from a seeded
  generator so predictions are reproducible; overlapping predictions are averaged per frame and
  clipped to [0, 1].
- Clips shorter than one chunk (N < h) are padded at the front by repeating the first frame; the
  padded positions' predictions are dropped. Prefix indices before the episode start also repeat the
  first frame (as in training).
- Frames given at a rate other than the model's target fps are resampled to it (nearest frame) and the
  values are interpolated back to the given frames.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from robodata.resample import resample_indices, to_native
from value_labeling.domain import model_domain
from value_labeling.wvm.checkpoint import load_model, train_camera
from value_labeling.wvm.windows import resize_frames


def window_anchors(N: int, h: int, stride: int) -> list[int]:
    anchors = list(range(h - 1, N, stride))
    if anchors[-1] != N - 1:
        anchors.append(N - 1)
    return anchors


@torch.no_grad()
def chunked_predict(
    model,
    frames: np.ndarray,
    text: torch.Tensor,
    stride: int | None = None,
    steps: int | None = None,
    batch_windows: int = 64,
    seed: int = 0,
) -> np.ndarray:
    """frames (N, H, W, 3) uint8 at the model's rate and size; text (1, L, Dt) -> (N,) values in [0, 1]."""
    cfg = model.cfg
    h = cfg.chunk
    stride = stride or max(1, h // 2)
    N0 = len(frames)
    if N0 == 0:
        return np.zeros(0)
    pad = max(0, h - N0)
    if pad:
        frames = np.concatenate([np.repeat(frames[:1], pad, 0), frames])
    N = len(frames)
    dev = next(model.parameters()).device
    anchors = window_anchors(N, h, stride)
    clips = np.stack([frames[np.clip(np.arange(t - h, t + 1), 0, N - 1)] for t in anchors])  # (Wn, 1+h, H, W, 3)
    # 1. Video stream, batched over windows: per-layer current-video k/v.
    kvs = []
    for s in range(0, len(anchors), batch_windows):
        c = torch.from_numpy(clips[s : s + batch_windows]).to(dev)
        kvs.append(model.context_kv(c, text.to(dev).expand(len(c), -1, -1)))
    kv_all = [(torch.cat([kv[i][0] for kv in kvs]), torch.cat([kv[i][1] for kv in kvs])) for i in range(cfg.num_layers)]
    # 2. Value stream, window by window (prefix from the previous chunks).
    total, count = np.zeros(N), np.zeros(N)
    gen = torch.Generator().manual_seed(seed)
    txt = text.to(dev)
    for w, t in enumerate(anchors):
        p = t - h
        prefix = 0.0 if p < 0 or count[p] == 0 else float(np.clip(total[p] / count[p], 0.0, 1.0))
        kv = [(k[w : w + 1], v[w : w + 1]) for k, v in kv_all]
        y = model.predict_values(kv, torch.tensor([prefix], device=dev), txt, steps=steps, generator=gen)
        sl = slice(t - h + 1, t + 1)
        total[sl] += y[0].float().cpu().numpy()
        count[sl] += 1
    values = np.clip(total / np.maximum(count, 1), 0.0, 1.0)
    return values[pad:]


def checkpoint_fingerprint(directory: Path, model_meta: dict, stride: int | None = None, seed: int = 0) -> str:
    """A checkpoint's identity for result caches and records, without loading it: its model config, the
    inference settings, and the weights file's header + first/last MiB (cheap even for 5B)."""
    hsh = hashlib.sha256(json.dumps(model_meta, sort_keys=True).encode())
    hsh.update(f"stride={stride};seed={seed}".encode())
    with open(directory / "model.safetensors", "rb") as f:
        hsh.update(f.read(1 << 20))
        f.seek(max(0, (directory / "model.safetensors").stat().st_size - (1 << 20)))
        hsh.update(f.read())
    return hsh.hexdigest()[:16]


class WVMValueModel:
    """A trained WVM checkpoint behind the bench's ValueModel protocol."""

    def __init__(self, model, mcfg, text_cache, meta, stride: int | None = None, seed: int = 0):
        self.model, self.cfg, self.text_cache, self.meta = model, mcfg, text_cache, meta
        self.name = f"wvm:{Path(meta['dir']).parent.parent.name if Path(meta['dir']).parent.name == 'checkpoints' else Path(meta['dir']).name}"
        self.target_fps = float(mcfg.target_fps)
        #: The camera the model was trained on (`train --camera`; None = each dataset's first camera).
        #: Labelling and the bench read it when no --camera is given (see dataset.resolve_camera).
        self.camera = train_camera(meta)
        #: What it was trained on (value_labeling/domain.py), or None for a checkpoint older than the record.
        self.training_domain = model_domain(Path(meta["dir"]), meta.get("train"))
        self.stride, self.seed = stride, seed
        self._fp = None

    @classmethod
    def from_checkpoint(cls, path, device: str | None = None, **kw) -> WVMValueModel:
        from runtime.device import pick_device

        model, mcfg, cache, meta = load_model(Path(path), device or pick_device())
        return cls(model, mcfg, cache, meta, **kw)

    def fingerprint(self) -> str:
        if self._fp is None:
            self._fp = checkpoint_fingerprint(Path(self.meta["dir"]), self.meta["model"], self.stride, self.seed)
        return self._fp

    def predict(self, frames: np.ndarray, fps: float, instruction: str) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
        T = len(frames)
        if T == 0:
            return np.zeros(0)
        # Resample to the model's rate when needed (nearest frame), then interpolate back.
        if fps and abs(fps - self.target_fps) > 1e-6 and T > 1:
            idx = resample_indices(T, fps, self.target_fps)
        else:
            idx = np.arange(T)
        x = resize_frames(frames[idx], self.cfg.image_size)
        text = self.text_cache.get([instruction])
        v = chunked_predict(self.model, x, text, stride=self.stride, seed=self.seed)
        if len(idx) == T:
            return v
        return np.clip(to_native(T, idx, v), 0.0, 1.0)
