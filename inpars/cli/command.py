"""One wrapper for every stage's ``main``: parse, run, and turn failures into exit codes.

A stage's ``main(argv)`` is its body decorated with :func:`command`: the body gets the parsed
flags and returns an exit status (None is 0). What the wrapper adds, the same for every stage:

- an :class:`~inpars.errors.InparsError` (bad input, bad settings, an output another run
  wrote) prints ``error: <message>`` on stderr, no traceback, and exits with status 2;
- Ctrl-C prints what happens next (the stage's ``interrupted`` line) and exits with 130;
- warnings show as one line each on the console the progress display uses;
- a bad flag is argparse's usage error and status 2, as always.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Sequence

from inpars.errors import InparsError
from inpars.progress import console_warnings, print_error, stderr_console

Body = Callable[[argparse.Namespace], int | None]

#: What most stages say on Ctrl-C: their outputs are written incrementally and resumable.
RESUME = "rerun the same command to resume"


def command(
    build_parser: Callable[[], argparse.ArgumentParser], *, interrupted: str = RESUME
) -> Callable[[Body], Callable[[Sequence[str] | None], int]]:
    """Makes ``main(argv=None) -> int`` from a body that takes the parsed flags.

    ``interrupted``: the line shown after ``interrupted:`` on Ctrl-C.
    """

    def wrap(body: Body) -> Callable[[Sequence[str] | None], int]:
        @functools.wraps(body)
        def main(argv: Sequence[str] | None = None) -> int:
            args = build_parser().parse_args(None if argv is None else list(argv))
            with console_warnings():
                try:
                    return int(body(args) or 0)
                except InparsError as exc:
                    print_error(exc, stderr_console())
                    return 2
                except KeyboardInterrupt:
                    stderr_console().print(f"[yellow]interrupted: {interrupted}[/]")
                    return 130

        return main

    return wrap


__all__ = ["RESUME", "command"]
