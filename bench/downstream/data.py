"""Downstream data: per task, the suboptimal training set, an expert set, held-out episodes; and their values.

Sets (all `robosuite_eval generate --generator v2`, human-paced; state-only policies read
observation.state + observation.environment_state, so only the value models need a camera):
- `hesitation`, `retry`: the suboptimal training set (the paper fine-tunes on suboptimal data only), with the
  wrist camera robot0_eye_in_hand at 64x64 that the default WVM and the shipped baselines read.
- `expert`: as many expert episodes as the suboptimal set holds (bc_expert's data: can the learner learn the
  task at all?), with the same camera, so that a mixed setting can be labelled too.
- `val_hesitation`, `val_retry`: held-out episodes, no camera: the held-out loss that decides when training
  has plateaued. Never trained on.
Simulator seeds never overlap: training sets at 0 / 50,000 / 80,000, held-out at 90,000 / 95,000, and the
rollouts' placements at 100,000 + 1,000 x training seed + trial (`arms.ROLLOUT_SEED`).

Values (`label`): the default WVM (`value`) and the shipped baselines (`value_baseline_frame`,
`value_baseline_temporal`) through `curate label-values` in-process; beside them `value_gt`, the annotation
table's ground-truth curves (eqs. B.2/B.3), and `value_time` = t/(T-1). A column whose model changed since it
was written (another fingerprint) is written again.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robodata.columns import read_provenance

CAMERA = "robot0_eye_in_hand"
IMAGE_SIZE = 64
GENERATOR = "v2"
INPUTS = ("observation.state", "observation.environment_state")
# set -> (robosuite_eval generate --mode, first simulator seed, cameras)
SETS = {
    "hesitation": ("hesitation", 0, (CAMERA,)),
    "retry": ("retry", 50_000, (CAMERA,)),
    "expert": ("expert", 80_000, (CAMERA,)),
    "val_hesitation": ("hesitation", 90_000, ()),
    "val_retry": ("retry", 95_000, ()),
}
SUBOPTIMAL = ("hesitation", "retry")
VALIDATION = ("val_hesitation", "val_retry")
BASELINES = {"baseline-frame": "value_baseline_frame", "baseline-temporal": "value_baseline_temporal"}
LABELLED_BY = (("default", "value"), *BASELINES.items())  # (model spec, the column it writes)
#: the value columns an arm can read, by the name the reports use
VALUE_SOURCES = {
    "default": "value",
    "gt": "value_gt",
    "time": "value_time",
    "frame": "value_baseline_frame",
    "temporal": "value_baseline_temporal",
}


@dataclass(frozen=True)
class Suite:
    """What differs between embodiments: the sets (mode, first seed, cameras), the recording rate and the
    control rate, the value models that label the camera sets, and the learner's chunk (H, τ) and replanning.
    `ROBOSUITE` is the RoboSuite grid's (its results were made with exactly these values); `bench.downstream.
    agilex` defines AgileX (sim)'s."""

    name: str = "robosuite"
    sets: dict = field(default_factory=lambda: dict(SETS))
    fps: int = 10
    control_freq: int = 20
    generator: str | None = GENERATOR
    labelled_by: tuple = LABELLED_BY
    chunk: int = 10  # H
    tau: float = 10.0
    replan: int = 5  # actions executed per predicted chunk
    preset: str = "none"  # policy_ft --preset (chunk and τ are passed explicitly either way)

    @property
    def stride(self) -> int:
        """Control steps per recorded frame."""
        return self.control_freq // self.fps


ROBOSUITE = Suite()


def dataset_dir(work: Path, task: str, name: str) -> Path:
    return Path(work) / "data" / f"{task}_{name}"


def episodes_of(name: str, episodes: int, val_episodes: int) -> int:
    """Episodes of a set: `episodes` per suboptimal mode, as many experts as both modes together."""
    return val_episodes if name in VALIDATION else 2 * episodes if name == "expert" else episodes


def generate(work: Path, task: str, name: str, episodes: int, workers: int = 2, suite: Suite = ROBOSUITE) -> Path:
    """One set of one task; resumes a killed run, and is a no-op once the set is complete."""
    from robosuite_eval.config import GenerateConfig
    from robosuite_eval.embodiments import get_task
    from robosuite_eval.generate import generate_task

    mode, seed, cameras = suite.sets[name]
    out = dataset_dir(work, task, name)
    gcfg = GenerateConfig(
        out=out,
        task=task,
        mode=mode,
        episodes=episodes,
        seed=seed,
        fps=suite.fps,
        image_size=IMAGE_SIZE,
        cameras=cameras,
        workers=workers,
        generator=suite.generator,
    )
    return generate_task(gcfg, get_task(task), out)


def episode_lengths(root: Path) -> list[int]:
    """T (recorded frames) of every episode, from the generation record."""
    return [int(e["T"]) for e in json.loads((Path(root) / "meta" / "robosuite_eval.json").read_text())["episodes"]]


def rollout_limit(expert_root: Path, factor: float = 1.5, quantile: float = 0.95, stride: int = 2) -> dict:
    """The rollout limit, fixed before any rollout: `factor` x the `quantile` of the expert episodes'
    durations, in control steps (recorded frames x `stride`: RoboSuite 10 fps frames x 2 at 20 Hz). A policy
    not done by then is stuck or far slower than an expert."""
    T = np.asarray(episode_lengths(expert_root), dtype=float)
    frames = float(np.quantile(T, quantile))
    return {
        "control_steps": int(math.ceil(factor * frames * stride)),
        "rule": f"{factor:g} x q{quantile * 100:.0f} of the expert durations",
        "expert_frames_q50_q95_max": [float(np.median(T)), frames, float(T.max())],
        "experts": int(T.size),
    }


def label(root: Path, learned: bool = True, labelled_by: tuple = LABELLED_BY) -> set[str]:
    """Write the value columns of one dataset (see the module docstring); returns the columns written now.
    `learned=False` writes only the ground truth and time (sets without a camera); `labelled_by`: the
    (model spec, column) pairs of the learned models."""
    from curate.config import LabelConfig
    from curate.label_values import run_label
    from robodata.annotations import read_annotations
    from robodata.columns import commit_columns
    from robodata.dataset import frame_table
    from robodata.ground_truth import progress_curve

    prov = read_provenance(root)
    written = set()
    for spec, column in labelled_by if learned else ():
        previous = prov.get(column, {}).get("fingerprint")
        if previous != model_fingerprint(spec):  # new, or the shipped model changed since: (re)label
            run_label(
                LabelConfig(dataset=root, model=spec, column=column, address="local", overwrite=previous is not None)
            )
            written.add(column)
    if {"value_gt", "value_time"} <= set(read_provenance(root)):
        return written
    frames = frame_table(root)
    ep, fi = frames["episode_index"], frames["frame_index"]
    gt = np.full(ep.size, np.nan, dtype=np.float32)
    tm = np.full(ep.size, np.nan, dtype=np.float32)
    for row in read_annotations(root):
        rows = np.flatnonzero(ep == row["episode_index"])
        T = int(row["T"])
        if rows.size != T:
            raise ValueError(f"{root}: episode {row['episode_index']} has {rows.size} frames, its annotation T={T}")
        curve = progress_curve(row["mode"], T, row.get("m"), row.get("n"))
        gt[frames["index"][rows]] = curve[fi[rows]]
        tm[frames["index"][rows]] = fi[rows] / (T - 1)
    commit_columns(
        root,
        {"value_gt": gt, "value_time": tm},
        {
            "value_gt": {"model": "ground_truth", "source": "meta/suboptimal_annotations.parquet (eqs. B.2/B.3)"},
            "value_time": {"model": "time", "source": "t / (T - 1)"},
        },
    )
    return written | {"value_gt", "value_time"}


_FINGERPRINTS: dict[str, str] = {}


def model_fingerprint(spec: str) -> str:
    """The fingerprint `curate label-values` records for `spec` now (each model loaded once per process)."""
    if spec not in _FINGERPRINTS:
        from value_labeling.models import load_value_model

        _FINGERPRINTS[spec] = load_value_model(spec).fingerprint()
    return _FINGERPRINTS[spec]


def values_record(roots: list[Path], column: str) -> dict:
    """What an arm's weights are computed from: the column and its provenance in every dataset."""
    return {"column": column, "provenance": {r.name: read_provenance(r).get(column) for r in roots}}


def is_labelled(roots: dict, learned: tuple[str, ...], labelled_by: tuple = LABELLED_BY) -> bool:
    """Whether every set exists with its value columns (the learned ones on the sets in `learned`)."""
    for name, root in roots.items():
        if not (Path(root) / "meta" / "info.json").is_file():
            return False
        want = {"value_gt", "value_time"} | ({c for _, c in labelled_by} if name in learned else set())
        if not want <= set(read_provenance(root)):
            return False
    return True


def prepare(
    work: Path,
    task: str,
    episodes: int,
    val_episodes: int,
    workers: int = 2,
    learned: tuple[str, ...] = (),
    suite: Suite = ROBOSUITE,
) -> dict:
    """Every set of one task generated, with ground-truth and time values, and the learned models' values on
    the sets named in `learned`; returns {set: dataset root}."""
    roots = {}
    for name in suite.sets:
        root = generate(work, task, name, episodes_of(name, episodes, val_episodes), workers, suite)
        label(root, learned=name in learned, labelled_by=suite.labelled_by)
        roots[name] = root
    return roots
