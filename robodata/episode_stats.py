"""Per-episode statistics of the columns curate adds, stored the way LeRobot stores its own.

LeRobot v3.0 keeps, for every feature and every episode, `stats/<feature>/<stat>` columns in
`meta/episodes/chunk-*/file-*.parquet` (min, max, mean, std, count, q01, q10, q50, q90, q99; each a
list with one entry per feature dimension: list<double>, count list<int64>). Its dataset tools
(`lerobot.datasets.dataset_tools`: delete_episodes, split, merge) rebuild `meta/stats.json` from these
columns, so a column without them loses its statistics the first time a user edits the dataset.

Our columns are scalar (shape [1]), so every list holds one entry. Quantiles are exact
(`np.quantile`), as in `meta/stats.json` (`column_stats`); LeRobot's own writer uses a histogram
approximation, which is within its bin width of these. The module depends only on numpy/pyarrow so
it can move with the column writer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
STATS = ("min", "max", "mean", "std", "count", *QUANTILES)


def episode_stats(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> dict[str, list[list]]:
    """Stat name -> one [x] per episode for the rows values[start:end) of each episode.

    values: (N,) by global frame index; starts, ends: (E,) the episodes' dataset_from_index /
    dataset_to_index (end exclusive), as in meta/episodes.
    """
    v = np.asarray(values, dtype=np.float64)
    out: dict[str, list[list]] = {k: [] for k in STATS}
    for s, e in zip(np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)):
        if not 0 <= s < e <= len(v):
            raise ValueError(f"episode rows [{s}, {e}) are empty or outside the column's {len(v)} frames")
        x = v[s:e]  # (T,)
        q = np.quantile(x, list(QUANTILES.values()))
        out["min"].append([float(x.min())])
        out["max"].append([float(x.max())])
        out["mean"].append([float(x.mean())])
        out["std"].append([float(x.std())])
        out["count"].append([int(len(x))])
        for key, qv in zip(QUANTILES, q):
            out[key].append([float(qv)])
    return out


def write_episode_stats(src: Path, dst: Path, columns: dict[str, np.ndarray]) -> None:
    """Copy one meta/episodes Parquet file to `dst` with `stats/<name>/<stat>` for every column.

    Existing stats of the same name are replaced; the file's `meta/episodes/*` bookkeeping columns
    stay last, where LeRobot's writer puts them.
    """
    table = pq.read_table(src)
    starts = table["dataset_from_index"].to_numpy()
    ends = table["dataset_to_index"].to_numpy()
    for name, values in columns.items():
        for stat, rows in episode_stats(values, starts, ends).items():
            key = f"stats/{name}/{stat}"
            arr = pa.array(rows, type=pa.list_(pa.int64() if stat == "count" else pa.float64()))
            if key in table.column_names:
                table = table.set_column(table.column_names.index(key), key, arr)
            else:
                tail = [c for c in table.column_names if c.startswith("meta/episodes/")]
                at = table.column_names.index(tail[0]) if tail else table.num_columns
                table = table.add_column(at, key, arr)
    pq.write_table(table, dst)
