"""Quoted replies: a reply carries what it answers as a leading ``> `` line of its text.

A reply to alice's "see you at 5?" is sent as the text::

    > alice: see you at 5?
    on my way

Plain text, as in e-mail, IRC and Markdown: it needs no protocol field, so every app (and
every older one), the history, the search and the export show it, and nobody can make a
quote say something the text does not. The app draws the leading ``>`` lines as a quote block
above the rest of the bubble (:func:`split_quote`). Pure functions; QtCore only for
Unicode's character boundaries (:func:`cluster_start`).
"""

from __future__ import annotations

import re

from PySide6.QtCore import QTextBoundaryFinder

QUOTE_MARK = ">"
MAX_EXCERPT = 120
"""Characters of the quoted text kept in the quote line (the rest becomes "…")."""

_SPACES = re.compile(r"\s+")


def excerpt(text: str, limit: int = MAX_EXCERPT) -> str:
    """``text`` as one line of at most ``limit`` characters: its own quote dropped (a reply
    to a reply quotes only the answer), runs of white space (new lines too) made one space,
    and cut at a word boundary when possible, ending in "…"."""
    _quote, body = split_quote(text)
    flat = _SPACES.sub(" ", body).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[:cluster_start(flat, limit - 1)]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def cluster_start(text: str, at: int) -> int:
    """The last position (a Python index) at or before ``at`` where a cut leaves whole
    characters as the reader sees them: grapheme clusters per UAX #29, found by Qt's
    ``QTextBoundaryFinder`` (emoji sequences such as "👨‍👩‍👧", a flag's pair of regional
    indicators, an "é" typed as e + accent, Hangul jamo, an Indic virama with its consonant).
    Cut between code points, a quoted "🇫🇷" became a lone letter box (a hunt). ``at`` itself
    when the first character reaches past it (a letter under hundreds of accents is cut
    anyway)."""
    at = max(0, min(at, len(text)))
    if at in (0, len(text)):
        return at
    finder = QTextBoundaryFinder(QTextBoundaryFinder.BoundaryType.Grapheme, text)
    units = _utf16_length(text[:at])
    finder.setPosition(units)
    if not finder.isAtBoundary():
        finder.toPreviousBoundary()
    boundary = max(finder.position(), 0)
    start = at
    while units > boundary:   # back from UTF-16 units to code points
        start -= 1
        units -= 2 if ord(text[start]) > 0xFFFF else 1
    return start or at


def _utf16_length(text: str) -> int:
    """``text``'s length in UTF-16 code units (Qt's string positions)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def quote_line(sender: str, text: str) -> str:
    """The quote line of a reply to ``sender``'s message ``text``: ``"> sender: excerpt"``."""
    return f"{QUOTE_MARK} {sender}: {excerpt(text)}"


def reply_text(sender: str, quoted: str, answer: str) -> str:
    """The text to send as a reply ``answer`` to ``sender``'s message ``quoted``."""
    return quote_line(sender, quoted) + "\n" + answer


def split_quote(text: str) -> tuple[str, str]:
    """``(quote, body)`` of a message text: ``quote`` is its leading lines that start with
    ``>`` (the mark and one space after it removed, joined by new lines), ``body`` the rest.
    A text without such lines, or with nothing else, is all body: ``("", text)``."""
    if not text.startswith(QUOTE_MARK):
        return "", text
    lines = text.split("\n")
    quoted: list[str] = []
    for line in lines:
        if not line.startswith(QUOTE_MARK):
            break
        line = line[len(QUOTE_MARK):]
        quoted.append(line[1:] if line.startswith(" ") else line)
    body = "\n".join(lines[len(quoted):])
    if not body.strip():
        return "", text
    return "\n".join(quoted), body
