"""bench/downstream.py end to end at toy size: data, values (default model, the shipped baselines, ground
truth, time), τ from the data, all seven arms trained and rolled out, results written; a rerun resumes from the
cache; the pilot reuses the experiment's BC run; another budget never reuses a checkpoint."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bench import downstream, downstream_pilot


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
    md = (tmp_path / "res" / "downstream.md").read_text()
    # success, seeds, tau, value quality (default, time, two baselines), CPU seconds per arm
    assert md.count("| lift |") == 3 + 4 + len(downstream.ARMS)
    assert "awr_baseline's values, per task" in md
    assert (tmp_path / "res" / "downstream.png").stat().st_size > 10_000
    # the BC arm trained without reading any value; the AWR arms read their own column
    tag_dir = (
        tmp_path / "work/train" / downstream.run_tag(downstream.DownstreamConfig(episodes=1, steps=2, batch_size=4))
    )
    cfgs = {arm: json.loads((tag_dir / "lift" / arm / "seed0/run_config.json").read_text()) for arm in ("bc", "awr_gt")}
    assert cfgs["bc"]["weighting"] == "none" and cfgs["awr_gt"]["value_column"] == "value_gt"
    assert len(cfgs["bc"]["dataset"]) == 2  # hesitation and retry together
    # awr_baseline reads the column of the baseline the rule chose (lower RMSE against the ground truth)
    base = result["baseline"]["lift"]
    rmse = {m: result["value_quality"]["lift"][c]["rmse_vs_gt"] for m, c in downstream.BASELINES.items()}
    assert base["model"] == min(rmse, key=rmse.get) and base["column"] == downstream.BASELINES[base["model"]]
    awr_base = json.loads((tag_dir / "lift/awr_baseline/seed0/run_config.json").read_text())
    assert awr_base["weighting"] == "awr" and awr_base["value_column"] == base["column"]
    assert result["value_quality"]["lift"][base["column"]]["vs_default"]["rmse"] > 0  # another model's values
    # CPU seconds of every arm-seed are recorded when it runs
    assert cells["awr_baseline"]["per_seed"]["0"]["cpu_s"]["train"] > 0
    capsys.readouterr()
    downstream.main(args)  # everything cached: nothing is trained or rolled out again
    out = capsys.readouterr().out
    assert "policy_ft train:" not in out and "95% Wilson" not in out
    # the shipped baselines change (another fingerprint): their columns are labelled again, and the arm that
    # read them (awr_baseline) trains again, its old run moved aside; every other arm stays cached
    for spec in downstream.BASELINES:
        downstream._FINGERPRINTS[spec] = "another-model"
    try:
        downstream.main(args)
    finally:
        downstream._FINGERPRINTS.clear()
    out = capsys.readouterr().out
    assert out.count("policy_ft train:") == 1 and "awr_baseline seed 0: its values (or τ) changed" in out
    assert [d.name.split(".")[0] for d in (tag_dir / "lift" / "awr_baseline").glob("seed0.retired-*")] == ["seed0"]
    rec = json.loads((tag_dir / "lift/awr_baseline/seed0/values.json").read_text())
    assert rec["column"] == base["column"] and set(rec["provenance"]) == {"lift_hesitation", "lift_retry"}
    # the pilot under the same budget reuses the experiment's BC run and reports its recorded CPU cost
    pilot = downstream_pilot.main(
        ["--work", str(tmp_path / "work"), "--budgets", "small:2:4", "--trials", "1", "--episodes", "1"]
        + ["--max-steps", "10", "--out", str(tmp_path / "res" / "pilot")]
    )
    out = capsys.readouterr().out
    assert "policy_ft train:" not in out and "95% Wilson" not in out
    row = pilot["rows"][0]
    assert (
        row["successes"] == cells["bc"]["successes"]
        and row["cpu_s_train"] == cells["bc"]["per_seed"]["0"]["cpu_s"]["train"]
    )
    assert "| small:2:4 |" in (tmp_path / "res" / "pilot.md").read_text()


def test_another_budget_never_reuses_a_checkpoint_or_rollout(tmp_path):
    """The train/rollout cache is keyed by everything that shapes a checkpoint: a new budget starts fresh."""
    base = downstream.DownstreamConfig(work=tmp_path)
    tags = {downstream.run_tag(base)}
    for change in (
        {"steps": 3000},
        {"batch_size": 64},
        {"size": "tiny"},
        {"lr": 5e-4},
        {"episodes": 20},
        {"chunk_length": 20},
        {"tau": 10.0},
        {"clip": 3.0},
        {"generator": "v2"},
    ):
        tags.add(downstream.run_tag(dataclasses.replace(base, **change)))
    assert len(tags) == 10
    v2 = dataclasses.replace(base, generator="v2")  # other data: its own datasets too, v1's names unchanged
    assert downstream.dataset_dir(v2, "lift", "retry") != downstream.dataset_dir(base, "lift", "retry")
    assert downstream.dataset_dir(base, "lift", "retry") == tmp_path / "data" / "lift_retry"
    # a finished rollout of the old budget is not the new budget's
    old = dataclasses.replace(base, steps=1000)
    new = dataclasses.replace(base, steps=3000)
    for cfg in (old,):
        t, r = downstream.train_dir(cfg, "lift", "bc", 0), downstream.rollout_dir(cfg, "lift", "bc", 0)
        t.mkdir(parents=True)
        r.mkdir(parents=True)
        (t / "train_summary.json").write_text(json.dumps({"steps": 1000, "checkpoint": str(t / "ckpt")}))
        (r / "rollout.json").write_text(
            json.dumps(
                {
                    "trials": 25,
                    "seed": base.rollout_seed,
                    "policy": str(t / "ckpt"),
                    "max_steps": 300,
                    "replan_steps": 5,
                    "per_trial": [],
                }
            )
        )
    assert downstream.cached_rollout(old, "lift", "bc", 0, 300) is not None
    assert downstream.cached_rollout(new, "lift", "bc", 0, 300) is None
    assert downstream.cached_rollout(dataclasses.replace(old, replan_steps=2), "lift", "bc", 0, 300) is None
    assert downstream.cached_rollout(old, "lift", "bc", 0, 400) is None


def test_choose_baseline_takes_the_lower_rmse():
    q = {"value_baseline_frame": {"rmse_vs_gt": 0.09}, "value_baseline_temporal": {"rmse_vs_gt": 0.07}}
    b = downstream.choose_baseline(q)
    assert b["model"] == "baseline-temporal" and b["column"] == "value_baseline_temporal"
    q["value_baseline_frame"]["rmse_vs_gt"] = 0.05
    assert downstream.choose_baseline(q)["model"] == "baseline-frame"


def test_small_act_size_is_act_only():
    from policy_ft.policies import make_config

    cfg = make_config("act", chunk_length=10, size="small")
    assert (cfg.dim_model, cfg.n_encoder_layers, cfg.use_vae, cfg.chunk_size) == (128, 2, False, 10)
    with pytest.raises(ValueError, match="act only"):
        make_config("diffusion", chunk_length=10, size="small")


def test_verdict_difference_interval_matches_newcombe():
    """Newcombe (1998), method 10, example (a): 56/70 vs 48/80 -> 0.2000 [0.0524, 0.3339]."""
    from robosuite_eval.rollout import wilson_interval

    def cell(s, n):
        return {"successes": s, "trials": n, "wilson95": list(wilson_interval(s, n))}

    d, lo, hi = downstream.difference_interval(cell(56, 70), cell(48, 80))
    assert (round(d, 4), round(lo, 4), round(hi, 4)) == (0.2, 0.0524, 0.3339)
    v = downstream.verdict({"bc": cell(10, 50), "awr": cell(16, 50), "awr_gt": cell(15, 50)})
    assert round(v["awr_minus_bc"]["points"], 6) == 12 and v["awr_beats_bc_by_10_points"]
    assert round(v["awr_gt_minus_awr"]["points"], 6) == -2 and not v["awr_gt_bounds_awr"]
    # every arm against BC: 40/50 vs 10/50 is beyond noise, 16/50 vs 10/50 is not
    v = downstream.verdict({"bc": cell(10, 50), "awr": cell(16, 50), "awr_gt": cell(40, 50), "awr_time": cell(0, 50)})
    assert {a: d["beyond_noise"] for a, d in v["vs_bc"].items()} == {
        "awr": "tie",
        "awr_gt": "better",
        "awr_time": "worse",
    }
    line = downstream.verdict_lines(v)[-1]
    assert "awr_gt +60 [" in line and line.endswith("Better than BC beyond noise: awr_gt; worse: awr_time.")


def test_task_max_steps_overrides_the_limit_of_its_task_only(tmp_path):
    cfg = downstream.DownstreamConfig(max_steps=300, task_max_steps=("stack=872",))
    assert downstream.time_limit(cfg, "stack", []) == 872
    assert downstream.time_limit(cfg, "lift", []) == 300
    with pytest.raises(ValueError, match="TASK=STEPS"):
        downstream.time_limit(dataclasses.replace(cfg, task_max_steps=("stack:872",)), "stack", [])


def test_an_awr_checkpoint_trained_at_another_tau_is_not_current(tmp_path):
    """Under the default rule τ comes from the default model's values: when they are relabelled, an AWR arm
    that reads another column (ground truth, the clock) still has to train again, at the new τ."""
    cfg = downstream.DownstreamConfig(work=tmp_path)
    roots = [tmp_path / "data" / "lift_hesitation"]
    for arm in ("awr_gt", "fbc_binary"):
        d = downstream.train_dir(cfg, "lift", arm, 0)
        d.mkdir(parents=True)
        (d / "train_summary.json").write_text(json.dumps({"steps": 600, "checkpoint": "x"}))
        (d / "run_config.json").write_text(json.dumps({"tau": 3.35 if arm == "awr_gt" else None}))
        (d / "values.json").write_text(json.dumps(downstream.values_record(roots, "value_gt")))
    assert downstream.values_current(cfg, "lift", "awr_gt", 0, roots, "value_gt", 3.35)
    assert not downstream.values_current(cfg, "lift", "awr_gt", 0, roots, "value_gt", 4.1)
    # filtered BC reads no τ: a new τ leaves it current
    assert downstream.values_current(cfg, "lift", "fbc_binary", 0, roots, "value_gt", 4.1)


def test_a_report_on_values_of_a_model_that_no_longer_ships_says_so(monkeypatch):
    monkeypatch.setattr(
        downstream, "_FINGERPRINTS", {"default": "new", "baseline-frame": "bf", "baseline-temporal": "bt"}
    )
    vm = {
        t: {
            "value": {"model": "wvm-tiny-default", "fingerprint": "old"},
            "value_baseline_frame": {"model": "baseline-frame", "fingerprint": "bf"},
            "value_gt": {"model": "ground_truth", "fingerprint": None},
        }
        for t in ("lift", "pickplace_can")
    }
    sup = downstream.superseded(vm)
    assert sup == {"value": {"model": "wvm-tiny-default", "labelled": ["old"], "shipped": "new"}}
    (line,) = downstream.superseded_lines(sup)
    assert "`value` by `wvm-tiny-default` (fingerprint old; shipped now: new)" in line
    assert downstream.superseded({t: {**m, "value": {**m["value"], "fingerprint": "new"}} for t, m in vm.items()}) == {}
