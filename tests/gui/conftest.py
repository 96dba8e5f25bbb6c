"""Shared GUI fixtures: app windows logged in to the test server, and typing helpers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtDBus import QDBusConnection, QDBusMessage
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
    ``server``; its files arrive in ``tmp_path/<user>-downloads``; ``notification_bus``: the D-Bus
    connection whose notification service shows its pop-ups (default: none, the tray's
    balloon; see :func:`notification_daemon`). ``options`` go to the
    :class:`ClientEngine` (``data_dir``: the app's own data folder, as on another computer
    of the account; ``backoff``, ...; ``offline_grace_ms`` is 0 unless given: a contact's
    going offline shows at once)."""
    engines: list[ClientEngine] = []
    controllers: list[TransferController] = []

    def factory(user: str, password: str | None = None, *,
                notification_bus: QDBusConnection | None = None, **options) -> MainWindow:
        options.setdefault("offline_grace_ms", 0)
        engine = ClientEngine(**options)
        engines.append(engine)
        with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
            engine.connect_to(server.host, server.port)
            engine.login(user, password or f"{user}123")
        transfers = TransferController(
            engine, TransferPrefs(download_dir=tmp_path / f"{user}-downloads"))
        controllers.append(transfers)
        bus = {"notification_bus": notification_bus} if notification_bus is not None else {}
        window = MainWindow(engine, transfers=transfers, **bus)
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


@pytest.fixture(autouse=True)
def no_session_bus(monkeypatch) -> None:
    """No window reaches the desktop's own session bus: a test run on a developer's desktop
    would pop up real notifications. Tests that want a notification service start their
    own (:func:`private_bus`, :func:`notification_daemon`)."""
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)


BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@dataclass
class PrivateBus:
    """A session bus of the test's own: its ``address`` and a ``connection`` to it."""

    address: str
    connection: QDBusConnection

    def has(self, service: str) -> bool:
        """Whether ``service`` is on the bus."""
        reply = self.connection.interface().isServiceRegistered(service)
        return reply.isValid() and bool(reply.value())


@pytest.fixture
def private_bus(qapp, tmp_path) -> Iterator[PrivateBus]:
    """A private D-Bus session bus (``dbus-daemon`` with no services of the machine's to
    start: the desktop's own notification daemon must not answer); skipped where
    ``dbus-daemon`` is not installed."""
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        pytest.skip("dbus-daemon is not installed")
    folder = tmp_path / "bus"
    folder.mkdir()
    config = folder / "session.conf"
    config.write_text(BUS_CONFIG.format(dir=folder))
    process = subprocess.Popen([daemon, f"--config-file={config}", "--print-address",
                                "--nofork"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    address = process.stdout.readline().strip()
    name = f"test-bus-{process.pid}"
    connection = QDBusConnection.connectToBus(address, name)
    try:
        assert connection.isConnected(), connection.lastError().message()
        yield PrivateBus(address, connection)
    finally:
        QDBusConnection.disconnectFromBus(name)
        process.terminate()
        process.wait(10)
        process.stdout.close()


class NotificationDaemon:
    """The stand-in for the desktop's notification daemon (tests/helpers/
    notification_daemon.py) on a :class:`PrivateBus`: its recorded calls, and clicks."""

    def __init__(self, bus: PrivateBus) -> None:
        self.bus = bus

    def _call(self, method: str, *args: object) -> QDBusMessage:
        message = QDBusMessage.createMethodCall("org.freedesktop.Notifications", "/control",
                                                "test.NotificationDaemon", method)
        message.setArguments(list(args))
        reply = self.bus.connection.call(message)
        assert reply.type() == QDBusMessage.MessageType.ReplyMessage, reply.errorMessage()
        return reply

    def calls(self, method: str = "Notify") -> list[dict]:
        """The daemon's ``method`` calls so far (their arguments by name)."""
        return [c for c in json.loads(self._call("Calls").arguments()[0])
                if c["method"] == method]

    def click(self, nid: int) -> None:
        """The user clicks pop-up ``nid``: ``ActionInvoked(nid, "default")``."""
        self._call("Click", nid)


@pytest.fixture
def notification_daemon(qtbot, private_bus) -> Iterator[NotificationDaemon]:
    """The stand-in notification daemon (an external program: the desktop's), running on
    :func:`private_bus`."""
    yield from run_notification_daemon(qtbot, private_bus)


@pytest.fixture
def slow_notification_daemon(qtbot, private_bus) -> Iterator[NotificationDaemon]:
    """:func:`notification_daemon`, hung for 1 s on each ``Notify`` before it answers."""
    yield from run_notification_daemon(qtbot, private_bus, "1")


def run_notification_daemon(qtbot, private_bus: PrivateBus,
                            *args: str) -> Iterator[NotificationDaemon]:
    """Start tests/helpers/notification_daemon.py with ``args`` on ``private_bus``; stop
    it after the test."""
    script = Path(__file__).parents[1] / "helpers" / "notification_daemon.py"
    process = subprocess.Popen([sys.executable, str(script), private_bus.address, *args])
    try:
        qtbot.waitUntil(lambda: private_bus.has("org.freedesktop.Notifications")
                        or process.poll() is not None, timeout=10_000)
        assert process.poll() is None, "the stand-in notification daemon did not start"
        yield NotificationDaemon(private_bus)
    finally:
        process.terminate()
        process.wait(10)
