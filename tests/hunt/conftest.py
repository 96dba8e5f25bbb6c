from tests.gui.conftest import open_window, login_dialog, dark_app  # noqa: F401
from tests.integration.conftest import make_engine  # noqa: F401,E402
