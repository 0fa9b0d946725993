"""Frame-level cuts of a LeRobot v3.0 dataset: the one edit lerobot's `dataset_tools` lack.

`cut_frames(src, keep, out)` writes a new dataset at `out` holding, for every episode, only the frames
whose `keep` mask is True. Everything that refers to a frame is rewritten together, as lerobot's own
`delete_episodes` does for whole episodes:

- data files: the kept rows, with `frame_index` renumbered 0..L'-1 per episode, `timestamp` =
  frame_index / fps and the global `index` renumbered over the dataset (same chunk/file layout);
- videos: a file that holds a cut episode is decoded once, front to back, its kept frames are written
  as PNGs and re-encoded with lerobot's own `encode_video_frames` (the source's codec and pixel format);
  files without a cut episode are hard-linked unchanged. Each episode's `from/to_timestamp` follows;
- episode metadata through lerobot's `LeRobotDatasetMetadata.save_episode`; per-episode stats are
  recomputed with lerobot's `compute_episode_stats` (every numeric feature of every episode, since
  `index` moved; video features of the cut episodes from their kept frames, the other episodes keep
  theirs) and aggregated into `meta/stats.json` with `aggregate_stats`.

The kept frames' source positions are returned so the caller can record them.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

_VCODEC = {"av1": "libsvtav1", "h264": "libx264", "hevc": "libx265"}


def _nested_to_array(v) -> np.ndarray:
    """Stats cells come back from Parquet as nested object arrays ((3,1,1) image stats); make them numeric."""
    if isinstance(v, np.ndarray) and v.dtype == object:
        return np.array([_nested_to_array(x) for x in v])
    if isinstance(v, (list, tuple)):
        return np.array([_nested_to_array(x) for x in v])
    return np.asarray(v)


def read_episode_stats(root: Path) -> dict[int, dict[str, dict[str, np.ndarray]]]:
    """episode -> feature -> stat -> array, from meta/episodes (LeRobotDatasetMetadata drops these columns)."""
    out: dict[int, dict] = {}
    for f in sorted((Path(root) / "meta" / "episodes").glob("*/*.parquet")):
        df = pd.read_parquet(f)
        stat_cols = [c for c in df.columns if c.startswith("stats/")]
        for _, row in df.iterrows():
            ep = out.setdefault(int(row["episode_index"]), {})
            for c in stat_cols:
                _, feat, stat = c.split("/", 2)
                ep.setdefault(feat, {})[stat] = _nested_to_array(row[c])
    return out


def column_array(col: pa.ChunkedArray) -> np.ndarray:
    """(N,) for scalar columns, (N, D) for vector features stored as Arrow lists."""
    if pa.types.is_list(col.type) or pa.types.is_fixed_size_list(col.type) or pa.types.is_large_list(col.type):
        return np.asarray(col.to_pylist())
    return col.to_numpy()


def _cut_video_file(
    src: Path, dst: Path, keep_frames: np.ndarray, ep_of_frame: np.ndarray, fps: int, info: dict, work: Path
) -> dict[int, list[str]]:
    """Re-encode `src` keeping frames where `keep_frames`; returns episode -> its kept frames' PNG paths."""
    import av
    from lerobot.datasets.video_utils import encode_video_frames
    from PIL import Image

    frames_dir = Path(tempfile.mkdtemp(prefix="frames-", dir=work))
    pngs: dict[int, list[str]] = {}
    k = n = 0
    with av.open(str(src)) as container:
        for frame in container.decode(video=0):  # in presentation order, one frame at a time (O(1) memory)
            if n < len(keep_frames) and keep_frames[n]:
                path = frames_dir / f"frame-{k:06d}.png"
                Image.fromarray(frame.to_ndarray(format="rgb24")).save(path, compress_level=1)
                pngs.setdefault(int(ep_of_frame[n]), []).append(str(path))
                k += 1
            n += 1
    if n != len(keep_frames):
        raise ValueError(
            f"{src} holds {n} frames but its episodes' timestamps span {len(keep_frames)}; "
            f"the dataset's video metadata is inconsistent (check it with lerobot-info)"
        )
    codec = info.get("video.codec", "av1")
    encode_video_frames(
        frames_dir,
        dst,
        fps,
        vcodec=_VCODEC.get(codec, codec),
        pix_fmt=info.get("video.pix_fmt", "yuv420p"),
        overwrite=True,
    )
    return pngs


def cut_frames(src_root: Path, keep: dict[int, np.ndarray], out_root: Path, repo_id: str = "local/filtered") -> dict:
    """Write `src_root` minus the frames where `keep[ep]` is False to the new directory `out_root`.

    `keep` maps every episode to a (T,) bool mask; episodes are kept in order with their indices (drop
    whole episodes first with lerobot's `delete_episodes`). Returns {"source_frame_index": {ep: (L',)}}.
    """
    from lerobot.datasets.compute_stats import aggregate_stats, compute_episode_stats
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata
    from lerobot.datasets.utils import write_info, write_stats, write_tasks

    from robodata.columns import _link_or_copy

    src_root, out_root = Path(src_root), Path(out_root)
    src = LeRobotDatasetMetadata(repo_id, root=src_root)
    fps = int(src.fps)
    n_eps = src.total_episodes
    if sorted(keep) != list(range(n_eps)):
        raise ValueError(f"cut_frames needs a keep mask for each of the {n_eps} episodes of {src_root}")
    for ep in range(n_eps):
        length = int(src.episodes[ep]["length"])
        if keep[ep].shape != (length,):
            raise ValueError(f"episode {ep}: keep mask has shape {keep[ep].shape}, the episode {length} frames")
        if keep[ep].sum() < 2:
            raise ValueError(f"episode {ep}: a cut must leave at least 2 frames (drop the episode instead)")
    cut_eps = {ep for ep in range(n_eps) if not keep[ep].all()}

    dst = LeRobotDatasetMetadata.create(
        repo_id=repo_id,
        fps=fps,
        features=src.features,
        robot_type=src.robot_type,
        root=out_root,
        use_videos=len(src.video_keys) > 0,
        chunks_size=src.chunks_size,
        data_files_size_in_mb=src.data_files_size_in_mb,
        video_files_size_in_mb=src.video_files_size_in_mb,
    )
    write_tasks(src.tasks, out_root)
    dst.tasks = src.tasks.copy()
    work = Path(tempfile.mkdtemp(prefix=".frame-cut-", dir=out_root.parent))
    try:
        # 1. Data files, in global order: kept rows, renumbered.
        data_loc: dict[int, tuple[int, int]] = {}
        stats_of: dict[int, dict] = {}  # episode -> stats of its numeric features (computed as each file goes by)
        source_frame: dict[int, np.ndarray] = {}
        lengths = np.array([len(keep[ep]) for ep in range(n_eps)], dtype=np.int64)
        offsets = np.r_[0, np.cumsum(lengths)[:-1]]  # (E,) where each episode starts in `flat_keep`
        flat_keep = np.concatenate([keep[ep] for ep in range(n_eps)])
        numeric_keys = [k for k, f in src.features.items() if f["dtype"] not in ("image", "video", "string")]
        next_index = 0
        for f in sorted((src_root / "data").glob("*/*.parquet")):
            table = pq.read_table(f)
            table = table.take(pc.sort_indices(table, [("index", "ascending")]))
            ep_col = table["episode_index"].to_numpy()
            fi_col = table["frame_index"].to_numpy()
            mask = flat_keep[offsets[ep_col] + fi_col]  # (N,) O(N), whatever the number of episodes
            table = table.filter(pa.array(mask))
            ep_kept, fi_kept = ep_col[mask], fi_col[mask]
            # episodes are contiguous in index order: one slice per episode
            starts = np.r_[0, np.flatnonzero(ep_kept[1:] != ep_kept[:-1]) + 1] if len(ep_kept) else np.zeros(0, int)
            ends = np.r_[starts[1:], len(ep_kept)]
            new_fi = np.zeros(len(ep_kept), dtype=np.int64)
            for a, b in zip(starts, ends):
                new_fi[a:b] = np.arange(b - a)
                source_frame[int(ep_kept[a])] = fi_kept[a:b]
            new_index = np.arange(next_index, next_index + len(ep_kept), dtype=np.int64)
            next_index += len(ep_kept)
            replace = {"frame_index": new_fi, "index": new_index, "timestamp": new_fi.astype(np.float32) / fps}
            for name, values in replace.items():
                col = table.schema.get_field_index(name)
                table = table.set_column(
                    col, table.schema.field(col), pa.array(values).cast(table.schema.field(col).type)
                )
            rel = f.relative_to(src_root)
            (out_root / rel).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, out_root / rel)
            chunk, file = int(rel.parts[1].split("-")[1]), int(rel.parts[2].split("-")[1].split(".")[0])
            columns = {k: column_array(table[k]) for k in numeric_keys if k in table.column_names}
            for a, b in zip(starts, ends):
                ep = int(ep_kept[a])
                data_loc[ep] = (chunk, file)
                stats_of[ep] = compute_episode_stats({k: v[a:b] for k, v in columns.items()}, src.features)

        # 2. Videos: re-encode files that hold a cut episode, link the rest.
        video_meta: dict[int, dict] = {ep: {} for ep in range(n_eps)}
        video_pngs: dict[int, dict[str, list[str]]] = {ep: {} for ep in cut_eps}
        for key in src.video_keys:
            files: dict[tuple[int, int], list[int]] = {}
            for ep in range(n_eps):
                e = src.episodes[ep]
                files.setdefault((int(e[f"videos/{key}/chunk_index"]), int(e[f"videos/{key}/file_index"])), []).append(
                    ep
                )
            for (chunk, file), eps in sorted(files.items()):
                rel = src.video_path.format(video_key=key, chunk_index=chunk, file_index=file)
                eps = sorted(eps, key=lambda ep: float(src.episodes[ep][f"videos/{key}/from_timestamp"]))
                for ep in eps:
                    video_meta[ep].update({f"videos/{key}/chunk_index": chunk, f"videos/{key}/file_index": file})
                if not cut_eps.intersection(eps):
                    (out_root / rel).parent.mkdir(parents=True, exist_ok=True)
                    _link_or_copy(src_root / rel, out_root / rel)
                    for ep in eps:
                        for edge in ("from_timestamp", "to_timestamp"):
                            video_meta[ep][f"videos/{key}/{edge}"] = float(src.episodes[ep][f"videos/{key}/{edge}"])
                    continue
                # Frame positions in the file come from the episodes' timestamps (as lerobot's own tools do).
                total = max(round(float(src.episodes[ep][f"videos/{key}/to_timestamp"]) * fps) for ep in eps)
                keep_frames = np.zeros(total, dtype=bool)
                ep_of_frame = np.full(total, -1, dtype=np.int64)
                t = 0.0
                for ep in eps:
                    a = round(float(src.episodes[ep][f"videos/{key}/from_timestamp"]) * fps)
                    keep_frames[a : a + len(keep[ep])] = keep[ep]
                    ep_of_frame[a : a + len(keep[ep])] = ep
                    n_kept = int(keep[ep].sum())
                    video_meta[ep][f"videos/{key}/from_timestamp"] = t
                    video_meta[ep][f"videos/{key}/to_timestamp"] = t + n_kept / fps
                    t += n_kept / fps
                pngs = _cut_video_file(
                    src_root / rel,
                    out_root / rel,
                    keep_frames,
                    ep_of_frame,
                    fps,
                    src.features[key].get("info", {}),
                    work,
                )
                for ep in cut_eps.intersection(eps):
                    video_pngs[ep][key] = pngs[ep]

        # 3. Episode metadata and stats, through lerobot's own writer.
        old_stats = read_episode_stats(src_root)
        all_stats = []
        for ep in range(n_eps):
            stats = stats_of[ep]
            for key in src.image_keys:  # images stored in the data files: their stats are kept as they were
                if key in old_stats.get(ep, {}):
                    stats[key] = old_stats[ep][key]
            for key in src.video_keys:
                if ep in cut_eps:
                    stats.update(compute_episode_stats({key: video_pngs[ep][key]}, src.features))
                elif key in old_stats.get(ep, {}):
                    stats[key] = old_stats[ep][key]
            all_stats.append(stats)
            chunk, file = data_loc[ep]
            dst.save_episode(
                ep,
                int(keep[ep].sum()),
                list(src.episodes[ep]["tasks"]),
                stats,
                {"data/chunk_index": chunk, "data/file_index": file, **video_meta[ep]},
            )
        dst._close_writer()  # flushes the buffered episode rows (as lerobot's dataset_tools do)
        write_info(dst.info, out_root)
        write_stats(aggregate_stats(all_stats), out_root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"source_frame_index": source_frame}
