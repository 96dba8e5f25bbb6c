"""End to end: ``python -m messenger --server`` as a real process, and a raw client logging in.

Also checks the promise of DESIGN.md that the server never loads QtWidgets or QtGui (so it runs
on a machine without display libraries): once by importing and starting it in a fresh
interpreter and looking at ``sys.modules``, once by looking at the libraries mapped into the
``messenger --server`` process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers.disks import tmpfs
from helpers.rawclient import DEFAULT_TIMEOUT, RawClient, RawClientError, ServerProcess

REPO = Path(__file__).resolve().parents[2]


def server_command(data_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "messenger", "--server", "--host", "127.0.0.1",
            "--port", "0", "--data-dir", str(data_dir), *extra]


@pytest.fixture
def server_process(tmp_path):
    """``messenger --server --demo`` on 127.0.0.1, a free port and a temp data dir."""
    with ServerProcess(server_command(tmp_path / "data", "--demo"), cwd=REPO) as proc:
        yield proc


def test_alice_logs_in(server_process):
    assert server_process.host == "127.0.0.1"
    assert server_process.port > 0
    with RawClient(server_process.host, server_process.port) as client:
        hello = client.hello()
        assert hello["type"] == "hello", hello
        assert hello["protocol_version"] == 1
        reply = client.login("alice", "alice123", request_id=1)
        assert reply["type"] == "ok", reply
        assert reply["id"] == 1
        assert reply["user"] == "alice"


def test_wrong_password_is_refused(server_process):
    with RawClient(server_process.host, server_process.port) as client:
        client.hello()
        reply = client.login("alice", "not-her-password", request_id=7)
    assert reply["type"] == "error", reply
    assert reply["id"] == 7
    assert reply["code"] == "bad_credentials"


def test_certificate_and_accounts_survive_a_restart(tmp_path):
    """The self-signed certificate is kept in the data dir: clients' pins stay valid."""
    data_dir = tmp_path / "data"
    fingerprints = []
    for extra in (("--demo",), ()):
        with ServerProcess(server_command(data_dir, *extra), cwd=REPO) as proc, \
                RawClient(proc.host, proc.port) as client:
            client.hello()
            assert client.login("bob", "bob123")["type"] == "ok"
            fingerprints.append(client.fingerprint)
    assert fingerprints[0] == fingerprints[1]


@pytest.mark.parametrize("extra", [["--add-user", "bob"], ["--reset-password", "bob"],
                                   ["--demo"], ["--data-dir", "x", "--max-send-rate", "5"],
                                   ["--idle-timeout", "45"], ["--max-failed-logins", "3"]])
def test_server_options_without_server_are_refused(tmp_path, extra):
    """They opened the app (which aborted on a machine without a display): `messenger
    --add-user bob` made no account (an operator hunt). One given at its default value
    (`--idle-timeout 45`) still opened the app, the option silently dropped (here, with no
    display, "no display" and status 1)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "messenger", *extra], cwd=REPO,
                            env={**env, "MESSENGER_HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=DEFAULT_TIMEOUT)
    assert result.returncode == 2, result
    assert "for use with --server" in result.stderr and extra[0] in result.stderr


def test_the_app_without_a_display_says_so_instead_of_aborting(tmp_path):
    """Qt aborted (status 134) with "Reinstalling the application may fix this problem"."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "messenger"], cwd=REPO,
                            env={**env, "MESSENGER_HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=DEFAULT_TIMEOUT)
    assert result.returncode == 1, result
    assert "no display" in result.stderr and "xvfb-run" in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 display")
def test_the_app_with_an_unreachable_display_says_so_instead_of_aborting(tmp_path):
    """`sudo messenger`, an ssh session whose X forwarding is gone, a container given the
    host's DISPLAY: DISPLAY was set but no X server answered, and Qt aborted (SIGABRT) with
    "… no Qt platform plugin could be initialized. Reinstalling the application may fix
    this problem" (the app checked only that the variable was set)."""
    number = next(n for n in range(87, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XAUTHORITY")}
    result = subprocess.run([sys.executable, "-m", "messenger"], cwd=REPO,
                            env={**env, "DISPLAY": f":{number}", "MESSENGER_HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=DEFAULT_TIMEOUT,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result
    assert f"(DISPLAY=:{number})" in result.stderr and "Reinstalling" not in result.stderr


def run_app(home: Path, *args: str) -> subprocess.CompletedProcess:
    """`messenger ARGS` (the app, offscreen) with MESSENGER_HOME ``home``."""
    return subprocess.run([sys.executable, "-m", "messenger", *args], cwd=REPO,
                          env={**os.environ, "MESSENGER_HOME": str(home),
                               "QT_QPA_PLATFORM": "offscreen"},
                          capture_output=True, text=True, timeout=DEFAULT_TIMEOUT)


@pytest.mark.parametrize("kind", ["folder", "inside-a-file"])
def test_the_app_with_an_unusable_log_file_says_so_in_one_line(tmp_path, kind):
    """`messenger --log-file PATH` with PATH a folder, or under a file, crashed with a
    traceback (IsADirectoryError, FileExistsError) before any window."""
    blocker = tmp_path / "blocker"
    if kind == "folder":
        blocker.mkdir()
        log_file = blocker
    else:
        blocker.write_text("")
        log_file = blocker / "messenger.log"
    result = run_app(tmp_path / "home", "--log-file", str(log_file))
    assert result.returncode == 1, result
    assert result.stderr.startswith(f"messenger: cannot use the log file {log_file}: ")
    assert "Traceback" not in result.stderr


def test_the_app_whose_log_folder_cannot_be_made_says_so_in_one_line(tmp_path):
    """The app's default log folder cannot be made (a read-only HOME; here MESSENGER_HOME
    is a file): a traceback ending in NotADirectoryError."""
    home = tmp_path / "not-a-folder"
    home.write_text("")
    result = run_app(home)
    assert result.returncode == 1, result
    assert result.stderr.startswith(f"messenger: cannot use the log file {home}")
    assert "Traceback" not in result.stderr


def test_the_app_refuses_port_0(tmp_path):
    """`messenger --port 0` opened the login dialog on the remembered port (or 5555): 0
    (a free port) is the server's."""
    result = run_app(tmp_path / "home", "--port", "0")
    assert result.returncode == 2 and "--port 0: the app needs the server's port" in \
        result.stderr, result


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_app_quits_on_ctrl_c_and_sigterm(tmp_path, sig):
    """The app ignored Ctrl+C (no Python ran while Qt waited), and `make run` waited on it
    with its server already stopped (an operator hunt)."""
    app = subprocess.Popen([sys.executable, "-m", "messenger"], cwd=REPO,
                           env={**os.environ, "MESSENGER_HOME": str(tmp_path),
                                "QT_QPA_PLATFORM": "offscreen"},
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert app.stderr is not None
        for line in app.stderr:  # (the login dialog comes next)
            if "starting; log file" in line:
                break
        app.send_signal(sig)
        assert app.wait(timeout=DEFAULT_TIMEOUT) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()


def test_lock_outs_and_operator_account_changes_are_in_the_activity_log(tmp_path):
    """A lock-out, the logins refused while it held, and `--add-user` / `--reset-password`
    left no line in activity.log, while the same changes made from the app did (an
    operator hunt): "it says my account is locked" had nothing to go on."""
    data_dir = tmp_path / "data"
    with ServerProcess(server_command(data_dir, "--demo", "--max-failed-logins", "2",
                                      "--lockout-seconds", "60"), cwd=REPO) as proc, \
            RawClient(proc.host, proc.port) as client:
        client.hello()
        codes = [client.login("bob", f"wrong-{n}", request_id=n + 1)["code"]
                 for n in range(3)]
        assert codes == ["bad_credentials", "locked_out", "locked_out"], codes
    for option, password in (("--add-user", "first-pw"), ("--reset-password", "second-pw")):
        subprocess.run([sys.executable, "-m", "messenger", "--server", "--data-dir",
                        str(data_dir), option, "dora"], input=f"{password}\n",
                       capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, cwd=REPO,
                       check=True)
    lines = (data_dir / "activity.log").read_text().splitlines()
    assert any("logins for 'bob' locked for 60 s" in line for line in lines), lines
    assert any("login for 'bob' from" in line and "refused: locked" in line
               for line in lines), lines
    assert any("account dora created by the operator" in line for line in lines), lines
    assert any("password of dora reset by the operator" in line for line in lines), lines
    everyone = subprocess.run([sys.executable, "-m", "messenger", "--server", "--data-dir",
                               str(data_dir), "--add-user", "Everyone"], input="pw-123456\n",
                              capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert everyone.returncode == 2 and "conversation with everyone" in everyone.stderr


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (root only; skipped elsewhere), unmounted afterwards."""
    with tmpfs(tmp_path / "disk", "2m") as mount:
        yield mount


def test_a_full_disk_at_start_is_one_clear_line(small_disk):
    """Started on a full disk, the server said "disk I/O error" (SQLite's words: a failing
    disk, not a full one), after ~40 lines of "--- Logging error ---" tracebacks (an
    operator hunt): one line that says the disk is full."""
    data_dir = small_disk / "data"
    subprocess.run([sys.executable, "-m", "messenger", "--server", "--data-dir", str(data_dir),
                    "--add-user", "alice"], input="alice123\n", capture_output=True,
                   text=True, check=True, timeout=DEFAULT_TIMEOUT, cwd=REPO)
    with open(small_disk / "filler", "wb") as filler:  # the disk fills up
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass
    result = subprocess.run(server_command(data_dir), capture_output=True, text=True,
                            timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert result.returncode == 1, result
    assert "Logging error" not in result.stderr and "Traceback" not in result.stderr, \
        result.stderr
    assert "is full" in result.stderr, result.stderr


def test_demo_accounts_are_durable_once_the_server_listens(tmp_path):
    """The demo accounts sat in the store's open transaction until the first request made
    it commit: a crash or a `kill -9` before anyone logged in, and they were gone (an
    operator hunt)."""
    data_dir = tmp_path / "data"
    first = ServerProcess(server_command(data_dir, "--demo"), cwd=REPO)
    first.start()
    assert first.proc is not None
    first.proc.kill()  # (what a crash or a power cut leaves)
    first.stop()
    with ServerProcess(server_command(data_dir), cwd=REPO) as again, \
            RawClient(again.host, again.port) as client:
        client.hello()
        assert client.login("alice", "alice123", request_id=1)["type"] == "ok"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/maps")
def test_server_process_maps_no_gui_libraries(server_process):
    libraries = server_process.mapped_libraries()
    assert any(name.startswith("libQt6Network") for name in libraries), sorted(libraries)
    loaded = sorted(name for name in libraries
                    if name.startswith(("libQt6Gui", "libQt6Widgets", "libQt6OpenGL")))
    assert not loaded, f"the server process mapped GUI libraries: {loaded}"


NO_GUI_PROBE = textwrap.dedent("""
    import json
    import sys
    from pathlib import Path

    from PySide6.QtCore import QCoreApplication, QTimer

    from messenger.server.app import ServerConfig
    from messenger.server.net import MessengerServer

    app = QCoreApplication([])
    server = MessengerServer(ServerConfig(host="127.0.0.1", port=0, data_dir=Path(sys.argv[1])))
    server.listen()

    def report():
        banned = ("PySide6.QtWidgets", "PySide6.QtGui", "messenger.gui", "messenger.client")
        loaded = sorted(name for name in sys.modules
                        if any(name == b or name.startswith(b + ".") for b in banned))
        print(json.dumps({"port": server.port, "loaded": loaded}), flush=True)
        server.close()
        app.quit()

    QTimer.singleShot(0, report)
    app.exec()
""")


def test_server_never_imports_widgets_or_gui(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", NO_GUI_PROBE, str(tmp_path / "data")],
        capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, cwd=REPO, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["port"] > 0
    assert report["loaded"] == []


def test_add_user_with_nothing_on_stdin_says_no_password_was_given(tmp_path):
    """It said "a password has 6 to 1024 characters", as if one too short had been given."""
    result = subprocess.run(
        [sys.executable, "-m", "messenger", "--server", "--data-dir", str(tmp_path / "data"),
         "--add-user", "dora"], input="", capture_output=True, text=True,
        timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert result.returncode == 2 and "no password given" in result.stderr
    assert "6 to 1024" not in result.stderr


def test_add_user_reads_the_password_from_stdin_then_logs_in(tmp_path):
    data_dir = tmp_path / "data"
    created = subprocess.run(
        [sys.executable, "-m", "messenger", "--server", "--data-dir", str(data_dir),
         "--add-user", "Dora"],
        input="dora-secret\n", capture_output=True, text=True, timeout=DEFAULT_TIMEOUT,
        cwd=REPO)
    assert created.returncode == 0, created.stderr
    assert "created account Dora" in created.stdout
    again = subprocess.run(
        [sys.executable, "-m", "messenger", "--server", "--data-dir", str(data_dir),
         "--add-user", "dora"],
        input="other-secret\n", capture_output=True, text=True, timeout=DEFAULT_TIMEOUT,
        cwd=REPO)
    assert again.returncode == 1 and "taken" in again.stderr
    with ServerProcess(server_command(data_dir), cwd=REPO) as proc, \
            RawClient(proc.host, proc.port) as client:
        client.hello()
        reply = client.login("DORA", "dora-secret", request_id=3)
    assert reply["type"] == "ok" and reply["user"] == "Dora", reply


def test_a_bad_add_user_name_makes_no_files_and_demo_works_with_add_user(tmp_path):
    data_dir = tmp_path / "data"
    bad = subprocess.run(
        [sys.executable, "-m", "messenger", "--server", "--data-dir", str(data_dir),
         "--add-user", "no spaces"], input="whatever-pw\n", capture_output=True, text=True,
        timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert bad.returncode == 2 and "is not a valid user name" in bad.stderr
    assert not data_dir.exists()  # no folder, certificate, database or log
    both = subprocess.run(
        [sys.executable, "-m", "messenger", "--server", "--data-dir", str(data_dir),
         "--add-user", "dora", "--demo"], input="dora-secret\n", capture_output=True,
        text=True, timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert both.returncode == 0, both.stderr
    with ServerProcess(server_command(data_dir), cwd=REPO) as proc, \
            RawClient(proc.host, proc.port) as client:
        client.hello()
        assert client.login("bob", "bob123", request_id=1)["type"] == "ok"


def test_demo_accounts_are_created_only_when_absent(tmp_path):
    data_dir = tmp_path / "data"
    subprocess.run(
        [sys.executable, "-m", "messenger", "--server", "--data-dir", str(data_dir),
         "--add-user", "alice"],
        input="changed-pw\n", capture_output=True, text=True, timeout=DEFAULT_TIMEOUT,
        cwd=REPO, check=True)
    with ServerProcess(server_command(data_dir, "--demo"), cwd=REPO) as proc, \
            RawClient(proc.host, proc.port) as client:
        client.hello()
        kept = client.login("alice", "changed-pw", request_id=1)
        bob = RawClient(proc.host, proc.port)
        bob.hello()
        demo = bob.login("bob", "bob123", request_id=2)
        bob.close()
    assert kept["type"] == "ok", kept
    assert demo["type"] == "ok", demo


def test_add_user_and_demo_make_no_look_alike_of_an_existing_account(tmp_path):
    """In the app, "aIice" (capital i) is refused beside "alice" ("looks too much like
    'alice'": one could pose as the other). `--add-user aIice` made it without a word, and
    `--demo` on a server that has "aIice" added "alice" beside it."""
    def server(data_dir: Path, *args: str, password: str = "whatever1\n"):
        return subprocess.run([sys.executable, "-m", "messenger", "--server", "--data-dir",
                               str(data_dir), *args], input=password, capture_output=True,
                              text=True, timeout=DEFAULT_TIMEOUT, cwd=REPO)

    demo = tmp_path / "demo"
    assert server(demo, "--demo", "--add-user", "dora").returncode == 0
    twin = server(demo, "--add-user", "aIice")
    assert twin.returncode == 1, twin
    assert "'aIice' looks too much like 'alice'" in twin.stderr, twin.stderr
    assert server(demo, "--reset-password", "aIice").returncode == 1  # (not made)
    first = tmp_path / "first"
    assert server(first, "--add-user", "aIice").returncode == 0
    made = server(first, "--demo", "--add-user", "dora")
    assert made.returncode == 0, made
    assert "demo account alice not created: the account aIice looks too much like it" in \
        made.stderr, made.stderr
    missing = server(first, "--reset-password", "alice")
    assert "there is no account named 'alice'" in missing.stderr, missing
    assert server(first, "--reset-password", "bob").returncode == 0  # (the others are)


@pytest.mark.parametrize("kind", ["folder", "not-sqlite"])
def test_a_database_that_cannot_be_opened_is_named_in_the_error(tmp_path, kind):
    """`--db PATH` with PATH a folder said "error: cannot start the server: unable to open
    database file", and with PATH some other file "…: file is not a database": SQLite's
    words without the file's name (with the default data dir the operator does not even
    know where it is)."""
    db = tmp_path / "chat.db"
    if kind == "folder":
        db.mkdir()
    else:
        db.write_bytes(b"this is not an SQLite database, just some text\n" * 100)
    result = subprocess.run(server_command(tmp_path / "data", "--db", str(db)),
                            capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert result.returncode == 1, result
    assert result.stderr.startswith(f"error: cannot open the database {db}: "), result.stderr
    assert "Traceback" not in result.stderr


def test_a_second_server_on_the_same_data_dir_exits_with_a_clear_error(tmp_path):
    data_dir = tmp_path / "data"
    with ServerProcess(server_command(data_dir, "--demo"), cwd=REPO) as proc:
        second = subprocess.run(server_command(data_dir), capture_output=True, text=True,
                                timeout=DEFAULT_TIMEOUT, cwd=REPO)
        assert second.returncode == 1
        assert "another Messenger server is using" in second.stderr
        assert "Traceback" not in second.stderr
        assert second.stderr.count("another Messenger server is using") == 1  # said once
        with RawClient(proc.host, proc.port) as client:  # the first one serves on
            client.hello()
            assert client.login("alice", "alice123", request_id=1)["type"] == "ok"


def test_a_key_that_is_not_the_certificates_stops_the_start_with_one_line(tmp_path):
    """Before, the server listened and every TLS handshake failed ("key values mismatch",
    logged at INFO): now it refuses to start and says which files to delete."""
    from messenger.protocol.fingerprint import make_identity

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    one, other = (make_identity(f"server {n}", days=1) for n in (1, 2))
    (data_dir / "server.crt").write_bytes(one.cert_pem)
    (data_dir / "server.key").write_bytes(other.key_pem)
    result = subprocess.run(server_command(data_dir), capture_output=True, text=True,
                            timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert result.returncode == 1
    assert "server.key is not the key of" in result.stderr and "delete both" in result.stderr
    assert "Traceback" not in result.stderr and "listening on" not in result.stdout
    # Said once on stderr (it was also logged there, a second time); the log file keeps it.
    assert result.stderr.count("is not the key of") == 1
    assert "server.key is not the key of" in (data_dir / "server.log").read_text()


def _rsa_identity(folder: Path) -> None:
    """server.crt/server.key as `openssl req -x509 -newkey rsa:2048 -nodes` makes them."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from helpers.identity import operator_identity

    operator_identity(folder, rsa.generate_private_key(public_exponent=65537, key_size=2048),
                      host="chat.lab.example",
                      key_format=serialization.PrivateFormat.TraditionalOpenSSL)


def test_an_operators_rsa_certificate_serves_tls(tmp_path):
    """An operator who put their own certificate in the data dir (openssl makes RSA keys)
    got a server that printed "listening on …" and failed every TLS handshake ("Cannot
    provide a certificate with no key", at INFO only): the key was loaded as an EC key."""
    data_dir = tmp_path / "data"
    _rsa_identity(data_dir)
    with ServerProcess(server_command(data_dir, "--demo"), cwd=REPO) as proc, \
            RawClient(proc.host, proc.port) as client:
        assert client.hello()["type"] == "hello"
        assert client.login("alice", "alice123", request_id=1)["type"] == "ok"


def test_a_key_of_a_kind_tls_cannot_use_stops_the_start_with_one_line(tmp_path):
    """An Ed25519 key (which Qt cannot serve TLS with) is refused at the start, naming
    server.key, instead of a server that listens and fails every handshake."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.x509.oid import NameOID

    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chat.lab.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, None))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (data_dir / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    result = subprocess.run(server_command(data_dir), capture_output=True, text=True,
                            timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert result.returncode == 1 and "listening on" not in result.stdout
    assert "server.key is a" in result.stderr and "RSA or EC" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("extra, message", [
    (("--port", "70000"), "must be between 0 and 65535"),
    (("--idle-timeout", "inf"), "must be a number greater than 0"),
    (("--idle-timeout", "100000000"), "must be at most 86400"),
    # (0.1 dropped every live app within a quarter of a second, before any ping, and again
    # after each reconnect: an operator hunt)
    (("--idle-timeout", "0.1"), "must be at least 5 (seconds)"),
    (("--max-send-rate", "-1"), "must be a number, 0 or more"),
    (("--max-send-rate", "nan"), "must be a number, 0 or more"),
    (("--port", "abc"), "'abc' is not a whole number"),  # (it read "invalid _port value")
    (("--lockout-seconds", "soon"), "'soon' is not a number"),
])
def test_out_of_range_options_are_refused_by_the_command_line(tmp_path, extra, message):
    result = subprocess.run([*server_command(tmp_path / "data"), *extra], capture_output=True,
                            text=True, timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("option", ["--data-dir", "--db", "--log-file"])
def test_an_empty_path_option_is_refused_not_taken_for_the_current_folder(tmp_path, option):
    """`--data-dir "$MESSENGER_DATA"` with the variable unset (a unit file, a script) gave
    `--data-dir ""`, which was ".": the server made its database, key and logs in whatever
    folder it was started from ("/" under systemd), and next time, started from elsewhere,
    was a new server with no accounts and another certificate. `--db ""` ended in a
    traceback, `--log-file ""` in "Is a directory"."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    args = ["--server", "--host", "127.0.0.1", "--port", "0", option, ""]
    if option != "--data-dir":
        args += ["--data-dir", str(tmp_path / "data")]
    proc = subprocess.Popen([sys.executable, "-m", "messenger", *args], cwd=cwd,
                            env={**os.environ, "MESSENGER_HOME": str(tmp_path / "home"),
                                 "PYTHONPATH": os.pathsep.join(
                                     [str(REPO), os.environ.get("PYTHONPATH", "")])},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # "listening on …" (the bug), or "" once it exited
    finally:
        if proc.poll() is None:
            proc.terminate()
        _, err = proc.communicate(timeout=DEFAULT_TIMEOUT)
    assert not first.startswith("listening on"), (first, err)
    assert proc.returncode == 2 and f"argument {option}: an empty path" in err, err
    assert list(cwd.iterdir()) == []


def test_an_unusable_data_dir_is_one_line_not_a_traceback(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = subprocess.run(server_command(blocker / "data"), capture_output=True, text=True,
                            timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert result.returncode == 1 and result.stderr.startswith("error: cannot use the data dir")
    assert "Traceback" not in result.stderr and "[Errno" not in result.stderr


def test_a_default_data_folder_that_cannot_be_made_is_one_line(tmp_path):
    """`messenger --server` without --data-dir, as a user whose data folder cannot be made
    (a service account whose HOME is missing or read-only; here MESSENGER_HOME is a file),
    printed a 20-line traceback ending in NotADirectoryError, not the one line --data-dir
    gets."""
    home = tmp_path / "not-a-folder"
    home.write_text("")
    result = subprocess.run([sys.executable, "-m", "messenger", "--server", "--port", "0"],
                            capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, cwd=REPO,
                            env={**os.environ, "MESSENGER_HOME": str(home)})
    assert result.returncode == 1, result
    assert result.stderr.startswith(f"error: cannot use the data dir or log file ({home}")
    assert "Traceback" not in result.stderr


def test_reset_password_replaces_a_forgotten_one(tmp_path):
    data_dir = tmp_path / "data"
    command = [sys.executable, "-m", "messenger", "--server", "--data-dir", str(data_dir)]
    subprocess.run([*command, "--add-user", "Dora"], input="old-secret\n", capture_output=True,
                   text=True, timeout=DEFAULT_TIMEOUT, cwd=REPO, check=True)
    unknown = subprocess.run([*command, "--reset-password", "dorA2"], input="new-secret\n",
                             capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert unknown.returncode == 1 and "no account named 'dorA2'" in unknown.stderr
    reset = subprocess.run([*command, "--reset-password", "DORA"], input="new-secret\n",
                           capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert reset.returncode == 0 and "new password set for Dora" in reset.stdout, reset.stderr
    with ServerProcess(server_command(data_dir), cwd=REPO) as proc, \
            RawClient(proc.host, proc.port) as client:
        client.hello()
        assert client.login("dora", "old-secret", request_id=1)["code"] == "bad_credentials"
        assert client.login("dora", "new-secret", request_id=2)["type"] == "ok"


def test_sigterm_right_after_listening_stops_the_server_cleanly(tmp_path):
    """A SIGTERM in the moment between "listening on" and the event loop's start was lost
    (quit() with no loop running): the server ran on until killed."""
    proc = ServerProcess(server_command(tmp_path / "data"), cwd=REPO)
    proc.start()  # returns at the "listening on" line: the loop may not be running yet
    assert proc.stop(timeout=10.0) == 0


def run_server_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "messenger", *args], capture_output=True,
                          text=True, timeout=DEFAULT_TIMEOUT, cwd=REPO)


def test_a_log_file_on_the_database_is_refused_before_anything_is_written(tmp_path):
    """`--log-file DATA/messenger.db` appended log lines to the database, and the first
    rotation renamed it away (an operator hunt)."""
    data_dir = tmp_path / "data"
    result = run_server_command("--server", "--port", "0", "--data-dir", str(data_dir),
                                "--log-file", str(data_dir / "messenger.db"))
    assert result.returncode == 2 and "is the database" in result.stderr, result.stderr
    key = run_server_command("--server", "--port", "0", "--data-dir", str(data_dir),
                             "--log-file", str(data_dir / "server.key"))
    assert key.returncode == 2 and "is the TLS key" in key.stderr, key.stderr
    assert not data_dir.exists()


def test_a_host_name_and_an_app_option_are_refused_before_any_file_is_made(tmp_path):
    data_dir = tmp_path / "data"
    named = run_server_command("--server", "--host", "localhost", "--data-dir", str(data_dir))
    assert named.returncode == 2 and "--host needs an IP address" in named.stderr
    app = run_server_command("--server", "--user", "bob", "--data-dir", str(data_dir))
    assert app.returncode == 2 and "--user: an app option" in app.stderr
    assert not data_dir.exists()


def test_sighup_stops_the_server_as_sigterm_does(tmp_path):
    """Closing the terminal or SSH session (SIGHUP) ended the server with status 129: no
    word to its clients, no logout lines, no "server stopped" (an operator hunt)."""
    data_dir = tmp_path / "data"
    with ServerProcess(server_command(data_dir, "--demo"), cwd=REPO) as proc, \
            RawClient(proc.host, proc.port) as client:
        client.hello()
        assert client.login("alice", "alice123", request_id=1)["type"] == "ok"
        proc.proc.send_signal(signal.SIGHUP)
        told = client.recv()
        while told.get("type") != "error":
            told = client.recv()
        assert told["code"] == "server_stopping"
        assert proc.proc.wait(timeout=DEFAULT_TIMEOUT) == 0
    assert "server stopped" in (data_dir / "server.log").read_text()
    # Issue 4: logins and logouts with address and time, apart from the debugging log.
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    lines = (data_dir / "activity.log").read_text().splitlines()
    assert [line.split(" ", 3)[2] for line in lines] == ["login", "logout"], lines
    for line, what in zip(lines, ("login", "logout"), strict=True):
        assert re.fullmatch(rf"{stamp} {what} alice from 127\.0\.0\.1:\d+", line), line


def test_a_server_started_with_sighup_ignored_outlives_the_session(tmp_path):
    """`nohup messenger --server &`: SIGHUP is ignored for it, and must stay so (a review
    of the SIGHUP stop above)."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # (inherited, as nohup does)
    try:
        proc = ServerProcess(server_command(tmp_path / "data", "--demo"), cwd=REPO)
        proc.start()
    finally:
        signal.signal(signal.SIGHUP, previous)
    try:
        # What the kernel will do with a SIGHUP, read rather than waited for: ignore it.
        status = Path(f"/proc/{proc.pid}/status").read_text()
        masks = {line.split(":")[0]: int(line.split()[1], 16)
                 for line in status.splitlines() if line.startswith(("SigIgn", "SigCgt"))}
        bit = 1 << (signal.SIGHUP - 1)
        assert masks["SigIgn"] & bit and not masks["SigCgt"] & bit
    finally:
        proc.stop()


def test_ipv6_any_also_serves_ipv4_clients(tmp_path):
    """`--host ::` listened on IPv6 only: 127.0.0.1 was refused on a dual-stack machine."""
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    command = [sys.executable, "-m", "messenger", "--server", "--host", "::", "--port", "0",
               "--data-dir", str(tmp_path / "data"), "--demo"]
    with ServerProcess(command, cwd=REPO) as proc, RawClient("127.0.0.1", proc.port) as client:
        assert client.hello()["type"] == "hello"


def test_activity_log_and_user_list_give_addresses_an_operator_can_read(tmp_path):
    """With `--host ::` an IPv4 client was "login alice from ::ffff:127.0.0.1:44378" and
    an IPv6 one "login alice from ::1:60560", where address and port cannot be told apart
    ("fd00::2:51234" is a whole address too); the same text is the "from where" of /users
    in every app."""
    import re
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    data = tmp_path / "data"
    command = [sys.executable, "-m", "messenger", "--server", "--host", "::", "--port", "0",
               "--data-dir", str(data), "--demo"]
    addresses = []
    with ServerProcess(command, cwd=REPO) as proc:
        for host in ("127.0.0.1", "::1"):
            with RawClient(host, proc.port) as client:
                client.hello()
                reply = client.login("alice", "alice123", request_id=1)
                assert reply["type"] == "ok", reply
                addresses += [e["address"] for e in reply["roster"] if e.get("address")]
    logins = re.findall(r"login alice from (\S+)", (data / "activity.log").read_text())
    assert len(logins) == 2 and len(addresses) == 2, (logins, addresses)
    for shown in (logins, addresses):
        assert re.fullmatch(r"127\.0\.0\.1:\d+", shown[0]), shown
        assert re.fullmatch(r"\[::1\]:\d+", shown[1]), shown


def test_a_lone_certificate_or_key_is_not_replaced_and_a_loose_key_is_narrowed(tmp_path):
    """A missing server.crt made a new key, a new identity that every pinned app refuses;
    a key restored world-readable stayed so (an operator hunt)."""
    data_dir = tmp_path / "data"
    subprocess.run([*server_command(data_dir), "--add-user", "dora"], input="secret1\n",
                   capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, cwd=REPO,
                   check=True)
    key = data_dir / "server.key"
    key.chmod(0o644)
    with ServerProcess(server_command(data_dir), cwd=REPO):
        assert key.stat().st_mode & 0o777 == 0o600
    kept = key.read_bytes()
    (data_dir / "server.crt").unlink()
    result = subprocess.run(server_command(data_dir), capture_output=True, text=True,
                            timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert result.returncode == 1 and "server.crt is missing" in result.stderr
    assert key.read_bytes() == kept and not (data_dir / "server.crt").exists()


# The real server, with the open-files limit of a typical service (1024, scaled down to
# 128 to keep the test short) and a cheap argon2id (the test logs in many times).
NOFILE_LAUNCH = (
    "import dataclasses, resource, sys; "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[1]))); "
    "sys.argv = ['messenger', *sys.argv[2:]]; "
    "import messenger.server.app as app; original = app.config_from_args; "
    "app.config_from_args = lambda a: dataclasses.replace(original(a), argon2_time_cost=1, "
    "argon2_memory_kib=1024); "
    "from messenger.cli import main; sys.exit(main())"
)


def test_one_account_cannot_lock_everyone_out_with_sessions(tmp_path):
    """(A hunt.) Logins per address are limited before the login (--max-prelogin, 64 handshakes, 16
    hashes at a time), but a logged-in connection counts nowhere: one user (anyone may
    register) logs in again and again from one address and keeps the connections open,
    answering pings. At the process's open-files limit the server can accept no one:
    bob's app times out connecting, for as long as the flood stays."""
    args = [sys.executable, "-c", NOFILE_LAUNCH, "128", "--server", "--host", "127.0.0.1",
            "--port", "0", "--data-dir", str(tmp_path / "data"), "--demo"]
    with ServerProcess(args, cwd=REPO) as proc:
        flood: list[RawClient] = []
        try:
            for _ in range(200):
                try:
                    c = RawClient(proc.host, proc.port, timeout=3)
                except (OSError, RawClientError):
                    break  # the server accepts no more
                flood.append(c)
                try:
                    c.hello()
                    if c.login("alice", "alice123")["type"] != "ok":
                        break  # refused: the server bounds an account's sessions
                except (OSError, RawClientError):
                    break
            # bob, on another computer, opens the app now.
            try:
                with RawClient(proc.host, proc.port, timeout=5) as bob:
                    bob.hello()
                    reply = bob.login("bob", "bob123")
            except (OSError, RawClientError) as exc:
                reply = {"type": f"no connection: {exc!r}"}
            assert reply["type"] == "ok", (
                f"after {len(flood)} sessions of alice, bob cannot log in: {reply}"
                + proc.describe()[-1500:])
        finally:
            for c in flood:
                c.close()


NO_TLS_BACKEND = ("import sys\n"
                  "from PySide6.QtNetwork import QSslSocket\n"
                  # What Qt falls back to when its OpenSSL backend cannot load libssl.so.3:
                  "assert QSslSocket.setActiveBackend('cert-only')\n")


def test_server_without_a_tls_backend_says_so_instead_of_blaming_its_key(tmp_path):
    """Without OpenSSL 3 (a pip install on a machine with OpenSSL 1.1, a build that bundled
    none) Qt falls back to its "cert-only" backend, and the server stopped with "DATA/server.key
    cannot be loaded for TLS; give the server an RSA or EC (ECDSA) key …" about the key it had
    just made: an operator who replaced it broke every app's pin."""
    script = NO_TLS_BACKEND + "from messenger.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    result = subprocess.run(
        [sys.executable, "-c", script, *server_command(tmp_path / "data")[3:]], cwd=REPO,
        capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error, result.stderr
    assert "server.key" not in error[0], error[0]
    assert "TLS unavailable: OpenSSL 3 (libssl.so.3) could not be loaded" in error[0] or \
        not sys.platform.startswith("linux"), error[0]
    assert not (tmp_path / "data" / "server.key").exists()


def test_app_without_a_tls_backend_says_so_when_it_connects(tmp_path):
    """The app said only "Secure connection to HOST:PORT failed: TLS initialization
    failed", which reads as the server's fault."""
    script = NO_TLS_BACKEND + textwrap.dedent("""
        from pathlib import Path
        from PySide6.QtCore import QCoreApplication
        from messenger.client.connection import ClientConnection
        from messenger.client.pins import PinStore

        app = QCoreApplication([])
        conn = ClientConnection(pins=PinStore(Path(sys.argv[1]) / "pins.json"))
        conn.failed.connect(lambda code, message: print(code, message, flush=True))
        conn.connect_to_host("127.0.0.1", 9)
        """)
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=REPO,
                            capture_output=True, text=True, timeout=DEFAULT_TIMEOUT,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("tls Secure connection to 127.0.0.1:9 failed: TLS "
                                    "unavailable"), result.stdout


def test_add_user_of_a_taken_name_says_so_before_asking_for_a_password(tmp_path):
    """`--add-user alice` on a server that has alice asked for a password (twice, on a
    terminal), and only then said "the name 'alice' is taken"; with nothing on stdin it
    said "no password given" instead of why the account could not be made."""
    data_dir = tmp_path / "data"
    subprocess.run(server_command(data_dir, "--add-user", "alice"), input="alice-pw\n",
                   capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, cwd=REPO,
                   check=True)
    again = subprocess.run(server_command(data_dir, "--add-user", "ALICE"), input="",
                           capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert again.returncode == 1, again
    assert "the name 'ALICE' is taken" in again.stderr, again.stderr
    assert "no password given" not in again.stderr


@pytest.mark.parametrize("option", ["--add-user", "--reset-password"])
def test_add_user_while_the_server_runs_says_to_stop_it_not_to_use_another_folder(
        tmp_path, option):
    """With the server running, `--add-user dora` said "stop it first, or give this one
    another --data-dir (or --db)": following the second half made dora in a new, empty
    database that no server serves."""
    data_dir = tmp_path / "data"
    with ServerProcess(server_command(data_dir, "--demo"), cwd=REPO):
        name = "dora" if option == "--add-user" else "alice"
        refused = subprocess.run(server_command(data_dir, option, name),
                                 input="dora-secret\n", capture_output=True, text=True,
                                 timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert refused.returncode == 1, refused
    assert refused.stderr.count("error: ") == 1, refused.stderr
    assert "another --data-dir" not in refused.stderr, refused.stderr
    assert f"stop it, then run {option} again" in refused.stderr, refused.stderr


def test_add_user_and_a_port_in_use_do_not_log_a_server_stopped_that_never_ran(tmp_path):
    """`--add-user` and a start refused because the port was taken wrote "server stopped"
    to server.log (after the refusal, in the second case): read later, the log told of a
    server that had run and stopped, when none had listened (an operator hunt)."""
    import socket

    data_dir = tmp_path / "data"
    created = subprocess.run(server_command(data_dir, "--add-user", "dora"),
                             input="dora-secret\n", capture_output=True, text=True,
                             timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert created.returncode == 0, created.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = run_server_command("--server", "--host", "127.0.0.1", "--port", str(port),
                                     "--data-dir", str(data_dir))
    assert refused.returncode == 1 and "cannot listen on" in refused.stderr, refused.stderr
    log = (data_dir / "server.log").read_text()
    assert "server stopped" not in log, log
    assert "server stopped" not in created.stderr + refused.stderr



def test_an_ipv6_address_is_bracketed_in_the_listening_lines(tmp_path):
    """`--host ::1` printed (and logged) "listening on ::1:40165", which is itself a whole
    IPv6 address: where the address ends and the port begins could not be read (the app
    writes [::1]:40165)."""
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    data_dir = tmp_path / "data"
    command = [sys.executable, "-m", "messenger", "--server", "--host", "::1", "--port", "0",
               "--data-dir", str(data_dir), "--demo"]
    with ServerProcess(command, cwd=REPO) as proc, RawClient(proc.host, proc.port) as client:
        assert proc.stdout[0] == f"listening on [::1]:{proc.port}", proc.stdout
        assert client.hello()["type"] == "hello"
    assert f"listening on [::1]:{proc.port} (TLS on" in (data_dir / "server.log").read_text()


def test_reset_password_on_a_folder_with_no_database_makes_no_new_server(tmp_path):
    """`--reset-password alice --data-dir /srv/mesenger` (a typo, or the default data dir of
    another user) made a whole new server there (database, certificate, logs) and then said
    only "there is no account named 'alice'": the operator, sure alice existed, was not told
    which database had been looked in, and a stray server home was left behind."""
    data_dir = tmp_path / "mesenger"
    result = subprocess.run(server_command(data_dir, "--reset-password", "alice"),
                            input="new-secret\n", capture_output=True, text=True,
                            timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert result.returncode == 1, result
    assert result.stderr.startswith(f"error: there is no database at {data_dir}"), \
        result.stderr
    assert not data_dir.exists()
    made = subprocess.run(server_command(tmp_path / "data", "--add-user", "bob"),
                          input="bob-secret\n", capture_output=True, text=True,
                          timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert made.returncode == 0, made.stderr
    unknown = subprocess.run(server_command(tmp_path / "data", "--reset-password", "alice"),
                             input="new-secret\n", capture_output=True, text=True,
                             timeout=DEFAULT_TIMEOUT, cwd=REPO)
    db = tmp_path / "data" / "messenger.db"
    assert unknown.returncode == 1, unknown
    assert f"there is no account named 'alice' in {db}" in unknown.stderr, unknown.stderr


def _protected_port_command(command: list[str]) -> list[str] | None:
    """``command`` run where port 80 is protected: as it is for a user other than root, and
    for root under ``setpriv`` without CAP_NET_BIND_SERVICE; None where it cannot be."""
    import shutil

    start = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
    if not start.exists() or int(start.read_text()) <= 80:
        return None
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--bounding-set=-net_bind_service", "--inh-caps=-net_bind_service",
            *command]


def test_a_port_that_cannot_be_listened_on_says_what_to_do(tmp_path):
    """`--port 80` as a user said "cannot listen on 127.0.0.1:80: The address is
    protected", `--host 192.0.2.1` (an address of another computer) "The address is not
    available" and a port in use "The bound address is already in use": Qt's words, with
    nothing of why or of what to change."""
    import socket

    data_dir = tmp_path / "data"
    foreign = run_server_command("--server", "--host", "192.0.2.1", "--port", "0",
                                 "--data-dir", str(data_dir))
    assert foreign.returncode == 1, foreign
    assert "--host 192.0.2.1 is not an address of this computer" in foreign.stderr, \
        foreign.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        in_use = run_server_command("--server", "--port", str(port), "--data-dir",
                                    str(data_dir))
    assert in_use.returncode == 1, in_use
    assert f"another program listens on port {port}" in in_use.stderr, in_use.stderr
    assert "--port" in in_use.stderr.partition(f"port {port}")[2], in_use.stderr
    command = _protected_port_command(
        [sys.executable, "-m", "messenger", "--server", "--port", "80", "--data-dir",
         str(data_dir)])
    if command is None:
        pytest.skip("port 80 is not protected here")
    protected = subprocess.run(command, capture_output=True, text=True,
                               timeout=DEFAULT_TIMEOUT, cwd=REPO)
    assert protected.returncode == 1, protected
    assert "ports below 1024 need" in protected.stderr, protected.stderr
