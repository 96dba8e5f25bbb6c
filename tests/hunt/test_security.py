"""Security hunt: authorization, abuse and hostile-peer checks over real sockets."""

from __future__ import annotations

from helpers.wire import WireClient

from messenger.protocol import Error, ErrorCode


def test_register_lookalike_of_everyone_refused(qtbot, server):
    """"Everyone" is reserved because an account of that name passed for the broadcast
    conversation. The server's own look-alike rule (digit 0 reads as o) says "Every0ne"
    reads the same, yet it is accepted: its private tab and its messages then pass for
    the Everyone conversation."""
    c = WireClient(qtbot, server.host, server.port)
    c.hello()
    reply = c.register("Every0ne", "password1")
    assert isinstance(reply, Error) and reply.code in (ErrorCode.INVALID_NAME,
                                                        ErrorCode.NAME_TAKEN), reply
