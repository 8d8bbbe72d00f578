"""``inpars dense``: the command line of :mod:`inpars.dense.cli` (moving here)."""

from inpars.dense.cli import build_parser, main

__all__ = ["build_parser", "main"]
