"""Cost of a store commit against the messages in it (prints figures; not a test).

Drives :class:`messenger.server.store.Store` as the server does (batch mode): ``k`` unicast
messages stored, one commit, their recipients' ``delivered`` marks, one more commit; repeated
until 4,000 messages. Prints wall time and CPU (user, system) per message for each ``k``, with
``synchronous=FULL`` (fsync inside ``COMMIT``, the server before the pipelined group commit)
and with ``--deferred`` (``Store.defer_sync``: ``COMMIT`` without fsync, as the server runs
now, the fsync being on the WAL sync thread, which is not measured here).

    .venv/bin/python benchmarks/commit.py [--deferred] [--dir DIR]

The database goes to a temporary folder (``--dir`` to put it on another disk).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import uuid
from pathlib import Path

from messenger.server.store import Store

USERS = [f"user{i}" for i in range(200)]


def cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def run(store: Store, k: int, total: int = 4000) -> tuple[float, float, float]:
    """Seconds per message: wall, user CPU, system CPU."""
    n = 0
    t0, c0 = time.perf_counter(), cpu()
    while n < total:
        sent = []
        for j in range(k):
            sender, recipient = USERS[(n + j) % 200], USERS[(n + j + 100) % 200]
            m, _ = store.store_message(sender=sender, client_msg_id=uuid.uuid4().hex,
                                       scope="unicast", text="x" * 64, recipients=[recipient],
                                       recipient_keys=[recipient])
            sent.append((recipient, m.seq))
        store.commit()
        for recipient, seq in sent:
            store.mark(recipient, [seq], "delivered")
        store.commit()
        n += k
    t1, c1 = time.perf_counter(), cpu()
    return (t1 - t0) / n, (c1[0] - c0[0]) / n, (c1[1] - c0[1]) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--deferred", action="store_true", help="COMMIT without fsync")
    p.add_argument("--dir", help="folder for the database (default: a temporary one)")
    args = p.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="messenger-commit-"))
    store = Store(folder / "bench.db")
    store.set_batch(True)
    if args.deferred:
        store.defer_sync()
    print(f"{'deferred (no fsync in COMMIT)' if args.deferred else 'synchronous=FULL'}, "
          f"database in {folder}")
    print(f"{'messages/commit':>16} {'wall µs/msg':>12} {'user µs/msg':>12} {'sys µs/msg':>11}")
    for k in (1, 2, 5, 20, 100):
        wall, user, system = run(store, k)
        print(f"{k:>16} {wall * 1e6:>12.0f} {user * 1e6:>12.0f} {system * 1e6:>11.0f}")
    store.close()


if __name__ == "__main__":
    main()
