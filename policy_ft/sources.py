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
    feats = {k: (v.get("dtype"), list(v.get("shape") or []), v.get("names"))
             for k, v in info["features"].items() if k.startswith(POLICY_PREFIXES)}
    return int(info["fps"]), feats


def check_same_features(roots: list[Path]) -> None:
    """Refuse datasets a single policy cannot be trained on together (one line naming both and the feature)."""
    first_fps, first = policy_feature_spec(roots[0])
    for root in roots[1:]:
        fps, feats = policy_feature_spec(root)
        if fps != first_fps:
            raise ValueError(f"--dataset {root} is recorded at {fps} fps but {roots[0]} at {first_fps}; "
                             "train on datasets of one fps")
        for key in sorted(set(first) | set(feats)):
            if first.get(key) != feats.get(key):
                a = first.get(key, "missing")
                b = feats.get(key, "missing")
                raise ValueError(f"--dataset {root} does not match {roots[0]} on feature {key!r} "
                                 f"({b} vs {a}); train on datasets with the same features")


def total_frames(root: Path) -> int:
    return int(json.loads((Path(root) / "meta" / "info.json").read_text())["total_frames"])


def drop_unread_videos(dataset, keep: set[str]) -> None:
    """Stop `dataset` decoding camera streams outside `keep`: lerobot decodes every video feature of its
    metadata per item, and the Parquet table holds no video column, so removing the feature is enough."""
    feats = dataset.meta.info["features"]
    dataset.meta.info["features"] = {k: v for k, v in feats.items() if v.get("dtype") != "video" or k in keep}


class OffsetIndex(torch.utils.data.Dataset):
    """A dataset whose items' `index` is shifted into the training set's concatenated index space."""

    def __init__(self, dataset, offset: int):
        self.dataset, self.offset = dataset, int(offset)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        item = self.dataset[i]
        item["index"] = item["index"] + self.offset
        return item


def concat_datasets(datasets: list) -> torch.utils.data.Dataset:
    """One dataset over several; a single dataset is returned as it is (its indices are already global)."""
    if len(datasets) == 1:
        return datasets[0]
    offsets = np.cumsum([0] + [d.meta.total_frames for d in datasets[:-1]])
    return torch.utils.data.ConcatDataset([OffsetIndex(d, o) for d, o in zip(datasets, offsets)])


def aggregate_stats(metas: list) -> dict:
    if len(metas) == 1:
        return metas[0].stats
    from lerobot.datasets.compute_stats import aggregate_stats as lerobot_aggregate

    keys = set.intersection(*(set(m.stats) for m in metas))  # value columns may differ between datasets
    return lerobot_aggregate([{k: m.stats[k] for k in keys} for m in metas])


class InMemory(torch.utils.data.Dataset):
    """Every item of a camera-free training set, read once and kept as stacked tensors.

    lerobot reads an item (its frame plus the H-step action chunk) row by row from the Arrow table, ~1 ms
    each: more than a small state-only policy's whole training step. Without images the set is small
    (floats only), so it is read once; items are then exactly lerobot's items, sliced from memory.
    """

    def __init__(self, dataset, desc: str = "caching training set"):
        from tqdm import tqdm

        items = [dataset[i] for i in tqdm(range(len(dataset)), desc=desc, unit="frame", mininterval=2.0)]
        self.tensors = {k: torch.stack([it[k] for it in items]) for k, v in items[0].items()
                        if isinstance(v, torch.Tensor)}
        self.other = {k: [it[k] for it in items] for k, v in items[0].items() if not isinstance(v, torch.Tensor)}
        self.n = len(items)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        return {**{k: v[i] for k, v in self.tensors.items()}, **{k: v[i] for k, v in self.other.items()}}
