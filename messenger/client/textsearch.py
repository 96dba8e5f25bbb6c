"""How Ctrl+F compares text: ignoring case and how accents are encoded (pure Python).

A message pasted from macOS may hold "é" as "e" plus a combining accent (NFD) where the
keyboard types one character (NFC): both are brought to NFC before case folding
(:meth:`str.casefold`, Unicode's full case folding, so "STRASSE" finds "Straße"). Case
folding changes lengths ("ß" → "ss", "İ" → "i̇"), so :func:`find_spans` maps what it finds
back to the message's own characters for highlighting, folding the message a cluster at a
time: a character with everything NFC composes with it (combining marks, and Hangul
syllables typed as conjoining jamo, which are no combining marks).
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


def _joins(cluster: str, char: str) -> bool:
    """Whether ``char`` belongs to the ``cluster`` before it: a combining mark, or a
    character NFC composes with what precedes it although it is no combining mark (Hangul
    conjoining jamo: "ᄒ" "ᅡ" "ᆫ" are "한"; some Indic vowel signs: "ொ" is "ெ" "ா")."""
    if char < "\u0300":  # (nothing below the first combining mark composes backwards)
        return False
    if unicodedata.combining(char):
        return True
    nfc = unicodedata.normalize
    return nfc("NFC", cluster + char) != nfc("NFC", cluster) + nfc("NFC", char)


def _folded(text: str) -> tuple[str, list[int], list[int]]:
    """``text`` folded cluster by cluster (a character with what composes with it after it:
    combining marks, conjoining jamo; folded alone, a lone jamo or mark does not compose
    and a match :func:`contains` counts was lit nowhere, a hunt), and for each folded
    character the start and end of its cluster in ``text``."""
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and _joins(text[i:j], text[j]):
            j += 1
        piece = fold(text[i:j])
        pieces.append(piece)
        starts.extend([i] * len(piece))
        ends.extend([j] * len(piece))
        i = j
    return "".join(pieces), starts, ends
