"""Which conversation a chat message belongs to — plain rules, no Qt, no sockets.

A conversation is keyed by a string:

* :data:`EVERYONE` (``"#everyone"``) for broadcasts; ``#`` cannot occur in a user name, so a user
  called "everyone" gets a conversation of their own;
* the peer's :func:`~messenger.protocol.names.name_key` (case-folded name) for a private
  conversation;
* :data:`GROUP_PREFIX` + the group's case-folded name (``"#group:lab"``) for a group's
  conversation — user names cannot contain ``#`` either, so the three never collide.

Multicast messages go into each pair conversation: the sender files their message into the
conversation with each recipient, a recipient files it into the conversation with the sender;
either way the item notes who else got it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..protocol.names import name_key

EVERYONE = "#everyone"
"""The key of the broadcast conversation."""

EVERYONE_TITLE = "Everyone"

GROUP_PREFIX = "#group:"
"""The prefix of a group conversation's key."""


def peer_key(name: str) -> str:
    """The key of the private conversation with user ``name``."""
    return name_key(name)


def group_key(name: str) -> str:
    """The key of group ``name``'s conversation."""
    return GROUP_PREFIX + name_key(name)


def history_name(key: str) -> str:
    """The protocol's name of conversation ``key`` in a ``history`` request:
    ``"everyone"``, ``"group:<name>"`` or ``"user:<name>"``."""
    if key == EVERYONE:
        return "everyone"
    if is_group(key):
        return "group:" + key[len(GROUP_PREFIX):]
    return "user:" + key


def key_of_history_name(name: str) -> str | None:
    """The key of the conversation a server names ``name`` (``"everyone"``, ``"group:<name>"``
    or ``"user:<name>"``, as in :func:`history_name`), or None for anything else."""
    kind, _, target = name.partition(":")
    if name == "everyone":
        return EVERYONE
    if kind == "group" and target:
        return group_key(target)
    if kind == "user" and target and "#" not in target:
        return peer_key(target)
    return None


def is_everyone(key: str) -> bool:
    return key == EVERYONE


def is_group(key: str) -> bool:
    """True for the key of a group conversation."""
    return key.startswith(GROUP_PREFIX)


def is_private(key: str) -> bool:
    """True for the key of a conversation with one person."""
    return not key.startswith("#")


@dataclass(frozen=True)
class Placement:
    """Where one message goes: conversation ``key``, titled ``title`` (the peer's name or
    "Everyone"), with ``also`` naming other recipients of a multicast (empty otherwise)."""

    key: str
    title: str
    also: tuple[str, ...] = ()


def _others(names: Iterable[str], *exclude: str) -> tuple[str, ...]:
    skip = {name_key(n) for n in exclude}
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        k = name_key(name)
        if k not in skip and k not in seen:
            seen.add(k)
            out.append(name)
    return tuple(out)


def place_outgoing(me: str, scope: str, to: Sequence[str]) -> list[Placement]:
    """The conversations a message that ``me`` sends lands in (one per recipient for
    multicast; ``[EVERYONE]`` for broadcast; the group's for ``group``, ``to`` = [group])."""
    if scope == "broadcast":
        return [Placement(EVERYONE, EVERYONE_TITLE)]
    if scope == "group":
        return [Placement(group_key(to[0]), to[0])] if to else []
    recipients = _others(to, me) or tuple(to[:1])
    if scope == "multicast":
        return [Placement(peer_key(r), r, _others(recipients, r)) for r in recipients]
    return [Placement(peer_key(r), r) for r in recipients[:1]]


def place_incoming(me: str, sender: str, scope: str, to: Sequence[str],
                   group: str | None = None) -> list[Placement]:
    """The conversations a received message lands in (``group`` names the group of a group
    message or notice).

    A message whose ``sender`` is ``me`` (sent from another session of the same account) is
    placed as :func:`place_outgoing` would.
    """
    if scope == "group":
        return [Placement(group_key(group), group)] if group else []
    if name_key(sender) == name_key(me):
        return place_outgoing(me, scope, to)
    if scope == "broadcast":
        return [Placement(EVERYONE, EVERYONE_TITLE)]
    also = _others(to, me, sender) if scope == "multicast" else ()
    return [Placement(peer_key(sender), sender, also)]
