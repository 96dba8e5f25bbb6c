"""Operator hunt: `make run PORT=0` (README: port 0 picks a free one)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def app_port(pgid: int) -> str | None:
    """The --port the app (messenger without --server) in process group ``pgid`` got."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields[2]) == pgid and any(a.endswith(b"messenger") for a in cmdline) \
                and b"--server" not in cmdline and b"--port" in cmdline:
            return cmdline[cmdline.index(b"--port") + 1].decode()
    return None


@pytest.mark.skipif(sys.platform != "linux", reason="runs the bash script")
def test_make_run_with_port_0_opens_the_app_on_the_port_the_server_took(qtbot, tmp_path):
    """`make run PORT=0` started the server on a free port ("listening on 127.0.0.1:41234")
    and opened the app with `--port 0`, which the app ignores (0 is falsy in
    LoginDialog: `int(port or settings…)`): the login dialog said 5555, another server's
    port, or the one remembered from last time."""
    venv = Path(sys.executable).parent.parent
    if not (venv / "bin" / "messenger").exists():
        pytest.skip("run-local.sh needs VENV/bin/messenger (run from the project's venv)")
    env = {**os.environ, "MESSENGER_HOME": str(tmp_path / "home"),
           "QT_QPA_PLATFORM": "offscreen", "PORT": "0", "VENV": str(venv)}
    run = subprocess.Popen(["bash", "tools/run-local.sh"], cwd=REPO, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    lines: list[str] = []
    try:
        assert run.stdout is not None
        for line in run.stdout:
            lines.append(line)
            if "opening the app" in line or "exited" in line or "not a Messenger" in line:
                break
        out = "".join(lines)
        listening = re.search(r"listening on 127\.0\.0\.1:(\d+)", out)
        if listening is None:  # (refusing PORT=0 with a clear word would do too)
            assert "PORT" in out, out
            return
        qtbot.waitUntil(lambda: app_port(run.pid) is not None, timeout=30_000)
        assert app_port(run.pid) == listening.group(1), out
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.communicate(timeout=30)
