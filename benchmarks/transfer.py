"""Peer-to-peer transfer benchmark: prints figures, asserts nothing.

Every scenario runs the sender and the receiver in two separate processes (each a
``TransferEngine`` with its worker ``QThread``) on 127.0.0.1 and reports goodput (file bytes
per second from ``send()`` to the receiver's verified, renamed file) and CPU seconds per side:

* ``loopback``: straight over loopback;
* ``tcp``: a plain TCP copy of the same file (``socket.sendfile`` → ``recv_into`` → file), for
  comparison, in the same run;
* ``loss5``: through a UDP relay process that drops 5% of datagrams each way, at random;
* ``rtt20``: through a UDP relay process that delays each datagram by 10 ms each way (20 ms
  added round trip), no loss;
* ``netns`` (root only, needs ``ip`` and ``nft``): ours and then a plain TCP copy between two
  network namespaces joined by a veth pair (10.200.77.1/30 sender, 10.200.77.2/30 receiver),
  whose nftables input chains drop ``--netns-loss`` % (default 5) of all UDP and TCP packets at
  random (``meta l4proto { tcp, udp } numgen random mod 100 < 5 drop``; in both namespaces, so
  both directions, or only the receiver's with ``--netns-drop receiver``). TSO/GSO are off on
  the veth (``gso_max_segs 1``) so the rule sees wire-sized packets, as on a real link, and not
  64 KB TCP super-packets. The SHA-256 of what arrived is checked here. A run that has not
  finished after ``--netns-timeout`` seconds (default 180) is stopped and its partial goodput
  reported. The namespaces (and with them the veth pair and the nft tables) are always deleted,
  also on Ctrl+C or SIGTERM; traffic never leaves them.

Usage::

    .venv/bin/python benchmarks/transfer.py                      # 1 GiB, all scenarios
    .venv/bin/python benchmarks/transfer.py --size 200M --scenarios loopback,tcp
    .venv/bin/python benchmarks/transfer.py --size 50M --scenarios loss5,rtt20
    .venv/bin/python benchmarks/transfer.py --scenarios loopback --no-segmentation
    .venv/bin/python benchmarks/transfer.py --scenarios loopback --qt-io
    sudo .venv/bin/python benchmarks/transfer.py --scenarios netns --netns-size 50M

``--relay-size`` (default: ``--size`` / 10, at most 100 MB) is the file size for the relay
scenarios, which are slower; ``--netns-size`` (default 50 MB) the one for ``netns``. The file is
random bytes in a temporary folder (``--tmp``).
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import os
import random
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("B")
    units = {"K": 1000, "M": 1000**2, "G": 1000**3, "KI": 1024, "MI": 1024**2, "GI": 1024**3}
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * units[suffix])
    return int(text)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def settings_of(args: argparse.Namespace):
    from messenger.transfer import engine
    from messenger.transfer.endpoint import Settings

    if args.no_segmentation or args.qt_io:
        engine.USE_SEGMENTATION = False
    if args.qt_io:
        engine.USE_RAW_IO = False
    return Settings(max_datagram_size=args.max_datagram_size, stream_buffer=args.stream_buffer)


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


# --------------------------------------------------------------------------------------------
# Child roles


def role_receive(args: argparse.Namespace) -> None:
    from PySide6.QtCore import QCoreApplication, QTimer

    from messenger.transfer.engine import TransferEngine
    from messenger.transfer.protocol import Offer

    app = QCoreApplication([])
    engine = TransferEngine(args.bind, settings=settings_of(args))
    engine.start()
    offer = Offer("bench", "bench.bin", args.file_size, args.sha256)
    ticket = engine.receive(offer, bytes.fromhex(args.secret), args.out)
    cpu0 = cpu_seconds()
    result: dict = {}
    done = [0]

    def progress(tid: str, done_bytes: int, total: int, rate: float) -> None:
        done[0] = done_bytes

    def timeout() -> None:  # --deadline: report how far we got and stop
        if not result:
            result.update(event="timeout", t=time.time(), bytes=done[0])
            app.quit()

    def finished(tid: str, path: str, sha: str) -> None:
        result.update(event="finished", t=time.time(), path=path, sha256=sha)
        QTimer.singleShot(500, app.quit)  # let the sender's close arrive before quitting

    def failed(tid: str, reason: str) -> None:
        result.update(event="failed", t=time.time(), reason=reason)
        app.quit()

    engine.finished.connect(finished)
    engine.failed.connect(failed)
    engine.progress.connect(progress)
    if args.deadline:
        QTimer.singleShot(int(args.deadline * 1000), timeout)
    emit({"port": ticket.port, "fingerprint": ticket.fingerprint})
    app.exec()
    result["cpu"] = cpu_seconds() - cpu0
    engine.close()
    emit(result)


def role_send(args: argparse.Namespace) -> None:
    from PySide6.QtCore import QCoreApplication

    from messenger.transfer.engine import TransferEngine

    app = QCoreApplication([])
    engine = TransferEngine(args.bind, settings=settings_of(args))
    engine.start()
    result: dict = {}

    def finished(tid: str, path: str, sha: str) -> None:
        result.update(event="finished", t_end=time.time())
        app.quit()

    def failed(tid: str, reason: str) -> None:
        result.update(event="failed", reason=reason)
        app.quit()

    engine.finished.connect(finished)
    engine.failed.connect(failed)
    cpu0 = cpu_seconds()
    result["t"] = time.time()
    emit({"t": result["t"]})
    engine.send("bench", args.file, args.peer, args.port, args.fingerprint,
                bytes.fromhex(args.secret), args.sha256)
    app.exec()
    result["cpu"] = cpu_seconds() - cpu0
    result["stats"] = engine.stats
    engine.close()
    emit(result)


def role_tcp_receive(args: argparse.Namespace) -> None:
    server = socket.create_server((args.bind, 0))
    emit({"port": server.getsockname()[1]})
    conn, _ = server.accept()
    cpu0 = cpu_seconds()
    stop_at = time.monotonic() + args.deadline if args.deadline else None
    if stop_at is not None:
        conn.settimeout(0.2)
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    total = 0
    event = "finished"
    with open(Path(args.out) / "tcp.bin", "wb") as f:
        while True:
            if stop_at is not None and time.monotonic() >= stop_at:
                event = "timeout"  # --deadline: report how far we got and stop
                break
            try:
                n = conn.recv_into(buf)
            except TimeoutError:
                continue
            if not n:
                break
            f.write(view[:n])
            total += n
    t = time.time()
    conn.close()
    emit({"event": event, "t": t, "bytes": total, "cpu": cpu_seconds() - cpu0})


def role_tcp_send(args: argparse.Namespace) -> None:
    cpu0 = cpu_seconds()
    emit({"t": time.time()})
    event = "sent"
    try:
        with (socket.create_connection((args.peer, args.port)) as conn,
              open(args.file, "rb") as f):
            conn.sendfile(f)
    except OSError as exc:  # the receiver gave up (--deadline)
        event = f"aborted: {exc}"
    emit({"event": event, "cpu": cpu_seconds() - cpu0})


def role_relay(args: argparse.Namespace) -> None:
    """UDP relay: the first peer to send is the client; everything else goes to the target.
    Drops each datagram with probability ``loss`` and delays it by ``delay`` seconds."""
    rng = random.Random(1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    target = ("127.0.0.1", args.target_port)
    client = None
    emit({"port": sock.getsockname()[1]})
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    pending: list = []
    seq = 0
    while True:
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else 1.0
        if sel.select(timeout):
            for _ in range(512):
                try:
                    data, src = sock.recvfrom(65536)
                except BlockingIOError:
                    break
                if src == target:
                    dest = client
                else:
                    client = src
                    dest = target
                if dest is None or rng.random() < args.loss:
                    continue
                if args.delay:
                    seq += 1
                    heapq.heappush(pending, (time.monotonic() + args.delay, seq, data, dest))
                else:
                    try:
                        sock.sendto(data, dest)
                    except BlockingIOError:
                        pass
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, data, dest = heapq.heappop(pending)
            try:
                sock.sendto(data, dest)
            except BlockingIOError:
                pass


# --------------------------------------------------------------------------------------------
# Parent


TUNING: list[str] = []


@dataclass
class Net:
    """Where the two sides run: network namespaces (``None``: this one) and addresses."""

    send_ns: str | None = None
    recv_ns: str | None = None
    send_addr: str = "127.0.0.1"
    recv_addr: str = "127.0.0.1"


LOOPBACK = Net()


def spawn(*argv: str, netns: str | None = None) -> subprocess.Popen:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return subprocess.Popen([*prefix, sys.executable, __file__, *argv, *TUNING],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)


def read_json(proc: subprocess.Popen, timeout: float | None = None) -> dict:
    """The child's next JSON line; with ``timeout``, kill the child if none comes in time."""
    if timeout is None:
        line = proc.stdout.readline()
    else:
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            proc.kill()
            reader.join(10)
            raise TimeoutError(f"child {role_of(proc)} silent for {timeout:.0f} s")
        line = box[0] if box else ""
    if not line:
        raise RuntimeError(f"child {role_of(proc)} exited without output")
    return json.loads(line)


def role_of(proc: subprocess.Popen) -> str:
    argv = list(proc.args)
    return argv[argv.index("--role") + 1] if "--role" in argv else str(argv)


def stop(procs: list, clean: bool) -> None:
    """Wait for the children (kill them first unless the run ended normally)."""
    for proc in procs:
        if proc is None:
            continue
        if not clean:
            proc.kill()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sha256_of(path: Path, limit: int | None = None) -> str:
    h = hashlib.sha256()
    left = limit if limit is not None else 1 << 62
    with open(path, "rb") as f:
        while left and (chunk := f.read(min(left, 4 << 20))):
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def run_quic(file: Path, size: int, sha: str, out: Path, relay: dict | None,
             net: Net = LOOPBACK, deadline: float = 0.0) -> dict:
    """Ours, ``file`` from a sender process to a receiver process. With ``deadline`` (seconds)
    the receiver stops after that long and the result is partial (``bytes`` < ``size``)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    secret = os.urandom(32).hex()
    wait = deadline + 60 if deadline else None
    receiver = spawn("--role", "receive", "--out", str(out), "--file-size", str(size),
                     "--sha256", sha, "--secret", secret, "--bind", net.recv_addr,
                     "--deadline", str(deadline), netns=net.recv_ns)
    relay_proc = sender = None
    clean = False
    try:
        ticket = read_json(receiver, 60)
        port = ticket["port"]
        if relay is not None:
            relay_proc = spawn("--role", "relay", "--target-port", str(port),
                               "--loss", str(relay["loss"]), "--delay", str(relay["delay"]))
            port = read_json(relay_proc)["port"]
        sender = spawn("--role", "send", "--file", str(file), "--port", str(port),
                       "--fingerprint", ticket["fingerprint"], "--secret", secret,
                       "--sha256", sha, "--bind", net.send_addr, "--peer", net.recv_addr,
                       netns=net.send_ns)
        started = read_json(sender, 60)
        got = read_json(receiver, wait)
        if got.get("event") == "finished":
            sent = read_json(sender, 60)
        else:  # the receiver gave up or failed: the sender would go on retrying
            sender.kill()
            sent = {"event": "killed"}
        if relay_proc is not None:
            relay_proc.kill()
        clean = True
    finally:
        stop([sender, receiver, relay_proc], clean)
    try:
        if got.get("event") == "timeout":
            return {"ok": None, "partial": True, "bytes": got["bytes"],
                    "seconds": got["t"] - started["t"],
                    "mbps": got["bytes"] / (got["t"] - started["t"]) / 1e6,
                    "cpu_send": float("nan"), "cpu_recv": got["cpu"]}
        if got.get("event") != "finished" or sent.get("event") != "finished":
            return {"ok": False, "detail": f"sender {sent} receiver {got}"}
        seconds = got["t"] - started["t"]
        ok = got["sha256"] == sha
        if net is not LOOPBACK:  # check what arrived ourselves, not only the engine's word
            ok = ok and sha256_of(Path(got["path"])) == sha
        return {"ok": ok, "bytes": size, "seconds": seconds, "mbps": size / seconds / 1e6,
                "cpu_send": sent["cpu"], "cpu_recv": got["cpu"],
                "stats_send": sent.get("stats", {})}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_tcp(file: Path, size: int, out: Path, net: Net = LOOPBACK, deadline: float = 0.0,
            sha: str | None = None) -> dict:
    """A plain TCP copy of ``file``; with ``deadline`` as in :func:`run_quic`; with ``sha``
    the SHA-256 of what arrived is checked (of the same prefix of ``file`` if partial)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    wait = deadline + 60 if deadline else None
    receiver = spawn("--role", "tcp-receive", "--out", str(out), "--bind", net.recv_addr,
                     "--deadline", str(deadline), netns=net.recv_ns)
    sender = None
    clean = False
    try:
        port = read_json(receiver, 60)["port"]
        sender = spawn("--role", "tcp-send", "--file", str(file), "--port", str(port),
                       "--peer", net.recv_addr, netns=net.send_ns)
        started = read_json(sender, 60)
        got = read_json(receiver, wait)
        sent = read_json(sender, 60)
        clean = True
    finally:
        stop([sender, receiver], clean)
    try:
        seconds = got["t"] - started["t"]
        partial = got["event"] != "finished"
        ok = got["bytes"] == size if not partial else None
        if sha is not None:
            arrived = sha256_of(out / "tcp.bin")
            if partial:
                ok = arrived == sha256_of(file, got["bytes"])  # the prefix is intact
            else:
                ok = ok and arrived == sha
        return {"ok": ok, "partial": partial, "bytes": got["bytes"], "seconds": seconds,
                "mbps": got["bytes"] / seconds / 1e6,
                "cpu_send": sent["cpu"], "cpu_recv": got["cpu"]}
    finally:
        shutil.rmtree(out, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# netns scenario: two network namespaces, a veth pair, nftables dropping packets at random


class NetnsLab:
    """Two network namespaces joined by a veth pair, with an nftables table in the receiving
    one (``drop="receiver"``) or in both (``drop="both"``) whose input chain drops ``loss`` %
    of all UDP and TCP packets at random. Nothing is created in the current namespace; leaving
    the ``with`` block deletes the tables and the namespaces (which takes the veth with it)."""

    PREFIX = "msgr-bench-"
    SUBNET = "10.200.77"  # .0/30, exists only inside the two namespaces
    TABLE = "msgrbench"

    def __init__(self, loss: int, drop: str) -> None:
        tag = os.getpid()
        self.send_ns, self.recv_ns = f"{self.PREFIX}s{tag}", f"{self.PREFIX}r{tag}"
        self.net = Net(self.send_ns, self.recv_ns, f"{self.SUBNET}.1", f"{self.SUBNET}.2")
        self.loss = loss
        self.drop_in = [self.recv_ns] if drop == "receiver" else [self.send_ns, self.recv_ns]
        self.created: list[str] = []

    @staticmethod
    def missing() -> str | None:
        """Why the scenario cannot run here, or ``None``."""
        if os.geteuid() != 0:
            return "needs root (network namespaces, nftables)"
        for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
            if shutil.which(tool) is None:
                return f"needs `{tool}` (apt-get install -y {package})"
        return None

    @staticmethod
    def _run(*argv: str, stdin: str | None = None) -> str:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
        return proc.stdout

    def __enter__(self) -> NetnsLab:
        self._forget_stale()
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def _forget_stale(self) -> None:
        """Delete namespaces left by a run of this benchmark that was killed (SIGKILL)."""
        for line in self._run("ip", "netns", "list").splitlines():
            name = line.split()[0] if line.strip() else ""
            pid = name.removeprefix(self.PREFIX)[1:]
            if name.startswith(self.PREFIX) and pid.isdigit() and not Path(f"/proc/{pid}").exists():
                subprocess.run(["ip", "netns", "del", name], capture_output=True)

    def _up(self) -> None:
        s, r = self.send_ns, self.recv_ns
        for ns in (s, r):
            self._run("ip", "netns", "add", ns)
            self.created.append(ns)
            self._run("ip", "-n", ns, "link", "set", "lo", "up")
        # Created inside s with its peer moved straight to r: never in this namespace.
        # gso_max_segs 1: no TSO/GSO super-packets, the rule sees what a real link carries.
        self._run("ip", "-n", s, "link", "add", "veth-s", "gso_max_segs", "1", "type", "veth",
                  "peer", "name", "veth-r", "gso_max_segs", "1", "netns", r)
        self._run("ip", "-n", s, "addr", "add", f"{self.net.send_addr}/30", "dev", "veth-s")
        self._run("ip", "-n", r, "addr", "add", f"{self.net.recv_addr}/30", "dev", "veth-r")
        self._run("ip", "-n", s, "link", "set", "veth-s", "up")
        self._run("ip", "-n", r, "link", "set", "veth-r", "up")
        ruleset = (f"table inet {self.TABLE} {{\n"
                   f"  chain input {{\n"
                   f"    type filter hook input priority 0; policy accept;\n"
                   f"    meta l4proto {{ tcp, udp }} counter\n"
                   f"    meta l4proto {{ tcp, udp }} numgen random mod 100 < {self.loss} "
                   f"counter drop\n"
                   f"  }}\n"
                   f"}}\n")
        for ns in self.drop_in:
            self._run("ip", "netns", "exec", ns, "nft", "-f", "-", stdin=ruleset)

    def rules(self) -> str:
        return self._run("ip", "netns", "exec", self.drop_in[-1], "nft", "list", "chain",
                         "inet", self.TABLE, "input")

    def counters(self) -> dict[str, tuple[int, int]]:
        """Per namespace with the rule: (UDP+TCP packets seen, dropped) so far."""
        result = {}
        for ns in self.drop_in:
            data = json.loads(self._run("ip", "netns", "exec", ns, "nft", "-j", "list", "chain",
                                        "inet", self.TABLE, "input"))
            packets = [expr["counter"]["packets"] for item in data["nftables"]
                       if "rule" in item for expr in item["rule"]["expr"] if "counter" in expr]
            result[ns] = (packets[0], packets[1])
        return result

    def down(self) -> None:
        for ns in reversed(self.created):
            if ns in self.drop_in:
                subprocess.run(["ip", "netns", "exec", ns, "nft", "delete", "table", "inet",
                                self.TABLE], capture_output=True)
            proc = subprocess.run(["ip", "netns", "del", ns], capture_output=True, text=True)
            if proc.returncode:
                print(f"netns: could not delete namespace {ns}: {proc.stderr.strip()}",
                      file=sys.stderr)
        self.created.clear()


def run_netns(file: Path, size: int, sha: str, out: Path, args: argparse.Namespace) -> None:
    """The ``netns`` scenario: ours, then a TCP copy, under the same nftables rule."""
    why = NetnsLab.missing()
    if why:
        print(f"{'netns':<10} skipped: {why}", flush=True)
        return

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with NetnsLab(args.netns_loss, args.netns_drop) as lab:
            rows = []
            for name, run in (
                    ("netns-quic", lambda: run_quic(file, size, sha, out, None, lab.net,
                                                    args.netns_timeout)),
                    ("netns-tcp", lambda: run_tcp(file, size, out, lab.net, args.netns_timeout,
                                                  sha))):
                before = lab.counters()
                try:
                    r = run()
                except (RuntimeError, TimeoutError) as exc:
                    r = {"ok": False, "detail": str(exc)}
                after = lab.counters()
                seen = sum(after[ns][0] - before[ns][0] for ns in after)
                dropped = sum(after[ns][1] - before[ns][1] for ns in after)
                r["drops"] = (f"{dropped}/{seen} packets dropped "
                              f"({100 * dropped / max(seen, 1):.2f}%)")
                rows.append(r)
                print_row(name, size, r)
            rule = re.sub(r"counter packets \d+ bytes \d+ ", "", lab.rules().splitlines()[-3])
            print(f"  nft input rule in {', '.join(lab.drop_in)}: {rule.strip()}")
            for name, r in zip(("netns-quic", "netns-tcp"), rows, strict=True):
                print(f"  {name}: {r['drops']}")
            quic, tcp = rows
            if quic.get("mbps") and tcp.get("mbps"):
                exact = ("partial, stopped at the time limit" if quic.get("partial")
                         else "byte-exact" if quic["ok"] else "NOT byte-exact")
                partial = " (TCP partial)" if tcp.get("partial") else ""
                print(f"  goodput ours / TCP: {quic['mbps'] / tcp['mbps']:.2f}x{partial} "
                      f"(target >= 2x; ours {exact})", flush=True)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def print_row(name: str, size: int, r: dict) -> None:
    if not r.get("seconds"):
        print(f"{name:<10} {size / 1e6:>9.1f}  FAILED {r.get('detail')}", flush=True)
        return
    ok = r["ok"]
    if r.get("partial"):
        ok = (f"partial: {r['bytes'] / 1e6:.1f} of {size / 1e6:.1f} MB in the time limit"
              + (", prefix intact" if ok else ", prefix NOT intact" if ok is False else ""))
    print(f"{name:<10} {size / 1e6:>9.1f} {r['seconds']:>8.2f} {r['mbps']:>8.1f} "
          f"{r['cpu_send']:>10.2f} {r['cpu_recv']:>10.2f}  {ok}{syscalls(r)}", flush=True)


def syscalls(r: dict) -> str:
    """The sender's datagrams per send system call (more than 1 with segmentation offload)."""
    sent = r.get("stats_send", {})
    if not sent.get("writes"):
        return ""
    return (f"  ({sent['datagrams_out'] / sent['writes']:.1f} datagrams per send, "
            f"{sent['send_errors']} send errors)")


def make_file(path: Path, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 << 20))
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", default="parent", help=argparse.SUPPRESS)
    parser.add_argument("--size", default="1GiB", help="file size for loopback/tcp (1GiB)")
    parser.add_argument("--relay-size", default=None, help="file size for loss5/rtt20")
    parser.add_argument("--scenarios", default="loopback,tcp,loss5,rtt20",
                        help="comma-separated: loopback,tcp,loss5,rtt20,netns (root only)")
    parser.add_argument("--netns-size", default="50M", help="file size for netns (50M)")
    parser.add_argument("--netns-loss", type=int, default=5,
                        help="percent of packets the nftables rule drops (5)")
    parser.add_argument("--netns-drop", choices=("both", "receiver"), default="both",
                        help="namespaces whose input chain drops: both directions, or only "
                        "the receiver's (data, not acks)")
    parser.add_argument("--netns-timeout", type=float, default=180.0,
                        help="seconds after which a netns run is stopped and its partial "
                        "goodput reported (180)")
    parser.add_argument("--tmp", default=None, help="folder for the test files")
    parser.add_argument("--max-datagram-size", type=int, default=1350,
                        help="UDP payload size of ours (Settings.max_datagram_size)")
    parser.add_argument("--stream-buffer", type=int, default=64 * 1024,
                        help="bytes queued per stream (Settings.stream_buffer)")
    parser.add_argument("--no-segmentation", action="store_true",
                        help="one datagram per send system call (no UDP_SEGMENT), as on "
                             "systems other than Linux")
    parser.add_argument("--qt-io", action="store_true",
                        help="all reads and writes through QUdpSocket calls (no direct I/O on "
                             "its descriptor), as on Windows")
    parser.add_argument("--bind", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--peer", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=0.0, help=argparse.SUPPRESS)
    for name in ("out", "file", "sha256", "secret", "fingerprint"):
        parser.add_argument(f"--{name.replace('_', '-')}", help=argparse.SUPPRESS)
    for name in ("file-size", "port", "target-port"):
        parser.add_argument(f"--{name}", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--loss", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--delay", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    roles = {"receive": role_receive, "send": role_send, "tcp-receive": role_tcp_receive,
             "tcp-send": role_tcp_send, "relay": role_relay}
    if args.role in roles:
        roles[args.role](args)
        return

    TUNING.extend(["--max-datagram-size", str(args.max_datagram_size),
                   "--stream-buffer", str(args.stream_buffer)])
    TUNING.extend(flag for flag, on in (("--no-segmentation", args.no_segmentation),
                                        ("--qt-io", args.qt_io)) if on)
    size = parse_size(args.size)
    relay_size = parse_size(args.relay_size) if args.relay_size else min(size // 10, 100_000_000)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="transfer-bench-", dir=args.tmp))
    try:
        print(f"cpu: {os.cpu_count()} cores; python {sys.version.split()[0]}; "
              f"max_datagram_size {args.max_datagram_size}; stream_buffer {args.stream_buffer}"
              f"{'; no segmentation offload' if args.no_segmentation else ''}"
              f"{'; QUdpSocket calls only' if args.qt_io else ''}")
        files: dict[int, tuple[Path, str]] = {}

        def file_of(n: int) -> tuple[Path, str]:
            if n not in files:
                path = tmp / f"src-{n}.bin"
                files[n] = (path, make_file(path, n))
            return files[n]

        print(f"{'scenario':<10} {'size MB':>9} {'seconds':>8} {'MB/s':>8} "
              f"{'cpu send s':>10} {'cpu recv s':>10}  ok")
        for name in scenarios:
            if name in ("loopback", "tcp"):
                n = size
            elif name == "netns":
                n = parse_size(args.netns_size)
            else:
                n = relay_size
            if name == "netns":
                if NetnsLab.missing():
                    print(f"{'netns':<10} skipped: {NetnsLab.missing()}", flush=True)
                    continue
                path, sha = file_of(n)
                run_netns(path, n, sha, tmp / "out", args)
                continue
            path, sha = file_of(n)
            if name == "tcp":
                r = run_tcp(path, n, tmp / "out")
            elif name == "loopback":
                r = run_quic(path, n, sha, tmp / "out", None)
            elif name == "loss5":
                r = run_quic(path, n, sha, tmp / "out", {"loss": 0.05, "delay": 0.0})
            elif name == "rtt20":
                r = run_quic(path, n, sha, tmp / "out", {"loss": 0.0, "delay": 0.010})
            else:
                raise SystemExit(f"unknown scenario {name}")
            print_row(name, n, r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl+C / SIGTERM: children stopped, namespaces deleted
        print("interrupted", file=sys.stderr)
        sys.exit(130)
