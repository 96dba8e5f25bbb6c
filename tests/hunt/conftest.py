"""Fixtures of the hunt tests: the integration tests' engines and the GUI tests' windows."""

from gui.conftest import open_window  # noqa: F401
from integration.conftest import make_engine  # noqa: F401
