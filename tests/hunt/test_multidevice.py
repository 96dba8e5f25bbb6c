"""Hunt: one account on several devices, reconnects, and clock skew between app and server.

Every test runs a real in-process server on 127.0.0.1 and real app engines. Clock skew is
made by moving the *server's* wall clock (its timestamp sources), as when the server
machine's clock is some minutes off from the computer the app runs on: the app's code and
clock are left as they are."""

from __future__ import annotations

import time as _time

import pytest
import shiboken6

from messenger.client.connection import ConnectionState
from messenger.client.conversations import peer_key
from messenger.client.engine import ClientEngine
from messenger.client.liveness import Backoff
from messenger.client.models import MessageKind, presence_text
from messenger.client.transfers import TransferController, TransferPrefs

SKEW = 600.0
"""Ten minutes: a machine whose clock is not synchronised (no NTP on a lab LAN)."""


class _SkewedTime:
    """The ``time`` module as the server sees it on a machine whose clock is off."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def time(self) -> float:
        return _time.time() + self.offset

    def __getattr__(self, name: str):
        return getattr(_time, name)


def skew_server_clock(server, monkeypatch, offset: float) -> None:
    """The server machine's wall clock runs ``offset`` seconds off the app's."""
    import messenger.server.store as store_module

    shim = _SkewedTime(offset)
    monkeypatch.setattr(store_module, "time", shim)
    core = server.server.core
    monkeypatch.setattr(core, "_clock", shim.time)
    monkeypatch.setattr(core.groups, "_clock", shim.time)


@pytest.fixture
def make_engine(qtbot):
    engines: list[ClientEngine] = []

    def factory(**kwargs) -> ClientEngine:
        kwargs.setdefault("backoff", Backoff(0.05, 0.3))
        engine = ClientEngine(**kwargs)
        engines.append(engine)
        return engine

    yield factory
    engines = [e for e in engines if shiboken6.isValid(e)]
    for engine in engines:
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in engines))


@pytest.fixture
def make_controller(tmp_path):
    made: list[TransferController] = []

    def factory(engine: ClientEngine) -> TransferController:
        controller = TransferController(
            engine, TransferPrefs(download_dir=tmp_path / f"dl-{len(made)}"))
        made.append(controller)
        return controller

    yield factory
    for controller in made:
        controller.close()


def login(qtbot, engine: ClientEngine, server, user: str) -> None:
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.connect_to(server.host, server.port)
        engine.login(user, f"{user}123")


# ---------------------------------------------------------------------- clock skew


def test_someone_who_just_left_reads_last_seen_just_now_whatever_the_servers_clock(
        qtbot, server, make_engine, monkeypatch):
    """The server's clock is 10 minutes slow. bob logs out right now, and alice's tab with
    him says "last seen 10 min ago" (the server's time of his going, read on alice's
    clock); with the server's clock 10 minutes fast it would say "last seen just now" for
    the next ten minutes. The server tells its clock in ``hello.server_time``; the app
    never uses it."""
    skew_server_clock(server, monkeypatch, -SKEW)
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server, "alice")
    login(qtbot, bob, server, "bob")
    qtbot.waitUntil(lambda: alice.roster.contact("bob").online, timeout=5000)
    bob.logout()
    qtbot.waitUntil(lambda: not alice.roster.contact("bob").online, timeout=5000)
    assert presence_text(alice.roster.contact("bob")) == "last seen just now"


def test_an_exported_conversation_keeps_files_among_messages_whatever_the_servers_clock(
        qtbot, server, make_engine, make_controller, tmp_path, monkeypatch):
    """The server's clock is 10 minutes fast. alice writes, sends a file, writes again;
    the export lists the file before both messages (a file's time is the app's clock, a
    message's the server's)."""
    skew_server_clock(server, monkeypatch, SKEW)
    alice_engine, bob_engine = make_engine(), make_engine()
    login(qtbot, bob_engine, server, "bob")
    login(qtbot, alice_engine, server, "alice")
    alice, bob = make_controller(alice_engine), make_controller(bob_engine)
    qtbot.waitUntil(lambda: alice_engine.roster.contact("bob").online, timeout=5000)
    with qtbot.waitSignal(alice_engine.message_acked, timeout=10_000):
        alice_engine.send_unicast("bob", "the notes follow")
    src = tmp_path / "notes.txt"
    src.write_bytes(b"x" * 3000)
    with qtbot.waitSignal(bob.transfer_added, timeout=10_000):
        assert alice.send_file("bob", src) is None
    with qtbot.waitSignal(bob_engine.message_received, timeout=10_000):
        alice_engine.send_unicast("bob", "got it?")
    for engine, peer in ((alice_engine, "bob"), (bob_engine, "alice")):
        out = tmp_path / f"{engine.user}.txt"
        job = engine.export_conversation(peer, out)
        with qtbot.waitSignal(job.finished, timeout=10_000):
            pass
        lines = [line.split("] ", 1)[1] for line in out.read_text().splitlines()]
        assert [line.split(" (")[0] for line in lines] == [
            "alice: the notes follow", "alice: [file] notes.txt", "alice: got it?"], engine.user


def test_a_file_offer_looked_at_on_another_computer_is_not_unread_whatever_the_clocks(
        qtbot, server, make_engine, make_controller, tmp_path, monkeypatch):
    """The server's clock is 10 minutes slow. bob offers alice a file, then asks "did you
    get it?"; alice reads the conversation on her desktop. Her laptop keeps "(1) bob": it
    clears offers shown above the newest message read elsewhere by comparing the card's
    time (the laptop's clock) with the message's (the server's)."""
    skew_server_clock(server, monkeypatch, -SKEW)
    bob, desktop = make_engine(), make_engine()
    laptop = make_engine(data_dir=tmp_path / "laptop")
    for engine, user in ((bob, "bob"), (desktop, "alice"), (laptop, "alice")):
        login(qtbot, engine, server, user)
    bob_t, _desk_t, lap_t = (make_controller(e) for e in (bob, desktop, laptop))
    qtbot.waitUntil(lambda: bob.roster.contact("alice").online, timeout=5000)
    key = peer_key("bob")
    path = tmp_path / "notes.txt"
    path.write_text("some notes\n")
    with qtbot.waitSignal(lap_t.transfer_added, timeout=10_000):
        assert bob_t.send_file("alice", path) is None
    with qtbot.waitSignal(laptop.message_received, timeout=5000):
        bob.send_unicast("alice", "did you get it?")
    qtbot.waitUntil(lambda: desktop.unread(key) == 2, timeout=5000)
    assert laptop.unread(key) == 2
    desktop.mark_read(key)  # looked at on the desktop, the offer not answered
    qtbot.waitUntil(lambda: laptop.unread(key) == 0, timeout=5000)  # stays at 1


def test_a_file_card_reloaded_after_a_restart_stays_after_the_message_before_it(
        qtbot, server, make_engine, make_controller, tmp_path, monkeypatch):
    """The server's clock is 10 minutes fast. alice writes "the notes follow" and then
    sends a file; bob restarts his app: his file card now shows *above* "the notes follow"
    (and above everything of the last 10 minutes), because a reloaded card is placed by
    its time on bob's clock among messages stamped by the server's."""
    skew_server_clock(server, monkeypatch, SKEW)
    alice_engine, bob_engine = make_engine(), make_engine(data_dir=tmp_path / "bob")
    login(qtbot, bob_engine, server, "bob")
    login(qtbot, alice_engine, server, "alice")
    alice, bob = make_controller(alice_engine), make_controller(bob_engine)
    qtbot.waitUntil(lambda: alice_engine.roster.contact("bob").online, timeout=5000)
    with qtbot.waitSignal(bob_engine.message_received, timeout=10_000):
        alice_engine.send_unicast("bob", "the notes follow")
    src = tmp_path / "notes.txt"
    src.write_bytes(b"x" * 3000)
    with qtbot.waitSignal(bob.transfer_added, timeout=10_000) as added:
        assert alice.send_file("bob", src) is None
    card = added.args[0]
    rows = [i.transfer or i.text for i in bob_engine.conversation("alice").items()
            if i.kind in (MessageKind.OTHER, MessageKind.TRANSFER)]
    assert rows == ["the notes follow", card]  # as it happened
    bob.close()
    bob_engine.close()
    qtbot.waitUntil(lambda: bob_engine.state is ConnectionState.DISCONNECTED, timeout=5000)
    bob_engine.close_store()
    again = make_engine(data_dir=tmp_path / "bob")
    make_controller(again)
    with qtbot.waitSignal(again.resumed, timeout=10_000):
        login(qtbot, again, server, "bob")
    qtbot.waitUntil(lambda: any(i.transfer for i in again.conversation("alice").items()),
                    timeout=5000)
    rows = [i.transfer or i.text for i in again.conversation("alice").items()
            if i.kind in (MessageKind.OTHER, MessageKind.TRANSFER)]
    assert rows == ["the notes follow", card]


# ---------------------------------------------------------------------- receipts, devices


def test_receipts_past_the_login_replay_cap_are_not_skipped_by_a_live_one(
        qtbot, make_server, make_engine):
    """alice's laptop was away while her desktop's 2,600 messages to bob and charlie were
    delivered and read (10,400 receipts). Its login gets the first 10,000 (the server's
    cap per login); the rest would come at the next login. But a live receipt meanwhile
    (bob reads a new message) moves the laptop's ``receipts_after`` past the ones not
    replayed: they never come, and the laptop shows her last messages unread by charlie
    for good, while her desktop shows them read."""
    from helpers.wire import connect_as

    from messenger.protocol import Ok, Read, Send

    server = make_server(demo=True, max_send_rate=0)
    laptop = make_engine()
    login(qtbot, laptop, server, "alice")
    with qtbot.waitSignal(laptop.logged_out, timeout=10_000):
        laptop.logout()
    desktop = connect_as(qtbot, server, "alice", "alice123")
    count = 2600
    first = desktop.next_id()
    for i in range(count):
        desktop.send(Send(id=first + i, client_msg_id=f"{desktop.next_id()}-{i}",
                          scope="multicast", to=["bob", "charlie"], text=f"m{i}"))
    last = desktop.reply(first + count - 1, timeout=60_000)
    assert isinstance(last, Ok)
    seqs = list(range(last.seq - count + 1, last.seq + 1))
    for user in ("bob", "charlie"):
        reader = connect_as(qtbot, server, user, f"{user}123")  # delivers the queue
        qtbot.waitUntil(lambda r=reader: len(r.messages()) >= count, timeout=60_000)
        reader.send(Read(seqs=seqs))
        reader.request(Send, client_msg_id=f"{user}-done", scope="unicast", to=[user],
                       text="done")  # (answered after the read is stored)
        reader.close()
    with qtbot.waitSignal(laptop.resumed, timeout=30_000):
        login(qtbot, laptop, server, "alice")
    # A new message that bob reads while the laptop is online: its receipt comes live.
    bob = connect_as(qtbot, server, "bob", "bob123")
    new = desktop.request(Send, client_msg_id="new-1", scope="multicast",
                          to=["bob", "charlie"], text="one more")
    bob.send(Read(seqs=[new.seq]))
    qtbot.waitUntil(lambda: any(
        i.seq == new.seq and "bob" in i.read_by for i in laptop.conversation("bob").items()),
        timeout=10_000)
    with qtbot.waitSignal(laptop.logged_out, timeout=10_000):
        laptop.logout()
    with qtbot.waitSignal(laptop.resumed, timeout=30_000):
        login(qtbot, laptop, server, "alice")
    (item,) = [i for i in laptop.conversation("charlie").items() if i.seq == seqs[-1]]
    assert "charlie" in item.read_by, (item.state, item.read_by)
