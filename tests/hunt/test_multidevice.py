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
