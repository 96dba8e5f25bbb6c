"""Hunt: server protocol robustness against a misbehaving or hostile client over real TLS."""

from __future__ import annotations

import json

from helpers.wire import connect_as

from messenger.protocol import (
    Error,
    ErrorCode,
    Ping,
    Pong,
)


def test_a_lone_surrogate_escape_is_not_reported_as_truncated_input(qtbot, server):
    """A client that cuts a text at a count of UTF-16 units (JavaScript, Qt) can split an
    emoji and send its high surrogate alone, ``"\\ud83d"``; protocol.md section 3 names
    that case: a broken string, answered ``bad_frame`` with the request's id. The message
    the client gets (and the server logs) is msgspec's "malformed JSON: Input data was
    truncated": the frame was complete, so a developer goes looking for a framing bug
    that is not there."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    rid = alice.next_id()
    payload = json.dumps({"type": "send", "id": rid, "client_msg_id": "s-1",
                          "scope": "broadcast", "text": "see you \ud83d"}).encode()
    assert payload.endswith(b'\\ud83d"}')  # (the frame is complete)
    alice.send_raw(payload)
    err = alice.reply(rid)
    assert isinstance(err, Error) and err.code == ErrorCode.BAD_FRAME
    assert "truncated" not in err.message, err.message
    assert "surrogate" in err.message or "string" in err.message, err.message


def test_an_out_of_range_request_id_is_not_called_a_non_object(qtbot, server):
    """A JSON object whose ``id`` is a number msgspec cannot hold (``1e400``, or an integer
    of more than 4,300 digits) is answered "a frame must be a JSON object", which it is:
    ``Codec._classify`` (codec.py) takes any failure of its envelope decoding for "not an
    object". The client is told the wrong thing about its frame."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    for bad_id in (b"1e400", b"9" * 5000):
        alice.frames.clear()
        alice.send_raw(b'{"type":"roster","id":' + bad_id + b"}")
        alice.send(Ping(nonce=5))
        alice.wait_for(lambda f: isinstance(f, Pong) and f.nonce == 5)
        errors = [f for f in alice.frames if isinstance(f, Error)]
        assert len(errors) == 1, alice.frames
        assert "must be a JSON object" not in errors[0].message, errors[0].message
