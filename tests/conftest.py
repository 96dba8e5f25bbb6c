"""Shared fixtures: offscreen Qt, an isolated MESSENGER_HOME, and a real server on 127.0.0.1:0."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers.servers import ServerHandle, start_server


@pytest.fixture(autouse=True)
def collect_qt_garbage():
    """After each test (its other fixtures torn down), collect the garbage cycles it left.

    Engines, windows and timers a test drops are often in reference cycles (lambdas that
    capture ``self``), so only Python's cycle collector destroys them, whenever an
    allocation happens to trigger it: also inside a Qt call that holds a signal-connection
    mutex (``QObject::disconnect`` from pytest-qt's ``waitSignal``), where the destroyed
    QObject's ``~QObject`` takes the same mutex and the run deadlocks (seen once, 12-06).
    Collected here, between tests, they go outside any Qt call."""
    yield
    gc.collect()


@pytest.fixture(autouse=True, scope="session")
def _freeze_imports():
    """The modules, Qt bindings and fixtures loaded at the start are moved out of the cycle
    collector's sight (``gc.freeze``): each :func:`collect_qt_garbage` then looks only at
    what tests made, in milliseconds instead of tens of them."""
    gc.collect()
    gc.freeze()
    yield


@pytest.fixture(autouse=True)
def messenger_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own MESSENGER_HOME: settings, pins, logs and data never leak."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MESSENGER_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def cheap_offline_hash(monkeypatch) -> None:
    """The app's "Open offline" password hash (argon2id, ≈ 40 ms at its desktop costs, at
    every first login of an engine) made cheap, as the test servers' own argon2 costs are
    (tests/helpers/servers.py); tests/unit/test_offlinepass.py checks the real costs."""
    from messenger.client import offlinepass

    monkeypatch.setattr(offlinepass, "TIME_COST", 1)
    monkeypatch.setattr(offlinepass, "MEMORY_KIB", 1024)


@pytest.fixture
def make_server(qapp, tmp_path):
    """Factory: ``make_server(**options)`` starts an in-process server on 127.0.0.1, port 0."""
    started: list[ServerHandle] = []

    def factory(**options) -> ServerHandle:
        data_dir = options.pop("data_dir", tmp_path / f"server{len(started)}")
        handle = start_server(data_dir, **options)
        started.append(handle)
        return handle

    yield factory
    for handle in started:
        handle.close()


@pytest.fixture
def server(make_server) -> ServerHandle:
    """A running server with demo accounts alice/alice123, bob/bob123, charlie/charlie123."""
    return make_server(demo=True)
