"""Training loops of the World Value Model, one config (`TrainConfig`) and one mode per command:

- `value` (`value_labeling train`): L = L_value + lambda L_video (eq. 7);
- `video` (`value_labeling pretrain-video`): the Wan video stream alone, future-latent flow matching;
- `vae` (`value_labeling pretrain-vae`): the video VAE as an autoencoder (vae_train.py).

Optimizer per Table A.1: AdamW(0.9, 0.95), weight decay 0, grad clip 1.0, peak lr 1e-4, linear warm-up,
cosine decay to 0.1x peak; bf16 autocast on GPU.

Distributed: launch with torchrun (e.g. `torchrun --nproc-per-node 8 -m value_labeling.cli train ...`);
`runtime.device` sets up the processes. Every process draws the same global batch of N x batch_size
windows and its noise (seeded by step) and keeps its own rows, so N processes compute the losses and
gradients of one process with batch N x batch_size; the logged losses are the global batch's.
`--parallel ddp` replicates the model (DDP averages the gradients, rank 0 writes checkpoints);
`--parallel fsdp` shards weights, gradients and AdamW moments per joint layer (FSDP2, `sharding.py`:
bf16 all-gathers and fp32 reduction on GPU; sharded checkpoints under OUT/sharded/, exported to an
ordinary checkpoint at the end) - wvm-5b's fp32 states alone (~91 GB) fit no 80 GB GPU replicated.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from robodata import atomic
from value_labeling.wvm.config import ModelConfig, TrainConfig
from value_labeling.wvm.model import draw_noise


def run_train(cfg: TrainConfig) -> Path:
    """Run `cfg.mode` to `cfg.schedule.steps`, resuming a run found in `cfg.out`."""
    cfg.check()
    if cfg.mode == "vae":
        from value_labeling.wvm.vae_train import run_pretrain_vae

        return run_pretrain_vae(cfg)
    from tqdm import tqdm

    from runtime.device import make_accelerator, process_device
    from runtime.schedule import lambda_lr
    from value_labeling.domain import training_domain
    from value_labeling.wvm import checkpoint as ck
    from value_labeling.wvm.text import TextCache
    from value_labeling.wvm.windows import Augment, load_trajectories, sample_batch

    video_mode = cfg.mode == "video"
    obj, steps = cfg.objective, cfg.schedule.steps
    video_train = video_mode or not obj.freeze_video
    video_loss = video_mode or (video_train and not obj.no_video_loss and obj.video_loss_weight > 0)
    lam = 1.0 if video_mode else obj.video_loss_weight
    aug = Augment(obj.prefix_p, obj.rewind_ratio, obj.plateau_ratio)
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads()))))
    # Parameters outside the loss (the value stream in video mode, the video DiT without L_video) get no
    # gradient, which DDP must be told about.
    acc = make_accelerator(cfg.device, cfg.precision, find_unused_parameters=video_mode or not video_loss)
    rank, world, device = acc.process_index, acc.num_processes, process_device(acc, cfg.device)
    out = Path(cfg.out)
    fsdp = cfg.parallel == "fsdp"
    resume_meta = _resume_meta(out, fsdp)
    mcfg = _model_config(cfg, resume_meta)

    trajs = load_trajectories(
        cfg.data.roots,
        cfg.data.camera,
        mcfg.target_fps,
        mcfg.image_size,
        cfg.data.max_episodes,
        progress=rank == 0,
        episodes=cfg.data.episodes,
    )
    cache = TextCache("minilm" if mcfg.text_encoder == "minilm" else "precomputed", mcfg.text_len, mcfg.text_dim)
    if resume_meta is not None:
        cache = TextCache.load(Path(resume_meta["dir"]))
    elif cfg.model.text_cache is not None:
        given = TextCache.load(Path(cfg.model.text_cache))
        if (given.text_len, given.text_dim) != (mcfg.text_len, mcfg.text_dim):
            raise ValueError(
                f"text cache {cfg.model.text_cache} holds ({given.text_len}, {given.text_dim}) "
                f"embeddings; {mcfg.preset} needs ({mcfg.text_len}, {mcfg.text_dim})"
            )
        cache.table.update(given.table)
    cache.ensure({t.instruction for t in trajs})

    torch.manual_seed(cfg.seed)  # identical init on every rank
    model = _build_model(mcfg, cfg, device)
    if resume_meta is None:
        mcfg = _record_latent_stats(model, mcfg, cfg, trajs)
    if not video_train:
        model.video.requires_grad_(False)
    if video_mode:
        for n, p in model.named_parameters():
            if not n.startswith("video."):
                p.requires_grad_(False)
    bf16 = acc.mixed_precision == "bf16"
    own_group = False
    if fsdp:
        from value_labeling.wvm.sharding import ensure_process_group, shard_model

        own_group = not torch.distributed.is_initialized()  # one process without torchrun: a 1-rank group
        rank, world = ensure_process_group(device)
        shard_model(model, device, mixed_precision=bf16, activation_checkpointing=cfg.activation_checkpointing)
    else:
        for layer in model.joint_layers:
            layer.checkpoint = cfg.activation_checkpointing
    params = [p for p in model.parameters() if p.requires_grad]
    o = cfg.optimizer
    opt = torch.optim.AdamW(params, lr=o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)
    start, history = 0, []
    if resume_meta is not None and fsdp:
        from value_labeling.wvm.sharding import load_sharded

        start, history = int(resume_meta["step"]), load_sharded(Path(resume_meta["dir"]), model, opt)["history"]
        if rank == 0:
            print(f"resuming {out} at step {start}")
    elif resume_meta is not None:
        from safetensors.torch import load_file

        d = Path(resume_meta["dir"])
        model.load_state_dict(load_file(str(d / "model.safetensors")))
        ck.load_optimizer_state(d, opt)
        start = int(resume_meta["step"])
        history = json.loads((d / "history.json").read_text())
        if rank == 0:
            print(f"resuming {out} at step {start}")
    sched = lambda_lr(opt, cfg.warmup_steps(), steps, cfg.schedule.min_lr_ratio, start=start)
    # DDP when distributed, bf16 autocast on GPU; FSDP2 is applied above, autocast around its forward below.
    net = model if fsdp else acc.prepare_model(model, device_placement=False)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=fsdp and bf16)
    train_dict = json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
    # What the model learns from (camera, resolution, fps, robot, frame statistics): labelling and the bench
    # warn when a dataset is unlike it (value_labeling/domain.py).
    train_dict["domain"] = training_domain(cfg.data.roots, cfg.data.camera, trajs, mcfg.image_size)
    if rank == 0:
        n_tr = sum(p.numel() for p in params)
        print(
            f"{mcfg.preset}: {len(trajs)} trajectories, {n_tr / 1e6:.2f}M trainable parameters, "
            f"{world} process(es), {cfg.parallel}, device {device}, {'bf16' if bf16 else 'fp32'}"
        )

    def save(step):
        if fsdp:
            from value_labeling.wvm.sharding import save_sharded

            save_sharded(out, step, model, opt, mcfg, train_dict, cache, history, keep=cfg.keep_checkpoints)
            if rank == 0:
                _plot(history, out / "loss_curves.png")
        elif rank == 0:
            ck.save_checkpoint(out, step, model, opt, mcfg, train_dict, cache, history, keep=cfg.keep_checkpoints)
            _plot(history, out / "loss_curves.png")
            if video_mode:
                export_video_model(model, out)

    model.train()
    model.vae.eval()
    t0, acc_losses = time.time(), []
    bar = tqdm(range(start, steps), initial=start, total=steps, disable=rank != 0, desc="train")
    for step in bar:
        # The global batch (world x k x batch_size windows and their noise) from one stream per step; this
        # rank keeps rows [rank*k*b, (rank+1)*k*b) as k micro-batches of b. One process, k = 1: exactly
        # the former per-process draw.
        b, k = cfg.batch_size, cfg.grad_accum_steps
        rng = np.random.default_rng([cfg.seed, 0, step])
        torch.manual_seed(cfg.seed * 1_000_003 + step)
        rows = slice(rank * k * b, (rank + 1) * k * b)
        clips, vals, instr = sample_batch(trajs, rng, world * k * b, mcfg.chunk, aug, rows=rows)
        gen = torch.Generator(device).manual_seed(cfg.seed * 1_000_003 + step)
        noise = {
            n: v[rows] for n, v in draw_noise(mcfg, world * k * b, video_loss, not video_mode, device, gen).items()
        }
        opt.zero_grad(set_to_none=True)
        logged = torch.zeros(3, device=device)
        for i in range(k):  # mean loss over the micro-batches: the gradient of the global batch's mean
            mb = slice(i * b, (i + 1) * b)
            # DDP reduces gradients once, after the last micro-batch (FSDP reduce-scatters each one: its
            # sharded gradients accumulate without unsharded copies of all layers).
            sync = nullcontext() if i == k - 1 or not hasattr(net, "no_sync") else net.no_sync()
            with sync:
                with autocast:
                    losses = net(
                        clips[mb].to(device),
                        vals[mb].to(device),
                        cache.get(instr[mb]).to(device),
                        video_loss=video_loss,
                        value_loss=not video_mode,
                        noise={n: v[mb] for n, v in noise.items()},
                    )
                loss = (losses["value"] + lam * losses["video"]) / k
                loss.backward()
            logged += torch.stack([loss.detach() * k, losses["value"].detach(), losses["video"].detach()]).float() / k
        gnorm = torch.nn.utils.clip_grad_norm_(params, o.grad_clip)
        opt.step()
        sched.step()
        if world > 1:  # the global batch's mean losses (equal batch per rank)
            torch.distributed.all_reduce(logged)
            logged /= world
        acc_losses.append([*logged.tolist(), float(gnorm)])
        if (step + 1) % cfg.log_every == 0 or step + 1 == steps:
            a = np.mean(acc_losses, 0)
            acc_losses = []
            rec = {
                "step": step + 1,
                "loss": a[0],
                "value": a[1],
                "video": a[2],
                "grad_norm": a[3],
                "lr": sched.get_last_lr()[0],
                "elapsed_s": time.time() - t0,
            }
            history.append(rec)
            bar.set_postfix(loss=f"{a[0]:.4f}", value=f"{a[1]:.4f}", video=f"{a[2]:.4f}")
        if (step + 1) % cfg.save_every == 0 and step + 1 < steps:
            save(step + 1)
    if start < steps or resume_meta is None:
        save(steps)
    if fsdp and rank == 0 and (not (out / "latest.json").is_file() or ck.read_meta(out)["step"] != steps):
        from value_labeling.wvm.sharding import export_consolidated

        export_consolidated(out, keep=cfg.keep_checkpoints)
        if video_mode:
            export_video_model(ck.load_model(out)[0], out)
    acc.wait_for_everyone()
    if fsdp:
        torch.distributed.barrier()
        if own_group:
            torch.distributed.destroy_process_group()
    if rank == 0:
        print(f"saved {out} (loss curves: {out / 'loss_curves.png'})")
    return out


def _resume_meta(out: Path, fsdp: bool) -> dict | None:
    """The checkpoint a rerun resumes from: OUT/sharded/latest.json with --parallel fsdp, else OUT/latest.json."""
    from value_labeling.wvm import checkpoint as ck
    from value_labeling.wvm.sharding import SHARDED_DIR, latest_sharded, read_sharded_meta

    if fsdp:
        d = latest_sharded(out)
        if d is None and (out / "latest.json").is_file():
            raise ValueError(
                f"{out} holds a run trained with --parallel ddp; resume it with --parallel ddp (or use another --out)"
            )
        return read_sharded_meta(d) if d is not None else None
    if (out / SHARDED_DIR / "latest.json").is_file():
        raise ValueError(
            f"{out} holds a run trained with --parallel fsdp; resume it with --parallel fsdp (or use another --out)"
        )
    return ck.read_meta(out) if (out / "latest.json").is_file() else None


def _model_config(cfg: TrainConfig, resume_meta: dict | None) -> ModelConfig:
    """The run's architecture: the one recorded in the checkpoint when resuming, else the preset's."""
    if resume_meta is None:
        return cfg.model_config()
    mcfg = ModelConfig.from_dict(resume_meta["model"])
    if mcfg.preset != cfg.model.preset:
        raise ValueError(
            f"{cfg.out} holds a {mcfg.preset} run; it cannot be resumed as {cfg.model.preset} (use another --out)"
        )
    return mcfg


def _build_model(mcfg: ModelConfig, cfg: TrainConfig, device):
    from value_labeling.wvm.model import WVM, load_video_model

    pretrained = cfg.model.video_init == "pretrained"
    video_model = cfg.model.video_model if pretrained else None
    if video_model is None and mcfg.preset == "wvm-5b" and pretrained:
        raise ValueError(
            "wvm-5b trains from the pretrained Wan2.2-TI2V-5B video model: pass --video-model PATH "
            "(a local diffusers-format directory), or --video-init scratch for the ablation"
        )
    if video_model is not None:
        tr, vae = load_video_model(Path(video_model), mcfg)
        return WVM(mcfg, video=tr, vae=vae).to(device)
    return WVM(mcfg).to(device)


def _record_latent_stats(model, mcfg: ModelConfig, cfg: TrainConfig, trajs) -> ModelConfig:
    """Put the VAE's latent normalisation into the model config so that checkpoints reproduce it.

    A loaded Wan VAE keeps its own latents_mean/std. A random VAE (wvm-tiny without --video-model) gets
    per-channel statistics of 64 training clips, so latents enter the DiT at unit scale like Wan's do."""
    from value_labeling.wvm.windows import Augment, sample_batch

    pretrained = cfg.model.video_model is not None and cfg.model.video_init == "pretrained"
    dev = next(model.parameters()).device
    if pretrained:
        mean, std = list(model.vae.config.latents_mean), list(model.vae.config.latents_std)
    else:
        clips, _, _ = sample_batch(trajs, np.random.default_rng([cfg.seed, 12345]), 64, mcfg.chunk, Augment(0, 0, 0))
        lat = torch.cat([model.encode(clips[i : i + 16].to(dev)) for i in range(0, len(clips), 16)])
        mean = lat.mean((0, 2, 3, 4)).tolist()
        std = lat.std((0, 2, 3, 4)).clamp_min(1e-6).tolist()
    if torch.distributed.is_initialized():  # identical on every rank (rank 0's)
        t = torch.tensor([mean, std], dtype=torch.float64, device=dev)
        torch.distributed.broadcast(t, 0)
        mean, std = t[0].tolist(), t[1].tolist()
    model.vae.register_to_config(latents_mean=list(mean), latents_std=list(std))
    mcfg = dataclasses.replace(
        mcfg, latents_mean=tuple(float(x) for x in mean), latents_std=tuple(float(x) for x in std)
    )
    model.cfg = mcfg
    return mcfg


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
    with atomic.replace_file(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def export_video_model(model, out: Path) -> None:
    """Write the video stream as a diffusers-format Wan directory (usable as --video-model)."""
    for sub, mod in (("transformer", model.video), ("vae", model.vae)):
        with atomic.replace_dir(out / sub, tag="export") as tmp:
            mod.save_pretrained(str(tmp), safe_serialization=True)
