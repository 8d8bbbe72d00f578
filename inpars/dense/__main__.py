"""``python -m inpars.dense``: see :mod:`inpars.dense.cli`."""

import sys

from inpars.dense.cli import main

if __name__ == "__main__":
    sys.exit(main())
