"""The paper's reported numbers, transcribed once into value_labeling/bench/paper_results.json.

Every layer that prints them beside ours reads them here: the bench tables (value_labeling.bench.tables)
and the default model's card (value_labeling.models.default_card), which must not import the bench layer.
"""

from __future__ import annotations

import json
from pathlib import Path

PAPER_RESULTS = Path(__file__).parent / "bench" / "paper_results.json"


def paper_results() -> dict:
    return json.loads(PAPER_RESULTS.read_text())


def paper_value(metric: str, embodiment: str, column: str = "WVM") -> float | None:
    paper = paper_results()
    row = paper["embodiment_rows"].get(embodiment, {}).get(metric)
    if row is None:
        return None
    table = paper[metric]
    return table["rows"][row][table["columns"].index(column)]
