"""``inpars search``: the command line of :mod:`inpars.search` (moving here)."""

from inpars.search import build_parser, main

__all__ = ["build_parser", "main"]
