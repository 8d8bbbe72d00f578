"""``inpars merge``: the command line of :mod:`inpars.merge` (moving here)."""

from inpars.merge import build_parser, main

__all__ = ["build_parser", "main"]
