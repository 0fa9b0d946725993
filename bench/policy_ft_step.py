"""Training steps per second of value-weighted BC vs lerobot's plain loss (tiny ACT, CPU).

Both variants run forward + backward + grad clip + AdamW on the same preprocessed batch:
  plain    : loss = policy.forward(batch)[0] (lerobot's own mean loss)
  weighted : per-sample losses (policy_ft adapter) -> AWR weights looked up by frame index, renormalised
             -> eq. E.5 loss
Timing blocks alternate between the variants (to share machine-load drift) and the median block is
reported. The π0.5 full-size GPU measurement (bf16, memory peak, steps/s) runs only when CUDA is
available; otherwise it is recorded as not measured.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.policy_ft_step [--steps 20 --repeats 7 --batch 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def _time_block(fn, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return steps / (time.perf_counter() - t0)


def bench_act(steps: int, repeats: int, batch_size: int) -> dict:
    from policy_ft.config import TrainConfig
    from policy_ft.policies import per_sample_loss
    from policy_ft.train import Trainer
    from policy_ft.weighting import weighted_bc_loss
    from testing.synthetic_policy import make_value_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench_ds"
        make_value_dataset(root, episodes=4, length=20, image_size=64)
        tr = Trainer(
            TrainConfig(
                dataset=root,
                out=Path(tmp) / "out",
                policy="act",
                size="tiny",
                steps=1,
                batch_size=batch_size,
                weighting="awr",
                lr=1e-4,
                device="cpu",
            )
        )
        raw = next(iter(torch.utils.data.DataLoader(tr.dataset, batch_size=batch_size, shuffle=True)))
        index = raw["index"]
        batch = tr.pre(raw)
        policy, opt = tr.policy, tr.optimizer
        policy.train()

        def plain():
            loss, _ = policy.forward(batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            opt.step()

        def weighted():
            losses = per_sample_loss(policy, batch)
            w, _ = tr.weights.batch_weights(index)
            loss = weighted_bc_loss(losses, w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            opt.step()

        for fn in (plain, weighted):  # warm-up
            _time_block(fn, 3)
        rates = {"plain": [], "weighted": []}
        for _ in range(repeats):
            rates["plain"].append(_time_block(plain, steps))
            rates["weighted"].append(_time_block(weighted, steps))
        params = sum(p.numel() for p in policy.parameters())
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "policy": "act (tiny: dim 32, 1+1 layers, resnet18 backbone)",
        "params": params,
        "batch_size": batch_size,
        "image": "64x64",
        "steps_per_block": steps,
        "repeats": repeats,
        "threads": torch.get_num_threads(),
        "steps_per_s_plain": med["plain"],
        "steps_per_s_weighted": med["weighted"],
        "overhead_percent": 100.0 * (med["plain"] / med["weighted"] - 1.0),
        "blocks": rates,
    }


def bench_pi05_gpu() -> dict:
    if not torch.cuda.is_available():
        return {"measured": False, "reason": "no CUDA device on this machine (no GPU was lent to this task)"}
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.pi05.configuration_pi05 import PI05Config
    from lerobot.policies.pi05.modeling_pi05 import PI05Policy

    import policy_ft.pi_variants  # noqa: F401
    from policy_ft.weighting import weighted_bc_loss

    B, H = 32, 10
    cfg = PI05Config(
        dtype="bfloat16",
        chunk_size=H,
        n_action_steps=H,
        device="cuda",
        gradient_checkpointing=True,
        input_features={
            "observation.images.base_0_rgb": PolicyFeature(FeatureType.VISUAL, (3, 224, 224)),
            "observation.state": PolicyFeature(FeatureType.STATE, (8,)),
        },
        output_features={"action": PolicyFeature(FeatureType.ACTION, (7,))},
    )
    policy = PI05Policy(cfg).cuda().train()
    opt = torch.optim.AdamW(policy.parameters(), lr=2.5e-5, betas=(0.9, 0.95))
    batch = {
        "observation.images.base_0_rgb": torch.rand(B, 3, 224, 224, device="cuda"),
        "observation.state": torch.rand(B, 8, device="cuda"),
        "action": torch.randn(B, H, 7, device="cuda"),
        "observation.language.tokens": torch.randint(0, 1000, (B, 64), device="cuda"),
        "observation.language.attention_mask": torch.ones(B, 64, dtype=torch.bool, device="cuda"),
    }
    w = torch.rand(B, device="cuda")

    def step():
        losses, _ = policy.forward(batch, reduction="none")
        loss = weighted_bc_loss(losses, w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    n = 5
    for _ in range(n):
        step()
    torch.cuda.synchronize()
    return {
        "measured": True,
        "device": torch.cuda.get_device_name(),
        "batch_size": B,
        "chunk": H,
        "steps_per_s": n / (time.perf_counter() - t0),
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
        "dtype": "bfloat16",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    result = {
        "act_cpu": bench_act(args.steps, args.repeats, args.batch),
        "pi05_gpu": bench_pi05_gpu(),
        "torch": torch.__version__,
    }
    a = result["act_cpu"]
    print(json.dumps({k: v for k, v in a.items() if k != "blocks"}, indent=2))
    print(json.dumps(result["pi05_gpu"], indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "policy_ft_step.json").write_text(json.dumps(result, indent=2))
    g = result["pi05_gpu"]
    gpu_row = (
        f"| π0.5 full size, bf16, B={g['batch_size']} | {g['device']} | {g['steps_per_s']:.2f} | — | "
        f"peak {g['peak_memory_gib']:.1f} GiB |"
        if g["measured"]
        else f"| π0.5 full size | — | not measured | — | {g['reason']} |"
    )
    (RESULTS / "policy_ft_step.md").write_text(
        "# policy_ft training step throughput\n\n"
        f"Command: `OMP_NUM_THREADS=1 .venv/bin/python -m bench.policy_ft_step --steps {args.steps} "
        f"--repeats {args.repeats} --batch {args.batch}` (median of {args.repeats} alternating blocks)\n\n"
        "| policy | device | steps/s plain | steps/s weighted (AWR, E.5) | overhead |\n|---|---|---|---|---|\n"
        f"| tiny ACT ({a['params'] / 1e6:.1f}M params), B={a['batch_size']}, 64x64 | CPU, {a['threads']} thread(s) | "
        f"{a['steps_per_s_plain']:.2f} | {a['steps_per_s_weighted']:.2f} | {a['overhead_percent']:+.1f}% |\n"
        f"{gpu_row}\n"
    )


if __name__ == "__main__":
    main()
