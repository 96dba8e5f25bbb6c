"""How far the server's wall clock is from this computer's.

The server stamps messages, presence and file offers with its own clock; on a LAN without
NTP it can be minutes off the app's. The app learns the difference from ``hello.server_time``
(NTP-style: the server read its clock about halfway between our ``hello`` leaving and its
answer coming) and uses it where a server time meets a local one:

- file cards are stamped on the server's clock (:meth:`ServerClock.now`), so they sort among
  messages as they happened (also after a restart, and in an export);
- presence times ("last seen 5 min ago", "since 14:05") are read on the local clock
  (:meth:`ServerClock.to_local`).

Pure Python: no Qt, no I/O.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

TS_MAX = float(1 << 33)
"""A ``server_time`` beyond it (the year 2242, as ``models.TS_MAX``) or below 0 is bogus and
ignored."""


SAW_LIMIT = 60.0
"""Seconds: a server stamp further than this from the estimate is not taken as a floor."""


class ServerClock:
    """The server's clock as seen from this computer: ``offset`` seconds ahead of the local
    one (negative: behind); 0 until a ``hello`` told it.

    Args:
        clock: the local wall clock (Unix seconds); ``time.time`` by default.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.offset = 0.0
        """Server time minus local time, in seconds."""
        self._newest = 0.0

    def saw(self, server_ts: float) -> None:
        """The server stamped something ``server_ts`` (a message, an ack): :meth:`now`
        never reads earlier than that. The offset is only as good as half a round trip (a
        busy server answers ``hello`` late), and a file sent just after a message was
        stamped before it. A stamp more than :data:`SAW_LIMIT` from :meth:`now` is a clock
        change on the server, left to the next ``hello``."""
        if math.isfinite(server_ts) and abs(server_ts - self.now()) <= SAW_LIMIT:
            self._newest = max(self._newest, server_ts)

    def observe(self, sent: float, server_time: float | None, received: float) -> None:
        """A ``hello`` left at local time ``sent``; the server's answer, stamped
        ``server_time``, came at local time ``received``: the server read its clock at about
        the midpoint. Ignored when the server gave no time, an absurd one, or the local
        clock went backwards meanwhile (the offset stays as it was)."""
        if server_time is None or not math.isfinite(server_time) or \
                not 0.0 <= server_time <= TS_MAX or received < sent:
            return
        self.offset = server_time - (sent + received) / 2

    def now(self) -> float:
        """The server's time now (Unix seconds), read from the local clock, and not earlier
        than any stamp :meth:`saw`."""
        return max(self._clock() + self.offset, self._newest)

    def to_local(self, server_ts: float) -> float:
        """Server time ``server_ts`` on the local clock (what ``time.time()`` read then)."""
        return server_ts - self.offset
