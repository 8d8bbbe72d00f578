"""``python -m inpars.publish``: see :mod:`inpars.cli.publish`."""

import sys

from inpars.cli.publish import main

if __name__ == "__main__":
    sys.exit(main())
