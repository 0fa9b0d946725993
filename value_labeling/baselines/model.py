"""Learned baseline value models: a small CNN that regresses progress from one frame (or a short stack
of frames) plus a task embedding. They answer one question: does the world-model machinery of the WVM
earn its cost over a plain per-frame regressor trained on the same data and labels?

- `frame-regressor`: v_t = f(o_t, task). No temporal context at all.
- `temporal`: v_t = f(o_{t-(k-1)d}, ..., o_{t-d}, o_t, task) with d = 1/context_fps seconds (k = 3 at
  2 fps: the last second). The k frames are fused early (stacked as 3k input channels of the first
  conv), the cheapest temporal model: it costs what the frame model costs. Frames before the episode
  start repeat frame 0, as the WVM's windows do.

The task embedding is the packaged MiniLM encoder's token embeddings (the WVM's wvm-tiny text cache),
mean-pooled over the instruction's tokens and projected; unseen instructions are encoded on the fly.

Checkpoint layout (safetensors + JSON, written atomically, as the WVM's):

    RUN/baseline.json                         {"format": RUN_FORMAT, "step": N, "path": "checkpoints/step_000000N"}
    RUN/checkpoints/step_000000N/baseline.json  {"format": FORMAT, "step", "model": {...}, "train": {...}}
    RUN/checkpoints/step_000000N/model.safetensors, optimizer.safetensors + optimizer.json,
        text_cache.safetensors + text_cache.json, history.json

A run directory and a step directory both load as a value model; a shipped model is a step directory
without optimizer state.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT = "value-baseline-v1"
RUN_FORMAT = "value-baseline-run-v1"
KINDS = ("frame-regressor", "temporal")


class BaselineNet(nn.Module):
    """frames (B, K, H, W, 3) uint8 + text (B, D_t) -> (B,) values in [0, 1]."""

    def __init__(self, kind: str, context: int, width: int, text_dim: int):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown baseline kind {kind!r}; choose one of {', '.join(KINDS)}")
        self.k = context if kind == "temporal" else 1
        w = width

        def block(ci, co):  # stride-2 conv halves H and W
            return [nn.Conv2d(ci, co, 3, stride=2, padding=1), nn.GroupNorm(8, co), nn.GELU()]

        self.encoder = nn.Sequential(
            nn.Conv2d(3 * self.k, w, 5, stride=2, padding=2),
            nn.GroupNorm(8, w),
            nn.GELU(),  # 64 -> 32
            *block(w, 2 * w),
            *block(2 * w, 2 * w),
            *block(2 * w, 4 * w),  # 32 -> 4
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )  # (B, 4w)
        self.text = nn.Linear(text_dim, 4 * w)
        self.head = nn.Sequential(nn.Linear(8 * w, 4 * w), nn.GELU(), nn.Linear(4 * w, 1))

    def forward(self, frames: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        B, K, H, W, C = frames.shape
        x = frames.permute(0, 1, 4, 2, 3).reshape(B, K * C, H, W).float() / 127.5 - 1.0  # (B, 3K, H, W)
        z = torch.cat([self.encoder(x), self.text(text)], dim=-1)  # (B, 8w)
        return torch.sigmoid(self.head(z)[:, 0])


def pool_text(tokens: torch.Tensor) -> torch.Tensor:
    """(B, L, D) zero-padded token embeddings -> (B, D) mean over the non-padding tokens."""
    mask = (tokens.abs().sum(-1, keepdim=True) > 0).to(tokens.dtype)  # (B, L, 1)
    return (tokens * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def context_positions(i: np.ndarray, k: int, step: float) -> np.ndarray:
    """(N,) current positions -> (N, k) positions of the k context frames, oldest first, clamped at 0."""
    back = step * np.arange(k - 1, -1, -1)  # (k,) e.g. [2s, s, 0]
    return np.maximum(np.round(i[:, None] - back[None, :]).astype(np.int64), 0)


def random_shift(frames: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """(B, K, H, W, 3) uint8: replicate-pad by `pad` and crop back at a random offset per sample."""
    if pad <= 0:
        return frames
    B, K, H, W, C = frames.shape
    x = frames.permute(0, 1, 4, 2, 3).reshape(B, K * C, H, W).float()
    x = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    off = torch.randint(0, 2 * pad + 1, (B, 2), generator=gen)
    x = torch.stack([x[b, :, off[b, 0] : off[b, 0] + H, off[b, 1] : off[b, 1] + W] for b in range(B)])
    return x.reshape(B, K, C, H, W).permute(0, 1, 3, 4, 2).to(torch.uint8)


# ---------------------------------------------------------------------------------------------- checkpoints


def save_checkpoint(
    out: Path,
    step: int,
    net: nn.Module,
    optimizer,
    model_cfg: dict,
    train_cfg: dict,
    text_cache,
    history: list,
    keep: int = 2,
) -> Path:
    """RUN/checkpoints/step_N, then RUN/baseline.json pointing at it, atomically (the WVM's layout and writer):
    a killed run leaves the old or the new checkpoint, never half of one."""
    from value_labeling.wvm.checkpoint import write_step

    meta = {"format": FORMAT, "step": step, "model": model_cfg, "train": train_cfg}
    return write_step(
        out,
        step,
        net,
        optimizer,
        text_cache,
        history,
        ("baseline.json", meta),
        ("baseline.json", {"format": RUN_FORMAT}),
        keep,
    )


def resolve(path: Path) -> Path:
    """The step directory of a run directory (through RUN/baseline.json) or a step directory itself."""
    path = Path(path)
    meta_path = path / "baseline.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{path} is not a baseline value-model checkpoint (no baseline.json)")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") == RUN_FORMAT:
        return resolve(path / meta["path"])
    if meta.get("format") != FORMAT:
        raise ValueError(f"{meta_path} has format {meta.get('format')!r}, expected {FORMAT!r}")
    return path


def build_net(model_cfg: dict) -> BaselineNet:
    return BaselineNet(model_cfg["kind"], model_cfg["context"], model_cfg["width"], model_cfg["text_dim"])


# ---------------------------------------------------------------------------------------------- value model


class BaselineValueModel:
    """A trained baseline behind the value-model protocol (name, target_fps, fingerprint, predict, camera)."""

    target_fps = None  # any rate: context frames are picked at context_fps from the frames given

    def __init__(self, path: Path, name: str | None = None, device: str | None = None):
        from safetensors.torch import load_file

        from value_labeling.domain import model_domain
        from value_labeling.wvm.text import TextCache

        self.dir = resolve(Path(path))
        meta = json.loads((self.dir / "baseline.json").read_text())
        self.cfg, self.train_cfg = meta["model"], meta.get("train") or {}
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.net = build_net(self.cfg)
        self.net.load_state_dict(load_file(str(self.dir / "model.safetensors")))
        self.net.to(self.device).eval()
        self.text_cache = TextCache.load(self.dir)
        run = self.dir.parent.parent.name if self.dir.parent.name == "checkpoints" else self.dir.name
        self.name = name or f"{self.cfg['kind']}:{run}"
        #: The camera the model was trained on; the bench and labelling read it when no --camera is given.
        self.camera = self.train_cfg.get("camera")
        #: What it was trained on (value_labeling/domain.py), or None for a checkpoint older than the record.
        self.training_domain = model_domain(self.dir, self.train_cfg)
        self._fp = None

    def fingerprint(self) -> str:
        if self._fp is None:
            h = hashlib.sha256(json.dumps(self.cfg, sort_keys=True).encode())
            h.update((self.dir / "model.safetensors").read_bytes())
            self._fp = h.hexdigest()[:16]
        return self._fp

    @torch.no_grad()
    def predict(self, frames: np.ndarray, fps: float, instruction: str) -> np.ndarray:
        from value_labeling.wvm.windows import resize_frames

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
        T = len(frames)
        if T == 0:
            return np.zeros(0)
        x = resize_frames(frames, tuple(self.cfg["image_size"]))  # (T, H, W, 3)
        k = self.net.k
        step = (fps / self.cfg["context_fps"]) if fps else 1.0
        pos = context_positions(np.arange(T), k, step)  # (T, k)
        text = pool_text(self.text_cache.get([instruction])).to(self.device)  # (1, D_t)
        out = []
        for s in range(0, T, 256):
            clip = torch.from_numpy(x[pos[s : s + 256]]).to(self.device)  # (b, k, H, W, 3)
            out.append(self.net(clip, text.expand(len(clip), -1)).float().cpu().numpy())
        return np.clip(np.concatenate(out).astype(np.float64), 0.0, 1.0)
