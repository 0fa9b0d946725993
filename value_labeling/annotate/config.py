"""Configuration of `value_labeling annotate` (light module: `--help` imports no web stack or torch)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import tyro


@dataclasses.dataclass(frozen=True)
class AnnotateConfig:
    """Build a Suboptimal-Value-Bench annotation table for your own LeRobot recordings in the browser
    (paper appendix B: proposed non-progress segments, then human correction at frame resolution).
    Writes meta/suboptimal_annotations.parquet after each saved episode; rerun to resume."""

    dataset: tyro.conf.Positional[Path]
    """The dataset directory (LeRobot v3.0)."""
    camera: str | None = None
    """Camera shown in the page (full key or its last part; default: the dataset's first camera). The
    page can switch to any of the dataset's cameras."""
    host: str = "127.0.0.1"
    """Interface to bind. The default is loopback only: no other machine can reach the page, which has
    no authentication. Use 0.0.0.0 only on a network you trust."""
    port: int = 8080
    """TCP port (0: any free port)."""
    propose: Literal["values", "vlm", "none"] = "values"
    """Stage 1: 'values': stalls and falls of the value curve (`curate flag`'s rule) from the
    --value-column if the dataset has it, else from --model; 'vlm': the paper's appendix-B prompt sent
    to an OpenAI-compatible endpoint (--vlm-url); 'none': no proposals."""
    value_column: str = "value"
    """Per-frame value column used by --propose values (written by `curate label-values`)."""
    model: str | None = None
    """Value model used when the dataset has no --value-column: a registered name or a checkpoint
    (default: the embedded default model). It reads its training camera when the dataset has it."""
    # The defaults of `curate flag` (FlagConfig; a test keeps them equal): written out because this
    # layer may not import curate's config.
    stall_seconds: float = 1.0
    """Minimum duration of a stall (as `curate flag --stall-seconds`)."""
    stall_tolerance: float = 0.02
    """Largest change of the smoothed value within a stall."""
    fall_min_drop: float = 0.05
    """Minimum total drop of a fall."""
    smooth_seconds: float = 0.5
    """Moving-average window applied to the values before segmenting."""
    vlm_url: str | None = None
    """OpenAI-compatible endpoint: a base URL (…/v1) or the full …/chat/completions URL."""
    vlm_model: str | None = None
    """Model name the endpoint serves (required with --propose vlm)."""
    vlm_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (sent as a Bearer token; none sent when unset)."""
    vlm_timeout: float = 180.0
    """Seconds to wait for one VLM answer."""
    vlm_max_side: int = 512
    """Frames sent to the VLM are downscaled so their longer side is at most this many pixels."""
    eval_fps: float | None = None
    """Rate at which frames are sampled for the VLM (default: the bench's evaluation rate for the
    embodiment: 2 fps, 3 fps for AgileX/ARX)."""
    embodiment: str | None = None
    """Embodiment written into new rows (default: the dataset's robot_type, else its directory name,
    as `value_labeling bench` assumes for unannotated data)."""
    debug: bool = False
    """Show full tracebacks."""
