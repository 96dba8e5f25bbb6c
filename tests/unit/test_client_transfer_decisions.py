"""The plain decisions of messenger.client.transfers (no sockets) and the TransferModel."""

from __future__ import annotations

import os
from pathlib import Path

from messenger.client.transfers import (
    PARTIAL_MAX_AGE,
    PARTIAL_ORPHAN_AGE,
    RECEIVE,
    SEND,
    Transfer,
    TransferModel,
    TransferState,
    display_name,
    format_duration,
    format_size,
    is_video,
    pick_endpoint,
    runs_as_program,
    send_refusal,
    stale_partials,
    status_text,
    strip_bidi,
)


def test_pick_endpoint_prefers_the_last_usable_address():
    assert pick_endpoint([("0.0.0.0", 4000), ("192.168.1.5", 4000)]) == ("192.168.1.5", 4000)
    assert pick_endpoint([("10.0.0.2", 1), ("::", 2)]) == ("10.0.0.2", 1)
    assert pick_endpoint([("0.0.0.0", 4000), ("host.example", 5)]) is None
    assert pick_endpoint([("127.0.0.1", 0)]) is None
    # Never a whole network: a hostile receiver could aim the handshake at one.
    for bad in ("224.0.0.1", "239.255.255.250", "255.255.255.255", "ff02::1"):
        assert pick_endpoint([("10.0.0.2", 1), (bad, 2)]) == ("10.0.0.2", 1), bad
    # Both on one LAN (or both public): the server's view.
    assert pick_endpoint([("10.0.0.5", 4000), ("192.168.1.5", 4000)]) == ("192.168.1.5", 4000)
    assert pick_endpoint([("127.0.0.1", 4000), ("8.8.8.8", 4000)]) == ("8.8.8.8", 4000)


def test_pick_endpoint_prefers_the_lan_address_when_the_server_saw_the_nat():
    """The chat server is outside the LAN: it saw the router's public address, which the
    peer next door cannot use; the address the peer reported can."""
    assert pick_endpoint([("192.168.1.20", 4000), ("8.8.4.4", 4000)]) == ("192.168.1.20", 4000)
    assert pick_endpoint([("fd00::5", 4000), ("2001:4860::8888", 4000)]) == ("fd00::5", 4000)


def test_pick_endpoint_takes_an_address_of_a_version_our_socket_reaches():
    """An app whose transfer socket is IPv4 only (a system without IPv6) sent to the IPv6
    address the server saw, which it could never reach, past the IPv4 one reported."""
    both = [("192.168.1.20", 4000), ("2001:db8::20", 4000)]
    assert pick_endpoint(both) == ("2001:db8::20", 4000)
    assert pick_endpoint(both, {4}) == ("192.168.1.20", 4000)
    assert pick_endpoint(both, {6}) == ("2001:db8::20", 4000)
    assert pick_endpoint([("::ffff:10.0.0.2", 1)], {4}) == ("::ffff:10.0.0.2", 1)
    # None of a reachable version: the engine says which one is missing.
    assert pick_endpoint([("2001:db8::20", 4000)], {4}) == ("2001:db8::20", 4000)


def test_send_refusal_says_why(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    assert "folder" in send_refusal(folder, 100)
    assert "does not exist" in send_refusal(tmp_path / "gone.txt", 100)
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 2048)
    assert "2.0 KB, over the limit of 1.0 KB" in send_refusal(big, 1024)
    assert send_refusal(big, 4096) is None


def test_video_detection_and_formats():
    assert is_video("clip.MOV") and is_video("x.bin", "video/mp4") and not is_video("a.pdf")
    assert (format_size(1), format_size(1536), format_size(4 * 1024 ** 3)) == \
        ("1 byte", "1.5 KB", "4.0 GB")
    assert (format_duration(4.2), format_duration(125), format_duration(3720)) == \
        ("4 s", "2 min 5 s", "1 h 2 min")


def test_status_text_and_eta():
    t = Transfer("k", SEND, "bob", "bob", "clip.mp4", 10_000_000, state=TransferState.ACTIVE,
                 done=4_000_000, rate=2_000_000.0)
    assert t.eta == 3.0
    assert status_text(t) == "3.8 MB of 9.5 MB · 1.9 MB/s · 3 s left"
    t.state, t.error, t.by_peer = TransferState.DECLINED, "too large", True
    assert status_text(t) == "bob declined it: too large"
    r = Transfer("k2", RECEIVE, "alice", "alice", "a.pdf", 5, state=TransferState.INCOMING)
    assert status_text(r) == "alice wants to send you this file" and r.eta is None
    # Nobody declined by hand: the app did, or the peer went offline before answering.
    t.error = "refused automatically: file too large"
    assert status_text(t) == "bob's app refused it: file too large"
    r.state, r.error, r.by_peer = TransferState.DECLINED, "refused automatically: too big", False
    assert status_text(r) == "Refused automatically: too big (see Preferences)"
    t.error = "offer expired"  # (a day unanswered: the server tells both sides)
    assert status_text(t).startswith("Not answered within a day: the offer expired")
    r.state, r.error, r.by_peer = TransferState.CANCELLED, "offer expired", True
    assert status_text(r) == ("The offer expired (not answered within a day); alice can send "
                              "it again.")
    t.error = "offer lapsed"
    assert status_text(t).startswith("Not delivered: bob went offline or quit before")
    r.state, r.error, r.by_peer = TransferState.CANCELLED, "offer lapsed", True
    # (withdrawn by the sender's app: the offer lapsed when alice quit, bob was online)
    assert status_text(r) == ("Withdrawn: alice went offline before you answered; alice can "
                              "send it again.")


def test_names_and_reasons_from_the_peer_lose_their_bidi_controls():
    controls = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
    assert strip_bidi(f"a{controls}b") == "ab"
    # a receive shows the name it will be saved under, a send the user's own name
    assert display_name("invoice\u202efdp.exe") == "invoicefdp.exe"
    assert display_name("../x<b>.txt", RECEIVE) == "x_b_.txt"
    assert display_name("my:notes\u2067.txt", SEND) == "my:notes.txt"
    t = Transfer("k", SEND, "bob", "bob", "a.txt", 5, state=TransferState.CANCELLED,
                 error="\u202eoops", by_peer=True)
    assert status_text(t) == "Cancelled by bob: oops"


def test_a_received_program_is_told_by_the_extension_it_is_saved_under():
    """Open on a received "invoice.pdf.exe" ran it unasked: a file whose last extension runs
    something when opened is a program (the card asks first), whatever its MIME type says;
    the icon, too, follows the extension, not the sender's MIME type."""
    for name in ("invoice.pdf.exe", "SETUP.EXE", "run.bat", "a.js", "link.lnk", "x.ps1",
                 "go.sh", "tool.AppImage", "launcher.desktop", "do.command", "app.msi",
                 "invoice.exe. . ", "invoice\u202efdp.exe", "page.url", "s.py"):
        assert runs_as_program(name), name
    for name in ("invoice.exe.pdf", "photo.jpg", "notes.txt", "exe", ".exe.txt", "archive.zip",
                 "clip.mp4", ""):
        assert not runs_as_program(name), name
    exe = Transfer("r", RECEIVE, "alice", "alice", "invoice.exe", 10, mime="video/mp4")
    assert exe.is_program and not exe.is_video
    done = Transfer("r", RECEIVE, "alice", "alice", "a.txt", 1, path="/d/a (1).cmd",
                    state=TransferState.DONE)
    assert done.is_program  # (the saved file's name)
    assert Transfer("r", RECEIVE, "alice", "alice", "clip.mp4", 1, mime="text/plain").is_video
    assert Transfer("s", SEND, "bob", "bob", "x.bin", 1, mime="video/mp4").is_video


def test_transfer_model_roles(qtmodeltester):
    model = TransferModel()
    model.add(Transfer("k", SEND, "bob", "bob", "clip.mp4", 100, mime="video/mp4",
                       state=TransferState.ACTIVE, done=50, rate=10.0))
    model.add(Transfer("r", RECEIVE, "carol", "carol", "a.pdf", 7))
    qtmodeltester.check(model)
    index = model.index(0, 0)
    assert (index.data(model.IdRole), index.data(model.DirectionRole), index.data(model.PeerRole),
            index.data(model.DoneRole), index.data(model.TotalRole), index.data(model.EtaRole),
            index.data(model.IsVideoRole), index.data(model.StateRole)) == \
        ("k", "send", "bob", 50, 100, 5.0, True, TransferState.ACTIVE)
    assert model.roleNames()[model.EtaRole] == b"eta"
    assert model.row_of("r") == 1 and model.get("missing") is None


def test_stale_partials_are_the_old_ones_and_the_unreferenced_not_written_lately(tmp_path):
    now = 1_800_000_000.0
    folder = tmp_path / ".partial"
    folder.mkdir()

    def part(name: str, age: float):
        path = folder / name
        path.write_bytes(b"x")
        os.utime(path, (now - age, now - age))
        return path

    kept_young = part("a.part", PARTIAL_MAX_AGE - 60)  # a resumable receive refers to it
    kept_old = part("b.part", PARTIAL_MAX_AGE + 60)  # ... but not written for too long
    orphan_old = part("a.1.part", PARTIAL_ORPHAN_AGE + 60)
    part("c.part", PARTIAL_ORPHAN_AGE - 60)  # perhaps being written by another app
    part("notes.txt", PARTIAL_MAX_AGE * 2)  # not a partial file
    (folder / "d.part").mkdir()  # not a file
    assert stale_partials(folder, [kept_young, kept_old], now) == [orphan_old, kept_old]
    assert stale_partials(folder, [], now, max_age=1e12, orphan_age=1e12) == []
    assert stale_partials(tmp_path / "missing", [], now) == []


def test_a_discarded_receive_says_so_and_is_final():
    t = Transfer("k", RECEIVE, "alice", "alice", "a.bin", 5, state=TransferState.DISCARDED)
    assert t.final
    assert status_text(t) == "Discarded (the partly received file was deleted)"


def test_send_refusal_names_a_folder_or_link_target_that_is_not_utf8(tmp_path):
    """A plain file name in a folder named in an older encoding, or a link to such a file:
    its path cannot be kept in the local store, and its card stayed "Preparing…"."""
    raw = os.fsencode(tmp_path) + b"/caf\xe9"
    os.mkdir(raw)
    inside = Path(os.fsdecode(raw)) / "notes.txt"
    inside.write_bytes(b"hi")
    link = tmp_path / "link.txt"
    link.symlink_to(inside)
    for path in (inside, link):
        said = send_refusal(path, 100)
        assert said is not None and f"“{path.name}” cannot be sent" in said, said
        assert "“caf\ufffd”" in said and "not UTF-8" in said, said
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"hi")
    assert send_refusal(plain, 100) is None
