"""`policy_ft serve` under abuse, over real websockets on 127.0.0.1, with a tiny ACT trained by `policy_ft train`.

Garbage, wrong types, missing keys, NaN/inf, oversize messages, clients that vanish mid-request and 50
concurrent clients: each bad request gets a one-line error naming the field, on a connection that stays
usable, NaN actions are never sent, and afterwards a valid request gets exactly the actions a fresh
server gives. The module's tests share one checkpoint and one server (tests run in file order; the
last one compares the abused server with a fresh one).
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import threading
import time
import traceback
from pathlib import Path

import msgpack
import numpy as np
import pytest
from openpi_client import msgpack_numpy
from openpi_client.websocket_client_policy import WebsocketClientPolicy
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from policy_ft.config import ServeConfig, TrainConfig
from policy_ft.serve import PolicyRunner, make_server
from policy_ft.serve_guard import NonFiniteActions, guard_actions
from policy_ft.train import Trainer
from testing.synthetic_policy import make_value_dataset

STATE_DIM, ACTION_DIM, CHUNK, SIZE = 3, 2, 5, 32


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(dataset root, checkpoint) of a tiny ACT trained for 2 steps by the project's own trainer."""
    tmp = tmp_path_factory.mktemp("serve")
    root = tmp / "ds"
    make_value_dataset(root, episodes=2, length=8, image_size=SIZE, state_dim=STATE_DIM, action_dim=ACTION_DIM)
    result = Trainer(
        TrainConfig(
            dataset=root,
            out=tmp / "run",
            policy="act",
            size="tiny",
            steps=2,
            batch_size=4,
            weighting="none",
            chunk_length=CHUNK,
            device="cpu",
        )
    ).run()
    return root, Path(result["checkpoint"])


@pytest.fixture(scope="module")
def runner(trained):
    return PolicyRunner(trained[1])


def _start(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server.socket.getsockname()[1]


@pytest.fixture(scope="module")
def served(runner):
    server = make_server(runner, "127.0.0.1", 0, request_timeout_s=60)
    port = _start(server)
    yield server, port
    server.shutdown()


def _obs(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "observation/images/cam": rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8),
        "observation/state": rng.standard_normal(STATE_DIM).astype(np.float32),
    }


@pytest.fixture()
def client():
    """client(port): an openpi-client policy, closed when the test ends (it has no close of its own)."""
    opened = []

    def open_client(port: int) -> WebsocketClientPolicy:
        opened.append(WebsocketClientPolicy(host="127.0.0.1", port=port))
        return opened[-1]

    yield open_client
    for c in opened:
        c._ws.close()


def _raw(port: int, **kw):
    """A plain websockets client: (connection, the server's metadata)."""
    ws = connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None, **kw)
    return ws, msgpack_numpy.unpackb(ws.recv())


def _wait_idle(server, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while server.clients.active and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.clients.active == 0, f"{server.clients.active} connection handler(s) still running"


def _valid_reply_on(ws) -> dict:
    ws.send(msgpack_numpy.packb(_obs()))
    reply = ws.recv()
    assert isinstance(reply, bytes), reply
    return msgpack_numpy.unpackb(reply)


def test_metadata_and_a_valid_request(client, served, runner):
    _server, port = served
    c = client(port)
    meta = c.get_server_metadata()
    # 1 MiB + 2 x (3x32x32 float32 image + 3 float64 state values), the default size limit
    assert meta["max_message_bytes"] == 2**20 + 2 * (3 * SIZE * SIZE * 4) + 2 * (STATE_DIM * 8) == 1_073_200
    assert meta["input_features"] == {"observation.images.cam": [3, SIZE, SIZE], "observation.state": [STATE_DIM]}
    assert meta["clip_actions"] is False and meta["resize_images"] is False and meta["chunk_size"] == CHUNK
    reply = c.infer(_obs())
    assert reply["actions"].shape == (CHUNK, ACTION_DIM) and reply["actions"].dtype == np.float32
    assert np.isfinite(reply["actions"]).all()
    timing = reply["server_timing"]
    assert {"infer_ms", "validate_ms", "wait_ms", "total_ms"} <= set(timing) and "clipped_values" not in timing
    assert 0 < timing["infer_ms"] <= timing["total_ms"]
    # The same observation in another accepted form: "." keys, (3, H, W) float in [0, 1], float64 state.
    o = _obs()
    alt = {
        "observation.images.cam": np.transpose(o["observation/images/cam"], (2, 0, 1)).astype(np.float32) / 255,
        "observation.state": o["observation/state"].astype(np.float64),
        "prompt": "ignored by ACT",
    }
    np.testing.assert_array_equal(c.infer(alt)["actions"], reply["actions"])
    # In-process inference (robosuite_eval's LeRobotPolicy path) gives the same actions.
    np.testing.assert_array_equal(runner.infer(_obs())["actions"], reply["actions"])


def _ndarray(dtype: str, shape, data: bytes) -> dict:
    return {b"__ndarray__": True, b"data": data, b"dtype": dtype, b"shape": shape}


def _bad_requests() -> list[tuple[str, object, str]]:
    """(what, message to send, a phrase the error must contain)."""
    o = _obs()
    img, state = "observation/images/cam", "observation/state"
    pack = msgpack_numpy.packb
    nan_state = np.array([0.0, np.nan, 0.0], np.float32)
    inf_img = np.zeros((3, SIZE, SIZE), np.float32)
    inf_img[1, 2, 3] = np.inf
    return [
        ("garbage bytes", b"\x00\xffnot msgpack at all\xc1", "not valid msgpack"),
        ("empty message", b"", "not valid msgpack"),
        ("text frame", "hello", "text frame"),
        ("not a map", pack([1, 2, 3]), "msgpack map of observations"),
        ("integer keys", pack({1: 2}), "keys must be strings"),
        (
            "object ndarray",
            msgpack.packb({"observation.state": _ndarray("|O", [3], b"\x00" * 24)}),
            "dtype object are not accepted",
        ),
        (
            "shape/bytes mismatch",
            msgpack.packb({"observation.state": _ndarray("<f4", [1000], b"\x00" * 12)}),
            "does not match",
        ),
        ("state as a string", pack({**o, state: "0 0 0"}), "observation.state: expected numbers"),
        (
            "state wrong size",
            pack({**o, state: np.zeros(4, np.float32)}),
            "observation.state: expected shape (3,), got (4,)",
        ),
        ("state ragged list", pack({**o, state: [[1.0], [2.0, 3.0]]}), "observation.state: not a numeric array"),
        ("image int64", pack({**o, img: o[img].astype(np.int64)}), "observation.images.cam: images must be uint8"),
        (
            "image with 4 channels",
            pack({**o, img: np.zeros((SIZE, SIZE, 4), np.uint8)}),
            "observation.images.cam: expected a (32, 32, 3)",
        ),
        ("float image in 0-255", pack({**o, img: o[img].astype(np.float32)}), "must lie in [0, 1]"),
        (
            "image of another size",
            pack({**o, img: np.zeros((64, 48, 3), np.uint8)}),
            "image is 64x48 (HxW), the checkpoint expects 32x32",
        ),
        ("missing state", pack({img: o[img]}), "missing 'observation.state'"),
        ("missing image", pack({state: o[state]}), "missing 'observation.images.cam'"),
        (
            "unknown camera",
            pack({**o, "observation/images/wrist": o[img]}),
            "observation.images.wrist: not a feature of this checkpoint",
        ),
        ("NaN state", pack({**o, state: nan_state}), "observation.state: 1 non-finite value(s) (NaN) at index (1,)"),
        ("inf in a float image", pack({**o, img: inf_img}), "observation.images.cam: 1 non-finite value(s) (inf"),
        (
            "float32 overflow",
            pack({**o, state: np.array([0, 1e39, 0], np.float64)}),
            "observation.state: 1 non-finite value(s) (inf",
        ),
        ("prompt not a string", pack({**o, "prompt": 3}), "prompt: expected a string"),
    ]


def test_bad_requests_get_named_errors_and_the_connection_stays_usable(client, served):
    _server, port = served
    ws, _ = _raw(port)
    good = _valid_reply_on(ws)["actions"]
    for what, message, phrase in _bad_requests():
        ws.send(message)
        reply = ws.recv()
        assert isinstance(reply, str), f"{what}: got actions"
        assert reply.startswith("invalid observation: ") and phrase in reply, f"{what}: {reply!r}"
        assert "\n" not in reply and "Traceback" not in reply and ".py" not in reply, f"{what}: {reply!r}"
        # The same connection answers the next valid request, with the same actions as before.
        np.testing.assert_array_equal(_valid_reply_on(ws)["actions"], good, err_msg=what)
    ws.close()
    # openpi-client's infer raises the error as RuntimeError and keeps working.
    c = client(port)
    with pytest.raises(RuntimeError, match=r"observation.state: expected shape \(3,\), got \(2,\)"):
        c.infer({**_obs(), "observation/state": np.zeros(2, np.float32)})
    np.testing.assert_array_equal(c.infer(_obs())["actions"], good)


def test_non_finite_actions_are_never_sent(client, served):
    _server, port = served
    c = client(port)
    # 1e30 is a finite float32 state, but the ACT's layer norms overflow on it: NaN actions come out.
    with pytest.raises(RuntimeError, match=r"no actions: the policy produced 10 non-finite action value\(s\) of 10"):
        c.infer({**_obs(), "observation/state": np.full(STATE_DIM, 1e30, np.float32)})
    assert np.isfinite(c.infer(_obs())["actions"]).all()
    with pytest.raises(NonFiniteActions, match="1 non-finite"):
        guard_actions(np.array([[0.0, np.inf]], np.float32), None)


def test_oversize_message_closes_only_that_connection(client, served):
    _server, port = served
    bystander = client(port)
    ws, meta = _raw(port)
    big = {**_obs(), "observation/images/cam": np.zeros((600, 600, 3), np.uint8)}  # 1.08 MB > 1,073,200 B
    assert len(msgpack_numpy.packb(big)) > meta["max_message_bytes"]
    with pytest.raises(ConnectionClosed) as info:
        ws.send(msgpack_numpy.packb(big))
        ws.recv()
    assert info.value.rcvd.code == 1009 and "exceeds limit of 1073200 bytes" in info.value.rcvd.reason
    assert np.isfinite(bystander.infer(_obs())["actions"]).all()


def test_clients_that_vanish_mid_request_leave_nothing_behind(client, served):
    server, port = served
    _wait_idle(server)
    # 1. A valid request, then the client closes without reading the reply.
    for _ in range(3):
        ws, _ = _raw(port)
        ws.send(msgpack_numpy.packb(_obs()))
        ws.close()
    # 2. The TCP connection drops in the middle of a frame (after the handshake, half a message sent).
    ws, _ = _raw(port)
    payload = msgpack_numpy.packb(_obs())
    header = bytes([0x82, 0xFE]) + len(payload).to_bytes(2, "big") + b"\x00\x00\x00\x00"  # binary, masked (key 0)
    ws.socket.sendall(header + payload[: len(payload) // 2])
    ws.socket.shutdown(socket.SHUT_RDWR)
    ws.socket.close()
    # 3. Connected and gone before reading the metadata; 4. a TCP connection that never speaks websocket.
    gone = connect(f"ws://127.0.0.1:{port}", compression=None)
    gone.socket.shutdown(socket.SHUT_RDWR)
    gone.socket.close()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    _wait_idle(server)
    assert np.isfinite(client(port).infer(_obs())["actions"]).all()


def test_fifty_concurrent_clients_get_their_own_answers(served, runner):
    server, port = served
    _wait_idle(server)
    n = 50
    expected = [runner.infer(_obs(seed=i))["actions"] for i in range(n)]
    barrier = threading.Barrier(n + 1, timeout=120)
    got: dict[int, list] = {}
    errors: list[BaseException] = []

    def one_client(i: int) -> None:
        try:
            c = WebsocketClientPolicy(host="127.0.0.1", port=port)
            barrier.wait()  # all 50 connected at once
            got[i] = [c.infer(_obs(seed=i))["actions"] for _ in range(2)]
            c._ws.close()
        except BaseException as err:  # noqa: BLE001 (reported below)
            errors.append(err)
            barrier.abort()

    threads = [threading.Thread(target=one_client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    assert server.clients.active == n
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:3]
    for i in range(n):
        for actions in got[i]:
            np.testing.assert_array_equal(actions, expected[i], err_msg=f"client {i}")
    _wait_idle(server)


def test_limits_timeout_and_client_count(client, runner):
    # A size limit given explicitly: one valid 32x32 request (3 KB) does not fit in 2,000 bytes.
    small = make_server(runner, "127.0.0.1", 0, max_message_bytes=2000)
    port = _start(small)
    try:
        ws, meta = _raw(port)
        assert meta["max_message_bytes"] == 2000
        with pytest.raises(ConnectionClosed) as info:
            ws.send(msgpack_numpy.packb(_obs()))
            ws.recv()
        assert info.value.rcvd.code == 1009
    finally:
        small.shutdown()
    # A timeout shorter than any inference: an error instead of stale actions, and the connection stays open.
    slow = make_server(runner, "127.0.0.1", 0, request_timeout_s=1e-4, max_clients=1)
    port = _start(slow)
    try:
        c = client(port)
        for _ in range(2):
            with pytest.raises(RuntimeError, match=r"timed out: no actions within --request-timeout-s 0.0001 s"):
                c.infer(_obs())
        # max_clients=1: a second connection is closed with 1013 (try again later).
        ws = connect(f"ws://127.0.0.1:{port}", compression=None)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv()
        assert info.value.rcvd.code == 1013 and "1 clients connected" in info.value.rcvd.reason
    finally:
        slow.shutdown()
    with pytest.raises(ValueError, match="must be positive"):
        make_server(runner, "127.0.0.1", 0, request_timeout_s=0)


def test_error_replies_have_tracebacks_only_with_debug(client, runner, monkeypatch, caplog):
    def boom(batch, session=None):
        raise RuntimeError("boom at /secret/server/path.py")

    for debug in (False, True):
        server = make_server(runner, "127.0.0.1", 0, debug=debug)
        port = _start(server)
        try:
            c = client(port)
            with pytest.raises(RuntimeError) as bad_input:
                c.infer({"observation/state": np.zeros(STATE_DIM, np.float32)})
            with monkeypatch.context() as m, caplog.at_level(logging.ERROR, logger="policy_ft.serve"):
                m.setattr(runner, "forward", boom)
                with pytest.raises(RuntimeError) as internal:
                    c.infer(_obs())
            assert np.isfinite(c.infer(_obs())["actions"]).all()  # the connection survived
        finally:
            server.shutdown()
        assert "internal error during inference (RuntimeError)" in str(internal.value)
        assert ("Traceback" in str(internal.value)) is debug and ("/secret/" in str(internal.value)) is debug
        assert ("Traceback" in str(bad_input.value)) is debug
        # The server log always has the whole story.
        assert any(
            r.exc_info and "/secret/server/path.py" in "".join(traceback.format_exception(*r.exc_info))
            for r in caplog.records
        )
        caplog.clear()


def test_clip_actions_uses_the_training_data_range(client, trained, runner, tmp_path):
    from safetensors.torch import load_file, save_file

    from policy_ft.serve_guard import action_range

    root, ckpt = trained
    stats = json.loads((root / "meta" / "stats.json").read_text())["action"]
    lo, hi = action_range(runner.post)
    np.testing.assert_allclose(lo, stats["min"], rtol=1e-6)
    np.testing.assert_allclose(hi, stats["max"], rtol=1e-6)
    # A copy whose recorded action range is narrower than what the policy outputs (mean/std untouched,
    # so the unnormalised actions are the same): clipping must bite.
    reference = runner.infer(_obs())["actions"]
    narrow = tmp_path / "narrow"
    shutil.copytree(ckpt, narrow)
    f = next(narrow.glob("policy_postprocessor_step_*_unnormalizer_processor.safetensors"))
    tensors = load_file(str(f))
    mid = float(np.median(reference))
    tensors["action.min"][:] = mid - 0.01
    tensors["action.max"][:] = mid + 0.01
    save_file(tensors, str(f))
    clipping = PolicyRunner(narrow, clip_actions=True)
    server = make_server(clipping, "127.0.0.1", 0)
    port = _start(server)
    try:
        c = client(port)
        meta = c.get_server_metadata()
        assert meta["clip_actions"] is True and meta["action_low"] == pytest.approx([mid - 0.01] * ACTION_DIM)
        reply = c.infer(_obs())
    finally:
        server.shutdown()
    want = np.clip(reference, mid - 0.01, mid + 0.01)
    np.testing.assert_allclose(reply["actions"], want, rtol=0, atol=1e-6)
    assert reply["server_timing"]["clipped_values"] == int((np.abs(want - reference) > 0).sum()) > 0
    # No min/max stored: --clip-actions is refused at start-up, before serving anything.
    del tensors["action.min"], tensors["action.max"]
    save_file(tensors, str(f))
    with pytest.raises(ValueError, match="stores no action min/max"):
        PolicyRunner(narrow, clip_actions=True)


def test_resize_images_only_when_asked(trained, runner):
    o = _obs()
    flat = {**o, "observation/images/cam": np.full((SIZE, SIZE, 3), 77, np.uint8)}
    big = {**o, "observation/images/cam": np.full((96, 128, 3), 77, np.uint8)}  # another size and aspect
    with pytest.raises(ValueError, match="start the server with --resize-images"):
        runner.infer(big)
    resizing = PolicyRunner(trained[1], resize_images=True)
    assert resizing.spec.default_max_message_bytes() == 2**20 + 3 * 1920 * 1080 * 4 + 2 * STATE_DIM * 8
    # A constant image stays constant when resized: the same actions as the right-sized one.
    np.testing.assert_allclose(resizing.infer(big)["actions"], runner.infer(flat)["actions"], rtol=0, atol=1e-6)


def test_serve_listens_on_loopback_by_default():
    assert ServeConfig(checkpoint=Path("x")).host == "127.0.0.1"


def test_after_all_of_it_the_server_answers_like_a_fresh_one(client, served, trained):
    server, port = served
    # One more round of abuse on this server, so the comparison stands even when run alone.
    ws, _ = _raw(port)
    for _, message, _ in _bad_requests()[:6]:
        ws.send(message)
        assert isinstance(ws.recv(), str)
    ws.send(msgpack_numpy.packb(_obs()))
    ws.close()
    _wait_idle(server)
    fresh = make_server(PolicyRunner(trained[1]), "127.0.0.1", 0)
    fresh_port = _start(fresh)
    try:
        for seed in range(3):
            a = client(port).infer(_obs(seed))["actions"]
            b = client(fresh_port).infer(_obs(seed))["actions"]
            assert np.isfinite(a).all()
            np.testing.assert_array_equal(a, b)
    finally:
        fresh.shutdown()


def test_robot_client_loop_holds_on_refusals_and_reconnects(runner):
    """policy_ft.robot_client.run_loop, the loop the README gives a robot, against a fake robot: a NaN state
    is refused (the robot holds, the loop goes on), and a server restart mid-episode is survived by holding
    and reconnecting."""
    from policy_ft.robot_client import run_loop

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    servers = [make_server(runner, "127.0.0.1", port)]
    _start(servers[0])

    class Robot:
        def __init__(self):
            self.applied, self.holds, self.observed, self.deadline = [], 0, 0, time.monotonic() + 120

        def done(self):
            return len(self.applied) >= 14 or time.monotonic() > self.deadline

        def observe(self):
            self.observed += 1
            # observation 1 is run_loop's shape check; CHUNK + 2 is the second request, at a chunk boundary
            state = [np.nan, 0.0, 0.0] if self.observed == CHUNK + 2 else [0.1, 0.2, 0.3]
            return {
                "observation/images/cam": np.full((SIZE, SIZE, 3), 90, np.uint8),
                "observation/state": np.asarray(state, np.float32),
            }

        def hold(self):
            self.holds += 1

        def apply(self, action):
            self.applied.append(action)
            if len(self.applied) == 7:  # the server restarts on the same port mid-episode
                servers[0].shutdown()
                servers.append(make_server(runner, "127.0.0.1", port))
                _start(servers[-1])

    robot, printed = Robot(), []
    try:
        stats = run_loop(robot, port=port, log=printed.append)
    finally:
        for server in servers:
            server.shutdown()
    assert len(robot.applied) == 14 and all(a.shape == (ACTION_DIM,) and np.isfinite(a).all() for a in robot.applied)
    assert robot.holds == 2 and len(servers) == 2 and (stats.refused, stats.reconnects) == (1, 1)
    assert "observation.state: 1 non-finite value(s) (NaN)" in printed[0]
    assert printed[1].startswith("connection lost")
