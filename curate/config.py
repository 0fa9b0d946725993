"""Configs of the `curate` subcommands (light module: `curate --help` imports no torch or ray)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import tyro

Positional = tyro.conf.Positional


@dataclasses.dataclass(frozen=True)
class LabelConfig:
    """Label every frame of a LeRobot v3.0 dataset with a value model (progress in [0, 1])."""

    dataset: Positional[Path]
    """The dataset directory (LeRobot v3.0)."""
    model: str | None = None
    """A registered value model or a checkpoint path; default: the embedded default model."""
    camera: str | None = None
    """Camera key to feed the model (default: the camera the model was trained on if the dataset has it,
    else the dataset's first camera)."""
    column: str = "value"
    """Name of the per-frame column to write."""
    address: str = "auto"
    """'auto': join the cluster named by RAY_ADDRESS when it is set (as inside `ray job submit`), else
    start an embedded local Ray and stop it after (unlike Ray's own 'auto', a cluster started with
    `ray start` on this machine is not joined: name it, e.g. 127.0.0.1:6379); 'ray://HOST:PORT' or
    'HOST:PORT': a running cluster; 'local': no Ray at all (in-process, one episode after another)."""
    workers: int = 2
    """Model replicas (Ray actors), each holding the model once; 0 = no Ray (same as --address local)."""
    cpus_per_worker: float = 0.5
    """CPUs each actor reserves; fractional so Ray's own tasks never starve on a 2-CPU machine."""
    gpus_per_worker: float | None = None
    """GPUs each actor reserves. Default: when the cluster has GPUs, an equal share of them per actor
    (at most 1); none otherwise. 0 forces CPU actors."""
    retries: int = 1
    """How often a failed episode is retried before it is reported as failed."""
    overwrite: bool = False
    """Replace an existing column that another model wrote."""
    out: Path | None = None
    """Write a sidecar Parquet table (index, episode_index, frame_index, value) here instead of
    modifying the dataset (for read-only datasets)."""
    debug: bool = False
    """Show full tracebacks."""

    def validate(self) -> None:
        """Cheap checks run by the CLI before the model (torch) and Ray load."""
        from robodata.dataset import check_dataset_dir

        check_dataset_dir(self.dataset)
        if self.retries < 0 or self.workers < 0 or self.cpus_per_worker <= 0:
            raise ValueError("--retries and --workers must be >= 0 and --cpus-per-worker > 0")


@dataclasses.dataclass(frozen=True)
class AdvantagesConfig:
    """Write the chunk advantage Delta_t = V(min(t+H-1, T-1)) - V(t) (eq. E.4) as a column."""

    dataset: Positional[Path]
    chunk_length: Annotated[int, tyro.conf.arg(aliases=["-H"])]
    """Action-chunk length H of the policy (RoboSuite 10, AgileX 50 in the paper)."""
    value_column: str = "value"
    column: str = "advantage"
    """Output column (its chunk length H is recorded in meta/value_labels.json)."""
    overwrite: bool = True
    """Advantages are cheap and derived: recomputing replaces the column unless --no-overwrite."""
    debug: bool = False


@dataclasses.dataclass(frozen=True)
class FlagConfig:
    """Find segments where progress stalls or falls (hesitation and retry candidates)."""

    dataset: Positional[Path]
    value_column: str = "value"
    stall_seconds: float = 1.0
    """Minimum duration of a stall (value moves less than --stall-tolerance over it). 1 s suits models
    run at 2 fps; with values at the native rate 0.5 s also finds RoboSuite's 0.6-1.4 s hesitations
    (bench/results/flag_segments.md)."""
    stall_tolerance: float = 0.02
    fall_min_drop: float = 0.05
    """Minimum total drop of a fall segment."""
    smooth_seconds: float = 0.5
    """Moving-average window applied to the value curve before segmenting."""
    out: Path | None = None
    """Write the segment table here (.csv or .parquet); default: print only."""
    plots: Path | None = None
    """Save one PNG per episode with flagged segments shaded."""
    debug: bool = False


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    """PNG report: value curves with flagged segments, the Delta histogram, what each filter keeps."""

    dataset: Positional[Path]
    out: Path = Path("curate_report")
    value_column: str = "value"
    chunk_length: int = 10
    tau: float = 10.0
    clip: float = 2.0
    keep: float = 0.7
    max_episodes: int = 12
    """Value-curve panels to draw (the first N episodes)."""
    debug: bool = False
