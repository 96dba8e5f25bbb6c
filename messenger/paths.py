"""Where Messenger keeps its files: per-user data, config and log folders (platformdirs).

Setting ``MESSENGER_HOME`` puts all three under that folder (``data/``, ``config/``, ``logs/``),
which tests and portable installs use.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from . import APP_NAME


def _home() -> Path | None:
    home = os.environ.get("MESSENGER_HOME")
    return Path(home) if home else None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Per-user data folder (server database, client caches), created if missing."""
    home = _home()
    return _ensure(home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME)))


def pasted_dir() -> Path:
    """Where images pasted into a conversation are saved as PNG files before they are sent
    (they must outlive the app for a transfer to resume), created if missing."""
    return _ensure(data_dir() / "pasted")


def config_dir() -> Path:
    """Per-user config folder (settings, pinned server certificates), created if missing."""
    home = _home()
    return _ensure(home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME)))


def log_dir() -> Path:
    """Per-user log folder, created if missing."""
    home = _home()
    return _ensure(home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME)))
