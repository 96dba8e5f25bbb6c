"""Model-based random testing of the whole system (from a bug hunt).

Four real ClientEngines (alice, bob, charlie, dave) against a real in-process server; random
operations (unicast/multicast/broadcast/group sends, edits, deletes, reads, group create /
invite / accept / join / leave, restarts of an app, link cuts, offline spells, server restarts
on the same data dir) in a seeded order; after quiescence the invariants are checked against
a reference model (the soak's `expected()` plus checks the soak leaves out):

- every acked message exactly once in each recipient's cache, in seq order, window = cache,
  nothing pending, outbox empty, unread badge = unread rows (tests/integration/test_soak);
- the cache has no gap against the server and carries the server's text (edits, deletes);
- (new) the window shows the cached text of every message (edits/deletes applied on screen);
- (new) group membership agreed: each client's group rows (member, pending, members,
  invited, leader) equal the server's groups for that user, and no group is missing or extra;
- (new) club/den badges equal the unread rows for current members too.

The random test runs only with MESSENGER_FUZZ=1 (seeds: FUZZ_SEEDS, steps: FUZZ_STEPS):

    MESSENGER_FUZZ=1 FUZZ_SEEDS=1,2,3 FUZZ_STEPS=120 pytest tests/integration/test_model_fuzz.py
"""

from __future__ import annotations

import os
import random

import pytest
import shiboken6

from messenger.client.connection import ConnectionState
from messenger.client.conversations import group_key
from messenger.client.models import MessageKind
from messenger.protocol import RETRACTED_TEXT

from . import test_soak as soak  # (the soak's World and checks, reused)

USERS = ["alice", "bob", "charlie", "dave"]
APPS = [(u, u) for u in USERS]
FUZZ = os.environ.get("MESSENGER_FUZZ") == "1"
SEEDS = [int(s) for s in os.environ.get("FUZZ_SEEDS", "1").split(",")]
STEPS = int(os.environ.get("FUZZ_STEPS", "100"))


class World(soak.World):
    """The soak's world, remembering each edit/delete asked for (the model of texts)."""

    def login(self, *args, **kwargs):
        self.__dict__["logging_in"] = True
        try:
            return super().login(*args, **kwargs)
        finally:
            self.__dict__["logging_in"] = False

    def change(self, rng, app, label):
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
        changes = self.__dict__.setdefault("changes", {})
        if rng.random() < 0.7:
            text = f"{m.text.split(' /')[0]} /edited {label}"
            if engine.edit(m.seq, key, text):
                changes.setdefault(m.client_msg_id, []).append((key, m.seq, text))
        else:
            if engine.retract(m.seq, key):
                changes.setdefault(m.client_msg_id, []).append((key, m.seq, RETRACTED_TEXT))


def text_problems(w) -> list[str]:
    """The sender's last edit (or a delete) is the text everywhere (not club/den)."""
    problems = []
    for cid, changes in getattr(w, "changes", {}).items():
        key, seq, _ = changes[-1]
        if key in soak.CHANGING:
            continue
        want = RETRACTED_TEXT if any(t == RETRACTED_TEXT for *_, t in changes) \
            else changes[-1][2]
        for app, engine in w.engines.items():
            for k in engine.store.conversations():
                m = engine.store.message(seq, k)
                if m is not None and m.client_msg_id == cid:
                    w.stats["texts_checked"] += 1
                if m is not None and m.client_msg_id == cid and m.text != want:
                    problems.append(f"{app}/{k} seq {seq}: text {m.text!r}, last change "
                                    f"{want!r} (changes {[t for *_, t in changes]})")
    return problems


def make_world(qtbot, make_server, tmp_path, options=None):
    options = options or {}
    server = make_server(demo=True, **options)
    w = World(qtbot, server.host, server.port, tmp_path, server=server,
                   make_server=make_server, server_options=options,
                   users=list(USERS), apps=list(APPS), user_of=dict(APPS))
    return w


def setup_lab(w) -> None:
    for app, user in APPS:
        w.login(app, register=user == "dave")
    alice = w.engines["alice"]
    with w.qtbot.waitSignal(alice.group_joined, timeout=10_000):
        alice.create_group(soak.GROUP, public=True)
    for app in ("bob", "charlie"):
        with w.qtbot.waitSignal(w.engines[app].group_joined, timeout=10_000):
            w.engines[app].join_group(soak.GROUP)
    w.qtbot.waitUntil(lambda: all(
        (g := w.engines[a].groups.group(soak.GROUP)) is not None and len(g.members) == 3
        for a in ("alice", "bob", "charlie")), timeout=10_000)


def run(w, seed: int, steps: int, ops: set[str] | None = None) -> list[str]:
    """Random steps; returns the log of what was done (to shrink by hand)."""
    rng = random.Random(seed)
    log = []
    for step in range(steps):
        app = rng.choice([a for a, _ in w.apps if a in w.engines])
        engine, user, r = w.engines[app], w.user_of[app], rng.random()
        label = f"{seed}/{step}"
        if r < 0.02:
            op = "server_restart"
            w.restart_server()
        elif r < 0.03:
            name, count = rng.choice(soak.SIGNALS), rng.randint(1, 3)
            op = f"server_restart_after {name} x{count}"
            restart_after(w, app, name, count)
        elif r < 0.10:
            op = "burst+cut"
            for i in range(rng.randint(1, 3)):
                w.send(rng, app, f"{label}.{i}")
            if rng.random() < 0.6:
                w.abort(app)
            else:
                w.restart(app)
        elif r < 0.36:
            op = "send"
            w.send(rng, app, label)
        elif r < 0.39:
            op = "abort"
            w.abort(app)
        elif r < 0.42:
            op = "cut_after"
            w.cut_after(app, rng.choice(soak.SIGNALS), rng.randint(1, 4))
        elif r < 0.46:
            op = "restart"
            w.restart(app)
        elif r < 0.54:
            op = "read"
            key = rng.choice(engine.conversation_keys())
            w.read_by[user] |= {i.seq for i in engine.conversation(key).items()
                                if i.seq is not None and i.kind is MessageKind.OTHER}
            engine.mark_read(key)
            op += f" {key}"
        elif r < 0.60:
            op = "change"
            w.change(rng, app, label)
        elif r < 0.64:
            op = "changes+" + changes_then(w, rng, app, label)
        elif r < 0.74:
            op = "group_op"
            w.group_op(rng, app)
        elif r < 0.78:
            op = "group_more " + group_more(w, rng, app)
        elif r < 0.775:
            op = "relogin " + relogin(w, app)
        elif r < 0.79:
            op = "send+logout"
            for i in range(rng.randint(1, 3)):
                w.send(rng, app, f"{label}.{i}")
            op += " " + relogin(w, app)
        elif r < 0.80:
            op = "switch " + switch_user(w, rng, app)
        elif r < 0.86:
            op = "offline"
            w.go_offline(app)
            for i in range(rng.randint(1, 3)):
                w.send(rng, app, f"{label}.{i} offline")
        elif r < 0.90:
            op = "come_back"
            w.come_back(rng.choice(sorted(w.offline)) if w.offline else app)
        else:
            op = "settle"
            w.settle()
        log.append(f"{step}: {app} {op}")
        if os.environ.get("FUZZ_VERBOSE"):
            print(log[-1], flush=True)
        soak.spin(rng.randint(0, 6))
    return log


def group_more(w, rng, app: str) -> str:
    """The leader removes a member of club/den, or an invitee declines."""
    engine, user = w.engines[app], w.user_of[app]
    for row in engine.groups.rows():
        if row.name.lower() not in (soak.CLUB, soak.DEN):
            continue
        if row.pending:
            engine.decline_invitation(row.name)
            return f"decline {row.name}"
        if row.member and row.leader.lower() == user and len(row.members) > 1:
            victim = rng.choice([m for m in row.members if m.lower() != user])
            engine.remove_from_group(row.name, victim)
            return f"remove {victim} from {row.name}"
    return "-"


def restart_after(w, app: str, name: str, count: int) -> None:
    """The server restarts right after ``app``'s ``count``-th ``name`` signal (not while the
    harness waits for a fresh login: a first login the server stops under fails, as it
    should, with "the server was stopped"; the login window shows it)."""
    from PySide6.QtCore import QTimer
    signal, seen = getattr(w.engines[app], name), []

    def restart() -> None:
        if w.__dict__.get("logging_in"):
            QTimer.singleShot(50, restart)
        else:
            w.restart_server()

    def on_signal(*_args) -> None:
        seen.append(1)
        if len(seen) == count:
            signal.disconnect(on_signal)
            QTimer.singleShot(0, restart)

    signal.connect(on_signal)
    w.cuts.append((signal, on_signal, seen, count))


def changes_then(w, rng, app: str, label: str) -> str:
    """Two or three edits/deletes in a row (maybe of the same message), then the link dies,
    the app quits, the server restarts or nothing."""
    for i in range(rng.randint(2, 3)):
        w.change(random.Random(rng.random() if rng.random() < 0.5 else 7), app, f"{label}.{i}")
    what = rng.choice(["abort", "restart", "server", "none"])
    if what == "abort":
        w.abort(app)
    elif what == "restart":
        w.restart(app)
    elif what == "server":
        w.restart_server()
    return what


def fresh_logins(fn):
    def wrapped(w, *args):
        w.__dict__["logging_in"] = True
        try:
            return fn(w, *args)
        finally:
            w.__dict__["logging_in"] = False
    return wrapped


@fresh_logins
def relogin(w, app: str) -> str:
    """Log out and log in again with the same engine (the app's Log out / Log in)."""
    engine, user = w.engines[app], w.user_of[app]
    if app in w.offline or not engine.logged_in:
        return "-"
    engine.logout()  # (logged_out comes also when the link dies first; the GUI waits for none)
    w.qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED, timeout=10_000)
    with w.qtbot.waitSignal(engine.resumed, timeout=20_000):
        with w.qtbot.waitSignal(engine.login_succeeded, timeout=20_000):
            engine.connect_to(w.host, w.port)
            engine.login(user, f"{user}123")
    return "done"


@fresh_logins
def switch_user(w, rng, app: str) -> str:
    """Someone else logs in on this computer (same engine, this app's data folder) for a
    while, then the owner logs in again; the owner may have been offline with an outbox."""
    engine, user = w.engines[app], w.user_of[app]
    other = rng.choice([u for u in w.users if u != user])
    w.offline.discard(app)
    engine._auto_reconnect = True
    if engine.logged_in:
        engine.logout()
    else:
        engine.logout()
    w.qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED, timeout=10_000)
    for who in (other, user):
        with w.qtbot.waitSignal(engine.resumed, timeout=20_000):
            with w.qtbot.waitSignal(engine.login_succeeded, timeout=20_000):
                engine.connect_to(w.host, w.port)
                engine.login(who, f"{who}123")
        if who == other:
            soak.spin(rng.randint(0, 6))
            engine.logout()
            w.qtbot.waitUntil(lambda: engine.state is ConnectionState.DISCONNECTED,
                              timeout=10_000)
    return other


def finish(w) -> None:
    soak.EXT[:] = ["strict_left", "unread"]  # (no away / people / cache_fail here)
    soak.finish(w)


def groups_problems(w) -> list[str]:
    """Each client's group rows against the server's groups for its user."""
    problems = []
    core = w.server.server.core
    for app, engine in w.engines.items():
        user = w.user_of[app]
        server_groups = {g.key: g for g in core.groups.of_user(user)}
        client = {r.name.lower(): r for r in engine.groups.rows()}
        for key, g in server_groups.items():
            row = client.get(key)
            where = f"{app}/group {g.name}"
            if row is None:
                state = "member" if g.is_member(user) else "invited"
                problems.append(f"{where}: on the server ({state}), "
                                f"not in the app (former: {engine.groups.former()})")
                continue
            if row.member != g.is_member(user) or row.pending != (
                    not g.is_member(user) and g.is_invited(user)):
                problems.append(f"{where}: app member={row.member} pending={row.pending}, "
                                f"server members {g.members} invited {list(g.invited)}")
            if row.member and (list(row.members) != list(g.members)
                               or sorted(row.invited) != sorted(g.invited)
                               or row.leader != g.leader):
                problems.append(f"{where}: app sees leader {row.leader} members "
                                f"{list(row.members)} invited {list(row.invited)}; server "
                                f"leader {g.leader} members {g.members} invited "
                                f"{list(g.invited)}")
        for key, row in client.items():
            if key not in server_groups:
                problems.append(f"{app}/group {row.name}: in the app (member={row.member}, "
                                f"pending={row.pending}), server: "
                                f"{'gone' if key not in core.groups._groups else 'not member'}")
    return problems


def window_problems(w) -> list[str]:
    """The window of each conversation shows the cache's text (edits, deletes) and badge."""
    problems = []
    for app, engine in w.engines.items():
        user, store = w.user_of[app], engine.store
        for key in sorted(set(store.conversations()) | set(engine.conversation_keys())):
            rows = {m.seq: m for m in store.iter_conversation(key) if not m.notice}
            for item in engine.conversation(key).items():
                if item.kind not in (MessageKind.OWN, MessageKind.OTHER) or item.seq is None:
                    continue
                m = rows.get(item.seq)
                if m is not None and item.text != m.text:
                    problems.append(f"{app}/{key}: window shows {item.text!r} for seq "
                                    f"{item.seq}, cache {m.text!r}")
            if key in soak.CHANGING:
                g = engine.groups.group(key.split(":", 1)[1])
                if g is not None and g.member:
                    unread = store.unread_seqs(key, user)
                    if engine.unread(key) != len(unread):
                        problems.append(f"{app}/{key}: badge {engine.unread(key)}, cache "
                                        f"{unread}")
    return problems


def delivery_problems(w) -> list[str]:
    """Own messages every recipient's app has cached show as delivered (and to whom / how
    many), in the cache and in the window; everyone logged in is shown online."""
    problems = []
    held = {a: {m.seq for k in e.store.conversations() for m in e.store.iter_conversation(k)}
            for a, e in w.engines.items()}
    apps_of = {}
    for a, u in w.apps:
        apps_of.setdefault(u, []).append(a)
    for app, engine in w.engines.items():
        user, store = w.user_of[app], engine.store
        for key in sorted(store.conversations()):
            items = {i.seq: i for i in engine.conversation(key).items()
                     if i.kind is MessageKind.OWN and i.seq is not None}
            for m in store.iter_conversation(key):
                sent = w.sent.get(m.client_msg_id)
                if m.notice or m.sender.lower() != user or sent is None \
                        or m.text == RETRACTED_TEXT:
                    continue
                if sent.scope in ("unicast", "multicast"):
                    others = {t.lower() for t in sent.to} - {user}
                elif sent.scope == "broadcast":
                    others = set(w.users) - {user}
                elif sent.to[0].lower() == soak.GROUP:
                    others = set(soak.MEMBERS) - {user}
                else:
                    continue
                if not others or not all(m.seq in held[a] for o in others
                                         for a in apps_of.get(o, [])):
                    continue
                where = f"{app}/{key} seq {m.seq} ({sent.scope} {m.text!r})"
                w.stats["delivery_checked"] += 1
                if sent.scope in ("unicast", "multicast"):
                    if m.state not in ("delivered", "read"):
                        problems.append(f"{where}: all recipients have it, state {m.state}, "
                                        f"delivered_to {m.delivered_to}")
                elif m.counts is None or m.counts[0] < m.counts[2]:
                    problems.append(f"{where}: all recipients have it, counts {m.counts}")
                item = items.get(m.seq)
                if item is not None and str(item.state) != m.state:
                    problems.append(f"{where}: window state {item.state}, cache {m.state}")
        for other in w.users:
            if other == user:
                continue
            c = engine.roster.contact(other)
            if c is None or not c.online:
                problems.append(f"{app}: {other} shown {'unknown' if c is None else 'offline'}")
            elif c.unread != engine.unread(other):
                problems.append(f"{app}: roster badge of {other} {c.unread}, conversation "
                                f"{engine.unread(other)}")
        for row in engine.groups.rows():
            if row.member and row.unread != engine.unread(group_key(row.name)):
                problems.append(f"{app}: group list badge of {row.name} {row.unread}, "
                                f"conversation {engine.unread(group_key(row.name))}")
    return problems


def all_problems(w) -> list[str]:
    problems = soak.problems_of(w) + soak.gaps_of(w, w.server)
    problems += groups_problems(w) + window_problems(w) + delivery_problems(w) + text_problems(w)
    return problems


def close_all(w, qtbot) -> None:
    for engine in w.every_engine:
        if shiboken6.isValid(engine):
            engine.close()
    qtbot.waitUntil(lambda: all(e.state is ConnectionState.DISCONNECTED
                                for e in w.every_engine if shiboken6.isValid(e)),
                    timeout=10_000)


@pytest.mark.skipif(not FUZZ, reason="randomised fuzz: set MESSENGER_FUZZ=1")
@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", SEEDS)
def test_model_fuzz(qtbot, make_server, tmp_path, seed):
    w = make_world(qtbot, make_server, tmp_path,
                   {"max_send_rate": 3.0 if seed % 2 else 100.0})
    try:
        setup_lab(w)
        log = run(w, seed, STEPS)
        finish(w)
        problems = all_problems(w)
    finally:
        close_all(w, qtbot)
    print("\n".join(log))
    print(f"seed {seed}: {dict(w.stats)}")
    assert not problems, "\n".join(problems[:40])
