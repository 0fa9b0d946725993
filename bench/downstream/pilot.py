"""Pre-registered headroom pilot (issue: downstream proof v3): which setting shows that better values make a
better policy, decided from plain BC and ground-truth arms only, before any learned value is used.

    python -m bench.downstream.pilot [--work /work/wvmdata/downstream_v3] [--tasks lift ...] [--trials 20]

Written before any pilot rollout (the plan below is the file's first section, committed first):
- Tasks: lift, pickplace_can, pickplace_bread (the v1 grid's tasks).
- Settings (`arms.SETTINGS`): `mlp256_3k` (the feasibility runs' learner: MLP 2 x 256, 3,000 steps);
  `mlp512_plateau` (MLP 2 x 512, up to 8,000 steps, the checkpoint with the lowest held-out loss, evaluated
  every 1,000 steps on 8 + 8 held-out episodes); `mlp256_mixed_3k` (as the first, on the suboptimal set plus
  80 expert episodes: a mixed set with experts). Data: 40 hesitation + 40 retry v2 episodes per task. They
  run setting-major in the order mlp256_3k, mlp256_mixed_3k, mlp512_plateau (cheapest first), so a run cut
  short has compared the cheap settings on every task.
- Arms per setting and task, training seed 0, `--trials` (20) rollouts each: bc_expert first, then bc, awr_gt,
  fbc_binary_gt, fbc_top70_gt, strict_gt. A setting whose bc_expert is below 60% on a task fails there and
  its other arms are not run on that task (the learner cannot learn the task; nothing can be read from it).
  bc_expert depends only on the learner and budget, so settings that differ only in data mix share it.
- Rollout limit: 1.5 x the 95th percentile of the task's expert-episode durations (`data.rollout_limit`).
- The rule: a setting passes on a task when bc_expert >= 60% and the best ground-truth arm lies in
  [30%, 90%]. Among the settings that pass on every task, the one with the largest ground-truth gain over BC
  (best ground-truth arm minus bc, averaged over the tasks) is chosen; if none passes on every task, the one
  passing on the most tasks, then by that gain, and the tasks where it fails are reported as such.
  The grid's "best other ground-truth arm" is the best of fbc_binary_gt, fbc_top70_gt, strict_gt in the
  chosen setting (average success over the tasks); "the arm best with ground truth" the best of those and
  awr_gt, run in the grid with every value model's values.
- Not tried (compute): a base policy pretrained on other tasks' experts then fine-tuned, other data sizes.
Nothing here reads learned values, the bench's test trajectories or the grid's rollouts.

Round 2 (registered after round 1 failed the gate on pickplace_can and pickplace_bread, before any round-2 rollout):
- Why: round 1's bc_expert (plain BC on the 80 expert episodes) stayed below the 60% gate on pickplace_can
  (7/20, 7/20, 6/20) and pickplace_bread (10/20 in all three settings) whatever the MLP's width, budget or
  checkpoint rule; mlp512_plateau's held-out loss was lowest at step 1,000 and rose after (overfitting), and
  the wider MLP did no better. So the learner (one regression of the whole chunk from the state), not the
  step budget, is what round 2 changes; data, chunk, gate and rule stay round 1's.
- Tasks, in this order: pickplace_can, pickplace_bread, lift (the failing tasks first, so a run cut short has
  answered them; lift because the chosen setting must serve every task of the grid).
- Settings (`arms.SETTINGS`; tried in this order):
  1. `act_state_mixed`: lerobot ACT through `policy_ft --policy act --size small` (width 128, 2 encoder + 1
     decoder layers, no VAE) on observation.state + observation.environment_state, no image (lerobot's ACT
     takes the environment state in place of images), H = 10 and 5 actions executed per chunk as round 1
     (`--preset none`, chunk and τ explicit), batch 64, lr 1e-4, up to 3,000 steps, the checkpoint with the
     lowest held-out loss of those every 1,000 (round 1's plateau rule, same 8 + 8 held-out episodes); data
     round 1's mixed set (40 hesitation + 40 retry + the 80 experts). Why mixed first: in round 1 the mixed
     set was the only one where the ground-truth arms stood clearly above bc on lift (strict_gt 17/20 vs bc
     11/20; on the suboptimal set the best ground-truth arm was 7/20 vs bc 6/20), and the rule chose it.
  2. `act_state`: the same learner and budget on the suboptimal set only (40 + 40). It shares setting 1's
     bc_expert (same learner and budget), so it costs only its other arms; it runs after setting 1 on the
     tasks where bc_expert passed.
- Order of runs: bc_expert on pickplace_can, pickplace_bread, lift first (the gate); then setting 1's other
  arms (bc, awr_gt, fbc_binary_gt, fbc_top70_gt, strict_gt) on the tasks where bc_expert passed, in the
  task order above; then setting 2's. Training seed 0, 20 trials per arm, placements 100,000 + i and the
  rollout limit as round 1 (1.5 x q95 of the expert durations).
- Gate and rule: round 1's, unchanged (bc_expert >= 60%; best ground-truth arm in [30%, 90%]; among the
  round-2 settings, passing on the most tasks, then the largest mean best-ground-truth-arm minus bc gain).
  Round 1's record and choice stay as they are; round 2's choice is reported beside it.
- Cost (measured before any round-2 rollout): 200 ACT training steps at batch 64 took 17 CPU-s on
  pickplace_can's experts (3,000 steps ~4.3 CPU-min, held-out loss ~1 CPU-s per checkpoint); one
  200-control-step rollout trial of that checkpoint took 13.5 CPU-s with start-up (<= 0.07 CPU-s per control
  step). So ~13 CPU-min of training for the three bc_expert gates and at most ~38 CPU-min of their rollouts
  (every trial failing at the limit: can <= 19, bread <= 13, lift <= 8); each further arm ~5 CPU-min of
  training plus rollouts bounded the same way, so a task's five other arms take up to ~1-2 CPU-hours per
  setting: on this machine's budget the gate runs first and the other arms as time allows.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import tyro

from bench import replace_readme_block, write_results_json
from bench.downstream import arms, data, report
from robodata import atomic

RESULTS = Path(__file__).resolve().parents[1] / "results"
PLAN = __doc__.split("committed first):")[1].split("Nothing here")[0]
PLAN_R2 = __doc__.split("before any round-2 rollout):", 1)[1]
PILOT_ARMS = ("bc_expert", "bc", "awr_gt", "fbc_binary_gt", "fbc_top70_gt", "strict_gt")
GT_ARMS = ("awr_gt", "fbc_binary_gt", "fbc_top70_gt", "strict_gt")
EXPERT_GATE, GT_RANGE = 0.6, (0.3, 0.9)


@dataclass(frozen=True)
class PilotConfig:
    work: Path = Path("/work/wvmdata/downstream_v3")
    """Cache of data, checkpoints and rollouts (shared with the grid); rerunning resumes from it."""
    tasks: tuple[str, ...] = ("lift", "pickplace_can", "pickplace_bread")
    settings: tuple[str, ...] = ("mlp256_3k", "mlp256_mixed_3k", "mlp512_plateau")
    trials: int = 20
    """Rollouts per arm (training seed 0)."""
    episodes: int = 40
    """Episodes per suboptimal mode (hesitation, retry)."""
    val_episodes: int = 8
    settings_r2: tuple[str, ...] = ("act_state_mixed", "act_state")
    """Round 2's settings, in order (its plan: this module's docstring)."""
    tasks_r2: tuple[str, ...] = ("pickplace_can", "pickplace_bread", "lift")
    """Round 2's tasks, in order (its bc_expert gate runs on all of them first)."""
    report_only: bool = False
    """Gather what has run; train and roll out nothing."""
    out: Path = RESULTS / "downstream_pilot_v3"


def expert_setting(setting: arms.Setting) -> arms.Setting:
    """The setting whose bc_expert this one shares: the first with the same learner and budget."""
    for s in arms.SETTINGS.values():
        if replace(s, name=setting.name, mix=setting.mix) == setting:
            return s
    return setting


def run_task(
    cfg: PilotConfig, setting: arms.Setting, task: str, roots: dict, limit: int, pilot_arms=PILOT_ARMS
) -> dict:
    """The pilot arms of one setting on one task (cached); stops after bc_expert when it misses the gate."""
    out = {}
    for arm in pilot_arms:
        s = expert_setting(setting) if arm == "bc_expert" else setting
        done = arms.arm_dir(cfg.work, "rollout", s, task, arm, 0) / "rollout.json"
        if cfg.report_only and not done.is_file():
            continue
        record = arms.train(cfg.work, s, task, arm, 0, roots)
        res = arms.rollout(cfg.work, s, task, arm, 0, record, cfg.trials, limit)
        cpu_file = arms.arm_dir(cfg.work, "rollout", s, task, arm, 0) / "cpu.json"
        rollout_cpu = json.loads(cpu_file.read_text())["cpu_s"] if cpu_file.is_file() else 0.0
        out[arm] = {"cell": report.cell({0: res}), "train": record, "rollout_cpu_s": rollout_cpu}
        print(f"[pilot {time.strftime('%H:%M:%S')}] {setting.name} {task} {arm}: {res['successes']}/{res['trials']}")
        if arm == "bc_expert" and res["successes"] / res["trials"] < EXPERT_GATE:
            break
    return out


def judge(cells: dict) -> dict:
    """The rule on one setting and task."""
    rate = {a: c["cell"]["rate"] for a, c in cells.items()}
    expert = rate.get("bc_expert")
    gts = {a: rate[a] for a in GT_ARMS if a in rate}
    best = max(gts, key=gts.get) if gts else None
    passes = (
        expert is not None
        and expert >= EXPERT_GATE
        and best is not None
        and GT_RANGE[0] <= gts[best] <= GT_RANGE[1]
        and len(gts) == len(GT_ARMS)
        and "bc" in rate
    )
    return {
        "bc_expert": expert,
        "best_gt_arm": best,
        "best_gt": gts.get(best) if best else None,
        "bc": rate.get("bc"),
        "gain": (gts[best] - rate["bc"]) if best and "bc" in rate else None,
        "passes": bool(passes),
    }


def choose(verdicts: dict, tasks: tuple[str, ...]) -> dict:
    """The pre-registered choice among settings from {setting: {task: judge()}}."""

    def key(name):
        v = verdicts[name]
        passed = sum(v[t]["passes"] for t in tasks if t in v)
        gains = [v[t]["gain"] for t in tasks if t in v and v[t]["gain"] is not None]
        return (passed, sum(gains) / len(gains) if gains else float("-inf"))

    ranked = sorted(verdicts, key=key, reverse=True)
    best = ranked[0] if ranked else None
    return {
        "setting": best,
        "passes_on": [t for t in tasks if best and verdicts[best].get(t, {}).get("passes")],
        "ranking": [{"setting": s, "tasks_passed": key(s)[0], "mean_gain": key(s)[1]} for s in ranked],
    }


def best_gt_arms(results: dict, setting: str, tasks) -> dict:
    """From the chosen setting: the best non-AWR ground-truth arm and the best ground-truth arm overall
    (average success over the tasks where every ground-truth arm ran)."""
    per = results[setting]
    full = [t for t in tasks if t in per and all(a in per[t] for a in GT_ARMS)]
    if not full:
        return {}
    mean = {a: sum(per[t][a]["cell"]["rate"] for t in full) / len(full) for a in GT_ARMS}
    other = max((a for a in GT_ARMS if a != "awr_gt"), key=mean.get)
    return {"best_other_gt_arm": other, "best_gt_arm": max(GT_ARMS, key=mean.get), "mean_rate": mean, "tasks": full}


def slim(results: dict) -> dict:
    """Pilot cells for the JSON: the cell, the chosen step and the held-out loss curve of each arm."""
    return {
        s: {
            t: {
                a: {
                    "cell": c["cell"],
                    "chosen_step": c["train"]["chosen_step"],
                    "heldout_loss": c["train"]["heldout_loss"],
                }
                for a, c in cells.items()
            }
            for t, cells in per.items()
        }
        for s, per in results.items()
    }


def verdict_table(results: dict, verdicts: dict, unfinished: bool = False) -> list[str]:
    """The pilot table: a row per setting and task, its arms' cells, whether it passes and why not
    (`unfinished`: also say when a setting fails only because some of its arms have not run)."""
    lines = [
        "| setting | task | " + " | ".join(PILOT_ARMS) + " | passes | why |",
        "|---|---|" + "---|" * len(PILOT_ARMS) + "---|---|",
    ]
    for name, per in results.items():
        for task, cells in per.items():
            v = verdicts[name][task]
            why = []
            if v["bc_expert"] is not None and v["bc_expert"] < EXPERT_GATE:
                why.append("bc_expert < 60%: other arms not run")
            elif v["best_gt"] is not None and not GT_RANGE[0] <= v["best_gt"] <= GT_RANGE[1]:
                why.append(f"best GT arm ({v['best_gt_arm']}) outside [30%, 90%]")
            elif unfinished and not v["passes"]:
                why.append("not every arm has run yet")
            row = [report.fmt_cell(cells[a]["cell"]) if a in cells else "-" for a in PILOT_ARMS]
            lines.append(
                f"| {name} | {task} | " + " | ".join(row) + f" | {'yes' if v['passes'] else 'no'} | {'; '.join(why)} |"
            )
    return lines


def write_markdown(result: dict, path: Path) -> None:
    lines = [
        "# Downstream pilot v3: which setting shows the headroom (BC and ground-truth arms only)",
        "",
        f"Command: `{result['command']}`",
        "",
        "## Plan (written and committed before any pilot rollout)",
        "",
        *PLAN.strip().splitlines(),
        "",
        "Settings:",
        "",
        "| setting | learner | steps | checkpoint | data |",
        "|---|---|---|---|---|",
    ]
    for s in result["settings"].values():
        ck = arms.checkpoint_rule(s["eval_every"])
        lines.append(f"| {s['name']} | mlp_chunk {s['size']} | {s['steps']} | {ck} | {s['mix']} |")
    lines += ["", "## Results", ""]
    if not result["results"]:
        lines.append("Nothing has run yet.")
    else:
        lines += [
            f"Training seed 0, {result['trials']} trials per arm on placements never trained on; rollout limit "
            + ", ".join(f"{t} {v['control_steps']} control steps" for t, v in result["limits"].items())
            + f" ({next(iter(result['limits'].values()))['rule']}). Success = successes/trials [Wilson 95%], "
            "mean control steps (20 Hz) to success.",
            "",
            *verdict_table(result["results"], result["verdicts"]),
        ]
        ch = result["choice"]
        lines += [
            "",
            f"Chosen by the rule: **{ch['setting']}** (passes on {', '.join(ch['passes_on']) or 'no task'}).",
            "Ranking: "
            + "; ".join(
                f"{r['setting']} ({r['tasks_passed']} tasks, mean gain {100 * r['mean_gain']:+.0f} points)"
                for r in ch["ranking"]
            )
            + ".",
        ]
        if result.get("gt_arms"):
            g = result["gt_arms"]
            lines.append(
                f"Best non-AWR ground-truth arm: {g['best_other_gt_arm']}; best ground-truth arm: {g['best_gt_arm']} "
                f"(mean success over {', '.join(g['tasks'])}: "
                + ", ".join(f"{a} {100 * r:.0f}%" for a, r in g["mean_rate"].items())
                + ")."
            )
        lines += [
            "",
            "Held-out loss of the plain-BC runs (per checkpoint; the chosen step in bold where a plateau rule applies):",
            "",
        ]
        for name, per in result["results"].items():
            for task, cells in per.items():
                if "bc" in cells:
                    tr = cells["bc"]["train"]
                    curve = ", ".join(
                        (f"**{k}: {v:.4f}**" if int(k) == tr["chosen_step"] else f"{k}: {v:.4f}")
                        for k, v in tr["heldout_loss"].items()
                    )
                    lines.append(f"- {name} / {task}: {curve}")
        lines += ["", f"CPU time: {result['cpu_s'] / 60:.0f} min of training and rollouts (one thread each)."]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> dict:
    cfg = tyro.cli(PilotConfig, args=argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch

    torch.set_num_threads(1)
    command = "python -m bench.downstream.pilot " + " ".join(sys.argv[1:] if argv is None else argv)
    results, verdicts, limits, cpu, roots = {}, {}, {}, 0.0, {}
    for task in dict.fromkeys((*cfg.tasks, *cfg.tasks_r2)):
        roots[task] = (
            {n: data.dataset_dir(cfg.work, task, n) for n in data.SETS}
            if cfg.report_only
            else data.prepare(cfg.work, task, cfg.episodes, cfg.val_episodes)
        )
        if (roots[task]["expert"] / "meta" / "robosuite_eval.json").is_file():
            limits[task] = data.rollout_limit(roots[task]["expert"])
    for name in cfg.settings:
        for task in (t for t in cfg.tasks if t in limits):
            cells = run_task(cfg, arms.SETTINGS[name], task, roots[task], limits[task]["control_steps"])
            if cells:
                results.setdefault(name, {})[task] = cells
                verdicts.setdefault(name, {})[task] = judge(cells)
                cpu += sum(c["train"]["cpu_s"] + c["rollout_cpu_s"] for c in cells.values())
    choice = choose(verdicts, cfg.tasks)
    result = {
        "command": command,
        "settings": {n: asdict(arms.SETTINGS[n]) for n in cfg.settings},
        "trials": cfg.trials,
        "limits": limits,
        "results": slim(results),
        "verdicts": verdicts,
        "choice": choice,
        "gt_arms": best_gt_arms(results, choice["setting"], cfg.tasks) if choice["setting"] else {},
        "cpu_s": cpu,
    }
    r2 = run_round2(cfg, roots, limits, results)
    result["round2"] = {**r2, "results": slim(r2["results"])}
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    write_results_json(cfg.out.with_suffix(".json"), result)
    write_markdown({**result, "results": results}, cfg.out)
    with cfg.out.with_suffix(".md").open("a") as f:
        f.write("\n".join(round2_markdown({**result["round2"], "results": r2["results"]}, result)) + "\n")
    if cfg.out == RESULTS / "downstream_pilot_v3":  # the README quotes the committed results only
        replace_readme_block("downstream pilot", readme_snippet(result))
    return result


R2_HEADING = (
    "## Round 2 (registered after round 1 failed the gate on pickplace_can and pickplace_bread, before any "
    "round-2 rollout)"
)


def run_round2(cfg: PilotConfig, roots: dict, limits: dict, round1: dict | None = None) -> dict:
    """Round 2 as registered: bc_expert (shared by the round's settings) on every task first, then each
    setting's other arms on the tasks where it passed the gate; cached, so a rerun resumes."""
    tasks = [t for t in cfg.tasks_r2 if t in limits]
    results, verdicts, cpu, seen = {}, {}, 0.0, set()
    if cfg.settings_r2:
        first = arms.SETTINGS[cfg.settings_r2[0]]
        for task in tasks:  # the gate first, on every task
            run_task(cfg, first, task, roots[task], limits[task]["control_steps"], ("bc_expert",))
    for name in cfg.settings_r2:
        for task in tasks:
            cells = run_task(cfg, arms.SETTINGS[name], task, roots[task], limits[task]["control_steps"])
            if cells:
                results.setdefault(name, {})[task] = cells
                verdicts.setdefault(name, {})[task] = judge(cells)
                for c in cells.values():  # a shared bc_expert counts once
                    if c["train"]["checkpoint"] not in seen:
                        seen.add(c["train"]["checkpoint"])
                        cpu += c["train"]["cpu_s"] + c["rollout_cpu_s"]
    choice = choose(verdicts, tuple(tasks))
    checks = {}
    for task in tasks:  # the inference-path check where round 2's bc_expert missed the gate
        cells = next((per[task] for per in results.values() if "bc_expert" in per.get(task, {})), None)
        if cells and cells["bc_expert"]["cell"]["rate"] < EXPERT_GATE:
            cks = {
                f"{cells['bc_expert']['train']['setting']['name']} bc_expert": cells["bc_expert"]["train"]["checkpoint"]
            }
            for n, per in (round1 or {}).items():
                c = per.get(task, {}).get("bc_expert")
                if c and c["train"]["checkpoint"] not in cks.values():
                    cks[f"{n} bc_expert"] = c["train"]["checkpoint"]
            checks[task] = open_loop(cfg.work, cks, task, cfg.report_only)
    out = {
        "open_loop_l1": checks,
        "settings": {n: asdict(arms.SETTINGS[n]) for n in cfg.settings_r2},
        "tasks": tasks,
        "trials": cfg.trials,
        "results": results,
        "verdicts": verdicts,
        "choice": choice,
        "gt_arms": best_gt_arms(results, choice["setting"], tasks) if choice["setting"] else {},
        "cpu_s": cpu,
        "pending": pending(results, verdicts, cfg.settings_r2, tasks),
    }
    out["resume"] = "python -m bench.downstream.pilot"
    return {**out, "words": round2_words(out, round1 or {})}


def open_loop(work: Path, checkpoints: dict[str, str], task: str, report_only: bool = False) -> dict:
    """A check of the rollout's inference path, not a setting (it chooses nothing): each checkpoint, loaded as
    the rollouts load it (robosuite_eval's LeRobotPolicy), predicts chunks from the recorded states of the
    task's held-out hesitation episodes every 5 frames; mean |predicted - recorded| action (raw units) over
    the first 10 actions of each chunk. Cached under <work>/diag; {name: L1}."""
    out_file = Path(work) / "diag" / f"round2_open_loop_{task}.json"
    cached = json.loads(out_file.read_text()) if out_file.is_file() else {}
    if cached.get("checkpoints") == checkpoints or report_only:
        return cached.get("l1", {}) if cached.get("checkpoints") == checkpoints else {}
    import numpy as np
    import pandas as pd

    from robosuite_eval.policy import LeRobotPolicy

    root = data.dataset_dir(work, task, "val_hesitation")
    df = pd.concat([pd.read_parquet(f) for f in sorted((root / "data").rglob("*.parquet"))])
    l1 = {}
    for name, checkpoint in checkpoints.items():
        policy, errs = LeRobotPolicy(checkpoint), []
        for _, g in df.groupby("episode_index"):
            state, env = (
                np.stack(g["observation.state"].to_numpy()),
                np.stack(g["observation.environment_state"].to_numpy()),
            )
            action = np.stack(g["action"].to_numpy())
            policy.reset()
            for t in range(0, len(g) - arms.H, 5):
                obs = {"observation.state": state[t].astype(np.float32), "task": task, "prompt": task}
                obs["observation.environment_state"] = env[t].astype(np.float32)
                errs.append(float(np.abs(policy.infer(obs)[: arms.H] - action[t : t + arms.H]).mean()))
        l1[name] = round(float(np.mean(errs)), 4)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out_file, {"checkpoints": checkpoints, "l1": l1})
    return l1


def pending(results: dict, verdicts: dict, settings, tasks) -> list[str]:
    """What round 2's plan still has to run: a missing gate, or the other arms where the gate passed."""
    todo = []
    for name in settings:
        for task in tasks:
            cells = results.get(name, {}).get(task, {})
            if "bc_expert" not in cells:
                todo.append(f"{name} / {task}: bc_expert (the gate)")
            elif cells["bc_expert"]["cell"]["rate"] >= EXPERT_GATE:
                missing = [a for a in PILOT_ARMS if a not in cells]
                if missing:
                    todo.append(f"{name} / {task}: {', '.join(missing)}")
    return todo


def round2_words(r2: dict, round1: dict) -> str:
    """The round-2 verdict in words, from its numbers (and round 1's bc_expert on the same task, `round1` being
    round 1's {setting: {task: cells}})."""
    words = []
    expert, curve = {}, {}
    for per in r2["results"].values():
        for task, cells in per.items():
            if "bc_expert" in cells:
                expert.setdefault(task, cells["bc_expert"]["cell"])
                curve.setdefault(task, cells["bc_expert"]["train"]["heldout_loss"])
    for task in r2["tasks"]:
        if task not in expert:
            words.append(f"{task}: bc_expert has not run yet.")
            continue
        c = expert[task]
        ok = c["rate"] >= EXPERT_GATE
        words.append(
            f"{task}: bc_expert {c['successes']}/{c['trials']} ({100 * c['rate']:.0f}%), "
            + ("passes the 60% gate" if ok else "below the 60% gate: the learner cannot learn the task here")
        )
        r1 = {}  # a shared bc_expert once, under the first setting that ran it
        for n, per in round1.items():
            c = per.get(task, {}).get("bc_expert")
            if c and c["train"]["checkpoint"] not in {x["train"]["checkpoint"] for x in r1.values()}:
                r1[n] = c
        words[-1] += (
            " (round 1's bc_expert: "
            + ", ".join(
                f"{n} {c['cell']['successes']}/{c['cell']['trials']}, held-out loss "
                f"{c['train']['heldout_loss'][str(c['train']['chosen_step'])]:.4f}"
                for n, c in r1.items()
            )
            + f"; round 2's held-out loss {curve[task][str(max(map(int, curve[task])))]:.4f} at its last checkpoint)."
            if r1
            else "."
        )
        losses = [v for _, v in sorted(curve[task].items(), key=lambda kv: int(kv[0]))]
        if len(losses) > 1 and all(b < a for a, b in zip(losses, losses[1:], strict=False)):
            words.append(
                f"(Its held-out loss still fell at every checkpoint, {losses[0]:.4f} to {losses[-1]:.4f}: the "
                "registered step budget, not a plateau, ended its training.)"
            )
    complete = [(n, t) for n, per in r2["verdicts"].items() for t, v in per.items() if v["gain"] is not None]
    for n, t in complete:
        v = r2["verdicts"][n][t]
        words.append(
            f"{n} / {t}: best ground-truth arm {v['best_gt_arm']} {100 * v['best_gt']:.0f}% vs bc "
            f"{100 * v['bc']:.0f}% ({100 * v['gain']:+.0f} points); "
            + ("passes the rule." if v["passes"] else "does not pass the rule.")
        )
    for task, l1 in r2.get("open_loop_l1", {}).items():
        if l1:
            words.append(
                f"Inference-path check on {task} (open loop on the held-out hesitation states, through the rollouts' "
                "policy loader; mean |predicted - recorded| action): "
                + ", ".join(f"{n} {v:.4f}" for n, v in l1.items())
                + "."
            )
    near = [
        t
        for t, l1 in r2.get("open_loop_l1", {}).items()
        if len(l1) > 1 and list(l1.values())[0] <= 1.25 * min(list(l1.values())[1:])
    ]
    if near:
        words.append(
            f"On {', '.join(near)} round 2's open-loop error is within 25% of round 1's MLPs' (or below it) while its "
            "closed-loop success is lower: its failure is in closed loop, not in loading or normalising the checkpoint."
        )
    ch = r2["choice"]
    if ch["passes_on"]:
        words.append(
            f"The rule chooses {ch['setting']} among round 2's settings (passes on {', '.join(ch['passes_on'])})."
        )
    else:
        words.append("No round-2 setting passes the rule on any task" + (" yet." if r2["pending"] else "."))
        if not r2["pending"] and all(t in expert and expert[t]["rate"] < EXPERT_GATE for t in r2["tasks"]):
            words.append(
                "Round 2's learner passes the bc_expert gate on no task, so it adds no task to the grid: the "
                "RoboSuite grid stays on round 1's choice and the tasks where it passed, and the issue's >= 3 tasks "
                "are still not met."
            )
    if r2["pending"]:
        words.append("Not yet run: " + "; ".join(r2["pending"]) + f". Resume (everything cached): `{r2['resume']}`.")
    else:
        words.append("Round 2 has run as registered.")
    return " ".join(words)


def round2_markdown(r2: dict, result: dict) -> list[str]:
    """The round-2 section (appended after round 1's, which stays as it was)."""
    lines = ["", R2_HEADING, "", *PLAN_R2.strip().splitlines(), "", "Settings:", ""]
    lines += ["| setting | learner | steps | checkpoint | batch | lr | data |", "|---|---|---|---|---|---|---|"]
    for s in r2["settings"].values():
        ck = arms.checkpoint_rule(s["eval_every"])
        lines.append(
            f"| {s['name']} | {s['policy']} {s['size']} | {s['steps']} | {ck} | {s['batch_size']} | {s['lr']:g} "
            f"| {s['mix']} |"
        )
    lines += ["", "### Round 2 results", ""]
    if not r2["results"]:
        lines.append("Nothing of round 2 has run yet.")
    else:
        lines += [
            f"Training seed 0, {r2['trials']} trials per arm, placements and rollout limits as round 1. Success = "
            "successes/trials [Wilson 95%], mean control steps (20 Hz) to success. bc_expert is shared by the "
            "round's settings (same learner and budget).",
            "",
            *verdict_table(r2["results"], r2["verdicts"], unfinished=True),
        ]
        lines += ["", "Held-out loss per checkpoint (the chosen step in bold), every round-2 training:", ""]
        done = set()
        for per in r2["results"].values():
            for task, cells in per.items():
                for arm, c in cells.items():
                    tr = c["train"]
                    if tr["checkpoint"] in done:
                        continue
                    done.add(tr["checkpoint"])
                    curve = ", ".join(
                        (f"**{k}: {v:.4f}**" if int(k) == tr["chosen_step"] else f"{k}: {v:.4f}")
                        for k, v in tr["heldout_loss"].items()
                    )
                    lines.append(
                        f"- {tr['setting']['name']} / {task} / {arm}: {curve} ({tr['cpu_s'] / 60:.1f} CPU-min training, "
                        f"{c['rollout_cpu_s'] / 60:.1f} CPU-min rollouts)"
                    )
        lines += ["", f"CPU time of round 2: {r2['cpu_s'] / 60:.0f} min of training and rollouts (one thread each)."]
    lines += ["", "### Verdict (both rounds)", ""]
    r1 = result["choice"]
    lines.append(
        f"Round 1 (unchanged above) chose {r1['setting']}, passing on {', '.join(r1['passes_on']) or 'no task'}. "
        "Round 2: " + r2["words"]
    )
    return lines


def readme_snippet(result: dict) -> str:
    """Success of every pilot arm that ran (training seed 0), per setting and task, and the rule's choice."""
    lines = [
        f"From `bench/results/downstream_pilot_v3.md` (`{result['command']}`; training seed 0, {result['trials']} "
        "trials per arm; successes/trials):",
        "",
        "| setting | task | " + " | ".join(PILOT_ARMS) + " | passes |",
        "|---|---|" + "---|" * len(PILOT_ARMS) + "---|",
    ]
    for name, per in result["results"].items():
        for task, cells in per.items():
            row = [
                f"{c['cell']['successes']}/{c['cell']['trials']}" if (c := cells.get(a)) else "-" for a in PILOT_ARMS
            ]
            ok = "yes" if result["verdicts"][name][task]["passes"] else "no"
            lines.append(f"| {name} | {task} | " + " | ".join(row) + f" | {ok} |")
    ch = result["choice"]
    lines += [
        "",
        f"Chosen by the pre-registered rule: **{ch['setting']}**, passing on {', '.join(ch['passes_on']) or 'no task'}.",
    ]
    r2 = result.get("round2") or {}
    if r2.get("results"):
        lines += ["", "Round 2 (registered after round 1 failed the gate on pickplace_can and pickplace_bread):", ""]
        lines += [
            "| setting | task | " + " | ".join(PILOT_ARMS) + " | passes |",
            "|---|---|" + "---|" * len(PILOT_ARMS) + "---|",
        ]
        for name, per in r2["results"].items():
            for task, cells in per.items():
                row = [
                    f"{c['cell']['successes']}/{c['cell']['trials']}" if (c := cells.get(a)) else "-"
                    for a in PILOT_ARMS
                ]
                ok = "yes" if r2["verdicts"][name][task]["passes"] else "no"
                lines.append(f"| {name} | {task} | " + " | ".join(row) + f" | {ok} |")
        ch = r2["choice"]
        lines += [
            "",
            (
                f"Chosen by the rule among round 2's settings: **{ch['setting']}**, passing on {', '.join(ch['passes_on'])}."
                if ch["passes_on"]
                else "No round-2 setting passes the rule on any task"
                + (" yet" if r2["pending"] else "")
                + " (verdict in words: `bench/results/downstream_pilot_v3.md`)."
            ),
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
