"""The transfer protocol's plain parts: frames, stream state machines, names, offers. No I/O
except a temporary folder for the unique-name checks."""

from __future__ import annotations

import os
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messenger.client.transfers import send_refusal
from messenger.transfer.protocol import (
    DEFAULT_SIZE_LIMIT,
    MAX_NAME_BYTES,
    SECRET_SIZE,
    AppError,
    Delivered,
    Done,
    FileComplete,
    FileData,
    FrameReader,
    Hello,
    HelloReceived,
    Offer,
    ProtocolViolation,
    ReceiverProtocol,
    SecretPresented,
    SenderProtocol,
    Start,
    StartSending,
    check_offer,
    claim_unique_path,
    describe_close,
    encode_frame,
    format_size,
    format_sizes,
    safe_filename,
    transient_close,
    unique_path,
)

SHA = "ab" * 32
SECRET = bytes(range(SECRET_SIZE))

# --------------------------------------------------------------------------------------------
# File names from the network


HOSTILE = [
    ("../../etc/passwd", "passwd"),
    ("/abs/path", "path"),
    ("/", "file"),
    ("C:\\x", "x"),
    ("C:x", "C_x"),  # drive-relative: the colon is forbidden on Windows
    ("C:\\Windows\\System32\\drivers\\etc\\hosts", "hosts"),
    ("a/b", "b"),
    ("a\\b", "b"),
    ("", "file"),
    (".", "file"),
    ("..", "file"),
    ("...", "file"),
    (" ", "file"),
    ("con", "_con"),
    ("CON.txt", "_CON.txt"),
    ("nul", "_nul"),
    ("com1.mp4", "_com1.mp4"),
    ("lpt9", "_lpt9"),
    ("console.txt", "console.txt"),
    ("a\x00b.txt", "a_b.txt"),
    ("line\nbreak\r.txt", "line_break_.txt"),
    ("tab\there", "tab_here"),
    ("bell\x07", "bell_"),
    ("\x7fdel", "_del"),
    ("rtl\u202egnp.exe", "rtlgnp.exe"),
    (".bashrc", "bashrc"),
    (". .bashrc", "bashrc"),
    (" . . .x", "x"),
    ("trailing. . .", "trailing"),
    ('what?<>|*".txt', "what______.txt"),
    ("video.mp4", "video.mp4"),
    ("Ünïcödé film.mkv", "Ünïcödé film.mkv"),
    ("日本語.txt", "日本語.txt"),
]


@pytest.mark.parametrize(("name", "expected"), HOSTILE)
def test_safe_filename_table(name, expected):
    assert safe_filename(name) == expected


def test_safe_filename_long_name_keeps_extension_and_byte_limit():
    name = "x" * 300 + ".mp4"
    out = safe_filename(name)
    assert out.endswith(".mp4")
    assert len(out.encode()) <= MAX_NAME_BYTES
    multibyte = "é" * 300 + ".mkv"
    out = safe_filename(multibyte)
    assert out.endswith(".mkv") and len(out.encode()) <= MAX_NAME_BYTES
    out.encode("utf-8")  # not cut in the middle of a character


@pytest.mark.parametrize(("name", "expected"), [
    ("Con" + " " * 250 + "x.txt", "_Con.txt"),
    ("CON" + " " * 300 + "x", "_CON"),
    ("nul" + "." * 250 + "x", "_nul.x"),
    ("aux" + " " * 196 + "y.txt", "_aux.txt"),
])
def test_safe_filename_checks_reserved_names_after_truncating(name, expected):
    """Cutting a long name to MAX_NAME_BYTES and stripping the spaces or dots left at the cut
    can leave a Windows device name: it must get its ``_`` as well."""
    assert safe_filename(name) == expected


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["con", "PRN", "Aux", "nul", "COM1", "lpt9", "CONIN$"]),
       st.integers(min_value=0, max_value=300).map(" ".__mul__),
       st.text(alphabet="abc", min_size=0, max_size=3),
       st.sampled_from(["", ".txt", ".exe"]))
def test_safe_filename_never_ends_as_a_reserved_name(device, filler, tail, ext):
    out = safe_filename(device + filler + tail + ext)
    assert out.partition(".")[0].upper().rstrip() != device.upper()
    assert len(out.encode("utf-8")) <= MAX_NAME_BYTES
    assert safe_filename(out) == out


def test_safe_filename_non_string():
    assert safe_filename(None) == "file"  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=400))
def test_safe_filename_is_always_a_plain_base_name(name):
    out = safe_filename(name)
    assert out and out not in (".", "..")
    assert "/" not in out and "\\" not in out and "\x00" not in out
    assert not out.startswith(".")
    assert not out.endswith((".", " "))
    assert len(out.encode("utf-8")) <= MAX_NAME_BYTES
    assert all(unicodedata.category(c)[0] != "C" for c in out)
    assert os.path.basename(out) == out
    assert safe_filename(out) == out  # idempotent


def test_unique_path_never_overwrites(tmp_path):
    (tmp_path / "video.mp4").write_bytes(b"mine")
    assert unique_path(tmp_path, "video.mp4") == tmp_path / "video (1).mp4"
    first = claim_unique_path(tmp_path, "video.mp4")
    second = claim_unique_path(tmp_path, "video.mp4")
    third = claim_unique_path(tmp_path, "../video.mp4")
    assert [first.name, second.name, third.name] == \
        ["video (1).mp4", "video (2).mp4", "video (3).mp4"]
    assert (tmp_path / "video.mp4").read_bytes() == b"mine"
    assert all(p.parent == tmp_path for p in (first, second, third))
    noext = claim_unique_path(tmp_path, "README")
    again = claim_unique_path(tmp_path, "README")
    assert (noext.name, again.name) == ("README", "README (1)")


def test_unique_path_counts_dangling_symlink_as_taken(tmp_path):
    (tmp_path / "a.txt").symlink_to(tmp_path / "missing")
    assert claim_unique_path(tmp_path, "a.txt").name == "a (1).txt"


# --------------------------------------------------------------------------------------------
# Offers


def test_check_offer():
    ok = Offer("t1", "a.bin", 10, SHA)
    assert check_offer(ok) is None
    assert "too large" in check_offer(ok, size_limit=5)
    assert "disk space" in check_offer(ok, free_bytes=9)
    big = Offer(ok.transfer_id, ok.name, 3 << 20, ok.sha256, ok.mime)  # (in words a person
    # reads: "3145728 bytes needed, 1048576 free" was shown on the card)
    assert check_offer(big, free_bytes=1 << 20) == \
        "not enough disk space (3.0 MB needed, 1.0 MB free)"
    assert check_offer(big, size_limit=1 << 20) == "file too large (3.0 MB, the limit is 1.0 MB)"
    assert check_offer(ok, free_bytes=10) is None
    assert check_offer(Offer("t1", "a", -1, SHA)) == "invalid size"
    assert check_offer(Offer("t1", "a", 1, "XYZ")) == "invalid SHA-256"
    assert check_offer(Offer("t1", "a", 1, SHA.upper())) == "invalid SHA-256"
    assert check_offer(Offer("", "a", 1, SHA)) == "missing transfer id"


def test_transient_close_is_the_path_or_the_peer_going_away():
    """What an automatic resume may try again (client/transfers.py AUTO_RESUME_DELAYS)."""
    for code in (0x1, 0xA, 0x10, AppError.SHUTDOWN, AppError.TIMEOUT):
        assert transient_close(code), hex(code)
    for code in (AppError.DONE, AppError.CANCELLED, AppError.REFUSED, AppError.PROTOCOL,
                 AppError.SIZE_MISMATCH, AppError.CHECKSUM, AppError.IO_ERROR,
                 AppError.FILE_CHANGED, AppError.SUPERSEDED, 0x12A, 0x178, 0x11, 0x4DFF):
        assert not transient_close(code), hex(code)


def test_describe_close():
    assert describe_close(AppError.CANCELLED) == "cancelled"
    assert describe_close(AppError.REFUSED, "wrong secret") == "refused: wrong secret"
    assert describe_close(0x12A, "bad cert").startswith("TLS alert 42")
    assert describe_close(0x1, "Idle timeout") == \
        "connection lost (Idle timeout); the transfer can resume where it stopped"
    assert describe_close(AppError.SHUTDOWN, "shutting down").startswith(
        "the other app was closed")  # (not "shutdown: shutting down")
    assert "disk full" in describe_close(AppError.IO_ERROR)
    assert "another transfer protocol version" in describe_close(0x128, "No common ALPN protocols")
    assert "another transfer protocol version" in describe_close(0x100 + 120)


# --------------------------------------------------------------------------------------------
# Frames


def test_frame_roundtrip_in_pieces():
    stream = encode_frame(Start(offset=5)) + encode_frame(Done(sha256=SHA))
    reader = FrameReader()
    frames = []
    for i in range(len(stream)):
        frames += reader.feed(stream[i : i + 1])
    assert frames == [Start(offset=5), Done(sha256=SHA)]
    assert reader.buffered == 0


@pytest.mark.parametrize("bad", [
    b"\x00\x00\x00\x00",                      # zero length
    b"\x00\x10\x00\x00" + b"{}",              # oversized length
    b"\x00\x00\x00\x02{}",                    # no type tag
    b"\x00\x00\x00\x05hello",                 # not JSON
    b'\x00\x00\x00\x10{"type":"nope"}\x20',   # unknown type
    # nested 8,000 deep (a RecursionError in msgspec ran out of the transfer engine's round)
    (lambda p: len(p).to_bytes(4, "big") + p)(b'{"type":"hello","z":' + b"[" * 8000
                                              + b"]" * 8000 + b"}"),
])
def test_frame_reader_rejects(bad):
    with pytest.raises(ProtocolViolation) as info:
        FrameReader().feed(bad)
    assert info.value.code == AppError.PROTOCOL


# --------------------------------------------------------------------------------------------
# Stream state machines


def _sender_stream(size: int, offset: int, body: bytes) -> bytes:
    return SenderProtocol("t1", SECRET, size).opening() + body[offset:]


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 3000), data=st.data())
def test_receiver_parses_any_split(size, data):
    """Secret, hello and body arrive in arbitrary pieces; the receiver sees exactly the body."""
    body = bytes(i % 251 for i in range(size))
    offset = data.draw(st.integers(0, size))
    stream = _sender_stream(size, offset, body)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    rx = ReceiverProtocol()
    got = bytearray()
    complete = False
    for i, piece in enumerate(pieces):
        pending = rx.feed(piece, end_stream=i == len(pieces) - 1)
        while pending:
            more = []
            for ev in pending:
                if isinstance(ev, SecretPresented):
                    assert ev.secret == SECRET
                    rx.authenticate()
                    more += rx.feed()
                elif isinstance(ev, HelloReceived):
                    assert (ev.transfer_id, ev.size) == ("t1", size)
                    frame = rx.start(offset)
                    assert FrameReader().feed(frame) == [Start(offset=offset)]
                    more += rx.feed()
                elif isinstance(ev, FileData):
                    got += ev.data
                elif isinstance(ev, FileComplete):
                    complete = True
            pending = more
    assert complete
    assert bytes(got) == body[offset:]


def test_receiver_rejects_extra_bytes():
    rx = ReceiverProtocol()
    rx.feed(SECRET)
    rx.authenticate()
    rx.feed(encode_frame(Hello(transfer_id="t", size=3)))
    rx.start(0)
    with pytest.raises(ProtocolViolation):
        rx.feed(b"abcd")


def test_receiver_refuses_to_buffer_what_comes_before_start():
    """A sender that streamed on while the receiver checked its secret or hashed its part
    file had every byte buffered (200 MB for a 1 MB offer in a helper's run)."""
    rx = ReceiverProtocol()
    rx.feed(SECRET)  # the owner has not decided on it yet
    rx.feed(encode_frame(Hello(transfer_id="t", size=3)))  # what an honest sender sends
    with pytest.raises(ProtocolViolation, match="before authentication"):
        rx.feed(b"x" * (FrameReader().max_frame + 1))
    rx = ReceiverProtocol()
    rx.feed(SECRET)
    rx.authenticate()
    (hello,) = rx.feed(encode_frame(Hello(transfer_id="t", size=3)))
    assert isinstance(hello, HelloReceived)  # the owner now hashes its part file…
    with pytest.raises(ProtocolViolation, match="before start"):
        rx.feed(b"abc")  # …and the sender may not go on before Start


def test_receiver_rejects_early_end():
    rx = ReceiverProtocol()
    rx.feed(SECRET)
    rx.authenticate()
    rx.feed(encode_frame(Hello(transfer_id="t", size=3)))
    rx.start(1)
    assert rx.feed(b"a") == [FileData(b"a")]
    with pytest.raises(ProtocolViolation, match="1 bytes missing"):
        rx.feed(b"", end_stream=True)


def test_receiver_rejects_another_hello_version():
    rx = ReceiverProtocol()
    rx.feed(SECRET)
    rx.authenticate()
    with pytest.raises(ProtocolViolation, match="transfer protocol version 2") as info:
        rx.feed(encode_frame(Hello(transfer_id="t", size=3, version=2)))
    assert info.value.code == AppError.PROTOCOL


def test_receiver_rejects_non_hello_after_secret():
    rx = ReceiverProtocol()
    rx.feed(SECRET)
    rx.authenticate()
    with pytest.raises(ProtocolViolation):
        rx.feed(encode_frame(Start(offset=0)))


def test_receiver_short_secret_then_fin_is_a_violation():
    with pytest.raises(ProtocolViolation):
        ReceiverProtocol().feed(b"short", end_stream=True)


def test_secret_compare():
    assert ReceiverProtocol.secret_matches(SECRET, bytes(SECRET))
    assert not ReceiverProtocol.secret_matches(SECRET, bytes(32))


def test_sender_protocol():
    tx = SenderProtocol("t9", SECRET, 100)
    opening = tx.opening()
    assert opening[:SECRET_SIZE] == SECRET
    assert FrameReader().feed(opening[SECRET_SIZE:]) == [Hello(transfer_id="t9", size=100)]
    stream = encode_frame(Start(offset=40)) + encode_frame(Done(sha256=SHA))
    assert tx.feed(stream[:7]) == []
    assert tx.feed(stream[7:]) == [StartSending(40), Delivered(SHA)]


@pytest.mark.parametrize("frames", [
    [Start(offset=101)],
    [Start(offset=-1)],
    [Done(sha256=SHA)],                       # done before start
    [Start(offset=0), Start(offset=0)],       # twice
    [Hello(transfer_id="x", size=1)],         # wrong direction
])
def test_sender_rejects(frames):
    tx = SenderProtocol("t", SECRET, 100)
    with pytest.raises(ProtocolViolation):
        tx.feed(b"".join(encode_frame(f) for f in frames))


def test_sender_needs_a_full_secret():
    with pytest.raises(ValueError):
        SenderProtocol("t", b"short", 1)


def test_the_refusal_of_a_file_over_the_limit_shows_a_size_over_the_limit(tmp_path):
    """A video just over the 4 GiB limit was refused with "is 4.0 GB, over the 4.0 GB
    limit" (now "over the limit of"): both rounded to one decimal (a hunt). Also free space
    just short of a size."""
    video = tmp_path / "holiday.mkv"
    with open(video, "wb") as f:  # sparse: takes no disk space
        f.truncate(DEFAULT_SIZE_LIMIT + 30 * 1024 * 1024)  # 4 GiB + 30 MiB
    text = send_refusal(video, DEFAULT_SIZE_LIMIT)
    assert text is not None
    size, limit = re.search(r"is (.+?), over the limit of (.+?) for", text).groups()
    assert size != limit, text
    reason = check_offer(Offer("t", "holiday.mkv", video.stat().st_size, "0" * 64),
                         size_limit=DEFAULT_SIZE_LIMIT)
    size, limit = re.search(r"\((.+?), the limit is (.+?)\)", reason).groups()
    assert size != limit, reason
    assert check_offer(Offer("t", "a.bin", 3 * 2**20 + 1, "0" * 64), free_bytes=3 * 2**20) == (
        "not enough disk space (3,145,729 bytes needed, 3,145,728 bytes free)")
    assert format_sizes(4 * 2**30 + 30 * 2**20, 4 * 2**30) == ("4.03 GB", "4.00 GB")
    assert format_sizes(4_400_000_000, 4 * 2**30) == ("4.1 GB", "4.0 GB")


def test_a_size_just_under_a_unit_is_written_in_the_next_unit():
    """A 1,048,575-byte file (one byte short of 1 MiB): its card read "1024.0 KB" (and a
    rate just under 1 MiB/s "1024.0 KB/s"), a figure nobody writes: ``format_size``
    compared the size with 1024 before rounding it."""
    assert format_size(1024 ** 2 - 1) == "1.0 MB"
    assert format_size(1024 ** 3 - 1) == "1.0 GB"
    assert format_size(1024 ** 2 - 60) == "1023.9 KB"
    assert format_size(1024 ** 2 - 1, 3) == "1023.999 KB"
    assert format_sizes(1024 ** 2 - 1, 1024 ** 2) == ("1023.999 KB", "1.000 MB")


@pytest.mark.parametrize(("name", "expected"), [
    ("گزارش\u200cنهایی.pdf", "گزارش\u200cنهایی.pdf"),  # Persian: the ZWNJ is spelling
    ("👨\u200d👩\u200d👧 trip.jpg", "👨\u200d👩\u200d👧 trip.jpg"),
    ("\u200dx\u200c.txt\u200d", "x.txt"),  # joining nothing: gone, as other format characters
    ("a\u200d\u202e\u200db.txt", "ab.txt"),
    ("x.ex\u200de", "x.exe"),  # (between ASCII letters: joins nothing, hides an .exe)
])
def test_safe_filename_keeps_joiners_between_characters(name, expected):
    """A Persian file name arrived misspelt (its zero-width non-joiner, part of the spelling,
    was removed with the bidi controls) and a family emoji in a name became three people:
    joiners between two characters are kept; bidi controls still go."""
    assert safe_filename(name) == expected
