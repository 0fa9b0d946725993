"""The robot side of `policy_ft serve`: the control loop a robot runs against the openpi websocket server.

A robot (an AgileX Cobot Magic, a Panda, or the simulated ones in robosuite_eval.sim_robot) implements the
small `Robot` protocol below; `run_loop` does the rest with PyPI's `openpi-client`, as an openpi robot does:
- connect, waiting for the server if it is not up yet, and read its metadata (input shapes, action_dim,
  n_action_steps);
- every control period: observe, and either take the next action of the current chunk or, once
  `n_action_steps` of it have run (openpi_client's ActionChunkBroker), send the observation and get a new one;
- a refused observation (the server's one-line error) makes the robot hold and ask again with the next
  observation on the same connection; a lost connection makes it hold, reconnect and start a new episode
  (the server keeps per-connection history).

Nothing here imports torch or lerobot: the client runs on the robot's computer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Robot(Protocol):
    def observe(self) -> dict:
        """{"observation/state": (d,) float32, "observation/images/<cam>": (H, W, 3) uint8 for each camera the
        server's metadata lists, and "observation/environment_state" where the policy reads one}."""
        ...

    def apply(self, action: np.ndarray) -> None:
        """Execute one (action_dim,) action for one control period."""
        ...

    def hold(self) -> None:
        """Stay where it is for one control period (no action is available)."""
        ...

    def done(self) -> bool:
        """The episode is over (task done, operator stop, time limit)."""
        ...


@dataclass
class LoopStats:
    steps: int = 0  # control periods executed (actions applied or holds)
    actions: int = 0
    chunks: int = 0  # inference requests answered
    refused: int = 0  # requests answered with an error
    reconnects: int = 0


class _Counting:
    """The client as the broker sees it, counting each inference request."""

    def __init__(self, client, stats: LoopStats):
        self.client, self.stats = client, stats

    def infer(self, obs: dict) -> dict:
        out = self.client.infer(obs)  # raises RuntimeError on a refused observation
        self.stats.chunks += 1
        return out

    def reset(self) -> None:
        self.client.reset()


def connect(host: str, port: int, wait_s: float = 30.0, log: Callable[[str], None] = print):
    """An openpi client and the server's metadata, retrying once a second for up to `wait_s` seconds."""
    from openpi_client.websocket_client_policy import WebsocketClientPolicy

    deadline = time.monotonic() + wait_s
    while True:
        try:
            client = WebsocketClientPolicy(host=host, port=port)
            return client, client.get_server_metadata()
        except OSError as err:
            if time.monotonic() > deadline:
                raise ConnectionError(
                    f"no policy server at ws://{host}:{port} after {wait_s:.0f} s ({err}); start one with "
                    f"`policy_ft serve CKPT --port {port}`"
                ) from None
            log(f"policy server unreachable ({err}); retrying in 1 s")
            time.sleep(1.0)


def check_robot(meta: dict, obs: dict) -> None:
    """Refuse, before the first action, a robot whose state size or cameras are not what the policy reads."""
    shapes = {k.replace(".", "/"): tuple(v) for k, v in (meta.get("input_features") or {}).items()}
    want = shapes.get("observation/state")
    got = np.shape(obs.get("observation/state"))
    if want is not None and tuple(got) != want:
        raise ValueError(f"the robot's state has shape {got} but the served policy reads {want}")
    missing = sorted(k for k in shapes if k.startswith("observation/images/") and k not in obs)
    if missing:
        raise ValueError(f"the served policy reads cameras {missing} that the robot does not provide")


def run_loop(
    robot: Robot,
    host: str = "127.0.0.1",
    port: int = 8000,
    prompt: str = "",
    control_hz: float | None = None,
    max_steps: int | None = None,
    wait_s: float = 30.0,
    log: Callable[[str], None] = print,
) -> LoopStats:
    """Run `robot` on the served policy until `robot.done()` or `max_steps` control periods.

    `control_hz`: sleep to this rate (a real robot's control period); None runs as fast as the robot steps
    (a simulation that keeps its own time).
    """
    from openpi_client.action_chunk_broker import ActionChunkBroker
    from websockets.exceptions import ConnectionClosed

    stats = LoopStats()
    client, meta = connect(host, port, wait_s, log)
    check_robot(meta, robot.observe())
    policy = ActionChunkBroker(_Counting(client, stats), action_horizon=int(meta.get("n_action_steps", 1)))
    action_dim = int(meta["action_dim"]) if "action_dim" in meta else None
    period = 1.0 / control_hz if control_hz else 0.0
    while not robot.done() and (max_steps is None or stats.steps < max_steps):
        t0 = time.monotonic()
        obs = dict(robot.observe(), prompt=prompt)
        try:
            action = np.asarray(policy.infer(obs)["actions"], dtype=np.float32)  # one step of the chunk
        except RuntimeError as err:  # refused: hold, then ask afresh on the same connection
            log(f"observation refused: {err}")
            stats.refused += 1
            robot.hold()
            policy.reset()
        except (ConnectionClosed, OSError) as err:  # server restarted or network lost: a new episode
            log(f"connection lost ({err}); reconnecting")
            stats.reconnects += 1
            robot.hold()
            client, meta = connect(host, port, wait_s, log)
            policy = ActionChunkBroker(_Counting(client, stats), action_horizon=int(meta.get("n_action_steps", 1)))
        else:
            if action_dim is not None and action.shape != (action_dim,):
                raise ValueError(f"the server sent an action of shape {action.shape}; expected ({action_dim},)")
            robot.apply(action)
            stats.actions += 1
        stats.steps += 1
        if period:
            time.sleep(max(0.0, period - (time.monotonic() - t0)))
    return stats
