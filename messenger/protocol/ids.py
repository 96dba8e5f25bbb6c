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
import time
import uuid

_VERSION_7 = 7 << 76
_VARIANT_RFC = 0b10 << 62


def time_ordered_id(now: float | None = None) -> str:
    """A new UUID version 7 (RFC 9562 §5.7) as 32 lowercase hex digits.

    Layout: 48 bits of Unix time in milliseconds, the version (4 bits), 12 random bits, the
    variant (2 bits), 62 random bits. Ids made in a later millisecond sort after earlier ones,
    as strings too; within one millisecond their order is random.

    Args:
        now: Unix time in seconds (default: ``time.time()``); for tests.
    """
    ms = int((time.time() if now is None else now) * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits, 74 of them used
    value = (ms << 80) | _VERSION_7 | ((rand >> 62) & 0xFFF) << 64 | _VARIANT_RFC \
        | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value).hex
