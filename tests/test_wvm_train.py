"""WVM training: Table A.1 schedule, CLI run with checkpoints and loss plot, exact resume, ablation
switches, pretrain-video -> --video-model, bad input, and a 2-process gloo DDP step."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from runtime.schedule import warmup_cosine as lr_lambda

TINY = [
    "--preset",
    "wvm-tiny",
    "--image-size",
    "32",
    "32",
    "--batch-size",
    "2",
    "--warmup-steps",
    "1",
    "--log-every",
    "1",
]


def _cli(*args):
    from value_labeling.cli import main

    main([str(a) for a in args])


def _weights(out: Path) -> dict:
    from safetensors.torch import load_file

    from value_labeling.wvm.checkpoint import resolve

    return load_file(str(resolve(out) / "model.safetensors"))


def test_lr_schedule_table_a1():
    # Linear warm-up over 500 steps to the peak, cosine decay to 0.1x peak at the last step.
    assert lr_lambda(0, 500, 30000, 0.1) == pytest.approx(1 / 500)
    assert lr_lambda(499, 500, 30000, 0.1) == pytest.approx(1.0)
    assert lr_lambda(500, 500, 30000, 0.1) == pytest.approx(1.0)
    mid = 500 + (30000 - 500) // 2
    assert lr_lambda(mid, 500, 30000, 0.1) == pytest.approx(0.1 + 0.9 * 0.5, abs=1e-4)
    assert lr_lambda(30000, 500, 30000, 0.1) == pytest.approx(0.1)
    assert lr_lambda(1000, 0, 1000, 0.1) == pytest.approx(0.1)  # no warm-up


def test_train_checkpoints_plot_and_exact_resume(synthetic_bench, tmp_path):
    # One run of 4 steps vs. 2 steps + a resumed 2 more: identical weights (per-step seeding, AdamW
    # moments and the schedule are restored), and the loss history continues.
    _cli("train", "--data", synthetic_bench, "--out", tmp_path / "full", "--steps", 4, "--save-every", 2, *TINY)
    _cli("train", "--data", synthetic_bench, "--out", tmp_path / "part", "--steps", 2, "--save-every", 2, *TINY)
    assert json.loads((tmp_path / "part" / "latest.json").read_text())["step"] == 2
    _cli("train", "--data", synthetic_bench, "--out", tmp_path / "part", "--steps", 4, "--save-every", 2, *TINY)
    full, part = _weights(tmp_path / "full"), _weights(tmp_path / "part")
    assert full.keys() == part.keys()
    for k in full:
        torch.testing.assert_close(full[k], part[k], rtol=0, atol=1e-6, msg=k)
    from value_labeling.wvm.checkpoint import resolve

    d = resolve(tmp_path / "part")
    meta = json.loads((d / "wvm.json").read_text())
    hist = json.loads((d / "history.json").read_text())
    assert meta["step"] == 4 and [r["step"] for r in hist] == [1, 2, 3, 4]
    assert all(math.isfinite(r["loss"]) and r["video"] > 0 and r["value"] > 0 for r in hist)
    assert (tmp_path / "part" / "loss_curves.png").stat().st_size > 1000
    assert (d / "model.safetensors").is_file() and not list((tmp_path / "part" / "checkpoints").glob(".*"))


@pytest.mark.slow  # 6 short runs: ~1.5 min on a loaded 2-core machine
def test_ablation_switches(synthetic_bench, tmp_path):
    from value_labeling.wvm.checkpoint import resolve

    # --freeze-video: the video DiT keeps its initial weights; the value stream moves.
    _cli("train", "--data", synthetic_bench, "--out", tmp_path / "init", "--steps", 1, "--lr", "0", *TINY)
    _cli("train", "--data", synthetic_bench, "--out", tmp_path / "frozen", "--steps", 2, "--freeze-video", *TINY)
    a, b = _weights(tmp_path / "init"), _weights(tmp_path / "frozen")
    vid = [k for k in a if k.startswith("video.")]
    val = [k for k in a if k.startswith("value_")]
    assert vid and val
    assert all(torch.equal(a[k], b[k]) for k in vid)
    assert any(not torch.equal(a[k], b[k]) for k in val)
    hist = json.loads((resolve(tmp_path / "frozen") / "history.json").read_text())
    assert all(r["video"] == 0 for r in hist)
    # --no-video-loss: no video term, but the video DiT still trains through the value gradient.
    _cli("train", "--data", synthetic_bench, "--out", tmp_path / "novid", "--steps", 2, "--no-video-loss", *TINY)
    c = _weights(tmp_path / "novid")
    assert any(not torch.equal(a[k], c[k]) for k in vid if ".blocks." in k)
    hist = json.loads((resolve(tmp_path / "novid") / "history.json").read_text())
    assert all(r["video"] == 0 and r["value"] > 0 for r in hist)
    # --value-head hlgauss / scalar produce checkpoints with the matching head.
    for head, dim in (("hlgauss", 51), ("scalar", 1)):
        _cli("train", "--data", synthetic_bench, "--out", tmp_path / head, "--steps", 1, "--value-head", head, *TINY)
        w = _weights(tmp_path / head)
        assert w["value_out.weight"].shape[0] == dim
        meta = json.loads((resolve(tmp_path / head) / "wvm.json").read_text())
        assert meta["model"]["value_head"] == head


@pytest.mark.slow
def test_pretrain_video_output_is_a_video_model(synthetic_bench, tmp_path):
    _cli(
        "pretrain-video",
        "--data",
        synthetic_bench,
        "--out",
        tmp_path / "wm",
        "--steps",
        2,
        "--preset",
        "wvm-tiny",
        "--image-size",
        "32",
        "32",
        "--batch-size",
        "2",
        "--warmup-steps",
        "1",
        "--log-every",
        "1",
    )
    wm = tmp_path / "wm"
    assert (wm / "transformer" / "config.json").is_file() and (wm / "vae" / "config.json").is_file()
    # Its transformer initialises the WVM's video stream.
    _cli(
        "train",
        "--data",
        synthetic_bench,
        "--out",
        tmp_path / "ft",
        "--steps",
        1,
        "--lr",
        "0",
        "--video-model",
        wm,
        *TINY,
    )
    from safetensors.torch import load_file

    wm_w = load_file(str(next((wm / "transformer").glob("*.safetensors"))))
    ft = _weights(tmp_path / "ft")
    k = "blocks.0.attn1.to_q.weight"
    assert torch.equal(ft["video." + k], wm_w[k])


def _config(data, out, steps, image_size=None, max_episodes=None, **model):
    from value_labeling.wvm.config import DataConfig, NetworkConfig, ScheduleConfig, TrainConfig

    return TrainConfig(
        out=out,
        data=DataConfig(roots=data, image_size=image_size, max_episodes=max_episodes),
        model=NetworkConfig(**model),
        schedule=ScheduleConfig(steps=steps),
    )


def test_bad_input_is_a_clear_error(synthetic_bench, tmp_path):
    from value_labeling.wvm.train import run_train

    (tmp_path / "notwan").mkdir()
    with pytest.raises(FileNotFoundError, match="transformer/config.json"):
        run_train(_config((synthetic_bench,), tmp_path / "o1", steps=1, video_model=tmp_path / "notwan"))
    # wvm-5b: instructions must be in a precomputed (umT5) text cache, and the Wan weights are required.
    five = dict(preset="wvm-5b", image_size=(32, 32), max_episodes=1, steps=1)
    with pytest.raises(ValueError, match="not in the text cache"):
        run_train(_config((synthetic_bench,), tmp_path / "o2", **five))
    from value_labeling.wvm.text import TextCache

    cache = TextCache("precomputed", 512, 4096)
    cache.add("slide the square to the goal", torch.zeros(512, 4096))
    cache.save(tmp_path)
    with pytest.raises(ValueError, match="--video-model"):
        run_train(_config((synthetic_bench,), tmp_path / "o2", text_cache=tmp_path, **five))
    # A run directory of another preset is not silently resumed.
    _cli("train", "--data", synthetic_bench, "--out", tmp_path / "o3", "--steps", 1, *TINY)
    with pytest.raises(ValueError, match="wvm-tiny"):
        run_train(_config((synthetic_bench,), tmp_path / "o3", steps=2, preset="wvm-5b", video_init="scratch"))


def test_ddp_two_gloo_processes(synthetic_bench, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        "29517",
        "-m",
        "value_labeling.cli",
        "train",
        "--data",
        str(synthetic_bench),
        "--out",
        str(out),
        "--steps",
        "2",
        *TINY,
    ]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 process(es)" in r.stdout + r.stderr
    assert json.loads((out / "latest.json").read_text())["step"] == 2


def test_each_command_refuses_options_only_another_uses(synthetic_bench, tmp_path, capsys):
    # train / pretrain-video / pretrain-vae share one config; an option the mode would ignore is an error.
    for cmd, flag in (("pretrain-vae", "--freeze-video"), ("pretrain-video", "--prefix-p"), ("train", "--kl-weight")):
        with pytest.raises(SystemExit):
            _cli(
                cmd,
                "--data",
                synthetic_bench,
                "--out",
                tmp_path / cmd,
                flag,
                *([] if flag == "--freeze-video" else ["0.3"]),
            )
        assert f"{flag} does not apply to `{cmd}`" in capsys.readouterr().err
        assert not (tmp_path / cmd).exists()
    with pytest.raises(SystemExit):
        _cli("train", "--out", tmp_path / "nodata")
    assert "no training data" in capsys.readouterr().err
