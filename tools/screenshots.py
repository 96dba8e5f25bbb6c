"""Render the app's windows offscreen into docs/screenshots/.

Usage: ``QT_QPA_PLATFORM=offscreen python tools/screenshots.py [--dark] [--font-pt N] [OUT_DIR]``
(``make screenshots``); ``--dark`` renders with the Fusion style and a dark palette (as a
dark desktop theme would; ``docs/screenshots/dark.png`` is that run's ``main.png``).
Starts an in-process server with the demo accounts in a temporary MESSENGER_HOME, logs alice,
bob and charlie in, exchanges a few messages, and saves ``login.png``, ``main.png`` (with
delivery ticks), ``failed.png`` (a refused message with Retry / Delete), ``find.png`` (Ctrl+F),
``group_dialog.png`` (creating a group), ``group_tab.png`` (a group's tab with its member
panel and a pending invitation), ``transfer.png`` (bob's window: the sample video from alice
as a card in the conversation, received, beside the Transfers panel with an offer waiting) and
``preferences.png`` (File → Preferences…: download folder, size limit, auto-accept).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QDeadlineTimer, QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def wait_until(app: QApplication, condition, timeout_ms: int = 10_000) -> None:
    """Run the event loop until ``condition()`` is true; RuntimeError after ``timeout_ms``."""
    deadline = QDeadlineTimer(timeout_ms)
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: loop.quit() if condition() or deadline.hasExpired() else None)
    timer.start()
    if not condition():
        loop.exec()
    timer.stop()
    if not condition():
        raise RuntimeError("timed out waiting for the app")


def main(argv: list[str]) -> int:
    dark = "--dark" in argv
    argv = [a for a in argv if a != "--dark"]
    font_pt = 0.0
    if "--font-pt" in argv:  # e.g. 16: as a user with a large desktop font
        at = argv.index("--font-pt")
        font_pt = float(argv[at + 1])
        del argv[at:at + 2]
    out_dir = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "screenshots"
    out_dir.mkdir(parents=True, exist_ok=True)
    home = tempfile.TemporaryDirectory(prefix="messenger-shots-")
    os.environ["MESSENGER_HOME"] = home.name

    from messenger.client.conversations import EVERYONE
    from messenger.client.engine import ClientEngine
    from messenger.gui.login_dialog import LoginDialog
    from messenger.gui.main_window import MainWindow
    from messenger.server.app import ServerConfig
    from messenger.server.net import MessengerServer

    app = QApplication.instance() or QApplication(argv[:1])
    app.setApplicationName("Messenger")
    if font_pt:
        font = app.font()
        font.setPointSizeF(font_pt)
        app.setFont(font)
    if dark:
        app.setStyle("Fusion")
        from messenger.gui.theme import sample_dark_palette

        app.setPalette(sample_dark_palette())
    server = MessengerServer(ServerConfig(host="127.0.0.1", port=0,
                                          data_dir=Path(home.name) / "server"))
    server.create_demo_accounts()
    server.listen()

    def logged_in(user: str, password: str) -> ClientEngine:
        engine = ClientEngine()
        engine.connect_to("127.0.0.1", server.port)
        engine.login(user, password)
        wait_until(app, lambda: engine.logged_in)
        return engine

    # The login dialog, as a first-time user sees it after one wrong password.
    dialog_engine = ClientEngine()
    dialog = LoginDialog(dialog_engine, host="127.0.0.1", port=server.port, user="alice")
    dialog.show()
    dialog.password_edit.setText("not-my-password")
    dialog.submit()
    wait_until(app, lambda: bool(dialog.error_text()))
    dialog.password_edit.deselect()
    dialog.adjustSize()
    dialog.grab().save(str(out_dir / "login.png"))
    dialog.close()

    alice, bob, charlie = (logged_in("alice", "alice123"), logged_in("bob", "bob123"),
                           logged_in("charlie", "charlie123"))
    wait_until(app, lambda: alice.roster.contact("bob").online
               and alice.roster.contact("charlie").online)
    window = MainWindow(alice, log_file=Path(home.name) / "logs" / "messenger.log")
    window.resize(900, 600)
    window.show()

    script = [
        (bob, "everyone", "Good morning, everyone! Coffee in the kitchen at 10."),
        (alice, "bob", "Hi Bob! Do you have a minute to look at the release notes?"),
        (bob, "alice", "Sure. Send them over — I'm free until lunch."),
        (alice, "bob", "Thanks! The short version: the login dialog now remembers your "
                       "server, messages wrap nicely, and errors show up right where they "
                       "happened.\nI'll share the full list after the stand-up."),
        (bob, "alice", "Sounds great, thanks!"),
        (charlie, "alice", "Are you joining the demo later?"),
    ]
    engines = (alice, bob, charlie)
    for engine, to, text in script:
        if to == "everyone":
            engine.send_broadcast(text)
        else:
            engine.send_unicast(to, text)
        # Wait until every client has it, so each window shows the same order.
        wait_until(app, lambda s=engine, t=text, r=to: all(
            any(i.text == t and i.seq is not None for k in e.conversation_keys()
                for i in e.conversation(k).items()) for e in engines
            if e is s or r in ("everyone", e.user)))
    wait_until(app, lambda: alice.unread("charlie") == 1 and alice.unread("bob") >= 1)
    # Bob has read alice's first message (two green ticks); her second one is delivered
    # (two ticks); one more is still on its way (one tick, then two).
    bob.mark_read("alice")
    bob_model = alice.conversation("bob")

    def own_states() -> list[str]:
        return [i.state for i in bob_model.items() if i.kind == "own"]

    wait_until(app, lambda: own_states()[:1] == ["read"])
    window.open_conversation("bob")
    alice.mark_read(EVERYONE)
    wait_until(app, lambda: window.isVisible())
    window.grab().save(str(out_dir / "main.png"))

    # A message to an account that does not exist: failed, with Retry / Delete; and the find
    # bar searching the conversation with Bob.
    tab = window.open_conversation("zed")
    alice.send_unicast("zed", "Welcome aboard, Zed!")
    wait_until(app, lambda: tab.failed_bar.isVisibleTo(tab))
    window.grab().save(str(out_dir / "failed.png"))
    window.close_tab(window.tabs.indexOf(tab))
    bob_tab = window.open_conversation("bob")
    bob_tab.open_find()
    bob_tab.find_edit.setText("thanks")
    QApplication.processEvents()  # (the find bar lays itself out for its new count)
    window.grab().save(str(out_dir / "find.png"))
    bob_tab.close_find()

    # The group-creation dialog: a name, invite-only, two people picked.
    dialog = window.ask_new_group(invite=["bob", "charlie"])
    dialog.nameEdit.setText("design-review")
    dialog.adjustSize()
    dialog.resize(max(dialog.width(), 420), 380)
    wait_until(app, lambda: dialog.isVisible())
    dialog.grab().save(str(out_dir / "group_dialog.png"))
    dialog.submit()
    wait_until(app, lambda: bob.groups.group("design-review") is not None
               and charlie.groups.group("design-review") is not None)
    bob.accept_invitation("design-review")
    charlie.accept_invitation("design-review")
    wait_until(app, lambda: len(alice.groups.group("design-review").members) == 3)
    group_script = [
        (alice, "Thanks for joining! Today: the new group dialog and the member panel."),
        (bob, "The member list shows who leads and who is online — nice."),
        (charlie, "Can we also try /party invite and /p from the compose box?"),
        (alice, "Sure, /help lists every command."),
    ]
    for engine, text in group_script:
        engine.send_group("design-review", text)
        wait_until(app, lambda t=text: all(
            any(i.text == t and i.seq is not None
                for i in e.group_conversation("design-review").items()) for e in engines))
    charlie.create_group("lunch", ["alice"], public=True)
    wait_until(app, lambda: alice.groups.group("lunch") is not None)
    bob.create_group("lounge", [], public=True)
    wait_until(app, lambda: bob.groups.group("lounge") is not None)
    window.open_group("design-review")
    alice.mark_read(EVERYONE)
    alice.mark_read(alice.group_conversation("design-review").key)
    wait_until(app, lambda: window.invitation_bar.isVisible())
    window.grab().save(str(out_dir / "group_tab.png"))

    # A video dropped on a conversation: bob's window shows alice's card and, in the Transfers
    # panel, a second offer (from charlie) still waiting for an answer.
    from messenger.client.transfers import TransferController, TransferPrefs, TransferState
    media = Path("/work/shared/media/bigbuckbunny.mp4")
    if not media.exists():
        media = Path(home.name) / "holiday-clip.mp4"
        media.write_bytes(os.urandom(3_000_000))
    notes = Path(home.name) / "release-notes.pdf"
    notes.write_bytes(b"%PDF-1.4\n" + os.urandom(180_000))
    downloads = Path(home.name) / "downloads"
    alice_files = window.transfers
    bob_files = TransferController(bob, TransferPrefs(download_dir=downloads / "bob"))
    charlie_files = TransferController(charlie, TransferPrefs(download_dir=downloads / "c"))
    bob_window = MainWindow(bob, transfers=bob_files)
    bob_window.resize(1100, 640)
    bob_window.show()
    bob_window.open_conversation("alice")
    alice.send_unicast("bob", "Here is the clip from the demo — drag-and-drop works now!")
    wait_until(app, lambda: any("clip from the demo" in i.text
                                for i in bob.conversation("alice").items()))
    alice_files.send_file("bob", media)
    wait_until(app, lambda: bob_files.model.rowCount() == 1)
    video_key = bob_files.model.index(0, 0).data(bob_files.model.IdRole)
    bob_files.accept(video_key)
    wait_until(app, lambda: bob_files.get(video_key).state is TransferState.DONE, 30_000)
    bob.send_unicast("alice", "Got it, it plays fine. Thanks!")
    charlie_files.send_file("bob", notes)
    wait_until(app, lambda: bob_files.model.rowCount() == 2 and bob_files.get(
        bob_files.model.index(1, 0).data(bob_files.model.IdRole)).state
        is TransferState.INCOMING)
    bob_window.open_conversation("alice")
    bob.mark_read("alice")
    bob_window.show_transfers()
    bob_window.resizeDocks([bob_window.transfers_dock], [430], Qt.Orientation.Horizontal)
    wait_until(app, lambda: bob_window.transfers_dock.isVisible())
    app.processEvents()
    bob_window.conversation_widget("alice").view.scrollToBottom()
    app.processEvents()
    bob_window.grab().save(str(out_dir / "transfer.png"))

    # File → Preferences… in alice's window: files from bob are accepted without asking.
    alice_files.prefs = TransferPrefs(download_dir=Path("/home/alice/Downloads/Messenger"),
                                      auto_accept=frozenset({"bob"}))
    prefs_dialog = window.ask_preferences()
    prefs_dialog.resize(480, 400)
    wait_until(app, lambda: prefs_dialog.isVisible())
    prefs_dialog.folderEdit.deselect()
    prefs_dialog.grab().save(str(out_dir / "preferences.png"))
    prefs_dialog.reject()
    print(f"saved login.png, main.png, failed.png, find.png, group_dialog.png, "
          f"group_tab.png, transfer.png and preferences.png in {out_dir}")

    bob_window.close()
    for controller in (charlie_files, bob_files):
        controller.close()
    window.close()
    for engine in (bob, charlie, dialog_engine):
        engine.close()
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
