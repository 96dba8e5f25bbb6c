"""Two transfer endpoints (qh3 QUIC + our protocol + real files) over a simulated datagram
network: no sockets, a virtual clock, seeded loss, duplication, reordering and delay."""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from messenger.client.transfers import Transfer, TransferState, status_text
from messenger.transfer.endpoint import (
    Cancelled,
    Failed,
    Finished,
    Progress,
    Settings,
    TransferEndpoint,
)
from messenger.transfer.protocol import UNREACHABLE, AppError, Offer, describe_close

A = ("10.0.0.1", 40001)
B = ("10.0.0.2", 40002)
FINAL = (Finished, Failed, Cancelled)


class SimNet:
    """A datagram network between endpoints keyed by address.

    Each datagram is lost with probability ``loss``, duplicated with ``dup``, delayed by
    ``delay`` seconds plus up to ``jitter``, and with probability ``reorder`` held back by up to
    ``reorder_delay`` more (so later datagrams overtake it). ``up = False`` cuts the network.
    ``sent[(src, dst)]`` counts payload bytes offered to the network per direction.
    """

    def __init__(self, seed: int = 1, loss: float = 0.1, dup: float = 0.02,
                 reorder: float = 0.1, delay: float = 0.002, jitter: float = 0.002,
                 reorder_delay: float = 0.01) -> None:
        self.rng = random.Random(seed)
        self.loss, self.dup, self.reorder = loss, dup, reorder
        self.delay, self.jitter, self.reorder_delay = delay, jitter, reorder_delay
        self.queue: list = []
        self.seq = 0
        self.endpoints: dict[tuple, TransferEndpoint] = {}
        self.up = True
        self.now = 0.0
        self.sent: dict[tuple, int] = {}
        self.events: list = []
        self.tap: Callable[[tuple, tuple, bytes], None] | None = None

    def add(self, addr: tuple, endpoint: TransferEndpoint) -> TransferEndpoint:
        self.endpoints[addr] = endpoint
        return endpoint

    def _send(self, src: tuple, dst: tuple, data: bytes) -> None:
        self.sent[(src, dst)] = self.sent.get((src, dst), 0) + len(data)
        if self.tap is not None:
            self.tap(src, dst, data)
        if not self.up or self.rng.random() < self.loss:
            return
        for _ in range(2 if self.rng.random() < self.dup else 1):
            at = self.now + self.delay + self.rng.random() * self.jitter
            if self.rng.random() < self.reorder:
                at += self.rng.random() * self.reorder_delay
            self.seq += 1
            heapq.heappush(self.queue, (at, self.seq, dst, src, data))

    def inject(self, src: tuple, dst: tuple, data: bytes) -> None:
        """Deliver ``data`` as if sent by ``src`` (bypassing loss)."""
        self.seq += 1
        heapq.heappush(self.queue, (self.now, self.seq, dst, src, data))

    def _collect(self) -> None:
        for endpoint in self.endpoints.values():
            self.events += endpoint.pop_events()

    def run(self, until: Callable[[], bool], limit: float = 120.0) -> None:
        """Advance virtual time until ``until()`` or nothing is left to do or ``limit``."""
        end = self.now + limit
        while True:
            for addr, endpoint in list(self.endpoints.items()):
                for _ in range(100):
                    for data, dst in endpoint.step(self.now):
                        self._send(addr, tuple(dst), data)
                    if not endpoint.wants_step:
                        break
            self._collect()
            if until() or self.now >= end:
                return
            times = [t for e in self.endpoints.values() if (t := e.get_timer()) is not None]
            if self.queue:
                times.append(self.queue[0][0])
            if not times:
                return
            self.now = max(self.now, min(times))
            batches: dict[tuple, list] = {}
            while self.queue and self.queue[0][0] <= self.now:
                _, _, dst, src, data = heapq.heappop(self.queue)
                batches.setdefault(dst, []).append((data, src))
            for dst, batch in batches.items():
                if dst in self.endpoints:
                    self.endpoints[dst].datagrams_received(batch, self.now)
            for endpoint in self.endpoints.values():
                endpoint.handle_timer(self.now)

    def finals(self, transfer_id: str | None = None) -> list:
        return [e for e in self.events
                if isinstance(e, FINAL) and transfer_id in (None, e.transfer_id)]

    def until_finals(self, n: int, transfer_id: str | None = None) -> Callable[[], bool]:
        return lambda: len(self.finals(transfer_id)) >= n


def make_file(path: Path, size: int, seed: int = 7) -> tuple[bytes, str]:
    data = random.Random(seed).randbytes(size)
    path.write_bytes(data)
    return data, hashlib.sha256(data).hexdigest()


@pytest.fixture
def pair():
    """A sender at A and a receiver at B on a lossy SimNet (10% loss, dup, reorder, delay)."""
    net = SimNet(seed=11)
    sender = net.add(A, TransferEndpoint())
    receiver = net.add(B, TransferEndpoint())
    return net, sender, receiver


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() \
        else []


@pytest.mark.parametrize("seed", [1, 2, 3])


def test_lossy_channel_file_arrives_byte_exact(tmp_path, seed):
    net = SimNet(seed=seed, loss=0.1, dup=0.05, reorder=0.2)
    sender = net.add(A, TransferEndpoint())
    receiver = net.add(B, TransferEndpoint())
    src = tmp_path / "src.bin"
    data, sha = make_file(src, 1_500_000, seed)
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "movie.mp4", len(data), sha), secret, tmp_path / "dl")
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)
    net.run(net.until_finals(2))
    finals = net.finals()
    assert {(type(e), e.direction) for e in finals} == {(Finished, "send"), (Finished, "receive")}
    got = next(e for e in finals if e.direction == "receive")
    assert got.path == tmp_path / "dl" / "movie.mp4"
    assert got.path.read_bytes() == data
    assert got.sha256 == sha
    assert files_in(tmp_path / "dl") == ["movie.mp4"]  # no .partial left behind
    progress = [e for e in net.events if isinstance(e, Progress) and e.direction == "receive"]
    assert progress[-1].done == progress[-1].total == len(data)
    assert all(a.done <= b.done for a, b in itertools.pairwise(progress))
    assert receiver.registrations == []


def test_empty_file(pair, tmp_path):
    net, sender, receiver = pair
    src = tmp_path / "empty"
    src.write_bytes(b"")
    sha = hashlib.sha256(b"").hexdigest()
    secret = os.urandom(32)
    receiver.receive(Offer("t0", "empty.txt", 0, sha), secret, tmp_path / "dl")
    sender.send("t0", src, B, receiver.fingerprint, secret, net.now, sha)
    net.run(net.until_finals(2))
    assert all(isinstance(e, Finished) for e in net.finals())
    assert (tmp_path / "dl" / "empty.txt").read_bytes() == b""


def test_hostile_name_lands_inside_download_folder_without_overwriting(pair, tmp_path):
    net, sender, receiver = pair
    dl = tmp_path / "dl"
    dl.mkdir()
    (dl / "passwd").write_bytes(b"keep me")
    src = tmp_path / "src.bin"
    data, sha = make_file(src, 20_000)
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "../../etc/passwd", len(data), sha), secret, dl)
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)
    net.run(net.until_finals(2))
    assert (dl / "passwd").read_bytes() == b"keep me"
    assert (dl / "passwd (1)").read_bytes() == data
    assert not (tmp_path / "etc").exists()


def test_both_directions_and_several_transfers_share_one_endpoint(tmp_path):
    net = SimNet(seed=5, loss=0.05)
    a = net.add(A, TransferEndpoint())
    b = net.add(B, TransferEndpoint())
    jobs = []
    for i, (tx, rx, rx_addr) in enumerate([(a, b, B), (b, a, A), (a, b, B), (b, a, A)]):
        src = tmp_path / f"src{i}.bin"
        data, sha = make_file(src, 200_000 + i * 1000, seed=i)
        secret = os.urandom(32)
        rx.receive(Offer(f"t{i}", f"f{i}.bin", len(data), sha), secret, tmp_path / f"dl{i}")
        tx.send(f"t{i}", src, rx_addr, rx.fingerprint, secret, net.now, sha)
        jobs.append((f"t{i}", data))
    net.run(net.until_finals(8))
    assert len(net.finals()) == 8
    assert all(isinstance(e, Finished) for e in net.finals())
    for i, (_tid, data) in enumerate(jobs):
        assert (tmp_path / f"dl{i}" / f"f{i}.bin").read_bytes() == data
    net.run(lambda: a.active == 0 and b.active == 0)  # every connection closes cleanly
    assert a.active == b.active == 0
    assert a._cids == {} and b._cids == {}


def _interrupted_run(tmp_path: Path, cut_at: int, data: bytes, sha: str, src: Path,
                     dl: Path, how: str) -> int:
    """Start a transfer, cut it once the receiver holds ``cut_at`` bytes; return the size
    of the ``.part`` file left behind."""
    net = SimNet(seed=cut_at % 97 + 3, loss=0.1)
    settings = Settings(idle_timeout=2.0)
    sender = net.add(A, TransferEndpoint(settings=settings))
    receiver = net.add(B, TransferEndpoint(settings=settings))
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "big.bin", len(data), sha), secret, dl)
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)

    def reached() -> bool:
        return any(isinstance(e, Progress) and e.direction == "receive" and e.done >= cut_at
                   for e in net.events)

    net.run(reached)
    assert not net.finals()
    if how == "network":  # the path dies: both sides time out
        net.up = False
        net.run(net.until_finals(2))
        assert {type(e) for e in net.finals()} == {Failed}
        assert all("connection lost" in e.reason for e in net.finals())
    else:  # the receiving app quits (its peer is told)
        receiver.shutdown(net.now)
        net.run(net.until_finals(2))
        reasons = sorted(e.reason for e in net.finals())
        assert reasons[0].startswith("shut down") or "shutdown" in reasons[0]
    parts = list((dl / ".partial").glob("*.part"))
    if not parts:  # no byte had arrived: no partial file is made for none
        assert cut_at == 0 and files_in(dl) == []
        return 0
    assert [p.name for p in parts] == [f"{sha}.part"]
    assert files_in(dl) == [".partial", f".partial/{sha}.part"]
    return parts[0].stat().st_size


@pytest.mark.parametrize(("fraction", "how"), [
    (0.0, "network"), (0.05, "app"), (0.3, "network"), (0.6, "app"), (0.97, "network"),
])


def test_resume_after_interruption(tmp_path, fraction, how):
    size = 1_200_000
    src = tmp_path / "src.bin"
    data, sha = make_file(src, size)
    dl = tmp_path / "dl"
    held = _interrupted_run(tmp_path, int(size * fraction), data, sha, src, dl, how)
    assert held >= int(size * fraction) * 0.9 - 64 * 1024
    if held:
        assert (dl / ".partial" / f"{sha}.part").read_bytes() == data[:held]

    # New endpoints (both apps restarted), a new transfer id and secret for the same file.
    net = SimNet(seed=99, loss=0.1)
    sender = net.add(A, TransferEndpoint())
    receiver = net.add(B, TransferEndpoint())
    secret = os.urandom(32)
    receiver.receive(Offer("t2", "big.bin", size, sha), secret, dl)
    sender.send("t2", src, B, receiver.fingerprint, secret, net.now, sha)
    net.run(net.until_finals(2))
    assert all(isinstance(e, Finished) for e in net.finals())
    assert (dl / "big.bin").read_bytes() == data
    assert files_in(dl) == ["big.bin"]
    # Only the missing part travelled (QUIC adds ~5% of headers and retransmissions here).
    wire = net.sent[(A, B)]
    assert wire < (size - held) * 1.4 + 30_000
    first = next(e for e in net.events if isinstance(e, Progress) and e.direction == "receive")
    assert first.done >= held


def test_corrupt_part_file_fails_checksum_and_is_deleted(pair, tmp_path):
    net, sender, receiver = pair
    src = tmp_path / "src.bin"
    data, sha = make_file(src, 100_000)
    dl = tmp_path / "dl"
    (dl / ".partial").mkdir(parents=True)
    (dl / ".partial" / f"{sha}.part").write_bytes(b"\x00" * 5000)  # wrong bytes
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "f.bin", len(data), sha), secret, dl)
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)
    net.run(net.until_finals(2))
    finals = {e.direction: e for e in net.finals()}
    assert isinstance(finals["receive"], Failed) and "SHA-256" in finals["receive"].reason
    assert isinstance(finals["send"], Failed) and "arrived damaged" in finals["send"].reason
    assert files_in(dl) == []


@pytest.mark.parametrize("who", ["sender", "receiver"])


def test_cancel_mid_transfer_leaves_nothing(pair, tmp_path, who):
    net, sender, receiver = pair
    src = tmp_path / "src.bin"
    data, sha = make_file(src, 2_000_000)
    dl = tmp_path / "dl"
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "f.bin", len(data), sha), secret, dl)
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)
    net.run(lambda: any(isinstance(e, Progress) and e.direction == "receive"
                        and e.done > 200_000 for e in net.events))
    (sender if who == "sender" else receiver).cancel("t1", net.now)
    net.run(net.until_finals(2))
    finals = {e.direction: e for e in net.finals()}
    assert all(isinstance(e, Cancelled) for e in finals.values())
    local = "send" if who == "sender" else "receive"
    remote = "receive" if who == "sender" else "send"
    assert finals[local].by_peer is False and finals[remote].by_peer is True
    assert files_in(dl) == []
    assert receiver.registrations == []


def test_cancel_before_connection(pair, tmp_path):
    net, _sender, receiver = pair
    dl = tmp_path / "dl"
    (dl / ".partial").mkdir(parents=True)
    (dl / ".partial" / f"{'cd' * 32}.part").write_bytes(b"old attempt")
    receiver.receive(Offer("t1", "f.bin", 100, "cd" * 32), os.urandom(32), dl)
    assert receiver.cancel("t1", net.now)
    assert not receiver.cancel("nope", net.now)
    assert [type(e) for e in receiver.pop_events()] == [Cancelled]
    assert files_in(dl) == []


def test_a_file_edited_since_it_was_hashed_is_not_sent(pair, tmp_path):
    """A file written in place after its offer (same size) was sent whole, and the
    receiver's SHA-256 check then said it arrived damaged (a hunt): given the version that
    was hashed, the send refuses a file that is no longer it, before any packet."""
    from messenger.transfer import FILE_CHANGED, FileChangedError, file_version

    net, sender, _receiver = pair
    src = _tiny(tmp_path)
    hashed = file_version(os.stat(src))
    with src.open("r+b") as f:
        f.write(b"X")
    with pytest.raises(FileChangedError, match=FILE_CHANGED.split(";")[0]):
        sender.send("t1", src, B, "AA", os.urandom(32), net.now, None, hashed)
    assert not sender._sends and not net.queue
    sender.send("t2", src, B, "AA", os.urandom(32), net.now, None, file_version(os.stat(src)))
    assert "t2" in sender._sends


def test_a_file_whose_permissions_changed_since_it_was_hashed_is_still_sent(pair, tmp_path):
    """Alice offered a file, then ran ``chmod`` on it (or renamed it and back, or a backup
    tool set an attribute) before bob accepted: only its change time differs, not its
    content, and the send refused it before the first byte, "the file changed since it was
    offered" (a hunt). As while sending, size, modification time and inode decide; the
    receiver's SHA-256 check catches a content that did change."""
    from messenger.transfer import file_version

    net, sender, receiver = pair
    src = tmp_path / "src.bin"
    data, sha = make_file(src, 50_000)
    hashed = file_version(os.stat(src))
    os.chmod(src, 0o600)
    assert file_version(os.stat(src))[2] != hashed[2]  # (the change time moved)
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "f.bin", len(data), sha), secret, tmp_path / "dl")
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha, hashed)
    net.run(net.until_finals(2))
    assert {type(e) for e in net.finals()} == {Finished}
    assert (tmp_path / "dl" / "f.bin").read_bytes() == data


def test_wrong_secret_is_refused_and_registration_survives(pair, tmp_path):
    net, sender, receiver = pair
    src = tmp_path / "src.bin"
    data, sha = make_file(src, 50_000)
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "f.bin", len(data), sha), secret, tmp_path / "dl")
    sender.send("t1", src, B, receiver.fingerprint, os.urandom(32), net.now, sha)
    net.run(net.until_finals(1))
    net.run(lambda: sender.active == 0 and receiver.active == 0)
    [refused] = net.finals()
    assert isinstance(refused, Failed) and refused.direction == "send"
    assert "refused" in refused.reason
    assert receiver.registrations == ["t1"]
    assert files_in(tmp_path / "dl") == []
    # The right secret still works afterwards.
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)
    net.run(net.until_finals(3))
    assert (tmp_path / "dl" / "f.bin").read_bytes() == data


def test_wrong_fingerprint_sends_nothing(pair, tmp_path):
    net, sender, receiver = pair
    src = tmp_path / "src.bin"
    data, sha = make_file(src, 200_000)
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "f.bin", len(data), sha), secret, tmp_path / "dl")
    seen: list[bytes] = []
    net.tap = lambda s, d, payload: seen.append(payload) if s == A else None
    other = TransferEndpoint()  # an impostor's certificate
    sender.send("t1", src, B, other.fingerprint, secret, net.now, sha)
    net.run(net.until_finals(1))
    [failed] = net.finals()
    assert isinstance(failed, Failed) and "TLS alert 42" in failed.reason
    assert receiver.registrations == ["t1"]
    assert sum(map(len, seen)) < 30_000  # Initial packets of a handshake, never the file


def test_an_app_of_another_transfer_version_gets_a_clear_error(tmp_path):
    """The ALPN carries the version: a mismatch fails the handshake, and both sides say why."""
    net = SimNet(seed=3, loss=0.0)
    sender = net.add(A, TransferEndpoint(settings=Settings(alpn="messenger-transfer/2")))
    receiver = net.add(B, TransferEndpoint())
    src = tmp_path / "src.bin"
    data, sha = make_file(src, 50_000)
    receiver.receive(Offer("t1", "f.bin", len(data), sha), os.urandom(32), tmp_path / "dl")
    sender.send("t1", src, B, receiver.fingerprint, os.urandom(32), net.now, sha)
    net.run(net.until_finals(1))
    [failed] = net.finals()
    assert isinstance(failed, Failed) and failed.direction == "send"
    assert "another transfer protocol version" in failed.reason
    assert receiver.registrations == ["t1"]
    assert files_in(tmp_path / "dl") == []


def test_size_mismatch_is_refused(pair, tmp_path):
    net, sender, receiver = pair
    src = tmp_path / "src.bin"
    data, sha = make_file(src, 10_000)
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "f.bin", len(data) + 1, sha), secret, tmp_path / "dl")
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)
    net.run(net.until_finals(2))
    finals = {e.direction: e for e in net.finals()}
    assert "10001" in finals["receive"].reason
    assert "the file changed since it was offered" in finals["send"].reason
    assert files_in(tmp_path / "dl") == []


def test_forged_datagrams_are_dropped(pair, tmp_path):
    net, sender, receiver = pair
    src = tmp_path / "src.bin"
    data, sha = make_file(src, 300_000)
    secret = os.urandom(32)
    evil = ("10.6.6.6", 666)
    # Nothing registered: even a well-formed-looking Initial creates no connection.
    fake_initial = bytes([0xC3]) + (1).to_bytes(4, "big") + bytes([8]) + os.urandom(8) \
        + bytes([0]) + os.urandom(1300)
    receiver.datagram_received(fake_initial, evil, net.now)
    assert receiver.active == 0 and receiver.dropped == 1

    receiver.receive(Offer("t1", "f.bin", len(data), sha), secret, tmp_path / "dl")
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)
    captured: list[bytes] = []
    net.tap = lambda s, d, payload: captured.append(payload) if s == A else None
    net.run(lambda: len(captured) > 50)
    for payload in captured[-20:]:
        net.inject(evil, B, payload)                      # replayed from elsewhere
        flipped = bytearray(payload)
        flipped[-1] ^= 0xFF
        net.inject(evil, B, bytes(flipped))               # tampered
        net.inject(A, B, bytes(flipped))                  # tampered, spoofed source
    for _ in range(20):
        net.inject(evil, B, os.urandom(random.randint(1, 1400)))  # noise
    net.run(net.until_finals(2))
    assert all(isinstance(e, Finished) for e in net.finals())
    assert (tmp_path / "dl" / "f.bin").read_bytes() == data
    assert files_in(tmp_path / "dl") == ["f.bin"]


def test_unauthenticated_connection_times_out(tmp_path):
    """A peer that completes the handshake but never presents a secret is dropped."""
    net = SimNet(seed=4, loss=0.0)
    settings = Settings(auth_timeout=1.0)
    sender = net.add(A, TransferEndpoint())
    receiver = net.add(B, TransferEndpoint(settings=settings))
    receiver.receive(Offer("t1", "f.bin", 10, "ab" * 32), os.urandom(32), tmp_path / "dl")
    sender.send("t1", _tiny(tmp_path), B, receiver.fingerprint, os.urandom(32), net.now)
    session = sender._sends["t1"]
    session.on_handshake = lambda now: None  # never send the secret
    net.run(net.until_finals(1))
    [failed] = net.finals()
    assert "timeout" in failed.reason
    assert net.now < 5.0
    assert receiver.registrations == ["t1"]


def test_a_receiver_that_never_answers_is_unreachable_not_a_lost_connection(tmp_path):
    """The receiver's computer drops UDP (a firewall, a Wi-Fi that isolates its clients):
    the handshake never completes. The sender said "connection lost (Idle timeout); the
    transfer can resume where it stopped" of a connection never made, transient, so its app
    resumed by itself again and again. It says the computer could not be reached, and
    another try the same way is not automatic."""
    net = SimNet(seed=6, loss=0.0)
    sender = net.add(A, TransferEndpoint(settings=Settings(idle_timeout=2.0)))
    receiver = net.add(B, TransferEndpoint())
    receiver.receive(Offer("t1", "f.bin", 10, "ab" * 32), os.urandom(32), tmp_path / "dl")
    net.up = False  # nothing gets through, either way
    sender.send("t1", _tiny(tmp_path), B, receiver.fingerprint, os.urandom(32), net.now)
    net.run(net.until_finals(1))
    [failed] = net.finals()
    assert isinstance(failed, Failed) and failed.direction == "send"
    assert (failed.reason, failed.transient) == (UNREACHABLE, False)
    assert "connection lost" not in failed.reason and "firewall" in failed.reason


def _tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny"
    path.write_bytes(b"0123456789")
    return path


def test_sender_finishes_when_receiver_quits_before_done_arrives(pair, tmp_path):
    """The receiver stores the file and quits at once; its Done frame is lost, its DONE close
    arrives: the sender still reports Finished (the receiver only closes with DONE after
    storing the verified file)."""
    net, sender, receiver = pair
    src = tmp_path / "src.bin"
    data, sha = make_file(src, 100_000)
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "f.bin", len(data), sha), secret, tmp_path / "dl")
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)
    net.run(net.until_finals(1))
    assert [(type(e), e.direction) for e in net.finals()] == [(Finished, "receive")]
    net.queue = [item for item in net.queue if item[2] != A]  # Done (and acks) lost
    heapq.heapify(net.queue)
    net.loss = 0.0
    for data_, dst in receiver.shutdown(net.now):
        net._send(B, tuple(dst), data_)
    net.run(net.until_finals(2))
    sent = [e for e in net.finals() if e.direction == "send"]
    assert [type(e) for e in sent] == [Finished] and sent[0].sha256 == sha


def _forged_initial() -> bytes:
    """Random bytes dressed as a full-size QUIC v1 Initial: no handshake can come of it."""
    return (bytes([0xC3]) + (1).to_bytes(4, "big") + bytes([8]) + os.urandom(8) + bytes([8])
            + os.urandom(8) + bytes([0]) + os.urandom(1200))


class Flood:
    """A host on the SimNet that sends ``per_tick`` datagrams from ``make()`` to ``target``
    every ``interval`` seconds, each from a new source port (an endpoint-like object)."""

    def __init__(self, net: SimNet, target: tuple, make: Callable[[], bytes],
                 per_tick: int = 2, interval: float = 0.01) -> None:
        self.net, self.target, self.make = net, target, make
        self.per_tick, self.interval = per_tick, interval
        self.next = 0.0
        self.port = 20000
        self.sent = 0

    def step(self, now: float) -> list:
        return []

    wants_step = False

    def get_timer(self) -> float:
        return self.next

    def handle_timer(self, now: float) -> None:
        if now < self.next:
            return
        self.next = now + self.interval
        for _ in range(self.per_tick):
            self.port += 1
            self.sent += 1
            self.net.inject(("10.6.6.6", self.port), self.target, self.make())

    def pop_events(self) -> list:
        return []

    def datagrams_received(self, batch: list, now: float) -> None:
        pass


def test_transfer_completes_during_a_flood_of_forged_initials(tmp_path):
    """200 forged Initials a second (each from a new port) used to take every unauthenticated
    slot for the 10 s auth timeout, so the real sender's Initial was dropped."""
    net = SimNet(seed=8, loss=0.0)
    sender = net.add(A, TransferEndpoint(settings=Settings(idle_timeout=3.0)))
    receiver = net.add(B, TransferEndpoint())
    flood = net.add(("10.6.6.6", 1), Flood(net, B, _forged_initial))
    src = tmp_path / "src.bin"
    data, sha = make_file(src, 300_000)
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "f.bin", len(data), sha), secret, tmp_path / "dl")
    net.run(lambda: flood.sent >= 200)  # a second of flood before the sender starts
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)
    net.run(net.until_finals(2), limit=10.0)
    assert [type(e) for e in net.finals()] == [Finished, Finished]
    assert (tmp_path / "dl" / "f.bin").read_bytes() == data
    assert receiver.dropped >= 200
    assert len(receiver._unauthenticated) == 0  # forged ones never held a slot


def _real_initial(addr: tuple) -> Callable[[], bytes]:
    """Well-formed Initials (a real ClientHello) from fresh QUIC clients that never go on."""
    from qh3.quic.configuration import QuicConfiguration
    from qh3.quic.connection import QuicConnection

    def make() -> bytes:
        conn = QuicConnection(configuration=QuicConfiguration(
            is_client=True, alpn_protocols=["messenger-transfer/1"]))
        conn.connect(addr, 0.0)
        return conn.datagrams_to_send(0.0)[0][0]

    return make


def test_transfer_completes_while_handshakes_that_never_authenticate_fill_the_slots(tmp_path):
    """Initials that decrypt (anyone can make them) still take a slot each; the oldest is
    evicted for a new one, so the real sender gets in."""
    net = SimNet(seed=9, loss=0.0)
    sender = net.add(A, TransferEndpoint(settings=Settings(idle_timeout=3.0)))
    receiver = net.add(B, TransferEndpoint())
    flood = net.add(("10.6.6.6", 1), Flood(net, B, _real_initial(B), per_tick=1,
                                           interval=0.02))
    src = tmp_path / "src.bin"
    data, sha = make_file(src, 300_000)
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "f.bin", len(data), sha), secret, tmp_path / "dl")
    net.run(lambda: flood.sent >= 40)
    assert len(receiver._unauthenticated) == receiver.settings.max_unauthenticated
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)
    net.run(net.until_finals(2), limit=10.0)
    assert [type(e) for e in net.finals()] == [Finished, Finished]
    assert (tmp_path / "dl" / "f.bin").read_bytes() == data
    assert len(receiver._unauthenticated) <= receiver.settings.max_unauthenticated


def test_a_partial_file_from_another_sender_is_never_resumed(tmp_path):
    """Mallory offers a file claiming the SHA-256 of Alice's, sends junk and quits halfway.
    Alice's later transfer of the real file must not resume on Mallory's bytes (it would fail
    the checksum at the end); Alice's own partial file still resumes."""
    M = ("10.0.0.6", 40006)
    net = SimNet(seed=12, loss=0.0)
    receiver = net.add(B, TransferEndpoint())
    mallory = net.add(M, TransferEndpoint())
    alice = net.add(A, TransferEndpoint())
    dl = tmp_path / "dl"
    src = tmp_path / "real.bin"
    data, sha = make_file(src, 1_000_000)
    junk = tmp_path / "junk.bin"
    make_file(junk, len(data), seed=99)

    def interrupt(tx: TransferEndpoint, addr: tuple, tid: str, path: Path, who: str) -> int:
        secret = os.urandom(32)
        receiver.receive(Offer(tid, "f.bin", len(data), sha), secret, dl, sender=who)
        tx.send(tid, path, B, receiver.fingerprint, secret, net.now)
        net.run(lambda: any(isinstance(e, Progress) and e.transfer_id == tid
                            and e.direction == "receive" and e.done >= 300_000
                            for e in net.events))
        for payload, dst in tx.shutdown(net.now):  # the sending app quits
            net._send(addr, tuple(dst), payload)
        net.run(net.until_finals(2, tid))
        return max(e.done for e in net.events if isinstance(e, Progress)
                   and e.transfer_id == tid and e.direction == "receive")

    assert interrupt(mallory, M, "t-mallory", junk, "mallory") >= 300_000
    assert interrupt(alice, A, "t-alice1", src, "alice") >= 300_000
    alice2 = net.add(A, TransferEndpoint())  # Alice's app restarted
    secret = os.urandom(32)
    receiver.receive(Offer("t-alice2", "f.bin", len(data), sha), secret, dl, sender="alice")
    alice2.send("t-alice2", src, B, receiver.fingerprint, secret, net.now, sha)
    net.run(net.until_finals(2, "t-alice2"))
    assert [type(e) for e in net.finals("t-alice2")] == [Finished, Finished]
    assert (dl / "f.bin").read_bytes() == data
    first = next(e for e in net.events if isinstance(e, Progress)
                 and e.transfer_id == "t-alice2" and e.direction == "receive")
    assert first.done >= 300_000  # resumed from Alice's own partial file
    # Mallory's junk is still there, apart, and was never used.
    [left] = (dl / ".partial").iterdir()
    assert left.read_bytes() == junk.read_bytes()[:left.stat().st_size]


def test_release_stops_expecting_a_receive_but_keeps_its_partial_file(pair, tmp_path):
    net, sender, receiver = pair
    src = tmp_path / "src.bin"
    data, sha = make_file(src, 2_000_000)
    dl = tmp_path / "dl"
    (dl / ".partial").mkdir(parents=True)
    (dl / ".partial" / f"{'cd' * 32}.part").write_bytes(b"old attempt")
    receiver.receive(Offer("t0", "f.bin", 100, "cd" * 32), os.urandom(32), dl)
    assert receiver.release("t0", net.now) and not receiver.release("t0", net.now)
    assert receiver.registrations == [] and receiver.pop_events() == []
    assert (dl / ".partial" / f"{'cd' * 32}.part").read_bytes() == b"old attempt"
    # Released while a connection serves it (the sender connected just then): closed,
    # nothing reported on the receiving side, the bytes held are kept.
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "f.bin", len(data), sha), secret, dl)
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)
    net.run(lambda: any(isinstance(e, Progress) and e.direction == "receive"
                        and e.done > 200_000 for e in net.events))
    assert receiver.release("t1", net.now)
    net.run(net.until_finals(1))
    [failed] = net.finals()
    assert (type(failed), failed.direction) == (Failed, "send")
    assert "receiver stopped waiting" in failed.reason
    net.run(lambda: receiver.active == 0)
    held = (dl / ".partial" / f"{sha}.part").read_bytes()
    assert len(held) > 200_000 and held == data[:len(held)]
    assert receiver.registrations == []


@pytest.mark.parametrize("umask", [0o022, 0o027])


def test_received_file_mode_follows_the_umask_while_the_part_file_stays_private(tmp_path,
                                                                                 umask):
    old = os.umask(umask)
    try:
        net = SimNet(seed=13, loss=0.0)
        sender = net.add(A, TransferEndpoint())
        receiver = net.add(B, TransferEndpoint())
        src = tmp_path / "src.bin"
        data, sha = make_file(src, 1_000_000)
        secret = os.urandom(32)
        dl = tmp_path / "dl"
        receiver.receive(Offer("t1", "f.bin", len(data), sha), secret, dl)
        sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)
        net.run(lambda: any(isinstance(e, Progress) and e.direction == "receive"
                            and e.done > 100_000 for e in net.events))
        assert (dl / ".partial" / f"{sha}.part").stat().st_mode & 0o777 == 0o600
        net.run(net.until_finals(2))
        assert (dl / "f.bin").read_bytes() == data
        assert (dl / "f.bin").stat().st_mode & 0o777 == 0o666 & ~umask
    finally:
        os.umask(old)


_WRITE_LIMIT_SCRIPT = """
import json, os, resource, signal, sys
from pathlib import Path
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from test_transfer_sim import SimNet, make_file, A, B
from messenger.transfer.endpoint import Settings, TransferEndpoint
from messenger.transfer.protocol import Offer
tmp = Path(sys.argv[3])
data, sha = make_file(tmp / "src.bin", 3_000_000)
# Files of this process may not grow past 1 MB: writes past it fail with EFBIG.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, resource.RLIM_INFINITY))
net = SimNet(seed=3, loss=0.0)
settings = Settings(idle_timeout=30.0)
sender = net.add(A, TransferEndpoint(settings=settings))
receiver = net.add(B, TransferEndpoint(settings=settings))
secret = os.urandom(32)
receiver.receive(Offer("t1", "f.bin", len(data), sha), secret, tmp / "dl")
sender.send("t1", tmp / "src.bin", B, receiver.fingerprint, secret, net.now, sha)
net.run(net.until_finals(2), limit=20)
print(json.dumps({"now": net.now, "finals": [
    [type(e).__name__, e.direction, getattr(e, "reason", "")] for e in net.finals()]}))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="RLIMIT_FSIZE is POSIX")


def test_a_write_error_on_the_receiver_reaches_the_sender_as_an_io_error(tmp_path):
    """A full disk (here: a file size limit, EFBIG) while receiving: the ``.part`` file's
    buffered bytes fail again when it is closed; that must not escape and skip the close, the
    sender must learn the reason at once (not by its idle timeout). In a subprocess: the
    limit applies to a whole process."""
    here = Path(__file__).parent
    run = subprocess.run([sys.executable, "-c", _WRITE_LIMIT_SCRIPT, str(here),
                          str(here.parent.parent), str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.splitlines()[-1])
    finals = {direction: (kind, reason) for kind, direction, reason in out["finals"]}
    assert finals["receive"] == ("Failed", "cannot write file: File too large")
    assert finals["send"] == ("Failed", describe_close(AppError.IO_ERROR))
    assert out["now"] < 10  # long before the 30 s idle timeout


class HeldJobs:
    """A ``run_job`` for an endpoint that holds the jobs (opening and hashing a ``.part``
    file) whose file name starts with ``hold`` until :meth:`release`, as a slow disk would,
    and runs the others at once."""

    def __init__(self, hold: str) -> None:
        self.hold = hold
        self.held: list[Callable[[], None]] = []

    def __call__(self, job: Callable[[], None]) -> None:
        if job.__self__.part.path.name.startswith(self.hold):
            self.held.append(job)
        else:
            job()

    def release(self) -> None:
        jobs, self.held = self.held, []
        for job in jobs:
            job()


def test_a_slow_partial_file_hash_neither_times_the_sender_out_nor_stops_others(tmp_path):
    """The receiver hashes the bytes its ``.part`` file holds before it answers the sender;
    on a slow disk that takes longer than the idle timeout. Meanwhile the connection stays
    alive (keep-alive PINGs), another transfer goes through, and once the hash is done the
    first transfer resumes where its partial file stopped."""
    settings = Settings(idle_timeout=2.0)
    net = SimNet(seed=21, loss=0.05)
    sender = net.add(A, TransferEndpoint(settings=settings))
    slow = HeldJobs("")
    receiver = net.add(B, TransferEndpoint(settings=settings, run_job=slow))
    dl = tmp_path / "dl"
    src = tmp_path / "big.bin"
    data, sha = make_file(src, 1_000_000)
    held = 400_000
    (dl / ".partial").mkdir(parents=True)
    (dl / ".partial" / f"{sha}.part").write_bytes(data[:held])
    slow.hold = sha
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "big.bin", len(data), sha), secret, dl)
    assert len(slow.held) == 1  # the hash is pending from the moment it is accepted
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)
    other = tmp_path / "other.bin"
    other_data, other_sha = make_file(other, 300_000, seed=5)
    secret2 = os.urandom(32)
    receiver.receive(Offer("t2", "other.bin", len(other_data), other_sha), secret2, dl)
    sender.send("t2", other, B, receiver.fingerprint, secret2, net.now, other_sha)

    net.run(net.until_finals(2, "t2"))
    assert [type(e) for e in net.finals("t2")] == [Finished, Finished]
    assert (dl / "other.bin").read_bytes() == other_data
    start = net.now
    net.run(lambda: net.now >= start + 4 * settings.idle_timeout or bool(net.finals("t1")))
    assert net.finals("t1") == []
    assert net.now >= start + 4 * settings.idle_timeout
    session = receiver._regs["t1"].session
    assert session is not None and session.part is None  # connected, not answered yet

    sent_before = net.sent[(A, B)]
    slow.release()
    net.run(net.until_finals(2, "t1"))
    assert [type(e) for e in net.finals("t1")] == [Finished, Finished]
    assert (dl / "big.bin").read_bytes() == data
    first = next(e for e in net.events if isinstance(e, Progress) and e.transfer_id == "t1"
                 and e.direction == "receive" and e.done)
    assert first.done >= held
    assert net.sent[(A, B)] - sent_before < (len(data) - held) * 1.4 + 30_000


def test_a_receive_dropped_while_its_partial_file_is_hashed_keeps_or_deletes_it(tmp_path):
    """Released (or the app quits) while the hash still runs: the partial file stays as it
    was; cancelled: it goes. Either way the job lets go of the file when it ends."""
    dl = tmp_path / "dl"
    part = dl / ".partial" / f"{'ab' * 32}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 5000)
    slow = HeldJobs("ab")
    receiver = TransferEndpoint(run_job=slow)
    for how in ("release", "shutdown", "cancel"):
        receiver.receive(Offer("t1", "f.bin", 10_000, "ab" * 32), os.urandom(32), dl)
        opening = receiver._regs["t1"].opening
        if how == "release":
            assert receiver.release("t1", 0.0)
        elif how == "shutdown":
            assert receiver.shutdown(0.0) == []
        else:
            assert receiver.cancel("t1", 0.0)
        slow.release()
        assert opening.done and opening.part._file is None  # closed
        if how == "cancel":
            assert not part.exists() and not part.parent.exists()
        else:
            assert part.read_bytes() == b"x" * 5000
    assert receiver.registrations == []


def clean_path_transfer(tmp_path: Path, size: int, **path) -> tuple[SimNet, TransferEndpoint,
                                                                    bytes]:
    """A transfer of ``size`` random bytes from A to B started on a path without loss
    (``path``: more SimNet settings); returns the net, the receiver and the bytes."""
    net = SimNet(seed=3, loss=0.0, dup=0.0, reorder=0.0, **path)
    sender, receiver = net.add(A, TransferEndpoint()), net.add(B, TransferEndpoint())
    src = tmp_path / "src.bin"
    data, sha = make_file(src, size)
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "f.bin", len(data), sha), secret, tmp_path / "dl")
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)
    return net, receiver, data


def test_the_senders_progress_counts_what_the_receiver_acknowledged(tmp_path):
    """The sender's progress counted bytes handed to QUIC: when the path died for good, its
    card went on to 3 MB (100 % in an app run) while the receiver held 1.5 MB."""
    net, receiver, data = clean_path_transfer(tmp_path, 6_000_000, delay=0.005, jitter=0.0)

    def held() -> int:
        return max((s.part.written for s in receiver._sessions
                    if getattr(s, "part", None) is not None), default=0)

    net.run(lambda: held() > 1_500_000)
    at_cut = held()
    net.up = False  # the path dies for good
    net.run(net.until_finals(2), limit=60)
    sent = [e.done for e in net.events if isinstance(e, Progress) and e.direction == "send"]
    assert sent == sorted(sent)  # never backwards
    assert at_cut <= len(data) // 2 and sent[-1] <= at_cut  # never past what arrived
    assert {type(e) for e in net.finals()} == {Failed}


def test_a_transfer_survives_a_ten_second_blackout(tmp_path):
    """QUIC's probe timeout doubles at each expiry: after 10 s without a path (a Wi-Fi
    roam), its next probe came after 16 s, past the 15 s idle timeout, and the transfer
    failed although the path had been back for 5 s (a transfer hunt). The sender now pings
    each second while nothing it sent is acknowledged."""
    net, _, data = clean_path_transfer(tmp_path, 3_000_000)
    net.run(lambda: any(isinstance(e, Progress) and e.direction == "receive"
                        and e.done > 1_000_000 for e in net.events))
    back = net.now + 10.0
    net.up = False
    net.run(lambda: net.now >= back, limit=11.0)
    net.up = True
    net.run(net.until_finals(2), limit=60)
    assert {type(e) for e in net.finals()} == {Finished}
    assert net.now < back + 5.0  # going again within seconds, not at the next doubling
    assert (tmp_path / "dl" / "f.bin").read_bytes() == data


def test_a_resumed_send_reports_its_real_speed_not_the_resume_offset(tmp_path):
    """The sender's rate meter started at 0 bytes and saw the resume offset appear within
    one progress interval: "6.2 GB/s · 0.2 s left" (a hunt)."""
    size, held = 4_000_000, 3_000_000
    src = tmp_path / "video.mp4"
    data, sha = make_file(src, size)
    dl = tmp_path / "dl"
    (dl / ".partial").mkdir(parents=True)
    (dl / ".partial" / f"{sha}.part").write_bytes(data[:held])  # an earlier attempt's bytes
    net = SimNet(seed=3, loss=0.05, dup=0, reorder=0)
    sender = net.add(A, TransferEndpoint())
    receiver = net.add(B, TransferEndpoint())
    secret = os.urandom(32)
    receiver.receive(Offer("t2", "video.mp4", size, sha), secret, dl)
    started = net.now
    sender.send("t2", src, B, receiver.fingerprint, secret, net.now, sha)
    net.run(net.until_finals(2))
    assert (dl / "video.mp4").read_bytes() == data
    average = (size - held) / (net.now - started)  # what really moved, per second
    sent = [e for e in net.events if isinstance(e, Progress) and e.direction == "send"]
    got = [e for e in net.events if isinstance(e, Progress) and e.direction == "receive"]
    # The receiver's meter starts at the resume offset: its speed stays near the real one.
    assert max(e.rate for e in got) < 3 * average
    # The sender's card ("3.0 MB of 3.8 MB · 14 MB/s · 0 s left") must not count the
    # 3 MB that never moved on this connection as bytes sent in its first 0.1 s.
    worst = max(sent, key=lambda e: e.rate)
    assert worst.rate < 3 * average, (
        f"sender showed {worst.rate / 1e6:.1f} MB/s at {worst.done} bytes, "
        f"{(worst.total - worst.done) / worst.rate:.1f} s left; real average "
        f"{average / 1e6:.2f} MB/s")


def test_a_cancel_after_the_receiver_saved_the_file_does_not_say_cancelled(tmp_path):
    """Cancel pressed at 99.9 %: the receiver has verified and saved the file, its Done is on
    the way. The sender's card said "Cancelled" while the recipient had it (a hunt)."""
    src = tmp_path / "video.mp4"
    data, sha = make_file(src, 300_000)
    net = SimNet(seed=1, loss=0.0, dup=0, reorder=0, delay=0.005, jitter=0.0)
    sender = net.add(A, TransferEndpoint())
    receiver = net.add(B, TransferEndpoint())
    secret = os.urandom(32)
    receiver.receive(Offer("t1", "video.mp4", len(data), sha), secret, tmp_path / "dl")
    sender.send("t1", src, B, receiver.fingerprint, secret, net.now, sha)
    net.run(lambda: any(isinstance(e, Finished) and e.direction == "receive"
                        for e in net.events))
    assert (tmp_path / "dl" / "video.mp4").read_bytes() == data  # saved and verified
    sender.cancel("t1", net.now)  # the user's click, 5 ms before Done reaches the sender
    net.run(lambda: False, limit=5)
    final = {e.direction: e for e in net.finals()}
    assert isinstance(final["receive"], Finished)
    assert (tmp_path / "dl" / "video.mp4").read_bytes() == data  # the file stays
    # The sender must not tell its user that the file did not go.
    assert not isinstance(final["send"], Cancelled), (
        "sender shows Cancelled although the recipient saved the whole file")


def test_a_stalled_transfer_does_not_promise_a_time_of_weeks_at_0_bytes_per_second(tmp_path):
    """While the path is down (a blackout the transfer survives) the smoothed speed only
    decayed towards zero: "1.0 MB of 2.9 MB · 0 bytes/s · 209766 h 1 min left" (a hunt)."""
    net, _, _ = clean_path_transfer(tmp_path, 3_000_000)
    net.run(lambda: any(isinstance(e, Progress) and e.direction == "receive"
                        and e.done > 1_000_000 for e in net.events))
    cut, seen = net.now, len(net.events)
    net.up = False  # the path goes away for 14 s (less than the idle timeout)
    net.run(lambda: net.now >= cut + 14, limit=15)
    texts = []
    for e in net.events[seen:]:
        if isinstance(e, Progress):
            t = Transfer("k", e.direction, "bob", "bob", "film.mp4", e.total,
                         state=TransferState.ACTIVE, done=e.done, rate=e.rate)
            texts.append(status_text(t))
    assert texts
    silly = [s for s in texts if " 0 bytes/s" in s
             or ((m := re.search(r"(\d+) h \d+ min left", s)) and int(m.group(1)) >= 24)]
    assert not silly, silly[-1]
    assert "/s" not in texts[-1] and "left" not in texts[-1], texts[-1]  # stalled: 0 bytes/s
