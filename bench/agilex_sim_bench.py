"""The AgileX (sim) bench row: value models trained on this embodiment's own experts, scored at 3 fps.

    nice -n 10 .venv/bin/python -m bench.agilex_sim_bench [--work DIR] [--train-episodes 20] [--steps 600] ...

Issue 29, part 2. Every stage is cached under --work (default /work/wvmdata/agilex_bench, outside the repo)
and resumes: a rerun of the same command redoes nothing that finished and continues what was cut.

1. gen_train  expert demonstrations per task (`robosuite_eval generate --mode expert`, simulator seeds
              500000+, disjoint from the bench's 0..): the "own data" the models learn from.
2. gen_bench  per task `--hesitation` + `--retry` + `--expert` episodes, seeds 0.. (issue 29: >= 20 + 20 + 5).
              Both: 64x64 (wvm-tiny's frame size), 10 fps (generate's default; scored at 3 fps), and only
              `cam_high`, the camera every model here reads: it sees both arms and the object, so a
              hand-over, a failed grasp and the retreat after it are all in view, where a wrist camera sees
              only its own arm. The wrist cameras are not rendered (about a third of the cost each).
3. pretrain   wvm-tiny's video stream as a world model on the training experts (`value_labeling
              pretrain-video`), as bench/default_recipe.py does before the value stage.
4. train_wvm  `value_labeling train --episodes expert --camera cam_high --target-fps 3 --preset wvm-tiny
              --video-model PRETRAIN`: README's "Your own robot" path on both tasks' experts, one model.
5. train_baseline_frame, train_baseline_temporal: `value_labeling train-baseline --episodes expert` on
              exactly the same datasets and camera, context frames at 3 fps (this embodiment's bench rate).
              Each model is installed (weights, no optimizer state) under WORK/models/{wvm, baseline_frame,
              baseline_temporal} as soon as it is trained, listed in WORK/models/models.json.
6. score      `value_labeling bench` through bench/robosuite_bench.py's score cache, at the embodiment's
              3 fps (robodata/embodiment.py): `time`, both baselines, the AgileX WVM and the shipped RoboSuite
              default (`default`), whose out-of-domain line (value_labeling/domain.py) is recorded.
7. report     bench/results/NAME.{json,md} (+ NAME_readme.md, the README's block): n scored, bootstrap 95%
              intervals, and paired differences WVM minus each other model, over both tasks and per task.

Sizes and steps (not in the paper; chosen here for 2 shared CPU cores). Generation with cam_high alone
costs ~13 CPU-s per transfer-cube and ~18 CPU-s per insertion expert episode (the gen_train stages), so 20
experts per task, the low end of what issue 29 suggests, cost ~10 CPU-minutes and keep the bench (~35
CPU-minutes) affordable beside them. Training was sized from measured costs: ~3 CPU-s per wvm-tiny step
(world model and value stage alike, batch 16) and ~0.3-0.4 per baseline step (batch 32), so 100 + 300 WVM
steps and 400 per baseline take ~24 CPU-minutes, under the ~40 allowed, to finish on a machine shared with
other jobs; the results' budget line sets this against the default recipe's 1500 + 4000 steps. Same
arguments, same run: seeds are fixed, the trainers are seeded (`--seed 0`), and a stage's cache key (and
its run directory's name) holds every argument it depends on.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
EMBODIMENT = "AgileX (sim)"
TASKS = ("agilex_transfer_cube", "agilex_insertion")  # robosuite_eval/agilex_sim.py's TASKS
CAMERA = "cam_high"
TRAIN_SEED = 500_000
BENCH_SEED = 0
IMAGE_SIZE = 64
MODES = ("hesitation", "retry", "expert")
#: Display names in the tables, in table order; the WVM first.
WVM, FRAME, TEMPORAL, TIME, DEFAULT = (
    "wvm-agilex",
    "baseline-frame-agilex",
    "baseline-temporal-agilex",
    "time",
    "default",
)
MODEL_DIRS = {WVM: "wvm", FRAME: "baseline_frame", TEMPORAL: "baseline_temporal"}
BASELINE_KINDS = {FRAME: "frame-regressor", TEMPORAL: "temporal"}
README_BLOCK = "agilex_sim_bench"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a run depends on (its stage cache keys are built from these)."""

    tasks: tuple[str, ...] = TASKS
    train_episodes: int = 20
    """Expert demonstrations per task to train on (seeds TRAIN_SEED+)."""
    hesitation: int = 20
    retry: int = 20
    expert: int = 5
    pretrain_steps: int = 100
    """World-model steps before the value stage (0: none, the value stage starts from scratch)."""
    steps: int = 300
    """WVM value-stage steps."""
    baseline_steps: int = 400
    batch_size: int = 16
    """WVM batch (pretrain and value stage), bench/default_recipe.py's."""
    lr: float = 1e-3
    """WVM peak lr: the default recipe's at wvm-tiny scale (Table A.1's 1e-4 is for the 5B model)."""
    baseline_batch: int = 32
    baseline_width: int = 24
    """bench/build_baselines.py's batch and first-layer width (the shipped baselines')."""
    prefix_p: float = 0.5
    eval_fps: float = 3.0
    """The paper's AgileX rate (robodata.embodiment.EMBODIMENT_FPS['AgileX (sim)']): models see 3 fps."""
    workers: int = 1


# ----------------------------------------------------------------------------------------------- stages


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (generation's spawned worker)."""
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + c.ru_utime + c.ru_stime


def _key(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stage(work: Path, name: str, key: dict, fn, log: dict) -> dict:
    """Run `fn` unless WORK/stages/NAME.json records a finished run with the same key; record its wall and
    CPU seconds (a resumed stage adds to what the killed run had not recorded: only finished runs count)."""
    from robodata import atomic

    marker = work / "stages" / f"{name}.json"
    k = _key(key)
    if marker.is_file():
        rec = json.loads(marker.read_text())
        if rec.get("key") == k:
            print(f"[{name}] cached ({rec['cpu_s']:.0f} CPU-s when it ran)", flush=True)
            log[name] = {**rec, "cached": True}
            return rec
    print(f"[{name}] running ...", flush=True)
    t0, c0 = time.perf_counter(), _cpu()
    out = fn() or {}
    rec = {"key": k, "settings": key, "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(_cpu() - c0, 1)}
    rec |= out
    marker.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(marker, rec, indent=1)
    print(f"[{name}] done in {rec['wall_s']:.0f} s ({rec['cpu_s']:.0f} CPU-s)", flush=True)
    log[name] = {**rec, "cached": False}
    return rec


def expert_version() -> str:
    """The scripted expert's source fingerprint (bench.agilex_sim_experts'): part of every generation stage's
    key, so that data recorded by another version of the expert is never extended or scored as this one's."""
    from bench.agilex_sim_experts import fingerprint

    return fingerprint()


def check_expert_version(work: Path, name: str, root: Path, version: str) -> None:
    """Refuse a dataset that a finished stage recorded with another expert version (or before versions were
    recorded): `generate` would only extend it, mixing two experts' episodes under one key."""
    marker = work / "stages" / f"{name}.json"
    if not (root / "meta" / "info.json").is_file() or not marker.is_file():
        return
    recorded = json.loads(marker.read_text()).get("settings", {}).get("expert", "an earlier, unrecorded one")
    if recorded != version:
        raise SystemExit(
            f"{root} was generated by AgileX expert version {recorded}, this code's is {version}: "
            "pass a new --work to regenerate the data (the old results stay as they were recorded)"
        )


def generate(out: Path, task: str, mode: str, episodes: int, seed: int, workers: int) -> Path:
    """One dataset (generate resumes: a dataset holding fewer episodes is extended, same seeds)."""
    from robosuite_eval.cli import main as robosuite_eval

    robosuite_eval(
        ["generate", "--task", task, "--mode", mode, "--episodes", str(episodes), "--seed", str(seed)]
        + ["--image-size", str(IMAGE_SIZE), "--cameras", CAMERA, "--workers", str(workers), "--out", str(out)]
    )
    return out


def train_roots(work: Path, s: Settings) -> list[Path]:
    return [work / "train" / f"{t}_expert" for t in s.tasks]


def bench_roots(work: Path, s: Settings) -> list[Path]:
    sizes = {"hesitation": s.hesitation, "retry": s.retry, "expert": s.expert}
    return [work / "bench" / f"{t}_{m}" for m in MODES for t in s.tasks if sizes[m] > 0]


def install_model(src: Path, dest: Path, build: dict) -> Path:
    """Copy a trained step directory (weights, config, text cache, history; not the optimizer or train
    state) to `dest`, swapped in atomically: another process may be labelling with the previous copy."""
    from robodata import atomic

    new, old = atomic.sibling(dest, "install-new"), atomic.sibling(dest, "install-old")
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic.recover_dir(dest, new, old)
    with atomic.replace_dir(dest, new=new, old=old) as tmp:
        for f in src.iterdir():
            if f.is_file() and not f.name.startswith("optimizer") and f.name != "train_state.pt":
                shutil.copy2(f, tmp / f.name)
        (tmp / "build.json").write_text(json.dumps(build, indent=2) + "\n")
    print(f"installed {dest}", flush=True)
    return dest


def write_model_list(models_dir: Path, s: Settings, roots: list[Path]) -> Path:
    """WORK/models/models.json: what each installed model is (for whoever labels with them)."""
    from bench import dataset_fingerprint, write_results_json

    entries = {}
    for name, sub in MODEL_DIRS.items():
        d = models_dir / sub
        if (d / "build.json").is_file():
            entries[sub] = {
                "name": name,
                "path": str(d),
                "camera": CAMERA,
                "fps": s.eval_fps,
                "embodiment": EMBODIMENT,
                "kind": "wvm-tiny" if name == WVM else f"baseline {BASELINE_KINDS[name]}",
                "training_data": {str(r): dataset_fingerprint(r) for r in roots},
                "training_episodes": "expert",
                "build": json.loads((d / "build.json").read_text()),
            }
    path = models_dir / "models.json"
    write_results_json(path, {"models": entries})
    return path


def train_stages(work: Path, s: Settings, models_dir: Path, log: dict) -> dict:
    """Pretrain, the WVM and both baselines on the training experts; {display name: installed path}."""
    from bench import dataset_fingerprint
    from bench.default_recipe import data_flags
    from value_labeling.cli import main as value_labeling

    roots = train_roots(work, s)
    data = {str(r): dataset_fingerprint(r) for r in roots}
    own = ["--episodes", "expert", "--camera", CAMERA, "--target-fps", f"{s.eval_fps:g}", "--seed", "0"]

    def pretrain():
        value_labeling(
            ["pretrain-video", *data_flags(roots), "--out", str(video), "--steps", str(s.pretrain_steps)]
            + ["--batch-size", str(s.batch_size), "--save-every", "100", "--preset", "wvm-tiny", *own]
        )
        return {"seconds_per_step": seconds_per_step(video)}

    pre_key = {"data": data, "steps": s.pretrain_steps, "batch": s.batch_size, "fps": s.eval_fps}
    # Run directories carry their stage's key: the trainers resume whatever run they find in --out, and a
    # run of other settings (more --steps, a longer schedule) must start afresh, not continue this one.
    video = work / "runs" / f"pretrain_video_{_key(pre_key)}"
    pre = stage(work, "pretrain", pre_key, pretrain, log) if s.pretrain_steps > 0 else None
    video_flags = ["--video-model", str(video)] if pre else []  # 0 steps: the value stage from scratch

    from value_labeling.wvm.checkpoint import resolve as resolve_wvm

    def train_wvm():
        value_labeling(
            ["train", *data_flags(roots), "--out", str(run), *video_flags, "--preset", "wvm-tiny"]
            + ["--steps", str(s.steps), "--batch-size", str(s.batch_size), "--lr", f"{s.lr:g}"]
            + ["--prefix-p", f"{s.prefix_p:g}", "--save-every", "100", *own]
        )
        build = {"stage": "train_wvm", "settings": dataclasses.asdict(s), "pretrain": pre and pre["settings"]}
        install_model(resolve_wvm(run), models_dir / MODEL_DIRS[WVM], build)
        write_model_list(models_dir, s, roots)
        return {"seconds_per_step": seconds_per_step(run)}

    wvm_key = {**pre_key, "pretrain": pre and pre["key"], "steps": s.steps, "lr": s.lr, "prefix_p": s.prefix_p}
    run = work / "runs" / f"wvm_{_key(wvm_key)}"
    stage(work, "train_wvm", wvm_key, train_wvm, log)

    from value_labeling.baselines.model import resolve as resolve_baseline

    for name, kind in BASELINE_KINDS.items():
        bkey = {"data": data, "kind": kind, "steps": s.baseline_steps, "batch": s.baseline_batch}
        bkey |= {"width": s.baseline_width, "fps": s.eval_fps}
        brun = work / "runs" / f"{MODEL_DIRS[name]}_{_key(bkey)}"

        def train_baseline(kind=kind, brun=brun, name=name):
            value_labeling(
                ["train-baseline", *data_flags(roots), "--out", str(brun), "--kind", kind]
                + ["--steps", str(s.baseline_steps), "--batch-size", str(s.baseline_batch)]
                + ["--width", str(s.baseline_width), "--context-fps", f"{s.eval_fps:g}"]
                + ["--episodes", "expert", "--camera", CAMERA, "--seed", "0"]
            )
            build = {"stage": f"train_{MODEL_DIRS[name]}", "kind": kind, "settings": dataclasses.asdict(s)}
            install_model(resolve_baseline(brun), models_dir / MODEL_DIRS[name], build)
            write_model_list(models_dir, s, roots)
            return {"seconds_per_step": seconds_per_step(brun, baseline=True)}

        stage(work, f"train_{MODEL_DIRS[name]}", bkey, train_baseline, log)
    write_model_list(models_dir, s, roots)
    return {name: models_dir / sub for name, sub in MODEL_DIRS.items()}


def seconds_per_step(run: Path, baseline: bool = False) -> float | None:
    """Wall seconds per training step from the run's loss history (its last record's elapsed / step)."""
    if baseline:
        from value_labeling.baselines.model import resolve
    else:
        from value_labeling.wvm.checkpoint import resolve
    hist = json.loads((resolve(run) / "history.json").read_text())
    last = next((h for h in reversed(hist) if "elapsed_s" in h and h.get("step")), None)
    return round(last["elapsed_s"] / last["step"], 3) if last else None


# ----------------------------------------------------------------------------------------------- scoring


def domain_warnings(specs: dict[str, str], roots: list[Path]) -> dict[str, list[str]]:
    """{display name: the out-of-domain lines `value_labeling bench` prints for it on these datasets}:
    computed here (value_labeling.domain.domain_warning, the same call), since a cached score prints none."""
    from robodata.dataset import open_dataset, resolve_camera
    from value_labeling.domain import domain_warning
    from value_labeling.models import load_value_model, model_camera

    out: dict = {}
    for name, spec in specs.items():
        model = load_value_model(spec)
        lines = []
        for r in roots:
            ds = open_dataset(r)
            cam = resolve_camera(ds, None, model_camera(model))
            if (line := domain_warning(model, ds, cam, str(r))) is not None:
                lines.append(line)
        out[name] = lines
    return out


def wvm_minus(records: list[dict], wvm: str, others: list[str]) -> dict:
    """{other: {metric: {mean_diff, ci95, n_pairs, verdict}}}: WVM minus each model on the trajectories both
    scored, with value_labeling.bench.headline's paired bootstrap (reference = the other model), verdict
    for the WVM (better / worse / tie by the paired 95% interval)."""
    from value_labeling.bench.headline import headline

    out: dict = {}
    for o in others:
        h = headline([r for r in records if r["model"] in (wvm, o)], o)
        out[o] = {
            metric: {**c, "verdict": h["verdict"][metric][wvm]}
            for metric, c in h["paired_vs_reference"].get(wvm, {}).items()
        }
    return out


def score_all(work: Path, s: Settings, models: dict[str, Path]) -> dict:
    """Every model on every bench dataset through robosuite_bench.score_cached (cached per model
    fingerprint and dataset content), records renamed to the display names."""
    from bench.robosuite_bench import score_cached
    from value_labeling.bench.headline import headline

    roots = bench_roots(work, s)
    specs = {WVM: str(models[WVM]), FRAME: str(models[FRAME]), TEMPORAL: str(models[TEMPORAL]), TIME: "time"}
    specs[DEFAULT] = "default"
    result = score_cached(list(specs.values()), roots, work / "scores" / "last_call.json", work / "scores")
    display = {}
    for name, m in result["models"].items():
        display[name] = next(d for d, sp in specs.items() if sp == m["spec"])
    result["models"] = {display[n]: {**m, "name": n} for n, m in result["models"].items()}
    result["trajectories"] = [{**t, "model": display[t["model"]]} for t in result["trajectories"]]
    result["summary"] = {display[n]: v for n, v in result["summary"].items()}
    order = list(specs)
    recs = sorted(result["trajectories"], key=lambda t: order.index(t["model"]))
    result["trajectories"] = recs
    result.update(headline(recs, None))
    result["wvm_minus"] = wvm_minus(recs, WVM, [m for m in order if m != WVM])
    result["per_task"] = {}
    for t in s.tasks:
        sub = [r for r in recs if r["task"] == t]
        result["per_task"][t] = {
            "headline": headline(sub, None)["headline"],
            "wvm_minus": wvm_minus(sub, WVM, [m for m in order if m != WVM]),
        }
    result["domain_warnings"] = domain_warnings(specs, roots)
    return result


# ----------------------------------------------------------------------------------------------- report


def _f(x) -> str:
    from value_labeling.bench.headline import _finite

    return "/" if not _finite(x) else f"{x:.3f}"


def _cell(c: dict | None) -> str:
    if c is None:
        return "—"
    dropped = f", {c['n_dropped']} dropped" if c.get("n_dropped") else ""
    return f"{_f(c['mean'])} [{_f(c['ci95'][0])}, {_f(c['ci95'][1])}] (n={c['n_scored']}{dropped})"


def _dcell(c: dict | None) -> str:
    if c is None or not c.get("n_pairs"):
        return "—"
    return f"{c['mean_diff']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] ({c['verdict']}, n={c['n_pairs']})"


def tables(head: dict, minus: dict) -> list[str]:
    """The headline table (mean [95% interval] (n)) and the WVM-minus table."""
    from value_labeling.bench.headline import METRICS

    models = list(head)
    lines = ["| metric | " + " | ".join(f"`{m}`" for m in models) + " |", "|---|" + "---|" * len(models)]
    for metric, (title, sign) in METRICS.items():
        cells = [_cell(head[m].get(metric)) for m in models]
        lines.append(f"| {title} ({'lower' if sign < 0 else 'higher'} is better) | " + " | ".join(cells) + " |")
    lines += ["", f"Paired difference, `{WVM}` minus each model, on the trajectories both scored:", ""]
    others = list(minus)
    lines += ["| metric | " + " | ".join(f"minus `{o}`" for o in others) + " |", "|---|" + "---|" * len(others)]
    for metric, (title, _) in METRICS.items():
        lines.append(f"| {title} | " + " | ".join(_dcell(minus[o].get(metric)) for o in others) + " |")
    return lines


def findings(result: dict) -> list[str]:
    """What the numbers say, in words, written from them (nothing typed in)."""
    from value_labeling.bench.headline import METRICS, _finite

    head, minus, lines = result["headline"], result["wvm_minus"], []
    for metric, (title, sign) in METRICS.items():
        scored = {m: c[metric]["mean"] for m, c in head.items() if metric in c and _finite(c[metric]["mean"])}
        if not scored:
            continue
        best = (min if sign < 0 else max)(scored, key=scored.get)
        verdicts = {o: minus[o][metric]["verdict"] for o in minus if metric in minus[o]}
        better = [o for o, v in verdicts.items() if v == "better"]
        worse = [o for o, v in verdicts.items() if v == "worse"]
        tie = [o for o, v in verdicts.items() if v == "tie"]
        parts = [f"best mean `{best}` ({_f(scored[best])}); `{WVM}` {_f(scored.get(WVM))}"]
        if better:
            parts.append("beats " + ", ".join(f"`{o}`" for o in better) + " beyond noise")
        if worse:
            parts.append("is beaten beyond noise by " + ", ".join(f"`{o}`" for o in worse))
        if tie:
            parts.append("cannot be told apart from " + ", ".join(f"`{o}`" for o in tie))
        lines.append(f"- {title}: " + "; ".join(parts) + ".")
    from bench.default_recipe import RECIPES, SHIPPED_RECIPE

    st, r = result["settings"], RECIPES[SHIPPED_RECIPE]
    cpu = sum(v["cpu_s"] for k, v in result["stages"].items() if k in ("pretrain", "train_wvm"))
    lines.append(
        f"- Budget: the WVM trained {st['pretrain_steps']} world-model + {st['steps']} value steps "
        f"({cpu / 60:.0f} CPU-min) on {st['train_episodes']} experts per task; the RoboSuite default's recipe "
        f"({SHIPPED_RECIPE}) takes {r.pretrain_steps} + {r.steps} steps on {r.episodes} experts per task (plus "
        "labelled suboptimal episodes), so this row measures a small-budget own-data WVM, not the recipe's."
    )
    warned = result["domain_warnings"].get(DEFAULT) or []
    lines.append(
        f"- The RoboSuite default (`{DEFAULT}`, trained on RoboSuite's wrist camera): its out-of-domain warning "
        + (
            f"fired on {len(warned)} of {len(result['config']['data'])} bench datasets, as expected"
            if warned
            else "did NOT fire (unexpected)"
        )
        + "; its scores above are what it does anyway."
    )
    own = [m for m in (WVM, FRAME, TEMPORAL) if result["domain_warnings"].get(m)]
    lines.append(
        "- The models trained on this embodiment's experts: "
        + (
            "no out-of-domain warning on the bench data."
            if not own
            else f"warning(s) for {', '.join(own)} (see domain_warnings in the JSON)."
        )
    )
    return lines


def markdown(result: dict) -> str:
    from value_labeling.bench.headline import METRICS
    from value_labeling.bench.tables import paper_value

    s = result["settings"]
    st = result["stages"]
    lines = [
        "# AgileX (sim) bench row",
        "",
        f"Command: `{result['command']}`",
        "",
        f"Data: {len(s['tasks'])} task(s) ({', '.join(s['tasks'])}) x {result['sizes']['hesitation']} hesitation "
        f"+ {result['sizes']['retry']} retry + {result['sizes']['expert']} expert trajectories, simulator seeds "
        f"{BENCH_SEED}..; embodiment `{EMBODIMENT}` scored at {s['eval_fps']:g} fps (the paper's AgileX rate); "
        f"recorded at 10 fps, 64x64, camera `{CAMERA}` only. Training data: {s['train_episodes']} expert "
        f"demonstrations per task, seeds {TRAIN_SEED}.. (disjoint from the bench), both tasks in one model per "
        "kind, README's 'Your own robot' path (`--episodes expert`).",
        "",
        "## Headline (all tasks)",
        "",
        *tables(result["headline"], result["wvm_minus"]),
        "",
        "The paper's WVM on its real AgileX (reported, not measured here; Expert-VOC row: 'Self-collected (3 "
        "embodiments)'): "
        + ", ".join(f"{title} {_f(paper_value(k, 'AgileX'))}" for k, (title, _) in METRICS.items())
        + ".",
        "",
        "Mean [bootstrap 95% interval over trajectories] (n scored; ill-defined scores dropped). Paired: "
        "better / worse for the WVM when the paired 95% interval excludes 0 in that direction; tie otherwise.",
        "",
        "## What this shows",
        "",
        *findings(result),
        "",
        "## Per task",
        "",
    ]
    if len(result["per_task"]) == 1:
        lines += ["One task: the headline above.", ""]
    for t, pt in result["per_task"].items() if len(result["per_task"]) > 1 else ():
        lines += [f"### {t}", "", *tables(pt["headline"], pt["wvm_minus"]), ""]
    lines += [
        "## Models and training",
        "",
        "| model | spec | fingerprint |",
        "|---|---|---|",
        *[f"| `{m}` | `{v['spec']}` | {v['fingerprint']} |" for m, v in result["models"].items()],
        "",
        f"WVM: wvm-tiny, pretrain-video {s['pretrain_steps']} steps then train {s['steps']} steps, batch "
        f"{s['batch_size']}, lr {s['lr']:g}, prefix p {s['prefix_p']:g}, target fps {s['eval_fps']:g}. Baselines: "
        f"{s['baseline_steps']} steps, batch {s['baseline_batch']}, width {s['baseline_width']}, context fps "
        f"{s['eval_fps']:g}. All seeded 0, camera `{CAMERA}`, `--episodes expert`.",
        "",
        "| stage | CPU s | wall s | wall s/step |",
        "|---|---|---|---|",
        *[
            f"| {k} | {v['cpu_s']:.0f} | {v['wall_s']:.0f} | {v.get('seconds_per_step') or '/'} |"
            for k, v in st.items()
        ],
        "",
        "CPU s: this process and its finished children (the generation worker), as measured when the stage "
        "ran (2 CPU cores shared with other jobs).",
        "",
        "Domain warnings (value_labeling/domain.py), one per bench dataset:",
        "",
        *[
            f"- `{m}`: {len(w)} line(s)" + (f"; first: {w[0]}" if w else "")
            for m, w in result["domain_warnings"].items()
        ],
    ]
    return "\n".join(lines)


def readme_block(result: dict) -> str:
    """The README's AgileX (sim) bench bullet, from the headline."""
    from value_labeling.bench.headline import METRICS

    h, minus = result["headline"], result["wvm_minus"]
    sz = result["sizes"]
    cells = []
    for m in h:
        parts = [
            f"{_f(h[m][k]['mean'])} [{_f(h[m][k]['ci95'][0])}, {_f(h[m][k]['ci95'][1])}]" for k in METRICS if k in h[m]
        ]
        cells.append(f"`{m}` " + " / ".join(parts))
    vs = "; ".join(f"vs `{o}` " + " / ".join(minus[o][k]["verdict"] for k in METRICS if k in minus[o]) for o in minus)
    return (
        f"- Bench row (`bench/results/agilex_sim_bench.md`: `{result['command']}`): {len(result['settings']['tasks'])} "
        f"task(s) x {sz['hesitation']} hesitation + {sz['retry']} retry + {sz['expert']} expert trajectories at "
        f"{result['settings']['eval_fps']:g} fps, models trained on {result['settings']['train_episodes']} expert "
        f"demonstrations per task (`cam_high`). H-RMSE / Retry-VOC / Expert-VOC, mean [bootstrap 95%]: "
        + "; ".join(cells)
        + f". `{WVM}` paired against each (H / R / E, better / worse / tie): {vs}. The RoboSuite default's "
        "out-of-domain warning fired: " + ("yes" if result["domain_warnings"].get(DEFAULT) else "no") + "."
    )


def sizes_scored(result: dict) -> dict:
    from bench.robosuite_bench import scored_sizes

    return scored_sizes(result)


# ----------------------------------------------------------------------------------------------- main


STAGE_GROUPS = ("generate-train", "train", "generate-bench", "score")


def run(
    s: Settings,
    work: Path,
    results: Path,
    name: str,
    models_dir: Path | None,
    command: str,
    groups: tuple[str, ...] = STAGE_GROUPS,
) -> dict | None:
    """The stages of `groups` in order (two processes may run disjoint groups side by side, e.g. the bench
    generating while the models train; each stage's cache is its own); the report needs `score`."""
    from bench import dataset_fingerprint, write_results_json

    models_dir = models_dir or work / "models"
    log: dict = {}
    print(f"agilex_sim_bench: work {work}, tasks {', '.join(s.tasks)}, stages {', '.join(groups)}", flush=True)
    version = expert_version()
    for t in s.tasks if "generate-train" in groups else ():
        root = work / "train" / f"{t}_expert"
        check_expert_version(work, f"gen_train_{t}", root, version)
        stage(
            work,
            f"gen_train_{t}",
            {"task": t, "episodes": s.train_episodes, "seed": TRAIN_SEED, "expert": version},
            lambda t=t, root=root: generate(root, t, "expert", s.train_episodes, TRAIN_SEED, s.workers) and None,
            log,
        )
    if "train" in groups:
        missing = [r for r in train_roots(work, s) if not (r / "meta" / "info.json").is_file()]
        if missing:
            raise SystemExit(f"no training data at {missing[0]}; run the generate-train stage first (--stages all)")
        models = train_stages(work, s, models_dir, log)
    else:
        models = {n: models_dir / sub for n, sub in MODEL_DIRS.items()}
    sizes = {"hesitation": s.hesitation, "retry": s.retry, "expert": s.expert}
    for mode in ("expert", "hesitation", "retry") if "generate-bench" in groups else ():  # cheap experts first
        for t in s.tasks:
            if sizes[mode] > 0:
                root = work / "bench" / f"{t}_{mode}"
                check_expert_version(work, f"gen_bench_{t}_{mode}", root, version)
                stage(
                    work,
                    f"gen_bench_{t}_{mode}",
                    {"task": t, "mode": mode, "episodes": sizes[mode], "seed": BENCH_SEED, "expert": version},
                    lambda t=t, mode=mode, root=root: (
                        generate(root, t, mode, sizes[mode], BENCH_SEED, s.workers) and None
                    ),
                    log,
                )
    if "score" not in groups:
        return None
    for r in [*(models_dir / sub for sub in MODEL_DIRS.values()), *bench_roots(work, s)]:
        if not ((r / "build.json").is_file() or (r / "meta" / "info.json").is_file()):
            raise SystemExit(f"{r} is missing: run its stage first (--stages all), then score")
    log |= {
        p.stem: {**json.loads(p.read_text()), "cached": True}
        for p in sorted((work / "stages").glob("*.json"))
        if p.stem not in log and p.stem != "score"
    }  # stages another process ran: their recorded times
    t0, c0 = time.perf_counter(), _cpu()
    print("[score] value_labeling bench (cached per model and dataset) ...", flush=True)
    before = set((work / "scores").rglob("*.json"))
    result = score_all(work, s, models)
    log["score"] = {"wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(_cpu() - c0, 1), "cached": False}
    marker = work / "stages" / "score.json"
    if set((work / "scores").rglob("*.json")) <= before and marker.is_file():  # nothing new: the time it took
        log["score"] = {**json.loads(marker.read_text()), "cached": True}
    else:
        from robodata import atomic

        atomic.write_json(marker, {k: v for k, v in log["score"].items() if k != "cached"}, indent=1)
    result["command"] = command
    result["settings"] = dataclasses.asdict(s)
    result["seeds"] = {"train": TRAIN_SEED, "bench": BENCH_SEED, "trainers": 0}
    result["stages"] = log
    result["sizes"] = sizes_scored(result)
    result["datasets"] = {str(r): dataset_fingerprint(r) for r in train_roots(work, s) + bench_roots(work, s)}
    result["installed_models"] = str(models_dir / "models.json")
    results.mkdir(parents=True, exist_ok=True)
    out = results / f"{name}.json"
    write_results_json(out, result)
    md = markdown(result)
    out.with_suffix(".md").write_text(md + "\n")
    (results / f"{name}_readme.md").write_text(readme_block(result) + "\n")
    print(md)
    print(f"\nwrote {out}, {out.with_suffix('.md')} and {results / f'{name}_readme.md'}")
    return result


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    d = Settings()
    p.add_argument("--work", type=Path, default=Path("/work/wvmdata/agilex_bench"))
    p.add_argument("--task", action="append", choices=TASKS, default=None, help="default: both")
    for f in dataclasses.fields(Settings):
        if f.name != "tasks":
            p.add_argument(f"--{f.name.replace('_', '-')}", type=type(getattr(d, f.name)), default=getattr(d, f.name))
    p.add_argument("--results", type=Path, default=RESULTS, help="where NAME.{json,md} go")
    p.add_argument("--name", default="agilex_sim_bench")
    p.add_argument("--models-dir", type=Path, default=None, help="where the trained models go (default WORK/models)")
    p.add_argument(
        "--stages",
        default="all",
        help=f"comma-separated stage groups to run, of {', '.join(STAGE_GROUPS)} (default all); e.g. "
        "generate-bench in one process while another runs generate-train,train",
    )
    a = p.parse_args(argv)
    s = Settings(
        tasks=tuple(a.task or TASKS),
        **{f.name: getattr(a, f.name) for f in dataclasses.fields(Settings) if f.name != "tasks"},
    )
    if min(s.train_episodes, s.steps, s.baseline_steps) <= 0 or s.pretrain_steps < 0:
        p.error("--train-episodes, --steps and --baseline-steps must be positive (--pretrain-steps 0: no pretraining)")
    args = sys.argv[1:] if argv is None else list(argv)
    command = ("python -m bench.agilex_sim_bench " + " ".join(args)).strip()
    groups = STAGE_GROUPS if a.stages == "all" else tuple(g.strip() for g in a.stages.split(","))
    if bad := [g for g in groups if g not in STAGE_GROUPS]:
        p.error(f"--stages {bad[0]!r}: choose from {', '.join(STAGE_GROUPS)} or all")
    result = run(s, a.work, a.results, a.name, a.models_dir, command, groups)
    if result is not None and a.results == RESULTS and a.name == "agilex_sim_bench":
        from bench import replace_readme_block

        if replace_readme_block(README_BLOCK, readme_block(result)):
            print("updated the README's AgileX (sim) bench block")
    return result


if __name__ == "__main__":
    main()
