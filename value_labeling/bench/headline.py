"""Headline numbers with uncertainty: per-model means with bootstrap 95% intervals over trajectories, and
paired differences against a reference model (the same trajectories scored by both).

The tables of value_labeling/bench/tables.py give means only; a comparison between models needs to know
whether a gap is larger than the trajectory-to-trajectory noise. Ill-defined scores (NaN: a segment with
too few sampled frames, a constant prediction) are dropped and counted. Intervals are percentile
bootstraps over trajectories (resampled with replacement, 2000 draws, seeded); a paired interval
resamples the trajectories both models scored, so shared difficulty cancels.
"""

from __future__ import annotations

import math

import numpy as np

METRICS = {"hesitation_rmse": ("Hesitation-RMSE", -1), "retry_voc": ("Retry-VOC", 1), "expert_voc": ("Expert-VOC", 1)}
N_BOOT = 2000


def _finite(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def bootstrap_ci(values: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> list[float]:
    """Percentile 95% interval of the mean of `values` (N,), resampling its entries."""
    if len(values) == 0:
        return [float("nan"), float("nan")]
    idx = np.random.default_rng(seed).integers(0, len(values), (n_boot, len(values)))  # (n_boot, N)
    means = values[idx].mean(1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def paired_differences(scores: dict, reference: dict, scale: float = 1.0) -> np.ndarray:
    """score - scale x reference per trajectory, over the trajectories both scored (ill-defined ones out);
    `scores` and `reference` map a trajectory key to its score, as scores_by_trajectory gives them."""
    keys = [k for k, x in scores.items() if _finite(x) and _finite(reference.get(k))]
    return np.array([scores[k] - scale * reference[k] for k in keys], dtype=np.float64)


def scores_by_trajectory(records: list[dict]) -> dict:
    """{model: {metric: {(dataset, episode_index): value or None}}}."""
    out: dict = {}
    for r in records:
        out.setdefault(r["model"], {}).setdefault(r["metric"], {})[(r["dataset"], r["episode_index"])] = r["value"]
    return out


def headline(records: list[dict], reference: str | None, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """-> {"headline": {model: {metric: {mean, ci95, n_scored, n_dropped}}},
    "paired_vs_reference": {model: {metric: {mean_diff, ci95, n_pairs}}} (model - reference),
    "verdict": {metric: {model: "better" | "worse" | "tie"}} (against the reference, by the paired interval),
    "reference": reference}"""
    by = scores_by_trajectory(records)
    head: dict = {}
    for model, metrics in by.items():
        head[model] = {}
        for metric, vals in metrics.items():
            v = np.array([x for x in vals.values() if _finite(x)], dtype=np.float64)
            head[model][metric] = {
                "mean": float(v.mean()) if len(v) else float("nan"),
                "ci95": bootstrap_ci(v, n_boot, seed),
                "n_scored": int(len(v)),
                "n_dropped": int(len(vals) - len(v)),
            }
    paired: dict = {}
    verdict: dict = {}
    if reference is not None and reference in by:
        for model, metrics in by.items():
            if model == reference:
                continue
            paired[model] = {}
            for metric, vals in metrics.items():
                d = paired_differences(vals, by[reference].get(metric, {}))
                ci = bootstrap_ci(d, n_boot, seed)
                paired[model][metric] = {
                    "mean_diff": float(d.mean()) if len(d) else float("nan"),
                    "ci95": ci,
                    "n_pairs": len(d),
                }
                sign = METRICS.get(metric, ("", 1))[1]
                lo, hi = sorted((sign * ci[0], sign * ci[1]))
                verdict.setdefault(metric, {})[model] = "better" if lo > 0 else "worse" if hi < 0 else "tie"
    return {"headline": head, "paired_vs_reference": paired, "verdict": verdict, "reference": reference}


def _f(x: float) -> str:
    return "/" if not _finite(x) else f"{x:.3f}"


def headline_markdown(h: dict) -> str:
    """The headline and paired tables plus one line per metric saying which model wins."""
    head, paired, ref = h["headline"], h["paired_vs_reference"], h["reference"]
    models = list(head)
    lines = ["| metric | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for metric, (title, sign) in METRICS.items():
        cells = []
        for m in models:
            c = head[m].get(metric)
            if c is None:
                cells.append("—")
                continue
            dropped = f", {c['n_dropped']} dropped" if c["n_dropped"] else ""
            cells.append(f"{_f(c['mean'])} [{_f(c['ci95'][0])}, {_f(c['ci95'][1])}] (n={c['n_scored']}{dropped})")
        lines.append(f"| {title} ({'lower' if sign < 0 else 'higher'} is better) | " + " | ".join(cells) + " |")
    lines += ["", "Mean [bootstrap 95% interval over trajectories] (n scored; ill-defined scores dropped)."]
    if paired:
        others = list(paired)
        lines += [
            "",
            f"Paired difference, model minus `{ref}`, on the trajectories both scored:",
            "",
            "| metric | " + " | ".join(others) + " |",
            "|---|" + "---|" * len(others),
        ]
        for metric, (title, _) in METRICS.items():
            cells = []
            for m in others:
                c = paired[m].get(metric)
                cells.append(
                    "—"
                    if c is None
                    else f"{c['mean_diff']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] "
                    f"({h['verdict'][metric][m]}, n={c['n_pairs']})"
                )
            lines.append(f"| {title} | " + " | ".join(cells) + " |")
        lines += ["", "better / worse: the paired 95% interval excludes 0 in that direction; tie: it does not.", ""]
        lines += verdict_lines(h)
    return "\n".join(lines)


def verdict_lines(h: dict) -> list[str]:
    """One line per metric: the best mean, and which models beat the reference beyond noise."""
    head, ref, lines = h["headline"], h["reference"], []
    for metric, (title, sign) in METRICS.items():
        scored = {m: c[metric]["mean"] for m, c in head.items() if metric in c and _finite(c[metric]["mean"])}
        if not scored:
            continue
        best = (min if sign < 0 else max)(scored, key=scored.get)
        beat = [m for m, v in h["verdict"].get(metric, {}).items() if v == "better"]
        lines.append(
            f"- {title}: best mean {best} ({_f(scored[best])}); "
            + (f"beats `{ref}` beyond noise: {', '.join(beat)}." if beat else f"nothing beats `{ref}` beyond noise.")
        )
    return lines
