"""What the server's socket layer costs alone: a relay that does nothing but forward frames.

    .venv/bin/python benchmarks/floor.py [--clients 200] [--rates 5000,20000] [--duration 5]
                                         [--servers qt-tls,qt-plain,qt-bio-tls,...]

Each server variant runs in a process of its own on 127.0.0.1 and relays every frame it gets
from client *i* to client *i* xor 1 (pairs, like the unicast phases of ``load.py``), with no
storage, no decoding beyond the 4-byte length and no acknowledgement. The load generator (this
process: non-blocking ``ssl`` sockets on an epoll selector, as in ``load.py``) offers
``--rates`` frames/s open loop, each frame 100 bytes carrying its scheduled send time, and
prints per rate: achieved frames/s, p50/p99 latency from the scheduled send time to the
partner's receipt, the relay's CPU and its own.

Variants:
  ``qt-tls``      ``QSslServer`` + ``QSslSocket`` as ``messenger --server`` uses them (PySide6:
                  ``readyRead`` → Python slot → ``readAll`` → ``write`` on the partner).
  ``qt-plain``    the same with ``QTcpServer`` (no TLS).
  ``asyncio-tls`` stdlib ``asyncio`` + ``ssl`` (``asyncio.Protocol``), no Qt: for scale.
  ``qt-notifier-tls`` ``QTcpServer`` accepts (``incomingConnection`` keeps the descriptor),
                  stdlib ``ssl.SSLSocket`` on it, a ``QSocketNotifier`` per socket.
  ``qt-bio-tls``  the same with TLS on memory BIOs (``ssl.SSLObject``; as asyncio does it):
                  one ``recv`` per readable socket however many TLS records it holds.

This is the floor under ``load.py``'s figures: whatever the real server does per message
(storage, routing, receipts) comes on top of it. Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from load import proc_cpu, self_cpu  # noqa: E402

HOST = "127.0.0.1"
HEADER = struct.Struct(">I")
STAMP = struct.Struct(">d")
FRAME_BYTES = 100
perf = time.perf_counter


# ---------------------------------------------------------------------------- relays


def take_frames(buf: bytearray) -> list[bytes]:
    """Remove the complete frames (4-byte length + body) from ``buf``; return them whole."""
    frames, pos = [], 0
    while len(buf) - pos >= 4:
        end = pos + 4 + HEADER.unpack_from(buf, pos)[0]
        if len(buf) < end:
            break
        frames.append(bytes(buf[pos:end]))
        pos = end
    del buf[:pos]
    return frames


def serve_qt(tls: bool, data_dir: Path) -> None:
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtNetwork import (
        QAbstractSocket,
        QHostAddress,
        QSsl,
        QSslCertificate,
        QSslConfiguration,
        QSslKey,
        QSslServer,
        QSslSocket,
        QTcpServer,
    )

    from messenger.server.tls import ensure_certificate

    app = QCoreApplication([])
    if tls:
        cert_pem, key_pem = ensure_certificate(data_dir)
        config = QSslConfiguration.defaultConfiguration()
        config.setLocalCertificate(QSslCertificate(cert_pem, QSsl.EncodingFormat.Pem))
        config.setPrivateKey(QSslKey(key_pem, QSsl.KeyAlgorithm.Ec, QSsl.EncodingFormat.Pem))
        config.setPeerVerifyMode(QSslSocket.PeerVerifyMode.VerifyNone)
        server = QSslServer()
        server.setSslConfiguration(config)
    else:
        server = QTcpServer()
    by_index: dict[int, object] = {}
    state: dict[object, list] = {}  # socket → [buffer, index or None]

    def read(sock) -> None:
        entry = state[sock]
        entry[0] += sock.readAll().data()
        for frame in take_frames(entry[0]):
            if entry[1] is None:
                entry[1] = int.from_bytes(frame[4:], "big")  # the client's first frame
                by_index[entry[1]] = sock
            elif (partner := by_index.get(entry[1] ^ 1)) is not None:
                partner.write(frame)

    def accept() -> None:
        while server.hasPendingConnections():
            sock = server.nextPendingConnection()
            sock.setSocketOption(QAbstractSocket.SocketOption.LowDelayOption, 1)
            state[sock] = [bytearray(), None]
            sock.readyRead.connect(lambda s=sock: read(s))

    server.pendingConnectionAvailable.connect(accept)
    server.listen(QHostAddress(HOST), 0)
    print(server.serverPort(), flush=True)
    app.exec()


def serve_qt_descriptors(data_dir: Path, bio: bool) -> None:
    """``QTcpServer`` accepts (``incomingConnection`` keeps the descriptor), stdlib ``ssl``
    does TLS on it, and a ``QSocketNotifier`` per socket calls Python when it is readable:
    Qt's event loop without ``QSslSocket``'s buffers, signals and posted events. With
    ``bio`` TLS runs on memory BIOs (``ssl.SSLObject``): one ``recv`` and one ``send`` system
    call per readable socket, however many TLS records; without, on an ``ssl.SSLSocket``."""
    from PySide6.QtCore import QCoreApplication, QSocketNotifier
    from PySide6.QtNetwork import QHostAddress, QTcpServer

    from messenger.server.tls import ensure_certificate

    app = QCoreApplication([])
    ensure_certificate(data_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(data_dir / "server.crt", data_dir / "server.key")
    by_index: dict[int, Conn] = {}
    conns: dict[int, Conn] = {}
    would_block = (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError)

    class Conn:
        def __init__(self, fd: int) -> None:
            raw = self.raw = socket.socket(fileno=fd)
            raw.setblocking(False)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.shaken = False
            self.buf = bytearray()
            self.out = bytearray()
            self.index: int | None = None
            self.rn = QSocketNotifier(fd, QSocketNotifier.Type.Read)
            self.rn.activated.connect(self.readable)
            self.wn = QSocketNotifier(fd, QSocketNotifier.Type.Write)
            self.wn.setEnabled(False)
            self.wn.activated.connect(self.writable)

        def relay(self, data: bytes) -> None:
            self.buf += data
            for frame in take_frames(self.buf):
                if self.index is None:
                    self.index = int.from_bytes(frame[4:], "big")
                    by_index[self.index] = self
                elif (partner := by_index.get(self.index ^ 1)) is not None:
                    partner.write(frame)

        def send(self, data: bytes) -> int:  # the bytes sent, or raises
            return self.raw.send(data)

        def enqueue(self, data: bytes) -> None:
            if self.out:
                self.out += data
                return
            try:
                k = self.send(data)
            except would_block:
                k = 0
            except OSError:  # the partner is gone (the generator closes at the end)
                return
            if k < len(data):
                self.out += data[k:]
                self.wn.setEnabled(True)

        def writable(self) -> None:
            if not self.shaken:
                self.wn.setEnabled(False)
                self.readable()
                return
            try:
                k = self.send(self.out)
            except would_block:
                return
            except OSError:
                self.wn.setEnabled(False)
                return
            del self.out[:k]
            if not self.out:
                self.wn.setEnabled(False)

    class SocketConn(Conn):
        def __init__(self, fd: int) -> None:
            super().__init__(fd)
            self.sock = context.wrap_socket(self.raw, server_side=True,
                                            do_handshake_on_connect=False)

        def readable(self) -> None:
            sock = self.sock
            if not self.shaken:
                try:
                    sock.do_handshake()
                except (ssl.SSLWantReadError, BlockingIOError):
                    return
                except ssl.SSLWantWriteError:
                    self.wn.setEnabled(True)
                    return
                self.shaken = True
            try:
                data = sock.recv(1 << 18)
                while sock.pending():
                    data += sock.recv(1 << 18)
            except (ssl.SSLWantReadError, BlockingIOError):
                return
            except OSError:
                data = b""
            if data:
                self.relay(data)
            else:  # end of stream
                self.rn.setEnabled(False)

        def send(self, data: bytes) -> int:
            return self.sock.send(data)

        write = Conn.enqueue

    class BioConn(Conn):
        def __init__(self, fd: int) -> None:
            super().__init__(fd)
            self.inc, self.outg = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.tls = context.wrap_bio(self.inc, self.outg, server_side=True)
            self.shaken = True  # the handshake runs in readable()
            self.handshaking = True

        def readable(self) -> None:
            try:
                data = self.raw.recv(1 << 18)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:  # end of stream
                self.rn.setEnabled(False)
                return
            self.inc.write(data)
            tls = self.tls
            if self.handshaking:
                try:
                    tls.do_handshake()
                    self.handshaking = False
                except ssl.SSLWantReadError:
                    pass
                self.enqueue(self.outg.read())
                if self.handshaking:
                    return
            chunks = []
            with contextlib.suppress(ssl.SSLWantReadError):
                while True:
                    chunks.append(tls.read(1 << 18))
            self.relay(b"".join(chunks))  # b"" when the records held no data

        def write(self, data: bytes) -> None:
            self.tls.write(data)
            self.enqueue(self.outg.read())

    class Server(QTcpServer):
        def incomingConnection(self, handle: int) -> None:
            conns[handle] = BioConn(handle) if bio else SocketConn(handle)

    server = Server()
    server.listen(QHostAddress(HOST), 0)
    print(server.serverPort(), flush=True)
    app.exec()


def serve_asyncio(data_dir: Path) -> None:
    import asyncio

    from messenger.server.tls import ensure_certificate

    ensure_certificate(data_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(data_dir / "server.crt", data_dir / "server.key")
    by_index: dict[int, asyncio.Transport] = {}

    class Relay(asyncio.Protocol):
        def connection_made(self, transport) -> None:
            self.transport = transport
            self.buf = bytearray()
            self.index: int | None = None
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def data_received(self, data: bytes) -> None:
            self.buf += data
            for frame in take_frames(self.buf):
                if self.index is None:
                    self.index = int.from_bytes(frame[4:], "big")
                    by_index[self.index] = self.transport
                elif (partner := by_index.get(self.index ^ 1)) is not None:
                    partner.write(frame)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(Relay, HOST, 0, ssl=context)
        print(srv.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# ---------------------------------------------------------------------------- generator


class Client:
    __slots__ = ("buf", "out", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.out = b""


def connect(port: int, index: int, tls: bool) -> Client:
    raw = socket.create_connection((HOST, port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        raw = context.wrap_socket(raw)
    raw.sendall(HEADER.pack(4) + index.to_bytes(4, "big"))
    raw.setblocking(False)
    return Client(raw)


def run_rate(clients: list[Client], rate: int, duration: float, server_pid: int) -> dict:
    sel = selectors.DefaultSelector()
    for c in clients:
        sel.register(c.sock, selectors.EVENT_READ, c)
    pad = b"\0" * (FRAME_BYTES - 4 - STAMP.size)
    n = len(clients)
    interval = 1.0 / rate
    warmup = 1.0
    start = perf()
    end = start + warmup + duration
    measure_from = start + warmup
    lat: list[float] = []
    sent = 0
    cpu0 = gen0 = None
    next_send = start
    while True:
        now = perf()
        if cpu0 is None and now >= measure_from:
            cpu0, gen0, t0 = proc_cpu(server_pid), self_cpu(), now
        if now >= end:
            break
        while next_send <= now and now - next_send < 0.5:
            c = clients[sent % n]
            data = HEADER.pack(FRAME_BYTES - 4) + STAMP.pack(next_send) + pad
            try:
                if c.out:
                    c.out += data
                else:
                    k = c.sock.send(data)
                    c.out = data[k:]
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                c.out += data
            sent += 1
            next_send += interval
        if next_send <= now:  # more than 0.5 s behind: skip
            next_send = now
        for key, _ in sel.select(max(0.0, min(next_send - perf(), 0.005))):
            c = key.data
            with contextlib.suppress(BlockingIOError, ssl.SSLWantReadError):
                c.buf += c.sock.recv(1 << 18)
                if isinstance(c.sock, ssl.SSLSocket):
                    while c.sock.pending():
                        c.buf += c.sock.recv(1 << 18)
            buf, pos, t = c.buf, 0, perf()
            while len(buf) - pos >= FRAME_BYTES:
                if t >= measure_from:
                    lat.append(t - STAMP.unpack_from(buf, pos + 4)[0])
                pos += FRAME_BYTES
            del buf[:pos]
        for c in clients:
            if c.out:
                with contextlib.suppress(BlockingIOError, ssl.SSLWantWriteError,
                                         ssl.SSLWantReadError):
                    k = c.sock.send(c.out)
                    c.out = c.out[k:]
    elapsed = perf() - t0
    server_cpu = (proc_cpu(server_pid) - cpu0) / elapsed
    gen_cpu = (self_cpu() - gen0) / elapsed
    sel.close()
    lat.sort()
    pick = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (
        lambda q: float("nan"))
    return {"achieved": len(lat) / elapsed, "p50": pick(0.5), "p99": pick(0.99),
            "server_cpu": server_cpu * 100, "gen_cpu": gen_cpu * 100}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--rates", default="5000,20000")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--servers", default="qt-tls,qt-plain,asyncio-tls")
    p.add_argument("--serve", help=argparse.SUPPRESS)
    p.add_argument("--dir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        if args.serve == "asyncio-tls":
            serve_asyncio(Path(args.dir))
        elif args.serve in ("qt-bio-tls", "qt-notifier-tls"):
            serve_qt_descriptors(Path(args.dir), bio=args.serve == "qt-bio-tls")
        else:
            serve_qt(args.serve == "qt-tls", Path(args.dir))
        return 0
    rates = [int(r) for r in args.rates.split(",")]
    print(f"{args.clients} clients, {FRAME_BYTES}-byte frames relayed to a partner, "
          f"{args.duration:g} s per rate (after 1 s of warm-up)")
    print(f"{'relay':<15} {'offered/s':>9} {'achieved/s':>10} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'relay CPU':>9} {'gen CPU':>7}")
    for kind in args.servers.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
            proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--dir", tmp],
                                    stdout=subprocess.PIPE, text=True, env=env)
            try:
                port = int(proc.stdout.readline())
                clients = [connect(port, i, kind.endswith("tls")) for i in range(args.clients)]
                time.sleep(0.5)  # let the relay take every connection in
                for rate in rates:
                    r = run_rate(clients, rate, args.duration, proc.pid)
                    print(f"{kind:<15} {rate:>9,} {r['achieved']:>10,.0f} {r['p50']:>7.2f} "
                          f"{r['p99']:>7.2f} {r['server_cpu']:>8.0f}% {r['gen_cpu']:>6.0f}%",
                          flush=True)
                for c in clients:
                    c.sock.close()
            finally:
                proc.kill()
                proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
