"""wvm-5b training memory per GPU for 1, 8 and 32 GPUs at the paper's global batch (Table A.1: 1024
windows, 32 x A100-40GB, bf16), and which settings fit 40, 80 and 141 GB cards.

    python -m bench.wvm_memory_plan      # CPU only, ~1 min: the model is built on the meta device

Inputs, none typed in:
- Parameters: the real counts of `WVM(wvm-5b)` (Wan2.2-TI2V-5B configs + the value stream) built on
  the meta device: trainable = video DiT + value stream; the frozen VAE is replicated in fp32; per
  joint layer and root (embeddings, heads) sizes for the FSDP gather buffers.
- Activations: the bytes autograd saves for backward in one training forward of one 9-frame 480x640
  window (video + value losses) in bf16, measured with `torch.autograd.graph.saved_tensors_hooks` on
  meta tensors (unique storages, parameters excluded), with and without activation checkpointing;
  attention saved as the GPU's memory-efficient SDPA kernel saves it. With
  checkpointing each joint layer keeps only its inputs (video tokens (S, D) and value tokens), counted
  from their shapes, and backward recomputes one layer at a time (one layer's activations added).

Memory model per GPU (bytes; P trainable parameters, N GPUs, m windows per GPU per micro-batch):
- ddp: fp32 weights 4P + fp32 grads 4P + AdamW moments 8P + autocast's bf16 weight copies 2P.
- fsdp (FSDP2, `--parallel fsdp`, bf16 mixed precision): (4 + 4 + 8) P / N sharded, plus the root's
  bf16 weights (kept gathered through forward) and, for two joint layers (the current one and the
  prefetched one), bf16 gathered weights + bf16 gradient + fp32 reduce-scatter input (8 B/param).
- both: the frozen fp32 VAE (4 B/param), activations m x per-window bytes.
A setting fits when the total is at most 90% of the card (CUDA context, NCCL buffers, allocator
fragmentation and the backward's transient gradients of activations take the rest). This is a plan,
not a measurement: `bench/gpu_check.py` measures peak memory of one sharded step on a real GPU.

Writes bench/results/wvm_memory_plan.json and .md.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from value_labeling.wvm.config import get_preset  # noqa: E402
from value_labeling.wvm.model import WVM, count_parameters  # noqa: E402

GiB = 2**30
#: Card memory as the driver reports it (MiB): A100-SXM4-40GB, A100/H100 80GB, H200 141GB.
CARDS = {"40 GB (A100-40GB)": 40960 * 2**20, "80 GB (A100/H100-80GB)": 81559 * 2**20, "141 GB (H200)": 143771 * 2**20}
USABLE = 0.9
PAPER_GLOBAL_BATCH = 1024  # Table A.1
GPUS = (1, 8, 32)


def efficient_attention(
    query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False
):
    """SDPA as a GPU runs it (the memory-efficient kernel saves output + logsumexp, not the S x S
    weights); meta tensors would otherwise take PyTorch's math path. (B, H, S, Dh) layout."""
    q, k, v = query, key, value
    bias = None
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            attn_mask = torch.zeros(attn_mask.shape, dtype=q.dtype, device=q.device).masked_fill(
                ~attn_mask, float("-inf")
            )
        bias = attn_mask.expand(q.shape[0], q.shape[1], q.shape[2], k.shape[2])
    return torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, bias, True, scale=scale)[0]


def saved_activation_bytes(model: WVM, batch: int, checkpointing: bool) -> int:
    """Bytes of unique non-parameter storages autograd saves in one training forward (meta tensors)."""
    cfg = model.cfg
    param_storages = {p.untyped_storage()._cdata for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        s = t.untyped_storage()
        if s._cdata not in param_storages:
            seen[s._cdata] = s.nbytes()
        return t

    for layer in model.joint_layers:
        layer.checkpoint = checkpointing
    H, W = cfg.image_size
    dev = torch.device("meta")
    frames = torch.zeros(batch, cfg.clip_frames, H, W, 3, dtype=torch.uint8, device=dev)
    values = torch.zeros(batch, 1 + cfg.chunk, device=dev)
    text = torch.zeros(batch, cfg.text_len, cfg.text_dim, dtype=torch.bfloat16, device=dev)
    # The frozen VAE runs under no_grad (saves nothing); stand in its bf16 latents so that, as under
    # autocast on a GPU, the DiT sees bf16 inputs (meta tensors have no autocast).
    f = cfg.vae_scale_factor_spatial
    lat = torch.zeros(batch, cfg.latent_channels, 3, H // f, W // f, dtype=torch.bfloat16, device=dev)
    model.encode = lambda clips: lat
    import torch.nn.functional as F

    sdpa = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = efficient_attention
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(frames, values, text)
    finally:
        F.scaled_dot_product_attention = sdpa
        del model.encode
    for layer in model.joint_layers:
        layer.checkpoint = False
    return sum(seen.values())


def measure() -> dict:
    cfg = get_preset("wvm-5b")
    with torch.device("meta"):
        model = WVM(cfg)
    params = count_parameters(model)
    layer = sum(p.numel() for p in model.joint_layers[0].parameters())
    in_layers = sum(p.numel() for p in model.joint_layers.parameters())
    root = params["two_stream_transformer"] - in_layers
    model = model.to(torch.bfloat16).train()
    full1, full2 = (saved_activation_bytes(model, b, False) for b in (1, 2))
    ac1 = saved_activation_bytes(model, 1, True)
    H, W = cfg.image_size
    n = (H // cfg.vae_scale_factor_spatial // cfg.patch_size[1]) * (
        W // cfg.vae_scale_factor_spatial // cfg.patch_size[2]
    )
    S = 2 * n  # current + future latent tokens
    layer_inputs = (S * cfg.video_width + (1 + cfg.chunk) * cfg.value_dim) * 2  # bf16 x and y per window
    per_layer = (full1 - ac1) / cfg.num_layers  # one joint layer's saved activations per window
    return {
        "parameters": params,
        "joint_layers": cfg.num_layers,
        "params_per_joint_layer": layer,
        "root_params": root,
        "video_tokens_per_window": S,
        "activations_per_window_bytes": {
            "no_checkpointing": full1,
            "no_checkpointing_batch2_over_2": full2 / 2,
            "checkpointing_outside_layers": ac1,
            "checkpointing_layer_inputs": cfg.num_layers * layer_inputs,
            "checkpointing_recompute_one_layer": per_layer,
            "checkpointing": ac1 + cfg.num_layers * layer_inputs + per_layer,
        },
    }


def per_gpu(m: dict, strategy: str, N: int, checkpointing: bool, micro: int) -> dict:
    P = m["parameters"]["two_stream_transformer"]
    a = m["activations_per_window_bytes"]["checkpointing" if checkpointing else "no_checkpointing"]
    if strategy == "ddp":
        parts = {"weights_fp32": 4 * P, "grads_fp32": 4 * P, "adamw_moments_fp32": 8 * P, "bf16_weight_copies": 2 * P}
    else:
        parts = {
            "weights_fp32": 4 * P / N,
            "grads_fp32": 4 * P / N,
            "adamw_moments_fp32": 8 * P / N,
            "bf16_gathered_root_and_2_layers": 2 * m["root_params"] + 2 * 8 * m["params_per_joint_layer"],
        }
    parts["vae_fp32_frozen"] = 4 * m["parameters"]["vae"]
    parts["activations"] = micro * a
    parts["total"] = sum(parts.values())
    return parts


def largest_micro_batch(m, strategy, N, ckpt, capacity) -> int:
    lo = 0
    while lo < PAPER_GLOBAL_BATCH // N and per_gpu(m, strategy, N, ckpt, lo + 1)["total"] <= USABLE * capacity:
        lo += 1
    return lo


def plan(m: dict) -> list[dict]:
    rows = []
    for N in GPUS:
        b = PAPER_GLOBAL_BATCH // N
        for strategy in ("ddp", "fsdp"):
            if strategy == "ddp" and N == 1:
                continue  # one GPU: nothing to shard; fsdp rows below keep bf16 gathers (same states)
            for ckpt in (False, True):
                r = {
                    "gpus": N,
                    "per_gpu_batch": b,
                    "strategy": strategy,
                    "activation_checkpointing": ckpt,
                    "bytes_at_full_per_gpu_batch": per_gpu(m, strategy, N, ckpt, b),
                    "bytes_without_activations": per_gpu(m, strategy, N, ckpt, 0)["total"],
                }
                for card, cap in CARDS.items():
                    mb = largest_micro_batch(m, strategy, N, ckpt, cap)
                    r[card] = {
                        "largest_micro_batch": mb,
                        "accumulation_steps": math.ceil(b / mb) if mb else None,
                        "fits_full_batch": mb >= b,
                    }
                rows.append(r)
    return rows


def markdown(res: dict) -> str:
    m = res["model"]
    p = m["parameters"]
    a = m["activations_per_window_bytes"]
    g = lambda x: f"{x / GiB:.1f}"  # noqa: E731
    lines = [
        f"Command: `{res['command']}`",
        "",
        "## wvm-5b training memory per GPU (plan)",
        "",
        f"Trainable parameters P = {p['two_stream_transformer']:,} (video DiT {p['video_dit']:,} + value stream "
        f"{p['value_stream']:,}); frozen VAE {p['vae']:,}; {m['joint_layers']} joint layers of "
        f"{m['params_per_joint_layer']:,}; root (embeddings, heads) {m['root_params']:,}. One training window: "
        f"9 frames 480x640, {m['video_tokens_per_window']} video tokens.",
        "",
        f"Saved activations per window (bf16, measured on meta tensors): {g(a['no_checkpointing'])} GiB without "
        f"activation checkpointing (batch 2 / 2: {g(a['no_checkpointing_batch2_over_2'])} GiB); "
        f"{g(a['checkpointing'])} GiB with it (layer inputs {g(a['checkpointing_layer_inputs'])} + outside the "
        f"layers {g(a['checkpointing_outside_layers'])} + one layer recomputed {g(a['checkpointing_recompute_one_layer'])}).",
        "",
        f"Paper batch: {PAPER_GLOBAL_BATCH} windows per step (Table A.1), i.e. {PAPER_GLOBAL_BATCH} / N per GPU. "
        f"GiB per GPU at that batch; 'fits' = at most {USABLE:.0%} of the card; 'micro / accum' = the largest "
        f"per-GPU micro-batch that fits and the gradient-accumulation steps the paper's batch would need.",
        "",
        "| GPUs | per-GPU batch | setting | weights | grads | AdamW | bf16 copies / gathers | VAE | activations | total | "
        + " | ".join(f"{c}: micro / accum" for c in CARDS)
        + " |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(CARDS),
    ]
    for r in res["plan"]:
        x = r["bytes_at_full_per_gpu_batch"]
        cop = x.get("bf16_weight_copies", x.get("bf16_gathered_root_and_2_layers"))
        cells = []
        for c in CARDS:
            f = r[c]
            cells.append(
                "does not fit"
                if not f["largest_micro_batch"]
                else f"{'**fits**' if f['fits_full_batch'] else f['largest_micro_batch']} / {f['accumulation_steps']}"
            )
        lines.append(
            f"| {r['gpus']} | {r['per_gpu_batch']} | {r['strategy']}{' + AC' if r['activation_checkpointing'] else ''} | "
            f"{g(x['weights_fp32'])} | {g(x['grads_fp32'])} | {g(x['adamw_moments_fp32'])} | {g(cop)} | "
            f"{g(x['vae_fp32_frozen'])} | {g(x['activations'])} | {g(x['total'])} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "AC = activation checkpointing per joint layer (`--activation-checkpointing`); fsdp = `--parallel fsdp` "
        "(bf16 all-gathers, fp32 reduce-scatter, fp32 master weights and AdamW moments sharded over the N GPUs).",
        "'does not fit': not even one window per GPU fits beside the model states.",
        "Not measured here: peak memory on a real GPU (bench/gpu_check.py measures one sharded step).",
    ]
    return "\n".join(lines) + "\n"


def main():
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    m = measure()
    res = {
        "command": "python -m bench.wvm_memory_plan",
        "model": m,
        "cards_bytes": CARDS,
        "usable_fraction": USABLE,
        "paper_global_batch": PAPER_GLOBAL_BATCH,
        "plan": plan(m),
    }
    out = ROOT / "bench" / "results" / "wvm_memory_plan.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(res, indent=1))
    os.replace(tmp, out)
    md = markdown(res)
    out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
