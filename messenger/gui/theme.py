"""Colours that follow the desktop's light or dark palette.

The bubbles, notices, error labels and bars used fixed light-theme colours: on a dark palette
the grey notices and the red errors sat dark on dark (contrast ≈ 2:1) and the other party's
bubbles were bright slabs. :func:`colors` picks the set for a palette. Every text the
delegates and bars draw in these colours, and in the own bubble's (``delegates.OWN_*``, the
same in both), keeps a contrast of at least 4.5:1 on what it is drawn on (WCAG 2.1 §1.4.3,
"AA"), checked pair by pair by ``tests/unit/test_theme.py`` with :func:`contrast` (the
texts drawn straight on the window or a list also on KDE's and GNOME's dark themes); the
highlight of search matches and the read badge have their own fixed pairs (≥ 10:1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication, QWidget

__all__ = ["DARK", "LIGHT", "Colors", "colors", "contrast", "error_style", "follow_palette",
           "is_dark", "restyle_on_desktop_changes", "sample_dark_palette", "secondary_text"]


@dataclass(frozen=True)
class Colors:
    """One set of palette-dependent colours (``QColor``s)."""

    other_bubble: QColor
    other_text: QColor
    sender_text: QColor
    """The sender's name above another's message."""
    meta_other: QColor
    """Time and "edited" in another's bubble; the detail line of a group row."""
    system_text: QColor
    """Notices between the bubbles ("bob joined"), the day pills' text, and secondary text
    on the window (a tab's status line, "No messages yet", typing; :func:`secondary_text`)."""
    day_pill: QColor
    error_bubble: QColor
    error_border: QColor
    error_text: QColor
    """Error text, on :attr:`error_bubble` and on the window."""
    link: QColor
    """A link in another's bubble."""
    warning_background: QColor
    warning_border: QColor
    warning_text: QColor
    """The invitation bar."""
    unread_line: QColor
    """The "New messages" line and its label."""


LIGHT = Colors(
    other_bubble=QColor("#eef0f3"), other_text=QColor("#1f2328"),
    sender_text=QColor("#1864ab"), meta_other=QColor("#5c636a"),
    system_text=QColor("#5c636a"), day_pill=QColor("#e9ecef"),
    error_bubble=QColor("#fdecea"), error_border=QColor("#f1aeb5"),
    error_text=QColor("#b3261e"), link=QColor("#1864ab"),
    warning_background=QColor("#fff3bf"), warning_border=QColor("#ffd43b"),
    warning_text=QColor("#5c3c00"), unread_line=QColor("#c2410c"),
)

DARK = Colors(
    other_bubble=QColor("#2f343a"), other_text=QColor("#e9ecef"),
    sender_text=QColor("#74c0fc"), meta_other=QColor("#adb5bd"),
    system_text=QColor("#adb5bd"), day_pill=QColor("#343a40"),
    error_bubble=QColor("#3d1f22"), error_border=QColor("#8c3a40"),
    error_text=QColor("#ffa8a8"), link=QColor("#74c0fc"),
    warning_background=QColor("#3d3415"), warning_border=QColor("#8f7a1f"),
    warning_text=QColor("#ffe8a3"), unread_line=QColor("#fd7e14"),
)


def is_dark(palette: QPalette) -> bool:
    """True when ``palette`` draws light text on a dark window (a dark theme)."""
    return palette.color(QPalette.ColorRole.WindowText).lightness() > \
        palette.color(QPalette.ColorRole.Window).lightness()


def colors(palette: QPalette | None = None) -> Colors:
    """The colour set for ``palette`` (default: the application's)."""
    if palette is None:
        palette = QApplication.palette()
    return DARK if is_dark(palette) else LIGHT


def error_style(*, bold: bool = False) -> str:
    """A style sheet that colours a widget's text as an error on the application's palette
    (not the widget's own: a style sheet changes that one)."""
    style = f"color: {colors().error_text.name()};"
    return style + (" font-weight: bold;" if bold else "")


class _PaletteFollower(QObject):
    """Calls ``apply`` once after the palette or the colour scheme of its widget changed
    (several change events in a row: once)."""

    EVENTS = (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange,
              QEvent.Type.ThemeChange)

    def __init__(self, widget: QWidget, apply: Callable[[], None]) -> None:
        super().__init__(widget)
        self._apply = apply
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._run)
        self._last = is_dark(QApplication.palette())
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in self.EVENTS and not self._timer.isActive():
            self._timer.start()
        return False

    def _run(self) -> None:
        dark = is_dark(QApplication.palette())
        if dark != self._last:  # (a style sheet set by ``apply`` changes palettes too)
            self._last = dark
            self._apply()


class _Restyler(QObject):
    """Sets every widget's style sheet again (once, after a burst of changes) when the
    application's palette or font changed, so that Qt resolves them anew: ``palette(base)``
    in a sheet against the new palette, and the widget (with its children) takes the new
    palette and font instead of keeping those of when its sheet was set. One per
    application, told of changes by the widgets given to :func:`restyle_on_desktop_changes`
    (windows get ``ApplicationPaletteChange``, the others ``PaletteChange`` when they have
    no sheet of their own; an event filter on the application would see every event)."""

    EVENTS = (QEvent.Type.ApplicationPaletteChange, QEvent.Type.PaletteChange,
              QEvent.Type.ApplicationFontChange, QEvent.Type.FontChange,
              QEvent.Type.ThemeChange)

    _instance: _Restyler | None = None

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._run)
        self._last = (QPalette(app.palette()), QFont(app.font()))

    @classmethod
    def instance(cls) -> _Restyler | None:
        app = QApplication.instance()
        if not isinstance(app, QApplication):
            return None
        if cls._instance is None or cls._instance.parent() is not app:
            cls._instance = cls(app)
        return cls._instance

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in self.EVENTS and not self._timer.isActive():
            self._timer.start()
        return False

    def _run(self) -> None:
        now = (QPalette(QApplication.palette()), QFont(QApplication.font()))
        if now == self._last:  # (the restyling below changes widgets' palettes too)
            return
        self._last = now
        for widget in QApplication.allWidgets():
            sheet = widget.styleSheet()
            if sheet:
                widget.setStyleSheet(sheet)


def restyle_on_desktop_changes(widget: QWidget) -> None:
    """After the application's palette or font changed (the desktop turned dark, its font
    grew) and ``widget`` (best a window) was told, set every widget's style sheet again,
    so that those widgets and their children take the new palette and font too."""
    restyler = _Restyler.instance()
    if restyler is not None:
        widget.installEventFilter(restyler)


def follow_palette(widget: QWidget, apply: Callable[[], None]) -> None:
    """Run ``apply`` (which sets ``widget``'s colours from :func:`colors`) now, and again
    whenever the desktop switches between a light and a dark palette while the app runs;
    and after any change of the desktop's palette or font, set every widget's style sheet
    again (:func:`restyle_on_desktop_changes`)."""
    apply()
    _PaletteFollower(widget, apply)
    restyle_on_desktop_changes(widget)


def secondary_text(widget: QWidget, extra: str = "", *, selector: str = "") -> None:
    """Colour ``widget``'s text as secondary (:attr:`Colors.system_text`, ≥ 4.5:1 on the
    window), following light/dark switches. Not the palette's ``PlaceholderText``: that one
    is meant for hints in empty fields, and Fusion's (half-transparent black) makes ≈ 4:1.

    Args:
        extra: more declarations for the style sheet, e.g. ``"font-style: italic;"``.
        selector: when given (``"#closedLabel"``), the rule applies to it only.
    """
    def apply() -> None:
        rule = f"color: {colors().system_text.name()}; {extra}".strip()
        widget.setStyleSheet(f"{selector} {{ {rule} }}" if selector else rule)

    follow_palette(widget, apply)


def _luminance(color: QColor) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(color.redF()) + 0.7152 * channel(color.greenF()) + \
        0.0722 * channel(color.blueF())


def contrast(a: QColor, b: QColor) -> float:
    """Contrast ratio of two colours, 1 to 21 (WCAG 2.1, "contrast ratio" definition)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def sample_dark_palette() -> QPalette:
    """A dark palette like a desktop's dark theme gives (for screenshots and tests)."""
    palette = QPalette(QColor("#2b2c2f"), QColor("#202124"))
    for role, colour in ((QPalette.ColorRole.WindowText, "#e8eaed"),
                         (QPalette.ColorRole.Base, "#1b1b1d"),
                         (QPalette.ColorRole.AlternateBase, "#26272a"),
                         (QPalette.ColorRole.Text, "#e8eaed"),
                         (QPalette.ColorRole.ButtonText, "#e8eaed"),
                         (QPalette.ColorRole.PlaceholderText, "#9aa0a6"),
                         (QPalette.ColorRole.Mid, "#3c4043"),
                         (QPalette.ColorRole.Dark, "#2a2b2e"),
                         (QPalette.ColorRole.Highlight, "#3d6fb4"),
                         (QPalette.ColorRole.HighlightedText, "#ffffff"),
                         (QPalette.ColorRole.ToolTipBase, "#2b2c2f"),
                         (QPalette.ColorRole.ToolTipText, "#e8eaed")):
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText,
                 QPalette.ColorRole.ButtonText):  # (disabled buttons looked enabled)
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7f8388"))
    return palette
