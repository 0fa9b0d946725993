"""Arms and settings of the downstream experiment, and what one arm-seed costs: train -> pick -> roll out.

An arm is a weighting scheme (paper appendix E) and the values it reads, named `<scheme>[_<source>]`:
- schemes: `bc` (plain BC, --weighting none), `fbc_binary` (E.6, Δ >= κ = 0), `fbc_top70` (E.6, κ = the 30th
  percentile of Δ over the training set), `strict` (Δ > ε, ε = 1e-6: E.6 with κ just above 0, so a chunk whose
  value does not rise, a ground-truth stall (Δ exactly 0) or a retraction, is dropped; the paper's κ = 0 keeps
  stalls), `awr` (E.7, w = min(exp(τ Δ), δ), τ = 10, δ = 2 as Table E.5's RoboSuite row, renormalised per batch);
- sources: none = the default WVM (`value`), `_gt` ground truth, `_time` t/(T-1), `_frame` / `_temporal` the
  shipped learned baselines, `_baseline` the baseline closer to the ground truth on the task's training frames
  (`choose_baseline`, fixed before any rollout);
- `bc_expert`: plain BC on as many expert episodes as the suboptimal set holds (can the learner learn the task?).

A setting (`Setting`) is everything else that shapes a checkpoint: learner size, step budget, data mix. Its
name is part of every cache path, so a checkpoint of one setting never stands in for another's.
Training to a plateau: checkpoints every `eval_every` steps up to `steps`; the one rolled out is the one
with the lowest held-out loss (plain L1 over every chunk of the held-out episodes, the same measure for
every arm: what the learner has learned of the task's motion, not what its weights asked for).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.downstream import data
from robodata import atomic

SCHEMES = {  # scheme -> (policy_ft --weighting, --kappa)
    "bc": ("none", 0.0),
    "fbc_binary": ("binary", 0.0),
    "fbc_top70": ("percentile", 0.0),
    "strict": ("binary", 1e-6),
    "awr": ("awr", 0.0),
}
SOURCES = {"": "default", "_gt": "gt", "_time": "time", "_frame": "frame", "_temporal": "temporal"}
TAU, CLIP, H = data.ROBOSUITE.tau, 2.0, data.ROBOSUITE.chunk  # RoboSuite's; a `data.Suite` carries another's
REPLAN = data.ROBOSUITE.replan  # actions executed per predicted 10-action chunk
ROLLOUT_SEED = 100_000  # trial i of training seed s: placement seed 100,000 + 1,000 s + i (never a training seed)


@dataclass(frozen=True)
class Setting:
    """Learner and budget (everything but task, arm and seed that shapes a checkpoint)."""

    name: str
    size: str = "small"  # policy_ft --size: mlp_chunk small 2 x 256, default 2 x 512; act small width 128
    steps: int = 3000
    eval_every: int | None = None  # None: train `steps` and use the last checkpoint; else the plateau rule
    mix: str = "suboptimal"  # "suboptimal": hesitation + retry; "mixed": + the expert set
    batch_size: int = 256
    lr: float = 1e-3
    policy: str = "mlp_chunk"  # policy_ft --policy (RoboSuite's grid: mlp_chunk; AgileX's pilot v2 also act)


def checkpoint_rule(eval_every: int | None) -> str:
    """How a setting picks its checkpoint, in the words the pilot tables use."""
    return "last" if eval_every is None else f"lowest held-out loss, every {eval_every}"


SETTINGS = {
    s.name: s
    for s in (
        Setting("mlp256_3k", size="small", steps=3000),
        Setting("mlp512_plateau", size="default", steps=8000, eval_every=1000),
        Setting("mlp256_mixed_3k", size="small", steps=3000, mix="mixed"),
        # pilot round 2 (bench.downstream.pilot's plan): lerobot ACT on the state, no image; act_state_mixed
        # shares act_state's bc_expert (the first with the same learner and budget)
        Setting("act_state", size="small", steps=3000, eval_every=1000, batch_size=64, lr=1e-4, policy="act"),
        Setting(
            "act_state_mixed",
            size="small",
            steps=3000,
            eval_every=1000,
            batch_size=64,
            lr=1e-4,
            policy="act",
            mix="mixed",
        ),
    )
}


def parse_arm(arm: str, baseline_source: str | None = None) -> tuple[str, str, float, str]:
    """arm -> (scheme, policy_ft weighting, κ, value column); `bc_expert` -> ("bc", "none", 0, "")."""
    if arm in ("bc", "bc_expert"):
        return "bc", "none", 0.0, ""
    for suffix in sorted(SOURCES, key=len, reverse=True) + ["_baseline"]:
        scheme = arm[: len(arm) - len(suffix)] if suffix else arm
        if arm.endswith(suffix) and scheme in SCHEMES and scheme != "bc":
            source = SOURCES.get(suffix) if suffix != "_baseline" else baseline_source
            if source is None:
                raise ValueError(f"arm {arm!r}: no baseline chosen for this task yet")
            weighting, kappa = SCHEMES[scheme]
            return scheme, weighting, kappa, data.VALUE_SOURCES[source]
    raise ValueError(f"unknown arm {arm!r}: <scheme>[_gt|_time|_frame|_temporal|_baseline] or bc / bc_expert")


def training_roots(roots: dict[str, Path], arm: str, setting: Setting) -> list[Path]:
    """bc_expert: the expert set; other arms: the suboptimal sets (+ the expert set in a mixed setting)."""
    if arm == "bc_expert":
        return [roots["expert"]]
    names = list(data.SUBOPTIMAL) + (["expert"] if setting.mix == "mixed" else [])
    return [roots[n] for n in names]


def arm_dir(work: Path, kind: str, setting: Setting, task: str, arm: str, seed: int) -> Path:
    return Path(work) / kind / setting.name / task / arm / f"seed{seed}"


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def train(
    work: Path,
    setting: Setting,
    task: str,
    arm: str,
    seed: int,
    roots: dict,
    baseline_source=None,
    suite: data.Suite = data.ROBOSUITE,
) -> dict:
    """Train one arm-seed (cached: a finished run is read back); returns its record. `suite`: chunk H, τ and
    policy_ft preset of the embodiment (RoboSuite's by default)."""
    from policy_ft.config import TrainConfig
    from policy_ft.train import run_train

    out = arm_dir(work, "train", setting, task, arm, seed)
    record_file = out / "arm.json"
    if record_file.is_file():
        return json.loads(record_file.read_text())
    scheme, weighting, kappa, column = parse_arm(arm, baseline_source)
    train_roots = training_roots(roots, arm, setting)
    tcfg = TrainConfig(
        dataset=tuple(train_roots),
        out=out,
        policy=setting.policy,
        size=setting.size,
        weighting=weighting,
        preset=suite.preset,
        chunk_length=suite.chunk,
        tau=suite.tau,
        clip=CLIP,
        kappa=kappa,
        percentile=70.0,
        value_column=column or "value_gt",
        steps=setting.steps,
        batch_size=setting.batch_size,
        lr=setting.lr,
        inputs=data.INPUTS,
        save_every=setting.eval_every or setting.steps,
        log_every=100,
        seed=seed,
        device="cpu",
    )
    c0, t0 = cpu_seconds(), time.time()
    result = run_train(tcfg)
    checkpoints = sorted((out / "checkpoints").glob("[0-9]*/pretrained_model"))
    val = [data.dataset_dir(work, task, n) for n in data.VALIDATION]
    losses = heldout_losses(checkpoints, val)
    chosen = int(result["steps"]) if setting.eval_every is None else min(losses, key=losses.get)
    record = {
        "arm": arm,
        "scheme": scheme,
        "weighting": weighting,
        "kappa": kappa,
        "column": column or None,
        "values": data.values_record(train_roots, column) if column else None,
        "datasets": [r.name for r in train_roots],
        "setting": asdict(setting),
        "seed": seed,
        "heldout_loss": {str(k): v for k, v in sorted(losses.items())},
        "chosen_step": chosen,
        "checkpoint": str(out / "checkpoints" / f"{chosen:06d}" / "pretrained_model"),
        "weights": json.loads(
            (out / "checkpoints" / f"{chosen:06d}" / "pretrained_model" / "policy_ft.json").read_text()
        )["weights"],
        "train_log": str(out / "train_log.jsonl"),
        "cpu_s": round(cpu_seconds() - c0, 1),
        "wall_s": round(time.time() - t0, 1),
    }
    atomic.write_json(record_file, record)
    return record


def heldout_losses(checkpoints: list[Path], roots: list[Path]) -> dict[int, float]:
    """{step: mean per-chunk L1 (the policy's own training loss, unweighted) over every frame of the held-out
    sets}, one entry per checkpoint; the held-out chunks are built once for all of them."""
    import torch
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from policy_ft import sources
    from policy_ft.policies import load_checkpoint, per_sample_loss

    sets = None
    out = {}
    for checkpoint in checkpoints:
        policy, pre, _ = load_checkpoint(checkpoint, device="cpu")
        if sets is None:  # every checkpoint of a run has the same chunk length
            sets = []
            for root in roots:
                fps = json.loads((Path(root) / "meta" / "info.json").read_text())["fps"]
                ds = LeRobotDataset(
                    repo_id=f"local/{Path(root).name}",
                    root=root,
                    delta_timestamps={"action": [i / fps for i in range(policy.config.chunk_size)]},
                )
                sets.append(sources.InMemory(ds))
        total, n = 0.0, 0
        with torch.inference_mode():
            for ds in sets:
                for batch in torch.utils.data.DataLoader(ds, batch_size=1024, shuffle=False):
                    losses = per_sample_loss(policy, pre(batch))
                    total += float(losses.sum())
                    n += int(losses.numel())
        out[int(checkpoint.parent.name)] = total / max(n, 1)
    return out


def rollout(
    work: Path,
    setting: Setting,
    task: str,
    arm: str,
    seed: int,
    record: dict,
    trials: int,
    limit: int,
    suite: data.Suite = data.ROBOSUITE,
) -> dict:
    """Closed-loop trials of one arm-seed's chosen checkpoint (cached per checkpoint, trials and limit), at
    the suite's policy rate (its recording fps) executing `suite.replan` actions per chunk."""
    from robosuite_eval.config import RolloutConfig
    from robosuite_eval.rollout import run_rollout

    out = arm_dir(work, "rollout", setting, task, arm, seed)
    done = out / "rollout.json"
    first = ROLLOUT_SEED + 1000 * seed
    if done.is_file():
        res = json.loads(done.read_text())
        if (res["policy"], res["trials"], res["seed"], res["max_steps"]) == (
            record["checkpoint"],
            trials,
            first,
            limit,
        ):
            return res
    c0 = cpu_seconds()
    res = run_rollout(
        RolloutConfig(
            policy=record["checkpoint"],
            task=task,
            trials=trials,
            seed=first,
            max_steps=limit,
            fps=suite.fps,
            replan_steps=suite.replan,
            videos=0,
            out=out,
        )
    )
    atomic.write_json(out / "cpu.json", {"cpu_s": round(cpu_seconds() - c0, 1)})
    return res


def choose_baseline(roots: list[Path]) -> dict:
    """The learned baseline whose values are closer to the ground truth on the training frames (per-frame
    RMSE); fixed from the training data before any rollout."""
    from policy_ft.data import read_frame_columns

    def values(col: str) -> np.ndarray:
        return np.concatenate([read_frame_columns(r, col)[2] for r in roots])

    g = values("value_gt")
    rmse = {src: float(np.sqrt(np.mean((values(data.VALUE_SOURCES[src]) - g) ** 2))) for src in ("frame", "temporal")}
    return {"source": min(rmse, key=rmse.get), "rmse_vs_gt": rmse, "rule": "lower per-frame RMSE vs ground truth"}
