"""Unsent texts (drafts) stay with their conversation: when its tab is closed and opened
again, and at the next login after the app closed; typing one back tells nobody."""

from __future__ import annotations

from helpers.wire import connect_as
from PySide6.QtCore import Qt

from messenger.client.conversations import EVERYONE, peer_key
from messenger.gui.settings import load_drafts, load_multicast_draft


def test_a_draft_survives_closing_its_tab_and_the_app(qtbot, server, open_window):
    bob = connect_as(qtbot, server, "bob", "bob123")
    window = open_window("alice")
    tab = window.open_conversation("bob")
    qtbot.keyClicks(tab.compose, "half a thought")
    everyone = window.conversation_widget(EVERYONE)
    qtbot.keyClicks(everyone.compose, "to all, later")
    window.close_tab(window.tabs.indexOf(tab))
    assert window.drafts() == {peer_key("bob"): "half a thought", EVERYONE: "to all, later"}
    tab = window.open_conversation("bob")
    assert tab.draft() == "half a thought"
    window.close()  # saves the drafts with the session

    again = open_window("alice")
    restored = again.conversation_widget(peer_key("bob"))
    assert restored is not None and restored.draft() == "half a thought"
    assert again.conversation_widget(EVERYONE).draft() == "to all, later"
    # Sending it clears it, for good.
    qtbot.keyClick(restored.compose, Qt.Key.Key_Return)
    assert bob.wait_for(lambda f: getattr(f, "text", None) == "half a thought")
    again.save_drafts()
    assert peer_key("bob") not in again.drafts()


def test_putting_a_draft_back_does_not_say_typing(qtbot, open_window):
    window = open_window("alice")
    tab = window.open_conversation("bob")
    said: list[str] = []
    tab.typing.connect(said.append)
    tab.set_draft("restored text")
    assert said == [] and tab.draft() == "restored text"
    qtbot.keyClicks(tab.compose, "!")  # the user types: now it says so
    assert said and tab.draft() == "restored text!"


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
    # (the account's: the next person to log in on this computer does not get it)
    bob = open_window("bob")
    dialog = bob.ask_multicast([])
    assert dialog.text.toPlainText() == "" and dialog.recipients() == []
    dialog.reject()


def test_a_message_to_several_people_being_written_survives_a_forced_logout(
        qtbot, open_window, monkeypatch, tmp_path):
    """alice wrote in "Message several people" on a lab computer; her password was changed
    from her desktop, so the lab window went back to the login dialog (MainWindow closes
    itself). The multicast draft was saved only from what the dialog's ``rejected`` had
    kept, and the dialog was still open: the text and the people picked were lost, though
    README says "closed unsent, the message and the people picked come back the next
    time" (a hunt)."""
    desktop = open_window("alice")
    monkeypatch.setenv("MESSENGER_HOME", str(tmp_path / "lab-home"))
    lab = open_window("alice")
    dialog = lab.ask_multicast(["bob", "charlie"])
    qtbot.keyClicks(dialog.text, "the meeting moves to room 4, please tell the others")
    assert desktop.engine.change_password("alice123", "new-secret")
    qtbot.waitUntil(lambda: not lab.isVisible(), timeout=10_000)
    assert lab.logout_chosen  # back to the login dialog, which says why
    again = open_window("alice", "new-secret")  # she logs in again on the lab computer
    restored = again.ask_multicast()
    assert restored.text.toPlainText() == "the meeting moves to room 4, please tell the others"
    assert sorted(restored.recipients()) == ["bob", "charlie"]


def test_a_message_to_several_people_is_saved_as_it_is_typed(qtbot, open_window):
    """A tab's draft is written a moment after each keystroke, so a crash or a power cut
    keeps it; the one in "Message several people" was written only once the dialog closed,
    so a crash lost it."""
    alice = open_window("alice")
    dialog = alice.ask_multicast(["bob", "charlie"])
    qtbot.keyClicks(dialog.text, "lunch at 12?")
    qtbot.waitUntil(lambda: load_multicast_draft("alice", *alice.engine.home)
                    == ("lunch at 12?", ["bob", "charlie"]), timeout=5_000)
    dialog.reject()


def test_a_sent_message_does_not_come_back_as_a_draft_after_a_crash(qtbot, server,
                                                                     open_window):
    """alice typed "see you at 5" to bob, paused (the draft was saved, as it is a moment
    after each keystroke), then pressed Enter; the message went out. The app was killed
    (a crash, a power cut, SIGKILL) within the two seconds before the next draft save: at
    the next start the compose box held "see you at 5" again, as if unsent, and Enter sent
    it twice. The same for "Message several people"."""
    bob = connect_as(qtbot, server, "bob", "bob123")
    alice = open_window("alice")
    home = alice.engine.home
    tab = alice.open_conversation("bob")
    qtbot.keyClicks(tab.compose, "see you at 5")
    qtbot.waitUntil(lambda: load_drafts("alice", *home) == {peer_key("bob"): "see you at 5"},
                    timeout=5_000)
    qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    # What is on disk now is what a crash at this moment leaves.
    assert load_drafts("alice", *home) == {}
    assert bob.wait_for(lambda f: getattr(f, "text", None) == "see you at 5")

    dialog = alice.ask_multicast(["bob", "charlie"])
    qtbot.keyClicks(dialog.text, "lunch at 12?")
    qtbot.waitUntil(lambda: load_multicast_draft("alice", *home)
                    == ("lunch at 12?", ["bob", "charlie"]), timeout=5_000)
    dialog.accept()  # Send
    assert load_multicast_draft("alice", *home) == ("", [])
