"""A randomised soak of exactly-once delivery: real server, real app engines, broken links,
restarts, reads, edits, deletes, group changes, in a random but seeded order; then the
invariants users rely on.

Five apps (alice on two computers, bob, charlie, dave), a group of three that stays, a public
group "club" that anyone joins and leaves (dissolved when the last one leaves, created again
later) and an invite-only group "den"; with odd seeds, a server that takes only 3 messages a
second from an account (bursts of 30, so flood control refuses some). Each step, one app
sends (unicast, multicast, group or broadcast; now and then to itself), sends a burst and
loses its link or quits in the same turn, goes offline and types a few messages there (they
go at its next login), comes back, arms a cut after the next few events of some kind, loses
its link, restarts, marks a conversation read, switches its read receipts on or off (private
reads), edits or deletes one of its messages, creates, joins, invites to, accepts or leaves a
group, or everyone settles. At the end every app reconnects and catches up, and:

- each conversation, loaded in full, holds every acked message for it exactly once, in seq
  order, the same in the window and in the cache, with nothing pending and the unread count
  equal to what this computer has not read and that was read nowhere (not for club and den,
  whose members change: the next check covers them);
- each app's cache of each conversation has no gap: every message the server's history of
  it holds for that user, from the lowest cached seq up, is cached, with the text the server
  has (edits, deletes). For a group the user has left, only up to the conversation's resume
  cursor (a left group's tab takes no live messages; its next catch-up is at a login).

Longer runs for a hunt:

    SOAK_SEEDS=1,2,3 SOAK_STEPS=1000 make test   (or pytest tests/integration/test_soak.py)
"""

from __future__ import annotations

import os
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QTimer

from messenger.client.connection import ConnectionState
from messenger.client.conversations import (
    EVERYONE,
    group_key,
    history_name,
    is_group,
    is_private,
    place_incoming,
    place_outgoing,
)
from messenger.client.engine import ClientEngine
from messenger.client.liveness import Backoff
from messenger.client.models import DeliveryState, MessageKind

SEEDS = [int(s) for s in os.environ.get("SOAK_SEEDS", "1,2").split(",")]
STEPS = int(os.environ.get("SOAK_STEPS", "150"))
USERS = ["alice", "bob", "charlie", "dave"]
GROUP = "lab"
MEMBERS = ["alice", "bob", "charlie"]
CLUB, DEN = "club", "den"  # public / invite-only, members change: not in expected()
CHANGING = {group_key(CLUB), group_key(DEN)}
OPENED = [EVERYONE, *USERS, group_key(GROUP), *CHANGING]  # (peer keys: the names)
APPS = [("alice_desk", "alice"), ("alice_laptop", "alice"), ("bob", "bob"),
        ("charlie", "charlie"), ("dave", "dave")]
USER_OF = dict(APPS)
SIGNALS = ["message_received", "message_acked", "history_loaded", "resumed",
           "login_succeeded"]


@dataclass
class Sent:
    client_msg_id: str
    sender: str
    scope: str
    to: list[str]
    text: str
    seq: int | None = None


@dataclass
class World:
    qtbot: object
    host: str
    port: int
    tmp: Path
    engines: dict[str, ClientEngine] = field(default_factory=dict)
    every_engine: list[ClientEngine] = field(default_factory=list)
    sent: dict[str, Sent] = field(default_factory=dict)
    acks: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    read_by: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    cuts: list = field(default_factory=list)
    offline: set[str] = field(default_factory=set)  # apps kept off the network for now
    dirs: dict[str, Path] = field(default_factory=dict)  # each app's data folder

    def login(self, app: str, register: bool = False, receipts: bool = True) -> ClientEngine:
        engine = ClientEngine(data_dir=self.dirs.setdefault(app, self.tmp / app),
                              backoff=Backoff(0.02, 0.1))
        engine.send_read_receipts = receipts  # (the app's setting, kept across restarts)
        engine.message_acked.connect(lambda cid, seq, ts: self.acks[cid].add(seq))
        self.engines[app] = engine
        self.every_engine.append(engine)
        user = USER_OF[app]
        with self.qtbot.waitSignal(engine.resumed, timeout=20_000):
            with self.qtbot.waitSignal(engine.login_succeeded, timeout=20_000):
                engine.connect_to(self.host, self.port)
                (engine.register if register else engine.login)(user, f"{user}123")
        return engine

    def restart(self, app: str) -> None:
        old = self.engines[app]
        self.offline.discard(app)
        receipts = old.send_read_receipts
        self.quit(old)
        self.login(app, receipts=receipts)

    @staticmethod
    def quit(engine: ClientEngine) -> None:
        """The app quits: its engine closes, with its cache, and goes (its timers too, such
        as an edit's retry after a refusal for flooding)."""
        engine.close()
        engine.store.close()
        engine.deleteLater()

    def go_offline(self, app: str) -> None:
        """``app`` loses its link and does not reconnect until :meth:`come_back`."""
        engine = self.engines[app]
        self.offline.add(app)
        engine._auto_reconnect = False  # (until told)
        engine._reconnect_timer.stop()
        abort(engine)
        if engine.state is not ConnectionState.DISCONNECTED:  # (connecting)
            engine._conn.close()
        self.qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED,
                             timeout=10_000)

    def come_back(self, app: str) -> None:
        if app in self.offline:
            self.offline.discard(app)
            engine = self.engines[app]
            engine._auto_reconnect = True
            engine.reconnect_now()

    def new_computer(self, app: str) -> None:
        """``app`` moves to a new computer: once what it typed is sent and what it read is
        known to the server, it logs in there with an empty cache."""
        self.settle()
        old = self.engines[app]
        # (and what it read is known to the server: a ping after the reads came back)
        self.qtbot.waitUntil(lambda: not (old._unconfirmed_reads or old._reads_to_resend
                                          or old._read_wanted), timeout=30_000)
        for item in old.store.outbox(state="failed"):  # (left behind)
            self.sent.pop(item.client_msg_id, None)
        receipts = old.send_read_receipts
        self.quit(old)
        self.dirs[app] = self.tmp / f"{app}-{len(self.every_engine)}"
        self.login(app, receipts=receipts)

    def settled(self) -> bool:
        return all(e.logged_in and not e._resuming and not e._inflight
                   and e.store is not None
                   and not e.store.outbox(state="pending") and not e._saved_changes()
                   for e in self.engines.values())

    def settle(self, timeout: int = 30_000) -> None:
        for app in list(self.offline):
            self.come_back(app)
        self.qtbot.waitUntil(self.settled, timeout=timeout)

    def abort(self, app: str) -> None:
        abort(self.engines[app])

    def cut_after(self, app: str, name: str, count: int) -> None:
        """Abort ``app``'s link right after its ``count``-th ``name`` signal."""
        engine = self.engines[app]
        signal, seen = getattr(engine, name), []

        def on_signal(*_args) -> None:
            seen.append(1)
            if len(seen) == count:
                signal.disconnect(on_signal)
                # (this engine: by then the app may have restarted with another)
                QTimer.singleShot(0, lambda: shiboken6.isValid(engine) and abort(engine))

        signal.connect(on_signal)
        self.cuts.append((signal, on_signal, seen, count))

    def send(self, rng: random.Random, app: str, label: str) -> None:
        engine, user = self.engines[app], USER_OF[app]
        others = [u for u in USERS if u != user]
        scope = rng.choice(["unicast", "multicast", "group", "broadcast"])
        groups = [GROUP] if user in MEMBERS else []
        groups += [g.name for g in engine.groups.rows()
                   if g.member and g.name.lower() in (CLUB, DEN)]
        if scope == "group" and not groups:
            scope = "unicast"
        text = f"{label} {app} {scope}"
        if scope == "unicast":
            to = [rng.choice([*others, user])]
            cid = engine.send_unicast(to[0], text)
        elif scope == "multicast":
            to = rng.sample([*others, user], rng.randint(2, len(others) + 1))
            cid = engine.send_multicast(to, text)
        elif scope == "group":
            to = [rng.choice(groups)]
            cid = engine.send_group(to[0], text)
        else:
            to = []
            cid = engine.send_broadcast(text)
        assert cid
        self.sent[cid] = Sent(cid, user, scope, to, text)

    def change(self, rng: random.Random, app: str, label: str) -> None:
        """Edit or delete one of ``app``'s cached messages (it may be deleted already, or
        in a group left since: the server refuses those)."""
        engine, user = self.engines[app], USER_OF[app]
        keys = engine.store.conversations()
        if not keys:
            return
        key = rng.choice(sorted(keys))
        own = [m for m in engine.store.iter_conversation(key)
               if m.sender == user and not m.notice]
        if not own:
            return
        m = rng.choice(own[-20:])
        if rng.random() < 0.7:
            engine.edit(m.seq, key, f"{m.text.split(' /')[0]} /edited {label}")
        else:
            engine.retract(m.seq, key)

    def group_op(self, rng: random.Random, app: str) -> None:
        """Join, create or leave the public club; create the den inviting some, invite to
        it, accept an invitation to it, or leave it. Refusals (it exists already, it is
        gone, not the leader) are part of it."""
        engine, user = self.engines[app], USER_OF[app]
        mine = {g.name.lower(): g for g in engine.groups.rows()}
        name = rng.choice([CLUB, DEN])
        row = mine.get(name)
        if name == CLUB:
            if row is not None and row.member:
                engine.leave_group(CLUB)
            elif rng.random() < 0.5:
                engine.join_group(CLUB)
            else:
                engine.create_group(CLUB, public=True)
        elif row is None:
            engine.create_group(DEN, rng.sample([u for u in USERS if u != user],
                                                rng.randint(0, 2)))
        elif row.pending:
            engine.accept_invitation(DEN)
        elif row.member and rng.random() < 0.5:
            engine.invite_to_group(DEN, [rng.choice([u for u in USERS if u != user])])
        else:
            engine.leave_group(DEN)


def abort(engine: ClientEngine) -> None:
    """Break ``engine``'s link as a network would (no logout)."""
    if engine._conn._socket is not None:
        engine._conn._socket.abort()


def spin(n: int) -> None:
    """Let ``n`` rounds of events run (frames in flight arrive, or do not, before the next
    step): no waiting on time."""
    for _ in range(n):
        QCoreApplication.processEvents()


def run(w: World, seed: int, steps: int) -> None:
    rng = random.Random(seed)
    for app, user in APPS:
        w.login(app, register=user == "dave")
    desk = w.engines["alice_desk"]
    with w.qtbot.waitSignal(desk.group_joined, timeout=10_000):
        desk.create_group(GROUP, public=True)
    for app in ("bob", "charlie"):
        with w.qtbot.waitSignal(w.engines[app].group_joined, timeout=10_000):
            w.engines[app].join_group(GROUP)
    w.qtbot.waitUntil(lambda: all(
        (g := w.engines[a].groups.group(GROUP)) is not None and len(g.members) == 3
        for a in ("alice_desk", "alice_laptop", "bob", "charlie")), timeout=10_000)
    for step in range(steps):
        app = rng.choice([a for a, _ in APPS])
        engine, user, r = w.engines[app], USER_OF[app], rng.random()
        if r < 0.10:  # a burst, then the link dies (its oks lost) or the app quits
            for i in range(rng.randint(1, 4)):
                w.send(rng, app, f"{seed}/{step}.{i}")
            if rng.random() < 0.6:
                w.abort(app)
            else:
                w.restart(app)
        elif r < 0.16:
            w.cut_after(app, rng.choice(SIGNALS), rng.randint(1, 4))
        elif r < 0.42:
            w.send(rng, app, f"{seed}/{step}")
        elif r < 0.51:
            w.abort(app)
        elif r < 0.56:
            w.restart(app)
        elif r < 0.64:
            key = rng.choice(engine.conversation_keys())
            w.read_by[user] |= {i.seq for i in engine.conversation(key).items()
                                if i.seq is not None and i.kind is MessageKind.OTHER}
            engine.mark_read(key)
        elif r < 0.66:
            engine.send_read_receipts = not engine.send_read_receipts
        elif r < 0.72:
            w.change(rng, app, f"{seed}/{step}")
        elif r < 0.78:
            w.group_op(rng, app)
        elif r < 0.83:  # offline for a while: what it types waits in its outbox
            w.go_offline(app)
            for i in range(rng.randint(1, 4)):
                w.send(rng, app, f"{seed}/{step}.{i} offline")
        elif r < 0.88:
            w.come_back(rng.choice(sorted(w.offline)) if w.offline else app)
        elif r < 0.92:  # the user scrolls back (a conversation new here: its newest page)
            model = engine.conversation(rng.choice(OPENED))
            if model.canFetchMore():
                model.fetchMore()
        elif r < 0.93:
            w.new_computer(app)
        else:
            w.settle()
        spin(rng.randint(0, 6))


def finish(w: World) -> None:
    """Cuts not triggered are disarmed; everyone settles, then reconnects and catches up.
    Messages to club or den that failed (the sender had left it) are deleted."""
    for signal, on_signal, seen, count in w.cuts:
        if len(seen) < count:
            try:
                signal.disconnect(on_signal)
            except (RuntimeError, TypeError):  # (its engine is gone)
                pass
    w.settle(timeout=60_000)
    for engine in w.engines.values():
        for item in engine.store.outbox(state="failed"):
            if item.scope == "group" and item.to and item.to[0].lower() in (CLUB, DEN):
                assert engine.discard(item.client_msg_id)
                w.sent.pop(item.client_msg_id, None)
    for engine in w.engines.values():
        with w.qtbot.waitSignal(engine.resumed, timeout=20_000):
            engine._conn._socket.abort()
    w.qtbot.waitUntil(w.settled, timeout=60_000)


def expected(w: World) -> dict[tuple[str, str], dict[int, Sent]]:
    """(app, conversation key) → {seq: message} it must show."""
    want: dict[tuple[str, str], dict[int, Sent]] = defaultdict(dict)
    for m in w.sent.values():
        if m.scope == "group" and m.to[0].lower() in (CLUB, DEN):
            continue
        recipients = {"unicast": m.to, "multicast": m.to, "group": MEMBERS,
                      "broadcast": USERS}[m.scope]
        for app, user in APPS:
            if user == m.sender:
                places = place_outgoing(user, m.scope, m.to)
            elif user in recipients:
                places = place_incoming(user, m.sender, m.scope, m.to,
                                        GROUP if m.scope == "group" else None)
            else:
                continue
            for place in places:
                want[app, place.key][m.seq] = m  # type: ignore[index]
    return want


def load_all(w: World, engine: ClientEngine, key: str) -> None:
    model = engine.conversation(key)
    while model.canFetchMore():
        oldest = model.oldest_seq()
        if oldest is not None and engine.store.has_before(key, oldest):
            model.fetchMore()  # from the cache, at once
            continue
        with w.qtbot.waitSignal(engine.history_loaded, timeout=10_000):
            model.fetchMore()


def problems_of(w: World) -> list[str]:
    problems = []
    for cid, m in w.sent.items():
        seqs = w.acks.get(cid, set())
        if len(seqs) != 1:
            problems.append(f"{m.text}: acked with seqs {sorted(seqs)}")
        m.seq = min(seqs, default=None)
    want_of = expected(w)
    for app, engine in w.engines.items():
        user, store = USER_OF[app], engine.store
        keys = {k for a, k in want_of if a == app} | set(store.conversations()) \
            | set(engine.conversation_keys())
        for key in sorted(keys):
            want = want_of.get((app, key), {})
            load_all(w, engine, key)
            rows = [m for m in store.iter_conversation(key) if not m.notice]
            cached = [m.seq for m in rows]
            where = f"{app}/{key}"
            if key in CHANGING:
                pass  # (gaps_of checks them)
            elif sorted(cached) != sorted(want) or len(set(cached)) != len(cached):
                problems.append(f"{where}: cache {Counter(cached) - Counter(list(want))} too many, "
                                f"{sorted(set(want) - set(cached))} missing")
            if key not in CHANGING and (wrong := [
                    m.seq for m in rows
                    if m.seq in want and m.client_msg_id != want[m.seq].client_msg_id]):
                problems.append(f"{where}: other messages under seqs {wrong}")
            items = [i for i in engine.conversation(key).items()
                     if i.kind in (MessageKind.OWN, MessageKind.OTHER)]
            shown = [i.seq for i in items]
            if shown != sorted(cached):
                problems.append(f"{where}: window {shown} is not the cache {sorted(cached)}")
            if stuck := [i.text for i in items
                         if i.state in (DeliveryState.PENDING, DeliveryState.FAILED)]:
                problems.append(f"{where}: still pending or failed: {stuck}")
            if key in CHANGING:
                continue  # (left, a group's unread messages stay so, with no badge)
            unread = store.unread_seqs(key, user)
            if engine.unread(key) != len(unread):
                problems.append(f"{where}: badge {engine.unread(key)}, cache {unread}")
            if read_elsewhere := sorted(set(unread) & w.read_by[user]):
                problems.append(f"{where}: read on another computer, unread here "
                                f"{read_elsewhere}")
        if store.outbox():
            problems.append(f"{app}: outbox not empty")
    return problems


def gaps_of(w: World, server) -> list[str]:
    """Each app's cache against the server's history of each conversation for its user:
    from the lowest cached seq up, every message is cached (none skipped in the middle, none
    missing at the end; for a group left, up to the resume cursor), with the server's
    text (not for club and den: edits reach only who was a member since the message)."""
    problems = []
    db = server.server.store
    for app, engine in w.engines.items():
        user, store = USER_OF[app], engine.store
        for key in sorted(store.conversations()):
            rows = {m.seq: m for m in store.iter_conversation(key)}
            if not rows:
                continue
            history = [m for m in db.history(user, history_name(key), after=0,
                                             limit=10_000_000)
                       if m.notice not in ("edited", "deleted") and (
                           not is_private(key) or m.scope != "multicast" or key in {
                               p.key for p in place_incoming(user, m.sender, m.scope,
                                                             m.recipients, m.group)})]
            group = engine.groups.group(key.split(":", 1)[1]) if is_group(key) else None
            if is_group(key) and (group is None or not group.member):
                history = [m for m in history  # (left: caught up at a login only)
                           if m.seq <= int(store.get_meta("resume:" + key) or 0)]
            low, high = min(rows), max(rows)
            missing = [m.seq for m in history if m.seq not in rows and m.seq >= low]
            gap = [s for s in missing if s < high]
            tail = [s for s in missing if s > high]
            where = f"{app}/{key}"
            if gap:
                problems.append(f"{where}: gap in the cache: {gap} (cached {low}..{high}, "
                                f"cursor {store.get_meta('resume:' + key)})")
            if tail:
                problems.append(f"{where}: not caught up: {tail} (cached up to {high})")
            if key in CHANGING:
                continue  # (edits reach only who was a member all along since the message)
            if texts := [(m.seq, rows[m.seq].text, m.text) for m in history
                         if m.seq in rows and not m.notice and rows[m.seq].text != m.text]:
                problems.append(f"{where}: texts differ (seq, cached, server): {texts[:5]}")
    return problems


@pytest.mark.parametrize("seed", SEEDS)
def test_soak(qtbot, make_server, tmp_path, seed):
    server = make_server(demo=True, max_send_rate=3.0 if seed % 2 else 100.0)
    w = World(qtbot, server.host, server.port, tmp_path)
    try:
        run(w, seed, STEPS)
        finish(w)
        problems = problems_of(w) + gaps_of(w, server)
    finally:
        for engine in w.every_engine:
            if shiboken6.isValid(engine):
                engine.close()
        qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED
                                    for e in w.every_engine if shiboken6.isValid(e)),
                        timeout=10_000)
    assert len(w.sent) > STEPS // 4  # (it did send)
    assert not problems, "\n".join(problems[:40])
