"""``inpars train``: the command line of :mod:`inpars.train` (moving here)."""

from inpars.train import build_parser, main

__all__ = ["build_parser", "main"]
