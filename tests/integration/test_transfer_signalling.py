"""Signalling of peer-to-peer transfers through the server, over real sockets."""

from __future__ import annotations

import hashlib

from helpers.wire import connect_as

from messenger.protocol import (
    OFFER_EXPIRED,
    Endpoint,
    Error,
    ErrorCode,
    GetRoster,
    GroupAccept,
    GroupCreate,
    Ok,
    Presence,
    TransferAccept,
    TransferAccepted,
    TransferCancel,
    TransferCancelled,
    TransferDecline,
    TransferDeclined,
    TransferOffer,
    TransferOffered,
)

DIGEST = hashlib.sha256(b"video bytes").hexdigest()


def offer(client, to="bob", **fields):
    args = {"to": to, "name": "clip.mp4", "size": 11, "sha256": DIGEST,
            "mime": "video/mp4", "endpoint": Endpoint(host="127.0.0.1", port=40000)}
    args.update(fields)
    return client.request(TransferOffer, **args)


def test_offer_accept_relays_endpoints_fingerprint_and_one_secret(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    ok = offer(alice)
    assert isinstance(ok, Ok) and ok.transfer_id and len(ok.secret) == 64
    offered = bob.wait_for(lambda f: isinstance(f, TransferOffered))
    assert (offered.transfer_id, offered.sender, offered.name, offered.size, offered.sha256,
            offered.mime) == (ok.transfer_id, "alice", "clip.mp4", 11, DIGEST, "video/mp4")
    assert Endpoint(host="127.0.0.1", port=40000) in offered.endpoints
    assert offered.secret == ok.secret  # over TLS, to the two parties only
    answer = bob.request(TransferAccept, transfer_id=ok.transfer_id,
                         endpoint=Endpoint(host="127.0.0.1", port=40001),
                         fingerprint="AA:BB", offset=5)
    assert isinstance(answer, Ok) and answer.secret == ok.secret
    accepted = alice.wait_for(lambda f: isinstance(f, TransferAccepted))
    assert (accepted.user, accepted.fingerprint, accepted.offset) == ("bob", "AA:BB", 5)
    assert accepted.endpoints[0] == Endpoint(host="127.0.0.1", port=40001)


def test_offer_to_offline_or_unknown_user_is_refused_clearly(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    err = offer(alice, to="charlie")
    assert isinstance(err, Error) and err.code == ErrorCode.USER_OFFLINE
    assert "offline" in err.message
    assert offer(alice, to="ghost").code == ErrorCode.UNKNOWN_USER
    assert offer(alice, sha256="nothex").code == ErrorCode.BAD_REQUEST


def test_accepting_an_offer_whose_sender_is_offline_is_refused_and_the_offer_stays(
        qtbot, server):
    """Alice's app quit while her offer waited (an offer *from* someone who went offline
    stays open); bob's accept was taken and relayed to nobody, and his card said
    "Connecting…" for 30 s (a hunt). It gets ``user_offline``; once alice is back, the offer
    can still be accepted."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    ok = offer(alice)
    bob.wait_for(lambda f: isinstance(f, TransferOffered))
    alice.close()
    bob.wait_for(lambda f: isinstance(f, Presence) and f.user == "alice" and not f.online)
    fields = {"transfer_id": ok.transfer_id, "endpoint": Endpoint(host="127.0.0.1", port=40001),
              "fingerprint": "AA:BB"}
    err = bob.request(TransferAccept, **fields)
    assert isinstance(err, Error) and err.code == ErrorCode.USER_OFFLINE
    assert "alice is offline" in err.message
    alice = connect_as(qtbot, server, "alice", "alice123")
    assert isinstance(bob.request(TransferAccept, **fields), Ok)
    assert alice.wait_for(lambda f: isinstance(f, TransferAccepted)).user == "bob"


def test_decline_tells_the_sender_and_closes_the_transfer(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    ok = offer(alice)
    bob.wait_for(lambda f: isinstance(f, TransferOffered))
    assert isinstance(bob.request(TransferDecline, transfer_id=ok.transfer_id,
                                  reason="too large"), Ok)
    declined = alice.wait_for(lambda f: isinstance(f, TransferDeclined))
    assert (declined.user, declined.reason) == ("bob", "too large")
    again = bob.request(TransferAccept, transfer_id=ok.transfer_id,
                        endpoint=Endpoint(host="127.0.0.1", port=1), fingerprint="x")
    assert again.code == ErrorCode.UNKNOWN_TRANSFER


def offered_a_day_ago(qtbot, server, monkeypatch):
    """alice offers bob a file; then the transfers' clock (monotonic, injected) moves a
    day and an hour on. Returns ``(alice, bob, the offer's ok)``."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    ok = offer(alice)
    bob.wait_for(lambda f: isinstance(f, TransferOffered))
    transfers = server.server.core.transfers
    later = transfers._clock() + 25 * 3600
    monkeypatch.setattr(transfers, "_clock", lambda: later)
    return alice, bob, ok


def test_an_offer_forgotten_after_a_day_is_told_to_both_sides(qtbot, server, monkeypatch):
    """An offer left unanswered for a day was forgotten silently: the sender's card waited
    for an answer for good, and the recipient's Accept was told "unknown transfer" (a
    hunt). The transfers' clock (monotonic, injected) is moved a day and an hour on."""
    alice, bob, ok = offered_a_day_ago(qtbot, server, monkeypatch)
    late = bob.request(TransferAccept, transfer_id=ok.transfer_id,
                       endpoint=Endpoint(host="127.0.0.1", port=1), fingerprint="x")
    assert late.code == ErrorCode.UNKNOWN_TRANSFER
    declined = alice.wait_for(lambda f: isinstance(f, TransferDeclined))
    cancelled = bob.wait_for(lambda f: isinstance(f, TransferCancelled))
    assert (declined.transfer_id, declined.user, declined.reason) == \
        (ok.transfer_id, "bob", OFFER_EXPIRED)
    assert (cancelled.transfer_id, cancelled.user, cancelled.reason) == \
        (ok.transfer_id, "alice", OFFER_EXPIRED)


def test_an_offer_forgotten_on_a_quiet_server_is_told_all_the_same(qtbot, make_server,
                                                                    monkeypatch):
    """Told only when some transfer request or login swept it: a quiet server left the
    sender's card waiting (a review). Its idle timer sweeps too."""
    server = make_server(demo=True, idle_timeout=1.5)  # (checked every 0.25 s)
    alice, bob, ok = offered_a_day_ago(qtbot, server, monkeypatch)
    declined = alice.wait_for(lambda f: isinstance(f, TransferDeclined))  # (nobody asked)
    assert (declined.transfer_id, declined.reason) == (ok.transfer_id, OFFER_EXPIRED)
    assert bob.wait_for(lambda f: isinstance(f, TransferCancelled)).reason == OFFER_EXPIRED


def test_strangers_never_see_the_secret(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    ok = offer(alice)
    bob.wait_for(lambda f: isinstance(f, TransferOffered))
    alice.send_text("broadcast", "marker")
    charlie.wait_for(lambda f: getattr(f, "text", None) == "marker")
    assert not [f for f in charlie.frames if ok.secret in repr(f)]


def test_cancel_from_either_side_and_strangers_cannot_touch_it(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    ok = offer(alice)
    err = charlie.request(TransferCancel, transfer_id=ok.transfer_id)
    assert err.code == ErrorCode.UNKNOWN_TRANSFER
    assert alice.request(TransferDecline, transfer_id=ok.transfer_id).code == \
        ErrorCode.UNKNOWN_TRANSFER  # only the recipient declines
    assert isinstance(bob.request(TransferCancel, transfer_id=ok.transfer_id), Ok)
    cancelled = alice.wait_for(lambda f: isinstance(f, TransferCancelled))
    assert cancelled.user == "bob"
    second = offer(alice)
    assert isinstance(alice.request(TransferCancel, transfer_id=second.transfer_id), Ok)
    assert bob.wait_for(lambda f: isinstance(f, TransferCancelled)).user == "alice"


def test_a_second_device_of_the_recipient_cannot_accept_an_accepted_offer(qtbot, server):
    """Bob is logged in twice and both of his apps accept (auto-accept): only the first
    accept reaches alice; the second device is told the offer was accepted elsewhere."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    phone = connect_as(qtbot, server, "bob", "bob123")
    laptop = connect_as(qtbot, server, "bob", "bob123")
    ok = offer(alice)
    for device in (phone, laptop):
        assert device.wait_for(lambda f: isinstance(f, TransferOffered)).secret == ok.secret

    def accept(device, port):
        return device.request(TransferAccept, transfer_id=ok.transfer_id,
                              endpoint=Endpoint(host="127.0.0.1", port=port),
                              fingerprint="AA:BB")

    assert isinstance(accept(phone, 40001), Ok)
    err = accept(laptop, 40002)
    assert isinstance(err, Error) and err.code == ErrorCode.ACCEPTED_ELSEWHERE
    assert "another device" in err.message
    assert isinstance(accept(phone, 40003), Ok)  # the accepting device may accept again
    assert isinstance(alice.request(GetRoster), Ok)  # a round trip: all relays are in
    relayed = [f for f in alice.frames if isinstance(f, TransferAccepted)]
    assert [f.endpoints[0].port for f in relayed] == [40001, 40003]
    # Once the accepting device is gone, another one may take over.
    phone.close()
    qtbot.waitUntil(lambda: isinstance(accept(laptop, 40004), Ok))


def test_offers_past_the_per_sender_cap_are_refused_until_one_is_closed(qtbot, make_server):
    server = make_server(demo=True, max_waiting_offers=2)
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    first = offer(alice)
    assert isinstance(first, Ok) and isinstance(offer(alice), Ok)
    err = offer(alice)
    assert isinstance(err, Error) and err.code == ErrorCode.RATE_LIMITED
    assert "2 file offers waiting for an answer" in err.message
    assert isinstance(offer(bob, to="alice"), Ok)  # the cap is per sender
    assert isinstance(alice.request(TransferCancel, transfer_id=first.transfer_id), Ok)
    assert isinstance(offer(alice), Ok)


def test_long_relayed_strings_are_refused_and_the_transfer_goes_on(qtbot, server):
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    err = offer(alice, mime="x" * 501)
    assert isinstance(err, Error) and err.code == ErrorCode.BAD_REQUEST and "mime" in err.message
    ok = offer(alice)
    assert isinstance(ok, Ok)
    err = bob.request(TransferAccept, transfer_id=ok.transfer_id,
                      endpoint=Endpoint(host="h" * 501, port=40001), fingerprint="AA:BB")
    assert isinstance(err, Error) and err.code == ErrorCode.BAD_REQUEST and "host" in err.message
    err = bob.request(TransferDecline, transfer_id=ok.transfer_id, reason="no" * 300)
    assert isinstance(err, Error) and "reason" in err.message
    assert isinstance(bob.request(TransferDecline, transfer_id=ok.transfer_id, reason="no"), Ok)


def test_sizes_offsets_and_ports_out_of_range_are_refused_and_never_relayed(qtbot, server):
    """A size or offset past 2^63-1 (SQLite's INTEGER: the other app could not store it) or
    a port past 65535 is ``bad_request`` to its sender; the other party hears nothing."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    for fields in ({"size": 1 << 63}, {"size": -1},
                   {"endpoint": Endpoint(host="127.0.0.1", port=70000)}):
        err = offer(alice, **fields)
        assert isinstance(err, Error) and err.code == ErrorCode.BAD_REQUEST, fields
    ok = offer(alice, size=(1 << 63) - 1)  # the largest there is
    assert isinstance(ok, Ok)
    offered = bob.wait_for(lambda f: isinstance(f, TransferOffered))
    assert offered.size == (1 << 63) - 1  # the only offer bob got
    for offset, port in ((1 << 63, 40001), (-1, 40001), (0, -5)):
        err = bob.request(TransferAccept, transfer_id=ok.transfer_id,
                          endpoint=Endpoint(host="127.0.0.1", port=port),
                          fingerprint="AA:BB", offset=offset)
        assert isinstance(err, Error) and err.code == ErrorCode.BAD_REQUEST, (offset, port)
    assert isinstance(bob.request(TransferAccept, transfer_id=ok.transfer_id,
                                  endpoint=Endpoint(host="127.0.0.1", port=40001),
                                  fingerprint="AA:BB", offset=3), Ok)
    accepted = alice.wait_for(lambda f: isinstance(f, TransferAccepted))
    assert accepted.offset == 3
    # Nothing else was relayed (the ones above were consumed; a relayed bad one would have
    # come first, in the order the server handled the requests).
    assert not any(isinstance(f, TransferOffered) for f in bob.frames)
    assert not any(isinstance(f, TransferAccepted) for f in alice.frames)


def test_an_offset_past_the_files_size_is_refused(qtbot, server):
    """A resume offset beyond the offer's size was relayed, and the sender's card showed
    "461168601842739 %" (found by a transfer hunt)."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    ok = offer(alice, size=1000)
    bob.wait_for(lambda f: isinstance(f, TransferOffered))
    err = bob.request(TransferAccept, transfer_id=ok.transfer_id,
                      endpoint=Endpoint(host="127.0.0.1", port=40001), fingerprint="AA:BB",
                      offset=1001)
    assert isinstance(err, Error) and err.code == ErrorCode.BAD_REQUEST
    assert "1000 bytes" in err.message
    assert isinstance(bob.request(TransferAccept, transfer_id=ok.transfer_id,
                                  endpoint=Endpoint(host="127.0.0.1", port=40001),
                                  fingerprint="AA:BB", offset=1000), Ok)  # all of it: fine
    # The first relayed is the good one: the bad one was not relayed.
    assert alice.wait_for(lambda f: isinstance(f, TransferAccepted)).offset == 1000


def test_a_resumed_offer_replaces_the_attempt_it_names(qtbot, make_server):
    """Resuming closes the attempt the offer names (same sender, recipient and file), so
    resume after resume does not fill the cap of offers waiting for an answer; a name that
    is not such an attempt closes nothing."""
    server = make_server(demo=True, max_waiting_offers=2)
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    first = offer(alice)
    other = offer(bob, to="alice")  # bob's: not alice's to replace
    latest = first
    for _ in range(5):
        again = offer(alice, resumes=latest.transfer_id)
        assert isinstance(again, Ok), again
        relayed = bob.wait_for(lambda f, t=again.transfer_id: isinstance(f, TransferOffered)
                               and f.transfer_id == t)
        assert relayed.resumes == latest.transfer_id
        latest = again
    old = bob.request(TransferAccept, transfer_id=first.transfer_id,
                      endpoint=Endpoint(host="127.0.0.1", port=1), fingerprint="x")
    assert old.code == ErrorCode.UNKNOWN_TRANSFER  # replaced
    assert isinstance(offer(alice, resumes=other.transfer_id, sha256="ab" * 32), Ok)
    assert isinstance(alice.request(TransferCancel, transfer_id=other.transfer_id), Ok)


def test_the_recipients_other_devices_learn_that_an_offer_was_answered(qtbot, server):
    """Bob is logged in twice: when one device accepts (or declines) an offer, the other is
    told (``transfer_cancelled`` from bob himself), so its card stops asking; it kept
    offering Accept / Decline until clicked. Alice gets only the accept or decline."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    phone = connect_as(qtbot, server, "bob", "bob123")
    laptop = connect_as(qtbot, server, "bob", "bob123")
    for answer, reason in (("accept", "accepted on another device"),
                           ("decline", "declined on another device")):
        ok = offer(alice)
        for device in (phone, laptop):
            device.wait_for(lambda f, t=ok.transfer_id:
                            isinstance(f, TransferOffered) and f.transfer_id == t)
        if answer == "accept":
            assert isinstance(phone.request(
                TransferAccept, transfer_id=ok.transfer_id,
                endpoint=Endpoint(host="127.0.0.1", port=40001), fingerprint="AA:BB"), Ok)
        else:
            assert isinstance(phone.request(TransferDecline, transfer_id=ok.transfer_id), Ok)
        told = laptop.wait_for(lambda f, t=ok.transfer_id:
                               isinstance(f, TransferCancelled) and f.transfer_id == t)
        assert (told.user, told.reason) == ("bob", reason)
        for device in (phone, alice):  # a round trip: all relays are in
            assert isinstance(device.request(GetRoster), Ok)
        assert not [f for f in phone.frames if isinstance(f, TransferCancelled)]
        assert not [f for f in alice.frames if isinstance(f, TransferCancelled)]


def test_an_offer_in_a_group_names_the_group_for_members_only(qtbot, server):
    """A file dropped on a group's tab is offered to each member with the group's name, so
    their apps file the card in the group (it went to the private conversation with the
    sender). Both must be members: the server decides, not the apps."""
    alice = connect_as(qtbot, server, "alice", "alice123")
    bob = connect_as(qtbot, server, "bob", "bob123")
    charlie = connect_as(qtbot, server, "charlie", "charlie123")
    assert isinstance(alice.request(GroupCreate, group="Lab", invite=["bob", "charlie"]), Ok)
    assert isinstance(bob.request(GroupAccept, group="lab"), Ok)
    assert isinstance(offer(alice, group="LAB"), Ok)
    offered = bob.wait_for(lambda f: isinstance(f, TransferOffered))
    assert offered.group == "Lab"  # as the server spells it
    assert isinstance(offer(alice), Ok)  # no group: a private offer, as before
    assert bob.wait_for(lambda f: isinstance(f, TransferOffered)).group is None
    refused = offer(alice, to="charlie", group="lab")  # invited, not a member yet
    assert (refused.code, refused.message) == (ErrorCode.NOT_MEMBER,
                                               "charlie is not a member of Lab")
    assert offer(charlie, to="alice", group="lab").code == ErrorCode.NOT_MEMBER
    assert offer(alice, group="nowhere").code == ErrorCode.UNKNOWN_GROUP
    # A Resume of a file sent in the group goes all the same, without the group, when one
    # of them is no longer in it (the recipient's card is there already).
    resumed = offer(alice, to="charlie", group="lab", resumes="0123456789abcdef")
    assert isinstance(resumed, Ok)
    assert charlie.wait_for(lambda f: isinstance(f, TransferOffered)).group is None
