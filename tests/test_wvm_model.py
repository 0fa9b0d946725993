"""The WVM network: Wan equivalence, asymmetric MoT mask, shapes per preset, checkpoints, bad input."""

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F

from value_labeling.wvm.config import get_preset
from value_labeling.wvm.model import WVM, apply_rope, check_video_model_dir, count_parameters, flops_per_chunk

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return WVM(get_preset("wvm-tiny")).eval()


def _text(B=2, cfg=None):
    cfg = cfg or get_preset("wvm-tiny")
    return torch.randn(B, cfg.text_len, cfg.text_dim)


def test_video_stream_is_diffusers_wan_forward(tiny):
    """With the block-causal mask off, our per-block video forward is WanTransformer3DModel.forward."""
    B, cfg = 2, tiny.cfg
    lat = torch.randn(B, cfg.latent_channels, 2, 8, 8)
    n = 16
    ts = torch.cat([torch.zeros(B, n), torch.rand(B, 1).expand(B, n) * 1000], 1)  # TI2V per-token timesteps
    text = _text(B)
    with torch.no_grad():
        ref = tiny.video(lat, ts, text).sample
        _, out = tiny.video_stream(lat, ts, text, n_ctx=0, block_causal=False)
        # Context-only input (what inference feeds) also equals diffusers on that single latent frame.
        ref1 = tiny.video(lat[:, :, :1], ts[:, :n], text).sample
        _, out1 = tiny.video_stream(lat[:, :, :1], ts[:, :n], text, n_ctx=0)
    assert out.shape == ref.shape == lat.shape
    assert (out - ref).abs().max().item() < 1e-6
    assert (out1 - ref1).abs().max().item() < 1e-6


def _reference_joint_forward(model, lat, ts, text, values, tau):
    """The MoT layer written as ONE masked joint attention over [current video | future video | value]."""
    W = model.video
    n = model.tokens_per_frame(lat)
    rope = W.rope(lat)
    x = W.patch_embedding(lat).flatten(2).transpose(1, 2)
    S = x.shape[1]
    temb, tproj, text_v, _ = W.condition_embedder(ts.flatten(), text, None, timestep_seq_len=S)
    tproj = tproj.unflatten(2, (6, -1))
    # value side
    vx = model.value_in(values.unsqueeze(-1)) + model.value_pos
    B, V, d = vx.shape
    vtemb = model.value_time_emb(model.value_time_proj(tau.flatten() * 1000.0)).unflatten(0, (B, V))
    vmod = model.value_time_mod(F.silu(vtemb)).unflatten(2, (6, d))
    vtxt = model.value_text(text)
    mask = torch.zeros(S + V, S + V, dtype=torch.bool)
    mask[:n, :n] = True  # current video -> current video
    mask[n:S, :S] = True  # future video -> all video
    mask[S:, :n] = True  # value -> current video
    mask[S:, S:] = True  # value -> value
    for blk, vb in zip(W.blocks, model.value_blocks):
        sh, sc, g, csh, csc, cg = (blk.scale_shift_table.unsqueeze(0) + tproj.float()).unbind(2)
        a = blk.attn1
        nx = blk.norm1(x) * (1 + sc) + sh
        q = apply_rope(a.norm_q(a.to_q(nx)).unflatten(2, (a.heads, -1)), *rope)
        k = apply_rope(a.norm_k(a.to_k(nx)).unflatten(2, (a.heads, -1)), *rope)
        v = a.to_v(nx).unflatten(2, (a.heads, -1))
        vsh, vsc, vg, vcsh, vcsc, vcg = (vb.scale_shift_table.unsqueeze(0) + vmod).unbind(2)
        nv = vb.norm1(vx) * (1 + vsc) + vsh
        vq = vb.norm_q(vb.to_q(nv)).unflatten(2, (vb.joint_heads, -1))
        vk = vb.norm_k(vb.to_k(nv)).unflatten(2, (vb.joint_heads, -1))
        vv = vb.to_v(nv).unflatten(2, (vb.joint_heads, -1))
        Q, K, Vv = (torch.cat(p, 1).transpose(1, 2) for p in ((q, vq), (k, vk), (v, vv)))
        o = F.scaled_dot_product_attention(Q, K, Vv, attn_mask=mask).transpose(1, 2).flatten(2)
        x = x + a.to_out[0](o[:, :S]) * g
        x = x + blk.attn2(blk.norm2(x), text_v, None, None)
        x = x + blk.ffn(blk.norm3(x) * (1 + csc) + csh) * cg
        vx = vx + vb.to_out(o[:, S:]) * vg
        m = vb.norm2(vx)
        cq = vb.cnorm_q(vb.cq(m)).unflatten(2, (vb.heads, -1)).transpose(1, 2)
        ck = vb.cnorm_k(vb.ck(vtxt)).unflatten(2, (vb.heads, -1)).transpose(1, 2)
        cv = vb.cv(vtxt).unflatten(2, (vb.heads, -1)).transpose(1, 2)
        vx = vx + vb.co(F.scaled_dot_product_attention(cq, ck, cv).transpose(1, 2).flatten(2))
        vx = vx + vb.ffn(vb.norm3(vx) * (1 + vcsc) + vcsh) * vcg
    sh, sc = (model.value_scale_shift.unsqueeze(0) + vtemb.unsqueeze(2)).chunk(2, dim=2)
    vo = model.value_out((model.value_norm_out(vx) * (1 + sc.squeeze(2)) + sh.squeeze(2))[:, 1:])
    return x, vo


def test_asymmetric_mask_factorisation_matches_joint_attention(tiny):
    B = 2
    lat = torch.randn(B, 16, 2, 8, 8)
    n = 16
    ts = torch.cat([torch.zeros(B, n), torch.full((B, n), 600.0)], 1)
    text = _text(B)
    values = torch.rand(B, 5)
    tau = torch.cat([torch.ones(B, 1), torch.full((B, 4), 0.3)], 1)
    with torch.no_grad():
        ref_x, ref_v = _reference_joint_forward(tiny, lat, ts, text, values, tau)
        kv, _ = tiny.video_stream(lat, ts, text, n_ctx=n, output=False)
        out_v = tiny.value_stream(values, tau, text, kv)
    assert (out_v - ref_v).abs().max().item() < 1e-5


def test_video_unaffected_by_value_stream_and_value_blind_to_future(tiny):
    torch.manual_seed(1)
    B = 2
    frames = torch.randint(0, 256, (B, 9, 64, 64, 3), dtype=torch.uint8)
    text = _text(B)
    lat = tiny.encode(frames)
    ctx, fut = lat[:, :, 1:2], lat[:, :, 2:3]
    n = tiny.tokens_per_frame(lat)
    ts = torch.cat([torch.zeros(B, n), torch.full((B, n), 500.0)], 1)
    with torch.no_grad():
        kv, vid = tiny.video_stream(torch.cat([ctx, fut], 2), ts, text, n_ctx=n)
        # Video outputs with the value stream attached: value tokens change, video must not.
        ref_x, _ = _reference_joint_forward(
            tiny, torch.cat([ctx, fut], 2), ts, text, torch.rand(B, 5), torch.rand(B, 5)
        )
        ref_x2, _ = _reference_joint_forward(
            tiny, torch.cat([ctx, fut], 2), ts, text, torch.rand(B, 5), torch.rand(B, 5)
        )
        assert (ref_x - ref_x2).abs().max().item() == 0.0
        # Value stream: the noised future latent is invisible (k/v of current tokens identical).
        kv2, _ = tiny.video_stream(torch.cat([ctx, torch.randn_like(fut)], 2), ts, text, n_ctx=n, output=False)
        kv3, _ = tiny.video_stream(ctx, ts[:, :n], text, n_ctx=n, output=False)
        vals, tau = torch.rand(B, 5), torch.rand(B, 5)
        a = tiny.value_stream(vals, tau, text, kv)
        b = tiny.value_stream(vals, tau, text, kv2)
        c = tiny.value_stream(vals, tau, text, kv3)
    assert (a - b).abs().max().item() < 1e-6
    assert (a - c).abs().max().item() < 1e-5
    # The VAE is causal: prefix+current frames give the same current latent as the full clip.
    lat5 = tiny.encode(frames[:, :5])
    assert (lat5[:, :, 1] - ctx[:, :, 0]).abs().max().item() < 1e-5


def test_video_gradient_untouched_by_value_loss_only_through_its_features(tiny):
    """The value loss reaches the video DiT (value-gradient pathway) but never the video output head."""
    model = WVM(tiny.cfg)
    model.load_state_dict(tiny.state_dict())
    frames = torch.randint(0, 256, (2, 9, 64, 64, 3), dtype=torch.uint8)
    out = model(frames, torch.rand(2, 5), _text(2), video_loss=False, value_loss=True)
    out["value"].backward()
    assert model.video.proj_out.weight.grad is None
    assert model.video.blocks[0].attn1.to_k.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("head", ["flow", "hlgauss", "scalar"])
def test_tiny_shapes_and_heads(head, tiny):
    cfg = dataclasses.replace(tiny.cfg, value_head=head)
    torch.manual_seed(0)
    m = WVM(cfg)
    B = 3
    frames = torch.randint(0, 256, (B, 9, 64, 64, 3), dtype=torch.uint8)
    text = _text(B)
    losses = m(frames, torch.rand(B, 5), text)
    assert losses["value"].ndim == 0 and torch.isfinite(losses["value"]) and torch.isfinite(losses["video"])
    (losses["value"] + losses["video"]).backward()
    assert m.value_out.weight.grad is not None
    m.eval()
    kv = m.context_kv(frames[:, :5], text)
    assert len(kv) == cfg.num_layers and kv[0][0].shape == (B, 16, cfg.num_attention_heads, cfg.attention_head_dim)
    y = m.predict_values(kv, torch.zeros(B), text, generator=torch.Generator().manual_seed(0))
    assert y.shape == (B, cfg.chunk)
    if head == "hlgauss":
        assert m.value_out.out_features == 51 and ((y >= 0) & (y <= 1)).all()


def test_flow_inference_euler_steps(tiny):
    """steps=k integrates the velocity field with k explicit Euler steps from seeded noise."""
    text = _text(1)
    frames = torch.randint(0, 256, (1, 5, 64, 64, 3), dtype=torch.uint8)
    kv = tiny.context_kv(frames, text)
    prefix = torch.tensor([0.2])
    y1 = tiny.predict_values(kv, prefix, text, steps=1, generator=torch.Generator().manual_seed(3))
    eps = torch.randn(1, 4, generator=torch.Generator().manual_seed(3))
    vel = tiny.value_stream(*tiny._value_inputs(prefix, eps, torch.zeros(1)), text, kv)[..., 0]
    assert torch.allclose(y1, eps + vel, atol=1e-6)
    y2 = tiny.predict_values(kv, prefix, text, steps=2, generator=torch.Generator().manual_seed(3))
    mid = eps + tiny.value_stream(*tiny._value_inputs(prefix, eps, torch.zeros(1)), text, kv)[..., 0] / 2
    end = mid + tiny.value_stream(*tiny._value_inputs(prefix, mid, torch.full((1,), 0.5)), text, kv)[..., 0] / 2
    assert torch.allclose(y2, end, atol=1e-6)


def test_parameter_counts_per_preset():
    counts = {}
    for name in ("wvm-tiny", "wvm-5b"):
        with torch.device("meta"):
            counts[name] = count_parameters(WVM(get_preset(name)))
    big = counts["wvm-5b"]
    # Appendix A: ~5.0B video DiT, ~0.7B value-side, ~5.7B two-stream transformer.
    assert 4.8e9 < big["video_dit"] < 5.2e9, big
    assert 0.6e9 < big["value_stream"] < 0.75e9, big
    assert 5.4e9 < big["two_stream_transformer"] < 5.9e9, big
    assert counts["wvm-tiny"]["total"] < 3e6
    f = flops_per_chunk(get_preset("wvm-5b"))
    assert f["tokens_video"] == (480 // 32) * (640 // 32) and f["video_dit"] > 1e12


def test_bad_video_model_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_video_model_dir(tmp_path / "nope")
    (tmp_path / "transformer").mkdir()
    (tmp_path / "transformer" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="vae/config.json"):
        check_video_model_dir(tmp_path)


def test_checkpoint_round_trip_and_wrong_preset(tmp_path, tiny):
    from value_labeling.wvm import checkpoint as ck
    from value_labeling.wvm.text import TextCache

    cache = TextCache("precomputed", tiny.cfg.text_len, tiny.cfg.text_dim)
    cache.add("lift the cube", torch.randn(tiny.cfg.text_len, tiny.cfg.text_dim))
    opt = torch.optim.AdamW([p for p in tiny.parameters() if p.requires_grad], lr=1e-4)
    ck.save_checkpoint(tmp_path / "run", 7, tiny, opt, tiny.cfg, {"note": "x"}, cache, [{"step": 7, "loss": 1.0}])
    model, cfg, cache2, meta = ck.load_model(tmp_path / "run")
    assert cfg == tiny.cfg and meta["step"] == 7
    frames = torch.randint(0, 256, (1, 5, 64, 64, 3), dtype=torch.uint8)
    text = cache2.get(["lift the cube"])
    assert torch.equal(text, cache.get(["lift the cube"]))
    a = tiny.predict_values(
        tiny.context_kv(frames, text), torch.zeros(1), text, generator=torch.Generator().manual_seed(0)
    )
    b = model.predict_values(
        model.context_kv(frames, text), torch.zeros(1), text, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="not in the text cache"):
        cache2.get(["an unseen instruction"])
    with pytest.raises(ValueError, match="wvm-tiny model, not wvm-5b"):
        ck.load_model(tmp_path / "run", expect_preset="wvm-5b")
    # A checkpoint whose config says another preset than its weights: a clear error, not garbage.
    d = ck.resolve(tmp_path / "run")
    meta = json.loads((d / "wvm.json").read_text())
    meta["model"]["num_layers"] = 2
    (d / "wvm.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not match"):
        ck.load_model(tmp_path / "run")


def test_latent_stats_survive_checkpoint(tmp_path, tiny):
    """The VAE's latent normalisation lives in the model config, so a checkpoint encodes like training did."""
    from value_labeling.wvm import checkpoint as ck
    from value_labeling.wvm.text import TextCache

    C = tiny.cfg.latent_channels
    cfg = dataclasses.replace(tiny.cfg, latents_mean=tuple(0.1 * i for i in range(C)), latents_std=(0.5,) * C)
    torch.manual_seed(0)
    m = WVM(cfg).eval()
    cache = TextCache("precomputed", cfg.text_len, cfg.text_dim)
    ck.save_checkpoint(tmp_path / "run", 1, m, None, cfg, {}, cache, [])
    m2, cfg2, _, _ = ck.load_model(tmp_path / "run")
    assert cfg2.latents_mean == cfg.latents_mean and list(m2.vae.config.latents_std) == [0.5] * C
    frames = torch.randint(0, 256, (1, 5, 64, 64, 3), dtype=torch.uint8)
    assert torch.equal(m.encode(frames), m2.encode(frames))
    raw = tiny.encode(frames)  # tiny: mean 0, std 1 -> raw latents
    assert torch.allclose(
        m.encode(frames), (raw - torch.tensor(cfg.latents_mean).view(1, -1, 1, 1, 1)) / 0.5, atol=1e-5
    )
