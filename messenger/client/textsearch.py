"""How Ctrl+F compares text: ignoring case and how accents are encoded (pure Python).

A message pasted from macOS may hold "é" as "e" plus a combining accent (NFD) where the
keyboard types one character (NFC): both are brought to NFC before case folding
(:meth:`str.casefold`, Unicode's full case folding, so "STRASSE" finds "Straße"). Case
folding changes lengths ("ß" → "ss", "İ" → "i̇"), so :func:`find_spans` maps what it finds
back to the message's own characters for highlighting.
"""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """``text`` as searches compare it: NFC, case-folded, NFC again."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


def contains(text: str, needle: str) -> bool:
    """Whether ``needle`` occurs in ``text`` as Ctrl+F matches (see :func:`fold`)."""
    return bool(needle) and fold(needle) in fold(text)


def find_spans(text: str, needle: str) -> list[tuple[int, int]]:
    """Where ``needle`` occurs in ``text``, as Ctrl+F matches: ``(start, end)`` indexes into
    ``text`` itself (each covers whole characters with their combining marks), in order,
    not overlapping. Empty when ``needle`` is empty or not there."""
    want = fold(needle)
    if not want:
        return []
    folded, starts, ends = _folded(text)
    spans = []
    at = folded.find(want)
    while at >= 0:
        last = at + len(want) - 1
        spans.append((starts[at], ends[last]))
        at = folded.find(want, at + len(want))
    return spans


def _folded(text: str) -> tuple[str, list[int], list[int]]:
    """``text`` folded cluster by cluster (a character with the combining marks after it),
    and for each folded character the start and end of its cluster in ``text``."""
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        piece = fold(text[i:j])
        pieces.append(piece)
        starts.extend([i] * len(piece))
        ends.extend([j] * len(piece))
        i = j
    return "".join(pieces), starts, ends
