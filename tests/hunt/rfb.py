"""A tiny RFB (VNC) client, stdlib only: drives a Qt app started with
``QT_QPA_PLATFORM=vnc:size=WxH:port=N`` (the frozen build ships libqvnc.so) by key and
pointer events, and grabs its screen. Enough to use the frozen app as a person would on a
machine without an X server."""

from __future__ import annotations

import socket
import struct

KEYSYMS = {"\n": 0xFF0D, "\r": 0xFF0D, "\t": 0xFF09, "esc": 0xFF1B, "enter": 0xFF0D,
           "tab": 0xFF09, "backspace": 0xFF08, "ctrl": 0xFFE3, "shift": 0xFFE1,
           "alt": 0xFFE9, "down": 0xFF54, "up": 0xFF52, "left": 0xFF51, "right": 0xFF53,
           "space": 0x20, "f10": 0xFFC7, "home": 0xFF50, "end": 0xFF57}


class RFB:
    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        version = self._read(12)
        assert version.startswith(b"RFB "), version
        self.sock.sendall(b"RFB 003.003\n")
        (sec,) = struct.unpack(">I", self._read(4))
        assert sec == 1, f"security type {sec}"
        self.sock.sendall(b"\x01")
        w, h = struct.unpack(">HH", self._read(4))
        self.pixfmt = self._read(16)
        (nlen,) = struct.unpack(">I", self._read(4))
        self.name = self._read(nlen)
        self.width, self.height = w, h
        # 32-bit true colour, little endian, BGRX
        self.sock.sendall(struct.pack(">BxxxBBBBHHHBBBxxx", 0, 32, 24, 0, 1, 255, 255, 255,
                                      16, 8, 0))
        self.sock.sendall(struct.pack(">BxHi", 2, 1, 0))  # raw encoding only

    def _read(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("VNC server closed")
            buf += chunk
        return bytes(buf)

    def close(self) -> None:
        self.sock.close()

    def key(self, keysym: int, down: bool) -> None:
        self.sock.sendall(struct.pack(">BBxxI", 4, 1 if down else 0, keysym))

    def press(self, *names: str) -> None:
        """Press a chord, e.g. press("ctrl", "shift", "a")."""
        syms = [KEYSYMS.get(n, ord(n) if len(n) == 1 else None) for n in names]
        for s in syms:
            self.key(s, True)
        for s in reversed(syms):
            self.key(s, False)

    def type(self, text: str) -> None:
        for ch in text:
            self.press(ch)

    def click(self, x: int, y: int, button: int = 1) -> None:
        self.sock.sendall(struct.pack(">BBHH", 5, 0, x, y))
        self.sock.sendall(struct.pack(">BBHH", 5, button, x, y))
        self.sock.sendall(struct.pack(">BBHH", 5, 0, x, y))

    def grab(self) -> bytes:
        """The whole screen as BGRX bytes (width*height*4)."""
        self.sock.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, self.width, self.height))
        screen = bytearray(self.width * self.height * 4)
        while True:
            (mtype,) = struct.unpack(">B", self._read(1))
            if mtype == 0:
                break
            if mtype == 2:  # bell
                continue
            if mtype == 3:
                self._read(3)
                (n,) = struct.unpack(">I", self._read(4))
                self._read(n)
                continue
            raise AssertionError(f"unexpected VNC message {mtype}")
        self._read(1)
        (nrects,) = struct.unpack(">H", self._read(2))
        for _ in range(nrects):
            x, y, w, h, enc = struct.unpack(">HHHHi", self._read(12))
            assert enc == 0, enc
            data = self._read(w * h * 4)
            for row in range(h):
                start = ((y + row) * self.width + x) * 4
                screen[start:start + w * 4] = data[row * w * 4:(row + 1) * w * 4]
        return bytes(screen)

    def find(self, match, left: int = 0, top: int = 0) -> tuple[int, int] | None:
        """The middle of the first horizontal run of pixels whose (r, g, b) ``match`` accepts,
        at or right of ``left`` and at or below ``top``; None when there is none."""
        raw = self.grab()
        for y in range(top, self.height):
            run = []
            for x in range(left, self.width):
                i = (y * self.width + x) * 4
                if match(raw[i + 2], raw[i + 1], raw[i]):
                    run.append(x)
                elif run:
                    break
            if len(run) >= 3:
                return (run[0] + run[-1]) // 2, y
        return None

    def save_png(self, path: str) -> None:
        import zlib
        raw = self.grab()
        rows = bytearray()
        for y in range(self.height):
            rows += b"\x00"
            line = raw[y * self.width * 4:(y + 1) * self.width * 4]
            for x in range(0, len(line), 4):
                rows += bytes((line[x + 2], line[x + 1], line[x]))

        def chunk(tag: bytes, body: bytes) -> bytes:
            return (struct.pack(">I", len(body)) + tag + body
                    + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF))

        png = (b"\x89PNG\r\n\x1a\n"
               + chunk(b"IHDR", struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0))
               + chunk(b"IDAT", zlib.compress(bytes(rows)))
               + chunk(b"IEND", b""))
        with open(path, "wb") as f:
            f.write(png)
