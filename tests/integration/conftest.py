"""Fixtures shared by the integration tests of the client engine."""

from __future__ import annotations

import pytest
import shiboken6

from messenger.client.connection import ConnectionState
from messenger.client.engine import ClientEngine
from messenger.client.liveness import Backoff


@pytest.fixture
def make_engine(qtbot):
    """``make_engine(**kwargs)``: a :class:`ClientEngine` (reconnecting fast, and showing a
    contact's going offline at once: ``offline_grace_ms`` 0 unless given), closed after the
    test."""
    engines: list[ClientEngine] = []

    def factory(**kwargs) -> ClientEngine:
        kwargs.setdefault("backoff", Backoff(0.05, 0.3))
        kwargs.setdefault("offline_grace_ms", 0)
        engine = ClientEngine(**kwargs)
        engines.append(engine)
        return engine

    yield factory
    engines = [e for e in engines if shiboken6.isValid(e)]  # some tests destroy theirs
    for engine in engines:
        engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED for e in engines))
