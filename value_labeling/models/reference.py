"""Reference value models that need no training. They are sanity floors, not results."""

from __future__ import annotations

import numpy as np


class TimeModel:
    """v_t = t / (T - 1): the progress an expert would make at constant speed.

    It scores Expert-VOC 1 by construction and Retry-VOC -1 (it always rises), so any model worth
    using must beat it on the suboptimal metrics.
    """

    name = "time"
    target_fps = None

    def fingerprint(self) -> str:
        return "time-v1"

    def predict(self, frames: np.ndarray, fps: float, instruction: str) -> np.ndarray:
        T = len(frames)
        if T == 1:
            return np.zeros(1)
        return np.arange(T, dtype=np.float64) / (T - 1)
