"""Statistics and tables shared by the pilot and the grid: success with Wilson intervals, paired differences.

Every arm of a task is rolled out on the same placements (trial i of training seed s: placement seed
100,000 + 1,000 s + i), so two arms are compared trial by trial. A paired difference's 95% interval is a
two-level percentile bootstrap (2,000 draws, seeded): resample the training seeds of each task, then the
trials within each drawn seed, and average the per-trial differences. Resampling seeds keeps seed-to-seed
spread (the largest source of noise in these runs, shared notes) in the interval; with 3 seeds it is a
rough but honest measure. `beyond noise` = the interval excludes 0.
"""

from __future__ import annotations

import numpy as np

N_BOOT = 2000


def wilson(successes: int, trials: int) -> list[float]:
    from robosuite_eval.rollout import wilson_interval

    return list(wilson_interval(successes, trials))


def cell(per_seed: dict) -> dict:
    """One arm on one task from {seed: rollout.json}: successes / trials, Wilson interval, steps to success."""
    trials = [t for r in per_seed.values() for t in r["per_trial"]]
    ok = [t for t in trials if t["success"]]
    return {
        "successes": len(ok),
        "trials": len(trials),
        "rate": len(ok) / len(trials) if trials else None,
        "wilson95": wilson(len(ok), len(trials)),
        "seeds": sorted(int(s) for s in per_seed),
        "per_seed": {str(s): {"successes": r["successes"], "trials": r["trials"]} for s, r in per_seed.items()},
        "mean_steps_to_success": float(np.mean([t["control_steps"] for t in ok])) if ok else None,
    }


def outcomes(per_seed: dict) -> dict:
    """{seed: (trials,) 0/1 array in trial order} from {seed: rollout.json}."""
    return {int(s): np.array([float(t["success"]) for t in r["per_trial"]]) for s, r in per_seed.items()}


def paired_difference(a: dict, b: dict, seed: int = 0, n_boot: int = N_BOOT) -> dict | None:
    """Success rate a - b over the tasks and (seed, trial) placements both ran, with the two-level bootstrap
    interval described above. `a`, `b`: {task: {seed: (trials,) outcomes}}. None if they share nothing."""
    pairs = {}  # task -> {seed: (trials,) differences}
    for task in sorted(set(a) & set(b)):
        seeds = sorted(set(a[task]) & set(b[task]))
        diffs = {s: a[task][s] - b[task][s] for s in seeds if len(a[task][s]) == len(b[task][s])}
        if diffs:
            pairs[task] = diffs
    if not pairs:
        return None
    point = float(np.mean([np.mean(np.concatenate(list(d.values()))) for d in pairs.values()]))
    rng = np.random.default_rng(seed)
    draws = np.empty(n_boot)
    for i in range(n_boot):
        task_means = []
        for diffs in pairs.values():
            seeds = list(diffs)
            drawn = rng.choice(len(seeds), len(seeds))
            vals = [diffs[seeds[j]][rng.integers(0, len(diffs[seeds[j]]), len(diffs[seeds[j]]))] for j in drawn]
            task_means.append(np.mean(np.concatenate(vals)))
        draws[i] = np.mean(task_means)
    lo, hi = float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))
    return {
        "points": 100 * point,
        "ci95_points": [100 * lo, 100 * hi],
        "tasks": sorted(pairs),
        "pairs": int(sum(len(v) for d in pairs.values() for v in d.values())),
        "beyond_noise": "better" if lo > 0 else "worse" if hi < 0 else "tie",
    }


def fmt_cell(c: dict | None) -> str:
    if not c or not c["trials"]:
        return "-"
    lo, hi = c["wilson95"]
    steps = f", {c['mean_steps_to_success']:.0f} steps" if c["mean_steps_to_success"] is not None else ""
    return f"{c['successes']}/{c['trials']} [{lo:.2f}, {hi:.2f}]{steps}"


def fmt_diff(d: dict | None) -> str:
    if d is None:
        return "-"
    lo, hi = d["ci95_points"]
    return f"{d['points']:+.0f} [{lo:+.0f}, {hi:+.0f}]"
