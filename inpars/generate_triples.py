"""``python -m inpars.generate_triples``: the InPars toolkit's name for ``inpars.triples``.

Takes the toolkit's flags (``--input``, ``--dataset``, ``--max_hits``, ...) as well as
inpars' own; see :mod:`inpars.cli.compat` and :mod:`inpars.cli.triples`.
"""

from __future__ import annotations

import sys

from inpars.cli.triples import main

if __name__ == "__main__":
    sys.exit(main())
