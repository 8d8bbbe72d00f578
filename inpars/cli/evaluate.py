"""``inpars evaluate``: the command line of :mod:`inpars.evaluate` (moving here)."""

from inpars.evaluate import build_parser, main

__all__ = ["build_parser", "main"]
