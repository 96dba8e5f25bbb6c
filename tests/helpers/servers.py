"""Start a real in-process server for tests (same Qt event loop as the test)."""

from __future__ import annotations

import contextlib
import sqlite3
import time as _time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from messenger.server.app import ServerConfig
from messenger.server.net import MessengerServer


@dataclass
class ServerHandle:
    """A listening server: connect to ``host``:``port``; its TLS certificate has ``fingerprint``."""

    server: MessengerServer
    host: str
    port: int
    fingerprint: str
    data_dir: Path

    def close(self) -> None:
        self.server.close()


def start_server(data_dir: Path, *, demo: bool = False, **options) -> ServerHandle:
    """Start a server on 127.0.0.1 (or ``host=``), on a free port unless ``port=`` is given
    (to restart a server where its clients expect it). ``options`` are :class:`ServerConfig`
    fields (``host``, ``port``, ``max_failed_logins``, ``lockout_seconds``, ``max_frame``, ...)."""
    # Cheaper argon2id cost keeps the suite fast; tests/e2e runs the real defaults.
    options.setdefault("argon2_time_cost", 1)
    options.setdefault("argon2_memory_kib", 1024)
    options.setdefault("port", 0)
    options.setdefault("host", "127.0.0.1")
    config = ServerConfig(data_dir=Path(data_dir), **options)
    server = MessengerServer(config)
    if demo:
        server.create_demo_accounts()
    server.listen()
    return ServerHandle(server, config.host, server.port, server.fingerprint, Path(data_dir))


class _SkewedTime:
    """The ``time`` module as a server whose wall clock is ``offset`` seconds off sees it."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def time(self) -> float:
        return _time.time() + self.offset

    def __getattr__(self, name: str):
        return getattr(_time, name)


def skew_server_clock(handle: ServerHandle, monkeypatch, offset: float) -> None:
    """Make the in-process server's wall clock run ``offset`` seconds off the app's (a lab
    LAN without NTP), for the rest of the test: every time the server stamps (messages and
    receipts in its store, presence, ``hello.server_time``, group and transfer times) moves;
    the app's clock stays. It swaps the store module's ``time`` and the core's clocks."""
    import messenger.server.store as store_module

    shim = _SkewedTime(offset)
    monkeypatch.setattr(store_module, "time", shim)
    core = handle.server.core
    monkeypatch.setattr(core, "_clock", shim.time)
    monkeypatch.setattr(core.groups, "_clock", shim.time)
    monkeypatch.setattr(core.transfers, "_clock", shim.time)


@contextlib.contextmanager
def another_programs_lock(server: ServerHandle, *, after: Any = None) -> Iterator[None]:
    """For the block, an operator's sqlite3 shell holds a write transaction on the server's
    live database (``BEGIN IMMEDIATE``): at once, or when signal ``after`` is emitted (an
    engine's ``login_succeeded``: the lock lands after the login's answer, before the
    server reads the requests the app sends next)."""
    shell = sqlite3.connect(server.data_dir / "messenger.db", isolation_level=None)
    if after is None:
        shell.execute("BEGIN IMMEDIATE")
    else:
        after.connect(lambda *_: shell.execute("BEGIN IMMEDIATE"))
    try:
        yield
    finally:
        shell.execute("ROLLBACK")
        shell.close()
