"""The GUI fixtures (windows logged in to the test server) for the hunt's tests."""

from gui.conftest import dark_app, either_palette, login_dialog, open_window  # noqa: F401
