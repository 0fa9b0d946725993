"""Sharded data parallelism for the World Value Model (FSDP2) and its resumable checkpoints.

Why: `wvm-5b` keeps fp32 master weights, gradients and AdamW moments of 5.67B trainable parameters
(~91 GB) before any activation; replicated (DDP) that fits no 80 GB card. FSDP2 shards all of it
over the N processes and all-gathers one joint layer at a time (bench/results/wvm_memory_plan.md).

- `shard_model`: `fully_shard` on every `JointLayer` (Wan block i + value block i; its forward is the
  whole MoT layer, so the layer's parameters are gathered in its pre-forward hook, freed after it,
  re-gathered for its backward, and its gradients reduce-scattered), then on the root (embeddings,
  heads). The frozen VAE is left out of FSDP: replicated in its own dtype, never reduced.
- Mixed precision (switchable): parameters all-gathered and computed in bf16, gradients
  reduce-scattered in fp32, fp32 master weights and optimizer states (`MixedPrecisionPolicy`); the
  train loop's bf16 autocast chooses per-op dtypes as on one device.
- Activation checkpointing per joint layer (switchable): `JointLayer.checkpoint`.
- Sharded checkpoints (`torch.distributed.checkpoint`): each rank writes its shards of the weights
  and AdamW moments into `OUT/sharded/.tmp_step_N`; after every rank finished, rank 0 adds the run
  metadata, renames it to `step_N` and atomically replaces the pointer `OUT/sharded/latest.json`. A
  run killed mid-save leaves the pointer on the last complete checkpoint, and resume reads only what
  the pointer names (on any number of processes: DCP reshards at load). OUT must be a filesystem every
  process sees (one node, or a shared filesystem across nodes).
- `export_consolidated`: one process reads the last complete sharded checkpoint into full tensors
  and writes the ordinary single-device checkpoint (`checkpoint.save_checkpoint`: OUT/latest.json,
  model.safetensors, text cache), which `value_labeling bench --model OUT` and
  `curate label-values --model OUT` load like any WVM run. It has no optimizer state: resume reads
  the sharded checkpoint.

    python -m value_labeling.wvm.sharding export RUN    # export the last complete sharded checkpoint
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import torch
import torch.distributed as dist

SHARDED_DIR = "sharded"
FORMAT = "wvm-sharded-v1"


# ---------------------------------------------------------------------------------------------------
# process group and wrapping


def ensure_process_group(device: torch.device) -> tuple[int, int]:
    """(rank, world). A single process gets a one-rank group (FSDP2 needs one) with an in-memory store."""
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    return dist.get_rank(), dist.get_world_size()


def shard_model(model, device: torch.device, mixed_precision: bool = False, activation_checkpointing: bool = False):
    """FSDP2 over all processes: one group per joint layer, then the root. Returns the model (in place)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    ensure_process_group(device)
    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    mp = (
        MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32, cast_forward_inputs=False)
        if mixed_precision
        else MixedPrecisionPolicy()
    )
    for layer in model.joint_layers:
        layer.checkpoint = activation_checkpointing
        fully_shard(layer, mesh=mesh, mp_policy=mp)
    # The joint layers' parameters (now DTensors) are reachable again through video.blocks /
    # value_blocks: the root must not claim them a second time. The VAE is frozen and replicated.
    ignored = {p for layer in model.joint_layers for p in layer.parameters()} | set(model.vae.parameters())
    fully_shard(model, mesh=mesh, mp_policy=mp, ignored_params=ignored)
    return model


def _fqn_by_param(model) -> dict:
    return {p: n for n, p in model.named_parameters()}


def _optimizer_state(model, opt) -> dict:
    """AdamW state keyed by parameter name (DCP saves and reshards DTensors; integer ids are fragile)."""
    names = _fqn_by_param(model)
    out = {}
    for group in opt.param_groups:
        for p in group["params"]:
            for k, v in opt.state.get(p, {}).items():
                out[f"{names[p]}/{k}"] = v
    return out


def _init_adamw_state(opt) -> None:
    """Empty AdamW moments (the layout torch.optim.AdamW creates at its first step) to load into."""
    for group in opt.param_groups:
        if group.get("amsgrad") or group.get("fused") or group.get("capturable"):
            raise ValueError("sharded checkpoints support plain AdamW (no amsgrad/fused/capturable)")
        for p in group["params"]:
            if not opt.state.get(p):
                opt.state[p] = {
                    "step": torch.tensor(0.0),
                    "exp_avg": torch.zeros_like(p),
                    "exp_avg_sq": torch.zeros_like(p),
                }


# ---------------------------------------------------------------------------------------------------
# sharded checkpoints


def latest_sharded(out: Path) -> Path | None:
    """The last complete sharded checkpoint of run `out` (None if there is none)."""
    ptr = Path(out) / SHARDED_DIR / "latest.json"
    if not ptr.is_file():
        return None
    d = Path(out) / SHARDED_DIR / json.loads(ptr.read_text())["path"]
    if not (d / "meta.json").is_file():
        raise FileNotFoundError(
            f"{ptr} points at {d}, which is not a complete sharded checkpoint; "
            f"delete {ptr} to start over or restore the step directory"
        )
    return d


def read_sharded_meta(d: Path) -> dict:
    meta = json.loads((Path(d) / "meta.json").read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{d}/meta.json has format {meta.get('format')!r}, expected {FORMAT!r}")
    meta["dir"] = str(d)
    return meta


def save_sharded(
    out: Path, step: int, model, opt, mcfg, train_cfg: dict, text_cache, history: list, keep: int = 2
) -> Path:
    """Collective: every rank writes its shards; rank 0 publishes. Returns the step directory."""
    import torch.distributed.checkpoint as dcp

    rank = dist.get_rank()
    root = Path(out) / SHARDED_DIR
    final, tmp = root / f"step_{step:07d}", root / f".tmp_step_{step:07d}"
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    dist.barrier()
    dcp.save({"model": model.state_dict(), "optim": _optimizer_state(model, opt)}, checkpoint_id=str(tmp))
    dist.barrier()  # every rank's shards are on disk
    if rank == 0:
        text_cache.save(tmp)
        groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
        meta = {
            "format": FORMAT,
            "step": step,
            "world_size": dist.get_world_size(),
            "model": mcfg.to_dict(),
            "train": train_cfg,
            "param_groups": groups,
            "history": history,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        ptr = root / "latest.json"
        ptr_tmp = root / "latest.json.tmp"
        ptr_tmp.write_text(json.dumps({"step": step, "path": final.name}))
        os.replace(ptr_tmp, ptr)
        olds = sorted(p for p in root.glob("step_*") if p != final)
        for p in olds[: max(0, len(olds) - (keep - 1))]:
            shutil.rmtree(p, ignore_errors=True)
    dist.barrier()
    return final


def load_sharded(d: Path, model, opt) -> dict:
    """Collective: load weights and AdamW state in place (any world size). Returns the metadata."""
    import torch.distributed.checkpoint as dcp

    meta = read_sharded_meta(d)
    _init_adamw_state(opt)
    state = {"model": model.state_dict(), "optim": _optimizer_state(model, opt)}
    dcp.load(state, checkpoint_id=str(d))
    names = _fqn_by_param(model)
    for group in opt.param_groups:  # the loaded tensors were written into these very objects; re-bind anyway
        for p in group["params"]:
            for k in list(opt.state[p]):
                opt.state[p][k] = state["optim"][f"{names[p]}/{k}"]
    for g, saved in zip(opt.param_groups, meta["param_groups"]):
        g.update(saved)
    return meta


# ---------------------------------------------------------------------------------------------------
# consolidated export (one process)


def export_consolidated(out: Path, keep: int = 2) -> Path:
    """Full weights of the last complete sharded checkpoint -> an ordinary WVM checkpoint in `out`.

    Runs in one process without a process group: DCP reads every rank's shards into full tensors."""
    import torch.distributed.checkpoint as dcp

    from value_labeling.wvm import checkpoint as ck
    from value_labeling.wvm.config import ModelConfig
    from value_labeling.wvm.model import WVM
    from value_labeling.wvm.text import TextCache

    d = latest_sharded(out)
    if d is None:
        raise FileNotFoundError(
            f"{out} has no sharded checkpoint ({out}/{SHARDED_DIR}/latest.json); train with --parallel fsdp first"
        )
    meta = read_sharded_meta(d)
    mcfg = ModelConfig.from_dict(meta["model"])
    with torch.device("meta"):
        model = WVM(mcfg)
    model.to_empty(device="cpu")
    sd = model.state_dict()
    with warnings.catch_warnings():  # one process reading all ranks' shards is the point here
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load({"model": sd}, checkpoint_id=str(d), no_dist=True)
    return ck.save_checkpoint(
        Path(out), int(meta["step"]), sd, None, mcfg, meta["train"], TextCache.load(d), meta["history"], keep=keep
    )


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser(
        description="Export the last complete sharded WVM checkpoint of a run as an "
        "ordinary single-device checkpoint (RUN/latest.json)."
    )
    ap.add_argument("command", choices=["export"])
    ap.add_argument("run", type=Path)
    args = ap.parse_args(argv)
    try:
        print(export_consolidated(args.run))
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
