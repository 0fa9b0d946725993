"""Episodes per minute of `robosuite_eval generate` (physics at 20 Hz, two cameras rendered at the
recorded 10 fps, LeRobot writing and video encoding included), and the projected time of the full
data budget: the six-task bench (6 x (25 hesitation + 25 retry) = 300 trajectories) plus 6 x 100
expert demonstrations, on this machine.

    .venv/bin/python -m bench.robosuite_generate [--episodes 6] [--size 128] [--workers 2] [--generator v1]

Measures one short run per mode over all six tasks in turn (task mix as in the bench), each from an
empty directory, and reports wall time including worker start-up. Writes
bench/results/robosuite_generate.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

from robosuite_eval.tasks import TASKS as _TASK_SPECS  # noqa: E402

TASKS = list(_TASK_SPECS)  # the six RoboSuite tasks, in the order `--task all` generates them
TARGET_S = 2 * 3600
WORKLOAD = {"hesitation": 150, "retry": 150, "expert": 600}


def measure(mode: str, episodes: int, size: int, workers: int, work: Path, generator: str = "v1") -> dict:
    """`episodes` episodes spread over the six tasks (one generate call per task)."""
    from robodata.dataset import check_dataset_dir
    from robosuite_eval.config import GenerateConfig
    from robosuite_eval.generate import run_generate

    per_task = [episodes // len(TASKS) + (i < episodes % len(TASKS)) for i in range(len(TASKS))]
    frames, t0 = 0, time.perf_counter()
    for task, n in zip(TASKS, per_task):
        if n == 0:
            continue
        root = work / f"{task}_{mode}"
        shutil.rmtree(root, ignore_errors=True)
        run_generate(
            GenerateConfig(
                out=root,
                task=task,
                mode=mode,
                episodes=n,
                seed=500_000,
                image_size=size,
                workers=workers,
                generator=generator,
            )
        )
        frames += check_dataset_dir(root)["total_frames"]
    wall = time.perf_counter() - t0
    return {
        "episodes": episodes,
        "frames": frames,
        "wall_s": wall,
        "episodes_per_min": 60 * episodes / wall,
        "frames_per_s": frames / wall,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=6, help="episodes per mode (spread over the six tasks)")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--workers", type=int, default=2)
    # v1: the committed results' generator (they predate v2, `robosuite_eval generate`'s default now)
    p.add_argument("--generator", choices=("v1", "v2"), default="v1")
    a = p.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("expert", "hesitation", "retry"):
            rows[mode] = measure(mode, a.episodes, a.size, a.workers, Path(tmp), a.generator)
            r = rows[mode]
            print(
                f"{mode:10s} {r['episodes']} episodes, {r['frames']} frames in {r['wall_s']:.1f} s: "
                f"{r['episodes_per_min']:.1f} episodes/min",
                flush=True,
            )
    projected = sum(n / rows[m]["episodes_per_min"] * 60 for m, n in WORKLOAD.items())
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "image_size": a.size,
        "generator": a.generator,
        "fps": 10,
        "cameras": 2,
        "workers": a.workers,
        "rows": rows,
        "workload": WORKLOAD,
        "projected_workload_s": projected,
        "target_s": TARGET_S,
    }
    out = ROOT / "bench" / "results" / "robosuite_generate.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# robosuite_eval generate throughput",
        "",
        f"Command: `.venv/bin/python -m bench.robosuite_generate {' '.join(sys.argv[1:])}`".replace(" `", " `"),
        "",
        f"{result['machine']}; generator {a.generator}, two {a.size}x{a.size} cameras, 10 fps recorded, physics 20 Hz, "
        f"{a.workers} worker processes; wall time includes worker start-up and the dataset write.",
        "",
        "| mode | episodes | frames | wall s | episodes/min |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {m} | {r['episodes']} | {r['frames']} | {r['wall_s']:.1f} | {r['episodes_per_min']:.1f} |"
        for m, r in rows.items()
    ]
    ok = "met" if projected <= TARGET_S else "NOT met"
    lines += [
        "",
        f"Projected full budget (300 bench trajectories + 600 expert demonstrations): "
        f"{projected / 60:.0f} min (target < 120 min: {ok}).",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
