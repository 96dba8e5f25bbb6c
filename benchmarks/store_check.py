"""What the app's login-time check of its local store costs (``LocalStore.check``: SQLite's
``PRAGMA quick_check`` over the whole file). Prints figures; not a test.

    python benchmarks/store_check.py [--messages 200000] [--runs 3]

The store is filled with ``add_messages`` (50 conversations, texts of ~100 characters) in a
temporary folder; the first run after filling finds the file in the page cache (a cold
start after a reboot reads it from disk, and is slower).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from messenger.client.localstore import CachedMessage, LocalStore

TEXT = "hello there, this is a message of an ordinary length " * 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "store.db"
        store = LocalStore(path)
        batch: list[CachedMessage] = []
        for seq in range(1, args.messages + 1):
            batch.append(CachedMessage(seq=seq, conv=f"user:p{seq % 50}", ts=float(seq),
                                       sender="bob", scope="unicast", text=TEXT,
                                       client_msg_id=f"c{seq}"))
            if len(batch) == 5000:
                store.add_messages(batch)
                batch = []
        store.add_messages(batch)
        size = sum(p.stat().st_size for p in Path(folder).iterdir()) / 1e6
        print(f"{args.messages:,} messages, {size:.1f} MB (with the WAL)")
        for run in range(1, args.runs + 1):
            start = time.perf_counter()
            store.check()
            print(f"  quick_check run {run}: {(time.perf_counter() - start) * 1000:.0f} ms")
        store.close()


if __name__ == "__main__":
    main()
