"""``inpars publish``: the command line of :mod:`inpars.publish.cli` (moving here)."""

from inpars.publish.cli import build_parser, main

__all__ = ["build_parser", "main"]
