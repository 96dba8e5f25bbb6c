"""Hunt: server resource limits and abuse."""

from __future__ import annotations

import logging

from helpers.wire import WireClient


def test_silent_connections_cannot_flood_the_log(qtbot, make_server, caplog):
    server = make_server(idle_timeout=1.0, login_timeout=60.0)
    with caplog.at_level(logging.INFO, logger="messenger"):
        clients = [WireClient(qtbot, server.host, server.port) for _ in range(60)]
        qtbot.waitUntil(lambda: all(c.closed for c in clients), timeout=20_000)
    lines = [r.getMessage() for r in caplog.records
             if r.name.startswith("messenger.server") and r.levelno >= logging.INFO
             and "silent for" in r.getMessage()]
    assert len(lines) <= 25, f"{len(lines)} log lines from one client, e.g. {lines[0]!r}"
