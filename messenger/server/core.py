"""The server's rules, without sockets ("sans-I/O").

:class:`ServerCore` takes decoded frames from numbered connections and returns :class:`Out`
(send this frame on that connection) and :class:`Disconnect` actions. It decides who may do
what: the hello handshake, registration and login with lock-out, who a sender is (always the
logged-in account, never a field of the frame), routing of unicast / multicast / broadcast,
store-and-forward for offline users, and presence. The Qt layer (:mod:`.net`) only moves bytes.
"""

from __future__ import annotations

import bisect
import logging
import math
import time
from array import array
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv6Network
from typing import Any

import msgspec

from messenger.protocol import (
    FEATURES,
    MAX_TEXT_LENGTH,
    OFFER_EXPIRED,
    OFFER_LAPSED,
    PROTOCOL_VERSION,
    RETRACTED_TEXT,
    ChangePassword,
    ConversationEntry,
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
    ProtocolError,
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
    is_reserved_name,
    is_valid_name,
    is_valid_password,
    name_key,
    time_ordered_id,
)

from .auth import LoginThrottle, Passwords
from .groups import Group, Groups, Left, RuleError
from .ratelimit import (
    LOG_LINES_PER_BLOCK,
    LockedLogins,
    LogBudget,
    TokenBucket,
    address_block,
)
from .store import EVERYONE_KEY, Account, NameTaken, Store, StoredMessage, pair_key
from .store import Receipt as StoredReceipt
from .transfers import MAX_OPEN_PER_SENDER, Transfers

MISSED_TRANSFER_EVENTS = 100
"""How many ends of accepted transfers an offline account is told at its next login."""

RELAYED_STRING_MAX = 500
EDIT_TIME_STEP = 0.001
"""Seconds by which an ``edited`` notice's ``ts`` (the message's new ``edited`` time) passes
the message's last ``edited`` time at least: after the server's clock stepped back, an edit
stamped by the clock alone was older than the one before, and every app, which ignores an
edit older than the text it has, kept showing the replaced text."""
EDIT_BASE_SLACK = 0.5
"""Seconds by which a message's ``edited`` time may pass an ``edit.base`` before the edit is
refused as a conflict: messages edited before the edited time was the notice's ``ts`` have the
two a few microseconds apart, and edits from two devices this close are concurrent anyway."""
"""Longest ``mime``, endpoint ``host``, ``fingerprint`` or ``reason`` the server relays
between the two parties of a transfer (characters)."""

log = logging.getLogger("messenger.server.core")
activity = logging.getLogger("messenger.server.activity")

ConnId = int
MAX_SEQ = 1 << 63
"""Sequence numbers are SQLite integers: below 2^63."""
RESERVED_ID_PREFIXES = ("deleted-", "notice-")
"""``client_msg_id`` prefixes of the notices the server stores (a ``deleted`` notice's id is
``deleted-<seq>``, a group notice's ``notice-<uuid>``): refused in requests, so that a
client's id can never be taken for one of them."""
MAX_PRELOGIN_PER_HOST = 64
"""Default of ``ServerCore.max_prelogin_per_host``."""
MAX_SESSIONS_PER_ACCOUNT = 16
"""Connections one account may have logged in at once (its computers, and links that went
silent and are not yet dropped). The next login gets ``rate_limited``: one account logged in
again and again from one address until the server ran out of open files and nobody else could
connect (a hunt)."""
SESSIONS_RETRY_AFTER = 15.0
"""``retry_after`` of that refusal, seconds (silent links are dropped within the idle
timeout, 45 s by default)."""
PRELOGIN_RETRY_AFTER = 10
MAX_REFUSED_LOGINS = 10
"""Logins one connection may have refused (``bad_credentials``, ``locked_out``, or
``rate_limited`` for the name or the address) before it is closed: each refusal but the
wrong password is answered at once, and 100,000 logins for a locked name pipelined on one
connection were 100,000 lines in the activity log (a hunt)."""
REFUSED_LOGINS_RETRY_AFTER = 10.0
"""``retry_after`` of the error that closes such a connection (s)."""
UNKNOWN_NAMES_LISTED = 10
"""Unknown names an ``unknown_user`` error lists; the rest are counted ("and 99,990 more"):
a multicast naming 100,000 made-up accounts got an 800 KB error, logged whole (a hunt)."""
LOGGED_ERROR_CHARS = 200
"""Characters of a refusal's message that go into the log (the client gets it whole)."""
"""Seconds a client refused for too many connections without a login is told to wait."""
TYPING_INTERVAL = 1.0
"""Seconds: at most one ``typing`` relayed per sender session and recipient in this time."""
MAX_SEND_RATE = 100.0
"""Default of ``ServerCore.max_send_rate``: messages a second per account, on average."""
SEND_BURST_SECONDS = 10.0
"""An account's burst allowance, in seconds of ``max_send_rate`` (1,000 messages by default:
an outbox of messages typed offline goes at once); never less than one message."""
MAX_REGISTRATIONS_PER_HOUR = 20.0
"""Default of ``ServerCore.max_registrations``: accounts one address may create an hour (in
bursts of as many)."""
PROTOCOL_ERRORS_LOGGED = LOG_LINES_PER_BLOCK
"""Lines about one address logged one by one a minute (protocol errors, refused requests,
refused connections: :class:`~.ratelimit.LogBudget`); the rest are counted."""
REGISTER_BUCKETS_KEPT = 10_000
"""Per-address registration buckets kept; past it, the full ones (idle) are dropped."""
FLOOD_HEAD_SECONDS = 10.0
"""After a ``send`` was refused for flooding, the connection's later sends are refused until
that one comes again (so they cannot overtake it), or for at most this long (s)."""
MAX_HASHING = 64
"""Default bound on password hashes queued or running (``ServerCore.max_hashing``): with two
workers at ≈ 0.15 s each, the last in the queue waits about 5 s."""
MAX_HASHING_PER_HOST = 16
"""Default bound on the password hashes one IP address may have queued or running
(``ServerCore.max_hashing_per_host``), so that one address cannot fill the whole queue and keep
everyone else from logging in."""
HASH_SECONDS = 0.15
"""Seconds one argon2id hash takes with the default cost (for ``retry_after``)."""


@dataclass(slots=True)
class Out:
    """Send ``frame`` on connection ``conn``. (Not frozen: a frozen dataclass costs twice as
    much to create, and a fanned-out message creates one per recipient connection.)"""

    conn: ConnId
    frame: msgspec.Struct


@dataclass(slots=True)
class Fanout:
    """Send one ``frame`` on each of the connections ``conns``: a message to many recipients is
    one action, encoded once (199 :class:`Out` objects for a group of 200 cost more than the
    socket writes)."""

    conns: list[ConnId]
    frame: msgspec.Struct


@dataclass(slots=True)
class Disconnect:
    """Close connection ``conn`` once what was queued for it has been written."""

    conn: ConnId


@dataclass(frozen=True)
class Crypto:
    """Run ``work()`` (argon2id hashing, ~150 ms) off the event loop, then call
    ``done(result)`` back on it and apply the actions it returns. Connection ``conn`` asked
    for it; ``done`` copes with the connection having gone meanwhile."""

    conn: ConnId
    work: Callable[[], object]
    done: Callable[[object], list[Action]]
    request_id: int | None = None  # for an ``internal`` error if ``done`` fails


@dataclass(slots=True)
class ReplayMore:
    """The login replay on connection ``conn`` stopped after a piece: once what is queued
    for it has been written, ask :meth:`ServerCore.replay_next` for the next one."""

    conn: ConnId


Action = Out | Fanout | Disconnect | Crypto | ReplayMore

REPLAY_PIECE_BYTES = 1 << 20
"""About how many bytes of queued messages a login's replay sends at a time; the next piece
goes once the connection has written the last one (:class:`ReplayMore`). The whole queue in
one write (up to 10,000 messages of up to 64 KB) passed the server's drop limit before a
byte had left, and the account could never log in again (a review)."""
REPLAY_ROWS = 2_000
"""Queued messages in a piece of a replay, at most."""
REPLAY_READ = 64
"""Queued messages read from the store at a time while a piece is made (a piece ends at
about :data:`REPLAY_PIECE_BYTES`: 2,000 long messages would be read to send 16)."""
REPLAY_RECEIPTS = 5_000
"""Logged receipts in a piece of a login's receipt replay (about 400 KB). The whole log is
replayed, piece after piece; it used to stop at 10,000 without saying so, and an app that
then handled a live receipt stored a ``receipts_after`` past the ones never replayed (a
hunt)."""


def run_inline(actions: list[Action]) -> list[Action]:
    """Resolve :class:`Crypto` actions synchronously (for tests and tools without threads)."""
    result: list[Action] = []
    for action in actions:
        if isinstance(action, Crypto):
            result += run_inline(action.done(action.work()))
        else:
            result.append(action)
    return result


@dataclass
class Session:
    """State of one connection: handshake done, and which account is logged in on it."""

    conn: ConnId
    address: str
    hello: bool = False
    user: str | None = None
    key: str | None = None
    since: float = 0.0
    busy: bool = False
    typing_sent: dict[str, float] = field(default_factory=dict)
    """Recipient key → when this session's last ``typing`` to them was relayed."""
    flood_head: str = ""
    """``client_msg_id`` of the first ``send`` refused for flooding, until it comes again."""
    flood_since: float = 0.0
    """When it was refused (monotonic seconds)."""
    refused_logins: int = 0
    """Logins refused on this connection (closed at :data:`MAX_REFUSED_LOGINS`)."""
    counted: bool = False
    """Counted among its address's connections without a login (ServerCore.connected)."""
    conversations_at: float = -math.inf
    """When this session last asked ``conversations`` (monotonic seconds)."""
    block: str = ""
    """What the per-address limits count this peer as (:func:`address_block`: its IP
    address, or a remote IPv6 address's /64); set by ``ServerCore.connected``."""
    replay: array | None = None
    """The seqs the login replay has still to send (queued at the login, ascending; later
    ones came live), read once (``Store.pending_seqs``), or None when it is done."""
    replay_at: int = 0
    """Where in ``replay`` the next piece starts."""
    receipts_at: int | None = None
    """The ``rid`` after which the login's receipt replay goes on (``login.receipts_after``,
    then the last one replayed), or None when there is none or it has caught up with the
    log. Meanwhile logged receipts (``rid`` > 0) are not sent live to this connection: the
    replay reads them from the log in turn, so the numbers a connection gets only rise
    and an app's stored ``receipts_after`` never passes one it has not had."""

    @property
    def host(self) -> str:
        """The peer's IP address: ``address`` (``host:port``, ``[v6]:port``) without the
        port and brackets."""
        host = self.address.rpartition(":")[0] or self.address
        return host[1:-1] if host.startswith("[") and host.endswith("]") else host


@dataclass
class _Online:
    name: str
    since: float
    address: str
    conns: set[ConnId] = field(default_factory=set)


class ServerCore:
    """All decisions of the chat server.

    Args:
        store: accounts and messages.
        passwords: argon2id hashing.
        throttle: the login lock-out rule.
        max_text: longest message text in characters.
        max_frame: advertised in the server's ``hello`` (bytes).
        max_hashing: password hashes (``register``/``login``) queued or running at once;
            beyond it those requests get ``rate_limited`` with a ``retry_after`` (s).
        max_hashing_per_host: the share of those one IP address may hold; beyond it that
            address gets ``rate_limited`` while others still get in.
        max_waiting_offers: file offers of one user that may wait for an answer; more offers
            get ``rate_limited``.
        max_prelogin_per_host: connections one IP address may hold open without a login;
            a new one beyond it gets ``rate_limited`` and is closed, so one address cannot
            pile up connections (each a TLS session and a socket) until the server runs out.
        max_send_rate: messages (``send``, ``edit``) one account may send a second on
            average, in bursts of up to :data:`SEND_BURST_SECONDS` worth; beyond it they get
            ``rate_limited`` for a second (:class:`~.ratelimit.TokenBucket`), and a retry of
            a message stored before still gets its ``ok``. 0: no limit.
        max_registrations: accounts one address (:func:`~.ratelimit.address_block`) may
            create by ``register`` an hour, in bursts of as many; beyond it ``rate_limited``
            with ``retry_after`` until the next (accounts were permanent, in every roster,
            and one address could make tens of thousands an hour: a security review).
            0: no limit.
        local_networks: the /64s of this server's own global IPv6 addresses: a client there
            counts by its address, not its /64 (:func:`~.ratelimit.address_block`).
        clock: wall-clock seconds for timestamps.
    """

    def __init__(self, store: Store, passwords: Passwords, throttle: LoginThrottle, *,
                 max_text: int = MAX_TEXT_LENGTH, max_frame: int = 1 << 20,
                 max_hashing: int = MAX_HASHING,
                 max_hashing_per_host: int = MAX_HASHING_PER_HOST,
                 max_waiting_offers: int = MAX_OPEN_PER_SENDER,
                 max_prelogin_per_host: int = MAX_PRELOGIN_PER_HOST,
                 max_send_rate: float = MAX_SEND_RATE,
                 max_registrations: float = MAX_REGISTRATIONS_PER_HOUR,
                 local_networks: Collection[IPv6Network] = (),
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.passwords = passwords
        self.throttle = throttle
        self.max_text = max_text
        self.max_frame = max_frame
        self.max_hashing = max_hashing
        self.max_hashing_per_host = max_hashing_per_host
        self.hashing = 0  # password hashes handed to the workers and not done yet
        self._hashing_by_host: dict[str, int] = {}  # the same, per IP address
        self.max_prelogin_per_host = max_prelogin_per_host
        self._prelogin_by_host: dict[str, int] = {}  # connections without a login, per IP
        self.max_send_rate = max_send_rate
        self.local_networks = frozenset(local_networks)
        self._send_buckets: dict[str, TokenBucket] = {}  # account key → its flood control
        self.max_registrations = max_registrations
        self.log_budget = LogBudget(log)
        """Lines peers cause in the log (shared with the TLS server and the connections)."""
        self.activity_budget = LogBudget(
            activity, what="failed and refused logins, failed password changes")
        """Lines peers cause in the activity log other than their own logins and logouts."""
        self._locked_logins = LockedLogins(activity)
        self._register_buckets: dict[str, TokenBucket] = {}  # address block → its allowance
        self._clock = clock
        self.sessions: dict[ConnId, Session] = {}
        self.online: dict[str, _Online] = {}
        self.groups = Groups(store, clock)
        self.transfers = Transfers(clock=clock, max_per_sender=max_waiting_offers)
        self._spellings: dict[str, Account] = {}  # a name as sent → its account (_resolve_keys)
        # account key → (old hash, new hash) of its last re-hash (the same password)
        self._rehashed: dict[str, tuple[str, str]] = {}
        # account key → transfer_cancelled/declined events of accepted transfers that ended
        # while it was offline (in memory, like transfers; MISSED_TRANSFER_EVENTS each)
        self._missed_transfer_events: dict[str, list[msgspec.Struct]] = {}
        self._receipts_replaying: set[ConnId] = set()
        """Connections whose login receipt replay has not caught up with the log yet
        (:attr:`Session.receipts_at`): logged receipts wait for the replay, not sent live."""

    # ------------------------------------------------------------------ connection life

    def connected(self, conn: ConnId, address: str) -> list[Action]:
        """A new connection from ``address`` ("ip:port"): refused (``rate_limited``, then
        closed) when its IP address already holds ``max_prelogin_per_host`` connections
        without a login."""
        session = self.sessions[conn] = Session(conn, address)
        session.block = host = address_block(session.host, self.local_networks)
        waiting = self._prelogin_by_host.get(host, 0)
        if waiting >= self.max_prelogin_per_host:
            if self.log_budget.allow(host):
                log.warning("%s has %d connections without a login: refusing another", host,
                            waiting)
            return [Out(conn, Error(
                code=ErrorCode.RATE_LIMITED, retry_after=float(PRELOGIN_RETRY_AFTER),
                message=f"{host} already has {waiting} connections that have not logged in; "
                        "log in on one of them, or try again later")), Disconnect(conn)]
        self._prelogin_by_host[host] = waiting + 1
        session.counted = True
        return []

    def _uncount(self, session: Session) -> None:
        """``session`` no longer counts as a connection without a login."""
        if session.counted:
            session.counted = False
            host = session.block
            left = self._prelogin_by_host.get(host, 1) - 1
            if left > 0:
                self._prelogin_by_host[host] = left
            else:
                self._prelogin_by_host.pop(host, None)

    def disconnected(self, conn: ConnId) -> list[Action]:
        """The connection is gone; tell everyone if its user is now offline."""
        session = self.sessions.pop(conn, None)
        self._receipts_replaying.discard(conn)
        if session is not None:
            self._uncount(session)
        if session is None or session.key is None:
            return []
        activity.info("logout %s from %s", session.user, session.address)
        return self._went_offline(session)

    def protocol_error(self, conn: ConnId, error: ProtocolError) -> list[Action]:
        """A frame from ``conn`` could not be decoded: answer with an error frame, and close
        the connection when the error is fatal (the stream cannot be re-synced)."""
        session = self.sessions.get(conn)
        who = session.address if session else conn
        block = session.block if session else str(conn)
        # Within the log budget: one client that never logs in rotated the whole server.log
        # away in a second, the certificate's fingerprint line with it (an operator hunt).
        if self.log_budget.allow(block):
            log.warning("protocol error from %s: %s %s", who, error.code, error.message[:200])
        request_id = getattr(error, "request_id", None)
        actions: list[Action] = [Out(conn, Error(code=error.code, message=error.message,
                                                 id=request_id))]
        if error.fatal:
            actions.append(Disconnect(conn))
        return actions


    def sum_up_protocol_errors(self) -> None:
        """Log the count of lines about an address not logged one by one, for each address
        whose minute is over (a flood that stopped was never summed up: a review), in the
        server's log and in the activity log, and the logins refused during each lock that is
        over (:class:`~.ratelimit.LockedLogins`); called on the server's idle timer."""
        self.log_budget.sum_up()
        self.activity_budget.sum_up()
        if len(self._locked_logins):
            throttle = self.throttle
            self._locked_logins.sum_up(lambda key, until: throttle.locked_for(key) > 0
                                       and throttle.lock_ends(key) == until)

    def expire_offers(self) -> list[Action]:
        """Forget the offers older than a day and tell both sides of the unanswered ones
        (the server calls it on its idle timer: a quiet server told nobody until some
        transfer request or login swept them; a review)."""
        self.transfers.sweep()
        return self._expired_offers() if self.transfers.expired else []

    def _expired_offers(self) -> list[Action]:
        """Tell both sides of each offer forgotten unanswered after a day: the sender's card
        waited for an answer for good, and the recipient's Accept said the sender withdrew
        it (a hunt)."""
        expired, self.transfers.expired = self.transfers.expired, []
        actions: list[Action] = []
        for t in expired:
            log.info("transfer %s: the offer expired unanswered", t.transfer_id)
            actions += self._to_users([name_key(t.sender)], TransferDeclined(
                transfer_id=t.transfer_id, user=t.recipient, reason=OFFER_EXPIRED))
            actions += self._to_users([name_key(t.recipient)], TransferCancelled(
                transfer_id=t.transfer_id, user=t.sender, reason=OFFER_EXPIRED))
        return actions

    def request_failed(self) -> None:
        """:meth:`handle` raised and the store undid the request's writes
        (:meth:`Store.abort_request`): undo what it changed in memory too (groups)."""
        self.groups.undo()

    def handle(self, conn: ConnId, frame: msgspec.Struct) -> list[Action]:
        """Apply one decoded frame from ``conn`` and return what to send to whom."""
        session = self.sessions[conn]
        if session.key is not None:  # logged in (so past hello): the frequent frames first
            kind = type(frame)
            if kind is Send:
                return self._send(session, frame)  # type: ignore[arg-type]
            if kind is Delivered:
                return self._mark(session, frame.seqs, "delivered")  # type: ignore[attr-defined]
            if kind is Read:
                return self._mark(session, frame.seqs, "read",  # type: ignore[attr-defined]
                                  frame.private)  # type: ignore[attr-defined]
        if isinstance(frame, Hello):
            return self._hello(session, frame)
        if not session.hello:
            return [self._error(session, frame, ErrorCode.HELLO_REQUIRED,
                                "send 'hello' with protocol_version first")]
        if isinstance(frame, Ping):
            return [Out(conn, Pong(nonce=frame.nonce))]
        if isinstance(frame, Pong):
            return []
        if isinstance(frame, Register | Login):
            if session.key is not None:
                return [self._error(session, frame, ErrorCode.ALREADY_LOGGED_IN,
                                    f"already logged in as {session.user}")]
            if session.busy:
                return [self._error(session, frame, ErrorCode.BAD_REQUEST,
                                    "a login or registration is already in progress")]
            if isinstance(frame, Register):
                return self._register(session, frame)
            return self._login(session, frame)
        if session.key is None:
            return [self._error(session, frame, ErrorCode.NOT_LOGGED_IN, "log in first")]
        if isinstance(frame, Send):
            return self._send(session, frame)
        if isinstance(frame, Delivered):
            return self._mark(session, frame.seqs, "delivered")
        if isinstance(frame, Read):
            return self._mark(session, frame.seqs, "read", frame.private)
        if isinstance(frame, Typing):
            return self._typing(session, frame)
        if isinstance(frame, GetHistory):
            return self._history(session, frame)
        if isinstance(frame, Retract):
            return self._retract(session, frame)
        if isinstance(frame, Edit):
            return self._edit(session, frame)
        if isinstance(frame, GetRoster):
            return [Out(conn, Ok(id=frame.id, roster=self.roster()))]
        if isinstance(frame, Logout):
            return [Out(conn, Ok(id=frame.id)), Disconnect(conn)]
        if isinstance(frame, ChangePassword):
            return self._change_password(session, frame)
        handler = self._handlers.get(type(frame))
        if handler is not None:
            if type(frame) in _COUNTED and (refused := self._flooding(session, frame)):
                return refused
            try:
                actions = handler(self, session, frame)
            except RuleError as exc:
                actions = [self._error(session, frame, exc.code, exc.message)]
            if self.transfers.expired:  # (offers forgotten by the sweep this request made;
                # checked here, not for every frame: a call more per frame cost fan-out)
                actions = [*actions, *self._expired_offers()]
            return actions
        return [self._error(session, frame, ErrorCode.UNKNOWN_TYPE,
                            f"{type(frame).__name__} is not a request")]

    def receipt_counts(self) -> list[Action]:
        """The ``receipt_count`` events of the group messages whose counts rose since the last
        call, to their senders' sessions. The server calls it before each commit, so a group
        message gets at most one per commit however many members confirmed it meanwhile."""
        actions: list[Action] = []
        online = self.online
        replaying = self._receipts_replaying
        for r in self.store.take_receipt_counts():
            entry = online.get(r.sender_key)
            if entry is not None:
                frame = _receipt_frame(r)
                actions += [Out(c, frame) for c in entry.conns if c not in replaying]
        return actions

    def _mark(self, session: Session, seqs: list[int], state: str,
              private: bool = False) -> list[Action]:
        """``delivered`` / ``read``: record it, and send the new receipts to the senders; the
        messages read for the first time also go, as a ``read`` event, to the account's other
        sessions (read on the phone → no longer unread on the laptop). ``private``: a read
        for the account only (see :class:`~messenger.protocol.Read`)."""
        assert session.user is not None
        online = self.online
        mine = online.get(session.key or "")
        others = [c for c in mine.conns if c != session.conn] \
            if mine is not None and state == "read" and len(mine.conns) > 1 else []
        read_now: list[int] | None = [] if others else None
        receipts = self.store.mark(session.user, [s for s in seqs[:10_000] if 0 < s < MAX_SEQ],
                                   state, read_now, private=private)
        actions: list[Action] = []
        if read_now:  # the account's other apps take these off their unread counts
            synced = Read(seqs=read_now)
            actions += [Out(c, synced) for c in others]
        replaying = self._receipts_replaying
        for r in receipts:
            entry = online.get(r.sender_key)
            if entry is not None:
                frame = Receipt(rid=r.rid, seq=r.seq, user=r.user, state=r.state,  # type: ignore[arg-type]
                                ts=r.ts)
                # (a logged one waits for a connection's receipt replay, which reads it)
                actions += [Out(c, frame) for c in entry.conns
                            if not (r.rid and c in replaying)]
        return actions

    # ------------------------------------------------------------------ handshake and login

    def _hello(self, session: Session, frame: Hello) -> list[Action]:
        if frame.protocol_version != PROTOCOL_VERSION:
            # Which side is older, so the user knows what to update: "update the app or the
            # server" had the user of an app newer than the server update the app (a hunt).
            if frame.protocol_version > PROTOCOL_VERSION:
                why = (f"the server is older than the app (it speaks protocol version "
                       f"{PROTOCOL_VERSION}, the app sent {frame.protocol_version}); update "
                       "the server, or use an app of the server's version")
            else:
                why = (f"the app is older than the server (it sent protocol version "
                       f"{frame.protocol_version}, the server speaks {PROTOCOL_VERSION}); "
                       "update the app")
            return [Out(session.conn, Error(code=ErrorCode.VERSION_MISMATCH, message=why)),
                    Disconnect(session.conn)]
        session.hello = True
        return [Out(session.conn, Hello(protocol_version=PROTOCOL_VERSION,
                                        agent="messenger-server", max_frame=self.max_frame,
                                        server_time=self._clock(), features=list(FEATURES),
                                        instance=self.store.instance))]

    def _register(self, session: Session, frame: Register) -> list[Action]:
        if not is_valid_name(frame.user):
            return [self._error(session, frame, ErrorCode.INVALID_NAME,
                                "a user name has 1-32 characters: letters, digits, _ . -")]
        if not is_valid_password(frame.password):
            return [self._error(session, frame, ErrorCode.INVALID_PASSWORD,
                                "a password has 6 to 1024 characters")]
        if is_reserved_name(frame.user):
            reads = "is" if name_key(frame.user) == "everyone" else "reads like Everyone,"
            return [self._error(session, frame, ErrorCode.INVALID_NAME,
                                f"{frame.user!r} {reads} the name of the conversation with "
                                "everyone: pick another name")]
        if self.store.account(frame.user) is not None:  # before the costly hash
            return [self._error(session, frame, ErrorCode.NAME_TAKEN,
                                f"the name {frame.user!r} is taken")]
        if (like := self._looks_taken(session, frame)) is not None:
            return [like]
        if (busy := self._busy(session, frame)) is not None:
            return [busy]
        if (wait := self._registration_wait(session)) is not None:
            made = self.max_registrations
            text = (f"{session.block} has created {made:g} account{'' if made == 1 else 's'} "
                    "within the hour; ask the server's owner, or try again later")
            # (Within the log budget: the refusal is answered at once and does not close
            # the connection, and 300 pipelined registers were 300 lines; a hunt.)
            if self.log_budget.allow(session.block):
                log.info("%s → %s: %s", session.address, ErrorCode.RATE_LIMITED, text)
            return [Out(session.conn, Error(id=frame.id, code=ErrorCode.RATE_LIMITED,
                                            message=text, retry_after=wait))]
        self._hash_started(session)

        def hashed(encoded: object) -> list[Action]:
            self._hash_done(session)
            if not self._still_there(session):
                return []
            session.busy = False
            if not isinstance(encoded, str):  # the worker failed
                return [self._error(session, frame, ErrorCode.INTERNAL,
                                    "the server could not store the password; try again")]
            # (again: a look-alike registered while this password was hashed; a review)
            if (like := self._looks_taken(session, frame)) is not None:
                return [like]
            try:
                account = self.store.create_account(frame.user, str(encoded))
            except NameTaken:
                return [self._error(session, frame, ErrorCode.NAME_TAKEN,
                                    f"the name {frame.user!r} is taken")]
            activity.info("register %s from %s", account.name, session.address)
            actions = self._logged_in(session, frame.id, account.name)
            # Where it was created is a known address, as after a login there: a guesser
            # elsewhere locked a new account out at its owner's first reconnect (a hunt).
            self.throttle.remember(account.key, session.block)
            return actions

        password = frame.password
        return [Crypto(session.conn, lambda: self.passwords.hash(password), hashed,
                       request_id=frame.id)]

    def _looks_taken(self, session: Session, frame: Register) -> Out | None:
        """``name_taken`` when ``frame.user`` reads like an existing account's name
        (:func:`name_skeleton`), else None."""
        like = self.store.account_like(frame.user)
        if like is None:
            return None
        return self._error(session, frame, ErrorCode.NAME_TAKEN,
                           f"the name {frame.user!r} looks too much like {like.name!r}, an "
                           "existing account's: pick another name")

    def _registration_wait(self, session: Session) -> float | None:
        """None when ``session``'s address may create one more account now (taking it
        from its allowance), else the seconds until it may."""
        if not self.max_registrations:
            return None
        now = time.monotonic()
        buckets = self._register_buckets
        bucket = buckets.get(session.block)
        if bucket is None:
            if len(buckets) >= REGISTER_BUCKETS_KEPT:
                for block, b in list(buckets.items()):
                    if b.tokens + (now - b.stamp) * b.rate >= b.burst:
                        del buckets[block]
            rate = self.max_registrations / 3600.0
            # (a burst under one never holds a whole token: 0.5 refused everyone for good)
            bucket = buckets[session.block] = TokenBucket(
                rate, max(1.0, self.max_registrations), now)
        if not bucket.take(now):
            return None
        return max(1.0, (1.0 - bucket.tokens) / bucket.rate)

    def _login(self, session: Session, frame: Login) -> list[Action]:
        if frame.receipts_after is not None and not 0 <= frame.receipts_after < MAX_SEQ:
            return [self._error(session, frame, ErrorCode.BAD_REQUEST,
                                "receipts_after must be between 0 and 2^63-1")]
        # Invalid names cannot exist; they share one throttle key so memory stays bounded.
        name = name_key(frame.user) if is_valid_name(frame.user) else ""
        # (From an address the name logged in from lately: counted apart, no address budget.)
        key = self.throttle.lock_key(name, session.block) if name else name
        known = key != name
        locked = self.throttle.locked_for(key)
        if locked > 0:
            named = self.store.account(frame.user) if name else None
            # (a name with no account may be a password typed in the wrong field)
            who = repr(named.name) if named else "a name with no account"
            # One line per lock, the rest summed up when it is over: one per refusal let
            # anyone rotate the activity log away (a hunt).
            if self._locked_logins.refused(key, who, session.host,
                                           self.throttle.lock_ends(key)) \
                    and self.activity_budget.allow(session.block):
                activity.info("login for %s from %s refused: locked for %.0f s more", who,
                              session.address, locked)
            return self._login_refused(session, self._locked(session, frame, locked))
        if not known and (wait := self.throttle.host_wait(session.block)) > 0:
            return self._login_refused(session, Out(session.conn, Error(
                id=frame.id, code=ErrorCode.RATE_LIMITED, retry_after=round(wait, 1),
                message=f"too many failed logins from your address {session.block}; try "
                        f"again in {max(1, round(wait + 0.499))} s")))
        account = self.store.account(frame.user) if is_valid_name(frame.user) else None
        encoded = account.pw_hash if account else None
        password = frame.password
        if (busy := self._busy(session, frame)) is not None:
            return [busy]  # not a failed attempt: no throttle count
        if (guessing := self._start_guess(session, frame, key)) is not None:
            return self._login_refused(session, guessing)
        self._hash_started(session)

        def checked(ok: object) -> list[Action]:
            self._hash_done(session)
            # The verdict counts even when the connection has gone: the guess was made. A
            # right password while the name is locked is refused all the same (section 8).
            locked = 0.0
            if not isinstance(ok, bool):  # the worker failed: no verdict
                self.throttle.abandon(key)
            elif ok:
                locked = self.throttle.success(key)
                if not locked:
                    self.throttle.remember(name, session.block)
            else:
                locked = self.throttle.failure(key, session.block)
                # (a name with no account may be a password typed in the wrong field)
                who = repr(account.name) if account else "a name with no account"
                if self.activity_budget.allow(session.block):
                    activity.info("failed login for %s from %s", who, session.address)
                    if locked > 0:
                        activity.info("logins for %s locked for %.0f s after failed logins",
                                      who, locked)
            if not self._still_there(session):
                return []
            session.busy = False
            if not isinstance(ok, bool):
                return [self._error(session, frame, ErrorCode.INTERNAL,
                                    "the server could not check the password; try again")]
            if session.key is not None:
                return [self._error(session, frame, ErrorCode.ALREADY_LOGGED_IN,
                                    f"already logged in as {session.user}")]
            if locked > 0:
                return self._login_refused(session, self._locked(session, frame, locked))
            if ok:
                assert account is not None
                now = self.store.account(account.name)
                if now is None or not self._same_password(name, account.pw_hash, now.pw_hash):
                    # Changed while this was checked: the password given is the old one.
                    return [self._error(session, frame, ErrorCode.BAD_CREDENTIALS,
                                        f"the password of {account.name} was just changed; "
                                        "log in with the new one")]
                if (full := self._sessions_full(session, frame, now.name)) is not None:
                    return [full]
                return self._login_ok(session, frame, now)
            return self._login_refused(session, self._error(
                session, frame, ErrorCode.BAD_CREDENTIALS, "wrong user name or password"))

        return [Crypto(session.conn, lambda: self.passwords.verify(encoded, password), checked,
                       request_id=frame.id)]

    def _login_refused(self, session: Session, refusal: Out) -> list[Action]:
        """``refusal`` of a login; with it, the connection's :data:`MAX_REFUSED_LOGINS`-th,
        an ``error`` ``rate_limited`` without an ``id`` and the connection closed."""
        session.refused_logins += 1
        if session.refused_logins < MAX_REFUSED_LOGINS:
            return [refusal]
        if self.log_budget.allow(session.block):
            log.info("%s: %d logins refused on one connection: closing it", session.address,
                     session.refused_logins)
        return [refusal, Out(session.conn, Error(
            code=ErrorCode.RATE_LIMITED, retry_after=REFUSED_LOGINS_RETRY_AFTER,
            message=f"{session.refused_logins} logins were refused on this connection: "
                    "closing it; connect again to log in")), Disconnect(session.conn)]

    def _sessions_full(self, session: Session, frame: Login, name: str) -> Out | None:
        """``rate_limited`` when account ``name`` has :data:`MAX_SESSIONS_PER_ACCOUNT`
        connections logged in already (told only to who knows its password)."""
        entry = self.online.get(name_key(name))
        if entry is None or len(entry.conns) < MAX_SESSIONS_PER_ACCOUNT:
            return None
        text = (f"{name} is logged in on {len(entry.conns)} connections already, the most one "
                "account may have: log out on one of them (links that went silent are closed "
                "within a minute)")
        if self.log_budget.allow(session.block):
            log.warning("%s → %s: %s", session.address, ErrorCode.RATE_LIMITED, text)
        return Out(session.conn, Error(id=frame.id, code=ErrorCode.RATE_LIMITED, message=text,
                                       retry_after=SESSIONS_RETRY_AFTER))

    def _start_guess(self, session: Session, frame: Login | ChangePassword,
                     key: str) -> Out | None:
        """Count a password check for name ``key`` from when it is queued
        (:meth:`LoginThrottle.start`); ``rate_limited`` (not a failure) when the name's failures
        so far plus the checks still running reach the limit: another guess now could get past
        it (parallel connections)."""
        if self.throttle.start(key):
            return None
        checking = self.throttle.checking(key)
        return Out(session.conn, Error(
            id=frame.id, code=ErrorCode.RATE_LIMITED,
            retry_after=max(1.0, round(self.hashing * HASH_SECONDS / 2, 1)),
            message=f"{checking} login(s) for this name are being checked; try again "
                    "when they are answered"))

    def _change_password(self, session: Session, frame: ChangePassword) -> list[Action]:
        """``change_password``: the current password is checked as a login's is (the same
        lock-out count), then the new one is hashed and stored; both on a worker. The change
        is made only while the asking connection is still there, and only if the stored hash
        is still the one checked (two changes at once: the second is refused, not silently
        lost). The account's other sessions are told ``password_changed`` and closed."""
        assert session.key is not None and session.user is not None
        if not is_valid_password(frame.new_password):
            return [self._error(session, frame, ErrorCode.INVALID_PASSWORD,
                                "a password has 6 to 1024 characters")]
        if session.busy:
            return [self._error(session, frame, ErrorCode.BAD_REQUEST,
                                "a password change is already in progress")]
        key, user = session.key, session.user
        # (Counted where the session logged in from: a known address, as at the login.)
        tkey = self.throttle.lock_key(key, session.block)
        locked = self.throttle.locked_for(tkey)
        if locked > 0:
            return [self._locked(session, frame, locked)]
        if (busy := self._busy(session, frame)) is not None:
            return [busy]
        if (guessing := self._start_guess(session, frame, tkey)) is not None:
            return [guessing]
        account = self.store.account(user)
        encoded = account.pw_hash if account is not None else None
        password, new_password = frame.password, frame.new_password
        self._hash_started(session)

        def checked(ok: object) -> list[Action]:
            self._hash_done(session)
            locked = 0.0
            if not isinstance(ok, bool):
                self.throttle.abandon(tkey)
            elif ok:
                locked = self.throttle.success(tkey)
            else:
                locked = self.throttle.failure(tkey)
                if self.activity_budget.allow(session.block):
                    activity.info("failed password change for %s from %s", user,
                                  session.address)
            if not self._still_there(session):
                return []
            if not isinstance(ok, bool) or not ok or locked > 0:
                session.busy = False
            if not isinstance(ok, bool):
                return [self._error(session, frame, ErrorCode.INTERNAL,
                                    "the server could not check the password; try again")]
            if locked > 0:
                return [self._locked(session, frame, locked)]
            if not ok:
                return [self._error(session, frame, ErrorCode.BAD_CREDENTIALS,
                                    "the current password is wrong")]
            self._hash_started(session)

            def hashed(new_hash: object) -> list[Action]:
                self._hash_done(session)
                if not self._still_there(session):
                    return []
                session.busy = False
                if not isinstance(new_hash, str):
                    return [self._error(session, frame, ErrorCode.INTERNAL,
                                        "the server could not store the password; try again")]
                now = self.store.account(user)
                if now is None or encoded is None \
                        or not self._same_password(key, encoded, now.pw_hash):
                    return [self._error(session, frame, ErrorCode.BAD_CREDENTIALS,
                                        "the password was changed meanwhile (another "
                                        "session); it is not the one you gave")]
                self.store.set_password_hash(key, new_hash)
                activity.info("password changed for %s from %s", user, session.address)
                actions: list[Action] = [Out(session.conn, Ok(id=frame.id))]
                entry = self.online.get(key)
                ended = Error(code=ErrorCode.PASSWORD_CHANGED,
                              message=f"the password of {user} was changed from "
                                      f"{session.host}; log in again with the new one")
                for conn in sorted(entry.conns if entry else ()):
                    if conn != session.conn:
                        actions += [Out(conn, ended), Disconnect(conn)]
                return actions

            return [Crypto(session.conn, lambda: self.passwords.hash(new_password), hashed,
                           request_id=frame.id)]

        return [Crypto(session.conn, lambda: self.passwords.verify(encoded, password), checked,
                       request_id=frame.id)]

    def _same_password(self, key: str, checked: str, stored: str) -> bool:
        """Whether account ``key``'s stored hash ``stored`` is still of the password that was
        checked against hash ``checked``: the same hash, or its re-hash (:meth:`_rehash`)."""
        return stored == checked or self._rehashed.get(key) == (checked, stored)

    def _rehash(self, session: Session, account: Account, password: str) -> Crypto:
        """Store ``password``'s hash with today's parameters, hashed on a worker; only if
        the stored hash is still the one the login checked (a password change meanwhile
        wins)."""
        key, old = account.key, account.pw_hash

        def hashed(encoded: object) -> list[Action]:
            now = self.store.account(account.name)
            if isinstance(encoded, str) and now is not None and now.pw_hash == old:
                self.store.set_password_hash(key, encoded)
                self._rehashed[key] = (old, encoded)
            return []

        return Crypto(session.conn, lambda: self.passwords.hash(password), hashed)

    def _login_ok(self, session: Session, frame: Login, account: Account) -> list[Action]:
        activity.info("login %s from %s", account.name, session.address)
        actions = self._logged_in(session, frame.id, account.name)
        if self.passwords.needs_rehash(account.pw_hash):
            # New argon2 parameters: hash again on a worker like any password (≈ 0.15 s, not
            # on the event loop, where every login after a change would stall everyone).
            actions.append(self._rehash(session, account, frame.password))
        if frame.receipts_after is not None:
            session.receipts_at = frame.receipts_after
            self._receipts_replaying.add(session.conn)
            actions += self._replay_receipts(session)
        if frame.receipts_upto:
            actions += [Out(session.conn, ReceiptsUpto(user=peer, after=a, delivered=d, read=r))
                        for peer, a, d, r in self.store.receipt_cursors(account.key)]
        return actions

    def _still_there(self, session: Session) -> bool:
        return self.sessions.get(session.conn) is session

    def _busy(self, session: Session, frame: Register | Login | ChangePassword) -> Out | None:
        """``rate_limited`` if too many password hashes are queued (a login storm, e.g. every
        client reconnecting after a restart), or too many of them for the session's IP address;
        else None. ``retry_after`` is the time the queue takes to drain, with the workers' speed
        assumed (:data:`HASH_SECONDS` per hash, two at once)."""
        if self.hashing >= self.max_hashing:
            message = f"the server is busy checking {self.hashing} passwords"
        elif self._hashing_by_host.get(session.block, 0) >= self.max_hashing_per_host:
            message = (f"the server is busy checking {self.max_hashing_per_host} passwords "
                       f"from your address {session.block}")
        else:
            return None
        wait = round(self.hashing * HASH_SECONDS / 2, 1)
        return Out(session.conn, Error(
            id=frame.id, code=ErrorCode.RATE_LIMITED, retry_after=max(1.0, wait),
            message=message))

    def _hash_started(self, session: Session) -> None:
        session.busy = True
        self.hashing += 1
        host = session.block
        self._hashing_by_host[host] = self._hashing_by_host.get(host, 0) + 1

    def _hash_done(self, session: Session) -> None:
        """Frees the slots taken by :meth:`_hash_started` (also when the session is gone)."""
        self.hashing -= 1
        host = session.block
        left = self._hashing_by_host[host] - 1
        if left:
            self._hashing_by_host[host] = left
        else:
            del self._hashing_by_host[host]

    def _locked(self, session: Session, frame: Login | ChangePassword, seconds: float) -> Out:
        whole = max(1, round(seconds + 0.499))
        return Out(session.conn, Error(
            id=frame.id, code=ErrorCode.LOCKED_OUT, retry_after=seconds,
            message=f"too many failed logins: this account is locked for {whole} s"))

    def _logged_in(self, session: Session, request_id: int, name: str) -> list[Action]:
        key = name_key(name)
        # The database first: if it fails (another program's write lock), nothing about the
        # session has changed yet, and the login can be tried again on the same connection
        # (it was left half logged in: online to nobody, "already logged in"; a review).
        replay = self.store.pending_seqs(key)
        now = self._clock()
        session.user, session.key, session.since = name, key, now
        self._uncount(session)
        actions: list[Action] = []
        entry = self.online.get(key)
        if entry is None:
            entry = self.online[key] = _Online(name, now, session.address)
            self.store.set_last_seen(key, now)  # what a crash leaves: the last login
            presence = Presence(user=name, online=True, ts=now)
            actions += [Out(c, presence) for c in self._logged_in_conns() if c != session.conn]
        entry.conns.add(session.conn)
        groups = [g.info(name) for g in self.groups.of_user(name)]
        actions.insert(0, Out(session.conn, Ok(id=request_id, user=name, roster=self.roster(),
                                               groups=groups, seq_high=self.store.seq_high)))
        session.replay, session.replay_at = replay, 0
        actions += self._replay_piece(session)
        # Offers waiting for an answer from another of the account's devices: this one may
        # answer too (it may hold the partial file of a resumed one).
        self.transfers.sweep()
        actions += [Out(session.conn, t.offered) for t in self.transfers.waiting_to(key)
                    if t.offered is not None]
        actions += [Out(session.conn, e) for e in self._missed_transfer_events.pop(key, [])]
        return actions

    def _replay_piece(self, session: Session) -> list[Action]:
        """The next piece of ``session``'s login replay, oldest first: about
        :data:`REPLAY_PIECE_BYTES` of messages (at most :data:`REPLAY_ROWS`), then
        :class:`ReplayMore` when some are left. (One that another session of the account
        confirmed meanwhile still comes: apps keep a message once by its seq.)"""
        seqs = session.replay
        if seqs is None:
            return []
        at, end = session.replay_at, min(len(seqs), session.replay_at + REPLAY_ROWS)
        actions: list[Action] = []
        size = 0
        while at < end and size < REPLAY_PIECE_BYTES:
            chunk = seqs[at:min(end, at + REPLAY_READ)]
            at += len(chunk)
            for m in self.store.messages_at(chunk):
                actions.append(Out(session.conn, _message_frame(m)))
                size += _frame_estimate(m)
                if size >= REPLAY_PIECE_BYTES:
                    at = bisect.bisect_right(seqs, m.seq)  # (the rest of the chunk: next)
                    break
        session.replay_at = at
        if at < len(seqs):
            actions.append(ReplayMore(session.conn))
        else:
            session.replay = None
        return actions

    def _replay_receipts(self, session: Session) -> list[Action]:
        """The next piece of ``session``'s receipt replay: the next
        :data:`REPLAY_RECEIPTS` logged receipts for its account's messages, oldest first,
        then :class:`ReplayMore` when the piece was full. A shorter piece has caught up with
        the log: from then on the session gets logged receipts live."""
        after = session.receipts_at
        if after is None or session.key is None:
            return []
        rows = self.store.receipts_after(session.key, after, limit=REPLAY_RECEIPTS)
        actions: list[Action] = [Out(session.conn, _receipt_frame(r)) for r in rows]
        if len(rows) < REPLAY_RECEIPTS:
            session.receipts_at = None
            self._receipts_replaying.discard(session.conn)
        else:
            session.receipts_at = rows[-1].rid
            actions.append(ReplayMore(session.conn))
        return actions

    def replay_next(self, conn: ConnId) -> list[Action]:
        """The next piece of connection ``conn``'s login replay (after a :class:`ReplayMore`
        once its last piece is written): queued messages first, then logged receipts; []
        when it is done or the session has ended."""
        session = self.sessions.get(conn)
        if session is None or session.key is None:
            return []
        if session.replay is not None:
            actions = self._replay_piece(session)
            if session.replay is None and session.receipts_at is not None:
                actions.append(ReplayMore(conn))  # (the receipts' turn)
            return actions
        return self._replay_receipts(session)

    def _went_offline(self, session: Session) -> list[Action]:
        assert session.key is not None
        entry = self.online.get(session.key)
        if entry is None:
            return []
        entry.conns.discard(session.conn)
        if entry.conns:
            self._readdress(entry)
            return []
        del self.online[session.key]
        now = self._clock()
        self.store.set_last_seen(session.key, now)
        self.store.cool_cursors(session.key)
        # Offers to them that nobody can answer now: their senders learn it at once (an
        # offer that reached a connection not yet found dead was never seen at all).
        actions: list[Action] = []
        for t in self.transfers.lapse(session.key):
            actions += self._to_users([name_key(t.sender)], TransferDeclined(
                transfer_id=t.transfer_id, user=entry.name, reason=OFFER_LAPSED))
        presence = Presence(user=entry.name, online=False, ts=now)
        return actions + [Out(c, presence) for c in self._logged_in_conns()]

    def _readdress(self, entry: _Online) -> None:
        """Keep ``entry.address`` where the account is: once the session it names has ended
        (the computer that began the run left, another stays), it names the newest session
        still open. (It stayed the address left, and `/users` showed the user online "from"
        the one computer they were not at.)"""
        remaining = [self.sessions[c] for c in entry.conns if c in self.sessions]
        if not remaining or any(s.address == entry.address for s in remaining):
            return
        entry.address = max(remaining, key=lambda s: s.since or 0.0).address

    def _logged_in_conns(self) -> list[ConnId]:
        return [c for entry in self.online.values() for c in entry.conns]

    def roster(self) -> list[RosterEntry]:
        """Every account with its presence (``since`` = login time of online users,
        ``last_seen`` = when offline ones were last online)."""
        result = []
        for name in self.store.account_names():
            key = name_key(name)
            entry = self.online.get(key)
            if entry is None:
                account = self.store.account(key)
                result.append(RosterEntry(name=name, online=False,
                                          last_seen=account.last_seen if account else None))
            else:
                result.append(RosterEntry(name=name, online=True, since=entry.since,
                                          address=entry.address))
        return result

    # ------------------------------------------------------------------ messages

    def _text_refused(self, session: Session, frame: Send | Edit) -> list[Action] | None:
        """The error for a ``send``/``edit`` whose ``text`` or ``client_msg_id`` is not
        acceptable, or None."""
        text = frame.text
        if not text or text.isspace():  # the same test as "not text.strip()", without a copy
            return [self._error(session, frame, ErrorCode.EMPTY_MESSAGE, "the message is empty")]
        if len(text) > self.max_text:
            return [self._error(
                session, frame, ErrorCode.MESSAGE_TOO_LONG,
                f"the message has {len(text)} characters; the limit is {self.max_text}")]
        if text == RETRACTED_TEXT:  # (exactly: that is what the server and apps compare)
            # What a deleted message reads: taken as one, it could not be edited or deleted,
            # and the apps would show it as deleted. (A retry of one stored before this
            # rule still gets its ok.)
            retry = self._retry_ack(session, frame) if isinstance(frame, Send) else None
            return retry or [self._error(session, frame, ErrorCode.BAD_REQUEST,
                                f"{RETRACTED_TEXT!r} is what a deleted message reads; "
                                "write something else")]
        cid = frame.client_msg_id
        if not cid or len(cid) > 64:
            return [self._error(session, frame, ErrorCode.BAD_REQUEST,
                                "client_msg_id must have 1-64 characters")]
        if cid.startswith(RESERVED_ID_PREFIXES):
            return [self._error(session, frame, ErrorCode.BAD_REQUEST,
                                "client_msg_id must not start with 'deleted-' or 'notice-' "
                                "(the server's own ids)")]
        return None

    def _id_taken(self, session: Session, frame: Send | Edit) -> list[Action]:
        """The error for a ``send``/``edit`` whose ``client_msg_id`` the sender already used
        for another kind of message (a retry must repeat the request it retries)."""
        return [self._error(session, frame, ErrorCode.BAD_REQUEST,
                            f"client_msg_id {frame.client_msg_id[:64]!r} already identifies "
                            "another message of yours: choose a new one")]

    def _retry_ack(self, session: Session, frame: Send) -> list[Action] | None:
        """The original ``ok`` when ``frame`` retries a message already stored, or None.

        Asked only before refusing a ``send`` for who it goes to: a retry of a message the
        server stored before the sender left the group (or before a recipient's account was
        deleted) was delivered, and must not turn into a failure on the sender's screen.
        """
        assert session.key is not None
        stored = self.store.message_by_client_id(session.key, frame.client_msg_id)
        if stored is None or stored.notice is not None:
            return None
        return [Out(session.conn, self._send_ok(frame.id, stored, None))]

    def _send_ok(self, request_id: int, stored: StoredMessage, recipients: int | None) -> Ok:
        """The ``ok`` of a ``send``: its seq and time, and for a group message or a broadcast
        how many it went to (``recipients``, counted now for a new message; for a retry, as
        the message's receipt counts have it)."""
        count: int | None = None
        if stored.scope in ("group", "broadcast"):
            count = recipients if recipients is not None else \
                self.store.recipient_count(stored.seq)
        return Ok(id=request_id, seq=stored.seq, ts=stored.ts, recipients=count)

    def _flooding(self, session: Session, frame: Any) -> list[Action] | None:
        """``rate_limited`` when the account sends faster than ``max_send_rate`` (a retry of
        a stored message gets its ``ok`` all the same), else None; ``edit`` and the requests
        of :data:`_COUNTED` (each stores a notice or tells others) take from the same
        bucket. Sends keep their order:
        once one is refused, the connection's later sends are refused too until it comes
        again (:data:`FLOOD_HEAD_SECONDS` at most), whatever the bucket holds by then."""
        if not self.max_send_rate:
            return None
        assert session.key is not None
        now = time.monotonic()
        bucket = self._send_buckets.get(session.key)
        if bucket is None:
            rate = self.max_send_rate
            bucket = self._send_buckets[session.key] = TokenBucket(
                rate, max(1.0, rate * SEND_BURST_SECONDS), now)
        send = isinstance(frame, Send)
        head = session.flood_head
        if send and head and frame.client_msg_id != head \
                and now - session.flood_since < FLOOD_HEAD_SECONDS:
            wait = max(0.1, bucket.blocked_until - now)  # behind the refused one
        else:
            if send and head:
                session.flood_head = ""
            wait = bucket.take(now)
            if not wait:
                return None
        if send and (ack := self._retry_ack(session, frame)) is not None:  # type: ignore[arg-type]
            return ack  # (stored before: refused it would hold up the later ones for nothing)
        if send and not session.flood_head:
            session.flood_head, session.flood_since = frame.client_msg_id, now
        what = "messages" if send or isinstance(frame, Edit) else "messages and changes"
        return [Out(session.conn, Error(
            id=frame.id, code=ErrorCode.RATE_LIMITED, retry_after=math.ceil(wait * 10) / 10,
            message=f"you are sending faster than {self.max_send_rate:g} {what} a second; "
                    "wait a moment"))]

    def _send(self, session: Session, frame: Send) -> list[Action]:
        assert session.user is not None and session.key is not None
        refused = self._text_refused(session, frame) or self._flooding(session, frame)
        if refused is not None:
            return refused
        text = frame.text
        group_name: str | None = None
        if frame.scope == "broadcast":
            recipients: list[str] = []
            keys = [k for k in self.store.account_keys() if k != session.key]
        elif frame.scope in ("unicast", "multicast"):
            if not frame.to:
                return [self._error(session, frame, ErrorCode.BAD_REQUEST,
                                    f"a {frame.scope} message needs at least one recipient")]
            if frame.scope == "unicast" and len(frame.to) != 1:
                return [self._error(session, frame, ErrorCode.BAD_REQUEST,
                                    "a unicast message has exactly one recipient")]
            recipients, keys, unknown = self._resolve_keys(frame.to)
            if unknown:
                return self._retry_ack(session, frame) or [self._error(
                    session, frame, ErrorCode.UNKNOWN_USER, _no_such_users(unknown))]
        else:  # group
            if len(frame.to) != 1:
                return [self._error(session, frame, ErrorCode.BAD_REQUEST,
                                    "a group message names exactly one group in 'to'")]
            try:
                group = self.groups.member_group(session.user, frame.to[0])
                if frame.group_created is not None and frame.group_created != group.created:
                    # Typed for a group that was dissolved, its name since taken again:
                    # its people are not the new group's (a hunt).
                    raise RuleError(
                        ErrorCode.GROUP_CHANGED,
                        f"the group {group.name} you wrote to was dissolved; a new group of "
                        "that name exists")
            except RuleError as exc:
                return self._retry_ack(session, frame) or \
                    [self._error(session, frame, exc.code, exc.message)]
            recipients = []
            keys = [k for k in group.member_keys if k != session.key]
            group_name = group.name
        stored, created = self.store.store_message(
            sender=session.user, client_msg_id=frame.client_msg_id, scope=frame.scope,
            text=text, recipients=recipients, recipient_keys=keys,
            group=group_name if frame.scope == "group" else None, sender_key=session.key)
        if not created and stored.notice is not None:
            return self._id_taken(session, frame)  # an edit's id, not a retry of a send
        actions: list[Action] = [Out(session.conn, self._send_ok(
            frame.id, stored, len(keys) if created else None))]
        if created:
            if frame.scope in ("unicast", "multicast"):
                # Its readers' apps hide "is typing…" at the message: a ``typing`` for the
                # next one, right after it, is relayed (it was dropped within the second).
                for key in keys:
                    session.typing_sent.pop(key, None)
            online = self.online
            conns = [c for key in keys if (entry := online.get(key)) is not None
                     for c in entry.conns]
            mine = online.get(session.key)
            elsewhere: list[ConnId] = []
            if mine is not None and len(mine.conns) > 1 and session.key not in keys:
                # The account's other computers show it at once (not queued for them: a
                # session that logs in later finds it by history).
                elsewhere = [c for c in mine.conns if c != session.conn]
                conns += elsewhere
            if conns:
                actions.append(Fanout(conns, _message_frame(stored)))
            if elsewhere and frame.scope in ("group", "broadcast"):
                # … with whom it went to, as the sending app has it from its ``ok``: they
                # said "delivered to 0 of <the group's members today>" (a hunt). Not logged
                # (rid 0): only the counts that rise are.
                count = ReceiptCount(rid=0, seq=stored.seq, delivered=0, read=0,
                                     recipients=len(keys), ts=stored.ts)
                actions += [Out(c, count) for c in elsewhere]
        return actions

    def _typing(self, session: Session, frame: Typing) -> list[Action]:
        """Relay ``typing`` to every session of ``frame.to``, at most once a second per
        sender session and recipient (the convention is every 3 s): a client that floods
        typing frames does not flood the recipient's app. The rest are dropped silently,
        as are frames to no valid name."""
        if not isinstance(frame.to, str) or not is_valid_name(frame.to):
            return []
        key = name_key(frame.to)
        if key not in self.online:
            return []  # (nobody to tell: nothing to remember either)
        now = time.monotonic()
        sent = session.typing_sent
        if now - sent.get(key, -TYPING_INTERVAL) < TYPING_INTERVAL:
            return []
        if len(sent) >= 256:  # one session typing to that many people: forget the old ones
            for old in [k for k, t in sent.items() if now - t >= TYPING_INTERVAL]:
                del sent[old]
            if len(sent) >= 256:
                return []  # (256 people within a second: the rest wait their turn)
        sent[key] = now
        return self._to_users([key], Typing(user=session.user))

    def _to_users(self, keys: list[str], frame: msgspec.Struct) -> list[Action]:
        """``frame`` to every session of the online users among ``keys``."""
        actions: list[Action] = []
        for key in keys:
            entry = self.online.get(key)
            if entry is not None:
                actions += [Out(c, frame) for c in entry.conns]
        return actions

    def _own_message(self, session: Session, seq: int, *,
                     deleted: bool = False) -> StoredMessage | None:
        """The sender's own chat message ``seq`` (a deleted one too with ``deleted``), or
        None."""
        original = self.store.message(seq) if 0 < seq < MAX_SEQ else None
        if original is None or original.notice is not None or \
                name_key(original.sender) != session.key or \
                (original.text == RETRACTED_TEXT and not deleted):
            return None
        return original

    def _change(self, session: Session, request_id: int, original: StoredMessage,
                notice: str, client_msg_id: str, text: str, *,
                new_text: str | None = None) -> list[Action]:
        """Store and deliver a ``deleted``/``edited`` notice about ``original`` to whom it
        went (for a group message: those of them who are members now; an edit only to those
        who have been members since it) and to the sender's own sessions. ``new_text`` (an
        edit): the message's text, set when the notice is new (not on a retry) with the
        notice's ``ts`` as its ``edited`` time, which is what the apps keep and send back as
        ``edit.base``."""
        assert session.user is not None and session.key is not None
        if original.scope == "broadcast":
            keys = self.store.account_keys()
        elif original.scope == "group" and new_text is None:
            # A deletion: the members now who got the message, also in an earlier
            # membership (who left and came back may have its text on screen); not those
            # who joined after it, nor a later group of the same name (the original's group
            # may be dissolved).
            keys = self.store.members_who_had(original.group or "", original.seq,
                                              name_key(original.sender))
        elif original.scope == "group":
            # An edit: only the members since the message (who came back reads one made
            # after they had left as withheld, Store._withhold_later_edits).
            keys = self.store.members_since(original.group or "", original.seq,
                                            name_key(original.sender))
        else:
            keys = [name_key(n) for n in original.recipients]
        keys = list(dict.fromkeys([*keys, session.key]))
        stored, created = self.store.store_message(
            sender=session.user, client_msg_id=client_msg_id, scope=original.scope, text=text,
            recipients=original.recipients, recipient_keys=keys, group=original.group,
            notice=notice, sender_key=session.key, replaces=original.seq,
            # An edit's time passes the last one's, though the clock stepped back since: the
            # apps ignore an edit older than the text they have.
            not_before=None if new_text is None or original.edited is None
            else original.edited + EDIT_TIME_STEP)
        if created and new_text is not None:
            self.store.set_text(original.seq, new_text, edited=stored.ts)
        actions: list[Action] = [Out(session.conn, Ok(id=request_id, seq=stored.seq,
                                                      ts=stored.ts))]
        if created:
            if self.log_budget.allow(session.block):  # (at the send rate: 100 lines a second)
                log.info("%s: %s message %d", session.user, notice, original.seq)
            actions += self._to_users(keys, _message_frame(stored))
        return actions

    def _retract(self, session: Session, frame: Retract) -> list[Action]:
        """Delete one of the sender's chat messages for everyone (see :class:`Retract`)."""
        assert session.user is not None
        original = self._own_message(session, frame.seq, deleted=True)
        if original is None:
            return [self._error(session, frame, ErrorCode.UNKNOWN_MESSAGE,
                                f"you have no message {frame.seq} to delete")]
        # (Deleted already: the same answer again, and its edits' texts blanked if a server
        # from before that kept them.)
        self.store.delete_text(original.seq)
        return self._change(session, frame.id, original, "deleted",
                            f"deleted-{original.seq}", f"{session.user} deleted a message")

    def _edit(self, session: Session, frame: Edit) -> list[Action]:
        """Replace the text of one of the sender's chat messages (see :class:`Edit`)."""
        refused = self._text_refused(session, frame) or self._flooding(session, frame)
        if refused is not None:
            return refused
        text = frame.text
        done = self.store.message_by_client_id(session.key or "", frame.client_msg_id)
        if done is not None and done.notice == "edited" and done.replaces == frame.seq:
            # A retry of an edit that was made: its answer again, also once the editor has
            # left the group or the message was deleted since (they were refused, though
            # every app showed the edit: a review).
            return [Out(session.conn, Ok(id=frame.id, seq=done.seq, ts=done.ts))]
        original = self._own_message(session, frame.seq)
        if original is None:
            return [self._error(session, frame, ErrorCode.UNKNOWN_MESSAGE,
                                f"you have no message {frame.seq} to edit")]
        if original.scope == "group" and \
                session.key not in self.store.members_since(original.group or "", original.seq,
                                                            name_key(original.sender)):
            return [self._error(
                session, frame, ErrorCode.NOT_MEMBER,
                f"you have not been a member of {original.group} since that message was "
                "sent, so you cannot edit it; you can still delete it")]
        if done is None and frame.base is not None and \
                (original.edited or 0.0) > frame.base + EDIT_BASE_SLACK:
            return [self._error(session, frame, ErrorCode.EDIT_CONFLICT,
                                f"message {frame.seq} was edited (from another device) after "
                                "this edit was made on it; nothing was changed")]
        if done is not None and (done.notice != "edited" or done.replaces != original.seq):
            return self._id_taken(session, frame)  # not a retry of this edit
        return self._change(session, frame.id, original, "edited", frame.client_msg_id, text,
                            new_text=text)

    # ------------------------------------------------------------------ history

    def _history(self, session: Session, frame: GetHistory) -> list[Action]:
        if any(v is not None and not 0 <= v < MAX_SEQ for v in (frame.before, frame.after)):
            return [self._error(session, frame, ErrorCode.BAD_REQUEST,
                                "before/after must be between 0 and 2^63-1")]
        kind, _, target = frame.conversation.partition(":")
        if kind == "user":
            if not self._resolve([target])[0]:
                return [self._error(session, frame, ErrorCode.UNKNOWN_USER,
                                    f"no such user: {target[:40]}")]
        elif kind == "group":
            try:
                self.groups.member_group(session.user, target)
            except RuleError as exc:
                # A former member reads what came while a member (the store's query keeps
                # to the membership spans): a device that missed some fills the gap.
                if not self.store.was_member(session.user, target):
                    return [self._error(session, frame, exc.code, exc.message)]
        elif frame.conversation != "everyone":
            return [self._error(session, frame, ErrorCode.BAD_REQUEST,
                                "conversation is 'everyone', 'user:<name>' or 'group:<name>'")]
        limit = max(1, min(frame.limit, 500))
        rows = self.store.history(session.user, frame.conversation, before=frame.before,
                                  after=frame.after, limit=limit + 1)
        more = len(rows) > limit
        if more:
            rows = rows[:limit] if frame.after is not None else rows[1:]
        assert session.key is not None
        grp_key = EVERYONE_KEY if kind == "everyone" else name_key(target) \
            if kind == "group" else pair_key(session.key, name_key(target))
        read_upto = self.store.read_upto(grp_key, session.key) or None
        read_seqs = self.store.read_among(session.key, [
            m.seq for m in rows if m.scope == "multicast" and name_key(m.sender) != session.key
            and m.notice is None]) if kind == "user" else []
        return [Out(session.conn, Ok(id=frame.id, messages=[_message_frame(m) for m in rows],
                                     more=more, read_upto=read_upto,
                                     read_seqs=read_seqs or None))]

    # ------------------------------------------------------------------ groups

    def _notice(self, group: Group, actor: str, notice: str, text: str,
                extra: Sequence[str] = ()) -> list[Action]:
        """Store a system notice in ``group``'s conversation for its members (and ``extra``
        users), and deliver it to those online."""
        keys = list(dict.fromkeys([name_key(m) for m in (*group.members, *extra)]))
        stored, _ = self.store.store_message(
            sender=actor, client_msg_id="notice-" + time_ordered_id(), scope="group", text=text,
            recipients=[], recipient_keys=keys, group=group.name, notice=notice)
        return self._to_users(keys, _message_frame(stored))

    def _update(self, group: Group, extra: Sequence[str] = (),
                gone: Sequence[str] = ()) -> list[Action]:
        """``group_update`` to members and invitees (and ``extra``); ``gone=True`` to ``gone``."""
        info = group.info()
        keys = list(dict.fromkeys(name_key(u) for u in (*group.members, *group.invited, *extra)
                                  if u not in gone))
        actions = self._to_users(keys, GroupUpdate(group=info))
        actions += self._to_users([name_key(u) for u in gone], GroupUpdate(group=info, gone=True))
        return actions

    def _invitations(self, group: Group, by: str, users: list[str]) -> list[Action]:
        event = GroupInvitation(group=group.info(), by=by, ts=self._clock())
        return self._to_users([name_key(u) for u in users], event)

    def _resolve_users(self, session: Session, frame: msgspec.Struct,
                       names: list[str]) -> list[str]:
        found, unknown = self._resolve(names)
        if unknown:
            raise RuleError(ErrorCode.UNKNOWN_USER, _no_such_users(unknown))
        return found

    def _group_create(self, session: Session, frame: GroupCreate) -> list[Action]:
        invitees = self._resolve_users(session, frame, frame.invite)
        group = self.groups.create(session.user, frame.group, invitees, frame.public)
        if self.log_budget.allow(session.block):
            log.info("%s created group %s (%s)", session.user, group.name,
                     "public" if group.public else "invite-only")
        actions: list[Action] = [Out(session.conn, Ok(id=frame.id, group=group.info()))]
        actions += self._notice(group, session.user, "created",
                                f"{session.user} created the group")
        actions += self._invitations(group, session.user, list(group.invited))
        # The creator's other sessions (another computer) list it too: they got only the
        # notice, and the group was missing from their Groups list (a hunt).
        update = GroupUpdate(group=group.info())
        actions += [a for a in self._to_users([session.key or ""], update)
                    if a.conn != session.conn]  # type: ignore[union-attr]
        return actions

    def _group_invite(self, session: Session, frame: GroupInvite) -> list[Action]:
        self.groups.member_group(session.user, frame.group)
        users = self._resolve_users(session, frame, frame.users)
        group, new = self.groups.invite(session.user, frame.group, users)
        actions: list[Action] = [Out(session.conn, Ok(id=frame.id, group=group.info()))]
        if new:
            actions += self._notice(group, session.user, "invited",
                                    f"{session.user} invited {', '.join(new)}")
            actions += self._invitations(group, session.user, new)
            actions += self._update(group)
        return actions

    def _group_accept(self, session: Session, frame: GroupAccept | GroupJoin) -> list[Action]:
        if isinstance(frame, GroupAccept):
            group = self.groups.accept(session.user, frame.group)
        else:
            group = self.groups.join(session.user, frame.group)
        actions: list[Action] = [Out(session.conn, Ok(id=frame.id, group=group.info()))]
        actions += self._notice(group, session.user, "joined", f"{session.user} joined")
        actions += self._update(group)
        return actions

    def _group_decline(self, session: Session, frame: GroupDecline) -> list[Action]:
        group = self.groups.decline(session.user, frame.group)
        actions: list[Action] = [Out(session.conn, Ok(id=frame.id))]
        actions += self._notice(group, session.user, "declined",
                                f"{session.user} declined the invitation")
        actions += self._update(group, gone=[session.user])
        return actions

    def _group_leave(self, session: Session, frame: GroupLeave | GroupRemove) -> list[Action]:
        if isinstance(frame, GroupLeave):
            who = session.user
            left: Left = self.groups.leave(session.user, frame.group)
            text, notice = f"{who} left", "left"
        else:
            (who,) = self._resolve_users(session, frame, [frame.user])
            left = self.groups.remove(session.user, frame.group, who)
            text, notice = f"{session.user} removed {who}", "removed"
        group = left.group
        actions: list[Action] = [Out(session.conn, Ok(id=frame.id))]
        if left.dissolved:
            if self.log_budget.allow(session.block):
                log.info("group %s dissolved", group.name)
            actions += self._update(group, gone=[who, *group.invited])
            # Stored for the leaver: the account's other computers learn from their
            # catch-up that it ended (the update above reaches only the sessions of now).
            actions += self._notice(group, who, "ended", f"{who} left; the group ended",
                                    extra=[who])
            return actions
        actions += self._notice(group, session.user, notice, text, extra=[who])
        if left.new_leader:
            actions += self._notice(group, left.new_leader, "leader",
                                    f"{left.new_leader} is the new leader")
        actions += self._update(group, gone=[who])
        return actions

    def _conversations(self, session: Session, frame: GetConversations) -> list[Action]:
        """The account's conversations (:meth:`Store.conversations`): asked once per login
        by an app, and it costs a query per group and pair of the account, so a session
        may ask at most once every :data:`CONVERSATIONS_INTERVAL` seconds."""
        now = time.monotonic()
        wait = session.conversations_at + CONVERSATIONS_INTERVAL - now
        if wait > 0:
            return [Out(session.conn, Error(
                id=frame.id, code=ErrorCode.RATE_LIMITED, retry_after=math.ceil(wait),
                message=f"conversations at most once every {CONVERSATIONS_INTERVAL:g} s"))]
        found = self.store.conversations(session.user, frame.after)
        # (after the query: one refused for now, the database locked, must not make the
        # app's asking again wait 10 s more; a hunt)
        session.conversations_at = now
        return [Out(session.conn, Ok(id=frame.id, conversations=[
            ConversationEntry(conversation=name, seq=seq) for name, seq in found]))]

    def _groups_list(self, session: Session, frame: GetGroups) -> list[Action]:
        groups = [g.info(session.user) for g in self.groups.visible_to(session.user)]
        return [Out(session.conn, Ok(id=frame.id, groups=groups))]

    # ------------------------------------------------------------------ transfers

    def _observed(self, session: Session, endpoint: Endpoint) -> list[Endpoint]:
        """The endpoint as reported, plus the session's address with the reported port."""
        seen = Endpoint(host=session.host, port=endpoint.port)
        return [endpoint] if seen == endpoint else [endpoint, seen]

    @staticmethod
    def _relayable(**fields: str) -> None:
        """Strings the server passes on to the other party of a transfer stay short (a MIME
        type, a host, a fingerprint, a reason for people): RuleError(bad_request) naming the
        field otherwise, so one client cannot push near-``max_frame`` strings at another."""
        for name, value in fields.items():
            if len(value) > RELAYED_STRING_MAX:
                raise RuleError(ErrorCode.BAD_REQUEST,
                                f"{name} is longer than {RELAYED_STRING_MAX} characters")

    def _transfer_offer(self, session: Session, frame: TransferOffer) -> list[Action]:
        self.transfers.check(frame.name, frame.size, frame.sha256)
        self._relayable(mime=frame.mime, host=frame.endpoint.host, resumes=frame.resumes or "")
        found, unknown = self._resolve([frame.to])
        if unknown:
            raise RuleError(ErrorCode.UNKNOWN_USER, f"no such user: {unknown[0]}")
        recipient = found[0]
        group = None
        if frame.group is not None:
            try:
                group = self.groups.member_group(session.user, frame.group).name
                if not self.groups.get(group).is_member(recipient):
                    raise RuleError(ErrorCode.NOT_MEMBER,
                                    f"{recipient} is not a member of {group}")
            except RuleError:
                if not frame.resumes:
                    raise
                group = None  # a Resume goes all the same: its card is there already

        entry = self.online.get(name_key(recipient))
        if entry is None:
            raise RuleError(ErrorCode.USER_OFFLINE,
                             f"{recipient} is offline: files go peer to peer, so both of you "
                             "must be online")
        root = self._replaced(session, recipient, frame) if frame.resumes else ""
        t = self.transfers.offer(session.user, recipient, frame.name, frame.size, frame.sha256)
        t.root = root
        mine = self.online.get(session.key or "")
        t.offered_from = session.conn
        t.sender_elsewhere = frozenset(mine.conns - {session.conn}) if mine else frozenset()
        if self.log_budget.allow(session.block):  # (at the send rate)
            # Not the file's name: it is what people send, as a message's text is, and the
            # server keeps it nowhere else (it listed every file by name: a privacy hunt).
            log.info("transfer %s: %s offers a file (%d bytes) to %s", t.transfer_id,
                     session.user, frame.size, recipient)
        event = TransferOffered(transfer_id=t.transfer_id, sender=session.user, name=frame.name,
                                size=frame.size, sha256=frame.sha256, mime=frame.mime,
                                endpoints=self._observed(session, frame.endpoint),
                                ts=self._clock(), secret=t.secret, resumes=frame.resumes,
                                group=group)
        t.offered = event
        return [Out(session.conn, Ok(id=frame.id, transfer_id=t.transfer_id, secret=t.secret)),
                *self._to_users([name_key(recipient)], event)]

    def _replaced(self, session: Session, recipient: str, frame: TransferOffer) -> str:
        """A Resume's offer replaces the attempt it names (``frame.resumes``): that one is
        closed, so resuming again and again does not fill the sender's cap of open offers.
        Only an open transfer of the same sender, recipient and file; anything else is left
        alone (the offer is made all the same). Returns the first attempt of the chain of
        resumes (the one a device that saw none of the later ones still shows)."""
        sender = session.user or ""
        try:
            old = self.transfers.get(sender, frame.resumes or "")
        except RuleError:
            return frame.resumes or ""
        if name_key(old.sender) == name_key(sender) and old.sha256 == frame.sha256 and \
                name_key(old.recipient) == name_key(recipient):
            self.transfers.close(sender, old.transfer_id)
            if self.log_budget.allow(session.block):
                log.info("transfer %s: replaced by a resumed offer", old.transfer_id)
            return old.root or old.transfer_id
        return frame.resumes or ""

    def _transfer_accept(self, session: Session, frame: TransferAccept) -> list[Action]:
        self._relayable(fingerprint=frame.fingerprint, host=frame.endpoint.host)
        entry = self.online.get(name_key(session.user))
        offer = self.transfers.get(session.user, frame.transfer_id)
        if name_key(offer.sender) not in self.online:
            # The offer stays open (the sender's app withdraws it at its next login, or a
            # Resume replaces it), but nobody could send it now: the recipient's card waited
            # 30 s for a connection that could not come (a hunt).
            raise RuleError(ErrorCode.USER_OFFLINE,
                            f"{offer.sender} is offline: files go peer to peer, so both of "
                            "you must be online")
        sender = self.online[name_key(offer.sender)]
        if not offer.accepted and offer.offered_from not in sender.conns and \
                sender.conns <= offer.sender_elsewhere:
            # Likewise when the app that made the offer is gone (quit, logged out) and the
            # sender is online only on devices that were logged in already when it was made:
            # they never had it (relayed to them, the card waited 30 s; a hunt). A session
            # that logs in later may be that app back, and takes the accept as before.
            raise RuleError(ErrorCode.USER_OFFLINE,
                            f"the app of {offer.sender} that offered this file is not "
                            f"connected ({offer.sender} is online on another device only)")
        t = self.transfers.accept(session.user, frame.transfer_id, session.conn,
                                  entry.conns if entry is not None else (), frame.offset)
        event = TransferAccepted(transfer_id=t.transfer_id, user=session.user,
                                 endpoints=self._observed(session, frame.endpoint),
                                 fingerprint=frame.fingerprint, offset=frame.offset)
        return [Out(session.conn, Ok(id=frame.id, transfer_id=t.transfer_id, secret=t.secret)),
                *self._to_users([name_key(t.sender)], event),
                *self._to_other_sessions(session, TransferCancelled(
                    transfer_id=t.transfer_id, user=session.user,
                    reason="accepted on another device"))]

    def _to_other_sessions(self, session: Session, frame: msgspec.Struct) -> list[Action]:
        """``frame`` to the other sessions of ``session``'s account (its other devices)."""
        entry = self.online.get(session.key)
        return [Out(c, frame) for c in entry.conns if c != session.conn] \
            if entry is not None else []

    def _transfer_close(self, session: Session,
                        frame: TransferDecline | TransferCancel) -> list[Action]:
        declining = isinstance(frame, TransferDecline)
        self._relayable(reason=frame.reason)
        t = self.transfers.close(session.user, frame.transfer_id, recipient_only=declining)
        other = t.other(session.user)
        event: msgspec.Struct
        if declining:
            event = TransferDeclined(transfer_id=t.transfer_id, user=session.user,
                                     reason=frame.reason)
        else:
            event = TransferCancelled(transfer_id=t.transfer_id, user=session.user,
                                      reason=frame.reason)
        actions: list[Action] = [Out(session.conn, Ok(id=frame.id)),
                                 *self._to_users([name_key(other)], event)]
        missed: list[msgspec.Struct] = []
        if t.accepted and name_key(other) not in self.online:
            # An accepted transfer ended while the other side is away (its card waits to
            # continue, its partial file kept): it learns it at its next login.
            missed.append(event)
        if not declining and t.root and name_key(other) == name_key(t.recipient):
            # A resume cancelled: a device of the recipient that was away through the
            # resumes shows the first attempt still, waiting to continue: told at its login.
            missed.append(TransferCancelled(transfer_id=t.root, user=session.user,
                                            reason=frame.reason))
        if missed:
            kept = self._missed_transfer_events.setdefault(name_key(other), [])
            kept += missed[:max(0, MISSED_TRANSFER_EVENTS - len(kept))]
        if name_key(t.recipient) == session.key:
            # The recipient's other devices show the offer too: it is settled here.
            verb = "declined" if declining else "cancelled"
            actions += self._to_other_sessions(session, TransferCancelled(
                transfer_id=t.transfer_id, user=session.user,
                reason=f"{verb} on another device"))
        return actions

    _handlers: dict[type, Callable[..., list[Action]]] = {  # (and _COUNTED below)
        TransferOffer: _transfer_offer,
        TransferAccept: _transfer_accept,
        TransferDecline: _transfer_close,
        TransferCancel: _transfer_close,
        GroupCreate: _group_create,
        GroupInvite: _group_invite,
        GroupAccept: _group_accept,
        GroupJoin: _group_accept,
        GroupDecline: _group_decline,
        GroupLeave: _group_leave,
        GroupRemove: _group_leave,
        GetGroups: _groups_list,
        GetConversations: _conversations,
    }

    def _resolve_keys(self, names: list[str]) -> tuple[list[str], list[str], list[str]]:
        """:meth:`_resolve`, plus the keys of the names found. One known name (a unicast) is
        answered from a cache of exact spellings (accounts are never renamed or deleted)."""
        if len(names) == 1:
            account = self._spellings.get(names[0])  # type: ignore[call-overload]
            if account is not None:
                return [account.name], [account.key], []
        found, unknown = self._resolve(names)
        if len(names) == 1 and found:
            if len(self._spellings) >= 10_000:  # bounded: a client may vary the case at will
                self._spellings.clear()
            account = self.store.account(found[0])
            assert account is not None
            self._spellings[names[0]] = account
        return found, [name_key(n) for n in found], unknown

    def _resolve(self, names: list[str]) -> tuple[list[str], list[str]]:
        """Canonical names of ``names`` (deduplicated, order kept) and the unknown ones."""
        found: list[str] = []
        unknown: list[str] = []
        seen: set[str] = set()
        for name in names:
            key = name_key(name) if isinstance(name, str) else ""
            if key in seen:
                continue
            seen.add(key)
            account = self.store.account(name) if is_valid_name(name) else None
            if account is None:
                unknown.append(str(name)[:40])
            else:
                found.append(account.name)
        return found, unknown

    # ------------------------------------------------------------------ helpers

    def _error(self, session: Session, frame: msgspec.Struct, code: ErrorCode,
               message: str) -> Out:
        request_id = getattr(frame, "id", None)
        if self.log_budget.allow(session.block):  # (300 pings before hello: 300 lines)
            # Cut, as protocol errors are: the budget counts lines, and one line of 800 KB
            # a request rotated the log away in a second (a hunt).
            log.info("%s → %s: %s", session.user or session.address, code,
                     message if len(message) <= LOGGED_ERROR_CHARS
                     else message[:LOGGED_ERROR_CHARS] + "…")
        return Out(session.conn, Error(code=code, message=message, id=request_id))


def _no_such_users(unknown: list[str]) -> str:
    """The message of an ``unknown_user`` error for the ``unknown`` names (each cut to 40
    characters already): the first :data:`UNKNOWN_NAMES_LISTED`, then how many more."""
    listed = ", ".join(unknown[:UNKNOWN_NAMES_LISTED])
    more = len(unknown) - UNKNOWN_NAMES_LISTED
    return f"no such user: {listed}" + (f" and {more:,} more" if more > 0 else "")


def _receipt_frame(r: StoredReceipt) -> Receipt | ReceiptCount:
    if r.counts is not None:
        delivered, read, recipients = r.counts
        return ReceiptCount(rid=r.rid, seq=r.seq, delivered=delivered, read=read,
                            recipients=recipients, ts=r.ts)
    return Receipt(rid=r.rid, seq=r.seq, user=r.user, state=r.state,  # type: ignore[arg-type]
                   ts=r.ts)


def _frame_estimate(m: StoredMessage) -> int:
    """Roughly the bytes of ``m``'s ``message`` frame: the UTF-8 of its text, about 32 a
    recipient and 160 for the other fields."""
    return len(m.text.encode()) + 32 * len(m.recipients or ()) + 160


def _message_frame(m: StoredMessage) -> Message:
    return Message(seq=m.seq, ts=m.ts, sender=m.sender, scope=m.scope,  # type: ignore[arg-type]
                   text=m.text, client_msg_id=m.client_msg_id, to=m.recipients, group=m.group,
                   notice=m.notice, replaces=m.replaces, edited=m.edited)


CONVERSATIONS_INTERVAL = 10.0
"""Seconds a session waits between two ``conversations`` requests."""

_COUNTED = frozenset({TransferOffer, GroupCreate, GroupInvite, GroupAccept, GroupJoin,
                      GroupDecline, GroupLeave, GroupRemove})
"""Requests that take from the sender's flood-control bucket like a ``send``: each stores a
group notice or tells other people (a join/leave loop flooded every member with notices)."""
