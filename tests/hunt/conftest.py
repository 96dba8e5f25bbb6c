"""The GUI fixtures (open_window, dark_app, login_dialog) for the hunt tests."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "hunt_gui_conftest", Path(__file__).resolve().parent.parent / "gui" / "conftest.py")
_gui = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_gui)

open_window = _gui.open_window
dark_app = _gui.dark_app
login_dialog = _gui.login_dialog
