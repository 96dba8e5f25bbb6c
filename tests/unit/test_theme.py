"""Palette-dependent colours: every text keeps AA contrast on what it is drawn on."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel

from messenger.gui.delegates import (
    BADGE,
    FAILED_META,
    GROUP_ICON,
    INVITED,
    LEADER,
    MATCH_BACKGROUND,
    MATCH_TEXT,
    META_OWN,
    OWN_BUBBLE,
    OWN_TEXT,
    PENDING,
    PILL_TEXT,
    READ_BADGE,
    READ_CHECKS,
)
from messenger.gui.theme import (
    DARK,
    LIGHT,
    colors,
    contrast,
    is_dark,
    sample_dark_palette,
    secondary_text,
)


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, colour in ((QPalette.ColorRole.Window, "#202124"),
                         (QPalette.ColorRole.WindowText, "#e8eaed"),
                         (QPalette.ColorRole.Base, "#1b1b1d"),
                         (QPalette.ColorRole.Text, "#e8eaed")):
        palette.setColor(role, QColor(colour))
    return palette


def test_contrast_is_the_wcag_ratio():
    assert contrast(QColor("#000000"), QColor("#ffffff")) == pytest.approx(21.0)
    assert contrast(QColor("#777777"), QColor("#777777")) == pytest.approx(1.0)
    assert contrast(QColor("#767676"), QColor("#ffffff")) == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("name, c, window", [("light", LIGHT, QColor("#ffffff")),
                                             ("dark", DARK, QColor("#1b1b1d"))])
def test_every_text_keeps_aa_contrast_on_its_background(name, c, window):
    pairs = {
        "message text": (c.other_text, c.other_bubble),
        "sender name": (c.sender_text, c.other_bubble),
        "time": (c.meta_other, c.other_bubble),
        "link": (c.link, c.other_bubble),
        "notice": (c.system_text, window),
        "day pill": (c.system_text, c.day_pill),
        "error in a bubble": (c.error_text, c.error_bubble),
        "error on the window": (c.error_text, window),
        "invitation": (c.warning_text, c.warning_background),
        "new messages line": (c.unread_line, window),
        "own message text": (OWN_TEXT, OWN_BUBBLE),
        "own time and ticks": (META_OWN, OWN_BUBBLE),
        "own 'not sent'": (FAILED_META, OWN_BUBBLE),
        "read checks": (READ_CHECKS, READ_BADGE),
        "search match": (MATCH_TEXT, MATCH_BACKGROUND),
        "offline contact's name": (c.system_text, window),
        "'leader' pill": (PILL_TEXT, LEADER),
        "'invited' pill (members)": (PILL_TEXT, INVITED),
        "'invited' pill and tile (groups)": (PILL_TEXT, PENDING),
        "unread count pill": (PILL_TEXT, BADGE),
        "group tile": (PILL_TEXT, GROUP_ICON),
    }
    low = {what: round(contrast(*pair), 2) for what, pair in pairs.items()
           if contrast(*pair) < 4.5}
    assert not low, f"{name}: below 4.5:1: {low}"


@pytest.mark.parametrize("desktop, background", [
    ("Breeze Dark's list", "#232629"), ("Breeze Dark's window", "#31363b"),
    ("Adwaita-dark's list", "#2d2d2d"), ("Adwaita-dark's window", "#353535")])
def test_texts_on_the_window_or_list_keep_aa_contrast_on_common_dark_desktops(
        desktop, background):
    """The orange "New messages" line's label was 3.4:1 to 4.3:1 on the dark themes of
    KDE and GNOME (checked on the sample palette's near-black list only, where it made
    4.8:1): hard to read just where the unread messages begin (a hunt)."""
    on = QColor(background)
    texts = {"new messages line": DARK.unread_line, "notice": DARK.system_text,
             "error": DARK.error_text, "offline contact's name": DARK.system_text}
    low = {what: round(contrast(colour, on), 2) for what, colour in texts.items()
           if contrast(colour, on) < 4.5}
    assert not low, f"{desktop}: below 4.5:1: {low}"


def test_a_dark_palette_gets_the_dark_set(qapp):
    assert is_dark(dark_palette()) and colors(dark_palette()) is DARK
    light = QPalette(QColor("#f0f0f0"))
    assert not is_dark(light) and colors(light) is LIGHT


@pytest.mark.parametrize("c, window", [(LIGHT, QColor("#efefef")),  # Fusion's light window
                                       (DARK, QColor("#2b2c2f"))])  # sample_dark_palette's
def test_secondary_text_keeps_aa_contrast_on_the_window_unlike_the_placeholder_colour(
        qapp, c, window):
    assert contrast(c.system_text, window) >= 4.5
    # Fusion's placeholder colour (black at alpha 128, #777 over #efefef) falls short of
    # 4.5:1, which is why secondary text does not use it.
    assert c.system_text != QApplication.palette().color(QPalette.ColorRole.PlaceholderText)


def test_secondary_text_follows_a_switch_to_a_dark_palette(qapp, qtbot):
    label = QLabel("bob is typing…")
    qtbot.addWidget(label)
    secondary_text(label, "font-style: italic;", selector="QLabel")
    assert label.styleSheet() == \
        f"QLabel {{ color: {LIGHT.system_text.name()}; font-style: italic; }}"
    before = qapp.palette()
    qapp.setPalette(sample_dark_palette())
    try:
        qtbot.waitUntil(lambda: DARK.system_text.name() in label.styleSheet())
    finally:
        qapp.setPalette(before)
    qtbot.waitUntil(lambda: LIGHT.system_text.name() in label.styleSheet())


def test_the_sample_dark_palette_greys_out_disabled_buttons():
    """Its disabled Send and Attach looked enabled (button text as bright as an enabled
    one's) in docs/screenshots/dark.png."""
    p = sample_dark_palette()
    enabled = p.color(QPalette.ColorGroup.Active, QPalette.ColorRole.ButtonText)
    disabled = p.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText)
    assert disabled != enabled and disabled.lightness() < enabled.lightness()
