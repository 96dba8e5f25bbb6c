"""Hunt: message mutations (edit, delete, reply) across devices and time. Real server,
real engines; each test fails on the current code for the reason in its docstring."""

from __future__ import annotations

from pathlib import Path

from messenger.client.engine import ClientEngine
from messenger.client.models import MessageKind
from messenger.protocol import RETRACTED_TEXT


def login(qtbot, engine: ClientEngine, host: str, port: int, user: str) -> None:
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.connect_to(host, port)
        engine.login(user, f"{user}123")


def alice_twice_and_bob(qtbot, server, make_engine, tmp_path: Path):
    desktop, bob = make_engine(), make_engine()
    laptop = make_engine(data_dir=tmp_path / "laptop")
    for engine, user in ((desktop, "alice"), (laptop, "alice"), (bob, "bob")):
        login(qtbot, engine, server.host, server.port, user)
    return desktop, laptop, bob


def texts_from(engine: ClientEngine, key: str, sender: str) -> list[str]:
    return [i.text for i in engine.conversation(key).items() if i.sender == sender
            and i.kind in (MessageKind.OWN, MessageKind.OTHER)]


def errors(engine: ClientEngine, key: str) -> list[str]:
    return [i.text for i in engine.conversation(key).items() if i.kind is MessageKind.ERROR]


def test_a_deleted_message_is_not_labelled_edited(qtbot, server, make_engine):
    """alice edits a message, then deletes it for everyone. bob's bubble reads "This
    message was deleted." with "edited 14:02" beside it: the deletion replaces the text but
    keeps the item's (and the cache's) ``edited`` time (ConversationModel.set_text, the
    local store's set_text and the server's ``coalesce(?, edited)``), and the delegate
    draws "edited" whenever EditedRole is set (delegates.py:721), also on a placeholder."""
    from messenger.client.models import ConversationModel

    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    with qtbot.waitSignal(alice.message_acked, timeout=10_000) as acked:
        alice.send_unicast("bob", "meet at 2")
    seq = acked.args[1]
    assert alice.edit(seq, "bob", "meet at 4")
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["meet at 4"], timeout=10_000)
    assert alice.retract(seq, "bob")
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == [RETRACTED_TEXT],
                    timeout=10_000)
    model = bob.conversation("alice")
    row = model.row_of_seq(seq)
    assert model.data(model.index(row, 0), ConversationModel.EditedRole) is None


def test_logging_out_with_a_delete_for_everyone_not_made_yet_asks_first(
        qtbot, open_window, server, monkeypatch):
    """alice sent bob the wrong thing; the server is away when she chooses "Delete for
    everyone…" (the app says it will be deleted once back online), and she logs out of the
    lab computer. Her deletion stays in that computer's cache and is made only when she
    next logs in *there* — maybe never — while bob keeps reading the message. File → Log
    out asks only about unsent messages (MainWindow._logout counts the outbox), never
    about edits and deletions waiting (the engine's saved changes)."""
    from messenger.client.conversations import peer_key
    from messenger.gui import main_window

    bob = open_window("bob")
    alice = open_window("alice")
    with qtbot.waitSignal(alice.engine.message_acked, timeout=10_000) as acked:
        alice.engine.send_unicast("bob", "the exam answers: b, d, a")
    seq = acked.args[1]
    qtbot.waitUntil(lambda: bob.engine.store.message(seq) is not None, timeout=10_000)
    with qtbot.waitSignal(alice.engine.reconnect_scheduled, timeout=10_000):
        alice.engine._conn._socket.abort()  # the link is gone (the server is away)
    alice.engine._reconnect_timer.stop()
    alice.engine._reconnect_timer.stop()
    monkeypatch.setattr(main_window, "confirm_retract", lambda parent: True)
    assert alice.retract(peer_key("bob"), seq)  # "will be deleted once you are back online"
    asked: list[int] = []
    monkeypatch.setattr(main_window, "confirm_logout_unsent",
                        lambda parent, count, failed=0: asked.append(count) or False)
    assert alice.engine._saved_changes()  # (waiting for the link)
    alice.logout_action.trigger()  # File → Log out
    assert asked, "logged out with a deletion for everyone that was never made"
def test_an_edit_after_the_servers_clock_stepped_back_still_shows(
        qtbot, server, make_engine, monkeypatch):
    """The server's clock was 10 minutes fast and NTP steps it back. alice edits a message
    she had edited a minute before: the server stores the new text, but its ``edited`` time
    (Store.store_message: ``ts = time.time()``, not kept monotonic) is older than the first
    edit's, so every app takes the notice for an old edit and keeps the previous text
    (LocalStore.set_text ``edited <= ?``, ConversationModel.set_text ``item.edited >
    edited``): bob and alice's own window show the text she replaced, for good, while the
    server (history, export) has the new one."""
    import time as real_time

    from messenger.server import store as store_module

    class SteppedBack:
        offset = 0.0

        def __getattr__(self, name):
            return getattr(real_time, name)

        def time(self):
            return real_time.time() + self.offset

    clock = SteppedBack()
    monkeypatch.setattr(store_module, "time", clock)
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    with qtbot.waitSignal(alice.message_acked, timeout=10_000) as acked:
        alice.send_unicast("bob", "meet at 2")
    seq = acked.args[1]
    assert alice.edit(seq, "bob", "meet at 3")
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["meet at 3"]
                    and not alice._saved_changes(), timeout=10_000)
    clock.offset = -600.0  # NTP corrects the server's clock
    assert alice.edit(seq, "bob", "meet at 4")
    qtbot.waitUntil(lambda: not alice._saved_changes(), timeout=10_000)
    assert server.server.store.message(seq).text == "meet at 4"
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["meet at 4"], timeout=5_000)


def test_a_deleted_message_s_edited_texts_are_not_handed_out_afterwards(qtbot, server):
    """alice sends bob "see you", changes it to "my pin is 4711", notices her mistake and
    deletes it for everyone, all while bob is offline. The original now reads "This
    message was deleted.", but the ``edited`` notice keeps "my pin is 4711" on the server
    (ServerCore._retract blanks only the original) and is handed out after the deletion:
    bob's next login replays it, and any ``history`` catch-up (``after``) returns it, to
    any client, for good. A deleted text survives on the wire."""
    from helpers.wire import connect_as

    from messenger.protocol import Edit, GetHistory, Message, Ok, Retract

    alice = connect_as(qtbot, server, "alice", "alice123")
    sent = alice.send_text("unicast", "see you", ["bob"])
    assert isinstance(sent, Ok)
    assert isinstance(alice.request(Edit, client_msg_id="e-1", seq=sent.seq,
                                    text="my pin is 4711"), Ok)
    assert isinstance(alice.request(Retract, seq=sent.seq), Ok)
    alice.close()

    bob = connect_as(qtbot, server, "bob", "bob123")
    qtbot.waitUntil(lambda: any(isinstance(m, Message) and m.notice == "deleted"
                                for m in bob.frames), timeout=10_000)
    page = bob.request(GetHistory, conversation="user:alice", after=0, limit=100)
    assert isinstance(page, Ok)
    handed_out = [m.text for m in [*bob.messages(), *(page.messages or [])]]
    assert not any("4711" in t for t in handed_out), handed_out


def test_a_member_who_left_and_came_back_sees_a_deletion_in_his_group(
        qtbot, server, make_engine):
    """bob gets alice's "the door code is 4711" in the public group lab, leaves, and joins
    again the next day. alice then deletes the message for everyone. bob is a member, his
    lab tab is open, the server's history gives him "This message was deleted." — but the
    deletion notice went only to the members "since before the message"
    (ServerCore._change -> Store.members_since), and his app, which still has the text
    cached, shows it on: the deleted code stays on a current member's screen (paging back
    comes from the cache, so no server page corrects it)."""
    from messenger.client.conversations import group_key

    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    with qtbot.waitSignal(alice.group_joined, timeout=10_000):
        alice.create_group("lab", public=True)
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.join_group("lab")
    key = group_key("lab")
    with qtbot.waitSignal(alice.message_acked, timeout=10_000) as acked:
        alice.send_group("lab", "the door code is 4711")
    seq = acked.args[1]
    qtbot.waitUntil(lambda: texts_from(bob, key, "alice") == ["the door code is 4711"],
                    timeout=10_000)
    with qtbot.waitSignal(bob.group_left, timeout=10_000):
        bob.leave_group("lab")
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.join_group("lab")
    qtbot.waitUntil(lambda: len(alice.groups.group("lab").members) == 2, timeout=10_000)
    assert alice.retract(seq, key)
    qtbot.waitUntil(lambda: texts_from(alice, key, "alice") == [RETRACTED_TEXT],
                    timeout=10_000)
    marker = "after the deletion"  # a later message: bob's app is up to date past it
    alice.send_group("lab", marker)
    qtbot.waitUntil(lambda: marker in texts_from(bob, key, "alice"), timeout=10_000)
    assert "the door code is 4711" not in texts_from(bob, key, "alice")
    assert bob.store.message(seq, key).text == RETRACTED_TEXT
