"""Benchmark modules: `python -m bench.NAME --help`. Each writes its results under bench/results/."""

from __future__ import annotations

import json
import math
from pathlib import Path

from robodata import atomic


def strict(obj):
    """NaN and infinities become null, so the file is JSON that strict parsers accept."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def write_results_json(path: str | Path, obj, indent: int = 2) -> None:
    """A results file, written atomically; undefined numbers (e.g. precision with no prediction) are null."""
    atomic.write_text(path, json.dumps(strict(obj), indent=indent, allow_nan=False) + "\n")
