"""Hunt: the roster (contact list): presence, unread counts and their sum, order, filter."""

from __future__ import annotations

import pytest

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.client.liveness import Backoff
from messenger.client.models import MessageKind, RosterModel
from messenger.client.transfers import TransferController, TransferPrefs
from messenger.gui.main_window import MainWindow


@pytest.fixture
def make_engine(qtbot):
    engines: list[ClientEngine] = []

    def factory(**kwargs) -> ClientEngine:
        kwargs.setdefault("backoff", Backoff(0.05, 0.3))
        engine = ClientEngine(**kwargs)
        engines.append(engine)
        return engine

    yield factory
    for engine in engines:
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in engines))


@pytest.fixture
def open_window(qtbot, server, tmp_path):
    """A shown MainWindow logged in to ``server`` (as tests/gui/conftest.py makes them)."""
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
        controller.close()
    for engine in engines:
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in engines))


def login(qtbot, engine: ClientEngine, server, user: str, password: str | None = None) -> None:
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.connect_to(server.host, server.port)
        engine.login(user, password or f"{user}123")


def shown_contacts(window: MainWindow) -> list[str]:
    proxy = window.contacts_proxy
    return [proxy.index(r, 0).data(RosterModel.NameRole) for r in range(proxy.rowCount())]


def test_a_contacts_short_network_blips_do_not_fill_the_conversation_with_presence_lines(
        qtbot, open_window):
    """alice's Wi-Fi drops for a moment three times (her app is back within a second each
    time). bob, who has her tab open, gets six lines "alice is offline." / "alice is
    online." in their conversation: the settling that keeps a server restart quiet does
    not apply to one contact's blip."""
    alice = open_window("alice", backoff=Backoff(0.05, 0.3))
    bob = open_window("bob")
    tab = bob.open_conversation("alice")
    model = tab.model

    def notices() -> list[str]:
        return [model.data(model.index(r, 0)) for r in range(model.rowCount())
                if model.data(model.index(r, 0), model.KindRole) is MessageKind.SYSTEM]

    before = notices()
    for _ in range(3):
        with qtbot.waitSignal(bob.engine.presence_changed, timeout=5_000):
            alice.engine._conn._socket.abort()  # the link breaks
        qtbot.waitUntil(lambda: alice.engine.logged_in, timeout=5_000)
        qtbot.waitUntil(lambda: bob.engine.roster.contact("alice").online, timeout=5_000)
    assert notices()[len(before):] == []
