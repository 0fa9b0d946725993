"""The MLP chunk policy: concat(state inputs) -> MLP -> H x action_dim, trained with per-step L1.

    x = [observation.state, observation.environment_state]      (B, S)   normalised by the preprocessor
    a_hat = MLP(x).view(B, H, D)                                (B, H, D)
    loss_i = mean_{h, d} |a_hat - a| over the unpadded steps     (B,)   (L1, as ACT)

`forward(batch, reduction="none")` returns the per-sample losses weighted BC needs (eq. E.5).
"""

from __future__ import annotations

from collections import deque

import torch
from lerobot.policies.pretrained import PreTrainedPolicy
from lerobot.utils.constants import ACTION
from torch import Tensor, nn

from policy_ft.mlp_chunk.configuration_mlp_chunk import MLPChunkConfig


class MLPChunkPolicy(PreTrainedPolicy):
    config_class = MLPChunkConfig
    name = "mlp_chunk"

    def __init__(self, config: MLPChunkConfig, **kwargs):
        super().__init__(config)
        config.validate_features()
        self.config = config
        self.input_keys = sorted(config.input_features)  # a fixed order: the checkpoint's, on every machine
        in_dim = sum(config.input_features[k].shape[0] for k in self.input_keys)
        self.action_dim = config.action_feature.shape[0]
        layers, width = [], in_dim
        for _ in range(config.n_layers):
            layers += [nn.Linear(width, config.hidden_dim), nn.ReLU()]
            if config.dropout > 0:
                layers.append(nn.Dropout(config.dropout))
            width = config.hidden_dim
        layers.append(nn.Linear(width, config.chunk_size * self.action_dim))
        self.net = nn.Sequential(*layers)
        self.reset()

    def get_optim_params(self) -> dict:
        return self.parameters()

    def reset(self) -> None:
        self._action_queue = deque([], maxlen=self.config.n_action_steps)

    def _inputs(self, batch: dict[str, Tensor]) -> Tensor:
        return torch.cat([batch[k].flatten(1).float() for k in self.input_keys], dim=-1)  # (B, S)

    def predict_action_chunk(self, batch: dict[str, Tensor], **kwargs) -> Tensor:
        x = self._inputs(batch)
        return self.net(x).view(x.shape[0], self.config.chunk_size, self.action_dim)  # (B, H, D)

    @torch.no_grad()
    def select_action(self, batch: dict[str, Tensor], **kwargs) -> Tensor:
        self.eval()
        if not self._action_queue:
            chunk = self.predict_action_chunk(batch)[:, : self.config.n_action_steps]  # (B, n, D)
            self._action_queue.extend(chunk.transpose(0, 1))
        return self._action_queue.popleft()

    def forward(self, batch: dict[str, Tensor], reduction: str = "mean") -> tuple[Tensor, dict]:
        pred = self.predict_action_chunk(batch)  # (B, H, D)
        l1 = (pred - batch[ACTION]).abs()
        if "action_is_pad" in batch:
            keep = (~batch["action_is_pad"]).unsqueeze(-1).to(l1.dtype)  # (B, H, 1)
            per_sample = (l1 * keep).sum(dim=(1, 2)) / (keep.sum(dim=(1, 2)) * self.action_dim).clamp(min=1)
        else:
            per_sample = l1.mean(dim=(1, 2))  # (B,)
        if reduction == "none":
            return per_sample, {}
        loss = per_sample.mean()
        return loss, {"l1_loss": float(loss.detach())}
