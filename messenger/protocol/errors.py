"""Stable error codes of the Messenger wire protocol.

Every ``error`` frame carries one of these codes in ``code``. Codes are part of the protocol:
they never change meaning and are never reused. Human-readable text travels beside them in
``message`` and may change at any time, so clients branch on ``code`` only.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """Error codes carried by ``error`` frames (see ``docs/protocol.md`` § Errors)."""

    # Framing and decoding
    BAD_FRAME = "bad_frame"
    """The frame is not valid JSON, or not a JSON object. The connection stays open."""
    FRAME_TOO_LARGE = "frame_too_large"
    """The length prefix is zero or above the server's maximum. The connection is closed."""
    UNKNOWN_TYPE = "unknown_type"
    """The frame's ``type`` is not one this side knows. The connection stays open."""
    BAD_REQUEST = "bad_request"
    """A known ``type`` with missing or ill-typed fields. The connection stays open."""

    # Session
    VERSION_MISMATCH = "version_mismatch"
    """``hello.protocol_version`` is not supported. The connection is closed."""
    HELLO_REQUIRED = "hello_required"
    """A frame other than ``hello`` arrived first."""
    NOT_LOGGED_IN = "not_logged_in"
    """The request needs a logged-in session."""
    ALREADY_LOGGED_IN = "already_logged_in"
    """``login``/``register`` on a session that is already logged in."""

    # Accounts
    INVALID_NAME = "invalid_name"
    """A user or group name outside 1–32 characters of ``[A-Za-z0-9_.-]``."""
    INVALID_PASSWORD = "invalid_password"
    """A password shorter than 6 or longer than 1024 characters."""
    NAME_TAKEN = "name_taken"
    """An account with that name (ignoring case) exists already."""
    BAD_CREDENTIALS = "bad_credentials"
    """Wrong user name or wrong password: deliberately the same code for both."""
    LOCKED_OUT = "locked_out"
    """Too many consecutive failed logins; ``retry_after`` gives the seconds left."""
    PASSWORD_CHANGED = "password_changed"
    """Sent (without ``id``) to the account's other sessions when its password was changed;
    the server then closes them. Their apps must not log in again with the old password."""

    # Messaging
    UNKNOWN_USER = "unknown_user"
    """A recipient does not exist."""
    MESSAGE_TOO_LONG = "message_too_long"
    """``text`` is longer than the server's limit."""
    EMPTY_MESSAGE = "empty_message"
    """``text`` is empty or whitespace only."""
    UNKNOWN_MESSAGE = "unknown_message"
    """``retract``: no chat message of yours has that ``seq``."""
    NOT_MEMBER = "not_member"
    """The sender (or the named user) is not a member of the group."""
    UNKNOWN_GROUP = "unknown_group"
    """The group does not exist."""
    GROUP_CHANGED = "group_changed"
    """A group ``send`` with ``group_created``: the group of that name now was created at
    another time (the one written to was dissolved, and its name taken again)."""
    ALREADY_MEMBER = "already_member"
    """The user is a member of the group already."""
    NOT_LEADER = "not_leader"
    """Only the group's leader may do this (remove; invite in an invite-only group)."""
    NOT_INVITED = "not_invited"
    """Accept/decline/join of an invite-only group without an invitation."""
    USER_OFFLINE = "user_offline"
    """The recipient of a peer-to-peer offer is not online."""
    UNKNOWN_TRANSFER = "unknown_transfer"
    """No such transfer, or not one of yours, or it is over."""
    ACCEPTED_ELSEWHERE = "accepted_elsewhere"
    """``transfer_accept`` of an offer that another session of the same user (another
    device) has accepted and is still logged in."""
    EDIT_CONFLICT = "edit_conflict"
    """An ``edit`` made on a text that was edited since (from another device): nothing
    changed."""
    RATE_LIMITED = "rate_limited"
    """The client sends faster than the server allows."""
    INTERNAL = "internal"
    """The server failed; the request may be retried."""
    LIMIT_REACHED = "limit_reached"
    """The request would pass a server limit that waiting does not lift: groups one
    account leads, invitations one person has waiting for an answer."""
    SERVER_STOPPING = "server_stopping"
    """Event (no ``id``): the server is stopping (a restart or maintenance) and closes the
    connection next; reconnect as after any closed link."""


class ProtocolError(Exception):
    """A violation of the wire protocol, carrying the :class:`ErrorCode` to report.

    Attributes:
        code: the stable code to send back in an ``error`` frame.
        fatal: True when the connection must be closed after reporting it.
    """

    def __init__(self, code: ErrorCode, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fatal = fatal


class FrameTooLarge(ProtocolError):
    """A length prefix of zero or above the configured maximum (fatal: the stream is lost)."""

    def __init__(self, length: int, limit: int) -> None:
        if length == 0:
            text = "zero-length frame"
        else:
            text = f"frame of {length} bytes exceeds the limit of {limit} bytes"
        super().__init__(ErrorCode.FRAME_TOO_LARGE, text, fatal=True)
        self.length = length
        self.limit = limit
