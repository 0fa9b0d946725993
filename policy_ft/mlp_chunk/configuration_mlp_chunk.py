"""Config of the MLP chunk policy (`--policy mlp_chunk`).

Why it exists: the downstream experiment (paper §5.2) compares weightings of the same BC objective, and on
2 CPU cores a learner has to fit a task from ~100 state-only episodes in minutes. A plain MLP from
(observation.state, observation.environment_state) to the next H actions does that (shared feasibility runs
reached 20-60% success on Lift), where ACT trained from scratch for the same budget stayed undertrained.
The paper's learner is π0.5; this is a CPU stand-in, not a claim about π0.5.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot.configs.policies import PreTrainedConfig
from lerobot.configs.types import FeatureType, NormalizationMode
from lerobot.optim.optimizers import AdamWConfig

TYPE = "mlp_chunk"


@PreTrainedConfig.register_subclass(TYPE)
@dataclass
class MLPChunkConfig(PreTrainedConfig):
    n_obs_steps: int = 1
    chunk_size: int = 10
    """H: actions predicted per forward pass (the advantage's horizon in weighted BC)."""
    n_action_steps: int = 10
    """Actions handed out per prediction by `select_action` (rollouts choose their own replan steps)."""
    hidden_dim: int = 256
    n_layers: int = 2
    """Hidden layers (each Linear -> ReLU); the output layer comes on top."""
    dropout: float = 0.0
    normalization_mapping: dict[str, NormalizationMode] = field(
        default_factory=lambda: {
            "STATE": NormalizationMode.MEAN_STD,
            "ENV": NormalizationMode.MEAN_STD,
            "ACTION": NormalizationMode.MEAN_STD,
        }
    )
    optimizer_lr: float = 1e-3
    optimizer_weight_decay: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        if self.n_action_steps > self.chunk_size:
            raise ValueError(f"n_action_steps ({self.n_action_steps}) must be <= chunk_size ({self.chunk_size})")
        if self.n_obs_steps != 1:
            raise ValueError(f"mlp_chunk reads one observation step, got n_obs_steps={self.n_obs_steps}")
        if self.hidden_dim < 1 or self.n_layers < 1:
            raise ValueError(f"hidden_dim and n_layers must be >= 1, got {self.hidden_dim} and {self.n_layers}")

    def get_optimizer_preset(self) -> AdamWConfig:
        return AdamWConfig(lr=self.optimizer_lr, weight_decay=self.optimizer_weight_decay)

    def get_scheduler_preset(self) -> None:
        return None

    def validate_features(self) -> None:
        if self.image_features:
            raise ValueError(
                f"mlp_chunk reads state vectors only; drop the cameras with --inputs (got {', '.join(self.image_features)})"
            )
        if not any(f.type in (FeatureType.STATE, FeatureType.ENV) for f in self.input_features.values()):
            raise ValueError("mlp_chunk needs observation.state or observation.environment_state as input")

    @property
    def observation_delta_indices(self) -> None:
        return None

    @property
    def action_delta_indices(self) -> list:
        return list(range(self.chunk_size))

    @property
    def reward_delta_indices(self) -> None:
        return None
