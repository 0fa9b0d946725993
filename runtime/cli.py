"""Frozen-dataclass configs -> tyro subcommands, shared by the console scripts.

A subcommand is (config, "module:function"[, description]): the config is a dataclass type, or a default
instance of one when several subcommands share a type with different defaults (`value_labeling train` /
`pretrain-video` / `pretrain-vae`); the description defaults to the config's docstring. The runner is imported only after the arguments parse, so `--help`
stays fast and never imports torch, ray or robosuite; a config may define `validate()`, run before that import so
that bad arguments fail fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Annotated, Union

import tyro

from runtime.priority import keep_normal_priority


def run_subcommands(commands: dict[str, tuple], argv: Sequence[str] | None = None, description: str = "") -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    keep_normal_priority()  # video encoding may raise threads to real-time priority (runtime.priority)
    options = []
    for name, (config, _, *about) in commands.items():
        help_text = about[0] if about else None
        if isinstance(config, type):
            marker = tyro.conf.subcommand(name=name, description=help_text)
        else:
            marker = tyro.conf.subcommand(name=name, default=config, description=help_text)
        options.append(Annotated[type(config) if not isinstance(config, type) else config, marker])
    # A union needs two members: pad with a hidden None (as tyro.extras.subcommand_cli_from_dict does).
    options.append(Annotated[None, tyro.conf.Suppress])
    cfg = tyro.cli(Union[tuple(options)], args=argv, description=description)  # type: ignore[arg-type]  # noqa: UP007 (a runtime union)
    # The root parser has no arguments of its own, so the subcommand is the first positional argument.
    name = next(a for a in argv if not a.startswith("-"))
    module, func = commands[name][1].split(":")
    try:
        # A config's own `validate()` (cheap checks: paths, ranges) runs before the runner's heavy imports.
        if callable(getattr(cfg, "validate", None)):
            cfg.validate()
        # The result is not returned: console-script wrappers would print it and exit 1.
        getattr(importlib.import_module(module), func)(cfg)
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError) as err:
        # Bad input: one clear line, no traceback, a non-zero exit.
        if getattr(cfg, "debug", False):
            raise
        print(f"{sys.argv[0].split('/')[-1]} {name}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
