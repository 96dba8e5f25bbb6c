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


PASSWORD_RULE = f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters."
"""The password rule as the apps say it (one wording everywhere)."""


def is_valid_password(password: str) -> bool:
    """True when ``password`` has between 6 and 1024 characters."""
    return isinstance(password, str) and MIN_PASSWORD <= len(password) <= MAX_PASSWORD
