"""The policy interface rollouts drive, and its two implementations.

A policy is anything with `reset()` (a new episode starts) and `infer(obs) -> actions`, where `obs`
uses LeRobot feature names and `actions` is an (H, action_dim) chunk or one (action_dim,) action:

    obs = {"observation.images.agentview": (H, W, 3) uint8, "observation.images.robot0_eye_in_hand": ...,
           "observation.state": (9,) float32, "observation.environment_state": (7 * objects,) float32,
           "task": str, "prompt": str}

`spec` says which of those the policy reads and at which image size, so the rollout renders only the
cameras it needs, at the policy's resolution, and refuses a policy whose features do not match the
environment before any trial runs.

- `LeRobotPolicy`: a local lerobot checkpoint of any policy type, loaded by `policy_ft`'s loader (the
  one `policy_ft serve` uses: lerobot's factory + the checkpoint's saved pre/post-processors).
- `WebsocketPolicy`: a policy served over openpi's websocket protocol (`policy_ft serve`, or an openpi
  server), through PyPI's openpi-client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlparse

import numpy as np

ENV_STATE = "observation.environment_state"


@dataclass(frozen=True)
class PolicySpec:
    image_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # key -> (3, H, W)
    state_dim: int | None = None  # None: unknown (e.g. a server that does not say)
    action_dim: int | None = None
    n_action_steps: int | None = None  # actions to execute per inference, when the policy says
    env_state_dim: int | None = None  # observation.environment_state size; 0: not read; None: unknown
    inputs_known: bool = False  # the policy said what it reads: no image shapes then means no camera at all


@runtime_checkable
class Policy(Protocol):
    spec: PolicySpec

    def reset(self) -> None: ...

    def infer(self, obs: dict) -> np.ndarray: ...


def resolve_checkpoint(path: str | Path) -> Path:
    """A `pretrained_model` directory: the path itself, or the last checkpoint of a training run."""
    p = Path(path)
    if (p / "config.json").is_file():
        return p
    for cand in (p / "pretrained_model", p / "checkpoints" / "last" / "pretrained_model"):
        if (cand / "config.json").is_file():
            return cand
    ckpts = sorted((p / "checkpoints").glob("*/pretrained_model/config.json")) if (p / "checkpoints").is_dir() else []
    if ckpts:
        return ckpts[-1].parent
    if not p.exists():
        raise FileNotFoundError(
            f"policy checkpoint {p} does not exist; pass a lerobot `pretrained_model` directory or ws://HOST:PORT"
        )
    raise FileNotFoundError(
        f"{p} is not a lerobot checkpoint (no config.json there, nor in "
        "pretrained_model/ or checkpoints/*/pretrained_model/)"
    )


class LeRobotPolicy:
    """A local lerobot checkpoint (any policy type) behind the `Policy` interface."""

    def __init__(self, checkpoint: str | Path, device: str = "cpu"):
        from policy_ft.serve import PolicyRunner

        path = resolve_checkpoint(checkpoint)
        if not (path / "policy_preprocessor.json").is_file():
            raise FileNotFoundError(
                f"{path} has no policy_preprocessor.json: save the policy's pre/post-processors next to it "
                "(lerobot's training script and `policy_ft train` do), so observations are normalised as in training"
            )
        self.runner = PolicyRunner(path, device=device)
        meta = self.runner.metadata()
        shapes = {k: tuple(v) for k, v in self.runner.input_shapes.items()}
        state = shapes.get("observation.state")
        self.spec = PolicySpec(
            image_shapes={k: shapes[k] for k in self.runner.image_keys},
            state_dim=int(state[0]) if state else 0,
            action_dim=int(meta["action_dim"]),
            n_action_steps=int(meta["n_action_steps"]),
            env_state_dim=int(shapes[ENV_STATE][0]) if ENV_STATE in shapes else 0,
            inputs_known=True,
        )
        self.name = f"{meta['policy_type']}:{path}"

    def reset(self) -> None:
        self.runner.reset()

    def infer(self, obs: dict) -> np.ndarray:
        return np.asarray(self.runner.infer(obs)["actions"], dtype=np.float32)


class WebsocketPolicy:
    """A remote policy over openpi's websocket protocol; one connection per episode (the server resets
    its observation history on a new connection)."""

    def __init__(self, url: str):
        u = urlparse(url)
        if u.scheme not in ("ws", "wss") or not u.hostname or not u.port:
            raise ValueError(f"bad policy address {url!r}: expected ws://HOST:PORT")
        self.url = f"{u.scheme}://{u.hostname}:{u.port}"
        self.name = self.url
        self._client = None
        self._connect()
        meta = self._client.get_server_metadata() or {}
        shapes = {k: tuple(v) for k, v in (meta.get("input_features") or {}).items()}
        state = shapes.get("observation.state")
        self.spec = PolicySpec(
            image_shapes={k: v for k, v in shapes.items() if k.startswith("observation.images.")},
            state_dim=int(state[0]) if state else None,
            action_dim=int(meta["action_dim"]) if "action_dim" in meta else None,
            n_action_steps=int(meta["n_action_steps"]) if "n_action_steps" in meta else None,
            env_state_dim=(int(shapes[ENV_STATE][0]) if ENV_STATE in shapes else 0) if shapes else None,
            inputs_known=bool(shapes),
        )

    def _connect(self) -> None:
        from openpi_client.websocket_client_policy import WebsocketClientPolicy

        try:
            self._client = WebsocketClientPolicy(self.url)
        except OSError as err:
            raise ValueError(
                f"cannot reach a policy server at {self.url} ({err}); start one with `policy_ft serve CKPT --port PORT`"
            ) from None

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client._ws.close()  # openpi_client has no close(); its socket is websockets'
            except Exception:
                pass

    def reset(self) -> None:
        self.close()
        self._connect()

    def infer(self, obs: dict) -> np.ndarray:
        return np.asarray(self._client.infer(obs)["actions"], dtype=np.float32)


def load_policy(spec: str, device: str = "cpu") -> Policy:
    if spec.startswith(("ws://", "wss://")):
        return WebsocketPolicy(spec)
    return LeRobotPolicy(spec, device=device)
