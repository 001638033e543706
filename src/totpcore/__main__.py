"""``python -m totpcore``: the same command line as the ``totpcore`` script."""

from __future__ import annotations

import sys

from totpcore.cli import main

sys.exit(main())
