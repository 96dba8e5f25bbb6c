"""Run a piece of a test in another local time zone (the ``TZ`` environment variable, as a
user's system sets it), and put the test process's own back afterwards."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def local_zone(tz: str) -> Iterator[None]:
    """Local time is ``tz`` (a POSIX ``TZ`` string, e.g. ``"CET-1CEST,M3.5.0,M10.5.0/3"``:
    no zone database needed) inside the ``with``."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = tz
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


def zone_with_midnight_in(seconds: float) -> str:
    """A POSIX ``TZ`` string in which local midnight comes ``seconds`` from now (its offset
    from UTC to the second), so a test sees a date change without waiting for the real one."""
    east = int(-(time.time() + seconds)) % 86400  # local time = UTC + east
    if east > 43200:
        east -= 86400
    sign = "-" if east >= 0 else "+"  # (POSIX counts the offset west of UTC)
    east = abs(east)
    return f"XXX{sign}{east // 3600:02d}:{east % 3600 // 60:02d}:{east % 60:02d}"
