"""Rebuild the embedded default value model from scratch (`make default-model`).

The paper's premise is that a video world model's prior makes better values. Wan2.2 cannot be
downloaded here, so the prior is built the same way at `wvm-tiny` scale:

1. data      RoboSuite demonstrations of the six tasks (experts, plus a small hesitation/retry training
             split for the world model), simulator seeds from 100000 up; the bench uses seeds 0.. (see
             bench/robosuite_bench.py), so no bench trajectory is ever trained on.
2. pretrain  the wvm-tiny video stream alone as a world model (future-latent flow matching) on every
             training video (`value_labeling pretrain-video`).
3. train     WVM from that video stream with the value stream, on the expert demonstrations
             (labels t/(T-1)), with ReWiND rewinding and prefix randomization (`value_labeling train`).
4. install   copy the final weights (no optimizer state) with a model card into
             value_labeling/models/default_wvm/, where the `default` value model loads them from.

Every stage resumes: generation skips finished episodes, training resumes from its last checkpoint, so a
killed build restarts where it stopped. Work files go to --work (default .cache/default_model).

    .venv/bin/python scripts/build_default_model.py [--work DIR] [--steps 4000] [--lr 1e-3] [--pretrain-steps 1500]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from value_labeling.models.default import DEFAULT_DIR  # noqa: E402

from robosuite_eval.tasks import TASKS as _TASK_SPECS  # noqa: E402

TASKS = list(_TASK_SPECS)  # the six RoboSuite tasks, in the order `--task all` generates them
TRAIN_SEED = 100_000  # expert demonstrations
TRAIN_SUB_SEED = 200_000  # hesitation/retry videos for the world model only
IMAGE_SIZE = 64  # wvm-tiny's frame size: render at it instead of resizing 128x128 frames
#: The view the model reads. The wrist camera, not agentview: at 64x64 the agentview gripper is a few
#: pixels, while from the wrist a failed grasp and the retreat after it fill the frame. Same recipe,
#: 1000 steps, 25+25 bench: Hesitation-RMSE 0.11 vs 0.18, Retry-VOC 0.23 vs -0.01, Expert-VOC 0.95 vs
#: 0.82 (all beyond 3 paired standard errors); the checkpoint records it, so labelling picks it by default.
CAMERA = "robot0_eye_in_hand"


def generate(out: Path, mode: str, episodes: int, seed: int) -> list[Path]:
    from robosuite_eval.cli import main as robosuite_eval

    robosuite_eval(["generate", "--task", "all", "--mode", mode, "--episodes", str(episodes), "--seed", str(seed),
                    "--image-size", str(IMAGE_SIZE), "--out", str(out)])
    return [out / f"{t}_{mode}" for t in TASKS]


def data_flags(roots: list[Path]) -> list[str]:
    return [a for r in roots for a in ("--data", str(r))]


def run_seconds(run: Path, fallback: float) -> float:
    """A training stage's wall time from its logged history, so a resumed build that finds the stage
    already finished keeps the real time instead of the few seconds it took to notice."""
    from value_labeling.wvm.checkpoint import resolve

    try:
        return max(float(h["elapsed_s"]) for h in json.loads((resolve(run) / "history.json").read_text()))
    except (OSError, ValueError, KeyError):
        return fallback


def build(work: Path, episodes: int, sub_episodes: int, pretrain_steps: int, steps: int, batch: int,
          lr: float = 1e-3, vae_steps: int = 0, camera: str = CAMERA) -> Path:
    import torch

    from value_labeling.cli import main as value_labeling

    t0 = time.perf_counter()
    experts = generate(work / "train", "expert", episodes, TRAIN_SEED)
    sub = []
    if sub_episodes:
        sub = generate(work / "train_sub", "hesitation", sub_episodes, TRAIN_SUB_SEED)
        sub += generate(work / "train_sub", "retry", sub_episodes, TRAIN_SUB_SEED)
    t_data = time.perf_counter() - t0

    # Stage outputs are named by camera (and VAE), so a build with other choices never resumes another's.
    tag = camera + ("_tvae" if vae_steps else "")
    cam_flags = ["--camera", camera]
    t_vae = 0.0
    vae_flags: list[str] = []
    if vae_steps:
        tv = time.perf_counter()
        vae = work / f"vae_{camera}"
        value_labeling(["pretrain-vae", *data_flags(experts + sub), "--out", str(vae), "--steps", str(vae_steps),
                        *cam_flags])
        t_vae = time.perf_counter() - tv
        vae_flags = ["--video-model", str(vae)]
    t1 = time.perf_counter()
    video = work / f"video_pretrain_{tag}"
    value_labeling(["pretrain-video", *data_flags(experts + sub), "--out", str(video), "--steps", str(pretrain_steps),
                    "--batch-size", str(batch), "--save-every", "500", *vae_flags, *cam_flags])
    t_pre = run_seconds(video, time.perf_counter() - t1)

    t2 = time.perf_counter()
    ckpt = work / f"wvm_{tag}"
    value_labeling(["train", *data_flags(experts), "--out", str(ckpt), "--video-model", str(video),
                    "--steps", str(steps), "--batch-size", str(batch), "--lr", str(lr), "--save-every", "500",
                    *cam_flags])
    t_train = run_seconds(ckpt, time.perf_counter() - t2)
    card = {
        "preset": "wvm-tiny",
        "data": {"expert_demonstrations": f"{len(TASKS)} RoboSuite tasks x {episodes} (seeds {TRAIN_SEED}+)",
                 "world_model_extra": f"{len(TASKS)} x {sub_episodes} hesitation + {sub_episodes} retry "
                                      f"(seeds {TRAIN_SUB_SEED}+), video pretraining only",
                 "image_size": IMAGE_SIZE, "camera": camera, "fps": "recorded 10, windows at 2"},
        "vae_steps": vae_steps, "pretrain_video_steps": pretrain_steps, "train_steps": steps, "batch_size": batch,
        "lr": lr,
        "wall_time_s": {"data": round(t_data), "pretrain_vae": round(t_vae), "pretrain_video": round(t_pre),
                        "train": round(t_train)},
        "command": "make default-model",
        "machine": f"{os.cpu_count()} CPU cores, {'GPU' if torch.cuda.is_available() else 'no GPU'}",
    }
    # A resumed build whose earlier stages were already complete keeps their measured wall times.
    if (work / "build.json").is_file():
        prev = json.loads((work / "build.json").read_text()).get("wall_time_s", {})
        for stage, secs in card["wall_time_s"].items():
            if secs < 10 and prev.get(stage, 0) > secs:
                card["wall_time_s"][stage] = prev[stage]
    (work / "build.json").write_text(json.dumps(card, indent=2) + "\n")
    return ckpt


def install(ckpt: Path, work: Path) -> Path:
    """Copy weights, config and text cache (not the optimizer state) into the package, atomically."""
    from value_labeling.wvm.checkpoint import resolve

    src = resolve(ckpt)
    tmp = DEFAULT_DIR.with_name(DEFAULT_DIR.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in src.iterdir():
        if f.name.startswith("optimizer") or f.name == "train_state.pt" or not f.is_file():
            continue
        shutil.copy2(f, tmp / f.name)
    build_info = json.loads((work / "build.json").read_text()) if (work / "build.json").is_file() else {}
    (tmp / "build.json").write_text(json.dumps(build_info, indent=2) + "\n")
    old = DEFAULT_DIR.with_name(DEFAULT_DIR.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if DEFAULT_DIR.exists():
        os.replace(DEFAULT_DIR, old)
    os.replace(tmp, DEFAULT_DIR)
    shutil.rmtree(old, ignore_errors=True)
    size = sum(f.stat().st_size for f in DEFAULT_DIR.iterdir()) / 2**20
    print(f"installed the default model into {DEFAULT_DIR} ({size:.1f} MiB)")
    return DEFAULT_DIR


def write_model_card(bench: dict | None = None) -> Path:
    """MODEL_CARD.md beside the shipped weights: data, steps, wall time and (once scored) bench scores."""
    b = json.loads((DEFAULT_DIR / "build.json").read_text())
    meta = json.loads((DEFAULT_DIR / "wvm.json").read_text())
    size = sum(f.stat().st_size for f in DEFAULT_DIR.glob("*.safetensors")) / 2**20
    lines = [
        "# Embedded default value model: wvm-tiny trained on RoboSuite", "",
        "The `default` value model of `curate label-values` and `value_labeling bench`. Rebuild from scratch with "
        "`make default-model` (scripts/build_default_model.py); score with `python bench/robosuite_bench.py`.", "",
        "## Recipe", "",
        f"- Architecture: `wvm-tiny` ({meta['model']['num_layers']} joint layers, video DiT "
        f"{meta['model']['num_attention_heads']}x{meta['model']['attention_head_dim']} wide, value stream "
        f"{meta['model']['value_dim']} wide, {meta['model']['image_size'][0]}x{meta['model']['image_size'][1]} frames, "
        f"chunk h = {meta['model'].get('chunk', 4)} at {meta['model']['target_fps']} fps); flow-matching value head, "
        f"text by the packaged all-MiniLM-L6-v2 sentence encoder; weights {size:.1f} MiB (safetensors).",
        f"- Data: {b['data']['expert_demonstrations']}, camera `{b['data']['camera']}` "
        f"{b['data']['image_size']}x{b['data']['image_size']} (recorded in the checkpoint: labelling reads this camera "
        "unless --camera says otherwise), "
        f"{b['data']['fps']} fps; world-model pretraining also saw {b['data']['world_model_extra']}. "
        "No bench trajectory (seeds 0..) was used.",
        (f"- 0. VAE: `value_labeling pretrain-vae`, {b['vae_steps']} steps, batch 8, "
         f"{b['wall_time_s'].get('pretrain_vae', 0) / 60:.1f} min." if b.get("vae_steps") else
         "- VAE: the preset's Wan VAE at random init (not trained; Wan2.2's own VAE is pretrained)."),
        f"- 1. World model: `value_labeling pretrain-video`, {b['pretrain_video_steps']} steps, batch {b['batch_size']}, "
        f"{b['wall_time_s']['pretrain_video'] / 60:.1f} min on this machine.",
        f"- 2. WVM: `value_labeling train --video-model <step 1>`, {b['train_steps']} steps, batch {b['batch_size']}, "
        f"Table A.1 optimizer but peak lr {b.get('lr', 1e-4):g} (1e-4 in the paper, for 5B parameters), 100 warm-up "
        "steps at this scale, cosine to 0.1x, lambda = 1, "
        f"prefix p = 0.5, rewind 0.5 / plateau 0.1; {b['wall_time_s']['train'] / 60:.1f} min.",
        f"- Data generation took {b['wall_time_s']['data'] / 60:.1f} min.",
        f"- Machine: {b.get('machine', '2 CPU cores, no GPU')}.", "",
        "## RoboSuite Suboptimal-Value-Bench", "",
    ]
    if bench is None:
        lines.append("Not scored yet: run `python bench/robosuite_bench.py`.")
    else:
        s, sizes = bench["summary"], bench["bench_sizes"]
        name = next(m for m in s if m.startswith("wvm-tiny-default"))
        get = lambda m, k: s.get(m, {}).get(k, {}).get("mean", {}).get("RoboSuite")  # noqa: E731
        lines += [f"6 tasks x {sizes['hesitation']} hesitation + {sizes['retry']} retry + {sizes['expert']} expert "
                  "trajectories (bench/results/robosuite_bench.md):", "",
                  "| metric | this model | time reference | paper's WVM (reported) |", "|---|---|---|---|"]
        for k, title, paper in (("hesitation_rmse", "Hesitation-RMSE", 0.04), ("retry_voc", "Retry-VOC", 0.75),
                                ("expert_voc", "Expert-VOC", 0.99)):
            v, t = get(name, k), get("time", k)
            lines.append(f"| {title} | {v:.3f} | {t:.3f} | {paper} |" if v is not None and t is not None
                         else f"| {title} | {v} | {t} | {paper} |")
    if bench is not None:
        targets = {"hesitation_rmse": (0.05, -1), "retry_voc": (0.75, 1), "expert_voc": (0.95, 1)}
        verdicts = []
        for k, (tgt, sign) in targets.items():
            v = get(name, k)
            ok = v is not None and sign * (v - tgt) >= 0
            verdicts.append(f"{k} {'meets' if ok else 'misses'} the paper-level target {'<=' if sign < 0 else '>='} {tgt}")
        lines += ["", "Against the paper's RoboSuite row: " + "; ".join(verdicts) + "."]
        if any("misses" in v for v in verdicts):
            lines += ["", "What was tested about the misses (wvm-tiny, 25+25 bench, bench/results/):",
                      "- Camera: the same recipe on the agentview camera (the previous default, 4000 steps) scored "
                      "Hesitation-RMSE 0.111, Retry-VOC -0.306, Expert-VOC 0.973. At 64x64 the agentview gripper is a "
                      "few pixels; from the wrist a failed grasp and the retreat after it fill the frame. At 1000 steps "
                      "the wrist view gives 0.114 / 0.228 / 0.947 against 0.184 / -0.007 / 0.823, every difference "
                      "beyond 3 paired standard errors (`wvm_ablations.md`, `wvm_ablations_agentview.md`).",
                      "- Perception: `retreat_probe.md` plays expert videos backwards. On a fully reversed video this "
                      "model's values fall with the ground truth (VOC 0.84; agentview model 0.43), but when an expert "
                      "video is retraced backwards from its middle its values still do not fall (VOC -0.12; agentview "
                      "-0.58): once the chunk chain has climbed, the model undoes it only partly.",
                      "- Training length: longer training fits experts and hesitations better but retries worse "
                      "(wrist: Retry-VOC 0.228 at 1000 steps, 0.097 at 4000; agentview -0.007 and -0.306). The "
                      "pattern fits a model that leans more on the previous chunk's value (the prefix shortcut the paper "
                      "describes); prefix p = 1 below points the same way.",
                      "- Recipe changes at 1000 steps (wrist, `wvm_ablations.md`): prefix p = 1 gives Retry-VOC 0.43 "
                      "and labelled hesitation/retry training data 0.41 (default 0.23); the HL-Gaussian head reaches "
                      "Hesitation-RMSE 0.049. None reaches Retry-VOC 0.75. Prefix p = 1 trained for 4000 steps like this "
                      "model scores 0.064 / 0.209 / 0.995: its Retry-VOC gain (+0.11 +- 0.08 paired) is within noise, "
                      "so the default keeps the paper's recipe (flow head, p = 0.5, experts only).",
                      "- Agentview only: training and scoring at 4 fps (0.17 / -0.27 / 0.88) and a trained VAE "
                      "(`value_labeling pretrain-vae`, 0.21 / 0.09 / 0.81) did not help against 0.18 / -0.01 / 0.82.",
                      "- Untested: larger frames (the data here is rendered at 64x64; 128x128 means re-rendering it) "
                      "and much longer training."]
    if bench is not None and bench.get("headline"):
        lines += baseline_lines(bench)
    (DEFAULT_DIR / "MODEL_CARD.md").write_text("\n".join(lines) + "\n")
    return DEFAULT_DIR / "MODEL_CARD.md"


def baseline_lines(bench: dict) -> list[str]:
    """The card's comparison with the learned baselines (issue 21), from the bench's headline section and,
    when present, bench/results/baseline_probe.json."""
    from value_labeling.baselines import SHIPPED
    from value_labeling.bench.headline import headline_markdown

    lines = ["", "## Beside learned baselines", "",
             "Small CNNs trained on this model's data (same seeds, same camera, same labels t/(T-1)) by "
             "`python scripts/build_baselines.py` (`value_labeling train-baseline`); they ship as `baseline-frame` "
             "(one frame + task embedding) and `baseline-temporal` (the last 1 s: 3 frames at 2 fps). "
             "From bench/results/robosuite_bench.json:", ""]
    for name, d in SHIPPED.items():
        if (d / "build.json").is_file():
            b = json.loads((d / "build.json").read_text())
            lines.append(f"- `{name}`: {b['data']['expert_demonstrations']}, {b['steps']} steps, batch {b['batch_size']}, "
                         f"{b['wall_time_s']['train'] / 60:.1f} min on a shared {b['machine']}.")
    lines += ["", headline_markdown(bench), "",
              "The default stays this WVM: it is the method this toolkit implements; a baseline that wins a metric "
              "says where the WVM recipe at this scale falls short, not that the baseline should label data."]
    probe = ROOT / "bench" / "results" / "baseline_probe.json"
    if probe.is_file():
        p = json.loads(probe.read_text())
        lines += ["", f"Why, from the value curves (bench/results/baseline_probe.md, `{p['command']}`):", "",
                  p["table_md"]]
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=ROOT / ".cache" / "default_model")
    p.add_argument("--episodes", type=int, default=40, help="expert demonstrations per task")
    p.add_argument("--sub-episodes", type=int, default=4, help="hesitation and retry videos per task (world model)")
    p.add_argument("--vae-steps", type=int, default=0,
                   help="train the VAE first (`value_labeling pretrain-vae`) for this many steps; 0 = random VAE")
    p.add_argument("--pretrain-steps", type=int, default=1500)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--lr", type=float, default=1e-3,
                   help="peak lr of the WVM stage. Table A.1's 1e-4 is for the 5B model; at wvm-tiny scale 1e-3 "
                        "trains much further in the same steps (1500 steps, bench subset: Expert-VOC 0.91 vs 0.74, "
                        "Hesitation-RMSE 0.11 vs 0.24, against 3000 steps at 1e-4)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--camera", default=CAMERA, help="the view the model is trained on (see CAMERA)")
    p.add_argument("--no-install", action="store_true", help="build only; leave the shipped model alone")
    a = p.parse_args()
    ckpt = build(a.work, a.episodes, a.sub_episodes, a.pretrain_steps, a.steps, a.batch_size, a.lr, a.vae_steps, a.camera)
    if not a.no_install:
        install(ckpt, a.work)
        write_model_card()
        print("score it: .venv/bin/python bench/robosuite_bench.py")


if __name__ == "__main__":
    main()
