"""``inpars pipeline``: the command line of :mod:`inpars.pipeline` (moving here)."""

from inpars.pipeline import build_parser, main

__all__ = ["build_parser", "main"]
