"""Building LeRobot policies for weighted BC, and their per-sample losses.

E.5 needs one loss per sample. lerobot's π0, π0.5 and SmolVLA return one with `reduction="none"`;
ACT and Diffusion Policy only return the batch mean, so `per_sample_loss` recomputes their loss with
the same terms, reduced over everything but the batch axis. The unweighted mean of the per-sample
losses equals lerobot's own loss (tested), so `--weighting none` is lerobot's plain BC.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812

PI_TYPES = ("pi05", "pi0")
NATIVE_PER_SAMPLE = ("pi05", "pi0", "smolvla", "mlp_chunk")
# --size of the MLP chunk policy: (hidden layers, width). `small` is the learner of the feasibility runs
# (shared notes: 2 x 256 on Lift state); `default` the wider one that learned to hesitate longer-trained.
MLP_SIZES = {"tiny": (2, 32), "small": (2, 256), "default": (2, 512)}


def _import_policy_modules(policy_type: str) -> None:
    if policy_type in PI_TYPES:
        import policy_ft.pi_variants  # noqa: F401  (installs the transformers compatibility layer first)
    elif policy_type == "act":
        import policy_ft.act_tiny  # noqa: F401  (registers the tiny backbone by name)
    elif policy_type == "mlp_chunk":
        import policy_ft.mlp_chunk  # noqa: F401  (registers the config type; lerobot finds the rest by name)


def policy_class(policy_type: str):
    _import_policy_modules(policy_type)
    from lerobot.policies.factory import get_policy_class

    return get_policy_class(policy_type)


def make_config(
    policy_type: str,
    chunk_length: int,
    size: str = "default",
    image_resolution: int | None = None,
    dtype: str = "float32",
    device: str = "cpu",
):
    """A fresh lerobot config whose action chunk is H (the H of the advantage, eq. E.4)."""
    _import_policy_modules(policy_type)
    from lerobot.policies.factory import make_policy_config

    if size == "small" and policy_type not in ("act", "mlp_chunk"):
        raise ValueError(
            f"--size small exists for --policy act and mlp_chunk only, not {policy_type!r}; pass --size tiny or default"
        )
    kw: dict = {"device": device}
    if policy_type in PI_TYPES:
        kw.update(chunk_size=chunk_length, n_action_steps=chunk_length, dtype=dtype)
        if image_resolution:
            kw["image_resolution"] = (image_resolution, image_resolution)
        if size == "tiny":
            kw.update(
                paligemma_variant="gemma_tiny",
                action_expert_variant="gemma_tiny_expert",
                max_action_dim=8,
                max_state_dim=8,
                tokenizer_max_length=48,
                num_inference_steps=3,
            )
            kw.setdefault("image_resolution", (28, 28))
    elif policy_type == "smolvla":
        kw.update(chunk_size=chunk_length, n_action_steps=chunk_length)
    elif policy_type == "act":
        kw.update(chunk_size=chunk_length, n_action_steps=chunk_length)
        if size == "tiny":
            kw.update(
                dim_model=32,
                n_heads=2,
                dim_feedforward=64,
                n_encoder_layers=1,
                n_decoder_layers=1,
                n_vae_encoder_layers=1,
                latent_dim=8,
                vision_backbone="resnet_tiny",
                pretrained_backbone_weights=None,
            )
        elif size == "small":
            # Between tiny and lerobot's default (width 512, 4 + 1 layers, resnet18): wide enough to fit
            # state-only RoboSuite chunks on a CPU, without the VAE (state-only BC here; its latent is 0 at
            # inference anyway) and with the tiny image backbone should a camera be fed.
            kw.update(
                dim_model=128,
                n_heads=4,
                dim_feedforward=512,
                n_encoder_layers=2,
                n_decoder_layers=1,
                use_vae=False,
                vision_backbone="resnet_tiny",
                pretrained_backbone_weights=None,
            )
    elif policy_type == "mlp_chunk":
        layers, width = MLP_SIZES[size]
        kw.update(chunk_size=chunk_length, n_action_steps=chunk_length, n_layers=layers, hidden_dim=width)
    elif policy_type == "diffusion":
        # lerobot needs the horizon to be a multiple of 2**len(down_dims): round H up to one.
        stages = 2 if size == "tiny" else 3
        mult = 2**stages
        horizon = max(mult, -(-chunk_length // mult) * mult)
        kw.update(horizon=horizon, n_action_steps=min(chunk_length, horizon - 1), drop_n_last_frames=0)
        if size == "tiny":
            kw.update(
                down_dims=(16, 32),
                diffusion_step_embed_dim=16,
                n_groups=4,
                spatial_softmax_num_keypoints=8,
                num_train_timesteps=20,
            )
    else:
        raise ValueError(f"unknown policy type {policy_type!r}")
    return make_policy_config(policy_type, **kw)


def load_config(pretrained: Path, policy_type: str):
    """The config of a local checkpoint, refusing one of another policy type."""
    cfg_file = Path(pretrained) / "config.json"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"{pretrained} is not a lerobot checkpoint directory: no config.json")
    found = json.loads(cfg_file.read_text()).get("type")
    if found != policy_type:
        raise ValueError(
            f"{pretrained} is a '{found}' checkpoint but --policy is '{policy_type}'; "
            f"pass --policy {found} or another checkpoint"
        )
    _import_policy_modules(policy_type)
    from lerobot.configs.policies import PreTrainedConfig

    return PreTrainedConfig.from_pretrained(str(pretrained), local_files_only=True)


def dataset_features(meta, rename: dict[str, str]):
    """Policy features from dataset metadata, after the user's renames."""
    from lerobot.datasets.utils import dataset_to_policy_features

    feats = dataset_to_policy_features(meta.features)
    return {rename.get(k, k): v for k, v in feats.items()}


def check_features(policy_cfg, features: dict, pretrained: bool) -> None:
    """Refuse features that do not fit the policy before any training step.

    π0/π0.5/SmolVLA pad state and action to max dims and accept any camera set, so only sizes are checked.
    A policy built from scratch (no checkpoint) grows its max dims to the dataset's instead: its padding
    is a choice of this run, not a trained shape (e.g. `--size tiny`'s 8 against RoboSuite's 9-d state).
    π0.5 writes every padded state dim into its prompt, so its token budget grows by the same amount.
    A pretrained ACT/Diffusion checkpoint must see exactly the features it was trained on.
    """
    from lerobot.configs.types import FeatureType

    actions = {k: v for k, v in features.items() if v.type is FeatureType.ACTION}
    if not actions:
        raise ValueError("the dataset has no 'action' feature")
    policy_type = policy_cfg.type
    if policy_type in PI_TYPES + ("smolvla",):
        act_dim = next(iter(actions.values())).shape[0]
        state = features.get("observation.state")
        state_dim = 0 if state is None else state.shape[0]
        if not pretrained:
            if state_dim > policy_cfg.max_state_dim and policy_type == "pi05":
                policy_cfg.tokenizer_max_length += state_dim - policy_cfg.max_state_dim
            policy_cfg.max_action_dim = max(policy_cfg.max_action_dim, act_dim)
            policy_cfg.max_state_dim = max(policy_cfg.max_state_dim, state_dim)
        where = "the checkpoint was trained with" if pretrained else "the policy has"
        if act_dim > policy_cfg.max_action_dim:
            raise ValueError(
                f"action has {act_dim} dims but {where} max_action_dim {policy_cfg.max_action_dim}; "
                "train from scratch (no --pretrained) or on a dataset with fewer action dims"
            )
        if state_dim > policy_cfg.max_state_dim:
            raise ValueError(
                f"observation.state has {state_dim} dims but {where} max_state_dim "
                f"{policy_cfg.max_state_dim}; train from scratch (no --pretrained) or on a dataset "
                "with fewer state dims"
            )
        if not any(v.type is FeatureType.VISUAL for v in features.values()):
            raise ValueError(f"{policy_type} needs at least one camera feature; the dataset has none")
        return
    if not pretrained:
        return
    want = {k: tuple(v.shape) for k, v in {**policy_cfg.input_features, **policy_cfg.output_features}.items()}
    have = {k: tuple(v.shape) for k, v in features.items()}
    problems = [f"{k}: checkpoint {s}, dataset {have.get(k, 'missing')}" for k, s in want.items() if have.get(k) != s]
    if problems:
        raise ValueError(
            "the checkpoint's features do not match the dataset (use --rename old=new for names): "
            + "; ".join(problems)
        )


@contextlib.contextmanager
def local_tokenizer(policy_type: str, tokenizer: Path | None):
    """Make lerobot's processor factory load the tokenizer from a local directory, never the hub."""
    if policy_type not in PI_TYPES:
        yield
        return
    from policy_ft.tokenizer import tokenizer_problem

    problem = tokenizer_problem(policy_type, tokenizer)
    if problem is not None:
        raise ValueError(problem)
    import lerobot.policies.pi0.processor_pi0 as p0
    import lerobot.policies.pi05.processor_pi05 as p05

    originals = {m: m.TokenizerProcessorStep for m in (p0, p05)}

    def step(*args, tokenizer_name=None, **kwargs):
        return originals[p05](*args, tokenizer_name=str(Path(tokenizer).resolve()), **kwargs)

    try:
        for m in originals:
            m.TokenizerProcessorStep = step
        yield
    finally:
        for m, orig in originals.items():
            m.TokenizerProcessorStep = orig


def make_processors(policy_cfg, stats, tokenizer: Path | None, pretrained: Path | None = None):
    from lerobot.policies.factory import make_pre_post_processors

    with local_tokenizer(policy_cfg.type, tokenizer):
        if pretrained is not None and (Path(pretrained) / "policy_preprocessor.json").is_file():
            overrides = {"normalizer_processor": {"stats": stats}}
            if tokenizer is not None and policy_cfg.type in PI_TYPES:
                overrides["tokenizer_processor"] = {"tokenizer_name": str(Path(tokenizer).resolve())}
            return make_pre_post_processors(
                policy_cfg,
                pretrained_path=str(pretrained),
                dataset_stats=stats,
                preprocessor_overrides=overrides,
                postprocessor_overrides={"unnormalizer_processor": {"stats": stats}},
            )
        return make_pre_post_processors(policy_cfg, dataset_stats=stats)


def load_checkpoint(path: Path, device: str = "cpu", tokenizer: Path | None = None):
    """(policy, preprocessor, postprocessor) from a `pretrained_model` directory written by `policy_ft train`."""
    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise FileNotFoundError(f"{path} is not a lerobot checkpoint: no config.json")
    policy_type = json.loads(cfg_file.read_text())["type"]
    cls = policy_class(policy_type)
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.policies.factory import make_pre_post_processors

    cfg = PreTrainedConfig.from_pretrained(str(path), local_files_only=True)
    cfg.device = device
    policy = load_pretrained_policy(cls, path, cfg)
    policy.to(device).eval()
    tok = tokenizer or (path / "tokenizer" if (path / "tokenizer").is_dir() else None)
    overrides = {"device_processor": {"device": device}}
    if policy_type in PI_TYPES and tok is not None:
        overrides["tokenizer_processor"] = {"tokenizer_name": str(Path(tok).resolve())}
    pre, post = make_pre_post_processors(cfg, pretrained_path=str(path), preprocessor_overrides=overrides)
    return policy, pre, post


def load_pretrained_policy(cls, path: Path, cfg):
    """`cls.from_pretrained`, then verify (π0/π0.5: redo) the weight loading.

    lerobot's π0/π0.5 `from_pretrained` catches a failed strict load, prints a warning and returns a
    randomly initialised model; and `save_pretrained` drops `embed_tokens.weight` because safetensors
    de-duplicates it with the tied `lm_head.weight`, so its own checkpoints fail that strict load. Here
    the state dict is loaded again with lerobot's key fixes, and anything missing other than a tied
    alias, or anything unexpected, is an error instead of a silently random policy.
    """
    from safetensors.torch import load_file

    policy = cls.from_pretrained(str(path), config=cfg, local_files_only=True)
    if cfg.type not in PI_TYPES:
        return policy
    weights = Path(path) / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{path} has no model.safetensors")
    state = policy._fix_pytorch_state_dict_keys(load_file(str(weights)), policy.config)
    state = {k if k.startswith("model.") else f"model.{k}": v for k, v in state.items()}
    load_weights_checked(policy, state, f"{path} does not fit a {cfg.type} of this configuration")
    return policy


def load_weights_checked(policy, state: dict, what: str) -> None:
    """load_state_dict that tolerates only missing tied aliases (e.g. embed_tokens <-> lm_head)."""
    missing, unexpected = policy.load_state_dict(state, strict=False)
    params = dict(policy.named_parameters(remove_duplicate=False))
    untied = [
        k for k in missing if params.get(k) is None or not any(params.get(o) is params[k] for o in state if o != k)
    ]
    if untied or unexpected:
        raise ValueError(
            f"{what}: missing {untied[:4]}{'...' if len(untied) > 4 else ''}, unexpected {list(unexpected)[:4]}"
        )


def save_tokenizer_copy(tokenizer: Path | None, dest: Path) -> None:
    if tokenizer is not None:
        shutil.copytree(tokenizer, dest / "tokenizer", dirs_exist_ok=True)


# ---------------------------------------------------------------------------------------------
# Per-sample losses
# ---------------------------------------------------------------------------------------------


def per_sample_loss(policy, batch: dict) -> torch.Tensor:
    """(B,) training losses of a preprocessed batch; their mean is the policy's own training loss."""
    name = policy.name
    if name in NATIVE_PER_SAMPLE:
        losses, _ = policy.forward(batch, reduction="none")
        return losses
    if name == "act":
        return _act_per_sample(policy, batch)
    if name == "diffusion":
        return _diffusion_per_sample(policy, batch)
    raise ValueError(f"no per-sample loss for policy type {name!r}")


def _act_per_sample(policy, batch: dict) -> torch.Tensor:
    """lerobot ACTPolicy.forward, reduced per sample: mean_{t,d} masked L1 + kl_weight * KL(sample)."""
    from lerobot.utils.constants import ACTION, OBS_IMAGES

    if policy.config.image_features:
        batch = dict(batch)
        batch[OBS_IMAGES] = [batch[k] for k in policy.config.image_features]
    actions_hat, (mu, log_sigma_x2) = policy.model(batch)  # (B, H, D)
    l1 = F.l1_loss(batch[ACTION], actions_hat, reduction="none") * ~batch["action_is_pad"].unsqueeze(-1)
    loss = l1.mean(dim=(1, 2))  # (B,)
    if policy.config.use_vae and mu is not None:
        kld = (-0.5 * (1 + log_sigma_x2 - mu.pow(2) - log_sigma_x2.exp())).sum(-1)  # (B,)
        loss = loss + kld * policy.config.kl_weight
    return loss


def _diffusion_per_sample(policy, batch: dict) -> torch.Tensor:
    """lerobot DiffusionModel.compute_loss, reduced per sample (mean over horizon and action dims)."""
    from lerobot.utils.constants import ACTION, OBS_IMAGES

    cfg = policy.config
    batch = dict(batch)
    if cfg.image_features:
        for key in cfg.image_features:
            if cfg.n_obs_steps == 1 and batch[key].ndim == 4:
                batch[key] = batch[key].unsqueeze(1)
        batch[OBS_IMAGES] = torch.stack([batch[k] for k in cfg.image_features], dim=-4)
    model = policy.diffusion
    global_cond = model._prepare_global_conditioning(batch)  # (B, cond)
    trajectory = batch[ACTION]  # (B, horizon, D)
    eps = torch.randn(trajectory.shape, device=trajectory.device)
    timesteps = torch.randint(
        0, model.noise_scheduler.config.num_train_timesteps, (trajectory.shape[0],), device=trajectory.device
    ).long()
    noisy = model.noise_scheduler.add_noise(trajectory, eps, timesteps)
    pred = model.unet(noisy, timesteps, global_cond=global_cond)
    target = eps if cfg.prediction_type == "epsilon" else trajectory
    loss = F.mse_loss(pred, target, reduction="none")
    if cfg.do_mask_loss_for_padding:
        loss = loss * (~batch["action_is_pad"]).unsqueeze(-1)
    return loss.mean(dim=(1, 2))
