"""One small helper shared by the four console scripts: frozen-dataclass configs -> tyro subcommands.

Each subcommand is (Config dataclass, "module:function"). The runner is imported only after the
arguments parse, so `--help` stays fast and never imports torch, ray or robosuite.
"""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

import tyro


def run_subcommands(commands: dict[str, tuple[type, str]], argv: Sequence[str] | None = None, description: str = "") -> None:
    configs = {name: cfg_type for name, (cfg_type, _) in commands.items()}
    cfg = tyro.extras.subcommand_cli_from_dict(configs, args=argv, description=description)
    for name, (cfg_type, target) in commands.items():
        if type(cfg) is cfg_type:
            module, func = target.split(":")
            try:
                # The result is not returned: console-script wrappers would print it and exit 1.
                getattr(importlib.import_module(module), func)(cfg)
                return None
            except (ValueError, FileNotFoundError, FileExistsError, PermissionError) as err:
                # Bad input: one clear line, no traceback, a non-zero exit.
                if getattr(cfg, "debug", False):
                    raise
                print(f"{sys.argv[0].split('/')[-1]} {name}: error: {err}", file=sys.stderr)
                raise SystemExit(2) from None
    raise AssertionError(f"no runner for {type(cfg).__name__}")
