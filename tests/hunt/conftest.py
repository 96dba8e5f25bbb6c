"""Shared GUI fixtures: app windows logged in to the test server, and typing helpers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.client.models import ConversationModel, MessageKind
from messenger.client.transfers import TransferController, TransferPrefs
from messenger.gui.login_dialog import LoginDialog
from messenger.gui.main_window import MainWindow
from messenger.gui.theme import sample_dark_palette

# The offscreen platform plugin cannot resize native windows to a layout's size constraints and
# says so with a warning each time a top-level layout changes; nothing in the app can fix that.


@pytest.fixture
def open_window(qtbot, server, tmp_path):
    """``open_window(user, password, **options)`` → a shown MainWindow logged in to
    ``server``; its files arrive in ``tmp_path/<user>-downloads``. ``options`` go to the
    :class:`ClientEngine` (``data_dir``: the app's own data folder, as on another computer
    of the account; ``backoff``, ...; ``offline_grace_ms`` is 0 unless given: a contact's
    going offline shows at once)."""
    engines: list[ClientEngine] = []
    controllers: list[TransferController] = []

    def factory(user: str, password: str | None = None, **options) -> MainWindow:
        options.setdefault("offline_grace_ms", 0)
        engine = ClientEngine(**options)
        engines.append(engine)
        with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
            engine.connect_to(server.host, server.port)
            engine.login(user, password or f"{user}123")
        transfers = TransferController(
            engine, TransferPrefs(download_dir=tmp_path / f"{user}-downloads"))
        controllers.append(transfers)
        window = MainWindow(engine, transfers=transfers)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        return window

    yield factory
    for controller in controllers:
        controller.close()  # its transfer thread must not outlive the test
    for engine in engines:
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in engines))


@pytest.fixture
def dark_app(qapp):
    """The app with a dark desktop palette (the one it had is back afterwards)."""
    before = QPalette(qapp.palette())
    QApplication.setPalette(sample_dark_palette())
    yield qapp
    QApplication.setPalette(before)


@pytest.fixture(params=["light", "dark"])
def either_palette(request, qapp) -> str:
    """Runs a test with the default (light) palette, then with a dark one."""
    if request.param == "dark":
        request.getfixturevalue("dark_app")
    return request.param


@pytest.fixture
def font_16pt(qapp) -> Iterator[QFont]:
    """The app's font at 16 pt (a large-font desktop setting); the old one back afterwards.
    Ask for it before the windows and dialogs it is for."""
    before = QFont(qapp.font())
    big = QFont(before)
    big.setPointSizeF(16)
    QApplication.setFont(big)
    yield big
    QApplication.setFont(before)


@pytest.fixture
def login_dialog(qtbot, server):
    """A shown, active login dialog for ``server`` (keys typed reach it; its engine is
    closed afterwards)."""
    engine = ClientEngine()
    dialog = LoginDialog(engine, host=server.host, port=server.port)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    yield dialog
    engine.close()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)


def texts(window: MainWindow, key: str, kind: MessageKind) -> list[str]:
    """The texts of the items of ``kind`` in ``window``'s conversation ``key``."""
    model = window.engine.conversation(key)
    return [model.data(model.index(r, 0), ConversationModel.TextRole)
            for r in range(model.rowCount())
            if model.data(model.index(r, 0), ConversationModel.KindRole) is kind]


def type_line(qtbot, window: MainWindow, text: str, key: str | None = None) -> None:
    """Type ``text`` into the compose box of tab ``key`` (default: the current tab) of
    ``window`` and press Enter, as a user would."""
    widget = window.conversation_widget(key) if key else window.tabs.currentWidget()
    assert widget is not None
    qtbot.keyClicks(widget.compose, text)
    qtbot.keyClick(widget.compose, Qt.Key.Key_Return)
    assert widget.compose.toPlainText() == ""


def active(qtbot, window: QWidget) -> QWidget:
    """``window`` made the active window (keyboard focus only moves in one), and returned."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    return window
