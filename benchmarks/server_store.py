"""The server's store queries at scale: EXPLAIN QUERY PLAN and timings.

Usage: ``python benchmarks/server_store.py [--messages N] [--db FILE] [--user NAME]``

Builds (through :class:`~messenger.server.store.Store`, as the server stores them) a server
database of ``--messages`` messages (default 1,500,000) over 200 accounts, 50 groups and
many private pairs: about 60% private messages, 30% group messages, 5% broadcasts, the rest
multicasts; every account's delivery cursors are at the end but those of one account
(``--user``), away for the last 2% of the messages. With ``--db`` an existing file is reused
(built there on the first run; every run sets the delivery cursors anew, so give it a file
of its own). Then, for that account, it times every query the server runs on a login
(catch-up replay and its acks, receipts, conversation list) and on history paging (newest
page, before, after, of a private conversation, a group and Everyone) on a freshly opened
store ("cold") and again ("warm"), and prints the query plan of each statement that ran
when it scans a table or uses a temporary B-tree.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from messenger.server.store import Store  # noqa: E402

ACCOUNTS = 200
GROUPS = 50


def build(path: Path, messages: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    store = Store(path)
    store.set_batch(True)
    users = [f"user{i:03d}" for i in range(ACCOUNTS)]
    for u in users:
        store.create_account(u, "x")
    groups = {f"group{g:02d}": rnd.sample(users, rnd.randint(5, 60)) for g in range(GROUPS)}
    late = {g: members[: len(members) // 4] for g, members in groups.items()}
    text = "lorem ipsum dolor sit amet " * 3
    t0 = time.perf_counter()
    for n in range(messages):
        r = rnd.random()
        if r < 0.60:
            a, b = rnd.sample(users[:120] if rnd.random() < 0.8 else users, 2)
            store.store_message(sender=a, client_msg_id=f"c{n}", scope="unicast", text=text,
                                recipients=[b], recipient_keys=[b])
        elif r < 0.90:
            g = rnd.choice(list(groups))
            members = groups[g]
            if n <= messages // 2:  # a quarter of the members join half way through
                members = members[len(late[g]):]
            sender = rnd.choice(members)
            store.store_message(sender=sender, client_msg_id=f"c{n}", scope="group",
                                text=text, recipients=[], group=g,
                                recipient_keys=[m for m in members if m != sender])
        elif r < 0.95:
            sender = rnd.choice(users)
            store.store_message(sender=sender, client_msg_id=f"c{n}", scope="broadcast",
                                text=text, recipients=[],
                                recipient_keys=[u for u in users if u != sender])
        else:
            sender = rnd.choice(users)
            to = rnd.sample([u for u in users if u != sender], 3)
            store.store_message(sender=sender, client_msg_id=f"c{n}", scope="multicast",
                                text=text, recipients=to, recipient_keys=to)
        if n % 2000 == 1999:
            store.commit()
        if n % 100_000 == 99_999:
            print(f"  {n + 1:,} messages, {time.perf_counter() - t0:.0f} s", flush=True)
    store.commit()
    store.close()
    absent(path)


def absent(path: Path, user: str = "user007", share: float = 0.02) -> None:
    """Every account has confirmed and read everything, except ``user``, away for the last
    ``share`` of the messages: what a login after a few days away replays."""
    db = sqlite3.connect(path)
    top = db.execute("SELECT max(seq) FROM messages").fetchone()[0]
    cut = int(top * (1 - share))
    db.execute("DELETE FROM group_cursors")
    db.execute("INSERT OR REPLACE INTO group_cursors (user_key, grp_key, delivered, read)"
               " SELECT user_key, grp_key, CASE user_key WHEN ? THEN ? ELSE ? END,"
               " CASE user_key WHEN ? THEN ? ELSE ? END FROM group_spans",
               (user, cut, top, user, cut, top))
    db.execute("UPDATE deliveries SET delivered = 1, read = 1 WHERE user_key != ? OR seq <= ?",
               (user, cut))
    db.commit()
    db.close()


def timed(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_500_000)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--user", default="user007")
    args = parser.parse_args(argv)
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="messenger-store-")
        args.db = Path(tmp.name) / "server.db"
    if not args.db.exists():
        print(f"building {args.messages:,} messages in {args.db}")
        build(args.db, args.messages)
    absent(args.db, args.user)  # (again: the run below confirms the replay, and commits)
    store = Store(args.db)
    me = args.user
    seq_top = store.seq_high
    convs = store.conversations(me)
    peer = next(n for n, _ in convs if n.startswith("user:"))
    group = next(n for n, _ in convs if n.startswith("group:"))
    mid = seq_top // 3
    old_group_seq = store.history(me, group)[0].seq
    cases = {
        "conversations (new device)": lambda: store.conversations(me),
        "conversations (after mid)": lambda: store.conversations(me, mid),
        "pending_seqs (login replay)": lambda: store.pending_seqs(me),
        "receipts_after": lambda: store.receipts_after(me, 0),
        "receipt_cursors": lambda: store.receipt_cursors(me),
        "login catch-up: ack the replay, counts": lambda: (
            store.mark_delivered(me, store.pending_seqs(me)), store.take_receipt_counts()),
        "receipt_counts (old group message)": lambda: store.receipt_counts(old_group_seq),
        "members_who_had (old group message)": lambda: store.members_who_had(
            group[6:], old_group_seq),
    }
    for conv in (f"{peer}", f"{group}", "everyone"):
        # (lambdas read ``store``, replaced by a cold one per case)
        cases[f"history {conv} newest"] = lambda c=conv: store.history(me, c)
        cases[f"history {conv} before mid"] = lambda c=conv: store.history(me, c, before=mid)
        cases[f"history {conv} before 1000"] = lambda c=conv: store.history(me, c, before=1000)
        cases[f"history {conv} after mid"] = lambda c=conv: store.history(me, c, after=mid)
    for name in list(cases):
        store.close()  # a cold store each time: cursors and caches as after a restart
        store = Store(args.db)
        fn = cases[name]
        seen: list[str] = []
        store._db.set_trace_callback(seen.append)
        t = time.perf_counter()
        fn()
        cold = (time.perf_counter() - t) * 1000
        store._db.set_trace_callback(None)
        ms = timed(fn)
        print(f"{name:45s} cold {cold:9.2f} ms, warm {ms:9.2f} ms")
        for sql in dict.fromkeys(s for s in seen if s.lstrip().upper().startswith("SELECT")):
            try:
                plan = [r[3] for r in store._db.execute("EXPLAIN QUERY PLAN " + sql)]
            except Exception as exc:  # (a statement with bound values only in the trace)
                plan = [f"? {exc}"]
            flags = [p for p in plan if p.startswith("SCAN") or "TEMP B-TREE" in p]
            if flags:
                print(f"    {sql[:150]}")
                for p in flags:
                    print(f"      ! {p}")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
