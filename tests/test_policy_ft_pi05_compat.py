"""The π0.5 transformers compatibility layer against its math, and lerobot's π0.5 running on top of it."""

import pytest
import torch
from transformers.models.gemma import modeling_gemma
from transformers.models.gemma.configuration_gemma import GemmaConfig

import policy_ft.pi_variants  # noqa: F401  (installs policy_ft.pi05_compat)
from policy_ft import pi05_compat


def test_check_module_is_importable():
    from transformers.models.siglip import check

    assert check.check_whether_transformers_replace_is_installed_correctly() is True
    assert pi05_compat.is_installed()


def test_plain_rmsnorm_matches_formula():
    torch.manual_seed(0)
    norm = modeling_gemma.GemmaRMSNorm(6, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(6))
    x = torch.randn(2, 3, 6)
    y, gate = norm(x)
    expected = x / torch.sqrt((x**2).mean(-1, keepdim=True) + 1e-6) * (1 + norm.weight)
    assert gate is None
    torch.testing.assert_close(y, expected, rtol=1e-6, atol=1e-6)


def test_adaptive_rmsnorm_matches_formula():
    torch.manual_seed(0)
    D, C = 4, 5
    norm = modeling_gemma.GemmaRMSNorm(D, eps=1e-6, cond_dim=C)
    assert not hasattr(norm, "weight") and norm.dense.weight.shape == (3 * D, C)
    assert torch.count_nonzero(norm.dense.weight) == 0  # starts as a plain (1 + b) norm
    with torch.no_grad():
        norm.dense.weight.normal_()
        norm.dense.bias.normal_()
    x, c = torch.randn(2, 3, D), torch.randn(2, C)
    y, gate = norm(x, c)
    mod = c @ norm.dense.weight.T + norm.dense.bias  # (B, 3D)
    scale, shift, g = mod[:, None, :D], mod[:, None, D : 2 * D], mod[:, None, 2 * D :]
    rms = x / torch.sqrt((x**2).mean(-1, keepdim=True) + 1e-6)
    torch.testing.assert_close(y, rms * (1 + scale) + shift, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gate, g.expand(2, 1, D), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="condition of width"):
        norm(x, torch.randn(2, C + 1))


def test_gated_residual():
    x, y, g = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]), torch.tensor([0.5, -1.0])
    assert torch.equal(modeling_gemma._gated_residual(x, y, g), torch.tensor([2.5, -2.0]))
    assert torch.equal(modeling_gemma._gated_residual(x, y, None), torch.tensor([4.0, 6.0]))
    assert modeling_gemma._gated_residual(None, y, g) is y


def test_gemma_model_does_not_rescale_embeddings_and_uses_condition():
    torch.manual_seed(0)
    cfg = GemmaConfig(
        vocab_size=10,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        use_adarms=True,
    )
    assert cfg.adarms_cond_dim == 16
    model = modeling_gemma.GemmaModel(cfg).eval()
    assert model.norm.dense is not None and model.layers[0].input_layernorm.dense is not None
    emb = torch.randn(1, 4, 16)
    c1, c2 = torch.randn(1, 16), torch.randn(1, 16)
    out1 = model(inputs_embeds=emb, adarms_cond=c1, use_cache=False).last_hidden_state
    out2 = model(inputs_embeds=emb, adarms_cond=c2, use_cache=False).last_hidden_state
    assert not torch.allclose(out1, out2)  # the condition reaches the output
    # With zeroed attention/MLP outputs and gates the stack is the identity up to the final norm:
    # no sqrt(hidden) factor is applied to inputs_embeds.
    with torch.no_grad():
        for p in model.layers.parameters():
            p.zero_()
        model.norm.dense.weight.zero_()
        model.norm.dense.bias.zero_()
    out = model(inputs_embeds=emb, adarms_cond=c1, use_cache=False).last_hidden_state
    torch.testing.assert_close(out, emb / torch.sqrt((emb**2).mean(-1, keepdim=True) + 1e-6), rtol=1e-5, atol=1e-6)


def test_paligemma_image_features_are_not_divided():
    from transformers.models.paligemma.modeling_paligemma import PaliGemmaModel

    class Tower(torch.nn.Module):
        def forward(self, x):
            return type("O", (), {"last_hidden_state": x})()

    fake = type("M", (), {"vision_tower": Tower(), "multi_modal_projector": torch.nn.Identity()})()
    x = torch.randn(1, 3, 4)
    assert torch.equal(PaliGemmaModel.get_image_features(fake, x), x)


def _tiny_pi05(chunk=4):
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.pi05.configuration_pi05 import PI05Config
    from lerobot.policies.pi05.modeling_pi05 import PI05Policy

    cfg = PI05Config(
        paligemma_variant="gemma_tiny",
        action_expert_variant="gemma_tiny_expert",
        chunk_size=chunk,
        n_action_steps=chunk,
        image_resolution=(28, 28),
        max_action_dim=8,
        max_state_dim=8,
        device="cpu",
        input_features={
            "observation.images.cam": PolicyFeature(FeatureType.VISUAL, (3, 28, 28)),
            "observation.state": PolicyFeature(FeatureType.STATE, (3,)),
        },
        output_features={"action": PolicyFeature(FeatureType.ACTION, (2,))},
    )
    return PI05Policy(cfg)


def test_pi05_cached_denoise_step_equals_joint_forward():
    """Inference (prefix KV cache, GemmaModel.forward) and training (lerobot's joint layer loop) agree."""
    torch.manual_seed(0)
    policy = _tiny_pi05().eval()
    m = policy.model
    B = 2
    images = [torch.rand(B, 3, 28, 28) * 2 - 1]
    img_masks = [torch.ones(B, dtype=torch.bool)]
    tokens = torch.randint(0, 1000, (B, 7))
    masks = torch.ones(B, 7, dtype=torch.bool)
    masks[1, 5:] = False
    x_t = torch.randn(B, 4, 8)
    t = torch.full((B,), 0.7)
    with torch.no_grad():
        # Joint path (training): prefix and suffix through compute_layer_complete.
        from lerobot.policies.pi05.modeling_pi05 import make_att_2d_masks

        pe, ppm, pam = m.embed_prefix(images, img_masks, tokens, masks)
        se, spm, sam, cond = m.embed_suffix(x_t, t)
        pad = torch.cat([ppm, spm], 1)
        att = make_att_2d_masks(pad, torch.cat([pam, sam], 1))
        pos = torch.cumsum(pad, 1) - 1
        (_, suffix_out), _ = m.paligemma_with_expert.forward(
            attention_mask=m._prepare_attention_masks_4d(att),
            position_ids=pos,
            past_key_values=None,
            inputs_embeds=[pe, se],
            use_cache=False,
            adarms_cond=[None, cond],
        )
        v_joint = m.action_out_proj(suffix_out[:, -4:].float())
        # Cached path (inference): prefix once into a KV cache, then a denoise step on the suffix.
        patt = make_att_2d_masks(ppm, pam)
        _, kv = m.paligemma_with_expert.forward(
            attention_mask=m._prepare_attention_masks_4d(patt),
            position_ids=torch.cumsum(ppm, 1) - 1,
            past_key_values=None,
            inputs_embeds=[pe, None],
            use_cache=True,
        )
        cache_len = kv.get_seq_length()
        v_cached = m.denoise_step(ppm, kv, x_t, t)
        v_cached2 = m.denoise_step(ppm, kv, x_t, t)
    torch.testing.assert_close(v_cached, v_joint, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(v_cached2, v_cached)  # the prefix cache is read-only across steps
    assert kv.get_seq_length() == cache_len


def test_full_size_pi05_builds_with_checkpoint_parameter_names():
    """pi05_base's architecture on the meta device: the names and shapes its safetensors use."""
    from lerobot.policies.pi05.configuration_pi05 import PI05Config
    from lerobot.policies.pi05.modeling_pi05 import PI05Pytorch

    with torch.device("meta"):
        model = PI05Pytorch(PI05Config(device="cpu"))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    p = "paligemma_with_expert."
    assert shapes[p + "gemma_expert.model.layers.0.input_layernorm.dense.weight"] == (3 * 1024, 1024)
    assert shapes[p + "gemma_expert.model.layers.17.post_attention_layernorm.dense.bias"] == (3 * 1024,)
    assert shapes[p + "gemma_expert.model.norm.dense.weight"] == (3 * 1024, 1024)
    assert shapes[p + "paligemma.model.language_model.layers.0.input_layernorm.weight"] == (2048,)
    assert shapes[p + "paligemma.model.language_model.norm.weight"] == (2048,)
    assert shapes[p + "paligemma.model.multi_modal_projector.linear.weight"] == (2048, 1152)
    assert shapes["time_mlp_in.weight"] == (1024, 1024) and shapes["action_in_proj.weight"] == (1024, 32)
    assert not any(k.endswith("input_layernorm.weight") and "gemma_expert" in k for k in shapes)
