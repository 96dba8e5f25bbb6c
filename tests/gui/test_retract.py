"""Delete for everyone: the sender's context menu on a sent message, a question first, then
the text is gone in both windows and a notice says a message was deleted."""

from __future__ import annotations

from messenger.client.conversations import peer_key
from messenger.client.models import MessageKind
from messenger.gui import main_window
from messenger.protocol import RETRACTED_TEXT

from .conftest import texts, type_line


def test_delete_for_everyone_from_the_context_menu(qtbot, open_window, monkeypatch):
    asked: list[bool] = []
    answer = [False]
    monkeypatch.setattr(main_window, "confirm_retract",
                        lambda parent: asked.append(True) or answer[0])
    bob = open_window("bob")
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    type_line(qtbot, alice, "the wrong secret", peer_key("bob"))
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER)
                    == ["the wrong secret"])
    model = alice.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: model.items()[-1].seq is not None)
    row = model.rowCount() - 1

    def delete_action():
        menu = tab.message_menu(row)
        return next(a for a in menu.actions() if a.text() == "Delete for everyone…")

    delete_action().trigger()  # asked, and the answer is Cancel: nothing happens
    assert asked == [True] and texts(alice, peer_key("bob"), MessageKind.OWN) == \
        ["the wrong secret"]
    answer[0] = True
    delete_action().trigger()
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER)
                    == [RETRACTED_TEXT])
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OWN) == [RETRACTED_TEXT])
    assert "alice deleted a message" in texts(bob, peer_key("alice"), MessageKind.SYSTEM)
    cached = bob.engine.store.message(model.items()[row].seq)
    assert cached.text == RETRACTED_TEXT  # not back after a restart either
    menu = tab.message_menu(row)
    assert "Delete for everyone…" not in [a.text() for a in menu.actions()]


def test_edit_a_sent_message(qtbot, open_window, monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr(main_window, "ask_new_text",
                        lambda parent, old: asked.append(old) or "see you at 4, not 3")
    bob = open_window("bob")
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    type_line(qtbot, alice, "see you at 3", peer_key("bob"))
    qtbot.waitUntil(lambda: texts(bob, peer_key("alice"), MessageKind.OTHER) == ["see you at 3"])
    model = alice.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: model.items()[-1].seq is not None)
    row = model.rowCount() - 1
    menu = tab.message_menu(row)
    next(a for a in menu.actions() if a.text() == "Edit…").trigger()
    assert asked == ["see you at 3"]
    for window, peer, kind in ((bob, "alice", MessageKind.OTHER), (alice, "bob", MessageKind.OWN)):
        qtbot.waitUntil(lambda w=window, p=peer, k=kind:
                        texts(w, peer_key(p), k) == ["see you at 4, not 3"])
    bob_model = bob.engine.conversation(peer_key("alice"))
    assert bob_model.items()[-1].edited is not None  # "edited" beside the time
    assert texts(bob, peer_key("alice"), MessageKind.SYSTEM) == []  # no line of its own
    cached = bob.engine.store.message(bob_model.items()[-1].seq)
    assert (cached.text, cached.edited is not None) == ("see you at 4, not 3", True)
