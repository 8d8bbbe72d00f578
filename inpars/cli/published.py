"""``inpars published``: the command line of :mod:`inpars.published` (moving here)."""

from inpars.published import build_parser, main

__all__ = ["build_parser", "main"]
