"""A wvm-tiny overfits the 6 synthetic bench trajectories and then scores well on them through
`value_labeling bench --model CKPT` (the registered checkpoint loader + chunked inference).

Slow (about 10 min on a loaded 2-core machine): `pytest -m slow tests/test_wvm_train_overfit.py`.
The settings differ from Table A.1 only where a 6-trajectory CPU overfit needs it: lr 1e-3, 50
warm-up steps, batch 8, 32x32 frames (the synthetic videos are 32x32). Default heads/augmentation:
flow matching, prefix randomization p=0.5, rewind 0.5 / plateau 0.1, video co-training lambda=1.
"""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_wvm_tiny_overfits_the_synthetic_bench(synthetic_bench, tmp_path):
    from value_labeling.cli import main

    out = tmp_path / "wvm"
    main(
        [
            "train",
            "--data",
            str(synthetic_bench),
            "--out",
            str(out),
            "--preset",
            "wvm-tiny",
            "--image-size",
            "32",
            "32",
            "--steps",
            "3000",
            "--batch-size",
            "8",
            "--lr",
            "1e-3",
            "--warmup-steps",
            "50",
            "--save-every",
            "1000",
            "--log-every",
            "50",
        ]
    )
    res = tmp_path / "bench.json"
    main(["bench", "--data", str(synthetic_bench), "--model", str(out), "--out", str(res)])
    rows = json.loads(res.read_text())["trajectories"]
    by = {}
    for r in rows:
        by.setdefault(r["metric"], []).append(r["value"])
    mean = {k: sum(v) / len(v) for k, v in by.items()}
    print(mean)
    assert mean["expert_voc"] > 0.95
    assert mean["hesitation_rmse"] < 0.1
    assert mean["retry_voc"] > 0.3
