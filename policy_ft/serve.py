"""`policy_ft serve`: a LeRobot checkpoint behind openpi's websocket policy protocol, safe to point at a robot.

Protocol (openpi's `WebsocketPolicyServer`, spoken by PyPI's `openpi-client`): on connect the server
sends a msgpack-numpy packed metadata dict; then, for every packed observation dict the client sends,
it answers with a packed action dict, or with a text frame naming what was wrong (which
`WebsocketClientPolicy.infer` raises as RuntimeError). Unlike openpi's server, an error does not close
the connection: the client may send its next observation on the same socket.

Observations use LeRobot feature names; openpi-style "/" separators are accepted too
("observation/state" == "observation.state"):
    observation.images.<cam>: (H, W, 3) uint8 or (3, H, W) float in [0, 1]
    observation.state: (state_dim,) float
    prompt (or task): str, the language instruction (π0/π0.5/SmolVLA; required by them)
The reply is {"actions": (chunk, action_dim) float32 in the dataset's action units, "server_timing":
{"infer_ms", "validate_ms", "wait_ms", "total_ms"[, "clipped_values"]}}: the whole predicted chunk, as
openpi servers return it; the robot side decides how many actions to execute
(openpi_client.action_chunk_broker does that).

Guarantees (each tested over real websockets in tests/test_policy_ft_serve_safety.py):
- every request is validated against the checkpoint's declared features before inference
  (`policy_ft/serve_guard.py`); a bad one gets a one-line error naming the field;
- actions are never NaN or inf; with `--clip-actions` they lie within the training data's action range;
- a message larger than `max_message_bytes` (in the metadata) closes that connection with code 1009
  before it is read into memory; other clients are unaffected;
- a request not answered within `--request-timeout-s` (queueing included) gets an error instead of stale
  actions; at most `--max-clients` connections are served (others are closed with code 1013);
- error replies carry no traceback unless `--debug`; the server log keeps the full detail.
Inference runs one request at a time on one worker thread; decoding and validation run in each
connection's own thread. Each connection is one episode: Diffusion Policy's observation history is kept
per connection.
"""

from __future__ import annotations

import http
import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from policy_ft.config import ServeConfig
from policy_ft.serve_guard import (
    InputSpec,
    NonFiniteActions,
    RequestError,
    action_range,
    decode_observation,
    guard_actions,
)

log = logging.getLogger("policy_ft.serve")


class Session:
    """Per-episode policy state (Diffusion Policy's observation queues); one per connection."""

    def __init__(self):
        self.queues = None


class PolicyRunner:
    """obs dict -> action chunk for one checkpoint; thread-safe (one inference at a time)."""

    def __init__(
        self, checkpoint, device: str = "cpu", tokenizer=None, resize_images: bool = False, clip_actions: bool = False
    ):
        from policy_ft.policies import load_checkpoint

        self.policy, self.pre, self.post = load_checkpoint(checkpoint, device=device, tokenizer=tokenizer)
        self.device = device
        self.checkpoint = str(checkpoint)
        self._lock = threading.Lock()
        cfg = self.policy.config
        self.spec = InputSpec(cfg, resize_images=resize_images)
        self.image_keys = list(self.spec.image_keys)
        self.input_shapes = {k: list(v) for k, v in self.spec.shapes.items()}
        self.action_dim = int(cfg.output_features["action"].shape[0])
        self.clip = action_range(self.post) if clip_actions else None
        if clip_actions and self.clip is None:
            raise ValueError(
                f"--clip-actions: {checkpoint} stores no action min/max in its postprocessor stats "
                "(policy_ft train saves them); serve without --clip-actions or retrain"
            )
        self._session = Session()

    def metadata(self) -> dict:
        cfg = self.policy.config
        meta = {
            "policy_type": cfg.type,
            "checkpoint": self.checkpoint,
            "action_dim": self.action_dim,
            "chunk_size": int(getattr(cfg, "chunk_size", getattr(cfg, "horizon", 1))),
            "n_action_steps": int(getattr(cfg, "n_action_steps", 1)),
            "input_features": self.input_shapes,
            "protocol": "openpi-websocket/msgpack-numpy",
            "resize_images": self.spec.resize_images,
            "clip_actions": self.clip is not None,
        }
        if self.clip is not None:
            meta["action_low"], meta["action_high"] = (v[: self.action_dim].tolist() for v in self.clip)
        return meta

    def new_session(self) -> Session:
        return Session()

    def reset(self) -> None:
        """A new episode for in-process callers (robosuite_eval's LeRobotPolicy)."""
        with self._lock:
            self.policy.reset()
            self._session = Session()

    def prepare(self, obs: dict) -> dict:
        """Decoded observation -> validated lerobot batch; raises RequestError (see serve_guard)."""
        return self.spec.to_batch({str(k).replace("/", "."): v for k, v in obs.items()})

    def _predict(self, batch: dict, session: Session) -> torch.Tensor:
        cfg = self.policy.config
        if cfg.type != "diffusion":
            return self.policy.predict_action_chunk(batch)
        # Diffusion Policy conditions on the last n_obs_steps observations of this session;
        # lerobot already returns the n_action_steps actions from the current step on.
        from lerobot.policies.utils import populate_queues
        from lerobot.utils.constants import OBS_IMAGES

        if session.queues is None:
            self.policy.reset()
            session.queues = self.policy._queues
        batch = {k: v for k, v in batch.items() if k != "action" and v is not None}
        if cfg.image_features:
            batch[OBS_IMAGES] = torch.stack([batch[k] for k in cfg.image_features], dim=-4)
        self.policy._queues = session.queues = populate_queues(session.queues, batch)
        return self.policy.predict_action_chunk(batch)

    def forward(self, batch: dict, session: Session | None = None) -> tuple[np.ndarray, float]:
        """Validated batch -> ((H, D) float32 actions in dataset units, milliseconds under the lock)."""
        with self._lock, torch.inference_mode():
            t0 = time.perf_counter()
            batch = self.pre(batch)
            chunk = self._predict(batch, session or self._session)  # (1, H, D) normalised
            chunk = self.post(chunk)
            actions = chunk[0].detach().float().cpu().numpy().astype(np.float32)
            return actions, 1000 * (time.perf_counter() - t0)

    def infer(self, obs: dict, session: Session | None = None) -> dict:
        """Validate, infer, guard: raises RequestError (bad input) or NonFiniteActions (nothing to send)."""
        t0 = time.perf_counter()
        batch = self.prepare(obs)
        t1 = time.perf_counter()
        actions, infer_ms = self.forward(batch, session)
        return self.reply(actions, infer_ms, validate_ms=1000 * (t1 - t0), wait_ms=0.0, t0=t0)

    def reply(self, actions: np.ndarray, infer_ms: float, validate_ms: float, wait_ms: float, t0: float) -> dict:
        actions, clipped = guard_actions(actions, self.clip)
        timing = {"infer_ms": infer_ms, "validate_ms": validate_ms, "wait_ms": wait_ms}
        if self.clip is not None:
            timing["clipped_values"] = clipped
        timing["total_ms"] = 1000 * (time.perf_counter() - t0)
        return {"actions": actions, "server_timing": timing}


class _ClientSlots:
    def __init__(self, limit: int):
        self.limit, self.active, self._lock = limit, 0, threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.active >= self.limit:
                return False
            self.active += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.active -= 1


def make_server(
    runner: PolicyRunner,
    host: str,
    port: int,
    *,
    max_message_bytes: int | None = None,
    request_timeout_s: float = 10.0,
    max_clients: int = 64,
    debug: bool = False,
):
    """A websockets sync server speaking the openpi protocol; call .serve_forever() / .shutdown().

    `server.clients.active` counts the connections being served (tests watch it return to 0)."""
    from openpi_client import msgpack_numpy
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.server import serve

    if request_timeout_s <= 0:
        raise ValueError(f"--request-timeout-s must be positive, got {request_timeout_s}")
    max_bytes = int(max_message_bytes or runner.spec.default_max_message_bytes())
    packer = msgpack_numpy.Packer()
    metadata = {**runner.metadata(), "max_message_bytes": max_bytes, "request_timeout_s": request_timeout_s}
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy_ft-infer")
    clients = _ClientSlots(max_clients)

    def answer(message, session: Session) -> dict:
        t0 = time.perf_counter()
        batch = runner.prepare(decode_observation(message))
        t1 = time.perf_counter()
        future = worker.submit(runner.forward, batch, session)
        try:
            actions, infer_ms = future.result(timeout=max(0.0, request_timeout_s - (t1 - t0)))
            if time.perf_counter() - t0 > request_timeout_s:  # finished, but later than promised: stale
                raise TimeoutError
        except TimeoutError:
            future.cancel()  # still queued: never runs; running: its result is dropped
            raise TimeoutError(
                f"no actions within --request-timeout-s {request_timeout_s:g} s (queueing "
                "included); stale actions are not sent"
            ) from None
        wait_ms = 1000 * (time.perf_counter() - t1) - infer_ms
        return runner.reply(actions, infer_ms, validate_ms=1000 * (t1 - t0), wait_ms=wait_ms, t0=t0)

    def handler(ws):
        peer = "{}:{}".format(*ws.remote_address[:2]) if ws.remote_address else "?"
        if not clients.enter():
            log.warning("refused %s: %d clients already connected (--max-clients)", peer, clients.limit)
            ws.close(code=1013, reason=f"server busy: {clients.limit} clients connected; retry later")
            return
        try:
            session = runner.new_session()
            ws.send(packer.pack(metadata))
            while True:
                try:
                    message = ws.recv()
                except ConnectionClosed as closed:
                    if closed.rcvd is None and closed.sent is not None and closed.sent.code == 1009:
                        log.warning("closed %s: %s", peer, closed.sent.reason)
                    return
                try:
                    out = packer.pack(answer(message, session))
                except Exception as err:  # noqa: BLE001 (every request gets an answer; the log has the detail)
                    out = _error_reply(err, peer, debug)
                try:
                    ws.send(out)
                except ConnectionClosed:
                    return
        finally:
            clients.leave()

    def health(connection, request):
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        return None

    server = serve(handler, host, port, compression=None, max_size=max_bytes, max_queue=4, process_request=health)
    server.clients = clients
    server.metadata = metadata
    stop = server.shutdown

    def shutdown(*args, **kwargs) -> None:  # websockets' shutdown, then the inference worker
        stop(*args, **kwargs)
        worker.shutdown(wait=False, cancel_futures=True)

    server.shutdown = shutdown
    return server


def _error_reply(err: Exception, peer: str, debug: bool) -> str:
    """The text frame for a failed request (called inside the except block); the log keeps the details."""
    if isinstance(err, RequestError):
        text = f"invalid observation: {err}"
        log.warning("rejected a request from %s: %s", peer, err)
    elif isinstance(err, NonFiniteActions):
        text = f"no actions: {err}; nothing was sent to execute"
        log.error("%s (client %s)", err, peer)
    elif isinstance(err, TimeoutError):
        text = f"timed out: {err}"
        log.error("%s (client %s)", err, peer)
    else:
        text = f"internal error during inference ({type(err).__name__}); the server log has the details" + (
            "" if debug else "; start the server with --debug to receive them here"
        )
        log.exception("inference failed for a request from %s", peer)
    return text + "\n" + traceback.format_exc() if debug else text


def _neutral_observation(runner: PolicyRunner) -> dict:
    obs = {
        k: (np.zeros((s[1], s[2], s[0]), np.uint8) if k in runner.image_keys else np.zeros(s, np.float32))
        for k, s in runner.input_shapes.items()
    }
    obs["prompt"] = "warm up"
    return obs


def run_serve(cfg: ServeConfig) -> None:
    from runtime.device import pick_device

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    runner = PolicyRunner(
        cfg.checkpoint,
        device=pick_device(cfg.device),
        tokenizer=cfg.tokenizer,
        resize_images=cfg.resize_images,
        clip_actions=cfg.clip_actions,
    )
    max_bytes = int(cfg.max_message_mb * 2**20) if cfg.max_message_mb else None
    # One inference before listening: the first request of a robot is not the slow one, and a checkpoint
    # that answers NaN on a neutral observation is reported before anyone connects.
    try:
        warm = runner.infer(_neutral_observation(runner))
        log.info("warm-up inference: %.1f ms", warm["server_timing"]["infer_ms"])
    except NonFiniteActions as err:
        log.warning("warm-up on an all-zero observation: %s; such requests will be refused", err)
    runner.reset()
    server = make_server(
        runner,
        cfg.host,
        cfg.port,
        max_message_bytes=max_bytes,
        request_timeout_s=cfg.request_timeout_s,
        max_clients=cfg.max_clients,
        debug=cfg.debug,
    )
    if cfg.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(
            "listening on %s: any machine that reaches this port can command the robot (the protocol has "
            "no authentication); use it only on a trusted network",
            cfg.host,
        )
    m = server.metadata
    print(
        f"policy_ft serve: {m['policy_type']} from {cfg.checkpoint} on ws://{cfg.host}:{cfg.port} "
        f"(messages up to {m['max_message_bytes'] / 2**20:.1f} MiB, timeout {cfg.request_timeout_s:g} s, "
        f"clip actions {'on' if m['clip_actions'] else 'off'}, resize images {'on' if m['resize_images'] else 'off'})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
