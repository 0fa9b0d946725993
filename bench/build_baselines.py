"""Train the learned baseline value models on the default model's data and ship them (issue 21).

    .venv/bin/python -m bench.build_baselines [--recipe v1|v2] [--work DIR] [--episodes 40] [--steps 2000]

Same data as the embedded default WVM: the value data of bench/default_recipe.py's recipe (bench/build_default_model.py builds the WVM from it)
(`training_data(...).value`: the six RoboSuite tasks' expert demonstrations, simulator seeds 100000+, 64x64,
labels t/(T-1), plus, where the recipe trains values on it, the labelled hesitation/retry split with its
annotated curves), and the same camera. `python -m bench.build_default_model --baselines` runs this in the
same build, so both see exactly the same datasets. Generation resumes (a --work shared with
build_default_model.py reuses its data); training resumes from the last checkpoint. Each model is
installed, weights without optimizer state, into value_labeling/models/baseline_frame/ or
baseline_temporal/, where `baseline-frame` and `baseline-temporal` load from. Score them with
`python -m bench.robosuite_bench`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

from bench.default_recipe import RECIPES, ROOT, SHIPPED_RECIPE, check_generator, data_flags, training_data, wvm_tag
from robodata import atomic
from value_labeling.baselines import SHIPPED

KINDS = {"frame-regressor": "baseline-frame", "temporal": "baseline-temporal"}
BATCH, WIDTH = 32, 24  # the shipped baselines' batch and first-layer width (see `value_labeling train-baseline`)


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


def train_baselines(
    work: Path,
    recipe,
    kinds: list[str] | None = None,
    install_them: bool = True,
    command: str = "python -m bench.build_baselines",
    batch: int = BATCH,
    width: int = WIDTH,
) -> dict:
    """Train (resuming) and optionally install each baseline kind on the recipe's value data (the same
    datasets its WVM learns values from); {kind: run dir}."""
    import torch

    from value_labeling.baselines.model import resolve
    from value_labeling.cli import main as value_labeling

    if not recipe.sub_as_value_data:  # the baselines learn from the value data only: no video-only split
        recipe = dataclasses.replace(recipe, sub_episodes=0)
    t0 = time.perf_counter()
    data = training_data(work, recipe)
    t_data = time.perf_counter() - t0
    runs = {}
    for kind in kinds or list(KINDS):
        run = work / f"baseline_{kind}_{wvm_tag(recipe)}"
        t1 = time.perf_counter()
        value_labeling(
            [
                "train-baseline",
                *data_flags(data.value),
                "--out",
                str(run),
                "--kind",
                kind,
                "--steps",
                str(recipe.baseline_steps),
                "--batch-size",
                str(batch),
                "--width",
                str(width),
                "--camera",
                recipe.camera,
            ]
        )
        hist = json.loads((resolve(run) / "history.json").read_text())
        data_desc = {k: v for k, v in data.describe.items() if k != "world_model_extra"}
        build = {
            "kind": kind,
            "data": data_desc,
            "value_data": [str(p) for p in data.value],
            "steps": recipe.baseline_steps,
            "batch_size": batch,
            "width": width,
            "wall_time_s": {
                "data": round(t_data),
                "train": round(max((h["elapsed_s"] for h in hist), default=time.perf_counter() - t1)),
            },
            "command": command,
            "machine": f"{os.cpu_count()} CPU cores, {'GPU' if torch.cuda.is_available() else 'no GPU'} "
            "(shared with other jobs)",
        }
        runs[kind] = run
        if install_them:
            install(run, SHIPPED[KINDS[kind]], build)
    return runs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--recipe", choices=list(RECIPES), default=SHIPPED_RECIPE, help="bench/build_default_model.py's recipe"
    )
    p.add_argument("--work", type=Path, default=ROOT / ".cache" / "default_model")
    p.add_argument("--episodes", type=int, default=None, help="expert demonstrations per task (recipe's default)")
    p.add_argument("--steps", type=int, default=None, help="training steps (recipe's baseline_steps)")
    p.add_argument("--batch-size", type=int, default=BATCH)
    p.add_argument("--width", type=int, default=WIDTH, help="first conv layer's channels (see train-baseline)")
    p.add_argument("--kind", action="append", choices=list(KINDS), default=None, help="default: both")
    p.add_argument("--no-install", action="store_true")
    a = p.parse_args()
    recipe = RECIPES[a.recipe]
    if a.episodes is not None:
        recipe = dataclasses.replace(recipe, episodes=a.episodes)
    if a.steps is not None:
        recipe = dataclasses.replace(recipe, baseline_steps=a.steps)
    check_generator(recipe.generator)
    cmd = ("python -m bench.build_baselines " + " ".join(sys.argv[1:])).strip()
    train_baselines(a.work, recipe, a.kind, not a.no_install, cmd, a.batch_size, a.width)


if __name__ == "__main__":
    main()
