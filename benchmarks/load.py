"""Load benchmark: Messenger's server against Debian's ngIRCd, on loopback. Prints figures.

    .venv/bin/python benchmarks/load.py [--clients 50,200] [--duration 5] [--rates 5000,20000]
                                        [--skip-ngircd] [--profile DIR]

What it does (see docs/performance.md for results and how to read them):

1. Starts ``messenger --server`` on 127.0.0.1 (temporary data dir, SQLite storage and TLS on,
   exactly as users run it) and drives N protocol clients from this process (the load
   generator: one thread, non-blocking sockets on an epoll selector, TLS via the ``ssl``
   module, frames decoded with msgspec). Clients are registered once, up front, and stay logged
   in; registration costs one argon2id hash each on the server and is timed separately.
2. For each N in ``--clients``:
   - saturation: every client sends unicast messages to a partner, keeping ``--window``
     messages in flight (sent, not yet received by the partner); messages/s counted as acked by
     the server (``ok``) and as received by the recipients, over ``--duration`` seconds after
     a warm-up. Recipients answer every batch with ``delivered`` (as the app does), which makes
     the server send ``receipt`` events back to the senders.
   - latency: open-loop at each of ``--rates`` messages/s (scheduled send times, so a slow
     server cannot slow the offered load down); p50/p99/max of send → recipient-receives
     latency measured from the *scheduled* send time. The generator stops offering when half a
     second of traffic is outstanding (the server cannot keep up); such skipped sends are
     reported, and the achieved rate with them.
3. Fan-out: a public group with ``--group-size`` members; ``--fan-senders`` members send group
   messages with ``--fan-window`` messages in flight (not yet received by every other member);
   deliveries/s = group messages received, summed over members.
4. Server CPU (user+sys from /proc/PID/stat over each measured window, as % of one core) and
   peak RSS (VmHWM from /proc/PID/status). The load generator's own CPU is printed too: on a
   2-core machine it competes with the server.
5. The same workload against ngIRCd (``benchmarks/ngircd.conf``; IRC ``PRIVMSG`` to a nick for
   unicast, to a channel for fan-out), unless ``--skip-ngircd`` or ngircd is not installed;
   each figure is then printed as a ratio ours/ngIRCd. ngIRCd stores nothing, has no TLS and
   no delivery acknowledgements.

With ``--profile DIR``, after the measured phases, the saturation (largest N) and fan-out
phases are run once more under ``py-spy record`` (``.venv/bin/pip install py-spy``) attached
to the server; raw collapsed stacks and a summary of hot spots go to DIR and the summary is
printed. Those extra runs are not part of the figures.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import platform
import random
import re
import selectors
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

HERE = Path(__file__).resolve().parent
NGIRCD_CONF = HERE / "ngircd.conf"
HOST = "127.0.0.1"
PASSWORD = "bench-password"
TEXT_LEN = 64  # characters of each chat message's text
CLK_TCK = os.sysconf("SC_CLK_TCK")
perf = time.perf_counter

EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError, InterruptedError)
_HEADER = struct.Struct(">I")


# ------------------------------------------------------------------------------------------
# Process measurements


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def proc_status(pid: int, key: str) -> int:
    """A ``kB`` field of /proc/PID/status (VmHWM, VmRSS), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def git_revision() -> str:
    try:
        head = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(HERE.parent), "status", "--porcelain",
                                "messenger"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return head + (" + uncommitted changes in messenger/" if dirty else "")


def machine() -> dict:
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "kernel": platform.release(), "openssl": ssl.OPENSSL_VERSION,
            "revision": git_revision()}


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


# ------------------------------------------------------------------------------------------
# Connections


class In(msgspec.Struct):
    """The fields of server frames the load generator looks at (others are skipped)."""

    type: str
    id: int | None = None
    seq: int | None = None
    text: str | None = None
    notice: str | None = None
    nonce: int = 0
    code: str | None = None
    message: str | None = None


_decode = msgspec.json.Decoder(In).decode
_encode = msgspec.json.Encoder().encode


def frame(obj: dict) -> bytes:
    payload = _encode(obj)
    return _HEADER.pack(len(payload)) + payload


class Conn:
    """One client connection (Messenger or IRC) on the load generator's selector."""

    __slots__ = ("bench", "closed", "ids", "idx", "joined", "name", "out", "pending", "rbuf",
                 "registered", "replies", "sock", "writing")

    def __init__(self, bench: Bench, idx: int, sock: socket.socket) -> None:
        self.bench = bench
        self.idx = idx
        self.name = f"u{idx:04d}"
        self.sock = sock
        self.rbuf = bytearray()
        self.out: list[bytes] = []
        self.pending = b""  # bytes a send() refused; retried as they are (TLS needs that)
        self.writing = False  # registered for EVENT_WRITE
        self.closed = False
        self.ids = 0
        self.replies: dict[int, In] = {}
        self.registered = False
        self.joined = False

    def queue(self, data: bytes) -> None:
        if not self.out and not self.pending:
            self.bench.dirty.append(self)
        self.out.append(data)

    def flush(self) -> None:
        while True:
            if not self.pending:
                if not self.out:
                    break
                self.pending = b"".join(self.out) if len(self.out) > 1 else self.out[0]
                self.out = []
            try:
                n = self.sock.send(self.pending[:1 << 20])
            except _WOULD_BLOCK:
                if not self.writing:
                    self.writing = True
                    self.bench.sel.modify(self.sock, EVENT_READ | EVENT_WRITE, self)
                return
            except OSError as exc:
                self.bench.lost(self, f"send failed: {exc}")
                return
            self.pending = self.pending[n:]
        if self.writing:
            self.writing = False
            self.bench.sel.modify(self.sock, EVENT_READ, self)

    def read(self) -> bool:
        """Read what is available into ``rbuf``; False when the peer closed."""
        sock = self.sock
        try:
            data = sock.recv(1 << 18)
            if not data:
                return False
            self.rbuf += data
            if isinstance(sock, ssl.SSLSocket):
                while sock.pending():
                    self.rbuf += sock.recv(1 << 18)
        except _WOULD_BLOCK:
            pass
        except OSError:
            return False
        return True


# ------------------------------------------------------------------------------------------
# The load generator



_last_v7 = [0, 0]  # ms and random field of the last id


def uuid7_hex() -> str:
    """A client_msg_id as the app makes it (``messenger.protocol.time_ordered_id``): a UUID
    version 7 (RFC 9562 §5.7), 32 hex digits led by the Unix time in ms, increasing within a
    millisecond (the previous id's random field plus one, RFC 9562 §6.2). (Pseudo-random
    bits: ``os.urandom`` is a system call per message, which the generator cannot spare.)"""
    ms = int(time.time() * 1000)
    if ms > _last_v7[0]:
        r = random.getrandbits(74)
    else:
        ms, r = _last_v7[0], _last_v7[1] + 1
    _last_v7[0], _last_v7[1] = ms, r
    low = r & ((1 << 60) - 1)
    return f"{ms:012x}7{r >> 62:03x}{r >> 60 & 3 | 8:x}{low:015x}"


def uuid4_hex() -> str:
    """A client_msg_id as apps made it before (``uuid.uuid4().hex``): 32 random hex digits
    (version and variant bits aside, which do not matter to the server)."""
    return f"{random.getrandbits(128):032x}"


ID_MAKERS = {"v7": uuid7_hex, "v4": uuid4_hex}
make_client_msg_id = uuid7_hex

@dataclass
class Phase:
    tag: str
    mode: str  # "uni" (closed loop), "open" (open loop), "fan"
    n: int = 0
    window: int = 0
    sending: bool = True
    rec_from: float = 0.0  # record latencies of messages scheduled in [rec_from, rec_to]
    rec_to: float = float("inf")
    lat: list[float] = field(default_factory=list)
    inflight: list[int] = field(default_factory=list)
    seq: int = 0  # messages sent
    received: int = 0
    acked: int = 0
    receipts: int = 0
    stale: int = 0
    fan_left: dict[int, int] = field(default_factory=dict)
    fan_members: int = 0
    fan_next_sender: int = 0
    fan_senders: int = 1


class Bench:
    """Drives clients of one server ("messenger" or "ngircd") at HOST:port."""

    def __init__(self, kind: str, port: int, pid: int) -> None:
        self.kind = kind
        self.port = port
        self.pid = pid
        self.sel = selectors.DefaultSelector()
        self.conns: list[Conn] = []
        self.dirty: list[Conn] = []
        self.errors: collections.Counter[str] = collections.Counter()
        self.phase = Phase("idle", "idle", sending=False)
        self.last_rx = perf()
        self.irc = kind == "ngircd"
        self.tls = None
        if not self.irc:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.tls.check_hostname = False
            self.tls.verify_mode = ssl.CERT_NONE  # self-signed; this benchmark does not pin
        self.phase_counter = 0

    # ---------------------------------------------------------------- event loop

    def pump(self, timeout: float) -> None:
        for key, mask in self.sel.select(timeout):
            c: Conn = key.data
            if mask & EVENT_READ:
                if not c.read():
                    self.lost(c, "connection closed by the server")
                    continue
                if c.rbuf:
                    self.last_rx = perf()
                    if self.irc:
                        self.on_irc_data(c)
                    else:
                        self.on_frames(c)
            if mask & EVENT_WRITE:
                c.flush()
        self.flush()

    def flush(self) -> None:
        dirty, self.dirty = self.dirty, []
        for c in dirty:
            if not c.closed:
                c.flush()

    def run_until(self, done, timeout: float, what: str) -> float:
        """Pump until ``done()``; return the seconds it took. Raises on timeout."""
        t0 = perf()
        end = t0 + timeout
        while not done():
            now = perf()
            if now > end:
                raise TimeoutError(f"{self.kind}: {what} not done after {timeout:.0f} s")
            self.pump(min(0.05, end - now))
        return perf() - t0

    def run_for(self, seconds: float) -> None:
        end = perf() + seconds
        while (now := perf()) < end:
            self.pump(min(0.05, end - now))

    def quiesce(self, quiet: float = 0.5, timeout: float = 30.0) -> None:
        """Pump until nothing has arrived for ``quiet`` seconds."""
        end = perf() + timeout
        while perf() - self.last_rx < quiet and perf() < end:
            self.pump(0.05)
        self.pump(0)

    def lost(self, c: Conn, why: str) -> None:
        if c.closed:
            return
        c.closed = True
        self.errors[f"{why} ({self.kind})"] += 1
        with contextlib.suppress(Exception):
            self.sel.unregister(c.sock)
        c.sock.close()

    # ---------------------------------------------------------------- clients

    def connect(self, idx: int) -> Conn:
        raw = socket.create_connection((HOST, self.port), timeout=30)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock = self.tls.wrap_socket(raw) if self.tls is not None else raw
        sock.setblocking(False)
        c = Conn(self, idx, sock)
        self.sel.register(sock, EVENT_READ, c)
        self.conns.append(c)
        return c

    def request(self, c: Conn, obj: dict) -> int:
        c.ids += 1
        obj["id"] = c.ids
        c.queue(frame(obj))
        return c.ids

    def ensure_clients(self, n: int) -> float:
        """Connect and log in clients until there are ``n``; return the seconds it took."""
        t0 = perf()
        new = [self.connect(i) for i in range(len(self.conns), n)]
        if not new:
            return 0.0
        if self.irc:
            for c in new:
                c.queue(f"NICK {c.name}\r\nUSER {c.name} 0 * :load benchmark\r\n".encode())
            self.flush()
            self.run_until(lambda: all(c.registered for c in new), 60, "IRC registration")
        else:
            for c in new:
                c.queue(frame({"type": "hello", "protocol_version": 1, "agent": "load.py"}))
            todo = new
            deadline = perf() + 30 + n * 1.0
            while todo:  # the server hashes at most 64 passwords at once: retry the others
                waits = [(c, self.request(c, {"type": "register", "user": c.name,
                                              "password": PASSWORD})) for c in todo]
                self.flush()
                self.run_until(lambda w=waits: all(i in c.replies for c, i in w),
                               max(1.0, deadline - perf()), "registration")
                todo = []
                for c, i in waits:
                    r = c.replies.pop(i)
                    if r.type == "error" and r.code == "rate_limited":
                        todo.append(c)
                    elif r.type != "ok":
                        raise RuntimeError(f"register {c.name}: {r.code} {r.message}")
                if todo:
                    self.quiesce(0.5)
        self.quiesce(0.3)
        return perf() - t0

    # ---------------------------------------------------------------- incoming: Messenger

    def on_frames(self, c: Conn) -> None:
        buf = c.rbuf
        pos = 0
        end = len(buf)
        seqs = []
        ph = self.phase
        while end - pos >= 4:
            (length,) = _HEADER.unpack_from(buf, pos)
            stop = pos + 4 + length
            if stop > end:
                break
            f = _decode(memoryview(buf)[pos + 4:stop])
            pos = stop
            t = f.type
            if t == "message":
                seqs.append(f.seq)
                if f.notice is None:
                    self.on_chat(f.text)
            elif t == "receipt" or t == "receipt_count":
                ph.receipts += 1
            elif t == "ok":
                if f.seq is not None:
                    ph.acked += 1
                else:
                    c.replies[f.id] = f
            elif t == "ping":
                c.queue(frame({"type": "pong", "nonce": f.nonce}))
            elif t == "error":
                self.errors[f"error {f.code}: {(f.message or '')[:60]}"] += 1
                if f.id is not None:
                    c.replies[f.id] = f
        del buf[:pos]
        if seqs:
            c.queue(frame({"type": "delivered", "seqs": seqs}))

    # ---------------------------------------------------------------- incoming: IRC

    def on_irc_data(self, c: Conn) -> None:
        buf = c.rbuf
        cut = buf.rfind(b"\r\n")
        if cut < 0:
            return
        data = bytes(buf[:cut])
        del buf[:cut + 2]
        for line in data.split(b"\r\n"):
            if line[:1] == b":":
                sp = line.find(b" ") + 1
                if line.startswith(b"PRIVMSG ", sp):
                    self.on_chat(line[line.find(b" :", sp) + 2:].decode())
                    continue
                cmd = line[sp:line.find(b" ", sp)]
                if cmd == b"001":
                    c.registered = True
                elif cmd == b"JOIN":
                    if line.startswith(b":" + c.name.encode() + b"!"):
                        c.joined = True
                elif cmd[:1] in (b"4", b"5"):
                    self.errors[f"IRC {line[sp:sp + 80].decode(errors='replace')}"] += 1
            elif line.startswith(b"PING"):
                c.queue(b"PONG" + line[4:] + b"\r\n")
            elif line.startswith(b"ERROR"):
                self.errors[f"IRC {line[:80].decode(errors='replace')}"] += 1

    # ---------------------------------------------------------------- chat messages

    def text(self, src: int, k: int, t: float) -> str:
        head = f"{self.phase.tag}:{src}:{k}:{t:.6f}:"
        return head + "x" * max(1, TEXT_LEN - len(head))

    def send_uni(self, src: int, t: float | None = None) -> None:
        ph = self.phase
        n = ph.n
        dst = (src + n // 2) % n
        k = ph.seq
        ph.seq = k + 1
        ph.inflight[src] += 1
        text = self.text(src, k, perf() if t is None else t)
        c = self.conns[src]
        if self.irc:
            c.queue(f"PRIVMSG u{dst:04d} :{text}\r\n".encode())
        else:
            c.ids += 1
            c.queue(frame({"type": "send", "id": c.ids, "client_msg_id": make_client_msg_id(),
                           "scope": "unicast", "to": [f"u{dst:04d}"], "text": text}))

    def send_fan(self) -> None:
        ph = self.phase
        src = ph.fan_next_sender
        ph.fan_next_sender = (src + 1) % ph.fan_senders
        k = ph.seq
        ph.seq = k + 1
        ph.fan_left[k] = ph.fan_members - 1
        text = self.text(src, k, perf())
        c = self.conns[src]
        if self.irc:
            c.queue(f"PRIVMSG #bench :{text}\r\n".encode())
        else:
            c.ids += 1
            c.queue(frame({"type": "send", "id": c.ids, "client_msg_id": make_client_msg_id(),
                           "scope": "group", "to": ["bench"], "text": text}))

    def on_chat(self, text: str) -> None:
        ph = self.phase
        tag, src, k, t, _ = text.split(":", 4)
        if tag != ph.tag:
            ph.stale += 1
            return
        ph.received += 1
        t = float(t)
        if ph.rec_from <= t <= ph.rec_to:
            ph.lat.append(perf() - t)
        if ph.mode == "fan":
            k = int(k)
            left = ph.fan_left[k] - 1
            if left:
                ph.fan_left[k] = left
            else:
                del ph.fan_left[k]
                if ph.sending:
                    self.send_fan()
        else:
            src = int(src)
            ph.inflight[src] -= 1
            if ph.sending and ph.mode == "uni":
                self.send_uni(src)

    def new_phase(self, mode: str, **kw) -> Phase:
        self.phase_counter += 1
        self.phase = Phase(f"{mode[0]}{self.phase_counter}", mode, **kw)
        return self.phase

    # ---------------------------------------------------------------- phases

    def measure(self, ph: Phase, seconds: float) -> dict:
        """Pump for ``seconds`` and return counts and CPU over that window."""
        r0, a0, rc0 = ph.received, ph.acked, ph.receipts
        s0, cpu0, me0, t0 = ph.seq, proc_cpu(self.pid), self_cpu(), perf()
        ph.rec_from = t0
        self.run_for(seconds)
        t1 = perf()
        ph.rec_to = t1
        wall = t1 - t0
        return {"wall": wall, "sent": ph.seq - s0, "received": ph.received - r0,
                "acked": ph.acked - a0, "receipts": ph.receipts - rc0,
                "server_cpu": (proc_cpu(self.pid) - cpu0) / wall,
                "gen_cpu": (self_cpu() - me0) / wall}

    def drain(self, ph: Phase, timeout: float) -> int:
        """Stop sending, wait for what is in flight; return how many never arrived."""
        ph.sending = False
        if ph.mode == "fan":
            def left() -> int:
                return len(ph.fan_left)
        else:
            def left() -> int:
                return sum(ph.inflight)
        with contextlib.suppress(TimeoutError):
            self.run_until(lambda: left() == 0, timeout, "drain")
        self.quiesce(0.3, timeout=10)
        return left()

    def saturation(self, n: int, seconds: float, window: int, warmup: float,
                   on_start=None) -> dict:
        ph = self.new_phase("uni", n=n, window=window, inflight=[0] * n)
        ph.rec_from = float("inf")
        for _ in range(window):
            for src in range(n):
                self.send_uni(src)
        self.flush()
        self.run_for(warmup)
        if on_start is not None:
            on_start()
        res = self.measure(ph, seconds)
        res["lost"] = self.drain(ph, 20)
        res.update(latencies(ph.lat))
        return res

    def open_loop(self, n: int, rate: float, seconds: float, warmup: float,
                  on_start=None) -> dict:
        ph = self.new_phase("open", n=n, inflight=[0] * n)
        cap = max(200, int(rate * 0.5))  # at most half a second of traffic outstanding
        t0 = perf()
        total = seconds + warmup
        due = skipped = 0
        rec = None
        stats = {}
        while True:
            now = perf()
            if rec is None and now >= t0 + warmup:
                rec = (ph.seq, ph.received, ph.acked, skipped, proc_cpu(self.pid), self_cpu(),
                       now)
                ph.rec_from = now
                if on_start:
                    on_start()
            if now >= t0 + total:
                break
            target = int((now - t0) * rate) + 1  # messages scheduled at or before now
            outstanding = sum(ph.inflight)
            while due < target:
                t_sched = t0 + due / rate
                src = due % n
                due += 1
                if outstanding >= cap:
                    skipped += 1
                    continue
                self.send_uni(src, t_sched)
                outstanding += 1
            self.flush()
            self.pump(max(0.0, min(0.001, t0 + due / rate - perf())))
        t1 = perf()
        ph.rec_to = t1
        s0, r0, a0, k0, cpu0, me0, tr = rec
        wall = t1 - tr
        stats = {"wall": wall, "offered": rate, "sent": ph.seq - s0,
                 "received": ph.received - r0, "acked": ph.acked - a0,
                 "skipped": skipped - k0,
                 "server_cpu": (proc_cpu(self.pid) - cpu0) / wall,
                 "gen_cpu": (self_cpu() - me0) / wall}
        stats["lost"] = self.drain(ph, 15)
        stats.update(latencies(ph.lat))
        return stats

    def setup_group(self, g: int) -> float:
        t0 = perf()
        members = self.conns[:g]
        if self.irc:
            for c in members:
                c.queue(b"JOIN #bench\r\n")
            self.flush()
            self.run_until(lambda: all(c.joined for c in members), 120, "JOIN")
        else:
            first = members[0]
            i = self.request(first, {"type": "group_create", "group": "bench", "public": True})
            self.flush()
            self.run_until(lambda: i in first.replies, 30, "group_create")
            waits = [(c, self.request(c, {"type": "group_join", "group": "bench"}))
                     for c in members[1:]]
            self.flush()
            self.run_until(lambda: all(i in c.replies for c, i in waits), 300, "group_join")
            for c, rid in [(first, i), *waits]:
                r = c.replies.pop(rid)
                if r.type != "ok":
                    raise RuntimeError(f"group set-up: {r.code} {r.message}")
        self.quiesce(1.0, timeout=120)
        return perf() - t0

    def fanout(self, g: int, seconds: float, window: int, senders: int, warmup: float,
               on_start=None) -> dict:
        ph = self.new_phase("fan", fan_members=g, fan_senders=min(senders, g))
        ph.rec_from = float("inf")
        for _ in range(window):
            self.send_fan()
        self.flush()
        self.run_for(warmup)
        if on_start is not None:
            on_start()
        res = self.measure(ph, seconds)
        res["lost"] = self.drain(ph, 20)
        res.update(latencies(ph.lat))
        return res

    def close(self) -> None:
        for c in self.conns:
            if not c.closed:
                c.closed = True
                with contextlib.suppress(Exception):
                    self.sel.unregister(c.sock)
                c.sock.close()
        self.sel.close()


def latencies(values: list[float]) -> dict:
    values.sort()
    return {"samples": len(values), "p50": percentile(values, 0.5),
            "p99": percentile(values, 0.99), "max": values[-1] if values else float("nan")}


# ------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def messenger_server(workdir: Path, script: str | None = None):
    data = workdir / "messenger-data"
    err = open(workdir / "messenger.stderr", "w")  # closed below
    entry = [script] if script else ["-m", "messenger"]  # script: a wrapper, for experiments
    # (every client comes from 127.0.0.1 at once: more than one address's default share of
    # connections without a login; and each sends faster than an account's default rate)
    cmd = [sys.executable, *entry, "--server", "--host", HOST, "--port", "0",
           "--data-dir", str(data), "--max-prelogin", "10000",
           "--max-send-rate", "0", "--max-registrations", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        line = proc.stdout.readline()
        m = re.match(r"listening on .*:(\d+)", line)
        if not m:
            proc.kill()
            raise RuntimeError(f"the server did not start: {line!r}; see {err.name}")
        yield int(m.group(1)), proc.pid, " ".join(cmd[1:])
    finally:
        stop(proc)
        err.close()


@contextlib.contextmanager
def ngircd_server(workdir: Path, binary: str):
    port = free_port()
    conf = workdir / "ngircd.conf"
    text = re.sub(r"(?m)^(\s*Ports\s*=).*$", rf"\g<1> {port}", NGIRCD_CONF.read_text())
    conf.write_text(text)
    err = open(workdir / "ngircd.out", "w")  # closed below
    proc = subprocess.Popen([binary, "-n", "-f", str(conf)], stdout=err, stderr=err)
    try:
        end = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"ngircd did not start; see {err.name}")
            time.sleep(0.05)
        yield port, proc.pid, f"{binary} -n -f {conf}"
    finally:
        stop(proc)
        err.close()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------------------
# Profiling (py-spy)


def find_py_spy() -> str | None:
    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def start_py_spy(pid: int, out: Path, seconds: float) -> subprocess.Popen | None:
    exe = find_py_spy()
    if exe is None:
        print("  (py-spy not found: pip install py-spy; no profile)")
        return None
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--rate", "200", "--format",
                             "raw", "--duration", str(max(1, round(seconds))), "--output",
                             str(out), *(os.environ.get("PYSPY_EXTRA") or "--nonblocking").split()],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize_profile(raw: Path, top: int = 25) -> str:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    total = 0
    self_n: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    line_self: collections.Counter[tuple[str, int]] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        raw_frames = stack.split(";")
        frames = [_short_frame(f) for f in raw_frames]
        self_n[frames[-1]] += n
        m = re.search(r"\((.*?):(\d+)\)$", raw_frames[-1])
        if m:
            line_self[m.group(1), int(m.group(2))] += n
        for f in set(frames):
            incl[f] += n
    if not total:
        return "no samples"
    lines = [f"{total} samples (active time only)", "", "inclusive (function and callees):"]
    for f, n in incl.most_common(top):
        lines.append(f"  {100 * n / total:5.1f}%  {f}")
    lines += ["", "self (the function's own lines, including C calls it makes):"]
    for f, n in self_n.most_common(top):
        lines.append(f"  {100 * n / total:5.1f}%  {f}")
    lines += ["", "hottest source lines (self; C calls such as sqlite3 and Qt count here):"]
    for (path, lineno), n in line_self.most_common(top):
        lines.append(f"  {100 * n / total:5.1f}%  {path}:{lineno}  {_source(path, lineno)}")
    return "\n".join(lines)


def _source(path: str, lineno: int) -> str:
    """The text of ``path``:``lineno`` (paths as py-spy prints them, e.g. messenger/x.py)."""
    for base in (HERE.parent, Path(sys.prefix)):
        with contextlib.suppress(OSError, IndexError):
            text = (base / path).read_text().splitlines()[lineno - 1].strip()
            return text[:90]
    return ""


def _short_frame(frame_text: str) -> str:
    # "func (path/to/file.py:123)" -> "func (file.py)"; line numbers dropped to aggregate.
    m = re.match(r"(.*) \((.*?):\d+\)$", frame_text)
    if not m:
        return frame_text
    func, path = m.groups()
    p = Path(path)
    short = "/".join(p.parts[-3:]) if "messenger" in p.parts else p.name
    return f"{func} ({short})"


# ------------------------------------------------------------------------------------------
# Running one server through every phase


def run_target(kind: str, args, workdir: Path, binary: str | None = None) -> dict:
    ctx = (messenger_server(workdir, args.server_script) if kind == "messenger"
           else ngircd_server(workdir, binary))
    results: dict = {"kind": kind, "per_n": {}}
    with ctx as (port, pid, command):
        results["command"] = command
        print(f"\n== {kind}: {command} (pid {pid}, port {port})", flush=True)
        bench = Bench(kind, port, pid)
        try:
            for n in args.clients:
                setup = bench.ensure_clients(n)
                print(f"  N={n}: {n} clients logged in ({setup:.1f} s for the new ones)",
                      flush=True)
                per = results["per_n"][n] = {"setup": setup}
                per["sat"] = bench.saturation(n, args.duration, args.window, args.warmup)
                print_row(f"  N={n} saturation", per["sat"])
                per["open"] = {}
                for rate in args.rates:
                    r = bench.open_loop(n, rate, args.duration, args.warmup)
                    per["open"][rate] = r
                    print_row(f"  N={n} open loop {rate}/s", r)
            g = args.group_size
            setup = bench.ensure_clients(max(g, len(bench.conns)))
            gsetup = bench.setup_group(g)
            results["group_setup"] = (setup, gsetup)
            print(f"  group of {g}: clients {setup:.1f} s, joins {gsetup:.1f} s", flush=True)
            results["fan"] = bench.fanout(g, args.duration, args.fan_window, args.fan_senders,
                                          args.warmup)
            print_row(f"  fan-out {g} members", results["fan"], fan=True)
            results["vmhwm"] = proc_status(pid, "VmHWM")
            results["vmrss"] = proc_status(pid, "VmRSS")
            if args.profile and kind == "messenger":
                profile_runs(bench, args, pid, results)
        finally:
            results["errors"] = dict(bench.errors)
            if bench.errors:
                print(f"  errors/events: {dict(bench.errors)}")
            bench.close()
    return results


def profile_runs(bench: Bench, args, pid: int, results: dict) -> None:
    out = Path(args.profile)
    out.mkdir(parents=True, exist_ok=True)
    n = max(args.clients)
    for name, run in (
        ("unicast", lambda hook: bench.saturation(n, args.duration, args.window, args.warmup,
                                                  on_start=hook)),
        ("fanout", lambda hook: bench.fanout(args.group_size, args.duration, args.fan_window,
                                             args.fan_senders, args.warmup, on_start=hook)),
        *((f"open{rate}", lambda hook, rate=rate: bench.open_loop(
            n, rate, args.duration, args.warmup, on_start=hook)) for rate in args.rates),
    ):
        raw = out / f"profile-{name}.txt"
        spy: list[subprocess.Popen | None] = []
        r = run(lambda raw=raw, spy=spy: spy.append(start_py_spy(pid, raw, args.duration)))
        if spy and spy[0] is not None:
            spy[0].wait(30)
            if raw.exists():
                summary = summarize_profile(raw)
                (out / f"profile-{name}-summary.txt").write_text(summary + "\n")
                what = f"N={n}" if name == "unicast" else f"{args.group_size} members"
                print(f"\n  profile of the server, {name} saturation ({what}, py-spy running;"
                      f" {r['received'] / r['wall']:,.0f} msgs received/s):")
                print("    " + summary.replace("\n", "\n    "))
            else:
                print(f"  py-spy wrote no profile ({raw}); is ptrace allowed?")


def print_row(label: str, r: dict, fan: bool = False) -> None:
    w = r["wall"]
    parts = [f"{label}:"]
    if "offered" in r:
        parts.append(f"offered {r['offered']:,.0f}/s sent {r['sent'] / w:,.0f}/s "
                     f"(skipped {r['skipped']:,})")
    if fan:
        parts.append(f"{r['received'] / w:,.0f} deliveries/s ({r['sent'] / w:,.0f} msgs/s)")
    else:
        parts.append(f"received {r['received'] / w:,.0f}/s acked {r['acked'] / w:,.0f}/s")
    parts.append(f"p50 {r['p50'] * 1e3:.1f} ms p99 {r['p99'] * 1e3:.1f} ms "
                 f"max {r['max'] * 1e3:.0f} ms")
    parts.append(f"server CPU {100 * r['server_cpu']:.0f}% gen CPU {100 * r['gen_cpu']:.0f}%")
    if r.get("lost"):
        parts.append(f"NOT DELIVERED after drain: {r['lost']:,}")
    print(" ".join(parts), flush=True)


# ------------------------------------------------------------------------------------------
# Report


def ratio(a: float, b: float) -> str:
    if not b or b != b or a != a:
        return "-"
    return f"{a / b:.2f}"


def report(ours: dict, irc: dict | None, args, info: dict, total: float) -> None:
    print("\n" + "=" * 100)
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}; Python {info['python']}, "
          f"{info['openssl']}, Linux {info['kernel']}")
    print(f"code: {info['revision']}; load generator: 1 process (this one), same machine; "
          f"run took {total:.0f} s")
    rows = []

    def add(label: str, key, fmt: str, unit: str = "") -> None:
        a = key(ours)
        b = key(irc) if irc else float("nan")
        rows.append((label, fmt.format(a) + unit, (fmt.format(b) + unit) if irc else "-",
                     ratio(a, b) if irc else "-"))

    for n in args.clients:
        def sat(r, n=n):
            s = r["per_n"][n]["sat"]
            return s["received"] / s["wall"]
        add(f"N={n} unicast msgs/s at saturation (received)", sat, "{:,.0f}")
        add(f"N={n}   server CPU at saturation",
            lambda r, n=n: 100 * r["per_n"][n]["sat"]["server_cpu"], "{:.0f}", "%")
        add(f"N={n}   load generator CPU at saturation",
            lambda r, n=n: 100 * r["per_n"][n]["sat"]["gen_cpu"], "{:.0f}", "%")
        for rate in args.rates:
            def o(r, n=n, rate=rate):
                return r["per_n"][n]["open"][rate]
            add(f"N={n} @{rate}/s achieved (received/s)",
                lambda r, o=o: o(r)["received"] / o(r)["wall"], "{:,.0f}")
            add(f"N={n} @{rate}/s p50 latency", lambda r, o=o: o(r)["p50"] * 1e3, "{:.2f}",
                " ms")
            add(f"N={n} @{rate}/s p99 latency", lambda r, o=o: o(r)["p99"] * 1e3, "{:.2f}",
                " ms")
            add(f"N={n} @{rate}/s server CPU", lambda r, o=o: 100 * o(r)["server_cpu"],
                "{:.0f}", "%")
    add(f"fan-out {args.group_size} members: deliveries/s",
        lambda r: r["fan"]["received"] / r["fan"]["wall"], "{:,.0f}")
    add("fan-out server CPU", lambda r: 100 * r["fan"]["server_cpu"], "{:.0f}", "%")
    add("server peak RSS (VmHWM)", lambda r: r["vmhwm"] / 2**20, "{:.0f}", " MiB")
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  {'messenger':>14}  {'ngircd':>14}  {'ours/ngircd':>11}")
    for label, a, b, q in rows:
        print(f"{label:{width}}  {a:>14}  {b:>14}  {q:>11}")
    n = max(args.clients)
    print(f"\ntargets (N={n}):")
    if 20000 in ours["per_n"][n]["open"]:
        o = ours["per_n"][n]["open"][20000]
        ok = o["p99"] <= 0.010 and not o["skipped"] and o["received"] >= 0.95 * o["sent"]
        print(f"  p99 <= 10 ms at 20,000 msgs/s: {'MET' if ok else 'NOT MET'} "
              f"(p99 {o['p99'] * 1e3:.1f} ms, achieved {o['received'] / o['wall']:,.0f}/s)")
    if irc:
        a = ours["per_n"][n]["sat"]["received"] / ours["per_n"][n]["sat"]["wall"]
        b = irc["per_n"][n]["sat"]["received"] / irc["per_n"][n]["sat"]["wall"]
        print(f"  >= 50% of ngircd's unicast throughput: {'MET' if a >= 0.5 * b else 'NOT MET'}"
              f" ({100 * a / b:.1f}%)")
    fan = ours["fan"]["received"] / ours["fan"]["wall"]
    print(f"  fan-out >= 200,000 deliveries/s: {'MET' if fan >= 200_000 else 'NOT MET'} "
          f"({fan:,.0f}/s)")


# ------------------------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int_list, default=[50, 200],
                   help="numbers of clients, comma-separated (default 50,200)")
    p.add_argument("--duration", type=float, default=5.0,
                   help="measured seconds of each phase (default 5)")
    p.add_argument("--warmup", type=float, default=1.0,
                   help="unmeasured seconds before each phase (default 1)")
    p.add_argument("--rates", type=int_list, default=[5000, 20000],
                   help="open-loop offered rates in messages/s (default 5000,20000)")
    p.add_argument("--window", type=int, default=8,
                   help="saturation: messages in flight per sending client (default 8)")
    p.add_argument("--group-size", type=int, default=200, help="fan-out group members (200)")
    p.add_argument("--fan-window", type=int, default=32,
                   help="fan-out: group messages in flight (default 32)")
    p.add_argument("--fan-senders", type=int, default=4,
                   help="fan-out: members that send (default 4)")
    p.add_argument("--skip-ngircd", action="store_true", help="do not run ngIRCd")
    p.add_argument("--skip-messenger", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--server-script", help=argparse.SUPPRESS)  # run PATH instead of -m messenger
    p.add_argument("--ngircd", default=None, help="ngircd binary (default: from PATH)")
    p.add_argument("--profile", metavar="DIR",
                   help="also profile the server with py-spy (extra runs) into DIR")
    p.add_argument("--json", metavar="FILE", help="write all results as JSON to FILE")
    p.add_argument("--ids", choices=sorted(ID_MAKERS), default="v7",
                   help="client_msg_id of each message: v7 = time-ordered UUIDs as the app "
                        "makes them (default), v4 = random UUIDs as it made them before")
    args = p.parse_args(argv)
    args.clients = sorted(set(args.clients))

    info = machine()
    print(f"load benchmark: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}")
    print(f"clients {args.clients}, rates {args.rates}/s, {args.duration:g} s per phase "
          f"(+{args.warmup:g} s warm-up), fan-out group of {args.group_size}, "
          f"client_msg_id {args.ids}")
    global make_client_msg_id
    make_client_msg_id = ID_MAKERS[args.ids]
    t0 = time.monotonic()
    ours = irc = None
    with tempfile.TemporaryDirectory(prefix="messenger-load-") as tmp:
        work = Path(tmp)
        if not args.skip_messenger:
            (work / "m").mkdir()
            ours = run_target("messenger", args, work / "m")
        if args.skip_ngircd:
            print("\nngircd: skipped (--skip-ngircd)")
        else:
            binary = args.ngircd or shutil.which("ngircd") or (
                "/usr/sbin/ngircd" if Path("/usr/sbin/ngircd").exists() else None)
            if binary is None:
                print("\nngircd: SKIPPED, not installed (Debian: apt-get install ngircd); "
                      "no ratios")
            else:
                (work / "i").mkdir()
                irc = run_target("ngircd", args, work / "i", binary)
    total = time.monotonic() - t0
    if ours is not None:
        report(ours, irc, args, info, total)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "messenger": ours,
                                               "ngircd": irc, "seconds": total},
                                              indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
