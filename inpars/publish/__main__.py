"""``python -m inpars.publish``: see :mod:`inpars.publish.cli`."""

import sys

from inpars.publish.cli import main

if __name__ == "__main__":
    sys.exit(main())
