"""bench/agilex_sim_bench.py end to end on a tiny configuration: train on the experts, install the models,
score time, both baselines, the WVM and the RoboSuite default at 3 fps, write the report; a rerun redoes
nothing. The simulator is the one stage swapped out (a gym-aloha episode costs 10-30 CPU-s; `generate` on
AgileX (sim) is tested in tests/test_agilex_sim.py): the fake writes lerobot datasets with the real ones'
camera key, embodiment and annotation table (testing/synthetic_bench.py), so everything after it is real."""

from __future__ import annotations

import json

import pytest

from robodata.annotations import read_annotations, write_annotations
from testing.synthetic_bench import make_synthetic_bench


def fake_generate(calls):
    def generate(out, task, mode, episodes, seed, workers):
        calls.append((task, mode, episodes, seed))
        counts = {"expert": (episodes, 0, 0), "hesitation": (0, episodes, 0), "retry": (0, 0, episodes)}[mode]
        make_synthetic_bench(
            out, *counts, size=64, seed=seed, embodiment="AgileX (sim)", camera="observation.images.cam_high"
        )
        write_annotations(out, [{**r, "task": task} for r in read_annotations(out)])
        return out

    return generate


@pytest.fixture()
def counted(monkeypatch):
    """Fake generation, and every `value_labeling` command (train, pretrain, bench) counted."""
    import bench.agilex_sim_bench as mod
    import value_labeling.cli

    gen_calls: list = []
    vl_calls: list = []
    real = value_labeling.cli.main

    def vl(argv):
        vl_calls.append(argv[0])
        return real(argv)

    monkeypatch.setattr(mod, "generate", fake_generate(gen_calls))
    monkeypatch.setattr(value_labeling.cli, "main", vl)
    return gen_calls, vl_calls


def test_agilex_bench_chain_and_resume(tmp_path, counted, capsys):
    from bench.agilex_sim_bench import DEFAULT, FRAME, TEMPORAL, TIME, WVM, main

    gen_calls, vl_calls = counted
    work, results = tmp_path / "work", tmp_path / "results"
    argv = ["--work", str(work), "--results", str(results), "--task", "agilex_transfer_cube"]
    argv += ["--train-episodes", "2", "--hesitation", "1", "--retry", "1", "--expert", "1"]
    argv += ["--pretrain-steps", "0", "--steps", "2", "--baseline-steps", "2", "--batch-size", "2"]
    main(argv)

    assert len(gen_calls) == 4  # train experts + 3 bench modes
    assert set(vl_calls) == {"train", "train-baseline", "bench"}  # --pretrain-steps 0: no world-model stage
    # The models are installed where the downstream labeller reads them, and listed.
    listing = json.loads((work / "models" / "models.json").read_text())["models"]
    assert set(listing) == {"wvm", "baseline_frame", "baseline_temporal"}
    assert all(e["camera"] == "cam_high" and e["fps"] == 3.0 for e in listing.values())

    saved = json.loads((results / "agilex_sim_bench.json").read_text())
    assert list(saved["headline"]) == [WVM, FRAME, TEMPORAL, TIME, DEFAULT]
    for m in saved["headline"].values():
        for metric in ("hesitation_rmse", "retry_voc", "expert_voc"):
            c = m[metric]
            assert c["n_scored"] + c["n_dropped"] == 1 and len(c["ci95"]) == 2
    assert set(saved["wvm_minus"]) == {FRAME, TEMPORAL, TIME, DEFAULT}
    assert {r["embodiment"] for r in saved["trajectories"]} == {"AgileX (sim)"}
    # The RoboSuite default reads a camera it never saw: its out-of-domain line is recorded; ours are quiet.
    assert saved["domain_warnings"][DEFAULT] and "unlike the data" in saved["domain_warnings"][DEFAULT][0]
    assert not saved["domain_warnings"][WVM] and not saved["domain_warnings"][FRAME]
    assert "out-of-domain warning fired" in (results / "agilex_sim_bench.md").read_text()
    assert saved["stages"]["train_wvm"]["cpu_s"] > 0 and saved["command"].startswith("python -m bench.agilex")

    # Same command again: every stage is read from the cache (no generation, training or scoring).
    gen_calls.clear()
    vl_calls.clear()
    again = main(argv)
    assert gen_calls == [] and vl_calls == []
    assert all(v["cached"] for k, v in again["stages"].items() if k != "score")
    assert json.loads((results / "agilex_sim_bench.json").read_text())["headline"] == saved["headline"]
