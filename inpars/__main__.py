"""``python -m inpars STAGE ...``: see :mod:`inpars.cli`."""

import sys

from inpars.cli import main

if __name__ == "__main__":
    sys.exit(main())
