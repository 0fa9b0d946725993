"""The prepared GPU check runs end to end in its CPU dry-run mode (wvm-tiny, tiny π0.5, same code paths)
and says in its result files that it did not run on a GPU."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-m", "bench.gpu_check", "--dry-run", "--budget-s", "3600", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    res = json.loads(out.read_text())
    failed = {k: v.get("error") or v.get("skipped") for k, v in res["sections"].items() if not v.get("ok")}
    assert r.returncode == 0 and not failed, (failed, r.stderr[-3000:])
    assert res["ran_on_gpu"] is False and res["status"].startswith("NOT RUN ON A GPU")
    assert "NOT RUN ON A GPU" in out.with_suffix(".md").read_text()
    s = res["sections"]
    assert list(s) == ["build", "inference", "train", "pi05", "label"]
    assert s["inference"]["best_frames_per_s"] > 0 and all(x["values_finite"] for x in s["inference"]["sweep"])
    for k in ("no_activation_checkpointing", "activation_checkpointing"):
        assert s["train"][k]["losses_finite"], s["train"]
    assert s["pi05"]["losses_finite"] and s["label"]["values_in_unit_interval"]
