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
    cut = flat[:limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


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
