"""One annotation session: the dataset, its frames, its proposals and its annotation table."""

from __future__ import annotations

from pathlib import Path

from robodata.dataset import camera_keys, episode_length, episode_task, open_dataset, resolve_camera
from robodata.embodiment import EMBODIMENT_FPS
from value_labeling.annotate.config import AnnotateConfig
from value_labeling.annotate.frames import FrameCache
from value_labeling.annotate.proposals import Proposer
from value_labeling.annotate.store import AnnotationStore


class Session:
    def __init__(self, cfg: AnnotateConfig):
        self.cfg = cfg
        self.root = Path(cfg.dataset).resolve()
        self.ds = open_dataset(self.root)
        self.fps = float(self.ds.meta.fps)
        self.cameras = camera_keys(self.ds)
        self.camera = resolve_camera(self.ds, cfg.camera)
        n = int(self.ds.meta.total_episodes)
        self.lengths = {ep: episode_length(self.ds, ep) for ep in range(n)}
        self.tasks = {ep: episode_task(self.ds, ep) for ep in range(n)}
        self.embodiment = cfg.embodiment or self.ds.meta.robot_type or self.root.name
        self.eval_fps = cfg.eval_fps or EMBODIMENT_FPS.get(self.embodiment, 2.0)
        self.store = AnnotationStore(self.root, self.lengths)
        self.frames = FrameCache(self.ds)
        self.proposer = Proposer(
            cfg, self.ds, self.root, self.lengths, self.tasks, self.camera, self.frames, self.eval_fps
        )

    def camera_key(self, camera: str | None) -> str:
        """A camera the dataset has (full key or last part); ValueError otherwise."""
        return self.camera if camera is None else resolve_camera(self.ds, camera)

    def episodes(self) -> list[dict]:
        rows, bad = self.store.rows(), self.store.mismatched()
        out = []
        for ep, T in self.lengths.items():
            row = rows.get(ep)
            prop = self.proposer.peek(ep)
            out.append(
                {
                    "episode_index": ep,
                    "T": T,
                    "task": self.tasks[ep],
                    "status": "done" if row is not None and ep not in bad else "todo",
                    "annotation": _public(row),
                    "problem": bad.get(ep),
                    "proposed": None if prop is None else len(prop.segments),
                }
            )
        return out

    def episode(self, ep: int) -> dict:
        row = self.store.rows().get(ep)
        return {
            "episode_index": ep,
            "T": self.lengths[ep],
            "fps": self.fps,
            "task": self.tasks[ep],
            "annotation": _public(row),
            "problem": self.store.mismatched().get(ep),
        }

    def save(self, ep: int, mode: str, m: int | None, n: int | None, T: int | None) -> dict:
        row = self.store.check(ep, mode, m, n, T)
        old = self.store.rows().get(ep) or {}
        # An existing row keeps its embodiment and task name (RoboSuite's generator writes short names).
        row["embodiment"] = old.get("embodiment") or self.embodiment
        row["task"] = old.get("task") or self.tasks[ep]
        return _public(self.store.save(row))


def _public(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {k: row.get(k) for k in ("episode_index", "mode", "m", "n", "T", "embodiment", "task")}
