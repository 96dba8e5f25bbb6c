"""Quoted replies: a reply carries what it answers as a leading ``> `` line of its text.

A reply to alice's "see you at 5?" is sent as the text::

    > alice: see you at 5?
    on my way

Plain text, as in e-mail, IRC and Markdown: it needs no protocol field, so every app (and
every older one), the history, the search and the export show it, and nobody can make a
quote say something the text does not. The app draws the leading ``>`` lines as a quote block
above the rest of the bubble (:func:`split_quote`). Pure functions, no Qt.
"""

from __future__ import annotations

import re
import unicodedata

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
    """The last position at or before ``at`` where a cut leaves whole characters as the
    reader sees them (grapheme clusters, approximately UAX #29): never before a combining
    mark, a variation selector, a skin tone or a zero-width joiner, never after a joiner
    (emoji sequences: "👨‍👩‍👧"), never inside a flag's pair of regional indicators or a Hangul
    syllable typed as conjoining jamo. Cut between code points, a quoted "🇫🇷" became a lone
    letter box, an "é" typed as e + accent lost its accent (a hunt). ``at`` itself when
    the first character reaches past it (a letter under hundreds of accents is cut anyway)."""
    at = max(0, min(at, len(text)))
    start = at
    while 0 < start < len(text) and not _boundary(text, start):
        start -= 1
    return start or at


_ZWJ = "\u200d"


def _extends(char: str) -> bool:
    """Whether ``char`` belongs to the character before it (Grapheme_Extend, SpacingMark,
    the emoji joiner, modifiers and tags)."""
    code = ord(char)
    return unicodedata.category(char) in ("Mn", "Me", "Mc") or char in (_ZWJ, "\u200c") \
        or 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF \
        or 0xE0020 <= code <= 0xE007F or 0xE0100 <= code <= 0xE01EF or code in (0xFF9E, 0xFF9F)


def _regional(char: str) -> bool:
    return "\U0001F1E6" <= char <= "\U0001F1FF"


def _hangul(char: str) -> str:
    """The Hangul syllable type of ``char`` ("L", "V", "T", "LV", "LVT") or ""."""
    code = ord(char)
    if 0x1100 <= code <= 0x115F or 0xA960 <= code <= 0xA97C:
        return "L"
    if 0x1160 <= code <= 0x11A7 or 0xD7B0 <= code <= 0xD7C6:
        return "V"
    if 0x11A8 <= code <= 0x11FF or 0xD7CB <= code <= 0xD7FB:
        return "T"
    if 0xAC00 <= code <= 0xD7A3:
        return "LV" if (code - 0xAC00) % 28 == 0 else "LVT"
    return ""


def _boundary(text: str, at: int) -> bool:
    """Whether a character begins at ``at`` (0 < ``at`` < ``len(text)``)."""
    before, char = text[at - 1], text[at]
    if _extends(char) or before == _ZWJ:
        return False
    if _regional(before) and _regional(char):
        run = at - 1
        while run > 0 and _regional(text[run - 1]):
            run -= 1
        return (at - run) % 2 == 0
    if (kind := _hangul(char)) and (prev := _hangul(before)):
        return not ((prev == "L" and kind in ("L", "V", "LV", "LVT"))
                    or (prev in ("LV", "V") and kind in ("V", "T"))
                    or (prev in ("LVT", "T") and kind == "T"))
    return True


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
