"""The app's engine without widgets: log in, keep the roster and conversations, send and
receive chat messages.

:class:`ClientEngine` owns a :class:`~messenger.client.connection.ClientConnection` (the only
socket), a :class:`~messenger.client.models.RosterModel` and one
:class:`~messenger.client.models.ConversationModel` per conversation. Widgets call its methods
and listen to its signals; they never see a socket.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal

from ..protocol import (
    Delivered,
    Error,
    ErrorCode,
    Hello,
    Login,
    Logout,
    Message,
    Ok,
    Presence,
    Register,
    Send,
)
from ..protocol.names import name_key
from .connection import ClientConnection, ConnectionErrorCode, ConnectionState
from .conversations import EVERYONE, EVERYONE_TITLE, Placement, place_incoming, place_outgoing
from .models import ChatItem, ConversationModel, DeliveryState, MessageKind, RosterModel
from .pins import PinStore

log = logging.getLogger("messenger.client.engine")

NOT_CONNECTED = "not_connected"
"""Client-side code of :attr:`ClientEngine.request_failed` when there is no session."""


@dataclass
class _Request:
    kind: str  # "login" | "register" | "send" | "logout"
    keys: list[str] = field(default_factory=list)
    client_msg_id: str = ""
    user: str = ""


class ClientEngine(QObject):
    """One user's session with one server.

    Args:
        pins: the TOFU pin store (default: the user's config dir).
        connect_timeout_ms: see :class:`ClientConnection`.

    Attributes:
        roster: :class:`RosterModel` of every other account.
        user: the canonical name once logged in, else "".

    Signals:
        state_changed(ConnectionState): the connection or login state changed.
        connection_failed(str, str): ``(code, message)``: unreachable, timeout, tls,
            certificate_changed, protocol or closed (see :class:`ConnectionErrorCode`).
        fingerprint_pinned(str): first contact with this server: its fingerprint is now pinned.
        fingerprint_verified(str): the server's fingerprint matched its pin.
        login_succeeded(str): logged in (or registered) as this canonical name.
        login_failed(str, str): ``(code, message)`` of a refused login/register (protocol codes
            such as ``bad_credentials``, ``locked_out``, ``name_taken``).
        presence_changed(str, bool): ``(user, online)``.
        conversation_added(str): a conversation model with this key was created.
        message_received(str, object): ``(key, ChatItem)`` for someone else's new message.
        message_acked(str, int, float): ``(client_msg_id, seq, ts)`` of an own message.
        request_failed(str, str, str): ``(key, code, message)``: a request in conversation
            ``key`` was refused (the error is also added to that conversation).
        unread_changed(str, int): ``(key, count)``.
        logged_out(): the session ended at our request.
    """

    state_changed = Signal(object)
    connection_failed = Signal(str, str)
    fingerprint_pinned = Signal(str)
    fingerprint_verified = Signal(str)
    login_succeeded = Signal(str)
    login_failed = Signal(str, str)
    presence_changed = Signal(str, bool)
    conversation_added = Signal(str)
    message_received = Signal(str, object)
    message_acked = Signal(str, int, float)
    request_failed = Signal(str, str, str)
    unread_changed = Signal(str, int)
    logged_out = Signal()

    def __init__(self, parent: QObject | None = None, *, pins: PinStore | None = None,
                 connect_timeout_ms: int | None = None) -> None:
        super().__init__(parent)
        kwargs: dict[str, Any] = {"pins": pins}
        if connect_timeout_ms is not None:
            kwargs["connect_timeout_ms"] = connect_timeout_ms
        self._conn = ClientConnection(self, **kwargs)
        self._conn.state_changed.connect(self.state_changed)
        self._conn.ready.connect(self._on_ready)
        self._conn.frame_received.connect(self._on_frame)
        self._conn.failed.connect(self._on_failed)
        self._conn.fingerprint_pinned.connect(self._on_pinned)
        self._conn.fingerprint_verified.connect(self.fingerprint_verified)
        self.roster = RosterModel(self)
        self.user = ""
        self._next_id = 1
        self._requests: dict[int, _Request] = {}
        self._queued_auth: _Request | None = None
        self._queued_password = ""
        self._conversations: dict[str, ConversationModel] = {}
        self._unread: dict[str, int] = {}
        self._seen_seqs: set[int] = set()
        self.conversation(EVERYONE, EVERYONE_TITLE)

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
    def fingerprint(self) -> str | None:
        """The server certificate's fingerprint once known."""
        return self._conn.fingerprint

    @property
    def pins(self) -> PinStore:
        return self._conn.pins

    @property
    def logged_in(self) -> bool:
        return self._conn.state is ConnectionState.LOGGED_IN

    def conversation(self, key: str, title: str | None = None) -> ConversationModel:
        """The model of conversation ``key``, created (titled ``title`` or ``key``) if new."""
        model = self._conversations.get(key)
        if model is None:
            model = ConversationModel(key, title or key, self)
            self._conversations[key] = model
            self.conversation_added.emit(key)
        return model

    def conversation_keys(self) -> list[str]:
        return list(self._conversations)

    def unread(self, key: str) -> int:
        return self._unread.get(key, 0)

    # ------------------------------------------------------------------ commands

    def connect_to(self, host: str, port: int) -> None:
        """Connect to ``host:port`` (dropping any current session)."""
        self._reset_session()
        self._conn.connect_to_host(host, port)

    def login(self, user: str, password: str) -> None:
        """Log in; if still connecting, the request is sent once the handshake is done.
        Answered by ``login_succeeded`` or ``login_failed`` (or ``connection_failed``)."""
        self._authenticate(_Request("login", user=user), password)

    def register(self, user: str, password: str) -> None:
        """Create an account and log in to it; answered like :meth:`login`."""
        self._authenticate(_Request("register", user=user), password)

    def logout(self) -> None:
        """End the session; the connection closes once the server has answered."""
        if self.logged_in:
            self._request(Logout(id=self._take_id()), _Request("logout"))
        else:
            self._conn.close()

    def close(self) -> None:
        """Log out if logged in and close the connection at once (used when the app quits)."""
        if self.logged_in:
            self._conn.send(Logout(id=self._take_id()))
        self._conn.close()

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

    def send_to(self, key: str, text: str) -> str | None:
        """Send ``text`` into conversation ``key`` (a peer's or :data:`EVERYONE`)."""
        if key == EVERYONE:
            return self.send_broadcast(text)
        return self.send_unicast(self.conversation(key).title, text)

    def mark_read(self, key: str) -> None:
        """The user has seen conversation ``key``: its unread count drops to zero."""
        self._set_unread(key, 0)

    # ------------------------------------------------------------------ internals

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

    def _reset_session(self) -> None:
        self.user = ""
        self._requests.clear()
        self._queued_auth = None
        self._queued_password = ""

    def _authenticate(self, req: _Request, password: str) -> None:
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
        cls = Login if req.kind == "login" else Register
        log.info("%s as %s", req.kind, req.user)
        self._conn.set_logging_in()
        self._request(cls(id=self._take_id(), user=req.user, password=password), req)

    def _on_ready(self, hello: Hello) -> None:
        req, password = self._queued_auth, self._queued_password
        self._queued_auth, self._queued_password = None, ""
        if req is not None:
            self._authenticate(req, password)

    def _on_pinned(self, fingerprint: str) -> None:
        self.conversation(EVERYONE).add_notice(
            f"First connection to {self.host}:{self.port}: its certificate (SHA-256 "
            f"{fingerprint}) is now pinned; a different one will be refused.")
        self.fingerprint_pinned.emit(fingerprint)

    def _on_failed(self, code: str, message: str) -> None:
        was_logged_in = bool(self.user)
        self._queued_auth, self._queued_password = None, ""
        for req in self._requests.values():
            if req.kind == "send":
                for key in req.keys:
                    self.conversation(key).mark_failed(req.client_msg_id)
        self._requests.clear()
        if was_logged_in:
            self.conversation(EVERYONE).add_notice(f"Disconnected: {message}", error=True)
        self.user = ""
        self.connection_failed.emit(code, message)

    def _on_frame(self, frame: Any) -> None:
        if isinstance(frame, Message):
            self._on_message(frame)
        elif isinstance(frame, Presence):
            self._on_presence(frame)
        elif isinstance(frame, Ok):
            self._on_ok(frame)
        elif isinstance(frame, Error):
            self._on_error(frame)
        else:
            log.debug("ignoring %s", type(frame).__name__)

    def _on_ok(self, ok: Ok) -> None:
        req = self._requests.pop(ok.id, None)
        if req is None:
            log.warning("ok for unknown request id %s", ok.id)
            return
        if req.kind in ("login", "register"):
            self.user = ok.user or req.user
            me = name_key(self.user)
            entries = [(e.name, e.online) for e in (ok.roster or []) if name_key(e.name) != me]
            self.roster.set_roster(entries)
            for key, count in self._unread.items():
                if key != EVERYONE and count:
                    title = self.conversation(key).title
                    self.roster.set_unread(title, count)
            log.info("logged in to %s:%d as %s", self.host, self.port, self.user)
            self._conn.set_logged_in(True)
            self.conversation(EVERYONE).add_notice(
                f"Logged in to {self.host}:{self.port} as {self.user}.")
            self.login_succeeded.emit(self.user)
        elif req.kind == "send":
            if ok.seq is None:
                log.warning("send ack without seq for %s", req.client_msg_id)
                return
            ts = ok.ts if ok.ts is not None else 0.0
            self._seen_seqs.add(ok.seq)
            for key in req.keys:
                self.conversation(key).mark_sent(req.client_msg_id, ok.seq, ts)
            self.message_acked.emit(req.client_msg_id, ok.seq, ts)
        elif req.kind == "logout":
            log.info("logged out")
            self.user = ""
            self._conn.close()
            self.logged_out.emit()

    def _on_error(self, err: Error) -> None:
        req = self._requests.pop(err.id, None) if err.id is not None else None
        message = err.message
        if err.code == ErrorCode.LOCKED_OUT and err.retry_after is not None \
                and "second" not in message:
            message = f"{message} Try again in {err.retry_after:.0f} s."
        if req is None:
            log.warning("server error %s: %s", err.code, err.message)
            self.conversation(EVERYONE).add_notice(f"Server error: {message}", error=True)
            self.request_failed.emit(EVERYONE, err.code, message)
            return
        if req.kind in ("login", "register"):
            log.info("%s as %s refused: %s", req.kind, req.user, err.code)
            self._conn.set_logged_in(False)
            self.login_failed.emit(err.code, message)
        elif req.kind == "send":
            for key in req.keys:
                model = self.conversation(key)
                model.mark_failed(req.client_msg_id)
                model.add_notice(f"Not sent: {message}", error=True)
                self.request_failed.emit(key, err.code, message)
        else:
            self.request_failed.emit(EVERYONE, err.code, message)

    def _on_presence(self, p: Presence) -> None:
        if self.user and name_key(p.user) == name_key(self.user):
            return
        before = self.roster.contact(p.user)
        self.roster.set_online(p.user, p.online)
        model = self._conversations.get(name_key(p.user))
        if model is not None and (before is None or before.online != p.online):
            model.add_notice(f"{p.user} is {'online' if p.online else 'offline'}.")
        self.presence_changed.emit(p.user, p.online)

    def _on_message(self, m: Message) -> None:
        # Acknowledge first: even a duplicate must stop the server from redelivering it.
        self._conn.send(Delivered(seqs=[m.seq]))
        if m.seq in self._seen_seqs:
            log.debug("duplicate message seq %d", m.seq)
            return
        self._seen_seqs.add(m.seq)
        own = bool(self.user) and name_key(m.sender) == name_key(self.user)
        for place in place_incoming(self.user or m.sender, m.sender, m.scope, m.to):
            model = self.conversation(place.key, place.title)
            if own and model.has_client_id(m.client_msg_id):
                continue
            item = ChatItem(MessageKind.OWN if own else MessageKind.OTHER, m.sender, m.text,
                            ts=m.ts, seq=m.seq, client_msg_id=m.client_msg_id, also=place.also)
            if not model.append(item):
                continue
            if not own:
                self._set_unread(place.key, self._unread.get(place.key, 0) + 1)
                self.message_received.emit(place.key, item)

    def _send(self, scope: str, to: list[str], text: str) -> str | None:
        if not text.strip():
            return None
        places: list[Placement] = place_outgoing(self.user, scope, to)
        client_msg_id = uuid.uuid4().hex
        for place in places:
            self.conversation(place.key, place.title).append(ChatItem(
                MessageKind.OWN, self.user, text, state=DeliveryState.PENDING,
                client_msg_id=client_msg_id, also=place.also))
        keys = [p.key for p in places]
        frame = Send(id=self._take_id(), client_msg_id=client_msg_id, scope=scope,  # type: ignore[arg-type]
                     text=text, to=to)
        if not self.logged_in or not self._request(
                frame, _Request("send", keys=keys, client_msg_id=client_msg_id)):
            for key in keys:
                model = self.conversation(key)
                model.mark_failed(client_msg_id)
                model.add_notice("Not sent: not connected to the server.", error=True)
                self.request_failed.emit(key, NOT_CONNECTED, "Not connected to the server.")
            return None
        return client_msg_id

    def _set_unread(self, key: str, count: int) -> None:
        if self._unread.get(key, 0) == count:
            return
        self._unread[key] = count
        if key != EVERYONE:
            self.roster.set_unread(self.conversation(key).title, count)
        self.unread_changed.emit(key, count)


__all__ = ["ClientEngine", "ConnectionErrorCode", "ConnectionState"]
