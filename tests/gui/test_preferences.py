"""File → Preferences…: the download folder, the size limit and auto-accept, saved to the
settings file and used at once by the window's live transfer controller."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import QFileDialog, QWidget

from messenger import paths
from messenger.client.transfers import DEFAULT_SIZE_LIMIT, TransferPrefs, TransferState
from messenger.gui.preferences import PreferencesDialog
from messenger.gui.settings import (
    app_settings,
    load_notification_prefs,
    load_read_receipts,
    load_transfer_prefs,
    save_read_receipts,
)

MB = 1024 ** 2


def open_preferences(qtbot, window) -> PreferencesDialog:
    """Press Ctrl+, in ``window``; the dialog it opens."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    dialog = window.dialog
    assert isinstance(dialog, PreferencesDialog)
    qtbot.waitExposed(dialog)
    return dialog


def tick(qtbot, dialog: PreferencesDialog, name: str) -> None:
    """Filter the contact list down to ``name`` and tick it with the Space key."""
    dialog.filterEdit.clear()
    qtbot.keyClicks(dialog.filterEdit, name[:2])
    assert dialog.visible_names() == [name]
    view = dialog.contactsView
    view.setFocus()
    view.setCurrentIndex(view.model().index(0, 0))
    qtbot.keyClick(view, Qt.Key.Key_Space)


def test_preferences_are_saved_and_the_live_controller_uses_them(
        qtbot, open_window, tmp_path, monkeypatch):
    alice, charlie = open_window("alice"), open_window("charlie")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("charlie") is not None
                    and alice.engine.roster.contact("charlie").online)
    assert "Ctrl+," in [k.toString() for k in alice.preferences_action.shortcuts()]

    dialog = open_preferences(qtbot, alice)
    assert dialog.folderEdit.text() == str(tmp_path / "alice-downloads")
    assert (dialog.sizeSpin.value(), dialog.unitCombo.currentText()) == (4.0, "GB")
    assert dialog.visible_names() == ["bob", "charlie"]
    assert dialog.chosenLabel.text() == "Nobody: every file asks first."

    # Choose… opens the folder picker; its answer lands in the folder box.
    folder = tmp_path / "picked" / "incoming"
    asked: list[str] = []

    def pick(parent, caption, start):
        asked.append(start)
        return str(folder)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", pick)
    qtbot.mouseClick(dialog.chooseButton, Qt.MouseButton.LeftButton)
    assert asked == [str(tmp_path)]  # alice-downloads does not exist yet: its parent
    assert dialog.folderEdit.text() == str(folder)

    # MB instead of GB shows the same limit; then 3 MB is typed.
    dialog.unitCombo.setCurrentText("MB")
    assert dialog.sizeSpin.value() == 4096 and dialog.size_limit() == DEFAULT_SIZE_LIMIT
    dialog.sizeSpin.setFocus()
    dialog.sizeSpin.selectAll()
    qtbot.keyClicks(dialog.sizeSpin, "3")
    assert dialog.size_limit() == 3 * MB

    tick(qtbot, dialog, "charlie")
    assert dialog.auto_accept() == ["charlie"]
    assert dialog.chosenLabel.text() == "Accepted without asking from: charlie."
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    expected = TransferPrefs(size_limit=3 * MB, auto_accept=frozenset({"charlie"}),
                             download_dir=folder)
    assert load_transfer_prefs(account=alice._account) == expected
    assert alice.transfers.prefs == expected

    # The live controller: charlie's file is accepted without asking, into the new folder;
    # a file over the new limit is refused before it starts.
    small = tmp_path / "small.bin"
    small.write_bytes(b"x" * 50_000)
    charlie.transfers.send_file("alice", small)
    qtbot.waitUntil(lambda: alice.transfers.model.rowCount() == 1, timeout=10_000)
    key = alice.transfers.model.index(0, 0).data(alice.transfers.model.IdRole)
    qtbot.waitUntil(lambda: alice.transfers.get(key).state is TransferState.DONE,
                    timeout=20_000)
    assert (folder / "small.bin").read_bytes() == small.read_bytes()
    big = tmp_path / "big.bin"
    big.write_bytes(b"y" * (3 * MB + 1))
    assert "over the limit of 3,145,728 bytes" in alice.transfers.send_file("charlie", big)

    # Opening the dialog again shows what was saved.
    again = open_preferences(qtbot, alice)
    assert again.folderEdit.text() == str(folder)
    assert (again.sizeSpin.value(), again.unitCombo.currentText()) == (3.0, "MB")
    assert again.auto_accept() == ["charlie"]
    again.reject()


def test_an_unusable_folder_is_shown_in_the_dialog_which_stays_open(qtbot, open_window,
                                                                     tmp_path):
    window = open_window("alice")
    before = window.transfers.prefs
    dialog = open_preferences(qtbot, window)
    file = tmp_path / "notes.txt"
    file.write_text("not a folder")

    dialog.folderEdit.clear()
    qtbot.keyClicks(dialog.folderEdit, str(file / "downloads"))
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.error_text() == f"“{file / 'downloads'}” cannot be created: “{file}” is a file."
    assert dialog.isVisible() and dialog.errorLabel.isVisible()
    assert dialog.focusWidget() is dialog.folderEdit

    dialog.folderEdit.clear()
    qtbot.keyClicks(dialog.folderEdit, "relative/path")
    assert dialog.error_text() == ""  # editing clears the error
    dialog.submit()
    assert "full path" in dialog.error_text() and dialog.isVisible()

    qtbot.mouseClick(dialog.buttonBox.button(dialog.buttonBox.StandardButton.Cancel),
                     Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert window.transfers.prefs is before
    assert not app_settings().contains("transfers/download_dir")


def test_names_already_chosen_stay_listed_and_saved(qtbot, tmp_path):
    prefs = TransferPrefs(size_limit=700 * MB, auto_accept=frozenset({"Dave", "bob"}),
                          download_dir=tmp_path)
    dialog = PreferencesDialog(prefs, ["charlie", "bob"])
    qtbot.addWidget(dialog)
    assert dialog.visible_names() == ["bob", "charlie", "Dave"]
    assert dialog.auto_accept() == ["bob", "Dave"]
    assert (dialog.sizeSpin.value(), dialog.unitCombo.currentText()) == (700, "MB")
    dialog.unitCombo.setCurrentText("GB")
    assert dialog.sizeSpin.value() == 0.68 and dialog.size_limit() == 700 * MB
    dialog.submit()
    assert dialog.result() == dialog.DialogCode.Accepted
    assert dialog.prefs() == prefs


def test_read_receipts_switch_is_saved_and_used_by_the_app(qtbot, open_window):
    window = open_window("alice")
    assert window.engine.send_read_receipts
    dialog = open_preferences(qtbot, window)
    assert dialog.readReceiptsCheck.isChecked()
    dialog.readReceiptsCheck.setFocus()
    qtbot.keyClick(dialog.readReceiptsCheck, Qt.Key.Key_Space)
    assert not dialog.readReceiptsCheck.isChecked()
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert not window.engine.send_read_receipts
    assert load_read_receipts(account=window._account) is False
    window.close()
    again = open_window("alice")  # the next start of the app
    assert not again.engine.send_read_receipts
    assert not open_preferences(qtbot, again).readReceiptsCheck.isChecked()


def test_mutes_read_receipts_and_auto_accept_are_the_account_s_not_the_computer_s(
        qtbot, open_window, tmp_path):
    """On a shared computer, the next person to log in inherited the muted conversations,
    "Send read receipts" off and the auto-accepted senders of the one before (a hunt), and
    (another hunt) the download folder (bob's files went to alice's USB stick) and the
    notification switches: they are the account's."""
    alice = open_window("alice")
    alice.open_conversation("charlie")
    alice.mute_action.setChecked(True)
    dialog = open_preferences(qtbot, alice)
    dialog.readReceiptsCheck.setChecked(False)
    stick = tmp_path / "alice-usb-stick"
    stick.mkdir()
    dialog.folderEdit.setText(str(stick))
    dialog.notifyCheck.setChecked(False)
    tick(qtbot, dialog, "charlie")
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    alice.close()

    bob = open_window("bob")  # the next person at this computer
    bob.open_conversation("charlie")
    assert not bob.mute_action.isChecked() and not bob.notifications.prefs.muted
    assert bob.engine.send_read_receipts
    assert load_transfer_prefs(account=bob._account).auto_accept == frozenset()
    assert load_transfer_prefs(account=bob._account).download_dir != stick
    assert bob.notifications.prefs.enabled
    bob.close()

    again = open_window("alice")  # alice's own choices are still hers
    assert again.notifications.prefs.muted == {"charlie"}
    assert not again.engine.send_read_receipts
    assert load_transfer_prefs(account=again._account).auto_accept == {"charlie"}
    assert load_transfer_prefs(account=again._account).download_dir == stick
    assert not again.notifications.prefs.enabled


def test_a_choice_kept_for_the_whole_computer_goes_to_the_first_account_only(tmp_path):
    """A value an older version kept for the computer is taken over by the first account
    that reads it (its person made it), then removed: the next account gets the default."""
    s = QSettings(str(tmp_path / "m.ini"), QSettings.Format.IniFormat)
    s.setValue("privacy/read_receipts", False)
    s.setValue("notifications/muted", ["charlie"])
    first, second = ("alice", "lab", 5555), ("bob", "lab", 5555)
    assert load_read_receipts(s, first) is False
    assert load_notification_prefs(s, first).muted == {"charlie"}
    assert load_read_receipts(s, second) is True
    assert load_notification_prefs(s, second).muted == frozenset()
    assert load_read_receipts(s, first) is False  # (kept as alice's now)
    # The same server typed in another case is the same server (a review).
    save_read_receipts(False, s, ("bob", "Chat.Example.org", 5555))
    assert load_read_receipts(s, ("Bob", "chat.example.org", 5555)) is False


def test_the_dialog_opens_with_the_focus_on_its_first_control(qtbot, tmp_path):
    """It opened with the focus in "Download folder", half-way down: Tab went on to the
    transfer settings and OK, a screen reader started reading there, and the Notifications
    and Privacy boxes above came only after OK and Cancel; the path was selected (one key
    typed by mistake replaced it)."""
    dialog = PreferencesDialog(TransferPrefs(download_dir=tmp_path / "Downloads"), ["bob"])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    assert dialog.focusWidget() is dialog.notifyCheck
    top = dialog.notifyCheck.mapTo(dialog, dialog.notifyCheck.rect().topLeft()).y()
    above = [w.objectName() for w in dialog.findChildren(QWidget)
             if w.isVisible() and w.focusPolicy() & Qt.FocusPolicy.TabFocus
             and w.mapTo(dialog, w.rect().topLeft()).y() < top]
    assert above == []
    assert dialog.folderEdit.text() == str(tmp_path / "Downloads")


def test_the_size_limit_unit_box_says_what_it_is_the_unit_of(qtbot, open_window):
    """Preferences → "Largest file: [4.00] [GB ▾]": a screen reader read the unit box as
    "GB, combo box, 1 GB = 1024 MB" and never said what it was the unit of (a hunt). On
    Linux Qt reads a combo box's current item as its name, whatever its accessible name,
    and leaves naming it to a label's buddy relation ("Largest file:" is the number box's),
    so its description says it."""
    alice = open_window("alice")
    dialog = alice.ask_preferences()
    qtbot.waitUntil(dialog.isVisible)
    iface = QAccessible.queryAccessibleInterface(dialog.unitCombo)
    assert "largest file" in iface.text(QAccessible.Text.Description).lower()
    assert dialog.unitCombo.accessibleName() == "Size limit unit"  # (Windows, macOS)


def test_a_size_limit_out_of_range_in_the_settings_file_does_not_block_ok(qtbot, tmp_path):
    """A settings file whose limit was out of the dialog's range (512 bytes, 2 TiB: typed by
    hand, or an older version) showed as 1 MB or 1024 GB, yet OK said "The size limit must
    be at least 1 MB." ("… at most 1024 GB."): only turning notifications off was refused
    until the number was changed, and the app kept refusing every file over 512 bytes."""
    settings = QSettings(str(tmp_path / "messenger.ini"), QSettings.Format.IniFormat)
    for stored, shown, limit in ((512, (1.0, "MB"), MB), (2 * 1024 ** 4, (1024.0, "GB"),
                                                         1024 ** 4)):
        settings.setValue("transfers/size_limit", stored)
        settings.sync()
        prefs = load_transfer_prefs(settings)
        assert prefs.size_limit == limit  # what Preferences shows is what the app uses
        for start in (prefs, TransferPrefs(size_limit=stored, download_dir=tmp_path)):
            dialog = PreferencesDialog(start, [])
            qtbot.addWidget(dialog)
            assert (dialog.sizeSpin.value(), dialog.unitCombo.currentText()) == shown
            dialog.notifyCheck.setChecked(False)
            dialog.folderEdit.setText(str(tmp_path))
            dialog.submit()
            assert dialog.error_text() == ""
            assert dialog.result() == dialog.DialogCode.Accepted
            assert dialog.prefs().size_limit == limit


def test_preferences_that_cannot_be_written_say_so(qtbot, open_window):
    """With a settings file the app cannot write (owned by another user after a run with
    sudo, a read-only or full home), OK said "Preferences saved.", and after the next start
    every switch was back as it was."""
    window = open_window("alice")
    ini = paths.config_dir() / "messenger.ini"
    ini.unlink(missing_ok=True)
    ini.mkdir()  # (the tests run as root: a folder in its place cannot be written either)
    dialog = open_preferences(qtbot, window)
    dialog.notifyCheck.setChecked(False)
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert not window.notifications.prefs.enabled  # used at once all the same
    message = window.statusBar().currentMessage()
    assert message.startswith("Preferences could not be saved"), message
    assert str(ini) in message


def test_typing_indicators_can_be_turned_off_both_ways_at_once_and_after_a_restart(
        qtbot, open_window):
    """There was no way to stop others from seeing "alice is typing…" (Signal has a switch):
    Preferences → Privacy → "Send and show typing indicators" off, alice's typing is no
    longer sent, and, as in Signal, she no longer sees others' either (the one on screen
    goes at once); the choice stays after a restart."""
    alice = open_window("alice")
    bob = open_window("bob")
    alice_tab = alice.open_conversation("bob")
    bob_tab = bob.open_conversation("alice")
    with qtbot.waitSignal(alice.engine.typing_received, timeout=10_000):
        qtbot.keyClicks(bob_tab.compose, "hel")
    assert alice_tab.typing_label.isVisibleTo(alice_tab)

    dialog = open_preferences(qtbot, alice)
    assert dialog.typingCheck.isChecked()
    dialog.typingCheck.setFocus()
    qtbot.keyClick(dialog.typingCheck, Qt.Key.Key_Space)
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert not alice_tab.typing_label.isVisibleTo(alice_tab)  # (at once, not 6 s later)

    def typed_then_sent(typer, watcher, tab, text: str) -> list[str]:
        """``text`` typed and sent in ``tab``; the ``typing`` the watcher got meanwhile
        (one sent comes before the message: the server relays both in order)."""
        seen: list[str] = []
        watcher.engine.typing_received.connect(lambda _key, user: seen.append(user))
        with qtbot.waitSignal(watcher.engine.message_received, timeout=10_000):
            qtbot.keyClicks(tab.compose, text)
            qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
        return seen

    assert typed_then_sent(alice, bob, alice_tab, "quiet") == []
    bob_tab.compose.clear()
    assert typed_then_sent(bob, alice, bob_tab, "lo") == []
    assert not alice_tab.typing_label.isVisibleTo(alice_tab)
    alice.close()

    again = open_window("alice")  # the next start of the app
    assert not open_preferences(qtbot, again).typingCheck.isChecked()
    again.dialog.reject()
    tab = again.open_conversation("bob")
    assert typed_then_sent(again, bob, tab, "still quiet") == []


def test_the_privacy_switches_say_what_still_shows_and_that_they_are_this_computer_s(qtbot,
                                                                                   tmp_path):
    """Signal and WhatsApp users expect "Send read receipts" off to hide others' read ticks
    too, and a switch turned off on one computer to hold on all: here neither is so (others'
    ticks still show; the app on another computer sends its own receipts, by its own
    switch), and neither the tooltip nor the README said so."""
    dialog = PreferencesDialog(TransferPrefs(download_dir=tmp_path), [])
    qtbot.addWidget(dialog)
    receipts = dialog.readReceiptsCheck.toolTip()
    assert "you still see when they read yours" in receipts
    assert "other computers" in receipts and "other computers" in dialog.typingCheck.toolTip()
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert "you still see when they read yours" in " ".join(readme.split())
    assert "switches are this computer's" in " ".join(readme.split())
