"""Run lerobot 0.4.4's π0 / π0.5 on PyPI's transformers 4.53.2, without touching site-packages.

lerobot's `PI05Policy` (and `PI0Policy`) were written against openpi's patched transformers
("transformers_replace"): a Gemma whose RMSNorm can be *adaptive* (scale, shift and a residual gate
predicted from the flow-matching time embedding), a gated residual, a Gemma model that does not
re-scale input embeddings by sqrt(width) (openpi scales language embeddings itself and leaves image
embeddings unscaled), a PaliGemma that does not divide image features by sqrt(width), a SigLIP that
casts its embeddings to the encoder's bf16, an attention that concatenates a prefix KV cache without
mutating it, and a marker module `transformers.models.siglip.check`. PyPI's transformers has none of
them, so importing this module installs them by patching the classes in place (methods, not module
copies, so references taken before the import see the same behaviour).

Why patching in place and not subclasses: lerobot builds the models through `CONFIG_MAPPING` and
`GemmaForCausalLM`, and calls `modeling_gemma._gated_residual` by module attribute; patching the classes
is the only way to reach those code paths without forking lerobot. The consequence, the same as with
openpi's replacement: in this process Gemma's RMSNorm returns `(normed, gate)` and GemmaModel no longer
multiplies `inputs_embeds` by sqrt(hidden_size). No other package of this project uses Gemma.

Parameter names are unchanged from openpi's replacement (`input_layernorm.dense.{weight,bias}` for the
adaptive norms, `...layernorm.weight` for the plain ones), so lerobot's `pi05_base` safetensors load
with `strict=True`.

The math (x: (..., D) hidden, c: (B, C) condition, eps = config.rms_norm_eps):
    rms(x)     = x / sqrt(mean(x**2, -1) + eps)                       (computed in float32)
    plain:     y = rms(x) * (1 + w),                gate = None
    adaptive:  scale, shift, gate = split(W c + b, 3)   each (B, 1, D)
               y = rms(x) * (1 + scale) + shift
    residual:  h' = h + f(y)        if gate is None
               h' = h + f(y) * gate otherwise
"""

from __future__ import annotations

import sys
import types

import torch
import transformers
from torch import nn
from transformers.cache_utils import DynamicCache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_outputs import BaseModelOutputWithPast
from transformers.models.gemma import configuration_gemma, modeling_gemma
from transformers.models.paligemma import modeling_paligemma
from transformers.models.siglip import modeling_siglip

_MARK = "_wvm_pi05_compat"


# ---------------------------------------------------------------------------------------------
# Adaptive RMSNorm and gated residual
# ---------------------------------------------------------------------------------------------


def _cond_dim(config) -> int | None:
    """The condition width of adaptive norms, or None when the model uses plain RMSNorm."""
    if not getattr(config, "use_adarms", False):
        return None
    return getattr(config, "adarms_cond_dim", None) or config.hidden_size


def _rmsnorm_init(self, dim: int, eps: float = 1e-6, cond_dim: int | None = None):
    nn.Module.__init__(self)
    self.eps = eps
    self.dim = dim
    self.cond_dim = cond_dim
    if cond_dim is not None:
        # W: (3D, C), b: (3D,). Zero weights make the norm start as rms(x) * (1 + b_scale) + b_shift.
        self.dense = nn.Linear(cond_dim, dim * 3, bias=True)
        nn.init.zeros_(self.dense.weight)
    else:
        self.weight = nn.Parameter(torch.zeros(dim))  # Gemma convention: scale = 1 + w
        self.dense = None


def _rmsnorm_forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
    dtype = x.dtype
    var = torch.mean(torch.square(x.float()), dim=-1, keepdim=True)  # (..., 1) float32
    normed = x * torch.rsqrt(var + self.eps)  # promoted to float32
    if cond is None or self.dense is None:
        if self.dense is not None:
            raise ValueError("this RMSNorm is adaptive: it needs `cond` (the time embedding)")
        return (normed * (1.0 + self.weight.float())).to(dtype), None
    if cond.shape[-1] != self.cond_dim:
        raise ValueError(f"expected a condition of width {self.cond_dim}, got {cond.shape[-1]}")
    modulation = self.dense(cond)  # (B, 3D)
    if x.ndim == 3:
        modulation = modulation.unsqueeze(1)  # (B, 1, 3D) broadcasts over the sequence
    scale, shift, gate = torch.chunk(modulation, 3, dim=-1)
    normed = normed * (1.0 + scale.float()) + shift.float()
    return normed.to(dtype), gate.to(dtype)


def _rmsnorm_extra_repr(self):
    if self.dense is not None:
        return f"{self.dim}, eps={self.eps}, adaptive=True, cond_dim={self.cond_dim}"
    return f"{tuple(self.weight.shape)}, eps={self.eps}"


def gated_residual(x, y, gate):
    """h + f(y) * gate, or the plain residual h + f(y) when there is no gate."""
    if x is None and y is None:
        return None
    if x is None or y is None:
        return x if x is not None else y
    if gate is None:
        return x + y
    return x + y * gate


# ---------------------------------------------------------------------------------------------
# Attention with a read-only prefix cache, decoder layer and model forward with `adarms_cond`
# ---------------------------------------------------------------------------------------------


def _attention_forward(
    self,
    hidden_states: torch.Tensor,
    position_embeddings: tuple[torch.Tensor, torch.Tensor],
    attention_mask: torch.Tensor | None,
    past_key_value=None,
    cache_position: torch.LongTensor | None = None,
    use_cache: bool = False,
    **kwargs,
):
    input_shape = hidden_states.shape[:-1]  # (B, T)
    hidden_shape = (*input_shape, -1, self.head_dim)
    q = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)  # (B, nh, T, hd)
    k = self.k_proj(hidden_states).view(hidden_shape).transpose(1, 2)  # (B, nkv, T, hd)
    v = self.v_proj(hidden_states).view(hidden_shape).transpose(1, 2)
    cos, sin = position_embeddings
    q, k = modeling_gemma.apply_rotary_pos_emb(q, k, cos, sin)
    if past_key_value is not None:
        if use_cache:
            cache_kwargs = {"sin": sin, "cos": cos, "cache_position": cache_position}
            k, v = past_key_value.update(k, v, self.layer_idx, cache_kwargs)
        else:
            # π0.5 denoising: attend to the cached prefix without appending the suffix to the cache,
            # so ten denoising steps all see the same prefix.
            k = torch.cat([past_key_value[self.layer_idx][0], k], dim=2)
            v = torch.cat([past_key_value[self.layer_idx][1], v], dim=2)
    attention_interface = modeling_gemma.eager_attention_forward
    if self.config._attn_implementation != "eager":
        attention_interface = modeling_gemma.ALL_ATTENTION_FUNCTIONS[self.config._attn_implementation]
    kwargs.pop("position_ids", None)
    kwargs.pop("output_attentions", None)
    attn_output, attn_weights = attention_interface(
        self,
        q,
        k,
        v,
        attention_mask,
        dropout=0.0 if not self.training else self.attention_dropout,
        scaling=self.scaling,
        **kwargs,
    )
    attn_output = attn_output.reshape(*input_shape, -1).contiguous()
    return self.o_proj(attn_output), attn_weights


def _decoder_layer_init(self, config, layer_idx: int):
    modeling_gemma.GradientCheckpointingLayer.__init__(self)
    self.hidden_size = config.hidden_size
    self.self_attn = modeling_gemma.GemmaAttention(config=config, layer_idx=layer_idx)
    self.mlp = modeling_gemma.GemmaMLP(config)
    cond_dim = _cond_dim(config)
    self.input_layernorm = modeling_gemma.GemmaRMSNorm(config.hidden_size, eps=config.rms_norm_eps, cond_dim=cond_dim)
    self.post_attention_layernorm = modeling_gemma.GemmaRMSNorm(
        config.hidden_size, eps=config.rms_norm_eps, cond_dim=cond_dim
    )


def _decoder_layer_forward(
    self,
    hidden_states: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    position_ids: torch.LongTensor | None = None,
    past_key_value=None,
    output_attentions: bool | None = False,
    use_cache: bool | None = False,
    cache_position: torch.LongTensor | None = None,
    position_embeddings=None,
    adarms_cond: torch.Tensor | None = None,
    **kwargs,
):
    residual = hidden_states
    h, gate = self.input_layernorm(hidden_states, adarms_cond)
    h, attn_weights = self.self_attn(
        hidden_states=h,
        attention_mask=attention_mask,
        past_key_value=past_key_value,
        use_cache=use_cache,
        cache_position=cache_position,
        position_embeddings=position_embeddings,
        **kwargs,
    )
    hidden_states = gated_residual(residual, h, gate)
    residual = hidden_states
    h, gate = self.post_attention_layernorm(hidden_states, adarms_cond)
    hidden_states = gated_residual(residual, self.mlp(h), gate)
    return (hidden_states, attn_weights) if output_attentions else (hidden_states,)


def _gemma_model_init(self, config):
    modeling_gemma.GemmaPreTrainedModel.__init__(self, config)
    self.padding_idx = config.pad_token_id
    self.vocab_size = config.vocab_size
    self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
    self.layers = nn.ModuleList([modeling_gemma.GemmaDecoderLayer(config, i) for i in range(config.num_hidden_layers)])
    self.norm = modeling_gemma.GemmaRMSNorm(config.hidden_size, eps=config.rms_norm_eps, cond_dim=_cond_dim(config))
    self.rotary_emb = modeling_gemma.GemmaRotaryEmbedding(config=config)
    self.gradient_checkpointing = False
    self.post_init()


def _gemma_model_forward(
    self,
    input_ids: torch.LongTensor | None = None,
    attention_mask: torch.Tensor | None = None,
    position_ids: torch.LongTensor | None = None,
    past_key_values=None,
    inputs_embeds: torch.FloatTensor | None = None,
    use_cache: bool | None = None,
    output_attentions: bool | None = None,
    output_hidden_states: bool | None = None,
    cache_position: torch.LongTensor | None = None,
    adarms_cond: torch.Tensor | None = None,
    return_dict: bool | None = None,
    **kwargs,
) -> BaseModelOutputWithPast:
    output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
    output_hidden_states = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
    use_cache = self.config.use_cache if use_cache is None else use_cache
    if (input_ids is None) ^ (inputs_embeds is not None):
        raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
    if self.gradient_checkpointing and self.training and use_cache:
        use_cache = False
    if inputs_embeds is None:
        inputs_embeds = self.embed_tokens(input_ids)
    if use_cache and past_key_values is None:
        past_key_values = DynamicCache()
    if cache_position is None:
        seen = past_key_values.get_seq_length() if past_key_values is not None else 0
        cache_position = torch.arange(seen, seen + inputs_embeds.shape[1], device=inputs_embeds.device)
    if position_ids is None:
        position_ids = cache_position.unsqueeze(0)
    if attention_mask is not None and attention_mask.ndim == 4:
        causal_mask = attention_mask  # π0 passes a prepared additive (B, 1, Tq, Tk) mask
    else:
        causal_mask = create_causal_mask(
            config=self.config,
            input_embeds=inputs_embeds,
            attention_mask=attention_mask,
            cache_position=cache_position,
            past_key_values=past_key_values,
            position_ids=position_ids,
        )
    hidden_states = inputs_embeds
    if len(self.layers) > 0 and self.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16:
        hidden_states = hidden_states.to(torch.bfloat16)
    position_embeddings = self.rotary_emb(hidden_states, position_ids)
    # No `hidden_states * sqrt(hidden_size)` here: openpi scales language tokens before the call.
    all_hidden_states = () if output_hidden_states else None
    all_attns = () if output_attentions else None
    for layer in self.layers[: self.config.num_hidden_layers]:
        if output_hidden_states:
            all_hidden_states += (hidden_states,)
        out = layer(
            hidden_states,
            attention_mask=causal_mask,
            position_ids=position_ids,
            past_key_value=past_key_values,
            output_attentions=output_attentions,
            use_cache=use_cache,
            cache_position=cache_position,
            position_embeddings=position_embeddings,
            adarms_cond=adarms_cond,
            **kwargs,
        )
        hidden_states = out[0]
        if output_attentions:
            all_attns += (out[1],)
    hidden_states, _ = self.norm(hidden_states, adarms_cond)
    if output_hidden_states:
        all_hidden_states += (hidden_states,)
    return BaseModelOutputWithPast(
        last_hidden_state=hidden_states,
        past_key_values=past_key_values if use_cache else None,
        hidden_states=all_hidden_states,
        attentions=all_attns,
    )


def _make_init_weights(original):
    def _init_weights(self, module):
        if isinstance(module, modeling_gemma.GemmaRMSNorm) and getattr(module, "dense", None) is not None:
            return  # adaptive norm: its dense layer is initialised as a Linear
        return original(self, module)

    return _init_weights


def _make_config_init(original):
    def __init__(self, *args, use_adarms: bool = False, adarms_cond_dim: int | None = None, **kwargs):
        original(self, *args, **kwargs)
        self.use_adarms = use_adarms
        self.adarms_cond_dim = adarms_cond_dim if adarms_cond_dim is not None or not use_adarms else self.hidden_size

    return __init__


# ---------------------------------------------------------------------------------------------
# PaliGemma and SigLIP
# ---------------------------------------------------------------------------------------------


def _paligemma_image_features(self, pixel_values: torch.FloatTensor):
    """SigLIP -> linear projector, without HF's division by sqrt(text width) (openpi does not scale)."""
    image_outputs = self.vision_tower(pixel_values)
    return self.multi_modal_projector(image_outputs.last_hidden_state)


def _make_siglip_encoder_forward(original):
    def forward(self, inputs_embeds, *args, **kwargs):
        # lerobot keeps the patch/position embeddings in float32 and the encoder in bf16.
        if len(self.layers) > 0 and self.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16:
            inputs_embeds = inputs_embeds.to(torch.bfloat16)
        return original(self, inputs_embeds, *args, **kwargs)

    return forward


def check_whether_transformers_replace_is_installed_correctly() -> bool:
    """The marker lerobot's π0/π0.5 call before building a model: true once this layer is installed."""
    return is_installed()


def is_installed() -> bool:
    return getattr(modeling_gemma.GemmaRMSNorm, _MARK, False)


def install() -> None:
    """Patch transformers in this process; idempotent."""
    if is_installed():
        return
    if not transformers.__version__.startswith("4.53."):
        raise ImportError(
            f"policy_ft.pi05_compat targets transformers 4.53.x (the version lerobot 0.4.4's π0.5 was written "
            f"for); found {transformers.__version__}"
        )
    g = modeling_gemma
    g.GemmaRMSNorm.__init__ = _rmsnorm_init
    g.GemmaRMSNorm.forward = _rmsnorm_forward
    g.GemmaRMSNorm.extra_repr = _rmsnorm_extra_repr
    g._gated_residual = gated_residual
    g.GemmaAttention.forward = _attention_forward
    g.GemmaDecoderLayer.__init__ = _decoder_layer_init
    g.GemmaDecoderLayer.forward = _decoder_layer_forward
    g.GemmaModel.__init__ = _gemma_model_init
    g.GemmaModel.forward = _gemma_model_forward
    g.GemmaPreTrainedModel._init_weights = _make_init_weights(g.GemmaPreTrainedModel._init_weights)
    configuration_gemma.GemmaConfig.__init__ = _make_config_init(configuration_gemma.GemmaConfig.__init__)
    modeling_paligemma.PaliGemmaModel.get_image_features = _paligemma_image_features
    modeling_siglip.SiglipEncoder.forward = _make_siglip_encoder_forward(modeling_siglip.SiglipEncoder.forward)

    check = types.ModuleType("transformers.models.siglip.check")
    check.__doc__ = "Supplied by policy_ft.pi05_compat (openpi's transformers_replace marker)."
    check.check_whether_transformers_replace_is_installed_correctly = (
        check_whether_transformers_replace_is_installed_correctly
    )
    sys.modules["transformers.models.siglip.check"] = check
    sys.modules["transformers.models.siglip"].check = check
    setattr(g.GemmaRMSNorm, _MARK, True)


install()
