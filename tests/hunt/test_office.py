"""The app at office scale: 300 accounts on one server, 40 groups, a busy Everyone. One
user's window (offscreen) and protocol clients (WireClient) that make the load: presence
churn, many conversations with unread counts, broadcasts in bursts.

The tests count work per event (frames sent, store syncs, member lists recomputed, rows
measured), not time: what a user feels as a window that stutters or falls behind once the
office is busy, and that grows with the size of the office or the length of the day."""

from __future__ import annotations

import pytest
from helpers.wire import connect_as

from messenger.client.connection import ConnectionState
from messenger.client.conversations import EVERYONE
from messenger.client.engine import ClientEngine
from messenger.client.transfers import TransferController, TransferPrefs
from messenger.gui.delegates import BubbleDelegate
from messenger.gui.main_window import MainWindow
from messenger.protocol import Send

N_ACCOUNTS = 300


# ---------------------------------------------------------------------------------- set-up


def add_accounts(server, n: int = N_ACCOUNTS) -> list[str]:
    """``n`` accounts user000… (password ``<name>pw``), straight into the server's store."""
    core = server.server
    names = [f"user{i:03d}" for i in range(n)]
    for name in names:
        core.store.create_account(name, core.passwords.hash(f"{name}pw"))
    core.store.commit()
    return names


def make_groups(server, names: list[str], n_groups: int = 40, size: int = 60,
                exclude: tuple[str, ...] = ()) -> list[str]:
    """``n_groups`` public groups team00… of ``size`` members each (alice in all of them,
    nobody of ``exclude`` in any), made through the server's own group rules."""
    core = server.server.core
    pool = [n for n in names if n not in exclude]
    made = []
    for g in range(n_groups):
        name = f"team{g:02d}"
        leader = pool[g % len(pool)]
        core.groups.create(leader, name, [], True)
        members = dict.fromkeys(pool[(g * 7 + i) % len(pool)] for i in range(size))
        for member in [*members, "alice"]:
            if member != leader:
                core.groups.join(member, name)
        made.append(name)
    server.server.store.commit()
    return made


@pytest.fixture
def office(make_server):
    """A server with the demo accounts and 300 more; no send rate limit (the load is ours)."""
    server = make_server(demo=True, max_send_rate=0)
    return server, add_accounts(server)


@pytest.fixture
def window_for(qtbot, tmp_path):
    """``window_for(server, user)`` → a shown MainWindow logged in as ``user``."""
    engines: list[ClientEngine] = []
    controllers: list[TransferController] = []

    def factory(server, user: str, password: str | None = None) -> MainWindow:
        engine = ClientEngine()
        engines.append(engine)
        with qtbot.waitSignal(engine.login_succeeded, timeout=20_000):
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


class Counting:
    """Counts calls of ``obj.name`` (an instance's or a class's attribute), forwarding each
    to the real one; ``monkeypatch`` puts it back."""

    def __init__(self, monkeypatch, obj, name: str, *, method: bool = False) -> None:
        self.calls = 0
        self.by_arg: dict[str, int] = {}
        real = getattr(obj, name)
        if method:
            def wrapper(this, *args, **kwargs):
                self.calls += 1
                return real(this, *args, **kwargs)
        else:
            def wrapper(*args, **kwargs):
                self.calls += 1
                if args:  # (by the first argument: a str itself, else its type's name)
                    kind = args[0] if isinstance(args[0], str) else type(args[0]).__name__
                    self.by_arg[kind] = self.by_arg.get(kind, 0) + 1
                return real(*args, **kwargs)
        monkeypatch.setattr(obj, name, wrapper)


def broadcast(clients, per_client: int, tag: str) -> int:
    """Every client of ``clients`` sends ``per_client`` broadcasts at once (pipelined, no
    waiting for the answers); the number sent."""
    for c in clients:
        for i in range(per_client):
            c.send(Send(id=c.next_id(), client_msg_id=f"{tag}-{i}", scope="broadcast",
                        text=f"{tag} {i}", to=[]))
    return len(clients) * per_client


# ---------------------------------------------------------------------------------- tests


def test_each_new_message_in_a_busy_everyone_does_not_measure_every_row_again(
        qtbot, office, window_for, monkeypatch):
    """Everyone open at the newest message all day: each message that comes makes the list
    ask every row's size again (about 6 µs a row, see docs/performance.md), and the rows
    never go (what came live stays in the model). The cost of one message grows with
    every message of the day, without end: 375 sizes for one message after 350, 10,000
    after 10,000."""
    server, names = office
    alice = window_for(server, "alice")
    widget = alice.conversation_widget(EVERYONE)
    alice.tabs.setCurrentWidget(widget)
    model = alice.engine.conversation(EVERYONE)
    senders = [connect_as(qtbot, server, n, f"{n}pw") for n in names[:6]]
    measured = Counting(monkeypatch, BubbleDelegate, "_known_height", method=True)
    costs = {}
    bar = widget.view.verticalScrollBar()
    for per_client in (10, 100):
        want = model.rowCount() + broadcast(senders, per_client, f"day{per_client}")
        qtbot.waitUntil(lambda want=want: model.rowCount() >= want, timeout=30_000)
        # (the burst laid out and scrolled to: the end timer ran, the bar is at its end)
        qtbot.waitUntil(lambda: not widget._to_end.isActive() and bar.value() == bar.maximum())
        measured.calls = 0
        rows = model.rowCount()
        broadcast(senders[:1], 1, f"one{per_client}")
        qtbot.waitUntil(lambda rows=rows: model.rowCount() == rows + 1)
        qtbot.waitUntil(lambda: measured.calls > 0 and not widget._to_end.isActive())
        costs[rows] = measured.calls
    small, large = sorted(costs)
    assert widget.at_latest
    # One message should cost about the same however many came before it.
    assert costs[large] <= 2 * costs[small] + 20, \
        f"sizes asked for one new message, by rows already there: {costs}"
