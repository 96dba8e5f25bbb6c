"""Quoted replies: a reply carries what it answers as a leading ``> `` line of its text.

A reply to alice's "see you at 5?" is sent as the text::

    > alice: see you at 5?
    on my way

Plain text, as in e-mail, IRC and Markdown: it needs no protocol field, so every app (and
every older one), the history, the search and the export show it, and nobody can make a
quote say something the text does not. The app draws the leading ``>`` lines as a quote block
above the rest of the bubble (:func:`split_quote`); a click on it goes to the message it
quotes, found by its sender and excerpt (:func:`find_quoted`). Pure functions; QtCore only
for Unicode's character boundaries (:func:`cluster_start`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from PySide6.QtCore import QTextBoundaryFinder

from ..protocol import RETRACTED_TEXT
from ..protocol.names import is_valid_name, name_key

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


def quoted_of(text: str) -> tuple[str, str] | None:
    """``(sender, excerpt)`` of the quote line a reply ``text`` starts with (as
    :func:`quote_line` makes it), or None when ``text`` is no reply: no quote, a quote of
    several lines (typed by hand, as in e-mail), or one without a user name before ``": "``."""
    quote, _body = split_quote(text)
    if not quote or "\n" in quote:
        return None
    sender, sep, said = quote.partition(": ")
    if not sep or not is_valid_name(sender):
        return None
    return sender, said


@dataclass(frozen=True)
class QuoteCandidate:
    """A message a reply may quote: its ``seq``, ``sender``, current ``text`` and when it
    was last ``edited`` (Unix seconds on the server's clock, None if never)."""

    seq: int
    sender: str
    text: str
    edited: float | None = None


class QuoteOutcome(enum.StrEnum):
    """What :func:`find_quoted` made of a reply's quote."""

    FOUND = "found"
    """A message says what the quote says: :attr:`QuoteTarget.seq`."""
    EDITED = "edited"
    """No message says it any more, but exactly one of the sender's was edited after the
    reply was sent: the quote was of its older text (:attr:`QuoteTarget.seq`)."""
    GONE = "gone"
    """Not in the history (deleted, or never cached): no seq."""
    OFFLINE = "offline"
    """Not among the messages on this computer, and the older history on the server could
    not be looked in for lack of a connection (never from :func:`find_quoted`: the
    conversation view says it when its search of older pages stopped there): no seq."""
    UNSURE = "unsure"
    """A message says what the quote says, but a newer one of the sender's was deleted, or
    edited after the reply, and may have been the one quoted: no seq (never a jump to a
    wrong message)."""


@dataclass(frozen=True)
class QuoteTarget:
    """Where a reply's quote points: an :class:`QuoteOutcome` and the message's seq."""

    outcome: QuoteOutcome
    seq: int | None = None

    def status(self) -> str:
        """What the status bar says of it ("" when the jump needs no word)."""
        if self.outcome is QuoteOutcome.EDITED:
            return "The quoted message was edited after this reply; it says something else now"
        if self.outcome is QuoteOutcome.GONE:
            return "The quoted message is not in this conversation's history any more"
        if self.outcome is QuoteOutcome.OFFLINE:
            return "The quoted message is further back than what is on this computer; " \
                "connect to look for it"
        if self.outcome is QuoteOutcome.UNSURE:
            return "The quoted message cannot be told apart from an older one: it was " \
                "deleted or edited since this reply"
        return ""


def find_quoted(reply: str, reply_ts: float, candidates: Iterable[QuoteCandidate]) -> QuoteTarget:
    """The message the quote line of ``reply`` (sent at ``reply_ts``) points to, among
    ``candidates``: the conversation's messages older than the reply, newest first.

    The quote names no message (there is no seq in it, see the module doc): the match is a
    message of the quoted sender whose :func:`excerpt` is the quote's, the newest before the
    reply when several say the same (edits considered: their current text). When none says
    it and exactly one of the sender's was edited after the reply was sent, the quote was
    of that one's older text (:attr:`QuoteOutcome.EDITED`); with several such, or one of
    the sender's deleted too, which one is not known, and none is given. Deleted messages
    match nothing, and one of the sender's deleted (or edited after the reply) between the
    match and the reply may have been the one quoted: :attr:`QuoteOutcome.UNSURE`, no seq
    (never a jump to a wrong message)."""
    quoted = quoted_of(reply)
    if quoted is None:
        return QuoteTarget(QuoteOutcome.GONE)
    sender, said = name_key(quoted[0]), quoted[1]
    edited_since: list[int] = []
    deleted = False
    for c in candidates:
        if name_key(c.sender) != sender:
            continue
        if c.text == RETRACTED_TEXT:
            deleted = True
            continue
        if excerpt(c.text) == said:
            if deleted or edited_since:
                return QuoteTarget(QuoteOutcome.UNSURE)
            return QuoteTarget(QuoteOutcome.FOUND, c.seq)
        if c.edited is not None and c.edited > reply_ts:
            edited_since.append(c.seq)
    if len(edited_since) == 1 and not deleted:
        return QuoteTarget(QuoteOutcome.EDITED, edited_since[0])
    return QuoteTarget(QuoteOutcome.GONE)
