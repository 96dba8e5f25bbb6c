"""Rules for user and group names, shared by server and client."""

from __future__ import annotations

import re

NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
"""A user or group name: 1–32 characters of ``[A-Za-z0-9_.-]``; unique ignoring case."""

MIN_PASSWORD = 6
MAX_PASSWORD = 1024


def is_valid_name(name: str) -> bool:
    """True when ``name`` is a well-formed user or group name."""
    return isinstance(name, str) and NAME_RE.fullmatch(name) is not None


def name_key(name: str) -> str:
    """The case-insensitive key of a name (``casefold``), used for uniqueness and look-ups."""
    return name.casefold()


_LOOKALIKE = str.maketrans({"I": "l", "1": "l", "O": "o", "0": "o"})


def name_skeleton(name: str) -> str:
    """How ``name`` reads in a sans-serif font, for refusing look-alike account names:
    capital I and digit 1 read as l, capital O and digit 0 as o, case ignored (``"aIice"``
    and ``"alice"`` share ``"alice"``). A much smaller cousin of Unicode's confusable
    skeletons (UTS #39 §4): names are ASCII."""
    return name.translate(_LOOKALIKE).casefold()


RESERVED_NAMES = frozenset({"everyone"})
"""User names no account may take (ignoring case, and names that read the same:
:func:`name_skeleton`): "Everyone" is the broadcast conversation's name, and an account of
that name passed for it (its private tab read "Everyone"; a hunt), as did "Every0ne"."""

_RESERVED_SKELETONS = frozenset(name_skeleton(name) for name in RESERVED_NAMES)


def is_reserved_name(name: str) -> bool:
    """True when ``name`` is one of :data:`RESERVED_NAMES` or reads like one (the same
    :func:`name_skeleton`: ``"Every0ne"``, ``"EVERYONE"``)."""
    return name_skeleton(name) in _RESERVED_SKELETONS


PASSWORD_RULE = f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters."
"""The password rule as the apps say it (one wording everywhere)."""


def is_valid_password(password: str) -> bool:
    """True when ``password`` has between 6 and 1024 characters."""
    return isinstance(password, str) and MIN_PASSWORD <= len(password) <= MAX_PASSWORD
