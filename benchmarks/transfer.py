"""Peer-to-peer transfer benchmark: prints figures, asserts nothing.

Every scenario runs the sender and the receiver in two separate processes (each a
``TransferEngine`` with its worker ``QThread``) on 127.0.0.1 and reports goodput (file bytes
per second from ``send()`` to the receiver's verified, renamed file) and CPU seconds per side:

* ``loopback``: straight over loopback;
* ``tcp``: a plain TCP copy of the same file (``socket.sendfile`` → ``recv_into`` → file), for
  comparison, in the same run;
* ``loss5``: through a UDP relay process that drops 5% of datagrams each way, at random;
* ``rtt20``: through a UDP relay process that delays each datagram by 10 ms each way (20 ms
  added round trip), no loss.

Usage::

    .venv/bin/python benchmarks/transfer.py                      # 1 GiB, all scenarios
    .venv/bin/python benchmarks/transfer.py --size 200M --scenarios loopback,tcp
    .venv/bin/python benchmarks/transfer.py --size 50M --scenarios loss5,rtt20

``--relay-size`` (default: ``--size`` / 10, at most 100 MB) is the file size for the relay
scenarios, which are slower. The file is random bytes in a temporary folder (``--tmp``).
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import os
import random
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
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
    from messenger.transfer.endpoint import Settings

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
    engine = TransferEngine("127.0.0.1", settings=settings_of(args))
    engine.start()
    offer = Offer("bench", "bench.bin", args.file_size, args.sha256)
    ticket = engine.receive(offer, bytes.fromhex(args.secret), args.out)
    cpu0 = cpu_seconds()
    result: dict = {}

    def finished(tid: str, path: str, sha: str) -> None:
        result.update(event="finished", t=time.time(), path=path, sha256=sha)
        QTimer.singleShot(500, app.quit)  # let the sender's close arrive before quitting

    def failed(tid: str, reason: str) -> None:
        result.update(event="failed", t=time.time(), reason=reason)
        app.quit()

    engine.finished.connect(finished)
    engine.failed.connect(failed)
    emit({"port": ticket.port, "fingerprint": ticket.fingerprint})
    app.exec()
    result["cpu"] = cpu_seconds() - cpu0
    engine.close()
    emit(result)


def role_send(args: argparse.Namespace) -> None:
    from PySide6.QtCore import QCoreApplication

    from messenger.transfer.engine import TransferEngine

    app = QCoreApplication([])
    engine = TransferEngine("127.0.0.1", settings=settings_of(args))
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
    engine.send("bench", args.file, "127.0.0.1", args.port, args.fingerprint,
                bytes.fromhex(args.secret), args.sha256)
    app.exec()
    result["cpu"] = cpu_seconds() - cpu0
    result["stats"] = engine.stats
    engine.close()
    emit(result)


def role_tcp_receive(args: argparse.Namespace) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    emit({"port": server.getsockname()[1]})
    conn, _ = server.accept()
    cpu0 = cpu_seconds()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    total = 0
    with open(Path(args.out) / "tcp.bin", "wb") as f:
        while n := conn.recv_into(buf):
            f.write(view[:n])
            total += n
    emit({"event": "finished", "t": time.time(), "bytes": total, "cpu": cpu_seconds() - cpu0})


def role_tcp_send(args: argparse.Namespace) -> None:
    cpu0 = cpu_seconds()
    t = time.time()
    with socket.create_connection(("127.0.0.1", args.port)) as conn, open(args.file, "rb") as f:
        conn.sendfile(f)
    emit({"t": t, "cpu": cpu_seconds() - cpu0})


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


def spawn(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *argv, *TUNING], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)


def read_json(proc: subprocess.Popen) -> dict:
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"child {proc.args[2:4]} exited without output")
    return json.loads(line)


def run_quic(file: Path, size: int, sha: str, out: Path, relay: dict | None) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    secret = os.urandom(32).hex()
    receiver = spawn("--role", "receive", "--out", str(out), "--file-size", str(size),
                     "--sha256", sha, "--secret", secret)
    ticket = read_json(receiver)
    port = ticket["port"]
    relay_proc = None
    if relay is not None:
        relay_proc = spawn("--role", "relay", "--target-port", str(port),
                           "--loss", str(relay["loss"]), "--delay", str(relay["delay"]))
        port = read_json(relay_proc)["port"]
    sender = spawn("--role", "send", "--file", str(file), "--port", str(port),
                   "--fingerprint", ticket["fingerprint"], "--secret", secret, "--sha256", sha)
    try:
        sent = read_json(sender)
        got = read_json(receiver)
    finally:
        for proc in (sender, receiver, relay_proc):
            if proc is not None:
                if proc is relay_proc:
                    proc.kill()
                proc.wait(timeout=30)
    if got.get("event") != "finished" or sent.get("event") != "finished":
        return {"ok": False, "detail": f"sender {sent} receiver {got}"}
    seconds = got["t"] - sent["t"]
    ok = got["sha256"] == sha
    shutil.rmtree(out, ignore_errors=True)
    return {"ok": ok, "seconds": seconds, "mbps": size / seconds / 1e6,
            "cpu_send": sent["cpu"], "cpu_recv": got["cpu"]}


def run_tcp(file: Path, size: int, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    receiver = spawn("--role", "tcp-receive", "--out", str(out))
    port = read_json(receiver)["port"]
    sender = spawn("--role", "tcp-send", "--file", str(file), "--port", str(port))
    sent = read_json(sender)
    got = read_json(receiver)
    sender.wait()
    receiver.wait()
    seconds = got["t"] - sent["t"]
    ok = got["bytes"] == size
    shutil.rmtree(out, ignore_errors=True)
    return {"ok": ok, "seconds": seconds, "mbps": size / seconds / 1e6,
            "cpu_send": sent["cpu"], "cpu_recv": got["cpu"]}


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
    parser.add_argument("--scenarios", default="loopback,tcp,loss5,rtt20")
    parser.add_argument("--tmp", default=None, help="folder for the test files")
    parser.add_argument("--max-datagram-size", type=int, default=1350,
                        help="UDP payload size of ours (Settings.max_datagram_size)")
    parser.add_argument("--stream-buffer", type=int, default=64 * 1024,
                        help="bytes queued per stream (Settings.stream_buffer)")
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
    size = parse_size(args.size)
    relay_size = parse_size(args.relay_size) if args.relay_size else min(size // 10, 100_000_000)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="transfer-bench-", dir=args.tmp))
    try:
        print(f"cpu: {os.cpu_count()} cores; python {sys.version.split()[0]}; "
              f"max_datagram_size {args.max_datagram_size}; stream_buffer {args.stream_buffer}")
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
            else:
                n = relay_size
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
            if not r.get("seconds"):
                print(f"{name:<10} {n / 1e6:>9.1f}  FAILED {r.get('detail')}")
                continue
            print(f"{name:<10} {n / 1e6:>9.1f} {r['seconds']:>8.2f} {r['mbps']:>8.1f} "
                  f"{r['cpu_send']:>10.2f} {r['cpu_recv']:>10.2f}  {r['ok']}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
