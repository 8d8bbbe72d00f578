"""``inpars filter``: the command line of :mod:`inpars.filter` (moving here)."""

from inpars.filter import build_parser, main

__all__ = ["build_parser", "main"]
