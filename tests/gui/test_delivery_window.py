"""The window side of delivery: ticks, Retry on a failed message, the reconnect status, lazy
history, find, typing indicator and export."""

from __future__ import annotations

import re
import sqlite3
import time
import unicodedata

import pytest
import shiboken6
from helpers.wire import connect_as
from PySide6.QtCore import QEvent, QRect, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QHelpEvent, QImage, QPainter
from PySide6.QtWidgets import QApplication, QStyleOptionViewItem, QToolTip

import messenger.server.core as server_core
from messenger.client import engine as engine_module
from messenger.client.connection import ConnectionState
from messenger.client.conversations import EVERYONE, peer_key
from messenger.client.engine import EXPORT_CHUNK, ClientEngine
from messenger.client.liveness import Backoff
from messenger.client.localstore import CachedMessage
from messenger.client.models import ConversationModel, DeliveryState, MessageKind, RosterModel
from messenger.client.pins import PinStore
from messenger.client.textsearch import find_spans
from messenger.gui import conversation
from messenger.gui.delegates import (
    FAILED_BADGE,
    META_OWN,
    OWN_BUBBLE,
    READ_BADGE,
    READ_CHECKS,
    TICKS,
    paint_tick,
)
from messenger.protocol import PROTOCOL_VERSION, ErrorCode, Ok, Send
from messenger.protocol.messages import Message, Read, Typing

from .conftest import texts, type_line


def own_state(window, key: str, row: int = -1) -> DeliveryState:
    widget = window.conversation_widget(key)
    last = widget.proxy.index(row % widget.proxy.rowCount(), 0)
    return DeliveryState(last.data(ConversationModel.StateRole))


def painted_ticks(window, key: str, row: int = -1) -> str:
    """What the delivery mark drawn on the item at ``row`` means (a ``TICKS`` value)."""
    widget = window.conversation_widget(key)
    index = widget.proxy.index(row % widget.proxy.rowCount(), 0)
    option = QStyleOptionViewItem()
    option.initFrom(widget.view)
    return widget.delegate._measure(option, index).ticks.strip()


def colours_in(image: QImage, rect: QRect) -> dict[str, int]:
    """How many pixels of each colour ``rect`` of ``image`` holds (``#rrggbb`` keys)."""
    counts: dict[str, int] = {}
    for y in range(max(0, rect.top()), min(image.height(), rect.bottom() + 1)):
        for x in range(max(0, rect.left()), min(image.width(), rect.right() + 1)):
            name = image.pixelColor(x, y).name()
            counts[name] = counts.get(name, 0) + 1
    return counts


def tick_area(window, key: str, row: int = -1) -> dict[str, int]:
    """The colours painted in the bottom right corner (time and mark) of the own bubble at
    ``row``, as the view shows it."""
    widget = window.conversation_widget(key)
    index = widget.proxy.index(row % widget.proxy.rowCount(), 0)
    widget.view.scrollTo(index)
    rect = widget.view.visualRect(index)
    image = widget.view.viewport().grab().toImage()
    corner = QRect(rect.right() - 90, rect.bottom() - 26, 90, 26)
    return colours_in(image, corner)


def failed_badge(window, key: str, row: int) -> int:
    """How many pixels of the failed-message badge colour are left of the bubble at ``row``."""
    widget = window.conversation_widget(key)
    index = widget.proxy.index(row % widget.proxy.rowCount(), 0)
    widget.view.scrollTo(index)
    rect = widget.view.visualRect(index)
    image = widget.view.viewport().grab().toImage()
    return colours_in(image, rect).get(FAILED_BADGE.name(), 0)


def test_the_delivery_marks_are_drawn_not_font_glyphs(qapp):
    """Every mark is drawn with lines (a clock face, checks, a badge), so it shows without an
    emoji font; read differs from delivered by a filled amber badge, not just a hue."""
    fm = QFontMetricsF(qapp.font())
    inked: dict[DeliveryState, dict[str, int]] = {}
    for state in (DeliveryState.PENDING, DeliveryState.SENT, DeliveryState.DELIVERED,
                  DeliveryState.READ):
        image = QImage(40, 30, QImage.Format.Format_ARGB32)
        image.fill(OWN_BUBBLE)
        painter = QPainter(image)
        paint_tick(painter, 0, 5, fm, state, META_OWN)
        painter.end()
        counts = colours_in(image, image.rect())
        counts.pop(OWN_BUBBLE.name())
        inked[state] = counts
    ink = {state: sum(c.values()) for state, c in inked.items()}
    assert all(n >= 10 for n in ink.values()), ink
    assert ink[DeliveryState.DELIVERED] > ink[DeliveryState.SENT] * 1.5  # two checks
    badge = {state: c.get(READ_BADGE.name(), 0) for state, c in inked.items()}
    assert badge[DeliveryState.READ] >= 40 and badge[DeliveryState.DELIVERED] == 0
    # WCAG contrast: the badge against the bubble (≥ 3:1 for graphics), the checks on it.
    assert contrast(READ_BADGE, OWN_BUBBLE) >= 3 and contrast(READ_CHECKS, READ_BADGE) >= 7


def contrast(a: QColor, b: QColor) -> float:
    def luminance(c: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + \
            0.0722 * channel(c.blueF())
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def fill_cache(engine: ClientEngine, key: str, count: int) -> None:
    """``count`` messages from ``key`` in the history cache, read here long ago (unread ones
    would open the tab at a "New messages" line, scrolled up to the first of them)."""
    engine.store.add_messages([
        CachedMessage(seq, key, 1_700_000_000.0 + seq, key, "unicast", f"message {seq}",
                      f"c{seq}", [engine.user]) for seq in range(1, count + 1)])
    engine.store.mark_read_here(key, list(range(1, count + 1)))


def test_ticks_go_clock_one_two_and_a_badge_when_read(qtbot, open_window):
    alice = open_window("alice")
    bob = open_window("bob")
    alice.open_conversation("bob")
    type_line(qtbot, alice, "tick tock")
    assert painted_ticks(alice, "bob") in (TICKS[DeliveryState.PENDING],
                                           TICKS[DeliveryState.SENT])
    qtbot.waitUntil(lambda: own_state(alice, "bob") == DeliveryState.DELIVERED, timeout=10_000)
    assert painted_ticks(alice, "bob") == TICKS[DeliveryState.DELIVERED] == "delivered"
    assert tick_area(alice, "bob").get(READ_BADGE.name(), 0) == 0
    bob.open_conversation("alice")  # bob's current tab shows it: a read receipt goes out
    bob.engine.mark_read("alice")
    qtbot.waitUntil(lambda: own_state(alice, "bob") == DeliveryState.READ, timeout=10_000)
    widget = alice.conversation_widget("bob")
    tip = widget.proxy.index(widget.proxy.rowCount() - 1, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert tip.endswith("(read)")
    assert painted_ticks(alice, "bob") == "read"
    assert tick_area(alice, "bob").get(READ_BADGE.name(), 0) >= 30
    widget.view.grab()  # paints every state without errors


def test_retry_on_a_failed_message(qtbot, server, open_window):
    alice = open_window("alice")
    # (/msg would refuse the name: the contact list has no zed; a message queued offline,
    # or in zed's tab from an earlier session, reaches the server like this)
    tab = alice.open_conversation("zed")
    with qtbot.waitSignal(alice.engine.request_failed, timeout=10_000):
        alice.engine.send_unicast("zed", "are you there yet?")
    assert own_state(alice, "zed", 0) == DeliveryState.FAILED
    # The tab in view says it (not the status bar too); whether the app is online stays.
    assert alice.statusBar().currentMessage() == ""
    assert alice.state_label.isVisible() and "Online as alice" in alice.state_label.text()
    assert tab.failed_bar.isVisibleTo(tab) and "1 message not sent" in tab.failed_label.text()
    # Nobody is called zed (the contact list has every account): Retry is not offered, and
    # nothing can be typed here; the box says why.
    no_zed = "There is no user named “zed” on this server."
    assert not tab.writable and tab.closed_label.text() == no_zed
    assert tab.closed_label.isVisibleTo(tab)
    assert not tab.retry_button.isVisibleTo(tab) and tab.delete_button.isVisibleTo(tab)
    assert [a.text() for a in tab.message_menu(0).actions()] == ["Copy text", "Delete"]
    assert painted_ticks(alice, "zed", 0) == "not sent · right-click to delete"
    assert failed_badge(alice, "zed", 0) >= 40  # a red "!" beside the bubble
    # Zed signs up; Retry is offered again and goes through with the same client_msg_id.
    zed = ClientEngine()
    with qtbot.waitSignal(zed.login_succeeded, timeout=10_000):
        zed.connect_to(server.host, server.port)
        zed.register("zed", "zed-secret")
    qtbot.waitUntil(lambda: tab.retry_button.isVisibleTo(tab))
    assert tab.writable and not tab.closed_label.isVisibleTo(tab)
    # The bar's reason is in the past tense: still true now that zed exists (it said "no
    # such user: zed" beside his "online").
    assert tab.failed_label.text() == \
        "1 message not sent: the server had no account of that name"
    menu = tab.message_menu(0)
    assert [a.text() for a in menu.actions()] == ["Copy text", "Retry", "Delete"]
    assert painted_ticks(alice, "zed", 0) == "not sent · right-click to retry"
    with qtbot.waitSignal(zed.message_received, timeout=10_000) as got:
        qtbot.mouseClick(tab.retry_button, Qt.MouseButton.LeftButton)
    assert got.args[1].text == "are you there yet?"
    qtbot.waitUntil(lambda: own_state(alice, "zed", 0) != DeliveryState.PENDING)
    assert own_state(alice, "zed", 0) in (DeliveryState.SENT, DeliveryState.DELIVERED)
    assert not tab.failed_bar.isVisibleTo(tab)
    assert failed_badge(alice, "zed", 0) == 0
    assert alice.engine.store.outbox() == []
    zed.close()


def test_delete_on_a_failed_message(qtbot, open_window):
    alice = open_window("alice")
    with qtbot.waitSignal(alice.engine.request_failed, timeout=10_000):
        alice.engine.send_unicast("ghost", "boo")
    tab = alice.open_conversation("ghost")
    qtbot.mouseClick(tab.delete_button, Qt.MouseButton.LeftButton)
    assert tab.model.failed_ids() == [] and not tab.failed_bar.isVisibleTo(tab)
    assert alice.engine.store.outbox() == []


def test_reconnect_status_and_reconnect_now(qtbot, open_window):
    alice = open_window("alice")
    engine = alice.engine
    assert not alice.reconnect_button.isVisibleTo(alice)
    with qtbot.waitSignal(engine.reconnect_scheduled, timeout=10_000):
        engine._conn._socket.abort()  # the link breaks (no error from the server)
    assert re.fullmatch(r"Connection lost — reconnecting in \d+ s", alice.state_label.text())
    assert alice.reconnect_button.isVisibleTo(alice) and alice.reconnect_action.isEnabled()
    with qtbot.waitSignal(engine.reconnecting, timeout=1000):
        qtbot.mouseClick(alice.reconnect_button, Qt.MouseButton.LeftButton)
    assert alice.state_label.text() == "Reconnecting…"
    qtbot.waitUntil(lambda: engine.logged_in, timeout=10_000)
    assert alice.state_label.text().startswith("Online as alice")
    assert not alice.reconnect_button.isVisibleTo(alice)


def test_the_reconnect_status_says_why_attempts_fail_and_keeps_still(qtbot, open_window,
                                                                     server):
    """The server is down: the line said "Reconnecting…", "Disconnected: Cannot reach…",
    "Connection lost — reconnecting in N s" in turn at every try, the reason only in the
    tooltip; it now says why with the countdown."""
    alice = open_window("alice")
    engine = alice.engine
    server.close()
    with qtbot.waitSignal(engine.reconnect_scheduled, timeout=10_000):
        engine._conn._socket.abort()
    assert alice.state_label.text().startswith("Connection lost — reconnecting in")
    with qtbot.waitSignal(engine.reconnect_scheduled, timeout=20_000):
        engine.reconnect_now()  # an attempt that fails
        assert alice.state_label.text() == "Reconnecting…"
    assert re.fullmatch(r"Retrying in \d+ s — Cannot reach the server at 127\.0\.0\.1:\d+",
                        alice.state_label.text())
    assert "Cannot reach" in alice.state_label.toolTip()


def test_a_stopped_server_is_told_apart_from_a_lost_link(qtbot, open_window, server,
                                                         make_server):
    """A restart of the server read "Connection lost" and then "Cannot reach the server", as
    a broken network would; it says the server was stopped now, until it is back."""
    alice = open_window("alice")
    engine = alice.engine
    with qtbot.waitSignal(engine.reconnect_scheduled, timeout=10_000):
        server.close()
    assert re.fullmatch(r"Server stopped — reconnecting in \d+ s", alice.state_label.text())
    with qtbot.waitSignal(engine.reconnect_scheduled, timeout=20_000):
        engine.reconnect_now()  # an attempt that fails: the server is still down
    assert re.fullmatch(r"Server stopped — reconnecting in \d+ s", alice.state_label.text())
    assert "Cannot reach" in alice.state_label.toolTip()
    said = texts(alice, EVERYONE, MessageKind.ERROR)
    assert not any("Server error" in t for t in said)
    assert said[-1] == (f"Disconnected: The server at {server.host}:{server.port} was stopped "
                        "(a restart or maintenance). Reconnecting by itself.")
    make_server(data_dir=server.data_dir, port=server.port)
    with qtbot.waitSignal(engine.login_succeeded, timeout=20_000):
        engine.reconnect_now()
    assert alice.state_label.text().startswith("Online as alice")
    with qtbot.waitSignal(engine.reconnect_scheduled, timeout=10_000):
        engine._conn._socket.abort()  # a lost link afterwards is one again
    assert alice.state_label.text().startswith("Connection lost — reconnecting in")


def test_a_burst_queued_while_offline_lays_the_open_tab_out_once_not_per_message(
        qtbot, open_window, server):
    """500 messages queued while the laptop was closed froze the window for 16 s at the
    next login (2,000: minutes): each new row scrolled to the end at once, which measures
    every row again (rows differ in height), n²/2 measurements (a hunt). Counted, not
    timed: the measurements stay a small multiple of the rows."""
    n = 300
    window = open_window("bob")
    engine = window.engine
    tab = window.open_conversation("alice")
    with qtbot.waitSignal(engine.reconnect_scheduled, timeout=10_000):
        engine._conn._socket.abort()  # (bob's laptop closes)
    engine._reconnect_timer.stop()
    alice = connect_as(qtbot, server, "alice", "alice123")
    for i in range(n):
        alice.send(Send(id=alice.next_id(), client_msg_id=f"queued-{i:04}", scope="unicast",
                        text=f"queued {i}", to=["bob"]))
    alice.wait_for(lambda f: isinstance(f, Ok) and f.id == n, timeout=30_000)
    measured = [0]
    measure = tab.delegate._measure

    def counting(option, index):
        measured[0] += 1
        return measure(option, index)

    tab.delegate._measure = counting
    with qtbot.waitSignal(engine.resumed, timeout=30_000):
        engine.reconnect_now()
    last = f"queued {n - 1}"
    qtbot.waitUntil(lambda: texts(window, peer_key("alice"), MessageKind.OTHER)[-1:] == [last],
                    timeout=30_000)
    qtbot.waitUntil(lambda: not tab._to_end.isActive())
    bar = tab.view.verticalScrollBar()
    assert bar.value() == bar.maximum()  # (the end in view)
    assert measured[0] < 10 * n, measured[0]  # (n²/2 = 45,000 before)
    # All came: the newest are rows, the older ones set aside (the tab follows the end).
    shown = texts(window, peer_key("alice"), MessageKind.OTHER)
    assert shown == [f"queued {i}" for i in range(n - len(shown), n)]
    assert len(shown) + tab.model.aside_count() == n


def test_a_password_changed_elsewhere_while_offline_goes_back_to_the_login_dialog(
        qtbot, open_window, server, tmp_path):
    """The reconnect is refused (the password was changed on the laptop meanwhile) and
    stops: the line said only "Disconnected", its tooltip "closed the connection" (a hunt);
    then the window stayed open with the account's conversations (another hunt): it goes
    back to the login dialog, which says why, as when the change comes while online."""
    desktop = open_window("alice", backoff=Backoff(60.0, 60.0))
    engine = desktop.engine
    with qtbot.waitSignal(engine.reconnect_scheduled, timeout=10_000):
        engine._conn._socket.abort()  # the desktop's Wi-Fi drops
    laptop = ClientEngine(data_dir=tmp_path / "laptop")
    try:
        with qtbot.waitSignal(laptop.password_changed, timeout=10_000):
            with qtbot.waitSignal(laptop.login_succeeded, timeout=10_000):
                laptop.connect_to(server.host, server.port)
                laptop.login("alice", "alice123")
            laptop.change_password("alice123", "new-secret")
    finally:
        laptop.close()
    with qtbot.waitSignal(engine.login_failed, timeout=10_000):
        assert engine.reconnect_now()
    assert desktop.state_label.text() == \
        "Disconnected: The password was refused (changed on another computer?)"
    assert "Log in again with the new one" in desktop.state_label.toolTip()
    qtbot.waitUntil(lambda: not desktop.isVisible(), timeout=3000)
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED, timeout=10_000)
    assert not engine.auto_reconnect
    assert desktop.logout_chosen
    assert "password was refused" in desktop.logout_reason


def test_a_computer_offline_during_a_password_change_goes_back_to_the_login(
        qtbot, open_window, monkeypatch, tmp_path):
    """README: after File → Change password…, "your other devices are logged out: their
    windows go back to the login dialog, which says why (handy for a lab computer you
    forgot to log out of)". That held only for a device online at that moment: a lab
    computer whose link was down (asleep, Wi-Fi gone, cable out) reconnected afterwards,
    its re-login was refused, and its window stayed open with alice's contacts,
    conversations and history for whoever sat down next, taking messages into her outbox
    (a hunt)."""
    desktop = open_window("alice")
    monkeypatch.setenv("MESSENGER_HOME", str(tmp_path / "lab-home"))
    lab = open_window("alice", backoff=Backoff(initial=60, maximum=60))
    lab.open_conversation("bob")
    lab.engine._conn._socket.abort()  # the lab computer's link drops (no word from the server)
    qtbot.waitUntil(lambda: lab.engine.state is ConnectionState.DISCONNECTED, timeout=5000)
    with qtbot.waitSignal(desktop.engine.password_changed, timeout=10_000):
        assert desktop.engine.change_password("alice123", "new-secret")
    assert lab.engine.reconnect_now()  # the link is back: the app logs in again by itself
    qtbot.waitUntil(lambda: "refused" in lab.state_label.text(), timeout=10_000)
    qtbot.waitUntil(lambda: not lab.isVisible(), timeout=3000)
    assert lab.logout_chosen and lab.logout_reason


def test_a_reconnect_refused_as_locked_out_says_so_and_waits_out_the_lock(
        qtbot, open_window, server):
    """A reconnect refused (locked_out: someone's wrong guesses) showed the attempt
    before's reason ("Cannot reach the server", "Server stopped"), nothing said the lock,
    and the next tries came on the backoff through it (a hunt)."""
    window = open_window("alice", backoff=Backoff(1.0, 2.0))
    engine = window.engine
    guesser = ClientEngine()
    try:
        for _ in range(3):
            with qtbot.waitSignal(guesser.login_failed, timeout=10_000):
                guesser.connect_to(server.host, server.port)
                guesser.login("alice", "wrong-guess")
    finally:
        guesser.close()
    with qtbot.waitSignal(engine.reconnect_scheduled, timeout=10_000):
        engine._conn._socket.abort()
    with qtbot.waitSignal(engine.reconnect_scheduled, timeout=10_000) as next_try:
        with qtbot.waitSignal(engine.login_failed, timeout=10_000) as refused:
            assert engine.reconnect_now()
    assert refused.args[0] == ErrorCode.LOCKED_OUT
    assert next_try.args[0] >= 5  # (the lock's 10 s, not the backoff's 1–2 s)
    assert re.fullmatch(r"Retrying in \d+ s — Login refused: too many failed logins",
                        window.state_label.text()), window.state_label.text()
    assert "locked" in window.state_label.toolTip()
    assert "locked" in texts(window, EVERYONE, MessageKind.ERROR)[-1]


def test_a_certificate_change_while_reconnecting_stays_on_the_status_line(qtbot, open_window,
                                                                         server):
    """The server came back with another certificate: the reconnect stopped, and the line
    said only "Disconnected" (the reason was in its tooltip)."""
    alice = open_window("alice")
    engine = alice.engine
    PinStore().pin(server.host, server.port, ":".join(["00"] * 32))  # as if it changed
    with qtbot.waitSignal(engine.reconnect_scheduled, timeout=10_000):
        engine._conn._socket.abort()
    with qtbot.waitSignal(engine.connection_failed, timeout=10_000,
                          check_params_cb=lambda code, _: code == "certificate_changed"):
        engine.reconnect_now()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)
    assert not engine.auto_reconnect
    assert alice.state_label.text() == (
        "Disconnected: The server's certificate changed, so the connection was refused")
    assert "Pinned:" in alice.state_label.toolTip()  # the fingerprints: not on the line
    assert not alice.reconnect_button.isVisibleTo(alice)
    # Everyone's last word said "Reconnecting by itself": it now says that it stopped.
    last = engine.conversation(EVERYONE).items()[-1].text
    assert last.startswith("Stopped reconnecting: The server's certificate changed")


def test_a_server_of_another_protocol_version_says_what_to_update_on_the_status_line(
        qtbot, open_window, server, monkeypatch):
    """The server was updated to a newer protocol version: the line said "Retrying in 30 s
    — The server refused the connection" for ever. The reconnects stop, and the line says
    which side is older and what to update."""
    alice = open_window("alice")
    engine = alice.engine
    monkeypatch.setattr(server_core, "PROTOCOL_VERSION", PROTOCOL_VERSION + 1)
    with qtbot.waitSignal(engine.connection_failed, timeout=10_000,
                          check_params_cb=lambda code, _: code == "version_mismatch"):
        engine._conn._socket.abort()
    qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED)
    assert not engine.auto_reconnect
    line = alice.state_label.text()
    assert line.startswith("Disconnected: ") and "update the app" in line
    assert not alice.reconnect_button.isVisibleTo(alice)


def test_history_loads_lazily_when_scrolled_to_the_top(qtbot, open_window):
    alice = open_window("alice")
    fill_cache(alice.engine, "charlie", 300)
    tab = alice.open_conversation("charlie")
    assert tab.model.rowCount() == 50  # the last page, at once
    assert tab.model.item(0).text == "message 251"
    qtbot.waitUntil(lambda: tab.view.verticalScrollBar().maximum() > 0)
    with qtbot.waitSignal(tab.model.older_loaded, timeout=1000):
        tab.view.verticalScrollBar().setValue(0)
    assert tab.model.rowCount() == 100 and tab.model.item(0).text == "message 201"
    # The view stays where the reader was: message 251 is still at the top edge.
    top = tab.view.indexAt(tab.view.viewport().rect().topLeft())
    assert top.data(ConversationModel.TextRole) == "message 251"


def test_find_highlights_and_steps_through_matches(qtbot, open_window):
    alice = open_window("alice")
    fill_cache(alice.engine, "charlie", 300)
    tab = alice.open_conversation("charlie")
    qtbot.waitUntil(tab.compose.hasFocus)  # the window is active
    qtbot.keyClick(tab.compose, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert tab.find_bar.isVisibleTo(tab) and tab.find_edit.hasFocus()
    qtbot.keyClicks(tab.find_edit, "MESSAGE 17")  # 17 and 170…179, ignoring case
    assert len(tab.matches) == 11 and tab.find_label.text() == "1 of 11 messages"
    assert tab.delegate.search_text == "MESSAGE 17" and tab.delegate.current_seq == 179
    qtbot.keyClick(tab.find_edit, Qt.Key.Key_Return)
    assert tab.delegate.current_seq == 178 and tab.find_label.text() == "2 of 11 messages"
    qtbot.keyClick(tab.find_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert tab.delegate.current_seq == 179
    qtbot.keyClick(tab.find_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    # Wrapped to the oldest match, message 17: its page was loaded from the cache.
    assert tab.delegate.current_seq == 17 and tab.find_label.text() == "11 of 11 messages"
    row = tab.model.row_of_seq(17)
    assert row is not None
    rect = tab.view.visualRect(tab.proxy.index(row, 0))
    assert tab.view.viewport().rect().intersects(rect)
    tab.view.grab()  # paints the highlight
    # The arrows go where they point (↓ went up): ↓ to a newer match, further down; ↑ to
    # an older one, further up, as Enter does.
    assert (tab.find_newer.text(), tab.find_older.text()) == ("↓", "↑")
    tab.find_newer.click()
    assert tab.delegate.current_seq == 170
    tab.find_older.click()
    assert tab.delegate.current_seq == 17
    # Nothing to go to: the arrows are off (they stayed on; noted by a hunt).
    qtbot.keyClicks(tab.find_edit, "no such words")
    assert not tab.matches and not tab.find_older.isEnabled()
    assert not tab.find_newer.isEnabled()
    qtbot.keyClick(tab.find_edit, Qt.Key.Key_Escape)
    assert not tab.find_bar.isVisibleTo(tab) and tab.delegate.search_text == ""


def start_typing(qtbot, typer, watcher) -> tuple:
    """``typer`` types "hel" in its tab with ``watcher``'s user; returns (the typer's tab,
    the watcher's tab) once the watcher's shows it."""
    watcher_tab = watcher.open_conversation(typer.engine.user)
    typer_tab = typer.open_conversation(watcher.engine.user)
    with qtbot.waitSignal(watcher.engine.typing_received, timeout=10_000):
        qtbot.keyClicks(typer_tab.compose, "hel")
    assert watcher_tab.typing_label.isVisibleTo(watcher_tab)
    return typer_tab, watcher_tab


def test_typing_indicator_shows_and_export_writes_lines(qtbot, open_window, tmp_path,
                                                        monkeypatch):
    alice = open_window("alice")
    bob = open_window("bob")
    alice_tab, bob_tab = start_typing(qtbot, alice, bob)
    assert bob_tab.typing_label.text() == "alice is typing…"
    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        qtbot.keyClicks(alice_tab.compose, "lo")
        qtbot.keyClick(alice_tab.compose, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
        qtbot.keyClicks(alice_tab.compose, "there")
        qtbot.keyClick(alice_tab.compose, Qt.Key.Key_Return)
    assert not bob_tab.typing_label.isVisibleTo(bob_tab)
    out = tmp_path / "bob.txt"
    alice.tabs.setCurrentWidget(alice_tab)
    job = alice.ask_export(str(out))
    assert alice_tab.export_bar.isVisibleTo(alice_tab)
    with qtbot.waitSignal(job.finished, timeout=10_000) as done:
        pass
    assert done.args == [1, True]  # one message; the server's whole history was asked
    assert alice_tab.export_label.text() == f"Exported 1 message to {out}."
    # ... and a way to the file (only a long path before).
    opened: list = []
    monkeypatch.setattr(conversation, "open_link", lambda url: opened.append(url) or True)
    assert alice_tab.export_folder_button.isVisibleTo(alice_tab)
    qtbot.mouseClick(alice_tab.export_folder_button, Qt.MouseButton.LeftButton)
    assert [u.toLocalFile() for u in opened] == [str(tmp_path)]
    lines = out.read_text(encoding="utf-8").splitlines()
    assert re.fullmatch(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] alice: hello", lines[0])
    assert lines[1] == "    there"


def roster_unread(window, name: str) -> int:
    model = window.engine.roster
    row = model.row_of(name)
    return 0 if row is None else model.data(model.index(row, 0), RosterModel.UnreadRole)


def test_find_far_back_loads_a_window_and_scrolling_fills_the_gap(qtbot, open_window):
    alice = open_window("alice")
    alice.engine.store.add_messages([CachedMessage(
        10, "charlie", 1_700_000_010.0, "charlie", "unicast", "the needle", "c10", ["alice"])])
    fill_cache(alice.engine, "charlie", 3000)  # (seq 10 is taken)
    tab = alice.open_conversation("charlie")
    model, view = tab.model, tab.view
    tab.open_find()
    qtbot.keyClicks(tab.find_edit, "NEEDLE")
    assert tab.matches == [10] and tab.delegate.current_seq == 10
    # Only a window around the match came in (and a gap row for the 2,915 in between).
    assert model.rowCount() == 35 + 1 + 50
    assert model.gap_rows() == [35]
    gap = model.gap_at(35)
    assert (gap.after, gap.before, gap.count) == (35, 2951, 2915)
    assert "2,915 messages not loaded" in gap.text
    match = tab.proxy.index(model.row_of_seq(10), 0)
    assert view.viewport().rect().intersects(view.visualRect(match))

    def y_of(seq: int) -> int:
        return view.visualRect(tab.proxy.index(model.row_of_seq(seq), 0)).top()

    # Reading down onto the gap: its oldest page comes in above it, the text stays put.
    view.scrollTo(tab.proxy.index(35, 0), view.ScrollHint.PositionAtBottom)
    y = y_of(35)
    qtbot.waitUntil(lambda: model.gap_at(model.gap_rows()[0]).after == 85)
    assert y_of(35) == y and model.row_of_seq(36) == 35
    # Scrolling up from the newest onto the gap: its newest page comes in below it, and the
    # message below it stays where it was.
    view.scrollToBottom()
    view.scrollTo(tab.proxy.index(model.gap_rows()[0], 0), view.ScrollHint.PositionAtTop)
    y = y_of(2951)
    qtbot.waitUntil(lambda: model.gap_at(model.gap_rows()[0]).before == 2901)
    assert y_of(2951) == y
    seqs = [i.seq for i in model.items() if i.seq is not None]
    assert seqs == list(range(1, 86)) + list(range(2901, 3001))  # in order, none twice
    assert model.gap_at(model.gap_rows()[0]).count == 2815
    view.grab()  # paints the gap row


def test_export_shows_progress_and_can_be_cancelled(qtbot, open_window, tmp_path):
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    type_line(qtbot, alice, "for the record")
    qtbot.waitUntil(lambda: own_state(alice, "bob") != DeliveryState.PENDING, timeout=10_000)
    out = tmp_path / "bob.txt"
    job = alice.ask_export(str(out))
    assert job.phase == "fetching"
    assert tab.export_bar.isVisibleTo(tab) and tab.export_button.text() == "Cancel"
    assert tab.export_label.text().startswith("Exporting to bob.txt: fetching the history")
    with qtbot.waitSignal(job.failed, timeout=1000) as failed:
        qtbot.mouseClick(tab.export_button, Qt.MouseButton.LeftButton)
    assert failed.args == ["Export cancelled."] and job.phase == "cancelled"
    assert tab.export_label.text() == "Export cancelled."
    assert list(tmp_path.glob("bob.txt*")) == []  # (nor its .part)
    qtbot.mouseClick(tab.export_button, Qt.MouseButton.LeftButton)  # ✕ dismisses
    assert not tab.export_bar.isVisibleTo(tab)


def test_closing_the_tab_during_an_export_and_reopening_it_shows_the_export(
        qtbot, open_window, tmp_path, monkeypatch):
    """alice exported her long conversation with bob, closed the tab (Ctrl+W) while it still
    fetched, and opened it again: the new tab showed no export bar at all (no progress, no
    Cancel, no "Exported …" at the end), and the closed tab's handlers, lambdas holding the
    widget and left connected to the job, ran on a deleted widget (RuntimeError at each
    progress step; a hunt)."""
    monkeypatch.setattr(engine_module, "EXPORT_PAGE", 10)
    bob = open_window("bob")
    alice = open_window("alice")
    for i in range(120):
        bob.engine.send_unicast("alice", f"news {i}")
    qtbot.waitUntil(lambda: alice.engine.store is not None
                    and alice.engine.store.count("bob") == 120, timeout=20_000)
    alice.open_conversation("bob")
    job = alice.ask_export(str(tmp_path / "bob.txt"))
    assert job is not None and job.phase == "fetching"
    assert alice.engine.export_of("bob") is job
    done: list[int] = []
    job.finished.connect(lambda n, _c: done.append(n))
    closed = alice.tabs.currentWidget()
    alice.close_tab(alice.tabs.currentIndex())  # Ctrl+W
    qtbot.waitUntil(lambda: not shiboken6.isValid(closed))  # (the closed tab is deleted)
    tab = alice.open_conversation("bob")
    assert tab.export_job is job and tab.export_bar.isVisible()
    assert tab.export_label.text().startswith("Exporting to bob.txt: fetching the history")
    qtbot.waitUntil(lambda: bool(done), timeout=20_000)
    assert done == [120] and alice.engine.export_of("bob") is None
    # The reopened tab says how the export ended, as the tab it was started in would have.
    assert tab.export_bar.isVisible()
    assert tab.export_label.text().startswith("Exported 120 messages")
    assert tab.export_folder_button.isVisible()


@pytest.mark.parametrize("fails", [False, True], ids=["written", "not written"])
def test_an_export_that_ends_with_its_tab_closed_says_so_in_the_status_bar(
        qtbot, open_window, tmp_path, monkeypatch, fails):
    """alice exported her long conversation with bob and closed the tab (Ctrl+W) while it
    still fetched: when the export ended, nothing said so anywhere — neither "Exported 120
    messages to …" nor that the file could not be written. The main window's status bar
    says it when no tab follows the export."""
    monkeypatch.setattr(engine_module, "EXPORT_PAGE", 10)
    bob = open_window("bob")
    alice = open_window("alice")
    for i in range(120):
        bob.engine.send_unicast("alice", f"news {i}")
    qtbot.waitUntil(lambda: alice.engine.store is not None
                    and alice.engine.store.count("bob") == 120, timeout=20_000)
    alice.open_conversation("bob")
    out = tmp_path / "bob.txt"
    if fails:
        out.mkdir()  # (a folder of that name: the file cannot take its place)
    job = alice.ask_export(str(out))
    assert job is not None and job.phase == "fetching"
    ended: list[str] = []
    job.finished.connect(lambda *_: ended.append("done"))
    job.failed.connect(ended.append)
    alice.close_tab(alice.tabs.currentIndex())  # Ctrl+W
    qtbot.waitUntil(lambda: bool(ended), timeout=20_000)
    shown = alice.statusBar().currentMessage()
    if fails:
        assert ended[0].startswith(f"Could not write {out}")
        assert shown == ended[0]
    else:
        assert shown == f"Exported 120 messages to {out}."


def cache_everyone(window, count: int) -> None:
    """``count`` messages of bob's in the window's cache of Everyone (none on the server)."""
    now = time.time()
    window.engine.store.add_messages([
        CachedMessage(seq=100_000 + i, conv=EVERYONE, ts=now - 10_000 + i, sender="bob",
                      scope="broadcast", text=f"line {i}", client_msg_id=f"cached-{i}")
        for i in range(count)])


def test_quitting_while_an_export_writes_leaves_no_part_file_and_raises_nothing(
        qtbot, open_window, tmp_path):
    """Conversation → Export… of a long conversation (more than EXPORT_CHUNK lines), then
    File → Quit while the file was being written: the window closed the local store, the
    export's next turn read the closed database (sqlite3.ProgrammingError raised in a slot)
    and its temporary ``.part`` file stayed in the user's folder for good (a hunt). The
    export is cancelled when the store closes: no ``.part``, the earlier file untouched."""
    alice = open_window("alice")
    cache_everyone(alice, EXPORT_CHUNK + 500)
    out = tmp_path / "everyone.txt"
    out.write_text("an earlier export\n", encoding="utf-8")
    job = alice.ask_export(str(out))
    assert job is not None
    failed: list[str] = []
    job.failed.connect(failed.append)

    def quit_between_chunks() -> None:
        if job.phase == "writing" and job.written >= EXPORT_CHUNK and alice.isVisible():
            alice.close()  # File → Quit between two chunks of the writing

    job.progress.connect(quit_between_chunks)
    qtbot.waitUntil(lambda: not alice.isVisible(), timeout=10_000)
    qtbot.waitUntil(lambda: alice.engine.state is ConnectionState.DISCONNECTED)
    qtbot.waitUntil(lambda: bool(failed), timeout=5_000)
    assert failed[0].startswith("Export cancelled: ")
    assert [f.name for f in tmp_path.glob("everyone.txt*")] == ["everyone.txt"]  # (no .part)
    assert out.read_text(encoding="utf-8") == "an earlier export\n"


def test_quitting_while_an_export_fetches_does_not_leave_a_truncated_file(
        qtbot, open_window, tmp_path):
    """Export… of a conversation whose cache holds thousands of messages, then File → Quit
    while the export still asked the server for pages: the window closed the store first,
    the link closed after, and the export then wrote "what the window shows" (the last page
    loaded) as if it were finished, to the path the user chose, replacing the file there: a
    few dozen lines stood for a conversation of thousands, and nobody was told (a hunt).
    The export is cancelled instead, and the file there is left as it was."""
    alice = open_window("alice")
    cache_everyone(alice, EXPORT_CHUNK + 500)
    out = tmp_path / "everyone.txt"
    out.write_text("an earlier export\n", encoding="utf-8")
    job = alice.ask_export(str(out))
    assert job is not None and job.phase == "fetching"
    failed: list[str] = []
    job.failed.connect(failed.append)
    alice.close()  # File → Quit
    qtbot.waitUntil(lambda: alice.engine.state is ConnectionState.DISCONNECTED)
    qtbot.waitUntil(lambda: bool(failed), timeout=5_000)
    assert failed[0].startswith("Export cancelled: ")
    assert [f.name for f in tmp_path.glob("everyone.txt*")] == ["everyone.txt"]  # (no .part)
    assert out.read_text(encoding="utf-8") == "an earlier export\n"


def test_a_restarted_app_marks_cached_messages_read_when_their_tab_is_shown(
        qtbot, open_window):
    alice = open_window("alice")
    bob = open_window("bob")
    alice.open_conversation("bob")
    type_line(qtbot, alice, "did you see this?")
    type_line(qtbot, alice, "and this?")

    def states() -> list[DeliveryState]:
        return [i.state for i in alice.engine.conversation("bob").items()
                if i.kind is MessageKind.OWN]

    qtbot.waitUntil(lambda: states() == [DeliveryState.DELIVERED] * 2, timeout=10_000)
    assert roster_unread(bob, "alice") == 2  # bob never opened the tab
    bob.close()  # quits (logs out); the next start uses the same local store
    again = open_window("bob")
    qtbot.waitUntil(lambda: roster_unread(again, "alice") == 2, timeout=10_000)
    again.open_conversation("alice")  # shown: read receipts go out
    qtbot.waitUntil(lambda: states() == [DeliveryState.READ] * 2, timeout=10_000)
    assert roster_unread(again, "alice") == 0
    assert painted_ticks(alice, "bob", 1) == "read"



def test_a_restarted_app_counts_every_unread_message_and_opens_at_the_first(
        qtbot, open_window):
    """More unread messages than one cached page: the badge counts them all after a
    restart, and the tab opens at the "New messages" line above the first of them."""
    alice = open_window("alice")
    bob = open_window("bob")
    for n in range(130):
        alice.engine.send_unicast("bob", f"number {n}")
    qtbot.waitUntil(lambda: roster_unread(bob, "alice") == 130, timeout=10_000)
    bob.close()
    again = open_window("bob")
    qtbot.waitUntil(lambda: roster_unread(again, "alice") == 130, timeout=10_000)
    assert again.engine.unread(peer_key("alice")) == 130
    first = again.engine.first_unread(peer_key("alice"))
    tab = again.open_conversation("alice")
    model = tab.model
    assert model.row_of_seq(first) is not None  # loaded from the cache to show the line
    assert model.data(model.index(model.row_of_seq(first), 0),
                      ConversationModel.TextRole) == "number 0"
    assert tab.delegate.unread_seq == first
    marked = tab.view.visualRect(tab.proxy.index(model.row_of_seq(first), 0))
    assert tab.view.viewport().rect().intersects(marked)
    assert roster_unread(again, "alice") == 0

    def read() -> int:
        return sum(i.state is DeliveryState.READ
                   for i in alice.engine.conversation("bob").items()
                   if i.kind is MessageKind.OWN)

    qtbot.waitUntil(lambda: read() == 130, timeout=10_000)


def test_a_message_arriving_while_reading_older_ones_stays_unread_until_seen(
        qtbot, open_window):
    alice = open_window("alice")
    bob = open_window("bob")
    bob.activateWindow()
    tab = bob.open_conversation("alice")
    for n in range(60):
        alice.engine.send_unicast("bob", f"line {n}\nof text")
    qtbot.waitUntil(lambda: tab.model.rowCount() >= 60, timeout=10_000)
    qtbot.waitUntil(lambda: bob.engine.unread(peer_key("alice")) == 0)
    tab.view.scrollToTop()
    qtbot.waitUntil(lambda: not tab.at_latest)
    alice.engine.send_unicast("bob", "while you read")
    qtbot.waitUntil(lambda: tab.jump_button.isVisibleTo(tab), timeout=10_000)
    qtbot.waitUntil(lambda: bob.engine.unread(peer_key("alice")) == 1)
    last = alice.engine.conversation("bob")

    def state() -> DeliveryState:
        return [i.state for i in last.items() if i.kind is MessageKind.OWN][-1]

    qtbot.waitUntil(lambda: state() is DeliveryState.DELIVERED, timeout=10_000)
    assert roster_unread(bob, "alice") == 1
    qtbot.mouseClick(tab.jump_button, Qt.MouseButton.LeftButton)  # "↓ 1 new"
    assert bob.engine.unread(peer_key("alice")) == 0
    qtbot.waitUntil(lambda: state() is DeliveryState.READ, timeout=10_000)


def test_typing_the_next_message_right_after_sending_one_shows_typing_again(qtbot,
                                                                           open_window):
    """alice sent "hello" and at once typed her next message: bob's "alice is typing…",
    gone with the message, did not come back for up to 3 s (her app, and the server, still
    counted the "typing" sent for "hello"), so a quick "ok" and "see you" read as silence."""
    alice = open_window("alice")
    bob = open_window("bob")
    alice_tab, bob_tab = start_typing(qtbot, alice, bob)
    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        qtbot.keyClicks(alice_tab.compose, "lo")
        qtbot.keyClick(alice_tab.compose, Qt.Key.Key_Return)
    assert not bob_tab.typing_label.isVisibleTo(bob_tab)
    with qtbot.waitSignal(bob.engine.typing_received, timeout=2_500):
        qtbot.keyClicks(alice_tab.compose, "and")
    assert bob_tab.typing_label.text() == "alice is typing…"
    assert bob_tab.typing_label.isVisibleTo(bob_tab)


def test_typing_indicator_goes_when_the_typer_goes_offline(qtbot, open_window):
    """"bob is typing…" stayed for its 6 s under "last seen just now" when bob's app went
    offline mid-sentence."""
    bob = open_window("bob")
    alice = open_window("alice")
    _bob_tab, tab = start_typing(qtbot, bob, alice)
    with qtbot.waitSignal(alice.engine.presence_changed, timeout=10_000):
        bob.engine.close()  # bob quits (or his link drops) mid-sentence
    assert tab.status() == "last seen just now"
    assert not tab.typing_label.isVisibleTo(tab)


def test_clicking_send_leaves_the_typing_in_the_message_box(qtbot, open_window):
    alice = open_window("alice")
    tab = alice.open_conversation("bob")
    tab.compose.setFocus()
    qtbot.waitUntil(tab.compose.hasFocus)
    qtbot.keyClicks(tab.compose, "first")
    qtbot.mouseClick(tab.send_button, Qt.MouseButton.LeftButton)
    assert tab.compose.toPlainText() == "" and tab.compose.hasFocus()
    qtbot.keyClicks(tab.compose, "second")
    assert tab.compose.toPlainText() == "second"


def test_an_older_page_from_the_server_keeps_what_the_reader_looks_at(qtbot, open_window):
    """The reader scrolls to the top (a page is asked from the server), then a bit down
    again before it arrives: the page comes in above without moving what is on screen."""
    first = open_window("alice")
    for n in range(120):
        first.engine.send_unicast("charlie", f"line {n}")
    qtbot.waitUntil(lambda: not first.engine.store.outbox(), timeout=10_000)
    path = first.engine.store.path
    first.close()
    db = sqlite3.connect(path)
    with db:  # this computer's cache only holds the newest 50, and is caught up
        db.execute("DELETE FROM messages WHERE conv = 'charlie' AND seq NOT IN (SELECT seq"
                   " FROM messages WHERE conv = 'charlie' ORDER BY seq DESC LIMIT 50)")
        db.execute("INSERT OR REPLACE INTO meta (key, value) SELECT 'resume:charlie',"
                   " MAX(seq) FROM messages WHERE conv = 'charlie'")
    db.close()
    alice = open_window("alice")
    tab = alice.open_conversation("charlie")
    assert tab.model.rowCount() == 50
    bar = tab.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 200)
    with qtbot.waitSignal(alice.engine.history_loaded, timeout=10_000):
        bar.setValue(0)  # asks the server for the page above
        bar.setValue(120)  # and the reader scrolls on meanwhile
        top = tab.view.indexAt(tab.view.viewport().rect().topLeft())
        text, y = top.data(ConversationModel.TextRole), tab.view.visualRect(top).top()
    assert tab.model.rowCount() == 100
    now = tab.view.indexAt(tab.view.viewport().rect().topLeft())
    assert now.data(ConversationModel.TextRole) == text
    assert tab.view.visualRect(now).top() == y


def test_own_messages_caught_up_after_a_restart_keep_their_read_ticks(qtbot, open_window):
    """The restarted app's catch-up brings back own messages older than the page it shows
    from the cache: they keep the ticks the cache has ("read"), not the page's bare copy."""
    alice = open_window("alice")
    bob = open_window("bob")
    bob.engine.send_unicast("alice", "hi alice")  # alice's cursor for bob starts here
    key = peer_key("bob")
    qtbot.waitUntil(lambda: texts(alice, key, MessageKind.OTHER) == ["hi alice"],
                    timeout=10_000)
    for n in range(60):
        alice.engine.send_unicast("bob", f"line {n}")
    qtbot.waitUntil(lambda: len(texts(bob, peer_key("alice"), MessageKind.OTHER)) == 60,
                    timeout=10_000)
    bob.engine.mark_read(peer_key("alice"))
    qtbot.waitUntil(lambda: [m.state for m in alice.engine.store.page(key, limit=100)
                             if m.sender == "alice"] == ["read"] * 60, timeout=10_000)
    top = alice.engine.store.page(key, limit=1)[-1].seq
    alice.close()

    again = open_window("alice")
    qtbot.waitUntil(lambda: again.engine.store.get_meta(f"resume:{key}") == str(top),
                    timeout=10_000)  # caught up: the 60 came back in its page
    model = again.engine.conversation(key)
    while model.canFetchMore():
        rows = model.rowCount()
        model.fetchMore()
        qtbot.waitUntil(lambda rows=rows: model.rowCount() > rows or not model.canFetchMore(),
                        timeout=5000)
    own = [i for i in model.items() if i.kind is MessageKind.OWN]
    assert [i.text for i in own] == [f"line {n}" for n in range(60)]
    assert {i.state for i in own} == {DeliveryState.READ}


def test_messages_read_offline_stay_read_after_a_restart_and_their_receipts_go(
        qtbot, server, make_server, open_window):
    alice = open_window("alice")
    bob = open_window("bob")
    for n in range(2):
        alice.engine.send_unicast("bob", f"hello {n}")
    qtbot.waitUntil(lambda: bob.engine.unread(peer_key("alice")) == 2, timeout=10_000)
    server.close()  # the server goes away for a while
    qtbot.waitUntil(lambda: bob.engine.state is not ConnectionState.LOGGED_IN
                    and alice.engine.state is not ConnectionState.LOGGED_IN, timeout=10_000)
    bob.open_conversation("alice")  # bob reads them meanwhile
    assert bob.engine.unread(peer_key("alice")) == 0
    bob.close()  # ... and quits before the server is back

    make_server(data_dir=server.data_dir, port=server.port)
    again = open_window("bob")
    assert again.engine.unread(peer_key("alice")) == 0  # read here, also after the restart
    # alice's app reconnects by itself; bob's restarted app sent the receipts at its login.
    qtbot.waitUntil(lambda: alice.engine.logged_in, timeout=15_000)
    qtbot.waitUntil(lambda: [i.state for i in alice.engine.conversation("bob").items()
                             if i.kind is MessageKind.OWN] == [DeliveryState.READ] * 2,
                    timeout=10_000)


def test_a_refusal_shown_in_the_tab_in_view_is_not_repeated_in_the_status_bar(
        qtbot, open_window):
    alice = open_window("alice")
    tab = alice.open_conversation("zed")
    with qtbot.waitSignal(alice.engine.request_failed, timeout=10_000):
        alice.engine.send_unicast("zed", "anyone there?")  # refused: no such user
    assert tab.failed_bar.isVisible() and tab.failed_label.text() == "1 message not sent."
    assert alice.statusBar().currentMessage() == ""


def test_messages_held_back_by_the_flood_limit_say_why(qtbot, make_server, tmp_path):
    """With the server's send limit reached, messages sat with their clocks and nothing
    said why (a GUI review): the status bar says so, and they go by themselves."""
    from messenger.gui.main_window import MainWindow

    slow = make_server(demo=True, max_send_rate=1.0)  # bursts of ten
    engine = ClientEngine(data_dir=tmp_path / "alice")
    with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
        engine.connect_to(slow.host, slow.port)
        engine.login("alice", "alice123")
    window = MainWindow(engine)
    qtbot.addWidget(window)
    with qtbot.waitSignal(engine.send_delayed, timeout=10_000):
        for n in range(12):
            engine.send_unicast("bob", f"quick {n}")
    assert "Sending slowed down by the server" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not engine.store.outbox(), timeout=10_000)
    engine.close()


def test_a_message_that_cannot_be_kept_on_this_computer_stays_in_the_box(qtbot, open_window):
    """On a full disk a message typed and sent vanished without a word: the box cleared, no
    bubble, no error, nothing in the outbox (a client hunt). It is not sent (it could be
    lost), the conversation says why, and the text goes back in the box."""
    alice = open_window("alice")
    alice.open_conversation("bob")
    tab = alice.conversation_widget("bob")
    db = alice.engine.store._db
    db.execute("PRAGMA query_only = 1")  # (SQLite refuses every write, as on a full disk)
    qtbot.keyClicks(tab.compose, "lunch at 12?")
    qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    assert tab.compose.toPlainText() == "lunch at 12?"
    assert texts(alice, "bob", MessageKind.OWN) == []
    (error,) = [t for t in texts(alice, "bob", MessageKind.ERROR)]
    assert error.startswith("Not sent: it could not be saved on this computer (attempt to "
                            "write a readonly database)"), error
    assert alice.engine.store.outbox() == []
    db.execute("PRAGMA query_only = 0")  # (space again)
    with qtbot.waitSignal(alice.engine.message_acked, timeout=10_000):
        qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    assert texts(alice, "bob", MessageKind.OWN) == ["lunch at 12?"]


def test_a_message_not_kept_goes_back_in_the_box_it_was_typed_in_with_its_reply(
        qtbot, open_window):
    """The text put back was the last one sent from the *recipient's* tab (a review): a
    "/msg bob …" typed in Everyone on a full disk was lost, and bob's box got back a message
    sent long before (Enter sent it twice). A reply lost what it answered."""
    alice, bob = open_window("alice"), open_window("bob")
    tab = alice.open_conversation("bob")
    with qtbot.waitSignal(alice.engine.message_acked, timeout=10_000):
        qtbot.keyClicks(tab.compose, "hello (sent long ago)")
        qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    with qtbot.waitSignal(alice.engine.message_received, timeout=10_000):
        bob.engine.send_unicast("alice", "lunch?")
    everyone = alice.open_conversation(EVERYONE)
    db = alice.engine.store._db
    db.execute("PRAGMA query_only = 1")  # (a full disk)
    qtbot.keyClicks(everyone.compose, "/msg bob the new plan")
    qtbot.keyClick(everyone.compose, Qt.Key.Key_Return)
    assert everyone.compose.toPlainText() == "/msg bob the new plan"
    assert tab.compose.toPlainText() == ""

    tab.reply("bob", "lunch?")
    qtbot.keyClicks(tab.compose, "yes")
    qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    assert tab.compose.toPlainText() == "yes" and tab.reply_to == ("bob", "lunch?")
    assert tab.reply_bar.isVisibleTo(tab)
    db.execute("PRAGMA query_only = 0")
    with qtbot.waitSignal(alice.engine.message_acked, timeout=10_000):
        qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    assert texts(alice, "bob", MessageKind.OWN)[-1].endswith("yes")
    assert texts(alice, "bob", MessageKind.OWN)[-1] != "yes"  # (with its quote line)
    assert texts(alice, "bob", MessageKind.OWN).count("hello (sent long ago)") == 1


def test_a_korean_match_written_as_conjoining_jamo_is_lit_where_it_is_counted(
        qtbot, open_window):
    """bob pasted Korean text from a file saved on macOS (NFD: Hangul syllables as
    conjoining jamo, which are not combining marks). alice's Ctrl+F "한국" counted it
    ("1 of 1 message") but lit nothing in the bubble: the delegate's ``find_spans`` folded
    the text a character and its combining marks at a time, and a lone jamo does not
    compose (a hunt)."""
    bob = open_window("bob")
    alice = open_window("alice")
    bob.engine.send_unicast("alice", unicodedata.normalize("NFD", "한국어 회의는 3시에"))
    tab = alice.open_conversation("bob")
    model = alice.engine.conversation(peer_key("bob"))
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=10_000)
    tab.open_find()
    tab.find_edit.insert("한국")  # (typed with an IME: keyClicks cannot type it)
    assert tab.find_label.text() == "1 of 1 message"
    shown = model.item(model.row_of_seq(tab.delegate.current_seq)).text
    assert find_spans(shown, tab.delegate.search_text) == [(0, 6)]  # what the bubble lights


def test_a_match_that_arrives_while_the_find_bar_is_open_counts_and_is_reached(
        qtbot, open_window):
    """A new "lunch" arrived while "lunch" was being found: lit, but the bar still said
    "1 of 1" and Enter never reached it (a groups hunt)."""
    alice, bob = open_window("alice"), open_window("bob")
    tab = alice.open_conversation("bob")
    with qtbot.waitSignal(alice.engine.message_received, timeout=10_000):
        bob.engine.send_unicast("alice", "lunch?")
    tab.open_find()
    qtbot.keyClicks(tab.find_edit, "lunch")
    assert tab.find_label.text() == "1 of 1 message"
    with qtbot.waitSignal(alice.engine.message_received, timeout=10_000):
        bob.engine.send_unicast("alice", "lunch at 12 then")
    new_seq = tab.model.items()[-1].seq
    # (Counted again once the burst is in; the current one stays current.)
    qtbot.waitUntil(lambda: tab.find_label.text() == "2 of 2 messages")
    qtbot.keyClick(tab.find_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert tab.delegate.current_seq == new_seq
    assert tab.find_label.text() == "1 of 2 messages"

    # Receipts and ticks do not search again (each search reads the whole cache: a burst
    # of 50 receipts froze a 100,000-message window for seconds; a review); an edit does.
    searches: list[str] = []
    find = tab.model.find
    tab.model.find = lambda text: searches.append(text) or find(text)
    with qtbot.waitSignal(alice.engine.message_acked, timeout=10_000):
        alice.engine.send_unicast("bob", "see you")
    qtbot.waitUntil(lambda: len(searches) == 2)  # (it came, then its seq: it may match)
    mine = tab.model.items()[-1].seq
    for _ in range(50):
        tab.model.set_receipts(mine, "delivered", ["bob"], [])
    assert not tab._matches_check.isActive()  # (no search is due)
    assert tab.model.set_text(mine, "lunch? see you", edited=time.time())
    qtbot.waitUntil(lambda: tab.find_label.text().endswith(" 3 messages"))
    assert len(searches) == 3


def test_typing_indicator_goes_when_our_own_link_drops(qtbot, open_window):
    """"bob is typing…" stayed for its 6 s under "Disconnected" when alice's own link
    dropped (noted by a hunt): nothing is known of typing while not logged in."""
    bob = open_window("bob")
    alice = open_window("alice")
    _bob_tab, tab = start_typing(qtbot, bob, alice)
    with qtbot.waitSignal(alice.engine.state_changed, timeout=10_000):
        alice.engine._conn._socket.abort()  # (alice's laptop loses the Wi-Fi)
    assert not tab.typing_label.isVisibleTo(tab)


def test_typing_a_command_to_someone_else_does_not_say_typing_to_this_tab_s_person(
        qtbot, server, open_window):
    """In bob's tab, alice types "/msg charlie …" (or /users, /quit): bob's app shows
    "alice is typing…" although nothing she types goes to him, and he waits for a message
    that never comes (the tab says it is typing at every change of a non-blank box,
    ConversationWidget._on_compose_changed, commands included)."""
    bob = connect_as(qtbot, server, "bob", "bob123")
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    window = open_window("alice")
    tab = window.open_conversation("bob")
    qtbot.keyClicks(tab.compose, "/msg charlie the surprise party for bob is at 8")
    qtbot.keyClick(tab.compose, Qt.Key.Key_Return)
    charlie.wait_for(lambda f: isinstance(f, Message) and f.sender == "alice")
    # A message to bob after it: anything sent to him before has reached him by then.
    window.engine.send_unicast("bob", "hi")
    bob.wait_for(lambda f: isinstance(f, Message) and f.text == "hi")
    assert not any(isinstance(f, Typing) for f in bob.frames), \
        "bob was told alice was typing to him"


def test_a_hebrew_message_of_several_lines_is_flush_right_in_its_bubble(
        qtbot, open_window, tmp_path):
    """A right-to-left paragraph (Hebrew, Arabic) starts each line at the right. In the
    bubble only its first line does: the wrapped lines after it hug the *left* edge with a
    ragged right, as if it were English (the bubble's QTextLayout is aligned left whatever
    the text's direction, BubbleDelegate._layout). Seen in the grab saved beside the test's
    files."""
    bob = open_window("bob")
    alice = open_window("alice")
    alice.resize(600, 500)
    text = ("שלום לכולם, מה שלומכם היום? זה טקסט ארוך יותר כדי לראות איך הוא נשבר "
            "לשורות בתוך הבועה של ההודעה")
    bob.engine.send_unicast("alice", text)
    tab = alice.open_conversation("bob")
    qtbot.waitUntil(lambda: texts(alice, peer_key("bob"), MessageKind.OTHER) == [text])
    tab.grab().save(str(tmp_path / "hebrew.png"))
    model = alice.engine.conversation(peer_key("bob"))
    row = next(r for r in range(model.rowCount()) if model.item(r).kind is MessageKind.OTHER)
    index = tab.proxy.index(row, 0)
    option = QStyleOptionViewItem()
    option.font = tab.view.font()
    option.rect = tab.view.visualRect(index)
    body = tab.delegate._measure(option, index).body
    assert body.lineCount() >= 2
    # Where each line begins: a right-to-left line's first character is at its right end.
    starts = [body.lineAt(i).cursorToX(body.lineAt(i).textStart())[0]
              for i in range(body.lineCount())]
    assert max(starts) - min(starts) < 1.0, f"lines begin at x = {starts}"


def test_the_tooltip_over_an_own_group_message_follows_its_receipts(qtbot, server,
                                                                      open_window):
    """The pointer resting on your message in a group, its tooltip saying "delivered to 0
    of 2": as the members' apps got it and they read it, the tooltip kept saying so until
    the pointer moved away and back. It now says "delivered to 2 of 2, read by 1" as the
    receipts come."""
    core = server.server.core
    core.groups.create("alice", "lab", [], True)
    for member in ("bob", "charlie"):
        core.groups.join(member, "lab")
    server.server.store.commit()
    alice = open_window("alice")
    qtbot.waitUntil(lambda: "lab" in alice.engine.groups.names())
    widget = alice.open_group("lab")
    alice.tabs.setCurrentWidget(widget)
    model = widget.model
    alice.engine.send_group("lab", "lunch at noon?")
    qtbot.waitUntil(lambda: any(it.text == "lunch at noon?" and it.counts
                                for it in model.items()))
    row = next(r for r, it in enumerate(model.items()) if it.text == "lunch at noon?")
    view = widget.view
    view.scrollTo(model.index(row, 0))
    at = view.visualRect(model.index(row, 0)).center()
    QApplication.sendEvent(view.viewport(), QHelpEvent(
        QEvent.Type.ToolTip, at, view.viewport().mapToGlobal(at)))
    qtbot.waitUntil(QToolTip.isVisible)
    try:
        assert "delivered to 0 of 2" in QToolTip.text()
        bob = connect_as(qtbot, server, "bob", "bob123")
        charlie = connect_as(qtbot, server, "charlie", "charlie123")
        seq = bob.wait_for(lambda f: isinstance(f, Message)).seq
        charlie.wait_for(lambda f: isinstance(f, Message))
        bob.send(Read(seqs=[seq]))
        qtbot.waitUntil(lambda: model.item(row).counts == (2, 1, 2))
        assert QToolTip.isVisible()
        assert "delivered to 2 of 2, read by 1" in QToolTip.text(), QToolTip.text()
    finally:
        QToolTip.hideText()
