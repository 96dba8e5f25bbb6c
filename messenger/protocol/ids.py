"""Client-chosen message ids that sort by time (UUID version 7). Pure Python.

The server keeps a unique index on ``(client_msg_id, sender_key)`` to make retries idempotent.
A random id (UUID version 4) lands on a random leaf of that B-tree, so every message of a
commit rewrites a page of its own into the WAL; ids that grow with time land on the last
leaves, and a commit of hundreds of messages rewrites a handful (measured in
``docs/performance.md``, *Time-ordered message ids*). This is the reason RFC 9562 gives for
version 7 (§6.2, "database index locality").
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_VERSION_7 = 7 << 76
_VARIANT_RFC = 0b10 << 62
_RAND_BITS = 74
_lock = threading.Lock()
_last = (0, 0)  # (ms, random field) of the last id made without ``now``


def time_ordered_id(now: float | None = None) -> str:
    """A new UUID version 7 (RFC 9562 §5.7) as 32 lowercase hex digits.

    Layout: 48 bits of Unix time in milliseconds, the version (4 bits), 12 random bits, the
    variant (2 bits), 62 random bits. Ids made in a later millisecond sort after earlier ones,
    as strings too. Made without ``now``, the ids of one process strictly increase: within
    one millisecond (or if the clock went back) an id is the previous one's random field plus
    one (RFC 9562 §6.2, "Monotonic Random"), so a burst of messages keeps its order, and the
    server can tell each one new without a look-up (``Store.store_message``).

    Args:
        now: Unix time in seconds (default: ``time.time()``); for tests (not monotonic:
            ids with the same ``now`` are in random order).
    """
    global _last
    ms = int((time.time() if now is None else now) * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big") & ((1 << _RAND_BITS) - 1)
    if now is None:
        with _lock:
            last_ms, last_rand = _last
            if ms <= last_ms:
                ms, rand = last_ms, last_rand + 1
                if rand >> _RAND_BITS:  # 2**74 ids in one millisecond: borrow the next one
                    ms, rand = ms + 1, 0
            _last = (ms, rand)
    value = (ms << 80) | _VERSION_7 | (rand >> 62) << 64 | _VARIANT_RFC \
        | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value).hex
