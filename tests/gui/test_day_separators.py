"""Day separators in a conversation: "Today", "Yesterday", weekdays, dates; the first item of
each day gets one, transfer cards and gaps are looked past, and they are drawn again when the
date changes."""

from __future__ import annotations

import time

from gui.conftest import texts, type_line
from helpers.zones import local_zone, zone_with_midnight_in
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QListView, QStyleOptionViewItem

from messenger.client.models import (
    ChatItem,
    ConversationModel,
    DeliveryState,
    MessageKind,
    gap_item,
)
from messenger.gui import main_window
from messenger.gui.delegates import BubbleDelegate, day_label


def at(days_ago: int, hour: int, minute: int = 0) -> float:
    """Unix seconds of ``hour:minute`` local time, ``days_ago`` calendar days ago."""
    t = time.localtime()
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday - days_ago, hour, minute, 0, 0, 0, -1))


def test_day_label():
    now = time.mktime((2026, 12, 5, 12, 0, 0, 0, 0, -1))  # a Saturday

    def day(d: int, month: int = 12, year: int = 2026) -> float:
        return time.mktime((year, month, d, 23, 59, 0, 0, 0, -1))

    assert day_label(time.mktime((2026, 12, 5, 0, 0, 1, 0, 0, -1)), now) == "Today"
    assert day_label(day(4), now) == "Yesterday"
    assert day_label(day(30, 11), now) == "Monday"
    assert day_label(day(28, 11), now) == "28 November"
    assert day_label(day(31, 12, 2025), now) == "31 December 2025"


def test_the_first_item_of_each_day_gets_a_separator(qtbot):
    model = ConversationModel("bob", "bob")
    model.prepend([
        ChatItem(MessageKind.OTHER, "bob", "last year", ts=at(400, 9), seq=1),
        ChatItem(MessageKind.OTHER, "bob", "yesterday morning", ts=at(1, 9), seq=2),
        ChatItem(MessageKind.OWN, "alice", "yesterday evening", ts=at(1, 21), seq=3),
        ChatItem(MessageKind.OTHER, "bob", "today", ts=at(0, 0, 1), seq=4),
    ])
    model.add_transfer("t1", "bob", "clip.mp4", ts=at(0, 0, 2))
    model.append(ChatItem(MessageKind.OTHER, "bob", "after the card", ts=at(0, 0, 3), seq=5))
    view = QListView()
    qtbot.addWidget(view)
    view.setModel(model)
    delegate = BubbleDelegate(view)
    view.setItemDelegate(delegate)
    view.resize(500, 400)

    days = [delegate.day_separator(model.index(r, 0)) for r in range(model.rowCount())]
    assert days[1:] == ["Yesterday", "", "Today", "", ""]
    assert days[0] and days[0] not in ("Today", "Yesterday")
    option = QStyleOptionViewItem()
    option.font = view.font()
    tall = delegate.sizeHint(option, model.index(3, 0)).height()   # "today", with separator
    plain = delegate.sizeHint(option, model.index(5, 0)).height()  # same text size, without
    assert tall - plain == BubbleDelegate.DAY_HEIGHT


def test_a_gap_is_looked_past(qtbot):
    model = ConversationModel("bob", "bob")
    model.prepend([ChatItem(MessageKind.OTHER, "bob", "a", ts=at(0, 0, 1), seq=1),
                   gap_item(1, 9, 7),
                   ChatItem(MessageKind.OTHER, "bob", "b", ts=at(0, 0, 2), seq=9)])
    view = QListView()
    qtbot.addWidget(view)
    view.setModel(model)
    delegate = BubbleDelegate(view)
    view.setItemDelegate(delegate)
    assert [delegate.day_separator(model.index(r, 0)) for r in range(3)] == ["Today", "", ""]


class _Paints(QObject):
    """Notes the local date each time a widget it filters is painted."""

    def __init__(self) -> None:
        super().__init__()
        self.days: list[tuple[int, ...]] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.days.append(tuple(time.localtime()[:3]))
        return False


def test_the_separators_are_drawn_again_when_the_day_changes(qtbot, open_window,
                                                             monkeypatch):
    """The app left open overnight still said "Today" above yesterday's messages in the
    morning (and "Yesterday" above the day before's): nothing drew the conversation again
    when the date changed, until something else did."""
    monkeypatch.setattr(main_window, "STATUS_REFRESH_MS", 50)
    window = open_window("alice")
    tab = window.open_conversation("bob")
    window.tabs.setCurrentWidget(tab)
    type_line(qtbot, window, "good night")
    model = tab.view.model()
    qtbot.waitUntil(lambda: texts(window, "bob", MessageKind.OWN) == ["good night"])
    index = model.index(model.rowCount() - 1, 0)
    qtbot.waitUntil(lambda: index.data(ConversationModel.StateRole) == DeliveryState.SENT)
    with local_zone(zone_with_midnight_in(1.5)):
        day = time.localtime()[:3]
        assert tab.delegate.day_separator(index) == "Today"
        tab.view.viewport().repaint()
        paints = _Paints()
        tab.view.viewport().installEventFilter(paints)
        qtbot.waitUntil(lambda: time.localtime()[:3] != day, timeout=5_000)
        assert tab.delegate.day_separator(index) == "Yesterday"
        qtbot.waitUntil(lambda: any(d != day for d in paints.days), timeout=3_000)
