"""Downstream on AgileX (sim) (issue 29, part 3): the RoboSuite grid's protocol on agilex_transfer_cube.

    python -m bench.downstream.agilex --stage pilot    # BC and ground-truth arms only -> the setting
                                                       # (round v1 as recorded; round v2 when v1 chose none)
    python -m bench.downstream.agilex --stage diagnose # the branch diagnostic (after v2 failed; below)
    python -m bench.downstream.agilex --stage pilot    # again after the diagnostic: round v3 (fixed expert)
    python -m bench.downstream.agilex --stage label    # when the AgileX value models exist: their values
    python -m bench.downstream.agilex --stage grid     # every arm that has its values, 3 seeds x 30 trials
    python -m bench.downstream.agilex --stage report   # gather what has run (trains and rolls out nothing)

All write bench/results/downstream_agilex_sim.{json,md,png}. Every stage is cached under --work (default
/work/wvmdata/downstream_agilex, outside the repository; pilot v2's data and runs under work/v2/ep<episodes>)
and a rerun resumes; `--shard i/n` splits the grid. Pilot v2's held-out sets are the same seeds, so the same
episodes, at every data size (work/v2/ep75's were copied from ep30's rather than simulated again).

Pre-registered plan (written and committed before any rollout):
- Task: agilex_transfer_cube (the shorter of the two AgileX (sim) tasks: experts 15.7 s against 24.4 s,
  bench/results/agilex_sim_experts.md). Learner: policy_ft's mlp_chunk on observation.state (14-d joints)
  + observation.environment_state (the cube's pose), the agilex preset's chunk H = 50 and AWR τ = 2 (clip
  δ = 2, top-70% κ recomputed on the training set, strict = Δ > 1e-6), 14-d joint-position actions.
- Recording and policy rate: 10 fps (5 control steps of 50 Hz per frame), executing 5 actions (0.5 s) of
  each predicted chunk before asking again. Why 10 fps: the learned value models read cam_high, and
  rendering it is the data's dominant cost (~10 CPU-s per episode at 10 fps, ~27 at 25 fps, measured); the
  open-loop stretch is set by the replanning (0.5 s, near the paper's), not by H. The price, stated: H = 50
  at 10 fps is a 5 s advantage horizon, coarser than the paper's ~1.7 s (H = 50 at ~30 Hz).
- Data (simulator seeds 300,000+, disjoint from the bench's 0-99,999 and the value models' 500,000+): 30
  hesitation + 30 retry v2 episodes (the suboptimal training set, state-only; camera copies of the same
  episodes, cam_high 64x64, are rendered for the learned models' values only, `--stage label`); 60 expert
  episodes (bc_expert's data: as many episodes as the suboptimal set); 8 + 8 held-out hesitation / retry
  episodes (held-out loss only, never trained on).
- Settings (tried in this order, cheapest first; a later one runs only if no earlier one passes the rule,
  to keep the part within ~100 CPU-minutes): `mlp256_3k` (MLP 2 x 256, 3,000 steps, last checkpoint,
  suboptimal data only, as the paper fine-tunes); `mlp256_mixed_3k` (the same on the suboptimal set plus the
  60 experts); `mlp512_plateau6k` (MLP 2 x 512, up to 6,000 steps, the checkpoint with the lowest held-out
  loss, evaluated every 1,000). Batch 256, lr 1e-3 (the RoboSuite grid's).
- Pilot arms per setting, training seed 0, 20 trials each on placements 100,000 + i: bc_expert first, then
  bc, awr_gt, fbc_binary_gt, fbc_top70_gt, strict_gt; a setting whose bc_expert is below 60% stops there
  (the learner cannot learn the task). Settings differing only in data mix share bc_expert.
- Rollout limit: 1.5 x the 95th percentile of the 60 expert episodes' durations, in 50 Hz control steps.
  A trial whose joint targets make the simulation diverge (MuJoCo's unstable-state error) is a failure.
- The rule (the RoboSuite pilot's): a setting passes when bc_expert >= 60% and the best ground-truth arm
  lies in [30%, 90%]; among passing settings the largest best-ground-truth-arm minus bc gain wins; with none
  passing, the one with the largest gain is reported as failing and the grid is not run on it (no headroom
  or no learnable task, said plainly). The grid's "best other ground-truth arm" is the best of
  fbc_binary_gt, fbc_top70_gt, strict_gt in the chosen setting; "the arm best with ground truth" the best
  of those and awr_gt.
- Grid: training seeds 1, 2, 3 x 30 trials (the paper's AgileX count) per arm, placements 100,000 +
  1,000 x seed + i, identical across arms (paired); arms as the RoboSuite grid (`grid.grid_arms`), run
  ground-truth and time arms first (they need no model), then the learned ones: "default" (`awr`, the
  filters) is the AgileX-trained WVM (cam_high, 3 fps), `_frame` / `_temporal` the AgileX-trained
  baselines, `awr_baseline` the one of them closer to the ground truth on the training frames. Paired
  two-level bootstrap 95% intervals for every arm minus bc and for awr_gt - awr; Wilson intervals; mean
  control steps to success; CPU time.
Nothing in the pilot reads learned values; no setting is tuned on the grid's rollouts.

Pilot v2 (registered after v1 failed the gate, before any v2 rollout):
- Why: v1's bc_expert got 0/20 in all three settings; its trials grasped and lifted the cube (right hand
  touched ~16/20, lifted ~15/20) but the left hand never touched it, 2-3/20 simulations diverged, while the
  experts' recorded 10 fps actions replayed open loop succeed 5/5 (the action space and rate can do it);
  mlp512's held-out loss was lowest at step 1,000 and rose after (overfitting). So the learner, not the
  data's rate per se, fails at the handover; v2 changes the rate to the paper's, the learner, and the data.
- Recording and policy rate: 25 fps (2 control steps of 50 Hz per frame), so H = 50 spans 2 s (the
  paper's ~1.7 s at ~30 Hz) and the advantage reads a 2 s window; each predicted chunk executes 10 actions
  (0.4 s) before asking again. State-only data is cheap at any rate (measured ~2.5 s wall per 25 fps
  episode); only the learned models' camera copies cost more (`--stage label`, not needed by the pilot).
- Data (new simulator seeds 400,000+, disjoint from v1's 300,000+, the bench's 0-99,999 and the value
  models' 500,000+): hesitation 400,000+, retry 420,000+, expert 440,000+, held-out hesitation 460,000+
  and retry 470,000+ (8 + 8 episodes, held-out loss only), all state-only at 25 fps; as in v1 bc_expert
  trains on as many expert episodes as the suboptimal set holds. A bc_expert run needs only the expert and
  held-out sets; the suboptimal sets are generated when a setting passes the gate.
- Settings (tried in this order; a later one runs only if no earlier one passes the rule; the same gate
  and rule as v1). Each is selected by held-out loss, v1's mlp512 having overfit after 1,000 steps:
  1. `v2_mlp256_25fps`: mlp_chunk 2 x 256, batch 256, lr 1e-3, up to 6,000 steps, the checkpoint with the
     lowest held-out loss of those every 1,000; 30 + 30 suboptimal / 60 expert episodes. Why first: the
     cheapest (~2 CPU-min of training) and isolates the rate (finer closed loop, H = 2 s, 2.5x the frames).
  2. `v2_act_25fps`: lerobot ACT through `policy_ft --policy act --size small` (width 128, 2 encoder + 1
     decoder layers, no VAE; inputs observation.state + observation.environment_state, no image: lerobot's
     ACT accepts the environment state in place of images), batch 64, lr 1e-4, up to 3,000 steps, lowest
     held-out loss of those every 1,000; the same data. Why: ACT is the learner this simulated task was
     made for (scripted transfer-cube demonstrations); its decoder attends over the chunk instead of one
     regression, the likeliest fix for a handover that an MLP averages away. ~0.6 CPU-s per step at batch
     256 measured, hence batch 64 to stay within budget.
  3. `v2_mlp256_25fps_150`: setting 1 on 75 + 75 suboptimal / 150 expert episodes (the same seeds' first
     episodes are setting 1's: a superset). Why: more placements covered, for a learner that v1 showed to
     overfit 60 episodes.
- Pilot arms, trials, placements (100,000 + i, 20 per arm, training seed 0), the 60% bc_expert gate, the
  rollout limit rule (1.5 x the 95th percentile of the setting's expert durations, in 50 Hz control steps;
  a diverged simulation is a failure) and the choice rule are v1's, unchanged; the choice is made among v2's
  settings (v1 chose nothing). Budget: ~35 CPU-minutes; a setting whose bc_expert is below 60% stops there.
- Grid on the chosen v2 setting (if any): v1's grid plan (seeds 1, 2, 3 x 30 paired trials, placements
  100,000 + 1,000 x seed + i; ground-truth and time arms first), at 25 fps with 10 actions per chunk.

Branch diagnostic (registered after v2 failed the gate, before its rollouts; a test of the report's expert
data check, not a setting: it chooses nothing and no grid follows from it):
- Hypothesis: the learners fail because the experts turn right_forearm_roll / right_wrist_rotate to +π in
  some episodes and -π in others (the same pose), a two-mode target. Test: v2_mlp256_25fps's bc_expert
  (same learner, budget, held-out-loss checkpoint, rollout limit, 20 trials on placements 100,000 + i),
  trained only on the v2 expert episodes whose right_forearm_roll ends in the majority mode (a binary filter
  on a per-episode column, every frame of a dropped episode weighted 0).
- Reading: the hypothesis is supported if the left hand touches the cube in more trials than v2's 0/20, or
  success rises; not supported if the trials still stop at the lift. Either way it is one seed, 20 trials.

Pilot v3 (registered after v1 and v2 failed the gate, before any v3 rollout):
- Why: v1, v2 and the branch diagnostic were made with the old scripted expert, whose inverse kinematics
  (robosuite_eval/agilex_sim.py `Kinematics.ik`) swung right_forearm_roll / right_wrist_rotate by up to ±π
  in either direction near a straight wrist, so the same hand pose came from joint targets that differ
  between and within episodes. Commit 8f67fd9 fixes the expert (heavier damping and a null-space pull of the
  forearm roll towards 0: smooth joint targets on one branch). v1, v2 and the diagnostic stay as recorded
  (old expert); v3 repeats the protocol on data from the fixed expert.
- Data (the fixed expert of commit 8f67fd9; new simulator seeds, disjoint from the bench's 0-99,999, v1's
  300,000+, v2's 400,000+ and the value models' 500,000+): hesitation 600,000+, retry 620,000+, expert
  640,000+, held-out hesitation 660,000+ and retry 670,000+ (8 + 8 episodes, held-out loss only), all
  state-only at 25 fps with 10 actions executed per chunk (v2's rate), under work/v3/ep<episodes>. As in
  v2, bc_expert trains on as many expert episodes as the suboptimal set holds and needs only the expert and
  held-out sets; the suboptimal sets (30 hesitation + 30 retry) are generated when a setting passes the gate.
- Settings (tried in this order, cheapest first; the second runs only if the first fails the gate):
  1. `v3_mlp256_25fps`: v2's first setting unchanged (mlp_chunk 2 x 256, batch 256, lr 1e-3, up to 6,000
     steps, the lowest held-out loss of the checkpoints every 1,000; 30 + 30 suboptimal / 60 expert
     episodes), on the fixed expert's data.
  2. `v3_act_25fps`: v2's ACT setting unchanged (ACT small, batch 64, lr 1e-4, up to 3,000 steps, lowest
     held-out loss every 1,000), the same data.
- Pilot arms (bc_expert first, then bc, awr_gt, fbc_binary_gt, fbc_top70_gt, strict_gt), trials (20 per arm,
  training seed 0, placements 100,000 + i), the 60% bc_expert gate, the rollout limit rule (1.5 x the 95th
  percentile of the setting's expert durations, in 50 Hz control steps; a diverged simulation is a failure)
  and the choice rule are v1's, unchanged; the choice is made among v3's settings.
- Grid on the chosen v3 setting (if any): v1's grid plan at 25 fps, 10 actions per chunk; the ground-truth
  and time arms first. The learned-value arms wait: the AgileX value models (/work/wvmdata/agilex_bench/
  models) were trained on the old expert's data.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import tyro

from bench import replace_readme_block, write_results_json
from bench.downstream import arms, data, grid, pilot, report
from robodata import atomic

TASK = "agilex_transfer_cube"
CAMERA = "cam_high"
WVM_DIR = Path("/work/wvmdata/agilex_bench/models")
RESULTS = Path(__file__).resolve().parents[1] / "results"
OUT = RESULTS / "downstream_agilex_sim"
PLAN = __doc__.split("committed before any rollout):")[1].split("Nothing in the pilot")[0]
PLAN_V2 = __doc__.split("before any v2 rollout):")[1].split("Branch diagnostic (")[0]
PLAN_DIAG = __doc__.split("no grid follows from it):")[1].split("Pilot v3 (")[0]
PLAN_V3 = __doc__.split("before any v3 rollout):")[1]
EPISODES, VAL_EPISODES = 30, 8
PILOT_TRIALS, PILOT_SEED = 20, 0


def model_specs(models: Path = WVM_DIR) -> tuple:
    """(model directory, column) of the AgileX-trained WVM and baselines."""
    return (
        (str(models / "wvm"), "value"),
        (str(models / "baseline_frame"), "value_baseline_frame"),
        (str(models / "baseline_temporal"), "value_baseline_temporal"),
    )


def state_only_sets(first_seed: int) -> dict:
    """A round's sets, all state-only, at simulator seeds offset from the round's first one (the same offsets
    in every round): {set: (mode, first seed, cameras)}."""
    offsets = {"hesitation": 0, "retry": 20_000, "expert": 40_000, "val_hesitation": 60_000, "val_retry": 70_000}
    return {name: (name.removeprefix("val_"), first_seed + off, ()) for name, off in offsets.items()}


SUITE = data.Suite(
    name="agilex",
    sets=state_only_sets(300_000),
    fps=10,
    control_freq=50,
    generator="v2",
    labelled_by=model_specs(),
    chunk=50,
    tau=2.0,
    replan=5,
    preset="agilex",
)
#: camera copies (same mode, seeds, so the same episodes) with cam_high, read by the learned value models
#: only; their value columns are copied onto the state-only training sets (`label_learned`)
CAM_SUFFIX = "_cam"
#: the rate of those camera copies when the training set is recorded faster (pilot v2's 25 fps): the models
#: read 3 fps anyway, and rendering cam_high costs ~40 CPU-s per 25 fps episode; the values are interpolated
#: in time onto the training set's frames (`resample_values`)
LABEL_FPS = 5

SETTINGS = {
    s.name: s
    for s in (
        arms.Setting("mlp256_3k", size="small", steps=3000),
        arms.Setting("mlp256_mixed_3k", size="small", steps=3000, mix="mixed"),
        arms.Setting("mlp512_plateau6k", size="default", steps=6000, eval_every=1000),
    )
}

#: pilot v2 (its plan: this module's docstring): 25 fps, 10 actions per chunk, new seeds 400,000+
SUITE_V2 = replace(
    SUITE,
    sets=state_only_sets(400_000),
    fps=25,
    replan=10,
)
SETTINGS_V2 = {
    s.name: s
    for s in (
        arms.Setting("v2_mlp256_25fps", size="small", steps=6000, eval_every=1000),
        arms.Setting("v2_act_25fps", size="small", steps=3000, eval_every=1000, batch_size=64, lr=1e-4, policy="act"),
        arms.Setting("v2_mlp256_25fps_150", size="small", steps=6000, eval_every=1000),
    )
}
#: episodes per suboptimal mode of each v2 setting (bc_expert: twice as many experts)
EPISODES_V2 = {"v2_mlp256_25fps": 30, "v2_act_25fps": 30, "v2_mlp256_25fps_150": 75}

#: pilot v3 (its plan: this module's docstring): v2's rate on data from the fixed expert (commit 8f67fd9),
#: new seeds 600,000+
EXPERT_COMMIT_V3 = "8f67fd9"
SUITE_V3 = replace(
    SUITE_V2,
    sets=state_only_sets(600_000),
)
SETTINGS_V3 = {
    s.name: s
    for s in (
        replace(SETTINGS_V2["v2_mlp256_25fps"], name="v3_mlp256_25fps"),
        replace(SETTINGS_V2["v2_act_25fps"], name="v3_act_25fps"),
    )
}
EPISODES_V3 = {"v3_mlp256_25fps": 30, "v3_act_25fps": 30}


@dataclass(frozen=True)
class Round:
    """One pre-registered pilot round: its suite (rate, seeds), settings and data size per setting."""

    name: str
    suite: data.Suite
    subdir: str  # under --work ("" for v1, whose cache predates rounds)
    label_fps: int | None = None  # the camera copies' rate (None: the training set's own)

    @property
    def settings(self) -> dict:
        return {"v1": SETTINGS, "v2": SETTINGS_V2, "v3": SETTINGS_V3}[self.name]

    def episodes(self, cfg: AgilexConfig, setting: str) -> int:
        return cfg.episodes if self.name == "v1" else {"v2": EPISODES_V2, "v3": EPISODES_V3}[self.name][setting]

    def names(self, cfg: AgilexConfig) -> tuple[str, ...]:
        """The round's settings to try, in order (--settings, --settings-v2, --settings-v3)."""
        return {"v1": cfg.settings, "v2": cfg.settings_v2, "v3": cfg.settings_v3}[self.name]

    def work(self, cfg: AgilexConfig, episodes: int) -> Path:
        return cfg.work if not self.subdir else cfg.work / self.subdir / f"ep{episodes}"


V1, V2 = Round("v1", SUITE, ""), Round("v2", SUITE_V2, "v2", label_fps=LABEL_FPS)
V3 = Round("v3", SUITE_V3, "v3", label_fps=LABEL_FPS)


@dataclass(frozen=True)
class AgilexConfig:
    stage: Literal["pilot", "diagnose", "label", "grid", "report"] = "pilot"
    work: Path = Path("/work/wvmdata/downstream_agilex")
    """Cache of data, values, checkpoints and rollouts; rerunning resumes from it."""
    models: Path = WVM_DIR
    """The AgileX-trained value models (wvm, baseline_frame, baseline_temporal), for --stage label."""
    seeds: tuple[int, ...] = (1, 2, 3)
    trials: int = 30
    """Grid rollouts per training seed."""
    pilot_trials: int = PILOT_TRIALS
    episodes: int = EPISODES
    """Episodes per suboptimal mode."""
    val_episodes: int = VAL_EPISODES
    settings: tuple[str, ...] = tuple(SETTINGS)
    """Pilot v1's settings, in order."""
    settings_v2: tuple[str, ...] = tuple(SETTINGS_V2)
    """Pilot v2's settings, in order (run only when v1 chose nothing)."""
    settings_v3: tuple[str, ...] = tuple(SETTINGS_V3)
    """Pilot v3's settings, in order (run only after v2 chose nothing and the branch diagnostic ran)."""
    arms: tuple[str, ...] = ()
    """Grid: run only these arms (default: every arm whose values exist)."""
    shard: str = "0/1"
    workers: int = 1
    """Simulation worker processes for data generation (0: in this process)."""
    max_steps: int | None = None
    """Override the pre-registered rollout limit (tests only; recorded in the results)."""
    out: Path = OUT


def suite_for(cfg: AgilexConfig) -> data.Suite:
    return replace(SUITE, labelled_by=model_specs(cfg.models))


def expert_setting(setting: arms.Setting, rnd: Round = V1, cfg: AgilexConfig | None = None) -> arms.Setting:
    """The setting whose bc_expert this one shares (the first of its round with the same learner, budget and
    data size)."""
    for s in rnd.settings.values():
        same_data = cfg is None or rnd.episodes(cfg, s.name) == rnd.episodes(cfg, setting.name)
        if replace(s, name=setting.name, mix=setting.mix) == setting and same_data:
            return s
    return setting


def prepare(cfg: AgilexConfig, rnd: Round = V1, episodes: int | None = None, names: tuple | None = None):
    """The state-only sets (`names`, default all) of a round with ground truth and time; returns ({set: root},
    rollout limit)."""
    episodes = cfg.episodes if episodes is None else episodes
    suite = rnd.suite if names is None else replace(rnd.suite, sets={n: rnd.suite.sets[n] for n in names})
    roots = data.prepare(rnd.work(cfg, episodes), TASK, episodes, cfg.val_episodes, cfg.workers, suite=suite)
    limit = data.rollout_limit(roots["expert"], stride=rnd.suite.stride)
    if cfg.max_steps is not None:
        limit = {**limit, "control_steps": cfg.max_steps, "rule": f"--max-steps {cfg.max_steps} (override)"}
    return roots, limit


def replay_check(work: Path, expert_root: Path, episodes: int = 5, suite: data.Suite = SUITE) -> dict:
    """Can a policy at this rate do the task at all? The first `episodes` expert episodes' recorded actions
    (one per recorded frame, each held `suite.stride` control steps, as a rollout executes a policy's) replayed
    open loop from the same placement: success means the recorded rate and action space suffice, so a policy
    that fails fails for what it learned. Cached in work/replay_check.json."""
    import pyarrow.parquet as pq

    from robosuite_eval.embodiments import get_task, make_env, trial_io

    cache = Path(work) / "replay_check.json"
    if cache.is_file() and json.loads(cache.read_text())["episodes"] == episodes:
        return json.loads(cache.read_text())
    record = json.loads((Path(expert_root) / "meta" / "robosuite_eval.json").read_text())["episodes"]
    table = pq.read_table(sorted((Path(expert_root) / "data").rglob("*.parquet")), columns=["episode_index", "action"])
    ep_index = np.asarray(table.column("episode_index").to_pylist())
    actions = np.asarray(table.column("action").to_pylist(), dtype=np.float64)
    task = get_task(TASK)
    io = trial_io(make_env(task, None), task)
    out = []
    for e in record[:episodes]:
        io.reset(int(e["seed"]))
        for a in actions[ep_index == e["episode_index"]]:
            for _ in range(suite.stride):
                io.step(a)
        out.append({"seed": int(e["seed"]), "success": bool(io.success()), "max_reward": io.progress()})
    res = {"episodes": episodes, "successes": sum(t["success"] for t in out), "per_episode": out}
    atomic.write_json(cache, res)
    return res


def branch_check(expert_root: Path) -> dict:
    """Joint-space modes of the expert data: every action dimension whose per-episode last value spans more
    than π across episodes, with how many episodes end above and below the middle of that span. A joint
    that ends near +π in some episodes and near -π in others reaches the same hand pose by opposite turns
    (a wrapped angle or an equivalent inverse-kinematics branch), a two-mode target for a unimodal learner.
    Read from the data only (no policy, no rollout)."""
    import pyarrow.parquet as pq

    from robosuite_eval.agilex_sim import ACTION_NAMES

    files = sorted((Path(expert_root) / "data").rglob("*.parquet"))
    t = pq.read_table(files, columns=["episode_index", "frame_index", "action"])
    ep, fi = np.asarray(t.column("episode_index").to_pylist()), np.asarray(t.column("frame_index").to_pylist())
    actions = np.asarray(t.column("action").to_pylist(), dtype=np.float64)
    last = np.stack([actions[ep == e][np.argmax(fi[ep == e])] for e in np.unique(ep)])
    out = {}
    for d, name in enumerate(ACTION_NAMES):
        lo, hi = float(last[:, d].min()), float(last[:, d].max())
        if hi - lo > np.pi:
            mid = (lo + hi) / 2
            out[name] = {
                "above": int((last[:, d] > mid).sum()),
                "below": int((last[:, d] <= mid).sum()),
                "last_min": round(lo, 3),
                "last_max": round(hi, 3),
            }
    return {"episodes": int(last.shape[0]), "split_dims": out}


def branch_words(b: dict, tested: bool = False) -> str:
    if not b or not b["split_dims"]:
        return ""
    dims = "; ".join(
        f"{n} (ends near {v['last_max']:+.2f} in {v['above']}, near {v['last_min']:+.2f} in {v['below']})"
        for n, v in b["split_dims"].items()
    )
    return (
        f"The {b['episodes']} expert episodes' joint-position actions split into two modes more than π apart in: "
        f"{dims}: the same hand pose reached by opposite joint turns, a two-mode target that a unimodal learner "
        "(mlp_chunk; ACT without its VAE, as here) can only average or pick between"
        + (
            " (the branch diagnostic tests whether it is why the handover fails)."
            if tested
            else ". A likely cause of the failed handover, read from the data; not tested by a rollout here."
        )
    )


# ---- pilot -------------------------------------------------------------------------------------------------


def pilot_cells(cfg: AgilexConfig, rnd: Round, setting: arms.Setting, run: bool) -> tuple[dict, dict]:
    """The pilot arms of one setting (cached); stops after bc_expert when it misses the gate. Returns (cells,
    rollout limit). bc_expert needs only the expert and held-out sets; the suboptimal ones are generated for
    the arms after it."""
    out, limit = {}, {}
    episodes = rnd.episodes(cfg, setting.name)
    work = rnd.work(cfg, episodes)
    for arm in pilot.PILOT_ARMS:
        s = expert_setting(setting, rnd, cfg) if arm == "bc_expert" else setting
        done = arms.arm_dir(work, "rollout", s, TASK, arm, PILOT_SEED) / "rollout.json"
        if not run and not done.is_file():
            continue
        names = ("expert", *data.VALIDATION) if arm == "bc_expert" else None
        roots, limit = prepare(cfg, rnd, episodes, names)
        record = arms.train(work, s, TASK, arm, PILOT_SEED, roots, suite=rnd.suite)
        res = arms.rollout(
            work, s, TASK, arm, PILOT_SEED, record, cfg.pilot_trials, limit["control_steps"], suite=rnd.suite
        )
        out[arm] = {
            "cell": {**report.cell({PILOT_SEED: res}), "reached": reached(res)},
            "train": record,
            "rollout_cpu_s": _rollout_cpu(done),
        }
        print(
            f"[agilex pilot {rnd.name} {time.strftime('%H:%M:%S')}] {setting.name} {arm}: "
            f"{res['successes']}/{res['trials']}",
            flush=True,
        )
        if arm == "bc_expert" and res["successes"] / res["trials"] < pilot.EXPERT_GATE:
            break
    return out, limit


#: gym-aloha's transfer-cube reward stages, the furthest a trial got
STAGES = {1: "right hand touched", 2: "lifted", 3: "left hand touched", 4: "handed over"}


def reached(res: dict) -> dict | None:
    """Trials that got at least to each reward stage, and trials whose simulation diverged (None for a
    rollout recorded before the stages were)."""
    trials = res["per_trial"]
    if not trials or "max_reward" not in trials[0]:
        return None
    out = {name: sum(t["max_reward"] >= r for t in trials) for r, name in STAGES.items()}
    return {**out, "diverged": sum(bool(t.get("diverged")) for t in trials)}


def _rollout_cpu(rollout_json: Path) -> float:
    f = rollout_json.parent / "cpu.json"
    return json.loads(f.read_text())["cpu_s"] if f.is_file() else 0.0


def run_pilot(cfg: AgilexConfig, run: bool, rnd: Round = V1) -> dict:
    """Settings in order; a later one only if no earlier one passes (the plan). {} before anything ran."""
    results, verdicts, limits, cpu, counted = {}, {}, {}, 0.0, set()
    names = rnd.names(cfg)
    for name in names:
        if any(v[TASK]["passes"] for v in verdicts.values()):
            break
        cells, limits[name] = pilot_cells(cfg, rnd, rnd.settings[name], run)
        if not cells:
            break
        results[name] = {TASK: cells}
        verdicts[name] = {TASK: pilot.judge(cells)}
        for c in cells.values():  # a shared bc_expert counts once
            if c["train"]["checkpoint"] not in counted:
                counted.add(c["train"]["checkpoint"])
                cpu += c["train"]["cpu_s"] + c["rollout_cpu_s"]
        v = verdicts[name][TASK]
        gated = v["bc_expert"] is not None and v["bc_expert"] < pilot.EXPERT_GATE
        if len(cells) < len(pilot.PILOT_ARMS) and not gated:
            break  # report-only: this setting is still running
    if not results:
        return {}
    choice = pilot.choose(verdicts, (TASK,))
    passed = any(v[TASK]["passes"] for v in verdicts.values())
    last = verdicts[list(verdicts)[-1]][TASK]
    last_done = len(results[list(results)[-1]][TASK]) == len(pilot.PILOT_ARMS) or (
        last["bc_expert"] is not None and last["bc_expert"] < pilot.EXPERT_GATE
    )
    return {
        "round": rnd.name,
        "complete": passed or (len(results) == len(names) and last_done),
        "settings": {n: {**asdict(rnd.settings[n]), "episodes": rnd.episodes(cfg, n)} for n in results},
        "limits": limits,
        "trials": cfg.pilot_trials,
        "seed": PILOT_SEED,
        "results": results,
        "verdicts": verdicts,
        "choice": choice,
        "gt_arms": pilot.best_gt_arms(results, choice["setting"], (TASK,)),
        "cpu_s": cpu,
    }


# ---- branch diagnostic -------------------------------------------------------------------------------------

DIAG_SETTING = "v2_mlp256_25fps"
DIAG_ARM = "bc_expert_one_mode"


def branch_column(expert_root: Path, dim: str = "right_forearm_roll") -> tuple[np.ndarray, dict]:
    """A per-frame column that keeps (rising, t/(T-1)) the episodes whose `dim` ends in the majority mode
    and drops (falling, -t/(T-1)) the others under a strict binary filter (Δ > 1e-6); by global frame index."""
    import pyarrow.parquet as pq

    from robosuite_eval.agilex_sim import ACTION_NAMES

    d = ACTION_NAMES.index(dim)
    files = sorted((Path(expert_root) / "data").rglob("*.parquet"))
    t = pq.read_table(files, columns=["index", "episode_index", "frame_index", "action"])
    index = t.column("index").to_numpy()
    ep, fi = t.column("episode_index").to_numpy(), t.column("frame_index").to_numpy()
    actions = np.asarray(t.column("action").to_pylist(), dtype=np.float64)
    last = {int(e): actions[ep == e][np.argmax(fi[ep == e]), d] for e in np.unique(ep)}
    mid = (min(last.values()) + max(last.values())) / 2
    above = [e for e, v in last.items() if v > mid]
    keep = set(above) if 2 * len(above) >= len(last) else set(last) - set(above)
    col = np.full(int(index.max()) + 1, np.nan, dtype=np.float32)
    for e in last:
        rows = ep == e
        T = int(fi[rows].max()) + 1
        col[index[rows]] = (1.0 if e in keep else -1.0) * fi[rows] / max(T - 1, 1)
    return col, {
        "dim": dim,
        "kept_episodes": sorted(keep),
        "of": len(last),
        "mode_end": "above" if keep == set(above) else "below",
    }


def branch_diagnostic(cfg: AgilexConfig, run: bool) -> dict:
    """The registered branch diagnostic (module docstring); cached; {} before it ran."""
    import shutil

    from policy_ft.config import TrainConfig
    from policy_ft.train import run_train
    from robodata.columns import commit_columns

    setting = SETTINGS_V2[DIAG_SETTING]
    episodes = V2.episodes(cfg, DIAG_SETTING)
    work = V2.work(cfg, episodes)
    out = arms.arm_dir(work, "train", setting, TASK, DIAG_ARM, PILOT_SEED)
    done = arms.arm_dir(work, "rollout", setting, TASK, DIAG_ARM, PILOT_SEED) / "rollout.json"
    if not run and not done.is_file():
        return {}
    roots, limit = prepare(cfg, V2, episodes, ("expert", *data.VALIDATION))
    src = data.dataset_dir(work, TASK, "expert_one_mode")
    if (
        not (src / "meta" / "value_labels.json").is_file()
        or "value_branch" not in (src / "meta" / "value_labels.json").read_text()
    ):
        if src.exists():
            shutil.rmtree(src)
        shutil.copytree(roots["expert"], src)
        col, info = branch_column(src)
        commit_columns(src, {"value_branch": col}, {"value_branch": {"model": "branch_filter", **info}})
    info = json.loads((src / "meta" / "value_labels.json").read_text())["value_branch"]
    record_file = out / "arm.json"
    if record_file.is_file():
        record = json.loads(record_file.read_text())
    else:
        c0 = arms.cpu_seconds()
        run_train(
            TrainConfig(
                dataset=(src,),
                out=out,
                policy=setting.policy,
                size=setting.size,
                weighting="binary",
                preset=SUITE_V2.preset,
                chunk_length=SUITE_V2.chunk,
                tau=SUITE_V2.tau,
                kappa=1e-6,
                value_column="value_branch",
                steps=setting.steps,
                batch_size=setting.batch_size,
                lr=setting.lr,
                inputs=data.INPUTS,
                save_every=setting.eval_every,
                log_every=100,
                seed=PILOT_SEED,
                device="cpu",
            )
        )
        checkpoints = sorted((out / "checkpoints").glob("[0-9]*/pretrained_model"))
        losses = arms.heldout_losses(checkpoints, [roots[n] for n in data.VALIDATION])
        chosen = min(losses, key=losses.get)
        record = {
            "arm": DIAG_ARM,
            "heldout_loss": {str(k): v for k, v in sorted(losses.items())},
            "chosen_step": chosen,
            "checkpoint": str(out / "checkpoints" / f"{chosen:06d}" / "pretrained_model"),
            "train_log": str(out / "train_log.jsonl"),
            "cpu_s": round(arms.cpu_seconds() - c0, 1),
        }
        atomic.write_json(record_file, record)
    res = arms.rollout(
        work, setting, TASK, DIAG_ARM, PILOT_SEED, record, cfg.pilot_trials, limit["control_steps"], suite=SUITE_V2
    )
    return {
        "setting": DIAG_SETTING,
        "filter": info,
        "cell": {**report.cell({PILOT_SEED: res}), "reached": reached(res)},
        "train": record,
        "rollout_cpu_s": _rollout_cpu(done),
    }


def diag_lines(diag: dict) -> list[str]:
    lines = [
        "",
        "## Branch diagnostic (registered after v2 failed the gate, before its rollouts)",
        "",
        *PLAN_DIAG.strip().splitlines(),
        "",
    ]
    if not diag:
        return lines + ["Not run yet."]
    f, c, tr = diag["filter"], diag["cell"], diag["train"]
    r = c.get("reached") or {}
    curve = ", ".join(
        (f"**{k}: {x:.4f}**" if int(k) == tr["chosen_step"] else f"{k}: {x:.4f}") for k, x in tr["heldout_loss"].items()
    )
    return lines + [
        f"Trained on {len(f['kept_episodes'])} of {f['of']} v2 expert episodes ({f['dim']} ending in the "
        f"majority mode). bc_expert_one_mode: {report.fmt_cell(c)}; "
        + ", ".join(f"{k} {x}/{c['trials']}" for k, x in r.items())
        + ".",
        "",
        f"Held-out loss per checkpoint: {curve} (training {tr['cpu_s'] / 60:.1f} CPU-min, rollouts "
        f"{diag['rollout_cpu_s'] / 60:.1f}).",
    ]


def diag_words(diag: dict, pilot_v2: dict) -> str:
    if not diag:
        return ""
    r = diag["cell"].get("reached") or {}
    base = (pilot_v2.get("results") or {}).get(DIAG_SETTING, {}).get(TASK, {}).get("bc_expert")
    base_r = (base or {}).get("cell", {}).get("reached") or {}
    n = diag["cell"]["trials"]
    k, k0 = r.get("left hand touched", 0), base_r.get("left hand touched", 0)
    supported = diag["cell"]["successes"] > ((base or {}).get("cell", {}).get("successes", 0)) or k > k0
    return (
        f"Branch diagnostic: bc_expert on the majority mode's experts only got {diag['cell']['successes']}/{n}, "
        f"the left hand touching the cube in {k}/{n} trials (v2's {DIAG_SETTING} bc_expert: {k0}/{n}): the "
        f"two-mode hypothesis is {'supported' if supported else 'not supported'} by this one-seed test."
    )


# ---- learned values ----------------------------------------------------------------------------------------


def models_ready(cfg: AgilexConfig) -> bool:
    return all((Path(spec) / "config.json").is_file() or Path(spec).is_dir() for spec, _ in model_specs(cfg.models))


def label_learned(cfg: AgilexConfig, roots: dict, names: tuple[str, ...], rnd: Round = V1, episodes=None) -> dict:
    """Render the camera copy of each set in `names` (same seeds: the same episodes, checked frame by frame
    on state and action), label it with the AgileX models, and copy those columns onto the training set.
    A round with a `label_fps` (v2: `LABEL_FPS`, its training sets at 25 fps) gets camera copies at that rate:
    the same episodes, checked on the frames both rates record (state), its values linearly interpolated in
    time onto the training set's frames (`resample_values`)."""
    from policy_ft.data import read_frame_columns
    from robodata.columns import commit_columns, read_provenance

    suite = replace(rnd.suite, labelled_by=model_specs(cfg.models))
    work = rnd.work(cfg, cfg.episodes if episodes is None else episodes)
    done = {}
    for name in names:
        root = roots[name]
        want = {c for _, c in suite.labelled_by}
        prov = read_provenance(root)
        if all(prov.get(c, {}).get("fingerprint") == data.model_fingerprint(s) for s, c in suite.labelled_by):
            done[name] = "already labelled"
            continue
        mode, seed, _ = suite.sets[name]
        ratio = suite.fps // rnd.label_fps if rnd.label_fps else 1
        if ratio * (rnd.label_fps or suite.fps) != suite.fps:
            raise ValueError(f"label fps {rnd.label_fps} must divide the training set's {suite.fps} fps")
        cam_suite = replace(
            suite, sets={name + CAM_SUFFIX: (mode, seed, (CAMERA,))}, fps=suite.fps // ratio, replan=suite.replan
        )
        n = data.episodes_of(name, cfg.episodes if episodes is None else episodes, 0)
        cam = data.generate(work, TASK, name + CAM_SUFFIX, n, cfg.workers, cam_suite)
        if ratio == 1:
            same_episodes(root, cam)
        data.label(cam, learned=True, labelled_by=suite.labelled_by)
        cam_prov = read_provenance(cam)
        columns = {}
        for c in want:
            if ratio > 1:
                columns[c] = resampled_column(root, cam, c, ratio)
                continue
            index, _, values = read_frame_columns(cam, c)  # by global frame index (the same frames: checked)
            columns[c] = np.full(index.size, np.nan, dtype=np.float32)
            columns[c][index] = values
        commit_columns(
            root,
            columns,
            {
                c: {
                    **cam_prov[c],
                    "labelled_on": Path(cam).name,
                    "copied_by": "bench.downstream.agilex",
                    **({"interpolated_from_fps": suite.fps // ratio} if ratio > 1 else {}),
                }
                for c in want
            },
        )
        done[name] = f"labelled on {Path(cam).name}"
    return done


def resample_values(low: np.ndarray, ratio: int, frames: int) -> np.ndarray:
    """Values of one episode recorded every `ratio`-th frame (frame k of the slow copy is frame k * ratio of
    the fast one), linearly interpolated onto the fast copy's `frames` frames; frames past the slow copy's
    last are held at its last value."""
    low = np.asarray(low, dtype=np.float64)
    return np.interp(np.arange(frames) / ratio, np.arange(low.size), low).astype(np.float32)


def resampled_column(fast: Path, slow: Path, column: str, ratio: int) -> np.ndarray:
    """`column` of the slow copy (every `ratio`-th frame of the same episodes) on the fast set's frames, by
    global frame index. Raises unless the episodes match on the frames both record (state)."""
    from policy_ft.data import read_frame_columns
    from robodata.dataset import episode_rows, frame_table

    def states(root):
        import pyarrow as pa
        import pyarrow.parquet as pq

        files = sorted((Path(root) / "data").rglob("*.parquet"))
        t = pa.concat_tables([pq.read_table(f, columns=["index", "observation.state"]) for f in files])
        order = np.argsort(t.column("index").to_numpy(), kind="stable")
        return np.asarray(t.column("observation.state").to_pylist(), dtype=np.float64)[order]

    ff, fs = frame_table(fast), frame_table(slow)
    rows_f, rows_s = episode_rows(ff), episode_rows(fs)
    if set(rows_f) != set(rows_s):
        raise ValueError(f"{fast} and {slow} hold different episodes")
    state_f, state_s = states(fast), states(slow)
    index, _, values = read_frame_columns(slow, column)
    by_index = np.full(int(fs["index"].max()) + 1, np.nan, dtype=np.float32)
    by_index[index] = values
    out = np.full(int(ff["index"].max()) + 1, np.nan, dtype=np.float32)
    for ep, rf in rows_f.items():
        rs = rows_s[ep]
        k = np.arange(rs.size)
        k = k[k * ratio < rf.size]
        if not np.allclose(state_s[rs[k]], state_f[rf[k * ratio]], atol=1e-5):
            raise ValueError(f"{fast} and {slow}: episode {ep} differs on the frames both record")
        out[ff["index"][rf]] = resample_values(by_index[fs["index"][rs]], ratio, rf.size)
    return out


def same_episodes(a: Path, b: Path) -> None:
    """Raise unless two datasets hold the same frames (episode, frame index, state, action)."""
    import pyarrow.parquet as pq

    def table(root):
        files = sorted((Path(root) / "data").rglob("*.parquet"))
        cols = ["episode_index", "frame_index", "observation.state", "action"]
        t = pq.read_table(files, columns=cols) if len(files) == 1 else None
        if t is None:
            import pyarrow as pa

            t = pa.concat_tables([pq.read_table(f, columns=cols) for f in files])
        return {c: np.asarray(t.column(c).to_pylist(), dtype=np.float64) for c in cols}

    ta, tb = table(a), table(b)
    for c in ta:
        if ta[c].shape != tb[c].shape or not np.allclose(ta[c], tb[c], atol=1e-6):
            raise ValueError(f"{a} and {b} differ in {c}: the camera copy is not the same episodes")


# ---- grid --------------------------------------------------------------------------------------------------


def agilex_grid_arms(best_other: str, best: str) -> list[str]:
    """`grid.grid_arms`'s arms, the ones needing no learned model first (ground truth, time, bc)."""
    names = grid.grid_arms(best_other, best)
    free = [a for a in names if a == "bc" or a.endswith(("_gt", "_time"))]
    return free + [a for a in names if a not in free]


def needs_model(arm: str) -> bool:
    return not (arm in ("bc", "bc_expert") or arm.endswith(("_gt", "_time")))


@dataclass
class _GridView:  # what grid.gather reads of its config
    work: Path
    seeds: tuple[int, ...]
    trials: int


def run_grid(cfg: AgilexConfig, pilot_result: dict, run: bool, command: str, rnd: Round = V1) -> dict:
    choice = pilot_result.get("choice") or {}
    name = choice.get("setting")
    if not name or TASK not in choice.get("passes_on", []):
        return {}
    setting = rnd.settings[name]
    episodes = rnd.episodes(cfg, name)
    work = rnd.work(cfg, episodes)
    roots, limit = prepare(cfg, rnd, episodes)
    gt = pilot_result.get("gt_arms") or {}
    arm_list = list(cfg.arms) or agilex_grid_arms(gt["best_other_gt_arm"], gt["best_gt_arm"])
    learned_sets = data.SUBOPTIMAL + (("expert",) if setting.mix == "mixed" else ())
    labelled = data.is_labelled({n: roots[n] for n in learned_sets}, learned_sets, rnd.suite.labelled_by)
    baseline = arms.choose_baseline(arms.training_roots(roots, "bc", setting)) if labelled else {}
    runnable = [a for a in arm_list if labelled or not needs_model(a)]
    shard, nshards = (int(x) for x in cfg.shard.split("/"))
    jobs = [(s, a) for s in cfg.seeds for a in runnable]
    for i, (seed, arm) in enumerate(jobs):
        if not run or i % nshards != shard:
            continue
        rec = arms.train(work, setting, TASK, arm, seed, roots, baseline.get("source"), suite=rnd.suite)
        res = arms.rollout(work, setting, TASK, arm, seed, rec, cfg.trials, limit["control_steps"], suite=rnd.suite)
        print(
            f"[agilex grid {time.strftime('%H:%M:%S')}] {arm} seed {seed}: {res['successes']}/{res['trials']}",
            flush=True,
        )
    p = {
        "tasks": (TASK,),
        "task_source": "the pilot's chosen setting passes there",
        "setting": setting,
        "setting_source": f"pilot {rnd.name} rule (this file's pilot section)",
        "best_other_gt_arm": gt["best_other_gt_arm"],
        "best_gt_arm": gt["best_gt_arm"],
        "arms": arm_list,
    }
    out = grid.gather(
        _GridView(work, cfg.seeds, cfg.trials), p, command, {TASK: limit}, {TASK: baseline} if baseline else {}
    )
    out["learned_values"] = labelled
    out["round"] = rnd.name
    heldout = {}
    for a in arm_list:
        for s in cfg.seeds:
            f = arms.arm_dir(work, "train", setting, TASK, a, s) / "arm.json"
            if f.is_file():
                r = json.loads(f.read_text())
                heldout.setdefault(a, []).append(r["heldout_loss"][str(r["chosen_step"])])
    out["heldout_loss_at_choice"] = heldout
    out["not_run"] = [a for a in arm_list if a not in out["tasks"].get(TASK, {})]
    return out


# ---- results -----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    cfg = tyro.cli(AgilexConfig, args=argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("MUJOCO_GL", "egl")
    import torch

    torch.set_num_threads(1)
    command = "python -m bench.downstream.agilex " + " ".join(sys.argv[1:] if argv is None else argv)
    roots, limit = prepare(cfg)
    replay = replay_check(cfg.work, roots["expert"])
    pilot_result = run_pilot(cfg, run=cfg.stage == "pilot")
    # pilot v2 (registered after v1 failed the gate): only when v1 finished without a passing setting
    pilot_v2, replay_v2 = {}, {}
    if pilot_result.get("complete") and not passes(pilot_result):
        pilot_v2 = run_pilot(cfg, run=cfg.stage == "pilot", rnd=V2)
        replay_v2 = round_checks(cfg, V2)
    diag = {}
    if pilot_v2.get("complete") and not passes(pilot_v2):
        diag = branch_diagnostic(cfg, run=cfg.stage == "diagnose")
    # pilot v3 (registered after v1 and v2 failed the gate): the fixed expert's data, after the diagnostic ran
    pilot_v3, replay_v3 = {}, {}
    if diag:
        pilot_v3 = run_pilot(cfg, run=cfg.stage == "pilot", rnd=V3)
        replay_v3 = round_checks(cfg, V3)
    rnd, chosen = next(((r, p) for r, p in ((V3, pilot_v3), (V2, pilot_v2)) if passes(p)), (V1, pilot_result))
    labels = {}
    if cfg.stage == "label":
        if not models_ready(cfg):
            raise SystemExit(f"{cfg.models}: the AgileX value models are not there yet")
        name = (chosen.get("choice") or {}).get("setting") or "mlp256_3k"
        setting, episodes = rnd.settings[name], rnd.episodes(cfg, name)
        roots_l, _ = prepare(cfg, rnd, episodes)
        learned_sets = data.SUBOPTIMAL + (("expert",) if setting.mix == "mixed" else ())
        labels = label_learned(cfg, roots_l, learned_sets, rnd, episodes)
    grid_result = run_grid(cfg, chosen, cfg.stage == "grid", command, rnd)
    nshards = int(cfg.shard.split("/")[1])
    if cfg.stage == "grid" and nshards > 1:
        return {}
    result = {
        "command": command,
        "task": TASK,
        "suite": {k: v for k, v in asdict(SUITE).items() if k != "labelled_by"},
        "value_models": {c: spec for spec, c in suite_for(cfg).labelled_by},
        "labels": labels,
        "limit": limit,
        "replay_check": replay,
        "expert_modes": branch_check(roots["expert"]),
        "pilot": {**pilot_result, "results": pilot.slim(pilot_result.get("results", {}))} if pilot_result else {},
        "suite_v2": {k: v for k, v in asdict(SUITE_V2).items() if k != "labelled_by"},
        "replay_check_v2": replay_v2,
        "pilot_v2": {**pilot_v2, "results": pilot.slim(pilot_v2.get("results", {}))} if pilot_v2 else {},
        "branch_diagnostic": diag,
        "suite_v3": {k: v for k, v in asdict(SUITE_V3).items() if k != "labelled_by"},
        "expert_commit_v3": EXPERT_COMMIT_V3,
        "replay_check_v3": replay_v3,
        "pilot_v3": {**pilot_v3, "results": pilot.slim(pilot_v3.get("results", {}))} if pilot_v3 else {},
        **(grid_result or {"tasks": {}}),
    }
    words = verdict_words(pilot_result, {} if pilot_v2 else grid_result, 2 * cfg.episodes)
    if pilot_v2:
        words = "Pilot v1: " + words + " Pilot v2: " + verdict_words(pilot_v2, grid_result if rnd is V2 else {}, None)
    elif pilot_result.get("complete") and not passes(pilot_result):
        words += " Pilot v2 has not run yet."
    bw = branch_words(result["expert_modes"], tested=bool(diag))
    if not passes(pilot_v2) and not passes(pilot_result) and bw:
        words += " " + bw
    if dw := diag_words(diag, pilot_v2):
        words += " " + dw
    if pilot_v3:
        words += f" Pilot v3 (the fixed expert of {EXPERT_COMMIT_V3}): " + verdict_words(
            pilot_v3, grid_result if rnd is V3 else {}, None
        )
        if mw := modes_words(replay_v3.get("expert_modes"), "v3"):
            words += " " + mw
        if cw := fix_words(pilot_v2, pilot_v3):
            words += " " + cw
    elif diag:
        words += " Pilot v3 has not run yet."
    if rem := remaining_words(pilot_v3, grid_result if rnd is V3 else {}):
        words += " " + rem
    result["verdict_words"] = words
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    write_results_json(cfg.out.with_suffix(".json"), result)
    write_markdown(result, pilot_result, cfg.out.with_suffix(".md"), pilot_v2, pilot_v3)
    if pilot_result:
        plot(result, pilot_result, cfg.out.with_suffix(".png"), pilot_v2, pilot_v3)
    if cfg.out == OUT:
        snippet = readme_snippet(result)
        (RESULTS / "downstream_agilex_sim_readme.md").write_text(snippet + "\n")
        replace_readme_block("downstream agilex", snippet)
    return result


def round_checks(cfg: AgilexConfig, rnd: Round) -> dict:
    """The open-loop replay check and the expert data check on a later round's expert set (the set of its
    first setting), once that set exists; {} before."""
    names = rnd.names(cfg)
    if not names:
        return {}
    expert = data.dataset_dir(rnd.work(cfg, rnd.episodes(cfg, names[0])), TASK, "expert")
    if not (expert / "meta" / "robosuite_eval.json").is_file():
        return {}
    out = replay_check(expert.parent.parent, expert, suite=rnd.suite)
    out["expert_modes"] = branch_check(expert)
    return out


def modes_words(b: dict | None, rnd_name: str) -> str:
    """The expert data check of a later round in words: its split joints, or that none split."""
    if not b:
        return ""
    if b["split_dims"]:
        return f"{rnd_name} experts: " + branch_words(b, tested=False)
    return (
        f"The {b['episodes']} {rnd_name} expert episodes' joint-position actions end within π of each other in "
        "every joint (no two-mode joint, unlike v1's and v2's experts)."
    )


def fix_words(pilot_v2: dict, pilot_v3: dict) -> str:
    """v3's first setting against v2's same learner (old expert's data): bc_expert's successes and handovers."""
    pairs = []
    for n3, per3 in (pilot_v3.get("results") or {}).items():
        n2 = n3.replace("v3_", "v2_", 1)
        c2 = ((pilot_v2.get("results") or {}).get(n2) or {}).get(TASK, {}).get("bc_expert")
        c3 = per3[TASK].get("bc_expert")
        if c2 and c3:
            a, b = c2["cell"], c3["cell"]
            k = "left hand touched"
            pairs.append(
                f"{n3} {b['successes']}/{b['trials']} (left hand touched {(b.get('reached') or {}).get(k, '-')}) "
                f"against {n2} {a['successes']}/{a['trials']} (left hand touched "
                f"{(a.get('reached') or {}).get(k, '-')})"
            )
    if not pairs:
        return ""
    return (
        "bc_expert on the fixed expert's data against the same learner on the old expert's: " + "; ".join(pairs) + "."
    )


def remaining_words(pilot_v3: dict, grid_v3: dict) -> str:
    """What is left of round v3 and the command that resumes it (from what the cache holds)."""
    base = "python -m bench.downstream.agilex"
    if not pilot_v3 or not pilot_v3.get("complete"):
        return f"Remains: pilot v3 (resume: `{base} --stage pilot`)."
    if not passes(pilot_v3):
        return (
            "Remains of the registered plan: nothing (every v3 setting ran; a further round needs its own "
            f"registration before its rollouts). The report regenerates with `{base} --stage report`."
        )
    if not grid_v3 or grid_v3.get("not_run"):
        return (
            "Remains: the grid's ground-truth and time arms on the chosen v3 setting (resume: "
            f"`{base} --stage grid`); the learned-value arms wait for value models trained on the fixed expert's data."
        )
    return "Remains: the learned-value arms, after value models are trained on the fixed expert's data."


def passes(pilot_result: dict) -> bool:
    return bool(pilot_result) and TASK in ((pilot_result.get("choice") or {}).get("passes_on") or [])


def verdict_words(pilot_result: dict, grid_result: dict, experts: int | None) -> str:
    """The outcome in words, from the numbers (`experts`: bc_expert's episode count when every setting of the
    round shares it)."""
    if not pilot_result:
        return "Nothing has run yet."
    ch = pilot_result["choice"]
    v = pilot_result["verdicts"][ch["setting"]][TASK]
    words = []
    if TASK not in ch["passes_on"]:
        if not pilot_result.get("complete"):
            so_far = "; ".join(
                f"{n}: "
                + ", ".join(f"{a} {c['cell']['successes']}/{c['cell']['trials']}" for a, c in per[TASK].items())
                for n, per in pilot_result["results"].items()
            )
            words.append(f"The pilot has not finished: no setting has passed yet (so far {so_far}).")
        elif v["bc_expert"] is not None and v["bc_expert"] < pilot.EXPERT_GATE:
            tried = ", ".join(f"{n} {100 * vv[TASK]['bc_expert']:.0f}%" for n, vv in pilot_result["verdicts"].items())
            words.append(
                "No setting passed the pilot: plain BC on "
                + (f"{experts} " if experts else "the setting's ")
                + "expert episodes (bc_expert) stayed below "
                f"the 60% gate in every setting ({tried}), so "
                + (
                    "this learner cannot learn the task"
                    if experts
                    else "no learner tried learns the task"
                    if not any(vv[TASK]["bc_expert"] for vv in pilot_result["verdicts"].values())
                    else "no learner tried learns the task reliably enough for the gate (though some trials succeed),"
                )
                + " and no weighting can be compared; the grid was not run."
            )
            far = [
                f"{n}: " + ", ".join(f"{k} {x}/{c['cell']['trials']}" for k, x in r.items())
                for n, per in pilot_result["results"].items()
                if (c := per[TASK].get("bc_expert")) and (r := c["cell"].get("reached"))
            ]
            still = [
                n
                for n, per in pilot_result["results"].items()
                if (tr := per[TASK]["bc_expert"]["train"])["heldout_loss"]
                and len(tr["heldout_loss"]) > 1
                and tr["chosen_step"] == max(int(k) for k in tr["heldout_loss"])
            ]
            if still:
                some = any(pilot_result["results"][n][TASK]["bc_expert"]["cell"]["successes"] for n in still)
                words.append(
                    "Held-out loss was still falling at the last checkpoint in: " + ", ".join(still) + " (a longer "
                    "budget might fit the experts better; "
                    + ("their rollouts missed the gate)." if some else "its rollouts still failed).")
                )
            if far:
                words.append("How far bc_expert's trials got (gym-aloha's reward stages): " + "; ".join(far) + ".")
                for n, per in pilot_result["results"].items():
                    r = per[TASK]["bc_expert"]["cell"].get("reached")
                    trials = per[TASK]["bc_expert"]["cell"]["trials"]
                    if r:
                        most = [k for k in STAGES.values() if 2 * r[k] > trials]
                        never = [k for k in STAGES.values() if r[k] == 0]
                        words.append(
                            f"In {n} most trials got as far as: {most[-1] if most else 'nothing'}"
                            + (f"; none reached: {never[0]}" if never else "")
                            + "."
                        )
        elif v["best_gt"] is not None:
            words.append(
                f"No setting passed the pilot: the best ground-truth arm ({v['best_gt_arm']}) reached "
                f"{100 * v['best_gt']:.0f}% against BC's {100 * v['bc']:.0f}% in {ch['setting']} (the rule wants it in "
                "[30%, 90%]); no headroom to measure, so the grid was not run."
            )
        else:
            words.append("The pilot has not finished.")
        return " ".join(words)
    words.append(
        f"Pilot: {ch['setting']} passes (bc_expert {100 * v['bc_expert']:.0f}%, bc {100 * v['bc']:.0f}%, best "
        f"ground-truth arm {v['best_gt_arm']} {100 * v['best_gt']:.0f}%)."
    )
    if not grid_result or not grid_result["tasks"]:
        words.append("The grid has not run yet.")
        return " ".join(words)
    vs = grid_result["vs_bc"]
    better = [a for a, d in vs.items() if d and d["beyond_noise"] == "better"]
    worse = [a for a, d in vs.items() if d and d["beyond_noise"] == "worse"]
    words.append(
        "Grid: "
        + (f"ahead of BC beyond noise: {', '.join(better)}" if better else "no arm is ahead of BC beyond noise")
        + (f"; behind BC beyond noise: {', '.join(worse)}" if worse else "")
        + "."
    )
    g = grid_result["verdict"].get("gt_headroom")
    if g:
        words.append(
            f"Headroom target (best ground-truth arm {g['arm']} >= +15 points over BC beyond noise): "
            f"{'met' if g['met'] else 'not met'} ({report.fmt_diff(g)})."
        )
    if not grid_result.get("learned_values"):
        words.append("The learned value models' arms have not run (their values were not there).")
    elif grid_result.get("awr_gt_minus_awr"):
        words.append(f"awr_gt - awr (AgileX WVM): {report.fmt_diff(grid_result['awr_gt_minus_awr'])} points.")
    return " ".join(words)


def write_markdown(
    result: dict, pilot_result: dict, path: Path, pilot_v2: dict | None = None, pilot_v3: dict | None = None
) -> None:
    pilot_v2, pilot_v3 = pilot_v2 or {}, pilot_v3 or {}
    s = SUITE
    lim = result["limit"]
    lines = [
        "# Downstream on AgileX (sim): value-weighted BC vs plain BC on agilex_transfer_cube",
        "",
        f"Command: `{result['command']}`",
        "",
        "## Plan (written and committed before any rollout)",
        "",
        *PLAN.strip().splitlines(),
        "",
        "Settings:",
        "",
        "| setting | learner | steps | checkpoint | data |",
        "|---|---|---|---|---|",
    ]
    for st in SETTINGS.values():
        ck = arms.checkpoint_rule(st.eval_every)
        lines.append(f"| {st.name} | mlp_chunk {st.size} | {st.steps} | {ck} | {st.mix} |")
    lines += [
        "",
        f"Rollout limit: {lim['control_steps']} control steps at {s.control_freq} Hz ({lim['rule']}; expert "
        f"frames at {s.fps} fps q50/q95/max {', '.join(f'{x:g}' for x in lim['expert_frames_q50_q95_max'])}, "
        f"{lim['experts']} experts). H {s.chunk}, τ {s.tau:g}, executing {s.replan} actions per chunk.",
        "",
        f"Sanity check (not a policy): the recorded {s.fps} fps actions of the first "
        f"{result['replay_check']['episodes']} expert episodes, replayed open loop from their placements with "
        f"each action held {s.stride} control steps as a rollout does, succeed in "
        f"{result['replay_check']['successes']}/{result['replay_check']['episodes']}"
        + (
            ": the rate and action space suffice for the task."
            if result["replay_check"]["successes"] == result["replay_check"]["episodes"]
            else ": not every one, so the rate or action space loses something the task needs."
        ),
        "",
        *(
            [
                "Expert data check (not a policy): "
                + branch_words(result["expert_modes"], tested=bool(result.get("branch_diagnostic"))),
                "",
            ]
            if result.get("expert_modes", {}).get("split_dims")
            else []
        ),
        "## Pilot (training seed 0; BC and ground-truth arms only)",
        "",
    ]
    lines += pilot_lines(pilot_result, s)
    if pilot_v2 or (pilot_result.get("complete") and not passes(pilot_result)):
        lines += v2_lines(result, pilot_v2)
    if pilot_v2.get("complete") and not passes(pilot_v2):
        lines += diag_lines(result.get("branch_diagnostic") or {})
    if pilot_v3 or result.get("branch_diagnostic"):
        lines += v3_lines(result, pilot_v3)
    lines += ["", "## Grid", ""]
    cells = result["tasks"].get(TASK, {})
    if not cells:
        lines.append("Not run (see the verdict).")
    else:
        st = result["setting"]
        arm_list = [a for a in result["arms"] if a in cells]
        lines += [
            f"Setting **{st['name']}** ({st['source']}); training seeds {', '.join(map(str, result['seeds']))} x "
            f"{result['trials_per_seed']} trials, the same placements for every arm. Success = successes/trials "
            f"[Wilson 95%], mean control steps to success; minus BC: points, paired 95% two-level bootstrap.",
            "",
            "| arm | success | minus BC | per seed | kept / AWR mean weight |",
            "|---|---|---|---|---|",
        ]
        for a in arm_list:
            c = cells[a]
            w = c.get("weights") or {}
            per_seed = ", ".join(f"s{k}: {x['successes']}/{x['trials']}" for k, x in c["per_seed"].items())
            kept = f"{w['kept_fraction']:.2f} / {w['raw_mean']:.2f}" if w else "-"
            diff = report.fmt_diff(result["vs_bc"].get(a)) if a != "bc" else "-"
            lines.append(f"| {a} | {report.fmt_cell(c)} | {diff} | {per_seed} | {kept} |")
        lines += ["", "Targets:", ""] + grid.target_lines(result["verdict"])
        if result.get("awr_gt_minus_awr"):
            lines.append(f"- awr_gt - awr: {report.fmt_diff(result['awr_gt_minus_awr'])}.")
        if result.get("baseline"):
            b = result["baseline"][TASK]
            lines.append(
                f"- awr_baseline reads {b['source']} (RMSE vs ground truth "
                + ", ".join(f"{k} {r:.3f}" for k, r in b["rmse_vs_gt"].items())
                + ")."
            )
        lines += ["", "Held-out loss of the grid's runs at the chosen checkpoint (mean over seeds):", ""]
        held = result.get("heldout_loss_at_choice", {})
        lines += [f"- {a}: {np.mean(held[a]):.4f} ({len(held[a])} seeds)" for a in arm_list if held.get(a)]
        lines.append("")
        lines.append(f"Grid CPU time: {result['cpu_s'] / 60:.1f} min (training + rollouts, one thread each).")
        if result.get("not_run"):
            lines.append(f"Not run (yet): {', '.join(result['not_run'])}.")
    lines += ["", "## Verdict", "", result["verdict_words"], ""]
    path.write_text("\n".join(lines) + "\n")


def pilot_lines(pilot_result: dict, s: data.Suite) -> list[str]:
    """A pilot round's results: table, how far trials got, choice, held-out loss curves, CPU time."""
    lines: list[str] = []
    if not pilot_result:
        lines.append("Nothing has run yet.")
    else:
        lines += [
            f"{pilot_result['trials']} trials per arm on placements 100,000 + i. Success = successes/trials "
            f"[Wilson 95%], mean control steps ({s.control_freq} Hz) to success.",
            "",
            "| setting | " + " | ".join(pilot.PILOT_ARMS) + " | passes | why |",
            "|---|" + "---|" * len(pilot.PILOT_ARMS) + "---|---|",
        ]
        for name, per in pilot_result["results"].items():
            cells = per[TASK]
            v = pilot_result["verdicts"][name][TASK]
            why = []
            if v["bc_expert"] is not None and v["bc_expert"] < pilot.EXPERT_GATE:
                why.append("bc_expert < 60%: other arms not run")
            elif v["best_gt"] is not None and not pilot.GT_RANGE[0] <= v["best_gt"] <= pilot.GT_RANGE[1]:
                why.append(f"best GT arm ({v['best_gt_arm']}) outside [30%, 90%]")
            row = [report.fmt_cell(cells[a]["cell"]) if a in cells else "-" for a in pilot.PILOT_ARMS]
            lines.append(f"| {name} | " + " | ".join(row) + f" | {'yes' if v['passes'] else 'no'} | {'; '.join(why)} |")
        far = [
            f"- {name} / {arm}: " + ", ".join(f"{k} {x}/{c['cell']['trials']}" for k, x in r.items())
            for name, per in pilot_result["results"].items()
            for arm, c in per[TASK].items()
            if (r := c["cell"].get("reached"))
        ]
        if far:
            lines += [
                "",
                "How far the trials got (trials reaching each gym-aloha reward stage; diverged: the simulation "
                "blew up under the policy's joint targets, a failure):",
                "",
                *far,
            ]
        ch = pilot_result["choice"]
        lines += ["", f"Chosen by the rule: **{ch['setting']}** ({'passes' if ch['passes_on'] else 'fails'})."]
        if pilot_result.get("gt_arms"):
            g = pilot_result["gt_arms"]
            lines.append(
                f"Best non-AWR ground-truth arm: {g['best_other_gt_arm']}; best ground-truth arm: {g['best_gt_arm']}."
            )
        lines += [
            "",
            "Held-out loss (L1 per chunk on the 8 + 8 held-out episodes) per checkpoint, chosen step in bold:",
            "",
        ]
        for name, per in pilot_result["results"].items():
            for arm, c in per[TASK].items():
                tr = c["train"]
                curve = ", ".join(
                    (f"**{k}: {x:.4f}**" if int(k) == tr["chosen_step"] else f"{k}: {x:.4f}")
                    for k, x in tr["heldout_loss"].items()
                )
                cpu = f" (training {tr['cpu_s'] / 60:.1f} CPU-min, rollouts {c['rollout_cpu_s'] / 60:.1f})"
                lines.append(f"- {name} / {arm}: {curve}{cpu}")
        lines += ["", f"Pilot CPU time: {pilot_result['cpu_s'] / 60:.1f} min (training + rollouts, one thread)."]
    return lines


def v2_lines(result: dict, pilot_v2: dict) -> list[str]:
    return round_lines(result, pilot_v2, V2, "registered after v1 failed the gate, before any v2 rollout", PLAN_V2)


def v3_lines(result: dict, pilot_v3: dict) -> list[str]:
    return round_lines(
        result, pilot_v3, V3, "registered after v1 and v2 failed the gate, before any v3 rollout", PLAN_V3
    )


def round_lines(result: dict, pilot_r: dict, rnd: Round, registered: str, plan: str) -> list[str]:
    """A later round's section: its plan, settings, rollout limits, data checks and results."""
    s, v = rnd.suite, rnd.name
    lines = [
        "",
        f"## Pilot {v} ({registered})",
        "",
        *plan.strip().splitlines(),
        "",
        "Settings:",
        "",
        "| setting | learner | steps | batch | lr | checkpoint | data (suboptimal per mode / experts) |",
        "|---|---|---|---|---|---|---|",
    ]
    for st in rnd.settings.values():
        ck = arms.checkpoint_rule(st.eval_every)
        e = rnd.episodes(AgilexConfig(), st.name)
        lines.append(
            f"| {st.name} | {st.policy} {st.size} | {st.steps} | {st.batch_size} | {st.lr:g} | {ck} | "
            f"{st.mix}: {e} + {e} / {2 * e} |"
        )
    lines.append("")
    for name, lim in (pilot_r.get("limits") or {}).items():
        if lim:
            lines.append(
                f"Rollout limit of {name}: {lim['control_steps']} control steps at {s.control_freq} Hz ({lim['rule']}; "
                f"expert frames at {s.fps} fps q50/q95/max "
                f"{', '.join(f'{x:g}' for x in lim['expert_frames_q50_q95_max'])}, {lim['experts']} experts)."
            )
    lines.append(f"H {s.chunk} ({s.chunk / s.fps:g} s), τ {s.tau:g}, executing {s.replan} actions per chunk.")
    rc = result.get(f"replay_check_{v}") or {}
    if rc:
        lines += [
            "",
            f"Sanity check (not a policy): the recorded {s.fps} fps actions of the first {rc['episodes']} {v} expert "
            f"episodes, replayed open loop with each action held {s.stride} control steps, succeed in "
            f"{rc['successes']}/{rc['episodes']}.",
        ]
        first = next(iter(rnd.settings))
        if rc.get("expert_modes", {}).get("split_dims"):
            tested = v == "v2" and bool(result.get("branch_diagnostic"))
            lines += ["", f"Expert data check ({v} experts, {first}): {branch_words(rc['expert_modes'], tested)}"]
        elif rc.get("expert_modes"):
            lines += ["", f"Expert data check ({v} experts, {first}): {modes_words(rc['expert_modes'], v)}"]
    lines += ["", f"### Pilot {v} results (training seed 0; BC and ground-truth arms only)", ""]
    lines += pilot_lines(pilot_r, s)
    return lines


def plot(
    result: dict, pilot_result: dict, path: Path, pilot_v2: dict | None = None, pilot_v3: dict | None = None
) -> None:
    """Left: training loss (every 100 steps) and held-out loss (per checkpoint) of the pilot's runs. Right:
    the grid's success per arm with Wilson intervals, when it ran."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = result["tasks"].get(TASK, {})
    fig, axes = plt.subplots(1, 2 if cells else 1, figsize=(11 if cells else 6, 4.2))
    axes = np.atleast_1d(axes)
    ax = axes[0]
    drawn = set()
    runs = {
        **pilot_result["results"],
        **((pilot_v2 or {}).get("results") or {}),
        **((pilot_v3 or {}).get("results") or {}),
    }
    for name, per in runs.items():
        for arm, c in per[TASK].items():
            tr = c["train"]
            if tr["checkpoint"] in drawn:  # a shared bc_expert once
                continue
            drawn.add(tr["checkpoint"])
            log = [json.loads(x) for x in Path(tr["train_log"]).read_text().splitlines() if x.strip()]
            log = [x for x in log if "step" in x and "loss_unweighted" in x]
            (line,) = ax.plot(
                [x["step"] for x in log], [x["loss_unweighted"] for x in log], lw=0.8, label=f"{name} {arm}"
            )
            held = {int(k): x for k, x in tr["heldout_loss"].items()}
            ax.plot(list(held), list(held.values()), "o", color=line.get_color(), ms=4)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("L1 per chunk: training (lines), held-out suboptimal episodes (dots)", fontsize=8)
    ax.set_title("pilot learning curves", fontsize=9)
    ax.legend(fontsize=6)
    if cells:
        ax = axes[1]
        xs = [a for a in result["arms"] if a in cells]
        rates = np.array([cells[a]["rate"] for a in xs])
        lo = np.array([cells[a]["wilson95"][0] for a in xs])
        hi = np.array([cells[a]["wilson95"][1] for a in xs])
        colors = ["0.5" if a == "bc" else "tab:green" if a.endswith("_gt") else "tab:blue" for a in xs]
        ax.bar(range(len(xs)), rates, color=colors, yerr=[rates - lo, hi - rates], capsize=2)
        ax.set_xticks(range(len(xs)), xs, rotation=70, fontsize=7)
        ax.set_ylabel("success rate (95% Wilson)")
        ax.set_title(f"grid: n = {cells[xs[0]]['trials']} per arm", fontsize=9)
    fig.suptitle(f"AgileX (sim) {TASK}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def readme_snippet(result: dict) -> str:
    lines = [f"From `bench/results/downstream_agilex_sim.md` (`{result['command']}`):", ""]
    p, p2, p3 = result["pilot"], result.get("pilot_v2") or {}, result.get("pilot_v3") or {}
    if p:
        lines += [
            "| pilot setting | " + " | ".join(pilot.PILOT_ARMS) + " | passes |",
            "|---|" + "---|" * (len(pilot.PILOT_ARMS) + 1),
        ]
        for rnd_name, pr in (("v1", p), ("v2", p2), ("v3", p3)):
            for name, per in (pr.get("results") or {}).items():
                c = per[TASK]
                row = [
                    f"{c[a]['cell']['successes']}/{c[a]['cell']['trials']}" if a in c else "-" for a in pilot.PILOT_ARMS
                ]
                ok = "yes" if pr["verdicts"][name][TASK]["passes"] else "no"
                lines.append(f"| {rnd_name} {name} | " + " | ".join(row) + f" | {ok} |")
        lines.append("")
    cells = result["tasks"].get(TASK, {})
    if cells:
        lines += ["| grid arm | success | minus BC [95%, paired] |", "|---|---|---|"]
        for a in result["arms"]:
            if a in cells:
                c = cells[a]
                diff = report.fmt_diff(result["vs_bc"].get(a)) if a != "bc" else "-"
                lines.append(f"| {a} | {c['successes']}/{c['trials']} = {c['rate']:.2f} | {diff} |")
        lines.append("")
    lines.append(result["verdict_words"])
    return "\n".join(lines)


if __name__ == "__main__":
    main()
