"""Training windows: LeRobot episodes -> (clip, values, instruction) samples (paper section 3.3).

A sample for the chunk anchored at [t-h+1, t] is the (2h+1)-frame clip of eq. 4

    o_{t-h} (prefix) || o_{t-h+1:t} (current, h) || o_{t+1:t+h} (future, h)

sampled at the latent target fps (2.0; 3.0 for AgileX / ARX, table A.1), plus the values
[v_{t-h}, v_{t-h+1:t}] (prefix value, h labels).

Labels: expert episodes get v_t = t/(T-1); episodes listed in `meta/suboptimal_annotations.parquet`
get the bench's ground-truth curve (`progress_curve(mode, T, m, n)`, appendix B), so users can add
their own labelled suboptimal trajectories simply by annotating them.

Choices the paper leaves open (documented here):
- Episodes are kept at >= 4x the target fps in memory (an integer stride of the native rate) and a window's start phase is drawn
  uniformly, so the model sees every sub-sampling phase instead of one fixed 2-fps grid.
- Frame positions outside the episode are clamped: the first chunk's prefix repeats frame 0 (value
  v_0 = 0, exactly what chunked inference feeds), future frames past the end repeat the last frame.
- ReWiND rewinding (rewind ratio 0.5, plateau ratio 0.1 of table A.1) is read as: with probability
  `rewind_ratio` the whole clip is played backwards (descending values), with probability
  `plateau_ratio` one frame is repeated over the clip (constant value), otherwise the clip is kept
  (rising). Reversing the whole clip keeps prefix/current/future consistent (the future continues
  the retreat), which the video co-training loss needs.
- Prefix randomization: with probability p the prefix value is replaced by U[0, 1]; the loss covers
  only the h current tokens (the prefix token is conditioning, never a target: see model.forward).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from robodata.annotations import read_annotations
from robodata.embodiment import EMBODIMENT_FPS
from robodata.ground_truth import progress_curve
from value_labeling.frames import resize_frames

#: Which episodes train (`--episodes`): all (unannotated ones labelled as experts), the annotated ones
#: (`value_labeling annotate`'s table: experts t/(T-1), hesitation/retry their curves), the annotated experts.
EPISODE_SETS = ("all", "annotated", "expert")
#: Frames kept per target-fps frame in memory, at least (phase augmentation); an integer stride of native.
OVERSAMPLE = 4


@dataclass
class EpisodeData:
    frames: np.ndarray  # (N, H, W, 3) uint8, resized to the model's image size, at `fps`
    values: np.ndarray  # (N,) float32 labels of those frames
    fps: float  # rate of `frames`
    target_fps: float  # latent target fps of this episode's windows
    instruction: str
    source: str  # "dataset:episode"


def load_trajectories(
    roots,
    camera: str | None,
    target_fps: float,
    image_size: tuple[int, int],
    max_episodes: int | None = None,
    progress: bool = True,
    episodes: str = "all",
) -> list[EpisodeData]:
    """Read the datasets' episodes, with labels, into memory at `image_size`.

    `target_fps` is the latent target fps; episodes whose embodiment is AgileX or ARX use 3.0 (table A.1).
    `episodes` (EPISODE_SETS): every episode (unannotated ones as experts), the annotated ones, or the
    annotated experts; `max_episodes` then keeps the first N of them per dataset."""
    from robodata.dataset import episode_length, episode_task, open_dataset, read_episode_frames, resolve_camera

    if episodes not in EPISODE_SETS:
        raise ValueError(f"--episodes {episodes!r}: choose one of {', '.join(EPISODE_SETS)}")
    loaded: list[EpisodeData] = []
    plan = []
    for root in roots:
        root = Path(root)
        ds = open_dataset(root)
        cam = resolve_camera(ds, camera)
        table = read_annotations(root)
        rows = {r["episode_index"]: r for r in (table or [])}
        if episodes == "all":
            chosen = list(range(ds.meta.total_episodes))
        elif table is None:
            raise ValueError(
                f"{root} has no meta/suboptimal_annotations.parquet, so --episodes {episodes} selects nothing: "
                f"annotate some episodes first (`value_labeling annotate {root}`) or use --episodes all"
            )
        else:
            chosen = sorted(e for e, r in rows.items() if episodes == "annotated" or r["mode"] == "expert")
        plan += [(root, ds, cam, rows, ep) for ep in chosen[:max_episodes]]
    if not plan:
        what = "" if episodes == "all" else f" (--episodes {episodes})"
        raise ValueError(f"no episodes{what} in {', '.join(map(str, roots))}")
    for root, ds, cam, rows, ep in tqdm(plan, desc="load episodes", unit="ep", disable=not progress):
        T = episode_length(ds, ep)
        if T < 2:
            continue
        row = rows.get(ep)
        if row is not None:
            if row["T"] != T:
                raise ValueError(f"{root}: episode {ep} is annotated with T={row['T']} but has {T} frames")
            curve = progress_curve(row["mode"], T, row["m"], row["n"])
            embodiment = row["embodiment"]
        else:
            curve = np.arange(T, dtype=np.float64) / (T - 1)
            embodiment = ds.meta.robot_type or ""
        fps_t = EMBODIMENT_FPS.get(embodiment, float(target_fps))
        native = float(ds.meta.fps)
        stride = max(1, int(native // (OVERSAMPLE * fps_t)))  # integer stride keeps the time grid uniform
        idx = np.arange(0, T, stride)
        frames = resize_frames(read_episode_frames(ds, ep, cam, idx), image_size)
        fps_kept = native / stride
        instruction = episode_task(ds, ep) or (row or {}).get("task") or ""
        loaded.append(
            EpisodeData(frames, curve[idx].astype(np.float32), fps_kept, fps_t, instruction, f"{root.name}:{ep}")
        )
    return loaded


def clip_positions(base: float, step: float, h: int, n: int) -> np.ndarray:
    """Indices of the 2h+1 clip frames starting at position `base` with spacing `step`, clamped."""
    pos = base + step * np.arange(2 * h + 1)
    return np.clip(np.round(pos).astype(np.int64), 0, n - 1)


@dataclass(frozen=True)
class Augment:
    prefix_p: float = 0.5
    rewind_ratio: float = 0.5
    plateau_ratio: float = 0.1

    def __post_init__(self):
        for k in ("prefix_p", "rewind_ratio", "plateau_ratio"):
            if not 0.0 <= getattr(self, k) <= 1.0:
                raise ValueError(f"{k} must lie in [0, 1], got {getattr(self, k)}")
        if self.rewind_ratio + self.plateau_ratio > 1.0:
            raise ValueError(f"rewind_ratio + plateau_ratio = {self.rewind_ratio + self.plateau_ratio} > 1")


def sample_window(
    ep: EpisodeData, h: int, rng: np.random.Generator, aug: Augment
) -> tuple[np.ndarray, np.ndarray, str]:
    """One training sample: clip (2h+1, H, W, 3) uint8, values (1+h,) float32 [prefix, h labels]."""
    idx, vals, instruction = sample_window_index(ep, h, rng, aug)
    return ep.frames[idx], vals, instruction


def sample_window_index(ep: EpisodeData, h: int, rng: np.random.Generator, aug: Augment):
    """`sample_window` without reading the frames: (frame indices (2h+1,), values (1+h,), instruction)."""
    n = len(ep.frames)
    step = ep.fps / ep.target_fps
    # The current frames [base+step, base+h*step] cover the episode: from the first chunk (its prefix
    # clamps to frame 0) to the last (its future clamps to the last frame).
    lo, hi = -step, max(-step, (n - 1) - h * step)
    idx = clip_positions(rng.uniform(lo, hi), step, h, n)
    u = rng.random()
    if u < aug.rewind_ratio:  # descending: play the clip backwards
        idx = idx[::-1]
    elif u < aug.rewind_ratio + aug.plateau_ratio:  # plateau: one frame held over the clip
        idx = np.full_like(idx, idx[rng.integers(0, len(idx))])
    vals = ep.values[idx[: h + 1]].copy()  # prefix + current labels
    if rng.random() < aug.prefix_p:
        vals[0] = rng.random()
    return idx, vals.astype(np.float32), ep.instruction


def sample_batch(
    trajs: list[EpisodeData],
    rng: np.random.Generator,
    batch: int,
    h: int,
    aug: Augment = Augment(),
    rows: slice | None = None,
):
    """-> clips (B, 2h+1, H, W, 3) uint8 tensor, values (B, 1+h) float32 tensor, instructions.

    Episodes are drawn in proportion to their length (uniform over windows). `rows`: draw the whole
    batch but return (and read the frames of) only these samples - one data-parallel rank's share of
    the global batch."""
    import torch

    w = np.array([max(len(e.frames), 1) for e in trajs], dtype=np.float64)
    pick = rng.choice(len(trajs), size=batch, p=w / w.sum())
    items = [(i, *sample_window_index(trajs[i], h, rng, aug)) for i in pick][rows or slice(None)]
    items = [(trajs[i].frames[idx], v, s) for i, idx, v, s in items]
    clips = torch.from_numpy(np.stack([c for c, _, _ in items]))
    vals = torch.from_numpy(np.stack([v for _, v, _ in items]))
    return clips, vals, [s for _, _, s in items]
