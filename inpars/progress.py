"""What every stage shows on stderr: one progress layout, and one end-of-run summary table."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any


def progress_bar(show: bool, *fields: str) -> Any:
    """A rich ``Progress``: description, bar, done/total, ``fields``, elapsed and remaining.

    ``fields`` are extra text columns over the task's fields (``"{task.fields[rate]}"``);
    ``show=False`` gives the same object, disabled, so callers never branch on it.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *(TextColumn(field) for field in fields),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show,
    )


def summary_table(title: str, rows: Iterable[tuple[str, str]] = ()) -> Any:
    """A rich ``Table`` of (what, value) rows, values right-aligned: a stage's summary."""
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in rows:
        table.add_row(name, value)
    return table


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with "(default: X)" after each flag, except where the help already says
    what the default is, or there is none to say (None, a switch that is off)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False  # (0 is a default)
        switch = action.nargs == 0  # --quiet, --no-prefix-cache: the help says what it does
        if "default" in text.lower() or unset or switch or action.default == argparse.SUPPRESS:
            return text
        return super()._get_help_string(action) or text
