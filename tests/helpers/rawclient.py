"""Stdlib-only helpers for end-to-end tests: a raw protocol client and a server process.

Nothing here imports Qt or the ``messenger`` package, so the same helpers drive the server run
from source (``python -m messenger --server``) and the frozen PyInstaller build.

:class:`RawClient` speaks protocol v1 by hand: TLS (certificate not verified: the server's is
self-signed) and frames of a 4-byte big-endian length followed by a JSON object.

:class:`ServerProcess` starts ``messenger --server`` as a subprocess and waits until it prints
``listening on HOST:PORT``; if the process dies first, or the line does not come in time, it
raises an error that carries everything the process printed (modelled on qutebrowser's
``tests/end2end/fixtures/testprocess.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 16 << 20
"""Largest frame this client accepts; the server's own default is 1 MiB."""

READY_RE = re.compile(r"^listening on \[?(?P<host>.+?)\]?:(?P<port>\d+)$")
"""The one line ``messenger --server`` prints to stdout when it accepts connections (an
IPv6 host in brackets, ``listening on [::1]:5555``; ``host`` is without them)."""

DEFAULT_TIMEOUT = 60.0 if os.environ.get("CI") else 30.0
"""Seconds to wait for a server to start or answer (longer on CI)."""


class RawClientError(Exception):
    """The server closed the connection or sent something that is not a frame."""


class RawClient:
    """A minimal protocol v1 client over a blocking TLS socket.

    Attributes:
        events: frames without a matching ``id`` read while waiting for a reply (presence,
            deliveries, ...), in arrival order.
        fingerprint: SHA-256 of the server certificate (DER), lower-case hex.
    """

    def __init__(self, host: str, port: int, *, timeout: float = DEFAULT_TIMEOUT,
                 tls: bool = True) -> None:
        self.timeout = timeout
        raw = socket.create_connection((host, port), timeout=timeout)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            self.sock: socket.socket = context.wrap_socket(raw)
            der = self.sock.getpeercert(binary_form=True) or b""  # type: ignore[attr-defined]
            self.fingerprint = hashlib.sha256(der).hexdigest()
        else:
            self.sock = raw
            self.fingerprint = ""
        self.sock.settimeout(timeout)
        self.events: list[dict[str, Any]] = []
        self._next_id = 1

    # -- context manager ----------------------------------------------------------------------

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # -- frames -------------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        """Send ``message`` as one frame."""
        self.send_raw(json.dumps(message).encode())

    def send_raw(self, payload: bytes) -> None:
        """Send ``payload`` (any bytes) with a correct length prefix."""
        self.sock.sendall(HEADER.pack(len(payload)) + payload)

    def _read_exactly(self, count: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < count:
            chunk = self.sock.recv(count - len(chunks))
            if not chunk:
                raise RawClientError(
                    f"server closed the connection ({len(chunks)} of {count} bytes read)")
            chunks += chunk
        return bytes(chunks)

    def recv(self) -> dict[str, Any]:
        """Read one frame; raises ``TimeoutError`` if none comes within ``timeout``."""
        (length,) = HEADER.unpack(self._read_exactly(HEADER.size))
        if not 0 < length <= MAX_FRAME:
            raise RawClientError(f"bad frame length {length}")
        payload = self._read_exactly(length)
        try:
            message = json.loads(payload)
        except ValueError as exc:
            raise RawClientError(f"frame is not JSON: {payload[:200]!r}") from exc
        if not isinstance(message, dict):
            raise RawClientError(f"frame is not a JSON object: {payload[:200]!r}")
        return message

    def wait_reply(self, request_id: int) -> dict[str, Any]:
        """Read frames until the ``ok``/``error`` for ``request_id``; others go to ``events``."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            message = self.recv()
            if message.get("type") in ("ok", "error") and message.get("id") == request_id:
                return message
            self.events.append(message)
        raise TimeoutError(f"no reply to request {request_id} within {self.timeout} s")

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a request (an ``id`` is added unless present) and return its reply."""
        if "id" not in message:
            message = {**message, "id": self._next_id}
        self._next_id = max(self._next_id, message["id"]) + 1
        self.send(message)
        return self.wait_reply(message["id"])

    # -- protocol steps -----------------------------------------------------------------------

    def hello(self, protocol_version: int = 1) -> dict[str, Any]:
        """Send ``hello`` and return the server's first frame (its own ``hello``)."""
        self.send({"type": "hello", "protocol_version": protocol_version, "agent": "rawclient"})
        return self.recv()

    def login(self, user: str, password: str, *, request_id: int | None = None,
              ) -> dict[str, Any]:
        """Send ``login`` and return the reply (``ok`` or ``error``)."""
        message: dict[str, Any] = {"type": "login", "user": user, "password": password}
        if request_id is not None:
            message["id"] = request_id
        return self.request(message)


class ProcessExited(Exception):
    """The server process ended while we waited for it."""


class WaitForTimeout(Exception):
    """The server process did not print the expected line in time."""


class ServerProcess:
    """``messenger --server`` (or any command that prints a ready line) as a subprocess.

    Args:
        args: the full command line, e.g. ``[sys.executable, "-m", "messenger", "--server",
            "--port", "0", ...]`` or ``["dist/messenger/messenger", "--server", ...]``.
        env: extra environment variables.
        cwd: working directory.

    Attributes:
        host, port: where the server listens, once :meth:`start` returned.
        stdout, stderr: every line the process printed so far, per stream.
    """

    def __init__(self, args: Sequence[str | os.PathLike[str]], *,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.args = [os.fspath(arg) for arg in args]
        self.env = {"PYTHONUNBUFFERED": "1", **os.environ, **(env or {})}
        self.cwd = cwd
        self.proc: subprocess.Popen[str] | None = None
        self.host = ""
        self.port = 0
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def start(self, timeout: float = DEFAULT_TIMEOUT) -> tuple[str, int]:
        """Start the process and wait for ``listening on HOST:PORT``; return (host, port)."""
        self.proc = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
            env=self.env, cwd=self.cwd)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for stream, sink, is_stdout in ((self.proc.stdout, self.stdout, True),
                                        (self.proc.stderr, self.stderr, False)):
            thread = threading.Thread(target=self._pump, args=(stream, sink, is_stdout),
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        try:
            match = self.wait_for(READY_RE, timeout=timeout)
        except BaseException:
            self.stop()
            raise
        self.host, self.port = match["host"], int(match["port"])
        return self.host, self.port

    def _pump(self, stream: Any, sink: list[str], is_stdout: bool) -> None:
        for line in stream:
            line = line.rstrip("\r\n")
            sink.append(line)
            if is_stdout:
                self._lines.put(line)
        if is_stdout:
            self._lines.put(None)  # end of stdout: the process is ending

    def wait_for(self, pattern: re.Pattern[str], timeout: float = DEFAULT_TIMEOUT,
                 ) -> re.Match[str]:
        """Wait for a stdout line matching ``pattern``; return its match.

        Raises :class:`ProcessExited` if stdout closes first and :class:`WaitForTimeout` if no
        such line arrives within ``timeout`` seconds; both carry the process output.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitForTimeout(
                    f"no line matching {pattern.pattern!r} within {timeout} s"
                    + self.describe())
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                assert self.proc is not None
                try:
                    code: int | None = self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    code = None
                for thread in self._threads:
                    thread.join(timeout=5)
                raise ProcessExited(
                    f"process ended (exit status {code}) before printing a line matching "
                    f"{pattern.pattern!r}" + self.describe())
            match = pattern.match(line)
            if match:
                return match

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """Terminate the process (SIGTERM, then SIGKILL) and return its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.proc.returncode

    def describe(self) -> str:
        """The command line and everything printed so far, for error messages."""
        def block(name: str, lines: list[str]) -> str:
            shown = lines[-200:]
            skipped = f"[{len(lines) - len(shown)} earlier lines]\n" if len(lines) > 200 else ""
            return f"\n---- {name} ----\n{skipped}" + "\n".join(shown)

        return (f"\ncommand: {' '.join(self.args)}" + block("stdout", list(self.stdout))
                + block("stderr", list(self.stderr)))

    def mapped_libraries(self) -> set[str]:
        """File names of the shared libraries mapped into the process (Linux only)."""
        maps = Path(f"/proc/{self.pid}/maps").read_text()
        return {Path(line.split()[-1]).name for line in maps.splitlines()
                if len(line.split()) >= 6 and ".so" in line.split()[-1]}
