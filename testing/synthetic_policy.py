"""Small value-labelled LeRobot v3.0 datasets and a word-level tokenizer, for tests, the benchmark and demos.

The dataset is what `curate label-values` leaves behind: camera, state, action, and a float32 `value`
feature of shape (1,). Even episodes make progress (value rises), odd ones regress, so every weighting
scheme has samples to keep and samples to drop. The tokenizer stands in for PaliGemma's (no hub access):
`policy_ft make-tokenizer`'s word-level vocabulary, re-exported here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from policy_ft.tokenizer import make_word_tokenizer  # noqa: F401  (the fixture is the user-facing command's)


def make_value_dataset(
    root: str | Path,
    episodes: int = 4,
    length: int = 20,
    image_size: int = 32,
    state_dim: int = 3,
    action_dim: int = 2,
    fps: int = 10,
    seed: int = 0,
    with_value: bool = True,
    task: str = "lift the cube",
):
    """Write a LeRobot v3.0 dataset under `root` (must not exist) and return its LeRobotDataset."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    rng = np.random.default_rng(seed)
    features = {
        "observation.images.cam": {
            "dtype": "image",
            "shape": (image_size, image_size, 3),
            "names": ["height", "width", "channels"],
        },
        "observation.state": {"dtype": "float32", "shape": (state_dim,), "names": None},
        "action": {"dtype": "float32", "shape": (action_dim,), "names": None},
    }
    if with_value:
        features["value"] = {"dtype": "float32", "shape": (1,), "names": None}
    ds = LeRobotDataset.create(
        repo_id=f"local/{Path(root).name}",
        fps=fps,
        root=root,
        features=features,
        use_videos=False,
        image_writer_threads=0,
    )
    for ep in range(episodes):
        progress = np.linspace(0, 1, length) if ep % 2 == 0 else np.linspace(0.6, 0.2, length)
        for t in range(length):
            img = np.full((image_size, image_size, 3), int(255 * progress[t]), dtype=np.uint8)
            img[: image_size // 2] = rng.integers(0, 255, (image_size // 2, image_size, 3), dtype=np.uint8)
            state = (np.sin(t / 3 + ep) * np.ones(state_dim) + 0.05 * rng.standard_normal(state_dim)).astype(np.float32)
            action = (np.cos(t / 3 + ep) * np.ones(action_dim) * (1 if ep % 2 == 0 else -1)).astype(np.float32)
            frame = {"observation.images.cam": img, "observation.state": state, "action": action, "task": task}
            if with_value:
                frame["value"] = np.array([progress[t]], dtype=np.float32)
            ds.add_frame(frame)
        ds.save_episode()
    ds.finalize()
    return ds
