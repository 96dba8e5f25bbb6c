"""Hunt: the conversation tab as a user works in it (compose box, paste and drop, replies,
slash commands, editing, copy, drafts, multicast). Each test fails on the current code for
the reason its docstring gives."""

from __future__ import annotations

from gui.conftest import texts, type_line
from PySide6.QtGui import (
    QGuiApplication,
)

from messenger.client.conversations import peer_key
from messenger.client.models import MessageKind


def _own_rows(window, key: str) -> list:
    model = window.engine.conversation(key)
    return [model.item(r) for r in range(model.rowCount())
            if model.item(r).kind is MessageKind.OWN]


def test_copy_text_of_a_reply_copies_what_the_bubble_says_not_the_quote_line(
        qtbot, open_window):
    """A reply's bubble shows the quote as a block above the answer. Right-click → Copy
    text puts on the clipboard the raw text with its "> bob: …" line in front, so what is
    pasted elsewhere starts with a line the user never wrote (message_menu copies
    ``item.text``)."""
    bob = open_window("bob")
    alice = open_window("alice")
    bob.engine.send_unicast("alice", "see you at 5?")
    tab = alice.open_conversation("bob")
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OTHER)
                    == ["see you at 5?"])
    model = alice.engine.conversation(peer_key("bob"))
    row = next(r for r in range(model.rowCount()) if model.item(r).kind is MessageKind.OTHER)
    next(a for a in tab.message_menu(row).actions() if a.text() == "Reply").trigger()
    type_line(qtbot, alice, "on my way", peer_key("bob"))
    qtbot.waitUntil(lambda: model.items()[-1].seq is not None)
    menu = tab.message_menu(model.rowCount() - 1)
    next(a for a in menu.actions() if a.text() == "Copy text").trigger()
    assert QGuiApplication.clipboard().text() == "on my way"


def test_a_multicast_closed_unsent_comes_back_after_a_restart_like_any_draft(
        qtbot, open_window):
    """The README: a message to several people "closed unsent, the message and the people
    picked come back the next time", and what is typed in a tab stays as a draft "when you
    close the tab and open it again, and the next time you log in". The multicast one is
    kept only in the window's memory (MainWindow._multicast_draft): quit or log out, and
    the message written for several people is gone, while every tab's draft comes back."""
    alice = open_window("alice")
    dialog = alice.ask_multicast(["bob", "charlie"])
    dialog.text.setPlainText("Stand-up moved to 10, room 2.14")
    dialog.reject()  # Escape / Cancel: kept for the next time
    alice.close()
    again = open_window("alice")
    dialog = again.ask_multicast([])
    assert dialog.text.toPlainText() == "Stand-up moved to 10, room 2.14"
    assert dialog.recipients() == ["bob", "charlie"]
    dialog.reject()
