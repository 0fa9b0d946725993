"""Precomputed per-frame values as a value model: `--model progress:FILE.parquet`.

Progress made elsewhere (LeRobot's SARM, Robometer or TOPReward writers; our own
`curate label-values --out` sidecar; anything with the same columns) is scored by the bench under the
same protocol as a model it runs itself: the bench samples the frames it would show a model and reads
the file's values at exactly those frames.

Accepted layout: one row per native frame with `episode_index`, `frame_index` and a value column in
[0, 1]; `index` (LeRobot's global frame index) is checked against the dataset when present. The value
column is the one named after `#` (`progress:sarm.parquet#progress_dense`), else `progress_sparse`
(LeRobot's RA-BC layout), else `value` (our sidecar), else the file's only other numeric column.
One file holds one dataset's values; for several `--data` datasets pass a directory,
`progress:DIR`, holding `<dataset directory name>.parquet` for each.

A bad file is refused before it is scored, with one line naming the episode: an episode whose row
count differs from the dataset's length, missing or repeated frames, NaN, values outside [0, 1],
global indices that do not match the dataset (a file made for another dataset).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

PREFIX = "progress:"
KEYS = ("index", "episode_index", "frame_index")
DEFAULT_COLUMNS = ("progress_sparse", "value")


class ProgressFileModel:
    """Values read from a file by episode and frame; `predict` on bare frames is impossible.

    The bench prefers `values_at(ds, episode_index, frame_indices)` when a model has it.
    """

    target_fps = None
    camera = None

    def __init__(self, path: str | Path, column: str | None = None):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"progress file {self.path} does not exist (--model {PREFIX}FILE.parquet)")
        self.column = column
        self.name = f"{PREFIX}{self.path.stem}" + (f"#{column}" if column else "")
        self._curves: dict[Path, dict[int, np.ndarray]] = {}

    @classmethod
    def from_spec(cls, spec: str) -> ProgressFileModel:
        """`FILE[#COLUMN]` (the part after `progress:`)."""
        path, _, column = spec.partition("#")
        if not path:
            raise ValueError(f"--model {PREFIX}: name a Parquet file (or a directory of them) after the prefix")
        return cls(path, column or None)

    def fingerprint(self) -> str:
        h = hashlib.sha256((self.column or "").encode())
        files = sorted(self.path.glob("*.parquet")) if self.path.is_dir() else [self.path]
        for f in files:
            h.update(f.name.encode())
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        return h.hexdigest()[:16]

    def predict(self, frames: np.ndarray, fps: float, instruction: str) -> np.ndarray:
        raise ValueError(
            f"{self.name} holds precomputed values, read by episode and frame: only "
            "`value_labeling bench` can score it (it has no model to run on frames)"
        )

    def values_at(self, ds, episode_index: int, frame_indices: np.ndarray) -> np.ndarray:
        """The file's values of one episode of dataset `ds` at native frames `frame_indices`."""
        curves = self._load(ds)
        if episode_index not in curves:
            raise ValueError(f"{self._file_for(Path(ds.root))}: no rows for episode {episode_index} of {ds.root}")
        return curves[episode_index][np.asarray(frame_indices, dtype=np.int64)]

    def _file_for(self, root: Path) -> Path:
        if self.path.is_dir():
            f = self.path / f"{root.name}.parquet"
            if not f.is_file():
                raise FileNotFoundError(
                    f"{self.path} has no {f.name} for dataset {root}: a progress directory "
                    "holds one <dataset directory name>.parquet per dataset"
                )
            return f
        if self._curves and Path(root) not in self._curves:
            raise ValueError(
                f"progress file {self.path} holds one dataset's values but the bench reads several "
                f"datasets; pass {PREFIX}DIR with one <dataset directory name>.parquet per dataset"
            )
        return self.path

    def _load(self, ds) -> dict[int, np.ndarray]:
        root = Path(ds.root)
        if root not in self._curves:
            eps = ds.meta.episodes
            lengths = dict(zip((int(e) for e in eps["episode_index"]), (int(n) for n in eps["length"])))
            starts = dict(zip((int(e) for e in eps["episode_index"]), (int(s) for s in eps["dataset_from_index"])))
            self._curves[root] = read_progress_file(self._file_for(root), self.column, lengths, starts)
        return self._curves[root]


def read_progress_file(
    path: Path, column: str | None, lengths: dict[int, int], starts: dict[int, int] | None = None
) -> dict[int, np.ndarray]:
    """episode -> (T,) float64 values, validated against the dataset's episode lengths (and first global
    indices, `starts`, when the file has an `index` column). Raises one-line ValueErrors naming the episode."""
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception as err:  # not Parquet at all
        raise ValueError(f"{path} is not a readable Parquet file ({type(err).__name__}: {err})") from None
    for key in ("episode_index", "frame_index"):
        if key not in names:
            raise ValueError(
                f"{path} has no {key!r} column (columns: {', '.join(names)}); a progress file has "
                "one row per frame with index, episode_index, frame_index and a value column"
            )
    column = column or next((c for c in DEFAULT_COLUMNS if c in names), None)
    if column is None:
        others = [c for c in names if c not in KEYS]
        if len(others) != 1:
            raise ValueError(
                f"{path}: which column holds the values? none of {', '.join(DEFAULT_COLUMNS)} and "
                f"{len(others)} candidates ({', '.join(others)}); name one: {PREFIX}{path}#COLUMN"
            )
        column = others[0]
    if column not in names:
        raise ValueError(f"{path} has no column {column!r} (columns: {', '.join(names)})")
    table = pq.read_table(path, columns=[c for c in KEYS if c in names] + [column])
    ep = table["episode_index"].to_numpy().astype(np.int64)
    fr = table["frame_index"].to_numpy().astype(np.int64)
    try:
        val = table[column].to_numpy(zero_copy_only=False).astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: column {column!r} is not numeric ({table.schema.field(column).type})") from None
    gidx = table["index"].to_numpy().astype(np.int64) if "index" in names else None

    order = np.lexsort((fr, ep))  # (N,) rows by episode, then frame
    ep, fr, val = ep[order], fr[order], val[order]
    gidx = None if gidx is None else gidx[order]
    bounds = np.r_[0, np.flatnonzero(np.diff(ep)) + 1, len(ep)] if len(ep) else np.zeros(1, dtype=np.int64)
    curves: dict[int, np.ndarray] = {}
    for a, b in zip(bounds[:-1], bounds[1:]):
        e = int(ep[a])
        where = f"{path}: episode {e}"
        if e not in lengths:
            raise ValueError(
                f"{where} is not in the dataset (it has {len(lengths)} episodes); is this file from another dataset?"
            )
        T, f, v = lengths[e], fr[a:b], val[a:b]
        if b - a != T or not np.array_equal(f, np.arange(T)):
            missing = np.setdiff1d(np.arange(T), f)
            detail = f"frame {int(missing[0])} missing" if len(missing) else f"frame_index {int(f[-1])} out of range"
            if len(missing) == 0 and len(np.unique(f)) != len(f):
                detail = "repeated frames"
            raise ValueError(
                f"{where} has {b - a} rows but {T} frames in the dataset ({detail}); the file needs "
                "one row per native frame"
            )
        bad = np.flatnonzero(~np.isfinite(v))
        if len(bad):
            raise ValueError(f"{where} has {len(bad)} NaN/inf values (first at frame {int(bad[0])})")
        out = np.flatnonzero((v < 0.0) | (v > 1.0))
        if len(out):
            raise ValueError(
                f"{where} has {len(out)} values outside [0, 1] (frame {int(out[0])}: "
                f"{v[out[0]]:.4g}); progress must lie in [0, 1]"
            )
        if gidx is not None and starts is not None and e in starts:
            off = np.flatnonzero(gidx[a:b] != starts[e] + f)
            if len(off):
                raise ValueError(
                    f"{where}: frame {int(off[0])} has index {int(gidx[a + off[0]])} but the "
                    f"dataset's global index is {starts[e] + int(off[0])}; is this file from another "
                    "dataset?"
                )
        curves[e] = v
    return curves
