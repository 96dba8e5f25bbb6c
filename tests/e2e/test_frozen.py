"""The PyInstaller build (``make dist``): its one binary runs the server and the app.

Skipped unless ``dist/messenger/messenger`` exists. The frozen server is started on a free port
with a temp data dir and ``--demo``; a stdlib client logs in as alice over TLS.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.rawclient import DEFAULT_TIMEOUT, RawClient, ServerProcess

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "dist" / "messenger"
BINARY = DIST / ("messenger.exe" if sys.platform == "win32" else "messenger")

pytestmark = [
    pytest.mark.frozen,
    pytest.mark.skipif(not BINARY.exists(), reason=f"no frozen build at {BINARY} (make dist)"),
]


@pytest.fixture
def frozen_server(tmp_path):
    command = [BINARY, "--server", "--host", "127.0.0.1", "--port", "0",
               "--data-dir", tmp_path / "data", "--demo"]
    with ServerProcess(command, cwd=tmp_path) as proc:
        yield proc


def test_frozen_server_lets_alice_log_in(frozen_server):
    with RawClient(frozen_server.host, frozen_server.port) as client:
        hello = client.hello()
        assert hello["type"] == "hello", hello
        assert hello["protocol_version"] == 1
        reply = client.login("alice", "alice123", request_id=1)
    assert reply["type"] == "ok", reply
    assert reply["id"] == 1
    assert reply["user"] == "alice"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/maps")
def test_frozen_server_maps_no_gui_libraries(frozen_server):
    loaded = sorted(name for name in frozen_server.mapped_libraries()
                    if name.startswith(("libQt6Gui", "libQt6Widgets")))
    assert not loaded, f"the frozen server mapped GUI libraries: {loaded}"


def test_frozen_binary_prints_its_version():
    result = subprocess.run([BINARY, "--version"], capture_output=True, text=True,
                            timeout=DEFAULT_TIMEOUT, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("messenger "), result.stdout


@pytest.mark.parametrize("plugin", [
    "tls/libqopensslbackend.so",
    "platforms/libqxcb.so",
    "platforms/libqwayland.so",
    "platforms/libqoffscreen.so",
])
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux plugin file names")
def test_frozen_build_ships_qt_plugins(plugin):
    """The TLS backend (for the server and the client) and the platform plugins (for the app)
    are loaded at run time, so PyInstaller cannot see them: the spec collects them."""
    found = [path for path in DIST.rglob(Path(plugin).name)
             if path.parent.name == Path(plugin).parent.name]
    assert found, f"{plugin} is missing from {DIST}"


def test_frozen_build_bundles_the_lazily_imported_modules():
    """``messenger.cli`` imports the server and the app lazily, so PyInstaller sees them only
    through the spec's hidden imports; its module graph (build/messenger/xref-messenger.html,
    written next to the build) must list each as found, not as a MissingModule."""
    xref = REPO / "build" / "messenger" / "xref-messenger.html"
    if not xref.exists():
        pytest.skip(f"no {xref} (build directory removed after make dist)")
    text = xref.read_text(errors="replace")
    problems = []
    for module in ("messenger.server.app", "messenger.server.net", "messenger.gui.app",
                   "argon2", "_argon2_cffi_bindings", "_cffi_backend", "msgspec._core",
                   "PySide6.QtNetwork", "PySide6.QtWidgets", "messenger.transfer.engine",
                   "messenger.gui.preferences", "messenger.gui.resources_rc", "qh3",
                   "qh3._hazmat"):
        match = re.search(rf'<a name="{re.escape(module)}"></a>.*?class="moduletype">([^<]*)',
                          text, re.S)
        if match is None:
            problems.append(f"{module}: not in the module graph")
        elif match[1] in ("MissingModule", "ExcludedModule", "BadModule"):
            problems.append(f"{module}: {match[1]}")
    assert not problems, problems


def test_frozen_build_carries_the_licences_of_what_it_bundles():
    """The build shipped Qt 6 and PySide6 (LGPL-3.0) with no licence text nor notice, and no
    MIT notice for Messenger itself."""
    for folder in (DIST, DIST / "_internal"):
        assert "Permission is hereby granted, free of charge" in \
            (folder / "LICENSE").read_text(encoding="utf-8")
        assert "GNU LESSER GENERAL PUBLIC LICENSE" in \
            (folder / "THIRD_PARTY_NOTICES").read_text(encoding="utf-8")
    for package in ("msgspec", "platformdirs", "qh3", "argon2_cffi"):
        found = list((DIST / "_internal").glob(f"{package}-*.dist-info/**/LICENSE*"))
        assert found, f"no licence file of {package} in the build"
