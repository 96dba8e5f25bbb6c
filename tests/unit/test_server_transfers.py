"""Open transfers (the Transfers class, no sockets): a per-sender cap, and expiry that frees
memory without waiting for the next offer."""

from __future__ import annotations

import pytest

from messenger.protocol import ErrorCode
from messenger.server.groups import RuleError
from messenger.server.transfers import Transfers

DIGEST = "ab" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def offer(transfers: Transfers, sender: str = "alice", recipient: str = "bob"):
    return transfers.offer(sender, recipient, "a.txt", 1, DIGEST)


def test_a_sender_past_the_cap_is_refused_clearly_and_others_are_not(clock):
    transfers = Transfers(clock=clock, max_per_sender=3)
    first = offer(transfers)
    for _ in range(2):
        offer(transfers, sender="ALICE")  # one sender, in any case
    with pytest.raises(RuleError) as refused:
        offer(transfers)
    assert refused.value.code == ErrorCode.RATE_LIMITED
    assert "3 file offers waiting for an answer" in refused.value.message
    assert "cancel" in refused.value.message
    assert len(transfers) == 3 and transfers.waiting_by("alice") == 3
    assert offer(transfers, sender="bob", recipient="alice")  # another sender
    transfers.close("bob", first.transfer_id, recipient_only=True)  # a decline frees a slot
    again = offer(transfers)
    with pytest.raises(RuleError):
        offer(transfers)
    transfers.accept("bob", again.transfer_id)  # accepted: open (to resume), not waiting
    transfers.accept("bob", again.transfer_id)  # (accepted again on resume: counted once)
    assert transfers.open_by("alice") == 3 and transfers.waiting_by("alice") == 2
    third = offer(transfers)
    with pytest.raises(RuleError):
        offer(transfers)
    transfers.close("alice", third.transfer_id)  # a cancel (either party) frees one too
    assert offer(transfers).sender == "alice"
    transfers.close("alice", again.transfer_id)  # closing an accepted one frees no slot
    assert transfers.waiting_by("alice") == 3 and transfers.open_by("alice") == 3


def test_a_day_of_accepted_files_does_not_hit_the_cap(clock):
    """A folder of 300 photos, each accepted: the cap is on offers nobody answered."""
    transfers = Transfers(clock=clock, max_per_sender=100)
    for _ in range(300):
        transfers.accept("bob", offer(transfers).transfer_id)
    assert transfers.open_by("alice") == 300 and transfers.waiting_by("alice") == 0


def test_expired_transfers_are_forgotten_and_free_their_slots(clock):
    transfers = Transfers(ttl=100.0, clock=clock, max_per_sender=2)
    old = offer(transfers)
    clock.now += 60
    young = offer(transfers)
    clock.now += 50  # old is 110 s old, young 50 s
    with pytest.raises(RuleError) as gone:
        transfers.get("bob", old.transfer_id)
    assert gone.value.code == ErrorCode.UNKNOWN_TRANSFER
    assert len(transfers) == 1 and transfers.open_by("alice") == 1
    assert transfers.get("bob", young.transfer_id) is young
    offer(transfers)  # the slot old held
    clock.now += 1000
    assert transfers.sweep() == 2 and len(transfers) == 0 and transfers.open_by("alice") == 0


def test_a_transfer_past_its_time_is_not_found_even_out_of_creation_order(clock):
    """The wall clock went back between two offers: the later one is older in time; the sweep
    stops at the first young one, and the look-up still refuses the expired one."""
    transfers = Transfers(ttl=100.0, clock=clock)
    young = offer(transfers)
    clock.now -= 500
    stale = offer(transfers)
    clock.now += 550  # young: 50 s old; stale: 550 s
    assert transfers.sweep() == 0
    with pytest.raises(RuleError):
        transfers.accept("bob", stale.transfer_id)
    assert transfers.get("alice", young.transfer_id) is young
    assert transfers.open_by("alice") == 1


def test_offers_cancelled_at_once_leave_nothing_behind(clock):
    """Offer and cancel in a loop behind one young open offer: the bookkeeping stays
    bounded by the open transfers."""
    transfers = Transfers(clock=clock, max_per_sender=2)
    offer(transfers, sender="bob", recipient="alice")
    for _ in range(10_000):
        transfers.close("alice", offer(transfers).transfer_id)
    assert len(transfers) == 1 and len(transfers._order) <= 2 + 64 + 1


def test_an_accepted_offer_cannot_be_declined_only_cancelled(clock):
    """One of the recipient's devices saw the offer lapse and declines it while another one
    receives it: the decline is refused, the transfer goes on."""
    transfers = Transfers(clock=clock)
    t = offer(transfers)
    transfers.accept("bob", t.transfer_id, session="laptop")
    with pytest.raises(RuleError) as refused:
        transfers.close("bob", t.transfer_id, recipient_only=True)
    assert refused.value.code == ErrorCode.ACCEPTED_ELSEWHERE
    assert transfers.get("alice", t.transfer_id) is t
    transfers.close("bob", t.transfer_id)  # a cancel still ends it
    assert transfers.open_by("alice") == 0


def test_offers_lapse_when_their_recipient_goes_offline(clock):
    """An offer its recipient never answered ends when they go offline (the server then
    declines it with "offer lapsed"): accepted ones stay (a resume), others' stay, and the
    counts let the sender offer again."""
    transfers = Transfers(clock=clock, max_per_sender=3)
    waiting = [offer(transfers, recipient="Bob") for _ in range(2)]
    accepted = offer(transfers)
    transfers.accept("bob", accepted.transfer_id, session=1)
    other = offer(transfers, recipient="carol")
    declined = offer(transfers, sender="dave")
    transfers.close("bob", declined.transfer_id, recipient_only=True)
    assert transfers.lapse("bob") == waiting
    assert transfers.lapse("bob") == []
    assert transfers.get("alice", accepted.transfer_id) is accepted
    assert transfers.get("alice", other.transfer_id) is other
    assert transfers.waiting_by("alice") == 1 and transfers.open_by("alice") == 2
    for t in waiting:
        with pytest.raises(RuleError):
            transfers.get("alice", t.transfer_id)
    assert transfers._waiting_to == {"carol": {other.transfer_id: None}}
