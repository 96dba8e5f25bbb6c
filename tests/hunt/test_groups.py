"""Hunt: groups end to end (create, invite, join, leave, hand-over, delivery, receipts,
history, names, non-members) against a real server."""

from __future__ import annotations

import pytest

from messenger.client.connection import ConnectionState
from messenger.client.conversations import group_key
from messenger.client.engine import ClientEngine
from messenger.client.models import DeliveryState, MessageKind


@pytest.fixture
def session(qtbot, server):
    """``session(user)`` → a logged-in engine (password ``<user>123``)."""
    engines: list[ClientEngine] = []

    def factory(user: str, data_dir=None) -> ClientEngine:
        engine = ClientEngine(data_dir=data_dir)
        engines.append(engine)
        with qtbot.waitSignal(engine.login_succeeded, timeout=10_000):
            engine.connect_to(server.host, server.port)
            engine.login(user, f"{user}123")
        return engine

    yield factory
    for engine in engines:
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in engines))


def own(engine: ClientEngine, key: str, text: str):
    model = engine.conversation(key)
    for item in model.items():
        if item.kind is MessageKind.OWN and item.text == text:
            return model, item
    raise AssertionError(f"no own message {text!r} in {key}")


def test_delivered_to_n_of_m_counts_whom_the_message_went_to_not_todays_members(
        qtbot, session):
    """alice writes to "lab" while its only other member, bob, is offline: the tooltip says
    "delivered to 0 of 1". Then charlie joins, and the same message, which never went to
    charlie (he joined later, and the server's own count says 1 recipient), reads
    "delivered to 0 of 2"; after alice herself leaves, "delivered to 0 of 0"."""
    alice, bob = session("alice"), session("bob")
    with qtbot.waitSignal(alice.group_joined, timeout=10_000):
        alice.create_group("lab", [], public=True)
    with qtbot.waitSignal(bob.group_joined, timeout=10_000):
        bob.join_group("lab")
    qtbot.waitUntil(lambda: alice.groups.group("lab").members == ("alice", "bob"))
    bob.close()  # bob's computer is off
    qtbot.waitUntil(lambda: bob.state is ConnectionState.DISCONNECTED)
    alice.send_group("lab", "anyone there?")
    key = group_key("lab")
    qtbot.waitUntil(lambda: own(alice, key, "anyone there?")[1].state is DeliveryState.SENT)
    model, item = own(alice, key, "anyone there?")
    assert model.state_text(item) == "delivered to 0 of 1"

    charlie = session("charlie")
    with qtbot.waitSignal(charlie.group_joined, timeout=10_000):
        charlie.join_group("lab")
    qtbot.waitUntil(lambda: len(alice.groups.group("lab").members) == 3)
    model, item = own(alice, key, "anyone there?")
    # It went to bob alone: charlie joined after it and never gets it.
    assert model.state_text(item) == "delivered to 0 of 1"
