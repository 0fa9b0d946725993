"""`policy_ft train`: value-weighted behaviour cloning of a LeRobot policy (paper section 5.2, appendix E).

One step: samples anchored at frames t_i (action chunks of length H via delta_timestamps) -> lerobot's
preprocessor -> per-sample losses ℓ_i -> weights w_i looked up by global frame index (raw weights computed
once over the training set, AWR renormalised per batch) -> L = Σ w ℓ / (Σ w + 1e-6) -> AdamW (β 0.9, 0.95).
Bad input is refused before the first step; checkpoints are written beside and renamed in, so `--resume`
continues from the last complete one.

Several processes (`accelerate launch` / `torchrun`; setup in `runtime.device`) each apply E.5 to their own
batch, with one weight table (and one percentile κ) over the whole training set, so what is filtered never
depends on the process count. DDP averages the gradients: that is E.5 over the global batch when every
process's Σ w is equal (always for `none`, and for AWR after renormalisation); with a filter, a process
batch that is mostly filtered out counts as much as the others.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from policy_ft.config import PRESETS, TrainConfig
from policy_ft.data import chunk_deltas
from policy_ft.tokenizer import tokenizer_problem
from policy_ft.weighting import make_weight_table, weighted_bc_loss
from runtime.device import make_accelerator, process_device

log = logging.getLogger("policy_ft")

PRETRAINED_DIR = "pretrained_model"
STATE_FILE = "training_state.pt"


def parse_rename(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for p in pairs:
        if "=" not in p:
            raise ValueError(f"--rename expects old=new, got {p!r}")
        old, new = p.split("=", 1)
        out[old.strip()] = new.strip()
    return out


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


RUN_CONFIG = "run_config.json"
# Fields a resume may change: where it writes, how long it runs, how often it logs, where it computes.
RESUMABLE_FIELDS = ("out", "resume", "steps", "save_every", "log_every", "num_workers", "debug", "device")


def _config_record(cfg: TrainConfig) -> dict:
    rec = json.loads(json.dumps(asdict(cfg), default=str))
    rec["dataset"] = [str(Path(d).resolve()) for d in cfg.dataset]
    return rec


def check_resume_config(out: Path, cfg: TrainConfig) -> None:
    """Refuse to resume into `out` when it holds a run of another config (its record would no longer
    describe its checkpoints). The reference is out/run_config.json, else the last checkpoint's config."""
    path = out / RUN_CONFIG
    old = None
    if path.is_file():
        old = json.loads(path.read_text())
    else:
        marker = out / "checkpoints" / "last.txt"
        meta = (
            out
            / "checkpoints"
            / (marker.read_text().strip() if marker.is_file() else "")
            / PRETRAINED_DIR
            / "policy_ft.json"
        )
        if marker.is_file() and meta.is_file():
            old = json.loads(meta.read_text()).get("train_config")
    if old is None:
        return
    new = _config_record(cfg)
    if isinstance(old.get("dataset"), str):
        old["dataset"] = [str(Path(old["dataset"]).resolve())]
    # keys of only one side are options added or removed between versions: not a difference of this run
    diff = [k for k in sorted(set(old) & set(new)) if k not in RESUMABLE_FIELDS and old[k] != new[k]]
    if diff:
        detail = ", ".join(f"{k} ({old.get(k)!r} there, {new.get(k)!r} now)" for k in diff)
        raise ValueError(
            f"--out {out} holds a run with another config: {detail}; use another --out, the same "
            f"settings to resume, or --no-resume to start it over"
        )


class _LossModule(torch.nn.Module):
    """Per-sample losses as a module's forward, so that DDP's forward (gradient sync) and accelerate's autocast
    wrap the whole loss computation; `policy_ft.policies.per_sample_loss` reaches into policy internals."""

    def __init__(self, policy: torch.nn.Module):
        super().__init__()
        self.policy = policy

    def forward(self, batch: dict) -> torch.Tensor:
        from policy_ft.policies import per_sample_loss

        return per_sample_loss(self.policy, batch)


class _StepLR(torch.optim.lr_scheduler.LRScheduler):
    """The lr as a closed-form function of the optimiser step (warm-up then constant: `Trainer._lr`)."""

    def __init__(self, optimizer, lr_at, peak: float, last_epoch: int = -1):
        self.lr_at = lr_at
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", peak)
        super().__init__(optimizer, last_epoch=last_epoch)

    def get_lr(self) -> list[float]:
        return [self.lr_at(self.last_epoch) for _ in self.optimizer.param_groups]


def _to_device(batch: dict, device: str) -> dict:
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


class Trainer:
    """Builds everything from a TrainConfig (validating it) and runs the loop; usable from Python too."""

    def __init__(self, cfg: TrainConfig):
        from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata

        from policy_ft import policies
        from robodata.dataset import check_dataset_dir, default_video_backend

        self.cfg = cfg = cfg.resolved()
        self.accelerator = make_accelerator(cfg.device, cfg.mixed_precision)
        self.num_processes = self.accelerator.num_processes
        self.is_main = self.accelerator.is_main_process
        self.device = str(process_device(self.accelerator, cfg.device))  # "cuda:<local rank>" when distributed
        from policy_ft import sources

        roots = [Path(d) for d in cfg.dataset]
        if not roots:
            raise ValueError("give at least one --dataset")
        for root in roots:
            try:
                check_dataset_dir(root)
            except ValueError as err:
                raise ValueError(str(err)) from None
        sources.check_same_features(roots)
        if cfg.chunk_length < 1:
            raise ValueError(f"--chunk-length must be >= 1, got {cfg.chunk_length}")
        if cfg.steps < 1 or cfg.batch_size < 1:
            raise ValueError("--steps and --batch-size must be >= 1")
        self.out = Path(cfg.out)
        if cfg.resume:
            check_resume_config(self.out, cfg)

        # 1. Weights (cheap, and the most common bad input): before any model is built. Plain BC reads no
        # value column (Δ is then 0 everywhere and unused). Several datasets: Δ within each, concatenated.
        self.delta = np.concatenate(
            [
                np.zeros(sources.total_frames(root), dtype=np.float32)
                if cfg.weighting == "none"
                else chunk_deltas(root, cfg.chunk_length, cfg.value_column, cfg.advantage_column)
                for root in roots
            ]
        )
        self.weights = make_weight_table(
            self.delta, cfg.weighting, tau=cfg.tau, clip=cfg.clip, kappa=cfg.kappa, keep_percent=cfg.percentile
        )

        # 2. Policy config and features.
        metas = [LeRobotDatasetMetadata(repo_id=f"local/{root.name}", root=root) for root in roots]
        self.meta = metas[0]
        self.rename = parse_rename(cfg.rename)
        features = policies.dataset_features(self.meta, self.rename)
        if cfg.inputs:
            unknown = [k for k in cfg.inputs if self.rename.get(k, k) not in features]
            if unknown:
                raise ValueError(
                    f"--inputs {', '.join(unknown)}: not a feature of {roots[0]} "
                    f"(features: {', '.join(sorted(features))})"
                )
            wanted = {self.rename.get(k, k) for k in cfg.inputs}
            features = {k: v for k, v in features.items() if k in wanted or k == "action"}
        if cfg.pretrained is not None:
            pcfg = policies.load_config(cfg.pretrained, cfg.policy)
            if hasattr(pcfg, "chunk_size"):
                pcfg.chunk_size = cfg.chunk_length
                pcfg.n_action_steps = min(getattr(pcfg, "n_action_steps", cfg.chunk_length), cfg.chunk_length)
            if cfg.policy in policies.PI_TYPES:
                pcfg.dtype = cfg.dtype
        else:
            pcfg = policies.make_config(cfg.policy, cfg.chunk_length, cfg.size, cfg.image_resolution, cfg.dtype)
        # The config (saved in checkpoints, and the processors' target) names the device type only: "cuda" is
        # this process's current device, and the checkpoint loads on any machine.
        pcfg.device = self.device.split(":")[0] if self.num_processes > 1 else self.device
        policies.check_features(pcfg, features, pretrained=cfg.pretrained is not None)
        from lerobot.configs.types import FeatureType

        if cfg.pretrained is None or cfg.policy in policies.PI_TYPES + ("smolvla",):
            pcfg.output_features = {k: v for k, v in features.items() if v.type is FeatureType.ACTION}
            pcfg.input_features = {k: v for k, v in features.items() if k not in pcfg.output_features}
        self.policy_cfg = pcfg
        if cfg.policy in policies.PI_TYPES and (problem := tokenizer_problem(cfg.policy, cfg.tokenizer)):
            raise ValueError(problem)

        # 3. Data: action chunks through delta_timestamps, as lerobot's own training does.
        from lerobot.datasets.factory import resolve_delta_timestamps

        parts = []
        read = {k for k, v in self.meta.features.items() if self.rename.get(k, k) in pcfg.input_features}
        for root, meta in zip(roots, metas):
            ds = LeRobotDataset(
                repo_id=f"local/{root.name}",
                root=root,
                video_backend=default_video_backend(),
                delta_timestamps=resolve_delta_timestamps(pcfg, meta),
            )
            sources.drop_unread_videos(ds, read)
            if not any(self.meta.features[k]["dtype"] in ("video", "image") for k in read):
                ds = sources.InMemory(ds)  # camera-free: every item built once, column-wise
            parts.append(ds)
        self.dataset = sources.concat_datasets(parts)
        if len(self.delta) != len(self.dataset):
            raise ValueError(f"value column has {len(self.delta)} rows but the dataset has {len(self.dataset)} frames")
        stats = self._renamed(sources.aggregate_stats(metas))

        # 4. Model, processors, optimiser. Seeded here, before the weights are initialised, so that the same
        # seed gives the same run (a resume then restores the checkpoint's RNG state).
        _seed(cfg.seed + self.accelerator.process_index)
        cls = policies.policy_class(cfg.policy)
        if cfg.pretrained is not None:
            self.policy = policies.load_pretrained_policy(cls, cfg.pretrained, pcfg)
        else:
            self.policy = cls(pcfg)
        self.policy.to(self.device)
        self.pre, self.post = policies.make_processors(pcfg, stats, cfg.tokenizer, cfg.pretrained)
        params = [p for p in self.policy.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            params, lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=cfg.weight_decay
        )
        self.model = _LossModule(self.policy)  # what the loop calls; DDP-wrapped by accelerate when distributed
        self._opt = self.scheduler = None  # accelerate's wrappers, made by `prepare` (after a resume)
        self.step = 0
        self.ckpt_root = self.out / "checkpoints"

    def _renamed(self, d: dict) -> dict:
        return {self.rename.get(k, k): v for k, v in d.items()}

    # -- checkpoints --------------------------------------------------------------------------------

    def last_checkpoint(self) -> Path | None:
        marker = self.ckpt_root / "last.txt"
        if not marker.is_file():
            return None
        path = self.ckpt_root / marker.read_text().strip()
        return path if (path / STATE_FILE).is_file() else None

    def save_checkpoint(self) -> Path:
        from policy_ft.policies import save_tokenizer_copy

        name = f"{self.step:06d}"
        final = self.ckpt_root / name
        tmp = self.ckpt_root / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        pretrained = tmp / PRETRAINED_DIR
        self.accelerator.unwrap_model(self.model).policy.save_pretrained(pretrained)
        self.pre.save_pretrained(pretrained)
        self.post.save_pretrained(pretrained)
        save_tokenizer_copy(self.cfg.tokenizer, pretrained)
        (pretrained / "policy_ft.json").write_text(
            json.dumps(
                {
                    "train_config": json.loads(json.dumps(asdict(self.cfg), default=str)),
                    "step": self.step,
                    "weights": self.weights.summary(),
                },
                indent=2,
            )
        )
        torch.save(
            {
                "step": self.step,
                "optimizer": self.optimizer.state_dict(),
                "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
            },
            tmp / STATE_FILE,
        )
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        marker_tmp = self.ckpt_root / ".last.txt.tmp"
        marker_tmp.write_text(name)
        os.replace(marker_tmp, self.ckpt_root / "last.txt")
        return final

    def resume(self) -> bool:
        from safetensors.torch import load_file

        last = self.last_checkpoint()
        if last is None:
            return False
        state = torch.load(last / STATE_FILE, weights_only=False)
        weights = load_file(str(last / PRETRAINED_DIR / "model.safetensors"))
        from policy_ft.policies import load_weights_checked

        load_weights_checked(
            self.policy, weights, f"checkpoint {last} does not fit this policy (use another --out or --no-resume)"
        )
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        if self.accelerator.process_index == 0:
            torch.set_rng_state(state["rng"]["torch"])
            np.random.set_state(state["rng"]["numpy"])
            random.setstate(state["rng"]["python"])
        else:  # only the main process's RNG is saved; the others draw their own noise (ACT's VAE, diffusion)
            _seed(self.cfg.seed + 1_000_003 * self.accelerator.process_index + self.step)
        return True

    # -- the loop -----------------------------------------------------------------------------------

    def _lr(self, step: int) -> float:
        if self.cfg.warmup_steps > 0 and step < self.cfg.warmup_steps:
            return self.cfg.lr * (step + 1) / self.cfg.warmup_steps
        return self.cfg.lr

    def prepare(self, loader=None):
        """Hand model, optimiser, data loader and lr schedule to accelerate (DDP, autocast, data sharding).

        Called after `resume`, so the schedule starts at the resumed step and DDP broadcasts the resumed weights.
        """
        scheduler = _StepLR(self.optimizer, self._lr, self.cfg.lr, last_epoch=self.step - 1)
        if loader is None:
            self.model, self._opt, self.scheduler = self.accelerator.prepare(self.model, self.optimizer, scheduler)
            return None
        self.model, self._opt, loader, self.scheduler = self.accelerator.prepare(
            self.model, self.optimizer, loader, scheduler
        )
        return loader

    def train_step(self, batch: dict) -> dict:
        """One optimiser step on this process's batch (E.5 over the local batch; DDP averages the gradients)."""
        if self._opt is None:
            self.prepare()
        acc = self.accelerator
        index = batch["index"]
        batch = self._renamed(batch)
        batch = self.pre(batch)
        batch = _to_device(batch, self.device)
        weights, stats = self.weights.batch_weights(index)
        self.model.train()
        losses = self.model(batch)
        loss = weighted_bc_loss(losses, weights.to(losses.device))
        self.optimizer.zero_grad(set_to_none=True)
        acc.backward(loss)
        grad_norm = acc.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip_norm)
        self._opt.step()
        self.scheduler.step()
        self.step += 1
        loss_v, unweighted = float(loss.detach()), float(losses.detach().mean())
        samples = int(index.numel())
        if self.num_processes > 1:  # log the mean over processes (and all processes see the same loss)
            local = torch.tensor(
                [
                    loss_v,
                    unweighted,
                    stats["weight_raw_mean"],
                    stats["weight_frac_zero"],
                    stats["weight_frac_clipped"],
                    samples,
                ],
                dtype=torch.float64,
                device=self.device,
            )
            total = acc.reduce(local, reduction="sum")
            n = self.num_processes
            loss_v, unweighted = float(total[0]) / n, float(total[1]) / n
            stats = {
                "weight_raw_mean": float(total[2]) / n,
                "weight_frac_zero": float(total[3]) / n,
                "weight_frac_clipped": float(total[4]) / n,
            }
            samples = int(total[5])
        return {
            "step": self.step,
            "loss": loss_v,
            "loss_unweighted": unweighted,
            "grad_norm": float(grad_norm),
            "lr": self._lr(self.step - 1),
            **stats,
            "num_processes": self.num_processes,
            "samples": samples,
        }

    def run(self) -> dict:
        cfg = self.cfg
        acc = self.accelerator
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            self.ckpt_root.mkdir(parents=True, exist_ok=True)
        resumed = cfg.resume and self.resume()
        if not resumed:
            _seed(cfg.seed + acc.process_index)
        summary = self.weights.summary()
        ref = PRESETS.get(cfg.preset)
        if cfg.weighting == "percentile" and ref is not None:
            summary["paper_kappa_top70"] = ref.kappa_top70
        if self.is_main:
            (self.out / "weights_summary.json").write_text(json.dumps(summary, indent=2))
            (self.out / RUN_CONFIG).write_text(json.dumps(_config_record(cfg), indent=2))
        log_path = self.out / "train_log.jsonl"
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=cfg.batch_size,
            shuffle=True,
            num_workers=cfg.num_workers,
            drop_last=False,
            pin_memory=self.device.startswith("cuda"),
            generator=torch.Generator().manual_seed(cfg.seed + self.step),
        )
        # Each process gets its own batches of one shuffled order (the same generator seed everywhere).
        loader = self.prepare(loader)
        bar = tqdm(
            total=cfg.steps,
            initial=self.step,
            desc=f"policy_ft {cfg.policy}/{cfg.weighting}",
            unit="step",
            disable=not self.is_main,
        )
        t0 = time.perf_counter()
        last = {}
        with open(log_path, "a") if self.is_main else contextlib.nullcontext() as logf:
            while self.step < cfg.steps:
                for batch in loader:
                    last = self.train_step(batch)
                    if logf is not None and (self.step % cfg.log_every == 0 or self.step == cfg.steps):
                        logf.write(json.dumps(last) + "\n")
                        logf.flush()
                    bar.update(1)
                    bar.set_postfix(loss=f"{last['loss']:.4f}", w0=f"{last['weight_frac_zero']:.2f}")
                    if not math.isfinite(last["loss"]):
                        raise FloatingPointError(f"loss became {last['loss']} at step {self.step}")
                    if self.step % cfg.save_every == 0 and self.step < cfg.steps and self.is_main:
                        self.save_checkpoint()
                    if self.step >= cfg.steps:
                        break
        bar.close()
        final = self.ckpt_root / f"{self.step:06d}"
        if self.is_main:
            done = self.last_checkpoint()
            final = done if done is not None and done.name == final.name else self.save_checkpoint()
        acc.wait_for_everyone()  # the checkpoint is complete before any process returns
        result = {
            "steps": self.step,
            "seconds": time.perf_counter() - t0,
            "checkpoint": str(final / PRETRAINED_DIR),
            "last": last,
            "weights": summary,
            "resumed": bool(resumed),
            "num_processes": self.num_processes,
            "global_batch_size": cfg.batch_size * self.num_processes,
        }
        if self.is_main:
            (self.out / "train_summary.json").write_text(json.dumps(result, indent=2, default=str))
        return result


def run_train(cfg: TrainConfig) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    trainer = Trainer(cfg)
    result = trainer.run()
    if trainer.is_main:
        world = f" on {trainer.num_processes} processes" if trainer.num_processes > 1 else ""
        print(f"policy_ft train: {result['steps']} steps{world}, checkpoint {result['checkpoint']}")
    if trainer.num_processes > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return result
