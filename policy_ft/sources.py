"""Several LeRobot datasets as one training set for `policy_ft train --dataset A --dataset B ...`.

A user who keeps expert, hesitation and retry recordings apart trains on all of them without merging
them on disk (lerobot's merge drops the annotation table). The datasets must agree on everything a
policy sees: fps and every `observation.*` / `action` feature (dtype, shape, names); that is checked from
the metadata before anything heavy is built. Then:
- frame i of dataset k has the training-set index offsets[k] + i (offsets = cumulative frame counts), the
  index the weight table is looked up with; each dataset's Δ (eq. E.4) is computed within its own
  episodes, so no chunk crosses from one dataset into another;
- normalisation statistics are lerobot's `aggregate_stats` over the datasets (count-weighted);
- camera streams the policy does not read are not decoded (a state-only policy trains from the Parquet
  columns alone; decoding an unused video frame per sample would cost more than the training step).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

POLICY_PREFIXES = ("observation.", "action")


def policy_feature_spec(root: Path) -> tuple[int, dict]:
    """(fps, {feature: (dtype, shape, names)}) of what a policy may read, from meta/info.json."""
    info = json.loads((Path(root) / "meta" / "info.json").read_text())
    feats = {
        k: (v.get("dtype"), list(v.get("shape") or []), v.get("names"))
        for k, v in info["features"].items()
        if k.startswith(POLICY_PREFIXES)
    }
    return int(info["fps"]), feats


def check_same_features(roots: list[Path]) -> None:
    """Refuse datasets a single policy cannot be trained on together (one line naming both and the feature)."""
    first_fps, first = policy_feature_spec(roots[0])
    for root in roots[1:]:
        fps, feats = policy_feature_spec(root)
        if fps != first_fps:
            raise ValueError(
                f"--dataset {root} is recorded at {fps} fps but {roots[0]} at {first_fps}; train on datasets of one fps"
            )
        for key in sorted(set(first) | set(feats)):
            if first.get(key) != feats.get(key):
                a = first.get(key, "missing")
                b = feats.get(key, "missing")
                raise ValueError(
                    f"--dataset {root} does not match {roots[0]} on feature {key!r} "
                    f"({b} vs {a}); train on datasets with the same features"
                )


def total_frames(root: Path) -> int:
    return int(json.loads((Path(root) / "meta" / "info.json").read_text())["total_frames"])


def drop_unread_videos(dataset, keep: set[str]) -> None:
    """Stop `dataset` decoding camera streams outside `keep`: lerobot decodes every video feature of its
    metadata per item, and the Parquet table holds no video column, so removing the feature is enough."""
    feats = dataset.meta.info["features"]
    dataset.meta.info["features"] = {k: v for k, v in feats.items() if v.get("dtype") != "video" or k in keep}


class OffsetIndex(torch.utils.data.Dataset):
    """A dataset whose items' `index` is shifted into the training set's concatenated index space, keeping
    only the keys in `keep` (None: all)."""

    def __init__(self, dataset, offset: int, keep: set[str] | None = None):
        self.dataset, self.offset, self.keep = dataset, int(offset), keep

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        item = self.dataset[i]
        if self.keep is not None:
            item = {k: v for k, v in item.items() if k in self.keep}
        item["index"] = item["index"] + self.offset
        return item


def concat_datasets(datasets: list) -> torch.utils.data.Dataset:
    """One dataset over several; a single dataset is returned as it is (its indices are already global).

    Items keep the keys every dataset has: per-frame columns that only some of them hold (a value column
    labelled on one dataset and not yet on another) would break batching, and training reads the values
    from the Parquet files, not from the items."""
    if len(datasets) == 1:
        return datasets[0]
    offsets = np.cumsum([0] + [len(d) for d in datasets[:-1]])
    keep = set.intersection(*(set(d[0]) for d in datasets))
    return torch.utils.data.ConcatDataset([OffsetIndex(d, o, keep) for d, o in zip(datasets, offsets)])


def aggregate_stats(metas: list) -> dict:
    if len(metas) == 1:
        return metas[0].stats
    from lerobot.datasets.compute_stats import aggregate_stats as lerobot_aggregate

    keys = set.intersection(*(set(m.stats) for m in metas))  # value columns may differ between datasets
    return lerobot_aggregate([{k: m.stats[k] for k in keys} for m in metas])


class InMemory(torch.utils.data.Dataset):
    """The items of a camera-free LeRobot dataset, built column-wise from its Parquet files and kept in memory.

    lerobot reads an item (a frame plus its delta-timestamp windows, e.g. the H-step action chunk) row by
    row from the Arrow table, ~1 ms per item on an idle core (50 ms on a loaded one): more than a small
    state-only policy's whole training step. Without images the set is small (floats only), so the same
    items are built once with lerobot's rules: window index = clamp(t + d, episode start, episode end - 1),
    `<key>_is_pad` = (t + d outside the episode); `task` from meta/tasks.
    """

    def __init__(self, dataset):
        import pyarrow as pa
        import pyarrow.parquet as pq

        root = Path(dataset.root)
        skip = {k for k, v in dataset.meta.features.items() if v.get("dtype") in ("video", "image")}
        files = sorted((root / "data").glob("*/*.parquet"))
        table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
        table = table.take(np.argsort(table["index"].to_numpy(), kind="stable"))
        cols = {}
        for name in table.column_names:
            if name in skip:
                continue
            col = table[name]
            if pa.types.is_list(col.type) or pa.types.is_fixed_size_list(col.type):
                arr = np.stack([np.asarray(v, dtype=np.float32) for v in col.to_pylist()])
            else:
                arr = col.to_numpy()
            cols[name] = torch.from_numpy(np.array(arr))  # a writable copy
        index = cols["index"].numpy()
        if not np.array_equal(index, np.arange(index.size)):
            raise ValueError(f"{root}: the `index` column is not 0..N-1; the dataset looks damaged")
        episode = cols["episode_index"].numpy()
        change = np.r_[True, episode[1:] != episode[:-1]]
        starts = np.flatnonzero(change)
        ends = np.r_[starts[1:], episode.size]
        seg = np.cumsum(change) - 1
        ep_start, ep_end = starts[seg], ends[seg]  # (N,) each frame's episode bounds [start, end)
        self.tensors = {}
        for key, deltas in (dataset.delta_indices or {}).items():
            q = index[:, None] + np.asarray(deltas)[None, :]  # (N, len(deltas))
            pad = (q < ep_start[:, None]) | (q >= ep_end[:, None])
            q = np.clip(q, ep_start[:, None], ep_end[:, None] - 1)
            self.tensors[key] = cols[key][torch.from_numpy(q)]  # (N, len(deltas), ...)
            self.tensors[f"{key}_is_pad"] = torch.from_numpy(pad)
        for name, t in cols.items():
            self.tensors.setdefault(name, t)
        tasks = dataset.meta.tasks
        self.task_names = [tasks.iloc[int(i)].name for i in range(len(tasks))]
        self.n = int(index.size)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        item = {k: v[i] for k, v in self.tensors.items()}
        item["task"] = self.task_names[int(item["task_index"])]
        return item
