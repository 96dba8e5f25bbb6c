"""Frame codec: round trips, incremental decoding under any split, and only our own errors."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messenger.protocol import (
    HEADER,
    Codec,
    Error,
    ErrorCode,
    FrameDecoder,
    FrameTooLarge,
    Hello,
    Login,
    Message,
    Ok,
    Presence,
    ProtocolError,
    RosterEntry,
    Send,
    encode_frame,
)

SAMPLES = [
    Hello(protocol_version=1, agent="x"),
    Login(id=1, user="alice", password="alice123"),
    Send(id=2, client_msg_id="c1", scope="multicast", text="hé ✓\nline", to=["bob", "carol"]),
    Ok(id=3, user="alice", roster=[RosterEntry(name="bob", online=True, since=1.5)]),
    Error(code="unknown_user", message="no such user: zed", id=4),
    Presence(user="bob", online=False, ts=12.25),
    Message(seq=9, ts=1.0, sender="bob", scope="broadcast", text="hi", client_msg_id="z"),
]


def _decode_all(codec: Codec, data: bytes, max_frame: int = 1 << 20) -> list:
    decoder = FrameDecoder(max_frame)
    return [codec.decode(p) for p in decoder.feed(data)]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(message):
    codec = Codec.for_server() if isinstance(message, Login | Send | Hello) else Codec.for_client()
    assert _decode_all(codec, encode_frame(message)) == [message]


def test_defaults_are_omitted_and_type_tag_present():
    frame = encode_frame(Send(id=1, client_msg_id="c", scope="broadcast", text="x"))
    (length,) = HEADER.unpack(frame[:4])
    assert length == len(frame) - 4
    body = msgspec.json.decode(frame[4:])
    assert body["type"] == "send" and "to" not in body


@given(st.lists(st.sampled_from(SAMPLES[3:]), max_size=6), st.data())
def test_any_split_gives_the_same_frames(messages, data):
    stream = b"".join(encode_frame(m) for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder()
    codec = Codec.for_client()
    got = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        got += [codec.decode(p) for p in decoder.feed(stream[prev:cut])]
        prev = cut
    assert got == messages
    assert decoder.buffered == 0


def test_frames_taken_a_few_at_a_time_keep_their_order():
    """The app handles a big read a slice per turn of the event loop: it buffers what comes
    (``append``), takes some frames, stops, and takes the rest later; nothing is lost or
    repeated, and ``ready`` says whether a whole frame waits."""
    codec = Codec.for_client()
    frames = [Ok(id=i) for i in range(1, 8)]
    stream = b"".join(encode_frame(f) for f in frames)
    decoder = FrameDecoder()
    decoder.append(stream[:-3])  # (the last frame not whole yet)
    got = []
    while decoder.ready:
        it = decoder.feed(b"")
        got += [codec.decode(p) for _, p in zip(range(2), it, strict=False)]
        it.close()
    assert got == frames[:-1]
    decoder.append(stream[-3:])
    assert decoder.ready
    got += [codec.decode(p) for p in decoder.feed(b"")]
    assert got == frames and not decoder.ready and decoder.buffered == 0


@settings(max_examples=300)
@given(st.binary(max_size=300), st.lists(st.integers(1, 64), max_size=8))
def test_random_bytes_give_frames_or_protocol_errors_only(blob, chunk_sizes):
    decoder = FrameDecoder(max_frame=256)
    codec = Codec.for_server()
    pos = 0
    try:
        for size in [*chunk_sizes, len(blob)]:
            for payload in decoder.feed(blob[pos : pos + size]):
                assert 0 < len(payload) <= 256
                try:
                    codec.decode(payload)
                except ProtocolError as exc:
                    assert not exc.fatal
                    assert exc.code in {ErrorCode.BAD_FRAME, ErrorCode.UNKNOWN_TYPE,
                                        ErrorCode.BAD_REQUEST}
            pos += size
    except FrameTooLarge as exc:
        assert exc.fatal and exc.code == ErrorCode.FRAME_TOO_LARGE


def test_zero_and_oversized_lengths_are_fatal_and_stay_failed():
    decoder = FrameDecoder(max_frame=10)
    with pytest.raises(FrameTooLarge, match="zero-length"):
        list(decoder.feed(HEADER.pack(0)))
    with pytest.raises(FrameTooLarge):
        list(decoder.feed(encode_frame(Hello(protocol_version=1))))
    big = FrameDecoder(max_frame=10)
    with pytest.raises(FrameTooLarge, match="exceeds the limit of 10 bytes"):
        list(big.feed(HEADER.pack(11)))


@pytest.mark.parametrize(
    ("payload", "code", "request_id"),
    [
        (b"{not json", ErrorCode.BAD_FRAME, None),
        (b"[1, 2]", ErrorCode.BAD_FRAME, None),
        (b'{"id": 5}', ErrorCode.BAD_FRAME, 5),
        (b'{"type": "teleport", "id": 7}', ErrorCode.UNKNOWN_TYPE, 7),
        (b'{"type": "login", "id": 8, "user": "a"}', ErrorCode.BAD_REQUEST, 8),
        (b'{"type": "send", "id": 9, "client_msg_id": "c", "scope": "x", "text": "t"}',
         ErrorCode.BAD_REQUEST, 9),
        # Strings msgspec refuses in an otherwise readable request: the error names its id
        # (a lone surrogate escape, as Python's json writes it; invalid UTF-8).
        (b'{"type": "send", "id": 10, "client_msg_id": "c", "scope": "broadcast",'
         b' "text": "broken emoji \\ud83d"}', ErrorCode.BAD_FRAME, 10),
        (b'{"type": "send", "id": 11, "client_msg_id": "c", "scope": "broadcast",'
         b' "text": "\xff\xfe"}', ErrorCode.BAD_FRAME, 11),
        (b'{"type": "send", "id": true, "text": "\\ud83d"}', ErrorCode.BAD_FRAME, None),
        # Numbers msgspec cannot hold in the id or the type: not "must be a JSON object"
        (b'{"type": "roster", "id": 1e400}', ErrorCode.BAD_REQUEST, None),
        (b'{"type": "roster", "id": ' + b"9" * 5000 + b"}", ErrorCode.BAD_REQUEST, None),
        (b'{"type": 1e400, "id": 12}', ErrorCode.BAD_FRAME, 12),
        (b'{"type": "warp", "id": 1e400}', ErrorCode.UNKNOWN_TYPE, None),
        # A field that fails validation before a broken string: still malformed JSON
        (b'{"type": "send", "id": 13, "to": 5, "text": "\\ud83d"}', ErrorCode.BAD_FRAME, 13),
        # msgspec recurses on nesting: RecursionError must become a protocol error too
        (b'{"type": "ping", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
         ErrorCode.BAD_FRAME, None),
        (b'{"type": "warp", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
         ErrorCode.BAD_FRAME, None),
    ],
)
def test_decode_errors_are_classified(payload, code, request_id):
    with pytest.raises(ProtocolError) as info:
        Codec.for_server().decode(payload)
    assert info.value.code == code
    assert info.value.request_id == request_id
    assert not info.value.fatal


@pytest.mark.parametrize("text", [b"see you \\ud83d", b"\\ud83d\\u0041", b"\\udc00"])
def test_a_lone_surrogate_is_named_not_called_truncated_input(text):
    """A text cut at a count of UTF-16 units (JavaScript, Qt) can end in the high half of
    an emoji, ``"\\ud83d"``: msgspec calls that "Input data was truncated", and a developer
    went looking for a framing bug in a complete frame (a hunt)."""
    payload = (b'{"type": "send", "id": 3, "client_msg_id": "c", "scope": "broadcast", '
               b'"text": "' + text + b'"}')
    with pytest.raises(ProtocolError) as info:
        Codec.for_server().decode(payload)
    assert info.value.code == ErrorCode.BAD_FRAME and info.value.request_id == 3
    assert "truncated" not in info.value.message
    assert "lone UTF-16 surrogate" in info.value.message
