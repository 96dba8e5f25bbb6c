"""Web links in messages: found in the text, drawn as links, opened by a click (with the
desktop's browser), copied from the context menu."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QStyleOptionViewItem

from messenger.client.models import ChatItem, ConversationModel, MessageKind
from messenger.gui import conversation as conversation_module
from messenger.gui.conversation import ConversationWidget
from messenger.gui.delegates import find_links


def test_find_links():
    text = ("see https://example.org/a?b=1, www.qt.io. and "
            "(https://en.wikipedia.org/wiki/Qt_(software)) or http:// alone")
    assert [url for _s, _e, url in find_links(text)] == [
        "https://example.org/a?b=1", "https://www.qt.io",
        "https://en.wikipedia.org/wiki/Qt_(software)"]
    start, end, _ = find_links(text)[0]
    assert text[start:end] == "https://example.org/a?b=1"
    assert find_links("no links here, just a.b") == []
    # Brackets are weighed once per link (it was once per character stripped: 90 ms for a
    # link and 16,000 ")", on every layout and mouse move; a hunt), with the same outcome.
    assert [u for _s, _e, u in find_links("(see https://a.org/x_(y)))).")] == [
        "https://a.org/x_(y)"]
    many = "https://a.org/" + ")" * 16_000
    assert find_links(many) == [(0, 14, "https://a.org/")]


def test_a_click_on_a_link_opens_it_and_elsewhere_does_not(qtbot, monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr(conversation_module, "open_link",
                        lambda url: opened.append(url.toString()) or True)
    model = ConversationModel("bob", "bob")
    model.append(ChatItem(MessageKind.OTHER, "bob", "the notes: https://example.org/notes ok",
                          ts=1_700_000_000.0, seq=1))
    tab = ConversationWidget(model)
    qtbot.addWidget(tab)
    tab.resize(600, 300)
    tab.show()
    qtbot.waitExposed(tab)
    rect = tab.view.visualRect(tab.proxy.index(0, 0))
    points = [QPoint(x, y) for y in range(rect.top(), rect.bottom(), 5)
              for x in range(rect.left(), rect.right(), 6)]
    on_link = [p for p in points if tab.link_at(p) == "https://example.org/notes"]
    off_link = [p for p in points if tab.link_at(p) is None]
    assert on_link and off_link
    qtbot.mouseClick(tab.view.viewport(), Qt.MouseButton.LeftButton, pos=off_link[0])
    assert opened == []
    qtbot.mouseClick(tab.view.viewport(), Qt.MouseButton.LeftButton, pos=on_link[0])
    assert opened == ["https://example.org/notes"]
    menu = tab.message_menu(0, tab.link_at(on_link[0]))
    assert [a.text() for a in menu.actions()] == ["Copy text", "Copy link", "Reply"]


def test_links_and_find_matches_after_emoji_cover_their_own_characters(qtbot):
    """Qt counts text positions in UTF-16 units and an emoji takes two: links, find matches
    and a quote's bold sender are placed by Qt's count, so after emoji they cover their own
    characters (they were drawn, and clicked, a character early per emoji before them)."""
    url = "https://example.org/p"
    text = f"\U0001F600\U0001F600\U0001F600 see {url} page"
    model = ConversationModel("bob", "bob")
    model.append(ChatItem(MessageKind.OTHER, "bob", text, ts=1_700_000_000.0, seq=1))
    tab = ConversationWidget(model)
    qtbot.addWidget(tab)
    tab.resize(700, 300)
    tab.show()
    qtbot.waitExposed(tab)
    tab.delegate.search_text = "page"
    layout, _w, _h = tab.delegate._layout(text, tab.view.font(), 600.0,
                                          link_color=Qt.GlobalColor.blue, bold=3)
    units = layout.text().encode("utf-16-le")

    def covered(r) -> str:
        return units[2 * r.start:2 * (r.start + r.length)].decode("utf-16-le", "replace")

    assert [covered(r) for r in layout.formats()] == ["\U0001F600" * 3, url, "page"]

    index = tab.proxy.index(0, 0)
    rect = tab.view.visualRect(index)
    on_link = [QPoint(x, y) for y in range(rect.top(), rect.bottom(), 5)
               for x in range(rect.left(), rect.right(), 6) if tab.link_at(QPoint(x, y)) == url]
    assert on_link
    y = on_link[0].y()
    option = QStyleOptionViewItem()
    option.font = tab.view.font()
    option.rect = rect
    bubble = tab.delegate._measure(option, index)
    line = bubble.body.lineAt(0)
    at = rect.left() + bubble.bubble.left() + tab.delegate.PAD_X

    def middle(unit: int) -> int:  # the x of the middle of UTF-16 unit ``unit`` of line 0
        return round(at + (line.cursorToX(unit)[0] + line.cursorToX(unit + 1)[0]) / 2)

    first = len(("\U0001F600" * 3 + " see ").encode("utf-16-le")) // 2  # 11 UTF-16 units
    assert tab.link_at(QPoint(middle(first), y)) == url  # the "h" of https
    assert tab.link_at(QPoint(middle(first + len(url) - 1), y)) == url  # the "p" at its end
    assert tab.link_at(QPoint(middle(first - 2), y)) is None  # the "e" of "see"


def test_bubbles_keep_readable_lines_in_a_wide_window(qtbot):
    """In a maximised window a long message ran to about 190 characters a line: a bubble's
    lines stop at about 80 average characters; a narrow window still wraps at its width."""
    model = ConversationModel("bob", "bob")
    model.append(ChatItem(MessageKind.OTHER, "bob", "word " * 200, ts=1_700_000_000.0, seq=1))
    tab = ConversationWidget(model)
    qtbot.addWidget(tab)
    tab.show()
    qtbot.waitExposed(tab)
    option = QStyleOptionViewItem()
    option.font = tab.view.font()
    fm = QFontMetricsF(option.font)
    widths = {}
    for width in (1800, 500):
        tab.resize(width, 400)
        qtbot.waitUntil(lambda w=width: tab.view.viewport().width() > w - 60)
        option.rect = tab.view.visualRect(tab.proxy.index(0, 0))
        widths[width] = tab.delegate._measure(option, tab.proxy.index(0, 0)).bubble.width()
    pad = 2 * tab.delegate.PAD_X
    assert widths[1800] <= fm.averageCharWidth() * 80 + pad + 1
    assert widths[500] < widths[1800] and widths[500] <= 0.72 * 500


def test_find_lights_matches_in_texts_that_case_folding_lengthens(qtbot):
    """"ß" folds to "ss": such a message was counted as a match (and stepped to) but never
    lit; "é" written as e + accent was not found at all (a hunt)."""
    model = ConversationModel("bob", "bob")
    tab = ConversationWidget(model)
    qtbot.addWidget(tab)
    tab.delegate.search_text = "CAFÉ AT LUNCH"
    text = "Grüße — cafe\u0301 at lunch"
    layout, _w, _h = tab.delegate._layout(text, tab.view.font(), 600.0)
    units = layout.text().encode("utf-16-le")
    lit = [units[2 * r.start:2 * (r.start + r.length)].decode("utf-16-le")
           for r in layout.formats()]
    assert lit == ["cafe\u0301 at lunch"]
