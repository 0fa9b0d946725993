"""Frames served by index as JPEG images, so that stepping in the page is exact by construction.

Browsers seek an MP4 to the nearest keyframe-decodable time, not to a frame, and they disagree on
rounding; the page therefore never seeks a video. The server decodes an episode once (through the
toolkit's shared reader), encodes every frame as a JPEG and keeps the last few episodes in memory;
the page preloads them and draws frame i as image i.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict

import numpy as np
from PIL import Image

from robodata.dataset import read_episode_frames

DECODE_SLICE = 64  # frames decoded at once: bounds memory on long, large episodes


def encode_jpeg(frame: np.ndarray, quality: int = 90, max_side: int | None = None) -> bytes:
    """(H, W, 3) uint8 -> JPEG bytes, downscaled so the longer side is at most `max_side`."""
    img = Image.fromarray(np.ascontiguousarray(frame))
    if max_side is not None and max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class FrameCache:
    """(episode, camera) -> list of JPEG bytes, least recently used episodes dropped first."""

    def __init__(self, ds, max_episodes: int = 4):
        self.ds = ds
        self.max_episodes = max_episodes
        self._lock = threading.Lock()
        # One decode at a time: lerobot shares one decoder per video file between callers.
        self.decode_lock = threading.Lock()
        self._cache: OrderedDict[tuple[int, str], list[bytes]] = OrderedDict()

    def episode(self, ep: int, camera: str) -> list[bytes]:
        key = (ep, camera)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        with self.decode_lock:  # the first request decodes; concurrent requests for it wait, then hit the cache
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            T = int(self.ds.meta.episodes[ep]["length"])
            jpegs = []
            for s in range(0, T, DECODE_SLICE):
                frames = read_episode_frames(self.ds, ep, camera, np.arange(s, min(T, s + DECODE_SLICE)))
                jpegs.extend(encode_jpeg(f) for f in frames)
            with self._lock:
                self._cache[key] = jpegs
                while len(self._cache) > self.max_episodes:
                    self._cache.popitem(last=False)
            return jpegs

    def decode(self, ep: int, camera: str, idx: np.ndarray) -> np.ndarray:
        """Raw (N, H, W, 3) frames, decoded under the same lock as the cache's decodes."""
        with self.decode_lock:
            return read_episode_frames(self.ds, ep, camera, idx)

    def frame(self, ep: int, camera: str, i: int) -> bytes:
        return self.episode(ep, camera)[i]
