"""The hunt tests use the GUI fixtures (windows logged in to a real server)."""

from tests.gui.conftest import open_window  # noqa: F401
