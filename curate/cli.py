"""`curate`: label LeRobot datasets with per-frame values and turn values into advantages and weights."""

from __future__ import annotations

from collections.abc import Sequence

from curate.config import AdvantagesConfig, FilterConfig, FlagConfig, LabelConfig, ReportConfig
from curate.export import ExportConfig
from curate.merge import MergeConfig
from runtime.cli import run_subcommands

COMMANDS: dict[str, tuple[type, str]] = {
    "label-values": (LabelConfig, "curate.label_values:run_label"),
    "advantages": (AdvantagesConfig, "curate.advantages:run_advantages"),
    "flag": (FlagConfig, "curate.flag:run_flag"),
    "report": (ReportConfig, "curate.report:run_report"),
    "export": (ExportConfig, "curate.export:run_export"),
    "filter": (FilterConfig, "curate.filter:run_filter"),
    "merge": (MergeConfig, "curate.merge:run_merge"),
}


def main(argv: Sequence[str] | None = None):
    return run_subcommands(COMMANDS, argv, description=__doc__)


if __name__ == "__main__":
    main()
