"""Latency and throughput of `policy_ft serve` for 1, 4 and 16 concurrent clients, beside the policy's own
forward time (tiny ACT trained for a few steps by `policy_ft train`, CPU).

The server is the real CLI (`policy_ft serve CKPT --device cpu`) in its own process; clients are
openpi-client `WebsocketClientPolicy` threads in this process sending one 32x32 camera image and a
3-d state per request, each waiting for its reply before sending the next (as a robot loop does).
Latency is the client's round trip (pack, send, validate, queue, infer, guard, reply, unpack).
Forward time is `policy.predict_action_chunk` on an already preprocessed batch, timed in this process
on a worker thread (as the server runs inference), in blocks before and after each concurrency level
(the server idle), so that every level is compared with forward passes timed under the same machine
load. Each client's first `--warmup` requests are dropped. Quantiles carry a distribution-free 95%
interval (order statistics of a binomial rank, widened by one rank on each side).

    nice -n 10 .venv/bin/python -m bench.serve_latency [--requests 240 --clients 1 4 16 --warmup 3 --forward-repeats 40]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
Z95 = 1.959963984540054


def quantile_ci(samples, q: float) -> dict:
    """The q-quantile of `samples` and a distribution-free 95% interval from binomial order statistics."""
    x = np.sort(np.asarray(samples, dtype=float))
    n = len(x)
    half = Z95 * math.sqrt(n * q * (1 - q))
    lo = max(0, math.floor(n * q - half) - 1)
    hi = min(n - 1, math.ceil(n * q + half))
    return {"value": float(np.quantile(x, q)), "ci95": [float(x[lo]), float(x[hi])], "n": n}


def make_checkpoint(tmp: Path) -> Path:
    from policy_ft.config import TrainConfig
    from policy_ft.train import Trainer
    from testing.synthetic_policy import make_value_dataset

    make_value_dataset(tmp / "ds", episodes=2, length=8, image_size=32)
    result = Trainer(
        TrainConfig(
            dataset=tmp / "ds",
            out=tmp / "run",
            policy="act",
            size="tiny",
            steps=2,
            batch_size=4,
            weighting="none",
            chunk_length=10,
            device="cpu",
        )
    ).run()
    return Path(result["checkpoint"])


def observation(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "observation/images/cam": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
        "observation/state": rng.standard_normal(3).astype(np.float32),
    }


class ForwardTimer:
    """The policy's own forward time, measured in blocks between the concurrency levels, so that each level
    is compared with forward passes timed under the same machine load."""

    def __init__(self, ckpt: Path):
        import torch

        from policy_ft.serve import PolicyRunner

        self.torch = torch
        self.runner = PolicyRunner(ckpt)
        self.batch = self.runner.pre(self.runner.prepare(observation(0)))
        self.params = sum(p.numel() for p in self.runner.policy.parameters())
        self.block(3)  # warm-up, dropped

    def block(self, n: int) -> tuple[list[float], list[float]]:
        """(forward ms, in-process PolicyRunner.infer ms) for n passes each, on a worker thread as the server
        runs them: on this loaded machine torch's 2-thread intra-op parallelism called from the main thread
        measured 10-60x slower than from another thread, which would be a comparison with the wrong number."""
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(self._block, n).result()

    def _block(self, n: int) -> tuple[list[float], list[float]]:
        fwd, infer = [], []
        with self.torch.inference_mode():
            for _ in range(n):
                t0 = time.perf_counter()
                self.runner.policy.predict_action_chunk(self.batch)
                fwd.append(1000 * (time.perf_counter() - t0))
        for i in range(n):  # validate, normalise, forward, unnormalise, guard
            t0 = time.perf_counter()
            self.runner.infer(observation(i))
            infer.append(1000 * (time.perf_counter() - t0))
        return fwd, infer


def start_server(ckpt: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "policy_ft.cli", "serve", str(ckpt), "--port", str(port), "--device", "cpu"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # the "policy_ft serve: ..." line is printed once it listens
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise RuntimeError(f"policy_ft serve exited with {proc.returncode}")
        if line.startswith("policy_ft serve:"):
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining its log
            return proc, port
    proc.kill()
    raise RuntimeError("policy_ft serve did not start within 300 s")


def run_level(port: int, clients: int, per_client: int, warmup: int) -> dict:
    from openpi_client.websocket_client_policy import WebsocketClientPolicy

    lat: list[list[float]] = [[] for _ in range(clients)]
    server_ms: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    start = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        try:
            c = WebsocketClientPolicy(host="127.0.0.1", port=port)
            for k in range(warmup):
                c.infer(observation(1000 * i + k))
            start.wait()
            for k in range(per_client):
                t0 = time.perf_counter()
                reply = c.infer(observation(1000 * i + warmup + k))
                lat[i].append(1000 * (time.perf_counter() - t0))
                server_ms[i].append(reply["server_timing"]["infer_ms"])
            c._ws.close()
        except BaseException as err:  # noqa: BLE001 (reported)
            errors.append(err)
            start.abort()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    all_lat = [x for xs in lat for x in xs]
    return {
        "clients": clients,
        "requests": len(all_lat),
        "dropped_warmup": clients * warmup,
        "wall_s": wall,
        "requests_per_s": len(all_lat) / wall,
        "latency_ms_p50": quantile_ci(all_lat, 0.5),
        "latency_ms_p99": quantile_ci(all_lat, 0.99),
        "server_infer_ms_p50": quantile_ci([x for xs in server_ms for x in xs], 0.5),
        "server_infer_ms_mean": float(np.mean([x for xs in server_ms for x in xs])),
    }


def write(result: dict, command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serve_latency.json").write_text(json.dumps({"command": command, **result}, indent=2))
    f = result["forward"]

    def q(d):
        return f"{d['value']:.1f} [{d['ci95'][0]:.1f}, {d['ci95'][1]:.1f}]"

    def busy(r):  # the inference worker's busy fraction: requests/s x mean server inference time
        return r["requests_per_s"] * r.get("server_infer_ms_mean", r["server_infer_ms_p50"]["value"]) / 1000

    rows = "\n".join(
        f"| {r['clients']} | {r['requests']} | {q(r['latency_ms_p50'])} | {q(r['latency_ms_p99'])} | "
        f"{r['requests_per_s']:.1f} | {q(r['server_infer_ms_p50'])} | {q(r['forward_ms_p50_adjacent'])} | "
        f"{r['latency_ms_p50']['value'] / r['server_infer_ms_p50']['value']:.2f} | "
        f"{r['latency_ms_p50']['value'] / r['forward_ms_p50_adjacent']['value']:.2f} | {busy(r):.2f} |"
        for r in result["levels"]
    )
    (RESULTS / "serve_latency.md").write_text(
        "# policy_ft serve: latency and throughput\n\n"
        f"Command: `{command}`\n\n"
        f"Tiny ACT ({f['params'] / 1e6:.1f}M params, resnet18 backbone, chunk 10) trained for 2 steps by "
        "`policy_ft train`; one 32x32 camera + 3-d state per request; server = `policy_ft serve --device cpu` in its "
        "own process, clients = openpi-client threads in the benchmark process, each waiting for its reply. "
        f"Timings are from a **shared 2-core machine** (other jobs running; torch threads: {f['torch_threads']}): "
        "compare them as ratios, not as absolute numbers. Quantiles carry distribution-free 95% intervals; "
        f"{result['warmup']} warm-up requests per client were dropped.\n\n"
        f"Policy forward alone (`predict_action_chunk` on a preprocessed batch, timed in this process on a worker "
        f"thread as the server runs it, in blocks of {result['forward_repeats']} before and after each level, all "
        f"blocks pooled, n = {f['forward_ms_p50']['n']}): "
        f"p50 {q(f['forward_ms_p50'])} ms, p99 {q(f['forward_ms_p99'])} ms; in-process `PolicyRunner.infer` "
        f"(validation + normalisation + forward + guard) p50 {q(f['in_process_infer_ms_p50'])} ms.\n\n"
        "| clients | requests | latency p50 ms [95% CI] | latency p99 ms [95% CI] | requests/s | server infer_ms p50 | "
        "forward p50 ms (blocks before and after) | latency p50 / server infer p50 | latency p50 / forward p50 | "
        "inference busy |\n|---|---|---|---|---|---|---|---|---|---|\n"
        f"{rows}\n\n"
        "`server infer_ms` is measured by the server around normalisation + forward + unnormalisation (reported in "
        "`server_timing`), in the same process and at the same moment as the requests, so `latency p50 / server "
        "infer p50` is the cleanest ratio: what the protocol, validation and waiting for other clients add. "
        "`forward p50` comes from another process at other moments and differs from the server's own inference "
        "time by up to 2x on this machine. `inference busy` = requests/s x server inference time (the mean where "
        "recorded, else the p50): the fraction of time the single inference worker was computing; with several "
        "clients the latency includes waiting for the other clients' inferences.\n"
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--requests", type=int, default=240, help="timed requests per concurrency level (split evenly)")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16], help="concurrency levels")
    ap.add_argument("--warmup", type=int, default=3, help="untimed requests per client, dropped")
    ap.add_argument(
        "--forward-repeats",
        type=int,
        default=40,
        help="timed forward passes per block (a block before and after each level)",
    )
    args = ap.parse_args(argv)
    command = (
        "nice -n 10 .venv/bin/python -m bench.serve_latency --requests "
        f"{args.requests} --clients {' '.join(map(str, args.clients))} --warmup {args.warmup} "
        f"--forward-repeats {args.forward_repeats}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        print("training a tiny ACT checkpoint (2 steps) ...", flush=True)
        ckpt = make_checkpoint(Path(tmp))
        timer = ForwardTimer(ckpt)
        proc, port = start_server(ckpt)
        fwd_all, infer_all, levels = [], [], []
        try:
            before = timer.block(args.forward_repeats)
            for c in args.clients:
                r = run_level(port, c, max(1, args.requests // c), args.warmup)
                after = timer.block(args.forward_repeats)
                adjacent = before[0] + after[0]
                r["forward_ms_p50_adjacent"] = quantile_ci(adjacent, 0.5)
                fwd_all += before[0]
                infer_all += before[1]
                before = after
                levels.append(r)
                print(
                    f"  {c:>2} clients: p50 {r['latency_ms_p50']['value']:.1f} ms, p99 "
                    f"{r['latency_ms_p99']['value']:.1f} ms, {r['requests_per_s']:.1f} req/s; forward p50 "
                    f"{r['forward_ms_p50_adjacent']['value']:.1f} ms",
                    flush=True,
                )
            fwd_all += before[0]
            infer_all += before[1]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    forward = {
        "forward_ms_p50": quantile_ci(fwd_all, 0.5),
        "forward_ms_p99": quantile_ci(fwd_all, 0.99),
        "in_process_infer_ms_p50": quantile_ci(infer_all, 0.5),
        "params": timer.params,
        "torch_threads": timer.torch.get_num_threads(),
    }
    result = {
        "forward": forward,
        "levels": levels,
        "warmup": args.warmup,
        "forward_repeats": args.forward_repeats,
        "machine": "shared 2-core CPU machine, no GPU; other jobs running",
    }
    write(result, command)
    print(f"wrote {RESULTS / 'serve_latency.json'} and {RESULTS / 'serve_latency.md'}")


if __name__ == "__main__":
    main()
