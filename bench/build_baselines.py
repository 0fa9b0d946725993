"""Train the learned baseline value models on the default model's data and ship them (issue 21).

    .venv/bin/python -m bench.build_baselines [--work DIR] [--episodes 40] [--steps 2000]

Same data as the embedded default WVM: the expert demonstrations of bench/build_default_model.py
(six RoboSuite tasks, simulator seeds 100000+, 64x64, labels t/(T-1)), the same camera
(robot0_eye_in_hand). Generation resumes (a --work shared with build_default_model.py reuses its data);
training resumes from the last checkpoint. Each model is installed, weights without optimizer state, into
value_labeling/models/baseline_frame/ or baseline_temporal/, where `baseline-frame` and
`baseline-temporal` load from. Score them with `python -m bench.robosuite_bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from bench.build_default_model import CAMERA, ROOT, TASKS, TRAIN_SEED, data_flags, generate
from robodata import atomic
from value_labeling.baselines import SHIPPED

KINDS = {"frame-regressor": "baseline-frame", "temporal": "baseline-temporal"}


def install(run: Path, dest: Path, build: dict) -> Path:
    """Copy weights, config, text cache and loss history (not the optimizer) into the package, atomically."""
    from value_labeling.baselines.model import resolve

    src = resolve(run)
    new, old = atomic.sibling(dest, "install-new"), atomic.sibling(dest, "install-old")
    atomic.recover_dir(dest, new, old)
    with atomic.replace_dir(dest, new=new, old=old) as tmp:
        for f in src.iterdir():
            if f.is_file() and not f.name.startswith("optimizer"):
                shutil.copy2(f, tmp / f.name)
        (tmp / "build.json").write_text(json.dumps(build, indent=2) + "\n")
    print(f"installed {dest} ({sum(f.stat().st_size for f in dest.iterdir()) / 2**20:.2f} MiB)")
    return dest


def main() -> None:
    import torch

    from value_labeling.cli import main as value_labeling

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=ROOT / ".cache" / "default_model")
    p.add_argument("--episodes", type=int, default=40, help="expert demonstrations per task (the default used 40)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--width", type=int, default=24, help="first conv layer's channels (see train-baseline)")
    p.add_argument("--kind", action="append", choices=list(KINDS), default=None, help="default: both")
    p.add_argument("--no-install", action="store_true")
    a = p.parse_args()
    t0 = time.perf_counter()
    experts = generate(a.work / "train", "expert", a.episodes, TRAIN_SEED)
    t_data = time.perf_counter() - t0
    for kind in a.kind or list(KINDS):
        run = a.work / f"baseline_{kind}_{CAMERA}"
        t1 = time.perf_counter()
        value_labeling(
            [
                "train-baseline",
                *data_flags(experts),
                "--out",
                str(run),
                "--kind",
                kind,
                "--steps",
                str(a.steps),
                "--batch-size",
                str(a.batch_size),
                "--width",
                str(a.width),
                "--camera",
                CAMERA,
            ]
        )
        from value_labeling.baselines.model import resolve

        hist = json.loads((resolve(run) / "history.json").read_text())
        build = {
            "kind": kind,
            "data": {
                "expert_demonstrations": f"{len(TASKS)} RoboSuite tasks x {a.episodes} "
                f"(seeds {TRAIN_SEED}+: the default WVM's first "
                f"{a.episodes} per task)",
                "camera": CAMERA,
                "image_size": 64,
            },
            "steps": a.steps,
            "batch_size": a.batch_size,
            "width": a.width,
            "wall_time_s": {
                "data": round(t_data),
                "train": round(max((h["elapsed_s"] for h in hist), default=time.perf_counter() - t1)),
            },
            "command": "python -m bench.build_baselines " + " ".join(sys.argv[1:]),
            "machine": f"{os.cpu_count()} CPU cores, {'GPU' if torch.cuda.is_available() else 'no GPU'} "
            "(shared with other jobs)",
        }
        if not a.no_install:
            install(run, SHIPPED[KINDS[kind]], build)


if __name__ == "__main__":
    main()
