"""Hunt: the conversation tab as a user works in it (compose box, paste and drop, replies,
slash commands, editing, copy, drafts, multicast). Each test fails on the current code for
the reason its docstring gives."""

from __future__ import annotations

from messenger.client.models import MessageKind


def _own_rows(window, key: str) -> list:
    model = window.engine.conversation(key)
    return [model.item(r) for r in range(model.rowCount())
            if model.item(r).kind is MessageKind.OWN]


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
