"""Message types of protocol v1, as msgspec Structs tagged by ``type``.

Every frame's payload is one JSON object whose ``type`` field names one of the Structs below
(``tag_field="type"``). Fields left at their default are omitted on the wire. The full reference,
with examples, is ``docs/protocol.md``.

Naming: *requests* carry a client-chosen ``id`` (an int, unique per connection) and are answered
by exactly one ``ok`` or ``error`` frame with the same ``id``. *Events* have no ``id`` and get no
answer.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

PROTOCOL_VERSION = 1
"""The protocol version this code speaks; sent in both ``hello`` frames."""

MAX_TEXT_LENGTH = 16_000
"""Longest chat message ``text`` in characters (default server limit)."""

ByteCount = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]
"""A file size or offset in bytes: 0 to 2^63-1 (SQLite's INTEGER); others fail decoding
(``bad_request``)."""

SqlInt = Annotated[int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]
"""A seq, receipt id or count: what SQLite's INTEGER holds (both sides store them there); a
larger number fails decoding (``bad_request``) instead of raising ``OverflowError`` at the
first query that uses it."""

Seq = Annotated[int, msgspec.Meta(ge=1, le=(1 << 63) - 1)]
"""A message's seq as the server hands them out: 1 to 2^63-1 (a frame with another fails
decoding: nothing the app could cache or answer)."""

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
"""A UDP port number."""

Scope = Literal["unicast", "multicast", "broadcast", "group"]
"""Who a chat message goes to: one user, a list of users, everyone, or a group's members."""


class _Base(msgspec.Struct, tag_field="type", omit_defaults=True, forbid_unknown_fields=False):
    pass


# --------------------------------------------------------------------------------------------
# Both directions


class Hello(_Base, tag="hello"):
    """First frame in each direction. ``agent`` names the software, for logs only.

    The server answers a client's ``hello`` with its own, adding ``max_frame`` (bytes),
    ``server_time`` (Unix seconds), ``features`` (names of optional protocol features it
    supports, see :data:`FEATURES`) and ``instance`` (its database's identity, 16 hex
    digits: another one at the same address means a new database, whose ``seq`` numbers
    start again, so what a client cached from the old one no longer matches).
    """

    protocol_version: int
    agent: str = ""
    max_frame: int | None = None
    server_time: float | None = None
    features: list[str] = []
    instance: str | None = None


FEATURES: tuple[str, ...] = ("private_read", "conversations")
"""Optional features this server supports (``hello.features``): ``private_read`` —
:class:`Read` with ``private``; ``conversations`` — :class:`GetConversations`."""


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
    """Log in. Errors: bad_credentials (wrong name *or* password), locked_out.

    ``receipts_after``: the highest receipt ``rid`` this client has; the server then sends
    every newer ``receipt`` for this user's messages right after the ``ok``.
    ``receipts_upto``: true to also get one ``receipts_upto`` per peer (the receipts of
    unicast messages are not logged: these stand for the ones the client missed).
    """

    id: int
    user: str
    password: str
    receipts_after: int | None = None
    receipts_upto: bool = False


class ChangePassword(_Base, tag="change_password"):
    """Change the logged-in account's password; answered by a bare ``ok``. ``password`` is
    the current one, checked (and counted) as at ``login``. Errors: invalid_password (the
    new one), bad_credentials (the current one is wrong), locked_out, rate_limited."""

    id: int
    password: str
    new_password: str


class Logout(_Base, tag="logout"):
    """End the session; the server answers ``ok`` and closes the connection."""

    id: int


class GetRoster(_Base, tag="roster"):
    """Ask for every account with its presence; answered by ``ok`` with ``roster``."""

    id: int


class Send(_Base, tag="send"):
    """Send a chat message.

    ``scope`` decides the recipients: ``unicast`` → ``to`` holds one user name; ``multicast`` →
    ``to`` holds one or more user names (repeats, in any case, count once); ``broadcast`` →
    everyone else gets it (``to`` is ignored); ``group`` → ``to`` holds the group's name.
    ``client_msg_id`` is chosen by the client (a UUID) and makes retries idempotent.
    Answered by ``ok`` with ``seq`` and ``ts`` once the message is stored.
    ``group_created`` (scope ``group`` only, optional): the ``created`` time of the group the
    message was typed for, as the server gave it; a group of that name created at another
    time (the one written to was dissolved and the name taken again) refuses it as
    ``group_changed``. Errors: unknown_user, empty_message, message_too_long, bad_request,
    unknown_group, not_member, group_changed.
    """

    id: int
    client_msg_id: str
    scope: Scope
    text: str
    to: list[str] = []
    group_created: float | None = None


class Retract(_Base, tag="retract"):
    """Delete one of your own chat messages for everyone: the server replaces its text with
    :data:`RETRACTED_TEXT` (history then shows that) and stores a ``deleted`` notice whose
    ``replaces`` is ``seq``, delivered like a message to the original's recipients and to your
    own sessions, so that apps blank their copy. Deleting it again changes nothing.
    Answered by ``ok`` with the notice's ``seq``. Errors: unknown_message (no chat message of
    yours with that seq)."""

    id: int
    seq: int


class Edit(_Base, tag="edit"):
    """Replace the text of one of your own chat messages. The server stores ``text`` as the
    message's text (``history`` then gives it, with ``edited``) and an ``edited`` notice whose
    ``replaces`` is ``seq`` and whose ``text`` is the new text, delivered like a message to
    the original's recipients and your own sessions; apps show it as the original's new text,
    not as a line of its own. ``client_msg_id`` (a new UUID per edit) makes retries
    idempotent. ``base``: the message's ``edited`` time the edit was made on (0.0: never
    edited); when given and the message was edited since (from another device), nothing
    changes and the answer is edit_conflict, so an edit sent late (after a lost link or a
    restart) never overwrites a newer one. Answered by ``ok`` with the notice's ``seq``.
    Errors: unknown_message (no chat message of yours with that seq, or a deleted one),
    empty_message, message_too_long, edit_conflict."""

    id: int
    client_msg_id: str
    seq: int
    text: str
    base: float | None = None


RETRACTED_TEXT = "This message was deleted."
"""What a deleted message's text becomes (in the server's history and in the apps)."""

EDITED_AFTER_LEAVING_TEXT = "This message was edited after you left the group."
"""What ``history`` shows a former member of a group message edited after their
membership ended, instead of a text they were never meant to see."""


class GroupCreate(_Base, tag="group_create"):
    """Create group ``group`` with the sender as leader and first member, and invite
    ``invite``. ``public`` groups can be joined by anyone; others by invitation only.
    Answered by ``ok`` with ``group``. Errors: invalid_name, name_taken, unknown_user."""

    id: int
    group: str
    invite: list[str] = []
    public: bool = False


class GroupInvite(_Base, tag="group_invite"):
    """Invite ``users`` to ``group``. The leader may always invite; members only in public
    groups. Errors: unknown_group, not_member, not_leader, unknown_user, already_member."""

    id: int
    group: str
    users: list[str]


class GroupAccept(_Base, tag="group_accept"):
    """Accept an invitation to ``group``. Errors: unknown_group, not_invited."""

    id: int
    group: str


class GroupDecline(_Base, tag="group_decline"):
    """Decline an invitation to ``group``. Errors: unknown_group, not_invited."""

    id: int
    group: str


class GroupJoin(_Base, tag="group_join"):
    """Join ``group``: any public group, or an invite-only one you are invited to.
    Errors: unknown_group, already_member, not_invited."""

    id: int
    group: str


class GroupLeave(_Base, tag="group_leave"):
    """Leave ``group``. A leaving leader hands over to the longest-standing member; the last
    member leaving dissolves the group. Errors: unknown_group, not_member."""

    id: int
    group: str


class GroupRemove(_Base, tag="group_remove"):
    """Leader only: remove member ``user`` from ``group``.
    Errors: unknown_group, not_leader, not_member, bad_request (removing yourself)."""

    id: int
    group: str
    user: str


class GetGroups(_Base, tag="groups"):
    """List groups: those you belong to or are invited to, and every public group. Answered by
    ``ok`` with ``groups``."""

    id: int


class GetConversations(_Base, tag="conversations"):
    """Which conversations have messages for you above seq ``after`` (0: all), with the
    newest seq of each: a second computer finds the conversations another one confirmed
    while it was away, a new computer the ones from before it. Answered by ``ok`` with
    ``conversations``. Needs ``"conversations"`` in the server's ``hello.features``."""

    id: int
    after: ByteCount = 0


class ConversationEntry(msgspec.Struct):
    """A conversation (``"everyone"``, ``"user:<name>"`` or ``"group:<name>"``, as in
    ``history``) and the ``seq`` of its newest message for you."""

    conversation: str
    seq: SqlInt


class Endpoint(msgspec.Struct, omit_defaults=True):
    """A UDP endpoint: ``host`` (IP address) and ``port``."""

    host: str
    port: Port


class TransferOffer(_Base, tag="transfer_offer"):
    """Offer a file to user ``to``, peer to peer. ``size`` in bytes, ``sha256`` lower-case hex
    of the whole file, ``mime`` its type, ``endpoint`` the sender's UDP socket.

    Answered by ``ok`` with ``transfer_id`` and ``secret`` (hex, 32 bytes: the sender's proof
    to the receiver, sent as the first bytes of the QUIC stream). The recipient gets
    ``transfer_offered``. ``resumes``: the ``transfer_id`` of the sender's earlier offer of
    this file to this user that this one continues (a Resume), relayed so the recipient's app
    continues that card even while it still waits for the earlier attempt to connect.
    ``group``: the group whose conversation the file was sent in (both must be members),
    relayed so the recipient's app shows the card there. Errors: unknown_user, user_offline,
    bad_request, unknown_group, not_member.
    """

    id: int
    to: str
    name: str
    size: ByteCount
    sha256: str
    endpoint: Endpoint
    mime: str = "application/octet-stream"
    resumes: str | None = None
    group: str | None = None


class TransferAccept(_Base, tag="transfer_accept"):
    """Accept offer ``transfer_id``: the receiver's QUIC server listens on ``endpoint`` with a
    certificate whose SHA-256 is ``fingerprint`` ("AB:CD:…"); ``offset`` is where to resume
    (bytes already held). Answered by ``ok`` with ``secret``; the sender gets
    ``transfer_accepted``. Errors: unknown_transfer."""

    id: int
    transfer_id: str
    endpoint: Endpoint
    fingerprint: str
    offset: ByteCount = 0


class TransferDecline(_Base, tag="transfer_decline"):
    """Decline offer ``transfer_id`` (``reason`` for people, e.g. "too large"); the sender gets
    ``transfer_declined``. Errors: unknown_transfer."""

    id: int
    transfer_id: str
    reason: str = ""


class TransferCancel(_Base, tag="transfer_cancel"):
    """Either side cancels ``transfer_id``; the other gets ``transfer_cancelled``.
    Errors: unknown_transfer."""

    id: int
    transfer_id: str
    reason: str = ""


class Delivered(_Base, tag="delivered"):
    """Event: the client has stored the chat messages with these ``seq`` numbers."""

    seqs: list[int]


class Read(_Base, tag="read"):
    """Event, both ways. Client → server: the user has seen the chat messages with these
    ``seq`` numbers (their tab was shown); implies ``delivered``. ``private``: for this
    account only (read receipts off): the senders learn only "delivered"; the account's
    read position (``ok.read_upto``) and its other sessions still learn of it. Needs
    ``"private_read"`` in the server's ``hello.features`` (an older server would tell the
    senders). Server → client: another session of your account read these messages (sent
    to every other logged-in session, with the seqs read for the first time); take them off
    the unread counts."""

    seqs: list[int]
    private: bool = False


class Typing(_Base, tag="typing"):
    """Event, both ways. Client → server: ``to`` (a user name) sees that you are typing.
    Server → client: ``user`` is typing to you. Send at most every 3 s while typing; the
    indicator lapses after 6 s without a new one."""

    to: str | None = None
    user: str | None = None


class GetHistory(_Base, tag="history"):
    """Ask for a page of a conversation's history; answered by ``ok`` with ``messages``
    (oldest first) and ``more`` (older messages exist).

    ``conversation``: ``"everyone"``, ``"user:<name>"`` or ``"group:<name>"``. With ``before``
    (a seq) the newest ``limit`` messages below it; with ``after`` the oldest ``limit`` above
    it (resuming after a reconnect); with neither the newest ``limit``. ``limit`` ≤ 500.
    Errors: bad_request (conversation), unknown_user, unknown_group, not_member.
    """

    id: int
    conversation: str
    before: int | None = None
    after: int | None = None
    limit: int = 100


# --------------------------------------------------------------------------------------------
# Server → client


class RosterEntry(msgspec.Struct, omit_defaults=True):
    """One account in a roster: its canonical ``name`` and whether it is ``online``; for online
    accounts ``since`` (login time, Unix seconds) and ``address`` ("ip:port" of the session);
    for offline ones ``last_seen`` (Unix seconds it was last online; absent if never, or not
    since the server began keeping it)."""

    name: str
    online: bool = False
    since: float | None = None
    address: str | None = None
    last_seen: float | None = None


class GroupInfo(msgspec.Struct, omit_defaults=True):
    """A group as the server sees it.

    ``members`` are in joining order (the first is the longest-standing); ``invited`` are
    pending invitations; ``leader`` is one of ``members``. ``invited_by``: in the group
    lists of a login ``ok`` and of a ``groups`` answer, who invited the account they go
    to, for a group it is invited to ("" otherwise): the ``by`` of the
    :class:`GroupInvitation` it may have missed.
    """

    name: str
    leader: str
    members: list[str]
    invited: list[str] = []
    public: bool = False
    created: float = 0.0
    invited_by: str = ""


class TransferOffered(_Base, tag="transfer_offered"):
    """Event: ``sender`` offers you a file. ``endpoints``: the sender's UDP endpoint as it
    reported it and as the server saw its address. ``secret`` (hex, 32 bytes) is what the
    sender must present as the first bytes of the QUIC stream; register it with your transfer
    engine before you accept, so the sender's connection is recognised at once.
    ``resumes``: as the sender's ``transfer_offer`` said (its earlier offer this continues).
    ``group``: the group's name as the server spells it when the file was sent in a group's
    conversation (you and the sender are members), else None."""

    transfer_id: str
    sender: str
    name: str
    size: ByteCount
    sha256: str
    mime: str
    endpoints: list[Endpoint]
    ts: float
    secret: str = ""
    resumes: str | None = None
    group: str | None = None


class TransferAccepted(_Base, tag="transfer_accepted"):
    """Event: ``user`` accepted your offer ``transfer_id``: connect over QUIC to one of
    ``endpoints`` (as reported, and as the server saw the receiver's address), pin
    ``fingerprint``, and open the stream with the offer's ``secret``; send from ``offset``."""

    transfer_id: str
    user: str
    endpoints: list[Endpoint]
    fingerprint: str
    offset: ByteCount = 0


OFFER_LAPSED = "offer lapsed"
"""The ``reason`` of a ``transfer_declined`` for an offer its recipient went offline without
answering (sent by the server when their last session ends, and by an app that finds one
unanswered at its next login)."""


OFFER_EXPIRED = "offer expired"
"""The ``reason`` of the ``transfer_declined`` (to the sender) and ``transfer_cancelled`` (to
the recipient) the server sends when an offer stayed unanswered for a day and is forgotten."""


ALREADY_RECEIVED = "already received"
"""The ``reason`` of a ``transfer_decline`` by a recipient whose app has received and verified
this very file already: the offer is a resume (``resumes``) of the attempt that delivered it,
whose final ``Done`` the sender never got. The sender's app shows the file as sent."""


class TransferDeclined(_Base, tag="transfer_declined"):
    """Event: ``user`` declined your offer ``transfer_id`` (``reason`` :data:`OFFER_LAPSED`:
    they went offline without answering)."""

    transfer_id: str
    user: str
    reason: str = ""


class TransferCancelled(_Base, tag="transfer_cancelled"):
    """Event: ``user`` cancelled transfer ``transfer_id``."""

    transfer_id: str
    user: str
    reason: str = ""


class Receipt(_Base, tag="receipt"):
    """Event: ``user`` has ``state`` ("delivered" or "read") your message ``seq`` at ``ts``.
    ``rid`` numbers your receipts; pass the highest you have as ``login.receipts_after``.
    ``rid`` 0: not logged (a unicast message's receipt), not replayed; a ``receipts_upto``
    after the next login covers it."""

    rid: SqlInt
    seq: SqlInt
    user: str
    state: Literal["delivered", "read"]
    ts: float


class ReceiptCount(_Base, tag="receipt_count"):
    """Event: how many recipients of your **group** message ``seq`` have it: ``delivered`` and
    ``read`` of ``recipients`` (the members when it was sent, you excepted), as of ``ts``.
    Group messages get these counts instead of one :class:`Receipt` per member: at most one
    per message per server commit, and only when a count rose. ``rid`` is from the same
    sequence as :class:`Receipt` (replayed by ``login.receipts_after`` too). Counts only
    grow: keep the highest."""

    rid: SqlInt
    seq: SqlInt
    delivered: SqlInt
    read: SqlInt
    recipients: SqlInt
    ts: float


class ReceiptsUpto(_Base, tag="receipts_upto"):
    """Event, after ``ok`` to a ``login`` with ``receipts_upto``: ``user`` has delivered
    every unicast message you sent them with ``after < seq <= delivered``; ``read`` is the
    highest of them they read, never above ``delivered`` (0: none), and since apps mark a
    conversation read as a whole, the ones before it count as read. Cumulative; states only
    move forward, so an older value changes nothing. Messages confirmed out of order above
    ``delivered`` are not covered, nor those at or below ``after`` (sent before the server
    kept pair cursors: their receipts are logged and replayed by ``receipts_after``)."""

    user: str
    delivered: SqlInt
    read: SqlInt
    after: SqlInt = 0


class Error(_Base, tag="error"):
    """Failure reply to the request with the same ``id``, or with ``id`` null when the frame
    that caused it had none. ``code`` is an :class:`~messenger.protocol.errors.ErrorCode`,
    ``message`` is for people. ``retry_after`` (seconds to wait before trying again) comes
    with ``locked_out``, with ``rate_limited`` (except for a ``transfer_offer`` over its
    cap) and with ``internal`` while another program holds a write lock on the database.
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


class GroupInvitation(_Base, tag="group_invitation"):
    """Event: ``by`` invited you to ``group`` (answer with group_accept or group_decline)."""

    group: GroupInfo
    by: str
    ts: float


class GroupUpdate(_Base, tag="group_update"):
    """Event: ``group`` changed (members, invitations, leader). ``gone`` is true when the group
    no longer exists for you: you left, were removed, or it was dissolved."""

    group: GroupInfo
    gone: bool = False


class Message(_Base, tag="message"):
    """Event: a chat message delivered to this client.

    ``seq`` is assigned by the server, unique and increasing over the whole server (so also
    within each conversation). ``sender`` is the logged-in account that sent it, decided by the
    server. ``to`` lists the user recipients for unicast/multicast, is empty for broadcast and
    group messages; ``group`` names the group of a group message. ``notice`` marks a system
    notice of a group (``created``, ``joined``, ``left``, ``removed``, ``leader``, ``declined``,
    ``invited``) whose ``text`` is for people and ``sender`` is who acted, or ``deleted``
    (any scope): ``sender`` deleted their message ``replaces`` (see :class:`Retract`), or
    ``edited``: ``text`` is the new text of message ``replaces`` (see :class:`Edit`; in
    ``history`` only in a catch-up page, asked with ``after``). ``edited`` is when the text
    was last edited (Unix seconds), in ``history``.
    A client answers with ``delivered`` once it has stored the message; until then the server
    re-delivers it at every login.
    """

    seq: Seq
    ts: float
    sender: str
    scope: Scope
    text: str
    client_msg_id: str
    to: list[str] = []
    group: str | None = None
    notice: str | None = None
    replaces: Seq | None = None
    edited: float | None = None


class Ok(_Base, tag="ok"):
    """Success reply to the request with the same ``id``.

    Fields present depend on the request: ``login``/``register`` → ``user`` (canonical name) and
    ``roster`` and ``groups``; ``roster`` → ``roster``; ``send`` → ``seq`` and ``ts``
    (and, for a group message or a broadcast, ``recipients``: how many it went to, the
    sender excepted); ``retract``/``edit`` → ``seq`` and ``ts`` of their notice;
    ``groups`` → ``groups``;
    ``group_create``/``group_invite``/``group_join``/``group_accept`` → ``group``;
    ``history`` → ``messages`` and ``more`` (more messages exist beyond the page: older
    ones, or newer ones when ``after`` was given) and ``read_upto`` (the highest seq of
    the conversation that this account marked read, from any of its sessions; absent for
    0 or a conversation without one) and ``read_seqs`` (the page's multicast messages to
    this account that it marked read, privately too, which ``read_upto`` does not cover;
    absent when none); ``transfer_offer``/``transfer_accept`` →
    ``transfer_id`` and ``secret``; ``conversations`` → ``conversations``. A
    ``login``/``register`` also gives ``seq_high``: the highest ``seq`` the server has
    handed out (a client that cached a higher one talks to a database restored from an
    older copy, whose numbers will be given again: it drops what it cached).
    """

    id: int
    user: str | None = None
    seq: Seq | None = None
    ts: float | None = None
    roster: list[RosterEntry] | None = None
    groups: list[GroupInfo] | None = None
    group: GroupInfo | None = None
    messages: list[Message] | None = None
    more: bool | None = None
    read_upto: SqlInt | None = None
    read_seqs: list[SqlInt] | None = None
    transfer_id: str | None = None
    secret: str | None = None
    conversations: list[ConversationEntry] | None = None
    seq_high: SqlInt | None = None
    recipients: SqlInt | None = None



ClientFrame = (
    Hello | Ping | Pong | Register | Login | ChangePassword | Logout | GetRoster | Send
    | Delivered
    | GroupCreate | GroupInvite | GroupAccept | GroupDecline | GroupJoin | GroupLeave
    | GroupRemove | GetGroups | Read | Typing | GetHistory | Retract | Edit | GetConversations
    | TransferOffer | TransferAccept | TransferDecline | TransferCancel
)
"""Every frame a client may send."""

ServerFrame = (
    Hello | Ping | Pong | Ok | Error | Presence | Message | GroupInvitation | GroupUpdate
    | Receipt | ReceiptCount | ReceiptsUpto | Read | Typing
    | TransferOffered | TransferAccepted | TransferDeclined | TransferCancelled
)
"""Every frame a server may send."""

CLIENT_TYPES: frozenset[str] = frozenset(
    t.__struct_config__.tag for t in ClientFrame.__args__  # type: ignore[attr-defined]
)
SERVER_TYPES: frozenset[str] = frozenset(
    t.__struct_config__.tag for t in ServerFrame.__args__  # type: ignore[attr-defined]
)
