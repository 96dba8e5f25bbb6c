"""Catching up on a big backlog after a long absence: does the window keep answering?

Usage: ``python benchmarks/backlog.py [--messages N] [--runs R] [--profile FILE]``

bob's app logs in through a relay on loopback (in this process's Qt event loop), then the
relay closes every link and stops listening: bob's laptop is away. alice and charlie (raw
protocol clients in threads) write: alice ``N`` messages to bob, charlie ``N / 2`` to bob
and ``N / 2`` to everyone (14,000 messages for the default N = 7,000). The relay comes back
and holds what the server replays after the first 32 KiB until more than 1 MB waits, then
writes it all at once: a slow Wi-Fi or a busy app, the replay reaching the app in large
reads.

Measured, offscreen, in the app's process (``messenger --server`` runs as its own process):

* longest gap: the longest time between two ticks of a 10 ms ``QTimer`` on the GUI thread
  from the release until every message is counted unread (and 0.5 s after): how long the
  window stopped answering at worst;
* catch-up: from the release until bob's unread counts hold every message;
* GUI-thread CPU: the CPU time the GUI thread used over the same span (less swayed by
  other work on the machine than the two times above);
* Everyone rows: how many rows bob's Everyone tab, which follows its newest message, has
  at the end (see ``FOLLOWED_ROWS`` in ``messenger/gui/conversation.py``).

With ``--profile FILE`` the GUI thread runs under ``cProfile`` during the catch-up of the
last run; the 25 heaviest functions (cumulative) are printed and the stats saved to FILE.

The raw clients are ``tests/helpers/rawclient.py`` (stdlib only).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers.rawclient import RawClient, ServerProcess  # noqa: E402
from PySide6.QtCore import QEventLoop, QObject, QTimer  # noqa: E402
from PySide6.QtNetwork import QHostAddress, QTcpServer, QTcpSocket  # noqa: E402

HOLD_AFTER = 32 * 1024
HOLD_UNTIL = 1_000_000


class Relay(QObject):
    """A TCP relay between the app and its server that can cut every link (and come back on
    the same port) and hold what the server sends after ``hold_after`` bytes."""

    def __init__(self, target_port: int) -> None:
        super().__init__()
        self.target_port = target_port
        self.listener = QTcpServer(self)
        self.listener.newConnection.connect(self._accept)
        self.pairs: list[tuple[QTcpSocket, QTcpSocket]] = []
        self.hold_after: int | None = None
        self._held: dict[int, bytearray] = {}
        self._passed: dict[int, int] = {}
        assert self.listener.listen(QHostAddress.SpecialAddress.LocalHost, 0)
        self.port = self.listener.serverPort()

    def _accept(self) -> None:
        while self.listener.hasPendingConnections():
            inner = self.listener.nextPendingConnection()
            outer = QTcpSocket(self)
            outer.connectToHost("127.0.0.1", self.target_port)
            pair = (inner, outer)
            self.pairs.append(pair)
            inner.readyRead.connect(lambda a=inner, b=outer: self._pump(a, b, False))
            outer.readyRead.connect(lambda a=outer, b=inner: self._pump(a, b, True))
            inner.disconnected.connect(lambda p=pair: self._close(p))
            outer.disconnected.connect(lambda p=pair: self._close(p))

    def _pump(self, src: QTcpSocket, dst: QTcpSocket, down: bool) -> None:
        data = bytes(src.readAll().data())
        if not data:
            return
        if down and self.hold_after is not None:
            key = id(dst)
            passed = self._passed.get(key, 0)
            room = max(0, self.hold_after - passed)
            if room:
                dst.write(data[:room])
                self._passed[key] = passed + min(room, len(data))
                data = data[room:]
            if data:
                self._held.setdefault(key, bytearray()).extend(data)
            return
        dst.write(data)

    def held(self) -> int:
        return sum(len(b) for b in self._held.values())

    def release(self) -> None:
        """Write what was held downstream at once (it reaches the app in large reads)."""
        self.hold_after = None
        for inner, _ in self.pairs:
            buf = self._held.pop(id(inner), None)
            if buf:
                inner.write(bytes(buf))

    def _close(self, pair: tuple[QTcpSocket, QTcpSocket]) -> None:
        for s in pair:
            s.abort()
        if pair in self.pairs:
            self.pairs.remove(pair)

    def cut(self) -> None:
        """Close every link and stop listening (the laptop is away)."""
        self.listener.close()
        for pair in list(self.pairs):
            self._close(pair)

    def restore(self) -> None:
        assert self.listener.listen(QHostAddress.SpecialAddress.LocalHost, self.port)


class GapMeter:
    """The longest gap between ticks of a 10 ms timer on the GUI thread."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._last = time.monotonic()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.monotonic()
        self.longest = 0.0
        self.timer.start()

    def _tick(self) -> None:
        now = time.monotonic()
        self.longest = max(self.longest, now - self._last)
        self._last = now

    def stop(self) -> float:
        self.timer.stop()
        return self.longest


def send_many(host: str, port: int, user: str, plan: list[tuple[str, list[str], str]],
              done: dict[str, Any]) -> None:
    """In a thread: log in as ``user`` and send ``plan`` (scope, to, text), 200 in flight."""
    try:
        with RawClient(host, port, timeout=120) as c:
            c.hello()
            assert c.login(user, f"{user}123")["type"] == "ok"
            sent = acked = 0
            while acked < len(plan):
                while sent < len(plan) and sent - acked < 200:
                    scope, to, text = plan[sent]
                    c.send({"type": "send", "id": 1000 + sent,
                            "client_msg_id": str(uuid.uuid4()), "scope": scope, "to": to,
                            "text": text})
                    sent += 1
                m = c.recv()
                if m.get("type") in ("ok", "error") and m.get("id", 0) >= 1000:
                    done["errors"] = done.get("errors", 0) + (m["type"] == "error")
                    acked += 1
        done["ok"] = True
    except Exception as exc:  # (reported by the main thread)
        done["exc"] = repr(exc)


def wait_until(condition: Any, timeout: float, what: str) -> None:
    """Run the event loop until ``condition()`` (checked every 5 ms; RuntimeError after
    ``timeout`` s)."""
    if condition():
        return
    deadline = time.monotonic() + timeout
    loop = QEventLoop()
    check = QTimer()
    check.setInterval(5)
    check.timeout.connect(lambda: loop.quit() if condition() or time.monotonic() > deadline
                          else None)
    check.start()
    loop.exec()
    check.stop()
    if not condition():
        raise RuntimeError(f"timed out waiting for {what}")


def run(app: Any, n: int, profile: cProfile.Profile | None
        ) -> tuple[float, float, float, int]:
    """One catch-up of ``1.5 * 2 * n`` messages; (longest gap, catch-up time, GUI-thread CPU
    time) in seconds and the rows of the Everyone tab at the end."""
    from messenger.client.connection import ConnectionState
    from messenger.client.conversations import EVERYONE
    from messenger.client.engine import ClientEngine
    from messenger.client.liveness import Backoff
    from messenger.gui.main_window import MainWindow

    work = tempfile.TemporaryDirectory(prefix="messenger-backlog-")
    os.environ["MESSENGER_HOME"] = str(Path(work.name) / "home")
    server = ServerProcess([sys.executable, "-m", "messenger", "--server", "--host",
                            "127.0.0.1", "--port", "0", "--data-dir",
                            str(Path(work.name) / "srv"), "--demo", "--max-send-rate", "0"],
                           cwd=ROOT)
    host, port = server.start()
    relay = Relay(port)
    engine = ClientEngine(backoff=Backoff(0.05, 0.3))
    window = None
    try:
        engine.connect_to("127.0.0.1", relay.port)
        engine.login("bob", "bob123")
        wait_until(lambda: engine.state is ConnectionState.LOGGED_IN, 10, "the login")
        window = MainWindow(engine)
        window.resize(900, 600)
        window.show()
        app.processEvents()
        relay.cut()
        wait_until(lambda: engine.state is ConnectionState.DISCONNECTED, 5,
                   "the link to drop")
        plans = {
            "alice": [("unicast", ["bob"], f"a{i}") for i in range(n)],
            "charlie": [("unicast", ["bob"], f"c{i}") for i in range(n // 2)]
            + [("broadcast", [], f"e{i}") for i in range(n // 2)],
        }
        results: dict[str, dict[str, Any]] = {u: {} for u in plans}
        threads = [threading.Thread(target=send_many, args=(host, port, u, p, results[u]),
                                    daemon=True) for u, p in plans.items()]
        for t in threads:
            t.start()
        wait_until(lambda: all(not t.is_alive() for t in threads), 300, "the senders")
        for user, r in results.items():
            if not r.get("ok") or r.get("errors"):
                raise RuntimeError(f"{user} could not send: {r}")
        relay.hold_after = HOLD_AFTER
        relay.restore()
        wait_until(lambda: engine.state is ConnectionState.LOGGED_IN, 15, "the login")
        wait_until(lambda: relay.held() > HOLD_UNTIL, 30, "the replay")
        settle = time.monotonic() + 1
        wait_until(lambda: time.monotonic() > settle, 2, "a second")
        meter = GapMeter()
        meter.start()
        if profile is not None:
            profile.enable()
        t0, cpu0 = time.monotonic(), time.thread_time()
        relay.release()
        wait_until(lambda: engine.unread("alice") == n
                   and engine.unread("charlie") == n // 2, 300, "the catch-up")
        caught_up = time.monotonic() - t0
        after = time.monotonic() + 0.5
        wait_until(lambda: time.monotonic() > after, 2, "half a second")
        cpu = time.thread_time() - cpu0
        if profile is not None:
            profile.disable()
        rows = engine.conversation(EVERYONE).rowCount()
        return meter.stop(), caught_up, cpu, rows
    finally:
        if window is not None:
            window.close()
            window.deleteLater()
        engine.close()
        relay.cut()
        app.processEvents()
        server.stop()
        work.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=7_000,
                        help="alice's messages to bob (charlie sends half as many to bob and "
                             "as many to everyone)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args(argv)
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    gaps, times, cpus, rows = [], [], [], []
    for i in range(args.runs):
        profile = cProfile.Profile() if args.profile and i == args.runs - 1 else None
        gap, took, cpu, kept = run(app, args.messages, profile)
        gaps.append(gap * 1000)
        times.append(took * 1000)
        cpus.append(cpu * 1000)
        rows.append(kept)
        print(f"run {i + 1}: longest gap {gap * 1000:.0f} ms, catch-up {took * 1000:.0f} ms, "
              f"GUI-thread CPU {cpu * 1000:.0f} ms, Everyone rows {kept:,}", flush=True)
        if profile is not None:
            profile.dump_stats(args.profile)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    to_bob = args.messages + args.messages // 2
    print(f"{to_bob:,} messages to bob and {args.messages // 2:,} to "
          f"everyone: longest GUI-thread gap {statistics.median(gaps):.0f} ms (median of "
          f"{args.runs}; max {max(gaps):.0f}), catch-up {statistics.median(times):.0f} ms, "
          f"GUI-thread CPU {statistics.median(cpus):.0f} ms, Everyone rows "
          f"{statistics.median(rows):,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
