"""bench.downstream (v3): the arm names, the paired statistics and the chunk-separation proxy against
hand-computed values, the pilot's pre-registered rule on made-up cells, and the whole chain at toy size on real
RoboSuite data: data -> values -> pilot -> grid -> separation, every stage resuming from its cache."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.downstream import arms, grid, pilot, report, separation


def test_arm_names_map_to_weighting_threshold_and_values():
    assert arms.parse_arm("bc") == ("bc", "none", 0.0, "")
    assert arms.parse_arm("bc_expert") == ("bc", "none", 0.0, "")
    assert arms.parse_arm("awr") == ("awr", "awr", 0.0, "value")
    assert arms.parse_arm("strict_gt") == ("strict", "binary", 1e-6, "value_gt")
    assert arms.parse_arm("fbc_binary_time") == ("fbc_binary", "binary", 0.0, "value_time")
    assert arms.parse_arm("fbc_top70_temporal") == ("fbc_top70", "percentile", 0.0, "value_baseline_temporal")
    assert arms.parse_arm("awr_baseline", "frame")[3] == "value_baseline_frame"
    with pytest.raises(ValueError, match="no baseline chosen"):
        arms.parse_arm("awr_baseline")
    for bad in ("bc_gt", "awr_moon", "nothing"):
        with pytest.raises(ValueError, match="unknown arm"):
            arms.parse_arm(bad)


def test_grid_runs_the_issues_arms_once_each():
    names = grid.grid_arms("strict_gt", "strict_gt")
    assert names[:3] == ["bc", "strict_gt", "strict"]
    assert set(names) == {
        *("bc", "fbc_binary", "fbc_top70", "strict", "awr", "awr_gt", "strict_gt", "awr_time", "awr_baseline"),
        *("strict_frame", "strict_temporal", "strict_time"),
    }
    assert len(names) == len(set(names))
    assert {"awr_frame", "awr_temporal", "fbc_binary_gt"} <= set(grid.grid_arms("fbc_binary_gt", "awr_gt"))


def test_paired_difference_by_hand():
    a = {"lift": {0: np.array([1.0, 1, 0, 0])}, "can": {0: np.array([1.0, 1])}}
    b = {"lift": {0: np.array([0.0, 1, 0, 0])}, "can": {0: np.array([0.0, 1])}}
    d = report.paired_difference(a, b)
    # tasks weigh equally: lift +25 points, can +50 points -> +37.5
    assert d["points"] == pytest.approx(37.5) and d["pairs"] == 6 and d["tasks"] == ["can", "lift"]
    assert d["ci95_points"][0] <= 37.5 <= d["ci95_points"][1]
    same = report.paired_difference(a, a)
    assert same["points"] == 0 and same["ci95_points"] == [0, 0] and same["beyond_noise"] == "tie"
    always = {"lift": {s: np.ones(30) for s in range(3)}}
    never = {"lift": {s: np.zeros(30) for s in range(3)}}
    assert report.paired_difference(always, never)["beyond_noise"] == "better"
    assert report.paired_difference({"lift": a["lift"]}, {"can": b["can"]}) is None


def test_chunk_kinds_and_auroc_by_hand():
    # T 10, [m, n] = [3, 7], H 3: windows [t, t+2]; inside t = 3..5, straddling t = 2 and 6, past the end 8, 9
    assert separation.chunk_kinds(10, 3, 7, 3).tolist() == [0, 0, -1, 1, 1, 1, -1, 0, -1, -1]
    assert separation.chunk_kinds(5, None, None, 3).tolist() == [0, 0, 0, -1, -1]
    # positives 3 and 1, negatives 2 and 0: 3 of the 4 pairs are ordered
    assert separation.auroc(np.array([3.0, 1, 2, 0]), np.array([True, True, False, False])) == 0.75
    assert separation.auroc(np.array([1.0, 1.0]), np.array([True, False])) == 0.5
    assert np.isnan(separation.auroc(np.array([1.0]), np.array([True])))


def _cells(rates: dict) -> dict:
    return {a: {"cell": {"rate": r}} for a, r in rates.items()}


def test_pilot_rule():
    good = {"bc_expert": 0.8, "bc": 0.1, "awr_gt": 0.2, "fbc_binary_gt": 0.25, "fbc_top70_gt": 0.3, "strict_gt": 0.6}
    v = pilot.judge(_cells(good))
    assert v["passes"] and v["best_gt_arm"] == "strict_gt" and v["gain"] == pytest.approx(0.5)
    assert not pilot.judge(_cells({**good, "bc_expert": 0.5}))["passes"]  # the learner cannot learn the task
    assert not pilot.judge(_cells({**good, "strict_gt": 0.95}))["passes"]  # no room above the GT arm
    assert not pilot.judge(_cells({k: v for k, v in good.items() if k != "awr_gt"}))["passes"]  # incomplete
    small_gain = {**good, "strict_gt": 0.35}
    verdicts = {
        "a": {"lift": pilot.judge(_cells(small_gain)), "can": pilot.judge(_cells(small_gain))},
        "b": {"lift": pilot.judge(_cells(good)), "can": pilot.judge(_cells({**good, "bc_expert": 0.1}))},
        "c": {"lift": pilot.judge(_cells(good)), "can": pilot.judge(_cells(good))},
    }
    choice = pilot.choose(verdicts, ("lift", "can"))
    assert choice["setting"] == "c" and choice["passes_on"] == ["lift", "can"]
    # passing on every task outranks a larger gain on fewer
    del verdicts["c"]
    assert pilot.choose(verdicts, ("lift", "can"))["setting"] == "a"


def test_whole_chain_at_toy_size_resumes_from_its_cache(tmp_path, monkeypatch, capsys):
    toy = arms.Setting("toy", size="tiny", steps=4, eval_every=2, batch_size=8)
    monkeypatch.setattr(arms, "SETTINGS", {"toy": toy})
    work, res = tmp_path / "work", tmp_path / "res"
    base = ["--work", str(work), "--tasks", "lift", "--episodes", "1", "--val-episodes", "1"]
    r2 = ["--settings-r2", "toy", "--tasks-r2", "lift"]  # round 2 on the same toy setting: read from the cache
    p = pilot.main([*base, "--settings", "toy", *r2, "--trials", "1", "--out", str(res / "pilot")])
    cells = p["results"]["toy"]["lift"]
    assert "bc_expert" in cells  # the gate ran first; the rest only if the learner learned the task
    assert p["limits"]["lift"]["control_steps"] == int(
        np.ceil(1.5 * p["limits"]["lift"]["expert_frames_q50_q95_max"][1] * 2)
    )
    md = (res / "pilot.md").read_text()
    assert "## Plan (written and committed before any pilot rollout)" in md and "| toy | lift |" in md
    # round 2 beside round 1: its section after round 1's, its own verdict, what it still has to run
    head, tail = md.split(pilot.R2_HEADING)
    assert "| toy | lift |" in head and "| toy | lift |" in tail and "### Verdict (both rounds)" in tail
    assert p["round2"]["tasks"] == ["lift"] and p["round2"]["results"]["toy"]["lift"]["bc_expert"]
    assert ("Not yet run" in p["round2"]["words"]) == bool(p["round2"]["pending"])
    # held-out loss recorded at every checkpoint; the plateau rule rolled out the lowest
    rec = json.loads((work / "train/toy/lift/bc_expert/seed0/arm.json").read_text())
    assert set(rec["heldout_loss"]) == {"2", "4"}
    assert rec["chosen_step"] == int(min(rec["heldout_loss"], key=rec["heldout_loss"].get))

    g_args = [*base, "--pilot", str(res / "pilot.json"), "--setting", "toy", "--seeds", "0", "--trials", "1"]
    g_args += ["--arms", "bc", "strict", "strict_gt", "awr_baseline", "--out", str(res / "downstream")]
    g = grid.main(g_args)
    assert set(g["tasks"]["lift"]) == {"bc", "strict", "strict_gt", "awr_baseline"}
    assert g["setting"]["source"] == "--setting (override)"
    strict = json.loads((work / "train/toy/lift/strict/seed0/arm.json").read_text())
    assert strict["weighting"] == "binary" and strict["kappa"] == 1e-6 and strict["column"] == "value"
    assert set(strict["values"]["provenance"]) == {"lift_hesitation", "lift_retry"}
    assert strict["values"]["provenance"]["lift_hesitation"]["model"]  # labelled by the default model
    base_rec = json.loads((work / "train/toy/lift/awr_baseline/seed0/arm.json").read_text())
    assert (
        base_rec["column"]
        == {"frame": "value_baseline_frame", "temporal": "value_baseline_temporal"}[g["baseline"]["lift"]["source"]]
    )
    on_disk = json.loads((res / "downstream.json").read_text())
    assert on_disk["tasks"]["lift"]["bc"]["trials"] == 1 and "strict" in on_disk["vs_bc"]
    assert (res / "downstream.png").stat().st_size > 10_000
    assert "| lift |" in (res / "downstream.md").read_text()
    capsys.readouterr()
    grid.main(g_args)  # everything cached: nothing is trained or rolled out again
    out = capsys.readouterr().out
    assert "policy_ft train:" not in out and "Wilson" not in out

    s = separation.main(["--work", str(work), "--tasks", "lift", "--out", str(res / "sep")])
    gt = s["tasks"]["lift"]["gt"]
    # ground truth: Δ is exactly 0 inside a stall and negative in a retraction, positive in progress
    assert gt["hesitation"]["kept_inside"]["strict"] == 0.0 and gt["hesitation"]["kept_inside"]["fbc_binary"] == 1.0
    assert gt["retry"]["kept_inside"]["fbc_binary"] == 0.0
    assert gt["hesitation"]["auroc"] == 1.0
    assert set(s["tasks"]["lift"]) == set(separation.SOURCES)


def test_agilex_low_rate_labels_interpolated_by_hand():
    """Pilot v2's camera copies at 5 fps: values of frames 0, 5, 10 of a 25 fps episode, linearly interpolated
    onto its frames, the frames past the copy's last held."""
    from bench.downstream import agilex

    out = agilex.resample_values(np.array([0.0, 0.5, 1.0]), 5, 13)
    want = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 1.0]
    np.testing.assert_allclose(out, want, atol=1e-6)
    np.testing.assert_allclose(agilex.resample_values(np.array([0.2, 0.6]), 2, 3), [0.2, 0.4, 0.6], atol=1e-6)


def test_agilex_chain_at_toy_size(tmp_path, monkeypatch):
    """AgileX (sim): state-only toy data at 10 fps, the agilex suite's H 50 / τ 2, the pilot with its gate
    opened (so that a 4-step learner passes), then the grid on GT arms; results, paired differences, report."""
    from bench.downstream import agilex

    toy = arms.Setting("toy", size="tiny", steps=4, eval_every=2, batch_size=8)
    monkeypatch.setattr(agilex, "SETTINGS", {"toy": toy})
    monkeypatch.setattr(pilot, "EXPERT_GATE", 0.0)
    monkeypatch.setattr(pilot, "GT_RANGE", (0.0, 1.0))
    monkeypatch.setattr(pilot, "GT_ARMS", ("awr_gt", "strict_gt"))  # two of the four: time
    monkeypatch.setattr(pilot, "PILOT_ARMS", ("bc_expert", "bc", "awr_gt", "strict_gt"))
    work, out = tmp_path / "work", tmp_path / "res" / "agx"
    base = ["--work", str(work), "--episodes", "1", "--val-episodes", "1", "--workers", "0", "--max-steps", "40"]
    base += ["--settings", "toy", "--pilot-trials", "1", "--seeds", "1", "--trials", "2", "--out", str(out)]
    p = agilex.main(["--stage", "pilot", *base])
    assert p["pilot"]["choice"]["setting"] == "toy" and set(p["pilot"]["results"]["toy"][agilex.TASK]) == set(
        pilot.PILOT_ARMS
    )
    rec = json.loads((work / f"train/toy/{agilex.TASK}/strict_gt/seed0/arm.json").read_text())
    assert rec["chosen_step"] in (2, 4) and rec["kappa"] == 1e-6 and rec["column"] == "value_gt"
    ck = json.loads(
        (work / f"train/toy/{agilex.TASK}/strict_gt/seed0/checkpoints/000004/pretrained_model/config.json").read_text()
    )
    assert ck["chunk_size"] == 50  # the agilex preset's H
    roll = json.loads((work / f"rollout/toy/{agilex.TASK}/bc/seed0/rollout.json").read_text())
    assert roll["fps"] == 10 and roll["replan_steps"] == 5 and roll["max_steps"] == 40
    assert p["limit"]["control_steps"] == 40 and p["limit"]["expert_frames_q50_q95_max"][1] > 100  # 10 fps frames

    g = agilex.main(["--stage", "grid", "--arms", "bc", "awr_gt", "awr", *base])
    cells = g["tasks"][agilex.TASK]
    assert set(cells) == {"bc", "awr_gt"} and cells["bc"]["trials"] == 2  # awr needs the models' values
    assert g["not_run"] == ["awr"] and not g["learned_values"]
    assert g["vs_bc"]["awr_gt"]["pairs"] == 2
    md = (out.with_suffix(".md")).read_text()
    assert "## Plan (written and committed before any rollout)" in md and "| awr_gt |" in md and "## Verdict" in md
    assert json.loads(out.with_suffix(".json").read_text())["tasks"][agilex.TASK]["awr_gt"]["trials"] == 2
    roots = {n: agilex.data.dataset_dir(work, agilex.TASK, n) for n in agilex.SUITE.sets}
    agilex.same_episodes(roots["hesitation"], roots["hesitation"])
    with pytest.raises(ValueError, match="differ"):
        agilex.same_episodes(roots["hesitation"], roots["retry"])

    # the learned models' columns: labelled on a camera copy of the same episodes, copied onto the training set
    # (stand-ins for rendering and the models, which this test has not got)
    import shutil

    from robodata.columns import commit_columns, read_provenance

    def fake_generate(work_, task, name, episodes, workers, suite):
        dst = agilex.data.dataset_dir(work_, task, name)
        if not dst.exists():
            shutil.copytree(agilex.data.dataset_dir(work_, task, name.removesuffix(agilex.CAM_SUFFIX)), dst)
        return dst

    def fake_label(root, learned=True, labelled_by=()):
        n = json.loads((root / "meta" / "info.json").read_text())["total_frames"]
        cols = {c: np.linspace(0, 1, n, dtype=np.float32) for _, c in labelled_by}
        commit_columns(root, cols, {c: {"model": spec, "fingerprint": "fp"} for spec, c in labelled_by})

    monkeypatch.setattr(agilex.data, "generate", fake_generate)
    monkeypatch.setattr(agilex.data, "label", fake_label)
    monkeypatch.setattr(agilex.data, "model_fingerprint", lambda spec: "fp")
    cfg = agilex.AgilexConfig(work=work, episodes=1)
    done = agilex.label_learned(cfg, roots, ("hesitation",))
    assert done == {"hesitation": f"labelled on {agilex.TASK}_hesitation_cam"}
    prov = read_provenance(roots["hesitation"])
    assert prov["value"]["fingerprint"] == "fp" and prov["value_baseline_frame"]["labelled_on"].endswith("_cam")
    assert agilex.label_learned(cfg, roots, ("hesitation",)) == {"hesitation": "already labelled"}

    # pilot v2's ACT learner on state only (observation.state + environment_state, no image): trains, is
    # selected by held-out loss and rolls out at the v2 suite's 25 fps with 10 actions per chunk
    act = arms.Setting("toy_act", size="tiny", steps=2, eval_every=2, batch_size=8, policy="act")
    rec = arms.train(work, act, agilex.TASK, "bc", 0, roots, suite=agilex.SUITE_V2)
    ck = json.loads((Path(rec["checkpoint"]) / "config.json").read_text())
    assert ck["type"] == "act" and ck["chunk_size"] == 50
    assert not [k for k in ck["input_features"] if "image" in k] and rec["chosen_step"] == 2
    res = arms.rollout(work, act, agilex.TASK, "bc", 0, rec, 1, 40, suite=agilex.SUITE_V2)
    assert res["trials"] == 1 and res["fps"] == 25 and res["replan_steps"] == 10


def test_agilex_pilot_v2_and_branch_diagnostic_at_toy_size(tmp_path, monkeypatch):
    """v1 fails its gate -> round v2 runs on its own 25 fps data and work dir -> the branch diagnostic trains
    on a copy of the v2 experts with a per-episode mode column; the report shows both rounds and the test."""
    from bench.downstream import agilex

    toy = arms.Setting("toy", size="tiny", steps=2, eval_every=2, batch_size=8)
    toy2 = arms.Setting("toy2", size="tiny", steps=2, eval_every=2, batch_size=8)
    monkeypatch.setattr(agilex, "SETTINGS", {"toy": toy})
    monkeypatch.setattr(agilex, "SETTINGS_V2", {"toy2": toy2})
    monkeypatch.setattr(agilex, "EPISODES_V2", {"toy2": 1})
    monkeypatch.setattr(agilex, "DIAG_SETTING", "toy2")
    monkeypatch.setattr(agilex, "SETTINGS_V3", {"toy3": replace(toy2, name="toy3")})
    monkeypatch.setattr(agilex, "EPISODES_V3", {"toy3": 1})
    work, out = tmp_path / "work", tmp_path / "res" / "agx"
    base = ["--work", str(work), "--episodes", "1", "--val-episodes", "1", "--workers", "0", "--max-steps", "20"]
    base += ["--settings", "toy", "--settings-v2", "toy2", "--settings-v3", "toy3", "--pilot-trials", "1"]
    base += ["--out", str(out)]
    r = agilex.main(["--stage", "pilot", *base])
    assert r["pilot"]["complete"] and not r["pilot"]["choice"]["passes_on"]  # a 2-step learner fails the gate
    assert r["pilot_v2"]["complete"] and set(r["pilot_v2"]["results"]["toy2"][agilex.TASK]) == {"bc_expert"}
    roll = json.loads((work / f"v2/ep1/rollout/toy2/{agilex.TASK}/bc_expert/seed0/rollout.json").read_text())
    assert roll["fps"] == 25 and roll["replan_steps"] == 10
    assert not (work / "v2/ep1/data" / f"{agilex.TASK}_hesitation").exists()  # bc_expert needs no suboptimal set
    assert r["branch_diagnostic"] == {}
    d = agilex.main(["--stage", "diagnose", *base])["branch_diagnostic"]
    assert d["cell"]["trials"] == 1 and d["filter"]["of"] == 2 and len(d["filter"]["kept_episodes"]) >= 1
    md = out.with_suffix(".md").read_text()
    assert "## Pilot v2 (registered after v1 failed the gate, before any v2 rollout)" in md
    assert "## Branch diagnostic" in md and "Branch diagnostic: " in md
    assert "Pilot v3 has not run yet." in md
    # round v3 (the fixed expert's data) runs after the diagnostic, in its own work dir
    r3 = agilex.main(["--stage", "pilot", *base])
    assert r3["pilot_v3"]["complete"] and set(r3["pilot_v3"]["results"]["toy3"][agilex.TASK]) == {"bc_expert"}
    assert (work / f"v3/ep1/rollout/toy3/{agilex.TASK}/bc_expert/seed0/rollout.json").is_file()
    assert r3["replay_check_v3"]["expert_modes"]["episodes"] == 2
    md = out.with_suffix(".md").read_text()
    assert "## Pilot v3 (registered after v1 and v2 failed the gate, before any v3 rollout)" in md
    assert "Pilot v3 (the fixed expert of " in r3["verdict_words"]
