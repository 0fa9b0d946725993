"""`policy_ft`: value-weighted fine-tuning of LeRobot policies (π0.5 first) and openpi-protocol serving."""

from __future__ import annotations

from collections.abc import Sequence

from policy_ft.config import PresetsConfig, ServeConfig, TrainConfig
from policy_ft.tokenizer import MakeTokenizerConfig
from runtime.cli import run_subcommands

# name -> (frozen config dataclass, "module:runner"); the runner is imported after parsing.
COMMANDS: dict[str, tuple[type, str]] = {
    "train": (TrainConfig, "policy_ft.train:run_train"),
    "serve": (ServeConfig, "policy_ft.serve:run_serve"),
    "presets": (PresetsConfig, "policy_ft.cli:run_presets"),
    "make-tokenizer": (MakeTokenizerConfig, "policy_ft.tokenizer:run_make_tokenizer"),
}


def run_presets(cfg: PresetsConfig) -> None:
    import json
    from dataclasses import asdict

    from policy_ft.config import PRESETS

    if cfg.as_json:
        print(json.dumps({k: asdict(v) for k, v in PRESETS.items()}, indent=2))
        return
    print(f"{'preset':<10} {'H':>4} {'tau':>5} {'clip':>5} {'kappa_top70':>12} {'steps':>7} {'lr':>8} {'batch':>6}")
    for name, p in PRESETS.items():
        print(
            f"{name:<10} {p.chunk_length:>4} {p.tau:>5g} {p.clip:>5g} {p.kappa_top70:>12g} {p.steps:>7} "
            f"{p.lr:>8.1e} {p.batch_size:>6}"
        )


def main(argv: Sequence[str] | None = None):
    return run_subcommands(COMMANDS, argv, description=__doc__)


if __name__ == "__main__":
    main()
