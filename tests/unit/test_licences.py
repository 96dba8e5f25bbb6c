"""The licences: Messenger's own, and the notices of what the PyInstaller build bundles.

dist/messenger (what an operator copies to a lab's machines) carried no licence text for the
Qt 6 and PySide6 libraries it ships (LGPL-3.0, which asks for its text and a notice of the
libraries under it), and the repository had no LICENSE file for the MIT licence that
pyproject.toml names."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _spec_constant(name: str) -> tuple[str, ...]:
    """The tuple assigned to ``name`` in messenger.spec."""
    tree = ast.parse((ROOT / "messenger.spec").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"messenger.spec has no {name}")


def _dependencies() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(line).name for line in project["dependencies"]]


def test_messenger_has_the_mit_licence_pyproject_names():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "Messenger developers" in text
    assert "Permission is hereby granted, free of charge" in text


def test_the_notices_carry_the_lgpl_and_name_every_bundled_dependency():
    text = (ROOT / "THIRD_PARTY_NOTICES").read_text(encoding="utf-8")
    for licence in ("GNU LESSER GENERAL PUBLIC LICENSE", "Version 3, 29 June 2007",
                    "GNU GENERAL PUBLIC LICENSE", "Apache License"):
        assert licence in text, licence
    assert "https://download.qt.io/official_releases/QtForPython/" in text
    for name in [*_dependencies(), "OpenSSL", "Python", "Qt 6"]:
        assert re.search(rf"(?i)\b{re.escape(name)}\b", text), name


def test_the_spec_puts_the_licences_in_the_build():
    files = _spec_constant("LICENCE_FILES")
    assert set(files) == {"LICENSE", "THIRD_PARTY_NOTICES"}
    assert all((ROOT / name).is_file() for name in files)
    packages = {name.lower() for name in _spec_constant("LICENSED_PACKAGES")}
    missing = {name for name in _dependencies() if name.lower() not in packages}
    assert not missing, f"messenger.spec's LICENSED_PACKAGES lacks {missing}"
