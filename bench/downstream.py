"""Downstream proof at CPU scale (paper §5.2, appendix E, Figure 6): value-weighted BC against plain BC.

    python -m bench.downstream [--work bench/work/downstream] [--tasks lift pickplace_can pickplace_bread]

Every stage is cached under --work and a rerun resumes where the last one stopped:
1. data: per task, `robosuite_eval generate` hesitation and retry episodes (suboptimal only, as the paper
   fine-tunes on suboptimal data only; --generator, v1 for the recorded grid, which started before the
   human-paced v2 landed), recording observation.state, observation.environment_state (the objects'
   poses) and only the wrist camera robot0_eye_in_hand at 64x64, the camera the embedded default value model
   and the shipped baselines read. Every arm trains on these same trajectories.
2. values: `curate label-values` with the default model (column `value`) and with each shipped learned
   baseline (`baseline-frame` -> `value_baseline_frame`, `baseline-temporal` -> `value_baseline_temporal`),
   in-process; beside them `value_gt`, the annotation table's ground-truth curves (eqs. B.2/B.3), and
   `value_time` = t/(T-1). When a shipped model changes (another fingerprint), its column is labelled again
   and every arm-seed trained on the old values, or (AWR) at a τ that the new default's values change, is moved
   aside and trained again (values.json and run_config.json in each checkpoint record what it read), so no
   result mixes two models' values.
3. analysis per task, from the training data only (never from evaluation rollouts): τ from Δ (eq. E.4, H = the
   policy's chunk length) of the default model's values: τ = ln(δ) / q90(Δ), i.e. the clip δ is reached at the
   90th percentile of Δ. The paper's τ = 10 was set for human-paced data (AgileX/RoboSuite teleoperation); our
   scripted episodes last ~10 s at 10 fps, so a normal chunk's Δ is ~0.09 and exp(10 Δ) would sit at the clip
   for most frames (AWR would weight progress and stalls 2:1 at best). The same τ serves every AWR arm of a
   task; the fraction clipped at τ = 10 is reported too. awr_baseline's baseline is the one whose values are
   closer to the ground truth on the task's training frames (lower per-frame RMSE), a rule fixed before any
   rollout; how far its values are from the default model's (RMSE, Pearson r of values and of Δ) is reported.
4. arms, per task and training seed, one `policy_ft train` each on both datasets (`--dataset H --dataset R`):
   bc (--weighting none), fbc_binary (Δ >= 0), fbc_top70 (top 70% of Δ), awr (default model's values),
   awr_gt (ground-truth values), awr_time (the time reference: weighting without information), awr_baseline
   (the chosen learned baseline's values). Same policy, steps, batch and learning rate everywhere; AWR weights
   renormalised per batch (appendix E). Policy: LeRobot ACT trained from scratch on state-only inputs
   (observation.state + observation.environment_state): π0.5 weights cannot be fetched here, and ACT predicts
   a chunk in one forward pass (Diffusion Policy needs its denoising steps per chunk). Checkpoints and
   rollouts are cached under a name of the budget (`run_tag`: size, steps, batch, lr, H, episodes, clip, τ),
   so a new budget never reuses an old budget's runs. The grid runs seed-major (every task under seed 0, then
   seed 1): a run cut short still compares every arm on every task it reached.
5. evaluation: `robosuite_eval rollout` of every checkpoint, --trials seeded trials per training seed
   (placements seed rollout_seed + 1000 * training seed + i: the same placements for every arm, never a
   training placement), closed loop executing --replan-steps of each H-action chunk; no camera is rendered.
6. results: bench/results/downstream.{json,md,png}: successes / trials with 95% Wilson intervals per arm and
   task (and per seed), mean control steps to success over the successful trials, the weight statistics,
   the CPU seconds of every arm-seed; the README's table between its markers.

Sizes. The policy budget (ACT size, steps, batch) was chosen by `python -m bench.downstream_pilot` from plain
BC's success on Lift alone (training seed 0, 25 trials; bench/results/downstream_pilot.md), never from the
weighted arms: the issue asks for a budget under which BC is neither at 0% nor at 100%, at a CPU cost this
shared 2-core machine can pay for 42 arm-seeds. 40 + 40 episodes per task (the feasibility run put an MLP's BC
on 80 Lift episodes at 20-60%), 25 trials per training seed, and a rollout limit of twice the longest training
episode (a policy not done by then is stuck; failed trials then cost less than the task horizon). The third
task is PickPlaceBread: Stack, the first choice, kept plain BC at 0/25 even with its limit doubled
(bench/results/downstream_pilot_stack.md), and BC's own pilot put PickPlaceBread above 0
(bench/results/downstream_pilot_bread.md); no weighted arm was consulted for either choice. Slices of
the grid can run as separate processes on one --work (`--tasks lift --seeds 0 --arms awr`), and
`--report-only` gathers them. A GPU run would scale --episodes, --steps and the policy size up, and could put
the wrist images back into the policy (image inputs need the rendered rollouts this CPU run avoids).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from bench import replace_readme_block, write_results_json
from robodata import atomic
from robodata.columns import read_provenance
from runtime.priority import keep_normal_priority

ARMS = ("bc", "fbc_binary", "fbc_top70", "awr", "awr_gt", "awr_time", "awr_baseline")
# arm -> (policy_ft --weighting, value column); awr_baseline's column is chosen per task (choose_baseline)
ARM_WEIGHTING = {
    "bc": ("none", "value"),
    "fbc_binary": ("binary", "value"),
    "fbc_top70": ("percentile", "value"),
    "awr": ("awr", "value"),
    "awr_gt": ("awr", "value_gt"),
    "awr_time": ("awr", "value_time"),
    "awr_baseline": ("awr", None),
}
# the shipped learned baselines (value_labeling/models) and the column each one's values go to
BASELINES = {"baseline-frame": "value_baseline_frame", "baseline-temporal": "value_baseline_temporal"}
MODES = ("hesitation", "retry")
MODE_SEED = {"hesitation": 0, "retry": 50_000}  # different placements for the two datasets
INPUTS = ("observation.state", "observation.environment_state")
CAMERA = "robot0_eye_in_hand"
RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class DownstreamConfig:
    """BC vs Filtered-BC vs AWR on suboptimal RoboSuite data, state-only ACT trained from scratch."""

    work: Path = Path("bench/work/downstream")
    """Cache of every stage (datasets, checkpoints, rollouts); rerunning resumes from it."""
    tasks: tuple[str, ...] = ("lift", "pickplace_can", "pickplace_bread")
    """Stack was the third task first; plain BC stayed at 0% on it, even with the rollout limit doubled
    (bench/results/downstream_pilot_stack.md), so PickPlaceBread replaced it, chosen from BC's pilot alone
    (bench/results/downstream_pilot_bread.md)."""
    arms: tuple[Literal["bc", "fbc_binary", "fbc_top70", "awr", "awr_gt", "awr_time", "awr_baseline"], ...] = ARMS
    episodes: int = 40
    """Episodes per mode and task (hesitation and retry each)."""
    generator: Literal["v1", "v2"] = "v1"
    """`robosuite_eval generate --generator`: the recorded grid ran on v1 (it started before v2, the
    human-paced generator with 2-8 s hesitations, landed); v2 data, checkpoints and rollouts are cached apart."""
    seeds: tuple[int, ...] = (0, 1)
    """Training seeds per arm."""
    trials: int = 25
    """Rollout trials per training seed (trials x seeds per arm and task)."""
    steps: int = 600
    batch_size: int = 256
    lr: float = 1e-3
    chunk_length: int = 10
    """H: the policy's action chunk and the advantage's horizon (eq. E.4)."""
    replan_steps: int = 5
    """Actions executed from each chunk before the policy is asked again."""
    size: Literal["tiny", "small", "default"] = "small"
    """ACT size (policy_ft --size); steps, batch and size were chosen by bench/downstream_pilot.py from BC alone."""
    clip: float = 2.0
    """AWR clip δ (eq. E.7, the paper's)."""
    tau: float | None = None
    """AWR τ for every task; default: per task, ln(δ) / q90(Δ of the default model's values)."""
    max_steps: int | None = None
    """Rollout time limit in control steps (20 Hz); default: per task, twice the longest training episode
    (a policy that has not succeeded by then is stuck; failed trials then cost less than the task horizon)."""
    task_max_steps: tuple[str, ...] = ()
    """Per-task rollout limits as TASK=STEPS (e.g. stack=872), over --max-steps: for a task on which plain BC
    sits at 0% (chosen from BC's rollouts alone, never from a weighted arm's)."""
    rollout_seed: int = 100_000
    image_size: int = 64
    out: Path = RESULTS / "downstream"
    """Results prefix: .json, .md and .png are written beside it."""
    report_only: bool = False
    """Train and roll out nothing: write the results of the arm-seeds already finished in --work (several
    processes can share one --work when each runs other --arms/--seeds; this then gathers them)."""


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its finished children."""
    import resource

    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def say(msg: str) -> None:
    print(f"[downstream {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------- stages


def gen_suffix(cfg: DownstreamConfig) -> str:
    """'' for v1 (the recorded grid's cache names), '_v2' for v2."""
    return "" if cfg.generator == "v1" else f"_{cfg.generator}"


def dataset_dir(cfg: DownstreamConfig, task: str, mode: str) -> Path:
    return cfg.work / "data" / f"{task}_{mode}{gen_suffix(cfg)}"


def generate(cfg: DownstreamConfig, task: str, mode: str) -> Path:
    from robosuite_eval.config import GenerateConfig
    from robosuite_eval.generate import generate_task
    from robosuite_eval.tasks import get_task

    out = dataset_dir(cfg, task, mode)
    gcfg = GenerateConfig(
        out=out,
        task=task,
        mode=mode,
        episodes=cfg.episodes,
        seed=MODE_SEED[mode],
        image_size=cfg.image_size,
        cameras=(CAMERA,),
        workers=0,
        generator=cfg.generator,
    )
    return generate_task(gcfg, get_task(task), out)


def label(root: Path) -> set[str]:
    """The default model's and the shipped baselines' values (curate label-values, each in its own column),
    then the ground-truth and time columns. A column whose model has changed since it was written (another
    fingerprint) is written again. Returns the columns written now."""
    from curate.config import LabelConfig
    from curate.label_values import run_label
    from robodata.annotations import read_annotations
    from robodata.columns import commit_columns
    from robodata.dataset import frame_table
    from robodata.ground_truth import progress_curve

    prov = read_provenance(root)
    written = set()
    for spec, column in LABELLED_BY:
        previous = prov.get(column, {}).get("fingerprint")
        if previous != model_fingerprint(spec):  # new, or the shipped model changed since: (re)label
            run_label(
                LabelConfig(dataset=root, model=spec, column=column, address="local", overwrite=previous is not None)
            )
            written.add(column)
    if {"value_gt", "value_time"} <= set(prov):
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
LABELLED_BY = (("default", "value"), *BASELINES.items())  # (model spec, the column it writes)


def superseded(value_models: dict) -> dict:
    """Value columns written by a model that no longer ships (the shipped fingerprint changed since the
    arms trained on them): {column: {model, labelled, shipped}}. A report read later than its run says so,
    instead of passing off the earlier model's result as today's."""
    out = {}
    for spec, column in LABELLED_BY:
        labelled = {m.get(column, {}).get("fingerprint") for m in value_models.values()} - {None}
        if labelled and labelled != {model_fingerprint(spec)}:
            name = next(m[column]["model"] for m in value_models.values() if column in m)
            out[column] = {"model": name, "labelled": sorted(labelled), "shipped": model_fingerprint(spec)}
    return out


def model_fingerprint(spec: str) -> str:
    """The fingerprint `curate label-values` records for `spec` now (each model loaded once per process)."""
    if spec not in _FINGERPRINTS:
        from value_labeling.models import load_value_model

        _FINGERPRINTS[spec] = load_value_model(spec).fingerprint()
    return _FINGERPRINTS[spec]


def values_record(roots: list[Path], column: str) -> dict:
    """What an arm's weights are computed from: the column and its provenance in every dataset (model,
    fingerprint, when it was labelled)."""
    return {"column": column, "provenance": {r.name: read_provenance(r).get(column) for r in roots}}


def values_current(
    cfg: DownstreamConfig, task: str, arm: str, seed: int, roots: list[Path], column: str, tau: float | None = None
) -> bool:
    """Whether this arm-seed's checkpoint (if any) was trained on the values its datasets hold now, and, for
    an AWR arm, at today's τ (under the default rule τ comes from the default model's values, so relabelling
    them changes every AWR arm's weights, the ground truth's and the clock's too). A checkpoint records its
    values in values.json and its τ in run_config.json; one trained before the values record existed counts
    as current when every dataset's column was labelled before it was trained (and is then given the record)."""
    from datetime import datetime

    d = train_dir(cfg, task, arm, seed)
    summary, record = d / "train_summary.json", d / "values.json"
    if ARM_WEIGHTING[arm][0] == "none" or not summary.is_file():
        return True  # plain BC reads no values; nothing trained yet
    if ARM_WEIGHTING[arm][0] == "awr" and tau is not None and (d / "run_config.json").is_file():
        trained_tau = json.loads((d / "run_config.json").read_text()).get("tau")
        if trained_tau is None or not math.isclose(trained_tau, tau, rel_tol=1e-9):
            return False
    now = values_record(roots, column)
    if record.is_file():
        return json.loads(record.read_text()) == now
    provs, trained_at = list(now["provenance"].values()), summary.stat().st_mtime
    if any(p is None for p in provs):
        return False
    if all(
        p.get("labelled_at") is None or datetime.fromisoformat(p["labelled_at"]).timestamp() <= trained_at
        for p in provs
    ):
        atomic.write_json(record, now)
        return True
    return False


def retire(cfg: DownstreamConfig, task: str, arm: str, seed: int) -> None:
    """Move an arm-seed's checkpoint and rollouts aside (never deleted) so that it trains again."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    for d in (train_dir(cfg, task, arm, seed), rollout_dir(cfg, task, arm, seed)):
        if d.exists():
            d.rename(d.with_name(f"{d.name}.retired-{stamp}"))


def deltas(roots: list[Path], column: str, H: int) -> np.ndarray:
    from policy_ft.data import chunk_deltas

    return np.concatenate([chunk_deltas(r, H, column) for r in roots])


def choose_tau(cfg: DownstreamConfig, roots: list[Path], baseline_column: str) -> dict:
    """τ from the training data's Δ (default model's values), with the rule and what τ = 10 would do."""
    d = deltas(roots, "value", cfg.chunk_length)
    q90 = float(np.quantile(d, 0.9))
    tau = cfg.tau if cfg.tau is not None else math.log(cfg.clip) / max(q90, 1e-3)
    info = {
        "tau": tau,
        "rule": "given" if cfg.tau is not None else "ln(clip) / q90(delta of the default model)",
        "delta_q10_q50_q90": [float(np.quantile(d, q)) for q in (0.1, 0.5, 0.9)],
        "frames": int(d.size),
    }
    for col in ("value", "value_gt", "value_time", baseline_column):
        dc = deltas(roots, col, cfg.chunk_length)
        w = np.minimum(np.exp(tau * dc), cfg.clip)
        info[col] = {
            "clipped_fraction": float(np.mean(np.exp(tau * dc) >= cfg.clip)),
            "clipped_fraction_at_tau10": float(np.mean(np.exp(10.0 * dc) >= cfg.clip)),
            "weight_mean": float(w.mean()),
            "weight_cv": float(w.std() / w.mean()),
            "delta_mean": float(dc.mean()),
            "delta_q50": float(np.median(dc)),
        }
    return info


def value_quality(roots: list[Path], H: int) -> dict:
    """How close each column's values are to the ground-truth curves (per frame), and Δ agreement; for the
    baselines also how far they are from the default model's values (what awr_baseline changes against awr)."""
    from policy_ft.data import read_frame_columns

    def values(col: str) -> np.ndarray:
        return np.concatenate([read_frame_columns(r, col)[2] for r in roots])

    out = {}
    g, dg = values("value_gt"), deltas(roots, "value_gt", H)
    v0, d0 = values("value"), deltas(roots, "value", H)
    for col in ("value", "value_time", *BASELINES.values()):
        v, d = values(col), deltas(roots, col, H)
        out[col] = {
            "rmse_vs_gt": float(np.sqrt(np.mean((v - g) ** 2))),
            "pearson_vs_gt": float(np.corrcoef(v, g)[0, 1]),
            # what AWR and the filters see: the chunk advantage, against the ground truth's
            "delta_pearson_vs_gt": float(np.corrcoef(d, dg)[0, 1]),
            "delta_sign_agreement": float(np.mean((d >= 0) == (dg >= 0))),
        }
        if col in BASELINES.values():
            out[col]["vs_default"] = {
                "rmse": float(np.sqrt(np.mean((v - v0) ** 2))),
                "pearson": float(np.corrcoef(v, v0)[0, 1]),
                "delta_pearson": float(np.corrcoef(d, d0)[0, 1]),
            }
    return out


def choose_baseline(quality: dict) -> dict:
    """awr_baseline's values: the shipped learned baseline whose values are closer to the ground-truth curves
    on this task's training frames (lower per-frame RMSE). Fixed from the training data before any rollout."""
    rmse = {m: quality[c]["rmse_vs_gt"] for m, c in BASELINES.items()}
    model = min(rmse, key=rmse.get)
    return {
        "rule": "lower per-frame RMSE against the ground truth on the training data",
        "model": model,
        "column": BASELINES[model],
        "rmse_vs_gt": rmse,
    }


def time_limit(cfg: DownstreamConfig, task: str, roots: list[Path]) -> int:
    """Rollout limit in control steps: --task-max-steps, --max-steps, else 2 x the longest training episode
    (10 fps -> 20 Hz)."""
    for item in cfg.task_max_steps:
        name, _, steps = item.partition("=")
        if not steps.isdigit() or int(steps) < 1:
            raise ValueError(f"--task-max-steps expects TASK=STEPS with STEPS >= 1, got {item!r}")
        if name == task:
            return int(steps)
    if cfg.max_steps is not None:
        return cfg.max_steps
    longest = max(
        e["T"] for r in roots for e in json.loads((r / "meta" / "robosuite_eval.json").read_text())["episodes"]
    )
    return 2 * 2 * int(longest)


def run_tag(cfg: DownstreamConfig) -> str:
    """The training budget's name: checkpoints and rollouts of one budget never stand in for another's.

    Everything that shapes a checkpoint besides the task, arm and seed (the data by its episode count and
    generator, the policy size, steps, batch, learning rate, H, the AWR clip and a given τ)."""
    tau = "auto" if cfg.tau is None else f"{cfg.tau:g}"
    return (
        f"act-{cfg.size}_steps{cfg.steps}_bs{cfg.batch_size}_lr{cfg.lr:g}_H{cfg.chunk_length}"
        f"_ep{cfg.episodes}_clip{cfg.clip:g}_tau{tau}{gen_suffix(cfg)}"
    )


def train_dir(cfg: DownstreamConfig, task: str, arm: str, seed: int) -> Path:
    return cfg.work / "train" / run_tag(cfg) / task / arm / f"seed{seed}"


def rollout_dir(cfg: DownstreamConfig, task: str, arm: str, seed: int) -> Path:
    return cfg.work / "rollout" / run_tag(cfg) / task / arm / f"seed{seed}"


def train(cfg: DownstreamConfig, task: str, arm: str, seed: int, roots: list[Path], tau: float, column: str) -> Path:
    from policy_ft.config import TrainConfig
    from policy_ft.train import run_train

    out = train_dir(cfg, task, arm, seed)
    summary = out / "train_summary.json"
    if summary.is_file() and json.loads(summary.read_text())["steps"] >= cfg.steps:
        return Path(json.loads(summary.read_text())["checkpoint"])
    weighting = ARM_WEIGHTING[arm][0]
    tcfg = TrainConfig(
        dataset=tuple(roots),
        out=out,
        policy="act",
        size=cfg.size,
        weighting=weighting,
        preset="none",
        chunk_length=cfg.chunk_length,
        tau=tau if weighting == "awr" else None,  # BC and the filters read no τ: their runs match the pilot's
        clip=cfg.clip,
        percentile=70.0,
        value_column=column,
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        inputs=INPUTS,
        save_every=cfg.steps,
        log_every=50,
        seed=seed,
        device="cpu",
    )
    c0 = cpu_seconds()
    ckpt = Path(run_train(tcfg)["checkpoint"])
    atomic.write_json(out / "cpu.json", {"cpu_s": round(cpu_seconds() - c0, 1)})
    if weighting != "none":
        atomic.write_json(out / "values.json", values_record(roots, column))
    return ckpt


def cached_rollout(cfg: DownstreamConfig, task: str, arm: str, seed: int, max_steps: int) -> dict | None:
    """The finished rollout of this arm-seed with these settings, or None."""
    done = rollout_dir(cfg, task, arm, seed) / "rollout.json"
    summary = train_dir(cfg, task, arm, seed) / "train_summary.json"
    if not (done.is_file() and summary.is_file()):
        return None
    res, trained = json.loads(done.read_text()), json.loads(summary.read_text())
    want = (cfg.trials, cfg.rollout_seed + 1000 * seed, trained["checkpoint"], max_steps, cfg.replan_steps, cfg.steps)
    got = (res["trials"], res["seed"], res["policy"], res["max_steps"], res["replan_steps"], trained["steps"])
    return res if got == want else None


def rollout(cfg: DownstreamConfig, task: str, arm: str, seed: int, checkpoint: Path, max_steps: int) -> dict:
    from robosuite_eval.config import RolloutConfig
    from robosuite_eval.rollout import run_rollout

    out = rollout_dir(cfg, task, arm, seed)
    first = cfg.rollout_seed + 1000 * seed
    res = cached_rollout(cfg, task, arm, seed, max_steps)
    if res is not None and res["policy"] == str(checkpoint):
        return res
    c0 = cpu_seconds()
    res = run_rollout(
        RolloutConfig(
            policy=str(checkpoint),
            task=task,
            trials=cfg.trials,
            seed=first,
            max_steps=max_steps,
            replan_steps=cfg.replan_steps,
            videos=0,
            out=out,
        )
    )
    atomic.write_json(out / "cpu.json", {"cpu_s": round(cpu_seconds() - c0, 1)})
    return res


def cpu_cost(cfg: DownstreamConfig, task: str, arm: str, seed: int) -> dict:
    """CPU seconds (one thread) this arm-seed's training and rollouts cost when they ran (None: not recorded)."""
    out = {}
    for stage, d in (("train", train_dir(cfg, task, arm, seed)), ("rollout", rollout_dir(cfg, task, arm, seed))):
        f = d / "cpu.json"
        out[stage] = json.loads(f.read_text())["cpu_s"] if f.is_file() else None
    return out


# ---------------------------------------------------------------------------------------------- results


def summarise(
    cfg: DownstreamConfig, command: str, runs: dict, taus: dict, quality: dict, weights: dict, sizes: dict
) -> dict:
    from robosuite_eval.rollout import wilson_interval

    tasks: dict = {}
    for task, arms in runs.items():
        tasks[task] = {}
        for arm, per_seed in arms.items():
            trials = [t for r in per_seed.values() for t in r["per_trial"]]
            ok = [t for t in trials if t["success"]]
            lo, hi = wilson_interval(len(ok), len(trials))
            tasks[task][arm] = {
                "successes": len(ok),
                "trials": len(trials),
                "seeds": sorted(per_seed),
                "rate": len(ok) / len(trials) if trials else None,
                "wilson95": [lo, hi],
                "mean_steps_to_success": float(np.mean([t["control_steps"] for t in ok])) if ok else None,
                "per_seed": {
                    str(s): {"successes": r["successes"], "trials": r["trials"], "cpu_s": cpu_cost(cfg, task, arm, s)}
                    for s, r in per_seed.items()
                },
                "weights": weights.get(task, {}).get(arm),
            }
    # the average pools only the tasks where every arm that ran anywhere ran with the same training seeds: an
    # arm never averages over other tasks or seeds than the arm it is compared with
    ran = [a for a in ARMS if any(a in cells for cells in tasks.values())]
    complete = [
        t for t in tasks if all(a in tasks[t] for a in ran) and len({tuple(tasks[t][a]["seeds"]) for a in ran}) == 1
    ]
    average = {}
    for arm in ran:
        cells = [tasks[t][arm] for t in complete]
        if cells:
            s, n = sum(c["successes"] for c in cells), sum(c["trials"] for c in cells)
            average[arm] = {"successes": s, "trials": n, "rate": s / n, "wilson95": list(wilson_interval(s, n))}
    return {
        "command": command,
        "config": json.loads(json.dumps(asdict(cfg), default=str)),
        "sizes": sizes,
        "n": "trials per arm and task = trials x seeds (rollouts)",
        "tasks": tasks,
        "arms": ran,
        "average": average,
        "average_tasks": complete,
        "tau": taus,
        "value_quality": quality,
        "verdict": verdict(average),
    }


def difference_interval(a: dict, b: dict) -> tuple[float, float, float]:
    """Rate a - rate b with Newcombe's 95% interval from the two Wilson intervals (arms treated as independent
    samples; they share rollout placements, so this is conservative)."""
    pa, pb = a["successes"] / a["trials"], b["successes"] / b["trials"]
    (la, ua), (lb, ub) = a["wilson95"], b["wilson95"]
    d = pa - pb
    return d, d - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2), d + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)


def verdict(average: dict) -> dict:
    """The issue's target on the average success over the tasks that ran: awr - bc >= 10 points, awr_gt >= awr."""
    out = {}
    for name, (a, b) in {"awr_minus_bc": ("awr", "bc"), "awr_gt_minus_awr": ("awr_gt", "awr")}.items():
        if a in average and b in average:
            d, lo, hi = difference_interval(average[a], average[b])
            out[name] = {"points": 100 * d, "ci95_points": [100 * lo, 100 * hi]}
    if "awr_minus_bc" in out:
        out["awr_beats_bc_by_10_points"] = out["awr_minus_bc"]["points"] >= 10
    if "awr_gt_minus_awr" in out:
        out["awr_gt_bounds_awr"] = out["awr_gt_minus_awr"]["points"] >= 0
    if "bc" in average:  # every arm against plain BC; beyond noise where the interval excludes 0
        out["vs_bc"] = {}
        for arm in (a for a in ARMS if a in average and a != "bc"):
            d, lo, hi = difference_interval(average[arm], average["bc"])
            call = "better" if lo > 0 else "worse" if hi < 0 else "tie"
            out["vs_bc"][arm] = {"points": 100 * d, "ci95_points": [100 * lo, 100 * hi], "beyond_noise": call}
    return out


def write_markdown(result: dict, path: Path) -> None:
    arms = result["arms"]
    lines = [
        "# Downstream: value-weighted BC vs plain BC (RoboSuite, state-only ACT from scratch)",
        "",
        f"Command: `{result['command']}`",
        "",
        f"Sizes: {result['sizes']['text']}",
        "",
        "Success = successes / trials (training seeds x rollouts each), 95% Wilson interval; steps = mean "
        "control steps (20 Hz) to success over the successful trials.",
        "",
        "| task | " + " | ".join(arms) + " |",
        "|---|" + "---|" * len(arms),
    ]
    for task, cells in result["tasks"].items():
        row = []
        for a in arms:
            c = cells.get(a)
            if c is None:
                row.append("not run")
                continue
            lo, hi = c["wilson95"]
            steps = f"{c['mean_steps_to_success']:.0f}" if c["mean_steps_to_success"] is not None else "-"
            row.append(f"{c['successes']}/{c['trials']} [{lo:.2f}, {hi:.2f}], {steps} steps")
        lines.append(f"| {task} | " + " | ".join(row) + " |")
    avg = result["average"]
    lines.append(
        f"| average ({', '.join(result['average_tasks']) or 'no task complete yet'}) | "
        + " | ".join(
            f"{avg[a]['successes']}/{avg[a]['trials']} = {avg[a]['rate']:.2f} [{avg[a]['wilson95'][0]:.2f}, "
            f"{avg[a]['wilson95'][1]:.2f}]"
            if a in avg
            else "-"
            for a in arms
        )
        + " |"
    )
    lines += [""] + verdict_lines(result["verdict"]) + superseded_lines(result.get("superseded") or {})
    lines += [
        "",
        "Per training seed (successes/trials):",
        "",
        "| task | " + " | ".join(arms) + " |",
        "|---|" + "---|" * len(arms),
    ]
    for task, cells in result["tasks"].items():
        lines.append(
            f"| {task} | "
            + " | ".join(
                ", ".join(f"s{s}: {v['successes']}/{v['trials']}" for s, v in cells[a]["per_seed"].items())
                if a in cells
                else "not run"
                for a in arms
            )
            + " |"
        )
    lines += [
        "",
        "AWR temperature per task (rule: " + next(iter(result["tau"].values()))["rule"] + "):",
        "",
        "| task | τ | Δ q10/q50/q90 (default model) | values | mean Δ | clipped at τ | clipped at τ=10 "
        "| AWR weight mean | AWR weight CV |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for task, t in result["tau"].items():
        base = result["baseline"][task]["column"]
        for i, (c, name) in enumerate(
            (("value", "default model"), ("value_gt", "ground truth"), ("value_time", "time"), (base, base))
        ):
            head = (
                f"| {task} | {t['tau']:.2f} | " + " / ".join(f"{q:.3f}" for q in t["delta_q10_q50_q90"])
                if i == 0
                else "| | |"
            )
            lines.append(
                f"{head} | {name} | {t[c]['delta_mean']:.3f} | {t[c]['clipped_fraction']:.2f} | "
                f"{t[c]['clipped_fraction_at_tau10']:.2f} | {t[c]['weight_mean']:.2f} | {t[c]['weight_cv']:.2f} |"
            )
    lines += [
        "",
        "Value quality of the training data (per frame, against the ground-truth curves; Δ with H = the chunk):",
        "",
        "| task | values | RMSE | Pearson r | Δ Pearson r | Δ sign agreement | vs default model: RMSE / r / Δ r |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, q in result["value_quality"].items():
        for c, v in q.items():
            vs = v.get("vs_default")
            vs_text = f"{vs['rmse']:.3f} / {vs['pearson']:.3f} / {vs['delta_pearson']:.3f}" if vs else "-"
            lines.append(
                f"| {task} | {'default model' if c == 'value' else c} | {v['rmse_vs_gt']:.3f} | {v['pearson_vs_gt']:.3f} | "
                f"{v['delta_pearson_vs_gt']:.3f} | {v['delta_sign_agreement']:.2f} | {vs_text} |"
            )
    lines += [
        "",
        "awr_baseline's values, per task (rule fixed before any rollout: "
        + next(iter(result["baseline"].values()))["rule"]
        + "):",
        "",
    ]
    for task, b in result["baseline"].items():
        lines.append(
            f"- {task}: {b['model']} (RMSE "
            + ", ".join(f"{m} {r:.3f}" for m, r in b["rmse_vs_gt"].items())
            + f"), column `{b['column']}`"
        )
    lines += [
        "",
        "CPU seconds per arm-seed (one thread, user + system, train + 25-trial rollouts, as recorded when each ran):",
        "",
        "| task | arm | seed | train | rollouts |",
        "|---|---|---|---|---|",
    ]
    for task, cells in result["tasks"].items():
        for a in arms:
            for seed, v in cells.get(a, {}).get("per_seed", {}).items():
                lines.append(f"| {task} | {a} | {seed} | {v['cpu_s']['train']} | {v['cpu_s']['rollout']} |")
    path.write_text("\n".join(lines) + "\n")


def verdict_lines(v: dict) -> list[str]:
    lines = []
    if "awr_minus_bc" in v:
        d = v["awr_minus_bc"]
        lines.append(
            f"- Target (AWR with the default model beats BC by >= 10 points of average success): "
            f"{'met' if v['awr_beats_bc_by_10_points'] else 'not met'}: awr - bc = {d['points']:+.0f} points "
            f"(95% interval [{d['ci95_points'][0]:+.0f}, {d['ci95_points'][1]:+.0f}])."
        )
    if "awr_gt_minus_awr" in v:
        d = v["awr_gt_minus_awr"]
        lines.append(
            f"- Bound (AWR with ground-truth values at least as good as AWR with the default model's): "
            f"{'holds' if v['awr_gt_bounds_awr'] else 'does not hold'}: awr_gt - awr = {d['points']:+.0f} points "
            f"(95% interval [{d['ci95_points'][0]:+.0f}, {d['ci95_points'][1]:+.0f}])."
        )
    if v.get("vs_bc"):
        arms = v["vs_bc"]
        lines.append(
            "- Every arm minus BC (average success, points, 95% interval): "
            + "; ".join(
                f"{a} {d['points']:+.0f} [{d['ci95_points'][0]:+.0f}, {d['ci95_points'][1]:+.0f}]"
                for a, d in arms.items()
            )
            + ". Better than BC beyond noise: "
            + (", ".join(a for a, d in arms.items() if d["beyond_noise"] == "better") or "none")
            + "; worse: "
            + (", ".join(a for a, d in arms.items() if d["beyond_noise"] == "worse") or "none")
            + "."
        )
    return lines


def superseded_lines(sup: dict) -> list[str]:
    if not sup:
        return []
    return [
        "- Values from models that no longer ship: "
        + "; ".join(
            f"`{c}` by `{d['model']}` (fingerprint {', '.join(d['labelled'])}; shipped now: {d['shipped']})"
            for c, d in sup.items()
        )
        + ". This result is the earlier models'; `python -m bench.downstream` relabels the data and retrains "
        "the arm-seeds that read those values (and, when the default changed, every AWR arm, whose τ follows it)."
    ]


def readme_snippet(result: dict) -> str:
    """The README's downstream table and evidence lines, generated from the results (no typed figures)."""
    md = Path(result["md"]).read_text().splitlines()
    start = next(i for i, line in enumerate(md) if line.startswith("| task |"))
    end = next(i for i in range(start, len(md)) if md[i].startswith("| average ("))
    lines = [f"From `bench/results/downstream.md` (`{result['command']}`; {result['sizes']['text']}):", ""]
    lines += md[start : end + 1] + [""]
    lines += verdict_lines(result["verdict"])
    lines += superseded_lines(result.get("superseded") or {})
    for task, t in result["tau"].items():
        q = result["value_quality"][task]
        lines.append(
            f"- {task}: τ = {t['tau']:.2f}; Δ of the default model q10/q50/q90 = "
            + " / ".join(f"{v:.3f}" for v in t["delta_q10_q50_q90"])
            + f"; AWR weight coefficient of variation {t['value']['weight_cv']:.2f} (ground truth "
            f"{t['value_gt']['weight_cv']:.2f}, time {t['value_time']['weight_cv']:.2f}); at τ = 10, "
            f"{t['value']['clipped_fraction_at_tau10']:.0%} of the chunks would sit at the clip; per-frame "
            f"RMSE against the ground truth: default model {q['value']['rmse_vs_gt']:.3f}, time "
            f"{q['value_time']['rmse_vs_gt']:.3f} (Pearson r {q['value']['pearson_vs_gt']:.3f} vs "
            f"{q['value_time']['pearson_vs_gt']:.3f}); Pearson r of Δ against the ground truth's Δ: default model "
            f"{q['value']['delta_pearson_vs_gt']:.3f}, time {q['value_time']['delta_pearson_vs_gt']:.3f}; sign of Δ "
            f"agrees with the ground truth's on {q['value']['delta_sign_agreement']:.0%} of the chunks "
            f"(time {q['value_time']['delta_sign_agreement']:.0%})."
        )
        b = result["baseline"][task]
        qb = q[b["column"]]
        lines.append(
            f"- {task}, awr_baseline: `{b['model']}` (rule: {b['rule']}; RMSE "
            + ", ".join(f"{m} {r:.3f}" for m, r in b["rmse_vs_gt"].items())
            + f"); its values differ from the default model's by RMSE {qb['vs_default']['rmse']:.3f} (Pearson r "
            f"{qb['vs_default']['pearson']:.3f}, Δ Pearson r {qb['vs_default']['delta_pearson']:.3f}); its Δ "
            f"against the ground truth's Δ: Pearson r {qb['delta_pearson_vs_gt']:.3f} (default model "
            f"{q['value']['delta_pearson_vs_gt']:.3f}); AWR weight CV {t[b['column']]['weight_cv']:.2f}."
        )
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = result["arms"]
    groups = list(result["tasks"]) + (["average"] if result["average"] else [])
    fig, ax = plt.subplots(figsize=(3.4 + 2.2 * len(groups), 4.4))
    width = 0.8 / len(arms)
    colors = plt.get_cmap("tab10")
    for i, arm in enumerate(arms):
        xs, ys, lo, hi = [], [], [], []
        for g, name in enumerate(groups):
            c = result["average"].get(arm) if name == "average" else result["tasks"][name].get(arm)
            if c is None:
                continue
            xs.append(g + (i - (len(arms) - 1) / 2) * width)
            ys.append(100 * c["rate"] if "rate" in c else 100 * c["successes"] / c["trials"])
            lo.append(max(0.0, ys[-1] - 100 * c["wilson95"][0]))  # Wilson's bound at 0/n can be ~1e-17
            hi.append(max(0.0, 100 * c["wilson95"][1] - ys[-1]))
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, color=colors(i), label=arm, error_kw={"lw": 0.8})
        for x, g in zip(
            xs,
            [
                g
                for g in groups
                if (result["average"].get(arm) if g == "average" else result["tasks"][g].get(arm)) is not None
            ],
        ):
            c = result["average"][arm] if g == "average" else result["tasks"][g][arm]
            ax.text(
                x,
                100 * c["wilson95"][1] + 1,
                f"{c['successes']}/{c['trials']}",
                rotation=90,
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_xticks(
        range(len(groups)),
        [g if g != "average" else f"average over\n{', '.join(result['average_tasks'])}" for g in groups],
    )
    ax.set_ylim(0, 110)
    ax.set_ylabel("success rate (%)")
    ax.set_xlabel("task")
    ax.set_title(
        "Suboptimal-only fine-tuning in RoboSuite (state-only ACT from scratch): success per arm\n"
        "(successes/trials on each bar: training seeds x rollouts; error bars: 95% Wilson interval)",
        fontsize=10,
    )
    ax.legend(title="arm", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- driver


def run(cfg: DownstreamConfig, command: str) -> dict:
    from robosuite_eval.tasks import get_task

    for t in cfg.tasks:
        get_task(t)  # bad task names fail before any work
    if cfg.episodes < 1 or cfg.trials < 1 or cfg.steps < 1 or not cfg.seeds:
        raise ValueError("--episodes, --trials, --steps must be >= 1 and --seeds non-empty")
    t_start = time.perf_counter()
    cfg.work.mkdir(parents=True, exist_ok=True)
    timings: dict = {}
    roots: dict[str, list[Path]] = {}
    taus, quality, baselines, limits = {}, {}, {}, {}
    runs: dict = {t: {} for t in cfg.tasks}
    weights: dict = {t: {} for t in cfg.tasks}
    total = len(cfg.tasks) * len(cfg.arms) * len(cfg.seeds)
    k = 0

    def prepare(task: str) -> bool:
        """Data, values and analysis of one task (cached); False: report-only and never analysed."""
        path = cfg.work / "analysis" / f"{task}{gen_suffix(cfg)}.json"
        if cfg.report_only and not path.is_file():
            say(f"{task}: no values analysed yet, so nothing trained: left out of the report")
            return False
        roots[task] = []
        for mode in MODES:
            t0 = time.perf_counter()
            say(f"data: {task} {mode} x{cfg.episodes} (wrist camera {cfg.image_size}x{cfg.image_size})")
            roots[task].append(generate(cfg, task, mode))
            timings[f"generate/{task}/{mode}"] = time.perf_counter() - t0
        for root in roots[task]:
            if cfg.report_only:
                continue  # report what the datasets hold; runs on values that changed since are left out
            t0 = time.perf_counter()
            say(f"values: {root.name} (default model, shipped baselines, ground truth, time)")
            label(root)
            timings[f"label/{root.name}"] = time.perf_counter() - t0
        # cached: reading every value column several times costs minutes on a loaded machine
        key = {"episodes": cfg.episodes, "chunk_length": cfg.chunk_length, "clip": cfg.clip, "tau": cfg.tau, "v": 3}
        key["values"] = {
            r.name: {c: (p or {}).get("fingerprint") for c, p in read_provenance(r).items()} for r in roots[task]
        }
        cached = json.loads(path.read_text()) if path.is_file() else None
        if cached is None or cached["key"] != key:
            q = value_quality(roots[task], cfg.chunk_length)
            base = choose_baseline(q)
            cached = {"key": key, "tau": choose_tau(cfg, roots[task], base["column"]), "quality": q, "baseline": base}
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_json(path, cached)
        taus[task], quality[task], baselines[task] = cached["tau"], cached["quality"], cached["baseline"]
        limits[task] = time_limit(cfg, task, roots[task])
        say(
            f"{task}: rollout limit {limits[task]} control steps; tau {taus[task]['tau']:.2f} ({taus[task]['rule']}); "
            f"clipped fraction at tau=10: {taus[task]['value']['clipped_fraction_at_tau10']:.2f}; awr_baseline reads "
            f"{baselines[task]['model']}"
        )
        return True

    # seed-major: every task's arms under training seed 0 first, then seed 1: a run cut short still compares
    # all arms on every task (one seed) instead of some tasks on both seeds and the others not at all
    ready: dict[str, bool] = {}
    for seed in cfg.seeds:
        for task in cfg.tasks:
            if task not in ready:
                ready[task] = prepare(task)
            if not ready[task]:
                k += len(cfg.arms)
                continue
            for arm in cfg.arms:
                k += 1
                column = ARM_WEIGHTING[arm][1] or baselines[task]["column"]
                current = values_current(cfg, task, arm, seed, roots[task], column, taus[task]["tau"])
                if cfg.report_only:
                    res = cached_rollout(cfg, task, arm, seed, limits[task]) if current else None
                    if not current:
                        say(
                            f"{task} {arm} seed {seed}: trained on values or a τ that changed since; left out (rerun it)"
                        )
                    if res is not None:
                        runs[task].setdefault(arm, {})[seed] = res
                        ws = train_dir(cfg, task, arm, seed) / "weights_summary.json"
                        weights[task][arm] = json.loads(ws.read_text())
                    continue
                t0 = time.perf_counter()
                if not current:
                    say(f"[{k}/{total}] {task} {arm} seed {seed}: its values (or τ) changed; old run moved aside")
                    retire(cfg, task, arm, seed)
                say(f"[{k}/{total}] train {task} {arm} seed {seed}")
                ckpt = train(cfg, task, arm, seed, roots[task], taus[task]["tau"], column)
                t1 = time.perf_counter()
                say(f"[{k}/{total}] rollout {task} {arm} seed {seed} ({cfg.trials} trials)")
                res = rollout(cfg, task, arm, seed, ckpt, limits[task])
                timings[f"train/{task}/{arm}/{seed}"] = t1 - t0
                timings[f"rollout/{task}/{arm}/{seed}"] = time.perf_counter() - t1
                runs[task].setdefault(arm, {})[seed] = res
                ws = train_dir(cfg, task, arm, seed) / "weights_summary.json"
                weights[task][arm] = json.loads(ws.read_text()) if ws.is_file() else None
                say(f"[{k}/{total}] {task} {arm} seed {seed}: {res['successes']}/{res['trials']}")
                write_results(cfg, command, runs, taus, quality, baselines, weights, timings, t_start, limits)
    return write_results(cfg, command, runs, taus, quality, baselines, weights, timings, t_start, limits)


def write_results(cfg, command, runs, taus, quality, baselines, weights, timings, t_start, limits) -> dict:
    sizes = {
        "episodes_per_mode": cfg.episodes,
        "generator": cfg.generator,
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "policy": f"act/{cfg.size}",
        "chunk_length": cfg.chunk_length,
        "replan_steps": cfg.replan_steps,
        "max_steps": limits,
        "trials_per_seed": cfg.trials,
        "seeds": list(cfg.seeds),
    }
    sizes["text"] = (
        f"{cfg.episodes} hesitation + {cfg.episodes} retry episodes per task (generator {cfg.generator}); "
        f"ACT {cfg.size}, "
        f"{cfg.steps} steps, batch {cfg.batch_size}, lr {cfg.lr:g}, H {cfg.chunk_length}, executing "
        f"{cfg.replan_steps} actions per chunk; rollout limit "
        f"{', '.join(f'{t} {n}' for t, n in limits.items())} control steps; {cfg.trials} trials per training seed, "
        f"seeds {', '.join(map(str, cfg.seeds))}"
    )
    done = sum(len(per_seed) for arms in runs.values() for per_seed in arms.values())
    total = len(cfg.tasks) * len(cfg.arms) * len(cfg.seeds)
    sizes["finished"] = {"arm_seeds": done, "of": total}
    if done < total:
        sizes["text"] += f"; finished {done} of {total} arm-seeds (the per-seed table says which)"
    result = summarise(cfg, command, {t: a for t, a in runs.items() if a}, taus, quality, weights, sizes)
    result["baseline"] = baselines
    # which model wrote each value column (name and fingerprint), per task: the record of what was weighted
    result["value_models"] = {
        t: {
            c: {k: p.get(k) for k in ("model", "fingerprint")}
            for c, p in read_provenance(dataset_dir(cfg, t, MODES[0])).items()
        }
        for t in result["tasks"]
    }
    result["superseded"] = superseded(result["value_models"])
    result["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    result["wall_s"] = round(time.perf_counter() - t_start, 1)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if result["tasks"]:
        write_results_json(out.with_suffix(".json"), result)
        write_markdown(result, out.with_suffix(".md"))
        plot(result, out.with_suffix(".png"))
        result["md"] = str(out.with_suffix(".md"))
        snippet = readme_snippet(result)
        out.with_name(out.name + "_readme.md").write_text(snippet + "\n")
        if out.resolve() == (RESULTS / "downstream").resolve():  # the shipped results: the README shows them
            replace_readme_block("downstream table", snippet)
    return result


def main(argv: list[str] | None = None) -> dict:
    import shlex

    import tyro

    argv = sys.argv[1:] if argv is None else argv
    cfg = tyro.cli(DownstreamConfig, args=argv, description=__doc__)
    for k, v in {
        "MUJOCO_GL": "egl",
        "PYOPENGL_PLATFORM": "egl",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "SVT_LOG": "1",
    }.items():
        os.environ.setdefault(k, v)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    keep_normal_priority()
    say("starting (imports take a few seconds)")
    import torch

    torch.set_num_threads(1)  # on a shared 2-core machine, 2 threads per op cost 20x (measured)
    command = "python -m bench.downstream " + " ".join(shlex.quote(a) for a in argv)
    try:
        return run(cfg, command.strip())
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"downstream: {err}") from None


if __name__ == "__main__":
    main()
