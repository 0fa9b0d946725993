"""Rebuild the embedded default value model from scratch (`make default-model`).

The paper's premise is that a video world model's prior makes better values. Wan2.2 cannot be
downloaded here, so the prior is built the same way at `wvm-tiny` scale:

1. data      RoboSuite demonstrations of the six tasks (experts, plus a hesitation/retry training split),
             simulator seeds from 100000 (experts) and 200000 (hesitation/retry) up; the bench uses
             seeds 0.. (see bench/robosuite_bench.py), so no bench trajectory is ever trained on.
2. pretrain  the wvm-tiny video stream alone as a world model (future-latent flow matching) on every
             training video (`value_labeling pretrain-video`).
3. train     WVM from that video stream with the value stream (`value_labeling train`), with ReWiND
             rewinding and prefix randomization, on the expert demonstrations (labels t/(T-1)) and, where
             the recipe says so, the labelled hesitation/retry split too: `value_labeling train` reads each
             dataset's meta/suboptimal_annotations.parquet (written by `robosuite_eval generate`) and
             trains on its ground-truth curves (value_labeling/wvm/windows.py).
4. baselines (--baselines) the learned baselines (`value_labeling train-baseline`, issue 21) on exactly
             the value data of step 3, so the bench compares them on equal terms (bench/build_baselines.py).
5. install   copy the final weights (no optimizer state) with a model card into
             value_labeling/models/default_wvm/ (and the baselines into theirs).

Recipes (--recipe): `v2`, the shipped model's and the default (`robosuite_eval generate --generator v2`:
human-paced episodes with long hesitation/retry segments; the labelled hesitation/retry split is value data
too; baselines built alongside), and `v1`, the earlier default's (v1 generator; experts only as value data),
kept so its results reproduce. Any recipe field can be overridden on the command line (--prefix-p 1, --steps ...).

Every stage resumes: generation skips finished episodes, training resumes from its last checkpoint, and
each stage's output is named by what it depends on (generator, camera, VAE, value data, p), so a build with
other choices never resumes another's. Work files go to --work (default .cache/default_model).

    .venv/bin/python -m bench.build_default_model [--recipe v2|v1] [--work DIR] [--steps N] [--prefix-p P]
    .venv/bin/python -m bench.build_default_model --card-only   # rewrite MODEL_CARD.md, nothing else
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

from bench.default_recipe import (  # sets the rendering environment before robosuite loads
    RECIPES,
    ROOT,
    SHIPPED_RECIPE,
    TASKS,
    Recipe,
    check_generator,
    data_flags,
    stage_tag,
    training_data,
    wvm_tag,
)
from robodata import atomic
from value_labeling.models.default import DEFAULT_DIR
from value_labeling.models.default_card import model_card_text, write_model_card


def build_command() -> str:
    return ("python -m bench.build_default_model " + " ".join(sys.argv[1:])).strip()


def run_seconds(run: Path, fallback: float) -> float:
    """A training stage's wall time from its logged history, so a resumed build that finds the stage
    already finished keeps the real time instead of the few seconds it took to notice."""
    from value_labeling.wvm.checkpoint import resolve

    try:
        return max(float(h["elapsed_s"]) for h in json.loads((resolve(run) / "history.json").read_text()))
    except (OSError, ValueError, KeyError):
        return fallback


def build(work: Path, recipe: Recipe, recipe_name: str = "custom") -> Path:
    import torch

    from value_labeling.cli import main as value_labeling

    t0 = time.perf_counter()
    data = training_data(work, recipe)
    t_data = time.perf_counter() - t0

    tag = stage_tag(recipe)
    cam_flags = ["--camera", recipe.camera]
    t_vae = 0.0
    vae_flags: list[str] = []
    if recipe.vae_steps:
        tv = time.perf_counter()
        vae = work / f"vae_{tag}"
        value_labeling(
            ["pretrain-vae", *data_flags(data.video), "--out", str(vae), "--steps", str(recipe.vae_steps), *cam_flags]
        )
        t_vae = time.perf_counter() - tv
        vae_flags = ["--video-model", str(vae)]
    t1 = time.perf_counter()
    video = work / f"video_pretrain_{tag}"
    value_labeling(
        [
            "pretrain-video",
            *data_flags(data.video),
            "--out",
            str(video),
            "--steps",
            str(recipe.pretrain_steps),
            "--batch-size",
            str(recipe.batch_size),
            "--save-every",
            "500",
            *vae_flags,
            *cam_flags,
        ]
    )
    t_pre = run_seconds(video, time.perf_counter() - t1)

    t2 = time.perf_counter()
    ckpt = work / f"wvm_{wvm_tag(recipe)}"
    value_labeling(
        [
            "train",
            *data_flags(data.value),
            "--out",
            str(ckpt),
            "--video-model",
            str(video),
            "--steps",
            str(recipe.steps),
            "--batch-size",
            str(recipe.batch_size),
            "--lr",
            str(recipe.lr),
            "--prefix-p",
            str(recipe.prefix_p),
            "--save-every",
            "500",
            *cam_flags,
        ]
    )
    t_train = run_seconds(ckpt, time.perf_counter() - t2)
    card = {
        "preset": "wvm-tiny",
        "recipe": recipe_name,
        "recipe_fields": dataclasses.asdict(recipe),
        "data": data.describe,
        "vae_steps": recipe.vae_steps,
        "pretrain_video_steps": recipe.pretrain_steps,
        "train_steps": recipe.steps,
        "batch_size": recipe.batch_size,
        "lr": recipe.lr,
        "wall_time_s": {
            "data": round(t_data),
            "pretrain_vae": round(t_vae),
            "pretrain_video": round(t_pre),
            "train": round(t_train),
        },
        "command": build_command(),
        "machine": f"{os.cpu_count()} CPU cores, {'GPU' if torch.cuda.is_available() else 'no GPU'}",
    }
    # A resumed build whose earlier stages were already complete keeps their measured wall times.
    build_file = work / f"build_{wvm_tag(recipe)}.json"
    legacy = work / "build.json"  # builds before recipes had names wrote only this one
    prev = json.loads(build_file.read_text()) if build_file.is_file() else {}
    if not prev and recipe_name == "v1" and legacy.is_file():
        prev = json.loads(legacy.read_text())
        prev = {} if "recipe" in prev else prev  # a named build's record belongs to its own build file
    if prev:
        prev = prev.get("wall_time_s", {})
        for stage, secs in card["wall_time_s"].items():
            if secs < 10 and (prev.get(stage) or 0) > secs:
                card["wall_time_s"][stage] = prev[stage]
    if card["wall_time_s"]["data"] < 10:  # found generated by an earlier, interrupted run: its time is unknown
        card["wall_time_s"]["data"] = None
    atomic.write_text(build_file, json.dumps(card, indent=2) + "\n")
    atomic.write_text(work / "build.json", json.dumps(card, indent=2) + "\n")  # the latest build, for install
    return ckpt


def install(ckpt: Path, work: Path) -> Path:
    """Copy weights, config and text cache (not the optimizer state) into the package, atomically."""
    from value_labeling.wvm.checkpoint import resolve

    src = resolve(ckpt)
    new, old = atomic.sibling(DEFAULT_DIR, "install-new"), atomic.sibling(DEFAULT_DIR, "install-old")
    DEFAULT_DIR.parent.mkdir(parents=True, exist_ok=True)
    atomic.recover_dir(DEFAULT_DIR, new, old)
    with atomic.replace_dir(DEFAULT_DIR, new=new, old=old) as tmp:
        for f in src.iterdir():
            if f.name.startswith("optimizer") or f.name == "train_state.pt" or not f.is_file():
                continue
            shutil.copy2(f, tmp / f.name)
        build_info = json.loads((work / "build.json").read_text()) if (work / "build.json").is_file() else {}
        (tmp / "build.json").write_text(json.dumps(build_info, indent=2) + "\n")
    size = sum(f.stat().st_size for f in DEFAULT_DIR.iterdir()) / 2**20
    print(f"installed the default model into {DEFAULT_DIR} ({size:.1f} MiB)")
    return DEFAULT_DIR


def card_inputs(results: Path = ROOT / "bench" / "results") -> dict:
    """What the card is written from besides the checkpoint: the bench result, its headline tables (the
    bench layer's markdown, which the card module may not import) and the baseline probe."""
    from value_labeling.bench.headline import headline_markdown

    bench = (
        json.loads((results / "robosuite_bench.json").read_text())
        if (results / "robosuite_bench.json").is_file()
        else None
    )
    probe = results / "baseline_probe.json"
    return {
        "bench": bench,
        "headline_md": headline_markdown(bench) if bench and "headline" in bench else None,
        "probe": json.loads(probe.read_text()) if probe.is_file() else None,
        "results": results,
    }


def card_text() -> str:
    """The card `--card-only` writes, from the shipped checkpoint and bench/results/ as they are now."""
    return model_card_text(**card_inputs())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--recipe", choices=list(RECIPES), default=SHIPPED_RECIPE, help="a named recipe (see the module docstring)"
    )
    p.add_argument("--work", type=Path, default=ROOT / ".cache" / "default_model")
    # Overrides of the recipe's fields; None keeps the recipe's value.
    p.add_argument("--generator", default=None, help="robosuite_eval generate --generator (v2 needs the v2 generator)")
    p.add_argument("--episodes", type=int, default=None, help="expert demonstrations per task")
    p.add_argument("--sub-episodes", type=int, default=None, help="hesitation and retry episodes per task each")
    p.add_argument(
        "--sub-as-value-data",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train the values on the labelled hesitation/retry split too (their annotated curves)",
    )
    p.add_argument("--prefix-p", type=float, default=None, help="prefix randomization probability p")
    p.add_argument("--vae-steps", type=int, default=None, help="train the VAE first; 0 = random VAE")
    p.add_argument("--pretrain-steps", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--lr", type=float, default=None, help="peak lr of the WVM stage (see Recipe.lr)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--camera", default=None, help="the view the model is trained on (see CAMERA)")
    p.add_argument(
        "--baselines",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also train the learned baselines on the same value data",
    )
    p.add_argument("--baseline-steps", type=int, default=None)
    p.add_argument("--task", action="append", default=None, choices=TASKS, help="a subset of tasks (smoke tests)")
    p.add_argument("--no-install", action="store_true", help="build only; leave the shipped models alone")
    p.add_argument(
        "--card-only",
        action="store_true",
        help="rewrite MODEL_CARD.md from the shipped checkpoint and bench/results/ (no data, no training)",
    )
    a = p.parse_args(argv)
    if a.card_only:
        print(f"wrote {write_model_card(**card_inputs())}")
        return
    over = {
        f.name: getattr(a, f.name)
        for f in dataclasses.fields(Recipe)
        if f.name != "tasks" and getattr(a, f.name, None) is not None
    }
    if a.task:
        over["tasks"] = tuple(t for t in TASKS if t in a.task)
    recipe = dataclasses.replace(RECIPES[a.recipe], **over)
    check_generator(recipe.generator)  # before any work: one line if the generator lacks the option
    ckpt = build(a.work, recipe, a.recipe)
    if recipe.baselines:
        from bench.build_baselines import train_baselines

        train_baselines(a.work, recipe, install_them=not a.no_install, command=build_command())
    if not a.no_install:
        install(ckpt, a.work)
        write_model_card(**card_inputs())
        print("score it: .venv/bin/python -m bench.robosuite_bench")


if __name__ == "__main__":
    main()
