"""Deterministic scenarios found while shrinking the model-based fuzz (hunt 56)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from messenger.client.connection import ConnectionState  # noqa: E402
from messenger.client.liveness import Backoff  # noqa: E402
from messenger.client.engine import ClientEngine  # noqa: E402
from messenger.client.conversations import group_key  # noqa: E402


def _login(qtbot, server, engine, user):
    with qtbot.waitSignal(engine.resumed, timeout=20_000):
        with qtbot.waitSignal(engine.login_succeeded, timeout=20_000):
            engine.connect_to(server.host, server.port)
            engine.login(user, f"{user}123")


def test_message_typed_offline_for_a_dissolved_group_does_not_go_to_a_new_group_of_that_name(
        qtbot, server, tmp_path):
    """bob's laptop, offline, holds a message for the public group "club" (bob and alice).
    Meanwhile the club is dissolved, charlie creates a new "club", and bob's other computer
    joins it. When the laptop comes back, its message for the old club must not be posted
    to charlie's new club (other people, another group)."""
    engines = []

    def make(user, where):
        e = ClientEngine(data_dir=tmp_path / where, backoff=Backoff(0.05, 0.3))
        engines.append(e)
        _login(qtbot, server, e, user)
        return e

    try:
        alice, laptop, phone, charlie = (make("alice", "a"), make("bob", "laptop"),
                                         make("bob", "phone"), make("charlie", "c"))
        with qtbot.waitSignal(alice.group_joined, timeout=10_000):
            alice.create_group("club", public=True)
        with qtbot.waitSignal(laptop.group_joined, timeout=10_000):
            laptop.join_group("club")
        qtbot.waitUntil(lambda: (g := phone.groups.group("club")) is not None and g.member,
                        timeout=10_000)
        # the laptop loses the network; bob types to the club there
        laptop._auto_reconnect = False
        laptop._reconnect_timer.stop()
        laptop._conn._socket.abort()
        qtbot.waitUntil(lambda: laptop.state is ConnectionState.DISCONNECTED, timeout=10_000)
        cid = laptop.send_group("club", "for alice's club only")
        assert cid
        # the club ends (both leave: bob from his phone), charlie makes a new one, bob's
        # phone joins it
        with qtbot.waitSignal(phone.group_left, timeout=10_000):
            phone.leave_group("club")
        with qtbot.waitSignal(alice.group_left, timeout=10_000):
            alice.leave_group("club")
        with qtbot.waitSignal(charlie.group_joined, timeout=10_000):
            charlie.create_group("club", public=True)
        with qtbot.waitSignal(phone.group_joined, timeout=10_000):
            phone.join_group("club")
        # the laptop comes back
        laptop._auto_reconnect = True
        with qtbot.waitSignal(laptop.resumed, timeout=20_000):
            laptop.reconnect_now()
        qtbot.waitUntil(lambda: not laptop.store.outbox(state="pending"), timeout=20_000)
        with qtbot.waitSignal(charlie.message_received, timeout=2_000, raising=False):
            pass
        got = [i.text for i in charlie.conversation(group_key("club")).items()]
        assert "for alice's club only" not in got, (
            "a message typed for the dissolved club was posted to charlie's new club")
    finally:
        for e in engines:
            e.close()
        qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in engines),
                        timeout=10_000)
