"""Checkpoints: safetensors weights + JSON config, written atomically, resumable.

Layout of a run directory `OUT`:

    OUT/latest.json                      {"step": N, "path": "checkpoints/step_000000N"}
    OUT/checkpoints/step_000000N/
        wvm.json                         format, model config, train config, step
        model.safetensors                every weight (video DiT, VAE, value stream)
        optimizer.safetensors + optimizer.json   AdamW moments (flattened) + param groups
        text_cache.safetensors + text_cache.json
        history.json                     loss log (for the loss plot and resume)

A step directory is written beside its final name and renamed into place, then latest.json is
replaced (robodata.atomic): a killed run leaves either the old or the new checkpoint, never a half one.
Both OUT and a step directory load as a value model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from robodata import atomic
from value_labeling.wvm.config import ModelConfig

FORMAT = "wvm-checkpoint-v1"


def save_checkpoint(
    out: Path, step: int, model, optimizer, mcfg: ModelConfig, train_cfg: dict, text_cache, history: list, keep: int = 2
) -> Path:
    meta = {"format": FORMAT, "step": step, "model": mcfg.to_dict(), "train": train_cfg}
    return write_step(out, step, model, optimizer, text_cache, history, ("wvm.json", meta), ("latest.json", {}), keep)


def write_step(
    out: Path,
    step: int,
    model,
    optimizer,
    text_cache,
    history: list,
    meta: tuple[str, dict],
    pointer: tuple[str, dict],
    keep: int = 2,
) -> Path:
    """OUT/checkpoints/step_N (weights, optimizer, text cache, history, meta = (file name, JSON)) written
    under a temporary name and renamed into place, then the pointer file OUT/<pointer[0]> (its JSON plus
    step and path) replaced; keeps the newest `keep` steps. Shared by every trainer with this layout."""
    from safetensors.torch import save_file

    out = Path(out)
    ckdir = out / "checkpoints"
    ckdir.mkdir(parents=True, exist_ok=True)
    final = ckdir / f"step_{step:07d}"
    with atomic.replace_dir(final, tag="save") as tmp:
        sd = model if isinstance(model, dict) else model.state_dict()  # a module or its full state dict
        sd = {k: v.detach().to("cpu").contiguous() for k, v in sd.items()}
        save_file(sd, str(tmp / "model.safetensors"))
        if optimizer is not None:
            osd = optimizer.state_dict()
            tensors = {
                f"{i}/{k}": v.detach().cpu().contiguous()
                for i, st in osd["state"].items()
                for k, v in st.items()
                if torch.is_tensor(v)
            }
            save_file(tensors, str(tmp / "optimizer.safetensors"))
            (tmp / "optimizer.json").write_text(json.dumps({"param_groups": osd["param_groups"]}))
        text_cache.save(tmp)
        (tmp / "history.json").write_text(json.dumps(history))
        (tmp / meta[0]).write_text(json.dumps(meta[1], indent=1, default=str))
    atomic.write_text(out / pointer[0], json.dumps({**pointer[1], "step": step, "path": f"checkpoints/{final.name}"}))
    olds = sorted(p for p in ckdir.glob("step_*") if p != final)
    for p in olds[: max(0, len(olds) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def resolve(path: Path) -> Path:
    """A step directory from a run directory (via latest.json) or a step directory itself."""
    path = Path(path)
    if (path / "wvm.json").is_file():
        return path
    if (path / "latest.json").is_file():
        d = path / json.loads((path / "latest.json").read_text())["path"]
        if (d / "wvm.json").is_file():
            return d
        raise FileNotFoundError(f"{path}/latest.json points at {d}, which is not a WVM checkpoint")
    raise FileNotFoundError(f"{path} is not a WVM checkpoint (no wvm.json or latest.json)")


def read_meta(path: Path) -> dict:
    d = resolve(path)
    meta = json.loads((d / "wvm.json").read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{d}/wvm.json has format {meta.get('format')!r}, expected {FORMAT!r}")
    meta["dir"] = str(d)
    return meta


def train_camera(meta: dict) -> str | None:
    """The camera a checkpoint was trained on (`train --camera`; None = each dataset's first camera).

    The training config is recorded by section (`train.data.camera`); checkpoints written before it had
    sections, the shipped default among them, keep it at `train.camera`."""
    train = meta.get("train") or {}
    data = train.get("data")
    return data.get("camera") if isinstance(data, dict) else train.get("camera")


def load_model(path: Path, device="cpu", expect_preset: str | None = None):
    """-> (WVM in eval mode, ModelConfig, TextCache, meta)."""
    from safetensors.torch import load_file

    from value_labeling.wvm.model import WVM
    from value_labeling.wvm.text import TextCache

    meta = read_meta(path)
    d = Path(meta["dir"])
    mcfg = ModelConfig.from_dict(meta["model"])
    if expect_preset is not None and mcfg.preset != expect_preset:
        raise ValueError(f"checkpoint {d} is a {mcfg.preset} model, not {expect_preset}")
    with torch.device("meta"):
        model = WVM(mcfg)
    sd = load_file(str(d / "model.safetensors"))
    missing = set(model.state_dict()) - set(sd)
    unexpected = set(sd) - set(model.state_dict())
    if missing or unexpected:
        raise ValueError(
            f"checkpoint {d} does not match its {mcfg.preset} config: missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]}"
        )
    model.load_state_dict(sd, assign=True)
    # Non-persistent buffers (Wan's RoPE tables) were created on meta: rebuild them.
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

    W = model.video
    W.rope = WanRotaryPosEmbed(mcfg.attention_head_dim, tuple(mcfg.patch_size), mcfg.rope_max_seq_len)
    model.to(device).eval()
    return model, mcfg, TextCache.load(d), meta


def load_optimizer_state(d: Path, optimizer) -> None:
    read_optimizer_state(resolve(d), optimizer)


def read_optimizer_state(d: Path, optimizer) -> None:
    """Restore AdamW moments and param groups from step directory `d` (written by write_step)."""
    from safetensors.torch import load_file

    groups = json.loads((d / "optimizer.json").read_text())["param_groups"]
    flat = load_file(str(d / "optimizer.safetensors"))
    state: dict = {}
    for key, v in flat.items():
        i, k = key.split("/", 1)
        state.setdefault(int(i), {})[k] = v
    optimizer.load_state_dict({"state": state, "param_groups": groups})
