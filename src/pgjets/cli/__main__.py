"""``python -m pgjets.cli ...``: the same as the ``pgjets`` command."""

import sys

from . import main

sys.exit(main())
