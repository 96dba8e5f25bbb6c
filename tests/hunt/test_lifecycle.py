"""Hunt: the app's lifecycle with things in flight (quit, log out, log in again)."""

from __future__ import annotations


def test_a_message_to_several_people_being_written_survives_a_forced_logout(
        qtbot, open_window, monkeypatch, tmp_path):
    """alice writes in "Message several people" on a lab computer; her password is changed
    from her desktop, so the lab window goes back to the login dialog (MainWindow closes
    itself). save_session() saves the multicast draft from ``_multicast_draft``, which only
    the dialog's ``rejected`` fills — the dialog is still open, so the text and the people
    picked are lost; README: "closed unsent, the message and the people picked come back
    the next time". (Compose-box drafts of the tabs are kept in the same situation.)"""
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

