"""The app's engine without widgets: log in, keep the roster and conversations, send and
receive chat messages.

:class:`ClientEngine` owns a :class:`~messenger.client.connection.ClientConnection` (the only
socket), a :class:`~messenger.client.models.RosterModel` and one
:class:`~messenger.client.models.ConversationModel` per conversation. Widgets call its methods
and listen to its signals; they never see a socket.
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtNetwork import QNetworkInformation

from ..protocol import (
    HEADER,
    MAX_TEXT_LENGTH,
    RETRACTED_TEXT,
    ChangePassword,
    Delivered,
    Edit,
    Endpoint,
    Error,
    ErrorCode,
    GetConversations,
    GetGroups,
    GetHistory,
    GetRoster,
    GroupAccept,
    GroupCreate,
    GroupDecline,
    GroupInfo,
    GroupInvitation,
    GroupInvite,
    GroupJoin,
    GroupLeave,
    GroupRemove,
    GroupUpdate,
    Hello,
    Login,
    Logout,
    Message,
    Ok,
    Ping,
    Pong,
    Presence,
    Read,
    Receipt,
    ReceiptCount,
    ReceiptsUpto,
    Register,
    Retract,
    RosterEntry,
    Send,
    TransferAccept,
    TransferAccepted,
    TransferCancel,
    TransferCancelled,
    TransferDecline,
    TransferDeclined,
    TransferOffer,
    TransferOffered,
    Typing,
    encode_frame,
    time_ordered_id,
)
from ..protocol.names import is_valid_name, name_key
from .connection import ClientConnection, ConnectionErrorCode, ConnectionState
from .conversations import (
    EVERYONE,
    EVERYONE_TITLE,
    GROUP_PREFIX,
    Placement,
    group_key,
    history_name,
    is_group,
    is_private,
    key_of_history_name,
    peer_key,
    place_incoming,
    place_outgoing,
)
from .liveness import Backoff, Heartbeat, OfflineGrace
from .localstore import (
    CachedMessage,
    LocalStore,
    OutboxItem,
    SeqClash,
    StoreInUse,
    StoreTooNew,
    TransferRecord,
    store_path,
)
from .models import (
    ChatItem,
    ConversationModel,
    DeliveryState,
    GroupModel,
    GroupRow,
    MessageKind,
    RosterModel,
    gap_item,
    local_time,
    sane_ts,
)
from .offlinepass import OFFLINE_PASSWORD_META, OfflinePasswords
from .pins import PinFileError, PinStore, normalize_fingerprint, server_address
from .quotes import QuoteCandidate
from .serverclock import ServerClock
from .serverhomes import HOMES_FILE, ServerHomes, own_home
from .textsearch import fold
from .transfers import display_name, format_size

log = logging.getLogger("messenger.client.engine")

NOT_CONNECTED = "not_connected"
"""Client-side code of :attr:`ClientEngine.request_failed` when there is no session."""
LOCAL_STORE = "local_store"
"""Client-side code of :attr:`ClientEngine.login_failed` when the account's local store
cannot be opened (another app has it, a read-only or full disk): the login is ended."""
UNCONFIRMED_READS_META = "reads_unconfirmed"
CHANGES_META = "changes_unanswered"
PARTY_META = "party_order"
"""Meta key: the account's groups in the order joined or invited to (JSON list of names)."""
PARTY_KEPT = 200
"""At most this many names are kept in :data:`PARTY_META`."""
SERVER_INSTANCE_META = "server_instance"
RESEND_DAYS = 7
"""After a server was restored from an older copy: own messages of this many days are sent
again (with their ids, so a message the copy holds is not doubled), besides those above the
numbers the server is known to have handed out again (:data:`REWOUND_META`)."""
REWOUND_META = "server_rewound_at"
"""Meta key: the first seq the server sent as another message than the one cached under it
(:class:`SeqClash`): restored from an older copy, it has handed out more numbers since than
the cache holds, so ``ok.seq_high`` did not show it. The next login sets the store aside as
for any rewind, and sends again the own messages from that seq on."""
"""Meta key: the server database's identity (``hello.instance``) this store's messages
came from."""
EARLY_EVENTS_KEPT = 200
"""Transfer events kept for a transfer controller made after the login
(:meth:`ClientEngine.take_early_transfer_events`)."""
GROUP_CREATED_META = "group_created:"  # + group key: the group's ``created`` last seen
GROUP_HIDDEN_META = "group_hidden:"  # + group key: a former group taken off the list
GROUP_ENDED_META = "group_ended:"  # + group key: the ``created`` of the group seen dissolved
"""Local store ``meta`` key: the edits and deletes sent and not answered yet (JSON list, in
the order made), so that a quit, a crash or a lost link does not lose them: they go again
after the next login of the account (an edit keeps its ``client_msg_id``; deleting a
deleted message answers ``ok`` again)."""
"""Local cache ``meta`` key of the read receipts not known to have arrived
(_save_unconfirmed_reads)."""
PRIVATE_READS_META = "reads_private"
"""Local cache ``meta`` key of those of them that were read with read receipts off: they go
again as private reads whatever the setting is by then (_save_unconfirmed_reads)."""
RESUME_META = "resume:"
"""Local cache ``meta`` key prefix of a conversation's resume cursor (_resume_cursor)."""

ROSTER_META = "roster"
"""``meta`` key: the contact list of the last session (JSON list of ``[name, last_seen]``,
``last_seen`` Unix seconds or null), written at each login and change
(:meth:`ClientEngine._save_lists`): an account opened offline lists its contacts (presence
unknown) and their unread counts before the login brings the server's list."""
GROUPS_META = "groups"
"""``meta`` key: the account's groups and invitations of the last session (JSON list of
objects with a :class:`~messenger.client.models.GroupRow`'s ``name``, ``leader``,
``members``, ``invited``, ``public``, ``member``, ``pending``, ``invited_by`` and
``created``), kept as :data:`ROSTER_META` is."""
LISTS_SAVE_MS = 1000
"""A change of the contact or group list is written to the local store this long after it
(at once when the link goes or the store closes): a burst of presence changes (a server
restart) writes it once."""

OFFLINE_PASSWORD_MISMATCH = "The password does not match the one last used here."
"""Why :meth:`ClientEngine.open_offline` did not open: the password typed is not the one of
the last login (or password change) of the account on this computer."""

CONVERSATIONS_META = "conversations_after"
"""``meta`` key: the seq up to which the server's ``conversations`` list has been gone
through (every conversation listed up to it had its newest page fetched or a cursor)."""

DISCOVER_MAX = 100
"""At most this many conversations found by ``conversations`` have their newest page on its
way at once; the others wait in line and each goes as one of those is answered. (The rest
waited for the next login: a new computer showed no badge for a contact past the 100th.)"""

DISCOVER_UNREAD_PAGES = 10
"""Older pages (of :data:`PAGE`) a conversation found by ``conversations`` also gets when its
newest page ends above what the account read (``read_upto``): its unread messages are
counted (and marked) down to there, 550 at most. Only the newest page was: a new computer
showed 50 of 120 messages read nowhere, the rest above the "New messages" line (a hunt)."""

FINAL_SEND_ERRORS = frozenset({
    ErrorCode.UNKNOWN_USER, ErrorCode.NOT_MEMBER, ErrorCode.UNKNOWN_GROUP,
    ErrorCode.GROUP_CHANGED, ErrorCode.MESSAGE_TOO_LONG, ErrorCode.EMPTY_MESSAGE,
    ErrorCode.BAD_REQUEST})
"""``send`` errors that a retry cannot fix: the message becomes *failed* (Retry / Delete).
Any other error leaves it pending; it is sent again after the next login."""

FINAL_HISTORY_ERRORS = frozenset({
    ErrorCode.UNKNOWN_USER, ErrorCode.NOT_MEMBER, ErrorCode.UNKNOWN_GROUP,
    ErrorCode.BAD_REQUEST})
"""``history`` errors that say the server has nothing (more) to give of a conversation:
scrolling up stops asking it. Any other (``internal`` while another program locks the
server's database, ``rate_limited``) refuses only this page: the next scroll to the top asks
again."""

ERROR_TEXT_MAX = 500
"""Longest server error text the app shows or logs (characters; longer is cut with "…")."""

STABLE_LINK_MS = 10_000
"""A link that lasted this long after a re-login resets the reconnect backoff (ms)."""

SEND_RETRY_S = (1.0, 30.0)
"""A ``send`` refused for now (``internal``, ``rate_limited``) is tried again after the first
delay (or the error's ``retry_after``), doubling up to the second (seconds), while logged in;
an ack starts it over."""

CATCH_UP_RETRY_S = (1.0, 60.0)
"""A conversation's catch-up page refused for now (``internal``: another program locks the
server's database, or the server failed) is asked again after the first delay (or the
error's ``retry_after``), doubling up to the second (seconds) while it is refused, in the
same session (a new login starts the catch-up over anyway)."""

PAGE = 50
"""Messages per history page (cache or server)."""

JUMP_NEAR = 4 * PAGE
"""A search match at most this many cached messages beyond the loaded ones: load them all."""

JUMP_CONTEXT = PAGE // 2
"""A farther match: load this many messages on each side of it, and a gap for the rest."""

PRESENCE_SETTLE_MS = 20_000
"""After a login, how long a contact's presence may differ from what their conversation last
said before it says the new one ("bob is offline."): after a server restart everyone comes
back within seconds, and "bob is online." again in every open tab was noise (a hunt)."""

PRESENCE_OFFLINE_GRACE_MS = 5_000
"""How long a contact's going offline is held back (their row, their conversation's "bob is
offline.", ``presence_changed``): back within it (a Wi-Fi blip, their app reconnecting at
once), nothing of it shows. Each blip wrote "bob is offline." and "bob is online." in the
open conversation and moved the row down the list and back (a hunt)."""

READ_BATCH = 10_000
"""At most this many seqs per ``read`` or ``delivered`` event (the server ignores the rest);
fewer when the server's ``max_frame`` is small (:meth:`ClientEngine._seq_batch`)."""
SEQ_BYTES = 20
"""The most bytes one seq takes in a ``read``/``delivered`` frame (19 digits and a comma)."""

EXPORT_PAGE = 500
"""Messages per ``history`` request while exporting (the server's maximum page)."""

EXPORT_CHUNK = 2000
"""Lines an export writes per turn of the event loop."""

TYPING_EVERY = 3.0
"""Seconds between two ``typing`` events to the same person."""


_SESSION_EVENTS = (Message, Presence, GroupInvitation, GroupUpdate, Receipt, ReceiptCount,
                   ReceiptsUpto, Read, Typing, TransferOffered, TransferAccepted,
                   TransferDeclined, TransferCancelled)
"""Server frames that belong to a logged-in session (not answers, pings or hellos)."""


def _clock() -> float:
    """Seconds from a clock that keeps running while the machine sleeps (Linux
    ``CLOCK_BOOTTIME``; elsewhere ``time.monotonic``), so a heartbeat notices a sleep."""
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return time.monotonic()


@dataclass
class _Request:
    kind: str  # "login" | "register" | "send" | "logout" | "roster" | "groups" | "group"
    keys: list[str] = field(default_factory=list)
    client_msg_id: str = ""
    user: str = ""
    op: str = ""  # group requests: create, invite, accept, decline, join, leave, remove
    group: str = ""
    key: str | None = None  # conversation that gets the outcome as a notice
    party: str = ""  # /party invite: the user to invite once the party exists
    attempt: int = 0
    public: bool = False
    password: str = ""  # login/register/password (the new one): for automatic re-login
    mode: str = ""  # history: "older", "resume" or "export"
    after: int = 0  # history "resume": the seq the page starts after
    before: int | None = None  # history "older"/"export": the seq the page ends before
    # (None: the newest page)
    newest: bool = False  # history "older": the newest page (the model showed no message)
    discover: bool = False  # history "older": of a conversation found by `conversations`
    pages: int = 0  # history "older" of a discovery: older pages asked after the newest
    job: Any = None  # history "export": the ConversationExport asking
    frame: Any = None  # edit, retract: the request, to send again (rate_limited, lost link)
    was_member: bool = False  # group: a member of it when asked (settling a lost answer)
    scope: str = ""  # send: the message's scope ("unicast", "multicast", …)
    to: list[str] = field(default_factory=list)  # send: the names it was sent to; group
    # "invite": the names asked for


def _sane_message(m: Message) -> Message:
    """``m`` with times the app can store and show (:func:`sane_ts`)."""
    ts = sane_ts(m.ts)
    edited = None if m.edited is None else sane_ts(m.edited, ts)
    if ts == m.ts and edited == m.edited:
        return m
    log.warning("message %d: bogus time %r (edited %r) replaced", m.seq, m.ts, m.edited)
    return msgspec.structs.replace(m, ts=ts, edited=edited)


def _page_in_range(req: _Request, messages: list[Message]) -> list[Message]:
    """A history page as asked for: seqs 1 and up, within the page's bound (above ``after``
    for a catch-up, below ``before`` for an older page or an export's), each once, in order.
    A correct server sends nothing else; what a faulty one does must not reach the cache
    (a seq above the bound would move the resume cursor past real messages)."""
    low, high = (0, req.before) if req.mode in ("older", "export") \
        else (req.after, None)
    kept = {m.seq: m for m in messages
            if m.seq >= 1 and m.seq > low and (high is None or m.seq < high)}
    if len(kept) != len(messages):
        log.warning("history of %s: %d messages outside the page asked for, dropped",
                    req.key, len(messages) - len(kept))
    return [kept[seq] for seq in sorted(kept)]


def login_name(asked: str, answered: str | None) -> str:
    """The account name after a login or register as ``asked``: the server's spelling of it
    (``answered``, the ``ok``'s ``user``) when that is a valid name for the same account,
    else ``asked``. The name picks the local cache's file: a server cannot move it
    (``"../../x"``) nor switch accounts."""
    if answered and is_valid_name(answered) and name_key(answered) == name_key(asked):
        return answered
    if answered:
        log.warning("login answer names another account (%r): ignored", answered[:100])
    return asked


def _time_of_day(ts: float) -> str:
    local = local_time(ts)
    if local[:3] == time.localtime()[:3]:
        return time.strftime("%H:%M", local)
    return time.strftime("%d %b %H:%M", local)


def _unanswered_lead(logout: bool) -> str:
    """The first clause of a notice about a request the server never answered."""
    return "Logged out before the server answered" if logout else \
        "The connection was lost before the server answered"


def _group_action(op: str, group: str) -> str:
    """What a group request ``op`` on ``group`` does, as a noun phrase ("the invitation to
    lab", …) for notices."""
    return {"create": f"creating {group}", "join": f"joining {group}",
            "accept": f"accepting the invitation to {group}",
            "decline": f"declining the invitation to {group}",
            "leave": f"leaving {group}", "invite": f"the invitation to {group}",
            "remove": f"the removal from {group}"}.get(op, f"the change to {group}")


def group_failure(op: str, group: str, message: str) -> str:
    """A refused group request as one sentence: "Could not invite to lab: only its leader
    invites." (``message``: the server's reason)."""
    lead = {"create": f"Could not create {group}", "join": f"Could not join {group}",
            "accept": f"Could not accept the invitation to {group}",
            "decline": f"Could not decline the invitation to {group}",
            "leave": f"Could not leave {group}", "invite": f"Could not invite to {group}",
            "remove": f"Could not remove from {group}"}.get(op, f"Could not change {group}")
    reason = message.rstrip(".")
    return f"{lead}: {reason}." if reason else f"{lead}."


_SEND_FAILURES = {
    ErrorCode.UNKNOWN_USER: "the server had no account of that name",
    ErrorCode.NOT_MEMBER: "you were not a member of the group",
    ErrorCode.UNKNOWN_GROUP: "the group did not exist",
    ErrorCode.GROUP_CHANGED: "the group was dissolved and a new one made with this name; "
                             "Retry sends it to the new group",
    ErrorCode.EMPTY_MESSAGE: "the message was empty",
}


def send_failure(code: str, message: str, scope: str = "unicast",
                 to: Sequence[str] = ()) -> str:
    """Why a message was not sent, as the failed bar and the bubble say it: in the past
    tense for refusals that may not hold later (the account may be made, the group joined:
    then Retry sends it), else the server's ``message``.

    A multicast (``scope``, sent ``to`` those names) refused as ``unknown_user`` names the
    unknown ones from the server's "no such user: a, b" and says nobody got it: its copy in
    the tab of one who exists said "the server had no account of that name" (a hunt)."""
    if code == ErrorCode.UNKNOWN_USER and scope == "multicast":
        unknown = unknown_names(message, to)
        if unknown:
            listed = unknown[0] if len(unknown) == 1 else \
                f"{', '.join(unknown[:-1])} and {unknown[-1]}"
            noun = "accounts" if len(unknown) > 1 else "account"
            return f"the server had no {noun} named {listed}, so nobody got it"
    return _SEND_FAILURES.get(code, message)


def unknown_names(message: str, to: Sequence[str]) -> list[str]:
    """The names of ``to`` that an ``unknown_user`` error's ``message`` ("no such user: zed,
    Ghost", protocol.md §5) lists, as ``to`` spells them, in its order; [] when it lists
    none of them (names have no commas, so the list splits safely)."""
    _, colon, listed = message.partition(":")
    if not colon:
        return []
    named = {name_key(n.strip()) for n in re.sub(r" and [\d,]+ more$", "", listed).split(",")}
    out: list[str] = []
    for name in to:
        if name_key(name) in named and name not in out:
            out.append(name)
    return out


_TRY_AGAIN_LATER = re.compile(r"\b(try again) later\b", re.IGNORECASE)


def retry_text(message: str, retry_after: float | None) -> str:
    """A ``rate_limited``/``locked_out`` refusal's ``message`` saying once when to try
    again (from ``retry_after``, s): "Try again in 30 s." (from 120 s on, in whole minutes:
    "Try again in 5 min.") is added to a reason that does not say it; a server's "try again
    later" gets the time instead of "later"; one that says already when ("try again in
    30 s", "when they are answered"), or a send rate ("a second": the waiting messages go
    by themselves), is left as it is. It read "…; try again in 30 s. Try again in 30 s."
    and "…, or try again later. Try again in 60 min." (a hunt)."""
    if retry_after is None:
        return message
    wait = max(1, round(retry_after))
    when = f"{wait} s" if wait < 120 else f"{math.ceil(wait / 60)} min"
    if _TRY_AGAIN_LATER.search(message):
        return _TRY_AGAIN_LATER.sub(lambda m: f"{m.group(1)} in {when}", message, count=1)
    if "try again" in message.lower() or "second" in message:
        return message
    return f"{message.rstrip('.')}. Try again in {when}."


def notice_text(notice: str, text: str, sender: str, me: str) -> str:
    """A server notice's ``text`` as account ``me`` reads it: its own actions in the second
    person ("You deleted a message", "You left", "You are the new leader") and "you" for
    itself as the one removed. Other notices, and texts not of the server's shape, as they
    are. (The server stores one text for every member.)"""
    mine = name_key(sender) == name_key(me)
    if notice == "leader" and mine and text == f"{sender} is the new leader":
        return "You are the new leader"
    if notice == "removed" and not mine and text.endswith(f" removed {me}"):
        text = text[:-len(me)] + "you"
    if mine and notice != "leader" and text.startswith(f"{sender} "):
        return "You" + text[len(sender):]
    return text


def party_name(user: str, attempt: int = 0) -> str:
    """The name ``/party invite`` gives a new party: ``party-<user>``, then ``-2``, ``-3``…
    (cut to the 32 characters a name may have)."""
    suffix = f"-{attempt + 1}" if attempt else ""
    base = f"party-{user}"[:32 - len(suffix)]
    return base + suffix


class ClientEngine(QObject):
    """One user's session with one server.

    Args:
        pins: the TOFU pin store (default: the user's config dir).
        connect_timeout_ms: see :class:`ClientConnection`.
        offline_grace_ms: how long a contact's going offline is held back
            (:data:`PRESENCE_OFFLINE_GRACE_MS`; 0: shown at once).

    Attributes:
        roster: :class:`RosterModel` of every other account.
        groups: :class:`GroupModel` of the groups you are in or invited to.
        directory: :class:`GroupModel` of every group the server showed you (filled by
            :meth:`list_groups`: yours and every public one).
        user: the canonical name once logged in, else "".
        last_private_peer: who you last exchanged a private message with ("" if nobody):
            the target of ``/r`` and Ctrl+R.

    Signals:
        state_changed(ConnectionState): the connection or login state changed.
        connection_failed(str, str): ``(code, message)``: unreachable, timeout, tls,
            certificate_changed, version_mismatch, protocol or closed (see
            :class:`ConnectionErrorCode`).
        fingerprint_pinned(str): first contact with this server: its fingerprint is now pinned.
        fingerprint_verified(str): the server's fingerprint matched its pin.
        fingerprint_unknown(str): (``ask_first_use``) a new server presented this fingerprint;
            nothing (no password) is sent until :meth:`trust_server` or
            :meth:`refuse_server`.
        login_succeeded(str): logged in (or registered) as this canonical name.
        login_failed(str, str): ``(code, message)`` of a refused login/register (protocol codes
            such as ``bad_credentials``, ``locked_out``, ``name_taken``).
        presence_changed(str, bool): ``(user, online)``; going offline comes
            :data:`PRESENCE_OFFLINE_GRACE_MS` late, and not at all when they are back
            within it (then ``online`` True comes with the roster unchanged).
        conversation_added(str): a conversation model with this key was created.
        message_received(str, object): ``(key, ChatItem)`` for someone else's new message.
        message_acked(str, int, float): ``(client_msg_id, seq, ts)`` of an own message.
        request_failed(str, str, str): ``(key, code, message)``: a request in conversation
            ``key`` was refused (the error is also added to that conversation).
        unread_changed(str, int): ``(key, count)``.
        logged_out(): the session ended at our request (also when the link closed before
            the server answered the logout: then after ``connection_failed``).
        group_joined(str): you created, joined or accepted this group (its conversation
            exists now).
        group_left(str): this group is gone for you (left, removed, declined, dissolved).
        invitation_received(str, str): ``(group, by)``: a live invitation, or one made
            while the link was down (at the reconnect's login).
        group_failed(str, str, str, str): ``(op, group, code, message)`` of a refused group
            request (op: create, invite, accept, decline, join, leave, remove).
        groups_listed(): :attr:`directory` was refreshed (answer to :meth:`list_groups`).
        users_listed(str, object): ``(key, [RosterEntry])``: the answer to
            :meth:`list_users`, also written into conversation ``key``.
        party_changed(str): the current party (see :attr:`party`) changed ("" for none).
        reconnect_scheduled(float): the link was lost; the next attempt comes in that many
            seconds (automatic reconnects start after the first successful login and stop
            at a deliberate logout).
        reconnecting(): an automatic (or "Reconnect now") attempt started.
        resumed(): after a login, every known conversation has caught up with the server
            (``history`` with ``after`` until ``more`` is false).
        history_loaded(str, int): ``(key, count)``: a server history page for conversation
            ``key`` arrived (``count`` new items).
        typing_received(str, str): ``(key, user)``: ``user`` is typing in private
            conversation ``key`` (not with :attr:`typing_indicators` off).
        outbox_changed(): messages were queued, sent, failed, retried or deleted.
        send_delayed(str, float): the server refused a send for now (``rate_limited``:
            sending too fast) with this message; the outbox tries again in that many seconds.
        transfer_offered(object): a :class:`TransferOffered` event (someone offers you a file).
        transfer_accepted(object): a :class:`TransferAccepted` event (your offer was accepted).
        transfer_declined(object): a :class:`TransferDeclined` event.
        transfer_cancelled(object): a :class:`TransferCancelled` event.
        transfer_answered(int, object): ``(request id, Ok or Error)``: the server's answer to
            :meth:`offer_transfer`, :meth:`accept_transfer`, :meth:`decline_transfer` or
            :meth:`cancel_transfer` (the id they returned).
        server_stopping(str): the server said it is stopping (a restart or maintenance),
            with its message; the link closes next (and is reconnected as after any loss).
        password_changed(): the server changed this account's password
            (:meth:`change_password`).
        password_change_failed(str, str): ``(code, message)``: it did not (a protocol code
            such as ``bad_credentials``, ``invalid_password``, ``locked_out``), or
            ``not_connected``: the link was lost before the answer, so the change may or may
            not have been made (the next automatic re-login tries the old password, then
            the new one).
    """

    state_changed = Signal(object)
    connection_failed = Signal(str, str)
    fingerprint_pinned = Signal(str)
    fingerprint_verified = Signal(str)
    fingerprint_unknown = Signal(str)
    login_succeeded = Signal(str)
    login_failed = Signal(str, str)
    presence_changed = Signal(str, bool)
    conversation_added = Signal(str)
    conversation_renamed = Signal(str)
    message_received = Signal(str, object)
    message_acked = Signal(str, int, float)
    request_failed = Signal(str, str, str)
    unread_changed = Signal(str, int)
    logged_out = Signal()
    group_joined = Signal(str)
    group_left = Signal(str)
    invitation_received = Signal(str, str)
    group_failed = Signal(str, str, str, str)
    groups_listed = Signal()
    users_listed = Signal(str, object)
    party_changed = Signal(str)
    reconnect_scheduled = Signal(float)
    reconnecting = Signal()
    resumed = Signal()
    history_loaded = Signal(str, int)
    typing_received = Signal(str, str)
    outbox_changed = Signal()
    send_delayed = Signal(str, float)
    transfer_offered = Signal(object)
    transfer_accepted = Signal(object)
    transfer_declined = Signal(object)
    transfer_cancelled = Signal(object)
    transfer_answered = Signal(int, object)
    server_stopping = Signal(str)
    password_changed = Signal()
    password_change_failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None, *, pins: PinStore | None = None,
                 connect_timeout_ms: int | None = None, data_dir: Path | None = None,
                 backoff: Backoff | None = None, heartbeat: Heartbeat | None = None,
                 tick_ms: int = 1000, clock: Callable[[], float] = _clock,
                 ask_first_use: bool = False,
                 offline_grace_ms: int = PRESENCE_OFFLINE_GRACE_MS) -> None:
        super().__init__(parent)
        kwargs: dict[str, Any] = {"pins": pins, "ask_first_use": ask_first_use}
        if connect_timeout_ms is not None:
            kwargs["connect_timeout_ms"] = connect_timeout_ms
        self._conn = ClientConnection(self, **kwargs)
        self._conn.state_changed.connect(self.state_changed)
        self.resumed.connect(self._list_former_groups)
        self._conn.ready.connect(self._on_ready)
        self._conn.frame_received.connect(self._on_frame)
        self._conn.frames_handled.connect(self._take_incoming)
        self._conn.failed.connect(self._on_failed)
        self._conn.fingerprint_pinned.connect(self._on_pinned)
        self._conn.fingerprint_verified.connect(self.fingerprint_verified)
        self._conn.fingerprint_unknown.connect(self._on_unknown_server)
        self.roster = RosterModel(self)
        self.groups = GroupModel(self)
        self.directory = GroupModel(self)
        self.user = ""
        self.last_private_peer = ""
        self.send_read_receipts = True
        """When False, what you read is only marked read here: the senders get no ``read``
        receipts (they still get ``delivered``). Preferences → Privacy."""
        self.typing_indicators = True
        """When False, no ``typing`` goes out (:meth:`notify_typing`) and others' are not
        passed on (``typing_received``), as in Signal: seeing others type is for those who
        let others see them. Preferences → Privacy."""
        self._party_order: list[str] = []
        self._party = ""
        self._next_id = 1
        self._requests: dict[int, _Request] = {}
        self._queued_auth: _Request | None = None
        self._queued_password = ""
        self._conversations: dict[str, ConversationModel] = {}
        self._unread: dict[str, int] = {}
        # Presence as the private conversations last said it (name key → online): a notice
        # is added when that changes, not on every event (see _on_presence).
        self._presence_shown: dict[str, bool] = {}
        self._login_seq_high: int | None = None  # the login's ok.seq_high
        self.presence_settle_ms = PRESENCE_SETTLE_MS
        self._presence_timer = QTimer(self)
        self._presence_timer.setSingleShot(True)
        self._presence_timer.timeout.connect(self._settle_presence)
        # The contact and group lists, kept in the local store for an account opened
        # offline (_save_lists): changed while logged in, written a moment later.
        self._lists_dirty = False
        self._lists_saved: tuple[str, str] | None = None  # (what the store holds)
        self._lists_timer = QTimer(self)
        self._lists_timer.setSingleShot(True)
        self._lists_timer.setInterval(LISTS_SAVE_MS)
        self._lists_timer.timeout.connect(self._flush_lists)
        for model in (self.roster, self.groups):
            for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset):
                signal.connect(self._lists_changed)
        # (an unread count or presence known/unknown is not kept: only what else changed)
        shown_only = {RosterModel.UnreadRole, Qt.ItemDataRole.ToolTipRole,
                      Qt.ItemDataRole.AccessibleTextRole}
        self.roster.dataChanged.connect(
            lambda _a, _b, roles=(): self._lists_data_changed(
                roles, shown_only | {RosterModel.PresenceKnownRole}))
        self.groups.dataChanged.connect(
            lambda _a, _b, roles=(): self._lists_data_changed(
                roles, shown_only | {GroupModel.UnreadRole}))
        # Contacts whose going offline is held back (PRESENCE_OFFLINE_GRACE_MS), and the
        # timer for the next one due.
        self._offline_grace: OfflineGrace[Presence] = OfflineGrace(offline_grace_ms / 1000)
        self._offline_timer = QTimer(self)
        self._offline_timer.setSingleShot(True)
        self._offline_timer.timeout.connect(self._offline_due)
        self._seen_seqs: set[int] = set()
        # Delivery: outbox, cache, receipts (see LocalStore).
        self._data_dir = data_dir
        self._store: LocalStore | None = None
        self._store_user = ""
        self._store_at: tuple[str, int] = ("", 0)
        self.offline_passwords = OfflinePasswords()
        """Hashes the password kept (as an argon2id hash) in the account's store for "Open
        offline" (:meth:`open_offline`, :meth:`_keep_offline_password`)."""
        # The store and password last hashed into it (a re-login with the same one does not
        # hash again: ≈ 40 ms on the GUI thread at every reconnect).
        self._offline_password_kept: tuple[LocalStore, str] | None = None
        # The address the account's store and settings are kept under, for the address
        # typed (:attr:`home`; resolved at each login from the server's certificate).
        self._home_for: tuple[str, int] = ("", 0)
        self._home: tuple[str, int] = ("", 0)
        self.moved_from: tuple[str, int] | None = None
        """The address typed at the last login, when the store kept under it was this
        server's and was moved to :attr:`home` (its unsent messages with it): the app then
        takes over the per-account settings kept under it too."""
        self._inflight: set[str] = set()
        # Edits and deletes written to a link that died unanswered: sent again (new request
        # ids; both are idempotent on the server) after the next login of the same account.
        self._redo: list[_Request] = []
        # Edits held back while an earlier own edit of the same message waits for its answer
        # (:meth:`_release_held`): sent then, on the text that one made.
        self._held: list[_Request] = []
        # Group create/join/accept requests a dying link left unanswered: settled by the
        # membership in the next login's group list (_settle_unsure_groups).
        self._groups_unsure: list[_Request] = []
        self._cache_failed = False  # said once per run: the local cache refused a write
        self._unconfirmed_reads: set[int] = set()  # read seqs sent, their ping not answered
        self._reads_ping = 0  # the nonce of the ping sent after them
        self._reads_to_resend: set[int] = set()  # ... when that link died
        self._private_read_seqs: set[int] = set()  # those of both read with receipts off
        self._unread_seqs: dict[str, set[int]] = {}  # shown, awaiting a read receipt
        self._unread_cards: dict[str, list[str]] = {}  # file offers not looked at yet
        self._read_wanted: set[str] = set()  # viewed while offline: send at the next login
        self._exports: set[ConversationExport] = set()
        # Offers and cancels until a transfer controller takes them (take_early_transfer_
        # events): those a login brings arrive before the app's window and controller exist.
        self._early_events: list[TransferOffered | TransferCancelled] | None = []
        self._history_busy: set[str] = set()
        self._link_lost = False  # (while _drop_requests ends the older pages asked for)
        self._resuming = 0
        # Conversations whose catch-up runs on this link (or whose cache refused a message):
        # their live messages do not start a resume cursor (_start_cursor).
        self._catching_up: set[str] = set()
        # Conversations whose cursor went back while their catch-up ran (_rewind_cursor):
        # the seq the catch-up starts again from, after the page on its way.
        self._catch_up_again: dict[str, int] = {}
        # Conversations whose catch-up page was refused for now: the delay of the next try
        # (_catch_up_later); a new dict with each session (whose catch-up starts over).
        self._catch_up_waiting: dict[str, float] = {}
        self._conversations_wait = CATCH_UP_RETRY_S[0]  # (the next wait if refused again)
        # Group key → the highest seq of an `ended` notice met in this run (_saw_ended).
        self._ended_seqs: dict[str, int] = {}
        # Conversations listed by `conversations` whose newest page is on its way, and the seq
        # to keep as CONVERSATIONS_META once they are all in (None: not this time).
        self._discovering: set[str] = set()
        self._discover_upto: int | None = None
        # Those listed still waiting for one of DISCOVER_MAX places, newest first.
        self._discover_queue: deque[str] = deque()
        self._cursored: set[str] = set()  # conversations that had a cursor at the login
        self._typing_sent: dict[str, float] = {}
        # Reconnect and heartbeat.
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._heartbeat = heartbeat or Heartbeat()
        self._auto_reconnect = False
        self._waits_for_update = False  # (see waits_for_update)
        self._credentials: tuple[str, str] | None = None
        self._unconfirmed_password = ""
        """A new password whose change lost its answer with the link: it may or may not have
        been made, so a re-login refused with the old one tries this one once."""
        self._relogin = False
        self._server_stopping = False  # it said so: the close that follows is no outage
        self._session_ended = False  # the server ended it for good (password changed)
        self._retry_floor = 0.0  # seconds the next reconnect waits at least (retry_after)
        self._relogin_lock_ends = 0.0
        """When (``clock`` seconds) the lock that refused the last re-login ends; 0 when the
        last one was not refused for a lock. A re-login after it that is refused for a lock
        again was itself the failure that locked the name: its password is wrong."""
        self.next_attempt = 0.0
        """When (``clock`` seconds) the scheduled reconnect fires; 0 when none is."""
        self._reconnect_timer = QTimer(self)
        self._reconnect_timer.setSingleShot(True)
        self._reconnect_timer.timeout.connect(self._attempt_reconnect)
        self._stable_timer = QTimer(self)
        self._stable_timer.setSingleShot(True)
        self._stable_timer.setInterval(STABLE_LINK_MS)
        self._stable_timer.timeout.connect(self._backoff.reset)
        self._to_confirm: list[int] = []
        self._incoming: list[Message] = []
        """Messages of the turn under way (``ClientConnection.handling_read``), handled
        together when it ends or another frame comes (:meth:`_take_incoming`)."""
        self._confirm_timer = QTimer(self)
        self._confirm_timer.setSingleShot(True)
        self._confirm_timer.setInterval(0)
        self._confirm_timer.timeout.connect(self._confirm)
        self._send_retry = QTimer(self)
        self._send_retry.setSingleShot(True)
        self._send_retry.timeout.connect(self._pump)
        self._send_retry_s = SEND_RETRY_S[0]
        self._tick_timer = QTimer(self)
        self._tick_timer.setInterval(tick_ms)
        self._tick_timer.timeout.connect(self._tick)
        self._tick_s = tick_ms / 1000
        self._last_tick = 0.0
        self._rx_seen = -1
        self._ping_nonce = 0
        self._conn.state_changed.connect(self._on_state)
        self.conversation(EVERYONE, EVERYONE_TITLE)
        self._watch_network()

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> ConnectionState:
        return self._conn.state

    @property
    def host(self) -> str:
        return self._conn.host

    @property
    def port(self) -> int:
        return self._conn.port

    @property
    def where(self) -> str:
        """The server's address as messages write it (``[::1]:5555`` for an IPv6 literal:
        :func:`~messenger.client.pins.server_address`)."""
        return self._conn.where

    @property
    def fingerprint(self) -> str | None:
        """The fingerprint of the server's key (what is pinned and shown) once known."""
        return self._conn.fingerprint

    @property
    def certificate_fingerprint(self) -> str | None:
        """The fingerprint of the server's whole certificate (older apps pinned it) once
        known."""
        return self._conn.certificate_fingerprint

    @property
    def home(self) -> tuple[str, int]:
        """The address the account's local store and per-account settings are kept under:
        the first one this server's certificate was met at on this computer (the same
        server typed by name, by IP or at a new DHCP address is one; see
        :mod:`.serverhomes`), else the address typed (before a login resolves it)."""
        if self._home_for == (self.host, self.port):
            return self._home
        return (self.host.lower(), self.port)

    def _resolve_home(self) -> None:
        """Find :attr:`home` for the server connected to (its certificate is known here),
        recording a new one (see :mod:`.serverhomes`)."""
        typed = (self.host, self.port)
        from .. import paths
        data_dir = self._data_dir if self._data_dir is not None else paths.data_dir()
        path = data_dir / "accounts" / HOMES_FILE
        homes = ServerHomes.load(path)
        if homes.set_aside is not None:
            self._recover_homes(homes, data_dir)
        try:
            pins = self._conn.pins.entries()
        except (PinFileError, OSError):  # (then no other address is known)
            pins = []
        home = homes.home(self.host, self.port, self._conn.fingerprint,
                          self._conn.certificate_fingerprint, pins,
                          lambda address: self._holds_this_server(data_dir, address))
        if homes.changed and homes.writable:
            try:
                homes.save(path)
            except OSError as exc:  # (the address typed is the home this time)
                log.warning("could not write %s: %s", path, exc)
                home = (self.host.lower(), self.port)
        if home != (self.host.lower(), self.port):
            log.info("%s is the server first met at %s: its store and settings are "
                     "kept there", self.where, server_address(*home))
        self._home_for, self._home = typed, home

    def _holds_this_server(self, data_dir: Path, address: tuple[str, int]) -> bool:
        """Whether a store kept under ``address`` holds the messages of the server
        connected to (the same ``hello.instance``: its database, on a new key)."""
        hello = self._conn.server_hello
        instance = hello.instance if hello is not None else None
        if not instance:
            return False
        folder = store_path(data_dir, *address, "-").parent
        try:
            stores = list(folder.glob("*.db"))
        except OSError:
            return False
        return any(LocalStore.peek_meta(p, SERVER_INSTANCE_META) == instance for p in stores)

    def _recover_homes(self, homes: ServerHomes, data_dir: Path) -> None:
        """Rebuild the server homes of a map that could not be read (set aside by
        :meth:`ServerHomes.load`): from the pinned addresses and when the stores kept under
        each were last written (:meth:`ServerHomes.recover`). Taken as empty, it was
        overwritten, and a server met at another address than its home left the messages
        typed offline there unsent for good (a storage hunt)."""
        try:
            pins = self._conn.pins.entries()
        except (PinFileError, OSError) as exc:
            log.warning("server homes not rebuilt: %s", exc)
            return
        written: dict[tuple[str, int], float] = {}
        for host, port, fingerprint in pins:
            address = (host.lower(), port)
            for place in (address, own_home(address, fingerprint)):
                folder = store_path(data_dir, *place, "-").parent
                try:
                    times = [p.stat().st_mtime for pattern in ("*.db", "*.db-wal")
                             for p in folder.glob(pattern)]
                except OSError:
                    continue
                if times:
                    written[place] = max(times)
        homes.recover(pins, written)
        log.info("server homes rebuilt from the pins and stores: %s", homes.as_dict())

    @property
    def pins(self) -> PinStore:
        return self._conn.pins

    @property
    def local_host(self) -> str:
        """This computer's IP address on the link to the server ("" when not connected)."""
        return self._conn.local_host

    @property
    def logged_in(self) -> bool:
        return self._conn.state is ConnectionState.LOGGED_IN

    @property
    def account(self) -> str:
        """The account this app is for: the logged-in user, else the one it reconnects as or
        whose local store is open ("" before any login)."""
        if self.user:
            return self.user
        if self._credentials is not None:
            return self._credentials[0]
        return self._store_user

    @property
    def store(self) -> LocalStore | None:
        """The account's local store (outbox, history cache) once a login was tried."""
        return self._store

    @property
    def auto_reconnect(self) -> bool:
        """True while a lost link is re-established by itself (after the first login,
        until a deliberate logout)."""
        return self._auto_reconnect

    def take_early_transfer_events(self) -> list[TransferOffered | TransferCancelled]:
        """The ``transfer_offered`` and ``transfer_cancelled`` events that came before this
        call (at most :data:`EARLY_EVENTS_KEPT`), in order, for the transfer controller made
        after the login (the server hands a session that logs in the offers still waiting
        for the account and the ends of its accepted transfers it missed); none are kept
        from then on."""
        early, self._early_events = self._early_events or [], None
        return early

    def _keep_early(self, frame: TransferOffered | TransferCancelled) -> None:
        if self._early_events is not None and len(self._early_events) < EARLY_EVENTS_KEPT:
            self._early_events.append(frame)

    def conversation(self, key: str, title: str | None = None) -> ConversationModel:
        """The model of conversation ``key``, created (titled ``title`` or ``key``) if new;
        a new model shows the last cached page and the unsent messages at once."""
        model = self._conversations.get(key)
        if model is None:
            model = ConversationModel(key, title or self._title_of(key), self)
            model.set_source(self)
            if is_group(key):
                model.audience = lambda m=model: self._audience(m.title)
            self._conversations[key] = model
            self._hydrate(model)
            self.conversation_added.emit(key)
        return model

    def _title_of(self, key: str) -> str:
        """A conversation's title from its key alone (a catch-up page for a conversation
        no window has open): the group's or person's name as spelt by the group list or the
        contact list, not the case-folded key."""
        if key == EVERYONE:
            return EVERYONE_TITLE
        if is_group(key):
            return self._group_title(key[len(GROUP_PREFIX):])
        return self.canonical_user(key)

    def conversation_keys(self) -> list[str]:
        return list(self._conversations)

    def unread(self, key: str) -> int:
        return self._unread.get(key, 0)

    # ------------------------------------------------------------------ commands

    def connect_to(self, host: str, port: int) -> None:
        """Connect to ``host:port`` (dropping any current session)."""
        self._stop_reconnecting()
        self._reset_session()
        self._conn.connect_to_host(host, port)

    def open_store(self, host: str, port: int, user: str, *, check: bool = False,
                   carry: Sequence[OutboxItem] = ()) -> LocalStore:
        """Open the local store of ``user`` on ``host:port`` (done by login; public for tools
        and benchmarks that show a cached conversation without a server). ``check`` reads
        the whole file first (:meth:`LocalStore.check`); ``carry`` are outbox rows of a store
        set aside, adopted before the conversations are filled from the store (so they show
        as pending; adopted after, they were sent unseen: a client hunt).

        Raises:
            sqlite3.DatabaseError: the file is damaged (with ``check``: anywhere in it)."""
        if self._store is not None and name_key(user) == name_key(self._store_user) \
                and (host, port) == self._store_at:
            return self._store
        if self._store is not None:
            self._store.close()
            self._forget_account()
        self._store = LocalStore(self._store_path(host, port, user))
        self._store_user, self._store_at = user, (host, port)
        self._lists_saved = None
        if check:
            self._store.check()
        if carry:
            self._store.adopt_outbox(carry)
        if self._store.get_meta("read_marks") is None:
            # A cache from before read marks were kept: count what it holds as read.
            self._store.mark_all_read_here(user)
            self._store.set_meta("read_marks", "1")
        for model in self._conversations.values():
            self._hydrate(model)
        return self._store

    def _open_store_at_login(self) -> bool:
        """Open the account's local store before the session counts as logged in (nothing
        may be confirmed to the server that is not on disk). A damaged file is set aside
        (renamed ``<name>.damaged-<time>``, with its ``-wal``/``-shm``) and a new one made:
        the server's history fills it again; Everyone says so (unsent messages in it are
        lost). One that cannot be opened (another app of this account on this computer, one
        a newer Messenger wrote, a read-only or full disk) ends the login: ``login_failed``
        with code :data:`LOCAL_STORE` and a message that says why. Before, the login hung on
        "Logging in…" while messages were confirmed that were stored nowhere (a client
        hunt). True when the store is open."""
        home = self.home
        path = self._store_path(*home, self.user)
        aside: Path | None = None
        kept: list[OutboxItem] | None = None
        moved, moved_aside = self._move_store_home()
        for attempt in (1, 2):
            try:
                self.open_store(*home, self.user, check=True, carry=[*moved, *(kept or ())])
                self._check_server_instance()
                if aside is not None:
                    unsent = ("messages not sent yet stayed in that file" if kept is None
                              else f"the {len(kept)} messages not sent yet were kept and go "
                              "now" if kept else "no message waited to be sent")
                    self.conversation(EVERYONE).add_notice(
                        "The messages saved on this computer were damaged: they were set "
                        f"aside as {aside.name} and come again from the server ({unsent}).",
                        error=True)
                return True
            except (StoreInUse, StoreTooNew) as exc:
                reason = str(exc)
            except sqlite3.OperationalError as exc:  # (cannot open, read-only, disk full)
                reason = f"Could not open the messages saved on this computer ({path}): {exc}."
            except (sqlite3.DatabaseError, ValueError) as exc:  # (damaged)
                self._drop_store()
                if attempt == 1:
                    kept = LocalStore.salvage_outbox(path)
                    aside = self._set_store_aside(path)
                    if aside is not None:
                        log.error("local store %s is damaged (%s): set aside as %s", path,
                                  exc, aside.name)
                        continue
                reason = (f"The messages saved on this computer ({path}) are damaged and "
                          f"could not be set aside: {exc}.")
            except OSError as exc:
                reason = (f"Could not open the messages saved on this computer ({path}): "
                          f"{exc.strerror or exc}.")
            break
        self._drop_store()
        if moved_aside is not None:  # (not taken in: back where they waited)
            self._put_store_back(moved_aside, self._store_path(self.host, self.port, self.user))
            self.moved_from = None
        if self._early_events:
            self._early_events.clear()
        log.error("login as %s ended: %s", self.user, reason)
        self._stop_reconnecting()
        self._conn.send(Logout(id=self._take_id()))
        self._conn.close()
        self.user = ""
        self.login_failed.emit(LOCAL_STORE, reason)
        return False

    def _move_store_home(self) -> tuple[list[OutboxItem], Path | None]:
        """The unsent messages of the store kept under the address typed, when that is not
        :attr:`home` and the store holds this server's messages: that store is set aside
        (``<name>.moved-<time>``) and its unsent messages go into the home's (they waited
        there unsent for good: a hunt). It is this server's when it names the same
        ``hello.instance``; one that names none (an app from before ``server_instance``
        was kept) is this server's when the address typed was pinned to this certificate
        before this connection (:attr:`Connection.pinned_before`: the old app met this
        server there; after an upgrade its unsent messages waited there for good, a
        storage hunt). Another server's store there (the address was another's) is left
        alone; so is one open in another app (``StoreInUse``). Returns the unsent messages
        and where that store was set aside (None when it was not)."""
        self.moved_from = None
        typed = (self.host, self.port)
        other = self._store_path(*typed, self.user)
        hello = self._conn.server_hello
        instance = hello.instance if hello is not None else None
        if other == self._store_path(*self.home, self.user) or not instance \
                or not other.exists():
            return [], None
        known = LocalStore.peek_meta(other, SERVER_INSTANCE_META)
        if known != instance and not (known is None and self._conn.pinned_before):
            return [], None
        if self._store is not None and Path(self._store.path) == other:
            self._drop_store()
            self._forget_account()
        try:
            store = LocalStore(other)
        except (StoreInUse, StoreTooNew, sqlite3.Error, OSError) as exc:
            log.warning("the store %s of this server was left where it is: %s", other, exc)
            return [], None
        try:
            unsent = store.outbox()
        except sqlite3.Error as exc:
            log.warning("the store %s of this server was left where it is: %s", other, exc)
            return [], None
        finally:
            store.close()
        aside = self._set_store_aside(other, "moved")
        if aside is None:
            return [], None  # (kept there: carried, they would go twice)
        log.info("%s is %s: its store set aside as %s, %d unsent messages moved",
                 server_address(*typed), server_address(*self.home), aside.name, len(unsent))
        self.moved_from = typed
        return unsent, aside

    @staticmethod
    def _put_store_back(aside: Path, path: Path) -> None:
        """Undo :meth:`_set_store_aside` (the login that moved it ended before the home's
        store took its unsent messages in)."""
        if not ClientEngine._rename_store(aside, path):
            log.error("could not put %s back as %s", aside, path)

    def _check_server_instance(self) -> None:
        """The server's database must be the one this store's messages came from
        (``hello.instance``). Another one at the same address (reset, restored from an older
        backup, reinstalled) numbers messages from 1 again: the cached messages' seqs then
        name other messages, and new ones whose seq was already cached were taken as seen
        and confirmed unshown (an operator hunt). Such a store is set aside (renamed
        ``<name>.server-reset-<time>``, nothing deleted) and a new one made, with the
        unsent messages carried over; Everyone says so.

        Raises:
            sqlite3.OperationalError: the store could not be set aside (the login ends).
        """
        hello = self._conn.server_hello
        instance = hello.instance if hello is not None else None
        store = self._store
        if not instance or store is None:
            return  # (an older server: it does not say)
        known = store.get_meta(SERVER_INSTANCE_META)
        high = self._login_seq_high
        # The same database restored from an older copy says the same instance, but hands
        # out again the numbers of what came after that copy: the cache is ahead of it, or
        # (it has handed out more since) a number came as another message (REWOUND_META).
        clash = store.get_meta(REWOUND_META)
        rewound = known == instance and (clash is not None or (
            high is not None and store.max_seq() > high))
        if known == instance and not rewound:
            return
        if known is not None:
            path, unsent = store.path, store.outbox()
            if rewound:
                # Own messages it stored after that copy: gone from it, not from here. Where
                # the copy was made is not known (others may have taken the numbers above it
                # since): those above the numbers known to be reused, and those of the last
                # RESEND_DAYS, go again; what it still has is answered from it (by id).
                lost_from = int(clash) - 1 if clash and clash.isdigit() else (high or 0)
                unsent = store.own_after(lost_from, self.user,
                                         since=time.time() - RESEND_DAYS * 86400) + unsent
            self._drop_store()
            self._forget_account()
            self._redo = []  # (edits and deletes of the old seqs: they name other messages)
            self._held = []
            aside = self._set_store_aside(Path(path), "server-reset")
            if aside is None:
                raise sqlite3.OperationalError(
                    "the server's messages were reset, and the ones saved here could not "
                    "be set aside")
            store = self.open_store(*self.home, self.user, carry=unsent)
            log.warning("server %s has another database than this store's (%s, was %s; "
                        "rewound: %s): local store set aside as %s", self.where,
                        instance, known, rewound, aside.name)
            self.conversation(EVERYONE).add_notice(
                f"The server at {self.where} has another message database than "
                "before (it was reset, restored from a backup or reinstalled): the messages "
                f"saved on this computer from before were set aside as {aside.name}, and the "
                "conversations start again from what the server has now. Messages not sent "
                "yet were kept and go now" + (", with yours that it lost" if rewound else "")
                + ".", error=True)
        store.set_meta(SERVER_INSTANCE_META, instance)

    def _seq_clash(self, exc: SeqClash) -> None:
        """A message came with a seq cached as another one (:class:`SeqClash`): the server
        was restored from an older copy and numbers anew. Nothing of it is shown or
        confirmed; the link is dropped, and the next login sets the store aside and starts
        over from the server (:meth:`_check_server_instance`)."""
        if self._store is None or self._store.get_meta(REWOUND_META) is not None:
            return
        log.warning("server %s sent seq %d as another message than the one cached: it "
                    "was restored from an older copy; starting over from it",
                    self.where, exc.seq)
        self._store.set_meta(REWOUND_META, str(exc.seq))
        self._conn.close()  # (logged in again by the reconnect)

    def _drop_store(self) -> None:
        """Close the local store (the app quits, a login ends, a store failed half-way
        through opening). A running export is cancelled first (its temporary file removed,
        the file it would replace untouched): it reads the store (a hunt: quitting while
        it wrote raised in a slot and left its ``.part`` behind; while it fetched, it wrote
        "what the window shows" as if it were the whole conversation)."""
        if self._store is not None:
            self._flush_lists()
            for job in list(self._exports):
                job.cancel("Export cancelled: the messages saved on this computer were "
                           "closed (logged out or quit).")
            try:
                self._store.close()
            except sqlite3.Error:
                pass
            self._store = None
            self._store_at = ("", 0)

    @staticmethod
    def _rename_store(path: Path, to: Path) -> bool:
        """Rename store ``path`` with its ``-wal``/``-shm`` to ``to``; False (logged) when a
        part could not be."""
        try:
            for suffix in ("-wal", "-shm", ""):
                part = Path(f"{path}{suffix}")
                if part.exists():
                    part.rename(f"{to}{suffix}")
        except OSError as exc:
            log.error("could not rename %s to %s: %s", path, to, exc)
            return False
        return True

    @staticmethod
    def _set_store_aside(path: Path, why: str = "damaged") -> Path | None:
        """Rename store ``path`` (and its ``-wal``/``-shm``) to
        ``<name>.<why>-<YYYYmmdd-HHMMSS>``; its new name, or None when it cannot be."""
        aside = path.with_name(f"{path.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}")
        if not ClientEngine._rename_store(path, aside):
            log.error("could not set %s aside", path)
            return None
        return aside

    def _store_path(self, host: str, port: int, user: str) -> Path:
        from .. import paths
        data_dir = self._data_dir if self._data_dir is not None else paths.data_dir()
        return store_path(data_dir, host, port, user)

    def _forget_account(self) -> None:
        """Another account's store replaces the open one: what the models show and the
        engine remembers of the old account goes (its conversations refill from the new
        store)."""
        for key, model in self._conversations.items():
            model.reset()
            self._set_unread(key, 0)
        self._unread.clear()
        self._presence_shown.clear()
        self._unread_seqs.clear()
        self._unread_cards.clear()
        self._read_wanted.clear()
        self._seen_seqs.clear()
        self._inflight.clear()
        self._history_busy.clear()
        self._unconfirmed_reads.clear()
        self._reads_to_resend.clear()
        self._private_read_seqs.clear()

    def reconnect_now(self) -> bool:
        """"Reconnect now": try at once instead of waiting for the backoff. False when there is
        nothing to reconnect (never logged in, logged out, or online)."""
        if self._credentials is None or not self._auto_reconnect or \
                self._conn.state is not ConnectionState.DISCONNECTED:
            return False
        self._reconnect_timer.stop()
        self._backoff.reset()  # a try asked for starts the waits over
        self._attempt_reconnect()
        return True

    def offline_home(self, host: str, port: int, user: str) -> tuple[str, int] | None:
        """Where ``user``'s local store on ``host:port`` is kept when this computer logged in
        there before (the server's :attr:`home`, found from the certificate pinned for the
        address: no connection needed); None when it did not (no pin, or no store for the
        account under that home). What the login dialog's "Open offline" needs."""
        try:
            fingerprint = self._conn.pins.get(host, port)
        except (PinFileError, OSError):
            return None
        if not fingerprint or not is_valid_name(user):
            return None
        from .. import paths
        data_dir = self._data_dir if self._data_dir is not None else paths.data_dir()
        homes = ServerHomes.load(data_dir / "accounts" / HOMES_FILE)  # (only read here)
        home = homes.home(host, port, fingerprint)
        return home if self._store_path(*home, user).is_file() else None

    def open_offline(self, host: str, port: int, user: str, password: str, *,
                     version_mismatch: bool = False) -> str:
        """Open ``user``'s account on ``host:port`` from this computer's local store while
        the server cannot be reached (the login dialog's "Open offline"): the cached history
        shows, messages typed go to the outbox, and the app reconnects by itself with the
        usual backoff, logging in with ``password`` (kept in memory only, as after a login)
        and sending the outbox then. ``password`` must match the hash kept in the store at
        the last login or password change here (:data:`OFFLINE_PASSWORD_META`; else
        :data:`OFFLINE_PASSWORD_MISMATCH`), and a store made by a version that kept none is
        not opened offline. A password the server then refuses (changed elsewhere since)
        ends it as a refused re-login does (``login_failed`` with ``bad_credentials``).
        Returns "" when it opened, else why not (no store of that account here, no or
        another password kept, or it cannot be opened).

        ``version_mismatch``: the server answered, speaking another protocol version. No
        retry helps until the app or the server is updated, so none comes by itself
        (:attr:`waits_for_update`); "Reconnect now" (:meth:`reconnect_now`) tries."""
        home = self.offline_home(host, port, user)
        if home is None:
            return (f"This computer has no messages of {user} on "
                    f"{server_address(host, port)}: log in once while the server is up.")
        if self.logged_in or self._conn.state is not ConnectionState.DISCONNECTED:
            return "Already connected."
        # No server to ask: the password must be the one of the last login here (its hash,
        # kept by _keep_offline_password). Checked before the store is opened.
        kept = LocalStore.peek_meta(self._store_path(*home, user), OFFLINE_PASSWORD_META)
        if not kept:
            return (f"Open offline needs one login of {user} on {server_address(host, port)} "
                    "with this version of the app first (it keeps what checks the password "
                    "here): log in online once.")
        if not self.offline_passwords.matches(kept, password):
            log.info("open offline refused: the password does not match")
            return OFFLINE_PASSWORD_MISMATCH
        self._stop_reconnecting()
        self._reset_session()
        self._conn.set_address(host, port)
        self._home_for, self._home = (self.host, self.port), home
        try:
            self.open_store(*home, user, check=True)
        except (StoreInUse, StoreTooNew) as exc:
            self._drop_store()
            return str(exc)
        except (sqlite3.Error, ValueError, OSError) as exc:
            self._drop_store()
            return (f"Could not open the messages saved on this computer "
                    f"({self._store_path(*home, user)}): {exc}.")
        assert self._store is not None
        log.info("opened %s on %s offline from its local store", user, self.where)
        self._load_lists()
        self._session_ended = False
        self._credentials = (user, password)
        self._auto_reconnect = True
        self._backoff.reset()
        for item in self._store.outbox():  # (the unsent messages show as pending)
            for place in self._outbox_places(item):
                self.conversation(place.key, place.title)
        self._waits_for_update = version_mismatch
        if version_mismatch:
            # (each try would meet version_mismatch again: the user says when, once the
            # app or the server is updated)
            self.conversation(EVERYONE).add_link_notice(
                f"Opened offline: {self.where} speaks another protocol version. Once the "
                "app or the server is updated: Reconnect now.", error=True)
            return ""
        self.conversation(EVERYONE).add_link_notice(
            f"Opened offline: {self.where} cannot be reached. Reconnecting by itself.",
            error=True)
        self._schedule_reconnect()
        return ""

    @property
    def waits_for_update(self) -> bool:
        """Opened offline after the server answered with another protocol version
        (:meth:`open_offline`): until a login nothing reconnects by itself, and a "Reconnect
        now" that meets the other version again leaves it so."""
        return self._waits_for_update

    def reconnect_in(self) -> float | None:
        """Seconds until the scheduled reconnect (None when none is): for a window made
        after it was scheduled (an account opened offline)."""
        if not self._reconnect_timer.isActive():
            return None
        return max(0.0, self.next_attempt - self._clock())

    def network_changed(self, online: bool) -> bool:
        """The system says the network is up (``online``) or down. Up while a reconnect
        waits out its backoff: try at once (a laptop that joins a Wi-Fi again should not
        wait up to 30 s). Down: nothing (a link that died is the heartbeat's to notice).
        True when a try started."""
        if not online or not self._reconnect_timer.isActive():
            return False
        log.info("the network is back: reconnecting now")
        return self.reconnect_now()

    def _watch_network(self) -> None:
        """Follow the system's network reachability (``QNetworkInformation``: the glib,
        NetworkManager or connman backend on Linux) when a backend can tell it."""
        if not QNetworkInformation.loadBackendByFeatures(
                QNetworkInformation.Feature.Reachability):
            log.debug("no network information backend: reconnects follow the backoff only")
            return
        info = QNetworkInformation.instance()
        if info is not None:
            info.reachabilityChanged.connect(self._on_reachability)

    def _on_reachability(self, reachability: QNetworkInformation.Reachability) -> None:
        up = QNetworkInformation.Reachability
        self.network_changed(reachability in (up.Local, up.Site, up.Online))

    def retry(self, client_msg_id: str) -> bool:
        """Send a failed message again (same ``client_msg_id``, same place in the queue). A
        group message goes to the group of that name known now (refused as
        ``group_changed``, it was typed for an earlier group of that name)."""
        if self._store is None:
            return False
        item = self._store.outbox_item(client_msg_id)
        created = self._group_created(item.to[0]) \
            if item is not None and item.scope == "group" and item.to else None
        if self._store.retry(client_msg_id, created) is None:
            return False
        for model in self._conversations.values():
            model.mark_pending(client_msg_id)
        self.outbox_changed.emit()
        self._pump()
        return True

    def discard(self, client_msg_id: str) -> bool:
        """Delete an unsent (failed or pending) message. False when there is no such message,
        or when it is on the wire (sent, its ack not back yet): the server may store and
        deliver it, so only "Delete for everyone" can take it back once it is acked. So is a
        pending one written to a link that died before the answer (``attempted``, also in an
        earlier run of the app): it is resent after the next login, which finds out."""
        store = self._store
        item = store.outbox_item(client_msg_id) if store is not None else None
        if store is None or item is None or client_msg_id in self._inflight:
            return False
        if item.attempted and item.state == "pending":
            return False
        store.discard(client_msg_id)
        for model in self._conversations.values():
            model.remove_client_id(client_msg_id)
        self.outbox_changed.emit()
        return True

    def notify_typing(self, key: str) -> bool:
        """The user is typing in conversation ``key``: tell the peer (private conversations
        only, at most every 3 s, and not with :attr:`typing_indicators` off). True when a
        ``typing`` was sent."""
        if not is_private(key) or not self.logged_in or not self.typing_indicators:
            return False
        now = self._clock()
        if now - self._typing_sent.get(key, -1e9) < TYPING_EVERY:
            return False
        self._typing_sent[key] = now
        return self._conn.send(Typing(to=self.conversation(key).title))

    def export_conversation(self, key: str, path: Path | str) -> ConversationExport:
        """Start writing the whole of conversation ``key`` to ``path`` as lines
        ``[YYYY-MM-DD HH:MM:SS] sender: text`` (local time; continuation lines of a
        multi-line message are indented), oldest first. When logged in, the conversation is
        first fetched from the server into the cache, so the file also holds what the cache
        lacked; nothing blocks the event loop for long (see :class:`ConversationExport`,
        whose ``finished`` or ``failed`` says how it ended).

        An export of the same conversation, or to the same file, still running is cancelled
        (its ``failed`` says why): the newer one replaces it, as the file would. Each job
        writes a temporary file of its own next to ``path``.

        Raises:
            OSError: the file cannot be created (nothing was started, nothing cancelled).
        """
        path = Path(path)
        job = ConversationExport(self, key, path)
        target = path.resolve()
        for other in list(self._exports):
            if other.key == key:
                other.cancel("Export cancelled: a new export of this conversation started.")
            elif other.path.resolve() == target:
                other.cancel(f"Export cancelled: another export to {path.name} started.")
        self._exports.add(job)
        job.finished.connect(lambda *_: self._export_ended(job))
        job.failed.connect(lambda *_: self._export_ended(job))
        job.start()
        return job

    def export_of(self, key: str) -> ConversationExport | None:
        """The export of conversation ``key`` still running (fetching or writing), if any:
        a tab opened meanwhile follows it (there is at most one, see
        :meth:`export_conversation`)."""
        for job in self._exports:
            if job.key == key and job.phase in ("fetching", "writing"):
                return job
        return None

    def _export_ended(self, job: ConversationExport) -> None:
        self._exports.discard(job)
        job.deleteLater()

    def _ask_export_page(self, job: ConversationExport, before: int | None) -> bool:
        """Send the export's next ``history`` request (the page before seq ``before``; None:
        the newest page)."""
        if not self.logged_in or self._store is None:
            return False
        frame = GetHistory(id=self._take_id(), conversation=history_name(job.key),
                           before=before, limit=EXPORT_PAGE)
        return self._request(frame, _Request("history", key=job.key, mode="export", job=job,
                                             before=before))

    def login(self, user: str, password: str) -> None:
        """Log in; if still connecting, the request is sent once the handshake is done.
        Answered by ``login_succeeded`` or ``login_failed`` (or ``connection_failed``)."""
        self._authenticate(_Request("login", user=user), password)

    def register(self, user: str, password: str) -> None:
        """Create an account and log in to it; answered like :meth:`login`."""
        self._authenticate(_Request("register", user=user), password)

    def change_password(self, password: str, new_password: str) -> bool:
        """Ask the server to replace this account's password ``password`` (the current one)
        with ``new_password`` (6–1024 characters). Answered by :attr:`password_changed` or
        :attr:`password_change_failed`; False (nothing sent, no signal) when not logged in.
        Once changed, automatic re-logins use the new password."""
        if not self.logged_in:
            return False
        frame = ChangePassword(id=self._take_id(), password=password,
                               new_password=new_password)
        return self._request(frame, _Request("password", password=new_password))

    def logout(self) -> None:
        """End the session; the connection closes once the server has answered. When logged
        in, this always ends with :attr:`logged_out`: at the server's answer, or at the lost
        link when that answer never came (the server stopped meanwhile; the session is over
        either way). When not logged in there is no session to end (no signal): the link, if
        any, closes and automatic reconnects stop."""
        self._stop_reconnecting()
        if self.logged_in:
            if self._to_confirm:
                self._confirm()  # before the logout: the server ignores frames after it
            self._request(Logout(id=self._take_id()), _Request("logout"))
        else:
            self._conn.close()

    def close(self) -> None:
        """Log out if logged in and close the connection at once (used when the app quits,
        then :meth:`close_store`)."""
        self._stop_reconnecting()
        if self.logged_in:
            if self._to_confirm:
                self._confirm()
            self._conn.send(Logout(id=self._take_id()))
        self._conn.close()

    def cancel_login(self) -> bool:
        """Stop a login or registration under way, at once (the login dialog's Cancel while
        it connects to an address that does not answer, or waits for the server): the
        connection is aborted and the request forgotten; no ``connection_failed`` or
        ``login_failed`` follows, only ``state_changed`` to disconnected. False (nothing
        done) when logged in or not connected."""
        if self.logged_in or self._conn.state is ConnectionState.DISCONNECTED:
            return False
        log.info("login to %s cancelled", self.where)
        self._stop_reconnecting()
        self._reset_session()
        self._conn.abort()
        return True

    def local_store_path(self) -> Path | None:
        """Where this account's local store is on this computer (under the server's
        :attr:`home`); None before any login. File → Log out and remove my data removes it
        (:func:`~messenger.client.localstore.remove_store`, once :meth:`close_store`)."""
        if not self.account:
            return None
        return self._store_path(*self.home, self.account)

    def local_store_paths(self) -> list[Path]:
        """Every place this account's local store of this server may be on this computer:
        :meth:`local_store_path` first, then the store path under each other address pinned
        to this server's key (where an older app kept it, and where a login set it aside as
        ``<name>.moved-<time>`` once its home was known: :meth:`_move_store_home`). File →
        Log out and remove my data removes them all (it left the moved copy, with the
        account's history, under the other address: a hunt). ``[]`` before any login."""
        path = self.local_store_path()
        if path is None:
            return []
        out = [path]
        try:
            fingerprint = self._conn.fingerprint or self._conn.pins.get(self.host, self.port)
            pinned = self._conn.pins.entries() if fingerprint else []
        except (PinFileError, OSError) as exc:
            log.warning("the other addresses of %s are not known: %s", self.where, exc)
            return out
        # (an older app's pin of this very certificate, not replaced yet, is this server's)
        try:
            wanted = {normalize_fingerprint(f)
                      for f in (fingerprint, self._conn.certificate_fingerprint) if f}
        except ValueError:  # (a corrupt pin of the address typed)
            return out
        for host, port, pin in pinned:
            try:
                same = normalize_fingerprint(pin) in wanted
            except ValueError:
                continue  # (a corrupt pin names no server)
            if same and (other := self._store_path(host, port, self.account)) not in out:
                out.append(other)
        return out

    def close_store(self) -> None:
        """Close the local store (the app quits): the next app of this account may open it
        (:class:`~messenger.client.localstore.LocalStore` holds a lock while open). A later
        login opens it again. Exports still running are cancelled (no file is written)."""
        self._drop_store()

    def send_unicast(self, user: str, text: str) -> str | None:
        """Send ``text`` to ``user``; returns the ``client_msg_id`` or None when refused
        locally (empty text, or not logged in — then an error item explains it)."""
        return self._send("unicast", [user], text)

    def send_multicast(self, users: list[str], text: str) -> str | None:
        """Send ``text`` to each of ``users`` (two or more names); like :meth:`send_unicast`."""
        return self._send("multicast", list(users), text)

    def send_broadcast(self, text: str) -> str | None:
        """Send ``text`` to everyone; like :meth:`send_unicast`."""
        return self._send("broadcast", [], text)

    def send_group(self, group: str, text: str) -> str | None:
        """Send ``text`` to the members of ``group``; like :meth:`send_unicast`."""
        return self._send("group", [self._group_title(group)], text)

    def retract(self, seq: int, key: str) -> bool:
        """Delete own message ``seq`` for everyone (``key``: the conversation that shows it,
        which gets an error as a notice). Its text becomes :data:`RETRACTED_TEXT` in every
        app once the server's ``deleted`` notice arrives. While the link is down it is kept
        and made after the next login; False when nobody is logged in."""
        req = _Request("retract", key=key, frame=Retract(id=self._take_id(), seq=seq))
        if not self.logged_in or not self._request(req.frame, req):
            return self._change_offline(req, "deleted")
        self._keep_change(req)
        return True

    def edit(self, seq: int, key: str, text: str, base: float | None = None) -> bool:
        """Replace the text of own message ``seq`` with ``text`` (``key``: the conversation
        that shows it, which gets an error as a notice); every app shows the new text, marked
        edited, once the server's ``edited`` notice arrives. ``base``: the message's edited
        time (0.0: never edited) when the user began the new text, e.g. as the edit dialog
        opened; None: as the cache has it now. While the link is down it is kept and made
        after the next login; False when nobody is logged in, or when the message is
        deleted (said in ``key``)."""
        cached = self._store.message(seq) if self._store is not None else None
        deleted = cached is not None and cached.text == RETRACTED_TEXT
        if deleted or self.deletion_waiting(seq):
            # (after a waiting delete the server answered "you have no message 3 to edit")
            message = "Not edited: the message was deleted meanwhile." if deleted else \
                "Not edited: this message is being deleted."
            self.conversation(key).add_notice(message, error=True)
            self.request_failed.emit(key, ErrorCode.UNKNOWN_MESSAGE, message)
            return False
        # The text it is made on: sent late, it must not overwrite a newer edit. While an own
        # earlier edit of it waits for its answer, that edit's base: this one is held back
        # until that one is answered (_send_edit), then made on the text that one made
        # (sent with no base, it overwrote an edit from another device made meanwhile).
        mine_waiting = [c for c in self._saved_changes()
                        if c.get("kind") == "edit" and c.get("seq") == seq]
        if mine_waiting:
            base = mine_waiting[0].get("base")
        elif base is None:
            base = (cached.edited or 0.0) if cached is not None else None
        frame = Edit(id=self._take_id(), client_msg_id=time_ordered_id(), seq=seq, text=text,
                     base=base)
        return self._send_edit(_Request("edit", key=key, frame=frame))

    def changes_waiting(self) -> tuple[int, int]:
        """How many edits and how many deletes for everyone are made and not answered yet
        (saved with the cache: they go after this account's next login on this computer)."""
        saved = self._saved_changes()
        edits = sum(1 for c in saved if c.get("kind") == "edit")
        return edits, len(saved) - edits

    def deletion_waiting(self, seq: int) -> bool:
        """Whether a "Delete for everyone" of own message ``seq`` is made and waits for its
        answer (the link is down, or it is on its way): it cannot be edited any more."""
        return any(c.get("kind") == "retract" and c.get("seq") == seq
                   for c in self._saved_changes())

    def _send_edit(self, req: _Request) -> bool:
        key = req.key or EVERYONE
        too_large = self._too_large(req.frame) if self.logged_in else ""
        if too_large:  # (the server would close the link on it, and it would go again)
            self._change_done(req)
            self._release_held(req.frame.seq, None)
            message = f"Not edited: the new text is {too_large}."
            self.conversation(key).add_notice(message, error=True)
            self.request_failed.emit(key, ErrorCode.FRAME_TOO_LARGE, message)
            return False
        if self.logged_in and self._earlier_edit_waits(req):
            self._keep_change(req)
            self._held.append(req)
            return True
        if not self.logged_in or not self._request(req.frame, req):
            return self._change_offline(req, "edited")
        self._keep_change(req)
        return True

    def _earlier_edit_waits(self, req: _Request) -> bool:
        """Whether edit ``req`` must wait: an own edit of the same message made before it
        is saved, not answered yet (the saved changes are in the order made)."""
        cid = self._change_id(req)
        for c in self._saved_changes():
            if c.get("id") == cid:
                return False
            if c.get("kind") == "edit" and c.get("seq") == req.frame.seq:
                return True
        return False

    def _release_held(self, seq: int, edited: float | None) -> None:
        """An own edit of message ``seq`` was answered: the next edit of it held back
        (:attr:`_held`) goes now, on ``edited`` (the edited time the answer gave; None when
        it was refused: on the base it has, so the server refuses it too when the message
        was edited elsewhere meanwhile). Those after it are made on that time too."""
        held = [r for r in self._held if r.frame.seq == seq]
        if not held:
            return
        if edited is not None:
            for r in held:
                r.frame = msgspec.structs.replace(r.frame, base=edited)
                self._rebase_change(r, edited)
        req = held[0]
        if self._earlier_edit_waits(req):
            return  # (another edit of it before this one still waits for its answer)
        self._held.remove(req)
        if not self.logged_in:
            req.user = self.user
            self._redo.append(req)
            return
        req.frame = msgspec.structs.replace(req.frame, id=self._take_id())
        self._send_edit(req)

    def _rebase_change(self, req: _Request, base: float) -> None:
        """The saved edit ``req`` is now made on ``base`` (:data:`CHANGES_META`)."""
        saved = self._saved_changes()
        cid = self._change_id(req)
        for c in saved:
            if c.get("id") == cid:
                c["base"] = base
        if self._store is not None:
            self._store.set_meta(CHANGES_META, json.dumps(saved))

    def _change_offline(self, req: _Request, done: str) -> bool:
        """An edit or delete made while the link is down: kept (in the store too) and made
        after the next login, as a message typed offline is sent then; the new text typed
        offline was thrown away (a client hunt). Refused when nobody is logged in to come
        back (after a logout). ``done``: "edited" or "deleted", for the notice."""
        key = req.key or EVERYONE
        coming_back = self._credentials[0] if self._credentials is not None else ""
        if self._store is None or not coming_back \
                or name_key(coming_back) != name_key(self._store_user):
            self.conversation(key).add_notice(
                f"Not connected: the message can be {done} once you are logged in again.",
                error=True)
            return False
        req.user = coming_back
        self._keep_change(req)
        self._redo.append(req)
        self.conversation(key).add_notice(
            f"Not connected: the message will be {done} once you are back online.")
        return True

    @staticmethod
    def _change_id(req: _Request) -> str:
        return req.frame.client_msg_id if req.kind == "edit" else f"retract:{req.frame.seq}"

    def _saved_changes(self) -> list[dict[str, Any]]:
        if self._store is None:
            return []
        try:
            return json.loads(self._store.get_meta(CHANGES_META) or "[]")
        except ValueError:
            return []

    def _keep_change(self, req: _Request) -> None:
        """Save a sent edit or delete until its answer (:data:`CHANGES_META`)."""
        saved = self._saved_changes()
        cid = self._change_id(req)
        if self._store is None or any(c.get("id") == cid for c in saved):
            return
        saved.append({"id": cid, "kind": req.kind, "key": req.key, "seq": req.frame.seq,
                      "text": getattr(req.frame, "text", None),
                      "client_msg_id": getattr(req.frame, "client_msg_id", None),
                      "base": getattr(req.frame, "base", None)})
        self._store.set_meta(CHANGES_META, json.dumps(saved))

    def _change_done(self, req: _Request) -> None:
        """An edit or delete was answered (made, or refused for good): no longer saved."""
        saved = self._saved_changes()
        cid = self._change_id(req)
        if self._store is not None and any(c.get("id") == cid for c in saved):
            self._store.set_meta(CHANGES_META,
                                 json.dumps([c for c in saved if c.get("id") != cid]))

    def _changes_to_redo(self) -> list[_Request]:
        """After a login: the saved edits and deletes not answered, in the order made (the
        requests of this session where it has them; the others rebuilt from the store,
        e.g. made before the app quit)."""
        mine = {self._change_id(r): r for r in [*self._redo, *self._held]}
        self._held = []
        redo = []
        for c in self._saved_changes():
            req = mine.pop(c.get("id"), None)
            if req is None:
                try:
                    if c["kind"] == "edit":
                        frame: Edit | Retract = Edit(
                            id=0, client_msg_id=c["client_msg_id"], seq=int(c["seq"]),
                            text=c["text"], base=c.get("base"))
                    else:
                        frame = Retract(id=0, seq=int(c["seq"]))
                except (KeyError, TypeError, ValueError):
                    continue
                req = _Request(c["kind"], key=c.get("key"), frame=frame)
            req.user = self.user
            redo.append(req)
        return redo + list(mine.values())

    def _edit_later(self, req: _Request, seconds: float) -> None:
        """An edit refused for now (``rate_limited``): the same edit (its ``client_msg_id``,
        so a repeat is harmless) goes again after ``seconds``, with a new request id."""
        req.user = self.user

        def again() -> None:
            if name_key(self.user or req.user) != name_key(req.user):
                self._unanswered_change(req, "You logged in as someone else before it was sent")
                return
            if not self.logged_in and self._credentials is not None:
                self._redo.append(req)  # the link died meanwhile: after the next login
                return
            req.frame = msgspec.structs.replace(req.frame, id=self._take_id())
            self._send_edit(req)

        QTimer.singleShot(max(100, int(seconds * 1000)), self, again)

    def _apply_retraction(self, seq: int, text: str = RETRACTED_TEXT,
                          edited: float | None = None) -> None:
        """Message ``seq`` was deleted (or edited at ``edited``) by its sender: ``text`` in
        every copy, cached and shown."""
        if self._store is not None:
            self._store.set_text(seq, text, edited)
            if edited is None:
                # Not unread in the cache either: a conversation not loaded yet (the deletion
                # replayed at login) counted it unread from the cache, past its newest page,
                # with the "New messages" line above "This message was deleted." (a hunt).
                try:
                    self._store.mark_read_elsewhere(self.user or self._store_user, [seq])
                except (sqlite3.Error, OSError) as exc:
                    log.warning("could not mark deleted message %d read: %s", seq, exc)
        for model in self._conversations.values():
            model.set_text(seq, text, edited)
        if edited is None:  # deleted: nothing left to read, so it is not unread any more
            for key in [k for k, waiting in self._unread_seqs.items() if seq in waiting]:
                self._not_unread(key, {seq})

    def _refresh_cached(self, key: str, messages: list[Message], new: set[int]) -> None:
        """A history page of ``key`` brought ``messages``, those of ``new`` cached for the
        first time: one cached before that the server has deleted, or edited later than
        the cache knows, changes here too. A former member of a group is not told of a
        deletion there (only members are), and the cache kept the text for good on that
        computer, in its view and its "complete" export (a hunt)."""
        assert self._store is not None
        old = [m for m in messages if m.seq not in new and not m.notice]
        cached = self._store.texts(key, [m.seq for m in old]) if old else {}
        for m in old:
            text, edited = cached.get(m.seq, (m.text, m.edited))
            if text == m.text:
                continue
            if m.text == RETRACTED_TEXT:
                self._apply_retraction(m.seq)
            elif m.edited is not None and (edited is None or m.edited > edited):
                self._apply_retraction(m.seq, m.text, m.edited)

    def send_to(self, key: str, text: str) -> str | None:
        """Send ``text`` into conversation ``key`` (a peer's, a group's or :data:`EVERYONE`)."""
        if key == EVERYONE:
            return self.send_broadcast(text)
        if is_group(key):
            return self.send_group(self.conversation(key).title, text)
        return self.send_unicast(self.conversation(key).title, text)

    def unread_text(self, key: str, seq: int) -> str | None:
        """The text of message ``seq`` of conversation ``key`` as it reads now (edited), or
        None when it is no longer unread: read here or on another computer of the account,
        or deleted by its sender. For a pop-up about to show it."""
        if seq not in self._unread_seqs.get(key, ()):
            return None
        model = self._conversations.get(key)
        found = model.find_item(seq) if model is not None else None  # (also one set aside)
        return found[1].text if found is not None else None

    def first_unread(self, key: str) -> int | None:
        """The seq of the oldest unread message of conversation ``key`` (where the app draws
        its "New messages" line), or None when it has no unread messages."""
        if not self._unread.get(key):
            return None
        seqs = self._unread_seqs.get(key)
        return min(seqs) if seqs else None

    def first_unread_card(self, key: str) -> str:
        """The card (transfer key) of the oldest file offer not yet looked at in conversation
        ``key`` when it shows above every unread message there (the "New messages" line goes
        above the card then), else ""."""
        cards = self._unread_cards.get(key)
        if not cards or not self._unread.get(key):
            return ""
        model = self.conversation(key)
        # (by place, not row: either may be set aside above the rows, see keep_newest)
        card = min((f for f in (model.find_item(transfer=c) for c in cards) if f is not None),
                   key=lambda f: f[0], default=None)
        if card is None:
            return ""
        seq = self.first_unread(key)
        found = model.find_item(seq) if seq is not None else None
        if seq is not None and (found is None or found[0] < card[0]):
            return ""  # (a message not loaded is older than every loaded row)
        return card[1].transfer

    def add_unread_card(self, key: str, card: str) -> None:
        """A file offer (transfer card ``card``) arrived in conversation ``key``: it counts as
        unread there, as a message would, until the conversation is looked at
        (:meth:`mark_read`). No read receipt goes for it."""
        cards = self._unread_cards.setdefault(key, [])
        if card in cards:
            return
        cards.append(card)
        self._set_unread(key, self._unread.get(key, 0) + 1)

    def card_unread(self, key: str, card: str) -> bool:
        """Whether the file offer of card ``card`` still counts as unread in conversation
        ``key`` (not looked at, answered nor withdrawn yet). For a pop-up about to show it."""
        return card in self._unread_cards.get(key, ())

    def card_answered(self, key: str, card: str) -> None:
        """The file offer of card ``card`` was answered (Accept / Decline here, from the card
        or the Transfers panel, or on another device of this account): off ``key``'s unread
        count, as messages read elsewhere are (:meth:`_on_read_elsewhere`)."""
        cards = self._unread_cards.get(key)
        if cards and card in cards:
            cards.remove(card)
            self._set_unread(key, max(0, self._unread.get(key, 0) - 1))

    def mark_read(self, key: str) -> None:
        """The user has seen conversation ``key``: its unread count drops to zero and the
        senders get ``read`` receipts for what it shows, once each: messages that arrived
        live, came from the cache (also from an earlier run of the app) or from the server's
        history. Offline, the receipts go after the next login."""
        self._set_unread(key, 0)
        self._unread_cards.pop(key, None)
        if not self._unread_seqs.get(key):
            return
        if not self.logged_in:
            if self._store is None:
                self._read_wanted.add(key)
                return
            # Read here now (also after a restart), sent after the next login. The receipts
            # to send are kept first: a crash between the two commits must not leave rows
            # "read here" whose receipt is never sent (a client hunt).
            seqs = sorted(self._unread_seqs.pop(key, ()))
            self._reads_to_resend.update(seqs)
            if not self.send_read_receipts:  # private for good, whatever comes later
                self._private_read_seqs.update(seqs)
            self._save_unconfirmed_reads()
            self._mark_read_here(key, seqs)
            return
        self._send_reads(key)

    def _send_reads(self, key: str) -> None:
        if self._to_confirm:
            self._confirm()  # ("read" counts as stored too: sync the cache first)
        seqs = sorted(self._unread_seqs.pop(key, ()))
        private = not self.send_read_receipts
        if private and not self._private_reads():
            if self._store is not None and seqs:
                self._mark_read_here(key, seqs)  # not unread again after a restart
            self._read_wanted.discard(key)
            return
        sent: list[int] = []
        batch = self._seq_batch()
        for start in range(0, len(seqs), batch):
            chunk = seqs[start:start + batch]
            if not self._conn.send(Read(seqs=chunk, private=private)):
                self._unread_seqs.setdefault(key, set()).update(seqs[start:])
                self._read_wanted.add(key)
                break
            self._unconfirmed_reads.update(chunk)
            if private:
                self._private_read_seqs.update(chunk)
            sent += chunk
        else:
            self._read_wanted.discard(key)
        if sent and self._store is not None:
            # The receipts not known to have arrived are kept before the rows say "read
            # here" (never sent again): a crash between the two commits lost them for good.
            self._save_unconfirmed_reads()
            self._mark_read_here(key, sent)
        if sent:
            self._ping_after_reads()

    def _private_reads(self) -> bool:
        """Whether the server takes ``read`` with ``private`` (read receipts off: the
        account's other apps still learn what was read, the senders do not); an older
        server would pass it on as an ordinary receipt, so then nothing is sent."""
        hello = self._conn.server_hello
        return hello is not None and "private_read" in hello.features

    def _mark_read_here(self, key: str, seqs: list[int]) -> None:
        """The local store's rows ``seqs`` of ``key`` say "read here" (not unread again after
        a restart). A store that cannot be written (a full disk) is logged, not raised: the
        receipts are sent or kept all the same, and the server's ``read_upto`` settles the
        count at the next login."""
        if self._store is None:
            return
        try:
            self._store.mark_read_here(key, seqs)
        except (sqlite3.Error, OSError) as exc:
            log.warning("could not mark %d message(s) of %s read in the local store: %s",
                        len(seqs), key, exc)

    def _save_unconfirmed_reads(self) -> None:
        """Keep the seqs of ``read`` receipts not known to have arrived in the cache's
        ``meta`` (``reads_unconfirmed``, a JSON list): an app quit before the next login
        sends them again after its restart (the rows already say "read here")."""
        if self._store is None:
            return
        waiting = self._unconfirmed_reads | self._reads_to_resend
        self._private_read_seqs &= waiting
        try:
            self._store.set_meta(UNCONFIRMED_READS_META, json.dumps(sorted(waiting)))
            self._store.set_meta(PRIVATE_READS_META, json.dumps(sorted(self._private_read_seqs)))
        except (sqlite3.Error, OSError) as exc:
            log.warning("could not save the unconfirmed read receipts: %s", exc)

    def _ping_after_reads(self) -> None:
        """Ping after reads: its pong proves they arrived (else they go again after a loss)."""
        self._save_unconfirmed_reads()
        if self._unconfirmed_reads:
            self._ping_nonce += 1
            self._reads_ping = self._ping_nonce
            self._conn.send(Ping(nonce=self._ping_nonce))

    def _unread_here(self, key: str, rows: list[CachedMessage], ok: Ok) -> list[CachedMessage]:
        """``rows`` (just cached from history page ``ok`` of ``key``) less those this account
        already read, on this or another device: the page's ``read_upto`` covers them, and
        its ``read_seqs`` the multicasts. Those are marked read here (no badge, no second
        receipt), and so are the unread ones waiting that they cover (read on another device
        meanwhile)."""
        upto = ok.read_upto or 0
        extra = set(ok.read_seqs or ())
        if not (upto or extra) or self._store is None:
            return rows
        me = name_key(self.user or self._store_user)
        done = {r.seq for r in rows if (r.seq <= upto or r.seq in extra)
                and name_key(r.sender) != me}
        if done:
            self._mark_read_here(key, sorted(done))
        self._not_unread(key, {seq for seq in self._unread_seqs.get(key, ())
                               if seq <= upto or seq in extra})
        return [r for r in rows if r.seq not in done]

    def _not_unread(self, key: str, seqs: set[int]) -> None:
        """Messages ``seqs`` of ``key`` no longer wait for a read receipt (deleted, or read
        on another device): off the unread count, and marked read in the cache (so also
        after a restart)."""
        waiting = self._unread_seqs.get(key)
        gone = waiting & seqs if waiting else set()
        if not gone:
            return
        waiting -= gone
        self._set_unread(key, max(0, self._unread.get(key, 0) - len(gone)))
        if self._store is not None:
            self._mark_read_here(key, sorted(gone))

    def _on_read_elsewhere(self, seqs: list[int]) -> None:
        """Another app of this account read messages ``seqs`` (a server ``read`` event): off
        this app's unread counts, and read in the cache (no ``read`` receipt from here)."""
        got = set(seqs)
        for key, waiting in list(self._unread_seqs.items()):
            if both := waiting & got:
                self._not_unread(key, both)
                self._cards_seen_elsewhere(key, both)
        self._reads_to_resend -= got
        if self._store is not None and seqs:
            try:
                self._store.mark_read_elsewhere(self.user or self._store_user, seqs)
            except (sqlite3.Error, OSError) as exc:
                log.warning("could not mark messages read on another device: %s", exc)

    def _cards_seen_elsewhere(self, key: str, seqs: set[int]) -> None:
        """Messages ``seqs`` of ``key`` were read on another computer: the file offers
        shown above the newest of them were looked at there too (reads go by seq, offers
        have none: the laptop kept "(1) bob" for one looked at on the desktop; a hunt)."""
        cards = self._unread_cards.get(key)
        model = self._conversations.get(key)
        if not cards or model is None:
            return
        found = [f for f in (model.find_item(seq) for seq in seqs) if f is not None]
        if not found:
            return
        newest = max(item.ts for _, item in found)
        for card in list(cards):
            shown = model.find_item(transfer=card)
            if shown is not None and shown[1].ts <= newest:
                self.card_answered(key, card)

    def _await_read(self, key: str, rows: list[CachedMessage]) -> None:
        """``rows`` are now shown in conversation ``key``: others' chat messages among them
        that were never marked read here wait for a ``read`` receipt (see :meth:`mark_read`)
        and count as unread."""
        me = name_key(self.user or self._store_user)
        others = [m for m in rows if m.state == "sent" and not m.notice
                  and name_key(m.sender) != me]
        if others and self._not_a_member(key):
            # A group left (a former member reads its history): nothing counts unread, as
            # nothing in the group list is left to open to clear it.
            if self._store is not None:
                self._mark_read_here(key, [m.seq for m in others])
            return
        waiting = self._unread_seqs.setdefault(key, set())
        # One deleted before it came here has nothing to read: never unread (it counted on
        # a new computer, or after a spell offline), and no receipt goes for it.
        if (gone := [m.seq for m in others if m.text == RETRACTED_TEXT]) and \
                self._store is not None:
            self._mark_read_here(key, gone)
        fresh = {m.seq for m in others if m.text != RETRACTED_TEXT} - waiting
        if fresh:
            waiting.update(fresh)
            self._set_unread(key, self._unread.get(key, 0) + len(fresh))

    def account_named(self, name: str) -> str | None:
        """``name`` as the contact list spells it (yours as you logged in); None when
        logged in and no account has it (the list holds every account then). While not
        logged in, as given: the server decides when the message goes."""
        if self.user and name_key(name) == name_key(self.user):
            return self.user
        contact = self.roster.contact(name)
        if contact is not None:
            return contact.name
        return None if self.logged_in else name

    def canonical_user(self, name: str) -> str:
        """``name`` as the roster spells it (or as given when unknown)."""
        if self.user and name_key(name) == name_key(self.user):
            return self.user
        contact = self.roster.contact(name)
        return contact.name if contact is not None else name

    # ------------------------------------------------------------------ groups

    @property
    def party(self) -> str:
        """Your current party: the group you joined or created last that you are still in
        ("" for none). ``/party`` and ``/p`` act on it."""
        return self._party

    def pending_invitation(self) -> str:
        """The group of the newest invitation still waiting for your answer ("" if none)."""
        pending = self.groups.pending()
        for name in reversed(self._party_order):
            if any(name_key(g.name) == name_key(name) for g in pending):
                return next(g.name for g in pending if name_key(g.name) == name_key(name))
        return pending[-1].name if pending else ""

    def group_conversation(self, group: str) -> ConversationModel:
        """The conversation model of ``group`` (created if new)."""
        title = self._group_title(group)
        return self.conversation(group_key(title), title)

    def create_group(self, group: str, invite: list[str] | tuple[str, ...] = (),
                     public: bool = False, *, key: str | None = None) -> bool:
        """Create ``group`` (you lead it) and invite ``invite``. Answered by
        ``group_joined(group)`` or ``group_failed("create", ...)``; ``key``: the conversation
        that gets errors as notices. False when not logged in."""
        frame = GroupCreate(id=self._take_id(), group=group,
                            invite=[self.canonical_user(u) for u in invite], public=public)
        return self._group_request(frame, "create", group, key, public=public)

    def may_invite(self, group: str) -> bool:
        """Whether this account may invite people to ``group`` (the server's rule): a
        member of a public group, or the leader of an invite-only one."""
        row = self.groups.group(group)
        return row is not None and row.member and (
            row.public or name_key(row.leader) == name_key(self.user))

    def invite_to_group(self, group: str, users: list[str] | tuple[str, ...], *,
                        key: str | None = None) -> bool:
        """Invite ``users`` to ``group``. Those who turn out to be members already (one
        joined while the picker was open) are named in ``key``'s conversation; the server
        invites the others."""
        frame = GroupInvite(id=self._take_id(), group=self._group_title(group),
                            users=[self.canonical_user(u) for u in users])
        return self._group_request(frame, "invite", group, key, to=list(frame.users))

    def accept_invitation(self, group: str, *, key: str | None = None) -> bool:
        frame = GroupAccept(id=self._take_id(), group=self._group_title(group))
        return self._group_request(frame, "accept", group, key)

    def decline_invitation(self, group: str, *, key: str | None = None) -> bool:
        frame = GroupDecline(id=self._take_id(), group=self._group_title(group))
        return self._group_request(frame, "decline", group, key)

    def join_group(self, group: str, *, key: str | None = None) -> bool:
        """Join a public group (or one you are invited to)."""
        frame = GroupJoin(id=self._take_id(), group=group)
        return self._group_request(frame, "join", group, key)

    def leave_group(self, group: str, *, key: str | None = None) -> bool:
        frame = GroupLeave(id=self._take_id(), group=self._group_title(group))
        return self._group_request(frame, "leave", group, key)

    def remove_from_group(self, group: str, user: str, *, key: str | None = None) -> bool:
        """Leader only: remove ``user`` from ``group``."""
        frame = GroupRemove(id=self._take_id(), group=self._group_title(group),
                            user=self.canonical_user(user))
        return self._group_request(frame, "remove", group, key)

    def party_invite(self, user: str, *, key: str | None = None) -> bool:
        """``/party invite``: invite ``user`` to your party, creating one named
        ``party-<you>`` (made unique) first if you are in none."""
        if self._party:
            return self.invite_to_group(self._party, [user], key=key)
        return self._create_party(user, 0, key)

    def list_groups(self) -> bool:
        """Ask the server for every group you may see; :attr:`directory` is refreshed and
        ``groups_listed`` emitted."""
        if not self.logged_in:
            return False
        return self._request(GetGroups(id=self._take_id()), _Request("groups"))

    def list_users(self, key: str) -> bool:
        """Ask who is online; the answer is written into conversation ``key`` (who, since
        when, from which address) and ``users_listed`` is emitted."""
        if not self.logged_in:
            self.conversation(key).add_notice("Not connected to the server.", error=True)
            return False
        return self._request(GetRoster(id=self._take_id()), _Request("roster", key=key))

    # ------------------------------------------------------------------ transfers (signalling)

    def offer_transfer(self, to: str, name: str, size: int, sha256: str, mime: str,
                       host: str, port: int, resumes: str = "", group: str = "") -> int:
        """Offer a file to ``to`` (``host``:``port``: our UDP transfer socket; ``resumes``:
        the ``transfer_id`` of the earlier offer this continues, if any; ``group``: the group
        whose conversation it is sent in, if any). Returns the request id (answered by
        ``transfer_answered``), 0 when not logged in."""
        frame = TransferOffer(id=self._take_id(), to=self.canonical_user(to), name=name,
                              size=size, sha256=sha256, mime=mime or "application/octet-stream",
                              endpoint=Endpoint(host=host, port=port), resumes=resumes or None,
                              group=group or None)
        return self._transfer_request(frame)

    def accept_transfer(self, transfer_id: str, host: str, port: int, fingerprint: str,
                        offset: int = 0) -> int:
        """Accept offer ``transfer_id``: we receive on ``host``:``port`` with a certificate of
        ``fingerprint``. Returns the request id, 0 when not logged in."""
        frame = TransferAccept(id=self._take_id(), transfer_id=transfer_id,
                               endpoint=Endpoint(host=host, port=port), fingerprint=fingerprint,
                               offset=offset)
        return self._transfer_request(frame)

    def decline_transfer(self, transfer_id: str, reason: str = "") -> int:
        """Decline offer ``transfer_id``; returns the request id, 0 when not logged in."""
        return self._transfer_request(
            TransferDecline(id=self._take_id(), transfer_id=transfer_id, reason=reason))

    def cancel_transfer(self, transfer_id: str, reason: str = "") -> int:
        """Cancel transfer ``transfer_id`` (either side); returns the request id, 0 when not
        logged in."""
        return self._transfer_request(
            TransferCancel(id=self._take_id(), transfer_id=transfer_id, reason=reason))

    def _transfer_request(self, frame: Any) -> int:
        if not self.logged_in or not self._request(frame, _Request("transfer")):
            return 0
        return frame.id

    # ------------------------------------------------------------------ internals

    def _group_title(self, group: str) -> str:
        row = self.groups.group(group)
        if row is not None:
            return row.name
        index = self.groups.row_of(group)  # (a former group: spelt as its row is)
        return self.groups.index(index, 0).data(GroupModel.NameRole) \
            if index is not None else group

    def _create_party(self, user: str, attempt: int, key: str | None) -> bool:
        name = party_name(self.user, attempt)
        frame = GroupCreate(id=self._take_id(), group=name,
                            invite=[self.canonical_user(user)], public=False)
        return self._group_request(frame, "create", name, key, party=user, attempt=attempt)

    _SAME_INTENT = {"accept": "join", "join": "join", "decline": "decline", "leave": "leave"}
    """Group requests that a second one for the same group, while the first is unanswered,
    would only repeat (a double-click on Accept), by what they ask for."""

    def _group_request(self, frame: Any, op: str, group: str, key: str | None,
                       **extra: Any) -> bool:
        intent = self._SAME_INTENT.get(op)
        if intent is not None and self.logged_in and any(
                r.kind == "group" and self._SAME_INTENT.get(r.op) == intent
                and name_key(r.group) == name_key(group) for r in self._requests.values()):
            # The answer to the first settles this one too; sent again, the server refused
            # it ("you are in den already") after the first had joined.
            log.info("group %s %s: already asked, waiting for the answer", op, group)
            return True
        row = self.groups.group(group)
        req = _Request("group", op=op, group=group, key=key,
                       was_member=row is not None and row.member, **extra)
        if self.logged_in and self._request(frame, req):
            return True
        message = "Not connected to the server."
        if key is not None:
            self.conversation(key).add_notice(message, error=True)
        self.group_failed.emit(op, group, NOT_CONNECTED, message)
        return False

    def _take_id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def _request(self, frame: Any, req: _Request) -> bool:
        self._requests[frame.id] = req
        if not self._conn.send(frame):
            del self._requests[frame.id]
            return False
        return True

    def _drop_requests(self, *, logout: bool = False) -> None:
        """Forget the requests in flight (the link is gone): an older page asked for ends
        its fetch (``older_done``, with nothing); a password change waiting for
        its answer is reported as not made (the server makes it only while the asking
        connection is there). Unless ``logout``: edits and deletes go again after the next
        login (:attr:`_redo`), and a group create/join/accept is settled by that login's
        group list; other group requests are reported failed (they may or may not have been
        made)."""
        dropped = list(self._requests.values())
        self._requests.clear()
        # An older page asked for on the old link never comes: its fetchMore ends here
        # (older_done). A reply's quote looked for in it waited on, and a page scrolled to
        # minutes later jumped the view to that old click's message (a review).
        older = sorted({req.key or EVERYONE for req in dropped
                        if req.kind == "history" and req.mode == "older"})
        self._history_busy.difference_update(older)
        # (The connection still reads logged in while it reports its failure: a quote looked
        # for in the page sees the link as gone, can_fetch_older and older_offline, and
        # does not ask the dead link for the next page.)
        self._link_lost = True
        try:
            for key in older:
                self.conversation(key).older_done.emit()
        finally:
            self._link_lost = False
        for req in dropped:
            if req.kind == "password":
                self._unconfirmed_password = req.password
                self.password_change_failed.emit(
                    NOT_CONNECTED, f"{_unanswered_lead(logout)}: your password may or may not "
                    "have been changed. When it logs in again by itself, the app tries the "
                    "old password, then the new one.")
            elif req.kind in ("edit", "retract") and req.frame is not None:
                if not logout:  # (after a logout the store keeps them for the next login)
                    req.user = self.user
                    self._redo.append(req)
            elif req.kind == "group":
                if not logout and req.op in ("create", "join", "accept"):
                    req.user = self.user
                    self._groups_unsure.append(req)
                else:
                    self._group_unanswered(req, _unanswered_lead(logout))
        held, self._held = self._held, []
        if not logout:  # (edits held back: after the next login, in the order made)
            for req in held:
                req.user = self.user
                self._redo.append(req)
        if logout:
            self._redo = []  # saved in the store: sent after the account's next login
            unsure, self._groups_unsure = self._groups_unsure, []
            for req in unsure:
                self._group_unanswered(req, _unanswered_lead(logout))

    def _unanswered_change(self, req: _Request, lead: str) -> None:
        """An edit or delete that will not go again (``lead``: why, one clause): say so
        where it was made."""
        what = "deleted" if req.kind == "retract" else "edited"
        key = req.key or EVERYONE
        verb = "Delete" if req.kind == "retract" else "Edit"
        message = f"{lead}: the message was not {what}. {verb} it again."
        self.conversation(key).add_notice(message, error=True)
        self.request_failed.emit(key, NOT_CONNECTED, message)

    def _group_unanswered(self, req: _Request, lead: str) -> None:
        """A group request a lost link or a logout left unanswered (``lead``: that, one
        clause): reported failed (the dialogs waiting for it stop waiting)."""
        message = (f"{lead}: {_group_action(req.op, req.group)} may or may not have been "
                   "done. Look at the Groups list, and try again if needed.")
        if req.key is not None:
            self.conversation(req.key).add_notice(message, error=True)
        self.group_failed.emit(req.op, req.group, NOT_CONNECTED, message)

    def _settle_unsure_groups(self, groups: list[GroupInfo]) -> None:
        """After a login: a create/join/accept a lost link left unanswered succeeded when
        the account is now a member of the group and was not when it asked (answered as its
        ``ok`` would have been), else it is reported failed."""
        unsure, self._groups_unsure = self._groups_unsure, []
        me = name_key(self.user)
        for req in unsure:
            info = next((g for g in groups if name_key(g.name) == name_key(req.group)
                         and any(name_key(m) == me for m in g.members)), None)
            if info is not None and name_key(req.user) == me and not req.was_member:
                self._on_group_ok(req, Ok(id=0, group=info))
            else:
                self._group_unanswered(req, _unanswered_lead(False))

    def _send_redo(self) -> None:
        """After a login: the edits and deletes a lost link left unanswered go again, in the
        order they were made (the same edit's ``client_msg_id``: a repeat changes nothing)."""
        redo, self._redo = self._redo, []
        me = name_key(self.user)
        for req in redo:
            if name_key(req.user) != me:
                self._unanswered_change(req, "You logged in as someone else before it was sent")
                continue
            req.frame = msgspec.structs.replace(req.frame, id=self._take_id())
            too_large = self._too_large(req.frame)
            if too_large:  # (a server restarted with a smaller --max-frame)
                self._change_done(req)
                self._unanswered_change(req, f"The new text is {too_large}")
                if req.kind == "edit":
                    self._release_held(req.frame.seq, None)
                continue
            if req.kind == "edit" and self._earlier_edit_waits(req):
                self._held.append(req)  # (after the earlier edit's answer)
                continue
            if not self._request(req.frame, req):
                self._redo.append(req)  # the link is gone again: after the next login

    def _reset_session(self, *, reconnect: bool = False) -> None:
        """Forget the session (a new connection, or ``reconnect``: a new link for the same
        account, which keeps the edits, deletes and group requests left unanswered)."""
        self.user = ""
        if not reconnect:
            self._party_order.clear()  # (a reconnect keeps the order the groups were joined)
            self._ended_seqs.clear()  # (another account's; the cache keeps the notices)
        self._set_party("")
        self._drop_requests(logout=not reconnect)
        # What was on the old link is unanswered: sends go again (same ids), reads too, and
        # the catch-up starts over after the next login.
        self._inflight.clear()
        self._history_busy.clear()
        self._resuming = 0
        self._catching_up.clear()
        self._catch_up_waiting = {}
        self._conversations_wait = CATCH_UP_RETRY_S[0]
        self._reads_to_resend |= self._unconfirmed_reads
        self._unconfirmed_reads.clear()
        self._queued_auth = None
        self._queued_password = ""

    def _authenticate(self, req: _Request, password: str) -> None:
        req.password = password
        state = self._conn.state
        if state in (ConnectionState.CONNECTING, ConnectionState.HANDSHAKING):
            self._queued_auth, self._queued_password = req, password
            return
        if state is ConnectionState.DISCONNECTED:
            if self._conn.host:
                self._queued_auth, self._queued_password = req, password
                self._conn.connect_to_host(self._conn.host, self._conn.port)
            else:
                self.login_failed.emit(NOT_CONNECTED, "Not connected to a server.")
            return
        if state is not ConnectionState.CONNECTED:
            self.login_failed.emit(ErrorCode.ALREADY_LOGGED_IN, "Already logged in.")
            return
        # The name is logged once the server accepts it (`logged in … as`): until then it may
        # be a password typed in the user-name box, and messenger.log is attached to bug
        # reports (a certificates hunt).
        log.info("%s as a name not yet confirmed by the server", req.kind)
        self._resolve_home()
        self._conn.set_logging_in()
        # The heartbeat runs from here: a server that goes silent before it answers (hung,
        # or the link died) fails the login within its timeout instead of leaving it
        # "logging in" for good. (The server answers a ping while it hashes the password.)
        self._rx_seen = -1
        self._last_tick = self._clock()
        self._heartbeat.received(self._last_tick)
        self._tick_timer.start()
        if req.kind == "login":
            # The account's store opens only after the password was accepted (a refused
            # login must not show its data); its receipt cursor is peeked at here.
            if self._store is not None and name_key(req.user) == name_key(self._store_user) \
                    and self.home == self._store_at:
                raw = self._store.get_meta("receipts_after")
            else:
                raw = LocalStore.peek_meta(self._store_path(*self.home, req.user),
                                           "receipts_after")
            after = int(raw or 0)
            frame: Any = Login(id=self._take_id(), user=req.user, password=password,
                               receipts_after=after, receipts_upto=True)
        else:
            frame = Register(id=self._take_id(), user=req.user, password=password)
        self._request(frame, req)

    def _on_ready(self, hello: Hello) -> None:
        req, password = self._queued_auth, self._queued_password
        self._queued_auth, self._queued_password = None, ""
        if req is not None:
            self._authenticate(req, password)

    def trust_server(self, fingerprint: str | None = None) -> bool:
        """The user trusts the new server (``fingerprint_unknown``), whose ``fingerprint``
        they saw: pin it and go on (the login waiting for it follows). False when the
        connection closed meanwhile (pinned all the same: log in again) or nothing was
        pinned (see :meth:`ClientConnection.trust_first_use`)."""
        return self._conn.trust_first_use(fingerprint)

    def refuse_server(self) -> None:
        """The user does not trust the new server: the connection closes, nothing was sent."""
        self._conn.refuse_first_use()

    def _on_unknown_server(self, fingerprint: str) -> None:
        if not self._relogin:
            self.fingerprint_unknown.emit(fingerprint)  # the login dialog asks
            return
        # Reconnecting on its own, and the server's pin is gone (the pin file was moved
        # away): nobody is there to answer the question, so stop instead of waiting.
        self._stop_reconnecting()
        self._conn.refuse_first_use()
        self.conversation(EVERYONE).add_notice(
            f"Stopped reconnecting: the certificate of {self.where} is no longer "
            f"pinned (key SHA-256 {fingerprint}). Log out and in again to check and trust it.",
            error=True)

    def _on_pinned(self, fingerprint: str) -> None:
        self.conversation(EVERYONE).add_notice(
            f"First secure connection to {self.where}: its key is saved "
            f"on this computer (SHA-256 {fingerprint}). If it ever changes, the app will not "
            "connect, and will say so.")
        self.fingerprint_pinned.emit(fingerprint)

    def _on_failed(self, code: str, message: str) -> None:
        was_logged_in = bool(self.user)
        # A logout whose answer the lost link took with it (the server stopped, the network
        # went) still ended the session: it ends with logged_out like any logout, and no
        # "Disconnected" notice (the user chose to go; nothing reconnects after a logout).
        logging_out = any(req.kind == "logout" for req in self._requests.values())
        if self._server_stopping:
            self._server_stopping = False
            if code == ConnectionErrorCode.CLOSED:  # (it said why it closes)
                message = (f"The server at {self.where} was stopped (a restart "
                           "or maintenance).")
        self._queued_auth, self._queued_password = None, ""
        # Unacked sends stay pending in the outbox: they go again after the next login.
        self._drop_requests()
        self._inflight.clear()
        self._history_busy.clear()
        self._resuming = 0
        self._catching_up.clear()
        self._catch_up_waiting = {}
        self._conversations_wait = CATCH_UP_RETRY_S[0]
        for job in list(self._exports):
            job.fetch_stopped(message)
        if code == ConnectionErrorCode.VERSION_MISMATCH and self._waits_for_update:
            pass  # (opened offline for it: still so; "Reconnect now" tries again)
        elif code in (ConnectionErrorCode.CERTIFICATE_CHANGED,
                      ConnectionErrorCode.VERSION_MISMATCH):
            # Neither passes by itself: retrying for ever only said "Retrying in 46 s" under
            # a server updated to another protocol version (a hunt).
            relogin = self._relogin
            self._stop_reconnecting()
            if relogin and not was_logged_in:
                # Met while reconnecting on its own: the last word in Everyone said it would
                # go on reconnecting; say that it stopped, and why.
                where = ("That choice is in the login window: File \u2192 Log out."
                         if code == ConnectionErrorCode.CERTIFICATE_CHANGED else
                         "Once the app or the server is updated, log in again: "
                         "File \u2192 Log out.")
                self.conversation(EVERYONE).add_notice(
                    f"Stopped reconnecting: {message} ({where})", error=True)
        if was_logged_in and not logging_out:
            more = " Reconnecting by itself." if self._auto_reconnect else ""
            self.conversation(EVERYONE).add_link_notice(f"Disconnected: {message}{more}",
                                                        error=True)
        self.user = ""
        self.connection_failed.emit(code, message)
        if logging_out:
            log.info("logged out (the link closed before the server's answer: %s)", message)
            self.logged_out.emit()

    def _on_frame(self, frame: Any) -> None:
        if isinstance(frame, Pong) and frame.nonce >= self._reads_ping:
            # The answer to the ping sent after those reads: the server, which handles a
            # connection's frames in order, has them (a read has no answer of its own).
            if self._unconfirmed_reads:
                self._unconfirmed_reads.clear()
                self._save_unconfirmed_reads()
        if not self.user and isinstance(frame, _SESSION_EVENTS):
            # Behind the ok of a login that failed here (its local store could not be
            # opened), the server sent the account's queue and waiting offers: they were
            # shown to the next account logged in from this window (a hunt). Nobody's now;
            # the account's next login gets them again.
            log.debug("ignoring %s outside a session", type(frame).__name__)
            return
        if isinstance(frame, Message):
            if self._conn.handling_read:
                self._incoming.append(frame)  # (with the rest of this turn's messages)
            else:
                self._on_message(frame)
            return
        if self._incoming:  # (what comes next sees them handled, as it always did)
            self._take_incoming()
        if isinstance(frame, Presence):
            self._on_presence(frame)
        elif isinstance(frame, Ok):
            self._on_ok(frame)
        elif isinstance(frame, Error):
            self._on_error(frame)
        elif isinstance(frame, GroupInvitation):
            self._on_invitation(frame)
        elif isinstance(frame, GroupUpdate):
            self._on_group_update(frame)
        elif isinstance(frame, Receipt):
            self._on_receipt(frame)
        elif isinstance(frame, ReceiptCount):
            self._on_receipt_count(frame)
        elif isinstance(frame, ReceiptsUpto):
            self._on_receipts_upto(frame)
        elif isinstance(frame, Read):
            # (a seq SQLite cannot hold is nobody's: the protocol lets such seqs pass)
            self._on_read_elsewhere([s for s in frame.seqs if -(1 << 63) <= s < (1 << 63)])
        elif isinstance(frame, TransferOffered):
            self._keep_early(frame)
            self.transfer_offered.emit(frame)
        elif isinstance(frame, TransferAccepted):
            self.transfer_accepted.emit(frame)
        elif isinstance(frame, TransferDeclined):
            self.transfer_declined.emit(frame)
        elif isinstance(frame, TransferCancelled):
            self._keep_early(frame)
            self.transfer_cancelled.emit(frame)
        elif isinstance(frame, Typing):
            if frame.user and self.user and name_key(frame.user) != name_key(self.user) \
                    and self.typing_indicators:
                self.typing_received.emit(peer_key(frame.user), frame.user)
        else:
            log.debug("ignoring %s", type(frame).__name__)

    def _on_ok(self, ok: Ok) -> None:
        req = self._requests.pop(ok.id, None)
        if req is None:
            log.warning("ok for unknown request id %s", ok.id)
            return
        if req.kind in ("edit", "retract") and req.frame is not None:
            self._change_done(req)
            if req.kind == "edit":
                self._release_held(req.frame.seq, ok.ts)
        if req.kind in ("login", "register"):
            self.user = login_name(req.user, ok.user)
            self._login_seq_high = ok.seq_high
            if not self._open_store_at_login():
                return
            me = name_key(self.user)
            entries = [(e.name, e.online, self._local_ts(e.last_seen))
                       for e in (ok.roster or []) if name_key(e.name) != me]
            self._offline_grace.clear()  # (the roster says how everyone is)
            self._offline_timer.stop()
            self.roster.set_roster(entries)
            for name, online, _ in entries:
                self._presence_shown.setdefault(name_key(name), online)
            self._presence_timer.start(self.presence_settle_ms)
            before = self.groups.rows()
            rows = [self._row(g) for g in (ok.groups or [])]
            for row in rows:
                self._note_group(row)
            self.groups.set_groups(rows + self._former_groups(rows))
            # Groups left while the link was down (removed, dissolved): as if told live,
            # with their unread counts gone (nothing is left to open to clear them).
            gone = [g for g in before if self.groups.group(g.name) is None]
            for g in gone:
                self._drop_group(g.name)
            for key, count in self._unread.items():
                if key != EVERYONE and count:
                    title = self.conversation(key).title
                    (self.groups if is_group(key) else self.roster).set_unread(title, count)
            self._party_order = self._merged_party_order(ok.groups or [])
            self._update_party()
            for g in gone:
                if g.member:
                    self.group_left.emit(g.name)
            log.info("logged in to %s as %s", self.where, self.user)
            self._conn.set_logged_in(True)
            self._save_lists()  # (for an opening offline: the lists as the server gave)
            again = self._relogin
            self._relogin = False
            self._after_login(req, again)  # (may switch stores: the notice comes after)
            if self._groups_unsure:
                self._settle_unsure_groups(ok.groups or [])
            self.conversation(EVERYONE).add_link_notice(
                f"{'Reconnected' if again else 'Logged in'} to {self.where} "
                f"as {self.user}.")
            if again:
                # Invitations made while the link was down: told as a live one is (they
                # waited unseen in the bar of a minimized window). (After a restart this
                # app cannot tell them from older ones.)
                waited = {name_key(g.name) for g in before if g.pending}
                for row in rows:
                    if row.pending and name_key(row.name) not in waited:
                        self._announce_invitation(row)
            self.login_succeeded.emit(self.user)
        elif req.kind == "send":
            if ok.seq is None:
                log.warning("send ack without seq for %s", req.client_msg_id)
                return
            self._acked(req.client_msg_id, ok.seq, sane_ts(ok.ts), req.keys,
                        recipients=ok.recipients)
        elif req.kind == "history":
            self._on_history(req, ok)
        elif req.kind == "conversations":
            self._on_conversations(ok, again=bool(req.attempt))
        elif req.kind == "group":
            self._on_group_ok(req, ok)
        elif req.kind == "groups":
            self.directory.set_groups([self._row(g) for g in (ok.groups or [])])
            self.groups_listed.emit()
        elif req.kind == "roster":
            self._on_roster(req, ok.roster or [])
        elif req.kind == "transfer":
            self.transfer_answered.emit(ok.id, ok)
        elif req.kind == "password":
            if self._credentials is not None:
                self._credentials = (self._credentials[0], req.password)
            self._keep_offline_password(req.password)
            log.info("password changed")
            self.password_changed.emit()
        elif req.kind == "logout":
            log.info("logged out")
            self.user = ""
            self._conn.close()
            self.logged_out.emit()

    def _on_error(self, err: Error) -> None:
        req = self._requests.pop(err.id, None) if err.id is not None else None
        # (a server's reason is a sentence: one of a megabyte is cut, not shown whole)
        message = err.message if len(err.message) <= ERROR_TEXT_MAX else \
            err.message[:ERROR_TEXT_MAX] + "…"
        if err.code in (ErrorCode.LOCKED_OUT, ErrorCode.RATE_LIMITED):
            message = retry_text(message, err.retry_after)
        if req is None and err.code == ErrorCode.NOT_LOGGED_IN and not self.logged_in:
            # The server closes a connection that stays without a login (its login_timeout,
            # e.g. while the user retypes a refused password): the next login reconnects.
            log.info("server: %s", message)
            return
        if req is None and err.code == ErrorCode.SERVER_STOPPING:
            # A restart or maintenance: the link closes next and the reconnect follows as
            # after any lost link; not a "Server error" in Everyone.
            log.info("server: %s", message)
            self._server_stopping = True
            self.server_stopping.emit(message)
            return
        if req is None and err.code == ErrorCode.PASSWORD_CHANGED:
            # Changed from another session: ours ends, and the old password must not be
            # tried again (each try would count towards the lock-out).
            log.info("server: %s", message)
            self._stop_reconnecting()
            self._session_ended = True
            self.conversation(EVERYONE).add_notice(
                f"You were logged out: {message.rstrip('.')}.", error=True)
            self.user = ""  # (the server closes the link next: no "Disconnected" line too)
            self.request_failed.emit(EVERYONE, err.code, message)
            return
        if req is None:
            log.warning("server error %s: %s", err.code, message)
            self.conversation(EVERYONE).add_notice(f"Server error: {message}", error=True)
            self.request_failed.emit(EVERYONE, err.code, message)
            return
        if req.kind in ("login", "register"):
            log.info("%s refused: %s (the name is not logged: it may be a password)",
                     req.kind, err.code)
            self._conn.set_logged_in(False)
            if self._relogin and err.code == ErrorCode.BAD_CREDENTIALS and \
                    self._unconfirmed_password and self._credentials is not None:
                # A password change lost its answer: it was made after all. Once.
                password, self._unconfirmed_password = self._unconfirmed_password, ""
                log.info("re-login refused: trying the new password of the unconfirmed change")
                self._authenticate(_Request("login", user=self._credentials[0]), password)
                return
            if self._relogin:
                self._relogin = False
                code = err.code
                if code == ErrorCode.LOCKED_OUT:
                    # With --max-failed-logins 1 the refusal of a wrong password is itself
                    # locked_out: one that comes after the last lock ran out was this login's
                    # own failure. It came back every lock with the old password, forever,
                    # each try locking the account again (a hunt).
                    now, ended = self._clock(), self._relogin_lock_ends
                    self._relogin_lock_ends = now + (err.retry_after or 0.0)
                    if ended and now >= ended:
                        if self._unconfirmed_password and self._credentials is not None:
                            # (a change whose answer was lost: its password after the lock)
                            self._credentials = (self._credentials[0],
                                                 self._unconfirmed_password)
                            self._unconfirmed_password = ""
                            log.info("re-login locked out again: trying the new password "
                                     "of the unconfirmed change after the lock")
                        else:
                            code = ErrorCode.BAD_CREDENTIALS
                            message = ("the password was refused (it locked the account "
                                       "again once the lock had ended)")
                else:
                    self._relogin_lock_ends = 0.0
                if code == ErrorCode.BAD_CREDENTIALS:
                    self._stop_reconnecting()
                    self.conversation(EVERYONE).add_notice(
                        "Could not log in again: the password was refused. Log out and in "
                        "again.", error=True)
                else:
                    # Locked out, or the server is busy hashing (everyone reconnects after a
                    # restart): the next try not before it says (it came on the backoff,
                    # every 30 s through a 10-minute lock).
                    self._retry_floor = err.retry_after or 0.0
                    if err.code == ErrorCode.LOCKED_OUT:
                        self.conversation(EVERYONE).add_notice(
                            f"Could not log in again: {message}", error=True)
                self._conn.close()  # still reconnecting unless stopped above
                self.login_failed.emit(code, message)
                return
            self.login_failed.emit(err.code, message)
        elif req.kind == "send":
            self._inflight.discard(req.client_msg_id)
            if self._store is not None:  # answered: the server does not hold it
                self._store.attempted(req.client_msg_id, False)
            if err.code not in FINAL_SEND_ERRORS:
                delay = err.retry_after if err.retry_after else self._send_retry_s
                self._send_retry_s = min(SEND_RETRY_S[1], self._send_retry_s * 2)
                log.info("send %s refused for now (%s); trying again in %.1f s",
                         req.client_msg_id, err.code, delay)
                if err.code == ErrorCode.RATE_LIMITED:
                    self.send_delayed.emit(message, delay)
                if not self._send_retry.isActive():
                    self._send_retry.start(max(1, int(delay * 1000)))
                return
            self._send_failed(req.client_msg_id, req.keys, err.code, message,
                              req.scope, req.to)
        elif req.kind == "history":
            self._on_history_error(req, err)
        elif req.kind == "conversations":
            log.info("conversations refused: %s", err.code)
            if err.code not in FINAL_HISTORY_ERRORS:
                self._conversations_later(err.retry_after)
            if not req.attempt:
                self._resumed_one()
        elif req.kind == "edit" and err.code == ErrorCode.RATE_LIMITED and req.frame:
            self._edit_later(req, err.retry_after or 1.0)
        elif req.kind in ("retract", "edit"):
            if req.frame is not None and err.code != ErrorCode.INTERNAL:
                self._change_done(req)  # refused for good (an internal error: again later)
                if req.kind == "edit":
                    self._release_held(req.frame.seq, None)
            key = req.key or EVERYONE
            what = "delete" if req.kind == "retract" else "edit"
            if err.code == ErrorCode.EDIT_CONFLICT:
                message = ("Not edited: the message was changed on another device meanwhile. "
                           "Edit it again if you still want to change it.")
            else:
                message = f"Could not {what} the message: {message}"
            self.conversation(key).add_notice(message, error=True)
            self.request_failed.emit(key, err.code, message)
        elif req.kind == "transfer":
            self.transfer_answered.emit(err.id, err)
        elif req.kind == "password":
            log.info("password change refused: %s", err.code)
            self.password_change_failed.emit(err.code, message)
        elif req.kind == "group":
            if req.op == "create" and req.party and err.code == ErrorCode.NAME_TAKEN \
                    and req.attempt < 20:
                self._create_party(req.party, req.attempt + 1, req.key)
                return
            log.info("group %s %s refused: %s", req.op, req.group, err.code)
            if req.op == "join" and err.code == ErrorCode.UNKNOWN_GROUP:
                # A public group that ended while listed ("Join a group…"): its end is
                # told to members only, and the row stayed there to be picked again.
                self.directory.remove(req.group)
            if req.key is not None:
                self.conversation(req.key).add_notice(
                    group_failure(req.op, req.group, message), error=True)
                self.request_failed.emit(req.key, err.code, message)
            self.group_failed.emit(req.op, req.group, err.code, message)
        else:
            self.request_failed.emit(EVERYONE, err.code, message)

    def _on_presence(self, p: Presence) -> None:
        """A contact came or went. Going offline is held back for
        :data:`PRESENCE_OFFLINE_GRACE_MS` (:class:`~.liveness.OfflineGrace`): back within
        it, nothing of it shows, but ``presence_changed(user, True)`` still tells that their
        app is back (a file send waiting for them goes again)."""
        if self.user and name_key(p.user) == name_key(self.user):
            return
        key = name_key(p.user)
        contact = self.roster.contact(p.user)
        if not p.online and contact is not None and contact.online \
                and self._offline_grace.grace > 0:
            self._offline_grace.hold(key, p, self._clock())
            self._arm_offline_timer()
            return
        if p.online and self._offline_grace.back(key):
            self._arm_offline_timer()
            self.presence_changed.emit(p.user, True)
            return
        self._apply_presence(p)

    def _offline_due(self) -> None:
        """The grace of held offlines has passed and they are not back: now they show."""
        for p in self._offline_grace.due(self._clock()):
            if self.logged_in:  # (else the next login's roster says how they are)
                self._apply_presence(p)
        self._arm_offline_timer()

    def _arm_offline_timer(self) -> None:
        """Time the next held offline (stopped when none is held)."""
        due = self._offline_grace.next_due()
        if due is None:
            self._offline_timer.stop()
        else:
            self._offline_timer.start(max(0, math.ceil((due - self._clock()) * 1000)))

    def _apply_presence(self, p: Presence) -> None:
        """Show ``p``: the roster row, the private conversation's notice when it says
        otherwise, ``presence_changed``."""
        key = name_key(p.user)
        before = self.roster.contact(p.user)
        at = self._local_ts(p.ts)
        self.roster.set_online(p.user, p.online, time.time() if at is None else at)
        shown = self._presence_shown.get(key, before.online if before is not None else None)
        self._presence_shown[key] = p.online
        if shown != p.online:
            self._say_presence(key, p.user, p.online)
        self.presence_changed.emit(p.user, p.online)

    def _say_presence(self, key: str, name: str, online: bool) -> None:
        """"bob is online." in ``name``'s private conversation, when it is there."""
        model = self._conversations.get(key)
        if model is not None:
            model.add_notice(f"{name} is {'online' if online else 'offline'}.")

    def _settle_presence(self) -> None:
        """:data:`PRESENCE_SETTLE_MS` after a login: a contact still not as their
        conversation last said (they went offline while the link was down, and stayed) gets
        the notice now."""
        if not self.logged_in:
            return
        for key, shown in list(self._presence_shown.items()):
            contact = self.roster.contact(key)
            if contact is None or contact.online == shown:
                continue
            self._presence_shown[key] = contact.online
            self._say_presence(key, contact.name, contact.online)

    # ------------------------------------------------------------------ groups (events)

    def _row(self, info: GroupInfo, invited_by: str = "") -> GroupRow:
        """``info`` as a row of the group list; ``invited_by``: who invited this account
        (the live invitation's ``by``), else as ``info`` says (a login's group list)."""
        me = name_key(self.user)
        member = any(name_key(m) == me for m in info.members)
        pending = not member and any(name_key(m) == me for m in info.invited)
        return GroupRow(info.name, info.leader, tuple(info.members), tuple(info.invited),
                        info.public, member, pending, invited_by or info.invited_by, 0,
                        info.created)

    def _on_group_ok(self, req: _Request, ok: Ok) -> None:
        if ok.group is not None:
            row = self._row(ok.group)
            self._note_group(row)
            self.groups.upsert(row)
            self.directory.upsert(row)
        if req.op in ("create", "join", "accept") and ok.group is not None:
            name = ok.group.name
            self.group_conversation(name)
            self._joined_party(name)
            log.info("%s group %s", req.op, name)
            self.group_joined.emit(name)
            if req.party:
                self.group_conversation(name).add_notice(
                    f"You started the party {name}; {self.canonical_user(req.party)} is "
                    "invited. /p <text> talks to it.")
        elif req.op == "invite" and req.key is not None and ok.group is not None:
            members = {name_key(m) for m in ok.group.members}
            already = [u for u in req.to if name_key(u) in members]
            if already:  # (skipped by the server: they joined while the picker was open)
                self.conversation(req.key).add_notice(
                    f"{', '.join(already)} {'is' if len(already) == 1 else 'are'} in "
                    f"{ok.group.name} already, so {'was' if len(already) == 1 else 'were'} "
                    "not invited.")
            if req.key != group_key(ok.group.name):
                self.conversation(req.key).add_notice(
                    f"Invited {', '.join(ok.group.invited) or 'nobody new'} to "
                    f"{ok.group.name}.")
        elif req.op in ("decline", "leave"):
            title = self._group_title(req.group)
            if self._drop_group(req.group):
                self.group_left.emit(title)
            self._update_party()
            if req.key is not None and req.key != group_key(req.group):
                verb = "Declined the invitation to" if req.op == "decline" else "Left"
                self.conversation(req.key).add_notice(f"{verb} {req.group}.")

    def _note_group(self, row: GroupRow) -> None:
        """A group row from the server (login, a group request's answer, an invitation, an
        update). Its conversation takes the name as spelt now (a later group may reuse a
        dissolved one's name in another case: ``conversation_renamed``), and a group created
        after the one this app knew by that name (its ``created``, Unix seconds, differs
        from the one kept in the local store) says so in the conversation: the messages
        above were in the earlier group."""
        key = group_key(row.name)
        model = self._conversations.get(key)
        if row.member and self._hidden(key):  # (listed again once it leaves again)
            self._store.delete_meta(GROUP_HIDDEN_META + key)
        if row.created and self._store is not None:
            meta = GROUP_CREATED_META + key
            known = self._store.get_meta(meta)
            if known != repr(row.created):
                self._store.set_meta(meta, repr(row.created))
                if known is not None:
                    model = self.conversation(key, row.name)
                    model.add_notice(
                        f"A new group {row.name} was created on "
                        f"{time.strftime('%Y-%m-%d at %H:%M', time.localtime(row.created))}"
                        "; the messages above were in an earlier group of that name.")
        if model is not None and model.title != row.name:
            model.title = row.name
            self.conversation_renamed.emit(key)

    def _group_created(self, name: str) -> float | None:
        """The ``created`` time (Unix seconds, as the server gave it) of the group ``name``
        this app knows, None when it knows none: a group message typed now is meant for
        that group, not for one made later under the same name."""
        row = self.groups.group(name)
        if row is not None and row.created:
            return row.created
        known = self._store.get_meta(GROUP_CREATED_META + group_key(name)) \
            if self._store is not None else None
        try:
            return float(known) if known else None
        except ValueError:
            return None

    def _drop_group(self, name: str) -> bool:
        """Group ``name`` is no longer ours (left, removed, dissolved, declined): its unread
        count goes (nothing new will come to read; the window title's count), and it stays
        in the group list as :attr:`~messenger.client.models.GroupRow.left` when its
        conversation has history here (it vanished, and with it the way back to what was
        said there), else it goes. False when it was not listed as ours."""
        key = group_key(name)
        if key in self._conversations:
            waiting = self._unread_seqs.pop(key, None)
            if waiting and self._store is not None:  # (or a restart counts them again)
                self._mark_read_here(key, sorted(waiting))
            self._unread_cards.pop(key, None)
            self._set_unread(key, 0)
        row = self.groups.group(name)
        if row is None:
            return False
        if self.has_history(key) and not self._hidden(key):
            self.groups.upsert(GroupRow(row.name, "", member=False, created=row.created,
                                        left=True))
        else:
            self.groups.remove(name)
        return True

    def has_history(self, key: str) -> bool:
        """Whether conversation ``key`` has messages cached here (or shown)."""
        if self._store is not None:
            try:
                return self._store.count(key) > 0
            except sqlite3.Error:
                return False
        model = self._conversations.get(key)
        return model is not None and any(i.seq is not None for i in model.items())

    def _hidden(self, key: str) -> bool:
        """Whether former group ``key`` was taken off the list (:meth:`forget_group`) and
        nothing came since: messages newer than it then held (a membership on another
        computer) list it again."""
        if self._store is None:
            return False
        upto = self._store.get_meta(GROUP_HIDDEN_META + key)
        if upto is None:
            return False
        try:
            if (self._store.last_seq(key) or 0) <= int(upto):
                return True
            self._store.delete_meta(GROUP_HIDDEN_META + key)
        except (ValueError, sqlite3.Error, OSError):
            return True
        return False

    # ------------------------------------------------------------ lists kept offline

    def _lists_changed(self, *_args: Any) -> None:
        """The contact or group list changed: written to the local store a moment later
        when it is the server's (logged in), not while it shows what was kept."""
        if self.logged_in:
            self._lists_dirty = True
            if not self._lists_timer.isActive():
                self._lists_timer.start()

    def _lists_data_changed(self, roles: Sequence[int], ignored: set[int]) -> None:
        if not roles or any(int(r) not in ignored for r in roles):
            self._lists_changed()

    def _flush_lists(self) -> None:
        """Write the lists now when they changed since the last write (the timer, a lost
        link, a closed store)."""
        self._lists_timer.stop()
        if self._lists_dirty:
            self._save_lists()

    def _save_lists(self) -> None:
        """Keep the contact list (names, last-seen times; never presence) and the groups
        and invitations in the local store (:data:`ROSTER_META`, :data:`GROUPS_META`), for
        an account opened offline (:meth:`_load_lists`). Written only when they differ
        from what the store holds."""
        self._lists_dirty = False
        if self._store is None:
            return
        roster = json.dumps([[c.name, c.last_seen] for c in self.roster.contacts()],
                            separators=(",", ":"))
        groups = json.dumps([
            {"name": g.name, "leader": g.leader, "members": list(g.members),
             "invited": list(g.invited), "public": g.public, "member": g.member,
             "pending": g.pending, "invited_by": g.invited_by, "created": g.created}
            for g in self.groups.rows()], separators=(",", ":"))
        if self._lists_saved == (roster, groups):
            return
        try:
            self._store.set_meta(ROSTER_META, roster)
            self._store.set_meta(GROUPS_META, groups)
        except (sqlite3.Error, OSError) as exc:  # (only what an offline opening lists)
            log.warning("could not keep the contact and group lists: %s", exc)
            return
        self._lists_saved = (roster, groups)

    def _load_lists(self) -> None:
        """Opened offline: the contact list and the groups as the last session left them
        (:meth:`_save_lists`), every contact offline (the window shows presence as
        unknown until the login), the former groups as a login lists them, and the unread
        counts of the messages cached here. The login's lists replace them."""
        if self._store is None:
            return
        me = name_key(self._store_user)
        entries: list[tuple[str, bool, float | None]] = []
        rows: list[GroupRow] = []
        try:
            for name, last_seen in json.loads(self._store.get_meta(ROSTER_META) or "[]"):
                if isinstance(name, str) and is_valid_name(name) and name_key(name) != me:
                    seen = float(last_seen) if isinstance(last_seen, (int, float)) else None
                    entries.append((name, False, seen))
            for g in json.loads(self._store.get_meta(GROUPS_META) or "[]"):
                rows.append(GroupRow(
                    str(g["name"]), str(g["leader"]),
                    tuple(map(str, g["members"])), tuple(map(str, g["invited"])),
                    bool(g["public"]), bool(g["member"]), bool(g["pending"]),
                    str(g["invited_by"]), 0, float(g["created"] or 0.0)))
        except (ValueError, TypeError, KeyError, sqlite3.Error) as exc:
            log.warning("could not read the contact and group lists kept here: %s", exc)
            entries, rows = [], []
        self.roster.set_roster(entries)
        self.groups.set_groups(rows + self._former_groups(rows))
        # Unread counts from the cache (a conversation shown counts them, as at a login's
        # catch-up), then their badges in the lists just filled.
        try:
            keys = [k for k in self._store.conversations()
                    if (is_private(k) or is_group(k)) and k not in self._conversations
                    and self._store.unread_seqs(k, self._store_user)]
        except sqlite3.Error as exc:
            log.warning("could not count the unread messages kept here: %s", exc)
            keys = []
        for key in keys:
            self.conversation(key)
        for key, count in self._unread.items():
            if key != EVERYONE and count:
                self._show_unread(key)

    def _list_former_groups(self) -> None:
        """After the login's catch-up: former groups whose history it brought (a new
        computer has nothing cached at login, and listed none of them till a restart: a
        hunt) join the list."""
        if self._store is None or not self.logged_in:
            return
        listed = {group_key(r.name) for r in self.groups.rows()} | \
            {group_key(n) for n in self.groups.former()}
        for row in self._former_groups(self.groups.rows()):
            if group_key(row.name) not in listed:
                self.groups.upsert(row)

    def _former_groups(self, current: list[GroupRow]) -> list[GroupRow]:
        """At login: the groups whose history this computer keeps and that are not among
        ``current`` (the account's groups and invitations), as ``left`` rows (spelt as
        their newest cached message has it), except those taken off the list."""
        if self._store is None:
            return []
        ours = {group_key(r.name) for r in current}
        rows = []
        try:
            for key in self._store.conversations():
                if not is_group(key) or key in ours or self._hidden(key):
                    continue
                newest = self._store.page(key, limit=1)
                name = (newest[0].group if newest and newest[0].group
                        else key[len(GROUP_PREFIX):])
                rows.append(GroupRow(name, "", member=False, left=True,
                                     ended=self._ended_here(key)))
        except sqlite3.Error as exc:
            log.warning("could not list the former groups: %s", exc)
        return rows

    def _save_ended(self, name: str, created: float | None = None) -> None:
        """Keep that group ``name`` was seen dissolved (its ``created``, else the one last
        seen, in the local store), so that its row and tab still say it ended after a
        restart (:meth:`_ended_here`)."""
        if self._store is None:
            return
        key = group_key(name)
        when = repr(created) if created else self._store.get_meta(GROUP_CREATED_META + key)
        try:
            if when:
                self._store.set_meta(GROUP_ENDED_META + key, when)
        except (sqlite3.Error, OSError) as exc:  # (only what a restart says of it)
            log.warning("could not save that group %s ended: %s", name, exc)

    def _saw_ended(self, m: Message) -> None:
        """``m`` may be an ``ended`` notice: the account left group ``m.group`` as its last
        member, maybe on another of its computers while this one was logged out (it learns
        it from its catch-up, as the ``group_update`` went to the sessions of then only).
        Its former row says it ended, also after a restart. Not when the account is in a
        later group of that name, nor for the end of an earlier one (before the
        ``created`` this app last saw, or below a message of a later one that the account
        was in: it joined another group of that name elsewhere and left it, and that
        group goes on). Any other message of ``m.group`` above an ``ended`` seen here is
        of such a later group: its former row no longer says it ended."""
        if not m.group or m.notice in ("deleted", "edited"):
            return
        key = group_key(m.group)
        if m.notice != "ended":
            former = self.groups.former_row(m.group)
            if former is None or not former.ended:  # (the usual case: nothing looked up)
                return
            ended = self._ended_seqs.get(key)
            if ended is not None and m.seq <= ended:  # (an older page of the ended group)
                return
            if self._store is not None:
                ended = max(ended or 0, self._store.last_notice_seq(key, "ended") or 0)
            if ended and m.seq > ended:
                self.groups.upsert(replace(former, ended=False))
                if self._store is not None:
                    try:
                        self._store.delete_meta(GROUP_ENDED_META + key)
                    except (sqlite3.Error, OSError) as exc:
                        log.warning("could not save that group %s goes on: %s", m.group, exc)
            return
        self._ended_seqs[key] = max(self._ended_seqs.get(key, 0), m.seq)
        row = self.groups.group(m.group)
        if row is not None:  # (a member of, or invited to, a later group of that name)
            return
        if self._store is not None and (self._store.last_seq(key) or 0) > m.seq:
            return  # (a page above it is here already: a later group's messages)
        known = self._store.get_meta(GROUP_CREATED_META + key) if self._store is not None \
            else None
        try:
            if known is not None and m.ts < float(known):
                return
        except ValueError:
            pass
        former = self.groups.former_row(m.group)
        if former is not None and not former.ended:
            self.groups.upsert(replace(former, ended=True))
        self._save_ended(m.group)

    def _ended_here(self, key: str) -> bool:
        """Whether the last group of conversation ``key`` that this app knew (its
        ``created``) was seen dissolved: a later group of that name is not."""
        ended = self._store.get_meta(GROUP_ENDED_META + key) if self._store is not None \
            else None
        return ended is not None and ended == self._store.get_meta(GROUP_CREATED_META + key)

    def forget_group(self, name: str) -> bool:
        """Take former group ``name`` (a ``left`` row) off the group list, also after
        later logins; its history stays in the cache (and on the server). A later
        membership lists it again. False when it is not a former group here."""
        index = self.groups.row_of(name)
        if index is None or not self.groups.index(index, 0).data(GroupModel.LeftRole):
            return False
        if self._store is not None:
            key = group_key(name)
            self._store.set_meta(GROUP_HIDDEN_META + key, str(self._store.last_seq(key) or 0))
        return self.groups.remove(name)

    def _not_a_member(self, key: str) -> bool:
        """Whether ``key`` is a group this account is not a member of (left, removed,
        dissolved), by the group list of the session; False while logged out."""
        if not is_group(key) or not self.logged_in:
            return False
        row = self.groups.group(key[len(GROUP_PREFIX):])
        return row is None or not row.member

    def _on_invitation(self, ev: GroupInvitation) -> None:
        row = self._row(ev.group, ev.by)
        self._note_group(row)
        self.groups.upsert(row)
        self._party_order.append(ev.group.name)
        self._save_party_order(self._party_order)
        self._announce_invitation(row)

    def _announce_invitation(self, row: GroupRow) -> None:
        """The line in Everyone and ``invitation_received`` (the pop-up) of the invitation
        ``row``: a live one, or one a reconnect's group list brought."""
        n = len(row.members)
        self.conversation(EVERYONE).add_notice(
            f"{row.invited_by or 'Someone'} invited you to the "
            f"{'public' if row.public else 'invite-only'} group {row.name} ({n} member"
            f"{'s' if n != 1 else ''}).")  # (the bar above answers it)
        self.invitation_received.emit(row.name, row.invited_by)

    def _on_group_update(self, ev: GroupUpdate) -> None:
        row = self._row(ev.group)
        if ev.gone or not (row.member or row.pending):
            before = self.groups.group(ev.group.name)
            if self._drop_group(ev.group.name):
                self.group_left.emit(ev.group.name)
            if ev.gone and not ev.group.members and before is not None and before.pending:
                # Dissolved with this invitation waiting: its bar went without a word,
                # under the line that told of it.
                self.conversation(EVERYONE).add_notice(
                    f"The invitation to {ev.group.name} lapsed: the group ended (its last "
                    "member left).")
            former = self.groups.former_row(ev.group.name)
            if ev.gone and not ev.group.members and former is not None:
                # Dissolved (its last member left: this account, here or elsewhere). The
                # `ok` of the leave came first and said nothing of it.
                self.groups.upsert(replace(former, ended=True))
                self._save_ended(ev.group.name, ev.group.created)
            if ev.group.public and ev.group.members:
                if self.directory.row_of(ev.group.name) is not None:
                    self.directory.upsert(replace(row, member=False, pending=False))
            else:
                self.directory.remove(ev.group.name)
            self._update_party()
            return
        before = self.groups.group(ev.group.name)
        self._note_group(row)
        self.groups.upsert(row)
        if self.directory.row_of(ev.group.name) is not None:
            self.directory.upsert(row)
        if row.member and (before is None or not before.member):
            # Created or joined on another computer of the account: the party there, so
            # here too (a second `/party invite` made a second party: a hunt).
            self._joined_party(ev.group.name)

    def _merged_party_order(self, groups: list[GroupInfo]) -> list[str]:
        """The order in which the account's ``groups`` were joined (or invited to), oldest
        first: as this app saw it (kept in the store across restarts, ``PARTY_META``), the
        groups it did not see after them by creation time. Rebuilt by creation time alone,
        a reconnect turned ``/p`` to another group than the one joined last, and a message
        reached other people (a hunt)."""
        order = self._party_order
        if not order and self._store is not None:
            try:
                order = [str(n) for n in json.loads(self._store.get_meta(PARTY_META) or "[]")]
            except ValueError:
                order = []
        present = {name_key(g.name): g.name for g in groups}
        merged = [present[name_key(n)] for n in order if name_key(n) in present]
        seen = {name_key(n) for n in merged}
        merged += [g.name for g in sorted(groups, key=lambda g: g.created)
                   if name_key(g.name) not in seen]
        self._save_party_order(merged)
        return merged

    def _save_party_order(self, order: list[str]) -> None:
        if self._store is not None:
            try:
                self._store.set_meta(PARTY_META, json.dumps(order[-PARTY_KEPT:]))
            except (sqlite3.Error, OSError) as exc:  # (only the order after a restart)
                log.warning("could not save the party order: %s", exc)

    def _joined_party(self, name: str) -> None:
        self._party_order = [n for n in self._party_order if name_key(n) != name_key(name)]
        self._party_order.append(name)
        self._save_party_order(self._party_order)
        self._update_party()

    def _update_party(self) -> None:
        joined = {name_key(g.name): g.name for g in self.groups.rows() if g.member}
        party = next((joined[name_key(n)] for n in reversed(self._party_order)
                      if name_key(n) in joined), "")
        if not party and joined:
            party = next(iter(joined.values()))
        self._set_party(party)

    def _set_party(self, name: str) -> None:
        if name != self._party:
            self._party = name
            self.party_changed.emit(name)

    def _on_roster(self, req: _Request, entries: list[RosterEntry]) -> None:
        me = name_key(self.user)
        self.roster.set_roster([(e.name, e.online, self._local_ts(e.last_seen))
                                for e in entries if name_key(e.name) != me])
        online = [e for e in entries if e.online]
        lines = [f"Online now ({len(online)}):"]
        for e in online:
            who = e.name + (" (you)" if name_key(e.name) == me else "")
            at = self._local_ts(e.since) if e.since else None
            since = f"since {_time_of_day(at)}" if at is not None else "online"
            where = f", from {e.address}" if e.address else ""
            lines.append(f"  {who} — {since}{where}")
        offline = [e.name for e in entries if not e.online]
        if offline:
            lines.append(f"Offline: {', '.join(offline)}")
        key = req.key or EVERYONE
        self.conversation(key).add_notice("\n".join(lines))
        self.users_listed.emit(key, online)

    # ------------------------------------------------------------------ messages

    def _on_message(self, m: Message) -> None:
        m = _sane_message(m)
        self.server_clock.saw(m.ts)
        if m.seq in self._seen_seqs:
            log.debug("duplicate message seq %d", m.seq)
            self._confirm_later(m.seq)  # or it keeps coming back
            return
        self._seen_seqs.add(m.seq)
        if m.notice == "deleted" and m.replaces:
            # Not a line of its own either (nor cached): the original reads "This message
            # was deleted.", where it was; a line "alice deleted a message" said it twice,
            # below later messages.
            self._apply_retraction(m.replaces)
            self._confirm_later(m.seq)
            return
        if m.notice == "edited" and m.replaces:
            # Not a line of its own: the original shows the new text, marked edited.
            self._apply_retraction(m.replaces, m.text, m.ts)
            self._confirm_later(m.seq)
            return
        self._saw_ended(m)
        own = bool(self.user) and name_key(m.sender) == name_key(self.user)
        group = self._group_title(m.group) if m.group else None
        places = place_incoming(self.user or m.sender, m.sender, m.scope, m.to, group)
        new = {p.key for p in places}
        for place in places:  # (a model made after caching would show the message already)
            self.conversation(place.key, place.title)
        if self._store is not None:
            # Cache first, then confirm: a message is never acknowledged before it is on disk.
            # A seq cached in an earlier run of the app is not shown again.
            try:
                new = {p.key for p in places
                       if self._store.add_messages([self._cached(m, p.key)])}
            except SeqClash as exc:
                self._seen_seqs.discard(m.seq)
                self._seq_clash(exc)
                return
            except (sqlite3.Error, OSError) as exc:
                # Not confirmed and not seen: the server sends it again at the next login,
                # or (confirmed by another device) the next catch-up fetches it: no cursor
                # of these conversations may pass it in this session.
                self._seen_seqs.discard(m.seq)
                self._catching_up.update(p.key for p in places)
                log.error("could not cache message %d: %s", m.seq, exc)
                if not self._cache_failed:
                    self._cache_failed = True
                    self.conversation(EVERYONE).add_notice(
                        f"Could not save a message on this computer ({exc}); it will come "
                        "again after the next login.", error=True)
                return
        self._confirm_later(m.seq)
        for place in places:
            if place.key not in self._catching_up:
                # A conversation first seen live starts its cursor here (what is older
                # comes by paging back); one that has a cursor keeps it (_resume_cursor).
                self._start_cursor(place.key, m.seq)
        self._show_incoming(m, places, new, own)

    def _show_incoming(self, m: Message, places: list[Placement], new: set[str], own: bool,
                       badges: set[str] | None = None) -> None:
        """Show cached message ``m`` in its ``places`` (those of ``new`` that did not hold it
        yet) and count it unread; with ``badges``, the keys whose unread count changed are
        added to it and shown later (:meth:`_show_unread`)."""
        if own and self._own_from_elsewhere(m):
            return
        for place in places:
            if place.key not in new:
                continue
            model = self.conversation(place.key, place.title)
            item = self._item(m, place.also)
            if not model.append(item) or m.notice:
                continue
            if m.scope == "unicast":
                self.last_private_peer = place.title
            if not own and (m.text == RETRACTED_TEXT or self._not_a_member(place.key)):
                # Deleted before it came (see above), or from a group no longer ours (the
                # queue of a login after being removed while logged out): never unread, as
                # a left group's cached messages are not (:meth:`_await_read`).
                if self._store is not None:
                    self._mark_read_here(place.key, [m.seq])
            elif not own:
                self._unread_seqs.setdefault(place.key, set()).add(m.seq)
                count = self._unread.get(place.key, 0) + 1
                if badges is None:
                    self._set_unread(place.key, count)
                else:
                    self._unread[place.key] = count
                    badges.add(place.key)
                self.message_received.emit(place.key, item)
        if own and new:  # sent from another device of ours: its receipts may be here
            self._settle([m.seq])

    def _take_incoming(self, _handled: int = 0) -> None:
        """Handle the messages held back in this turn (:attr:`_incoming`), in order: each run
        of them cached in one transaction (:meth:`_on_messages`), an edit or a deletion on
        its own (:meth:`_on_message`)."""
        batch, self._incoming = self._incoming, []
        run: list[Message] = []
        for m in batch:
            if m.notice in ("deleted", "edited") and m.replaces:
                self._on_messages(run)
                run = []
                self._on_message(m)
            else:
                run.append(m)
        self._on_messages(run)

    def _on_messages(self, batch: list[Message]) -> None:
        """What :meth:`_on_message` does for each of ``batch`` (no edits or deletions), with
        the cache written in one transaction, each conversation's cursor read once and its
        unread badge set once (a catch-up of 14,000 messages cached each in its own
        transaction froze the window for seconds). A batch the cache refuses (a seq clash, a
        disk error) goes through :meth:`_on_message` one by one, which handles that."""
        if len(batch) < 2 or self._store is None:
            for m in batch:
                self._on_message(m)
            return
        taken: list[tuple[Message, list[Placement], bool]] = []
        for m in batch:
            m = _sane_message(m)
            self.server_clock.saw(m.ts)
            if m.seq in self._seen_seqs:
                log.debug("duplicate message seq %d", m.seq)
                self._confirm_later(m.seq)
                continue
            self._seen_seqs.add(m.seq)
            self._saw_ended(m)
            own = bool(self.user) and name_key(m.sender) == name_key(self.user)
            group = self._group_title(m.group) if m.group else None
            places = place_incoming(self.user or m.sender, m.sender, m.scope, m.to, group)
            for place in places:
                self.conversation(place.key, place.title)
            taken.append((m, places, own))
        try:
            added = iter(self._store.add_new(
                [self._cached(m, p.key) for m, places, _ in taken for p in places]))
        except (SeqClash, sqlite3.Error, OSError):
            for m, _, _ in taken:
                self._seen_seqs.discard(m.seq)
            for m, _, _ in taken:
                self._on_message(m)
            return
        started: set[str] = set()
        badges: set[str] = set()
        for m, places, own in taken:
            new = {p.key for p in places if next(added)}
            self._confirm_later(m.seq)
            for place in places:
                if place.key not in self._catching_up and place.key not in started:
                    started.add(place.key)  # (as _on_message: the first one starts it)
                    self._start_cursor(place.key, m.seq)
            self._show_incoming(m, places, new, own, badges)
        for key in badges:
            self._show_unread(key)

    def _confirm_later(self, seq: int) -> None:
        """Confirm message ``seq`` (``delivered``) once the cache is synced: at the end of
        this pass of the event loop, with every other message of the pass (one sync)."""
        self._to_confirm.append(seq)
        if not self._confirm_timer.isActive():
            self._confirm_timer.start()

    def _confirm(self) -> None:
        """Sync the local cache (so what it holds survives a power loss), then send one
        ``delivered`` for the messages cached since the last time."""
        seqs, self._to_confirm = self._to_confirm, []
        if not seqs:
            return
        if self._store is None:  # (nothing is on disk: they come again at the next login)
            log.error("no local store: %d messages not confirmed", len(seqs))
            return
        if self._store is not None:
            try:
                self._store.sync()
            except (sqlite3.Error, OSError) as exc:
                log.error("could not sync the local cache: %s; %d messages not confirmed",
                          exc, len(seqs))
                for seq in seqs:
                    self._seen_seqs.discard(seq)  # (they come again at the next login)
                return
        batch = self._seq_batch()
        for start in range(0, len(seqs), batch):
            self._conn.send(Delivered(seqs=seqs[start:start + batch]))

    def _own_from_elsewhere(self, m: Message) -> bool:
        """An own message came back (history, or a copy to ourselves): if it is still in the
        outbox, its ``ok`` was lost — treat it as the ack. True when handled so. The copy's
        text wins over the outbox's: another device of the account may have edited or
        deleted the message meanwhile (the edit or deletion came before the pending row had
        a seq, so it passed it by)."""
        if self._store is None:
            return False
        item = self._store.outbox_item(m.client_msg_id)
        if item is None:
            return False
        keys = [p.key for p in place_outgoing(self.user, m.scope, m.to or
                                             ([m.group] if m.group else []))]
        self._acked(m.client_msg_id, m.seq, m.ts, keys)
        if m.text != item.text or m.edited is not None:
            for key in keys:
                model = self._conversations.get(key)
                if model is not None:
                    model.set_text(m.seq, m.text, m.edited)
        return True

    def _item(self, m: Message | CachedMessage, also: tuple[str, ...] = ()) -> ChatItem:
        own = bool(self.user or self._store_user) and \
            name_key(m.sender) == name_key(self.user or self._store_user)
        if m.notice:
            me = self.user or self._store_user
            text = notice_text(m.notice, m.text, m.sender, me) if me else m.text
            return ChatItem(MessageKind.SYSTEM, m.sender, text, ts=m.ts, seq=m.seq,
                            client_msg_id=m.client_msg_id)
        state = DeliveryState.SENT
        delivered: tuple[str, ...] = ()
        read: tuple[str, ...] = ()
        counts = None
        if isinstance(m, CachedMessage) and own:  # (a received one's state is a read mark)
            state = DeliveryState(m.state)
            delivered, read, counts = tuple(m.delivered_to), tuple(m.read_by), m.counts
        return ChatItem(MessageKind.OWN if own else MessageKind.OTHER, m.sender, m.text,
                        ts=m.ts, seq=m.seq, state=state, client_msg_id=m.client_msg_id,
                        also=also, delivered_to=delivered, read_by=read, counts=counts,
                        edited=m.edited)

    @staticmethod
    def _cached(m: Message, key: str) -> CachedMessage:
        return CachedMessage(m.seq, key, m.ts, m.sender, m.scope, m.text, m.client_msg_id,
                             list(m.to), m.group, m.notice, edited=m.edited)

    def _send(self, scope: str, to: list[str], text: str) -> str | None:
        if not text.strip():
            return None
        me = self.user or self._store_user
        places: list[Placement] = place_outgoing(me, scope, to)
        if not places:
            return None
        if len(text) > MAX_TEXT_LENGTH:  # the server would refuse it: not queued at all
            message = (f"Not sent: {len(text):,} characters, and the limit is "
                       f"{MAX_TEXT_LENGTH:,}. Shorten it, or send it as a file.")
            for place in places:
                self.conversation(place.key, place.title).add_notice(message, error=True)
                self.request_failed.emit(place.key, ErrorCode.MESSAGE_TOO_LONG, message)
            return None
        if scope == "unicast":
            self.last_private_peer = places[0].title
        for place in places:
            # The message hides its readers' "is typing…": the next one typed right after
            # it says "typing" at once, not up to 3 s later (a hunt).
            self._typing_sent.pop(place.key, None)
        # Never logged in (nowhere to keep it), or logged out for good (the password was
        # changed elsewhere): kept, it went out as that account at its next login on this
        # computer, typed by whoever sat down at the window next (a hunt).
        ended = self._session_ended and not self.logged_in
        if self._store is None or ended:
            reason = ("You are logged out: log in again to send it." if ended
                      else "Not connected to the server.")
            for place in places:
                model = self.conversation(place.key, place.title)
                model.add_notice(f"Not sent: {reason[:1].lower()}{reason[1:]}", error=True)
                self.request_failed.emit(place.key, NOT_CONNECTED, reason)
            return None
        try:
            # Stamped on the server's clock, as the messages around it and file cards are:
            # with this computer's clock 10 minutes fast, an answer waiting for the link
            # read 10 minutes after the question it answers (a hunt).
            item = self._store.enqueue(
                places[0].key, scope, to, text,
                group_created=self._group_created(to[0]) if scope == "group" else None,
                created=self.server_clock.now())
        except (sqlite3.Error, OSError) as exc:
            # Not kept, so not sent (it could be lost): say so where it was typed (the app
            # puts the text back in the box). It vanished without a word (a client hunt).
            log.error("could not put a message in the outbox: %s", exc)
            message = (f"Not sent: it could not be saved on this computer ({exc}). Free "
                       "some disk space and send it again.")
            for place in places:
                self.conversation(place.key, place.title).add_notice(message, error=True)
                self.request_failed.emit(place.key, LOCAL_STORE, message)
            return None
        for place in places:
            model = self.conversation(place.key, place.title)  # a new one shows it already
            if not model.has_client_id(item.client_msg_id):
                model.append(ChatItem(
                    MessageKind.OWN, me, text, ts=item.created, state=DeliveryState.PENDING,
                    client_msg_id=item.client_msg_id, also=place.also))
        self.outbox_changed.emit()
        self._pump()
        return item.client_msg_id

    # ------------------------------------------------------------------ outbox

    def _pump(self) -> None:
        """Send every pending outbox message not yet on the wire, in the order typed."""
        if not self.logged_in or self._store is None:
            return
        for item in self._store.outbox(state="pending"):
            if item.client_msg_id in self._inflight:
                continue
            # A group message names the group it was typed for by its created time: a group
            # made later under that name (the first dissolved) refuses it (an older server
            # ignores the field).
            frame = Send(id=self._take_id(), client_msg_id=item.client_msg_id,
                         scope=item.scope, text=item.text, to=item.to,  # type: ignore[arg-type]
                         group_created=item.group_created if item.scope == "group" else None)
            keys = [p.key for p in place_outgoing(self.user, item.scope, item.to)]
            too_large = self._too_large(frame)
            if too_large:
                # The server would close the link on it, and it would be resent after
                # every reconnect: fail it here instead (protocol.md §2).
                self._send_failed(item.client_msg_id, keys, ErrorCode.FRAME_TOO_LARGE,
                                  too_large)
                continue
            if not self._request(frame, _Request("send", keys=keys,
                                                 client_msg_id=item.client_msg_id,
                                                 scope=item.scope, to=list(item.to))):
                return
            self._inflight.add(item.client_msg_id)
            if not item.attempted:  # (still in this turn: nothing has left the machine yet)
                self._store.attempted(item.client_msg_id)

    @property
    def server_clock(self) -> ServerClock:
        """The server's clock as seen from this computer (from the last ``hello``): file
        cards are stamped with :meth:`ServerClock.now` to sort among the server-stamped
        messages, and presence times are read on the local clock (a lab LAN without NTP)."""
        return self._conn.server_clock

    def _local_ts(self, server_ts: float | None) -> float | None:
        """A presence time from the server (``last_seen``, ``since``, ``presence.ts``) on
        this computer's clock; None for none or a bogus one."""
        ts = sane_ts(server_ts, -1.0)
        return None if ts < 0 else self.server_clock.to_local(ts)

    def _max_frame(self) -> int | None:
        """The largest frame payload the server takes (its ``hello.max_frame``), in bytes."""
        hello = self._conn.server_hello
        return hello.max_frame if hello is not None and hello.max_frame else None

    def _too_large(self, frame: Any) -> str:
        """Why ``frame`` cannot go to this server ("too large for this server (…)": the
        server would close the link on it, and it would go again after every reconnect), or
        "" when it can."""
        limit = self._max_frame()
        if limit is None:
            return ""
        size = len(encode_frame(frame)) - HEADER.size
        if size <= limit:
            return ""
        return f"too large for this server ({size:,} bytes; it accepts {limit:,})"

    def _seq_batch(self) -> int:
        """How many seqs go in one ``read``/``delivered`` frame: :data:`READ_BATCH`, fewer
        when the server's ``max_frame`` is smaller than that many would take (a server
        started with ``--max-frame 4096`` closed the link on a ``read`` of 900 seqs, and the
        app reconnected and sent it again, for good: a review)."""
        limit = self._max_frame()
        if limit is None:
            return READ_BATCH
        return max(1, min(READ_BATCH, (limit - 64) // SEQ_BYTES))

    def _send_failed(self, client_msg_id: str, keys: list[str], code: str,
                     message: str, scope: str = "unicast", to: Sequence[str] = ()) -> None:
        """Outbox message ``client_msg_id`` (``scope``, sent ``to`` those names) cannot be
        sent as it is: it becomes *failed* (Retry / Delete) in conversations ``keys``; later
        messages go on."""
        message = send_failure(code, message, scope, to)
        if self._store is not None:
            self._store.failed(client_msg_id, message)
            self.outbox_changed.emit()
        for key in keys:
            # The bubble shows it failed and the tab's bar why (with Retry / Delete): no
            # notice line of its own, which would stay after the message is deleted and pile
            # up with every retry.
            self.conversation(key).mark_failed(client_msg_id, message)
            self.request_failed.emit(key, code, message)

    def _acked(self, client_msg_id: str, seq: int, ts: float, keys: list[str], *,
               recipients: int | None = None) -> None:
        """Own message ``client_msg_id`` is stored on the server as ``seq``; ``recipients``:
        how many it went to (a group message's or a broadcast's ``ok``), else None."""
        self._inflight.discard(client_msg_id)
        self._send_retry_s = SEND_RETRY_S[0]
        self._seen_seqs.add(seq)
        row = self._store.acked(client_msg_id) if self._store is not None else None
        cached: set[str] = set()
        if row is not None and self._store is not None:
            group = row.to[0] if row.scope == "group" and row.to else None
            for key in keys:
                try:
                    if self._store.add_messages([CachedMessage(
                            seq, key, ts, self.user, row.scope, row.text, client_msg_id,
                            list(row.to), group)]):
                        cached.add(key)
                except SeqClash as exc:  # (stored: the next login sets the cache aside)
                    self._seq_clash(exc)
            self.outbox_changed.emit()
        for key in keys:
            self.conversation(key).mark_sent(client_msg_id, seq, ts)
            if row is not None and key not in self._catching_up:
                # A conversation begun by this send starts its cursor here, as one first
                # seen live does: a message another device of this account sends next (no
                # copy comes here) is above it, so the next catch-up fetches it.
                self._start_cursor(key, seq)
            if key in cached:
                self._rewind_cursor(key, seq)
        if recipients is not None and self._store is not None:
            # Whom it went to, counted by the server as it stored it: "delivered to 0 of n"
            # until the counts rise (the group's members today may be others: one who
            # joined later never gets it). Kept in the cache as a receipt_count's are.
            self._show_receipts(self._store.receipt_counts(seq, 0, 0, recipients))
        self.server_clock.saw(ts)
        self.message_acked.emit(client_msg_id, seq, ts)
        self._settle([seq])

    def _settle(self, seqs: list[int]) -> None:
        """Own messages ``seqs`` are cached now: receipts that came before them (at a login,
        the replay runs ahead of the resent message's ``ok`` and of the catch-up) apply."""
        if self._store is not None and seqs:
            self._show_receipts(self._store.settle(seqs, self.user or self._store_user))

    def _outbox_places(self, item: OutboxItem) -> list[Placement]:
        return place_outgoing(self.user or self._store_user, item.scope, item.to)

    def _hydrate(self, model: ConversationModel) -> None:
        """Fill a model from the store: the last cached page, then the unsent messages."""
        store = self._store
        if store is None or model.hydrated:
            return
        model.hydrated = True
        rows = store.page(model.key, limit=PAGE)
        model.prepend([self._item(m, self._also(m, model.key)) for m in rows])
        self._await_read(model.key, rows)
        if rows and not self._not_a_member(model.key):  # unread messages older than the
            # page count too (loaded when shown)
            older = store.unread_seqs(model.key, self._store_user, before=rows[0].seq)
            waiting = self._unread_seqs.setdefault(model.key, set())
            fresh = set(older) - waiting
            if fresh:
                waiting.update(fresh)
                self._set_unread(model.key, self._unread.get(model.key, 0) + len(fresh))
        for item in store.outbox():
            for place in self._outbox_places(item):
                if place.key == model.key and not model.has_client_id(item.client_msg_id):
                    failed = item.state == "failed"
                    model.append(ChatItem(
                        MessageKind.OWN, self._store_user, item.text, ts=item.created,
                        state=DeliveryState.FAILED if failed else DeliveryState.PENDING,
                        client_msg_id=item.client_msg_id, also=place.also,
                        error=item.error or ""))

    def _also(self, m: CachedMessage, key: str) -> tuple[str, ...]:
        if m.scope != "multicast":
            return ()
        me = self.user or self._store_user
        for place in place_incoming(me, m.sender, m.scope, m.to, m.group):
            if place.key == key:
                return place.also
        return ()

    def _audience(self, group: str) -> int:
        row = self.groups.group(group)
        if row is None:
            return 0
        me = name_key(self.user or self._store_user)
        return sum(1 for n in row.members if name_key(n) != me)

    # ------------------------------------------------------------------ receipts

    def _show_receipts(self, messages: list[CachedMessage]) -> None:
        """Put the new receipt states of cached own messages into the open conversations."""
        for m in messages:
            model = self._conversations.get(m.conv)
            if model is not None:
                model.set_receipts(m.seq, m.state, m.delivered_to, m.read_by, m.counts)

    def _on_receipt(self, r: Receipt) -> None:
        if self._store is None:
            return
        self._show_receipts(self._store.receipts(r.seq, r.user, r.state))
        self._receipt_handled(r.rid)

    def _on_receipt_count(self, r: ReceiptCount) -> None:
        """How many members have an own group message (``delivered to k of n``)."""
        if self._store is None:
            return
        self._show_receipts(
            self._store.receipt_counts(r.seq, r.delivered, r.read, r.recipients))
        self._receipt_handled(r.rid)

    def _on_receipts_upto(self, r: ReceiptsUpto) -> None:
        """After a login: what ``r.user`` has of our unicast messages (their receipts are
        not logged, so these stand for the ones missed while offline)."""
        if self._store is None:
            return
        me = self.user or self._store_user
        self._show_receipts(self._store.receipts_upto(me, r.user, r.delivered, r.read, r.after))

    def _receipt_handled(self, rid: int) -> None:
        assert self._store is not None
        if rid > int(self._store.get_meta("receipts_after", "0") or 0):
            self._store.set_meta("receipts_after", str(rid))

    # ------------------------------------------------------------------ history

    def can_fetch_older(self, model: ConversationModel) -> bool:
        """:class:`HistorySource`: older items may exist in the cache or on the server."""
        oldest = model.oldest_seq()
        if self._store is not None and oldest is not None and \
                self._store.has_before(model.key, oldest):
            return True
        return model.server_more is not False and model.key not in self._history_busy \
            and self.logged_in and not self._link_lost

    def fetch_older(self, model: ConversationModel) -> None:
        """:class:`HistorySource`: the next older page, from the cache or the server."""
        oldest = model.oldest_seq()
        if self._store is not None and oldest is not None:
            page = self._store.page(model.key, before=oldest, limit=PAGE)
            if page:
                model.prepend([self._item(m, self._also(m, model.key)) for m in page])
                self._await_read(model.key, page)
                model.older_done.emit()
                return
        if model.key in self._history_busy:
            return  # (older_done comes with the page asked for)
        if model.server_more is False or not self.logged_in or self._link_lost:
            model.older_done.emit()
            return
        self._history_busy.add(model.key)
        frame = GetHistory(id=self._take_id(), conversation=history_name(model.key),
                           before=oldest, limit=PAGE)
        if not self._request(frame, _Request("history", key=model.key, mode="older",
                                             newest=oldest is None, before=oldest)):
            self._history_busy.discard(model.key)
            model.older_done.emit()

    def fetching_older(self, model: ConversationModel) -> bool:
        """:class:`HistorySource`: an older page of ``model`` was asked of the server and
        has not come yet (``older_done`` comes with it, or when the link goes)."""
        return model.key in self._history_busy

    def older_offline(self, model: ConversationModel) -> bool:
        """:class:`HistorySource`: older messages of ``model`` may be on the server (it has
        not said the conversation starts here) but cannot be asked for: not logged in."""
        return model.server_more is not False and (self._link_lost or not self.logged_in)

    def search(self, model: ConversationModel, text: str) -> list[int]:
        """:class:`HistorySource`: seqs of cached messages of ``model`` containing ``text``."""
        seqs = set(self._store.search(model.key, text)) if self._store is not None else set()
        folded = fold(text)
        if self._store is not None:
            # Notices as the conversation shows them ("You joined", not "bob joined": the
            # latter found the line, which had nothing to light; a hunt).
            me = self.user or self._store_user
            seqs.update(seq for seq, notice, stored, sender in self._store.notices(model.key)
                        if folded in fold(notice_text(notice, stored, sender, me)))
        seqs.update(i.seq for i in model.items()
                    if i.seq is not None and folded in fold(i.text))
        return sorted(seqs)

    def quote_candidates(self, model: ConversationModel, sender: str,
                         before: int | None) -> Iterator[QuoteCandidate]:
        """:class:`HistorySource`: ``sender``'s cached messages in ``model`` below seq
        ``before`` (all with None), newest first, with their current text: what a reply's
        quote may point to."""
        if self._store is None:
            return iter(())
        return (QuoteCandidate(*row) for row in self._store.sent_by(model.key, sender, before))

    def load_until(self, model: ConversationModel, seq: int) -> None:
        """:class:`HistorySource`: load cached message ``seq`` (a search match) into
        ``model``. Older than what is loaded, or inside a gap: when at most
        :data:`JUMP_NEAR` cached messages lie between, all of them are loaded; otherwise only
        :data:`JUMP_CONTEXT` on each side of it, and a :class:`GapItem` stands for the rest
        (so a match 100,000 messages back costs a page, not 100,000 rows)."""
        store = self._store
        if store is None or model.has_seq(seq):
            return
        key = model.key
        row = model.gap_containing(seq)
        gap = model.gap_at(row) if row is not None else None
        if gap is not None:
            lo, hi = gap.after, gap.before
        else:
            oldest = model.oldest_seq()
            if oldest is None or seq >= oldest:
                return
            lo, hi = None, oldest  # above the loaded rows: fetch_older pages on from there
        if store.count_between(key, seq - 1 if lo is None else lo, hi) <= JUMP_NEAR:
            # Near: the match and everything down to the loaded rows (or the whole gap).
            rows = store.rows_between(key, seq - 1 if lo is None else lo, hi)
            items = self._items_of(key, rows)
        else:
            rows = store.rows_between(key, lo, seq, limit=JUMP_CONTEXT, newest=True) + \
                store.rows_between(key, seq - 1, hi, limit=JUMP_CONTEXT + 1)
            if not rows:
                return
            items = self._items_of(key, rows)
            if lo is not None and (above := store.count_between(key, lo, rows[0].seq)):
                items.insert(0, gap_item(lo, rows[0].seq, above))
            if below := store.count_between(key, rows[-1].seq, hi):
                items.append(gap_item(rows[-1].seq, hi, below))
        if row is None:
            model.prepend(items)
        else:
            model.replace_row(row, items)
        self._await_read(key, rows)

    def fill_gap(self, model: ConversationModel, row: int, newest: bool) -> None:
        """:class:`HistorySource`: load a page of the gap at ``row`` from the cache (its
        oldest messages, or its newest with ``newest``); a smaller gap stays for the rest."""
        gap = model.gap_at(row)
        if gap is None or self._store is None:
            return
        key = model.key
        rows = self._store.rows_between(key, gap.after, gap.before, limit=PAGE, newest=newest)
        items = self._items_of(key, rows)
        if rows and newest:
            if rest := self._store.count_between(key, gap.after, rows[0].seq):
                items.insert(0, gap_item(gap.after, rows[0].seq, rest))
        elif rows:
            if rest := self._store.count_between(key, rows[-1].seq, gap.before):
                items.append(gap_item(rows[-1].seq, gap.before, rest))
        model.replace_row(row, items)
        self._await_read(key, rows)

    def _items_of(self, key: str, rows: list[CachedMessage]) -> list[ChatItem]:
        return [self._item(m, self._also(m, key)) for m in rows]

    def _resume(self) -> None:
        """After a login: catch every known conversation up with the server."""
        keys = set(self._conversations)
        if self._store is not None:
            keys.update(self._store.conversations())
            # (a conversation whose newest page was empty has a cursor and nothing cached)
            keys.update(self._store.meta_keys(RESUME_META))
        self._resuming = 0
        self._catching_up.clear()
        self._catch_up_waiting = {}
        self._conversations_wait = CATCH_UP_RETRY_S[0]
        self._catch_up_again.clear()
        self._cursored = set()
        for key in sorted(keys):
            if key != EVERYONE and not is_group(key) and not is_private(key):
                continue
            last = self._resume_cursor(key)
            model = self._conversations.get(key)
            if last is None and model is not None:
                last = max((i.seq for i in model.items() if i.seq is not None), default=None)
            if last is None:
                continue
            self._cursored.add(key)
            self._history_after(key, self._rewind_for_unread(key, last))
        self._discovering, self._discover_upto = set(), None
        self._discover_queue.clear()
        hello = self._conn.server_hello
        after = int(self._store.get_meta(CONVERSATIONS_META) or 0) \
            if self._store is not None else 0
        if hello is not None and "conversations" in hello.features and self._request(
                GetConversations(id=self._take_id(), after=max(0, after)),
                _Request("conversations")):
            self._resuming += 1  # (the conversations this computer has no cursor for)
        if not self._resuming:
            self.resumed.emit()

    def _on_conversations(self, ok: Ok, again: bool = False) -> None:
        """The server's list of the account's conversations (after a login): each one this
        computer has nothing of (another computer of the account confirmed its messages
        while this one was away, or this one is new) gets its newest page, which starts its
        resume cursor and counts its unread messages, as opening it would."""
        entries = sorted(ok.conversations or [], key=lambda e: -e.seq)  # newest first
        self._discover_queue = deque(
            key for key in map(key_of_history_name, (e.conversation for e in entries))
            if key is not None)
        if entries:
            self._discover_upto = max(e.seq for e in entries)
        self._discovered(None)  # (the first DISCOVER_MAX go)
        if not again:  # (asked again later: the login's catch-up was over already)
            self._resumed_one()

    def _conversations_later(self, retry_after: float | None) -> None:
        """The login's ``conversations`` was refused for now: ask it again after a while
        (:data:`CATCH_UP_RETRY_S`, doubling), in this session. Refused once and not asked
        again, the conversations a new computer had nothing of (read on another computer
        of the account) stayed missing until the next login (a hunt: an sqlite3 shell's
        lock on the server's database at the login)."""
        delay = self._conversations_wait
        self._conversations_wait = min(CATCH_UP_RETRY_S[1], delay * 2)
        delay = max(delay, retry_after or 0.0)
        log.info("conversations refused for now: asked again in %.0f s", delay)
        waiting = self._catch_up_waiting  # (a new session replaces it)

        def again() -> None:
            if waiting is not self._catch_up_waiting or not self.logged_in:
                return
            after = int(self._store.get_meta(CONVERSATIONS_META) or 0) \
                if self._store is not None else 0
            self._request(GetConversations(id=self._take_id(), after=max(0, after)),
                          _Request("conversations", attempt=1))

        QTimer.singleShot(max(100, int(delay * 1000)), self, again)

    def _discover_next(self) -> None:
        """Ask the newest page of the conversations waiting in line (``_discover_queue``)
        while fewer than :data:`DISCOVER_MAX` are on their way; one that cannot be asked
        (the link is down) leaves the list not gone through (asked again at the next
        login)."""
        while self._discover_queue and len(self._discovering) < DISCOVER_MAX:
            key = self._discover_queue.popleft()
            # A cursor that a message queued for the account started since the login
            # (replayed before this answer) does not count: what another computer confirmed
            # lies below it, and the newest page brings it (the model merges by seq).
            if key in self._history_busy or key in self._catching_up or key in self._cursored \
                    or key in self._discovering:
                continue
            self.conversation(key)
            self._history_busy.add(key)
            frame = GetHistory(id=self._take_id(), conversation=history_name(key), limit=PAGE)
            if self._request(frame, _Request("history", key=key, mode="older", newest=True,
                                             discover=True)):
                self._resuming += 1
                self._discovering.add(key)
            else:  # (the link is down: the rest at the next login)
                self._history_busy.discard(key)
                self._discover_upto = None
                self._discover_queue.clear()

    def _discover_older(self, key: str, before: int, pages: int) -> bool:
        """Ask the page before seq ``before`` of a conversation being discovered (its
        unread messages go further back, :data:`DISCOVER_UNREAD_PAGES`); False when it
        cannot be asked."""
        self._history_busy.add(key)
        frame = GetHistory(id=self._take_id(), conversation=history_name(key), before=before,
                           limit=PAGE)
        if self._request(frame, _Request("history", key=key, mode="older", before=before,
                                         discover=True, pages=pages)):
            return True
        self._history_busy.discard(key)
        return False

    def _discovered(self, key: str | None) -> None:
        """Conversation ``key``'s discovery is answered (None: none was): the next in line
        goes (:meth:`_discover_next`); once all of them are in, the list is gone through
        up to its newest seq (CONVERSATIONS_META)."""
        self._discovering.discard(key)  # type: ignore[arg-type]
        self._discover_next()
        if self._discovering or self._discover_queue or self._discover_upto is None \
                or self._store is None:
            return
        upto, self._discover_upto = self._discover_upto, None
        if upto > int(self._store.get_meta(CONVERSATIONS_META) or 0):
            try:
                self._store.set_meta(CONVERSATIONS_META, str(upto))
            except (sqlite3.Error, OSError) as exc:  # (asked from lower next time: no loss)
                log.warning("could not save how far conversations were gone through: %s", exc)

    def _resumed_one(self) -> None:
        """One of the requests of the login's catch-up is answered."""
        self._resuming -= 1
        if self._resuming <= 0:
            self._resuming = 0
            self.resumed.emit()

    def _rewind_for_unread(self, key: str, after: int) -> int:
        """Where private conversation ``key``'s catch-up starts: below its oldest multicast
        still unread here, when that is at or below the cursor ``after``, so that the page's
        ``read_seqs`` can tell whether another device read it meanwhile (``read_upto``
        covers no multicast); else at ``after``."""
        if self._store is None or not is_private(key):
            return after
        seq = self._store.oldest_unread_multicast(key, self._store_user, after)
        return after if seq is None else seq - 1

    def _resume_cursor(self, key: str) -> int | None:
        """Where ``key``'s catch-up starts: the seq up to which the cache holds every message
        of it, or None (nothing cached).

        The highest cached seq is not that cursor: a catch-up cut off by a lost link leaves a
        gap below the live messages cached after it, and live messages leave out what this
        account sent from its other devices while this one was offline (the server sends
        their copy only to the sessions logged in then). So
        the cursor is kept apart (``meta`` ``resume:<key>``) and moved only by catch-up
        pages; a conversation first seen live starts it at that message, and a cache written
        before there were cursors starts from its highest seq.
        """
        if self._store is None:
            return None
        cursor = self._store.get_meta(RESUME_META + key)
        if cursor is not None:
            return int(cursor)
        return self._store.last_seq(key)

    def _rewind_cursor(self, key: str, seq: int) -> None:
        """Own message ``seq`` of ``key`` is cached only now: if that is below the resume
        cursor, its ``ok`` was lost with a link and a later message started the cursor above
        it meanwhile (the resend's ``ok`` carries the old seq). What lies between may never
        have come here (another device of the account confirmed it): the cursor goes back
        to ``seq``, and the conversation catches up from there now (or once the page of its
        running catch-up is in)."""
        if self._store is None:
            return
        cursor = self._store.get_meta(RESUME_META + key)
        if cursor is None or int(cursor) <= seq:
            return
        try:
            self._store.set_meta(RESUME_META + key, str(seq))
        except (sqlite3.Error, OSError) as exc:
            log.warning("could not save the resume cursor of %s: %s", key, exc)
        if key in self._catching_up:
            self._catch_up_again[key] = min(seq, self._catch_up_again.get(key, seq))
        elif self.logged_in:
            self._history_after(key, seq)

    def _start_cursor(self, key: str, seq: int) -> None:
        """Give ``key`` a resume cursor at ``seq`` when it has none yet."""
        if self._store is not None and self._store.get_meta(RESUME_META + key) is None:
            self._advance_cursor(key, seq)

    def _advance_cursor(self, key: str, seq: int) -> None:
        """Every message of ``key`` up to ``seq`` is cached: move its resume cursor."""
        if self._store is None:
            return
        cursor = self._store.get_meta(RESUME_META + key)
        if cursor is None or int(cursor) < seq:
            try:
                self._store.set_meta(RESUME_META + key, str(seq))
            except (sqlite3.Error, OSError) as exc:  # the catch-up starts lower: no loss
                log.warning("could not save the resume cursor of %s: %s", key, exc)

    def _history_after(self, key: str, after: int) -> None:
        frame = GetHistory(id=self._take_id(), conversation=history_name(key), after=after,
                           limit=500)
        if self._request(frame, _Request("history", key=key, mode="resume", after=after)):
            self._resuming += 1
            self._catching_up.add(key)

    def _on_history(self, req: _Request, ok: Ok) -> None:
        key = req.key or EVERYONE
        messages = _page_in_range(req, [_sane_message(m) for m in ok.messages or []])
        last = messages[-1].seq if messages else None  # (where the next page starts)
        first = messages[0].seq if messages else None  # (... of an export: below it)
        # A catch-up page carries the edits of messages made meanwhile (protocol.md,
        # history): they change the originals' text and are not lines of their own.
        edits = [m for m in messages if m.notice == "edited" and m.replaces]
        if edits:
            messages = [m for m in messages if m.notice != "edited"]
            for m in edits:
                self._apply_retraction(m.replaces, m.text, m.ts)
        # ... and its deletions: the originals read "This message was deleted." (they come
        # so in the page too; an original older than the page is changed here).
        deletions = [m for m in messages if m.notice == "deleted" and m.replaces]
        if deletions:
            messages = [m for m in messages if m.notice != "deleted"]
            for m in deletions:
                if m.seq not in self._seen_seqs:
                    self._seen_seqs.add(m.seq)
                    self._apply_retraction(m.replaces)
        if is_private(key):
            # A multicast that lists its sender is in the history of the sender's own
            # conversation (``user:<me>``), but the app files it with the other recipients
            # only (place_outgoing), live as here: a catch-up must not add it there.
            me = self.user or self._store_user
            messages = [m for m in messages if m.scope != "multicast" or key in {
                p.key for p in place_incoming(me, m.sender, m.scope, m.to, m.group)}]
        rows = [self._cached(m, key) for m in messages]
        export = req.mode == "export"  # (into the cache only: the export writes it out)
        # (The model first: made now, it is filled from the cache without this page.)
        model = None if export else self.conversation(key)
        new: set[int] = set()
        if self._store is not None and rows:
            try:
                new = set(self._store.add_messages(rows))
            except SeqClash as exc:
                self._seq_clash(exc)
                return
            self._refresh_cached(key, messages, new)
        if model is None:
            # Receipts that came before these own messages were cached apply now, as for
            # any other page (or they would wait for good: the rows are not new to a later
            # page).
            self._settle([r.seq for r in rows if r.seq in new
                          and name_key(r.sender) == name_key(self.user)])
            for m in messages:
                if name_key(m.sender) == name_key(self.user):
                    self._own_from_elsewhere(m)
            req.job.page_received(messages, bool(ok.more), first)
            return
        items = []
        for m in messages:
            self._saw_ended(m)
            self._seen_seqs.add(m.seq)
            if name_key(m.sender) == name_key(self.user) and self._own_from_elsewhere(m):
                continue
            also = self._also(self._cached(m, key), key)
            # A message cached before keeps what the cache knows of it (an own one's ticks
            # and receipts), not the page's bare copy.
            known = self._store.message(m.seq, key) \
                if self._store is not None and m.seq not in new else None
            items.append(self._item(known or m, also))
        if req.mode == "older":
            self._history_busy.discard(key)
            if req.newest:
                # The newest messages, when nothing of the conversation was cached: every
                # message up to the page's last one is here (older ones by paging back), so
                # the cursor starts there, not at the next live message, which would pass
                # what this account sent from another device while this one was away.
                # An empty page: the conversation had none, so the cursor starts at 0.
                self._advance_cursor(key, last if last is not None else 0)
            model.server_more = bool(ok.more)
            added = model.prepend(items)
            self._await_read(key, self._unread_here(key, [r for r in rows if r.seq in new],
                                                    ok))
            self._settle([r.seq for r in rows if r.seq in new
                          and name_key(r.sender) == name_key(self.user)])
            self.history_loaded.emit(key, added)
            model.older_done.emit()
            if req.discover:
                oldest = min((m.seq for m in messages), default=None)
                # (no read_upto: nothing read yet)
                if ok.more and oldest is not None and oldest > (ok.read_upto or 0) + 1 \
                        and req.pages < DISCOVER_UNREAD_PAGES \
                        and self._discover_older(key, oldest, req.pages + 1):
                    return  # (older unread messages: the next page ends the discovery)
                self._discovered(key)
                self._resumed_one()
            return
        added = sum(1 for item in items if model.append(item))
        self._await_read(key, self._unread_here(key, [r for r in rows if r.seq in new],
                                                ok))
        self._settle([r.seq for r in rows if r.seq in new
                      and name_key(r.sender) == name_key(self.user)])
        self.history_loaded.emit(key, added)
        self._resuming -= 1
        self._catch_up_waiting.pop(key, None)  # (answered: a later refusal waits anew)
        again = self._catch_up_again.pop(key, None)
        if again is not None and again < req.after:
            # The cursor went back below this page meanwhile (_rewind_cursor): the catch-up
            # starts again from there, and this page does not move the cursor.
            self._history_after(key, again)
        else:
            # Pages run on from the cursor without gaps; only they move it (not live
            # messages, which leave out what this account sends from its other devices).
            self._advance_cursor(key, last if last is not None else req.after)
            if ok.more and last is not None and last > req.after:
                self._history_after(key, last)
            elif ok.more:  # (a page that does not move on would be asked for forever)
                log.warning("history of %s: page after %d ends at %s but says more; stopped",
                            key, req.after, last)
                self._catching_up.discard(key)
            else:
                self._catching_up.discard(key)
        if self._resuming <= 0:
            self._resuming = 0
            self.resumed.emit()

    def _on_history_error(self, req: _Request, err: Error) -> None:
        key = req.key or EVERYONE
        log.info("history of %s refused: %s", key, err.code)
        if req.mode == "export":
            req.job.fetch_stopped(err.message)
            return
        if req.mode == "older":
            self._history_busy.discard(key)
            if err.code in FINAL_HISTORY_ERRORS:
                self.conversation(key).server_more = False
            # (else refused for now, not the start of the conversation: a refusal while
            # another program locked the server's database once ended the tab's history
            # for the session; a hunt)
            self.history_loaded.emit(key, 0)
            self.conversation(key).older_done.emit()
            if req.discover:
                self._discover_upto = None  # (not gone through: again at the next login)
                self._discovered(key)  # (the next in line goes)
                self._resumed_one()
            return
        self._resuming -= 1  # (the cursor stays: the next login's catch-up starts there)
        if err.code not in FINAL_HISTORY_ERRORS:
            self._catch_up_later(key, req.after, err.retry_after)
        if self._resuming <= 0:
            self._resuming = 0
            self.resumed.emit()

    def _catch_up_later(self, key: str, after: int, retry_after: float | None) -> None:
        """``key``'s catch-up page after seq ``after`` was refused for now: ask it again
        after a while (:data:`CATCH_UP_RETRY_S`), in this session. Until then nothing moves
        its cursor (it stays in :attr:`_catching_up`). Refused once and not asked again, the
        messages another computer of the account had confirmed stayed missing until the
        next login (a hunt: an sqlite3 shell's lock on the server's database at the login)."""
        delay = self._catch_up_waiting.get(key, CATCH_UP_RETRY_S[0])
        self._catch_up_waiting[key] = min(CATCH_UP_RETRY_S[1], delay * 2)
        delay = max(delay, retry_after or 0.0)
        log.info("catch-up of %s refused for now: asked again in %.0f s", key, delay)
        waiting = self._catch_up_waiting

        def again() -> None:
            # (the same session: a new one cleared the dict and started the catch-up over)
            if waiting is not self._catch_up_waiting or key not in waiting \
                    or key not in self._catching_up or not self.logged_in:
                return
            start = min(after, self._catch_up_again.pop(key, after))
            self._history_after(key, start)

        QTimer.singleShot(max(100, int(delay * 1000)), self, again)

    # ------------------------------------------------------------------ reconnect

    def _after_login(self, req: _Request, again: bool = False) -> None:
        self._session_ended = False
        self._credentials = (req.user, req.password)
        self._unconfirmed_password = ""  # whichever worked is the password now
        self._relogin_lock_ends = 0.0
        self._auto_reconnect = True
        if again:
            # The backoff starts again only once the new link has lasted: a link that a
            # server drops right after each login must not be retried twice a second.
            self._stable_timer.start()
        else:
            self._backoff.reset()
        self._reconnect_timer.stop()
        self.next_attempt = 0.0
        self._rx_seen = -1
        self._last_tick = self._clock()
        self._heartbeat.received(self._last_tick)
        self._tick_timer.start()
        self.open_store(*self.home, self.user)  # (kept when it is this account's)
        self._store_user = self.user
        self._keep_offline_password(req.password)
        # Show the unsent messages of every conversation, then catch up and send them.
        assert self._store is not None
        for item in self._store.outbox():
            for place in self._outbox_places(item):
                self.conversation(place.key, place.title)
        self._resume()
        saved = self._store.get_meta(UNCONFIRMED_READS_META)
        if saved:  # (from before a restart, or the same as _reads_to_resend)
            self._reads_to_resend.update(json.loads(saved))
            self._private_read_seqs.update(json.loads(
                self._store.get_meta(PRIVATE_READS_META) or "[]"))
        for key in sorted(self._read_wanted):  # conversations viewed while offline
            self._send_reads(key)
        if self._reads_to_resend:
            self._resend_reads()
        self._redo = self._changes_to_redo()
        if self._redo:
            self._send_redo()
        self._pump()

    def _keep_offline_password(self, password: str) -> None:
        """Keep an argon2id hash of ``password`` (just accepted by the server: a login or a
        password change) in the account's store, for :meth:`open_offline` to check. Never
        the password itself."""
        store = self._store
        if store is None or not password or self._offline_password_kept == (store, password):
            return
        try:
            store.set_meta(OFFLINE_PASSWORD_META, self.offline_passwords.hash(password))
        except sqlite3.Error as exc:
            log.warning("could not keep the password check for Open offline: %s", exc)
            return
        self._offline_password_kept = (store, password)

    def _resend_reads(self) -> None:
        """After a login: the reads that may not have arrived go again, each as it was made
        (private when read with receipts off, or when they are off now); private ones are
        dropped when the server cannot take them (it would tell the senders)."""
        seqs, self._reads_to_resend = sorted(self._reads_to_resend), set()
        off = not self.send_read_receipts
        private = [s for s in seqs if off or s in self._private_read_seqs]
        public = [s for s in seqs if not (off or s in self._private_read_seqs)]
        if private and not self._private_reads():
            private = []  # (never sent: read here only)
        size = self._seq_batch()
        for batch, quiet in ((public, False), (private, True)):
            for start in range(0, len(batch), size):
                self._conn.send(Read(seqs=batch[start:start + size], private=quiet))
            self._unconfirmed_reads.update(batch)
        self._private_read_seqs = set(private)
        self._ping_after_reads()

    def _on_state(self, state: ConnectionState) -> None:
        if state is not ConnectionState.LOGGED_IN:
            self._flush_lists()  # (what changed in the session, before it is stale)
        if state is ConnectionState.HANDSHAKING:
            # A new link is up: its silence counts from now, not from the last frame of the
            # link before (an outage longer than the timeout would drop it at the first tick).
            self._rx_seen = self._conn.rx_count
            self._heartbeat.received(self._clock())
        if state is ConnectionState.DISCONNECTED:
            self._stable_timer.stop()
            self._send_retry.stop()
            # Sends written to the link are unanswered: they go again after the next login
            # (also when it ended by a close that reported no failure).
            self._inflight.clear()
            # Reads written to a link that then died may never have arrived: again next time.
            self._reads_to_resend |= self._unconfirmed_reads
            self._unconfirmed_reads.clear()
        if state is ConnectionState.LOGGED_IN:
            self._waits_for_update = False  # (updated: reconnects come by themselves again)
        if state is ConnectionState.DISCONNECTED and self._auto_reconnect \
                and not self._waits_for_update and not self._reconnect_timer.isActive():
            self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        delay = max(self._backoff.next_delay(), self._retry_floor)
        self._retry_floor = 0.0
        log.info("reconnecting in %.1f s", delay)
        self.next_attempt = self._clock() + delay
        self._reconnect_timer.start(max(1, int(delay * 1000)))
        self.reconnect_scheduled.emit(delay)

    def _attempt_reconnect(self) -> None:
        self.next_attempt = 0.0
        if not self._auto_reconnect or self._credentials is None or \
                self._conn.state is not ConnectionState.DISCONNECTED:
            return
        user, password = self._credentials
        log.info("reconnecting to %s as %s", self.where, user)
        self._relogin = True
        self._reset_session(reconnect=True)
        self._queued_auth = _Request("login", user=user)
        self._queued_password = password
        self.reconnecting.emit()
        self._conn.connect_to_host(self.host, self.port)

    def _stop_reconnecting(self) -> None:
        self._auto_reconnect = False
        self._waits_for_update = False
        self._relogin_lock_ends = 0.0
        self._credentials = None
        self._relogin = False
        self._reconnect_timer.stop()
        self._tick_timer.stop()
        self.next_attempt = 0.0
        # No login of this session will come to settle what a lost link left (the edits and
        # deletes are saved in the store: they go after the account's next login).
        self._redo = []
        self._held = []
        unsure, self._groups_unsure = self._groups_unsure, []
        for req in unsure:
            self._group_unanswered(req, "The app stopped reconnecting before the server "
                                        "answered")

    def _tick(self) -> None:
        """Heartbeat: ping a silent link, drop a dead one; notice a sleep (a jump of the
        clock) and then retry at once instead of waiting out the backoff."""
        now = self._clock()
        before, self._last_tick = self._last_tick, now
        slept = now - before > max(3 * self._tick_s, 2.0)
        if slept:
            # Whatever the link does next (a drop after the wake, an attempt that fails),
            # the next try comes at once, not after the backoff grown before the sleep.
            self._backoff.reset()
        state = self._conn.state
        if state is ConnectionState.DISCONNECTED:
            if slept and self._reconnect_timer.isActive():
                log.info("the clock jumped (sleep?): reconnecting now")
                self.reconnect_now()
            return
        if state is ConnectionState.CONNECTING:
            return
        if self._conn.rx_count != self._rx_seen:
            self._rx_seen = self._conn.rx_count
            if not slept:
                # The bytes came after the last tick, perhaps just after: counting the
                # silence from then keeps "dead within 15 s" true to the last byte.
                self._heartbeat.received(before)
        verdict = self._heartbeat.check(now)
        if verdict == "dead":
            log.warning("no sign of life from %s for %.0f s: dropping the link",
                        self.where, self._heartbeat.timeout)
            self._conn.drop(f"No answer from the server for {self._heartbeat.timeout:.0f} s.")
        elif verdict == "ping":
            self._ping_nonce += 1
            self._conn.send(Ping(nonce=self._ping_nonce))

    def _set_unread(self, key: str, count: int) -> None:
        if self._unread.get(key, 0) == count:
            return
        self._unread[key] = count
        self._show_unread(key)

    def _show_unread(self, key: str) -> None:
        """Show the unread count of ``key`` (:attr:`_unread`) in its badge."""
        count = self._unread.get(key, 0)
        if is_group(key):
            self.groups.set_unread(self.conversation(key).title, count)
        elif key != EVERYONE:
            self.roster.set_unread(self.conversation(key).title, count)
        self.unread_changed.emit(key, count)


class ConversationExport(QObject):
    """One conversation being written to a text file (:meth:`ClientEngine.export_conversation`).

    1. **fetching**: when logged in, the whole conversation is asked from the server, newest
       first (``history``, then ``before`` the oldest seq so far, :data:`EXPORT_PAGE`
       messages a request), into the local cache: older pages the cache never had, and
       anything another computer of yours received, are in the file too. Each page arrives
       on its own turn of the event loop. Newest first, an export stopped half-way (cancelled,
       the link lost) leaves the cache whole from its newest message down to where it
       stopped, as scrolling up does: oldest first, it left a hole between its last page and
       the newest messages, which scrolling up then passed over for good (the cache's page
       before the oldest row came from below the hole; a hunt).
    2. **writing**: the cache is written, :data:`EXPORT_CHUNK` lines per turn of the event
       loop, to a temporary ``<path>.<random>.part`` of its own, which becomes ``path`` at
       the end; nothing else is kept.

    Messages still waiting in the outbox have no place (no ``seq``, no server time) and are
    left out. Offline, or when the server cannot be asked, only the cache is written and
    :attr:`complete` is False. Closing the local store (the app quits, the account logs
    out) cancels it: no file rather than part of one.

    Attributes:
        key: the conversation; path: the file.
        phase: ``fetching``, ``writing``, ``done``, ``failed`` or ``cancelled``.
        fetched: messages received from the server so far.
        written: lines (messages) written so far, of :attr:`total`.
        complete: True when the server's whole history of the conversation was fetched.

    Signals:
        progress(): :attr:`fetched` or :attr:`written` changed (or the phase).
        finished(int, bool): ``(messages written, complete)``; the file is in place.
        failed(str): the file could not be written, or :meth:`cancel` was called
            (:attr:`phase` tells); no file is left behind.
    """

    progress = Signal()
    finished = Signal(int, bool)
    failed = Signal(str)

    def __init__(self, engine: ClientEngine, key: str, path: Path) -> None:
        part, out = self._create_part(path)  # OSError: nothing started
        super().__init__(engine)
        self._engine = engine
        self.key = key
        self.path = path
        self.phase = "fetching"
        self.fetched = 0
        self.written = 0
        self.total = 0
        self.complete = False
        self._part = part
        self._out = out
        self._rows: Any = None
        engine.state_changed.connect(self._on_state)

    @staticmethod
    def _create_part(path: Path) -> tuple[Path, Any]:
        """A new temporary file next to ``path`` (``chat.txt.3f9a0c1e.part``), opened for
        writing: this job's alone (two exports to one file once wrote into the same
        ``chat.txt.part``; a hunt). Created as a normal file is (the umask applies)."""
        while True:
            part = path.with_name(f"{path.name}.{secrets.token_hex(4)}.part")
            try:
                return part, open(part, "x", encoding="utf-8", newline="\n")
            except FileExistsError:
                continue

    def start(self) -> None:
        engine = self._engine
        key = self.key
        server_side = key == EVERYONE or is_group(key) or is_private(key)
        if server_side and engine.logged_in and engine.store is not None:
            self._ask(None)
        else:
            self._write()

    def cancel(self, reason: str = "Export cancelled.") -> None:
        """Stop; the partial file is removed and ``failed`` says ``reason``."""
        if self.phase in ("fetching", "writing"):
            self._end("cancelled", reason)

    # -- fetching (driven by the engine)

    def _ask(self, before: int | None) -> None:
        if not self._engine._ask_export_page(self, before):
            self.fetch_stopped("Not connected to the server.")

    def page_received(self, messages: list[Message], more: bool,
                      first: int | None = None) -> None:
        """A ``history`` page (already in the cache) arrived; ``first`` is the seq of its
        first (oldest) frame (default: the first of ``messages``), below which the next page
        ends."""
        if self.phase != "fetching":
            return
        self.fetched += len(messages)
        self.progress.emit()
        if self.phase != "fetching":
            return  # (cancelled by a slot of progress: no page more)
        if first is None and messages:
            first = messages[0].seq
        if more and first is not None:
            self._ask(first)
        else:
            self.complete = True
            self._write()

    def fetch_stopped(self, reason: str) -> None:
        """The server cannot be asked (any more): write what the cache holds."""
        if self.phase == "fetching":
            log.info("export of %s: history incomplete (%s)", self.key, reason)
            self._write()

    def _on_state(self, state: ConnectionState) -> None:
        if state is not ConnectionState.LOGGED_IN:
            self.fetch_stopped("disconnected")

    # -- writing

    def _write(self) -> None:
        self.phase = "writing"
        store = self._engine.store
        files: list[tuple[float, str]] = []
        if store is not None:
            self.total = store.count(self.key)
            rows: Any = store.iter_conversation(self.key, chunk=EXPORT_CHUNK)
            try:
                files = file_lines(store.transfers(), self.key, self._engine.account)
            except sqlite3.Error as exc:  # (the messages are what matters)
                log.warning("export of %s: no file transfers: %s", self.key, exc)
            self.total += len(files)
        else:  # never logged in: what the window shows
            rows = [i for i in self._engine.conversation(self.key).items() if i.seq is not None]
            self.total = len(rows)
        self._rows = self._lines(iter(rows), files)
        self.progress.emit()
        QTimer.singleShot(0, self._write_some)

    def _lines(self, rows: Any, files: list[tuple[float, str]]) -> Any:
        """The export's lines: the messages, with the file transfers among them by time;
        a multicast names the others it went to, as its bubble does."""
        waiting = deque(files)
        for m in rows:
            while waiting and waiting[0][0] <= m.ts:
                yield waiting.popleft()[1]
            if isinstance(m, CachedMessage):
                notice, also = bool(m.notice), self._engine._also(m, self.key)
            else:
                notice, also = m.kind is MessageKind.SYSTEM, m.also
            yield export_line(m.ts, m.sender, m.text, notice=notice, edited=m.edited,
                              also=also)
        for _ts, line in waiting:
            yield line

    def _write_some(self) -> None:
        if self.phase != "writing":
            return
        try:
            lines = []
            for line in self._rows:
                lines.append(line + "\n")
                if len(lines) >= EXPORT_CHUNK:
                    break
            self._out.writelines(lines)
            self.written += len(lines)
            if len(lines) >= EXPORT_CHUNK:
                self.total = max(self.total, self.written)
                self.progress.emit()
                QTimer.singleShot(0, self._write_some)
                return
            self._out.close()
            self._part.replace(self.path)
        except OSError as exc:
            self._end("failed", f"Could not write {self.path}: {exc.strerror or exc}")
            return
        except sqlite3.Error as exc:  # (the local store failed under it)
            self._end("failed", f"Could not read the messages saved on this computer: {exc}")
            return
        self.phase = "done"
        self.total = self.written
        self._engine.state_changed.disconnect(self._on_state)
        self.progress.emit()
        self.finished.emit(self.written, self.complete)

    def _end(self, phase: str, message: str) -> None:
        self.phase = phase
        self._engine.state_changed.disconnect(self._on_state)
        try:  # (data a failed write left in the buffer fails again when flushed here)
            self._out.close()
        except OSError as exc:
            log.info("export of %s: closing %s: %s", self.key, self._part, exc)
        try:
            self._part.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("export of %s: could not remove %s: %s", self.key, self._part, exc)
        self.failed.emit(message)


_FILE_ENDS = {"done": ("sent", "received"), "declined": ("declined", "declined"),
              "cancelled": ("cancelled", "cancelled"), "discarded": ("not sent", "discarded")}
"""How an exported file line ends, by the transfer's state: (a send's, a receive's)."""


def file_lines(records: list[TransferRecord], key: str, me: str) -> list[tuple[float, str]]:
    """Export lines ``(created, line)`` of the file transfers of conversation ``key`` in
    ``records`` (the local store's), oldest first: ``[…] alice: [file] notes.pdf (1.2 KB)
    sent``; a file sent to a group's members is one line ("sent to 2 of 3"); a receive goes
    by the name it is saved under."""
    cards: dict[str, list[TransferRecord]] = {}  # a card's key → its records
    for r in records:
        if r.conv == key:
            cards.setdefault(r.batch if r.direction == "send" and r.batch else r.key,
                             []).append(r)
    out = []
    for group in cards.values():
        r = group[0]
        send = r.direction == "send"
        if len(group) > 1:
            end = f"sent to {sum(x.state == 'done' for x in group)} of {len(group)}"
        elif r.state in _FILE_ENDS:
            end = _FILE_ENDS[r.state][0 if send else 1]
        else:
            end = "not sent" if send else "not received"
        name = r.name if send else display_name(r.name)
        out.append((r.created, export_line(r.created, (me if send else r.peer) or "me",
                                           f"[file] {name} ({format_size(r.size)}) {end}")))
    out.sort(key=lambda line: line[0])
    return out


def export_line(ts: float, sender: str, text: str, *, notice: bool = False,
                edited: float | None = None, also: Sequence[str] = ()) -> str:
    """One line of an exported conversation: ``[YYYY-MM-DD HH:MM:SS] sender: text`` in local
    time (``[…] sender (also to bob, charlie): text`` for a multicast that went ``also`` to
    those others: it read as a private message, a hunt; names have no spaces, so the sender
    is still the first word), or ``[YYYY-MM-DD HH:MM:SS] * text`` for a ``notice`` ("bob
    joined": said by nobody, and not to be taken for a message "bob joined" that bob
    typed); further lines of a multi-line text are indented by four spaces: after every
    line break Python's
    ``str.splitlines`` knows (``\n``, ``\r\n``, a lone ``\r``, and U+2028, U+2029, U+0085, VT,
    FF...: the app shows U+2028 as a line break, and a message could put a forged
    "[…] alice: …" line of its own into the file; a hunt). A message ``edited`` (its text
    replaced at that time) ends with `` (edited HH:MM)``, with the date when it was another
    day (the line's time is the original's: the export said alice wrote at 2 pm what she
    wrote hours later; a hunt); not a deleted one (its text is gone, not changed)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", local_time(ts))
    lines = "\n    ".join(_LINE_BREAK.split(text))
    if notice:
        return f"[{stamp}] * {lines}"
    if edited is not None and text != RETRACTED_TEXT:
        when = local_time(edited)
        same_day = time.strftime("%Y-%m-%d", when) == stamp[:10]
        lines += time.strftime(" (edited %H:%M)" if same_day else " (edited %Y-%m-%d %H:%M)",
                               when)
    if also:
        sender += f" (also to {', '.join(also)})"
    return f"[{stamp}] {sender}: {lines}"


_LINE_BREAK = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
"""What ``str.splitlines`` takes for a line break (``\r\n`` first, as one)."""


__all__ = ["ClientEngine", "ConnectionErrorCode", "ConnectionState", "ConversationExport",
           "export_line"]
