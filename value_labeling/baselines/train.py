"""`value_labeling train-baseline`: train a learned baseline value model (see baselines/model.py).

Same data path and labels as `value_labeling train` (wvm/windows.load_trajectories: t/(T-1) for experts,
the annotation table's ground-truth curve where one exists), episodes kept at 4x the 2-fps target rate.
A sample is one current frame drawn uniformly over every kept frame of every episode (so episodes weigh
by length), its k context frames 1/context_fps apart, and the label of the current frame; the temporal
model also gets the WVM's ReWiND augmentation (rewind 0.5: the context is played backwards, i.e. the
frames after the current one in reverse order; plateau 0.1: one frame held). Loss: mean squared error
on the sigmoid output. AdamW, linear warm-up then cosine decay, gradient clipping: choices of ours (the
paper has no such baseline), stated in config.py.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from value_labeling.baselines.config import TrainBaselineConfig
from value_labeling.baselines.model import (
    build_net,
    context_positions,
    pool_text,
    random_shift,
    resolve,
    save_checkpoint,
)

TEXT_LEN, TEXT_DIM = 16, 384  # the wvm-tiny MiniLM text cache
#: Settings a resumed run may change: how long it runs and how it logs, saves and where.
RESUMABLE = frozenset({"steps", "out", "device", "log_every", "save_every", "keep_checkpoints", "debug"})


def sample_batch(
    trajs, rng: np.random.Generator, batch: int, k: int, context_fps: float, rewind: float, plateau: float
):
    """-> frames (B, k, H, W, 3) uint8, labels (B,) float32, instructions."""
    lens = np.array([len(t.frames) for t in trajs], dtype=np.float64)
    pick = rng.choice(len(trajs), size=batch, p=lens / lens.sum())
    clips, labels, instr = [], [], []
    for e in pick:
        ep = trajs[e]
        n, step = len(ep.frames), ep.fps / context_fps
        i = int(rng.integers(0, n))
        u = rng.random()
        if k > 1 and u < rewind:  # backwards: the frames after i, latest first, end at i
            pos = np.minimum(np.round(i + step * np.arange(k - 1, -1, -1)).astype(np.int64), n - 1)
        elif k > 1 and u < rewind + plateau:  # a stall: frame i held
            pos = np.full(k, i)
        else:
            pos = context_positions(np.array([i]), k, step)[0]
        clips.append(ep.frames[pos])
        labels.append(ep.values[i])
        instr.append(ep.instruction)
    return torch.from_numpy(np.stack(clips)), torch.tensor(np.array(labels, dtype=np.float32)), instr


def run_train_baseline(cfg: TrainBaselineConfig) -> Path:
    from tqdm import tqdm

    from runtime.schedule import lambda_lr
    from value_labeling.domain import training_domain
    from value_labeling.wvm.checkpoint import read_optimizer_state
    from value_labeling.wvm.text import TextCache
    from value_labeling.wvm.train import _plot
    from value_labeling.wvm.windows import load_trajectories

    if cfg.steps < 1 or cfg.batch_size < 1:
        raise ValueError("--steps and --batch-size must be >= 1")
    if cfg.width < 8 or cfg.width % 8:
        raise ValueError(f"--width must be a positive multiple of 8 (GroupNorm groups), got {cfg.width}")
    if cfg.kind == "temporal" and cfg.context < 2:
        raise ValueError("--context must be >= 2 for --kind temporal (1 is the frame-regressor)")
    device = torch.device(cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    out = Path(cfg.out)
    train_dict = json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
    model_cfg = {
        "kind": cfg.kind,
        "context": cfg.context if cfg.kind == "temporal" else 1,
        "context_fps": cfg.context_fps,
        "width": cfg.width,
        "image_size": list(cfg.image_size),
        "text_len": TEXT_LEN,
        "text_dim": TEXT_DIM,
    }
    resume = None
    if (out / "baseline.json").is_file():
        resume = resolve(out)
        prev = json.loads((resume / "baseline.json").read_text())
        if prev["model"] != model_cfg:
            raise ValueError(f"{out} holds a run with model {prev['model']}, not {model_cfg}: use another --out")

    # The rate the episodes are kept at: 4x context_fps (wvm/windows.OVERSAMPLE), labels on every kept frame.
    trajs = load_trajectories(
        cfg.data, cfg.camera, cfg.context_fps, tuple(cfg.image_size), cfg.max_episodes, episodes=cfg.episodes
    )
    if not trajs:
        raise ValueError(f"no episodes of >= 2 frames in {', '.join(map(str, cfg.data))}")
    # What the run learns from, beside its config: a resume on grown or other datasets would no longer be
    # the run its record describes.
    train_dict["data_size"] = {"episodes": len(trajs), "kept_frames": int(sum(len(t.frames) for t in trajs))}
    # Camera, resolution, fps, robot and frame statistics: labelling warns on data unlike them (domain.py).
    train_dict["domain"] = training_domain(cfg.data, cfg.camera, trajs, cfg.image_size)
    if resume is not None:
        before = {"episodes": "all", **prev["train"]}  # runs from before --episodes trained on all
        differ = sorted(
            k
            for k in set(train_dict) | set(before)
            if k not in RESUMABLE and k != "domain" and train_dict.get(k) != before.get(k)
        )
        if differ:
            was = "; ".join(f"{k}: {before.get(k)} -> {train_dict.get(k)}" for k in differ)
            raise ValueError(
                f"{out} holds a run trained with other {', '.join(differ)} ({was}): resume it with its own "
                "settings or use another --out"
            )
    cache = TextCache.load(resume) if resume else TextCache("minilm", TEXT_LEN, TEXT_DIM)
    cache.ensure({t.instruction for t in trajs})

    torch.manual_seed(cfg.seed)
    net = build_net(model_cfg).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, history = 0, []
    if resume is not None:
        from safetensors.torch import load_file

        net.load_state_dict(load_file(str(resume / "model.safetensors")))
        read_optimizer_state(resume, opt)
        start = json.loads((resume / "baseline.json").read_text())["step"]
        history = json.loads((resume / "history.json").read_text())
        print(f"resuming {out} at step {start}")
    sched = lambda_lr(opt, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio, start)
    n_par = sum(p.numel() for p in net.parameters())
    print(f"{cfg.kind}: {len(trajs)} trajectories, {n_par / 1e3:.0f}k parameters, device {device}")

    def save(step):
        save_checkpoint(out, step, net, opt, model_cfg, train_dict, cache, history, cfg.keep_checkpoints)
        _plot(history, out / "loss_curves.png")

    t0, acc = time.time() - (history[-1]["elapsed_s"] if history else 0.0), []
    net.train()
    for step in tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=f"train {cfg.kind}"):
        rng = np.random.default_rng([cfg.seed, step])  # per step: a resumed run draws what it would have
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        clips, labels, instr = sample_batch(
            trajs, rng, cfg.batch_size, model_cfg["context"], cfg.context_fps, cfg.rewind_ratio, cfg.plateau_ratio
        )
        clips = random_shift(clips, cfg.shift, gen)
        text = pool_text(cache.get(instr))  # (B, D_t)
        pred = net(clips.to(device), text.to(device))  # (B,)
        loss = torch.mean((pred - labels.to(device)) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        acc.append([loss.item(), float(gnorm)])
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            a = np.mean(acc, 0)
            acc = []
            history.append(
                {
                    "step": step + 1,
                    "loss": float(a[0]),
                    "grad_norm": float(a[1]),
                    "lr": sched.get_last_lr()[0],
                    "elapsed_s": time.time() - t0,
                }
            )
        if (step + 1) % cfg.save_every == 0 and step + 1 < cfg.steps:
            save(step + 1)
    if start < cfg.steps or resume is None:
        save(cfg.steps)
    print(f"saved {out} (loss curve: {out / 'loss_curves.png'})")
    return out
