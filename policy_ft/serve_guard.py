"""What `policy_ft serve` checks before and after inference, so that a robot never executes garbage.

Inputs are checked against the features the checkpoint declares (its `config.json` `input_features`):
    every declared key present (π0/π0.5/SmolVLA may omit cameras: lerobot pads them);
    no undeclared `observation.*` key (a misspelt camera would otherwise be silently padded or ignored);
    images: uint8 (any value) or float16/32/64 in [0, 1], (3, H, W) or (H, W, 3), exactly the declared
        H x W unless the server resizes (`--resize-images`: bilinear with antialiasing to the declared
        H x W, aspect ratio not preserved, as a resized camera stream would be);
    vectors (state, environment state): real numbers of exactly the declared shape;
    every value finite after the cast to float32 (1e39 is finite in float64 and inf in float32);
    the prompt a string, required by language-conditioned policies.
Outputs: actions containing NaN or inf are never sent; `--clip-actions` clips every action dimension to
the [min, max] the training data had (the `action` stats saved with the checkpoint's unnormaliser).

Messages are decoded with a strict msgpack-numpy hook: arrays of numeric dtypes whose byte count matches
their shape, nothing else (openpi's own hook would build object/void/datetime arrays from any bytes).
"""

from __future__ import annotations

import math

import msgpack
import numpy as np
import torch

LANGUAGE_POLICIES = ("pi05", "pi0", "smolvla")
IMAGE_PREFIX = "observation.images."
MIB = 2**20


class RequestError(ValueError):
    """A client's request is unusable; the message names the field and the problem (sent to the client)."""


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------

_ARRAY_KINDS = "biuf"  # bool, signed, unsigned, float: what robot observations are made of
_SCALAR_KINDS = "biufUS"


def _strict_array_hook(obj: dict):
    """msgpack object_hook: openpi-client's ndarray/generic encoding, refusing anything malformed."""
    if b"__ndarray__" in obj:
        try:
            dtype = np.dtype(obj[b"dtype"])
            shape = tuple(int(s) for s in obj[b"shape"])
            data = obj[b"data"]
        except (KeyError, TypeError, ValueError) as err:
            raise RequestError(f"malformed ndarray in the message ({err})") from None
        if dtype.kind not in _ARRAY_KINDS:
            raise RequestError(f"arrays of dtype {dtype} are not accepted (numbers only)")
        if any(s < 0 for s in shape) or not isinstance(data, bytes) or len(data) != math.prod(shape) * dtype.itemsize:
            raise RequestError(
                f"malformed ndarray: shape {shape} of {dtype} does not match its "
                f"{len(data) if isinstance(data, bytes) else type(data).__name__} bytes"
            )
        return np.frombuffer(data, dtype=dtype).reshape(shape)
    if b"__npgeneric__" in obj:
        try:
            dtype = np.dtype(obj[b"dtype"])
            if dtype.kind not in _SCALAR_KINDS:
                raise ValueError(f"dtype {dtype}")
            return dtype.type(obj[b"data"])
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise RequestError(f"malformed numpy scalar in the message ({err})") from None
    return obj


def decode_observation(message) -> dict:
    """bytes of one openpi request -> {"observation.x": value} with "/" separators turned into "."."""
    if isinstance(message, str):
        raise RequestError("expected a binary msgpack-numpy message, got a text frame")
    try:
        obs = msgpack.unpackb(message, object_hook=_strict_array_hook, strict_map_key=False)
    except RequestError:
        raise
    except Exception as err:  # noqa: BLE001 (msgpack raises several unrelated types on garbage)
        raise RequestError(f"the message is not valid msgpack ({type(err).__name__})") from None
    if not isinstance(obs, dict):
        raise RequestError(f"the message must be a msgpack map of observations, got {type(obs).__name__}")
    bad = [k for k in obs if not isinstance(k, str)]
    if bad:
        raise RequestError(f"observation keys must be strings, got {bad[0]!r}")
    return {k.replace("/", "."): v for k, v in obs.items()}


# ---------------------------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------------------------


class InputSpec:
    """The observation a checkpoint accepts, from its lerobot config."""

    def __init__(self, policy_cfg, resize_images: bool = False):
        self.policy_type = policy_cfg.type
        self.shapes = {k: tuple(int(s) for s in v.shape) for k, v in policy_cfg.input_features.items()}
        self.image_keys = list(policy_cfg.image_features)
        self.optional_images = self.policy_type in LANGUAGE_POLICIES  # lerobot pads missing cameras
        self.needs_prompt = self.policy_type in LANGUAGE_POLICIES
        self.resize_images = resize_images

    def default_max_message_bytes(self) -> int:
        """1 MiB + twice the declared inputs at float32 (vectors at float64), so that one legitimate request
        always fits; with --resize-images each camera may instead send up to 1920x1080x3 float32 (25 MB)."""
        total = MIB
        for key, shape in self.shapes.items():
            declared = 2 * math.prod(shape) * (4 if key in self.image_keys else 8)
            if key in self.image_keys and self.resize_images:
                declared = max(declared, 3 * 1920 * 1080 * 4)
            total += declared
        return total

    def to_batch(self, obs: dict) -> dict:
        """Validated observation -> lerobot batch (leading batch axis of 1); raises RequestError."""
        unknown = sorted(k for k in obs if k.startswith("observation.") and k not in self.shapes)
        if unknown:
            raise RequestError(
                f"{unknown[0]}: not a feature of this checkpoint (it declares {', '.join(sorted(self.shapes))})"
            )
        batch: dict = {}
        for key, shape in self.shapes.items():
            if key not in obs:
                if key in self.image_keys and self.optional_images:
                    continue
                raise RequestError(f"missing '{key}' (the checkpoint expects: {', '.join(sorted(self.shapes))})")
            if key in self.image_keys:
                batch[key] = self._image(key, obs[key], shape).unsqueeze(0)
            else:
                batch[key] = torch.from_numpy(self._vector(key, obs[key], shape)).unsqueeze(0)
        prompt = obs.get("prompt", obs.get("task"))
        if prompt is not None and not isinstance(prompt, str):
            raise RequestError(f"prompt: expected a string, got {type(prompt).__name__}")
        if self.needs_prompt and not prompt:
            raise RequestError(
                f"prompt: missing; this {self.policy_type} policy is language-conditioned: send the "
                "instruction as 'prompt'"
            )
        batch["task"] = [prompt or ""]
        return batch

    @staticmethod
    def _array(key: str, value) -> np.ndarray:
        try:
            x = np.asarray(value)
        except Exception as err:  # noqa: BLE001 (ragged lists and the like)
            raise RequestError(f"{key}: not a numeric array ({err})") from None
        if x.dtype.kind not in "iuf":
            raise RequestError(f"{key}: expected numbers, got dtype {x.dtype}")
        return x

    @staticmethod
    def _finite32(key: str, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            x32 = x.astype(np.float32)
        bad = ~np.isfinite(x32)
        if bad.any():
            what = "NaN" if np.isnan(x32).any() else "inf (or a value beyond float32's range)"
            raise RequestError(
                f"{key}: {int(bad.sum())} non-finite value(s) ({what}) at index "
                f"{tuple(int(i) for i in np.argwhere(bad)[0])}"
            )
        return x32

    def _vector(self, key: str, value, shape: tuple) -> np.ndarray:
        x = self._array(key, value)
        if x.shape != shape:
            raise RequestError(f"{key}: expected shape {shape}, got {x.shape}")
        return self._finite32(key, x)

    def _image(self, key: str, value, shape: tuple) -> torch.Tensor:
        c, h, w = shape
        x = self._array(key, value)
        if x.ndim != 3 or (x.shape[0] != c and x.shape[-1] != c):
            raise RequestError(f"{key}: expected a ({h}, {w}, {c}) or ({c}, {h}, {w}) image, got shape {x.shape}")
        if x.shape[0] != c:
            x = np.transpose(x, (2, 0, 1))  # (H, W, C) -> (C, H, W)
        if x.dtype == np.uint8:
            img = torch.from_numpy(np.ascontiguousarray(x)).float() / 255.0
        elif x.dtype.kind == "f":
            x = self._finite32(key, x)
            lo, hi = float(x.min(initial=0.0)), float(x.max(initial=0.0))
            if lo < 0.0 or hi > 1.0:
                raise RequestError(
                    f"{key}: float images must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}] "
                    "(send uint8 0-255, or divide by 255)"
                )
            img = torch.from_numpy(np.ascontiguousarray(x))
        else:
            raise RequestError(f"{key}: images must be uint8 (0-255) or float in [0, 1], got {x.dtype}")
        if tuple(img.shape[1:]) != (h, w):
            if not self.resize_images:
                raise RequestError(
                    f"{key}: image is {img.shape[1]}x{img.shape[2]} (HxW), the checkpoint expects "
                    f"{h}x{w}; send {h}x{w} images or start the server with --resize-images"
                )
            img = torch.nn.functional.interpolate(
                img[None], size=(h, w), mode="bilinear", align_corners=False, antialias=True
            )[0].clamp_(0.0, 1.0)
        return img


# ---------------------------------------------------------------------------------------------
# Output guard
# ---------------------------------------------------------------------------------------------


class NonFiniteActions(RuntimeError):
    """The policy produced NaN/inf actions for a valid observation; nothing may be sent."""


def action_range(postprocessor) -> tuple[np.ndarray, np.ndarray] | None:
    """The training data's per-dimension action [min, max], from the checkpoint's unnormaliser stats."""
    for step in getattr(postprocessor, "steps", []):
        stats = getattr(step, "_tensor_stats", None) or {}
        act = stats.get("action", {})
        if "min" in act and "max" in act:
            return (
                act["min"].detach().cpu().numpy().astype(np.float32).reshape(-1),
                act["max"].detach().cpu().numpy().astype(np.float32).reshape(-1),
            )
    return None


def guard_actions(actions: np.ndarray, clip: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, int]:
    """(H, D) actions -> (actions, number of clipped entries); raises NonFiniteActions."""
    bad = ~np.isfinite(actions)
    if bad.any():
        raise NonFiniteActions(
            f"the policy produced {int(bad.sum())} non-finite action value(s) of {actions.size} for this observation"
        )
    if clip is None:
        return actions, 0
    lo, hi = clip
    d = actions.shape[-1]
    clipped = np.clip(actions, lo[:d], hi[:d])
    return clipped.astype(np.float32), int((clipped != actions).sum())
