"""A default-model build's recipe and training data: what `bench.build_default_model` (the WVM) and
`bench.build_baselines` (the learned baselines, issue 21) both train on, kept in one module so the two
builders read the same datasets without importing each other."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from robosuite_eval.tasks import TASKS as _TASK_SPECS  # noqa: E402

TASKS = list(_TASK_SPECS)  # the six RoboSuite tasks, in the order `--task all` generates them
TRAIN_SEED = 100_000  # expert demonstrations
TRAIN_SUB_SEED = 200_000  # labelled hesitation/retry training split
IMAGE_SIZE = 64  # wvm-tiny's frame size: render at it instead of resizing 128x128 frames
#: The view the model reads. The wrist camera, not agentview: at 64x64 the agentview gripper is a few
#: pixels, while from the wrist a failed grasp and the retreat after it fill the frame (bench/results/
#: wvm_ablations.md against wvm_ablations_agentview.md); the checkpoint records it, so labelling picks it.
CAMERA = "robot0_eye_in_hand"


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What a default-model build trains on and how long."""

    generator: str | None = None
    """`robosuite_eval generate --generator` (None: v1, the generator's default when the v1 recipe was made;
    passed explicitly, since `generate` now defaults to v2)."""
    episodes: int = 40
    """Expert demonstrations per task (seeds TRAIN_SEED+)."""
    sub_episodes: int = 4
    """Hesitation and retry episodes per task each (seeds TRAIN_SUB_SEED+), with their annotation table."""
    sub_as_value_data: bool = False
    """Train the WVM's values on the hesitation/retry split too (its annotated ground-truth curves), not
    only the world model's video pretraining."""
    prefix_p: float = 0.5
    """Prefix randomization probability of `value_labeling train` (the paper's 0.5)."""
    pretrain_steps: int = 1500
    steps: int = 4000
    batch_size: int = 16
    lr: float = 1e-3
    """Peak lr of the WVM stage. Table A.1's 1e-4 is for the 5B model; at wvm-tiny scale 1e-3 trains much
    further in the same steps."""
    vae_steps: int = 0
    """Train the VAE first (`value_labeling pretrain-vae`) for this many steps; 0 = random VAE."""
    camera: str = CAMERA
    baselines: bool = False
    """Also train the learned baselines on the same value data (bench/build_baselines.py)."""
    baseline_steps: int = 2000
    tasks: tuple[str, ...] = tuple(TASKS)
    """Tasks to generate and train on (all six for a real build; fewer for a smoke test)."""


RECIPES = {
    # The earlier default's recipe (kept so its results reproduce): v1 episodes, experts only as value data.
    "v1": Recipe(),
    # The shipped default's (its build.json records the run), issue 13's: human-paced v2 episodes; the
    # labelled hesitation/retry split (other seeds than the bench) is value data as well, and the baselines
    # are trained on exactly the same datasets. Why the labelled split: the v1 default fell far less than the
    # learned baselines across a retraction and dropped at many episode ends (robosuite_bench_previous.md and
    # git history of baseline_probe.md), and wvm_ablations.md's `plus_suboptimal_labels` row raised
    # Retry-VOC; the per-frame baselines, trained on experts only, showed a curve can track stalls and
    # retractions from the frame alone, so the WVM's shortfall was its training signal and recipe at this
    # scale, which this recipe changes first.
    "v2": Recipe(generator="v2", episodes=40, sub_episodes=20, sub_as_value_data=True, baselines=True),
}


#: The recipe of the shipped default (value_labeling/models/default_wvm/build.json records it): what
#: `make default-model` and both builders rebuild when no --recipe is given.
SHIPPED_RECIPE = "v2"


def check_generator(generator: str | None, config: type | None = None) -> None:
    """Fail with one line, before any work, when `robosuite_eval generate` has no --generator that accepts
    `generator` (the v2 generator lands separately)."""
    import typing

    if generator is None:
        return
    if config is None:
        from robosuite_eval.config import GenerateConfig as config
    field = {f.name: f for f in dataclasses.fields(config)}.get("generator")
    if field is None:
        raise SystemExit(
            f"robosuite_eval generate has no --generator option, so it cannot make the {generator} data this "
            "recipe needs; update robosuite_eval (or use --recipe v1)"
        )
    hints = typing.get_type_hints(config)
    choices = [a for a in typing.get_args(hints["generator"]) if isinstance(a, str)]
    if choices and generator not in choices:
        raise SystemExit(
            f"robosuite_eval generate --generator accepts {', '.join(choices)}, not {generator}; "
            "update robosuite_eval (or use --recipe v1)"
        )


def generate(
    out: Path, mode: str, episodes: int, seed: int, generator: str | None = None, tasks: tuple[str, ...] = ()
) -> list[Path]:
    from robosuite_eval.cli import main as robosuite_eval

    tasks = tuple(tasks) or tuple(TASKS)
    for task in ["all"] if set(tasks) == set(TASKS) else tasks:
        robosuite_eval(
            [
                "generate",
                "--task",
                task,
                "--mode",
                mode,
                "--episodes",
                str(episodes),
                "--seed",
                str(seed),
                "--image-size",
                str(IMAGE_SIZE),
                "--generator",
                generator or "v1",  # None is v1's recipe: pinned, `generate` defaults to v2
                "--out",
                str(out if task == "all" else out / f"{task}_{mode}"),
            ]
        )
    return [out / f"{t}_{mode}" for t in TASKS if t in tasks]


def data_flags(roots: list[Path]) -> list[str]:
    return [a for r in roots for a in ("--data", str(r))]


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """The datasets of a build, by role, and their description for build.json and the card."""

    experts: list[Path]
    sub: list[Path]  # the labelled hesitation/retry split
    value: list[Path]  # what the WVM (and the baselines) learn values from
    video: list[Path]  # what the world model pretrains on
    describe: dict


def data_dirs(work: Path, recipe: Recipe) -> tuple[Path, Path]:
    """Where the expert and hesitation/retry datasets live: v1's historical names, a suffix per generator."""
    suffix = "" if recipe.generator in (None, "v1") else f"_{recipe.generator}"
    return work / f"train{suffix}", work / f"train_sub{suffix}"


def training_data(work: Path, recipe: Recipe, make: bool = True) -> TrainingData:
    """Generate (or, with make=False, only name) the recipe's datasets and split them by role."""
    if make:
        check_generator(recipe.generator)
    train, train_sub = data_dirs(work, recipe)

    def gen(out, mode, n, seed):
        if make:
            return generate(out, mode, n, seed, recipe.generator, recipe.tasks)
        return [out / f"{t}_{mode}" for t in TASKS if t in recipe.tasks]

    experts = gen(train, "expert", recipe.episodes, TRAIN_SEED)
    sub = []
    if recipe.sub_episodes:
        sub = gen(train_sub, "hesitation", recipe.sub_episodes, TRAIN_SUB_SEED)
        sub += gen(train_sub, "retry", recipe.sub_episodes, TRAIN_SUB_SEED)
    value = experts + (sub if recipe.sub_as_value_data else [])
    n = len(recipe.tasks)
    gen_note = f", generator {recipe.generator}" if recipe.generator else ""
    # What the datasets hold (a dataset generated earlier with more episodes is read whole), else the ask.
    n_exp = episode_counts(experts) or str(recipe.episodes)
    n_hes = episode_counts(sub[: len(sub) // 2]) or str(recipe.sub_episodes)
    n_ret = episode_counts(sub[len(sub) // 2 :]) or str(recipe.sub_episodes)
    describe = {
        "expert_demonstrations": f"{n} RoboSuite tasks x {n_exp} (seeds {TRAIN_SEED}+{gen_note})",
        "world_model_extra": f"{n} x {n_hes} hesitation + {n_ret} retry (seeds {TRAIN_SUB_SEED}+{gen_note}), "
        + ("also value data (annotated curves)" if recipe.sub_as_value_data else "video pretraining only"),
        "image_size": IMAGE_SIZE,
        "camera": recipe.camera,
        "fps": "recorded 10, windows at 2",
    }
    if recipe.sub_as_value_data and sub:
        describe["value_extra"] = (
            f"{n} x {n_hes} hesitation + {n_ret} retry (seeds {TRAIN_SUB_SEED}+), labelled with their annotated "
            "ground-truth curves"
        )
    return TrainingData(experts, sub, value, experts + sub, describe)


def episode_counts(roots: list[Path]) -> str | None:
    """'8' when every dataset holds 8 episodes, '8-40' when they differ; None when none exists yet."""
    counts = sorted(
        {
            json.loads((r / "meta" / "info.json").read_text())["total_episodes"]
            for r in roots
            if (r / "meta" / "info.json").is_file()
        }
    )
    if not counts:
        return None
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


def stage_tag(recipe: Recipe) -> str:
    """The name part that keeps builds with other choices from resuming each other's stages; v1's
    historical names (camera, `_tvae`) are kept so its caches still resume."""
    tag = recipe.camera + ("_tvae" if recipe.vae_steps else "")
    if recipe.generator not in (None, "v1"):
        tag += f"_{recipe.generator}"
    if recipe.tasks != tuple(TASKS):
        tag += "_" + "-".join(recipe.tasks)
    return tag


def wvm_tag(recipe: Recipe) -> str:
    tag = stage_tag(recipe)
    if recipe.sub_as_value_data:
        tag += "_sublabels"
    if recipe.prefix_p != 0.5:
        tag += f"_p{recipe.prefix_p:g}"
    return tag
