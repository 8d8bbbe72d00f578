"""``inpars triples``: the command line of :mod:`inpars.triples` (moving here)."""

from inpars.triples import build_parser, main

__all__ = ["build_parser", "main"]
