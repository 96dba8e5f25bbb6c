"""What the lists draw keeps a contrast of 4.5:1 (WCAG 2.1 AA for normal-size text),
measured on the pixels drawn: offline people's names, the words on the pills, the hint of
an empty list (which also fits in the list with a large font)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage
from PySide6.QtWidgets import QApplication

from messenger.gui.theme import contrast


def max_contrast_against(image: QImage, rect: QRect, background: QColor) -> float:
    """The highest contrast of any pixel in ``rect`` of ``image`` against ``background``
    (anti-aliasing only lowers it: the glyphs' cores have the pen's colour)."""
    best = 1.0
    for y in range(rect.top(), rect.bottom() + 1):
        for x in range(rect.left(), rect.right() + 1):
            best = max(best, contrast(QColor(image.pixel(x, y)), background))
    return best


def test_offline_contacts_names_are_readable(qtbot, either_palette, open_window):
    """Everyone offline in the contact list (usually most people) was written in the
    palette's *disabled* text colour: #bebebe on white with the default style, 1.9:1. They
    are not disabled: a double click opens the conversation."""
    window = open_window("alice")  # bob and charlie are offline
    view = window.roster_view
    index = window.contact_index("charlie")
    qtbot.waitUntil(lambda: view.visualRect(index).height() > 0)
    rect = view.visualRect(index)
    image = view.viewport().grab().toImage()
    background = QColor(image.pixel(rect.right() - 2, rect.center().y()))
    text = QRect(rect.left() + 30, rect.top() + 2, 60, rect.height() - 4)
    assert max_contrast_against(image, text, background) >= 4.5


def pill_contrast(view, row: int) -> float:
    """The contrast of the word on the pill at the right end of ``view``'s ``row``: the
    pill's fill is the most common colour of a band across its middle."""
    image = view.viewport().grab().toImage()
    rect = view.visualRect(view.model().index(row, 0))
    band = QRect(rect.right() - 50, rect.center().y() - 3, 36, 7)
    counts: dict[int, int] = {}
    for y in range(band.top(), band.bottom() + 1):
        for x in range(band.left(), band.right() + 1):
            counts[image.pixel(x, y)] = counts.get(image.pixel(x, y), 0) + 1
    return round(max_contrast_against(image, band, QColor(max(counts, key=counts.get))), 2)


def test_the_white_words_on_the_group_pills_are_readable(qtbot, open_window):
    """"leader" (white on orange, 3.6:1) and "invited" (white on light grey, 2.1:1) in a
    group's member panel; "invited" in the invitee's Groups list (white on amber, 2.5:1)."""
    bob = open_window("bob")
    alice = open_window("alice")
    assert alice.engine.create_group("lab", ["bob"], False)
    qtbot.waitUntil(lambda: bob.engine.groups.group("lab") is not None, timeout=10_000)
    view = alice.open_group("lab").members_view
    qtbot.waitUntil(lambda: view.model().rowCount() == 2, timeout=10_000)
    ratios = {
        "leader": pill_contrast(view, 0),
        "invited (members)": pill_contrast(view, 1),
        "invited (groups list)": pill_contrast(bob.groups_view, 0),
    }
    assert all(r >= 4.5 for r in ratios.values()), ratios


def test_the_empty_lists_hints_are_readable(qtbot, either_palette, open_window):
    """"No groups yet. “New group…” starts one; …" was drawn in the palette's
    PlaceholderText (half-transparent black with the default style: 4.0:1 on white)."""
    window = open_window("alice")
    view = window.groups_view
    assert view.hint_text().startswith("No groups yet.")
    image = view.viewport().grab().toImage()
    background = QColor(image.pixel(2, image.height() - 3))
    text = QRect(12, 12, image.width() - 24, 3 * view.fontMetrics().height())
    assert max_contrast_against(image, text, background) >= 4.5


@pytest.fixture
def large_font(qapp):
    """The app's font at 200 % (the one it had is back afterwards)."""
    before = qapp.font()
    big = QFont(before)
    big.setPointSizeF(before.pointSizeF() * 2)
    qapp.setFont(big)
    yield big
    QApplication.setFont(before)


def test_the_empty_groups_hint_fits_with_a_large_font(qtbot, large_font, open_window):
    """At 200 % the Groups list's hint lost its last line ("ones." cut in half): painted
    into the viewport, the hint neither scrolls nor makes the list taller. What does not
    fit ends in "…"."""
    view = open_window("alice").groups_view
    text = view.hint_text()
    assert text.startswith("No groups yet.") and text.endswith("…"), text
    area = view.viewport().rect().adjusted(12, 12, -12, -12)
    needed = QFontMetrics(view.font()).boundingRect(
        area, int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
                  | Qt.TextFlag.TextWordWrap), text)
    assert needed.bottom() <= area.bottom(), (needed, area)
