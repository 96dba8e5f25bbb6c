"""The app checks that the display it is given answers before Qt tries it: Qt aborted the
process (SIGABRT) with "Reinstalling the application may fix this problem" when DISPLAY was
set but no X server answered there (sudo, an ssh session whose X forwarding had ended)."""

from __future__ import annotations

import socket
import sys

import pytest

from messenger.cli import unreachable_display, x11_address

pytestmark = pytest.mark.skipif(sys.platform == "darwin" or sys.platform == "win32",
                                reason="X11 and Wayland displays")


@pytest.mark.parametrize(("display", "address"), [
    (":0", ("", 0)), (":1.0", ("", 1)), ("unix:12", ("", 12)),
    ("localhost:10.0", ("localhost", 6010)), ("[::1]:2", ("::1", 6002)),
    ("::1:3", ("::1", 6003)), ("host/unix:0", None), ("nonsense", None), (":x", None),
])
def test_x11_address(display, address):
    assert x11_address(display) == address


@pytest.fixture
def listening(tmp_path):
    """``listening(path)``: a Unix socket accepting connections at ``path``."""
    sockets: list[socket.socket] = []

    def make(path) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        sock.listen()
        sockets.append(sock)

    yield make
    for sock in sockets:
        sock.close()


def test_a_local_x_server_that_answers_is_reachable(tmp_path, listening):
    listening(tmp_path / "X7")
    assert unreachable_display({"DISPLAY": ":7"}, x11_dir=tmp_path) is None


def test_a_local_display_without_an_x_server_says_which(tmp_path):
    (tmp_path / "X8").touch()  # (a socket file left by a server that is gone)
    problem = unreachable_display({"DISPLAY": ":8"}, x11_dir=tmp_path)
    assert problem is not None and f"{tmp_path}/X8 (DISPLAY=:8)" in problem


def test_a_tcp_display_that_refuses_says_so(tmp_path):
    with socket.socket() as probe:  # a port with nothing listening (display N = port-6000)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    if port < 6000:
        pytest.skip("no free port above 6000 given")
    problem = unreachable_display({"DISPLAY": f"127.0.0.1:{port - 6000}"}, x11_dir=tmp_path)
    assert problem is not None and f"127.0.0.1 port {port}" in problem


def test_wayland_that_answers_is_enough(tmp_path, listening):
    listening(tmp_path / "wayland-1")
    env = {"WAYLAND_DISPLAY": "wayland-1", "XDG_RUNTIME_DIR": str(tmp_path), "DISPLAY": ":9"}
    assert unreachable_display(env, x11_dir=tmp_path) is None
    env["WAYLAND_DISPLAY"] = "wayland-2"
    problem = unreachable_display(env, x11_dir=tmp_path)
    assert problem is not None and "wayland-2" in problem and "DISPLAY=:9" in problem


def test_a_chosen_qt_platform_is_not_second_guessed(tmp_path):
    assert unreachable_display({"DISPLAY": ":9", "QT_QPA_PLATFORM": "offscreen"},
                               x11_dir=tmp_path) is None
