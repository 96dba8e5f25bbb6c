"""Every Qt Designer file in ui/ is compiled, and the committed module is current.

Regenerate after editing a .ui file:
``.venv/bin/pyside6-uic ui/<name>.ui -o messenger/gui/ui_<name>.py``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
UI_FILES = sorted((ROOT / "ui").glob("*.ui"))


def _uic() -> str:
    beside = Path(sys.executable).with_name("pyside6-uic")
    found = str(beside) if beside.exists() else shutil.which("pyside6-uic")
    if found is None:
        pytest.fail("pyside6-uic not found (it comes with PySide6)")
    return found


def test_there_are_ui_files():
    assert "group_dialog.ui" in [p.name for p in UI_FILES]


@pytest.mark.parametrize("ui_file", UI_FILES, ids=lambda p: p.name)
def test_compiled_module_is_current(ui_file: Path):
    module = ROOT / "messenger" / "gui" / f"ui_{ui_file.stem}.py"
    assert module.exists(), f"{module.relative_to(ROOT)} is missing: run pyside6-uic"
    fresh = subprocess.run([_uic(), str(ui_file)], check=True, capture_output=True,
                           text=True, cwd=ROOT).stdout
    assert fresh == module.read_text(encoding="utf-8"), (
        f"{module.relative_to(ROOT)} is stale: run "
        f"pyside6-uic {ui_file.relative_to(ROOT)} -o {module.relative_to(ROOT)}")


def test_compiled_resources_are_current():
    """``resources/messenger.qrc`` (icons) is compiled to ``messenger/gui/resources_rc.py``.

    RCC format 1: formats 2 and 3 embed each file's modification time, which differs in every
    clone, so the compiled module could never be compared (this failed CI once).
    """
    rcc = Path(_uic()).with_name("pyside6-rcc")
    module = ROOT / "messenger" / "gui" / "resources_rc.py"
    fresh = subprocess.run([str(rcc), "--format-version", "1", "resources/messenger.qrc"],
                           check=True, capture_output=True, text=True, cwd=ROOT).stdout
    assert fresh == module.read_text(encoding="utf-8"), (
        "messenger/gui/resources_rc.py is stale: run make ui")


@pytest.mark.parametrize("python_version", ["3.11", "3.12", "3.13"])
def test_every_supported_python_gets_the_pyside6_the_modules_were_compiled_with(
        python_version: str):
    """``make test`` on a fresh clone with python3 3.12 or 3.13 (Ubuntu 24.04, Debian 13)
    installed PySide6-Essentials 6.12.0 (the pin ``<6.12`` held only below Python 3.12): its
    pyside6-uic/rcc write "version 6.12.0" in the header, and the two tests above failed.
    Every Python that pyproject.toml accepts must get the PySide6 minor release that the
    committed modules were compiled with."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert Requirement(f"x{project['requires-python']}").specifier.contains(python_version)
    header = (ROOT / "messenger" / "gui" / "ui_group_dialog.py").read_text(encoding="utf-8")
    major, minor = map(int, re.search(r"Compiler version (\d+)\.(\d+)", header).groups())
    markers = {"python_version": python_version, "python_full_version": f"{python_version}.0"}
    applying = [req for req in map(Requirement, project["dependencies"])
                if req.name.lower() == "pyside6-essentials"
                and (req.marker is None or req.marker.evaluate(markers))]
    assert applying, f"no PySide6-Essentials requirement for Python {python_version}"
    for req in applying:
        assert not req.specifier.contains(f"{major}.{minor + 1}.0"), (
            f"on Python {python_version}, {req} admits PySide6 {major}.{minor + 1}, but the "
            f"committed modules come from {major}.{minor}")


def test_icons_load(qapp):
    from PySide6.QtGui import QIcon

    import messenger.gui.resources_rc  # noqa: F401 - registers the resources

    for name in ("messenger", "video", "file", "group"):
        icon = QIcon(f":/icons/{name}.svg")
        assert not icon.isNull() and not icon.pixmap(32, 32).isNull(), name
