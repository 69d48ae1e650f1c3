"""``python -m handler_kit``: the command line, where the ``handler-kit`` script is not on PATH
(in a notebook: ``!{sys.executable} -m handler_kit check .``)."""

import sys

from .cli import main

sys.exit(main())
