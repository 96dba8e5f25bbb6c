"""Operator hunt: a clean stop (SIGTERM) in the middle of a burst loses and doubles nothing."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
from helpers.rawclient import ServerProcess

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.client.models import MessageKind

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from test_restart_resend import (
    BURST,
    KILL_AFTER_ACKS,
    REPO,
    logged_in_engines,
    server_command,
    type_steadily,
)


@pytest.fixture
def engines(qtbot):
    made: list[ClientEngine] = []
    yield made
    for engine in made:
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in made))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_clean_stop_mid_burst_loses_and_doubles_nothing(qtbot, tmp_path, engines, sig):
    data_dir = tmp_path / "data"
    first = ServerProcess(server_command(data_dir, 0), cwd=REPO)
    _, port = first.start()
    second = None
    try:
        alice, bob, charlie = logged_in_engines(qtbot, engines, port)
        acked: set[str] = set()
        stopped: list[bool] = []

        def on_ack(cmid: str, seq: int, ts: float) -> None:
            acked.add(cmid)
            if len(acked) == KILL_AFTER_ACKS and not stopped:
                first.proc.send_signal(sig)
                stopped.append(True)

        alice.message_acked.connect(on_ack)
        bob.message_acked.connect(on_ack)
        typed, timer = type_steadily(
            alice, bob, lambda engine, text: engine.send_unicast("charlie", text))
        qtbot.waitUntil(lambda: bool(stopped), timeout=20_000)
        assert first.proc.wait(timeout=15) == 0, first.describe()
        second = ServerProcess(server_command(data_dir, port), cwd=REPO)
        second.start()

        def received(sender: str) -> list[str]:
            return [i.text for i in charlie.conversation(sender).items()
                    if i.kind is MessageKind.OTHER]

        def done() -> bool:
            return (not timer.isActive() and not alice.store.outbox()
                    and not bob.store.outbox() and received("alice") == typed["alice"]
                    and received("bob") == typed["bob"])

        qtbot.waitUntil(done, timeout=30_000)
        for sender in ("alice", "bob"):
            got = received(sender)
            assert len(got) == len(set(got)) == BURST
    finally:
        if first.proc is not None and first.proc.poll() is None:
            first.stop()
        if second is not None:
            second.stop()
