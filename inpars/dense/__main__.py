"""``python -m inpars.dense``: the command line of :mod:`inpars.cli.dense`."""

import sys

from inpars.cli.dense import main

if __name__ == "__main__":
    sys.exit(main())
