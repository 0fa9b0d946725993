"""Training loops: `value_labeling train` (L = L_value + lambda L_video, eq. 7) and
`value_labeling pretrain-video` (the Wan video stream alone, future-latent flow matching).

Distributed: launch with torchrun (e.g. `torchrun --nproc-per-node 8 -m value_labeling.cli train ...`).
Every process draws the same global batch of N x batch_size windows and its noise (seeded by step) and
keeps its own rows, so N processes compute the losses and gradients of one process with batch N x
batch_size; the logged losses are the global batch's. `--parallel ddp` replicates the model (gradients
averaged by DDP; rank 0 writes checkpoints); `--parallel fsdp` shards weights, gradients and AdamW
moments per joint layer (FSDP2, `sharding.py`; sharded checkpoints under OUT/sharded/, exported to an
ordinary checkpoint at the end). gloo on CPU, nccl on GPU. Optimizer per Table A.1: AdamW(0.9, 0.95),
weight decay 0, grad clip 1.0, peak lr 1e-4, linear warm-up, cosine decay to 0.1x peak; bf16 autocast
on GPU (with fsdp also bf16 parameter all-gathers and fp32 gradient reduction).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from value_labeling.wvm.config import DEFAULT_WARMUP, ModelConfig, PretrainVideoConfig, TrainConfig, get_preset
from value_labeling.wvm.model import draw_noise


def lr_lambda(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up to 1, then cosine decay to `min_ratio` at `total`."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    prog = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * prog))


def _dist_setup(device: str):
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    return rank, world, torch.device(device)


def _resume_meta(out: Path, fsdp: bool) -> dict | None:
    """The checkpoint a rerun resumes from: OUT/sharded/latest.json with --parallel fsdp, else OUT/latest.json."""
    from value_labeling.wvm import checkpoint as ck
    from value_labeling.wvm.sharding import SHARDED_DIR, latest_sharded, read_sharded_meta

    if fsdp:
        d = latest_sharded(out)
        if d is None and (out / "latest.json").is_file():
            raise ValueError(f"{out} holds a run trained with --parallel ddp; resume it with --parallel ddp "
                             f"(or use another --out)")
        return read_sharded_meta(d) if d is not None else None
    if (out / SHARDED_DIR / "latest.json").is_file():
        raise ValueError(f"{out} holds a run trained with --parallel fsdp; resume it with --parallel fsdp "
                         f"(or use another --out)")
    return ck.read_meta(out) if (out / "latest.json").is_file() else None


def _model_config(cfg, resume_meta: dict | None) -> ModelConfig:
    if resume_meta is not None:
        mcfg = ModelConfig.from_dict(resume_meta["model"])
        if mcfg.preset != cfg.preset:
            raise ValueError(f"{cfg.out} holds a {mcfg.preset} run; it cannot be resumed as {cfg.preset} "
                             f"(use another --out)")
        return mcfg
    mcfg = get_preset(cfg.preset)
    over = {}
    if getattr(cfg, "value_head", None):
        over["value_head"] = cfg.value_head
    if cfg.image_size is not None:
        over["image_size"] = tuple(cfg.image_size)
    if cfg.target_fps is not None:
        over["target_fps"] = float(cfg.target_fps)
    if getattr(cfg, "inference_steps", None):
        over["inference_steps"] = cfg.inference_steps
    mcfg = dataclasses.replace(mcfg, **over)
    mcfg.validate()
    return mcfg


def _build_model(mcfg: ModelConfig, cfg, device):
    from value_labeling.wvm.model import WVM, load_video_model

    video_model = cfg.video_model
    if getattr(cfg, "video_init", "pretrained") == "scratch":
        video_model = None
    if video_model is None and mcfg.preset == "wvm-5b" and getattr(cfg, "video_init", "pretrained") == "pretrained":
        raise ValueError("wvm-5b trains from the pretrained Wan2.2-TI2V-5B video model: pass --video-model PATH "
                         "(a local diffusers-format directory), or --video-init scratch for the ablation")
    if video_model is not None:
        tr, vae = load_video_model(Path(video_model), mcfg)
        return WVM(mcfg, video=tr, vae=vae).to(device)
    return WVM(mcfg).to(device)


def _plot(history: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    steps = [r["step"] for r in history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in ("loss", "value", "video"):
        ys = [r.get(key) for r in history]
        if any(y for y in ys):
            ax.plot(steps, ys, label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def run_train(cfg: TrainConfig, mode: str = "wvm") -> Path:
    """mode "wvm": the full objective; mode "video": video flow matching only (pretrain-video)."""
    from tqdm import tqdm

    from value_labeling.wvm import checkpoint as ck
    from value_labeling.wvm.text import TextCache
    from value_labeling.wvm.windows import load_trajectories, sample_batch

    if cfg.steps < 1 or cfg.batch_size < 1:
        raise ValueError("--steps and --batch-size must be >= 1")
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads()))))
    rank, world, device = _dist_setup(cfg.device)
    out = Path(cfg.out)
    fsdp = getattr(cfg, "parallel", "ddp") == "fsdp"
    resume_meta = _resume_meta(out, fsdp)
    mcfg = _model_config(cfg, resume_meta)
    video_train = mode == "video" or not getattr(cfg, "freeze_video", False)
    video_loss = mode == "video" or (video_train and not cfg.no_video_loss and cfg.video_loss_weight > 0)
    lam = 1.0 if mode == "video" else cfg.video_loss_weight

    trajs = load_trajectories(cfg.data, cfg.camera, mcfg.target_fps, mcfg.image_size, cfg.max_episodes,
                              progress=rank == 0)
    cache = TextCache("minilm" if mcfg.text_encoder == "minilm" else "precomputed", mcfg.text_len, mcfg.text_dim)
    if resume_meta is not None:
        cache = TextCache.load(Path(resume_meta["dir"]))
    elif getattr(cfg, "text_cache", None) is not None:
        given = TextCache.load(Path(cfg.text_cache))
        if (given.text_len, given.text_dim) != (mcfg.text_len, mcfg.text_dim):
            raise ValueError(f"text cache {cfg.text_cache} holds ({given.text_len}, {given.text_dim}) embeddings; "
                             f"{mcfg.preset} needs ({mcfg.text_len}, {mcfg.text_dim})")
        cache.table.update(given.table)
    cache.ensure({t.instruction for t in trajs})

    torch.manual_seed(cfg.seed)  # identical init on every rank
    model = _build_model(mcfg, cfg, device)
    if resume_meta is None:
        mcfg = _record_latent_stats(model, mcfg, cfg, trajs)
    if not video_train:
        model.video.requires_grad_(False)
    if mode == "video":
        for n, p in model.named_parameters():
            if not n.startswith("video."):
                p.requires_grad_(False)
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    if fsdp:
        from value_labeling.wvm.sharding import ensure_process_group, shard_model

        own_group = not torch.distributed.is_initialized()  # one process without torchrun: a 1-rank group
        rank, world = ensure_process_group(device)
        shard_model(model, device, mixed_precision=bf16,
                    activation_checkpointing=getattr(cfg, "activation_checkpointing", False))
    elif getattr(cfg, "activation_checkpointing", False):
        for layer in model.joint_layers:
            layer.checkpoint = True
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(getattr(cfg, "beta1", 0.9), getattr(cfg, "beta2", 0.95)),
                            weight_decay=getattr(cfg, "weight_decay", 0.0))
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else DEFAULT_WARMUP[mcfg.preset]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_lambda(s, warmup, cfg.steps, cfg.min_lr_ratio))
    start, history = 0, []
    if resume_meta is not None and fsdp:
        from value_labeling.wvm.sharding import load_sharded

        start, history = int(resume_meta["step"]), load_sharded(Path(resume_meta["dir"]), model, opt)["history"]
    elif resume_meta is not None:
        from safetensors.torch import load_file

        d = Path(resume_meta["dir"])
        model.load_state_dict(load_file(str(d / "model.safetensors")))
        ck.load_optimizer_state(d, opt)
        start = int(resume_meta["step"])
        history = json.loads((d / "history.json").read_text())
    if resume_meta is not None:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_lambda(s, warmup, cfg.steps, cfg.min_lr_ratio),
                                                  last_epoch=start - 1)
        if rank == 0:
            print(f"resuming {out} at step {start}")
    net = model
    if world > 1 and not fsdp:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=(mode == "wvm" and not video_loss) or mode == "video")
    train_dict = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(cfg).items()}
    train_dict["data"] = [str(p) for p in cfg.data]
    train_dict["mode"] = mode
    if rank == 0:
        n_tr = sum(p.numel() for p in params)
        print(f"{mcfg.preset}: {len(trajs)} trajectories, {n_tr / 1e6:.2f}M trainable parameters, "
              f"{world} process(es), {'fsdp' if fsdp else 'ddp'}, device {device}, {'bf16' if bf16 else 'fp32'}")

    def save(step):
        if fsdp:
            from value_labeling.wvm.sharding import save_sharded

            save_sharded(out, step, model, opt, mcfg, train_dict, cache, history, keep=cfg.keep_checkpoints)
            if rank == 0:
                _plot(history, out / "loss_curves.png")
        elif rank == 0:
            ck.save_checkpoint(out, step, model, opt, mcfg, train_dict, cache, history, keep=cfg.keep_checkpoints)
            _plot(history, out / "loss_curves.png")
            if mode == "video":
                export_video_model(model, out)

    model.train()
    model.vae.eval()
    t0, acc = time.time(), []
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=rank != 0, desc="train")
    for step in bar:
        # The global batch (world x batch_size windows and their noise) from one stream per step; this
        # rank keeps rows [rank*b, (rank+1)*b). One process: exactly the former per-process draw.
        rng = np.random.default_rng([cfg.seed, 0, step])
        torch.manual_seed(cfg.seed * 1_000_003 + step)
        rows = slice(rank * cfg.batch_size, (rank + 1) * cfg.batch_size)
        p = getattr(cfg, "prefix_p", 0.5)
        clips, vals, instr = sample_batch(trajs, rng, world * cfg.batch_size, mcfg.chunk, p,
                                          getattr(cfg, "rewind_ratio", 0.0 if mode == "video" else 0.5),
                                          getattr(cfg, "plateau_ratio", 0.0 if mode == "video" else 0.1), rows=rows)
        gen = torch.Generator(device).manual_seed(cfg.seed * 1_000_003 + step)
        noise = {k: v[rows] for k, v in draw_noise(mcfg, world * cfg.batch_size, video_loss, mode == "wvm",
                                                   device, gen).items()}
        text = cache.get(instr).to(device)
        ctx = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
        with ctx:
            losses = net(clips.to(device), vals.to(device), text, video_loss=video_loss, value_loss=mode == "wvm",
                         noise=noise)
            loss = losses["value"] + lam * losses["video"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        sched.step()
        logged = torch.stack([loss.detach(), losses["value"].detach(), losses["video"].detach()]).float()
        if world > 1:  # the global batch's mean losses (equal batch per rank)
            torch.distributed.all_reduce(logged)
            logged /= world
        acc.append([*logged.tolist(), float(gnorm)])
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            a = np.mean(acc, 0)
            acc = []
            rec = {"step": step + 1, "loss": a[0], "value": a[1], "video": a[2], "grad_norm": a[3],
                   "lr": sched.get_last_lr()[0], "elapsed_s": time.time() - t0}
            history.append(rec)
            bar.set_postfix(loss=f"{a[0]:.4f}", value=f"{a[1]:.4f}", video=f"{a[2]:.4f}")
        if (step + 1) % cfg.save_every == 0 and step + 1 < cfg.steps:
            save(step + 1)
    if start < cfg.steps or resume_meta is None:
        save(cfg.steps)
    if fsdp and rank == 0 and (not (out / "latest.json").is_file() or ck.read_meta(out)["step"] != cfg.steps):
        from value_labeling.wvm.sharding import export_consolidated

        export_consolidated(out, keep=cfg.keep_checkpoints)
        if mode == "video":
            export_video_model(ck.load_model(out)[0], out)
    if world > 1 or fsdp:
        torch.distributed.barrier()
    if fsdp and own_group:
        torch.distributed.destroy_process_group()
    if rank == 0:
        print(f"saved {out} (loss curves: {out / 'loss_curves.png'})")
    return out


def _record_latent_stats(model, mcfg: ModelConfig, cfg, trajs) -> ModelConfig:
    """Put the VAE's latent normalisation into the model config so that checkpoints reproduce it.

    A loaded Wan VAE keeps its own latents_mean/std. A random VAE (wvm-tiny without --video-model) gets
    per-channel statistics of 64 training clips, so latents enter the DiT at unit scale like Wan's do."""
    from value_labeling.wvm.windows import sample_batch

    pretrained = cfg.video_model is not None and getattr(cfg, "video_init", "pretrained") == "pretrained"
    dev = next(model.parameters()).device
    if pretrained:
        mean, std = list(model.vae.config.latents_mean), list(model.vae.config.latents_std)
    else:
        clips, _, _ = sample_batch(trajs, np.random.default_rng([cfg.seed, 12345]), 64, mcfg.chunk, 0.0, 0.0, 0.0)
        lat = torch.cat([model.encode(clips[i : i + 16].to(dev)) for i in range(0, len(clips), 16)])
        mean = lat.mean((0, 2, 3, 4)).tolist()
        std = lat.std((0, 2, 3, 4)).clamp_min(1e-6).tolist()
    if torch.distributed.is_initialized():  # identical on every rank (rank 0's)
        t = torch.tensor([mean, std], dtype=torch.float64, device=dev)
        torch.distributed.broadcast(t, 0)
        mean, std = t[0].tolist(), t[1].tolist()
    model.vae.register_to_config(latents_mean=list(mean), latents_std=list(std))
    mcfg = dataclasses.replace(mcfg, latents_mean=tuple(float(x) for x in mean),
                               latents_std=tuple(float(x) for x in std))
    model.cfg = mcfg
    return mcfg


def export_video_model(model, out: Path) -> None:
    """Write the video stream as a diffusers-format Wan directory (usable as --video-model)."""
    import shutil

    for sub, mod in (("transformer", model.video), ("vae", model.vae)):
        tmp = out / f".tmp_{sub}"
        shutil.rmtree(tmp, ignore_errors=True)
        mod.save_pretrained(str(tmp), safe_serialization=True)
        if (out / sub).exists():
            shutil.rmtree(out / sub)
        os.replace(tmp, out / sub)


def run_pretrain_video(cfg: PretrainVideoConfig) -> Path:
    return run_train(cfg, mode="video")
