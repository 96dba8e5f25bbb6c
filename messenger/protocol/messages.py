"""Message types of protocol v1, as msgspec Structs tagged by ``type``.

Every frame's payload is one JSON object whose ``type`` field names one of the Structs below
(``tag_field="type"``). Fields left at their default are omitted on the wire. The full reference,
with examples, is ``docs/protocol.md``.

Naming: *requests* carry a client-chosen ``id`` (an int, unique per connection) and are answered
by exactly one ``ok`` or ``error`` frame with the same ``id``. *Events* have no ``id`` and get no
answer.
"""

from __future__ import annotations

from typing import Literal

import msgspec

PROTOCOL_VERSION = 1
"""The protocol version this code speaks; sent in both ``hello`` frames."""

MAX_TEXT_LENGTH = 16_000
"""Longest chat message ``text`` in characters (default server limit)."""

Scope = Literal["unicast", "multicast", "broadcast", "group"]
"""Who a chat message goes to: one user, a list of users, everyone, or a group's members."""


class _Base(msgspec.Struct, tag_field="type", omit_defaults=True, forbid_unknown_fields=False):
    pass


# --------------------------------------------------------------------------------------------
# Both directions


class Hello(_Base, tag="hello"):
    """First frame in each direction. ``agent`` names the software, for logs only.

    The server answers a client's ``hello`` with its own, adding ``max_frame`` (bytes) and
    ``server_time`` (Unix seconds).
    """

    protocol_version: int
    agent: str = ""
    max_frame: int | None = None
    server_time: float | None = None


class Ping(_Base, tag="ping"):
    """Heartbeat; the other side answers ``pong`` with the same ``nonce``."""

    nonce: int = 0


class Pong(_Base, tag="pong"):
    """Answer to ``ping``."""

    nonce: int = 0


# --------------------------------------------------------------------------------------------
# Client → server requests


class Register(_Base, tag="register"):
    """Create an account and log in to it. Errors: invalid_name, invalid_password, name_taken."""

    id: int
    user: str
    password: str


class Login(_Base, tag="login"):
    """Log in. Errors: bad_credentials (wrong name *or* password), locked_out."""

    id: int
    user: str
    password: str


class Logout(_Base, tag="logout"):
    """End the session; the server answers ``ok`` and closes the connection."""

    id: int


class GetRoster(_Base, tag="roster"):
    """Ask for every account with its presence; answered by ``ok`` with ``roster``."""

    id: int


class Send(_Base, tag="send"):
    """Send a chat message.

    ``scope`` decides the recipients: ``unicast`` → ``to`` holds one user name; ``multicast`` →
    ``to`` holds two or more user names; ``broadcast`` → ``to`` is empty, everyone gets it.
    ``client_msg_id`` is chosen by the client (a UUID) and makes retries idempotent.
    Answered by ``ok`` with ``seq`` and ``ts`` once the message is stored.
    Errors: unknown_user, empty_message, message_too_long, bad_request.
    """

    id: int
    client_msg_id: str
    scope: Scope
    text: str
    to: list[str] = []


class Delivered(_Base, tag="delivered"):
    """Event: the client has stored the chat messages with these ``seq`` numbers."""

    seqs: list[int]


# --------------------------------------------------------------------------------------------
# Server → client


class RosterEntry(msgspec.Struct, omit_defaults=True):
    """One account in a roster: its canonical ``name`` and whether it is ``online``."""

    name: str
    online: bool = False
    since: float | None = None


class Ok(_Base, tag="ok"):
    """Success reply to the request with the same ``id``.

    Fields present depend on the request: ``login``/``register`` → ``user`` (canonical name) and
    ``roster``; ``roster`` → ``roster``; ``send`` → ``seq`` and ``ts``.
    """

    id: int
    user: str | None = None
    seq: int | None = None
    ts: float | None = None
    roster: list[RosterEntry] | None = None


class Error(_Base, tag="error"):
    """Failure reply to the request with the same ``id``, or with ``id`` null when the frame
    that caused it had none. ``code`` is an :class:`~messenger.protocol.errors.ErrorCode`,
    ``message`` is for people. ``retry_after`` (seconds) comes with ``locked_out``.
    """

    code: str
    message: str
    id: int | None = None
    retry_after: float | None = None


class Presence(_Base, tag="presence"):
    """Event: ``user`` came online or went offline at ``ts`` (Unix seconds)."""

    user: str
    online: bool
    ts: float


class Message(_Base, tag="message"):
    """Event: a chat message delivered to this client.

    ``seq`` is assigned by the server, unique and increasing over the whole server (so also
    within each conversation). ``sender`` is the logged-in account that sent it, decided by the
    server. ``to`` lists the user recipients for unicast/multicast, is empty for broadcast.
    A client answers with ``delivered`` once it has stored the message; until then the server
    re-delivers it at every login.
    """

    seq: int
    ts: float
    sender: str
    scope: Scope
    text: str
    client_msg_id: str
    to: list[str] = []
    group: str | None = None


ClientFrame = Hello | Ping | Pong | Register | Login | Logout | GetRoster | Send | Delivered
"""Every frame a client may send."""

ServerFrame = Hello | Ping | Pong | Ok | Error | Presence | Message
"""Every frame a server may send."""

CLIENT_TYPES: frozenset[str] = frozenset(
    t.__struct_config__.tag for t in ClientFrame.__args__  # type: ignore[attr-defined]
)
SERVER_TYPES: frozenset[str] = frozenset(
    t.__struct_config__.tag for t in ServerFrame.__args__  # type: ignore[attr-defined]
)
