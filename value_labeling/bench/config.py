"""Configuration of `value_labeling bench` (kept free of heavy imports so `--help` is instant)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import tyro

from robodata.embodiment import EMBODIMENT_FPS


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """Score value models on Suboptimal-Value-Bench datasets (LeRobot v3.0 + annotation table)."""

    data: Annotated[tuple[Path, ...], tyro.conf.arg(aliases=["-d"]), tyro.conf.UseAppendAction]
    """Bench dataset directory; repeat the flag for several (--data A --data B)."""
    model: Annotated[tuple[str, ...], tyro.conf.UseAppendAction] = ()
    """Value model: a registered name (`value_labeling models` lists them), a checkpoint path, or
    precomputed values `progress:FILE.parquet[#COLUMN]` (LeRobot's RA-BC progress layout or a
    `curate label-values --out` sidecar; `progress:DIR` for several datasets, one <name>.parquet each);
    repeat for one column per model. Default: the embedded default model if one ships, else `time`."""
    out: Path = Path("bench_results.json")
    """Where to write the JSON results (a markdown copy of the tables goes beside it, .md)."""
    plots: Path | None = None
    """If set, save one Figure-4-style PNG per trajectory into this directory."""
    camera: str | None = None
    """Camera key to score on (default: each model's training camera if the dataset has it, else the
    dataset's first camera)."""
    eval_fps: float = 2.0
    """Evaluation frame rate for embodiments without an entry in --embodiment-fps."""
    embodiment_fps: dict[str, float] = dataclasses.field(default_factory=lambda: dict(EMBODIMENT_FPS))
    """Per-embodiment evaluation frame rates."""
    reference: str | None = None
    """Model the paired differences are taken against (its name as the tables print it; default: the first
    --model when there are several)."""
    max_episodes: int | None = None
    """Score only the first N episodes of each dataset (quick looks)."""
    debug: bool = False
    """Show full tracebacks instead of one-line errors."""

    def validate(self) -> None:
        """Cheap checks run by the CLI before torch and the value models load."""
        from robodata.dataset import check_dataset_dir

        for root in self.data:
            check_dataset_dir(root)


@dataclasses.dataclass(frozen=True)
class ModelsConfig:
    """List the registered value models."""
