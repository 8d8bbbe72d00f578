"""``inpars generate``: the command line of :mod:`inpars.generate` (moving here)."""

from inpars.generate import build_parser, main

__all__ = ["build_parser", "main"]
