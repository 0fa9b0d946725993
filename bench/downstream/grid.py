"""The downstream grid (paper §5.2, Figure 6) in the setting the pilot chose: every weighting, with the
ground truth's values and with each value model's, >= 3 tasks x 3 training seeds x 50 paired trials.

    python -m bench.downstream.grid [--work /work/wvmdata/downstream_v3] [--shard 0/2] [--report-only]

Arms (`arms.parse_arm` names them): bc; fbc_binary, fbc_top70, strict and awr on the default WVM's values;
awr_gt and the pilot's best other ground-truth arm; awr_time (the clock: weighting without information);
awr_baseline (the baseline closer to the ground truth on the task's training frames); and the arm that was
best with ground truth in the pilot, run with every other value source (default, frame, temporal, time).
The setting and those two arms are read from bench/results/downstream_pilot_v3.json (never chosen here).
Every arm of a task is rolled out on the same placements (trial i of training seed s: 100,000 + 1,000 s + i),
so differences are paired. The run is seed-major (every task and arm under seed 0, then seed 1, ...): a run
cut short still compares every arm on every task it reached. `--shard i/n` runs every n-th arm-seed from
the i-th, so two processes share the cache on 2 cores; `--report-only` gathers what has finished.
Results: bench/results/downstream.{json,md,png}; the README's table between its markers.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro

from bench import replace_readme_block, write_results_json
from bench.downstream import arms, data, report

RESULTS = Path(__file__).resolve().parents[1] / "results"
PILOT = RESULTS / "downstream_pilot_v3.json"


@dataclass(frozen=True)
class GridConfig:
    work: Path = Path("/work/wvmdata/downstream_v3")
    """Cache of data, values, checkpoints and rollouts (shared with the pilot); rerunning resumes from it."""
    tasks: tuple[str, ...] = ()
    """Default: the tasks on which the pilot's chosen setting passed its rule (bc_expert >= 60%, the best
    ground-truth arm in [30%, 90%]): on a task the learner cannot learn, no weighting can be compared."""
    seeds: tuple[int, ...] = (1, 2, 3)
    """Training seeds: the pilot trained seed 0 and rolled it out on seed 0's placements, so the grid uses
    others, and no checkpoint or placement that informed the pilot's choice is in the grid."""
    trials: int = 50
    """Rollouts per training seed."""
    episodes: int = 40
    val_episodes: int = 8
    pilot: Path = PILOT
    """The pilot's results: the setting and the best ground-truth arms come from its pre-registered rule."""
    setting: str | None = None
    """Override the pilot's choice (recorded as such in the results)."""
    arms: tuple[str, ...] = ()
    """Run only these arms (default: the whole grid)."""
    shard: str = "0/1"
    prepare_only: bool = False
    """Generate and label every task's data, then stop (run this once before several `--shard` processes)."""
    report_only: bool = False
    out: Path = RESULTS / "downstream"


def grid_arms(best_other: str, best: str) -> list[str]:
    """The issue's arm list without repeats, most telling first (a run cut short has those on every task):
    BC, the best ground-truth arm and the same with the default model's values, AWR both ways, the paper's
    filters, then the references (best other ground-truth arm, time, baselines)."""
    scheme = best[: -len("_gt")]
    names = ["bc", best, scheme, "awr", "awr_gt", "fbc_binary", "fbc_top70", "strict", best_other, "awr_time"]
    names += ["awr_baseline", f"{scheme}_frame", f"{scheme}_temporal", f"{scheme}_time"]
    return list(dict.fromkeys(names))


def plan(cfg: GridConfig) -> dict:
    pilot = json.loads(cfg.pilot.read_text()) if cfg.pilot.is_file() else {}
    name = cfg.setting or (pilot.get("choice") or {}).get("setting")
    if name is None:
        raise SystemExit(
            f"{cfg.pilot}: no pilot choice yet; run `python -m bench.downstream.pilot` first or pass --setting"
        )
    gt = pilot.get("gt_arms") or {}
    best_other, best = gt.get("best_other_gt_arm", "strict_gt"), gt.get("best_gt_arm", "strict_gt")
    tasks = cfg.tasks or tuple((pilot.get("choice") or {}).get("passes_on") or ())
    if not tasks:
        raise SystemExit(f"{cfg.pilot}: the chosen setting passes on no task; name tasks with --tasks to run anyway")
    return {
        "tasks": tasks,
        "task_source": "--tasks" if cfg.tasks else "the pilot's chosen setting passes there",
        "setting": arms.SETTINGS[name],
        "setting_source": "--setting (override)" if cfg.setting else f"pilot rule ({cfg.pilot.name})",
        "best_other_gt_arm": best_other,
        "best_gt_arm": best,
        "arms": list(cfg.arms) or grid_arms(best_other, best),
    }


def main(argv: list[str] | None = None) -> dict:
    cfg = tyro.cli(GridConfig, args=argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch

    torch.set_num_threads(1)
    command = "python -m bench.downstream.grid " + " ".join(sys.argv[1:] if argv is None else argv)
    p = plan(cfg)
    setting = p["setting"]
    shard, nshards = (int(x) for x in cfg.shard.split("/"))
    roots, limits, baselines = {}, {}, {}
    learned = data.SUBOPTIMAL + (("expert",) if setting.mix == "mixed" else ())
    for task in p["tasks"]:
        if cfg.report_only or nshards > 1:  # shards never write the datasets: --prepare-only did
            roots[task] = {n: data.dataset_dir(cfg.work, task, n) for n in data.SETS}
            if not cfg.report_only and not data.is_labelled(roots[task], learned):
                raise SystemExit(
                    f"{cfg.work}: {task}'s data is not ready; run with --prepare-only first, then the shards"
                )
        else:
            roots[task] = data.prepare(cfg.work, task, cfg.episodes, cfg.val_episodes, learned=learned)
        limits[task] = data.rollout_limit(roots[task]["expert"])
        baselines[task] = arms.choose_baseline(arms.training_roots(roots[task], "bc", setting))
    if cfg.prepare_only:
        return {}
    jobs = [(s, t, a) for s in cfg.seeds for t in p["tasks"] for a in p["arms"]]
    for i, (seed, task, arm) in enumerate(jobs):
        if cfg.report_only or i % nshards != shard:
            continue
        rec = arms.train(cfg.work, setting, task, arm, seed, roots[task], baselines[task]["source"])
        res = arms.rollout(cfg.work, setting, task, arm, seed, rec, cfg.trials, limits[task]["control_steps"])
        print(
            f"[grid {time.strftime('%H:%M:%S')}] {task} {arm} seed {seed}: {res['successes']}/{res['trials']}",
            flush=True,
        )
    if nshards > 1 and not cfg.report_only:
        return {}
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    result = gather(cfg, p, command, limits, baselines)
    write_results_json(cfg.out.with_suffix(".json"), result)
    write_markdown(result, cfg.out.with_suffix(".md"))
    plot(result, cfg.out.with_suffix(".png"))
    if cfg.out == RESULTS / "downstream":  # the README quotes the committed results only
        replace_readme_block("downstream table", readme_snippet(result))
    return result


def gather(cfg: GridConfig, p: dict, command: str, limits: dict, baselines: dict) -> dict:
    """Every finished arm-seed into cells, paired differences and the targets' verdicts."""
    setting = p["setting"]
    tasks, outcome = {}, {}
    for task in p["tasks"]:
        for arm in p["arms"]:
            per_seed, cpu, weights = {}, [], None
            for seed in cfg.seeds:
                f = arms.arm_dir(cfg.work, "rollout", setting, task, arm, seed) / "rollout.json"
                rec_file = arms.arm_dir(cfg.work, "train", setting, task, arm, seed) / "arm.json"
                if not (f.is_file() and rec_file.is_file()):
                    continue
                res, rec = json.loads(f.read_text()), json.loads(rec_file.read_text())
                if res["trials"] != cfg.trials:
                    continue
                per_seed[seed] = res
                weights = weights or rec["weights"]
                cpu_f = f.parent / "cpu.json"
                cpu.append(rec["cpu_s"] + (json.loads(cpu_f.read_text())["cpu_s"] if cpu_f.is_file() else 0.0))
            if per_seed:
                c = report.cell(per_seed)
                c["weights"] = weights
                c["cpu_s"] = float(sum(cpu))
                tasks.setdefault(task, {})[arm] = c
                outcome.setdefault(arm, {})[task] = report.outcomes(per_seed)
    complete = [t for t in tasks if "bc" in tasks[t]]
    vs_bc = {a: report.paired_difference(outcome[a], outcome["bc"]) for a in outcome if a != "bc" and "bc" in outcome}
    per_task_vs_bc = {
        t: {a: report.paired_difference({t: outcome[a][t]}, {t: outcome["bc"][t]}) for a in tasks[t] if a != "bc"}
        for t in complete
    }
    gt_vs = report.paired_difference(outcome["awr_gt"], outcome["awr"]) if {"awr_gt", "awr"} <= set(outcome) else None
    average = {}
    for arm in p["arms"]:
        cells = [tasks[t][arm] for t in tasks if arm in tasks[t]]
        if cells:
            s, n = sum(c["successes"] for c in cells), sum(c["trials"] for c in cells)
            average[arm] = {
                "successes": s,
                "trials": n,
                "rate": s / n,
                "wilson95": report.wilson(s, n),
                "tasks": [t for t in tasks if arm in tasks[t]],
            }
    return {
        "command": command,
        "setting": {**setting.__dict__, "source": p["setting_source"]},
        "task_source": p["task_source"],
        "best_other_gt_arm": p["best_other_gt_arm"],
        "best_gt_arm": p["best_gt_arm"],
        "arms": p["arms"],
        "seeds": list(cfg.seeds),
        "trials_per_seed": cfg.trials,
        "limits": limits,
        "baseline": baselines,
        "tasks": tasks,
        "average": average,
        "vs_bc": vs_bc,
        "vs_bc_per_task": per_task_vs_bc,
        "awr_gt_minus_awr": gt_vs,
        "verdict": verdict(p, vs_bc, outcome),
        "cpu_s": float(sum(c["cpu_s"] for t in tasks.values() for c in t.values())),
        "n": "per arm and task: training seeds x trials (rollouts); averages pool the tasks an arm ran",
    }


def verdict(p: dict, vs_bc: dict, outcome: dict) -> dict:
    """The issue's targets: best GT arm - bc >= 15 points beyond noise; AWR or a filter on the default's
    values - bc >= 10 beyond noise and within 5 points of the same arm with ground truth."""
    out = {}
    best = p["best_gt_arm"]
    if best in vs_bc and vs_bc[best]:
        d = vs_bc[best]
        out["gt_headroom"] = {"arm": best, **d, "met": d["points"] >= 15 and d["beyond_noise"] == "better"}
    learned = {}
    for arm in ("awr", "fbc_binary", "fbc_top70", "strict"):
        if vs_bc.get(arm) and f"{arm}_gt" in outcome:
            to_gt = report.paired_difference(outcome[f"{arm}_gt"], outcome[arm])
            d = vs_bc[arm]
            learned[arm] = {
                "minus_bc": d,
                "gt_minus_it": to_gt,
                "met": d["points"] >= 10
                and d["beyond_noise"] == "better"
                and to_gt is not None
                and to_gt["points"] <= 5,
            }
    out["default_values"] = learned
    out["default_values_met_by"] = [a for a, v in learned.items() if v["met"]]
    return out


def write_markdown(result: dict, path: Path) -> None:
    s = result["setting"]
    arms_ = result["arms"]
    lines = [
        "# Downstream v3: value-weighted BC vs plain BC (RoboSuite v2 data, state-only MLP chunk policy)",
        "",
        f"Command: `{result['command']}`",
        "",
        f"Setting: **{s['name']}** ({s['source']}): mlp_chunk {s['size']}, {s['steps']} steps"
        + (f" (checkpoint with the lowest held-out loss, every {s['eval_every']})" if s["eval_every"] else "")
        + f", batch {s['batch_size']}, lr {s['lr']:g}, H {arms.H}, executing {arms.REPLAN} actions per chunk; data: "
        + (
            "40 hesitation + 40 retry v2 episodes per task"
            if s["mix"] == "suboptimal"
            else "40 hesitation + 40 retry + 80 expert v2 episodes per task"
        )
        + f"; AWR τ {arms.TAU:g}, δ {arms.CLIP:g}; strict = Δ > 1e-6. Training seeds {', '.join(map(str, result['seeds']))} x "
        f"{result['trials_per_seed']} trials each, the same placements for every arm (never a training placement).",
        "",
        f"Tasks: {', '.join(result['limits'])} ({result['task_source']}; `bench/results/downstream_pilot_v3.md` says "
        "why the others are out).",
        "",
        "Rollout limit (1.5 x the 95th percentile of the expert durations): "
        + ", ".join(f"{t} {v['control_steps']} control steps" for t, v in result["limits"].items())
        + ". Success = successes/trials [Wilson 95%], mean control steps (20 Hz) to success.",
        "",
        "| task | " + " | ".join(arms_) + " |",
        "|---|" + "---|" * len(arms_),
    ]
    for task, cells in result["tasks"].items():
        lines.append(f"| {task} | " + " | ".join(report.fmt_cell(cells.get(a)) for a in arms_) + " |")
    lines.append(
        "| average | "
        + " | ".join(
            f"{c['successes']}/{c['trials']} = {c['rate']:.2f} [{c['wilson95'][0]:.2f}, {c['wilson95'][1]:.2f}]"
            if (c := result["average"].get(a))
            else "-"
            for a in arms_
        )
        + " |"
    )
    lines += [
        "",
        "Every arm minus BC (success points, paired over the placements both ran, 95% two-level bootstrap over "
        "training seeds and trials; tasks averaged with equal weight):",
        "",
        "| arm | all tasks | " + " | ".join(result["vs_bc_per_task"]) + " |",
        "|---|---|" + "---|" * len(result["vs_bc_per_task"]),
    ]
    for a in arms_:
        if a == "bc":
            continue
        row = [report.fmt_diff(result["vs_bc"].get(a))] + [
            report.fmt_diff(result["vs_bc_per_task"][t].get(a)) for t in result["vs_bc_per_task"]
        ]
        lines.append(f"| {a} | " + " | ".join(row) + " |")
    v = result["verdict"]
    lines += ["", "## Targets", ""]
    lines += target_lines(v)
    if result.get("awr_gt_minus_awr"):
        lines.append(f"- awr_gt - awr: {report.fmt_diff(result['awr_gt_minus_awr'])}.")
    lines += [
        "",
        "Per training seed (successes/trials):",
        "",
        "| task | " + " | ".join(arms_) + " |",
        "|---|" + "---|" * len(arms_),
    ]
    for task, cells in result["tasks"].items():
        row = [
            ", ".join(f"s{k}: {x['successes']}/{x['trials']}" for k, x in c["per_seed"].items())
            if (c := cells.get(a))
            else "-"
            for a in arms_
        ]
        lines.append(f"| {task} | " + " | ".join(row) + " |")
    lines += ["", "Weights on the training set (fraction of frames kept; AWR: mean raw weight, fraction clipped):", ""]
    lines += ["| task | arm | kept | raw mean | clipped | κ |", "|---|---|---|---|---|---|"]
    for task, cells in result["tasks"].items():
        for a in arms_:
            w = (cells.get(a) or {}).get("weights")
            if w:
                k = "-" if w.get("kappa") is None else f"{w['kappa']:.3g}"
                lines.append(
                    f"| {task} | {a} | {w['kept_fraction']:.2f} | {w['raw_mean']:.2f} | {w['clipped_fraction']:.2f} | {k} |"
                )
    b = ", ".join(
        f"{t}: {x['source']} (RMSE vs ground truth "
        + ", ".join(f"{k} {r:.3f}" for k, r in x["rmse_vs_gt"].items())
        + ")"
        for t, x in result["baseline"].items()
    )
    lines += ["", f"awr_baseline's values ({next(iter(result['baseline'].values()))['rule']}): {b}.", ""]
    lines.append(
        f"CPU time: {result['cpu_s'] / 3600:.2f} h (training + rollouts, one thread each) for the arm-seeds above."
    )
    missing = [f"{t}/{a}" for t in result["limits"] for a in arms_ if a not in result["tasks"].get(t, {})]
    if missing:
        lines.append(f"Not run yet: {', '.join(missing)}.")
    short = [
        f"{t}/{a} ({len(c['seeds'])} seeds)"
        for t, cells in result["tasks"].items()
        for a, c in cells.items()
        if len(c["seeds"]) < len(result["seeds"])
    ]
    if short:
        lines.append(f"With fewer seeds than planned: {', '.join(short)}.")
    path.write_text("\n".join(lines) + "\n")


def target_lines(v: dict) -> list[str]:
    """The issue's targets, one line each, from `verdict`."""
    lines = []
    if "gt_headroom" in v:
        g = v["gt_headroom"]
        lines.append(
            f"- Headroom (best ground-truth arm, {g['arm']}, >= +15 points over BC beyond noise): "
            f"{'met' if g['met'] else 'not met'}: {report.fmt_diff(g)} over {', '.join(g['tasks'])}."
        )
    for arm, d in v["default_values"].items():
        lines.append(
            f"- {arm} on the default model's values: {report.fmt_diff(d['minus_bc'])} over BC, {arm}_gt minus it "
            f"{report.fmt_diff(d['gt_minus_it'])}; target (>= +10 beyond noise and within 5 of ground truth) "
            f"{'met' if d['met'] else 'not met'}."
        )
    return lines


def readme_snippet(result: dict) -> str:
    s = result["setting"]
    arms_ = [a for a in result["arms"] if a in result["average"]]
    lines = [
        f"From `bench/results/downstream.md` (`{result['command']}`; setting {s['name']}, chosen by: {s['source']}; "
        f"training seeds {', '.join(map(str, result['seeds']))} x {result['trials_per_seed']} trials per task; "
        f"tasks with results: {', '.join(result['tasks']) or 'none yet'}):",
        "",
        "| arm | success (tasks it ran, pooled) | minus BC, points [95%, paired] |",
        "|---|---|---|",
    ]
    for a in arms_:
        c = result["average"][a]
        lines.append(
            f"| {a} | {c['successes']}/{c['trials']} = {c['rate']:.2f} [{c['wilson95'][0]:.2f}, {c['wilson95'][1]:.2f}] | "
            f"{report.fmt_diff(result['vs_bc'].get(a)) if a != 'bc' else '-'} |"
        )
    v = result["verdict"]
    lines.append("")
    lines += target_lines(v)
    missing = [f"{t}/{a}" for t in result["limits"] for a in result["arms"] if a not in result["tasks"].get(t, {})]
    if missing:
        lines.append(f"- Not run yet ({len(missing)} task/arm cells): see `bench/results/downstream.md`.")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(result["tasks"])
    arms_ = result["arms"]
    fig, axes = plt.subplots(1, len(tasks) + 1, figsize=(4.2 * (len(tasks) + 1), 4.2), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (title, cells) in zip(axes, [*result["tasks"].items(), ("average", result["average"])]):
        xs = [a for a in arms_ if a in cells]
        rates = np.array([cells[a]["successes"] / cells[a]["trials"] for a in xs])
        lo = np.array([cells[a]["wilson95"][0] for a in xs])
        hi = np.array([cells[a]["wilson95"][1] for a in xs])
        colors = ["0.5" if a == "bc" else "tab:green" if a.endswith("_gt") else "tab:blue" for a in xs]
        ax.bar(range(len(xs)), rates, color=colors, yerr=[rates - lo, hi - rates], capsize=2)
        ax.set_xticks(range(len(xs)), xs, rotation=70, fontsize=7)
        n = sum(cells[xs[0]]["trials"] for _ in [0]) if xs else 0
        ax.set_title(f"{title} (n = {n} per arm)", fontsize=9)
    axes[0].set_ylabel("success rate (95% Wilson)")
    fig.suptitle("Value-weighted BC vs plain BC (grey): ground-truth values green, learned or time blue", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
