"""Hunt: server protocol robustness against a misbehaving or hostile client over real TLS."""

from __future__ import annotations

import json

from helpers.wire import connect_as

from messenger.protocol import (
    HEADER,
    Error,
    ErrorCode,
    Ok,
    Ping,
    Pong,
)


def test_replies_keep_request_order_a_pong_does_not_overtake_an_earlier_ok(qtbot, server):
    """docs/protocol.md section 5: "Replies on one connection keep their order: a reply that
    needs no storage (a ``pong``, an error) still waits behind earlier ones." A client that
    uses ``ping`` as a barrier ("everything I sent before has been answered once the pong is
    back") takes the ``send`` as unanswered. The server writes a ``pong`` at once in
    ``_apply`` (net.py), ahead of the ``ok`` that waits for the commit. (Section 4 says the
    opposite, "a pong does not wait for the commit of the requests before it": the two
    sections contradict each other.)"""
    alice = connect_as(qtbot, server, "alice", "alice123")
    rid = alice.next_id()
    payload = json.dumps({"type": "send", "id": rid, "client_msg_id": "barrier-1",
                          "scope": "broadcast", "text": "before the ping"}).encode()
    ping = json.dumps({"type": "ping", "nonce": 7}).encode()
    alice.socket.write(HEADER.pack(len(payload)) + payload + HEADER.pack(len(ping)) + ping)
    qtbot.waitUntil(lambda: any(isinstance(f, Pong) for f in alice.frames)
                    and any(isinstance(f, Ok) and f.id == rid for f in alice.frames))
    order = [type(f).__name__ for f in alice.frames if isinstance(f, Pong | Ok)]
    assert order == ["Ok", "Pong"], order


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
