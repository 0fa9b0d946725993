"""Sharded (FSDP2) WVM training on 2 gloo processes through `value_labeling train --parallel fsdp`:
the same losses and weights as one process with the global batch (and as 2 accumulated micro-batches
in one process), a save killed before it was
published resumes from the last complete checkpoint (here on 1 process: DCP reshards), and the
consolidated export loads as a value model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
COMMON = [
    "--preset",
    "wvm-tiny",
    "--image-size",
    "32",
    "32",
    "--warmup-steps",
    "1",
    "--log-every",
    "1",
    "--steps",
    "3",
    "--save-every",
    "2",
]


def _run(cmd, timeout=300):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    return r.stdout + r.stderr


def _history(run: Path) -> list[dict]:
    from value_labeling.wvm.checkpoint import resolve

    return json.loads((resolve(run) / "history.json").read_text())


def _weights(run: Path) -> dict:
    from safetensors.torch import load_file

    from value_labeling.wvm.checkpoint import resolve

    return load_file(str(resolve(run) / "model.safetensors"))


def test_fsdp_two_gloo_processes_match_one_process_resume_and_export(synthetic_bench, tmp_path):
    from value_labeling.cli import main

    # One process, global batch 4.
    single = tmp_path / "single"
    main(["train", "--data", str(synthetic_bench), "--out", str(single), "--batch-size", "4", *COMMON])
    # Two gloo processes, FSDP2, batch 2 each (the same 4 windows and noise: rows 0-1 and 2-3).
    fsdp = tmp_path / "fsdp"
    log = _run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--master-port",
            "29533",
            "-m",
            "value_labeling.cli",
            "train",
            "--data",
            synthetic_bench,
            "--out",
            fsdp,
            "--batch-size",
            "2",
            "--parallel",
            "fsdp",
            *COMMON,
        ]
    )
    assert "2 process(es), fsdp" in log

    h1, h2 = _history(single), _history(fsdp)
    assert [r["step"] for r in h2] == [1, 2, 3]
    for a, b in zip(h1, h2):
        for k in ("loss", "value", "video", "grad_norm"):
            assert b[k] == pytest.approx(a[k], rel=1e-4), (k, a, b)
    w1, w2 = _weights(single), _weights(fsdp)
    assert w1.keys() == w2.keys()  # the export has today's checkpoint names, VAE included
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-5, msg=k)

    # Gradient accumulation: one process, 2 micro-batches of 2 = the same global batch of 4.
    accum = tmp_path / "accum"
    main(
        [
            "train",
            "--data",
            str(synthetic_bench),
            "--out",
            str(accum),
            "--batch-size",
            "2",
            "--grad-accum-steps",
            "2",
            *COMMON,
        ]
    )
    for a, b in zip(h1, _history(accum)):
        for k in ("loss", "value", "video", "grad_norm"):
            assert b[k] == pytest.approx(a[k], rel=1e-5), (k, a, b)
    w5 = _weights(accum)
    for k in w1:
        torch.testing.assert_close(w5[k], w1[k], rtol=1e-4, atol=1e-5, msg=k)

    # Sharded checkpoints: steps 2 and 3 published, nothing half-written.
    sh = fsdp / "sharded"
    assert json.loads((sh / "latest.json").read_text())["step"] == 3
    assert sorted(p.name for p in sh.iterdir()) == ["latest.json", "step_0000002", "step_0000003"]

    # A run killed while saving step 3: its shards are an unpublished temp dir, the pointer still names
    # step 2, no export yet. The rerun (1 process, batch 4 = the same global batch) resumes at step 2.
    os.replace(sh / "step_0000003", sh / ".tmp_step_0000003")
    (sh / ".tmp_step_0000003" / "meta.json").unlink()
    (sh / "latest.json").write_text(json.dumps({"step": 2, "path": "step_0000002"}))
    shutil.rmtree(fsdp / "checkpoints")
    (fsdp / "latest.json").unlink()
    log = _run(
        [
            sys.executable,
            "-m",
            "value_labeling.cli",
            "train",
            "--data",
            synthetic_bench,
            "--out",
            fsdp,
            "--batch-size",
            "4",
            "--parallel",
            "fsdp",
            *COMMON,
        ]
    )
    assert "resuming" in log and "at step 2" in log
    h3 = _history(fsdp)
    assert [r["step"] for r in h3] == [1, 2, 3]
    assert h3[2]["loss"] == pytest.approx(h2[2]["loss"], rel=1e-4)
    w3 = _weights(fsdp)
    for k in w1:
        torch.testing.assert_close(w3[k], w2[k], rtol=1e-4, atol=1e-5, msg=k)
    assert not list(sh.glob(".tmp*")) or (sh / "latest.json").read_text().count("step_0000003")

    # The export command rewrites it from the last complete sharded checkpoint, same weights.
    from value_labeling.wvm.sharding import main as sharding_main

    shutil.rmtree(fsdp / "checkpoints")
    (fsdp / "latest.json").unlink()
    sharding_main(["export", str(fsdp)])
    w4 = _weights(fsdp)
    assert all(torch.equal(w4[k], w3[k]) for k in w3)

    # The export is an ordinary checkpoint: a value model for `bench` / `curate label-values --model`.
    from value_labeling.models import load_value_model

    vm = load_value_model(str(fsdp))
    frames = np.random.default_rng(0).integers(0, 255, (12, 32, 32, 3), dtype=np.uint8)
    v = vm.predict(frames, 2.0, synthetic_bench_task(synthetic_bench))
    assert v.shape == (12,) and np.isfinite(v).all()


def synthetic_bench_task(root: Path) -> str:
    from robodata.dataset import episode_task, open_dataset

    return episode_task(open_dataset(root), 0)


def test_fsdp_resume_refuses_a_ddp_run(synthetic_bench, tmp_path, capsys):
    from value_labeling.cli import main

    out = tmp_path / "r"
    main(
        [
            "train",
            "--data",
            str(synthetic_bench),
            "--out",
            str(out),
            "--batch-size",
            "1",
            "--preset",
            "wvm-tiny",
            "--image-size",
            "32",
            "32",
            "--steps",
            "1",
        ]
    )
    with pytest.raises(SystemExit):
        main(
            [
                "train",
                "--data",
                str(synthetic_bench),
                "--out",
                str(out),
                "--batch-size",
                "1",
                "--parallel",
                "fsdp",
                "--preset",
                "wvm-tiny",
                "--image-size",
                "32",
                "32",
                "--steps",
                "2",
            ]
        )
    assert "holds a run trained with --parallel ddp; resume it with --parallel ddp" in capsys.readouterr().err
