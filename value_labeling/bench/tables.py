"""Tables 1-3 style markdown: rows are embodiments plus an "Average" row, one column per model.

Aggregation follows the paper: a score per trajectory, the mean per embodiment, and the Average row
as the mean of the embodiment rows (so 0.07, 0.05, 0.04 -> 0.05). Ill-defined values (NaN) are left
out of means and print as "/". Beside our columns we print the paper's WVM number for the matching
row, labelled as reported by the paper.
"""

from __future__ import annotations

import math

import numpy as np

from value_labeling.paper import paper_results, paper_value  # noqa: F401 (the bench modules' import path)

TITLES = {
    "hesitation_rmse": "Hesitation-RMSE ↓",
    "retry_voc": "Retry-VOC ↑",
    "expert_voc": "Expert-VOC ↑",
}


def nanmean(values) -> float:
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    return float(arr.mean()) if len(arr) else float("nan")


def summarize(records: list[dict]) -> dict:
    """{model: {metric: {embodiment: mean, ..., "Average": mean of rows}}} plus trajectory counts."""
    out: dict = {}
    for r in records:
        out.setdefault(r["model"], {}).setdefault(r["metric"], {}).setdefault(r["embodiment"], []).append(r["value"])
    summary = {}
    for model, metrics in out.items():
        summary[model] = {}
        for metric, rows in metrics.items():
            means = {emb: nanmean(vals) for emb, vals in sorted(rows.items())}
            means["Average"] = nanmean(means.values())
            counts = {
                emb: {"n": len(vals), "ill_defined": int(sum(math.isnan(v) for v in vals))}
                for emb, vals in rows.items()
            }
            summary[model][metric] = {"mean": means, "counts": counts}
    return summary


def fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "/"
    return f"{v:.2f}"


def markdown_tables(summary: dict) -> str:
    models = list(summary)
    parts = []
    for metric, title in TITLES.items():
        embodiments = sorted({e for m in models for e in summary[m].get(metric, {}).get("mean", {}) if e != "Average"})
        if not embodiments:
            continue
        header = [title] + models + ["WVM (reported by the paper)"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        # The paper's Average is comparable only when every row of ours is one of the paper's rows.
        comparable = all(paper_value(metric, emb) is not None for emb in embodiments)
        for emb in embodiments + ["Average"]:
            cells = [emb] + [fmt(summary[m].get(metric, {}).get("mean", {}).get(emb)) for m in models]
            ref = paper_value(metric, emb) if (emb != "Average" or comparable) else None
            cells.append(fmt(ref) if ref is not None else "—")
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    parts.append(
        "Paper column: the WVM number the paper reports for the matching row (RoboSuite/AgileX/ARX "
        "suboptimal rows; expert rows map to its 'Self-collected' row). '/' = ill-defined (NaN)."
    )
    return "\n\n".join(parts)
