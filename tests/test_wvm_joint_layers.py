"""Joint (MoT) layers as modules: same weights and state_dict names, same numbers as the two-pass
form, activation checkpointing changes memory only, the global-batch noise split."""

from pathlib import Path

import numpy as np
import torch

from value_labeling.wvm import checkpoint as ck
from value_labeling.wvm import heads
from value_labeling.wvm.config import get_preset
from value_labeling.wvm.model import WVM, draw_noise

torch.set_num_threads(1)

DEFAULT = Path(__file__).resolve().parents[1] / "value_labeling" / "models" / "default_wvm"


def _batch(cfg, B=2, seed=1):
    H, W = cfg.image_size
    rng = np.random.default_rng(seed)
    clips = torch.from_numpy(rng.integers(0, 255, (B, cfg.clip_frames, H, W, 3), dtype=np.uint8))
    vals = torch.from_numpy(rng.random((B, 1 + cfg.chunk)).astype(np.float32))
    text = torch.from_numpy(rng.standard_normal((B, cfg.text_len, cfg.text_dim)).astype(np.float32))
    return clips, vals, text


def _two_pass_losses(model, clips, vals, text, noise):
    """The loss as the model computed it before joint layers: whole video stream, then value stream."""
    lat = model.encode(clips)
    ctx, fut = lat[:, :, 1:2], lat[:, :, 2:3]
    B, n = lat.shape[0], model.tokens_per_frame(lat)
    s = noise["sigma"].view(B, 1, 1, 1, 1)
    lat_in = torch.cat([ctx, (1 - s) * fut + s * noise["eps_video"]], 2)
    ts = torch.cat([torch.zeros(B, n), (noise["sigma"] * 1000).view(B, 1).expand(B, n)], 1)
    kv, pred = model.video_stream(lat_in, ts, text, n_ctx=n, output=True)
    y = vals[:, 1:]
    y_tau, _ = heads.flow_interpolate(y, noise["eps_value"], noise["tau"])
    out = model.value_stream(*model._value_inputs(vals[:, 0], y_tau, noise["tau"]), text, kv)
    return heads.flow_loss(out[..., 0], y, noise["eps_value"]), ((pred - (noise["eps_video"] - fut)) ** 2).mean()


def test_joint_layers_are_the_blocks_and_keep_checkpoint_names():
    torch.manual_seed(0)
    model = WVM(get_preset("wvm-tiny"))
    for i, layer in enumerate(model.joint_layers):
        assert layer.video is model.video.blocks[i] and layer.value is model.value_blocks[i]
    keys = list(model.state_dict())
    assert not [k for k in keys if "joint_layers" in k]
    assert any(k.startswith("video.blocks.3.attn1.to_q") for k in keys) and "value_blocks.0.to_q.weight" in keys
    names = [n for n, _ in model.named_parameters()]
    assert not [n for n in names if "joint_layers" in n]
    assert len(names) == len({id(p) for p in model.parameters()})
    # A state dict of today's names loads strictly (into a differently seeded model) and round-trips.
    other = WVM(get_preset("wvm-tiny"))
    other.load_state_dict(model.state_dict(), strict=True)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))
    assert torch.equal(other.joint_layers[2].video.attn1.to_q.weight, model.video.blocks[2].attn1.to_q.weight)


def test_default_model_joint_path_equals_two_pass_with_and_without_checkpointing():
    model, cfg, _, _ = ck.load_model(DEFAULT)
    model.train()
    clips, vals, text = _batch(cfg)
    noise = draw_noise(cfg, 2, generator=torch.Generator().manual_seed(5))
    ref_value, ref_video = _two_pass_losses(model, clips, vals, text, noise)
    grads = {}
    for ac in (False, True):
        for layer in model.joint_layers:
            layer.checkpoint = ac
        model.zero_grad(set_to_none=True)
        losses = model(clips, vals, text, noise=noise)
        assert torch.equal(losses["value"], ref_value.detach()) and torch.equal(losses["video"], ref_video.detach())
        (losses["value"] + losses["video"]).backward()
        grads[ac] = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    assert torch.equal(grads[False], grads[True])


def test_noise_drawn_outside_equals_noise_drawn_inside():
    # forward(noise=None) draws from torch's global RNG in the same order as draw_noise: a seeded
    # generator reproduces it, so moving the draw out of the model changed no existing run.
    torch.manual_seed(0)
    model = WVM(get_preset("wvm-tiny")).train()
    clips, vals, text = _batch(model.cfg)
    torch.manual_seed(11)
    a = model(clips, vals, text)
    b = model(clips, vals, text, noise=draw_noise(model.cfg, 2, generator=torch.Generator().manual_seed(11)))
    assert torch.equal(a["value"], b["value"]) and torch.equal(a["video"], b["video"])
