"""Hunt: shipping — the PyInstaller app (messenger.spec, ``make dist``) and the setup path.

The frozen-app tests need ``make dist`` first (they skip without dist/messenger/messenger,
like tests/e2e/test_frozen.py), then::

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q -p no:randomly \
        tests/hunt/test_shipping.py

They drive the frozen app as a person would on a machine without an X server: the app is
started on Qt's VNC platform (``QT_QPA_PLATFORM=vnc:…``; the build ships libqvnc.so), and
tests/hunt/rfb.py types and clicks over RFB and reads its screen.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers.rawclient import RawClient, ServerProcess
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "dist" / "messenger"
BINARY = DIST / ("messenger.exe" if sys.platform == "win32" else "messenger")

# -- setup path ------------------------------------------------------------------------------

def _compiled_with() -> str:
    """The Qt version messenger/gui/ui_*.py and resources_rc.py were compiled with."""
    text = (REPO / "messenger" / "gui" / "ui_group_dialog.py").read_text(encoding="utf-8")
    match = re.search(r"Qt User Interface Compiler version (\S+)", text)
    assert match, "no compiler version in ui_group_dialog.py"
    return match[1]


@pytest.mark.parametrize("python_version", ["3.11", "3.12", "3.13"])
def test_every_supported_python_gets_the_pyside6_the_ui_modules_were_compiled_with(
        python_version):
    """``make test`` on a fresh clone with python3 3.12 or 3.13 (Ubuntu 24.04, Debian 13)
    installs PySide6-Essentials 6.12.0: the pin ``<6.12`` holds only below Python 3.12. Its
    pyside6-uic/rcc write "version 6.12.0" in the header, so tests/unit/test_ui_current.py
    fails three tests (seen: ``make lint PYTHON=python3.12`` then that file: 3 failed), and
    ``make ui`` there rewrites the committed modules. Every Python that pyproject.toml accepts
    must get the PySide6 minor release the committed modules were compiled with."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert Requirement(f"x{project['requires-python']}").specifier.contains(python_version)
    compiled = _compiled_with()
    major_minor = ".".join(compiled.split(".")[:2])
    next_minor = f"{compiled.split('.')[0]}.{int(compiled.split('.')[1]) + 1}.0"
    env = {"python_version": python_version, "python_full_version": f"{python_version}.0"}
    applying = []
    for line in project["dependencies"]:
        req = Requirement(line)
        if req.name.lower() == "pyside6-essentials" and (
                req.marker is None or req.marker.evaluate(env)):
            applying.append(req)
    assert applying, f"no PySide6-Essentials requirement for Python {python_version}"
    for req in applying:
        assert not req.specifier.contains(next_minor), (
            f"on Python {python_version}, {req} admits PySide6 {next_minor}, but the committed "
            f"ui_*.py/resources_rc.py come from {compiled} ({major_minor}.x): "
            "tests/unit/test_ui_current.py fails on a fresh clone")


# -- the frozen app, driven over VNC ---------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def frozen_server(tmp_path):
    if not BINARY.exists():
        pytest.skip("no frozen build")
    command = [BINARY, "--server", "--host", "127.0.0.1", "--port", "0",
               "--data-dir", tmp_path / "server", "--demo"]
    with ServerProcess(command, cwd=tmp_path) as proc:
        yield proc


class FrozenApp:
    """The frozen app on the VNC platform, with its own MESSENGER_HOME (the server's
    certificate pinned beforehand, so no trust dialog) and extra environment."""

    def __init__(self, qtbot, tmp_path: Path, server: ServerProcess, user: str,
                 fingerprint: str, env: dict[str, str]) -> None:
        self.qtbot = qtbot
        self.home = tmp_path / f"home-{user}"
        config = self.home / "config"
        config.mkdir(parents=True)
        digest = fingerprint.upper()
        pin = ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))
        (config / "known_servers.json").write_text(
            json.dumps({f"127.0.0.1:{server.port}": pin}), encoding="utf-8")
        self.vnc_port = _free_port()
        self.log = tmp_path / f"app-{user}.log"
        full_env = {**os.environ, "MESSENGER_HOME": str(self.home),
                    "QT_QPA_PLATFORM": f"vnc:size=1000x700:port={self.vnc_port}", **env}
        for name in ("BROWSER", "DEFAULT_BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
            full_env.pop(name, None)
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [str(BINARY), "--host", "127.0.0.1", "--port", str(server.port), "--user", user],
                env=full_env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.rfb = None
        qtbot.waitUntil(self._connect, timeout=30_000)

    def _connect(self) -> bool:
        from hunt.rfb import RFB

        assert self.proc.poll() is None, f"the frozen app exited:\n{self.output()}"
        try:
            self.rfb = RFB(self.vnc_port)
        except OSError:
            return False
        return True

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_output(self, text: str, timeout: int = 30_000) -> None:
        def seen() -> bool:
            assert self.proc.poll() is None, f"the frozen app exited:\n{self.output()}"
            return text in self.output()

        self.qtbot.waitUntil(seen, timeout=timeout)

    def close(self) -> None:
        if self.rfb is not None:
            self.rfb.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _is_link_blue(r: int, g: int, b: int) -> bool:
    """The colour of a link in a message bubble (about #1864AB, light theme)."""
    return b > 150 and r < 80 and 80 < g < 140


@pytest.mark.frozen
@pytest.mark.skipif(not BINARY.exists(), reason=f"no frozen build at {BINARY} (make dist)")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux frozen build")
def test_frozen_app_opens_a_link_with_the_users_environment(qtbot, tmp_path, frozen_server,
                                                            monkeypatch):
    """A link clicked in the frozen app (likewise Open and Show in folder on a file card)
    starts the desktop's browser through xdg-open with LD_LIBRARY_PATH, QT_PLUGIN_PATH and
    QML2_IMPORT_PATH pointing into dist/messenger/_internal (set by PyInstaller's bootloader
    and its Qt run-time hook for the app itself). The browser, PDF viewer or file manager
    then loads the bundle's libglib, libstdc++, libssl, libcairo, … and, if Qt-based, the
    bundle's Qt plugins instead of its own: on any machine whose libraries differ from the
    build machine's, it fails to start ("symbol lookup error", "Cannot mix incompatible Qt
    library") and the click does nothing. PyInstaller's documentation asks a frozen app that
    launches other programs to hand them the environment as it was before
    (LD_LIBRARY_PATH_ORIG). Here a stand-in xdg-open records the environment it got."""
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    env_file = tmp_path / "xdg-open.env"
    (fakebin / "xdg-open").write_text(
        f"#!/bin/sh\nenv > '{env_file}.tmp' && mv '{env_file}.tmp' '{env_file}'\n")
    (fakebin / "xdg-open").chmod(0o755)

    with RawClient(frozen_server.host, frozen_server.port) as alice:
        alice.hello()
        assert alice.login("alice", "alice123")["type"] == "ok"
        reply = alice.request({"type": "send", "client_msg_id": "hunt-link-1",
                               "scope": "unicast", "to": ["bob"],
                               "text": "the notes: https://example.com/notes"})
        assert reply["type"] == "ok", reply

        user_env = {"PATH": f"{fakebin}{os.pathsep}{os.environ.get('PATH', '')}"}
        for name in ("LD_LIBRARY_PATH", "QT_PLUGIN_PATH", "QML2_IMPORT_PATH"):
            monkeypatch.delenv(name, raising=False)  # (as in a user's session: none set)
        app = FrozenApp(qtbot, tmp_path, frozen_server, "bob", alice.fingerprint, user_env)
        try:
            qtbot.waitUntil(lambda: app.rfb.find(lambda r, g, b: r + g + b > 600) is not None,
                            timeout=30_000)  # the login dialog is drawn
            app.rfb.type("bob123")
            app.rfb.press("enter")
            app.wait_output("logged in as bob")
            # The first contact (alice, online, with the unread message): select, open.
            qtbot.waitUntil(lambda: app.rfb.find(
                lambda r, g, b: g > 150 and r < 100 and b < 120, left=5, top=85) is not None,
                timeout=30_000)  # alice's green presence dot
            app.rfb.click(46, 99)
            app.rfb.press("enter")
            where: list[tuple[int, int]] = []

            def link_shown() -> bool:
                found = app.rfb.find(_is_link_blue, left=240, top=90)
                if found:
                    where.append(found)
                return found is not None

            qtbot.waitUntil(link_shown, timeout=30_000)
            app.rfb.click(*where[-1])
            app.wait_output("opening a link from a message")
            qtbot.waitUntil(env_file.exists, timeout=30_000)
        finally:
            app.close()

    given = dict(line.split("=", 1) for line in env_file.read_text().splitlines()
                 if "=" in line)
    leaked = {name: value for name, value in given.items()
              if str(DIST) in value and name != "_"}
    assert not leaked, (
        "the program the frozen app launched for a link got the bundle's own paths in its "
        f"environment: {leaked}")


@pytest.mark.frozen
@pytest.mark.skipif(not BINARY.exists(), reason=f"no frozen build at {BINARY} (make dist)")
def test_frozen_build_carries_the_licences_of_what_it_bundles():
    """dist/messenger is what an operator copies to the lab's machines: 187 MB, of which Qt 6
    and PySide6 (LGPL-3.0: libQt6*.so, the plugins, libpyside6/libshiboken6) and Python
    itself. The LGPL lets them be shipped inside a closed bundle only with the licence text
    and a notice of which libraries are under it; the build carries neither (only the
    argon2-cffi and cryptography wheels' own licence files come along), nor Messenger's own
    MIT notice (pyproject.toml says "MIT", the repository has no LICENSE file for setuptools
    or PyInstaller to pick up)."""
    texts = []
    for path in DIST.rglob("*"):
        if path.is_file() and re.search(r"licen[cs]e|copying|notice", path.name, re.I):
            texts.append((path, path.read_text(errors="replace")))
    lgpl = [p for p, t in texts if "GNU LESSER GENERAL PUBLIC LICENSE" in t]
    mit = [p for p, t in texts if "Permission is hereby granted, free of charge" in t
           and (p.parent in (DIST, DIST / "_internal")
                or p.parent.name.lower().startswith("messenger"))]
    problems = []
    if not lgpl:
        problems.append("no LGPL-3.0 text for the bundled Qt 6 / PySide6 libraries")
    if not mit and not (REPO / "LICENSE").exists():
        problems.append("no MIT licence text for Messenger itself (no LICENSE file)")
    assert not problems, f"{problems}; licence files found: {[str(p) for p, _ in texts]}"


@pytest.mark.frozen
@pytest.mark.skipif(not BINARY.exists(), reason=f"no frozen build at {BINARY} (make dist)")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux plugin file names")
def test_server_without_a_tls_backend_says_so_instead_of_blaming_its_key(tmp_path):
    """Qt's TLS backend is a plugin that loads OpenSSL 3 (libssl.so.3) at run time: the
    PySide6 wheels do not ship it, and the spec bundles it only "if it finds it" (a Python
    with OpenSSL linked in statically, such as a python-build-standalone one, gives none;
    a pip install on a machine with OpenSSL 1.1 finds none either). Without it Qt falls back
    to its "cert-only" backend, and the server stops with

        error: cannot start the server: DATA/server.key cannot be loaded for TLS; give the
        server an RSA or EC (ECDSA) key in PEM and its certificate

    about the key it has just made itself. An operator who follows that advice replaces
    a perfectly good key, and every app that pinned the old certificate then refuses the
    server as changed. The server should check ``QSslSocket.supportsSsl()`` first and say
    that TLS is unavailable (OpenSSL 3 / libssl.so.3 not loadable). Simulated with a copy
    of the build (hard links) without its OpenSSL backend plugin."""
    copy = tmp_path / "dist"
    for source in DIST.rglob("*"):
        target = copy / source.relative_to(DIST)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif source.name != "libqopensslbackend.so":
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                import shutil

                shutil.copy2(source, target)
    (copy / BINARY.name).chmod(0o755)
    result = subprocess.run(
        [str(copy / BINARY.name), "--server", "--host", "127.0.0.1", "--port", "0",
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert result.returncode != 0, "the server started without TLS"
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error, result.stderr
    assert "server.key" not in error[0] and re.search(r"TLS|OpenSSL|libssl", error[0]), (
        f"the server blamed its own new key for a missing TLS backend: {error[0]}")


def _too_old_python() -> str | None:
    """A Python below pyproject's requires-python (3.11) on this machine, if any."""
    import glob
    import shutil

    candidates = [shutil.which(f"python3.{minor}") for minor in (10, 9, 8)]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[0]*/bin/python3")))
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.[89]*/bin/python3")))
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        try:
            found = subprocess.run([candidate, "-c", "import sys; print(sys.version_info >= "
                                    "(3, 11), sys.version_info >= (3, 8))"],
                                   capture_output=True, text=True, timeout=30, check=False)
        except OSError:
            continue
        if found.returncode == 0 and found.stdout.split() == ["False", "True"]:
            return candidate  # (a real interpreter, not a pyenv shim that has none)
    return None


@pytest.mark.slow
def test_make_recovers_after_a_first_try_with_a_too_old_python(tmp_path):
    """Ubuntu 22.04's python3 is 3.10 (README: "Both work on a fresh Debian/Ubuntu machine
    with python3"; it names no version). `make test` there makes .venv with 3.10 and stops
    with pip's "Package 'messenger' requires a different Python: 3.10.13 not in '>=3.11'".
    The newcomer installs python3.11 and runs `make test PYTHON=python3.11` — and gets the
    very same error, forever: $(BIN)/python exists, so the Makefile keeps the 3.10 venv and
    never says that `make distclean` is needed. The Makefile should refuse a too-old PYTHON
    before making the venv (naming the version needed), or remake a venv whose Python is not
    PYTHON's."""
    old = _too_old_python()
    if old is None:
        pytest.skip("no Python 3.8-3.10 on this machine")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    first = subprocess.run(["make", "lint", f"PYTHON={old}"], cwd=clone,
                           capture_output=True, text=True, timeout=600, env=env, check=False)
    assert first.returncode != 0, "make accepted a Python older than requires-python"
    good = str(Path(sys.base_prefix) / "bin" / "python3")
    second = subprocess.run(["make", "lint", f"PYTHON={good}"], cwd=clone,
                            capture_output=True, text=True, timeout=900, env=env, check=False)
    assert second.returncode == 0, (
        f"make lint PYTHON={good} after a first try with {old} still fails:\n"
        + "\n".join(line for line in (second.stdout + second.stderr).splitlines()
                    if "WARNING: Location" not in line)[-1500:])


def test_server_without_a_tls_backend_says_so_from_source_too(tmp_path):
    """The same as :func:`test_server_without_a_tls_backend_says_so_instead_of_blaming_its_key`
    without a build: Qt is told to use its "cert-only" backend, which is what it falls back
    to when the OpenSSL one cannot load libssl.so.3 (a pip install on a machine whose
    OpenSSL is 1.1, or a build that bundled none)."""
    script = ("import sys\n"
              "from PySide6.QtNetwork import QSslSocket\n"
              "assert QSslSocket.setActiveBackend('cert-only')\n"
              "from messenger.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", script, "--server", "--host", "127.0.0.1", "--port", "0",
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env=env,
        check=False)
    assert result.returncode != 0, "the server started without TLS"
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error, result.stderr
    assert "server.key" not in error[0] and re.search(r"TLS|OpenSSL|libssl", error[0]), (
        f"the server blamed its own new key for a missing TLS backend: {error[0]}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 display")
def test_app_with_an_unreachable_display_says_so_instead_of_aborting(tmp_path):
    """`sudo messenger`, an ssh session whose X forwarding is gone, a container with the
    host's DISPLAY: DISPLAY is set but no X server answers there. The app does not check
    (cli.no_display looks only at whether the variable is set), Qt aborts the process
    (SIGABRT, a core dump) and what the user reads is

        qt.qpa.plugin: From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed to load the Qt
        xcb platform plugin.
        This application failed to start because no Qt platform plugin could be
        initialized. Reinstalling the application may fix this problem.

    — a broken-install diagnosis, the same that no_display() was written to avoid, while
    libxcb-cursor is installed (and bundled in dist/). The app should say that the display
    DISPLAY names cannot be reached, and exit with status 1 like it does without DISPLAY."""
    number = next(n for n in range(87, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XAUTHORITY")}
    env.update({"DISPLAY": f":{number}", "MESSENGER_HOME": str(tmp_path / "home"),
                "PYTHONPATH": str(REPO)})
    result = subprocess.run([sys.executable, "-m", "messenger"], capture_output=True,
                            text=True, timeout=60, env=env, stdin=subprocess.DEVNULL,
                            check=False)
    assert result.returncode == 1, (
        f"exit status {result.returncode} (negative: killed by a signal):\n{result.stderr}")
    assert f":{number}" in result.stderr and "Reinstalling" not in result.stderr, result.stderr
