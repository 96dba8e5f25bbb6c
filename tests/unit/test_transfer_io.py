"""The engine's socket I/O without sockets: how datagrams are grouped into segmented sends,
the fallbacks when the kernel refuses segmentation offload or Python's sendto, and qh3's
datagram source with and without its private packet core."""

from __future__ import annotations

import errno
import socket

import pytest

from messenger.transfer import engine as engine_mod
from messenger.transfer.endpoint import Settings, transmit
from messenger.transfer.engine import (
    GSO_MAX_SEGMENTS,
    HOST_CACHE_SIZE,
    SOL_UDP,
    UDP_SEGMENT,
    _Worker,
)

PEER = ("10.0.0.2", 40002)
OTHER = ("10.0.0.3", 40003)


class FakeRaw:
    """Stands in for the Python socket on the duplicate descriptor."""

    family = socket.AF_INET

    def __init__(self, refuse_segment: bool = False, refuse_sendto: bool = False,
                 full: bool = False) -> None:
        self.refuse_segment = refuse_segment
        self.refuse_sendto = refuse_sendto
        self.full = full
        self.sent: list[tuple[str, object, object]] = []  # (kind, payload, address)
        self.closed = False

    def sendmsg(self, buffers, ancillary, flags, addr):
        if self.full:
            raise BlockingIOError(errno.EAGAIN, "full")
        if self.refuse_segment:
            raise OSError(errno.EIO, "no segmentation offload")
        ((level, kind, data),) = ancillary
        assert (level, kind) == (SOL_UDP, UDP_SEGMENT)
        self.sent.append(("gso", (b"".join(buffers), int.from_bytes(data, "little")), addr))

    def sendto(self, data, addr):
        if self.refuse_sendto:
            raise OSError(errno.EINVAL, "address")
        self.sent.append(("one", data, addr))

    def setsockopt(self, level, option, value):
        if self.refuse_segment:
            raise OSError(errno.ENOPROTOOPT, "no UDP_SEGMENT")

    def close(self):
        self.closed = True


class FakeQt:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, str, int]] = []

    def writeDatagram(self, data, address, port):
        self.sent.append((data, address.toString(), port))
        return len(data)


def worker(raw: FakeRaw | None, gso: bool = True) -> _Worker:
    w = _Worker("127.0.0.1", 0, Settings(), None)
    w.socket = FakeQt()
    w.raw = raw
    w.gso = gso and raw is not None
    return w


def datagrams(sizes, addr=PEER):
    return [(bytes([i % 251]) * n, addr) for i, n in enumerate(sizes)]


def test_runs_of_equal_datagrams_go_out_segmented():
    raw = FakeRaw()
    w = worker(raw)
    out = datagrams([1350] * 10 + [700] + [1350] * 3) + datagrams([1350] * 2, OTHER)
    w._write(out)
    kinds = [(k, len(p[0]) if k == "gso" else len(p), p[1] if k == "gso" else None, a)
             for k, p, a in raw.sent]
    assert kinds == [("gso", 11 * 1350 - 650, 1350, PEER),  # the shorter one ends the run
                     ("gso", 3 * 1350, 1350, PEER),
                     ("gso", 2 * 1350, 1350, OTHER)]
    # the bytes on the wire are the datagrams in order
    assert b"".join(p[0] for _, p, _ in raw.sent) == b"".join(d for d, _ in out)
    assert w.writes == 3 and w.datagrams_out == 16 and w.send_errors == 0
    assert w.socket.sent == []


def test_runs_are_cut_at_the_kernel_limits():
    raw = FakeRaw()
    w = worker(raw)
    w._write(datagrams([1000] * (GSO_MAX_SEGMENTS + 5)))
    assert [len(p[0]) // 1000 for _, p, _ in raw.sent] == [GSO_MAX_SEGMENTS, 5]
    raw.sent.clear()
    w._write(datagrams([1350] * 60))  # 65,000 bytes at most per send
    assert [len(p[0]) for _, p, _ in raw.sent] == [48 * 1350, 12 * 1350]


def test_a_larger_datagram_starts_a_new_run_and_a_single_one_goes_alone():
    raw = FakeRaw()
    w = worker(raw)
    w._write(datagrams([500, 500, 1350, 1350, 900]))
    assert [(k, len(p[0]) if k == "gso" else len(p)) for k, p, _ in raw.sent] == \
        [("gso", 1000), ("gso", 3600)]
    raw.sent.clear()
    w._write(datagrams([1350]))
    assert [k for k, _, _ in raw.sent] == ["one"]


def test_refused_segmentation_falls_back_to_one_datagram_per_send_for_good():
    raw = FakeRaw(refuse_segment=True)
    w = worker(raw)
    out = datagrams([1350] * 5)
    w._write(out)
    assert w.gso is False
    assert [(k, p) for k, p, _ in raw.sent] == [("one", d) for d, _ in out]
    assert w.writes == 5 and w.send_errors == 0
    raw.refuse_segment = False
    raw.sent.clear()
    w._write(out)
    assert [k for k, _, _ in raw.sent] == ["one"] * 5


def test_a_full_kernel_buffer_counts_as_send_errors_and_keeps_segmentation():
    raw = FakeRaw(full=True)
    w = worker(raw)
    w._write(datagrams([1350] * 4))
    assert w.gso is True and w.send_errors == 4 and raw.sent == []


def test_address_python_refuses_goes_through_qt():
    raw = FakeRaw(refuse_sendto=True)
    w = worker(raw, gso=False)
    w._write(datagrams([100, 200]))
    assert raw.sent == [] and [(len(d), h, p) for d, h, p in w.socket.sent] == \
        [(100, PEER[0], PEER[1]), (200, PEER[0], PEER[1])]
    assert w.writes == 2


def test_without_direct_io_everything_goes_through_qt():
    w = worker(None)
    w._write(datagrams([1350] * 3))
    assert len(w.socket.sent) == 3 and w.writes == 3


def test_segmentation_probe():
    assert engine_mod._can_segment(FakeRaw()) is True
    assert engine_mod._can_segment(FakeRaw(refuse_segment=True)) is False


def test_ipv4_peer_of_a_dual_stack_socket_is_mapped():
    class Six:
        family = socket.AF_INET6

    assert engine_mod._sockaddr(Six(), ("10.0.0.2", 5)) == ("::ffff:10.0.0.2", 5)
    assert engine_mod._sockaddr(Six(), ("fe80::1", 5)) == ("fe80::1", 5)
    assert engine_mod._sockaddr(FakeRaw(), ("10.0.0.2", 5)) == ("10.0.0.2", 5)


class FakeCore:
    def __init__(self, items, error: bool = False) -> None:
        self.items = list(items)
        self.error = error

    def poll_transmit(self, now):
        if self.error:
            raise RuntimeError("core failed")
        return self.items.pop(0) if self.items else None


class FakeConn:
    def __init__(self, core, logger=None, public=()) -> None:
        self._core = core
        self._quic_logger = logger
        self.public = list(public)

    def datagrams_to_send(self, now):
        return self.public


def test_transmit_takes_datagrams_from_the_core():
    conn = FakeConn(FakeCore([(b"a", PEER, 0), (b"b", PEER, 0)]), public=[(b"x", PEER)])
    assert transmit(conn, 0.0) == [(b"a", PEER), (b"b", PEER)]


def test_transmit_falls_back_to_the_public_call():
    public = [(b"x", PEER)]
    assert transmit(FakeConn(FakeCore([(b"a", PEER)]), logger=object(), public=public),
                    0.0) == public  # a logger wants its per-packet records
    assert transmit(FakeConn(None, public=public), 0.0) == public  # closed connection

    class Other:  # a qh3 without these private attributes
        def datagrams_to_send(self, now):
            return public

    assert transmit(Other(), 0.0) == public


def test_transmit_reports_core_errors_as_qh3_does():
    from qh3.quic.connection import QuicConnectionError

    with pytest.raises(QuicConnectionError):
        transmit(FakeConn(FakeCore([], error=True)), 0.0)


def test_ipv6_sender_host_strings_are_cached_within_a_bound():
    w = worker(FakeRaw())
    assert w._ipv6_host("::ffff:10.1.2.3") == "10.1.2.3"  # IPv4-mapped: as Qt reports it
    assert w._ipv6_host("2001:DB8::1") == "2001:db8::1"
    for i in range(1, 5 * HOST_CACHE_SIZE):
        assert w._ipv6_host(f"2001:db8::{i:x}") == f"2001:db8::{i:x}"
        assert len(w._hosts) <= HOST_CACHE_SIZE
