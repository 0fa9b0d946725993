"""Extra Gemma size variants for lerobot's π0 / π0.5, so a small model trains on a CPU.

lerobot 0.4.4 knows two sizes ("gemma_2b" for the VLM, "gemma_300m" for the action expert) and fixes the
SigLIP tower at so400m with a 2048-wide projector. Full size is 3.3B parameters: too big for the CPU tests
and smoke runs this toolkit needs. A registered variant carries its own SigLIP size and vocabulary, and
is accepted anywhere lerobot accepts a variant name (`PI05Config(paligemma_variant="gemma_tiny")`), so
a tiny checkpoint saves and loads with lerobot's own `from_pretrained` once this module is imported.

Constraints that come from lerobot's joint-attention code (`compute_layer_complete`): the VLM and the
expert must share depth, head count, kv-head count and head_dim, and the head count must be 8 (the code
reshapes the attention output to 8 * head_dim). `register_gemma_variant` checks the head count.

The built-in full-size variants are untouched: "gemma_2b"/"gemma_300m" still go through lerobot's code.
"""

from __future__ import annotations

from dataclasses import dataclass

import policy_ft.pi05_compat  # noqa: F401  (π0/π0.5 need the transformers compatibility layer)


@dataclass(frozen=True)
class SiglipSize:
    hidden_size: int = 32
    intermediate_size: int = 64
    num_hidden_layers: int = 1
    num_attention_heads: int = 2
    patch_size: int = 14


@dataclass(frozen=True)
class GemmaVariant:
    width: int
    depth: int
    mlp_dim: int
    num_heads: int = 8
    num_kv_heads: int = 1
    head_dim: int = 8
    vocab_size: int = 257152
    vision: SiglipSize | None = None  # only read for the VLM side


VARIANTS: dict[str, GemmaVariant] = {}


def register_gemma_variant(name: str, variant: GemmaVariant) -> None:
    if variant.num_heads != 8:
        raise ValueError(f"lerobot's π0/π0.5 joint attention needs num_heads == 8, got {variant.num_heads}")
    VARIANTS[name] = variant


# Tiny sizes for tests and CPU smoke runs (~1M parameters with a 1024-token vocabulary).
register_gemma_variant("gemma_tiny", GemmaVariant(width=32, depth=2, mlp_dim=64, vocab_size=1024, vision=SiglipSize()))
register_gemma_variant("gemma_tiny_expert", GemmaVariant(width=16, depth=2, mlp_dim=32, vocab_size=1024))


def _lerobot_gemma_config(module, variant: GemmaVariant):
    cfg = module.GemmaConfig(
        width=variant.width,
        depth=variant.depth,
        mlp_dim=variant.mlp_dim,
        num_heads=variant.num_heads,
        num_kv_heads=variant.num_kv_heads,
        head_dim=variant.head_dim,
    )
    cfg.variant = variant
    return cfg


def _make_get_gemma_config(module, original):
    def get_gemma_config(name: str):
        if name in VARIANTS:
            return _lerobot_gemma_config(module, VARIANTS[name])
        return original(name)

    return get_gemma_config


def _make_config_post_init(original):
    """Let lerobot validate everything else, with our variant names standing in as valid ones."""

    def __post_init__(self):
        vlm, expert = self.paligemma_variant, self.action_expert_variant
        if vlm in VARIANTS:
            self.paligemma_variant = "gemma_2b"
        if expert in VARIANTS:
            self.action_expert_variant = "gemma_300m"
        try:
            original(self)
        finally:
            self.paligemma_variant, self.action_expert_variant = vlm, expert

    return __post_init__


def _make_with_expert_init(module, original):
    def __init__(
        self,
        vlm_config,
        action_expert_config,
        use_adarms=None,
        precision="bfloat16",
        image_size=224,
        freeze_vision_encoder=False,
        train_expert_only=False,
    ):
        vlm_v = getattr(vlm_config, "variant", None)
        exp_v = getattr(action_expert_config, "variant", None)
        if vlm_v is None and exp_v is None:
            return original(
                self,
                vlm_config,
                action_expert_config,
                use_adarms,
                precision,
                image_size,
                freeze_vision_encoder,
                train_expert_only,
            )
        # Same construction as lerobot's PaliGemmaWithExpertModel.__init__, sizes from the variants.
        use_adarms = use_adarms or [False, False]
        module.nn.Module.__init__(self)
        self.freeze_vision_encoder = freeze_vision_encoder
        self.train_expert_only = train_expert_only
        vocab = vlm_v.vocab_size if vlm_v is not None else 257152
        vision = (vlm_v.vision if vlm_v is not None else None) or SiglipSize(
            hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16
        )
        hf = module.CONFIG_MAPPING["paligemma"]()
        hf._vocab_size = vocab
        hf.image_token_index = vocab
        tc = hf.text_config
        tc.hidden_size, tc.intermediate_size = vlm_config.width, vlm_config.mlp_dim
        tc.num_attention_heads, tc.head_dim = vlm_config.num_heads, vlm_config.head_dim
        tc.num_hidden_layers, tc.num_key_value_heads = vlm_config.depth, vlm_config.num_kv_heads
        tc.hidden_activation, tc.torch_dtype, tc.vocab_size = "gelu_pytorch_tanh", "float32", vocab
        tc.use_adarms = use_adarms[0]
        tc.adarms_cond_dim = vlm_config.width if use_adarms[0] else None
        vc = hf.vision_config
        vc.image_size, vc.patch_size = image_size, vision.patch_size
        vc.hidden_size, vc.intermediate_size = vision.hidden_size, vision.intermediate_size
        vc.num_hidden_layers, vc.num_attention_heads = vision.num_hidden_layers, vision.num_attention_heads
        vc.projection_dim = vlm_config.width  # projector output joins the language stream
        vc.projector_hidden_act, vc.torch_dtype = "gelu_fast", "float32"
        hf.text_config.num_image_tokens = (image_size // vision.patch_size) ** 2
        expert_hf = module.CONFIG_MAPPING["gemma"](
            head_dim=action_expert_config.head_dim,
            hidden_size=action_expert_config.width,
            intermediate_size=action_expert_config.mlp_dim,
            num_attention_heads=action_expert_config.num_heads,
            num_hidden_layers=action_expert_config.depth,
            num_key_value_heads=action_expert_config.num_kv_heads,
            vocab_size=exp_v.vocab_size if exp_v is not None else 257152,
            hidden_activation="gelu_pytorch_tanh",
            torch_dtype="float32",
            use_adarms=use_adarms[1],
            adarms_cond_dim=action_expert_config.width if use_adarms[1] else None,
        )
        self.paligemma = module.PaliGemmaForConditionalGeneration(config=hf)
        self.gemma_expert = module.GemmaForCausalLM(config=expert_hf)
        self.gemma_expert.model.embed_tokens = None
        self.to_bfloat16_for_selected_params(precision)
        self._set_requires_grad()

    return __init__


def install() -> None:
    from lerobot.policies.pi0 import configuration_pi0, modeling_pi0
    from lerobot.policies.pi05 import configuration_pi05, modeling_pi05

    for module, cfg_cls in (
        (modeling_pi0, configuration_pi0.PI0Config),
        (modeling_pi05, configuration_pi05.PI05Config),
    ):
        if getattr(module, "_wvm_variants", False):
            continue
        module.get_gemma_config = _make_get_gemma_config(module, module.get_gemma_config)
        module.PaliGemmaWithExpertModel.__init__ = _make_with_expert_init(
            module, module.PaliGemmaWithExpertModel.__init__
        )
        cfg_cls.__post_init__ = _make_config_post_init(cfg_cls.__post_init__)
        module._wvm_variants = True


install()
