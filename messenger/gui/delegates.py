"""Delegates that paint the roster (presence dot, unread badge) and chat bubbles."""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QHelpEvent,
    QPainter,
    QPalette,
    QPen,
    QTextCharFormat,
    QTextLayout,
    QTextLine,
    QTextOption,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
)

from ..client.models import (
    ConversationModel,
    DeliveryState,
    GroupModel,
    MembersModel,
    MessageKind,
    RosterModel,
    local_time,
)
from ..client.quotes import split_quote
from ..client.textsearch import find_spans
from ..protocol import RETRACTED_TEXT
from ..protocol.names import is_valid_name
from . import theme
from .widgets import plain_tooltip

_Index = QModelIndex | QPersistentModelIndex

ONLINE = QColor("#2fb344")
OFFLINE = QColor("#adb5bd")
BADGE = QColor("#e03131")
OWN_BUBBLE = QColor("#1971c2")
OWN_TEXT = QColor("#ffffff")
META_OWN = QColor("#e7f5ff")
READ_BADGE = QColor("#ffe066")
"""Behind the two bold checks of a read message: amber on the blue bubble, so read differs
from delivered by shape (a filled badge, thicker strokes) as well as by colour."""
READ_CHECKS = QColor("#0b2e59")
FAILED_META = QColor("#fff0f0")
FAILED_BADGE = QColor("#c92a2a")
"""The round "!" beside an own message that was not sent (as Signal and iMessage mark one),
so it does not pass for a sent one at a glance."""
MATCH_BACKGROUND = QColor("#ffe066")
MATCH_TEXT = QColor("#1f2328")
CURRENT_MATCH = QColor("#f08c00")

TRANSFER_ROW_HEIGHT = 116
"""Height of a conversation row holding a transfer card."""

TICKS = {DeliveryState.PENDING: "sending", DeliveryState.SENT: "sent",
         DeliveryState.DELIVERED: "delivered", DeliveryState.READ: "read",
         DeliveryState.FAILED: "not sent · right-click to retry"}
"""What an own bubble's mark after its time means, per delivery state. The marks are drawn
(no font has to have them): a small clock while pending, one check once the server stored
it, two once a recipient's app has it, and two bold dark checks on an amber badge once read.
A failed message shows a red ✗ and the words. (The model's tooltip and accessible text say
the state in words too.)"""

FAILED_TICK_TEXT = TICKS[DeliveryState.FAILED]
FAILED_BLOCKED_TEXT = "not sent · right-click to delete"
"""A failed message's words while a retry cannot succeed (see ``retry_blocked``)."""


def tick_width(state: DeliveryState | None, fm: QFontMetricsF,
               failed_text: str = FAILED_TICK_TEXT) -> float:
    """The width the mark of ``state`` takes after the time (0 for none)."""
    if state is None:
        return 0.0
    size = fm.height() * 0.8
    gap = fm.horizontalAdvance(" ")
    if state is DeliveryState.FAILED:
        return gap + size + gap + fm.horizontalAdvance(failed_text)
    if state in (DeliveryState.DELIVERED, DeliveryState.READ):
        return gap + size * 1.45 + 4
    return gap + size


def paint_tick(painter: QPainter, left: float, top: float, fm: QFontMetricsF,
               state: DeliveryState, color: QColor,
               failed_text: str = FAILED_TICK_TEXT) -> None:
    """Draw the mark of ``state`` (see :data:`TICKS`) in a line of ``fm``'s height starting
    at ``(left, top)``; ``color`` is the bubble's time colour."""
    size = fm.height() * 0.8
    x = left + fm.horizontalAdvance(" ")
    y = top + (fm.height() - size) / 2
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(Qt.BrushStyle.NoBrush)

    def check(x0: float, width: float, pen: QPen) -> None:
        painter.setPen(pen)
        painter.drawPolyline([QPointF(x0 + width * 0.08, y + size * 0.55),
                              QPointF(x0 + width * 0.38, y + size * 0.85),
                              QPointF(x0 + width * 0.92, y + size * 0.18)])

    thin = QPen(color, max(1.2, size * 0.12))
    thin.setCapStyle(Qt.PenCapStyle.RoundCap)
    thin.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    if state is DeliveryState.PENDING:
        painter.setPen(thin)
        box = QRectF(x, y, size, size).adjusted(0.5, 0.5, -0.5, -0.5)
        painter.drawEllipse(box)
        c = box.center()
        painter.drawLine(c, QPointF(c.x(), box.top() + size * 0.22))
        painter.drawLine(c, QPointF(c.x() + size * 0.25, c.y()))
    elif state is DeliveryState.SENT:
        check(x, size, thin)
    elif state is DeliveryState.DELIVERED:
        check(x, size, thin)
        check(x + size * 0.45, size, thin)
    elif state is DeliveryState.READ:
        badge = QRectF(x, y - 1, size * 1.45 + 4, size + 2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(READ_BADGE)
        painter.drawRoundedRect(badge, badge.height() / 2, badge.height() / 2)
        bold = QPen(READ_CHECKS, max(1.8, size * 0.18))
        bold.setCapStyle(Qt.PenCapStyle.RoundCap)
        bold.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        check(x + 2, size * 0.9, bold)
        check(x + 2 + size * 0.45, size * 0.9, bold)
    elif state is DeliveryState.FAILED:
        painter.setPen(QPen(FAILED_META, max(1.4, size * 0.14)))
        inset = size * 0.2
        painter.drawLine(QPointF(x + inset, y + inset), QPointF(x + size - inset,
                                                                y + size - inset))
        painter.drawLine(QPointF(x + size - inset, y + inset), QPointF(x + inset,
                                                                       y + size - inset))
        painter.drawText(QPointF(x + size + fm.horizontalAdvance(" "), top + fm.ascent()),
                         failed_text)
    painter.restore()


def _row_height(font: QFont, minimum: int, padding: int, *, small_line: bool = False) -> int:
    """Height in px of a list row: ``minimum`` (the look at the default font), or the text's
    line (plus a second line in the 0.85 size with ``small_line``) and ``padding`` when a
    larger font needs more, so big fonts are not clipped."""
    height = QFontMetricsF(font).height()
    if small_line:
        small = QFont(font)
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        height += QFontMetricsF(small).height()
    return max(minimum, int(height + padding + 0.999))


class PlainToolTipDelegate(QStyledItemDelegate):
    """An item delegate whose tooltips show the model's ``Qt.ToolTipRole`` text as it is: the
    default one hands it to ``QToolTip``, which takes anything that looks like HTML as rich
    text, so a peer's message "<h1>Your session expired</h1>…" showed as a page, and one
    ``<img width=20000 height=20000>`` took seconds and a gigabyte and a half to show.

    A tooltip on screen follows its row: when the row changes under a resting pointer (an
    own group message's "delivered to 3 of 199" as receipts come), it says the new text
    (it kept the old one until the pointer moved away and back; a hunt)."""

    _tip: tuple[QPersistentModelIndex, QPoint, QAbstractItemView | None, str] | None = None
    """The row whose tooltip was shown last, where, in which view, and its text."""

    def helpEvent(self, event: QHelpEvent, view: QAbstractItemView,
                  option: QStyleOptionViewItem, index: _Index) -> bool:
        if event is None or event.type() != QEvent.Type.ToolTip or not index.isValid():
            return super().helpEvent(event, view, option, index)
        text = index.data(Qt.ItemDataRole.ToolTipRole)
        if not isinstance(text, str) or not text:
            QToolTip.hideText()
            event.ignore()
            self._tip = None
            return False
        shown = plain_tooltip(text)
        QToolTip.showText(event.globalPos(), shown, view,
                          view.visualRect(index) if view is not None else option.rect)
        index.model().dataChanged.connect(self._follow_tip,
                                          Qt.ConnectionType.UniqueConnection)
        self._tip = (QPersistentModelIndex(index), QPoint(event.globalPos()), view, shown)
        return True

    def _follow_tip(self, top: QModelIndex, bottom: QModelIndex, *_roles: object) -> None:
        """Rows ``top``…``bottom`` changed: the tooltip still showing for one of them says
        its new text."""
        tip = self._tip
        if tip is None:
            return
        index, pos, view, shown = tip
        if not index.isValid() or index.model() is not top.model():
            return
        if not top.row() <= index.row() <= bottom.row():
            return
        if not QToolTip.isVisible() or QToolTip.text() != shown:
            self._tip = None  # (gone, or another one's)
            return
        text = index.data(Qt.ItemDataRole.ToolTipRole)
        if not isinstance(text, str) or not text:
            QToolTip.hideText()
            self._tip = None
            return
        new = plain_tooltip(text)
        if new != shown:
            rect = view.visualRect(QModelIndex(index)) if view is not None else QRect()
            QToolTip.showText(pos, new, view, rect)
            self._tip = (index, pos, view, new)


def _presence_dot(painter: QPainter, dot_rect: QRectF, known: bool, online: bool) -> None:
    """A green (online) or grey (offline) dot; while presence is not known (not connected),
    an empty grey ring, neither online nor offline. Leaves the pen off."""
    if known:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(ONLINE if online else OFFLINE)
        painter.drawEllipse(dot_rect)
    else:
        painter.setPen(QPen(OFFLINE, 1.5))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(dot_rect.adjusted(0.75, 0.75, -0.75, -0.75))
    painter.setPen(Qt.PenStyle.NoPen)


class RosterDelegate(PlainToolTipDelegate):
    """Paints a contact: a green/grey presence dot (an empty ring while presence is unknown),
    the name (bold with unread messages) and a
    red badge with the unread count on the right."""

    ROW_HEIGHT = 34
    """At the default font; rows grow with a larger one (:func:`_row_height`)."""

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        return QSize(160, _row_height(option.font, self.ROW_HEIGHT, 14))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(option.rect)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = option.palette
        if selected:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.Highlight))
        elif option.state & QStyle.StateFlag.State_MouseOver:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.AlternateBase))
        name = index.data(RosterModel.NameRole) or ""
        known = index.data(RosterModel.PresenceKnownRole) is not False
        online = known and bool(index.data(RosterModel.OnlineRole))
        unread = int(index.data(RosterModel.UnreadRole) or 0)

        dot = 10.0
        _presence_dot(painter, QRectF(rect.left() + 12, rect.center().y() - dot / 2, dot, dot),
                      known, online)

        font = QFont(option.font)
        font.setBold(unread > 0)
        painter.setFont(font)
        text_color = palette.color(QPalette.ColorRole.HighlightedText if selected
                                   else QPalette.ColorRole.Text)
        if known and not online and not selected:
            text_color = _offline_text(palette)
        right = rect.right() - 10
        if unread:
            label = "99+" if unread > 99 else str(unread)
            small = QFont(option.font)
            small.setBold(True)
            small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
            fm = QFontMetricsF(small)
            h = fm.height() + 4
            w = max(h, fm.horizontalAdvance(label) + 10)
            badge = QRectF(right - w, rect.center().y() - h / 2, w, h)
            painter.setBrush(BADGE)
            painter.drawRoundedRect(badge, h / 2, h / 2)
            painter.setPen(QColor("#ffffff"))
            painter.setFont(small)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, label)
            painter.setFont(font)
            right = badge.left() - 8
        painter.setPen(text_color)
        text_rect = QRectF(rect.left() + 30, rect.top(), right - rect.left() - 30, rect.height())
        elided = QFontMetricsF(font).elidedText(name, Qt.TextElideMode.ElideRight,
                                                text_rect.width())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         elided)
        painter.restore()


_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]}>"


def find_links(text: str) -> list[tuple[int, int, str]]:
    """The web links in ``text``: ``(start, end, url)`` with ``text[start:end]`` as written
    (``http://``, ``https://`` or ``www.``; trailing punctuation such as a sentence's full
    stop or a closing bracket without an opening one is left out) and ``url`` what to open
    (``www.`` gets ``https://``)."""
    links = []
    for m in _URL.finditer(text):
        start, end = m.span()
        # (Counted once: counted again per character stripped, a link followed by 16,000
        # ")" took 90 ms, on every layout and mouse move over it; a hunt.)
        opening, closing = text.count("(", start, end), text.count(")", start, end)
        while end > start and text[end - 1] in _URL_TRAILING:
            if text[end - 1] == ")":
                if opening >= closing:
                    break  # https://en.wikipedia.org/wiki/Qt_(software)
                closing -= 1
            end -= 1
        written = text[start:end]
        if written.lower() in ("http://", "https://", "www."):
            continue
        url = written if "://" in written else "https://" + written
        links.append((start, end, url))
    return links


def utf16_offsets(text: str) -> list[int] | None:
    """Qt counts positions in a text in UTF-16 code units, Python in code points: the two
    differ after every character outside the Basic Multilingual Plane (most emoji). Returns
    None when they agree throughout ``text``, else the UTF-16 offset of each Python position
    ``0 … len(text)``."""
    if len(text.encode("utf-16-le")) == 2 * len(text):
        return None
    offsets = [0]
    at = 0
    for c in text:
        at += 2 if ord(c) > 0xFFFF else 1
        offsets.append(at)
    return offsets


def day_label(ts: float, now: float | None = None) -> str:
    """The day of Unix seconds ``ts`` as a day separator shows it, in local time: "Today",
    "Yesterday", the weekday within the last week ("Monday"), else "3 March" (this year) or
    "3 March 2025"."""
    local = local_time(ts)
    today = local_time(now if now is not None else time.time())
    days = (_day_number(today) - _day_number(local))
    if days == 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    if 1 < days < 7:
        return time.strftime("%A", local)
    if local.tm_year == today.tm_year:
        return f"{local.tm_mday} {time.strftime('%B', local)}"
    return f"{local.tm_mday} {time.strftime('%B %Y', local)}"


def _day_number(t: time.struct_time) -> int:
    """Days since 1970-01-01 of the calendar date of ``t`` (ignoring its time of day)."""
    return int(time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 12, 0, 0, 0, 0, -1)) // 86400)


def right_to_left(text: str) -> bool:
    """Whether ``text`` is a right-to-left paragraph (Hebrew, Arabic…): its first strongly
    directed character is, as the Unicode bidi algorithm decides (rule P2)."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return False
        if kind in ("R", "AL"):
            return True
    return False


@dataclass
class _Bubble:
    """The measured layout of one item (all in pixels, relative to the item's top-left);
    ``day`` is the day separator drawn above it ("" for none)."""

    kind: MessageKind
    header: str
    body: QTextLayout
    body_w: float
    body_h: float
    meta: str
    bubble: QRectF
    height: float
    ticks: str = ""
    """What the delivery mark means (a :data:`TICKS` value), "" for none."""
    state: DeliveryState | None = None
    ticks_w: float = 0.0
    day: str = ""
    unread: bool = False
    quote: QTextLayout | None = None
    """The quote block of a reply (see :mod:`messenger.client.quotes`), drawn above the
    body."""
    quote_h: float = 0.0
    deleted: bool = False
    """The sender deleted it: its placeholder is drawn in italics, muted, without ticks."""


class BubbleDelegate(PlainToolTipDelegate):
    """Paints a conversation item as a chat bubble.

    Own messages sit on the right in blue, other people's on the left in grey with the
    sender's name, system notices are centred grey text, errors a red centred box. Each bubble
    shows the local time (and for own messages the delivery state); long text wraps at word
    boundaries (or anywhere inside a very long word). The first item of each day has a day
    separator above it ("Today", "Yesterday", "Monday", "3 March"), and the message
    :attr:`unread_seq` a "New messages" line. A reply's leading ``>`` lines
    (:func:`~messenger.client.quotes.split_quote`) are drawn as a quote block above its text:
    a bar at the left, smaller text, the quoted sender in bold. The view must be a QListView in
    ``ResizeMode.Adjust`` so rows are re-measured when its width changes.
    """

    MARGIN_X = 12.0
    MARGIN_Y = 4.0
    PAD_X = 10.0
    PAD_Y = 6.0
    MAX_FRACTION = 0.72
    MAX_LINE_CHARS = 80
    """A bubble's lines stop at about this many average characters however wide the window
    (lines of 190 characters in a maximised window are hard to read)."""
    QUOTE_BAR = 3.0
    """Width of the bar left of a reply's quote block."""
    QUOTE_INDENT = 9.0
    QUOTE_GAP = 4.0
    DAY_HEIGHT = 30.0
    UNREAD_HEIGHT = 24.0
    LOOK_BACK = 50
    """Rows looked back past (transfer cards, "not loaded" gaps) for the previous time."""

    def __init__(self, view: QAbstractItemView) -> None:
        super().__init__(view)
        self._view = view
        self.search_text = ""
        """Text to highlight in every bubble (the find bar's), "" for none."""
        self.current_seq: int | None = None
        """The message of the current find match (outlined)."""
        self.flash_seq: int | None = None
        """The message a click on a reply's quote went to (outlined for a moment)."""
        self.retry_blocked = False
        """Failed messages cannot be retried now: their mark offers only Delete."""
        self.unread_seq: int | None = None
        """The first message that was unread when the tab was looked at: the "New messages"
        line goes above it (None: no line)."""
        self.unread_card = ""
        """... or the transfer card (its transfer key) of a file offer that came before any
        unread message: the line goes above that card ("": none)."""
        self._show_senders = True
        # Row heights measured so far (see track): 0 unknown, -1 a transfer card (its
        # widget says), for the width and font in _sized, while the model is not changing.
        self._heights: list[int] = []
        self._sized: tuple[int, QFont] | None = None
        self._tracked: QAbstractItemModel | None = None
        self._changing = False  # (a reset, a move: no kept height fits until it is over)
        self._resizing = False  # (rows come or go: see _about_to_resize)

    @property
    def show_senders(self) -> bool:
        """Name the sender above others' messages (off in a private conversation, where it
        is always the peer); a run of messages from one sender names it once."""
        return self._show_senders

    @show_senders.setter
    def show_senders(self, value: bool) -> None:
        if value != self._show_senders:
            self._show_senders = value
            self._forget_all()

    # -- row heights (sizeHint is asked for every row at each layout of the list)

    def track(self, model: QAbstractItemModel) -> None:
        """Keep the height of each row of ``model`` (the view's model) once measured, until
        that row, the one above it or the width or font change. A ``QListView`` lays out
        *every* row again whenever rows are inserted: measuring them all anew (a text
        layout each) made each older page cost the whole loaded history (~1 s with 10,000
        rows loaded), where a known height costs a list lookup. Call it before the view's
        ``setModel``, so that these slots run before the view's (which may lay out at
        once); inside a change the rows are measured without being kept."""
        if self._tracked is not None:
            for signal, slot in self._tracking(self._tracked):
                signal.disconnect(slot)
        self._tracked = model
        for signal, slot in self._tracking(model):
            signal.connect(slot)
        self._forget_all()

    def _tracking(self, model: QAbstractItemModel) -> list[tuple[object, object]]:
        return [(model.rowsAboutToBeInserted, self._about_to_resize),
                (model.rowsAboutToBeRemoved, self._about_to_resize),
                (model.rowsAboutToBeMoved, self._about_to_change),
                (model.modelAboutToBeReset, self._about_to_change),
                (model.layoutAboutToBeChanged, self._about_to_change),
                (model.rowsInserted, self._rows_inserted),
                (model.rowsRemoved, self._rows_removed),
                (model.rowsMoved, self._forget_all),
                (model.modelReset, self._forget_all),
                (model.layoutChanged, self._forget_all),
                (model.dataChanged, self._data_changed)]

    def forget_heights(self, rows: Iterable[int | None] | None = None) -> None:
        """Measure ``rows`` again at the next layout (None in it is skipped), or without
        ``rows`` every row: for what changes a row's height without the model saying so
        (the "New messages" line moving) or every row's."""
        if rows is None:
            self._forget_all()
            return
        for row in rows:
            if row is not None:
                self._forget_from(row, row)

    def _forget_all(self, *args: object) -> None:
        self._changing = self._resizing = False
        model = self._tracked
        self._heights = [0] * (model.rowCount() if model is not None else 0)

    def _forget_from(self, first: int, last: int) -> None:
        """Forget rows ``first``…``last`` and those below whose look depends on them: the
        next row continues a sender's run or not, and the rows down to the first one with a
        time look back past untimed ones (gaps) for their day's line."""
        heights = self._heights
        model = self._tracked
        end = len(heights)
        for row in range(max(0, first), min(last + 1, end)):
            heights[row] = 0
        row = last + 1
        while model is not None and row < end and row <= last + 1 + self.LOOK_BACK:
            heights[row] = 0
            if float(model.index(row, 0).data(ConversationModel.TimestampRole) or 0) > 0:
                break
            row += 1

    def _about_to_change(self, *args: object) -> None:
        self._changing = True

    def _about_to_resize(self, *args: object) -> None:
        # Until the rows come or go, the kept heights still fit (the view measures the row
        # at the top then, to keep it in place); after, until _rows_inserted/_rows_removed
        # ran, they no longer do (the row count tells which).
        self._resizing = True

    def _rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        self._changing = self._resizing = False
        self._heights[first:first] = [0] * (last - first + 1)
        self._forget_from(first, last)
        self._check_rows()

    def _rows_removed(self, parent: QModelIndex, first: int, last: int) -> None:
        self._changing = self._resizing = False
        del self._heights[first:last + 1]
        self._forget_from(first, first - 1)
        self._check_rows()

    def _data_changed(self, top: QModelIndex, bottom: QModelIndex, *roles: object) -> None:
        self._forget_from(top.row(), bottom.row())

    def _check_rows(self) -> None:
        model = self._tracked
        if model is not None and len(self._heights) != model.rowCount():
            self._forget_all()  # (a change missed: start again rather than misplace)

    def _known_height(self, option: QStyleOptionViewItem, index: _Index,
                      width: float) -> tuple[int, bool]:
        """The row's kept height (0: unknown, -1: a card), and whether one may be kept."""
        model = self._tracked
        if self._changing or index.model() is not model or model is None or \
                (self._resizing and model.rowCount() != len(self._heights)):
            return 0, False
        font = option.font
        if self._sized is None or self._sized[0] != int(width) or self._sized[1] != font:
            self._forget_all()
            self._sized = (int(width), QFont(font))
        row = index.row()
        return (self._heights[row] if row < len(self._heights) else 0), \
            row < len(self._heights)

    def _width(self, option: QStyleOptionViewItem) -> float:
        width = self._view.viewport().width()
        return float(width if width > 0 else option.rect.width() or 400)

    def _layout(self, text: str, font: QFont, width: float,
                link_color: QColor | None = None,
                bold: int = 0) -> tuple[QTextLayout, float, float]:
        layout = QTextLayout(text.replace("\n", "\u2028"), font)
        ranges = []
        qt = utf16_offsets(text)  # Python positions → Qt's (None: the same)

        def add(start: int, end: int, fmt: QTextCharFormat) -> None:
            r = QTextLayout.FormatRange()
            if qt is not None:
                start, end = qt[start], qt[end]
            r.start, r.length, r.format = start, end - start, fmt
            ranges.append(r)

        if bold:  # the first ``bold`` characters (a quote's sender)
            strong = QTextCharFormat()
            strong.setFontWeight(QFont.Weight.Bold)
            add(0, min(bold, len(text)), strong)
        if link_color is not None:
            link = QTextCharFormat()
            link.setForeground(link_color)
            link.setFontUnderline(True)
            for start, end, _url in find_links(text):
                add(start, end, link)
        if self.search_text:
            fmt = QTextCharFormat()
            fmt.setBackground(MATCH_BACKGROUND)
            fmt.setForeground(MATCH_TEXT)
            # (mapped back to the text's own characters: "ß" folds to two, and such a
            # message was counted as a match but never lit; a hunt)
            for start, end in find_spans(text, self.search_text):
                add(start, end, fmt)
        if ranges:
            layout.setFormats(ranges)
        opt = QTextOption()
        opt.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        rtl = right_to_left(text)
        if rtl:  # (Hebrew, Arabic: every line flush right, not only the full first one)
            opt.setTextDirection(Qt.LayoutDirection.RightToLeft)
            opt.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignAbsolute)
        layout.setTextOption(opt)

        def lay_out(line_width: float) -> tuple[float, float]:
            layout.beginLayout()
            y = natural = 0.0
            while True:
                line = layout.createLine()
                if not line.isValid():
                    break
                line.setLineWidth(line_width)
                line.setPosition(QPointF(0, y))
                y += line.height()
                natural = max(natural, line.naturalTextWidth())
            layout.endLayout()
            return natural, y

        natural, y = lay_out(width)
        if rtl and natural < width:
            # Right-aligned in the bubble's width (its widest line's), not in the widest a
            # bubble may be: the same lines (none is wider), their right ends lined up.
            lay_out(natural + 0.01)
        return layout, natural, y

    def day_separator(self, index: _Index) -> str:
        """The day separator above row ``index`` ("" for none): shown when its time falls on
        another day than the previous timed row's (gaps are skipped), or when it is the first
        such row. A transfer card's row gets one too (above the card: see
        :meth:`sizeHint`), so the first card of a day is not above its day's line."""
        ts = float(index.data(ConversationModel.TimestampRole) or 0)
        if ts <= 0:
            return ""
        model = index.model()
        row = index.row() - 1
        stop = max(-1, row - self.LOOK_BACK)
        while row > stop:
            above = model.index(row, 0)
            before = float(above.data(ConversationModel.TimestampRole) or 0)
            if before > 0:
                if local_time(before)[:3] == local_time(ts)[:3]:
                    return ""
                break
            row -= 1
        return day_label(ts)

    RUN_SECONDS = 300
    """Messages of one sender less than this apart (s) form a run: its name shows once."""

    def _unread_card(self, index: _Index) -> bool:
        """The transfer card at ``index`` has the "New messages" line above it."""
        return bool(self.unread_card) and \
            index.data(ConversationModel.TransferRole) == self.unread_card

    def _continues(self, index: _Index) -> bool:
        """The message at ``index`` continues a run of the same sender's messages: the row
        above is theirs, less than :attr:`RUN_SECONDS` older, on the same day, and no "New
        messages" line separates them."""
        if index.row() == 0 or (self.unread_seq is not None and
                                index.data(ConversationModel.SeqRole) == self.unread_seq):
            return False
        above = index.model().index(index.row() - 1, 0)
        if above.data(ConversationModel.KindRole) != MessageKind.OTHER or \
                above.data(ConversationModel.SenderRole) != \
                index.data(ConversationModel.SenderRole):
            return False
        ts = float(index.data(ConversationModel.TimestampRole) or 0)
        before = float(above.data(ConversationModel.TimestampRole) or 0)
        return 0 <= ts - before < self.RUN_SECONDS and \
            local_time(before)[:3] == local_time(ts)[:3]

    def _measure(self, option: QStyleOptionViewItem, index: _Index) -> _Bubble:
        b = self._measure_item(option, index)
        day = self.day_separator(index)
        if day:
            b.day = day
            b.bubble.translate(0, self.DAY_HEIGHT)
            b.height += self.DAY_HEIGHT
        if self.unread_seq is not None and \
                index.data(ConversationModel.SeqRole) == self.unread_seq:
            b.unread = True
            b.bubble.translate(0, self.UNREAD_HEIGHT)
            b.height += self.UNREAD_HEIGHT
        return b

    def _measure_item(self, option: QStyleOptionViewItem, index: _Index) -> _Bubble:
        kind = MessageKind(index.data(ConversationModel.KindRole) or MessageKind.SYSTEM)
        text = index.data(ConversationModel.TextRole) or ""
        total = self._width(option)
        font = QFont(option.font)
        small = QFont(option.font)
        small.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        small_fm = QFontMetricsF(small)
        if kind in (MessageKind.SYSTEM, MessageKind.ERROR):
            max_w = max(80.0, total - 4 * self.MARGIN_X - 2 * self.PAD_X)
            layout, w, h = self._layout(text, small if kind is MessageKind.SYSTEM else font,
                                        max_w)
            bw = w + 2 * self.PAD_X
            bh = h + 2 * (self.PAD_Y if kind is MessageKind.ERROR else 2)
            bubble = QRectF((total - bw) / 2, self.MARGIN_Y, bw, bh)
            return _Bubble(kind, "", layout, w, h, "", bubble, bh + 2 * self.MARGIN_Y)

        readable = QFontMetricsF(font).averageCharWidth() * self.MAX_LINE_CHARS
        max_body = max(80.0, min(total * self.MAX_FRACTION - 2 * self.PAD_X, readable))
        own = kind is MessageKind.OWN
        deleted = text == RETRACTED_TEXT
        if deleted:  # a placeholder, not the sender's words
            font.setItalic(True)
        quote, text = split_quote(text)
        layout, w, h = self._layout(text, font, max_body,
                                    OWN_TEXT if own else theme.colors(option.palette).link)
        quote_layout, quote_h = None, 0.0
        if quote:
            sender_end = quote.find(": ")
            quote_layout, quote_w, quote_h = self._layout(
                quote, small, max_body - self.QUOTE_INDENT,
                bold=sender_end if is_valid_name(quote[:max(0, sender_end)]) else 0)
            w = max(w, quote_w + self.QUOTE_INDENT)
        header = ""
        also = index.data(ConversationModel.AlsoRole) or []
        if kind is MessageKind.OTHER and self.show_senders and not self._continues(index):
            header = index.data(ConversationModel.SenderRole) or ""
        if also:
            header = (header + " · " if header else "") + "also to " + ", ".join(also)
        meta = time.strftime("%H:%M", local_time(
            float(index.data(ConversationModel.TimestampRole) or 0)))  # the day: separators
        if index.data(ConversationModel.EditedRole):
            meta = "edited " + meta
        ticks, state = "", None
        if kind is MessageKind.OWN and not deleted:  # (nothing left to be read)
            value = index.data(ConversationModel.StateRole)
            state = DeliveryState(value) if value else None
            ticks = TICKS.get(state, "") if state is not None else ""
            if state is DeliveryState.FAILED and self.retry_blocked:
                ticks = FAILED_BLOCKED_TEXT
        ticks_w = tick_width(state, small_fm, ticks)
        inner_w = max(w, small_fm.horizontalAdvance(meta) + ticks_w)
        if header:
            inner_w = max(inner_w, min(max_body, small_fm.horizontalAdvance(header)))
        inner_h = h + small_fm.height() + 2
        if header:
            inner_h += small_fm.height() + 2
        if quote_layout is not None:
            inner_h += quote_h + self.QUOTE_GAP
        bw = inner_w + 2 * self.PAD_X
        bh = inner_h + 2 * self.PAD_Y
        x = total - self.MARGIN_X - bw if kind is MessageKind.OWN else self.MARGIN_X
        bubble = QRectF(x, self.MARGIN_Y, bw, bh)
        return _Bubble(kind, header, layout, w, h, meta, bubble, bh + 2 * self.MARGIN_Y, ticks,
                       state, ticks_w, quote=quote_layout, quote_h=quote_h, deleted=deleted)

    def link_at(self, option: QStyleOptionViewItem, index: _Index, pos: QPointF) -> str | None:
        """The URL of the link under ``pos`` (relative to the item's top-left, pixels) in the
        message at ``index``, or None."""
        if index.data(ConversationModel.KindRole) not in (MessageKind.OWN, MessageKind.OTHER):
            return None
        _quote, text = split_quote(index.data(ConversationModel.TextRole) or "")
        links = find_links(text)
        if not links:
            return None
        b = self._measure(option, index)
        small = QFont(option.font)
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        x = pos.x() - b.bubble.left() - self.PAD_X
        y = pos.y() - b.bubble.top() - self.PAD_Y
        if b.header:
            y -= QFontMetricsF(small).height() + 2
        if b.quote is not None:
            y -= b.quote_h + self.QUOTE_GAP
        layout = b.body
        for i in range(layout.lineCount()):
            line = layout.lineAt(i)
            if not line.y() <= y < line.y() + line.height():
                continue
            left = line.naturalTextRect().left()  # (a right-to-left line's is not 0)
            if not left <= x <= left + line.naturalTextWidth():
                return None
            at = line.xToCursor(x, QTextLine.CursorPosition.CursorOnCharacter)  # UTF-16
            qt = utf16_offsets(text)
            for start, end, url in links:
                if qt is not None:
                    start, end = qt[start], qt[end]
                if start <= at < end:
                    return url
            return None
        return None

    def quote_at(self, option: QStyleOptionViewItem, index: _Index, pos: QPointF) -> bool:
        """Whether ``pos`` (relative to the item's top-left, pixels) is on the quote block of
        the reply at ``index`` (a click there goes to the quoted message)."""
        if index.data(ConversationModel.KindRole) not in (MessageKind.OWN, MessageKind.OTHER):
            return False
        b = self._measure(option, index)
        if b.quote is None:
            return False
        small = QFont(option.font)
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        top = b.bubble.top() + self.PAD_Y
        if b.header:
            top += QFontMetricsF(small).height() + 2
        return b.bubble.left() <= pos.x() <= b.bubble.right() and \
            top <= pos.y() < top + b.quote_h

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        width = self._width(option)
        known, keep = self._known_height(option, index, width)
        if known > 0:
            return QSize(int(width), known)
        if known < 0 or index.data(ConversationModel.KindRole) == MessageKind.TRANSFER:
            if keep:
                self._heights[index.row()] = -1
            # A transfer card widget sits on the row (view.setIndexWidget): its height, and
            # room above it for the day's line (painted by paint(), the card moved down).
            card = self._view.indexWidget(index)
            width = int(self._width(option))
            header = int(self.DAY_HEIGHT) if self.day_separator(index) else 0
            if self._unread_card(index):
                header += int(self.UNREAD_HEIGHT)
            set_header = getattr(card, "set_header", None)
            if set_header is not None:
                set_header(header)
            row_height = getattr(card, "row_height", None)
            return QSize(width, row_height(width) if row_height else
                         TRANSFER_ROW_HEIGHT + header)
        height = int(self._measure(option, index).height + 0.999)
        if keep:
            self._heights[index.row()] = height
        return QSize(int(width), height)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        if index.data(ConversationModel.KindRole) == MessageKind.TRANSFER:
            # The day's line and the "New messages" one go above the card (which leaves
            # the room: TransferCard.set_header).
            day = self.day_separator(index)
            unread = self._unread_card(index)
            if day or unread:
                small = QFont(option.font)
                small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
                painter.save()
                painter.setRenderHint(QPainter.RenderHint.Antialiasing)
                top = float(option.rect.top())
                if day:
                    self._paint_day(painter, small, QRectF(option.rect.left(), top,
                                                            option.rect.width(),
                                                            self.DAY_HEIGHT),
                                    day, theme.colors(option.palette))
                    top += self.DAY_HEIGHT
                if unread:
                    self._paint_unread(painter, small, QRectF(option.rect.left(), top,
                                                              option.rect.width(),
                                                              self.UNREAD_HEIGHT),
                                       theme.colors(option.palette))
                painter.restore()
            return
        b = self._measure(option, index)
        c = theme.colors(option.palette)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        origin = QPointF(option.rect.topLeft())
        bubble = b.bubble.translated(origin)
        small = QFont(option.font)
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        small_fm = QFontMetricsF(small)
        if b.day:
            self._paint_day(painter, small, QRectF(origin.x(), origin.y(),
                                                    option.rect.width(), self.DAY_HEIGHT), b.day,
                            c)
        if b.unread:
            top = origin.y() + (self.DAY_HEIGHT if b.day else 0.0)
            self._paint_unread(painter, small, QRectF(origin.x(), top, option.rect.width(),
                                                      self.UNREAD_HEIGHT), c)

        if b.kind is MessageKind.SYSTEM:
            painter.setPen(c.system_text)
            b.body.draw(painter, QPointF(bubble.left() + self.PAD_X, bubble.top() + 2))
            self._paint_focus(painter, option, bubble)
            painter.restore()
            return
        if b.kind is MessageKind.ERROR:
            painter.setPen(c.error_border)
            painter.setBrush(c.error_bubble)
            painter.drawRoundedRect(bubble.adjusted(0.5, 0.5, -0.5, -0.5), 8, 8)
            painter.setPen(c.error_text)
            b.body.draw(painter, QPointF(bubble.left() + self.PAD_X, bubble.top() + self.PAD_Y))
            self._paint_focus(painter, option, bubble)
            painter.restore()
            return

        own = b.kind is MessageKind.OWN
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(OWN_BUBBLE if own else c.other_bubble)
        painter.drawRoundedRect(bubble, 12, 12)
        if own and b.state is DeliveryState.FAILED:
            self._paint_failed_badge(painter, bubble, origin.x())
        x = bubble.left() + self.PAD_X
        y = bubble.top() + self.PAD_Y
        if b.header:
            painter.setFont(small)
            painter.setPen(META_OWN if own else c.sender_text)
            header = small_fm.elidedText(b.header, Qt.TextElideMode.ElideRight,
                                         bubble.width() - 2 * self.PAD_X)
            painter.drawText(QPointF(x, y + small_fm.ascent()), header)
            y += small_fm.height() + 2
        if b.quote is not None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(META_OWN if own else c.sender_text)
            painter.drawRoundedRect(QRectF(x, y, self.QUOTE_BAR, b.quote_h), 1.5, 1.5)
            painter.setPen(META_OWN if own else c.meta_other)
            b.quote.draw(painter, QPointF(x + self.QUOTE_INDENT, y))
            y += b.quote_h + self.QUOTE_GAP
        if b.deleted:
            painter.setPen(META_OWN if own else c.meta_other)
        else:
            painter.setPen(OWN_TEXT if own else c.other_text)
        b.body.draw(painter, QPointF(x, y))
        y += b.body_h + 2
        painter.setFont(small)
        meta_w = small_fm.horizontalAdvance(b.meta)
        x = bubble.right() - self.PAD_X - meta_w - b.ticks_w
        painter.setPen(META_OWN if own else c.meta_other)
        painter.drawText(QPointF(x, y + small_fm.ascent()), b.meta)
        if b.state is not None:
            paint_tick(painter, x + meta_w, y, small_fm, b.state, META_OWN, b.ticks)
        seq = index.data(ConversationModel.SeqRole)
        if seq is not None and seq in (self.current_seq, self.flash_seq):
            painter.setPen(QPen(CURRENT_MATCH, 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(bubble.adjusted(-2, -2, 2, 2), 13, 13)
        self._paint_focus(painter, option, bubble)
        painter.restore()

    FAILED_BADGE_SIZE = 18.0

    def _paint_failed_badge(self, painter: QPainter, bubble: QRectF, left: float) -> None:
        """A red disc with a white "!" left of a failed own bubble (when there is room)."""
        d = self.FAILED_BADGE_SIZE
        x = bubble.left() - d - 6
        if x < left + 2:
            return
        disc = QRectF(x, bubble.center().y() - d / 2, d, d)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(FAILED_BADGE)
        painter.drawEllipse(disc)
        pen = QPen(QColor("#ffffff"), 2.2)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        cx = disc.center().x()
        painter.drawLine(QPointF(cx, disc.top() + d * 0.24), QPointF(cx, disc.top() + d * 0.58))
        painter.drawPoint(QPointF(cx, disc.top() + d * 0.76))

    @staticmethod
    def _paint_focus(painter: QPainter, option: QStyleOptionViewItem, bubble: QRectF) -> None:
        """The keyboard focus ring around the current message while the list has focus."""
        if not option.state & QStyle.StateFlag.State_HasFocus:
            return
        pen = QPen(option.palette.color(QPalette.ColorRole.Highlight), 2,
                   Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(bubble.adjusted(-3, -3, 3, 3), 14, 14)


    @staticmethod
    def _paint_day(painter: QPainter, font: QFont, rect: QRectF, label: str,
                   c: theme.Colors) -> None:
        bold = QFont(font)
        bold.setBold(True)
        fm = QFontMetricsF(bold)
        w = fm.horizontalAdvance(label) + 20
        h = fm.height() + 6
        pill = QRectF(rect.center().x() - w / 2, rect.center().y() - h / 2 + 2, w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(c.day_pill)
        painter.drawRoundedRect(pill, h / 2, h / 2)
        painter.setPen(c.system_text)
        painter.setFont(bold)
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, label)


    def _paint_unread(self, painter: QPainter, font: QFont, rect: QRectF,
                      c: theme.Colors) -> None:
        label = "New messages"
        fm = QFontMetricsF(font)
        w = fm.horizontalAdvance(label) + 16
        y = rect.center().y()
        painter.setPen(QPen(c.unread_line, 1))
        left, right = rect.left() + self.MARGIN_X, rect.right() - self.MARGIN_X
        painter.drawLine(QPointF(left, y), QPointF(rect.center().x() - w / 2, y))
        painter.drawLine(QPointF(rect.center().x() + w / 2, y), QPointF(right, y))
        painter.setFont(font)
        painter.drawText(QRectF(rect.center().x() - w / 2, rect.top(), w, rect.height()),
                         Qt.AlignmentFlag.AlignCenter, label)


def member_label(name: str, me: bool) -> str:
    """A member list's name: "You" for oneself (short: "alice (you)" was cut short by the
    leader badge in the narrow panel)."""
    return "You" if me else name


PILL_TEXT = QColor("#ffffff")
"""The word on a pill (and the "#" of a group's tile): each fill keeps 4.5:1 with it, in
both palettes (white on the lighter orange, amber and grey they had was 2.1–3.6:1)."""
LEADER = QColor("#c2410c")
GROUP_ICON = QColor("#7048e8")
PENDING = QColor("#a85d00")
INVITED = QColor("#6c757d")
"""The "invited" pill in a group's member panel."""
FORMER = QColor("#868e96")
"""The tile of a group you are no longer in (its history only)."""


def _offline_text(palette: QPalette) -> QColor:
    """The name of someone offline: secondary, yet readable (the palette's *disabled* text,
    #bebebe on white, was 1.9:1, and they are not disabled: a double click opens them)."""
    return theme.colors(palette).system_text


def _pill(painter: QPainter, font: QFont, right: float, center_y: float, label: str,
          color: QColor) -> float:
    """Paint a rounded label ending at ``right``; returns its left edge."""
    small = QFont(font)
    small.setBold(True)
    small.setPointSizeF(max(7.0, small.pointSizeF() * 0.8))
    fm = QFontMetricsF(small)
    h = fm.height() + 2
    w = fm.horizontalAdvance(label) + 10
    rect = QRectF(right - w, center_y - h / 2, w, h)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawRoundedRect(rect, h / 2, h / 2)
    painter.setPen(PILL_TEXT)
    painter.setFont(small)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)
    return rect.left()


def _background(painter: QPainter, option: QStyleOptionViewItem) -> bool:
    selected = bool(option.state & QStyle.StateFlag.State_Selected)
    if selected:
        painter.fillRect(option.rect, option.palette.color(QPalette.ColorRole.Highlight))
    elif option.state & QStyle.StateFlag.State_MouseOver:
        painter.fillRect(option.rect, option.palette.color(QPalette.ColorRole.AlternateBase))
    return selected


class GroupDelegate(PlainToolTipDelegate):
    """Paints a group: a purple "#" tile, the name (bold with unread messages) over
    "N members · public/invite-only", an "invited" pill while an invitation waits, and the
    unread badge. A group you are no longer in: a grey tile over "not a member · history"."""

    ROW_HEIGHT = 42
    """At the default font; rows grow with a larger one (:func:`_row_height`)."""

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        return QSize(160, _row_height(option.font, self.ROW_HEIGHT, 10, small_line=True))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(option.rect)
        selected = _background(painter, option)
        name = index.data(GroupModel.NameRole) or ""
        count = int(index.data(GroupModel.MemberCountRole) or 0)
        unread = int(index.data(GroupModel.UnreadRole) or 0)
        pending = bool(index.data(GroupModel.PendingRole))
        public = bool(index.data(GroupModel.PublicRole))
        left_group = bool(index.data(GroupModel.LeftRole))

        tile = QRectF(rect.left() + 8, rect.center().y() - 12, 24, 24)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(PENDING if pending else FORMER if left_group else GROUP_ICON)
        painter.drawRoundedRect(tile, 6, 6)
        bold = QFont(option.font)
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(PILL_TEXT)
        painter.drawText(tile, Qt.AlignmentFlag.AlignCenter, "#")

        right = rect.right() - 10
        if unread:
            right = _pill(painter, option.font, right, rect.center().y(),
                          "99+" if unread > 99 else str(unread), BADGE) - 6
        if pending:
            right = _pill(painter, option.font, right, rect.center().y(), "invited",
                          PENDING) - 6
        palette = option.palette
        text_color = palette.color(QPalette.ColorRole.HighlightedText if selected
                                   else QPalette.ColorRole.Text)
        font = QFont(option.font)
        font.setBold(unread > 0)
        font.setItalic(pending)
        small = QFont(option.font)
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        fm, small_fm = QFontMetricsF(font), QFontMetricsF(small)
        left = tile.right() + 10
        width = right - left
        top = rect.center().y() - (fm.height() + small_fm.height()) / 2
        painter.setFont(font)
        painter.setPen(text_color)
        painter.drawText(QPointF(left, top + fm.ascent()),
                         fm.elidedText(name, Qt.TextElideMode.ElideRight, width))
        detail = "not a member · history" if left_group else \
            f"{count} member{'s' if count != 1 else ''} · " + \
            ("public" if public else "invite-only")
        painter.setFont(small)
        painter.setPen(text_color if selected else theme.colors(option.palette).meta_other)
        painter.drawText(QPointF(left, top + fm.height() + small_fm.ascent()),
                         small_fm.elidedText(detail, Qt.TextElideMode.ElideRight, width))
        painter.restore()


class MemberDelegate(PlainToolTipDelegate):
    """Paints a group member: presence dot (an empty ring while presence is unknown, as in
    the contact list), name ("you" marked), a "leader" pill; pending invitees in grey
    italics with an "invited" note."""

    ROW_HEIGHT = 28
    """At the default font; rows grow with a larger one (:func:`_row_height`)."""

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        return QSize(120, _row_height(option.font, self.ROW_HEIGHT, 8))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(option.rect)
        selected = _background(painter, option)
        name = index.data(MembersModel.NameRole) or ""
        online = bool(index.data(MembersModel.OnlineRole))
        leader = bool(index.data(MembersModel.LeaderRole))
        invited = bool(index.data(MembersModel.InvitedRole))
        me = bool(index.data(MembersModel.MeRole))
        known = index.data(MembersModel.PresenceKnownRole) is not False
        dot = 8.0
        _presence_dot(painter, QRectF(rect.left() + 10, rect.center().y() - dot / 2, dot, dot),
                      known or invited, online and not invited)
        right = rect.right() - 8
        if leader:
            right = _pill(painter, option.font, right, rect.center().y(), "leader", LEADER) - 6
        elif invited:
            right = _pill(painter, option.font, right, rect.center().y(), "invited",
                          INVITED) - 6
        font = QFont(option.font)
        font.setItalic(invited)
        font.setBold(me)
        palette = option.palette
        color = palette.color(QPalette.ColorRole.HighlightedText if selected
                              else QPalette.ColorRole.Text)
        if (invited or (known and not online)) and not selected:
            color = _offline_text(palette)
        painter.setFont(font)
        painter.setPen(color)
        text_rect = QRectF(rect.left() + 26, rect.top(), right - rect.left() - 26, rect.height())
        label = member_label(name, me)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         QFontMetricsF(font).elidedText(label, Qt.TextElideMode.ElideRight,
                                                        text_rect.width()))
        painter.restore()
