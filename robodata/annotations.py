"""Which episodes are suboptimal, and where: `meta/suboptimal_annotations.parquet` in a LeRobot v3.0 dataset.

The bench scores against it, WVM training labels annotated episodes with its ground-truth curves
and the RoboSuite recorder writes it.

One row per episode:

| column        | type   | meaning                                                              |
|---------------|--------|----------------------------------------------------------------------|
| episode_index | int64  | the LeRobot episode index                                            |
| mode          | string | "expert", "hesitation" or "retry"                                    |
| m, n          | int64  | inclusive suboptimal segment in native frames (null for expert)      |
| T             | int64  | episode length in native frames (must equal the dataset's length)    |
| embodiment    | string | e.g. "RoboSuite", "AgileX", "ARX": rows of the result tables         |
| task          | string | the task name (e.g. "lift")                                          |

A dataset without the table is treated as all-expert (each episode's T from the dataset).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from robodata import atomic
from robodata.dataset import episode_length, episode_task
from robodata.ground_truth import validate_annotation

ANNOTATIONS_FILE = "meta/suboptimal_annotations.parquet"

SCHEMA = pa.schema(
    [
        ("episode_index", pa.int64()),
        ("mode", pa.string()),
        ("m", pa.int64()),
        ("n", pa.int64()),
        ("T", pa.int64()),
        ("embodiment", pa.string()),
        ("task", pa.string()),
    ]
)


def validate_rows(rows: list[dict]) -> None:
    seen = set()
    for r in rows:
        if r["episode_index"] in seen:
            raise ValueError(f"episode {r['episode_index']} is annotated twice")
        seen.add(r["episode_index"])
        try:
            validate_annotation(r["mode"], int(r["T"]), r.get("m"), r.get("n"))
        except ValueError as err:
            raise ValueError(f"episode {r['episode_index']}: {err}") from None


def write_annotations(root: str | Path, rows: list[dict]) -> Path:
    """Validate and write the table atomically (write beside, then rename)."""
    validate_rows(rows)
    path = Path(root) / ANNOTATIONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: r["episode_index"])
    table = pa.Table.from_pylist([{k: r.get(k) for k in SCHEMA.names} for r in rows], schema=SCHEMA)
    with atomic.replace_file(path) as tmp:
        pq.write_table(table, tmp)
    return path


def read_annotations(root: str | Path) -> list[dict] | None:
    """The rows of the annotation table, or None when the dataset has none."""
    path = Path(root) / ANNOTATIONS_FILE
    if not path.is_file():
        return None
    with open(
        path, "rb"
    ) as fh:  # one open file: pq.read_table(path) opens it twice, and a save in between tears the read
        table = pq.read_table(fh)
    missing = set(SCHEMA.names) - set(table.column_names)
    if missing:
        raise ValueError(f"{path} lacks columns {sorted(missing)}; see robodata/annotations.py")
    rows = table.to_pylist()
    validate_rows(rows)
    return rows


def all_expert_rows(ds, root: Path) -> list[dict]:
    """The rows an unannotated dataset stands for: every episode expert, with its length and task (the bench
    scores such a dataset this way, and a merge keeps them beside annotated inputs)."""
    return [
        {
            "episode_index": i,
            "mode": "expert",
            "m": None,
            "n": None,
            "T": episode_length(ds, i),
            "embodiment": ds.meta.robot_type or root.name,
            "task": episode_task(ds, i),
        }
        for i in range(ds.meta.total_episodes)
    ]
