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

Extensions (SOAK_EXT, comma-separated, all on by default):

- people: new accounts (erin, frank, ...) register during the run, each an app of its own
  (World.users/apps/user_of), so alice's computers get conversations new to them;
- away: a second computer of alice quits and stays away while others (the new people
  first) write to alice (private, multicast, lab, club/den, broadcast), which her other
  computer gets and confirms, and sometimes then leaves club or den; both may be away at
  once (messages queued for the account). Right after it logs in again (resumed): every
  conversation the server listed at that login holds what came while it was away (the
  newest page of each), counts what was read nowhere as unread, badge = cache;
- restart: the server stops and starts again on its port with its data;
- cache_fail: an app cannot cache one live message (not confirmed) and then gets another
  of the same conversation (confirmed): acks out of order, then a server restart;
- strict_left: gaps_of checks a group left up to its end (former members read history);
- unread: every message in a cache that the account read nowhere (and that lies above
  everything it read there) is unread;
- discover: after the final logins, every app holds the newest message of every
  conversation the server lists for its account, before anything is scrolled back.

Longer runs for a hunt (and fewer extensions, to tell which one a failure needs):

    SOAK_SEEDS=1,2,3 SOAK_STEPS=1000 pytest tests/integration/test_soak.py
    SOAK_EXT=people,restart SOAK_SEEDS=7 pytest tests/integration/test_soak.py
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
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
    key_of_history_name,
    place_incoming,
    place_outgoing,
)
from messenger.client.engine import PAGE, ClientEngine
from messenger.client.liveness import Backoff
from messenger.client.models import DeliveryState, MessageKind
from messenger.protocol import RETRACTED_TEXT

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
    # (extension) the accounts and apps of this run: new people register during it
    users: list[str] = field(default_factory=lambda: list(USERS))
    apps: list[tuple[str, str]] = field(default_factory=lambda: list(APPS))
    user_of: dict[str, str] = field(default_factory=lambda: dict(USER_OF))
    everyone_from: dict[str, int] = field(default_factory=dict)  # broadcasts above this seq
    server: object = None  # the running server (ServerHandle): restarted between steps
    make_server: object = None
    server_options: dict = field(default_factory=dict)
    away: dict[str, int] = field(default_factory=dict)  # app logged out -> seq when it left
    receipts_of: dict[str, bool] = field(default_factory=dict)
    extra_problems: list[str] = field(default_factory=list)
    stats: Counter = field(default_factory=Counter)

    def login(self, app: str, register: bool = False, receipts: bool = True) -> ClientEngine:
        engine = ClientEngine(data_dir=self.dirs.setdefault(app, self.tmp / app),
                              backoff=Backoff(0.02, 0.1))
        engine.send_read_receipts = receipts  # (the app's setting, kept across restarts)
        engine.message_acked.connect(lambda cid, seq, ts: self.acks[cid].add(seq))
        self.engines[app] = engine
        self.every_engine.append(engine)
        user = self.user_of[app]
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
        engine, user = self.engines[app], self.user_of[app]
        others = [u for u in self.users if u != user]
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
        engine, user = self.engines[app], self.user_of[app]
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
        engine, user = self.engines[app], self.user_of[app]
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
            engine.create_group(DEN, rng.sample([u for u in self.users if u != user],
                                                rng.randint(0, 2)))
        elif row.pending:
            engine.accept_invitation(DEN)
        elif row.member and rng.random() < 0.5:
            engine.invite_to_group(DEN, [rng.choice([u for u in self.users if u != user])])
        else:
            engine.leave_group(DEN)

    # ------------------------------------------------------------ (extension) new paths

    def settled_ext(self) -> bool:
        return self.settled()

    def max_seq(self) -> int:
        db = self.server.server.store
        db._sync()
        return db._db.execute("SELECT coalesce(max(seq), 0) FROM messages").fetchone()[0]

    def new_person(self, name: str) -> str:
        """A new account registers (its own app from now on): nobody has a conversation
        with it yet, so its first messages make conversations new to every other app."""
        self.users.append(name)
        self.apps.append((name, name))
        self.user_of[name] = name
        self.login(name, register=True)
        db = self.server.server.store
        db._sync()
        (after,) = db._db.execute(
            "SELECT after_seq FROM group_spans WHERE user_key = ? AND grp_key = '*'",
            (name,)).fetchone()
        self.everyone_from[name] = after
        self.stats["new_person"] += 1
        return name

    def leave_computer(self, app: str) -> None:
        """``app`` (a second computer of its account) quits, and stays away (logged out,
        not reconnecting) for a while: the other computer gets and confirms what comes."""
        engine = self.engines.pop(app)
        self.offline.discard(app)
        self.receipts_of[app] = engine.send_read_receipts
        self.away[app] = self.max_seq()
        self.quit(engine)
        self.stats["away"] += 1

    def return_computer(self, app: str, check: bool = True) -> None:
        """``app`` logs in again after :meth:`leave_computer`; right after its catch-up
        (``resumed``) every conversation the server lists for the account holds what came
        since it left (up to a page of each), and counts what was read nowhere as unread."""
        since = self.away.pop(app)
        upto = self.max_seq()  # (stored before the login: here after its catch-up)
        # (what the login's `conversations` lists)
        listed = self.server.server.store.conversations(self.user_of[app])
        engine = self.login(app, receipts=self.receipts_of.pop(app, True))
        self.stats["returned"] += 1
        if check:
            self.extra_problems += [f"(after returning) {p}" for p in
                                    returned_problems(self, app, engine, since, upto, listed)]

    def fail_cache_once(self, app: str) -> None:
        """The next live message ``app`` gets cannot be cached (a full disk): it is not
        confirmed, and comes again at its next login; the messages after it are confirmed
        (acks out of order: the server keeps them in ``cursor_acks``)."""
        store = self.engines[app].store
        real = store.add_messages

        def add_messages(rows, *args, **kwargs):
            if "_on_message" in (sys._getframe(1).f_code.co_name,  # (or its set
                                 sys._getframe(2).f_code.co_name):  # comprehension)
                store.add_messages = real
                self.stats["cache_failed"] += 1
                raise sqlite3.OperationalError("database or disk is full (soak)")
            return real(rows, *args, **kwargs)

        store.add_messages = add_messages

    def restart_server(self) -> None:
        """The server stops (cleanly) and starts again on its port with its data."""
        old = self.server
        port, data = old.port, old.data_dir
        old.close()
        self.server = self.make_server(demo=True, data_dir=data, port=port,
                                       **self.server_options)
        self.stats["server_restart"] += 1
        # (acks kept out of order, read back by the restarted server)
        self.stats["cursor_acks_kept"] += self.server.server.store._db.execute(
            "SELECT count(*) FROM cursor_acks").fetchone()[0]


def abort(engine: ClientEngine) -> None:
    """Break ``engine``'s link as a network would (no logout)."""
    if engine._conn._socket is not None:
        engine._conn._socket.abort()


def spin(n: int) -> None:
    """Let ``n`` rounds of events run (frames in flight arrive, or do not, before the next
    step): no waiting on time."""
    for _ in range(n):
        QCoreApplication.processEvents()


TWINS = {"alice_desk": "alice_laptop", "alice_laptop": "alice_desk"}
NEW_PEERS = ["erin", "frank", "gwen", "hank", "ivy", "jack"]
EXT = os.environ.get("SOAK_EXT", "away,people,restart,cache_fail,strict_left,unread,"
                     "discover").split(",")


def send_as(w: World, app: str, scope: str, to: list[str], label: str) -> None:
    """``app`` sends ``scope`` to ``to`` (recorded like :meth:`World.send`)."""
    engine, user = w.engines[app], w.user_of[app]
    text = f"{label} {app} {scope}"
    if scope == "unicast":
        cid = engine.send_unicast(to[0], text)
    elif scope == "multicast":
        cid = engine.send_multicast(to, text)
    elif scope == "group":
        cid = engine.send_group(to[0], text)
    else:
        cid = engine.send_broadcast(text)
    assert cid
    w.sent[cid] = Sent(cid, user, scope, to, text)


def away_episode(w: World, rng: random.Random, app: str, label: str) -> None:
    """A second computer of alice quits and stays away; meanwhile new people and old write
    to alice (private messages, group messages, broadcasts), which her other computer (if
    logged in) gets and confirms; now and then that one leaves club or den afterwards (the
    away computer missed some of the group's messages)."""
    w.leave_computer(app)
    if "people" in EXT and rng.random() < 0.5 and len(w.users) - len(USERS) < len(NEW_PEERS):
        w.new_person(NEW_PEERS[len(w.users) - len(USERS)])
    active = [a for a, _ in w.apps if a in w.engines and w.user_of[a] != "alice"]
    for i in range(rng.randint(1, 5)):
        kind = rng.choice(["unicast", "unicast", "multicast", "group", "broadcast", "changing"])
        newest = [a for a in active if a not in USER_OF]
        sender = rng.choice(newest if newest and rng.random() < 0.7 else active)
        user = w.user_of[sender]
        if kind == "group" and user not in MEMBERS:
            kind = "unicast"
        if kind == "changing":
            groups = [g.name for g in w.engines[sender].groups.rows()
                      if g.member and g.name.lower() in (CLUB, DEN)]
            if not groups:
                kind = "broadcast"
        tag = f"{label}.a{i}"
        if kind == "unicast":
            send_as(w, sender, "unicast", ["alice"], tag)
        elif kind == "multicast":
            send_as(w, sender, "multicast",
                    ["alice", rng.choice([u for u in w.users if u not in ("alice", user)])], tag)
        elif kind == "group":
            send_as(w, sender, "group", [GROUP], tag)
        elif kind == "changing":
            send_as(w, sender, "group", [rng.choice(groups)], tag)
        else:
            send_as(w, sender, "broadcast", [], tag)
    twin = TWINS[app]
    if twin in w.engines and rng.random() < 0.5:
        w.settle()  # (the other computer has them, and confirmed them)
        engine = w.engines[twin]
        mine = [g.name for g in engine.groups.rows()
                if g.member and g.name.lower() in (CLUB, DEN)]
        if mine:
            engine.leave_group(rng.choice(mine))
            w.stats["left_while_away"] += 1


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
    restart_at = -1
    for step in range(steps):
        app = rng.choice([a for a, _ in w.apps if a in w.engines])
        engine, user, r = w.engines[app], w.user_of[app], rng.random()
        # (extension) the rarer steps of the extension first, with a number of their own
        x = rng.random()
        if "away" in EXT and x < 0.03:
            away = sorted(w.away)
            if away and (rng.random() < 0.6 or len(away) == 2):
                w.settle()  # (nothing in flight: what the server has is what must be here)
                w.return_computer(rng.choice(away))
                spin(rng.randint(0, 6))
                continue
            if app in TWINS and app not in w.away:
                away_episode(w, rng, app, f"{seed}/{step}")
                spin(rng.randint(0, 6))
                continue
        elif "people" in EXT and x < 0.035 and len(w.users) - len(USERS) < len(NEW_PEERS):
            w.new_person(NEW_PEERS[len(w.users) - len(USERS)])
            continue
        elif "restart" in EXT and x < 0.04:
            w.restart_server()
            spin(rng.randint(0, 6))
            continue
        elif "cache_fail" in EXT and x < 0.05 and user != "alice":
            # (one app of its account) a message it cannot cache, then one it can, in the
            # same conversation: acks out of order; the server restarts a step or few on
            senders = [a for a, u in w.apps if a in w.engines and u != user]
            sender = rng.choice(senders)
            w.fail_cache_once(app)
            for i in range(2):
                send_as(w, sender, "unicast", [user], f"{seed}/{step}.c{i}")
            restart_at = step + rng.randint(1, 4)
        if "restart" in EXT and step == restart_at:
            w.restart_server()
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
    for app in sorted(w.away):  # (extension) the computers away log in again
        w.settle()
        w.return_computer(app)
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
        # (Everyone's history is everyone's, also of who registered later)
        recipients = {"unicast": m.to, "multicast": m.to, "group": MEMBERS,
                      "broadcast": w.users}[m.scope]
        for app, user in w.apps:
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
        user, store = w.user_of[app], engine.store
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
            if key == EVERYONE and (early := [
                    s for s in unread if s <= w.everyone_from.get(user, 0)]):
                problems.append(f"{where}: broadcasts from before the account unread {early}")
            if read_elsewhere := sorted(set(unread) & w.read_by[user]):
                problems.append(f"{where}: read on another computer, unread here "
                                f"{read_elsewhere}")
            if "unread" in EXT and (lost := sorted(should_be_unread(w, user, rows)
                                                   - set(unread))):
                problems.append(f"{where}: read nowhere, not unread here {lost}")
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
        user, store = w.user_of[app], engine.store
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
            if is_group(key) and (group is None or not group.member) \
                    and "strict_left" not in EXT:
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


def server_history(db, user: str, key: str, **kw) -> list:
    """The server's history of ``key`` for ``user`` as the app files it (no edit or delete
    notices; a multicast only in the conversations place_incoming puts it)."""
    return [m for m in db.history(user, history_name(key), limit=10_000_000, **kw)
            if m.notice not in ("edited", "deleted") and (
                not is_private(key) or m.scope != "multicast" or key in {
                    p.key for p in place_incoming(user, m.sender, m.scope, m.recipients,
                                                  m.group)})]


def should_be_unread(w: World, user: str, rows: list) -> set[int]:
    """Of cached ``rows`` of one conversation: others' messages (not deleted) that ``user``
    read on no computer, and above everything read there (the server's read position covers
    what lies below a read message, also what the reading computer never showed)."""
    read = w.read_by[user] & {m.seq for m in rows}
    top = max(read, default=0)
    # (broadcasts from before the account never count: checked in problems_of)
    before = w.everyone_from.get(user, 0)
    return {m.seq for m in rows if not m.notice and m.state in ("sent", "read")
            and not (m.scope == "broadcast" and m.seq <= before)
            and m.sender.lower() != user and m.text != RETRACTED_TEXT
            and m.seq not in read and m.seq > top}


def returned_problems(w: World, app: str, engine: ClientEngine, since: int,
                      upto: int, listed: list[tuple[str, int]]) -> list[str]:
    """Right after a login of a computer that was away since seq ``since``: every
    conversation the server lists for the account holds the messages (at most the newest
    page of each) stored in between that the server's history has for it, and counts
    as unread those of others read nowhere."""
    problems = []
    db = w.server.server.store
    user, store = w.user_of[app], engine.store
    for name, _newest in listed:
        key = key_of_history_name(name)
        if key is None:
            continue
        hist = [m for m in server_history(db, user, key, after=since) if m.seq <= upto]
        hist = hist[-PAGE:]
        if not hist:
            continue
        rows = list(store.iter_conversation(key))
        cached = {m.seq for m in rows}
        where = f"{app}/{key}"
        if missing := [m.seq for m in hist if m.seq not in cached]:
            lost = [(m.seq, m.scope, m.sender) for m in hist if m.seq not in cached]
            problems.append(f"{where}: missing {missing} of what came while away (cursor "
                            f"{store.get_meta('resume:' + key)}, away since {since}, upto "
                            f"{upto}; missing {lost[:6]}; cached "
                            f"{[(m.seq, m.scope, m.sender) for m in rows][:6]})")
        if key in CHANGING or "unread" not in EXT:
            continue
        new = {m.seq for m in hist}
        unread = set(store.unread_seqs(key, user))
        if lost := sorted((should_be_unread(w, user, rows) & new) - unread):
            problems.append(f"{where}: came while away, read nowhere, not unread {lost}")
        if engine.unread(key) != len(unread):
            problems.append(f"{where}: badge {engine.unread(key)}, cache {sorted(unread)}")
    return problems


def discovered_of(w: World) -> list[str]:
    """(Before anything is scrolled back) each app holds the newest message of every
    conversation the server lists for its account (the login's `conversations`)."""
    problems = []
    db = w.server.server.store
    for app, engine in w.engines.items():
        user, store = w.user_of[app], engine.store
        for name, _newest in db.conversations(user):
            key = key_of_history_name(name)
            if key is None:
                continue
            hist = server_history(db, user, key)
            if hist and store.message(hist[-1].seq, key) is None:
                problems.append(f"{app}/{key}: newest message {hist[-1].seq} not cached "
                                f"(cursor {store.get_meta('resume:' + key)})")
    return problems


@pytest.mark.parametrize("seed", SEEDS)
def test_soak(qtbot, make_server, tmp_path, seed):
    options = {"max_send_rate": 3.0 if seed % 2 else 100.0}
    server = make_server(demo=True, **options)
    w = World(qtbot, server.host, server.port, tmp_path, server=server,
              make_server=make_server, server_options=options)
    try:
        run(w, seed, STEPS)
        finish(w)
        problems = w.extra_problems + (discovered_of(w) if "discover" in EXT else [])
        problems += problems_of(w) + gaps_of(w, w.server)
    finally:
        for engine in w.every_engine:
            if shiboken6.isValid(engine):
                engine.close()
        qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED
                                    for e in w.every_engine if shiboken6.isValid(e)),
                        timeout=10_000)
    print(f"seed {seed}: {dict(w.stats)}")
    assert len(w.sent) > STEPS // 4  # (it did send)
    assert not problems, "\n".join(problems[:40])
