"""Reading episodes out of a local LeRobot v3.0 dataset, the one data API the toolkit shares.

Everything that consumes a dataset (the bench, WVM training, `curate label-values`) goes through
`open_dataset` + `read_episode_frames`, so video decoding, camera validation and version checks live
in one place. Frames come back as (T, H, W, 3) uint8, the layout value models take.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class DatasetError(ValueError):
    """A dataset that cannot be used as asked: the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Episode:
    index: int
    frames: np.ndarray  # (T, H, W, 3) uint8
    fps: float
    task: str


def check_dataset_dir(root: str | Path) -> dict:
    """Validate that `root` holds a LeRobot v3.0 dataset and return its meta/info.json."""
    root = Path(root)
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        raise DatasetError(f"{root} is not a LeRobot dataset: {info_path} does not exist")
    info = json.loads(info_path.read_text())
    version = str(info.get("codebase_version", "?"))
    if not version.startswith("v3"):
        raise DatasetError(
            f"{root} is a LeRobot {version} dataset; this toolkit reads v3.0. Convert it with lerobot's "
            f"converter: python -m lerobot.datasets.v30.convert_dataset_v21_to_v30 --repo-id=<id> "
            f"(run on a local copy)"
        )
    return info


def open_dataset(root: str | Path):
    """Open a local LeRobot v3.0 dataset without touching the network."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root = Path(root)
    check_dataset_dir(root)
    return LeRobotDataset(repo_id=f"local/{root.name}", root=root, video_backend=default_video_backend())


def default_video_backend() -> str:
    """torchcodec when its FFmpeg libraries load, else pyav (always available through `av`)."""
    try:
        import torchcodec.decoders  # noqa: F401  (loads libavcodec; fails without Debian's FFmpeg)

        return "torchcodec"
    except Exception:
        return "pyav"


def camera_keys(ds) -> list[str]:
    return list(ds.meta.camera_keys)


def _match_camera(keys: list[str], camera: str) -> str | None:
    """`camera` as a full key ('observation.images.agentview') or its last part ('agentview')."""
    if camera in keys:
        return camera
    short = [k for k in keys if k.split(".")[-1] == camera]
    return short[0] if len(short) == 1 else None


def resolve_camera(ds, camera: str | None, model_camera: str | None = None) -> str:
    """The camera key to read: `camera` if given (an error listing the valid keys if the dataset lacks
    it); else the camera the model was trained on (`model_camera`) when the dataset has it; else the
    first camera. A model that was trained on one view scores another view much worse (the default
    model reads the wrist camera), so a missing training camera is said on stderr, not silently replaced."""
    keys = camera_keys(ds)
    if not keys:
        raise DatasetError(f"dataset {ds.root} has no camera features (no video or image keys)")
    if camera is not None:
        found = _match_camera(keys, camera)
        if found is None:
            raise DatasetError(f"camera {camera!r} is not in dataset {ds.root}; valid camera keys: {', '.join(keys)}")
        return found
    if model_camera is not None:
        found = _match_camera(keys, model_camera)
        if found is not None:
            return found
        print(f"warning: the value model was trained on camera {model_camera!r}, which dataset {ds.root} lacks; "
              f"using {keys[0]!r} (choose one with --camera; valid: {', '.join(keys)})", file=sys.stderr)
    return keys[0]


def episode_length(ds, ep_idx: int) -> int:
    ep = ds.meta.episodes[ep_idx]
    return int(ep["length"])


def episode_task(ds, ep_idx: int) -> str:
    tasks = ds.meta.episodes[ep_idx]["tasks"]
    return str(tasks[0]) if len(tasks) else ""


def read_episode_frames(ds, ep_idx: int, camera: str, frame_indices: np.ndarray | None = None) -> np.ndarray:
    """Decode frames of one episode as (N, H, W, 3) uint8; all frames when `frame_indices` is None."""
    from lerobot.datasets.video_utils import decode_video_frames

    T = episode_length(ds, ep_idx)
    idx = np.arange(T) if frame_indices is None else np.asarray(frame_indices, dtype=np.int64)
    if len(idx) and (idx.min() < 0 or idx.max() >= T):
        raise DatasetError(f"episode {ep_idx}: frame indices outside [0, {T - 1}]")
    fps = float(ds.meta.fps)
    if camera in ds.meta.video_keys:
        ep = ds.meta.episodes[ep_idx]
        start = float(ep[f"videos/{camera}/from_timestamp"])
        path = Path(ds.root) / ds.meta.get_video_file_path(ep_idx, camera)
        if not path.is_file():
            raise DatasetError(f"episode {ep_idx}: video file {path} is missing")
        ts = [start + float(i) / fps for i in idx]
        out = []
        # Decode in slices so that long episodes do not hold every float frame at once.
        for s in range(0, len(ts), 256):
            frames = decode_video_frames(path, ts[s : s + 256], ds.tolerance_s, ds.video_backend)
            out.append((frames.clamp(0, 1) * 255).round().to(dtype=__import__("torch").uint8).permute(0, 2, 3, 1).numpy())
        return np.concatenate(out) if out else np.zeros((0, 1, 1, 3), np.uint8)
    # Image features stored in the Parquet data files.
    ds._ensure_hf_dataset_loaded()
    start = int(ds.meta.episodes[ep_idx]["dataset_from_index"])
    rows = ds.hf_dataset.select((start + idx).tolist())
    imgs = [np.asarray(im.convert("RGB") if hasattr(im, "convert") else im) for im in rows[camera]]
    arr = np.stack(imgs)
    if arr.ndim == 4 and arr.shape[1] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(0, 2, 3, 1)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
    return arr


def read_episode(ds, ep_idx: int, camera: str | None = None) -> Episode:
    cam = resolve_camera(ds, camera)
    return Episode(ep_idx, read_episode_frames(ds, ep_idx, cam), float(ds.meta.fps), episode_task(ds, ep_idx))
