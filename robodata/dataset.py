"""Reading a local LeRobot v3.0 dataset: the one data API every package of the toolkit shares.

Everything that consumes a dataset (the bench, WVM training, `curate`, `policy_ft`, the RoboSuite
recorder) goes through this module, so the version check (`check_dataset_dir`, the only reader of
`meta/info.json`), video decoding, camera validation and the Parquet data files live in one place.
Frames come back as (T, H, W, 3) uint8, the layout value models take; per-frame columns as arrays
indexed by the global frame `index`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class DatasetError(ValueError):
    """A dataset that cannot be used as asked: the message says what is wrong and what to do."""


class MissingColumnError(DatasetError):
    """A per-frame column the caller needs is not in the data files (`related`: likely candidates)."""

    def __init__(self, root: Path, column: str, related: list[str]):
        self.root, self.column, self.related = root, column, related
        hint = f" (columns that look related: {', '.join(related)})" if related else ""
        super().__init__(f"dataset {root} has no '{column}' column{hint}")


@dataclass(frozen=True)
class Episode:
    index: int
    frames: np.ndarray  # (T, H, W, 3) uint8
    fps: float
    task: str


INFO_FILE = "meta/info.json"


def dataset_info(root: str | Path) -> dict | None:
    """`meta/info.json` of the dataset at `root` as read (any version), None when there is none."""
    path = Path(root) / INFO_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path} is not valid JSON ({err}); the dataset is damaged") from None


def check_dataset_dir(root: str | Path) -> dict:
    """Validate that `root` holds a LeRobot v3.0 dataset and return its meta/info.json."""
    root = Path(root)
    info = dataset_info(root)
    if info is None:
        raise DatasetError(f"{root} is not a LeRobot dataset: {root / INFO_FILE} does not exist")
    version = str(info.get("codebase_version", "?"))
    if not version.startswith("v3"):
        raise DatasetError(
            f"{root} is a LeRobot {version} dataset; this toolkit reads v3.0. Convert it with lerobot's "
            f"converter: python -m lerobot.datasets.v30.convert_dataset_v21_to_v30 --repo-id=<id> "
            f"(run on a local copy)"
        )
    return info


def dataset_fps(root: str | Path) -> float:
    return float(check_dataset_dir(root)["fps"])


def open_dataset(root: str | Path):
    """Open a local LeRobot v3.0 dataset without touching the network."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root = Path(root)
    check_dataset_dir(root)
    check_data_files(root)  # a damaged Parquet file: named here, not in a `datasets` traceback
    return LeRobotDataset(repo_id=f"local/{root.name}", root=root, video_backend=default_video_backend())


def data_files(root: str | Path) -> list[Path]:
    """The Parquet data files (`data/chunk-*/file-*.parquet`) in order."""
    root = Path(root)
    files = sorted((root / "data").glob("*/*.parquet"))
    if not files:
        raise DatasetError(f"{root}/data holds no Parquet files: is {root} a LeRobot v3.0 dataset?")
    return files


def _damaged(path: Path, err: Exception) -> DatasetError:
    return DatasetError(
        f"{path} is not a readable Parquet file ({type(err).__name__}: {str(err).splitlines()[0]}); "
        "the dataset is damaged: restore that file from a backup or re-create the dataset"
    )


def check_data_files(root: str | Path) -> None:
    """Raise a `DatasetError` naming the first data file whose Parquet footer cannot be read."""
    for f in data_files(root):
        try:
            pq.read_metadata(f)
        except Exception as err:  # noqa: BLE001  (pyarrow raises ArrowInvalid, OSError, ...)
            raise _damaged(f, err) from None


def read_table(path: Path, columns: Sequence[str] | None = None) -> pa.Table:
    """`pq.read_table` with a one-line error naming a damaged file."""
    try:
        return pq.read_table(path, columns=None if columns is None else list(columns))
    except (pa.ArrowInvalid, OSError) as err:
        raise _damaged(Path(path), err) from None


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
        print(
            f"warning: the value model was trained on camera {model_camera!r}, which dataset {ds.root} lacks; "
            f"using {keys[0]!r} (choose one with --camera; valid: {', '.join(keys)})",
            file=sys.stderr,
        )
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
            out.append(
                (frames.clamp(0, 1) * 255).round().to(dtype=__import__("torch").uint8).permute(0, 2, 3, 1).numpy()
            )
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


def read_column(root: str | Path, name: str) -> np.ndarray:
    """A column as (N,) float32 indexed by the global frame index."""
    idx, vals = [], []
    for f in data_files(root):
        t = read_table(f, ["index", name])
        idx.append(t["index"].to_numpy())
        vals.append(t[name].to_numpy().astype(np.float32))
    index = np.concatenate(idx)
    out = np.empty(len(index), dtype=np.float32)
    out[index] = np.concatenate(vals)
    return out


def frame_table(root: str | Path) -> dict[str, np.ndarray]:
    """index, episode_index, frame_index of every frame, sorted by index."""
    t = pa.concat_tables([read_table(f, ["index", "episode_index", "frame_index"]) for f in data_files(root)])
    order = np.argsort(t["index"].to_numpy(), kind="stable")
    return {k: t[k].to_numpy()[order] for k in ("index", "episode_index", "frame_index")}


def episode_rows(frames: dict[str, np.ndarray]) -> dict[int, np.ndarray]:
    """Episode -> its rows of `frames` (a `frame_table`) in time order, for every episode in one sort.

    A boolean mask per episode would cost O(frames x episodes): minutes at 10M frames / 20k episodes.
    """
    order = np.lexsort((frames["frame_index"], frames["episode_index"]))
    ep = frames["episode_index"][order]
    if len(ep) == 0:
        return {}
    starts = np.r_[0, np.flatnonzero(ep[1:] != ep[:-1]) + 1]
    ends = np.r_[starts[1:], len(ep)]
    return {int(ep[s]): order[s:e] for s, e in zip(starts, ends)}


def read_frame_columns(root: str | Path, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index, episode_index, column) sorted by global frame index; the column as float32 (N,).

    A column that is missing raises `MissingColumnError` listing the columns that look related.
    """
    root = Path(root)
    idx, ep, val = [], [], []
    for f in data_files(root):
        names = pq.read_schema(f).names
        if column not in names:
            related = [n for n in names if n in ("value", "advantage", "delta") or "value" in n or "adv" in n]
            raise MissingColumnError(root, column, related)
        t = read_table(f, ["index", "episode_index", column])
        idx.append(t["index"].to_numpy())
        ep.append(t["episode_index"].to_numpy())
        col = t[column].to_numpy(zero_copy_only=False)
        if col.dtype == object:  # fixed-size list column of shape (1,)
            col = np.asarray([np.asarray(v).reshape(-1)[0] for v in col])
        val.append(np.asarray(col, dtype=np.float32).reshape(len(t), -1)[:, 0])
    index = np.concatenate(idx).astype(np.int64)
    order = np.argsort(index, kind="stable")
    index = index[order]
    if not np.array_equal(index, np.arange(index.size)):
        raise DatasetError(f"{root}: the global `index` column is not 0..N-1; the dataset looks damaged")
    return index, np.concatenate(ep)[order].astype(np.int64), np.concatenate(val)[order]
