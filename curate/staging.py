"""Per-episode results staged on disk, so that a killed run resumes without recomputing them.

Layout: `<dir>/manifest.json` (which model and camera produced the results) and one
`episode_XXXXXX.npy` per finished episode, each written to a temporary name and renamed, so a file
that exists is complete. Results of another model or camera are discarded, never mixed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np


class Staging:
    def __init__(self, directory: Path, manifest: dict):
        self.dir = Path(directory)
        path = self.dir / "manifest.json"
        if path.is_file() and json.loads(path.read_text()) != manifest:
            shutil.rmtree(self.dir)  # staged by another model/camera: stale
        self.dir.mkdir(parents=True, exist_ok=True)
        if not path.is_file():
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(manifest, indent=2))
            os.replace(tmp, path)

    def path(self, ep: int) -> Path:
        return self.dir / f"episode_{ep:06d}.npy"

    def done(self) -> set[int]:
        return {int(p.stem.split("_")[1]) for p in self.dir.glob("episode_*.npy")}

    def save(self, ep: int, values: np.ndarray) -> None:
        tmp = self.dir / f".episode_{ep:06d}.npy.tmp"
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(values, dtype=np.float32))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path(ep))

    def load(self, ep: int) -> np.ndarray:
        return np.load(self.path(ep))

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
