"""``python -m hyperperturb._cli``: the same as the ``hyperperturb`` command."""

import sys

from ._main import main

sys.exit(main())
