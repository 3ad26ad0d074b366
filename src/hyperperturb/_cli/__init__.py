"""The ``hyperperturb`` command: ``demo``, ``train`` and ``info``.

Built on the public API (``hp.pp``, ``hp.tl``, ``hp.pl``, ``hp.get``, ``hp.datasets``) plus the ground floor's
file, logging and ledger helpers (``hyperperturb._utils``). One module per subcommand; ``_common.py`` holds what they
share, ``_main.py`` the parser and the entry point (``hyperperturb._cli:main``).
"""

from ._common import CLIError
from ._main import build_parser, main

__all__ = ["CLIError", "build_parser", "main"]
