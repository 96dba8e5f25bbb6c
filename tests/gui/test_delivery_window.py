"""The window side of delivery: ticks, Retry on a failed message, the reconnect status, lazy
history, find, typing indicator and export."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QStyleOptionViewItem

from messenger.client.engine import ClientEngine
from messenger.client.localstore import CachedMessage
from messenger.client.models import ConversationModel, DeliveryState
from messenger.gui.delegates import TICKS

from .conftest import type_line


def own_state(window, key: str, row: int = -1) -> DeliveryState:
    widget = window.conversation_widget(key)
    last = widget.proxy.index(row % widget.proxy.rowCount(), 0)
    return DeliveryState(last.data(ConversationModel.StateRole))


def painted_ticks(window, key: str, row: int = -1) -> str:
    widget = window.conversation_widget(key)
    index = widget.proxy.index(row % widget.proxy.rowCount(), 0)
    option = QStyleOptionViewItem()
    option.initFrom(widget.view)
    return widget.delegate._measure(option, index).ticks.strip()


def fill_cache(engine: ClientEngine, key: str, count: int) -> None:
    engine.store.add_messages([
        CachedMessage(seq, key, 1_700_000_000.0 + seq, key, "unicast", f"message {seq}",
                      f"c{seq}", [engine.user]) for seq in range(1, count + 1)])


def test_ticks_go_clock_one_two_and_green_when_read(qtbot, open_window):
    alice = open_window("alice")
    bob = open_window("bob")
    alice.open_conversation("bob")
    type_line(qtbot, alice, "tick tock")
    assert painted_ticks(alice, "bob") in (TICKS[DeliveryState.PENDING],
                                           TICKS[DeliveryState.SENT])
    qtbot.waitUntil(lambda: own_state(alice, "bob") == DeliveryState.DELIVERED, timeout=10_000)
    assert painted_ticks(alice, "bob") == "✓✓"
    bob.open_conversation("alice")  # bob's current tab shows it: a read receipt goes out
    bob.engine.mark_read("alice")
    qtbot.waitUntil(lambda: own_state(alice, "bob") == DeliveryState.READ, timeout=10_000)
    widget = alice.conversation_widget("bob")
    tip = widget.proxy.index(widget.proxy.rowCount() - 1, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert tip.endswith("(read)")
    widget.view.grab()  # paints every state without errors


def test_retry_on_a_failed_message(qtbot, server, open_window):
    alice = open_window("alice")
    tab = alice.open_conversation("zed")
    with qtbot.waitSignal(alice.engine.request_failed, timeout=10_000):
        type_line(qtbot, alice, "are you there yet?")
    assert own_state(alice, "zed", 0) == DeliveryState.FAILED
    assert painted_ticks(alice, "zed", 0).startswith("✗ not sent")
    assert tab.failed_bar.isVisibleTo(tab) and "1 message not sent" in tab.failed_label.text()
    menu = tab.message_menu(0)
    assert [a.text() for a in menu.actions()] == ["Copy text", "Retry", "Delete"]
    # Zed signs up; Retry now goes through with the same client_msg_id.
    zed = ClientEngine()
    with qtbot.waitSignal(zed.login_succeeded, timeout=10_000):
        zed.connect_to(server.host, server.port)
        zed.register("zed", "zed-secret")
    with qtbot.waitSignal(zed.message_received, timeout=10_000) as got:
        qtbot.mouseClick(tab.retry_button, Qt.MouseButton.LeftButton)
    assert got.args[1].text == "are you there yet?"
    qtbot.waitUntil(lambda: own_state(alice, "zed", 0) != DeliveryState.PENDING)
    assert own_state(alice, "zed", 0) in (DeliveryState.SENT, DeliveryState.DELIVERED)
    assert not tab.failed_bar.isVisibleTo(tab)
    assert alice.engine.store.outbox() == []
    zed.close()


def test_delete_on_a_failed_message(qtbot, open_window):
    alice = open_window("alice")
    tab = alice.open_conversation("ghost")
    with qtbot.waitSignal(alice.engine.request_failed, timeout=10_000):
        type_line(qtbot, alice, "boo")
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
    assert len(tab.matches) == 11 and tab.find_label.text() == "1 of 11"
    assert tab.delegate.search_text == "MESSAGE 17" and tab.delegate.current_seq == 179
    qtbot.keyClick(tab.find_edit, Qt.Key.Key_Return)
    assert tab.delegate.current_seq == 178 and tab.find_label.text() == "2 of 11"
    qtbot.keyClick(tab.find_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert tab.delegate.current_seq == 179
    qtbot.keyClick(tab.find_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    # Wrapped to the oldest match, message 17: its page was loaded from the cache.
    assert tab.delegate.current_seq == 17 and tab.find_label.text() == "11 of 11"
    row = tab.model.row_of_seq(17)
    assert row is not None
    rect = tab.view.visualRect(tab.proxy.index(row, 0))
    assert tab.view.viewport().rect().intersects(rect)
    tab.view.grab()  # paints the highlight
    qtbot.keyClick(tab.find_edit, Qt.Key.Key_Escape)
    assert not tab.find_bar.isVisibleTo(tab) and tab.delegate.search_text == ""


def test_typing_indicator_shows_and_export_writes_lines(qtbot, open_window, tmp_path):
    alice = open_window("alice")
    bob = open_window("bob")
    bob_tab = bob.open_conversation("alice")
    alice_tab = alice.open_conversation("bob")
    with qtbot.waitSignal(bob.engine.typing_received, timeout=10_000):
        qtbot.keyClicks(alice_tab.compose, "hel")
    assert bob_tab.typing_label.isVisibleTo(bob_tab)
    assert bob_tab.typing_label.text() == "alice is typing…"
    with qtbot.waitSignal(bob.engine.message_received, timeout=10_000):
        qtbot.keyClicks(alice_tab.compose, "lo")
        qtbot.keyClick(alice_tab.compose, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
        qtbot.keyClicks(alice_tab.compose, "there")
        qtbot.keyClick(alice_tab.compose, Qt.Key.Key_Return)
    assert not bob_tab.typing_label.isVisibleTo(bob_tab)
    out = tmp_path / "bob.txt"
    alice.tabs.setCurrentWidget(alice_tab)
    count, _complete = alice.ask_export(str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert count == 1
    assert re.fullmatch(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] alice: hello", lines[0])
    assert lines[1] == "    there"
