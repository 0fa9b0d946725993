"""`curate label-values`: per-frame values from a value model, written into a LeRobot dataset.

Flow: validate everything up front (dataset version, camera, model, write access, column clash) ->
label episodes on Ray actors or in-process (curate/workers.py) -> stage each finished episode on disk
(`Staging`, below) -> when all are staged, write the column into the dataset in one atomic swap
(robodata/columns.py) or into a sidecar table. A killed run resumes from the staged episodes; a
failed episode is retried, then reported, and nothing is written until every episode has a value.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from curate.config import LabelConfig
from robodata import atomic
from robodata.columns import (
    RESERVED,
    STAGING_DIR,
    check_writable,
    commit_columns,
    read_provenance,
    recover,
    writer_lock,
)
from robodata.dataset import check_dataset_dir, episode_rows, frame_table, open_dataset, resolve_camera
from value_labeling.domain import domain_warning
from value_labeling.models import default_model_name, load_value_model, model_camera


def resolve_model_spec(spec: str | None) -> str:
    if spec is not None:
        return spec
    default = default_model_name()
    if default is None:
        raise ValueError(
            "no --model given and no embedded default model ships with this installation; "
            "pass --model NAME_OR_CHECKPOINT (`value_labeling models` lists the names)"
        )
    return default


def check_column(root: Path, info: dict, column: str, provenance: dict, overwrite: bool) -> bool:
    """True when the column already holds exactly this labelling (nothing to do)."""
    if column in RESERVED:
        raise ValueError(f"--column {column!r} is one of LeRobot's bookkeeping columns; choose another name")
    if column not in info["features"]:
        return False
    previous = read_provenance(root).get(column)
    if previous is None:
        raise ValueError(f"{root} already has a feature {column!r} that curate did not write; choose another --column")
    same = all(previous.get(k) == provenance[k] for k in ("fingerprint", "camera"))
    if same and not overwrite:
        return True
    if not overwrite:
        raise ValueError(
            f"column {column!r} was written by model {previous.get('model')!r} "
            f"(fingerprint {previous.get('fingerprint')}, camera {previous.get('camera')}); "
            "pass --overwrite to replace it, or --column NAME to keep both"
        )
    return False


def run_label(cfg: LabelConfig) -> dict:
    if cfg.out is not None:
        return _run_label(cfg)  # sidecar: the dataset is only read
    with writer_lock(Path(cfg.dataset).resolve()):
        return _run_label(cfg)


def _run_label(cfg: LabelConfig) -> dict:
    root = Path(cfg.dataset).resolve()
    sidecar = cfg.out is not None
    if not sidecar:
        # Leftovers of a run killed while committing; first, because a kill between the two renames
        # of the fallback swap leaves no directory at the dataset path until this completes the swap.
        recover(root)
    info = check_dataset_dir(root)
    if not sidecar:
        check_writable(root)
    spec = resolve_model_spec(cfg.model)
    model = load_value_model(spec)
    ds = open_dataset(root)
    camera = resolve_camera(ds, cfg.camera, model_camera(model))
    provenance = {
        "model": model.name,
        "spec": spec,
        "fingerprint": model.fingerprint(),
        "camera": camera,
        "model_fps": model.target_fps,
        "native_fps": float(ds.meta.fps),
    }
    if not sidecar and check_column(root, info, cfg.column, provenance, cfg.overwrite):
        print(f"{root}: column {cfg.column!r} already holds {model.name} values for {camera}; nothing to do")
        return {"skipped": True}
    # One line when the dataset is unlike the model's training data; kept in the provenance, so that
    # `curate flag` (which reads these values, not the model) says it again.
    warning = domain_warning(model, ds, camera, str(root))
    if warning is not None:
        print(warning, file=sys.stderr)
    provenance["domain_warning"] = warning

    staging_dir = Path(cfg.out).with_suffix(".staging") if sidecar else root / STAGING_DIR / cfg.column
    staging = Staging(staging_dir, {k: provenance[k] for k in ("fingerprint", "camera")} | {"column": cfg.column})
    episodes = list(range(ds.meta.total_episodes))
    done = staging.done()  # one directory listing, not one per episode (20k episodes -> 4e8 stats)
    todo = [ep for ep in episodes if ep not in done]
    if len(todo) < len(episodes):
        print(f"resuming: {len(episodes) - len(todo)} of {len(episodes)} episodes already labelled", file=sys.stderr)

    t0 = time.perf_counter()
    failures: dict[int, str] = {}
    if todo:
        failures = _label(cfg, root, spec, camera, todo, staging)
    if failures:
        lines = "\n".join(f"  episode {ep}: {err.splitlines()[0]}" for ep, err in sorted(failures.items()))
        raise ValueError(
            f"{len(failures)} of {len(episodes)} episodes failed after {cfg.retries} retries:\n{lines}\n"
            f"The other episodes are staged in {staging_dir}; nothing was written to the dataset. "
            "Fix the cause and rerun: finished episodes are not recomputed."
        )

    frames = frame_table(root)
    values = np.empty(len(frames["index"]), dtype=np.float32)
    rows_of = episode_rows(frames)
    for ep in episodes:
        rows = rows_of.get(ep, np.zeros(0, dtype=np.int64))
        staged = staging.load(ep)
        if staged.shape[0] != rows.size:
            raise ValueError(
                f"episode {ep}: {staged.shape[0]} staged values for {rows.size} frames; delete {staging_dir} and rerun"
            )
        values[frames["index"][rows]] = staged[frames["frame_index"][rows]]
    provenance["labelled_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    if sidecar:
        _write_sidecar(Path(cfg.out), frames, values, cfg.column)
        staging.clear()
        where = cfg.out
    else:
        commit_columns(root, {cfg.column: values}, {cfg.column: provenance})
        where = root
    elapsed = time.perf_counter() - t0
    print(
        f"labelled {len(values)} frames of {len(episodes)} episodes with {model.name} "
        f"({len(todo)} computed now, {elapsed:.1f} s) -> {where} [{cfg.column}]"
    )
    return {"frames": int(len(values)), "episodes": len(episodes), "computed": len(todo), "seconds": elapsed}


def _label(cfg: LabelConfig, root: Path, spec: str, camera: str, todo: list[int], staging: Staging) -> dict[int, str]:
    """Label `todo` on Ray (or in-process with --address local / --workers 0) and stage the results.

    When the embedded Ray cannot start even after its retry, the episodes are labelled in this process
    instead (same values, one after another), with a one-line warning: a busy machine costs speed, not
    the run. A cluster named by --address never falls back (its failure is an error).
    """
    from curate.workers import RaySession, RayStartError, label_in_process, label_on_ray

    if cfg.address != "local" and cfg.workers != 0:
        try:
            with RaySession(cfg.address):
                results = label_on_ray(
                    root, spec, camera, todo, cfg.retries, cfg.workers, cfg.cpus_per_worker, cfg.gpus_per_worker
                )
                return _stage_all(results, staging, len(todo))
        except RayStartError as err:
            print(
                f"warning: {err}; labelling in this process instead (slower; `--address local` skips Ray)",
                file=sys.stderr,
            )
    return _stage_all(label_in_process(root, spec, camera, todo, cfg.retries), staging, len(todo))


def _stage_all(results, staging: Staging, total: int) -> dict[int, str]:
    failures = {}
    with tqdm(total=total, desc="label-values", unit="ep") as bar:
        for ep, values, error in results:
            if error is not None:
                failures[ep] = error
                tqdm.write(f"episode {ep} failed: {error.splitlines()[0]}")
            else:
                staging.save(ep, values)
            bar.update(1)
    return failures


def _write_sidecar(out: Path, frames: dict, values: np.ndarray, column: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "index": frames["index"],
            "episode_index": frames["episode_index"],
            "frame_index": frames["frame_index"],
            column: pa.array(values, type=pa.float32()),
        }
    )
    with atomic.replace_file(out) as tmp:
        pq.write_table(table, tmp)


class Staging:
    """Per-episode results staged on disk, so that a killed run resumes without recomputing them.

    Layout: `<dir>/manifest.json` (which model and camera produced the results) and one
    `episode_XXXXXX.npy` per finished episode, each written beside and renamed, so a file that
    exists is complete. Results of another model or camera are discarded, never mixed.
    """

    def __init__(self, directory: Path, manifest: dict):
        self.dir = Path(directory)
        path = self.dir / "manifest.json"
        if path.is_file() and json.loads(path.read_text()) != manifest:
            shutil.rmtree(self.dir)  # staged by another model/camera: stale
        self.dir.mkdir(parents=True, exist_ok=True)
        if not path.is_file():
            atomic.write_json(path, manifest)

    def path(self, ep: int) -> Path:
        return self.dir / f"episode_{ep:06d}.npy"

    def done(self) -> set[int]:
        return {int(p.stem.split("_")[1]) for p in self.dir.glob("episode_*.npy")}

    def save(self, ep: int, values: np.ndarray) -> None:
        with atomic.replace_file(self.path(ep)) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.asarray(values, dtype=np.float32))

    def load(self, ep: int) -> np.ndarray:
        return np.load(self.path(ep))

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
