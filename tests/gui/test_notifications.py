"""Notifications of new messages (file offers, invitations to a group) while the window is
in the background: the pop-up (the ``notified`` signal), the unread count in the window
title, a click opening the conversation, mute; and the "New messages" line of a tab opened
with unread messages."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QStyleOptionViewItem

from messenger.client.conversations import peer_key
from messenger.client.models import MessageKind
from messenger.client.notify import Notice
from messenger.gui.delegates import BubbleDelegate
from messenger.gui.main_window import MainWindow, tray_body, tray_tooltip
from messenger.gui.settings import load_notification_prefs

from .conftest import texts, type_line


def background(qtbot, window: MainWindow) -> None:
    """Put ``window`` in the background (minimized), as when the user works elsewhere."""
    window.showMinimized()
    qtbot.waitUntil(lambda: window.isMinimized() and not window._window_active())


def test_a_message_in_the_background_notifies_and_a_click_opens_its_conversation(
        qtbot, open_window):
    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    tab = alice.open_conversation("bob")
    with qtbot.waitSignal(bob.notified, timeout=10_000) as shown:
        qtbot.keyClicks(tab.compose, "are you there?")
        qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    assert shown.args[0] == Notice("alice", "are you there?", peer_key("alice"), 1)
    assert bob.windowTitle().startswith("(1) bob@")
    bob.open_notice()
    qtbot.waitUntil(lambda: bob.current_key() == peer_key("alice"))
    assert not bob.isMinimized()


def test_the_tray_icon_says_how_many_messages_are_unread(qtbot, open_window):
    """A window kept in the tray said only "Messenger" when pointed at; the title's count
    was out of sight."""
    from PySide6.QtWidgets import QSystemTrayIcon

    assert tray_tooltip("bob@h:1", 1) == "Messenger — bob@h:1 — 1 unread message"
    assert tray_tooltip("bob@h:1", 1200) == "Messenger — bob@h:1 — 1,200 unread messages"
    assert tray_tooltip("bob@h:1", 0) == "Messenger — bob@h:1"
    bob = open_window("bob")
    alice = open_window("alice")
    if bob.tray is None:  # (offscreen: no system tray; the icon is made all the same)
        bob.tray = QSystemTrayIcon(bob)
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    alice.engine.send_unicast("bob", "one")
    alice.engine.send_unicast("bob", "two")
    qtbot.waitUntil(lambda: bob.tray.toolTip().endswith("— 2 unread messages"), timeout=10_000)
    assert bob.tray.toolTip().startswith("Messenger — bob@")


def test_no_desktop_notification_while_the_user_is_in_one_of_the_app_s_own_dialogs(
        qtbot, open_window):
    """README: notifications pop up "while the window is in the background". With one of
    the app's own window-modal dialogs in front (Preferences, Change password, New group,
    Message several people, Join…), the main window is not "the active window" for Qt
    (the dialog is), so `_window_active()` is False: a message to the very conversation
    shown behind the dialog pops up a desktop notification and flashes the task bar, as if
    the user were away in another program (a hunt). It is read once the window is active
    again (the dialog may cover it: its tab keeps the count meanwhile)."""
    from PySide6.QtWidgets import QApplication

    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    bob.open_conversation("alice")
    bob.activateWindow()
    qtbot.waitUntil(bob._window_active)
    dialog = bob.ask_preferences()  # the user is in the app, changing a setting
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=3000)
    shown = []
    bob.notified.connect(shown.append)
    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        alice.engine.send_unicast("bob", "hello")
    with qtbot.assertNotEmitted(bob.notified, wait=1500):  # (COALESCE_SECONDS is 1 s)
        pass
    assert shown == []
    key = peer_key("alice")
    assert bob.engine.unread(key) == 1
    dialog.reject()
    bob.activateWindow()  # (the window manager's part, when the dialog goes)
    qtbot.waitUntil(lambda: bob.engine.unread(key) == 0, timeout=3000)


def test_a_file_offer_in_the_background_notifies(qtbot, open_window, tmp_path):
    """An offer notifies as a message does (it made no pop-up: a video sent while the user
    worked elsewhere waited unseen until the sender gave up)."""
    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\0" * 2048)
    with qtbot.waitSignal(bob.notified, timeout=10_000) as shown:
        assert alice.send_files(peer_key("bob"), [str(path)])
    assert shown.args[0] == Notice("alice", "📎 clip.mp4 (2.0 KB)",
                                   peer_key("alice"), 1, files=1)
    assert bob.windowTitle().startswith("(1) bob@")
    # One the app refuses by itself (over the size limit) has nothing to answer: no pop-up.
    from dataclasses import replace
    bob.transfers.prefs = replace(bob.transfers.prefs, size_limit=100)
    with qtbot.waitSignal(bob.transfers.transfer_added, timeout=10_000):
        assert alice.send_files(peer_key("bob"), [str(path)])
    assert not bob._notify_timer.isActive() and bob.notifications.flush() is None
    assert bob.windowTitle().startswith("(1) bob@")


def test_an_offered_file_name_with_a_bidi_override_is_not_shown_reversed(qtbot, open_window,
                                                                         tmp_path):
    """A file named ``invoice<U+202E>fdp.exe`` reads as ``invoiceexe.pdf``. The card showed
    it stripped (a security review), but the pop-up and the status bar line of the offer
    showed the sender's raw name: "📎 invoiceexe.pdf" for an .exe (a hunt). Both show the
    name it will be saved under, as the card does."""
    from messenger.client.transfers import BIDI_CONTROLS

    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    path = tmp_path / "invoice\u202efdp.exe"
    path.write_bytes(b"MZ" + b"\0" * 2046)
    with qtbot.waitSignal(bob.notified, timeout=10_000) as shown:
        assert alice.send_files(peer_key("bob"), [str(path)])
    assert shown.args[0].body == "📎 invoicefdp.exe (2.0 KB)"
    status = bob.statusBar().currentMessage()
    assert status == "alice offers you “invoicefdp.exe”.", status
    assert not set(status) & BIDI_CONTROLS


def held_back(qtbot, window: MainWindow) -> list[Notice]:
    """``window`` in the background, its pop-ups collected, the pending one held until the
    test calls ``window._show_notice()`` (as its timer does after a second)."""
    background(qtbot, window)
    window._notify_timer.setInterval(3_600_000)
    shown: list[Notice] = []
    window.notified.connect(shown.append)
    return shown


def test_a_message_read_on_another_computer_meanwhile_does_not_pop_up(qtbot, open_window,
                                                                      tmp_path):
    """Read at the desk within the second the laptop collects pop-ups: the laptop popped
    it up all the same, and asked for attention (a hunt)."""
    bob = open_window("bob")
    laptop = open_window("alice", data_dir=tmp_path / "laptop")
    desktop = open_window("alice")
    shown = held_back(qtbot, laptop)
    desktop.open_conversation("bob")
    desktop.bring_to_front()
    qtbot.waitUntil(desktop._window_active)
    bob.engine.send_unicast("alice", "are you at your desk?")
    qtbot.waitUntil(lambda: laptop._notify_timer.isActive(), timeout=5000)
    qtbot.waitUntil(lambda: laptop.engine.unread(peer_key("bob")) == 0, timeout=5000)
    laptop._show_notice()
    assert shown == [] and laptop.last_notice is None


def test_a_message_deleted_or_edited_meanwhile_pops_up_as_it_reads_now(qtbot, open_window):
    """"Delete for everyone" within the second: the pop-up still showed the text (a hunt)."""
    bob = open_window("bob")
    alice = open_window("alice")
    shown = held_back(qtbot, alice)
    key = peer_key("bob")
    with qtbot.waitSignal(bob.engine.message_acked, timeout=5000) as acked:
        bob.engine.send_unicast("alice", "my password is hunter2")
    qtbot.waitUntil(lambda: alice.engine.unread(key) == 1, timeout=5000)
    with qtbot.waitSignal(alice.engine.unread_changed, timeout=5000):
        bob.engine.retract(acked.args[1], peer_key("alice"))
    alice._show_notice()
    assert shown == []
    with qtbot.waitSignal(bob.engine.message_acked, timeout=5000) as acked:
        bob.engine.send_unicast("alice", "meet at 5")
    qtbot.waitUntil(lambda: alice.engine.unread(key) == 1, timeout=5000)
    bob.engine.edit(acked.args[1], peer_key("alice"), "meet at 6")
    qtbot.waitUntil(lambda: "meet at 6" in texts(alice, key, MessageKind.OTHER), timeout=5000)
    alice._show_notice()
    assert [n.body for n in shown] == ["meet at 6"]


def test_nothing_while_active_and_a_muted_conversation_only_counts(qtbot, open_window):
    bob = open_window("bob")
    alice = open_window("alice")
    charlie = open_window("charlie")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online
                    and charlie.engine.roster.contact("bob").online)
    # Active window, other tab: the badge counts, no notification is even scheduled.
    bob.bring_to_front()
    qtbot.waitUntil(bob._window_active)
    alice.engine.send_unicast("bob", "hello")
    qtbot.waitUntil(lambda: bob.engine.unread(peer_key("alice")) == 1)
    assert not bob._notify_timer.isActive() and bob.last_notice is None
    # Mute alice's conversation (Conversation → Mute notifications), then go away.
    bob.open_conversation("alice")
    bob.mute_action.setChecked(True)
    assert peer_key("alice") in bob.notifications.prefs.muted
    bob.open_conversation("Everyone")
    background(qtbot, bob)
    alice.engine.send_unicast("bob", "muted one")
    with qtbot.waitSignal(bob.notified, timeout=10_000) as shown:
        charlie.engine.send_unicast("bob", "not muted")
    assert shown.args[0] == Notice("charlie", "not muted", peer_key("charlie"), 1)
    qtbot.waitUntil(lambda: bob.engine.unread(peer_key("alice")) == 1)  # the badge counts


def test_preferences_turn_notifications_and_their_text_off(qtbot, open_window):
    window = open_window("alice")
    dialog = window.ask_preferences()
    assert dialog.notifyCheck.isChecked() and dialog.showTextCheck.isEnabled()
    dialog.showTextCheck.setChecked(False)
    dialog.notifyCheck.setChecked(False)
    assert not dialog.showTextCheck.isEnabled()
    dialog.submit()
    assert not window.notifications.prefs.enabled and not window.notifications.prefs.show_text
    assert load_notification_prefs(account=window._account) == window.notifications.prefs


def test_a_tab_opened_with_unread_messages_marks_where_they_start(qtbot, open_window):
    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    alice.engine.send_unicast("bob", "seen")
    qtbot.waitUntil(lambda: bob.engine.unread(peer_key("alice")) == 1)
    bob.open_conversation("alice")  # read
    bob.open_conversation("Everyone")
    for text in ("one", "two", "three"):
        alice.engine.send_unicast("bob", text)
    qtbot.waitUntil(lambda: bob.engine.unread(peer_key("alice")) == 3)
    model = bob.engine.conversation(peer_key("alice"))
    first = next(i.seq for i in model.items() if i.text == "one")
    assert bob.engine.first_unread(peer_key("alice")) == first
    tab = bob.open_conversation("alice")
    assert tab.delegate.unread_seq == first and bob.engine.unread(peer_key("alice")) == 0
    row = model.row_of_seq(first)
    option = QStyleOptionViewItem()
    option.font = tab.view.font()
    marked = tab.delegate.sizeHint(option, model.index(row, 0)).height()
    tab.delegate.unread_seq = None
    assert marked - tab.delegate.sizeHint(option, model.index(row, 0)).height() \
        == BubbleDelegate.UNREAD_HEIGHT
    tab.delegate.unread_seq = first
    # Answering removes the line.
    qtbot.keyClicks(tab.compose, "hi")
    qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    assert tab.delegate.unread_seq is None
    # Opened again with nothing unread: no line.
    bob.open_conversation("Everyone")
    bob.open_conversation("alice")
    assert tab.delegate.unread_seq is None


def test_a_notification_body_is_escaped_for_linux_notification_servers():
    """On Linux the notification server reads the body as markup: "Tom & Jerry" made
    xfce4-notifyd show an empty bubble, and a "<b>" in a message turned it bold (a security
    review). Elsewhere the body is plain text already."""
    assert tray_body("Tom & Jerry <b>now</b>", "linux") == "Tom &amp; Jerry &lt;b&gt;now&lt;/b&gt;"
    assert tray_body("Tom & Jerry <b>now</b>", "win32") == "Tom & Jerry <b>now</b>"
    assert tray_body("Tom & Jerry", "darwin") == "Tom & Jerry"


def test_a_message_to_the_open_tab_of_a_minimized_window_stays_unread_until_restored(
        qtbot, open_window):
    """Minimized, a window may stay the active one: the message to its open tab was marked
    read at once (its sender told so), and no pop-up, badge or title count was left. "Seen"
    is :meth:`MainWindow._window_active` everywhere now."""
    bob = open_window("bob")
    alice = open_window("alice")
    alice.open_conversation("bob")
    alice.activateWindow()
    qtbot.waitUntil(alice.isActiveWindow)
    background(qtbot, alice)
    bob.open_conversation("alice")
    with qtbot.waitSignal(alice.notified, timeout=10_000) as shown:
        type_line(qtbot, bob, "are you there?")
    assert shown.args[0] == Notice("bob", "are you there?", peer_key("bob"), 1)
    assert alice.engine.unread(peer_key("bob")) == 1
    assert alice.windowTitle().startswith("(1) alice@")
    alice.bring_to_front()  # restored: now it is seen
    qtbot.waitUntil(lambda: alice.engine.unread(peer_key("bob")) == 0)
    assert not alice.windowTitle().startswith("(")


def test_a_click_on_the_notification_brings_a_maximized_window_back_maximized(
        qtbot, open_window):
    """The user works with the window maximized, minimizes it, a message pops up, the user
    clicks the pop-up (or the tray icon): the window came back un-maximized, at its small
    normal size (``bring_to_front`` called ``showNormal()``, which drops the maximized state
    the window had before it was minimized)."""
    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    bob.showMaximized()
    qtbot.waitUntil(bob.isMaximized)
    background(qtbot, bob)
    assert bob.windowState() & Qt.WindowState.WindowMaximized  # (minimized from maximized)
    with qtbot.waitSignal(bob.notified, timeout=10_000):
        alice.engine.send_unicast("bob", "are you there?")
    bob.open_notice()
    qtbot.waitUntil(lambda: not bob.isMinimized())
    assert bob.current_key() == peer_key("alice")
    assert bob.isMaximized(), f"came back as {bob.windowState()!r}"


def test_a_file_offer_withdrawn_meanwhile_does_not_pop_up(qtbot, open_window, tmp_path):
    """A file offer the sender cancels within the second the pop-ups are collected (the
    wrong file dropped, cancelled at once) still popped up "📎 salaries.xlsx" and flashed
    the task bar, though its card already said Cancelled and nothing was left to answer:
    the pop-up checked only messages (with a seq) for whether they were still unread."""
    from messenger.client.transfers import TransferState

    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    bob._notify_timer.setInterval(3_600_000)  # (the collecting second, held)
    shown = []
    bob.notified.connect(shown.append)
    path = tmp_path / "salaries.xlsx"
    path.write_bytes(b"\0" * 4096)
    with qtbot.waitSignal(bob.transfers.transfer_added, timeout=10_000) as added:
        assert alice.send_files(peer_key("bob"), [str(path)])
    card = added.args[0]
    sent = next(t.key for t in alice.transfers.model.transfers() if t.name == "salaries.xlsx")
    assert alice.transfers.cancel(sent)
    qtbot.waitUntil(lambda: bob.transfers.get(card).state is TransferState.CANCELLED,
                    timeout=5_000)
    assert bob.engine.unread(peer_key("alice")) == 0  # nothing left to answer
    bob._show_notice()  # (the second is over)
    assert shown == []


def test_an_invitation_to_a_group_in_the_background_notifies(qtbot, open_window):
    """An invitation to a group while the user works in another app: nothing popped up and
    the task bar did not ask for attention — the yellow bar waited unseen in a minimized
    window (the inviter wondered why nobody joined). Now it pops up as a message does, and
    a click shows the window with the bar."""
    bob = open_window("bob")
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    with qtbot.waitSignal(bob.notified, timeout=10_000) as shown:
        alice.engine.create_group("lab", ["bob"])
    assert shown.args[0] == Notice("# lab", "alice invited you to lab", None, 1, "lab",
                                   invitations=1)
    bob.open_notice()
    qtbot.waitUntil(lambda: not bob.isMinimized())
    assert bob.invitation_bar.isVisible() and bob.invitation_bar.buttons("lab") is not None


def test_without_a_system_tray_the_desktop_s_notification_service_pops_up(
        qtbot, open_window, notification_daemon):
    """GNOME without the AppIndicator extension (Debian's and Ubuntu's default) has no
    system tray: `MainWindow.tray` was None there and no pop-up ever showed, only the task
    bar alert. The pop-up now goes to the desktop's notification service
    (org.freedesktop.Notifications ``Notify``), as "Messenger" with the app's icon and
    desktop entry, a click on it opening the conversation."""
    bob = open_window("bob", notification_bus=notification_daemon.bus.connection)
    alice = open_window("alice")
    assert bob.tray is None  # (offscreen: no system tray, as on such a desktop)
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    with qtbot.waitSignal(bob.notified, timeout=10_000):
        alice.engine.send_unicast("bob", "Tom & Jerry <b>now</b>")
    qtbot.waitUntil(lambda: len(notification_daemon.calls()) == 1, timeout=5_000)
    call = notification_daemon.calls()[0]
    assert (call["app_name"], call["summary"], call["replaces_id"]) == ("Messenger", "alice", 0)
    assert call["body"] == "Tom &amp; Jerry &lt;b&gt;now&lt;/b&gt;"  # (it reads markup)
    assert call["app_icon"] == "messenger" and call["hints"]["desktop-entry"] == "messenger"
    assert "default" in call["actions"][::2]
    bob.open_conversation("Everyone")
    notification_daemon.click(1)
    qtbot.waitUntil(lambda: bob.current_key() == peer_key("alice") and not bob.isMinimized(),
                    timeout=5_000)


def test_a_click_on_an_older_notification_opens_its_own_conversation(
        qtbot, open_window, notification_daemon):
    """Two pop-ups in the desktop's list, alice's then charlie's: a click on alice's (the
    older) opened charlie's conversation — the tray's ``messageClicked`` carries no id, so
    the click opened whatever ``last_notice`` was. Each pop-up's id now maps to its
    conversation; a conversation's next pop-up replaces its previous one rather than
    stacking, and reading it takes its pop-up away."""
    bob = open_window("bob", notification_bus=notification_daemon.bus.connection)
    alice = open_window("alice")
    charlie = open_window("charlie")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online
                    and charlie.engine.roster.contact("bob").online)
    background(qtbot, bob)
    bob.open_conversation("Everyone")
    with qtbot.waitSignal(bob.notified, timeout=10_000):
        alice.engine.send_unicast("bob", "from alice")
    with qtbot.waitSignal(bob.notified, timeout=10_000):
        charlie.engine.send_unicast("bob", "from charlie")
    calls = notification_daemon.calls()
    assert [(c["summary"], c["body"]) for c in calls] == [("alice", "from alice"),
                                                          ("charlie", "from charlie")]
    with qtbot.waitSignal(bob.notified, timeout=10_000):
        alice.engine.send_unicast("bob", "still there?")
    again = notification_daemon.calls()[2]
    assert (again["summary"], again["body"], again["replaces_id"]) == ("alice", "still there?", 1)
    background(qtbot, bob)
    notification_daemon.click(1)  # alice's, the older pop-up
    qtbot.waitUntil(lambda: bob.current_key() == peer_key("alice"), timeout=5_000)
    # Reading charlie's conversation (here) closes charlie's pop-up (alice's went with the
    # click).
    bob.open_conversation("charlie")
    qtbot.waitUntil(lambda: notification_daemon.calls("CloseNotification") == [
        {"method": "CloseNotification", "id": 2}], timeout=5_000)


def test_without_a_notification_service_the_tray_icon_pops_up(qtbot, open_window,
                                                               private_bus):
    """A session bus with no notification service (a bare window manager): the tray
    icon's balloon shows the pop-up, as before, and a click on it opens the last one."""
    from PySide6.QtWidgets import QSystemTrayIcon

    shown = []

    class Tray(QSystemTrayIcon):  # (stands in for the desktop's system tray)
        def showMessage(self, *args):
            shown.append(args[:2])

    bob = open_window("bob", notification_bus=private_bus.connection)
    alice = open_window("alice")
    bob.tray = Tray(bob)
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    with qtbot.waitSignal(bob.notified, timeout=10_000):
        alice.engine.send_unicast("bob", "hello")
    assert shown == [("alice", "hello")]
    bob.open_notice()
    qtbot.waitUntil(lambda: bob.current_key() == peer_key("alice"), timeout=5_000)


def test_quitting_or_logging_out_closes_the_apps_pop_ups(qtbot, open_window,
                                                         notification_daemon):
    """bob quit (or logged out) with alice's pop-up still in the desktop's list: it stayed
    there, and a click on it later did nothing (no window of that session was left to
    open the conversation). The app's pop-ups go with its window."""
    bob = open_window("bob", notification_bus=notification_daemon.bus.connection)
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    with qtbot.waitSignal(bob.notified, timeout=10_000):
        alice.engine.send_unicast("bob", "see you tomorrow")
    assert [c["summary"] for c in notification_daemon.calls()] == ["alice"]
    bob.close()  # File → Quit (File → Log out closes the window too)
    qtbot.waitUntil(lambda: notification_daemon.calls("CloseNotification") == [
        {"method": "CloseNotification", "id": 1}], timeout=5_000)


def test_answering_an_invitation_closes_its_pop_up(qtbot, open_window, notification_daemon):
    """alice invited bob to lab while he worked elsewhere: "# lab / alice invited you to
    lab" popped up; bob accepted in the yellow bar, and the pop-up stayed in the desktop's
    list, asking still. It closes once the invitation is answered (here or on another
    computer)."""
    bob = open_window("bob", notification_bus=notification_daemon.bus.connection)
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    with qtbot.waitSignal(bob.notified, timeout=10_000):
        alice.engine.create_group("lab", ["bob"])
    assert [c["summary"] for c in notification_daemon.calls()] == ["# lab"]
    accept, _decline = bob.invitation_bar.buttons("lab")
    accept.click()
    qtbot.waitUntil(lambda: notification_daemon.calls("CloseNotification") == [
        {"method": "CloseNotification", "id": 1}], timeout=5_000)


def test_a_hung_notification_service_does_not_freeze_the_window(
        qtbot, open_window, slow_notification_daemon):
    """The pop-up's ``Notify`` call blocked the window until the service answered (up to
    2 s per pop-up): with a hung notification daemon the window froze on every message in
    the background. The calls now go out from a thread of their own; the window goes on
    (its timers tick) while the answer is pending, and the pop-up's id, when it comes,
    still maps to its conversation."""
    bob = open_window("bob", notification_bus=slow_notification_daemon.bus.connection)
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    # Ticks of a timer between the notice being made (``last_notice``) and its pop-up shown.
    ticks_while_pending = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: bob.last_notice is not None and ticks_while_pending.append(1))
    timer.start()
    with qtbot.waitSignal(bob.notified, timeout=10_000):
        alice.engine.send_unicast("bob", "anyone?")
    timer.stop()
    assert len(ticks_while_pending) > 3  # (the daemon takes 1 s: ~100 ticks)
    call = slow_notification_daemon.calls()[0]
    assert (call["summary"], call["body"]) == ("alice", "anyone?")
    bob.open_conversation("Everyone")
    slow_notification_daemon.click(1)
    qtbot.waitUntil(lambda: bob.current_key() == peer_key("alice"), timeout=5_000)


def test_a_conversation_read_while_the_service_takes_its_time_loses_its_pop_up(
        qtbot, open_window, slow_notification_daemon):
    """Read before the notification service answered with the pop-up's id: the pop-up
    must still go when the id comes (reading takes a conversation's pop-up away)."""
    bob = open_window("bob", notification_bus=slow_notification_daemon.bus.connection)
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    bob.open_conversation("Everyone")
    alice.engine.send_unicast("bob", "quick")
    qtbot.waitUntil(lambda: bob.desktop.pending() == 1, timeout=10_000)
    with qtbot.waitSignal(bob.notified, timeout=10_000):
        bob.bring_to_front()  # the user comes back and reads it meanwhile
        qtbot.waitUntil(bob.isActiveWindow, timeout=5_000)
        bob.open_conversation("alice")
        qtbot.waitUntil(lambda: bob.engine.unread(peer_key("alice")) == 0, timeout=5_000)
    qtbot.waitUntil(lambda: slow_notification_daemon.calls("CloseNotification") == [
        {"method": "CloseNotification", "id": 1}], timeout=5_000)


def test_a_second_message_before_the_service_answered_replaces_the_first_pop_up(
        qtbot, open_window, slow_notification_daemon):
    """Two messages of alice a little over a second apart, the notification service slow
    to answer: the second pop-up was asked for before the first one's id came, so it had
    nothing to replace and stacked as a second pop-up of the same conversation. It now
    waits for that id, and replaces the first pop-up in place."""
    bob = open_window("bob", notification_bus=slow_notification_daemon.bus.connection)
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    bob.open_conversation("Everyone")
    alice.engine.send_unicast("bob", "first")
    qtbot.waitUntil(lambda: bob.desktop.pending() == 1, timeout=10_000)
    alice.engine.send_unicast("bob", "second")
    qtbot.waitUntil(lambda: bob.engine.unread(peer_key("alice")) == 2, timeout=5_000)
    bob._show_notice()  # (as its timer does, the first pop-up's id still to come)
    qtbot.waitUntil(lambda: len(slow_notification_daemon.calls()) == 2, timeout=10_000)
    calls = slow_notification_daemon.calls()
    assert [(c["body"], c["replaces_id"]) for c in calls] == [("first", 0), ("second", 1)]
    qtbot.waitUntil(lambda: bob.desktop.pending() == 0, timeout=5_000)
    bob.bring_to_front()  # the user comes back and reads it: the one pop-up goes
    qtbot.waitUntil(bob.isActiveWindow, timeout=5_000)
    bob.open_conversation("alice")
    qtbot.waitUntil(lambda: slow_notification_daemon.calls("CloseNotification") == [
        {"method": "CloseNotification", "id": 1}], timeout=5_000)


def test_turning_the_text_off_takes_it_out_of_the_pop_ups_on_screen(
        qtbot, open_window, notification_daemon):
    """bob saw alice's pop-up on the shared screen and turned "show message text" off in
    Preferences: the pop-up stayed as it was, sender and text for all to read. Pop-ups on
    screen are now replaced by text-less ones (a click still opens their conversation),
    and so is one the service had not shown yet."""
    bob = open_window("bob", notification_bus=notification_daemon.bus.connection)
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    bob.open_conversation("Everyone")
    with qtbot.waitSignal(bob.notified, timeout=10_000):
        alice.engine.send_unicast("bob", "the salary list is on the share")
    dialog = bob.ask_preferences()
    dialog.showTextCheck.setChecked(False)
    dialog.submit()
    qtbot.waitUntil(lambda: len(notification_daemon.calls()) == 2, timeout=5_000)
    call = notification_daemon.calls()[1]
    assert (call["summary"], call["body"], call["replaces_id"]) == ("Messenger", "New message", 1)
    background(qtbot, bob)
    notification_daemon.click(1)
    qtbot.waitUntil(lambda: bob.current_key() == peer_key("alice"), timeout=5_000)


def test_turning_the_text_off_before_the_service_answered_takes_it_out_of_that_pop_up(
        qtbot, open_window, slow_notification_daemon):
    """As above, the pop-up asked for (with its text) before "show message text" went off
    and shown by a slow service after: it is replaced by a text-less one too."""
    bob = open_window("bob", notification_bus=slow_notification_daemon.bus.connection)
    alice = open_window("alice")
    qtbot.waitUntil(lambda: alice.engine.roster.contact("bob").online)
    background(qtbot, bob)
    bob.open_conversation("Everyone")
    alice.engine.send_unicast("bob", "the salary list is on the share")
    qtbot.waitUntil(lambda: bob.desktop.pending() == 1, timeout=10_000)
    dialog = bob.ask_preferences()
    dialog.showTextCheck.setChecked(False)
    dialog.submit()
    qtbot.waitUntil(lambda: len(slow_notification_daemon.calls()) == 2, timeout=10_000)
    assert [(c["summary"], c["body"], c["replaces_id"])
            for c in slow_notification_daemon.calls()] == [
        ("alice", "the salary list is on the share", 0), ("Messenger", "New message", 1)]
