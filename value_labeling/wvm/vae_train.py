"""`value_labeling pretrain-vae` (TrainConfig mode `vae`): train the wvm-tiny video VAE as an autoencoder.

Why. Wan2.2's VAE is pretrained; at wvm-tiny scale there is no pretrained VAE to load, and a random VAE
hands the DiTs random features (the value stream reads one 4x4-token latent per 4 frames). This stage
gives the tiny model what the real one has: a VAE trained to reconstruct the frames it will encode.

What. The Wan VAE (diffusers AutoencoderKLWan, the preset's shape) learns to reconstruct clips of
2h+1 frames sampled exactly as training windows are (target fps, no augmentation): L1 reconstruction
plus `kl_weight` x KL of the posterior (Wan-style small KL; choice, the paper does not train a VAE).
At the end the per-channel latent mean/std of 64 clips go into the VAE's config (latents_mean /
latents_std, as Wan's own VAE carries them), and the output is a diffusers-format Wan directory:
vae/ (trained) and transformer/ (the preset's video DiT at random init, seeded), usable as
`pretrain-video --video-model OUT`.

A finished output is not redone; the directory is written beside and swapped into place.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from robodata import atomic
from value_labeling.wvm.config import TrainConfig


def run_pretrain_vae(cfg: TrainConfig) -> Path:
    from tqdm import tqdm

    from runtime.device import pick_device
    from runtime.schedule import lambda_lr
    from value_labeling.wvm.model import build_vae, build_video_transformer
    from value_labeling.wvm.windows import Augment, load_trajectories, sample_batch

    cfg.check()
    steps, o = cfg.schedule.steps, cfg.optimizer
    out = Path(cfg.out)
    record = out / "vae_train.json"
    if record.is_file() and json.loads(record.read_text()).get("steps", 0) >= steps:
        print(
            f"{out}: a VAE trained for {json.loads(record.read_text())['steps']} steps is already there; nothing to do"
        )
        return out
    if out.exists() and any(out.iterdir()) and not record.is_file():
        raise ValueError(f"--out {out} is not empty and holds no pretrain-vae result; choose a new directory")
    torch.manual_seed(cfg.seed)
    device = torch.device(pick_device(cfg.device))
    mcfg = cfg.model_config()
    trajs = load_trajectories(
        cfg.data.roots,
        cfg.data.camera,
        mcfg.target_fps,
        mcfg.image_size,
        cfg.data.max_episodes,
        episodes=cfg.data.episodes,
    )
    vae = build_vae(mcfg).to(device).train()
    opt = torch.optim.AdamW(vae.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)
    sched = lambda_lr(opt, cfg.warmup_steps(), steps, cfg.schedule.min_lr_ratio)
    plain = Augment(0.0, 0.0, 0.0)
    rng = np.random.default_rng(cfg.seed)
    history = []
    bar = tqdm(range(steps), desc="pretrain-vae", unit="step")
    for step in bar:
        clips, _, _ = sample_batch(trajs, rng, cfg.batch_size, mcfg.chunk, plain)
        x = clips.to(device).permute(0, 4, 1, 2, 3).float().div(127.5).sub(1.0)  # (B, 3, 2h+1, H, W)
        post = vae.encode(x).latent_dist
        rec = vae.decode(post.sample()).sample
        l1 = (rec - x).abs().mean()
        kl = post.kl().mean() / x[0].numel()  # per input element, so kl_weight does not scale with frame size
        loss = l1 + cfg.objective.kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), o.grad_clip)
        opt.step()
        sched.step()
        if step == 0 or (step + 1) % cfg.log_every == 0 or step + 1 == steps:
            history.append({"step": step + 1, "l1": l1.item(), "kl": kl.item(), "psnr": _psnr(rec, x)})
            bar.set_postfix(l1=f"{history[-1]['l1']:.4f}", psnr=f"{history[-1]['psnr']:.1f}")
    # Latent normalisation as Wan's VAE config carries it: per-channel mean/std of posterior means.
    vae.eval()
    with torch.no_grad():
        clips, _, _ = sample_batch(trajs, np.random.default_rng([cfg.seed, 12345]), 64, mcfg.chunk, plain)
        x = clips.to(device).permute(0, 4, 1, 2, 3).float().div(127.5).sub(1.0)
        mu = torch.cat([vae.encode(x[i : i + 16]).latent_dist.mean for i in range(0, len(x), 16)])
    vae.register_to_config(
        latents_mean=mu.mean((0, 2, 3, 4)).tolist(), latents_std=mu.std((0, 2, 3, 4)).clamp_min(1e-6).tolist()
    )
    transformer = build_video_transformer(mcfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replace_dir(out, tag="pretrain-vae") as tmp:
        vae.save_pretrained(str(tmp / "vae"), safe_serialization=True)
        transformer.save_pretrained(str(tmp / "transformer"), safe_serialization=True)
        summary = {
            "steps": steps,
            "batch_size": cfg.batch_size,
            "lr": o.lr,
            "kl_weight": cfg.objective.kl_weight,
            "history": history,
        }
        (tmp / "vae_train.json").write_text(json.dumps(summary, indent=1) + "\n")
    if history:
        print(f"pretrain-vae: final L1 {history[-1]['l1']:.4f}, PSNR {history[-1]['psnr']:.1f} dB -> {out}")
    return out


def _psnr(rec: torch.Tensor, x: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2)."""
    mse = float(((rec.detach().clamp(-1, 1) - x) ** 2).mean())
    return float(10 * np.log10(4.0 / max(mse, 1e-12)))
