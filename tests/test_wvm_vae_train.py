"""pretrain-vae: the VAE learns to reconstruct the training frames, records its latent normalisation,
and its output directory feeds pretrain-video (which keeps that VAE frozen and uses its statistics)."""

from __future__ import annotations

import json

import pytest
import torch


def _cli(*args):
    from value_labeling.cli import main

    main([str(a) for a in args])


def test_pretrain_vae_learns_and_feeds_pretrain_video(synthetic_bench, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "vae"
    _cli(
        "pretrain-vae",
        "--data",
        synthetic_bench,
        "--out",
        out,
        "--steps",
        40,
        "--batch-size",
        4,
        "--image-size",
        "32",
        "32",
        "--lr",
        "2e-3",
    )
    rec = json.loads((out / "vae_train.json").read_text())
    hist = rec["history"]
    # Reconstruction improves clearly over 40 steps on the synthetic clips (not a flat or rising loss).
    assert hist[-1]["l1"] < 0.6 * hist[0]["l1"], hist
    assert hist[-1]["psnr"] > hist[0]["psnr"] + 2.0
    vcfg = json.loads((out / "vae" / "config.json").read_text())
    assert len(vcfg["latents_mean"]) == len(vcfg["latents_std"]) == 16
    assert all(s > 0 for s in vcfg["latents_std"]) and any(abs(m) > 1e-6 for m in vcfg["latents_mean"])
    assert (out / "transformer" / "config.json").is_file()

    # A finished output is not redone.
    stamp = (out / "vae_train.json").stat().st_mtime_ns
    _cli("pretrain-vae", "--data", synthetic_bench, "--out", out, "--steps", 40, "--image-size", "32", "32")
    assert (out / "vae_train.json").stat().st_mtime_ns == stamp

    # pretrain-video on top keeps the trained VAE bit for bit and its latent statistics.
    wm = tmp_path / "wm"
    _cli(
        "pretrain-video",
        "--data",
        synthetic_bench,
        "--out",
        wm,
        "--video-model",
        out,
        "--steps",
        2,
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
    a = load_file(str(next((out / "vae").glob("*.safetensors"))))
    b = load_file(str(next((wm / "vae").glob("*.safetensors"))))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((wm / "vae" / "config.json").read_text())["latents_mean"] == pytest.approx(vcfg["latents_mean"])


def test_pretrain_vae_refuses_a_foreign_directory(synthetic_bench, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("user data")
    with pytest.raises(SystemExit):
        _cli(
            "pretrain-vae", "--data", synthetic_bench, "--out", tmp_path / "x", "--steps", 1, "--image-size", "32", "32"
        )
    assert (tmp_path / "x" / "keep.txt").read_text() == "user data"
