"""``python -m inpars.filter``: the command line of :mod:`inpars.filter`."""

import sys

from inpars.cli.filter import main

sys.exit(main())
