"""bench/downstream.py end to end at toy size: data, values (default model, ground truth, time), τ from the
data, all six arms trained and rolled out, results written; a rerun resumes from the cache."""

from __future__ import annotations

import json

from bench import downstream


def test_downstream_pipeline_at_toy_size_and_resume(tmp_path, capsys):
    args = [
        "--work",
        str(tmp_path / "work"),
        "--tasks",
        "lift",
        "--episodes",
        "1",
        "--seeds",
        "0",
        "--trials",
        "1",
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--max-steps",
        "10",
        "--out",
        str(tmp_path / "res" / "downstream"),
    ]
    result = downstream.main(args)
    cells = result["tasks"]["lift"]
    assert set(cells) == set(downstream.ARMS)
    for c in cells.values():
        assert c["trials"] == 1 and c["seeds"] == [0] and 0 <= c["successes"] <= 1
        assert 0 <= c["wilson95"][0] <= c["wilson95"][1] <= 1
    assert result["command"].startswith("python -m bench.downstream --work")
    tau = result["tau"]["lift"]
    assert tau["rule"].startswith("ln(clip)") and tau["tau"] > 0
    # the time reference: Δ = (H-1)/(T-1) for every frame at least H-1 frames from the end
    assert tau["value_time"]["delta_q50"] > 0
    on_disk = json.loads((tmp_path / "res" / "downstream.json").read_text())
    assert on_disk["tasks"]["lift"]["bc"]["trials"] == 1
    assert (tmp_path / "res" / "downstream.md").read_text().count("| lift |") == 4  # success, seeds, tau, values
    assert (tmp_path / "res" / "downstream.png").stat().st_size > 10_000
    # the BC arm trained without reading any value; the AWR arms read their own column
    cfgs = {
        arm: json.loads((tmp_path / "work/train/lift" / arm / "seed0/run_config.json").read_text())
        for arm in ("bc", "awr_gt")
    }
    assert cfgs["bc"]["weighting"] == "none" and cfgs["awr_gt"]["value_column"] == "value_gt"
    assert len(cfgs["bc"]["dataset"]) == 2  # hesitation and retry together
    capsys.readouterr()
    downstream.main(args)  # everything cached: nothing is trained or rolled out again
    out = capsys.readouterr().out
    assert "policy_ft train:" not in out and "95% Wilson" not in out
