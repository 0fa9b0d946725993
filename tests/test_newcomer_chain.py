"""The README's whole chain, as a newcomer runs it, at tiny scale in one test: RoboSuite data (one mixed
expert/hesitation/retry set and one expert set) -> values -> advantages -> flag / report (each episode's mode)
-> value-weighted training on both datasets with every weighting -> a rollout from the checkpoint and one
through `policy_ft serve`. The commands are the README's "The whole chain" section, argument for argument."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from curate.cli import main as curate
from policy_ft.cli import main as policy_ft
from robodata.annotations import read_annotations
from robodata.dataset import read_column
from robosuite_eval.cli import main as robosuite_eval

WEIGHTINGS = ("awr", "binary", "percentile", "none")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(ckpt: Path, port: int, log: Path) -> subprocess.Popen:
    """`policy_ft serve CKPT --host 127.0.0.1 --port P`, the console script in its own process."""
    cmd = [
        sys.executable,
        "-m",
        "policy_ft.cli",
        "serve",
        str(ckpt),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
    ]
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]),
    )
    return subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)


def _wait_listening(proc: subprocess.Popen, port: int, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"policy_ft serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:  # the README's wait: until curl -sf http://127.0.0.1:PORT/healthz
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"policy_ft serve did not listen within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def test_newcomer_chain_from_generate_to_rollout(tmp_path, capsys):
    mixed, expert = tmp_path / "lift_mixed", tmp_path / "lift_expert"

    # 1. Data: expert, hesitation and retry episodes in one dataset, and a second (expert) dataset.
    robosuite_eval(
        [
            "generate",
            "--task",
            "lift",
            "--mode",
            "mixed",
            "--mix",
            "1:1:1",
            "--episodes",
            "3",
            "--image-size",
            "64",
            "--workers",
            "0",
            "--out",
            str(mixed),
        ]
    )
    robosuite_eval(
        [
            "generate",
            "--task",
            "lift",
            "--mode",
            "expert",
            "--episodes",
            "1",
            "--image-size",
            "64",
            "--workers",
            "0",
            "--out",
            str(expert),
        ]
    )
    assert [r["mode"] for r in read_annotations(mixed)] == ["expert", "hesitation", "retry"]
    assert [r["mode"] for r in read_annotations(expert)] == ["expert"]

    # 2. Values (the embedded default model, in-process) and chunk advantages, in both datasets.
    for ds in (mixed, expert):
        curate(["label-values", str(ds), "--address", "local"])
        curate(["advantages", str(ds), "-H", "10"])
        values = read_column(ds, "value")
        assert len(values) == sum(r["T"] for r in read_annotations(ds))
        assert np.all((values >= 0) & (values <= 1)) and np.isfinite(read_column(ds, "advantage")).all()

    # 3. What a person checks before training: flagged segments and the report, with each episode's mode.
    capsys.readouterr()
    curate(["flag", str(mixed), "--plots", str(tmp_path / "flags"), "--out", str(tmp_path / "segments.csv")])
    printed = capsys.readouterr().out
    assert "episodes by annotated mode: expert 1 (0); hesitation 1 (1); retry 1 (2)" in printed
    with open(tmp_path / "segments.csv") as fh:
        segments = list(csv.DictReader(fh))
    modes = {"0": "expert", "1": "hesitation", "2": "retry"}
    assert all(s["mode"] == modes[s["episode_index"]] for s in segments)
    assert sorted(p.name for p in (tmp_path / "flags").iterdir()) == [f"episode_{i:06d}.png" for i in range(3)]
    curate(["report", str(mixed), "--out", str(tmp_path / "report")])
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["modes"] == modes and summary["episodes"] == 3
    assert (tmp_path / "report" / "value_curves.png").stat().st_size > 10_000
    assert (tmp_path / "report" / "advantages.png").stat().st_size > 10_000

    # 4. Value-weighted BC of a tiny ACT on both datasets at once, each weighting, plus plain BC.
    frames = sum(pq.read_metadata(f).num_rows for ds in (mixed, expert) for f in ds.glob("data/*/*.parquet"))
    ckpts = {}
    for w in WEIGHTINGS:
        policy_ft(
            [
                "train",
                "--dataset",
                str(mixed),
                "--dataset",
                str(expert),
                "--out",
                str(tmp_path / f"run_{w}"),
                "--policy",
                "act",
                "--size",
                "tiny",
                "--weighting",
                w,
                "--steps",
                "2",
                "--batch-size",
                "4",
            ]
        )
        result = json.loads((tmp_path / f"run_{w}" / "train_summary.json").read_text())
        assert result["steps"] == 2 and result["weights"]["frames"] == frames
        ckpts[w] = Path(result["checkpoint"])
        assert (ckpts[w] / "model.safetensors").is_file() and (ckpts[w] / "config.json").is_file()
    weights = {w: json.loads((tmp_path / f"run_{w}" / "weights_summary.json").read_text()) for w in WEIGHTINGS}
    assert weights["none"]["kept_fraction"] == 1.0
    assert weights["percentile"]["kept_fraction"] < 1.0  # the top 70% of chunks (ties aside)

    # 5. Roll the AWR checkpoint out in RoboSuite, directly and through the openpi websocket server.
    port = _free_port()
    server = _start_server(ckpts["awr"], port, tmp_path / "serve.log")  # starts while the local rollout runs
    try:
        robosuite_eval(
            [
                "rollout",
                "--policy",
                str(ckpts["awr"]),
                "--task",
                "lift",
                "--trials",
                "1",
                "--max-steps",
                "8",
                "--videos",
                "1",
                "--out",
                str(tmp_path / "rollout_ckpt"),
            ]
        )
        _wait_listening(server, port, tmp_path / "serve.log")
        robosuite_eval(
            [
                "rollout",
                "--policy",
                f"ws://127.0.0.1:{port}",
                "--task",
                "lift",
                "--trials",
                "1",
                "--max-steps",
                "8",
                "--videos",
                "0",
                "--out",
                str(tmp_path / "rollout_ws"),
            ]
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    for name in ("rollout_ckpt", "rollout_ws"):
        res = json.loads((tmp_path / name / "rollout.json").read_text())
        (trial,) = res["per_trial"]
        assert res["trials"] == 1 and trial["control_steps"] == 8 and trial["inferences"] >= 1
        assert res["cameras"] == {"agentview": [64, 64], "robot0_eye_in_hand": [64, 64]}
    assert (tmp_path / "rollout_ckpt" / "trial_000.mp4").stat().st_size > 0
