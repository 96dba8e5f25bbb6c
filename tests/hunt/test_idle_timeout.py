"""Operator hunt: --idle-timeout values that drop every live client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers.rawclient import DEFAULT_TIMEOUT, ServerProcess

from messenger.client.engine import ClientEngine

REPO = Path(__file__).resolve().parents[2]


def test_an_idle_timeout_shorter_than_the_check_does_not_drop_live_clients(qtbot, tmp_path):
    """`--idle-timeout 0.1` is accepted ("must be a number greater than 0"), and then every
    logged-in app is dropped within a quarter of a second, whether or not it answers the
    server's pings: the check runs every 250 ms at the least (net.py: max(250, …)), and a
    connection found silent past the limit is aborted before it was ever pinged. The apps
    reconnect, are dropped again, and so on. Either the command line refuses such a value,
    or a live app stays connected."""
    data = tmp_path / "data"
    command = [sys.executable, "-m", "messenger", "--server", "--host", "127.0.0.1",
               "--port", "0", "--data-dir", str(data), "--demo", "--idle-timeout", "0.1"]
    probe = subprocess.run([*command, "--add-user", "x/"], capture_output=True, text=True,
                           timeout=DEFAULT_TIMEOUT, cwd=REPO)
    if probe.returncode == 2 and "--idle-timeout" in probe.stderr:
        return  # refused by the command line: fine
    with ServerProcess(command, cwd=REPO) as proc:
        engine = ClientEngine()
        try:
            with qtbot.waitSignal(engine.login_succeeded, timeout=20_000):
                engine.connect_to("127.0.0.1", proc.port)
                engine.login("alice", "alice123")
            with qtbot.waitSignal(engine.connection_failed, timeout=3000,
                                  raising=False) as dropped:
                pass
            assert not dropped.signal_triggered, dropped.args
        finally:
            engine.close()
