"""Learned baselines: train a few steps on a tiny dataset, resume, load by path, score through the bench;
the bench's headline intervals and paired differences against hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from value_labeling.cli import main


def _train(data, out, kind, steps):
    main(
        [
            "train-baseline",
            "--data",
            str(data),
            "--out",
            str(out),
            "--kind",
            kind,
            "--steps",
            str(steps),
            "--batch-size",
            "8",
            "--width",
            "8",
            "--save-every",
            "2",
            "--log-every",
            "1",
        ]
    )


def _weights(run):
    from safetensors.torch import load_file

    return load_file(str(run / json.loads((run / "baseline.json").read_text())["path"] / "model.safetensors"))


def test_train_baseline_resumes_and_scores_through_bench(synthetic_bench, tmp_path):
    run, fresh = tmp_path / "run", tmp_path / "fresh"
    _train(synthetic_bench, run, "frame-regressor", 3)
    assert json.loads((run / "baseline.json").read_text())["step"] == 3
    _train(synthetic_bench, run, "frame-regressor", 4)  # resumes from step 3
    _train(synthetic_bench, fresh, "frame-regressor", 4)
    a, b = _weights(run), _weights(fresh)
    assert a.keys() == b.keys() and all(np.allclose(a[k], b[k], atol=1e-5) for k in a)  # same run either way
    with pytest.raises(SystemExit):  # another kind into the same run: refused with one line, exit 2
        _train(synthetic_bench, run, "temporal", 4)
    base = ["train-baseline", "--data", str(synthetic_bench), "--out", str(run), "--steps", "5"]
    base += ["--batch-size", "8", "--width", "8"]
    with pytest.raises(SystemExit):  # another learning rate: the record would no longer describe the run
        main([*base, "--lr", "0.01"])
    assert json.loads((run / "baseline.json").read_text())["step"] == 4  # nothing trained or written
    from value_labeling.baselines.model import resolve

    prev = json.loads((resolve(run) / "baseline.json").read_text())["train"]
    assert prev["data_size"]["episodes"] >= 2 and prev["data_size"]["kept_frames"] > prev["data_size"]["episodes"]

    out = tmp_path / "res.json"
    main(["bench", "--data", str(synthetic_bench), "--model", str(run), "--model", "time", "--out", str(out)])
    res = json.loads(out.read_text())
    assert set(res["models"]) == {"frame-regressor:run", "time"}
    rows = [r for r in res["trajectories"] if r["model"] == "frame-regressor:run"]
    assert sorted(r["metric"] for r in rows) == ["expert_voc"] * 2 + ["hesitation_rmse"] * 2 + ["retry_voc"] * 2
    assert all(0 <= r["value"] <= 1 for r in rows if r["metric"] == "hesitation_rmse")


def test_temporal_context_and_prediction(synthetic_bench, tmp_path):
    from value_labeling.baselines.model import context_positions
    from value_labeling.models import load_value_model

    # 3 frames 1 s apart at 2 fps -> 2 frames back each, clamped at the episode start.
    np.testing.assert_array_equal(context_positions(np.arange(4), 3, 2.0), [[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 1, 3]])
    run = tmp_path / "run"
    _train(synthetic_bench, run, "temporal", 1)
    m = load_value_model(str(run))
    assert m.net.k == 3 and m.camera is None and len(m.fingerprint()) == 16
    frames = np.random.default_rng(0).integers(0, 255, (7, 32, 32, 3), dtype=np.uint8)
    v = m.predict(frames, 2.0, "slide the square to the goal")
    assert v.shape == (7,) and np.all((v >= 0) & (v <= 1))
    np.testing.assert_array_equal(v, m.predict(frames, 2.0, "slide the square to the goal"))
    # The first frame's context is frame 0 three times: the same as a clip of frame 0 alone.
    assert m.predict(frames[:1], 2.0, "slide the square to the goal")[0] == pytest.approx(v[0], abs=1e-6)


def test_headline_intervals_and_paired_differences():
    from value_labeling.bench.headline import bootstrap_ci, headline

    def rec(model, ep, metric, value):
        return {"model": model, "dataset": "d", "episode_index": ep, "metric": metric, "value": value}

    ref = [0.10, 0.20, 0.30, 0.40]
    recs = [rec("ref", i, "hesitation_rmse", v) for i, v in enumerate(ref)]
    recs += [rec("b", i, "hesitation_rmse", v - 0.05) for i, v in enumerate(ref[:3])] + [
        rec("b", 3, "hesitation_rmse", None)
    ]
    h = headline(recs, "ref", n_boot=500)
    assert h["headline"]["ref"]["hesitation_rmse"]["mean"] == pytest.approx(0.25)
    assert h["headline"]["b"]["hesitation_rmse"] | {"ci95": None} == {
        "mean": pytest.approx(0.15),
        "ci95": None,
        "n_scored": 3,
        "n_dropped": 1,
    }
    p = h["paired_vs_reference"]["b"]["hesitation_rmse"]
    # Every paired difference is exactly -0.05: the interval collapses onto it; lower RMSE = better.
    assert p["n_pairs"] == 3 and p["mean_diff"] == pytest.approx(-0.05) and p["ci95"] == pytest.approx([-0.05, -0.05])
    assert h["verdict"]["hesitation_rmse"]["b"] == "better"
    lo, hi = bootstrap_ci(np.array(ref), n_boot=2000)
    assert 0.1 <= lo < 0.25 < hi <= 0.4


def test_shipped_baselines_are_listed_small_and_load(capsys):
    from value_labeling.baselines import SHIPPED
    from value_labeling.models import load_value_model

    main(["models"])
    listed = capsys.readouterr().out.split()
    for name, d in SHIPPED.items():
        assert name in listed
        size = sum(f.stat().st_size for f in d.iterdir())
        assert size < 5 * 2**20 and not list(d.glob("optimizer*")), (d, size)
        b = json.loads((d / "build.json").read_text())
        assert b["data"]["camera"] == "robot0_eye_in_hand" and "seeds 100000+" in b["data"]["expert_demonstrations"]
        m = load_value_model(name)
        assert m.name == name and m.camera == "robot0_eye_in_hand"
