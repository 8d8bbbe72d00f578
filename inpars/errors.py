"""The errors inpars raises for bad input and bad configuration.

Every error a user can cause is an :class:`InparsError`; the command-line entry points print
its message (no traceback) and exit with status 2.
"""

from __future__ import annotations

from pathlib import Path


class InparsError(Exception):
    """An error caused by input or configuration, with a message meant for the user."""


class InparsWarning(UserWarning):
    """A problem in the input that inpars worked around; commands show it as one line."""


class InputError(InparsError):
    """Bad content in an input file, located by file, line and field."""

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        where = []
        if self.path is not None:
            where.append(self.path if line is None else f"{self.path}:{line}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


def require_at_least_one(*settings: tuple[str, int]) -> None:
    """Raises InparsError naming the first (flag, value) whose value is below 1."""
    for name, value in settings:
        if value < 1:
            raise InparsError(f"{name} must be at least 1 (got {value})")
