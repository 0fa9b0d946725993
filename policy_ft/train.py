"""`policy_ft train`: value-weighted behaviour cloning of a LeRobot policy (paper section 5.2, appendix E).

One step: a batch of samples anchored at frames t_i (action chunks of length H from delta_timestamps)
-> lerobot's preprocessor (normalisation, tokenisation) -> per-sample losses ℓ_i -> weights w_i looked up
by the frames' global index (raw weights precomputed once over the training set, AWR renormalised per
batch) -> L = Σ w ℓ / (Σ w + 1e-6) -> AdamW (β 0.9, 0.95).

Everything that can be wrong with the input (missing value column, all-zero weights, a checkpoint of
another policy type, features that do not fit) is checked before the first step. Checkpoints are
written beside the final directory and renamed into place, so a killed run leaves no half checkpoint and
`--resume` (the default) continues from the last complete one.
"""

from __future__ import annotations

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
from policy_ft.weighting import make_weight_table, weighted_bc_loss

log = logging.getLogger("policy_ft")

PRETRAINED_DIR = "pretrained_model"
STATE_FILE = "training_state.pt"


def pick_device(device: str) -> str:
    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


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


def _to_device(batch: dict, device: str) -> dict:
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


class Trainer:
    """Builds everything from a TrainConfig (validating it) and runs the loop; usable from Python too."""

    def __init__(self, cfg: TrainConfig):
        from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata

        from policy_ft import policies
        from value_labeling.dataset import check_dataset_dir, default_video_backend

        self.cfg = cfg = cfg.resolved()
        self.device = pick_device(cfg.device)
        root = Path(cfg.dataset)
        try:
            check_dataset_dir(root)
        except ValueError as err:
            raise ValueError(str(err)) from None
        if cfg.chunk_length < 1:
            raise ValueError(f"--chunk-length must be >= 1, got {cfg.chunk_length}")
        if cfg.steps < 1 or cfg.batch_size < 1:
            raise ValueError("--steps and --batch-size must be >= 1")

        # 1. Weights (cheap, and the most common bad input): before any model is built.
        self.delta = chunk_deltas(root, cfg.chunk_length, cfg.value_column, cfg.advantage_column)
        self.weights = make_weight_table(self.delta, cfg.weighting, tau=cfg.tau, clip=cfg.clip, kappa=cfg.kappa,
                                         keep_percent=cfg.percentile)

        # 2. Policy config and features.
        self.meta = LeRobotDatasetMetadata(repo_id=f"local/{root.name}", root=root)
        self.rename = parse_rename(cfg.rename)
        features = policies.dataset_features(self.meta, self.rename)
        if cfg.pretrained is not None:
            pcfg = policies.load_config(cfg.pretrained, cfg.policy)
            if hasattr(pcfg, "chunk_size"):
                pcfg.chunk_size = cfg.chunk_length
                pcfg.n_action_steps = min(getattr(pcfg, "n_action_steps", cfg.chunk_length), cfg.chunk_length)
            if cfg.policy in policies.PI_TYPES:
                pcfg.dtype = cfg.dtype
        else:
            pcfg = policies.make_config(cfg.policy, cfg.chunk_length, cfg.size, cfg.image_resolution, cfg.dtype)
        pcfg.device = self.device
        policies.check_features(pcfg, features, pretrained=cfg.pretrained is not None)
        from lerobot.configs.types import FeatureType

        if cfg.pretrained is None or cfg.policy in policies.PI_TYPES + ("smolvla",):
            pcfg.output_features = {k: v for k, v in features.items() if v.type is FeatureType.ACTION}
            pcfg.input_features = {k: v for k, v in features.items() if k not in pcfg.output_features}
        self.policy_cfg = pcfg
        if cfg.policy in policies.PI_TYPES and cfg.tokenizer is None:
            raise ValueError(f"{cfg.policy} needs a PaliGemma tokenizer: pass --tokenizer DIR (never downloaded)")

        # 3. Data: action chunks through delta_timestamps, as lerobot's own training does.
        from lerobot.datasets.factory import resolve_delta_timestamps

        self.dataset = LeRobotDataset(
            repo_id=f"local/{root.name}", root=root, video_backend=default_video_backend(),
            delta_timestamps=resolve_delta_timestamps(pcfg, self.meta),
        )
        if len(self.delta) != self.dataset.meta.total_frames:
            raise ValueError(f"value column has {len(self.delta)} rows but the dataset has "
                             f"{self.dataset.meta.total_frames} frames")
        stats = self._renamed(self.meta.stats)

        # 4. Model, processors, optimiser.
        cls = policies.policy_class(cfg.policy)
        if cfg.pretrained is not None:
            self.policy = policies.load_pretrained_policy(cls, cfg.pretrained, pcfg)
        else:
            self.policy = cls(pcfg)
        self.policy.to(self.device)
        self.pre, self.post = policies.make_processors(pcfg, stats, cfg.tokenizer, cfg.pretrained)
        params = [p for p in self.policy.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8,
                                           weight_decay=cfg.weight_decay)
        self.step = 0
        self.out = Path(cfg.out)
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
        self.policy.save_pretrained(pretrained)
        self.pre.save_pretrained(pretrained)
        self.post.save_pretrained(pretrained)
        save_tokenizer_copy(self.cfg.tokenizer, pretrained)
        (pretrained / "policy_ft.json").write_text(json.dumps(
            {"train_config": json.loads(json.dumps(asdict(self.cfg), default=str)), "step": self.step,
             "weights": self.weights.summary()}, indent=2))
        torch.save({
            "step": self.step, "optimizer": self.optimizer.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
        }, tmp / STATE_FILE)
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

        load_weights_checked(self.policy, weights,
                             f"checkpoint {last} does not fit this policy (use another --out or --no-resume)")
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        return True

    # -- the loop -----------------------------------------------------------------------------------

    def _lr(self, step: int) -> float:
        if self.cfg.warmup_steps > 0 and step < self.cfg.warmup_steps:
            return self.cfg.lr * (step + 1) / self.cfg.warmup_steps
        return self.cfg.lr

    def train_step(self, batch: dict) -> dict:
        from policy_ft.policies import per_sample_loss

        index = batch["index"]
        batch = self._renamed(batch)
        batch = self.pre(batch)
        batch = _to_device(batch, self.device)
        weights, stats = self.weights.batch_weights(index)
        self.policy.train()
        losses = per_sample_loss(self.policy, batch)
        loss = weighted_bc_loss(losses, weights.to(losses.device))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.cfg.grad_clip_norm)
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr(self.step)
        self.optimizer.step()
        self.step += 1
        return {"step": self.step, "loss": float(loss.detach()), "loss_unweighted": float(losses.detach().mean()),
                "grad_norm": float(grad_norm), "lr": self._lr(self.step - 1), **stats}

    def run(self) -> dict:
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        self.ckpt_root.mkdir(parents=True, exist_ok=True)
        resumed = cfg.resume and self.resume()
        if not resumed:
            _seed(cfg.seed)
        summary = self.weights.summary()
        ref = PRESETS.get(cfg.preset)
        if cfg.weighting == "percentile" and ref is not None:
            summary["paper_kappa_top70"] = ref.kappa_top70
        (self.out / "weights_summary.json").write_text(json.dumps(summary, indent=2))
        log_path = self.out / "train_log.jsonl"
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.num_workers, drop_last=False,
            pin_memory=self.device.startswith("cuda"),
            generator=torch.Generator().manual_seed(cfg.seed + self.step),
        )
        bar = tqdm(total=cfg.steps, initial=self.step, desc=f"policy_ft {cfg.policy}/{cfg.weighting}", unit="step")
        t0 = time.perf_counter()
        last = {}
        with open(log_path, "a") as logf:
            while self.step < cfg.steps:
                for batch in loader:
                    last = self.train_step(batch)
                    if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                        logf.write(json.dumps(last) + "\n")
                        logf.flush()
                    bar.update(1)
                    bar.set_postfix(loss=f"{last['loss']:.4f}", w0=f"{last['weight_frac_zero']:.2f}")
                    if not math.isfinite(last["loss"]):
                        raise FloatingPointError(f"loss became {last['loss']} at step {self.step}")
                    if self.step % cfg.save_every == 0 and self.step < cfg.steps:
                        self.save_checkpoint()
                    if self.step >= cfg.steps:
                        break
        bar.close()
        final = self.save_checkpoint() if not (self.last_checkpoint() and self.last_checkpoint().name == f"{self.step:06d}") else self.last_checkpoint()
        result = {"steps": self.step, "seconds": time.perf_counter() - t0, "checkpoint": str(final / PRETRAINED_DIR),
                  "last": last, "weights": summary, "resumed": bool(resumed)}
        (self.out / "train_summary.json").write_text(json.dumps(result, indent=2, default=str))
        return result


def run_train(cfg: TrainConfig) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = Trainer(cfg).run()
    print(f"policy_ft train: {result['steps']} steps, checkpoint {result['checkpoint']}")
    return result
