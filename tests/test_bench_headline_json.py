"""`value_labeling bench` writes n scored and 95% intervals in its own markdown and JSON, and the JSON is strict:
an ill-defined score (VOC of a constant prediction) is null, never NaN, and the file says what null means."""

import json

import numpy as np
import pytest

from value_labeling.cli import main
from value_labeling.models import VALUE_MODELS


class HalfModel:
    """0.5 everywhere: defined Hesitation-RMSE, ill-defined (constant) VOC on every retry and expert."""

    name = "half"
    target_fps = None

    def fingerprint(self) -> str:
        return "half-v1"

    def predict(self, frames, fps, instruction):
        return np.full(len(frames), 0.5)


def _refuse(token):
    raise AssertionError(f"non-standard JSON constant {token} in the bench's output")


def test_bench_json_is_strict_and_carries_the_headline(synthetic_bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(VALUE_MODELS, "half", HalfModel)
    out = tmp_path / "res.json"
    main(["bench", "--data", str(synthetic_bench), "--model", "time", "--model", "half", "--out", str(out)])
    res = json.loads(out.read_text(), parse_constant=_refuse)  # NaN / Infinity would raise here
    assert "null" in res["null"]  # the file says why a number is null

    traj = {m: [t for t in res["trajectories"] if t["model"] == m] for m in ("time", "half")}
    # The constant model's VOC is ill-defined on each retry and expert trajectory: null in the file.
    assert all(t["value"] is None for t in traj["half"] if t["metric"] != "hesitation_rmse")
    assert res["summary"]["half"]["expert_voc"]["mean"]["Synthetic"] is None

    head = res["headline"]
    for metric in ("hesitation_rmse", "retry_voc", "expert_voc"):  # time scores every trajectory (2 per metric)
        vals = [t["value"] for t in traj["time"] if t["metric"] == metric]
        c = head["time"][metric]
        assert (c["n_scored"], c["n_dropped"]) == (2, 0)
        assert c["mean"] == pytest.approx(np.mean(vals))
        assert min(vals) - 1e-12 <= c["ci95"][0] <= c["mean"] <= c["ci95"][1] <= max(vals) + 1e-12
    assert head["time"]["expert_voc"]["mean"] == pytest.approx(1.0)
    h = head["half"]["expert_voc"]
    assert (h["n_scored"], h["n_dropped"], h["mean"], h["ci95"]) == (0, 2, None, [None, None])

    # Paired against the first --model (time): half - time over the hesitation trajectories both scored.
    assert res["reference"] == "time"
    rm = {m: {t["episode_index"]: t["value"] for t in traj[m] if t["metric"] == "hesitation_rmse"} for m in traj}
    diff = [rm["half"][k] - rm["time"][k] for k in rm["time"]]
    p = res["paired_vs_reference"]["half"]["hesitation_rmse"]
    assert p["n_pairs"] == 2 and p["mean_diff"] == pytest.approx(np.mean(diff))
    assert res["paired_vs_reference"]["half"]["retry_voc"]["n_pairs"] == 0

    md = out.with_suffix(".md").read_text()
    assert md.startswith("| Hesitation-RMSE")  # the paper-style tables first, then the headline
    t = head["time"]["hesitation_rmse"]
    assert f"{t['mean']:.3f} [{t['ci95'][0]:.3f}, {t['ci95'][1]:.3f}] (n=2)" in md
    assert "/ [/, /] (n=0, 2 dropped)" in md  # half's Expert-VOC: nothing scored, said so
    assert "Paired difference, model minus `time`" in md
    assert md.strip() in capsys.readouterr().out


def test_bench_reference_must_be_a_scored_model(synthetic_bench, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--data", str(synthetic_bench), "--model", "time", "--reference", "nope",
              "--out", str(tmp_path / "r.json")])  # fmt: skip
    err = capsys.readouterr().err
    assert "--reference 'nope' is not one of the scored models (time)" in err and "Traceback" not in err
    assert not (tmp_path / "r.json").exists()
