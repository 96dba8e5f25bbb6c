"""Is a Messenger server listening at HOST:PORT? Used by ``make run``. Stdlib only.

Exit status: 0 a Messenger server answered ``hello``; 1 nothing listens there; 2 something
else listens there (not a Messenger server, or one that did not answer in time).
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import sys


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def probe(host: str, port: int, timeout: float = 3.0) -> int:
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return 1
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the server's certificate is self-signed
    try:
        with context.wrap_socket(raw) as sock:
            sock.settimeout(timeout)
            payload = json.dumps({"type": "hello", "protocol_version": 1,
                                  "agent": "make run probe"}).encode()
            sock.sendall(struct.pack(">I", len(payload)) + payload)
            (length,) = struct.unpack(">I", _read_exactly(sock, 4))
            if not 0 < length <= 1 << 20:
                return 2
            reply = json.loads(_read_exactly(sock, length))
    except (OSError, ValueError):
        return 2
    finally:
        raw.close()
    return 0 if isinstance(reply, dict) and reply.get("type") == "hello" else 2


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: probe_server.py HOST PORT", file=sys.stderr)
        return 64
    return probe(sys.argv[1], int(sys.argv[2]))


if __name__ == "__main__":
    sys.exit(main())
