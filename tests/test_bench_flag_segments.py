"""bench/flag_segments.py: per-mode segment counts with Wilson intervals, and the README paragraph it writes."""

import json
from pathlib import Path

import pytest

from bench.flag_segments import RESULTS, counted, readme_text
from robosuite_eval.rollout import wilson_interval

ROOT = Path(__file__).resolve().parents[1]


def test_counted_splits_modes_and_counts_matches_by_hand():
    annotations = [
        {"episode_index": 0, "mode": "hesitation", "m": 10, "n": 20, "T": 50},
        {"episode_index": 1, "mode": "hesitation", "m": 5, "n": 15, "T": 50},
        {"episode_index": 2, "mode": "retry", "m": 20, "n": 30, "T": 50},
        {"episode_index": 3, "mode": "expert", "m": 0, "n": 0, "T": 50},
    ]
    rows = [
        {"episode_index": 0, "start": 11, "end": 19, "kind": "stall"},  # matches hesitation 0
        {"episode_index": 3, "start": 0, "end": 10, "kind": "stall"},  # false alarm on an expert
        {"episode_index": 2, "start": 22, "end": 31, "kind": "fall"},  # matches the retry
        {"episode_index": 1, "start": 30, "end": 40, "kind": "fall"},  # a fall on a hesitation episode
        {"episode_index": 1, "start": 30, "end": 40, "kind": "stall"},  # wrong place: IoU 0
    ]
    out = counted(rows, annotations)
    h, r, e = out["hesitation"], out["retry"], out["expert"]
    assert (h["matched_predicted"], h["predicted"], h["matched_annotated"], h["annotated"]) == (1, 3, 1, 2)
    assert h["precision"] == pytest.approx(1 / 3) and h["recall"] == pytest.approx(0.5)
    assert h["precision_ci95"] == pytest.approx(list(wilson_interval(1, 3)))
    assert h["recall_ci95"] == pytest.approx(list(wilson_interval(1, 2)))
    assert (r["matched_predicted"], r["predicted"], r["matched_annotated"], r["annotated"]) == (1, 2, 1, 1)
    assert r["recall_ci95"] == pytest.approx([wilson_interval(1, 1)[0], 1.0])
    assert (e["flags"], e["episodes_flagged"], e["episodes"]) == (1, 1, 1)
    # No flag of a kind: precision undefined, no interval (not a fake [0, 1]).
    none = counted([], annotations)["retry"]
    assert none["predicted"] == 0 and none["precision_ci95"] is None and none["recall"] == 0.0


def test_readme_paragraph_is_the_one_the_committed_result_writes():
    result = json.loads((RESULTS / "flag_segments.json").read_text())
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- flag_segments rows: begin -->\n", 1)[1].split("\n<!-- flag_segments rows: end -->")[0]
    assert block == readme_text(result).strip()
    assert "robosuite" in result, (
        "flag_segments.json must score a real RoboSuite bench (--work), not only the unit case"
    )
