"""Why a learned baseline scores differently from the WVM default: the shape of the value curves.

    .venv/bin/python -m bench.baseline_probe [--work .cache/robosuite_bench] [--model default --model baseline-frame ...]

On the RoboSuite bench's own trajectories (2 fps, the bench's protocol and camera choice) it measures the
curve features behind the three metrics, per model, with bootstrap 95% intervals over trajectories:

- end_value     every trajectory: v[last] (ground truth 1).
- end_within_005 every trajectory: share whose last value is within 0.05 of 1 (issue 13's target: every
                bench trajectory ends in the task's success).
- end_step      every trajectory: v[last] - v[last-1] (ground truth > 0). The WVM's last chunk can drop.
- end_drop_frac every trajectory: share whose last value falls more than 0.05 below the one before.
- stall_climb   hesitations: v(last segment frame) - v(first segment frame) (ground truth 0).
- stall_bias    hesitations: mean(v - ground truth) over the segment (Hesitation-RMSE^2 = bias^2 + spread).
- retreat_step  retries: v(last segment frame) - v(first segment frame) (ground truth < 0).

Predictions are cached per model fingerprint under WORK/probe_cache/ (per trajectory, with its dataset's
content hash), so a rerun only recomputes the models and datasets that changed. Writes bench/results/baseline_probe.json, .md and three example plots (one per mode).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from bench import dataset_fingerprint, write_results_json
from bench.robosuite_bench import DEFAULT_MODELS, RESULTS, ROOT, existing_data


def trajectories(work: Path):
    """(dataset root, ds, annotation row) for every bench trajectory under `work`."""
    from robodata.dataset import open_dataset
    from value_labeling.bench.run import bench_episodes

    for root in existing_data(work):
        ds = open_dataset(root)
        for r in bench_episodes(root, ds):
            yield root, ds, r


def predictions(models: dict, work: Path, fps: float = 2.0) -> tuple[dict, list[dict]]:
    """{model name: {key: values at the sampled frames}} and the trajectory rows (with 'key', 'idx')."""
    from tqdm import tqdm

    from robodata.dataset import episode_task, read_episode_frames, resolve_camera
    from robodata.resample import resample_indices
    from value_labeling.models import model_camera

    cache_dir = work / "probe_cache"
    cache_dir.mkdir(exist_ok=True)
    caches = {}
    for name, m in models.items():
        f = cache_dir / f"{m.fingerprint()}.json"
        caches[name] = (f, json.loads(f.read_text()) if f.is_file() else {})
    rows, content = [], {}
    for root, ds, r in tqdm(list(trajectories(work)), desc="probe", unit="traj"):
        idx = resample_indices(r["T"], float(ds.meta.fps), fps)
        if root not in content:  # a dataset regenerated under the same name is predicted again
            content[root] = dataset_fingerprint(root)
        key = f"{root.name}_{content[root]}:{r['episode_index']}"
        rows.append({**r, "key": key, "idx": idx.tolist(), "native_fps": float(ds.meta.fps), "dataset": root.name})
        videos = {}
        for name, m in models.items():
            if key in caches[name][1]:
                continue
            cam = resolve_camera(ds, None, model_camera(m))
            if cam not in videos:
                videos[cam] = read_episode_frames(ds, r["episode_index"], cam, idx)
            instruction = episode_task(ds, r["episode_index"]) or r["task"]
            caches[name][1][key] = np.asarray(m.predict(videos[cam], fps, instruction), np.float64).tolist()
    for f, c in caches.values():
        tmp = f.with_suffix(".tmp")
        tmp.write_text(json.dumps(c))
        os.replace(tmp, f)
    return {name: c for name, (_, c) in caches.items()}, rows


def features(pred: np.ndarray, row: dict) -> dict:
    from robodata.ground_truth import progress_curve
    from value_labeling.bench.protocol import segment_positions

    idx = np.asarray(row["idx"])
    step = float(pred[-1] - pred[-2])  # every trajectory ends rising to 1
    out = {
        "end_value": float(pred[-1]),
        "end_within_005": float(abs(1.0 - pred[-1]) <= 0.05),  # every bench trajectory ends in success
        "end_step": step,
        "end_drop_frac": float(step < -0.05),
    }
    if row["mode"] == "expert":
        return out
    seg = segment_positions(idx, row["m"], row["n"])
    if seg is None:
        return out
    a, b = seg
    gt = progress_curve(row["mode"], row["T"], row["m"], row["n"])[idx]
    if row["mode"] == "hesitation":
        return out | {
            "stall_climb": float(pred[b] - pred[a]),
            "stall_bias": float(np.mean(pred[a : b + 1] - gt[a : b + 1])),
        }
    return out | {"retreat_step": float(pred[b] - pred[a]), "retreat_step_gt": float(gt[b] - gt[a])}


def main() -> None:
    from value_labeling.bench.headline import bootstrap_ci
    from value_labeling.models import available_models, load_value_model

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=ROOT / ".cache" / "robosuite_bench")
    p.add_argument("--model", action="append", default=None)
    a = p.parse_args()
    specs = a.model or [m for m in DEFAULT_MODELS if m in available_models()]
    models = {}
    for s in specs:
        m = load_value_model(s)
        models[m.name] = m
    preds, rows = predictions(models, a.work)
    table: dict = {}
    for name in models:
        acc: dict = {}
        for row in rows:
            for k, v in features(np.asarray(preds[name][row["key"]]), row).items():
                acc.setdefault(k, []).append(v)
        table[name] = {
            k: {"mean": float(np.mean(v)), "ci95": bootstrap_ci(np.asarray(v)), "n": len(v)} for k, v in acc.items()
        }
    cmd = "python -m bench.baseline_probe " + " ".join(sys.argv[1:])
    result = {
        "command": cmd.strip(),
        "models": {n: {"fingerprint": m.fingerprint()} for n, m in models.items()},
        "features": table,
    }
    out = RESULTS / "baseline_probe.json"
    names = list(models)
    lines = [
        "# Baseline probe: the value-curve features behind the bench metrics",
        "",
        f"Command: `{cmd.strip()}`",
        "",
        f"On the bench trajectories under `{a.work.name}` (2 fps). Mean [bootstrap 95% interval] (n trajectories).",
        "",
        "| feature (ground truth) | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    gt_text = {
        "end_value": "end_value (1)",
        "end_within_005": "end_within_005 (1)",
        "end_step": "end_step (> 0)",
        "end_drop_frac": "end_drop_frac (0)",
        "stall_climb": "stall_climb (0)",
        "stall_bias": "stall_bias (0)",
        "retreat_step": "retreat_step (< 0)",
    }
    for k, title in gt_text.items():
        cells = [
            f"{c['mean']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] (n={c['n']})"
            if (c := table[n].get(k))
            else "—"
            for n in names
        ]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    gts = [
        f["retreat_step_gt"]
        for row in rows
        if row["mode"] == "retry"
        for f in [features(np.zeros(len(row["idx"])), row)]
        if "retreat_step_gt" in f
    ]
    if gts:
        lines += ["", f"Ground-truth retreat_step: mean {np.mean(gts):+.3f} over {len(gts)} retries."]
    lines += [
        "",
        "end_value: the last value; end_within_005: share of trajectories whose last value is within 0.05 of 1 "
        "(every bench trajectory ends in success); end_step: last minus second-to-last; end_drop_frac: share of "
        "trajectories whose last value drops by more than 0.05 (all four over every trajectory); stall_climb: rise across a "
        "hesitation segment; stall_bias: mean error inside it; retreat_step: change across a retry segment.",
    ]
    result["table_md"] = "\n".join(lines[6:])
    lines += [
        "",
        "Example curves: " + ", ".join(f"`baseline_probe_{mode}.png`" for mode in ("expert", "hesitation", "retry")),
    ]
    write_results_json(out, result)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")

    from robodata.ground_truth import progress_curve
    from value_labeling.bench.plots import plot_trajectory

    for mode in ("expert", "hesitation", "retry"):
        row = next((r for r in rows if r["mode"] == mode), None)
        if row is not None:
            plot_trajectory(
                RESULTS / f"baseline_probe_{mode}.png",
                f"{row['dataset']} episode {row['episode_index']} ({mode}): values at 2 fps",
                row["native_fps"],
                row["T"],
                mode,
                row["m"],
                row["n"],
                np.asarray(row["idx"]),
                progress_curve(mode, row["T"], row["m"], row["n"]),
                {n: np.asarray(preds[n][row["key"]]) for n in names},
            )
    print("\n".join(lines))
    print(f"\nwrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
