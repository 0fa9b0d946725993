"""Stage 1: proposed non-progress segments for each episode (`--propose values|vlm|none`).

`values` runs `curate flag`'s stall/fall rule (`value_labeling.segments.find_segments`) over the per-frame value
curve: the dataset's value column when it has one, else the value model's prediction (resampled to the
model's rate and interpolated back, as `curate label-values` does). A stall suggests a hesitation, a
fall a retry. `vlm` asks a vision-language model (`vlm.py`); its valid answers are cached in
`meta/annotate_vlm_proposals.json` (keyed by endpoint, model, camera and sampling) so that reopening a
session never pays for the same call twice; failed answers are not cached and are retried on request.

Proposals are computed once per episode per session, on first request or by a background thread that
walks the episodes in order; a failure of any kind becomes an empty proposal with a warning.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

VLM_CACHE_FILE = "meta/annotate_vlm_proposals.json"


@dataclass
class Proposal:
    source: str
    segments: list[dict] = field(default_factory=list)  # {"start", "end", "kind", "description"}
    values: list[float] | None = None  # per native frame, for the timeline's curve
    warnings: list[str] = field(default_factory=list)
    summary: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def value_segments(values: np.ndarray, fps: float, rule: dict) -> list[dict]:
    """`curate flag`'s stalls and falls as proposal segments (native frames, inclusive)."""
    from value_labeling.segments import find_segments

    out = []
    for s, e, kind, size in find_segments(values, fps, **rule):
        desc = (
            f"value stalls for {size / fps:.1f} s (hesitation?)"
            if kind == "stall"
            else f"value falls by {size:.2f} (retry?)"
        )
        out.append({"start": int(s), "end": int(e), "kind": kind, "description": desc})
    return out


class Proposer:
    def __init__(
        self, cfg, ds, root: Path, lengths: dict[int, int], tasks: dict[int, str], camera: str, frames, eval_fps: float
    ):
        self.cfg, self.ds, self.root = cfg, ds, Path(root)
        self.lengths, self.tasks, self.camera, self.frames = lengths, tasks, camera, frames
        self.fps = float(ds.meta.fps)
        self.eval_fps = eval_fps
        self.rule = {
            "stall_seconds": cfg.stall_seconds,
            "stall_tolerance": cfg.stall_tolerance,
            "fall_min_drop": cfg.fall_min_drop,
            "smooth_seconds": cfg.smooth_seconds,
        }
        self._done: dict[int, Proposal] = {}
        self._lock = threading.Lock()
        self._ep_locks: dict[int, threading.Lock] = {}
        self._model = None
        self._model_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self.column = self._read_value_column()
        if cfg.propose == "vlm" and not (cfg.vlm_url and cfg.vlm_model):
            raise ValueError(
                "--propose vlm needs --vlm-url (an OpenAI-compatible endpoint, e.g. "
                "https://api.openai.com/v1) and --vlm-model (a model it serves); or use "
                "--propose values|none"
            )
        if cfg.propose == "values" and self.column is None:
            from value_labeling.models import available_models, default_model_name

            if cfg.model is not None and cfg.model not in available_models() and not Path(cfg.model).exists():
                raise ValueError(
                    f"unknown value model {cfg.model!r}: not a registered name "
                    f"({', '.join(available_models())}) and no such checkpoint path"
                )
            if cfg.model is None and default_model_name() is None:
                raise ValueError(
                    f"{root} has no {cfg.value_column!r} column and no default value model ships "
                    f"with this installation: give --model, label the dataset first "
                    f"(`curate label-values {root}`), or use --propose vlm|none"
                )

    @property
    def source(self) -> str:
        if self.cfg.propose == "values":
            return (
                f"values: column {self.cfg.value_column!r}"
                if self.column is not None
                else f"values: model {self.cfg.model or 'default'}"
            )
        if self.cfg.propose == "vlm":
            return f"vlm: {self.cfg.vlm_model} at {self.cfg.vlm_url}"
        return "none"

    def _read_value_column(self) -> dict[int, np.ndarray] | None:
        info = json.loads((self.root / "meta" / "info.json").read_text())
        if self.cfg.value_column not in info["features"]:
            return None
        from robodata.dataset import episode_rows, frame_table, read_column

        values, frames = read_column(self.root, self.cfg.value_column), frame_table(self.root)
        return {ep: values[frames["index"][sel]] for ep, sel in episode_rows(frames).items()}

    def peek(self, ep: int) -> Proposal | None:
        return self._done.get(ep)

    def get(self, ep: int, refresh: bool = False) -> Proposal:
        with self._lock:
            if ep in self._done and not refresh:
                return self._done[ep]
            ep_lock = self._ep_locks.setdefault(ep, threading.Lock())
        with ep_lock:
            if ep in self._done and not refresh:
                return self._done[ep]
            try:
                prop = self._compute(ep, refresh)
            except Exception as err:  # noqa: BLE001  (a proposal is a convenience: never let it take the page down)
                prop = Proposal(self.source, warnings=[f"proposal failed: {type(err).__name__}: {err}"])
            for w in prop.warnings:
                print(f"annotate: episode {ep}: warning: {w}", file=sys.stderr)
            self._done[ep] = prop
            return prop

    def _compute(self, ep: int, refresh: bool) -> Proposal:
        column = None if self.column is None else self.column.get(ep)
        if column is not None and len(column) != self.lengths[ep]:
            column = None
        values = None if column is None else np.asarray(column, dtype=np.float64)
        if self.cfg.propose == "none":
            return Proposal(self.source, values=_as_list(values))
        if self.cfg.propose == "values":
            if values is None:
                values = self._model_values(ep)
            return Proposal(self.source, value_segments(values, self.fps, self.rule), _as_list(values))
        answer = self._vlm(ep, refresh)
        return Proposal(self.source, answer["segments"], _as_list(values), answer["warnings"], answer["summary"])

    # ------------------------------------------------------------------ values from a model
    def _model_values(self, ep: int) -> np.ndarray:
        from robodata.dataset import resolve_camera
        from value_labeling.models import (
            default_model_name,
            label_episode,  # the same labelling as `curate label-values`
            load_value_model,
            model_camera,
        )

        with self._model_lock:
            if self._model is None:
                name = self.cfg.model or default_model_name()
                print(f"annotate: loading value model {name!r} for proposals ...", file=sys.stderr, flush=True)
                self._model = load_value_model(name)
                # The model reads the camera it was trained on when the dataset has it, whatever the page shows.
                self._model_cam = resolve_camera(self.ds, None, model_camera(self._model))
            with self.frames.decode_lock:
                return label_episode(self.ds, self._model, ep, self._model_cam).astype(np.float64)

    # ------------------------------------------------------------------ VLM
    def _vlm_key(self, ep: int) -> str:
        c = self.cfg
        return json.dumps(
            {
                "url": c.vlm_url,
                "model": c.vlm_model,
                "camera": self.camera,
                "eval_fps": self.eval_fps,
                "max_side": c.vlm_max_side,
                "episode": ep,
                "T": self.lengths[ep],
            },
            sort_keys=True,
        )

    def _vlm(self, ep: int, refresh: bool) -> dict:
        from robodata.resample import resample_indices
        from value_labeling.annotate.frames import encode_jpeg
        from value_labeling.annotate.vlm import ask_vlm

        key = self._vlm_key(ep)
        cache = self._read_cache()
        if key in cache and not refresh:
            return cache[key]
        T = self.lengths[ep]
        idx = resample_indices(T, self.fps, self.eval_fps)
        frames = self.frames.decode(ep, self.camera, idx)
        jpegs = [encode_jpeg(f, max_side=self.cfg.vlm_max_side) for f in frames]
        api_key = os.environ.get(self.cfg.vlm_key_env) or None
        answer = ask_vlm(
            self.cfg.vlm_url,
            self.cfg.vlm_model,
            api_key,
            idx,
            jpegs,
            self.fps,
            self.tasks[ep],
            T,
            timeout=self.cfg.vlm_timeout,
        )
        out = {
            "segments": answer.segments,
            "warnings": answer.warnings,
            "summary": answer.summary,
            "task_completed": answer.task_completed,
        }
        if answer.ok:
            self._write_cache(key, out)
        return out

    def _read_cache(self) -> dict:
        path = self.root / VLM_CACHE_FILE
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except (ValueError, OSError):
            return {}  # a cache, not data: an unreadable one is rebuilt

    def _write_cache(self, key: str, entry: dict) -> None:
        from robodata.atomic import write_json

        with self._cache_lock:
            cache = self._read_cache()
            cache[key] = entry
            write_json(self.root / VLM_CACHE_FILE, cache, indent=1)

    # ------------------------------------------------------------------ background
    def start_background(self, order: list[int]) -> threading.Thread | None:
        if self.cfg.propose == "none":
            return None

        def walk():
            n_seg = n_warn = 0
            for k, ep in enumerate(order, 1):
                p = self.get(ep)
                n_seg += len(p.segments)
                n_warn += len(p.warnings)
                print(
                    f"annotate: proposals ({self.source}): {k}/{len(order)} episodes, {n_seg} segments, "
                    f"{n_warn} warnings",
                    file=sys.stderr,
                    flush=True,
                )

        t = threading.Thread(target=walk, name="annotate-proposals", daemon=True)
        t.start()
        return t


def _as_list(values: np.ndarray | None) -> list[float] | None:
    return None if values is None else [round(float(v), 5) for v in values]
