"""A small synthetic Suboptimal-Value-Bench: a square slides towards a goal, stalls or backs off.

It exists so that the harness, the CLI and the value-model plumbing can be exercised on real LeRobot
v3.0 files (written by lerobot's own `LeRobotDataset.create`/`add_frame`/`save_episode`) without a
simulator. The square's position is the ground-truth progress curve itself, so the video shows the
annotated behaviour exactly: a plateau for hesitation, a retreat for retry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robodata.annotations import write_annotations
from robodata.ground_truth import progress_curve

CAMERA = "observation.images.front"


def render_frame(progress: float, size: int) -> np.ndarray:
    """A (size, size, 3) uint8 frame: a grey goal marker on the right, a bright square at `progress`."""
    img = np.full((size, size, 3), 30, dtype=np.uint8)
    s = max(2, size // 6)
    img[size // 2 - s : size // 2 + s, size - s - 1 : size - 1] = (90, 90, 90)  # goal
    x = int(round(progress * (size - 2 * s - 2)))
    img[size // 2 - s // 2 : size // 2 + s // 2 + 1, x : x + s] = (240, 200, 40)
    return img


def episode_specs(n_expert: int, n_hesitation: int, n_retry: int, rng: np.random.Generator, fps: int) -> list[dict]:
    specs = []
    for mode, count in (("expert", n_expert), ("hesitation", n_hesitation), ("retry", n_retry)):
        for _ in range(count):
            T = int(rng.integers(6 * fps, 8 * fps))
            if mode == "expert":
                m = n = None
            else:
                x = int(rng.integers(fps, 3 * fps // 2 + 1))
                m = int(rng.integers(max(x, fps), T - x - fps))
                n = m + x
            specs.append({"mode": mode, "T": T, "m": m, "n": n})
    return specs


def make_synthetic_bench(
    root: str | Path,
    n_expert: int = 2,
    n_hesitation: int = 2,
    n_retry: int = 2,
    fps: int = 10,
    size: int = 32,
    seed: int = 0,
    embodiment: str = "Synthetic",
    task: str = "slide the square to the goal",
    camera: str = CAMERA,
) -> Path:
    """Write a LeRobot v3.0 dataset with `meta/suboptimal_annotations.parquet` at `root` (must not exist);
    `camera`: the video's key (e.g. a RoboSuite camera's name, for a scene that is not RoboSuite's)."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root = Path(root)
    features = {
        camera: {"dtype": "video", "shape": (size, size, 3), "names": ["height", "width", "channels"]},
        "observation.state": {"dtype": "float32", "shape": (1,), "names": ["x"]},
        "action": {"dtype": "float32", "shape": (1,), "names": ["dx"]},
    }
    ds = LeRobotDataset.create(
        repo_id=f"local/{root.name}", fps=fps, features=features, root=root, robot_type=embodiment, use_videos=True
    )
    rng = np.random.default_rng(seed)
    rows = []
    for ep, spec in enumerate(episode_specs(n_expert, n_hesitation, n_retry, rng, fps)):
        curve = progress_curve(spec["mode"], spec["T"], spec["m"], spec["n"])
        for t, p in enumerate(curve):
            nxt = curve[min(t + 1, len(curve) - 1)]
            ds.add_frame(
                {
                    camera: render_frame(float(p), size),
                    "observation.state": np.array([p], dtype=np.float32),
                    "action": np.array([nxt - p], dtype=np.float32),
                    "task": task,
                }
            )
        ds.save_episode()
        rows.append({"episode_index": ep, **spec, "embodiment": embodiment, "task": "slide"})
    ds.finalize()
    write_annotations(root, rows)
    return root
