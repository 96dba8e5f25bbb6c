"""Hunt: the roster (contact list): presence, unread counts and their sum, order, filter."""

from __future__ import annotations

import pytest

from messenger.client.connection import ConnectionState
from messenger.client.conversations import peer_key
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


def test_a_new_computer_shows_the_unread_badge_of_every_contact_who_wrote(
        qtbot, make_server, make_engine, tmp_path):
    """A teacher with 120 students who each wrote her while her desktop was on (received,
    not read) logs in on a new computer: every student's row must carry its badge. Only
    the 100 newest conversations are fetched per login (DISCOVER_MAX), so 20 students'
    messages count nowhere - no badge, no title count - until the app next logs in."""
    from helpers.wire import WireClient

    from messenger.protocol import Ok

    server = make_server(demo=True, max_registrations=0, max_send_rate=0)
    desktop = make_engine(data_dir=tmp_path / "desktop")
    login(qtbot, desktop, server, "alice")
    students = [f"student{i:03d}" for i in range(120)]
    for name in students:
        w = WireClient(qtbot, server.host, server.port)
        w.hello()
        assert isinstance(w.register(name, "secret123"), Ok)
        assert isinstance(w.send_text("unicast", f"question from {name}", to=["alice"]), Ok)
        w.close()
    qtbot.waitUntil(lambda: sum(desktop.unread(peer_key(s)) for s in students) == 120,
                    timeout=30_000)

    laptop = make_engine(data_dir=tmp_path / "laptop")
    with qtbot.waitSignal(laptop.resumed, timeout=30_000):
        login(qtbot, laptop, server, "alice")
    qtbot.wait(500)
    missing = [s for s in students if laptop.roster.contact(s).unread != 1]
    assert missing == [], f"{len(missing)} contacts without their badge: {missing[:5]}…"


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
