"""One prepared GPU check (<= 10 minutes on one CUDA GPU): does the paper-scale path run, how fast, in how much memory?

    scripts/gpu_check.sh                      # on a CUDA machine: wvm-5b + full-size π0.5
    python -m bench.gpu_check --dry-run       # CPU: wvm-tiny + tiny π0.5 through the same code paths

Sections (each recorded on its own; a failure or an out-of-memory is a result, and the next section runs):
1. build: `wvm-5b` at random init from the Wan2.2-TI2V-5B configs (fp32 master copy on the device), and
   its consolidated checkpoint for section 5.
2. inference: a bf16 copy (fp32 in the CPU dry run) labels a synthetic episode with `chunked_predict` (what `bench` / `curate
   label-values` run per episode); frames/s per window batch, and the achieved fraction of the GPU's
   dense bf16 peak from the project's FLOP count per chunk (bench/wvm_throughput.py, FlopCounterMode).
3. train: one-rank FSDP2 (`sharding.shard_model`: bf16 gathers, fp32 reduce, fp32 AdamW) training steps
   of the full objective on random windows, without and with activation checkpointing: seconds per
   step (median after the first) and peak memory.
4. pi05: a full-size π0.5 training step through `policy_ft`'s Trainer (random init, bf16, synthetic
   dataset and word tokenizer): seconds per step and peak memory.
5. label: `curate label-values DATASET --model RUN --address local` with the section-1 checkpoint on a
   small generated bench dataset (the labelling path loads the checkpoint as saved, fp32).

The peak bf16 FLOP/s of a card is looked up by name (NVIDIA datasheets, dense, no sparsity); an unknown
card records no fraction. Writes bench/results/gpu_check.json and .md after every section, so a run
cut short still leaves what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

#: Dense bf16 tensor-core peak, FLOP/s (NVIDIA datasheets; first matching name wins).
BF16_PEAK = [
    ("H200", 989.4e12),
    ("H100 NVL", 835e12),
    ("H100 PCIe", 756e12),
    ("H100", 989.4e12),
    ("GH200", 989.4e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("A10G", 70e12),
    ("L4", 121e12),
    ("A10", 125e12),
    ("RTX 4090", 165e12),
]


def bf16_peak(name: str) -> float | None:
    return next((p for key, p in BF16_PEAK if key in name), None)


class Check:
    """Timings, memory and the result file, written after every section."""

    def __init__(self, out: Path, dry_run: bool, budget_s: float):
        self.out, self.dry_run, self.t0, self.budget = out, dry_run, time.time(), budget_s
        self.cuda = torch.cuda.is_available() and not dry_run
        self.device = torch.device("cuda:0" if self.cuda else "cpu")
        # bf16 on the GPU; the CPU dry run computes in fp32 (CPU bf16 here is emulated and ~1000x slower).
        self.bf16 = self.cuda
        self.dtype = torch.bfloat16 if self.bf16 else torch.float32
        name = torch.cuda.get_device_name(0) if self.cuda else f"CPU ({platform.machine()}, {os.cpu_count()} cores)"
        self.res = {
            "command": "python -m bench.gpu_check " + " ".join(sys.argv[1:]),
            "ran_on_gpu": self.cuda,
            "status": (
                f"measured on {name}"
                if self.cuda
                else "NOT RUN ON A GPU: CPU dry run (wvm-tiny, tiny π0.5) of the same code paths; "
                "no number here describes GPU performance"
            ),
            "device": name,
            "torch": torch.__version__,
            "gpu_memory_gib": torch.cuda.get_device_properties(0).total_memory / 2**30 if self.cuda else None,
            "bf16_peak_flops": bf16_peak(name) if self.cuda else None,
            "preset": "wvm-tiny" if dry_run else "wvm-5b",
            "sections": {},
        }

    def left(self) -> float:
        return self.budget - (time.time() - self.t0)

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def reset_peak(self):
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def peak(self) -> dict:
        if self.cuda:
            return {
                "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
                "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30,
            }
        return {"process_max_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}

    def section(self, name: str, fn, need_s: float = 0.0):
        if self.left() < need_s:
            self.res["sections"][name] = {
                "ok": False,
                "skipped": f"time budget: {self.left():.0f} s left, needs ~{need_s:.0f} s",
            }
            self.write()
            return None
        t = time.time()
        print(f"[gpu_check] {name} ...", flush=True)
        try:
            r = fn()
            rec = {"ok": True, **(r or {})}
        except torch.OutOfMemoryError as e:
            rec = {"ok": False, "error": f"out of memory: {str(e).splitlines()[0]}", **self.peak()}
        except Exception as e:  # a failed section is a result; the next one still runs
            rec = {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
        rec["wall_s"] = time.time() - t
        self.res["sections"][name] = rec
        if self.cuda:
            torch.cuda.empty_cache()
        self.write()
        print(
            f"[gpu_check] {name}: {'ok' if rec['ok'] else rec.get('error', rec.get('skipped'))} "
            f"({rec['wall_s']:.1f} s)",
            flush=True,
        )
        return rec

    def write(self):
        self.res["elapsed_s"] = time.time() - self.t0
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.res, indent=1, default=str))
        os.replace(tmp, self.out)
        self.out.with_suffix(".md").write_text(markdown(self.res))


# ---------------------------------------------------------------------------------------------------


def random_text_cache(cfg, instructions, seed: int = 0):
    """A text cache for the preset: MiniLM for wvm-tiny, random umT5-shaped embeddings for wvm-5b
    (random weights read them the same way; no umT5 is downloaded)."""
    from value_labeling.wvm.text import TextCache

    if cfg.text_encoder == "minilm":
        cache = TextCache("minilm", cfg.text_len, cfg.text_dim)
        cache.ensure(set(instructions))
        return cache
    cache = TextCache("precomputed", cfg.text_len, cfg.text_dim)
    g = torch.Generator().manual_seed(seed)
    for s in sorted(set(instructions)):
        cache.add(s, torch.randn(cfg.text_len, cfg.text_dim, generator=g) * 0.1)
    return cache


def build(ck: Check, state: dict) -> dict:
    from robodata.dataset import episode_task, open_dataset
    from testing.synthetic_bench import make_synthetic_bench
    from value_labeling.wvm import checkpoint as ckpt
    from value_labeling.wvm.config import get_preset
    from value_labeling.wvm.model import WVM, count_parameters

    cfg = get_preset(ck.res["preset"])
    torch.manual_seed(0)
    t = time.time()
    with ck.device:
        model = WVM(cfg)
    ck.sync()
    t_build = time.time() - t
    state["cfg"], state["model"] = cfg, model
    ds = make_synthetic_bench(state["tmp"] / "bench", 1, 1, 1, seed=0)
    task = episode_task(open_dataset(ds), 0)
    state["dataset"], state["task"] = ds, task
    state["cache"] = random_text_cache(cfg, [task])
    t = time.time()
    ckpt.save_checkpoint(
        state["tmp"] / "run", 0, model, None, cfg, {"note": "gpu_check: random init"}, state["cache"], [], keep=1
    )
    return {
        "parameters": count_parameters(model),
        "build_s": t_build,
        "checkpoint_write_s": time.time() - t,
        "checkpoint_gib": (state["tmp"] / "run" / "checkpoints" / "step_0000000" / "model.safetensors").stat().st_size
        / 2**30,
        **ck.peak(),
    }


def inference(ck: Check, state: dict) -> dict:
    import copy

    from bench.wvm_throughput import big_model_costs
    from value_labeling.wvm.inference import chunked_predict, window_anchors

    cfg = state["cfg"]
    flops = big_model_costs(cfg.preset)["inference_flops_per_chunk"]["total"]
    model = copy.deepcopy(state["model"]).to(ck.dtype).eval()
    H, W = cfg.image_size
    n_frames = 16 if ck.dry_run else 64
    frames = np.random.default_rng(0).integers(0, 255, (n_frames, H, W, 3), dtype=np.uint8)
    text = state["cache"].get([state["task"]]).to(ck.device, ck.dtype)
    windows = len(window_anchors(n_frames, cfg.chunk, max(1, cfg.chunk // 2)))
    peak = ck.res["bf16_peak_flops"]
    rows = []
    with torch.autocast(ck.device.type, dtype=torch.bfloat16, enabled=ck.bf16):
        chunked_predict(model, frames[: 2 * cfg.chunk], text)  # warm-up (kernels, allocator)
        ck.reset_peak()
        for bw in (4,) if ck.dry_run else (8, 32):
            times = []
            for _ in range(2):
                ck.sync()
                t = time.perf_counter()
                v = chunked_predict(model, frames, text, batch_windows=bw)
                ck.sync()
                times.append(time.perf_counter() - t)
            s = statistics.median(times)
            rows.append(
                {
                    "batch_windows": bw,
                    "seconds": s,
                    "frames_per_s": n_frames / s,
                    "achieved_flops": windows * flops / s,
                    "fraction_of_bf16_peak": (windows * flops / s / peak) if peak else None,
                    "values_finite": bool(np.isfinite(v).all()),
                }
            )
    del model
    best = max(rows, key=lambda r: r["frames_per_s"])
    return {
        "episode_frames": n_frames,
        "windows": windows,
        "flops_per_chunk": flops,
        "sweep": rows,
        "best_frames_per_s": best["frames_per_s"],
        "best_fraction_of_bf16_peak": best["fraction_of_bf16_peak"],
        **ck.peak(),
    }


def train(ck: Check, state: dict) -> dict:
    from value_labeling.wvm.model import draw_noise
    from value_labeling.wvm.sharding import shard_model

    cfg, model = state["cfg"], state.pop("model")
    model.train()
    created = not torch.distributed.is_initialized()
    shard_model(model, ck.device, mixed_precision=ck.bf16)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0)
    B = 2
    H, W = cfg.image_size
    g = np.random.default_rng(0)
    clips = torch.from_numpy(g.integers(0, 255, (B, cfg.clip_frames, H, W, 3), dtype=np.uint8)).to(ck.device)
    vals = torch.from_numpy(g.random((B, 1 + cfg.chunk)).astype(np.float32)).to(ck.device)
    text = state["cache"].get([state["task"]] * B).to(ck.device)
    out = {"batch_per_gpu": B, "mixed_precision": "bf16 params/compute, fp32 reduce, fp32 AdamW" if ck.bf16 else "fp32"}
    for ac in (False, True):
        for layer in model.joint_layers:
            layer.checkpoint = ac
        ck.reset_peak()
        times, losses = [], []
        try:
            for step in range(3):
                t = time.perf_counter()
                noise = draw_noise(cfg, B, device=ck.device, generator=torch.Generator(ck.device).manual_seed(step))
                with torch.autocast(ck.device.type, dtype=torch.bfloat16, enabled=ck.bf16):
                    lo = model(clips, vals, text, noise=noise)
                    loss = lo["value"] + lo["video"]
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                ck.sync()
                times.append(time.perf_counter() - t)
                losses.append(float(loss.detach()))
            out["activation_checkpointing" if ac else "no_activation_checkpointing"] = {
                "seconds_per_step": statistics.median(times[1:]),
                "first_step_s": times[0],
                "losses": losses,
                "losses_finite": all(np.isfinite(losses)),
                **ck.peak(),
            }
        except torch.OutOfMemoryError as e:
            opt.zero_grad(set_to_none=True)
            out["activation_checkpointing" if ac else "no_activation_checkpointing"] = {
                "error": f"out of memory: {str(e).splitlines()[0]}",
                **ck.peak(),
            }
            if ck.cuda:
                torch.cuda.empty_cache()
    del model, opt, params
    if created:
        torch.distributed.destroy_process_group()
    return out


def pi05(ck: Check, state: dict) -> dict:
    from policy_ft.config import TrainConfig
    from policy_ft.train import Trainer
    from testing.synthetic_policy import make_value_dataset, make_word_tokenizer

    root = state["tmp"] / "pi05_ds"
    make_value_dataset(root, episodes=2, length=20, image_size=32 if ck.dry_run else 224)
    tok = make_word_tokenizer(state["tmp"] / "tok")
    B = 2 if ck.dry_run else 32
    t = time.time()
    tr = Trainer(
        TrainConfig(
            dataset=root,
            out=state["tmp"] / "pi05_out",
            policy="pi05",
            size="tiny" if ck.dry_run else "default",
            steps=3,
            batch_size=B,
            tokenizer=tok,
            dtype="float32" if ck.dry_run else "bfloat16",
            device=str(ck.device),
            weighting="awr",
            lr=1e-4,
        )
    )
    n_params = sum(p.numel() for p in tr.policy.parameters())
    t_build = time.time() - t
    loader = torch.utils.data.DataLoader(
        tr.dataset, batch_size=B, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    batch = next(iter(loader))
    ck.reset_peak()
    times, losses = [], []
    for _ in range(3):
        t = time.perf_counter()
        rec = tr.train_step(batch)
        ck.sync()
        times.append(time.perf_counter() - t)
        losses.append(rec["loss"])
    del tr
    return {
        "size": "tiny" if ck.dry_run else "full (default)",
        "parameters": n_params,
        "batch_size": B,
        "build_s": t_build,
        "seconds_per_step": statistics.median(times[1:]),
        "first_step_s": times[0],
        "losses": losses,
        "losses_finite": all(np.isfinite(losses)),
        **ck.peak(),
    }


def label(ck: Check, state: dict) -> dict:
    import pandas as pd

    from curate.cli import main as curate_main
    from robodata.dataset import open_dataset

    ds, run = state["dataset"], state["tmp"] / "run"
    ck.reset_peak()
    t = time.time()
    curate_main(["label-values", str(ds), "--model", str(run), "--address", "local"])
    dt = time.time() - t
    n = open_dataset(ds).meta.total_frames
    df = pd.concat(pd.read_parquet(p) for p in sorted((ds / "data").rglob("*.parquet")))
    v = df["value"].to_numpy()
    return {
        "frames": int(n),
        "seconds_including_model_load": dt,
        "frames_per_s_including_load": n / dt,
        "values_in_unit_interval": bool(((v >= 0) & (v <= 1)).all() and len(v) == n),
        **ck.peak(),
    }


def markdown(res: dict) -> str:
    s = res["sections"]
    lines = [
        f"Command: `{res['command']}`",
        "",
        "# GPU check",
        "",
        f"**{res['status']}**",
        "",
        f"Device: {res['device']}; torch {res['torch']}; model {res['preset']}; elapsed {res.get('elapsed_s', 0):.0f} s.",
        "",
    ]

    def g(x, f="{:.2f}"):
        return "—" if x is None else f.format(x)

    def mem(r):
        if "peak_memory_gib" in r:
            return f"peak {r['peak_memory_gib']:.1f} GiB allocated"
        if "process_max_rss_gib" in r:
            return f"process max RSS {r['process_max_rss_gib']:.1f} GiB (CPU)"
        return ""

    lines += ["| section | result |", "|---|---|"]
    for name, r in s.items():
        if not r.get("ok"):
            lines.append(f"| {name} | FAILED or skipped: {r.get('error') or r.get('skipped')} |")
            continue
        if name == "build":
            p = r["parameters"]
            txt = (
                f"{p['two_stream_transformer']:,} two-stream + {p['vae']:,} VAE parameters in {r['build_s']:.1f} s; "
                f"checkpoint {r['checkpoint_gib']:.1f} GiB written in {r['checkpoint_write_s']:.1f} s; {mem(r)}"
            )
        elif name == "inference":
            txt = "; ".join(
                f"window batch {x['batch_windows']}: {x['frames_per_s']:.1f} frames/s, "
                f"{g(x['fraction_of_bf16_peak'], '{:.1%}')} of bf16 peak"
                for x in r["sweep"]
            )
            txt += (
                f" ({r['episode_frames']}-frame episode, {r['flops_per_chunk'] / 1e12:.3f} TFLOP per chunk); {mem(r)}"
            )
        elif name == "train":
            parts = []
            for k in ("no_activation_checkpointing", "activation_checkpointing"):
                x = r.get(k, {})
                parts.append(
                    f"{k.replace('_', ' ')}: "
                    + (
                        x["error"]
                        if "error" in x
                        else f"{x['seconds_per_step']:.2f} s/step, {mem(x)}, losses finite {x['losses_finite']}"
                    )
                )
            txt = f"FSDP2 one rank, batch {r['batch_per_gpu']}, {r['mixed_precision']}; " + "; ".join(parts)
        elif name == "pi05":
            txt = (
                f"π0.5 {r['size']} ({r['parameters']:,} parameters), batch {r['batch_size']}: "
                f"{r['seconds_per_step']:.2f} s/step, {mem(r)}, losses finite {r['losses_finite']}"
            )
        elif name == "label":
            txt = (
                f"{r['frames']} frames in {r['seconds_including_model_load']:.1f} s including the model load "
                f"({r['frames_per_s_including_load']:.1f} frames/s); values in [0, 1]: {r['values_in_unit_interval']}"
            )
        else:
            txt = json.dumps(r)
        lines.append(f"| {name} | {txt} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU, wvm-tiny and tiny π0.5 (tests the code paths)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu_check.json")
    ap.add_argument("--budget-s", type=float, default=540.0, help="skip sections that would not finish in time")
    args = ap.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here; run with --dry-run to test the code paths on CPU")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ck = Check(args.out, args.dry_run, args.budget_s)
    big = not args.dry_run
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        state = {"tmp": Path(tmp)}
        ck.section("build", lambda: build(ck, state))
        if "model" in state:
            ck.section("inference", lambda: inference(ck, state), need_s=60 if big else 0)
            ck.section("train", lambda: train(ck, state), need_s=90 if big else 0)
            state.pop("model", None)
        ck.section("pi05", lambda: pi05(ck, state), need_s=90 if big else 0)
        if (state["tmp"] / "run" / "latest.json").is_file():
            ck.section("label", lambda: label(ck, state), need_s=60 if big else 0)
    ck.write()
    print(markdown(ck.res))
    return 0 if all(r.get("ok") for r in ck.res["sections"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
