"""`curate export`: a dataset's values as the files other training stacks read.

Three formats, all computed from the per-frame value column (`curate label-values`):

- `lerobot-progress`: LeRobot's RA-BC progress table (lerobot 0.4.4 `lerobot.utils.rabc.RABCWeights`,
  read by `lerobot-train --use_rabc=true --rabc_progress_path=FILE`): Parquet, one row per frame,
  sorted by `index`, columns `index`, `episode_index`, `frame_index` (int64) and `progress_sparse`
  (float32, our values); `progress_dense` too with `--dense-column` (`--rabc_head_mode=dense`).
  LeRobot then computes its own Δ and weights from it. Its Δ is not eq. E.4's:
      RA-BC (chunk size C):  Δ_t = p[min(t + C, T - 1)] - p[t]
      ours  (chunk length H): Δ_t = V(min(t + H - 1, T - 1)) - V(t)                      (E.4)
  so RA-BC with C = H - 1 reproduces our Δ exactly. `lerobot-train` takes C from the policy's
  `chunk_size` (π0.5: 50), which is our Δ for H = C + 1 = 51: one frame longer than the paper's
  H = 50. Its weights are SARM's (soft weights around κ = 0.01, eqs. 8-9 of the SARM paper), not
  E.6/E.7; for those, export `weights`.
- `weights`: `index, weight` Parquet (the static per-frame sample weighter of lerobot PR #4222;
  `policy_ft` computes the same raw weights): binary w = 1[Δ >= κ] (E.6), percentile (κ = the
  training set's (100 - p)th percentile of Δ, computed once), or AWR w = min(exp(τΔ), δ) (E.7).
  AWR's renormalisation to mean 1 is per batch and belongs to the trainer (a static weighter
  normalises each batch to sum B, the same thing).
- `keep-ranges`: the frames a filter (binary or percentile) keeps, as openpi's keep-list JSON
  (`{"<episode>": [[start, end), ...]}`, end exclusive, what `filter_dict_path` reads; an episode
  with nothing kept maps to []), and beside it `<name>.dropped_episodes.json`, the episodes the
  filter drops entirely as a JSON list (`lerobot-edit-dataset --operation.type delete_episodes
  --operation.episode_indices` takes it as is).

Files are written beside the target and renamed over it: a killed export never leaves half a file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import tyro

from robodata import atomic

FORMATS = ("lerobot-progress", "weights", "keep-ranges")


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """Export values as LeRobot's RA-BC progress file, a per-frame weight file or openpi keep-ranges."""

    dataset: tyro.conf.Positional[Path]
    """The labelled dataset directory (LeRobot v3.0 with a value column)."""
    format: Literal["lerobot-progress", "weights", "keep-ranges"]
    """lerobot-progress: index, episode_index, frame_index, progress_sparse (lerobot-train --use_rabc);
    weights: index, weight; keep-ranges: openpi keep-list JSON + the episodes dropped entirely."""
    out: Path
    """Output file: .parquet (lerobot-progress, weights) or .json (keep-ranges)."""
    value_column: str = "value"
    dense_column: str | None = None
    """lerobot-progress: also write this column as progress_dense (for --rabc_head_mode=dense)."""
    weighting: Literal["binary", "percentile", "awr"] | None = None
    """weights / keep-ranges: the scheme (default awr for weights, binary for keep-ranges; AWR drops no
    frame, so keep-ranges takes binary or percentile)."""
    chunk_length: Annotated[int | None, tyro.conf.arg(aliases=["-H"])] = None
    """weights / keep-ranges: the policy's action-chunk length H in Δ = V(min(t+H-1, T-1)) - V(t)."""
    tau: float = 10.0
    """AWR temperature τ (E.7; Table E.5: 10 RoboSuite, 2 AgileX)."""
    clip: float = 2.0
    """AWR clip ceiling δ (E.7)."""
    kappa: float = 0.0
    """Binary filter threshold κ (E.6)."""
    percentile: float = 70.0
    """Percentile filter: the percentage of frames it keeps (κ computed once over the whole dataset)."""
    min_range_frames: int = 1
    """keep-ranges: drop kept runs shorter than this many frames (1: exactly the filter)."""
    debug: bool = False


def progress_table(
    frames: dict[str, np.ndarray], sparse: np.ndarray, dense: np.ndarray | None = None, metadata: dict | None = None
):
    """LeRobot's RA-BC progress layout for values indexed by the global frame index."""
    import pyarrow as pa

    order = np.argsort(frames["index"], kind="stable")
    idx = frames["index"][order]  # (N,) global frame index, ascending
    cols = {
        k: pa.array(np.asarray(frames[k])[order], type=pa.int64()) for k in ("index", "episode_index", "frame_index")
    }
    cols["progress_sparse"] = pa.array(np.asarray(sparse, dtype=np.float32)[idx], type=pa.float32())
    if dense is not None:
        cols["progress_dense"] = pa.array(np.asarray(dense, dtype=np.float32)[idx], type=pa.float32())
    table = pa.table(cols)
    return table.replace_schema_metadata({b"wvm_export": json.dumps(metadata or {}).encode()})


def frame_weights(
    delta: np.ndarray,
    weighting: str,
    *,
    tau: float = 10.0,
    clip: float = 2.0,
    kappa: float = 0.0,
    percentile: float = 70.0,
) -> tuple[np.ndarray, float | None]:
    """(raw weight per frame (N,) float32, the κ a filter used or None) from the chunk advantage Δ."""
    from curate.advantage_math import awr_weights, binary_weights, percentile_threshold

    if weighting == "binary":
        return binary_weights(delta, kappa), float(kappa)
    if weighting == "percentile":
        if not 0 < percentile <= 100:
            raise ValueError(f"--percentile must be in (0, 100], got {percentile}")
        k = percentile_threshold(delta, keep=percentile / 100.0)
        return binary_weights(delta, k), k
    if weighting == "awr":
        if tau <= 0:
            raise ValueError(f"AWR needs --tau > 0, got {tau}")
        return awr_weights(delta, tau, clip), None
    raise ValueError(f"unknown weighting {weighting!r}; choose binary, percentile or awr")


def keep_ranges(
    keep: np.ndarray, frames: dict[str, np.ndarray], min_frames: int = 1
) -> tuple[dict[str, list], list[int]]:
    """openpi keep-list {str(episode): [[start, end), ...]} of kept frames, and the episodes with none.

    keep: (N,) bool by global frame index; runs shorter than `min_frames` are not kept.
    """
    from robodata.dataset import episode_rows

    ranges: dict[str, list] = {}
    dropped: list[int] = []
    for ep, rows in episode_rows(frames).items():  # rows in time order
        k = np.asarray(keep)[frames["index"][rows]].astype(np.int8)  # (T,)
        edges = np.diff(np.r_[0, k, 0])
        runs = [
            [int(s), int(e)]
            for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))
            if e - s >= min_frames
        ]
        ranges[str(ep)] = runs
        if not runs:
            dropped.append(int(ep))
    return ranges, dropped


def write_atomic(out: Path, write) -> None:
    """write(tmp_path) beside `out`, then rename it over `out` (never half a file at `out`)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replace_file(out) as tmp:
        write(tmp)


def _json_writer(obj):
    return lambda p: Path(p).write_text(json.dumps(obj) + "\n")


def run_export(cfg: ExportConfig) -> dict:
    import pyarrow.parquet as pq

    from curate.advantage_math import chunk_advantage
    from curate.values import load_values
    from robodata.columns import read_provenance
    from robodata.dataset import frame_table

    root = Path(cfg.dataset).resolve()
    out = Path(cfg.out)
    want = ".json" if cfg.format == "keep-ranges" else ".parquet"
    if out.suffix != want:
        raise ValueError(f"--out {out}: --format {cfg.format} writes a {want} file; name it *{want}")
    values, _ = load_values(root, cfg.value_column)
    frames = frame_table(root)
    provenance = {
        "dataset": str(root),
        "value_column": cfg.value_column,
        "value_source": read_provenance(root).get(cfg.value_column, {}),
    }

    if cfg.format == "lerobot-progress":
        dense = load_values(root, cfg.dense_column)[0] if cfg.dense_column else None
        for name, v in ((cfg.value_column, values), (cfg.dense_column, dense)):
            if v is not None and not np.all(np.isfinite(v)):
                raise ValueError(f"{root}: column {name!r} holds NaN/inf; relabel with `curate label-values`")
        table = progress_table(frames, values, dense, provenance | {"dense_column": cfg.dense_column})
        write_atomic(out, lambda p: pq.write_table(table, p))
        print(
            f"wrote {table.num_rows} frames of progress ({cfg.value_column} -> progress_sparse"
            + (f", {cfg.dense_column} -> progress_dense" if dense is not None else "")
            + f") -> {out}\n"
            f"train: lerobot-train --use_rabc=true --rabc_progress_path={out.resolve()} ... (RA-BC's Δ with the "
            "policy's chunk_size C equals ours with H = C + 1)"
        )
        return {"frames": table.num_rows}

    if cfg.chunk_length is None:
        raise ValueError(f"--format {cfg.format} needs the policy's chunk length: pass --chunk-length H (-H)")
    weighting = cfg.weighting or ("awr" if cfg.format == "weights" else "binary")
    delta = chunk_advantage(values, frames["episode_index"], cfg.chunk_length)  # (N,) by global index
    if cfg.format == "keep-ranges" and weighting == "awr":
        raise ValueError(
            "AWR gives every frame a positive weight and drops none; keep-ranges takes --weighting binary or percentile"
        )
    w, kappa = frame_weights(delta, weighting, tau=cfg.tau, clip=cfg.clip, kappa=cfg.kappa, percentile=cfg.percentile)
    if not np.any(w > 0):
        raise ValueError(f"--weighting {weighting} (kappa={kappa}) keeps no frame of {root}; lower the threshold")
    params = {"weighting": weighting, "chunk_length": cfg.chunk_length, "kappa": kappa}
    params |= {"tau": cfg.tau, "clip": cfg.clip} if weighting == "awr" else {}

    if cfg.format == "weights":
        import pyarrow as pa

        table = pa.table(
            {"index": pa.array(np.arange(len(w)), type=pa.int64()), "weight": pa.array(w, type=pa.float32())}
        )
        table = table.replace_schema_metadata({b"wvm_export": json.dumps(provenance | params).encode()})
        write_atomic(out, lambda p: pq.write_table(table, p))
        print(
            f"wrote {len(w)} weights ({weighting}, H={cfg.chunk_length}"
            + (f", kappa={kappa:.4f}" if kappa is not None else f", tau={cfg.tau:g}, clip={cfg.clip:g}")
            + f"): mean {w.mean():.4f}, nonzero {(w > 0).mean():.3f} -> {out}"
        )
        return {"frames": len(w), **params}

    if cfg.min_range_frames < 1:
        raise ValueError(f"--min-range-frames must be >= 1, got {cfg.min_range_frames}")
    ranges, dropped = keep_ranges(w > 0, frames, cfg.min_range_frames)
    dropped_path = out.with_name(f"{out.stem}.dropped_episodes.json")
    write_atomic(dropped_path, _json_writer(dropped))
    write_atomic(out, _json_writer(ranges))
    kept = sum(e - s for runs in ranges.values() for s, e in runs)
    print(
        f"kept {kept} of {len(w)} frames in {sum(map(len, ranges.values()))} ranges ({weighting}, "
        f"H={cfg.chunk_length}, kappa={kappa:.4f}); {len(dropped)} of {len(ranges)} episodes dropped entirely\n"
        f"-> {out} (openpi keep-list) and {dropped_path}"
    )
    return {"frames_kept": kept, "episodes_dropped": dropped, **params}
