"""How well `curate flag` finds the annotated hesitation and retry segments (segment precision/recall).

Two sections, each through the real pipeline (`curate label-values`, in-process: decode -> resample
to the model's fps -> predict -> interpolate -> clip), then `curate flag`'s rule
(`curate.flag.flag_curves`, defaults) and `curate.flag.segment_scores` (a stall matches a hesitation,
a fall a retry, IoU >= 0.2):

1. Synthetic unit case (always): `testing.synthetic_bench.make_synthetic_bench` (real LeRobot v3.0 files,
   AV1 video, a square sliding to a goal whose position *is* the annotated progress curve). Its values
   come from a test model defined here that reads the square's x position off the pixels, so it checks
   the pipeline and the rule, not a learned model. Rows:
     ground truth   : the annotated curve itself (the rule's ceiling; no video, no model)
     pixels @native : the square model on every native frame
     pixels @2fps   : the same model at the paper's evaluation rate, interpolated back to native
     + noise s      : Gaussian noise of std s added to every prediction (a less certain model)
     time           : the `time` reference model (always rising: it can flag nothing)
2. With `--work DIR` (a RoboSuite bench directory of `python -m bench.robosuite_bench`): the default
   value model and `time` (the floor) on the bench's own trajectories at their native fps, beside the
   annotated curve, per mode with segment counts and Wilson 95% intervals, for the default minimum
   stall (1 s) and 0.5 s. Model values are cached as sidecar tables under DIR/flag_values/<fingerprint>/,
   so a rerun only flags.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python -m bench.flag_segments [--expert 4 --hesitation 10 --retry 10]
        [--work /work/wvmdata/bench_r4 [--model default --model time]]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import dataset_fingerprint, replace_readme_block, write_results_json
from robodata import atomic

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


def wilson(successes: int, trials: int) -> list[float] | None:
    """95% Wilson interval of a segment count ratio; None when nothing was there to count."""
    from robosuite_eval.rollout import wilson_interval

    return list(wilson_interval(successes, trials)) if trials else None


def counted(rows: list[dict], annotations: list[dict]) -> dict:
    """Per mode (hesitation <-> stall, retry <-> fall): precision and recall with the segment counts
    behind them and Wilson 95% intervals, plus the flags raised on expert episodes (false alarms)."""
    from curate.flag import segment_scores

    out = {}
    for kind, mode in (("stall", "hesitation"), ("fall", "retry")):
        pred = [r for r in rows if r["kind"] == kind]
        truth = [a for a in annotations if a["mode"] == mode]
        s = segment_scores(pred, truth)
        tp_pred = round(s["precision"] * s["predicted"]) if s["predicted"] else 0
        tp_truth = round(s["recall"] * s["annotated"]) if s["annotated"] else 0
        out[mode] = {
            "precision": s["precision"],
            "precision_ci95": wilson(tp_pred, s["predicted"]),
            "matched_predicted": tp_pred,
            "predicted": s["predicted"],
            "recall": s["recall"],
            "recall_ci95": wilson(tp_truth, s["annotated"]),
            "matched_annotated": tp_truth,
            "annotated": s["annotated"],
        }
    experts = {a["episode_index"] for a in annotations if a["mode"] == "expert"}
    flagged = {r["episode_index"] for r in rows if r["episode_index"] in experts}
    out["expert"] = {
        "flags": sum(r["episode_index"] in experts for r in rows),
        "episodes_flagged": len(flagged),
        "episodes": len(experts),
        "episodes_flagged_ci95": wilson(len(flagged), len(experts)),
    }
    return out


def bench_datasets(work: Path) -> list[Path]:
    """The annotated datasets directly under a RoboSuite bench directory (`robosuite_eval generate`)."""
    roots = sorted(p for p in work.iterdir() if (p / "meta" / "info.json").is_file())
    if not roots:
        raise SystemExit(
            f"{work}: no LeRobot datasets here; generate the bench first (python -m bench.robosuite_bench)"
        )
    return roots


def model_curves(spec: str, roots: list[Path], cache: Path) -> tuple[str, dict[str, dict[int, np.ndarray]]]:
    """(model name, {dataset name: {episode: values at native fps}}) through the real pipeline:
    `curate label-values --out SIDECAR` (decode, resample to the model's fps, predict, interpolate back,
    clip), one sidecar per dataset cached under `cache/<model fingerprint>/`, so a rerun only reads."""
    import pyarrow.parquet as pq

    from curate.config import LabelConfig
    from curate.label_values import run_label
    from value_labeling.models import load_value_model

    model = load_value_model(spec)
    out = {}
    for root in roots:
        # keyed by the dataset's content too: a grown or regenerated dataset is labelled again
        side = cache / model.fingerprint() / f"{root.name}_{dataset_fingerprint(root)}.parquet"
        if not side.is_file():
            run_label(LabelConfig(dataset=root, model=spec, column="value", address="local", out=side))
        t = pq.read_table(side).to_pydict()
        eps: dict[int, list] = {}
        for ep, _fi, v in sorted(zip(t["episode_index"], t["frame_index"], t["value"])):
            eps.setdefault(int(ep), []).append(v)
        out[root.name] = {ep: np.asarray(v, np.float64) for ep, v in eps.items()}
    return model.name, out


def robosuite_section(work: Path, models: list[str], rules: dict[str, dict]) -> dict:
    """`curate flag` on a RoboSuite bench's own trajectories, at their native fps, with real value models
    (`default`, and `time` as the floor: a clock never falls, and stalls only where its slope is under the
    rule's tolerance) beside the annotated ground-truth curve (the rule's ceiling: no video, no model)."""
    from curate.flag import flag_curves
    from robodata.annotations import read_annotations
    from robodata.dataset import dataset_fps
    from robodata.ground_truth import progress_curve
    from robosuite_eval.generate import recorded_generator

    roots = bench_datasets(work)
    fps_set = {dataset_fps(r) for r in roots}
    if len(fps_set) != 1:
        raise SystemExit(f"{work}: datasets with different fps {sorted(fps_set)}; score them separately")
    fps = fps_set.pop()
    offset = {r.name: i * 1_000_000 for i, r in enumerate(roots)}  # one episode index space over datasets
    annotations, seconds = [], {"hesitation": [], "retry": []}
    for r in roots:
        for a in read_annotations(r) or []:
            annotations.append({**a, "episode_index": a["episode_index"] + offset[r.name]})
            if a["mode"] in seconds:
                seconds[a["mode"]].append((a["n"] - a["m"]) / fps)  # as the bench reports segment lengths
    curves = {
        "ground truth": {
            a["episode_index"]: progress_curve(a["mode"], int(a["T"]), a["m"], a["n"]) for a in annotations
        }
    }
    cache = work / "flag_values"
    for spec in models:
        name, per_ds = model_curves(spec, roots, cache)
        curves[name] = {ep + offset[d]: v for d, eps in per_ds.items() for ep, v in eps.items()}
    count = {m: sum(a["mode"] == m for a in annotations) for m in ("expert", "hesitation", "retry")}
    out = {
        "work": str(work),
        "generator": sorted({recorded_generator(r) or "unknown" for r in roots}),
        "datasets": [r.name for r in roots],
        "fps": fps,
        "episodes": count,
        "segment_seconds": {
            m: {"min": min(s), "median": float(np.median(s)), "max": max(s)} for m, s in seconds.items() if s
        },
        "results": {},
    }
    for values, c in curves.items():
        missing = {a["episode_index"] for a in annotations} - set(c)
        if missing:
            raise SystemExit(f"{values}: no values for {len(missing)} annotated episodes; delete {cache} and rerun")
        for rule_name, rule in rules.items():
            out["results"][f"{values}, {rule_name}"] = counted(flag_curves(c, fps, **rule), annotations)
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
        "--work",
        type=Path,
        default=None,
        help="a RoboSuite bench directory (python -m bench.robosuite_bench --work DIR) to flag with real models",
    )
    ap.add_argument(
        "--model",
        action="append",
        default=None,
        help="value models for the --work section (default: default and the time reference)",
    )
    args = ap.parse_args()
    from runtime.priority import keep_normal_priority

    keep_normal_priority()  # the synthetic bench's AV1 encoder would raise its threads to real-time

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
    if args.work is not None:
        models = args.model or ["default", "time"]
        rules = {"stall >= 1 s": {}, "stall >= 0.5 s": {"stall_seconds": 0.5}}
        result["robosuite"] = robosuite_section(args.work, models, rules)
        command += f" --work {args.work}" + "".join(f" --model {m}" for m in args.model or [])
        result["command"] = command
    args.out.mkdir(parents=True, exist_ok=True)
    write_results_json(args.out / "flag_segments.json", result)
    md = markdown(result)
    atomic.write_text(args.out / "flag_segments.md", md)
    print(md)
    if args.out == RESULTS and replace_readme_block("flag_segments rows", readme_text(result)):
        print("updated the README's flag_segments paragraph")


def readme_text(result: dict) -> str:
    """The README's paragraph on `curate flag`, from the result (so it never drifts from the file)."""
    syn = result["results"]["pixels @native"]
    text = (
        f"`curate flag` against the bench annotations (`flag_segments.md`: `{result['command']}`; rule: "
        f"{result['rule']}). Synthetic unit case (values from a test model that reads the ground truth off the "
        f"pixels, native fps): precision {f2(syn['precision'])}, recall {f2(syn['recall'])}."
    )
    rs = result.get("robosuite")
    if rs:
        c = rs["episodes"]
        text += (
            f" RoboSuite bench `{rs['work']}` (generator {', '.join(rs['generator'])}; {c['hesitation']} hesitation, "
            f"{c['retry']} retry, {c['expert']} expert episodes) at the native {rs['fps']:g} fps, default rule, "
            "segment precision / recall [Wilson 95%]:"
        )
        for label, r in rs["results"].items():
            if not label.endswith("stall >= 1 s"):
                continue
            h, t = r["hesitation"], r["retry"]

            text += (
                f" {label.rsplit(',', 1)[0]}: hesitation {pr(h, 'precision', False)} / {pr(h, 'recall', False)}, "
                f"retry {pr(t, 'precision', False)} / {pr(t, 'recall', False)}, {r['expert']['episodes_flagged']} of "
                f"{r['expert']['episodes']} expert episodes flagged;"
            )
        text = text.rstrip(";") + "."
    return text


def f2(x) -> str:
    return "—" if x is None or x != x else f"{x:.2f}"


def plain_reading(rs: dict) -> list[str]:
    """One sentence per model under the default rule, in words (numbers from the results)."""
    out = []
    for label, r in rs["results"].items():
        if not label.endswith("stall >= 1 s"):
            continue
        h, t, x = r["hesitation"], r["retry"], r["expert"]
        false = h["predicted"] - h["matched_predicted"] + t["predicted"] - t["matched_predicted"]
        out.append(
            f"`{label.rsplit(',', 1)[0]}`, default rule: finds {h['matched_annotated']} of {h['annotated']} annotated "
            f"hesitations and {t['matched_annotated']} of {t['annotated']} retries; {false} of its "
            f"{h['predicted'] + t['predicted']} flags match no annotated segment; it flags {x['episodes_flagged']} of "
            f"{x['episodes']} expert episodes."
        )
    return out


def pr(d: dict, k: str, counts: bool = True) -> str:
    """'0.42 [0.29, 0.56] (20/48)': a precision or recall with its Wilson interval and segment counts."""
    num, den = (
        (d["matched_predicted"], d["predicted"]) if k == "precision" else (d["matched_annotated"], d["annotated"])
    )
    ci = d[f"{k}_ci95"]
    tail = f" ({num}/{den})" if counts else ""
    return f"{f2(d[k])} [{f2(ci[0])}, {f2(ci[1])}]{tail}" if ci else f"—{tail}"


def markdown(result: dict) -> str:
    e = result["episodes"]
    md = [
        "# curate flag: segment precision/recall against the bench annotations",
        "",
        f"Command: `{result['command']}`",
        "",
        "Rule: " + result["rule"] + ". Match: " + result["match"] + ".",
        "",
        "## Synthetic unit case",
        "",
        f"Synthetic bench (`testing.synthetic_bench`): {e['expert']} expert, {e['hesitation']} hesitation, "
        f"{e['retry']} retry episodes at {result['fps']} fps, {result['size']}x{result['size']} AV1 video. The "
        "values come from a test model that reads the ground truth off the square's position (no learned "
        "model): this checks the pipeline and the rule, not a value model.",
        "",
        "| values | precision | recall | stall P / R (hesitation) | fall P / R (retry) | flags on expert episodes |",
        "|---|---|---|---|---|---|",
    ]
    for label, r in result["results"].items():
        md.append(
            f"| {label} | {f2(r['precision'])} | {f2(r['recall'])} | {f2(r['stall_precision'])} / "
            f"{f2(r['stall_recall'])} | {f2(r['fall_precision'])} / {f2(r['fall_recall'])} | "
            f"{r['flags_on_expert_episodes']} |"
        )
    rs = result.get("robosuite")
    if rs:
        c = rs["episodes"]
        seg = "; ".join(
            f"{m} {d['min']:.1f}-{d['max']:.1f} s (median {d['median']:.1f} s)"
            for m, d in rs["segment_seconds"].items()
        )
        md += [
            "",
            "## RoboSuite bench, real value models",
            "",
            f"Bench: `{rs['work']}` (generator {', '.join(rs['generator'])}; {len(rs['datasets'])} datasets: {c['hesitation']} hesitation, {c['retry']} "
            f"retry, {c['expert']} expert episodes), flagged at the native {rs['fps']:g} fps. Annotated segments: "
            f"{seg}. Values by `curate label-values` (each model at its own rate, interpolated to every frame); "
            "`ground truth` flags the annotated curve itself (the rule's ceiling), `time` is a clock rising at a "
            "constant rate (the floor: it never falls, and stalls only where an episode is long enough that its "
            "slope stays under the tolerance).",
            "",
            "Precision = matched flags / flags of that kind on any episode; recall = matched annotated segments / "
            "annotated segments; [Wilson 95% interval] (matched/total).",
            "",
            "| values, rule | hesitation precision | hesitation recall | retry precision | retry recall | "
            "expert episodes flagged |",
            "|---|---|---|---|---|---|",
        ]

        for label, r in rs["results"].items():
            h, t, x = r["hesitation"], r["retry"], r["expert"]
            md.append(
                f"| {label} | {pr(h, 'precision')} | {pr(h, 'recall')} | {pr(t, 'precision')} | {pr(t, 'recall')} | "
                f"{x['episodes_flagged']}/{x['episodes']} ({x['flags']} flags) |"
            )
        md += [""] + [f"- {line}" for line in plain_reading(rs)]
    return "\n".join(md) + "\n"


if __name__ == "__main__":
    main()
