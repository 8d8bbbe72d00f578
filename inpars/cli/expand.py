"""``inpars expand``: the command line of :mod:`inpars.expand` (moving here)."""

from inpars.expand import build_parser, main

__all__ = ["build_parser", "main"]
