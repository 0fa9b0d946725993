"""World Value Model configuration: architecture presets and the one training config.

Light module (no torch/diffusers import) so `value_labeling --help` stays instant.

Presets
- `wvm-5b`: the paper's model (appendix A). Video stream = Wan2.2-TI2V-5B (30 layers, 3072 wide,
  24x128 heads, FFN 14336, 48 latent channels, patch (1,2,2)); VAE 4x16x16 with 48 channels; value
  stream 512 wide, 8 self/cross-attention heads of 64, FFN 14336, joint attention width 24x128.
  Text = umT5 embeddings (4096-d, 512 tokens) precomputed offline into a text cache.
- `wvm-tiny`: the same code at CPU scale (4 layers, 64-wide video DiT, 16-channel tiny Wan VAE with an
  8x spatial factor, 64x64 frames) with the packaged all-MiniLM-L6-v2 sentence encoder (384-d tokens).

Training (`TrainConfig`, openpi-style: one frozen config, nested by concern) has three modes, one per
command: `value` (`value_labeling train`, eq. 7), `video` (`pretrain-video`, the video stream alone) and
`vae` (`pretrain-vae`). `MODE_DEFAULTS` holds each command's defaults; the sections keep their flags
flat on the command line (`--lr`, not `--optimizer.lr`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Literal

import tyro

ValueHead = Literal["flow", "hlgauss", "scalar"]


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that determines the network's shape and its input sampling (stored in checkpoints)."""

    preset: str
    # --- video DiT: diffusers WanTransformer3DModel kwargs -------------------------------------
    num_layers: int
    num_attention_heads: int
    attention_head_dim: int
    ffn_dim: int
    latent_channels: int  # = VAE z_dim = Wan in/out channels
    text_dim: int
    freq_dim: int = 256
    patch_size: tuple[int, int, int] = (1, 2, 2)
    rope_max_seq_len: int = 1024
    # --- video VAE: diffusers AutoencoderKLWan kwargs ----------------------------------------------
    vae_base_dim: int = 160
    vae_decoder_base_dim: int = 256
    vae_dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    vae_num_res_blocks: int = 2
    vae_temporal_downsample: tuple[bool, ...] = (False, True, True)
    vae_patch_size: int = 2
    vae_scale_factor_spatial: int = 16  # the real factor (diffusers' `spatial_compression_ratio` says 8)
    vae_scale_factor_temporal: int = 4
    #: Per-channel latent normalisation (z - mean) / std. Recorded at train start: the loaded Wan VAE's
    #: own values, or for a random VAE statistics measured on the training clips. None = 0 / 1.
    latents_mean: tuple[float, ...] | None = None
    latents_std: tuple[float, ...] | None = None
    # --- value DiT -----------------------------------------------------------------------------
    value_dim: int = 512
    value_heads: int = 8  # value-side cross-attention heads (self-attention joins the video's heads)
    value_ffn_dim: int = 14336
    value_head: ValueHead = "flow"
    hl_bins: int = 51
    inference_steps: int = 1  # Euler steps of the value flow at inference (paper: 1)
    # --- windows / inputs ----------------------------------------------------------------------
    chunk: int = 4  # h
    image_size: tuple[int, int] = (480, 640)  # (H, W) frames are resized to; multiple of VAE*patch
    target_fps: float = 2.0
    text_encoder: Literal["minilm", "precomputed"] = "precomputed"
    text_len: int = 512

    @property
    def video_width(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    @property
    def clip_frames(self) -> int:
        """1 prefix + h current + h future frames (eq. 4)."""
        return 2 * self.chunk + 1

    def validate(self) -> None:
        if self.chunk != self.vae_scale_factor_temporal:
            raise ValueError(
                f"chunk h={self.chunk} must equal the VAE's temporal factor "
                f"{self.vae_scale_factor_temporal} so that h frames make one latent frame"
            )
        f = self.vae_scale_factor_spatial * self.patch_size[1]
        H, W = self.image_size
        if H % f or W % f:
            raise ValueError(f"image size {H}x{W} must be a multiple of {f} (VAE x patch)")
        if self.value_head not in ("flow", "hlgauss", "scalar"):
            raise ValueError(f"unknown value head {self.value_head!r} (flow, hlgauss, scalar)")
        if self.inference_steps < 1:
            raise ValueError("inference_steps must be >= 1")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        for k in ("patch_size", "vae_dim_mult", "vae_temporal_downsample", "image_size", "latents_mean", "latents_std"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)


PRESETS: dict[str, ModelConfig] = {
    "wvm-5b": ModelConfig(
        preset="wvm-5b",
        num_layers=30,
        num_attention_heads=24,
        attention_head_dim=128,
        ffn_dim=14336,
        latent_channels=48,
        text_dim=4096,
        value_dim=512,
        value_heads=8,
        value_ffn_dim=14336,
        image_size=(480, 640),
        text_encoder="precomputed",
        text_len=512,
    ),
    "wvm-tiny": ModelConfig(
        preset="wvm-tiny",
        num_layers=4,
        num_attention_heads=2,
        attention_head_dim=32,
        ffn_dim=256,
        latent_channels=16,
        text_dim=384,
        freq_dim=64,
        rope_max_seq_len=64,
        vae_base_dim=16,
        vae_decoder_base_dim=16,
        vae_dim_mult=(1, 2, 2),
        vae_num_res_blocks=1,
        vae_temporal_downsample=(True, True),
        vae_patch_size=2,
        vae_scale_factor_spatial=8,
        value_dim=64,
        value_heads=2,
        value_ffn_dim=256,
        image_size=(64, 64),
        text_encoder="minilm",
        text_len=16,
    ),
}

#: Preset-specific warm-up when --warmup-steps is not given (Table A.1's 500 for the paper model; a
#: run of a few thousand CPU steps would spend a third of itself warming up with 500).
DEFAULT_WARMUP = {"wvm-5b": 500, "wvm-tiny": 100}


def get_preset(name: str) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown WVM preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


Mode = Literal["value", "video", "vae"]
#: The command that runs each mode (error messages name it).
COMMAND = {"value": "train", "video": "pretrain-video", "vae": "pretrain-vae"}


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which episodes and frames the run reads."""

    roots: Annotated[tuple[Path, ...], tyro.conf.arg(name="data", aliases=["-d"]), tyro.conf.UseAppendAction]
    """Training dataset directory; repeat for several. Episodes are expert (labels t/(T-1)) unless the
    dataset has meta/suboptimal_annotations.parquet, whose progress curves become the labels."""
    camera: str | None = None
    """Camera key (default: each dataset's first camera). Recorded in the checkpoint: labelling and the
    bench read this camera by default."""
    target_fps: float | None = None
    """Frame rate windows are sampled at (default 2.0; use 3.0 for AgileX/ARX data)."""
    image_size: tuple[int, int] | None = None
    """Override the preset's (H, W)."""
    max_episodes: int | None = None
    """Use only the first N episodes of each dataset."""
    episodes: Literal["all", "annotated", "expert"] = "all"
    """all: every episode (those without a row in meta/suboptimal_annotations.parquet as experts);
    annotated: only the episodes annotated (`value_labeling annotate`); expert: only those annotated expert."""


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Which network is built, and from which weights."""

    preset: Literal["wvm-tiny", "wvm-5b"] = "wvm-tiny"
    video_model: Path | None = None
    """Local diffusers-format Wan2.2 directory (transformer/ and vae/ subfolders) for the video stream
    (train, pretrain-video)."""
    video_init: Literal["pretrained", "scratch"] = "pretrained"
    """`scratch` ignores --video-model weights (ablation; train only). wvm-tiny has no pretrained video
    weights unless --video-model points at a `pretrain-video` output."""
    text_cache: Path | None = None
    """Directory holding text_cache.safetensors/.json (TextCache.save) with precomputed instruction
    embeddings; required for wvm-5b (umT5, computed offline), optional for wvm-tiny."""
    value_head: ValueHead = "flow"
    """train only."""
    inference_steps: int = 1
    """Euler steps stored in the checkpoint for inference (train only)."""


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
    """What the loss asks for (eq. 7) and how training windows are augmented (section 3.3)."""

    video_loss_weight: float = 1.0
    """lambda in eq. 7 (train only)."""
    no_video_loss: bool = False
    """Drop L_video (lambda = 0, ablation); the video DiT still trains through the value gradient."""
    freeze_video: bool = False
    """Freeze the video DiT (ablation): only the value stream trains; the video loss is skipped."""
    prefix_p: float = 0.5
    """Prefix randomization probability p (train only)."""
    rewind_ratio: float = 0.5
    """Probability that a window is reversed (descending progress; train only)."""
    plateau_ratio: float = 0.1
    """Probability that a window is a repeated frame (plateau; train only)."""
    kl_weight: float = 1e-4
    """Weight of the VAE posterior KL (per input element) beside the L1 reconstruction loss (pretrain-vae)."""


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """AdamW, Table A.1."""

    lr: float = 1e-4
    """Peak learning rate."""
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """Linear warm-up, then cosine decay to min_lr_ratio x peak at the last step (runtime.schedule)."""

    steps: int = 3000
    warmup_steps: int | None = None
    """Linear warm-up steps (default: 500 for wvm-5b as in Table A.1, 100 for wvm-tiny)."""
    min_lr_ratio: float = 0.1


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Train a World Value Model (L = L_value + lambda * L_video) on LeRobot v3.0 datasets."""

    out: Path
    """Output directory (created; an existing run there is resumed)."""
    data: Annotated[DataConfig, tyro.conf.OmitArgPrefixes]
    model: Annotated[NetworkConfig, tyro.conf.OmitArgPrefixes] = NetworkConfig()
    objective: Annotated[ObjectiveConfig, tyro.conf.OmitArgPrefixes] = ObjectiveConfig()
    optimizer: Annotated[OptimizerConfig, tyro.conf.OmitArgPrefixes] = OptimizerConfig()
    schedule: Annotated[ScheduleConfig, tyro.conf.OmitArgPrefixes] = ScheduleConfig()
    batch_size: int = 16
    """Per-process batch size of one micro-batch (global batch = this x world size x grad_accum_steps)."""
    grad_accum_steps: int = 1
    """Micro-batches per optimizer step: the global batch without the activations of all of it at once."""
    save_every: int = 500
    log_every: int = 25
    keep_checkpoints: int = 2
    seed: int = 0
    device: str = "auto"
    """auto = cuda when available else cpu."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """auto = bf16 autocast on GPU, fp32 on CPU."""
    parallel: Literal["ddp", "fsdp"] = "ddp"
    """Data parallelism over torchrun processes: ddp replicates the model; fsdp shards weights, gradients
    and AdamW moments per joint layer (FSDP2; wvm-5b needs it on 80 GB cards: the README's memory plan)."""
    activation_checkpointing: bool = False
    """Recompute each joint layer's activations in backward instead of storing them."""
    debug: bool = False
    """Show full tracebacks instead of one-line errors."""
    mode: tyro.conf.Suppress[Mode] = "value"
    """Set by the command: value (train), video (pretrain-video), vae (pretrain-vae)."""

    def model_config(self) -> ModelConfig:
        """The preset with this run's overrides (checked)."""
        over: dict = {"value_head": self.model.value_head, "inference_steps": self.model.inference_steps}
        if self.data.image_size is not None:
            over["image_size"] = tuple(self.data.image_size)
        if self.data.target_fps is not None:
            over["target_fps"] = float(self.data.target_fps)
        mcfg = dataclasses.replace(get_preset(self.model.preset), **over)
        mcfg.validate()
        return mcfg

    def warmup_steps(self) -> int:
        s = self.schedule.warmup_steps
        return DEFAULT_WARMUP[self.model.preset] if s is None else s

    def check(self) -> None:
        """Reject bad values, and options the mode would silently ignore (each command accepts the
        flags of the others, so a misplaced one must not pass unnoticed)."""
        if self.mode not in COMMAND:
            raise ValueError(f"unknown training mode {self.mode!r}; choose one of {', '.join(COMMAND)}")
        if not self.data.roots:
            raise ValueError("no training data: pass --data DATASET_DIR (repeat for several)")
        if self.schedule.steps < 1 or self.batch_size < 1 or self.grad_accum_steps < 1:
            raise ValueError("--steps, --batch-size and --grad-accum-steps must be >= 1")
        default = MODE_DEFAULTS[self.mode]
        for key, modes in _ONLY_IN.items():
            if self.mode in modes:
                continue
            if _get(self, key) != _get(default, key):
                flag = "--" + key.split(".")[-1].replace("_", "-")
                raise ValueError(
                    f"{flag} does not apply to `{COMMAND[self.mode]}` (it is an option of "
                    f"{' / '.join(COMMAND[m] for m in modes)})"
                )


def _get(cfg, key: str):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


#: Options that mean something only in some modes.
_ONLY_IN: dict[str, tuple[str, ...]] = {
    "model.video_model": ("value", "video"),
    "model.text_cache": ("value", "video"),
    "model.video_init": ("value",),
    "model.value_head": ("value",),
    "model.inference_steps": ("value",),
    **{
        f"objective.{k}": ("value",)
        for k in ("video_loss_weight", "no_video_loss", "freeze_video", "prefix_p", "rewind_ratio", "plateau_ratio")
    },
    "objective.kl_weight": ("vae",),
    "save_every": ("value", "video"),
    "keep_checkpoints": ("value", "video"),
    "precision": ("value", "video"),
    "parallel": ("value", "video"),
    "grad_accum_steps": ("value", "video"),
    "activation_checkpointing": ("value", "video"),
}

_M = tyro.MISSING  # required on the command line
#: Each command's defaults. From Python: dataclasses.replace(MODE_DEFAULTS["video"], out=..., data=...).
MODE_DEFAULTS: dict[str, TrainConfig] = {
    "value": TrainConfig(out=_M, data=DataConfig(roots=_M)),
    # Video pretraining samples plain rising windows (no rewinds or plateaus: the future must follow).
    "video": TrainConfig(
        out=_M,
        data=DataConfig(roots=_M),
        mode="video",
        schedule=ScheduleConfig(steps=2000),
        objective=ObjectiveConfig(rewind_ratio=0.0, plateau_ratio=0.0),
    ),
    # The VAE sees the clips as they are: no augmentation; a short warm-up, a higher peak lr.
    "vae": TrainConfig(
        out=_M,
        data=DataConfig(roots=_M),
        mode="vae",
        batch_size=8,
        objective=ObjectiveConfig(prefix_p=0.0, rewind_ratio=0.0, plateau_ratio=0.0),
        optimizer=OptimizerConfig(lr=1e-3),
        schedule=ScheduleConfig(steps=1000, warmup_steps=50),
    ),
}
