"""Configs of the `curate` subcommands (light module: `curate --help` imports no torch or ray)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Literal

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


@dataclasses.dataclass(frozen=True)
class StallCutConfig:
    """Which frames `--cut stalls` removes: a stall of the value curve where the robot's state agrees."""

    min_seconds: float = 0.5
    """Shortest value stall (value moves less than --stall.tolerance over it). RoboSuite's hesitations
    last 0.5-1.5 s."""
    tolerance: float = 0.02
    """Most the smoothed value may move over a stall."""
    smooth_seconds: float = 0.3
    """Moving-average window on the value curve before segmenting (short: the cut needs sharp edges)."""
    still_fraction: float = 0.75
    """A frame is still when no state dimension changes until the next frame by more than this fraction
    of its typical per-frame change (the dimension's 90th percentile over the dataset)."""
    state_key: str = "observation.state"
    """The robot-state feature that must agree that the robot barely moves."""


@dataclasses.dataclass(frozen=True)
class FilterConfig:
    """Write a cleaned copy of a LeRobot v3.0 dataset: drop low-value episodes, cut stalled frames."""

    dataset: Positional[Path]
    """The source dataset (LeRobot v3.0 with a value column); it is only read."""
    out: Path
    """The new dataset's directory (must not exist unless --overwrite). The report goes beside it, in
    OUT_filter_report/."""
    value_column: str = "value"
    score: Literal["final-value", "falling-share", "stall-seconds"] = "final-value"
    """Episode score: the value at the last frame (higher is better); the share of frames whose chunk
    advantage Delta (eq. E.4, --chunk-length) is < 0 (lower is better); the seconds of stalls that
    --cut stalls would remove (lower is better)."""
    drop_below: float | None = None
    """Drop episodes whose score is below this."""
    drop_above: float | None = None
    """Drop episodes whose score is above this (for the lower-is-better scores)."""
    drop_worst: float | None = None
    """Drop the worst PCT percent of episodes by --score (rounded down; ties go by episode index)."""
    cut: Literal["none", "stalls"] = "none"
    """'stalls': remove the frames of stalls that the value curve and the robot's state agree on (no
    progress, the state barely moves); the rest of the episode stays continuous. Retry segments (falls of
    the value curve) are never cut: the robot retreats and comes back, so removing the retreat leaves a
    jump in the scene between the kept frames (the object was pushed, the arm teleports). Drop such
    episodes (--score falling-share) or down-weight their frames with `policy_ft train --weighting`."""
    stall: StallCutConfig = StallCutConfig()
    chunk_length: int = 10
    """H of the chunk advantage used by --score falling-share."""
    dry_run: bool = False
    """Print what would be dropped and cut; write nothing."""
    overwrite: bool = False
    """Replace an existing --out dataset (and its report), atomically."""
    report_episodes: int = 4
    """Episodes drawn in the before/after value-curve figure (those with the most cut first)."""
    debug: bool = False
