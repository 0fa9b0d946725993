"""The World Value Model: Wan2.2 video DiT + a small value DiT coupled by MoT attention at every layer.

Shapes (B batch, C latent channels, n tokens per latent frame, D = video width = heads x head_dim,
d = value width, h = chunk, L = text tokens):

    clip (B, 2h+1, H, W, 3) uint8 --Wan VAE (frozen, causal)--> latents (B, C, 3, H/s, W/s)
        [prefix | current | future]; the prefix latent is discarded (eq. 4)
    video tokens  (B, 2n, D): current (clean, timestep 0 per token) + future (noised, timestep 1000*sigma)
    value tokens  (B, 1+h, d): prefix value (clean, tau=1) + h noisy values (tau)

Every layer i runs Wan's block i on the video tokens with Wan's own submodules (norms, to_q/k/v,
norm_q/k, 3-D RoPE, cross-attention attn2, FFN, scale_shift_table) and the value block i on the value
tokens. The joint self-attention has the asymmetric mask

                  keys: current video | future video | value
    current video        1                 0              0
    future video         1                 1              0
    value                1                 0              1

so video never attends to value (the video stream is bit-for-bit independent of the value stream) and
value never attends to the noised future. Because no video query sees a value key, the masked joint
attention factorises exactly into (a) Wan's self-attention over video tokens and (b) value queries over
[current-video keys/values of that layer, value keys/values]; that is how it is computed (no wasted
masked-out work, and the per-layer current-video k/v can be reused across Euler steps).

Choice not fixed by the paper: current-video tokens do not attend to the noised future (block-causal
video mask). Otherwise the current-video features the value stream reads would depend on the future
latent, which does not exist at inference ("inference needs only prefix + current frames"). The
future tokens still attend to the clean current tokens, as Wan2.2-TI2V's clean first-frame
conditioning does. With `block_causal=False` the video stream is exactly diffusers' Wan forward.

Training runs the layers as `JointLayer`s (`WVM.joint_layers`): module i holds Wan's block i and value
block i and its forward is the whole joint layer, so FSDP2 can shard and gather one joint layer at a
time and activation checkpointing can recompute one (`value_labeling/wvm/sharding.py`). The joint
layers hold the very same submodule objects as `video.blocks[i]` and `value_blocks[i]`; state_dict
keeps only those canonical names, so checkpoints are unchanged. Inference keeps the two-pass form
(video stream, then value stream over cached k/v), which computes the same numbers.

Video flow matching uses Wan's own convention (x_sigma = (1-sigma) x + sigma eps, the DiT predicts
eps - x, timestep = 1000 sigma); with tau = 1-sigma this is eq. 5 with the velocity's sign flipped.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from value_labeling.wvm import heads
from value_labeling.wvm.config import ModelConfig

# ---------------------------------------------------------------------------------------------------
# builders for diffusers' own Wan modules


def wan_transformer_kwargs(cfg: ModelConfig) -> dict:
    return dict(
        patch_size=tuple(cfg.patch_size),
        num_attention_heads=cfg.num_attention_heads,
        attention_head_dim=cfg.attention_head_dim,
        in_channels=cfg.latent_channels,
        out_channels=cfg.latent_channels,
        text_dim=cfg.text_dim,
        freq_dim=cfg.freq_dim,
        ffn_dim=cfg.ffn_dim,
        num_layers=cfg.num_layers,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        eps=1e-6,
        image_dim=None,
        added_kv_proj_dim=None,
        rope_max_seq_len=cfg.rope_max_seq_len,
        pos_embed_seq_len=None,
    )


def wan_vae_kwargs(cfg: ModelConfig) -> dict:
    return dict(
        base_dim=cfg.vae_base_dim,
        decoder_base_dim=cfg.vae_decoder_base_dim,
        z_dim=cfg.latent_channels,
        dim_mult=list(cfg.vae_dim_mult),
        num_res_blocks=cfg.vae_num_res_blocks,
        attn_scales=[],
        temperal_downsample=list(cfg.vae_temporal_downsample),
        dropout=0.0,
        latents_mean=list(cfg.latents_mean or [0.0] * cfg.latent_channels),
        latents_std=list(cfg.latents_std or [1.0] * cfg.latent_channels),
        is_residual=True,
        in_channels=3 * cfg.vae_patch_size**2,
        out_channels=3 * cfg.vae_patch_size**2,
        patch_size=cfg.vae_patch_size,
        scale_factor_temporal=cfg.vae_scale_factor_temporal,
        scale_factor_spatial=cfg.vae_scale_factor_spatial,
    )


def build_video_transformer(cfg: ModelConfig):
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(**wan_transformer_kwargs(cfg))


def build_vae(cfg: ModelConfig):
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(**wan_vae_kwargs(cfg))


_EXPECTED = {
    "num_layers": "num_layers",
    "num_attention_heads": "num_attention_heads",
    "attention_head_dim": "attention_head_dim",
    "ffn_dim": "ffn_dim",
    "in_channels": "latent_channels",
    "text_dim": "text_dim",
}


def check_video_model_dir(path: Path) -> None:
    """A diffusers-format Wan directory: transformer/ and vae/, each a config.json + safetensors."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"--video-model {path} does not exist (expected a diffusers-format Wan2.2 "
            f"directory with transformer/ and vae/ subfolders)"
        )
    missing = []
    for sub in ("transformer", "vae"):
        if not (path / sub / "config.json").is_file():
            missing.append(f"{sub}/config.json")
        if not list((path / sub).glob("*.safetensors")) and not list((path / sub).glob("*.safetensors.index.json")):
            missing.append(f"{sub}/diffusion_pytorch_model*.safetensors")
    if missing:
        raise FileNotFoundError(
            f"--video-model {path} is not a diffusers-format Wan2.2 model directory: missing {', '.join(missing)}. "
            f"Download Wan-AI/Wan2.2-TI2V-5B-Diffusers (or run `value_labeling pretrain-video`) and pass its root."
        )


def load_video_model(path: Path, cfg: ModelConfig):
    """(transformer, vae) from a local diffusers directory, checked against the preset."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    check_video_model_dir(path)
    tr = WanTransformer3DModel.from_pretrained(str(Path(path) / "transformer"), local_files_only=True)
    bad = [
        f"{k}={tr.config[k]} (preset {cfg.preset} needs {getattr(cfg, v)})"
        for k, v in _EXPECTED.items()
        if tr.config[k] != getattr(cfg, v)
    ]
    if bad:
        raise ValueError(f"video model {path} does not match preset {cfg.preset}: {'; '.join(bad)}")
    vae = AutoencoderKLWan.from_pretrained(str(Path(path) / "vae"), local_files_only=True)
    if vae.config.z_dim != cfg.latent_channels:
        raise ValueError(f"VAE in {path} has z_dim={vae.config.z_dim}, preset {cfg.preset} needs {cfg.latent_channels}")
    sf = vae.config.get("scale_factor_spatial") or vae.spatial_compression_ratio
    if sf != cfg.vae_scale_factor_spatial:
        raise ValueError(
            f"VAE in {path} has spatial factor {sf}, preset {cfg.preset} needs {cfg.vae_scale_factor_spatial}"
        )
    return tr, vae


# ---------------------------------------------------------------------------------------------------
# small pieces


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Wan's interleaved rotary embedding (same math as diffusers' WanAttnProcessor). x (B, S, H, Dh)."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    c, s = cos[..., 0::2], sin[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * c - x2 * s
    out[..., 1::2] = x1 * s + x2 * c
    return out.type_as(x)


def sdpa(q, k, v, mask=None):
    """(B, S, H, Dh) layout in and out, like diffusers' dispatch_attention_fn with the native backend."""
    o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
    return o.transpose(1, 2)


class ValueBlock(nn.Module):
    """One value-DiT layer: adaLN-modulated MoT self-attention at the video's attention width, text
    cross-attention at the value width, FFN. Mirrors Wan's block layout at width d."""

    def __init__(self, d: int, joint_heads: int, joint_head_dim: int, heads: int, ffn: int, eps: float = 1e-6):
        super().__init__()
        D = joint_heads * joint_head_dim
        self.joint_heads, self.heads = joint_heads, heads
        self.norm1 = nn.LayerNorm(d, eps, elementwise_affine=False)
        self.to_q, self.to_k, self.to_v = nn.Linear(d, D), nn.Linear(d, D), nn.Linear(d, D)  # d -> shared width
        self.norm_q, self.norm_k = nn.RMSNorm(D, eps=1e-5), nn.RMSNorm(D, eps=1e-5)
        self.to_out = nn.Linear(D, d)  # back to the value width
        self.norm2 = nn.LayerNorm(d, eps, elementwise_affine=True)
        self.cq, self.ck, self.cv, self.co = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.cnorm_q, self.cnorm_k = nn.RMSNorm(d, eps=1e-5), nn.RMSNorm(d, eps=1e-5)
        self.norm3 = nn.LayerNorm(d, eps, elementwise_affine=False)
        self.ffn = nn.Sequential(nn.Linear(d, ffn), nn.GELU(approximate="tanh"), nn.Linear(ffn, d))
        self.scale_shift_table = nn.Parameter(torch.randn(1, 6, d) / d**0.5)

    def forward(self, x, vid_k, vid_v, text, temb):
        # x (B, V, d); vid_k/vid_v (B, n, Hj, Dh) current-video keys (post-norm, post-RoPE) and values;
        # text (B, L, d); temb (B, V, 6, d) per-token modulation from the value flow time.
        shift, scale, gate, c_shift, c_scale, c_gate = (self.scale_shift_table.unsqueeze(0) + temb.float()).unbind(2)
        # 1. MoT joint attention: value queries over [current video | value] keys.
        n = (self.norm1(x.float()) * (1 + scale) + shift).type_as(x)
        q = self.norm_q(self.to_q(n)).unflatten(2, (self.joint_heads, -1))
        k = self.norm_k(self.to_k(n)).unflatten(2, (self.joint_heads, -1))
        v = self.to_v(n).unflatten(2, (self.joint_heads, -1))
        o = sdpa(q, torch.cat([vid_k.to(q.dtype), k], 1), torch.cat([vid_v.to(q.dtype), v], 1))
        x = (x.float() + self.to_out(o.flatten(2)) * gate).type_as(x)
        # 2. Cross-attention to the instruction.
        n2 = self.norm2  # in fp32 whatever the weights' dtype (bf16 under FSDP mixed precision), as Wan's FP32LayerNorm
        n = F.layer_norm(x.float(), n2.normalized_shape, n2.weight.float(), n2.bias.float(), n2.eps).type_as(x)
        q = self.cnorm_q(self.cq(n)).unflatten(2, (self.heads, -1))
        k = self.cnorm_k(self.ck(text)).unflatten(2, (self.heads, -1))
        v = self.cv(text).unflatten(2, (self.heads, -1))
        x = x + self.co(sdpa(q, k, v).flatten(2))
        # 3. FFN.
        n = (self.norm3(x.float()) * (1 + c_scale) + c_shift).type_as(x)
        return (x.float() + self.ffn(n).float() * c_gate).type_as(x)


def wan_block(blk, x, text, tproj, rope, mask):
    """Wan's WanTransformerBlock.forward (per-token timestep branch) with the self-attention's
    key/value exposed for the value stream and an optional attention mask.
    x (B, S, D); text (B, L, D); tproj (B, S, 6, D) -> x (B, S, D), k, v (B, S, Hj, Dh)."""
    shift, scale, gate, c_shift, c_scale, c_gate = (blk.scale_shift_table.unsqueeze(0) + tproj.float()).unbind(2)
    attn = blk.attn1
    n = (blk.norm1(x.float()) * (1 + scale) + shift).type_as(x)
    q = attn.norm_q(attn.to_q(n)).unflatten(2, (attn.heads, -1))
    k = attn.norm_k(attn.to_k(n)).unflatten(2, (attn.heads, -1))
    v = attn.to_v(n).unflatten(2, (attn.heads, -1))
    q, k = apply_rope(q, *rope), apply_rope(k, *rope)
    o = sdpa(q, k, v, mask).flatten(2).type_as(q)
    o = attn.to_out[1](attn.to_out[0](o))
    x = (x.float() + o * gate).type_as(x)
    n = blk.norm2(x.float()).type_as(x)
    x = x + blk.attn2(n, text, None, None)
    n = (blk.norm3(x.float()) * (1 + c_scale) + c_shift).type_as(x)
    x = (x.float() + blk.ffn(n).float() * c_gate).type_as(x)
    return x, k, v


class JointLayer(nn.Module):
    """Joint (MoT) layer i as one module: Wan's block i on the video tokens, then value block i on the
    value tokens reading that layer's current-video keys/values. FSDP2 all-gathers its parameters in
    its forward pre-hook and reduce-scatters their gradients after its backward; with `checkpoint`
    set, its activations are recomputed in backward instead of stored."""

    def __init__(self, video_block: nn.Module, value_block: ValueBlock):
        super().__init__()
        self.video = video_block  # the same object as WVM.video.blocks[i]
        self.value = value_block  # the same object as WVM.value_blocks[i]
        self.checkpoint = False

    def forward(self, x, y, text_video, text_value, tproj, tmod, rope, mask, n_ctx: int):
        """x (B, S, D) video tokens; y (B, V, d) value tokens or None (video only); n_ctx current-video
        tokens the value tokens see (0 = all). -> (x, y)."""
        if self.checkpoint and torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint

            return checkpoint(
                self._layer, x, y, text_video, text_value, tproj, tmod, rope, mask, n_ctx, use_reentrant=False
            )
        return self._layer(x, y, text_video, text_value, tproj, tmod, rope, mask, n_ctx)

    def _layer(self, x, y, text_video, text_value, tproj, tmod, rope, mask, n_ctx):
        x, k, v = wan_block(self.video, x, text_video, tproj, rope, mask)
        if y is not None:
            y = self.value(y, k[:, :n_ctx] if n_ctx else k, v[:, :n_ctx] if n_ctx else v, text_value, tmod)
        return x, y


# ---------------------------------------------------------------------------------------------------


class WVM(nn.Module):
    def __init__(self, cfg: ModelConfig, video=None, vae=None):
        super().__init__()
        from diffusers.models.embeddings import PixArtAlphaTextProjection, TimestepEmbedding, Timesteps

        cfg.validate()
        self.cfg = cfg
        self.video = video if video is not None else build_video_transformer(cfg)
        self.vae = vae if vae is not None else build_vae(cfg)
        self.vae.requires_grad_(False).eval()
        d, h = cfg.value_dim, cfg.chunk
        # Value stream: input embedding, flow-time embedding, text projection, blocks, output head.
        self.value_in = nn.Linear(1, d)
        self.value_pos = nn.Parameter(torch.randn(1, h + 1, d) * 0.02)
        self.value_time_proj = Timesteps(cfg.freq_dim, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.value_time_emb = TimestepEmbedding(cfg.freq_dim, d)
        self.value_time_mod = nn.Linear(d, 6 * d)
        self.value_text = PixArtAlphaTextProjection(cfg.text_dim, d, act_fn="gelu_tanh")
        self.value_blocks = nn.ModuleList(
            [
                ValueBlock(d, cfg.num_attention_heads, cfg.attention_head_dim, cfg.value_heads, cfg.value_ffn_dim)
                for _ in range(cfg.num_layers)
            ]
        )
        self.value_norm_out = nn.LayerNorm(d, 1e-6, elementwise_affine=False)
        self.value_scale_shift = nn.Parameter(torch.randn(1, 2, d) / d**0.5)
        self.value_out = nn.Linear(d, heads.head_out_dim(cfg.value_head, cfg.hl_bins))
        # Registered last, so named_parameters() (which drops repeats) keeps the canonical names.
        self.joint_layers = nn.ModuleList([JointLayer(vb, wb) for vb, wb in zip(self.video.blocks, self.value_blocks)])
        self.register_state_dict_post_hook(_drop_joint_aliases)
        self.register_load_state_dict_post_hook(_joint_aliases_not_missing)

    # -- tokenizer ------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, F, H, W, 3) uint8 -> normalized latents (B, C, 1 + (F-1)/4, H/s, W/s) (posterior mean)."""
        x = frames.permute(0, 4, 1, 2, 3).float().div(127.5).sub(1.0)  # (B, 3, F, H, W) in [-1, 1]
        p = next(self.vae.parameters())
        mu = self.vae.encode(x.to(p.dtype)).latent_dist.mean
        mean = torch.tensor(self.vae.config.latents_mean, device=mu.device, dtype=mu.dtype).view(1, -1, 1, 1, 1)
        std = torch.tensor(self.vae.config.latents_std, device=mu.device, dtype=mu.dtype).view(1, -1, 1, 1, 1)
        return (mu - mean) / std

    # -- video stream (Wan's math, block by block) -------------------------------------------------------
    def video_block(self, blk, x, text, tproj, rope, mask):
        return wan_block(blk, x, text, tproj, rope, mask)

    def _video_embed(self, latents, timestep, text, n_ctx: int, block_causal: bool = True):
        """-> x (B, S, D) patch tokens, temb (B, S, D), tproj (B, S, 6, D), text (B, L, D), rope, mask."""
        W = self.video
        rope = W.rope(latents)
        x = W.patch_embedding(latents).flatten(2).transpose(1, 2)  # (B, S, D)
        S = x.shape[1]
        temb, tproj, text_v, _ = W.condition_embedder(timestep.flatten(), text, None, timestep_seq_len=S)
        tproj = tproj.unflatten(2, (6, -1))  # (B, S, 6, D)
        mask = None
        if block_causal and 0 < n_ctx < S:
            mask = torch.ones(S, S, dtype=torch.bool, device=x.device)
            mask[:n_ctx, n_ctx:] = False  # current tokens do not see the future
        return x, temb, tproj, text_v, rope, mask

    def _video_head(self, x, temb, shape, n_ctx: int):
        """Wan's final norm/projection, unpatchified, for the tokens after the first n_ctx (all tokens
        when n_ctx == 0): (B, C, F_out, h', w')."""
        W = self.video
        B, C, Fr, Hh, Ww = shape
        pt, ph, pw = W.config.patch_size
        S = x.shape[1]
        s0 = n_ctx if n_ctx < S else 0
        xo, te = x[:, s0:], temb[:, s0:]
        shift, scale = (W.scale_shift_table.unsqueeze(0) + te.unsqueeze(2)).chunk(2, dim=2)
        xo = (W.norm_out(xo.float()) * (1 + scale.squeeze(2)) + shift.squeeze(2)).type_as(xo)
        xo = W.proj_out(xo)
        f_out = (Fr // pt) * (S - s0) // S
        xo = xo.reshape(B, f_out, Hh // ph, Ww // pw, pt, ph, pw, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
        return xo.flatten(6, 7).flatten(4, 5).flatten(2, 3)

    def video_stream(self, latents, timestep, text, n_ctx: int, block_causal: bool = True, output: bool = True):
        """latents (B, C, F, h', w'); timestep (B, S) per token; text (B, L, text_dim).
        -> (list over layers of current-video (k, v) each (B, n_ctx, Hj, Dh), output or None).
        output: see `_video_head`."""
        x, temb, tproj, text_v, rope, mask = self._video_embed(latents, timestep, text, n_ctx, block_causal)
        kv = []
        for blk in self.video.blocks:
            x, k, v = wan_block(blk, x, text_v, tproj, rope, mask)
            kv.append((k[:, :n_ctx] if n_ctx else k, v[:, :n_ctx] if n_ctx else v))
        if not output:
            return kv, None
        return kv, self._video_head(x, temb, latents.shape, n_ctx)

    # -- value stream ---------------------------------------------------------------------------------
    def value_stream(self, values, tau, text, kv):
        """values (B, 1+h) token inputs [prefix, noisy values]; tau (B, 1+h) per-token flow time;
        kv per-layer current-video keys/values -> (B, h, out_dim)."""
        x, temb, tmod, txt = self._value_embed(values, tau, text)
        for blk, (k, v) in zip(self.value_blocks, kv):
            x = blk(x, k, v, txt, tmod)
        return self._value_head(x, temb)

    def _value_embed(self, values, tau, text):
        """-> value tokens (B, V, d), flow-time embedding (B, V, d), modulation (B, V, 6, d), text (B, L, d)."""
        x = self.value_in(values.unsqueeze(-1).to(self.value_in.weight.dtype)) + self.value_pos  # (B, V, d)
        B, V, d = x.shape
        t = self.value_time_proj(tau.flatten() * 1000.0)
        temb = self.value_time_emb(t.to(self.value_time_emb.linear_1.weight.dtype)).unflatten(0, (B, V))  # (B, V, d)
        tmod = self.value_time_mod(F.silu(temb)).unflatten(2, (6, d))  # (B, V, 6, d)
        return x, temb, tmod, self.value_text(text)

    def _value_head(self, x, temb):
        shift, scale = (self.value_scale_shift.unsqueeze(0) + temb.unsqueeze(2)).chunk(2, dim=2)
        x = (self.value_norm_out(x.float()) * (1 + scale.squeeze(2)) + shift.squeeze(2)).type_as(x)
        return self.value_out(x[:, 1:])  # drop the prefix token

    def joint_stream(self, latents, timestep, text, n_ctx: int, values=None, tau=None, output: bool = True):
        """Both streams layer by layer through `joint_layers` (the training path; same numbers as
        video_stream followed by value_stream). values/tau None: video only.
        -> (video output or None, value output (B, h, out_dim) or None)."""
        x, temb, tproj, text_v, rope, mask = self._video_embed(latents, timestep, text, n_ctx)
        y = vtemb = tmod = txt = None
        if values is not None:
            y, vtemb, tmod, txt = self._value_embed(values, tau, text)
        for layer in self.joint_layers:
            x, y = layer(x, y, text_v, txt, tproj, tmod, rope, mask, n_ctx)
        video_out = self._video_head(x, temb, latents.shape, n_ctx) if output else None
        return video_out, (self._value_head(y, vtemb) if values is not None else None)

    def _value_inputs(self, prefix, y_tau, tau):
        B, h = prefix.shape[0], self.cfg.chunk
        vals = torch.cat([prefix.view(B, 1), y_tau], 1)
        taus = torch.cat([torch.ones(B, 1, device=prefix.device), tau.view(B, 1).expand(B, h)], 1)
        return vals.float(), taus.float()

    def tokens_per_frame(self, latents) -> int:
        _, _, _, Hh, Ww = latents.shape
        return (Hh // self.cfg.patch_size[1]) * (Ww // self.cfg.patch_size[2])

    # -- training -------------------------------------------------------------------------------------
    def forward(
        self, frames, values, text, video_loss: bool = True, value_loss: bool = True, noise: dict | None = None
    ):
        """Training losses. frames (B, 2h+1, H, W, 3) uint8; values (B, 1+h): [prefix (possibly
        randomized), h labels]; text (B, L, text_dim); noise: `draw_noise(...)` for these B samples
        (default: drawn here from torch's global RNG). Returns {"value", "video"}."""
        lat = self.encode(frames)  # (B, C, 3, h', w')
        ctx, fut = lat[:, :, 1:2], lat[:, :, 2:3]
        B, n = lat.shape[0], self.tokens_per_frame(lat)
        dev = lat.device
        head = self.cfg.value_head
        if noise is None:
            noise = draw_noise(self.cfg, B, video_loss, value_loss, dev)
        zeros = torch.zeros(B, n, device=dev)
        if video_loss:
            sigma, eps_v = noise["sigma"].to(dev), noise["eps_video"].to(dev, fut.dtype)
            s = sigma.view(B, 1, 1, 1, 1)
            lat_in = torch.cat([ctx, ((1 - s) * fut + s * eps_v).type_as(fut)], 2)
            ts = torch.cat([zeros, (sigma * 1000).view(B, 1).expand(B, n)], 1)
        else:
            lat_in, ts = ctx, zeros
        values_in = tau = y = eps = None
        if value_loss:
            prefix, y = values[:, 0].float(), values[:, 1:].float()
            if head == "flow":
                tau, eps = noise["tau"].to(dev), noise["eps_value"].to(dev)
                y_tau, _ = heads.flow_interpolate(y, eps, tau)
                values_in, tau = self._value_inputs(prefix, y_tau, tau)
            else:
                values_in, tau = self._value_inputs(prefix, torch.zeros_like(y), torch.zeros(B, device=dev))
        pred, out = self.joint_stream(lat_in, ts, text, n, values_in, tau, output=video_loss)
        l_video = ((pred.float() - (eps_v - fut).float()) ** 2).mean() if video_loss else torch.zeros((), device=dev)
        l_value = torch.zeros((), device=dev)
        if value_loss:
            if head == "flow":
                l_value = heads.flow_loss(out[..., 0].float(), y, eps)
            else:
                l_value = heads.hl_loss(out, y) if head == "hlgauss" else heads.scalar_loss(out[..., 0], y)
        return {"value": l_value, "video": l_video}

    # -- inference ------------------------------------------------------------------------------------
    @torch.no_grad()
    def context_kv(self, clip, text):
        """clip (B, 1+h, H, W, 3) uint8 [prefix frame, h current frames] -> per-layer current-video k/v."""
        lat = self.encode(clip)[:, :, 1:2]
        n = self.tokens_per_frame(lat)
        kv, _ = self.video_stream(lat, torch.zeros(lat.shape[0], n, device=lat.device), text, n_ctx=n, output=False)
        return kv

    @torch.no_grad()
    def predict_values(self, kv, prefix, text, steps: int | None = None, generator=None):
        """kv from context_kv; prefix (B,) -> (B, h) values (unclipped)."""
        B, h, dev = prefix.shape[0], self.cfg.chunk, prefix.device
        head = self.cfg.value_head
        if head != "flow":
            out = self.value_stream(
                *self._value_inputs(prefix, torch.zeros(B, h, device=dev), torch.zeros(B, device=dev)), text, kv
            )
            return heads.hl_decode(out) if head == "hlgauss" else out[..., 0].float()
        steps = steps or self.cfg.inference_steps
        y = torch.randn(B, h, generator=generator, device="cpu").to(dev)
        for i in range(steps):  # explicit Euler on dy/dtau = f(y, tau), tau: 0 -> 1
            tau = torch.full((B,), i / steps, device=dev)
            y = y + self.value_stream(*self._value_inputs(prefix, y, tau), text, kv)[..., 0].float() / steps
        return y


def draw_noise(
    cfg: ModelConfig,
    B: int,
    video_loss: bool = True,
    value_loss: bool = True,
    device="cpu",
    generator: torch.Generator | None = None,
) -> dict:
    """The training noise of B samples, drawn in the order the loss uses it: video flow time sigma (B,)
    and noise (B, C, 1, h', w'), then value flow time tau (B,) and noise (B, h) (flow head only).

    Drawing it outside the model lets a data-parallel run draw the noise of the global batch once and
    give each rank its rows, so N processes x batch b compute the same losses and gradients as one
    process with batch N*b."""
    H, W = cfg.image_size
    f = cfg.vae_scale_factor_spatial
    out = {}
    if video_loss:
        out["sigma"] = torch.rand(B, device=device, generator=generator)
        out["eps_video"] = torch.randn(B, cfg.latent_channels, 1, H // f, W // f, device=device, generator=generator)
    if value_loss and cfg.value_head == "flow":
        out["tau"] = torch.rand(B, device=device, generator=generator)
        out["eps_value"] = torch.randn(B, cfg.chunk, device=device, generator=generator)
    return out


def _drop_joint_aliases(module, state_dict, prefix, local_metadata) -> None:
    """state_dict names every weight once, canonically (video.blocks.i.*, value_blocks.i.*)."""
    for k in [k for k in state_dict if k.startswith(prefix + "joint_layers.")]:
        del state_dict[k]


def _joint_aliases_not_missing(module, incompatible_keys) -> None:
    """The joint layers' weights are loaded through their canonical names."""
    keep = [k for k in incompatible_keys.missing_keys if ".joint_layers." not in "." + k]
    incompatible_keys.missing_keys[:] = keep


def count_parameters(model: WVM) -> dict:
    video = sum(p.numel() for p in model.video.parameters())
    vae = sum(p.numel() for p in model.vae.parameters())
    value = sum(p.numel() for n, p in model.named_parameters() if not n.startswith(("video.", "vae.")))
    return {
        "video_dit": video,
        "value_stream": value,
        "two_stream_transformer": video + value,
        "vae": vae,
        "total": video + value + vae,
    }


def flops_per_chunk(cfg: ModelConfig, training: bool = False) -> dict:
    """Forward multiply-adds x2 of one chunk (matmuls only; VAE convs counted separately as 0 here:
    see bench/wvm_throughput.py for the VAE estimate). Inference: prefix+current frames only."""
    H, W = cfg.image_size
    n = (H // cfg.vae_scale_factor_spatial // cfg.patch_size[1]) * (
        W // cfg.vae_scale_factor_spatial // cfg.patch_size[2]
    )
    S = 2 * n if training else n
    D, d, L, h, Lt = cfg.video_width, cfg.value_dim, cfg.num_layers, cfg.chunk, cfg.text_len
    V = h + 1
    per_layer_video = (
        2 * S * D * D * 4
        + 2 * 2 * S * S * D
        + 2 * S * D * D * 2
        + 2 * 2 * Lt * D * D
        + 2 * 2 * S * Lt * D
        + 2 * S * D * cfg.ffn_dim * 2
    )
    per_layer_value = (
        2 * V * d * D * 4
        + 2 * 2 * V * (n + V) * D
        + 2 * V * d * d * 2
        + 2 * 2 * Lt * d * d
        + 2 * 2 * V * Lt * d
        + 2 * V * d * cfg.value_ffn_dim * 2
    )
    return {
        "tokens_video": S,
        "tokens_value": V,
        "video_dit": L * per_layer_video,
        "value_stream_per_step": L * per_layer_value,
    }
