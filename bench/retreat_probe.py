"""Retreat probe: does a value model see progress being undone, when the undoing is long and unambiguous?

    .venv/bin/python -m bench.retreat_probe [--work .cache/robosuite_bench] [--generator v1|v2] [--model default ...]

The bench's retry segments last about 1 s (2-3 frames at 2 fps), shorter than one WVM chunk (h = 4 frames
= 2 s). A low Retry-VOC could therefore come from the chunk being too coarse rather than from the model
not perceiving regressions. This probe separates the two. From every expert trajectory of the bench
(2 fps, the bench's protocol) it builds two videos whose ground truth is known exactly:

- reversed:      the whole trajectory played backwards (progress falls from 1 to 0 throughout);
- long retreat:  the first half played forwards, then the same frames backwards to the start (progress
                 rises, then falls for as many frames as it rose: a retry many chunks long).

and reports, per model, the VOC of the predictions against the falling ground truth (+1 = tracks the
fall, -1 = keeps rising; on `reversed` over the whole video, on `long retreat` over its second half),
with the forward Expert-VOC of the same trajectories for reference. Rewinding augmentation trains on
exactly such reversed clips, so a model that perceives regressions should score near +1 here.

Writes bench/results/retreat_probe.json and .md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from bench import write_results_json  # noqa: E402
from bench.robosuite_bench import RESULTS, TASKS, bench_data  # noqa: E402
from robodata import atomic  # noqa: E402
from value_labeling.bench.headline import bootstrap_ci  # noqa: E402


def probe_videos(frames: np.ndarray) -> dict[str, tuple[np.ndarray, slice]]:
    """name -> (video, the positions where ground truth falls)."""
    k = len(frames) // 2
    return {
        "reversed": (frames[::-1].copy(), slice(0, len(frames))),
        "long_retreat": (np.concatenate([frames[:k], frames[:k][::-1]]), slice(k, 2 * k)),
    }


def main() -> None:
    from tqdm import tqdm

    from robodata.dataset import episode_length, episode_task, open_dataset, read_episode_frames, resolve_camera
    from robodata.resample import resample_indices
    from value_labeling.bench.metrics import value_order_correlation
    from value_labeling.bench.tables import nanmean
    from value_labeling.models import load_value_model, model_camera

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=ROOT / ".cache" / "robosuite_bench")
    p.add_argument("--expert", type=int, default=5, help="expert trajectories per task (generated if missing)")
    p.add_argument("--model", action="append", default=None, help="models (default: default and time)")
    p.add_argument("--fps", type=float, default=2.0, help="sampling rate of the probe videos (the bench's)")
    p.add_argument("--camera", default=None, help="camera key (default: each model's training camera)")
    p.add_argument("--name", default="retreat_probe", help="results file stem under bench/results/")
    p.add_argument(
        "--generator", choices=("v1", "v2"), default="v1", help="the generator of the bench under --work (v2: today's)"
    )
    p.add_argument(
        "--cameras", nargs="+", default=None, help="the cameras the bench under --work recorded (default: both)"
    )
    a = p.parse_args()
    specs = a.model or ["default", "time"]
    models = [load_value_model(s) for s in specs]
    roots = bench_data(a.work, 0, 0, a.expert, a.generator, tuple(a.cameras) if a.cameras else None)
    scores: dict = {s: {"expert_voc": [], "reversed": [], "long_retreat": []} for s in specs}
    episodes = [(root, ep) for root in roots for ep in range(min(a.expert, open_dataset(root).meta.total_episodes))]
    for root, ep in tqdm(episodes, desc="probe", unit="traj"):
        ds = open_dataset(root)
        T = episode_length(ds, ep)
        idx = resample_indices(T, float(ds.meta.fps), a.fps)
        instruction = episode_task(ds, ep)
        cams = [resolve_camera(ds, a.camera, model_camera(m)) for m in models]
        videos = {cam: read_episode_frames(ds, ep, cam, idx) for cam in dict.fromkeys(cams)}  # each camera once
        for spec, model, cam in zip(specs, models, cams):
            frames = videos[cam]
            scores[spec]["expert_voc"].append(value_order_correlation(model.predict(frames, a.fps, instruction)))
            for name, (video, fall) in probe_videos(frames).items():
                pred = model.predict(video, a.fps, instruction)[fall]
                scores[spec][name].append(value_order_correlation(pred, -np.arange(len(pred), dtype=np.float64)))
    summary = {s: {k: nanmean(v) for k, v in by.items()} for s, by in scores.items()}
    # the uncertainty of each mean: bootstrap 95% interval over the trajectories scored (NaN scores dropped)
    kept = {
        s: {k: np.array([x for x in v if not np.isnan(x)], dtype=float) for k, v in by.items()}
        for s, by in scores.items()
    }
    ci95 = {s: {k: bootstrap_ci(v) for k, v in by.items()} for s, by in kept.items()}
    n_scored = {s: {k: int(v.size) for k, v in by.items()} for s, by in kept.items()}
    cmd = ("python -m bench.retreat_probe " + " ".join(sys.argv[1:])).strip()
    lines = [
        "# Retreat probe (RoboSuite expert trajectories, reversed and retraced)",
        "",
        f"Command: `{cmd}`",
        "",
        f"{len(episodes)} expert trajectories ({len(TASKS)} tasks), sampled at {a.fps:g} fps. VOC against the "
        "falling ground truth: +1 = the model tracks the fall, -1 = its values keep rising. Mean [bootstrap 95% "
        "interval over trajectories]; trajectories whose VOC is undefined are dropped (n scored per cell in the "
        "JSON). See the script's docstring for why this probe exists.",
        "",
        "| model | Expert-VOC (forward) | reversed video: VOC of the fall | long retreat: VOC of the fall |",
        "|---|---|---|---|",
    ]
    for s in specs:
        cells = [f"{summary[s][k]:.3f} [{ci95[s][k][0]:.3f}, {ci95[s][k][1]:.3f}]" for k in scores[s]]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    md = "\n".join(lines)
    out = RESULTS / f"{a.name}.json"
    write_results_json(
        out,
        {
            "command": cmd,
            "fps": a.fps,
            "trajectories": len(episodes),
            "models": {s: {"fingerprint": m.fingerprint()} for s, m in zip(specs, models)},  # which checkpoint
            "summary": summary,
            "ci95": ci95,
            "n_scored": n_scored,
        },
    )
    atomic.write_text(out.with_suffix(".md"), md + "\n")
    print(md)
    print(f"\nwrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
