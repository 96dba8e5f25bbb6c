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


def _messenger_file_logging(path):
    """The server's file logging as ``messenger --server --log-file`` sets it up (5 rotated
    files of 1 MiB); returns a function that removes it again."""
    import logging

    from messenger.logsetup import setup_logging

    root = logging.getLogger("messenger")
    before_level = root.level
    setup_logging(path, stderr=False)

    def undo() -> None:
        for handler in list(root.handlers):
            if getattr(handler, "_messenger", False):
                root.removeHandler(handler)
                handler.close()
        root.setLevel(before_level)

    return undo


def test_unknown_recipients_cannot_rotate_the_server_log_away(qtbot, server, tmp_path):
    """One logged-in user sends a few multicasts (under 1 MiB each, well within the send
    rate) naming 100,000 accounts that do not exist. The ``unknown_user`` refusal lists
    every name and ``ServerCore._error`` logs the whole message: an 800 KB log line per
    frame. Eight frames (7 MB of traffic, a second) rotate every earlier line out of
    server.log (5 backups of 1 MiB), the certificate fingerprint line with it — what the
    log budget (20 lines a minute per address) was made to prevent; it counts lines, not
    bytes. group_create/group_invite with unknown invitees do the same (RuleError)."""
    import logging

    from helpers.wire import connect_as

    from messenger.protocol import Send, encode_frame

    log_file = tmp_path / "logs" / "server.log"
    undo = _messenger_file_logging(log_file)
    try:
        logging.getLogger("messenger.server.net").info(
            "listening on 127.0.0.1 (TLS on, certificate SHA-256 MARKER-FINGERPRINT)")
        alice = connect_as(qtbot, server, "alice", "alice123")
        names = [f"n{i:05d}" for i in range(100_000)]
        for i in range(8):
            rid = 1000 + i
            alice.socket.write(encode_frame(Send(id=rid, client_msg_id=f"flood-{i}",
                                                 scope="multicast", text="hi", to=names)))
            reply = alice.reply(rid, timeout=30_000)
            assert isinstance(reply, Error) and reply.code == ErrorCode.UNKNOWN_USER
    finally:
        undo()
    kept = "".join(p.read_text(encoding="utf-8", errors="replace")
                   for p in sorted(log_file.parent.glob("server.log*")))
    assert "MARKER-FINGERPRINT" in kept, (
        f"the fingerprint line was rotated out of server.log by one user's 8 requests "
        f"({len(kept):,} bytes of log kept)")
