"""Shared GUI fixtures: app windows logged in to the test server, and typing helpers."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

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
    of the account; ``backoff``, ...)."""
    engines: list[ClientEngine] = []
    controllers: list[TransferController] = []

    def factory(user: str, password: str | None = None, **options) -> MainWindow:
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



def type_line(qtbot, window: MainWindow, text: str, key: str | None = None) -> None:
    widget = window.conversation_widget(key) if key else window.tabs.currentWidget()
    assert widget is not None
    qtbot.keyClicks(widget.compose, text)
    qtbot.keyClick(widget.compose, Qt.Key.Key_Return)
