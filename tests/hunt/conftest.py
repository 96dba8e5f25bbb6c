"""The app-window fixture of the GUI tests, for the hunt's tests."""

from tests.gui.conftest import open_window  # noqa: F401
