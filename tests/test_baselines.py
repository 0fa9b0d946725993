"""Learned baselines: train a few steps on a tiny dataset, resume, load by path, score through the bench."""

from __future__ import annotations

import json

import numpy as np
import pytest

from value_labeling.cli import main


def _train(data, out, kind, steps):
    main(["train-baseline", "--data", str(data), "--out", str(out), "--kind", kind, "--steps", str(steps),
          "--batch-size", "8", "--width", "8", "--save-every", "2", "--log-every", "1"])


@pytest.mark.parametrize("kind", ["frame-regressor", "temporal"])
def test_train_baseline_resumes_and_scores_through_bench(synthetic_bench, tmp_path, kind):
    run = tmp_path / "run"
    _train(synthetic_bench, run, kind, 3)
    meta = json.loads((run / "baseline.json").read_text())
    assert meta["step"] == 3 and (run / meta["path"] / "model.safetensors").is_file()
    # Resuming to 5 steps continues from step 3; the same run from scratch gives the same weights.
    _train(synthetic_bench, run, kind, 5)
    fresh = tmp_path / "fresh"
    _train(synthetic_bench, fresh, kind, 5)
    from safetensors.torch import load_file

    a = load_file(str(run / json.loads((run / "baseline.json").read_text())["path"] / "model.safetensors"))
    b = load_file(str(fresh / json.loads((fresh / "baseline.json").read_text())["path"] / "model.safetensors"))
    assert a.keys() == b.keys() and all(np.allclose(a[k], b[k], atol=1e-5) for k in a)
    hist = json.loads((run / json.loads((run / "baseline.json").read_text())["path"] / "history.json").read_text())
    assert [h["step"] for h in hist] == [1, 2, 3, 4, 5]

    out = tmp_path / "res.json"
    main(["bench", "--data", str(synthetic_bench), "--model", str(run), "--model", "time", "--out", str(out)])
    res = json.loads(out.read_text())
    name = f"{kind}:run"
    assert set(res["models"]) == {name, "time"}
    rows = [r for r in res["trajectories"] if r["model"] == name]
    assert len(rows) == 6 and {r["metric"] for r in rows} == {"hesitation_rmse", "retry_voc", "expert_voc"}
    h = [r["value"] for r in rows if r["metric"] == "hesitation_rmse"]
    assert all(v is not None and 0 <= v <= 1 for v in h)


def test_predict_context_and_range(synthetic_bench, tmp_path):
    from value_labeling.baselines.model import context_positions
    from value_labeling.models import load_value_model

    # 3 frames 1 s apart at 2 fps -> steps of 2 frames back, clamped at the episode start.
    np.testing.assert_array_equal(context_positions(np.arange(4), 3, 2.0), [[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 1, 3]])
    run = tmp_path / "run"
    _train(synthetic_bench, run, "temporal", 2)
    m = load_value_model(str(run))
    frames = np.random.default_rng(0).integers(0, 255, (7, 32, 32, 3), dtype=np.uint8)
    v = m.predict(frames, 2.0, "slide the square to the goal")
    assert v.shape == (7,) and np.all((v >= 0) & (v <= 1))
    np.testing.assert_array_equal(v, m.predict(frames, 2.0, "slide the square to the goal"))
    assert m.camera is None and len(m.fingerprint()) == 16


def test_bad_run_dir_is_refused(synthetic_bench, tmp_path):
    run = tmp_path / "run"
    _train(synthetic_bench, run, "frame-regressor", 1)
    with pytest.raises(SystemExit):  # another kind into the same run dir: one clear line, exit 2
        _train(synthetic_bench, run, "temporal", 1)
