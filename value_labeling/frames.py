"""Frame resizing shared by the models (WVM windows, baselines) and the training-data record (domain.py)."""

from __future__ import annotations

import numpy as np


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, size[0], size[1], 3) uint8 (antialiased bilinear)."""
    import torch
    import torch.nn.functional as F

    if frames.shape[1:3] == tuple(size):
        return np.ascontiguousarray(frames)
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    out = []
    for s in range(0, len(x), 256):
        out.append(
            F.interpolate(x[s : s + 256], size=tuple(size), mode="bilinear", antialias=True, align_corners=False)
        )
    y = torch.cat(out) if out else x.new_zeros(0, 3, *size)
    return y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
