"""Configs of `policy_ft train` / `policy_ft serve` and the paper's presets (light: no torch import).

Presets are Table E.5 of the paper. Shared settings: π0.5-base, AdamW (β1 0.9, β2 0.95), peak lr 2.5e-5,
global batch 256, AWR clip δ = 2.0, binary κ = 0. Per suite (RoboSuite / AgileX): chunk length H 10 / 50,
AWR temperature τ 10 / 2, top-70% κ 0.02 / 0.06 (reported by the paper; we recompute κ on the training
set, as the paper did, and log the paper's value beside ours), steps 5,000 / 10,000.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal

import tyro


@dataclass(frozen=True)
class Preset:
    chunk_length: int
    tau: float
    kappa_top70: float  # the paper's reported percentile threshold, for comparison only
    steps: int
    clip: float = 2.0
    lr: float = 2.5e-5
    batch_size: int = 256


PRESETS: dict[str, Preset] = {
    "robosuite": Preset(chunk_length=10, tau=10.0, kappa_top70=0.02, steps=5_000),
    "agilex": Preset(chunk_length=50, tau=2.0, kappa_top70=0.06, steps=10_000),
}


#: What `--preset none` fills in (κ has no paper value there).
NO_PRESET = Preset(chunk_length=10, tau=10.0, kappa_top70=float("nan"), steps=5_000)


def _from_preset(name: str) -> object:
    """tyro marker: `--help` shows each preset's value (e.g. "robosuite 5000, agilex 10000"), not "None"."""
    values = ", ".join(f"{k} {getattr(p, name):g}" for k, p in {**PRESETS, "none": NO_PRESET}.items())
    return tyro.conf.arg(help_behavior_hint=f"(default: from --preset: {values})")


PolicyType = Literal["pi05", "pi0", "smolvla", "act", "diffusion", "mlp_chunk"]
Weighting = Literal["awr", "binary", "percentile", "none"]


@dataclass(frozen=True)
class TrainConfig:
    """Value-weighted behaviour cloning (paper eq. E.4-E.7) of a LeRobot policy on a LeRobot v3.0 dataset."""

    dataset: Annotated[tuple[Path, ...], tyro.conf.UseAppendAction]
    """LeRobot v3.0 dataset with a per-frame value column (`curate label-values` writes it; not needed for
    --weighting none). Repeat the flag to train on several datasets with the same features
    (`--dataset expert/ --dataset retry/`): they are read as one training set, each Δ within its own episodes."""
    out: Path
    """Output directory: checkpoints/<step>/pretrained_model (lerobot format), train_log.jsonl, summary."""
    policy: PolicyType = "pi05"
    pretrained: Path | None = None
    """A local lerobot checkpoint directory (config.json + model.safetensors), e.g. pi05_base."""
    weighting: Weighting = "awr"
    preset: Literal["robosuite", "agilex", "none"] = "robosuite"
    """Table E.5 defaults for chunk length, tau, steps; explicit flags below override them."""
    chunk_length: Annotated[int | None, _from_preset("chunk_length")] = None
    """Action-chunk length H (defines the advantage, eq. E.4, and the policy's chunk)."""
    tau: Annotated[float | None, _from_preset("tau")] = None
    """AWR temperature (eq. E.7)."""
    clip: float = 2.0
    """AWR clip ceiling delta (eq. E.7)."""
    kappa: float = 0.0
    """Threshold of the binary filter (eq. E.6)."""
    percentile: float = 70.0
    """Percentage of training chunks the percentile filter keeps (threshold computed over the training set)."""
    value_column: str = "value"
    advantage_column: str | None = None
    """Use a precomputed advantage column (`curate advantages`) instead of computing it from the values
    with this run's H. It must have been computed with the same H."""
    steps: Annotated[int | None, _from_preset("steps")] = None
    batch_size: Annotated[int | None, _from_preset("batch_size")] = None
    lr: Annotated[float | None, _from_preset("lr")] = None
    weight_decay: float = 1e-10
    """AdamW weight decay (openpi's π0.5 fine-tuning default is 1e-10)."""
    warmup_steps: int = 0
    """Linear warm-up to the peak lr, then constant (the paper gives only the peak lr)."""
    grad_clip_norm: float = 1.0
    size: Literal["default", "small", "tiny"] = "default"
    """Architecture size of a policy trained from scratch: `tiny` is a CPU smoke-test size; `small` (ACT: width
    128, 2 + 1 layers, no VAE; mlp_chunk: 2 x 256) a CPU-trainable state-only size; mlp_chunk's `default` is
    2 x 512."""
    tokenizer: Path | None = None
    """Local PaliGemma tokenizer directory (π0/π0.5); never downloaded."""
    inputs: tuple[str, ...] = ()
    """Dataset features the policy reads (default: all), e.g. `--inputs observation.state
    observation.environment_state` for a state-only policy; camera streams not read are not decoded."""
    rename: tuple[str, ...] = ()
    """Dataset-to-policy feature renames, e.g. observation.images.agentview=observation.images.base_0_rgb."""
    image_resolution: int | None = None
    """π0/π0.5 input resolution (default 224, the checkpoints' size)."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    device: str = "auto"
    mixed_precision: Literal["auto", "no", "bf16"] = "auto"
    """accelerate's autocast: `auto` is bf16 on GPU and off on CPU. Under `accelerate launch` / `torchrun`
    training is data-parallel and --batch-size is per process (global batch = processes x batch size)."""
    num_workers: int = 0
    save_every: int = 1000
    log_every: int = 1
    resume: bool = True
    """Continue from out/checkpoints/last when it exists."""
    seed: int = 0
    debug: bool = False

    def validate(self) -> None:
        """Cheap checks of the arguments, run by the CLI before torch or lerobot are imported (a bad path
        fails in a second, not after the minute those imports take on a busy machine). The Trainer
        checks everything again, and more (columns, features, weights), once it has the data."""
        from policy_ft.tokenizer import tokenizer_problem
        from robodata.dataset import check_dataset_dir

        for root in self.dataset if isinstance(self.dataset, (tuple, list)) else (self.dataset,):
            check_dataset_dir(root)
        c = self.resolved()
        for name in ("chunk_length", "steps", "batch_size", "save_every", "log_every"):
            if getattr(c, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(c, name)}")
        if c.lr <= 0 or c.tau <= 0:
            raise ValueError(f"--lr and --tau must be positive, got {c.lr:g} and {c.tau:g}")
        if not 0 < c.percentile <= 100:
            raise ValueError(f"--percentile must be in (0, 100], got {c.percentile:g}")
        if c.pretrained is not None and not (Path(c.pretrained) / "config.json").is_file():
            raise FileNotFoundError(
                f"--pretrained {c.pretrained} is not a lerobot checkpoint directory: no config.json"
            )
        if c.policy in ("pi05", "pi0") and (problem := tokenizer_problem(c.policy, c.tokenizer)):
            raise ValueError(problem)
        for pair in c.rename:
            if "=" not in pair:
                raise ValueError(f"--rename expects old=new, got {pair!r}")

    def resolved(self) -> TrainConfig:
        """Fill the preset's values into the fields left unset."""
        p = PRESETS.get(self.preset)
        if p is None:
            p = NO_PRESET
        datasets = (self.dataset,) if isinstance(self.dataset, (str, Path)) else tuple(self.dataset)
        return replace(
            self,
            dataset=tuple(Path(d) for d in datasets),
            chunk_length=self.chunk_length if self.chunk_length is not None else p.chunk_length,
            tau=self.tau if self.tau is not None else p.tau,
            steps=self.steps if self.steps is not None else p.steps,
            batch_size=self.batch_size if self.batch_size is not None else p.batch_size,
            lr=self.lr if self.lr is not None else p.lr,
        )


@dataclass(frozen=True)
class ServeConfig:
    """Serve a checkpoint over the openpi websocket policy protocol (openpi-client talks to it)."""

    checkpoint: tyro.conf.Positional[Path]
    """A `pretrained_model` directory written by `policy_ft train` (or any lerobot checkpoint)."""
    host: str = "127.0.0.1"
    """Interface to listen on: loopback only by default; 0.0.0.0 accepts any machine (no authentication)."""
    port: int = 8000
    device: str = "auto"
    tokenizer: Path | None = None
    """Override the tokenizer directory stored in the checkpoint (π0/π0.5)."""
    resize_images: bool = False
    """Resize camera images of another size to the checkpoint's (bilinear); off: such requests are refused."""
    clip_actions: bool = False
    """Clip every action dimension to the training data's [min, max] (stats saved with the checkpoint)."""
    max_message_mb: float | None = None
    """Largest request accepted; default: 1 MiB + twice the policy's declared inputs at float32."""
    request_timeout_s: float = 10.0
    """A request not answered within this (queueing included) gets an error instead of stale actions."""
    max_clients: int = 64
    """Connections served at once; more are closed with code 1013 (try again later)."""
    debug: bool = False
    """Error replies include the server's traceback (the log always has it); bad CLI input raises."""


@dataclass(frozen=True)
class PresetsConfig:
    """Print the paper's presets (Table E.5)."""

    as_json: bool = field(default=False)
