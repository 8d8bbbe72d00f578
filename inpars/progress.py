"""What every stage shows on stderr, through one console: progress, warnings, errors, summaries.

Text from users' data (queries, passages, ids, paths, messages quoting a record) is printed as
plain text, never read as rich markup: a passage holding ``[citation needed]`` keeps it, and
one holding ``[/quote]`` cannot break the output. Only inpars' own labels carry styles.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

from inpars.errors import InparsWarning

# The one stderr console (rich resolves sys.stderr at each print, so it follows redirection).
_CONSOLE: Any = None


def stderr_console() -> Any:
    """The rich ``Console`` on stderr that progress bars, warnings, errors and summaries share.

    Sharing it is what keeps a warning printed during a progress bar on its own line above
    the bar instead of tearing it.
    """
    global _CONSOLE
    if _CONSOLE is None:
        from rich.console import Console

        _CONSOLE = Console(stderr=True)
    return _CONSOLE


def plain(text: object) -> Any:
    """``text`` as a rich ``Text`` that is shown as is: brackets are not markup."""
    from rich.text import Text

    return Text(str(text))


def say(label: str, message: object = "", style: str = "", console: Any = None) -> None:
    """Prints one line: ``label`` (in ``style``) and then ``message`` as plain text."""
    from rich.text import Text

    line = Text.assemble((label, style), " " if label and str(message) else "", str(message))
    (console or stderr_console()).print(line, soft_wrap=True)


def print_error(error: BaseException, console: Any = None) -> None:
    """The line a command prints for an :class:`~inpars.errors.InparsError` (no traceback)."""
    say("error:", error, "bold red", console)


@contextlib.contextmanager
def console_warnings() -> Iterator[None]:
    """Shows every warning raised inside as one line on :func:`stderr_console`, once.

    Python's default shows a warning with the file, line and source line that raised it, and
    once per place: a corpus read twice (counted, then worked on) warned twice, with source
    code. Here each distinct message is printed once per block, as ``warning: message``
    (third-party warnings are prefixed with their category). Filters are left as they are.
    Also a decorator: ``@console_warnings()`` on a command's ``main``.
    """
    seen: set[tuple[type[Warning], str]] = set()

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        text = str(message)
        if (category, text) in seen:
            return
        seen.add((category, text))
        own = issubclass(category, InparsWarning)
        say("warning:" if own else f"warning ({category.__name__}):", text, "yellow")

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def progress_bar(show: bool, *fields: str) -> Any:
    """A rich ``Progress``: description, bar, done/total, ``fields``, elapsed and remaining.

    ``fields`` are extra text columns over the task's fields (``"{task.fields[rate]}"``);
    ``show=False`` gives the same object, disabled, so callers never branch on it.
    """
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
        console=stderr_console(),
        disable=not show,
    )


@contextlib.contextmanager
def library_progress(show: bool) -> Iterator[None]:
    """With ``show=False``, the progress bars transformers draws itself (such as "Loading
    weights") are off while the block runs; ``--quiet`` means quiet."""
    if show:
        yield
        return
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


@functools.cache
def _plain_table_class() -> type:
    from rich.table import Table

    class PlainTable(Table):  # type: ignore[misc]
        """A table whose string cells are plain text, never markup."""

        def add_row(self, *renderables: Any, **kwargs: Any) -> None:
            super().add_row(
                *(plain(cell) if isinstance(cell, str) else cell for cell in renderables),
                **kwargs,
            )

    return PlainTable


def summary_table(title: str, rows: Iterable[tuple[str, str]] = ()) -> Any:
    """A rich ``Table`` of (what, value) rows, values right-aligned: a stage's summary.

    The title and string cells (here or added later with ``add_row``) are plain text.
    """
    table = _plain_table_class()(title=plain(title), show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in rows:
        table.add_row(name, value)
    return table
