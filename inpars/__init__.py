"""inpars: synthetic training data for neural search, the InPars way."""

__version__ = "0.1.0"
