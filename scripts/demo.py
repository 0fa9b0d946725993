"""`make demo`: the toolkit's main job, end to end, on data it makes itself.

1. `robosuite_eval generate`: one expert, one hesitation and one retry trajectory of RoboSuite Lift
   (real physics, scripted oracle, exact labels of the injected behaviour), from generator v2 (human-paced,
   2-8 s hesitations, 1.5-5 s retractions): the data the default value model was trained on and the bench
   scores it on, and `generate`'s default.
2. `value_labeling bench`: the embedded default value model (a trained wvm-tiny) beside the `time`
   reference on those three trajectories, with one plot per trajectory (prediction vs ground truth).
3. `curate label-values` (Ray workers) writes the default model's per-frame values into each dataset,
   `curate advantages` the chunk advantages, `curate flag` the stalls and falls it finds, with plots,
   and `curate report` the value curves, the histogram of advantages and what each filter keeps.

When no default model ships with the installation the `time` reference stands in, and the demo says so.
It prints a progress line from its first second (before the heavy imports). Usage: `demo.py [OUT]`
(default: demo_out/ in the repository).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

TASK = "lift"
MODES = ("expert", "hesitation", "retry")


def say(t0: float, text: str) -> None:
    """A progress line with the elapsed time, flushed at once (the heavy imports take minutes on 2 busy cores)."""
    print(f"[demo {time.perf_counter() - t0:5.0f} s] {text}", flush=True)


def main(argv: list[str] | None = None) -> None:
    t0 = time.perf_counter()
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]).resolve() if args else ROOT / "demo_out"
    say(
        t0,
        f"RoboSuite {TASK}: {len(MODES)} trajectories ({', '.join(MODES)}) -> value bench -> label values -> "
        f"advantages -> flags -> report, into {out}. About 5-10 minutes on 2 CPU cores.",
    )
    say(t0, "loading the libraries (torch, lerobot, robosuite: up to a few minutes on a busy machine) ...")
    from curate.cli import main as curate
    from robosuite_eval.cli import main as robosuite_eval
    from value_labeling.cli import main as value_labeling
    from value_labeling.models import default_model_name

    model = default_model_name()
    if model is None:
        print("no embedded default model in this installation: the demo uses the `time` reference", file=sys.stderr)
        model = "time"
    shutil.rmtree(out, ignore_errors=True)  # the demo's own folder: start clean so no stale pictures remain
    data = out / "robosuite"
    roots = []
    for i, mode in enumerate(MODES):
        root = data / f"{TASK}_{mode}"
        say(t0, f"step 1/4: simulating one {mode} trajectory of {TASK} ({i + 1} of {len(MODES)})")
        # Seeds from 900000: neither the bench's (0..) nor the default model's training data (100000..).
        robosuite_eval(
            [
                "generate",
                "--task",
                TASK,
                "--mode",
                mode,
                "--episodes",
                "1",
                "--seed",
                str(900_000 + i),
                "--image-size",
                "64",
                "--generator",
                "v2",  # the default model's data (generate's default too; v1 is constant-speed, 0.5-1.6 s segments)
                "--workers",
                "0",
                "--out",
                str(root),
            ]
        )
        roots.append(root)
    models = [model] if model == "time" else [model, "time"]
    say(t0, f"step 2/4: scoring value model(s) {', '.join(models)} against the exact progress labels")
    value_labeling(
        [
            "bench",
            *[a for r in roots for a in ("--data", str(r))],
            *[a for m in models for a in ("--model", m)],
            "--out",
            str(out / "bench_results.json"),
            "--plots",
            str(out / "bench_plots"),
        ]
    )
    for i, root in enumerate(roots):
        say(t0, f"step 3/4: labelling {root.name} with {model} ({i + 1} of {len(roots)}), advantages, flags")
        curate(["label-values", str(root), "--model", model])
        curate(["advantages", str(root), "--chunk-length", "10"])
        curate(
            [
                "flag",
                str(root),
                "--plots",
                str(out / "flags" / root.name),
                "--out",
                str(out / "flags" / f"{root.name}.csv"),
            ]
        )
        say(t0, f"step 4/4: report of {root.name}")
        curate(["report", str(root), "--out", str(out / "report" / root.name)])
    print(
        f"\ndemo finished in {time.perf_counter() - t0:.0f} s with value model {model!r}. Pictures:\n"
        f"  {out / 'bench_plots'}   predicted vs ground-truth progress per trajectory\n"
        f"  {out / 'flags'}         flagged stalls/falls on the labelled value curves\n"
        f"  {out / 'report'}        value curves, advantage histogram, filter fractions per dataset"
    )


if __name__ == "__main__":
    main()
