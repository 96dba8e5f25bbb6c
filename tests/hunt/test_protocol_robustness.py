"""Hunt: server protocol robustness against a misbehaving or hostile client over real TLS."""

from __future__ import annotations

from helpers.wire import connect_as

from messenger.protocol import (
    Error,
    Ping,
    Pong,
)


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
