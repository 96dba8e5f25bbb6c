"""A chaotic network between the apps and the server: exactly-once delivery still holds.

A user-space TCP relay (in the test's own event loop) stands between three app engines and
the real server. During bursts of messages in every scope (private, multicast, group,
broadcast), edits, deletes and reads it cuts links at random, stalls them both ways or
one way (nothing goes through for longer than the apps' heartbeat allows, so they give the
link up while the server still holds it; what was on the wire then arrives late), leaves
half-open links the server notices only by its idle timeout, and delays and splits what
goes through. Afterwards every app must hold exactly what the server stored for it, once each,
in order, with the final texts and ticks, and its outbox must be empty. Seeded; a few
seconds a run::

    CHAOS_SEEDS=1,2,3,4,5 pytest tests/integration/test_chaos_network.py
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter, defaultdict

import pytest
import shiboken6
from PySide6.QtCore import QObject, QTimer
from PySide6.QtNetwork import QHostAddress, QTcpServer, QTcpSocket
from pytestqt.exceptions import TimeoutError as WaitTimeout

from messenger.client.connection import ConnectionState
from messenger.client.conversations import history_name, is_private, place_incoming
from messenger.client.engine import ClientEngine
from messenger.client.liveness import Backoff, Heartbeat
from messenger.client.models import DeliveryState, MessageKind
from messenger.protocol import RETRACTED_TEXT

SEEDS = [int(s) for s in os.environ.get("CHAOS_SEEDS", "1,2,3").split(",")]
STEPS = int(os.environ.get("CHAOS_STEPS", "120"))
USERS = ["alice", "bob", "charlie"]
GROUP = "lab"


class _Pipe:
    """One app's link through the relay: ``near`` (the app's side), ``far`` (the server's)."""

    def __init__(self, relay: ChaosRelay, near: QTcpSocket) -> None:
        self.relay = relay
        self.near = near
        self.far = QTcpSocket(relay)
        self.up: list[tuple[float, bytes]] = []  # (due, bytes) app → server
        self.down: list[tuple[float, bytes]] = []  # server → app
        self.stalled_until = 0.0
        self.up_stalled_until = self.down_stalled_until = 0.0
        self.vanished = False  # the app's end went; the server's hears nothing, ever
        self.near_gone = self.far_gone = False
        self.far_open = False
        near.readyRead.connect(self._from_near)
        near.disconnected.connect(self._near_closed)
        self.far.connected.connect(self._far_connected)
        self.far.readyRead.connect(self._from_far)
        self.far.disconnected.connect(self._far_closed)
        self.far.errorOccurred.connect(lambda _e: self._far_closed())
        near.errorOccurred.connect(lambda _e: self._near_closed())
        self.far.connectToHost(QHostAddress.SpecialAddress.LocalHost, relay.target_port)

    def _due(self, queue: list) -> float:
        now = time.monotonic()
        delay = self.relay.rng.random() * self.relay.max_delay
        return max(now + delay, queue[-1][0] if queue else 0.0)

    def _queue(self, queue: list, data: bytes) -> None:
        """``data`` goes on in pieces (TLS records and frames split), each a little later."""
        while data:
            size = self.relay.rng.randint(1, max(1, len(data)))
            queue.append((self._due(queue), data[:size]))
            data = data[size:]

    def _from_near(self) -> None:
        data = bytes(self.near.readAll().data())
        if data:
            self._queue(self.up, data)

    def _from_far(self) -> None:
        data = bytes(self.far.readAll().data())
        if data and not self.near_gone:
            self._queue(self.down, data)

    def _far_connected(self) -> None:
        self.far_open = True

    def _near_closed(self) -> None:
        self.near_gone = True
        self.down.clear()

    def _far_closed(self) -> None:
        self.far_gone = True
        self.up.clear()

    def cut(self) -> None:
        """Both ends see the link break (a reset)."""
        self.near_gone = self.far_gone = True
        self.up.clear()
        self.down.clear()
        self.near.abort()
        self.far.abort()

    def vanish(self) -> None:
        """The app's end breaks; the server's end stays open and silent (a half-open
        link: the server notices only by its own idle timeout)."""
        self.vanished = self.near_gone = True
        self.up.clear()
        self.down.clear()
        self.near.abort()

    def pump(self, now: float) -> bool:
        """Forward what is due; False once both ends are done with."""
        if now < self.stalled_until:
            return True
        if self.vanished:
            self.up.clear()
            self.down.clear()
            return not self.far_gone
        if self.far_open and not self.far_gone and now >= self.up_stalled_until:
            while self.up and self.up[0][0] <= now:
                self.far.write(self.up.pop(0)[1])
        if not self.near_gone and now >= self.down_stalled_until:
            while self.down and self.down[0][0] <= now:
                self.near.write(self.down.pop(0)[1])
        if now < max(self.up_stalled_until, self.down_stalled_until):
            return True
        # An end that closed: the other closes once what was on the wire got there.
        if self.near_gone and not self.far_gone and not self.up and self.far_open:
            self.far_gone = True
            self.far.disconnectFromHost()
        if self.far_gone and not self.near_gone and not self.down:
            self.near_gone = True
            self.near.disconnectFromHost()
        return not (self.near_gone and self.far_gone)


class ChaosRelay(QObject):
    """Listens on 127.0.0.1 (``port``) and relays each connection to ``target_port``; while
    :attr:`chaos` is on, now and then cuts, stalls or slows one link (seeded)."""

    def __init__(self, target_port: int, seed: int, *, stall: tuple[float, float],
                 max_delay: float = 0.03) -> None:
        super().__init__()
        self.target_port = target_port
        self.rng = random.Random(seed)
        self.stall = stall
        self.max_delay = max_delay
        self.chaos = False
        self.pipes: list[_Pipe] = []
        self.stats: Counter = Counter()
        self._server = QTcpServer(self)
        self._server.newConnection.connect(self._accept)
        assert self._server.listen(QHostAddress.SpecialAddress.LocalHost, 0)
        self.port = self._server.serverPort()
        self._pump = QTimer(self)
        self._pump.setInterval(5)
        self._pump.timeout.connect(self._on_pump)
        self._pump.start()
        self._chaos_timer = QTimer(self)
        self._chaos_timer.setSingleShot(True)
        self._chaos_timer.timeout.connect(self._strike)

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            self.pipes.append(_Pipe(self, self._server.nextPendingConnection()))
            self.stats["links"] += 1

    def _on_pump(self) -> None:
        now = time.monotonic()
        self.pipes = [p for p in self.pipes if p.pump(now)]

    def start_chaos(self) -> None:
        self.chaos = True
        self._chaos_timer.start(self.rng.randint(50, 250))

    def stop_chaos(self) -> None:
        """No more strikes, stalls end now (what they held goes on)."""
        self.chaos = False
        self._chaos_timer.stop()
        for pipe in self.pipes:
            pipe.stalled_until = pipe.up_stalled_until = pipe.down_stalled_until = 0.0

    def _strike(self) -> None:
        live = [p for p in self.pipes if not (p.near_gone or p.far_gone)]
        if live:
            pipe = self.rng.choice(live)
            r = self.rng.random()
            if r < 0.3:
                pipe.cut()
                self.stats["cut"] += 1
            elif r < 0.4:
                pipe.vanish()
                self.stats["vanish"] += 1
            elif r < 0.5:
                pipe.up_stalled_until = time.monotonic() + self.rng.uniform(*self.stall)
                self.stats["stall_up"] += 1
            elif r < 0.6:
                pipe.down_stalled_until = time.monotonic() + self.rng.uniform(*self.stall)
                self.stats["stall_down"] += 1
            elif r < 0.8:
                pipe.stalled_until = time.monotonic() + self.rng.uniform(*self.stall)
                self.stats["stall"] += 1
            else:  # a short hiccup (heartbeats survive it)
                pipe.stalled_until = time.monotonic() + self.rng.uniform(0.05, 0.3)
                self.stats["hiccup"] += 1
        if self.chaos:
            self._chaos_timer.start(self.rng.randint(50, 250))

    def close(self) -> None:
        self._pump.stop()
        self._chaos_timer.stop()
        for pipe in self.pipes:
            pipe.near.abort()
            pipe.far.abort()
        self._server.close()


class Script(QObject):
    """Runs ``steps`` random actions of the three apps, one every few ms (from the event
    loop, while the relay does its worst)."""

    def __init__(self, rng: random.Random, engines: dict[str, ClientEngine], steps: int) -> None:
        super().__init__()
        self.rng = rng
        self.engines = engines
        self.left = steps
        self.sent: dict[str, tuple[str, str]] = {}  # client_msg_id → (user, text)
        self.acks: dict[str, set[int]] = defaultdict(set)
        # (user, conversation) → the seqs of others' messages it showed when read
        self.read_seqs: dict[tuple[str, str], set[int]] = defaultdict(set)
        self.stats: Counter = Counter()
        for engine in engines.values():
            engine.message_acked.connect(
                lambda cid, seq, _ts: self.acks[cid].add(seq))
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._step)
        self._timer.start(0)

    @property
    def done(self) -> bool:
        return self.left <= 0

    def _step(self) -> None:
        rng = self.rng
        user = rng.choice(USERS)
        engine = self.engines[user]
        others = [u for u in USERS if u != user]
        r = rng.random()
        n = self.left
        if r < 0.55:
            for i in range(rng.randint(1, 3)):
                text = f"m{n}.{i} {user}"
                scope = rng.choice(["unicast", "unicast", "multicast", "group", "broadcast"])
                if scope == "unicast":
                    cid = engine.send_unicast(rng.choice(others), text)
                elif scope == "multicast":
                    cid = engine.send_multicast(others, text)
                elif scope == "group":
                    cid = engine.send_group(GROUP, text)
                else:
                    cid = engine.send_broadcast(text)
                if cid:
                    self.sent[cid] = (user, text)
                    self.stats[scope] += 1
        elif r < 0.75:
            keys = sorted(engine.store.conversations())
            own = [(k, m) for k in keys for m in engine.store.iter_conversation(k)
                   if m.sender == user and not m.notice and m.seq]
            if own:
                key, m = rng.choice(own[-15:])
                if rng.random() < 0.7:
                    engine.edit(m.seq, key, f"{m.text.split(' /')[0]} /e{n}")
                    self.stats["edit"] += 1
                else:
                    engine.retract(m.seq, key)
                    self.stats["delete"] += 1
        else:
            keys = engine.conversation_keys()
            if keys:
                key = rng.choice(keys)
                self.read_seqs[user, key] |= {i.seq for i in engine.conversation(key).items()
                                         if i.seq is not None
                                         and i.kind is MessageKind.OTHER}
                engine.mark_read(key)
                self.stats["read"] += 1
        self.left -= 1
        if self.left > 0:
            self._timer.start(rng.randint(5, 40))


def settled(engines: dict[str, ClientEngine]) -> bool:
    return all(e.logged_in and not e._resuming and not e._inflight
               and not e.store.outbox(state="pending") and not e._saved_changes()
               and not (e._unconfirmed_reads or e._reads_to_resend or e._read_wanted)
               for e in engines.values())


def load_all(qtbot, engine: ClientEngine, key: str) -> None:
    model = engine.conversation(key)
    while model.canFetchMore():
        oldest = model.oldest_seq()
        if oldest is not None and engine.store.has_before(key, oldest):
            model.fetchMore()
            continue
        with qtbot.waitSignal(engine.history_loaded, timeout=10_000):
            model.fetchMore()


def server_rows(db, user: str, key: str) -> list:
    """The server's history of ``key`` for ``user`` as the app files it."""
    return [m for m in db.history(user, history_name(key), after=0, limit=10_000_000)
            if m.notice not in ("edited", "deleted") and (
                not is_private(key) or m.scope != "multicast" or key in {
                    p.key for p in place_incoming(user, m.sender, m.scope, m.recipients,
                                                  m.group)})]


def problems_of(qtbot, server, engines: dict[str, ClientEngine], script: Script) -> list[str]:
    problems = []
    for cid, (_user, text) in script.sent.items():
        if len(script.acks.get(cid, ())) != 1:
            problems.append(f"{text!r}: acked with seqs {sorted(script.acks.get(cid, ()))}")
    db = server.server.store
    for user, engine in engines.items():
        store = engine.store
        keys = set(store.conversations()) | set(engine.conversation_keys())
        for key in sorted(keys):
            load_all(qtbot, engine, key)
            where = f"{user}/{key}"
            want = server_rows(db, user, key)
            rows = [m for m in store.iter_conversation(key) if not m.notice]
            got = [m.seq for m in rows]
            if got != [m.seq for m in want if not m.notice]:
                problems.append(f"{where}: cached {Counter(got) - Counter(m.seq for m in want)}"
                                f" too many, {sorted({m.seq for m in want} - set(got))} "
                                f"missing (cursor {store.get_meta('resume:' + key)})")
            text_of = {m.seq: m.text for m in want}
            if wrong := [(m.seq, m.text, text_of[m.seq]) for m in rows
                         if m.seq in text_of and m.text != text_of[m.seq]]:
                problems.append(f"{where}: texts (seq, here, server) {wrong[:5]}")
            items = [i for i in engine.conversation(key).items()
                     if i.kind in (MessageKind.OWN, MessageKind.OTHER)]
            if (shown := [i.seq for i in items]) != got:
                problems.append(f"{where}: window {shown} is not the cache {got}")
            if wrong := [(i.seq, i.text, text_of.get(i.seq)) for i in items
                         if i.seq in text_of and i.text != text_of[i.seq]]:
                problems.append(f"{where}: window texts (seq, shown, server) {wrong[:5]}")
            if stuck := [i.text for i in items
                         if i.state in (DeliveryState.PENDING, DeliveryState.FAILED)]:
                problems.append(f"{where}: still pending or failed: {stuck}")
            # Ticks of own private messages: all delivered (the recipient is online and
            # caught up); read up to the newest one the recipient's window showed when it
            # marked the conversation read.
            if is_private(key) and key != user:
                read_upto = max(script.read_seqs.get((key, user), ()), default=0)
                for m, item in zip(rows, items, strict=False):
                    if m.sender != user or m.scope != "unicast" or m.text == RETRACTED_TEXT:
                        continue  # (a deleted message is not read: its tick stays)
                    tick = "read" if m.seq <= read_upto else "delivered"
                    if m.state != tick or item.state != tick:
                        db._sync()
                        cursor = db._db.execute(
                            "SELECT delivered, read FROM group_cursors WHERE user_key = ?"
                            " AND grp_key = ?", (key, "|".join(sorted((key, user))))
                        ).fetchone()
                        problems.append(f"{where}: seq {m.seq} tick {m.state}/{item.state},"
                                        f" should be {tick} (the server's cursor of {key}:"
                                        f" {cursor})")

            # Own group messages and broadcasts: every member has them (all caught up).
            if wrong := [(m.seq, m.counts) for m in rows
                         if m.sender == user and m.scope in ("group", "broadcast")
                         and m.text != RETRACTED_TEXT
                         and (m.counts is None or m.counts[0] != m.counts[2])]:
                problems.append(f"{where}: delivered counts (seq, counts) {wrong[:5]}")
            if wrong := [(m.seq, m.delivered_to) for m in rows
                         if m.sender == user and m.scope == "multicast"
                         and m.text != RETRACTED_TEXT
                         and set(m.delivered_to) != set(m.to) - {user}]:
                problems.append(f"{where}: multicast delivered to (seq, whom) {wrong[:5]}")
            if engine.unread(key) != len(store.unread_seqs(key, user)):
                problems.append(f"{where}: badge {engine.unread(key)}, cache "
                                f"{store.unread_seqs(key, user)}")
        if store.outbox():
            problems.append(f"{user}: outbox not empty: {store.outbox()}")
    return problems


@pytest.mark.parametrize("seed", SEEDS)
def test_chaos_network(qtbot, make_server, tmp_path, seed):
    """Links cut, stalled past the heartbeat and delayed during bursts of messages, edits,
    deletes and reads: in the end every app holds exactly what the server stored for it,
    once each, in order, with the final texts and ticks, and nothing waits in an outbox."""
    server = make_server(demo=True, idle_timeout=3.0)
    relay = ChaosRelay(server.port, seed, stall=(1.2, 2.5))
    engines: dict[str, ClientEngine] = {}
    try:
        for user in USERS:
            engine = ClientEngine(data_dir=tmp_path / user, backoff=Backoff(0.02, 0.2),
                                  heartbeat=Heartbeat(0.3, 1.0), tick_ms=100,
                                  offline_grace_ms=0)
            engines[user] = engine
            with qtbot.waitSignal(engine.resumed, timeout=10_000):
                engine.connect_to("127.0.0.1", relay.port)
                engine.login(user, f"{user}123")
        with qtbot.waitSignal(engines["alice"].group_joined, timeout=10_000):
            engines["alice"].create_group(GROUP, public=True)
        for user in ("bob", "charlie"):
            with qtbot.waitSignal(engines[user].group_joined, timeout=10_000):
                engines[user].join_group(GROUP)
        qtbot.waitUntil(lambda: all((g := e.groups.group(GROUP)) is not None
                                    and len(g.members) == 3 for e in engines.values()),
                        timeout=10_000)
        script = Script(random.Random(seed), engines, steps=STEPS)
        relay.start_chaos()
        qtbot.waitUntil(lambda: script.done, timeout=60_000)
        relay.stop_chaos()
        qtbot.waitUntil(lambda: settled(engines), timeout=30_000)
        # (the recipients' confirmations of the last messages may still be on their way)
        try:
            qtbot.waitUntil(lambda: not any(
                m.counts is None or m.counts[0] != m.counts[2]
                for user, e in engines.items() for key in e.store.conversations()
                for m in e.store.iter_conversation(key)
                if m.sender == user and m.scope in ("group", "broadcast")
                and not m.notice and m.text != RETRACTED_TEXT), timeout=10_000)
        except WaitTimeout:
            pass  # (problems_of says which)
        problems = problems_of(qtbot, server, engines, script)
    finally:
        for engine in engines.values():
            if shiboken6.isValid(engine):
                engine.close()
        qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED
                                    for e in engines.values()), timeout=10_000)
        relay.close()
    print(f"seed {seed}: {dict(relay.stats)} {dict(script.stats)}")
    stalls = relay.stats["stall"] + relay.stats["stall_up"] + relay.stats["stall_down"]
    assert relay.stats["cut"] + relay.stats["vanish"] and stalls, dict(relay.stats)
    assert len(script.sent) > 40, dict(script.stats)
    assert not problems, "\n".join(problems[:40])
