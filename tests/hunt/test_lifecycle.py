"""Hunt: the app's lifecycle with things in flight (quit, log out, log in again)."""

from __future__ import annotations

import time

from messenger.client.connection import ConnectionState
from messenger.client.conversations import EVERYONE
from messenger.client.engine import EXPORT_CHUNK
from messenger.client.localstore import CachedMessage


def test_quitting_while_an_export_writes_leaves_no_part_file_and_raises_nothing(
        qtbot, open_window, tmp_path):
    """Conversation → Export… of a long conversation (more than EXPORT_CHUNK lines), then
    File → Quit (or Log out) while the file is being written: the window closes the local
    store, and the export's next turn of the event loop reads the closed database
    (sqlite3.ProgrammingError raised in a slot); the ``<file>.part`` stays in the user's
    folder for good ("no file is left behind", says ConversationExport)."""
    alice = open_window("alice")
    now = time.time()
    alice.engine.store.add_messages([
        CachedMessage(seq=100_000 + i, conv=EVERYONE, ts=now - 10_000 + i, sender="bob",
                      scope="broadcast", text=f"line {i}", client_msg_id=f"hunt-{i}")
        for i in range(EXPORT_CHUNK + 500)])
    out = tmp_path / "everyone.txt"
    job = alice.ask_export(str(out))
    assert job is not None

    def quit_between_chunks() -> None:
        if job.phase == "writing" and job.written >= EXPORT_CHUNK and alice.isVisible():
            alice.close()  # File → Quit between two chunks of the writing

    job.progress.connect(quit_between_chunks)
    qtbot.waitUntil(lambda: not alice.isVisible(), timeout=10_000)
    qtbot.waitUntil(lambda: alice.engine.state is ConnectionState.DISCONNECTED)
    qtbot.waitUntil(lambda: job.phase not in ("fetching", "writing"), timeout=5_000)
    assert not (tmp_path / "everyone.txt.part").exists()



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


def test_quitting_while_an_export_fetches_does_not_leave_a_truncated_file(
        qtbot, open_window, tmp_path):
    """Export… of a conversation whose cache holds 2,500 messages, then File → Quit while
    the export still asks the server for pages: the window closes the store first, the link
    closes after, and the export then writes "what the window shows" (the last page loaded)
    as if it were finished, to the path the user chose (maybe replacing a file there): a
    file of a few dozen lines stands for a conversation of thousands, and nobody is told.
    It should be cancelled (no file) or hold what the cache has."""
    alice = open_window("alice")
    now = time.time()
    count = EXPORT_CHUNK + 500
    alice.engine.store.add_messages([
        CachedMessage(seq=100_000 + i, conv=EVERYONE, ts=now - 10_000 + i, sender="bob",
                      scope="broadcast", text=f"line {i}", client_msg_id=f"hunt-{i}")
        for i in range(count)])
    out = tmp_path / "everyone.txt"
    job = alice.ask_export(str(out))
    assert job is not None and job.phase == "fetching"
    alice.close()  # File → Quit
    qtbot.waitUntil(lambda: alice.engine.state is ConnectionState.DISCONNECTED)
    qtbot.waitUntil(lambda: job.phase not in ("fetching", "writing"), timeout=5_000)
    if out.exists():
        lines = out.read_text(encoding="utf-8").splitlines()
        assert len(lines) >= count, f"{len(lines)} lines written for {count} cached messages"
