"""`robosuite_eval experts`: the oracles' success table, measured with each env's own success check."""

from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm

from robodata import atomic
from robosuite_eval.config import ExpertsConfig
from robosuite_eval.episode import plan_injection, run_episode
from robosuite_eval.tasks import make_env, resolve_tasks


def measure_task(task, trials: int, seed: int = 0, mode: str = "expert", progress: bool = True) -> dict:
    env = make_env(task, render=False)
    failed = []
    for s in tqdm(range(seed, seed + trials), desc=f"{task.name} ({mode})", disable=not progress, leave=False):
        res = run_episode(env, task, s, plan_injection(env, task, mode, s), render_size=None)
        if not res.success:
            failed.append(s)
    env.close()
    ok = trials - len(failed)
    return {"trials": trials, "successes": ok, "rate": ok / trials, "failed_seeds": failed}


def run_experts(cfg: ExpertsConfig) -> dict:
    tasks = resolve_tasks(cfg.task)
    if cfg.trials <= 0:
        raise ValueError(f"--trials must be positive, got {cfg.trials}")
    table = {}
    out = Path(cfg.out)
    if out.is_file():  # merge: measuring one task keeps the others' rows
        table = json.loads(out.read_text())
    for task in tasks:
        key = task.name if cfg.mode == "expert" else f"{task.name}/{cfg.mode}"
        table[key] = measure_task(task, cfg.trials, cfg.seed, cfg.mode)
        r = table[key]
        print(
            f"{key:28s} {r['successes']:3d}/{r['trials']:<3d} {100 * r['rate']:.0f}%  failed seeds: {r['failed_seeds']}",
            flush=True,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_json(out, table)
    md = ["| task | successes | trials | rate |", "|---|---|---|---|"]
    md += [f"| {k} | {v['successes']} | {v['trials']} | {100 * v['rate']:.0f}% |" for k, v in table.items()]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    return table
