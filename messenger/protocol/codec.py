"""Framing and (de)serialisation: 4-byte big-endian length + one JSON object per frame.

Pure Python + msgspec; no I/O. :class:`FrameDecoder` is fed whatever bytes a socket produced and
yields complete payloads; :class:`Codec` turns payloads into typed messages and back.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import msgspec

from .errors import ErrorCode, FrameTooLarge, ProtocolError
from .messages import CLIENT_TYPES, SERVER_TYPES, ClientFrame, ServerFrame

HEADER = struct.Struct(">I")
"""The length prefix: unsigned 32-bit big-endian byte count of the JSON payload."""

DEFAULT_MAX_FRAME = 1 << 20
"""Default largest payload accepted, in bytes (1 MiB)."""

_encoder = msgspec.json.Encoder()


def encode_frame(message: msgspec.Struct) -> bytes:
    """Return ``message`` as one wire frame (length prefix + JSON)."""
    payload = _encoder.encode(message)
    return HEADER.pack(len(payload)) + payload


class FrameDecoder:
    """Incremental splitter of a byte stream into frame payloads.

    Args:
        max_frame: largest payload accepted, in bytes.

    ``feed(data)`` returns an iterator over the complete payloads now available (closing it
    early keeps the rest buffered for the next ``feed``). A zero or
    oversized length raises :class:`FrameTooLarge`; after that the stream cannot be re-synced
    and the decoder stays failed (every later ``feed`` raises again).
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._failed: FrameTooLarge | None = None

    @property
    def buffered(self) -> int:
        """Bytes held: a frame not complete yet, and frames not taken yet (see :meth:`append`)."""
        return len(self._buf)

    @property
    def ready(self) -> bool:
        """Whether a complete frame is buffered (or a length that makes the next
        :meth:`feed` raise)."""
        if len(self._buf) < 4:
            return self._failed is not None
        (length,) = HEADER.unpack_from(self._buf, 0)
        return length == 0 or length > self.max_frame or len(self._buf) >= 4 + length

    def append(self, data: bytes) -> None:
        """Buffer ``data`` without splitting it yet (``feed(b"")`` yields the frames)."""
        self._buf += data

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Add ``data`` and yield each complete payload, in order."""
        if self._failed is not None:
            raise self._failed
        self._buf += data
        buf = self._buf
        pos = 0
        try:
            while len(buf) - pos >= 4:
                (length,) = HEADER.unpack_from(buf, pos)
                if length == 0 or length > self.max_frame:
                    self._failed = FrameTooLarge(length, self.max_frame)
                    raise self._failed
                end = pos + 4 + length
                if end > len(buf):
                    break
                payload = bytes(buf[pos + 4 : end])
                pos = end
                yield payload
        finally:
            if pos:
                del buf[:pos]


_NULL = msgspec.Raw(b"null")
_UNREADABLE = object()
"""What :func:`_value` gives for a number msgspec cannot hold (``1e400``, an integer of more
than 4,300 digits) or a value nested too deeply."""


class _Envelope(msgspec.Struct):
    # Raw: a number out of range in them failed the whole envelope, and the frame was
    # answered "a frame must be a JSON object" (a hunt). _value reads them one by one.
    type: msgspec.Raw = _NULL
    id: msgspec.Raw = _NULL


def _value(raw: msgspec.Raw) -> object:
    """The JSON value ``raw`` of an :class:`_Envelope` field, or :data:`_UNREADABLE`."""
    try:
        return msgspec.json.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return _UNREADABLE


def _request_id(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Codec:
    """Typed decoding of payloads for one side of the connection.

    Args:
        frame_type: the union of Structs this side may *receive*.
        known_types: the ``type`` tags in that union.

    Use :meth:`for_server` (decodes client frames) or :meth:`for_client` (decodes server frames).
    """

    def __init__(self, frame_type: Any, known_types: frozenset[str]) -> None:
        self._decoder = msgspec.json.Decoder(frame_type)
        self._known = known_types

    @classmethod
    def for_server(cls) -> Codec:
        return cls(ClientFrame, CLIENT_TYPES)

    @classmethod
    def for_client(cls) -> Codec:
        return cls(ServerFrame, SERVER_TYPES)

    def decode(self, payload: bytes) -> Any:
        """Return the typed message in ``payload``.

        Raises:
            ProtocolError: ``bad_frame`` (not a JSON object, or nested too deeply),
                ``unknown_type`` or ``bad_request`` (known type, wrong fields). Its
                ``request_id`` attribute holds the frame's ``id`` when one could be read, so
                the reply can name the request.
        """
        try:
            return self._decoder.decode(payload)
        except msgspec.ValidationError as exc:
            err = self._classify(payload, str(exc))
            raise err from None
        except msgspec.DecodeError as exc:
            message, request_id = _malformed(payload, str(exc))
            err = ProtocolError(ErrorCode.BAD_FRAME, message)
            err.request_id = request_id  # type: ignore[attr-defined]
            raise err from None
        except RecursionError:  # msgspec recurses on nesting; thousands of [[[… exhaust it
            err = ProtocolError(ErrorCode.BAD_FRAME, "the JSON is nested too deeply")
            err.request_id = None  # type: ignore[attr-defined]
            raise err from None

    def _classify(self, payload: bytes, detail: str) -> ProtocolError:
        try:
            env = msgspec.json.decode(payload, type=_Envelope)
        except msgspec.ValidationError:
            err = ProtocolError(ErrorCode.BAD_FRAME, "a frame must be a JSON object")
            err.request_id = None  # type: ignore[attr-defined]
            return err
        except msgspec.DecodeError as exc:  # broken further on than what failed validation
            message, request_id = _malformed(payload, str(exc))
            err = ProtocolError(ErrorCode.BAD_FRAME, message)
            err.request_id = request_id  # type: ignore[attr-defined]
            return err
        except RecursionError:
            err = ProtocolError(ErrorCode.BAD_FRAME, "the JSON is nested too deeply")
            err.request_id = None  # type: ignore[attr-defined]
            return err
        kind, id_value = _value(env.type), _value(env.id)
        request_id = _request_id(id_value)
        if not isinstance(kind, str):
            err = ProtocolError(ErrorCode.BAD_FRAME, "a frame needs a string field 'type'")
        elif kind not in self._known:
            # (cut: the sender's text goes into the server's log, where 16 KiB ones wiped it)
            shown = kind if len(kind) <= 40 else kind[:40] + "…"
            err = ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {shown!r}")
        elif id_value is _UNREADABLE:
            err = ProtocolError(ErrorCode.BAD_REQUEST,
                                f"invalid {kind!r} message: id is not an integer in range")
        else:
            err = ProtocolError(ErrorCode.BAD_REQUEST, f"invalid {kind!r} message: {detail}")
        err.request_id = request_id  # type: ignore[attr-defined]
        return err


_LONE_SURROGATE = ("malformed JSON: a string holds a lone UTF-16 surrogate escape (one half "
                   "of a pair, such as \"\\ud83d\" alone), which is not valid Unicode")


def _malformed(payload: bytes, detail: str) -> tuple[str, int | None]:
    """The message and the request ``id`` of the ``bad_frame`` for a frame msgspec refused
    as malformed JSON (``detail``: its text).

    The ``id`` is the frame's integer ``id`` when a laxer reading finds one: invalid UTF-8
    inside a string, or a lone UTF-16 surrogate escape (``"\\ud83d"``), which Python's
    ``json`` writes and reads. Its ``bad_frame`` then names the request, which is answered
    like any other (protocol.md §3); None otherwise. A lone high surrogate is what msgspec
    calls "Input data was truncated": the message says what it is instead (a complete frame
    sent a developer looking for a framing bug; a hunt).
    """
    message = f"malformed JSON: {detail}"
    try:
        env = msgspec.json.decode(payload, type=_Envelope)  # skips the broken strings
        found = _value(env.id)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        try:
            obj = json.loads(payload.decode("utf-8", "surrogateescape"))
        except (ValueError, RecursionError):
            return message, None
        found = obj.get("id") if isinstance(obj, dict) else None
        if _is_utf8(payload) and _has_lone_surrogate(obj):
            message = _LONE_SURROGATE
    return message, _request_id(found)


def _is_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _has_lone_surrogate(obj: object) -> bool:
    """Whether a string (key or value) anywhere in the decoded JSON ``obj`` holds a lone
    surrogate (it cannot be encoded as UTF-8)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
