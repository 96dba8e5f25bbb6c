"""Fixtures of the integration and GUI tests, for the hunt's tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

from integration.conftest import make_engine  # noqa: E402,F401
from gui.conftest import open_window  # noqa: E402,F401
