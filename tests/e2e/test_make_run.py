"""`make run` (tools/run-local.sh) as a newcomer runs it: its demo server keeps its data apart
from the default folder a real server uses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def app_in_group(pgid: int) -> bool:
    """Whether the app (``messenger`` without ``--server``) runs in process group ``pgid``."""
    return app_args(pgid) is not None


def app_args(pgid: int) -> list[bytes] | None:
    """The command line of the app (``messenger`` without ``--server``) in process group
    ``pgid``, or None."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields[2]) == pgid and any(a.endswith(b"messenger") for a in cmdline) \
                and b"--server" not in cmdline and b"--host" in cmdline:
            return cmdline
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def project_venv() -> Path:
    """The venv running the tests, which run-local.sh is given as VENV (skips the test when
    it has no ``bin/messenger``)."""
    venv = Path(sys.executable).parent.parent
    if not (venv / "bin" / "messenger").exists():
        pytest.skip("run-local.sh needs VENV/bin/messenger (run from the project's venv)")
    return venv


def start_run_local(env: dict[str, str]) -> tuple[subprocess.Popen, list[str]]:
    """Start tools/run-local.sh (what `make run` runs) with ``env`` in a session of its own;
    its output lines up to "opening the app" (or its server's exit)."""
    run = subprocess.Popen(["bash", "tools/run-local.sh"], cwd=REPO, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    lines: list[str] = []
    assert run.stdout is not None
    for line in run.stdout:
        lines.append(line)
        if "opening the app" in line or "exited" in line:
            break
    return run, lines


@pytest.mark.skipif(sys.platform != "linux", reason="runs the bash script")
def test_make_run_keeps_the_demo_accounts_out_of_the_default_server_folder(qtbot, tmp_path):
    """`make run` started its `--demo` server on the default data folder, which README's
    LAN server then used too: a teacher who tried `make run` first served alice/alice123
    (passwords in the README) to the whole LAN (an operator hunt). It has a folder of its
    own, and says where, with the key fingerprint the app asks about (the key's, not the
    certificate's: the app pins the key)."""
    venv = project_venv()
    home = tmp_path / "home"
    env = {**os.environ, "MESSENGER_HOME": str(home), "QT_QPA_PLATFORM": "offscreen",
           "PORT": str(free_port()), "VENV": str(venv)}
    run, lines = start_run_local(env)
    try:
        qtbot.waitUntil(lambda: app_in_group(run.pid), timeout=30_000)
    finally:
        os.killpg(run.pid, signal.SIGTERM)  # (the app closes; the script stops its server)
        run.communicate(timeout=30)
    out = "".join(lines)
    assert "opening the app" in out, out
    assert "its key SHA-256" in out, out
    data = Path(subprocess.run(
        [sys.executable, "-c", "from messenger import paths; print(paths.data_dir())"],
        env=env, capture_output=True, text=True, check=True).stdout.strip())
    assert (data / "demo-server" / "messenger.db").exists()
    assert not (data / "server").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="runs the bash script")
def test_make_run_with_port_0_opens_the_app_on_the_port_the_server_took(qtbot, tmp_path):
    """`make run PORT=0` started the server on a free port ("listening on
    127.0.0.1:41234") and opened the app with `--port 0`, which the login dialog ignored
    (it said 5555, another server's port, or the one remembered from last time)."""
    import re

    venv = project_venv()
    env = {**os.environ, "MESSENGER_HOME": str(tmp_path / "home"),
           "QT_QPA_PLATFORM": "offscreen", "PORT": "0", "VENV": str(venv)}
    run, lines = start_run_local(env)
    try:
        out = "".join(lines)
        listening = re.search(r"listening on 127\.0\.0\.1:(\d+)", out)
        assert listening is not None, out
        qtbot.waitUntil(lambda: app_in_group(run.pid), timeout=30_000)
        cmdline = app_args(run.pid)
        assert cmdline is not None
        assert cmdline[cmdline.index(b"--port") + 1].decode() == listening.group(1), out
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.communicate(timeout=30)
