"""WVM labelling throughput and cost: frames/s for wvm-tiny on CPU, parameters and FLOPs for both presets.

    OMP_NUM_THREADS=2 .venv/bin/python -m bench.wvm_throughput [--frames 96] [--repeats 3]

- wvm-tiny (random weights; speed does not depend on the values): `chunked_predict` over one episode
  of N frames at the preset's image size, i.e. exactly what `value_labeling bench` / `curate
  label-values` run per episode (batched video stream over all windows, then the value stream window
  by window with prefix chaining, 1 Euler step). Sweep of the window batch size; median of repeats.
- wvm-5b: parameter counts from the model built on the meta device (Wan2.2-TI2V-5B configs), and the
  FLOPs of one inference chunk (prefix + h current frames through the VAE, the current latent through
  the video DiT, the value stream once) and of one training chunk (2h+1 frames, current + future
  latents, video + value losses, forward only), counted by torch's FlopCounterMode on meta tensors:
  exact for the matmuls, convolutions and attention that run, no hardware needed.
- GPU (bf16 batch sweep, peak memory): not measured - no GPU was lent to this task. The JSON says so.

Writes bench/results/wvm_throughput.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

from robodata import atomic  # noqa: E402
from value_labeling.wvm.config import get_preset  # noqa: E402
from value_labeling.wvm.inference import chunked_predict  # noqa: E402
from value_labeling.wvm.model import WVM, count_parameters  # noqa: E402


def tiny_throughput(n_frames: int, repeats: int, batches: list[int]) -> dict:
    cfg = get_preset("wvm-tiny")
    torch.manual_seed(0)
    model = WVM(cfg).eval()
    H, W = cfg.image_size
    frames = np.random.default_rng(0).integers(0, 255, (n_frames, H, W, 3), dtype=np.uint8)
    text = torch.randn(1, cfg.text_len, cfg.text_dim)
    chunked_predict(model, frames[: 2 * cfg.chunk], text)  # warm-up
    rows = []
    for b in batches:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            chunked_predict(model, frames, text, batch_windows=b)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        rows.append(
            {"batch_windows": b, "seconds_per_episode": med, "frames_per_s": n_frames / med, "all_seconds": times}
        )
    # Where the time goes: video stream (VAE + DiT, batched) vs. value stream (sequential).
    clips = torch.from_numpy(np.stack([frames[max(0, t - cfg.chunk) : t + 1] for t in range(cfg.chunk, cfg.chunk + 8)]))
    with torch.no_grad():
        t0 = time.perf_counter()
        for _ in range(repeats):
            kv = model.context_kv(clips, text.expand(len(clips), -1, -1))
        t_ctx = (time.perf_counter() - t0) / repeats / len(clips)
        t0 = time.perf_counter()
        for _ in range(repeats * 8):
            model.predict_values([(k[:1], v[:1]) for k, v in kv], torch.zeros(1), text, steps=1)
        t_val = (time.perf_counter() - t0) / (repeats * 8)
    return {
        "preset": "wvm-tiny",
        "image_size": list(cfg.image_size),
        "episode_frames": n_frames,
        "chunk": cfg.chunk,
        "stride": cfg.chunk // 2,
        "euler_steps": cfg.inference_steps,
        "torch_threads": torch.get_num_threads(),
        "sweep": rows,
        "best_frames_per_s": max(r["frames_per_s"] for r in rows),
        "video_stream_s_per_window": t_ctx,
        "value_stream_s_per_window": t_val,
        "parameters": count_parameters(model),
    }


def flop_count(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    return int(fc.get_total_flops())


def big_model_costs(preset: str) -> dict:
    cfg = get_preset(preset)
    with torch.device("meta"):
        model = WVM(cfg).eval()
    params = count_parameters(model)
    H, W = cfg.image_size
    h = cfg.chunk
    dev = torch.device("meta")
    text = torch.zeros(1, cfg.text_len, cfg.text_dim, device=dev)
    res = {"preset": preset, "image_size": [H, W], "chunk": h, "parameters": params}
    with torch.no_grad():
        clip = torch.zeros(1, 1 + h, H, W, 3, dtype=torch.uint8, device=dev)
        f_vae = flop_count(lambda: model.encode(clip))
        lat = torch.zeros(
            1, cfg.latent_channels, 1, H // cfg.vae_scale_factor_spatial, W // cfg.vae_scale_factor_spatial, device=dev
        )
        n = model.tokens_per_frame(lat)
        f_dit = flop_count(lambda: model.video_stream(lat, torch.zeros(1, n, device=dev), text, n_ctx=n, output=False))
        kv = model.video_stream(lat, torch.zeros(1, n, device=dev), text, n_ctx=n, output=False)[0]
        f_val = flop_count(lambda: model.predict_values(kv, torch.zeros(1, device=dev), text, steps=1))
        full = torch.zeros(1, 2 * h + 1, H, W, 3, dtype=torch.uint8, device=dev)
        f_train = flop_count(lambda: model(full, torch.zeros(1, 1 + h, device=dev), text))
    res.update(
        {
            "video_tokens_per_latent_frame": n,
            "inference_flops_per_chunk": {
                "vae_encode_prefix_plus_current": f_vae,
                "video_dit_current_latent": f_dit,
                "value_stream_1_euler_step": f_val,
                "total": f_vae + f_dit + f_val,
            },
            "training_forward_flops_per_chunk": f_train,
            "note": "FLOPs = 2 x multiply-adds counted by torch.utils.flop_counter on meta tensors (matmul, conv, "
            "attention). With stride h/2 a chunk labels h/2 new frames, so frames/s = 2*chunks/s.",
        }
    )
    return res


def markdown(result: dict) -> str:
    t = result["wvm_tiny_cpu"]
    lines = [
        "## WVM throughput",
        "",
        f"Machine: {result['machine']}; load average at start {result['load_average_at_start'][0]:.1f}; "
        f"torch {result['torch']}; {t['torch_threads']} threads.",
        "",
        f"### wvm-tiny on CPU ({t['episode_frames']}-frame episode, {t['image_size'][0]}x{t['image_size'][1]}, "
        f"h={t['chunk']}, stride {t['stride']}, {t['euler_steps']} Euler step)",
        "",
        "| window batch | s / episode | frames / s |",
        "|---:|---:|---:|",
    ]
    lines += [
        f"| {r['batch_windows']} | {r['seconds_per_episode']:.3f} | {r['frames_per_s']:.1f} |" for r in t["sweep"]
    ]
    lines += [
        "",
        f"Per window: video stream {t['video_stream_s_per_window'] * 1e3:.1f} ms (batched), value stream "
        f"{t['value_stream_s_per_window'] * 1e3:.1f} ms (sequential).",
        "",
        "### Parameters",
        "",
        "| preset | video DiT | value stream | two-stream total | VAE |",
        "|---|---:|---:|---:|---:|",
    ]
    for p in (t, result["wvm_5b"]):
        c = p["parameters"]
        lines.append(
            f"| {p['preset']} | {c['video_dit']:,} | {c['value_stream']:,} | {c['two_stream_transformer']:,} | {c['vae']:,} |"
        )
    b = result["wvm_5b"]
    f = b["inference_flops_per_chunk"]
    lines += [
        "",
        f"### wvm-5b FLOPs per chunk ({b['image_size'][0]}x{b['image_size'][1]} frames, "
        f"{b['video_tokens_per_latent_frame']} tokens per latent frame)",
        "",
        "| part | TFLOPs |",
        "|---|---:|",
        f"| VAE encode (prefix + {b['chunk']} current frames) | {f['vae_encode_prefix_plus_current'] / 1e12:.3f} |",
        f"| video DiT (current latent) | {f['video_dit_current_latent'] / 1e12:.3f} |",
        f"| value stream (1 Euler step) | {f['value_stream_1_euler_step'] / 1e12:.4f} |",
        f"| **inference total** | **{f['total'] / 1e12:.3f}** |",
        f"| training forward (9 frames, current + future latents, both losses) | {b['training_forward_flops_per_chunk'] / 1e12:.3f} |",
        "",
        f"GPU measurement: {result['gpu']}",
    ]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "wvm_throughput.json")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    result = {
        "command": " ".join(["OMP_NUM_THREADS=" + os.environ.get("OMP_NUM_THREADS", "?"), "python"] + sys.argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared with other jobs)",
        "torch": torch.__version__,
        "load_average_at_start": os.getloadavg(),
        "wvm_tiny_cpu": tiny_throughput(args.frames, args.repeats, args.batches),
        "wvm_5b": big_model_costs("wvm-5b"),
        "gpu": "not measured: no GPU was lent to this task (wvm-5b bf16 frames/s, batch sweep and peak memory "
        "need one; run this script on a GPU machine after adding the GPU section)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(args.out, json.dumps(result, indent=2))
    md = markdown(result)
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
