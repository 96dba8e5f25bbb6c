"""Time-ordered client message ids (UUID version 7, RFC 9562 §5.7)."""

import uuid

from messenger.client.localstore import LocalStore
from messenger.protocol import time_ordered_id


def test_an_id_is_a_version_7_uuid_led_by_the_time_in_ms():
    text = time_ordered_id(1_700_000_000.123)
    parsed = uuid.UUID(text)
    assert len(text) == 32 and text == parsed.hex
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert int(text[:12], 16) == 1_700_000_000_123


def test_ids_sort_by_time_and_do_not_repeat():
    times = [1_700_000_000 + i / 1000 for i in range(0, 5000, 7)]
    ids = [time_ordered_id(t) for t in times]
    assert ids == sorted(ids)
    assert len({time_ordered_id(1.0) for _ in range(10_000)}) == 10_000  # same ms: random


def test_ids_made_in_one_burst_keep_their_order(monkeypatch):
    """RFC 9562 §6.2: within one millisecond, and when the clock steps back, each id is the
    previous one plus one in its random bits, so a burst stays in order."""
    import messenger.protocol.ids as ids

    monkeypatch.setattr(ids, "_last", (0, 0))  # restored after the test, like the clock
    clock = [1_800_000_000.0001]
    monkeypatch.setattr(ids.time, "time", lambda: clock[0])
    burst = [time_ordered_id() for _ in range(1000)]  # all in the same millisecond
    clock[0] -= 5  # the clock steps back
    later = [time_ordered_id() for _ in range(10)]
    assert burst + later == sorted(burst + later) and len(set(burst + later)) == 1010
    assert {int(i[:12], 16) for i in burst + later} == {1_800_000_000_000}
    assert all(uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122
               for i in burst + later)
    assert int(burst[1], 16) - int(burst[0], 16) == 1


def test_the_outbox_gives_each_message_a_time_ordered_id(tmp_path):
    store = LocalStore(tmp_path / "local.db")
    first = store.enqueue("bob", "unicast", ["bob"], "one")
    second = store.enqueue("bob", "unicast", ["bob"], "two")
    assert uuid.UUID(first.client_msg_id).version == 7
    assert first.client_msg_id[:12] <= second.client_msg_id[:12]
    assert store.enqueue("bob", "unicast", ["bob"], "3", client_msg_id="kept").client_msg_id \
        == "kept"
    store.close()
