"""The progress display every long stage shows: one rich layout, on stderr."""

from __future__ import annotations

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
