"""``python -m messenger``: same as the ``messenger`` command."""

import sys

from messenger.cli import main

sys.exit(main())
