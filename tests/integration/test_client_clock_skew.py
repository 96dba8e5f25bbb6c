"""The app against a server whose wall clock is minutes off its own (a lab LAN without NTP):
presence times, file cards among the server-stamped messages (live, after a restart, in
an export, and read on another computer), and edits after the clock stepped back. Real
in-process server and app engines; the server's clock is moved with
:func:`helpers.servers.skew_server_clock`."""

from __future__ import annotations

import pytest
from helpers.servers import skew_server_clock

from messenger.client.connection import ConnectionState
from messenger.client.conversations import peer_key
from messenger.client.engine import ClientEngine
from messenger.client.models import DeliveryState, MessageKind, presence_text
from messenger.client.transfers import TransferController, TransferPrefs

SKEW = 600.0
"""Ten minutes: a machine whose clock is not synchronised."""


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


def test_someone_who_just_left_reads_last_seen_just_now_whatever_the_servers_clock(
        qtbot, server, make_engine, monkeypatch):
    """The server's clock is 10 minutes slow. bob logs out right now, and alice's tab with
    him said "last seen 10 min ago" (the server's time of his going, read on alice's
    clock); with the server's clock 10 minutes fast it said "last seen just now" for the
    next ten minutes. The app now keeps the server's clock offset from
    ``hello.server_time`` and reads presence times on its own clock."""
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
    the export listed the file before both messages (a file's time was the app's clock, a
    message's the server's). Files are now stamped on the server's clock."""
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
    get it?"; alice reads the conversation on her desktop. Her laptop kept "(1) bob": it
    clears offers older than the newest message read elsewhere, and compared the card's
    time (the laptop's clock) with the message's (the server's). A received offer's card
    now has the server's time of the offer."""
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
    qtbot.waitUntil(lambda: laptop.unread(key) == 0, timeout=5000)  # (stayed at 1)


def test_a_file_card_reloaded_after_a_restart_stays_after_the_message_before_it(
        qtbot, server, make_engine, make_controller, tmp_path, monkeypatch):
    """The server's clock is 10 minutes fast. alice writes "the notes follow" and then
    sends a file; bob restarts his app: his file card showed *above* "the notes follow"
    (and above everything of the last 10 minutes): a reloaded card is placed by its time,
    which was on bob's clock, among messages stamped by the server's. The card's time is
    now the offer's on the server's clock, and the local store keeps it."""
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


def test_an_edit_after_the_servers_clock_stepped_back_still_shows(
        qtbot, server, make_engine, monkeypatch):
    """The server's clock was 10 minutes fast and NTP stepped it back. alice edited a
    message she had edited a minute before: the server stored the new text, but the edit's
    time (the notice's ``ts``, from the clock alone) was older than the first edit's, so
    every app took it for an old edit and kept the replaced text, for good, while the
    server's history had the new one. The server now stamps an edit just after the last."""
    skew_server_clock(server, monkeypatch, SKEW)
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server, "alice")
    login(qtbot, bob, server, "bob")

    def texts(engine: ClientEngine) -> list[str]:
        return [i.text for i in engine.conversation(peer_key("alice")).items()
                if i.sender == "alice" and i.kind is MessageKind.OTHER]

    with qtbot.waitSignal(alice.message_acked, timeout=10_000) as acked:
        alice.send_unicast("bob", "meet at 2")
    seq = acked.args[1]
    assert alice.edit(seq, "bob", "meet at 3")
    qtbot.waitUntil(lambda: texts(bob) == ["meet at 3"] and not alice._saved_changes(),
                    timeout=10_000)
    skew_server_clock(server, monkeypatch, 0.0)  # NTP corrects the server's clock
    assert alice.edit(seq, "bob", "meet at 4")
    qtbot.waitUntil(lambda: not alice._saved_changes(), timeout=10_000)
    assert server.server.store.message(seq).text == "meet at 4"
    qtbot.waitUntil(lambda: texts(bob) == ["meet at 4"], timeout=5_000)
    mine = alice.conversation(peer_key("bob"))
    assert mine.items()[mine.row_of_seq(seq)].text == "meet at 4"


def test_a_message_waiting_for_the_link_has_the_time_of_the_messages_around_it(
        qtbot, make_server, make_engine, monkeypatch):
    """The server's clock is 10 minutes slow (this computer's 10 minutes fast). bob asks
    "are you there?"; the link drops and alice answers "yes": her answer's bubble read ten
    minutes after bob's question for as long as it waited ("sent in the future"; after a
    restart too), then jumped back when it went. A message waiting to go is now stamped on
    the server's clock, as the file cards and the messages around it are."""
    handle = make_server(demo=True)
    skew_server_clock(handle, monkeypatch, -SKEW)
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, handle, "alice")
    login(qtbot, bob, handle, "bob")
    with qtbot.waitSignal(alice.message_received, timeout=10_000):
        bob.send_unicast("alice", "are you there?")
    handle.close()
    qtbot.waitUntil(lambda: alice.state is not ConnectionState.LOGGED_IN, timeout=10_000)
    assert alice.send_unicast("bob", "yes")
    question, answer = [i for i in alice.conversation("bob").items()
                        if i.kind in (MessageKind.OTHER, MessageKind.OWN)]
    assert (question.text, answer.text, answer.state) == \
        ("are you there?", "yes", DeliveryState.PENDING)
    assert 0 <= answer.ts - question.ts < 60
    assert 0 <= alice.store.outbox()[0].created - question.ts < 60  # (kept for a restart)
