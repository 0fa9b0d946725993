"""How well `curate flag` finds the annotated hesitation and retry segments (segment precision/recall).

Data: a synthetic Suboptimal-Value-Bench (`testing.synthetic_bench.make_synthetic_bench`: real
LeRobot v3.0 files, AV1 video, a square sliding to a goal whose position *is* the annotated progress
curve, plateaus for hesitation, retreats for retry). No trained value model ships yet, so the values
come from a perception model defined here that tracks progress from the pixels: it finds the yellow
square in each decoded frame and maps its x position to [0, 1]. It goes through the real pipeline
(`curate label-values`, in-process: decode -> resample to the model's fps -> predict -> interpolate
-> clip -> column in the dataset), then `curate.flag.flag_dataset` segments the curves with the
default rule of `curate flag`, and `curate.flag.segment_scores` matches segments to annotations
(a stall to a hesitation, a fall to a retry, IoU >= 0.2).

Variants (rows of the table):
  ground truth   : the annotated curve itself (the rule's ceiling; no video, no model)
  pixels @native : the square model on every native frame
  pixels @2fps   : the same model at the paper's evaluation rate, interpolated back to native
  + noise s      : Gaussian noise of std s added to every prediction (a less certain model)
  time           : the `time` reference model (always rising: it can flag nothing)

With `--robosuite DIR...` (datasets written by `robosuite_eval generate --mode hesitation|retry`)
a second table scores the rule on the segment lengths of the real RoboSuite bench (see
`robosuite_section`).

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.flag_segments [--expert 4 --hesitation 10 --retry 10]
        [--robosuite /tmp/rs/lift_hesitation /tmp/rs/lift_retry]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import write_results_json

RESULTS = Path(__file__).parent / "results"


class SquarePositionModel:
    """Progress = x position of the yellow square (see `testing.synthetic_bench.render_frame`)."""

    def __init__(self, target_fps: float | None = None, noise: float = 0.0):
        self.target_fps, self.noise = target_fps, noise
        self.name = f"square-pixels{'' if target_fps is None else f'@{target_fps:g}fps'}" + (
            f"+noise{noise:g}" if noise else ""
        )

    def fingerprint(self) -> str:
        return f"{self.name}-v1"

    def predict(self, frames: np.ndarray, fps: float, instruction: str) -> np.ndarray:
        f = frames.astype(np.float32)  # (T, H, W, 3)
        size = frames.shape[2]
        s = max(2, size // 6)
        # Yellowness: bright red and green, little blue; the grey goal marker and background score ~0.
        yellow = np.clip((f[..., 0] + f[..., 1]) / 2 - f[..., 2] - 60, 0, None)  # (T, H, W)
        col = yellow.sum(axis=1)  # (T, W)
        x = (col * np.arange(size)).sum(axis=1) / np.maximum(col.sum(axis=1), 1e-6)  # centroid column
        v = (x - (s - 1) / 2) / (size - 2 * s - 2)
        if self.noise:
            rng = np.random.default_rng(int(frames[:, ::4, ::4].sum()) % (2**32))  # deterministic per episode
            v = v + rng.normal(0, self.noise, v.shape)
        return np.clip(v, 0.0, 1.0)


def score(rows: list[dict], annotations: list[dict]) -> dict:
    from curate.flag import segment_scores

    out = segment_scores(rows, annotations)
    for kind, mode in (("stall", "hesitation"), ("fall", "retry")):
        sub = segment_scores([r for r in rows if r["kind"] == kind], [a for a in annotations if a["mode"] == mode])
        out[f"{kind}_precision"], out[f"{kind}_recall"] = sub["precision"], sub["recall"]
        out[f"{kind}_predicted"] = sub["predicted"]
    # Flags on expert episodes are false alarms by construction: count them separately.
    experts = {a["episode_index"] for a in annotations if a["mode"] == "expert"}
    out["flags_on_expert_episodes"] = sum(r["episode_index"] in experts for r in rows)
    return out


def ground_truth_rows(annotations: list[dict], fps: float, noise: float = 0.0, **rule) -> list[dict]:
    from robodata.ground_truth import progress_curve
    from value_labeling.segments import find_segments

    rows = []
    rng = np.random.default_rng(0)
    for a in annotations:
        curve = progress_curve(a["mode"], int(a["T"]), a["m"], a["n"])
        if noise:
            curve = np.clip(curve + rng.normal(0, noise, curve.shape), 0, 1)
        for s, e, kind, size in find_segments(curve, fps, **rule):
            rows.append({"episode_index": int(a["episode_index"]), "start": s, "end": e, "kind": kind, "size": size})
    return rows


def robosuite_section(roots: list[Path]) -> dict:
    """The annotated curves of real RoboSuite bench datasets (`robosuite_eval generate`), flagged.

    No trained value model ships yet, so these rows use the annotation's ground-truth curve (with
    optional Gaussian noise standing in for model error): they test whether the rule's default
    durations fit the segment lengths the scripted RoboSuite oracle actually produces.
    """
    from robodata.annotations import read_annotations
    from robodata.dataset import dataset_fps

    annotations, offset, fps_set, durations = [], 0, set(), []
    for root in roots:
        fps = dataset_fps(root)
        fps_set.add(fps)
        for a in read_annotations(root) or []:
            annotations.append({**a, "episode_index": a["episode_index"] + offset})
            if a["mode"] != "expert":
                durations.append((a["n"] - a["m"]) / fps)
        offset += 1_000_000
    if len(fps_set) != 1:
        raise ValueError(f"RoboSuite datasets with different fps: {sorted(fps_set)}")
    fps = fps_set.pop()
    out = {
        "datasets": [str(r) for r in roots],
        "fps": fps,
        "annotated": len(annotations),
        "segment_seconds": {"min": min(durations), "median": float(np.median(durations)), "max": max(durations)},
        "results": {},
    }
    for stall_seconds in (1.0, 0.5):
        for noise in (0.0, 0.02):
            label = f"ground truth{f' + noise {noise:g}' if noise else ''}, stall >= {stall_seconds:g} s"
            out["results"][label] = score(
                ground_truth_rows(annotations, fps, noise, stall_seconds=stall_seconds), annotations
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--expert", type=int, default=4)
    ap.add_argument("--hesitation", type=int, default=10)
    ap.add_argument("--retry", type=int, default=10)
    ap.add_argument("--fps", type=int, default=10)
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--robosuite",
        type=Path,
        nargs="*",
        default=[],
        help="annotated RoboSuite datasets from `robosuite_eval generate` to score as well",
    )
    args = ap.parse_args()

    from curate.config import LabelConfig
    from curate.flag import flag_dataset
    from curate.label_values import run_label
    from robodata.annotations import read_annotations
    from testing.synthetic_bench import make_synthetic_bench
    from value_labeling.models import register_value_model

    variants = {
        "pixels @native": SquarePositionModel(None, 0.0),
        "pixels @2fps": SquarePositionModel(2.0, 0.0),
        "pixels @native + noise 0.02": SquarePositionModel(None, 0.02),
        "pixels @2fps + noise 0.02": SquarePositionModel(2.0, 0.02),
        "pixels @native + noise 0.05": SquarePositionModel(None, 0.05),
    }
    for model in variants.values():
        register_value_model(model.name)(lambda model=model: model)

    tmp = Path(tempfile.mkdtemp(prefix="flag-bench-"))
    try:
        t0 = time.perf_counter()
        root = make_synthetic_bench(
            tmp / "bench", args.expert, args.hesitation, args.retry, fps=args.fps, size=args.size, seed=args.seed
        )
        make_s = time.perf_counter() - t0
        annotations = read_annotations(root)
        results = {"ground truth": score(ground_truth_rows(annotations, args.fps), annotations)}
        short = {}  # the same values with a shorter minimum stall (RoboSuite's hesitations are 0.7-1.5 s)
        short["ground truth"] = score(ground_truth_rows(annotations, args.fps, stall_seconds=0.5), annotations)
        for i, (label, model) in enumerate(variants.items()):
            column = f"value_{i}"
            run_label(LabelConfig(dataset=root, model=model.name, column=column, address="local"))
            results[label] = score(flag_dataset(root, column, float(args.fps)), annotations)
            short[label] = score(flag_dataset(root, column, float(args.fps), stall_seconds=0.5), annotations)
        run_label(LabelConfig(dataset=root, model="time", column="value_time", address="local"))
        results["time (reference)"] = score(flag_dataset(root, "value_time", float(args.fps)), annotations)
        results.update({f"{k}, stall >= 0.5 s": v for k, v in short.items()})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    command = "OMP_NUM_THREADS=1 .venv/bin/python -m bench.flag_segments" + (
        ""
        if (args.expert, args.hesitation, args.retry, args.fps, args.size, args.seed) == (4, 10, 10, 10, 48, 0)
        else f" --expert {args.expert} --hesitation {args.hesitation} --retry {args.retry} --fps {args.fps}"
        f" --size {args.size} --seed {args.seed}"
    )
    rule = "curate flag defaults: smooth 0.5 s, stall >= 1.0 s within 0.02 (below v=0.97), fall drop >= 0.05"
    result = {
        "command": command,
        "episodes": {"expert": args.expert, "hesitation": args.hesitation, "retry": args.retry},
        "fps": args.fps,
        "size": args.size,
        "rule": rule,
        "match": "stall<->hesitation, fall<->retry, IoU >= 0.2",
        "dataset_seconds": make_s,
        "results": results,
    }
    if args.robosuite:
        result["robosuite"] = robosuite_section(args.robosuite)
        command += " --robosuite " + " ".join(str(r) for r in args.robosuite)
        result["command"] = command
    args.out.mkdir(parents=True, exist_ok=True)
    write_results_json(args.out / "flag_segments.json", result)

    def f(x):
        return "—" if x != x else f"{x:.2f}"

    md = [
        "# curate flag: segment precision/recall against the bench annotations",
        "",
        f"Command: `{command}`",
        "",
        f"Synthetic bench: {args.expert} expert, {args.hesitation} hesitation, {args.retry} retry episodes at "
        f"{args.fps} fps, {args.size}x{args.size} AV1 video. Rule: {rule}. Match: {result['match']}.",
        "",
        "| values | precision | recall | stall P / R (hesitation) | fall P / R (retry) | flags on expert episodes |",
        "|---|---|---|---|---|---|",
    ]
    for label, r in results.items():
        md.append(
            f"| {label} | {f(r['precision'])} | {f(r['recall'])} | {f(r['stall_precision'])} / "
            f"{f(r['stall_recall'])} | {f(r['fall_precision'])} / {f(r['fall_recall'])} | "
            f"{r['flags_on_expert_episodes']} |"
        )
    if args.robosuite:
        rs = result["robosuite"]
        d = rs["segment_seconds"]
        md += [
            "",
            f"RoboSuite (`robosuite_eval generate`, {rs['annotated']} annotated episodes at {rs['fps']:g} fps; "
            f"segments {d['min']:.1f}-{d['max']:.1f} s, median {d['median']:.1f} s). No trained value model "
            "ships yet: these rows flag the annotated ground-truth curve (plus noise standing in for model "
            "error), so they test the rule's durations, not a model.",
            "",
            "| values | precision | recall | stall P / R (hesitation) | fall P / R (retry) | flags on expert episodes |",
            "|---|---|---|---|---|---|",
        ]
        for label, r in rs["results"].items():
            md.append(
                f"| {label} | {f(r['precision'])} | {f(r['recall'])} | {f(r['stall_precision'])} / "
                f"{f(r['stall_recall'])} | {f(r['fall_precision'])} / {f(r['fall_recall'])} | "
                f"{r['flags_on_expert_episodes']} |"
            )
    (args.out / "flag_segments.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
