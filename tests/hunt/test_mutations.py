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


def test_an_export_says_which_messages_were_edited(qtbot, server, make_engine, tmp_path):
    """alice writes "meet at 2" and later changes it to "meet at 4". The window shows the
    bubble marked "edited"; bob's export of the conversation writes "[time] alice: meet at
    4" at the time of the original, with nothing saying the text was changed later
    (ConversationExport._lines / export_line drop ``edited``): as a record of the chat
    (what the export is for) it says alice wrote at 2 pm what she wrote hours later."""
    alice, bob = make_engine(), make_engine()
    login(qtbot, alice, server.host, server.port, "alice")
    login(qtbot, bob, server.host, server.port, "bob")
    with qtbot.waitSignal(alice.message_acked, timeout=10_000) as acked:
        alice.send_unicast("bob", "meet at 2")
    seq = acked.args[1]
    assert alice.edit(seq, "bob", "meet at 4")
    qtbot.waitUntil(lambda: texts_from(bob, "alice", "alice") == ["meet at 4"], timeout=10_000)
    assert bob.conversation("alice").items()[-1].edited is not None  # the window says so
    out = tmp_path / "alice.txt"
    job = bob.export_conversation("alice", out)
    with qtbot.waitSignal(job.finished, timeout=10_000):
        pass
    line = out.read_text(encoding="utf-8").strip()
    assert "meet at 4" in line and "edited" in line, line



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
