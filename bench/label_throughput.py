"""`curate label-values` end to end: native frames labelled per second, in-process vs through Ray.

End to end means the whole `curate.label.run_label` call: open and validate the dataset, load the
model, decode every episode's camera (torchcodec), predict, interpolate, stage each episode, and
commit the column into the dataset's Parquet files with the atomic directory swap. Each run labels a
fresh copy of the same dataset (the copy is not timed).

Variants (same dataset, same model):
  in-process    : `--address local`, one episode after another in this process
  ray, warm     : an embedded local Ray session already running (started once, timed separately);
                  `run_label` creates its actors (each loads lerobot and the model), labels, commits
  ray, cold     : `--address auto` as a user runs it: start Ray + actors + label + commit + stop Ray
Ray's overhead = t_ray / t_in_process - 1 at the same number of model replicas (1 actor); runs with 2
actors show what parallel decode buys on this machine. Repeats alternate the variants (machine-load
drift is shared) and the median is reported.

The model: `time` (the reference model, no learned weights) by default, so the numbers measure the
labelling pipeline (decode + orchestration + write), which is what Ray's overhead is about. A small
trained WVM can be measured with `--model PATH_OR_NAME` once one exists.

    OMP_NUM_THREADS=1 .venv/bin/python bench/label_throughput.py [--episodes 24 --size 96 --repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def make_dataset(root: Path, episodes: int, size: int, fps: int) -> Path:
    from value_labeling.bench.synthetic import make_synthetic_bench

    third = max(1, episodes // 3)
    return make_synthetic_bench(root, episodes - 2 * third, third, third, fps=fps, size=size, seed=0)


def timed_label(src: Path, work: Path, tag: str, **cfg) -> tuple[float, int]:
    from curate.config import LabelConfig
    from curate.label import run_label

    dst = work / tag
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    quiet = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        out = run_label(LabelConfig(dataset=dst, **cfg))
    seconds = time.perf_counter() - t0
    shutil.rmtree(dst)
    return seconds, out["frames"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=24)
    p.add_argument("--size", type=int, default=96, help="square frame size of the synthetic camera")
    p.add_argument("--fps", type=int, default=10)
    p.add_argument("--model", default="time")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from curate.workers import RaySession

    with tempfile.TemporaryDirectory(prefix="label_bench_") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        src = make_dataset(work / "src", a.episodes, a.size, a.fps)
        print(f"dataset: {a.episodes} episodes, {a.size}x{a.size} video at {a.fps} fps "
              f"(built in {time.perf_counter() - t0:.1f} s)")

        runs: dict[str, list[float]] = {"in_process": [], "ray_warm_1": [], "ray_warm_2": [], "ray_cold_1": []}
        frames = 0
        timed_label(src, work, "warmup", model=a.model, address="local")  # imports, codec caches
        for r in range(a.repeats):
            s, frames = timed_label(src, work, "inproc", model=a.model, address="local")
            runs["in_process"].append(s)
            s, _ = timed_label(src, work, "cold", model=a.model, address="auto", workers=1)
            runs["ray_cold_1"].append(s)
            t0 = time.perf_counter()
            with RaySession("auto"):
                ray_start = time.perf_counter() - t0
                for w in (1, 2):
                    s, _ = timed_label(src, work, f"warm{w}", model=a.model, address="auto", workers=w)
                    runs[f"ray_warm_{w}"].append(s)
            print(f"repeat {r + 1}/{a.repeats}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in runs.items())
                  + f" (ray start {ray_start:.1f} s)")

    med = {k: statistics.median(v) for k, v in runs.items()}
    base = med["in_process"]
    res = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), "
                   f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
        "model": a.model, "episodes": a.episodes, "frames": frames, "frame_size": a.size, "fps": a.fps,
        "repeats": a.repeats, "seconds_runs": runs, "seconds_median": med,
        "frames_per_second": {k: frames / v for k, v in med.items()},
        "ray_overhead_vs_in_process": {k: v / base - 1.0 for k, v in med.items() if k != "in_process"},
        "target_overhead": 0.20,
    }
    res["meets_target"] = res["ray_overhead_vs_in_process"]["ray_warm_1"] < 0.20
    for k in med:
        extra = "" if k == "in_process" else f"  overhead {res['ray_overhead_vs_in_process'][k]:+.0%}"
        print(f"{k:>12}: {med[k]:6.2f} s  {frames / med[k]:8.1f} frames/s{extra}")
    if a.no_write:
        return
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "label_throughput.json").write_text(json.dumps(res, indent=2))
    names = {"in_process": "in-process (`--address local`)", "ray_warm_1": "Ray, session running, 1 actor",
             "ray_warm_2": "Ray, session running, 2 actors", "ray_cold_1": "Ray, `--address auto` incl. start/stop, 1 actor"}
    cmd = "OMP_NUM_THREADS=1 .venv/bin/python bench/label_throughput.py" + "".join(
        f" --{k} {v}" for k, v in (("episodes", a.episodes), ("size", a.size), ("fps", a.fps),
                                   ("model", a.model), ("repeats", a.repeats)))
    md = ["# curate label-values throughput (end to end: decode + model + stage + commit)", "",
          f"Command: `{cmd}` on {res['machine']}", "",
          f"{frames} native frames in {a.episodes} episodes ({a.size}x{a.size} video, {a.fps} fps), "
          f"model `{a.model}`; median of {a.repeats} alternating repeats.", "",
          "| variant | seconds | frames/s | vs in-process |", "|---|---|---|---|"]
    for k, label in names.items():
        rel = "—" if k == "in_process" else f"{res['ray_overhead_vs_in_process'][k]:+.0%}"
        md.append(f"| {label} | {med[k]:.2f} | {frames / med[k]:.0f} | {rel} |")
    md += ["", f"Target: Ray overhead < 20% at equal replicas (1 actor, session running): "
               f"{'met' if res['meets_target'] else 'NOT met'}."]
    (RESULTS / "label_throughput.md").write_text("\n".join(md) + "\n")
    print(f"wrote {RESULTS / 'label_throughput.json'} and {RESULTS / 'label_throughput.md'}")


if __name__ == "__main__":
    main()
