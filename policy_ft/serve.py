"""`policy_ft serve`: a LeRobot checkpoint behind openpi's websocket policy protocol.

Protocol (openpi's `WebsocketPolicyServer`, spoken by PyPI's `openpi-client`): on connect the server
sends a msgpack-numpy packed metadata dict; then, for every packed observation dict the client sends,
it answers with a packed action dict; on an exception it sends the traceback as a text frame and closes
with code 1011 (which `WebsocketClientPolicy.infer` raises as RuntimeError).

Observations use LeRobot feature names; openpi-style "/" separators are accepted too
("observation/state" == "observation.state"):
    observation.images.<cam>: (H, W, 3) uint8 or (3, H, W) float in [0, 1]
    observation.state: (state_dim,) float
    prompt (or task): str, the language instruction (π0/π0.5/SmolVLA)
The reply is {"actions": (chunk, action_dim) float32 in the dataset's action units, "server_timing":
{"infer_ms": float}}: the whole predicted chunk, as openpi servers return it; the robot side decides how
many actions to execute (openpi_client.action_chunk_broker does that).
"""

from __future__ import annotations

import http
import logging
import threading
import time
import traceback

import numpy as np
import torch

from policy_ft.config import ServeConfig

log = logging.getLogger("policy_ft.serve")


class PolicyRunner:
    """obs dict -> action chunk for one checkpoint; thread-safe (one inference at a time)."""

    def __init__(self, checkpoint, device: str = "cpu", tokenizer=None):
        from policy_ft.policies import load_checkpoint

        self.policy, self.pre, self.post = load_checkpoint(checkpoint, device=device, tokenizer=tokenizer)
        self.device = device
        self.checkpoint = str(checkpoint)
        self._lock = threading.Lock()
        cfg = self.policy.config
        self.image_keys = list(cfg.image_features)
        self.input_shapes = {k: list(v.shape) for k, v in cfg.input_features.items()}
        self.action_dim = int(cfg.output_features["action"].shape[0])

    def metadata(self) -> dict:
        cfg = self.policy.config
        return {"policy_type": cfg.type, "checkpoint": self.checkpoint, "action_dim": self.action_dim,
                "chunk_size": int(getattr(cfg, "chunk_size", getattr(cfg, "horizon", 1))),
                "n_action_steps": int(getattr(cfg, "n_action_steps", 1)), "input_features": self.input_shapes,
                "protocol": "openpi-websocket/msgpack-numpy"}

    def _to_batch(self, obs: dict) -> dict:
        obs = {str(k).replace("/", "."): v for k, v in obs.items()}
        batch: dict = {}
        for key, shape in self.input_shapes.items():
            if key not in obs:
                if key in self.image_keys and self.policy.config.type in ("pi05", "pi0", "smolvla"):
                    continue  # π-models pad missing cameras
                raise ValueError(f"observation is missing '{key}' (expected keys: {sorted(self.input_shapes)})")
            x = np.asarray(obs[key])
            if key in self.image_keys:
                if x.ndim == 3 and x.shape[-1] == 3 and x.shape[0] != 3:
                    x = np.transpose(x, (2, 0, 1))
                x = torch.from_numpy(np.array(x))
                x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
            else:
                x = torch.from_numpy(np.array(x, dtype=np.float32))
            batch[key] = x.unsqueeze(0)
        batch["task"] = [str(obs.get("prompt", obs.get("task", "")))]
        return batch

    def reset(self) -> None:
        """A new episode (a new client connection): forget observation history."""
        with self._lock:
            self.policy.reset()

    def _predict(self, batch: dict) -> torch.Tensor:
        cfg = self.policy.config
        if cfg.type != "diffusion":
            return self.policy.predict_action_chunk(batch)
        # Diffusion Policy conditions on the last n_obs_steps observations (kept per connection);
        # lerobot already returns the n_action_steps actions from the current step on.
        from lerobot.policies.utils import populate_queues
        from lerobot.utils.constants import OBS_IMAGES

        batch = {k: v for k, v in batch.items() if k != "action" and v is not None}
        if cfg.image_features:
            batch[OBS_IMAGES] = torch.stack([batch[k] for k in cfg.image_features], dim=-4)
        self.policy._queues = populate_queues(self.policy._queues, batch)
        return self.policy.predict_action_chunk(batch)

    def infer(self, obs: dict) -> dict:
        t0 = time.perf_counter()
        batch = self._to_batch(obs)
        with self._lock, torch.inference_mode():
            batch = self.pre(batch)
            chunk = self._predict(batch)  # (1, H, D) normalised
            chunk = self.post(chunk)
        actions = chunk[0].detach().cpu().numpy().astype(np.float32)
        return {"actions": actions, "server_timing": {"infer_ms": 1000 * (time.perf_counter() - t0)}}


def make_server(runner: PolicyRunner, host: str, port: int):
    """A websockets sync server speaking the openpi protocol; call .serve_forever() / .shutdown()."""
    from openpi_client import msgpack_numpy
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.server import serve

    packer = msgpack_numpy.Packer()
    metadata = runner.metadata()

    def handler(ws):
        runner.reset()
        ws.send(packer.pack(metadata))
        while True:
            try:
                obs = msgpack_numpy.unpackb(ws.recv())
                ws.send(packer.pack(runner.infer(obs)))
            except ConnectionClosed:
                return
            except Exception:
                ws.send(traceback.format_exc())
                ws.close(code=1011, reason="inference error, see the previous message")
                return

    def health(connection, request):
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        return None

    return serve(handler, host, port, compression=None, max_size=None, process_request=health)


def run_serve(cfg: ServeConfig) -> None:
    from runtime.device import pick_device

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    runner = PolicyRunner(cfg.checkpoint, device=pick_device(cfg.device), tokenizer=cfg.tokenizer)
    server = make_server(runner, cfg.host, cfg.port)
    print(f"policy_ft serve: {runner.metadata()['policy_type']} from {cfg.checkpoint} on ws://{cfg.host}:{cfg.port}",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
