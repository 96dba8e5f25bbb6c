"""The Preferences dialog's decisions (no widgets): folder checks, MB/GB conversion, the names
offered for auto-accept; its model under qtmodeltester; the settings round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QSortFilterProxyModel, Qt

from messenger.client.models import CheckableProxyModel
from messenger.client.transfers import DEFAULT_SIZE_LIMIT, TransferPrefs
from messenger.gui.preferences import (
    MAX_SIZE_LIMIT,
    MIN_SIZE_LIMIT,
    ContactChoiceModel,
    auto_accept_summary,
    contact_choices,
    folder_problem,
    join_size,
    parse_folder,
    size_in_unit,
    size_limit_problem,
    size_range,
    split_size,
)
from messenger.gui.settings import load_transfer_prefs, save_transfer_prefs

GB, MB = 1024 ** 3, 1024 ** 2


# -- sizes


def test_the_default_limit_shows_as_4_gb():
    assert split_size(DEFAULT_SIZE_LIMIT) == (4.0, "GB")
    assert join_size(4, "GB") == DEFAULT_SIZE_LIMIT


@pytest.mark.parametrize(("size", "shown"), [
    (GB, (1.0, "GB")),
    (int(1.5 * GB), (1.5, "GB")),
    (GB - MB, (1023.0, "MB")),
    (500 * MB, (500.0, "MB")),
    (MB, (1.0, "MB")),
    (1, (1.0, "MB")),  # below the minimum: shown at the minimum
    (5000 * GB, (1024.0, "GB")),  # above the maximum: shown at the maximum
])
def test_split_size(size, shown):
    assert split_size(size) == shown


@pytest.mark.parametrize(("value", "unit", "size"), [
    (1.5, "GB", 1610612736), (0.25, "GB", 256 * MB), (700, "MB", 700 * MB), (1, "MB", MB),
])
def test_join_size(value, unit, size):
    assert join_size(value, unit) == size


def test_units_convert_both_ways():
    assert size_in_unit(4 * GB, "MB") == 4096
    assert size_in_unit(1536 * MB, "GB") == 1.5
    assert size_in_unit(100 * MB, "GB") == 0.1  # shown rounded to the hundredth
    for size in (MB, 700 * MB, 3 * GB, int(2.75 * GB)):
        value, unit = split_size(size)
        assert join_size(value, unit) == size


def test_size_ranges_cover_1_mb_to_1024_gb():
    assert size_range("MB") == (1, 1024 * 1024)
    assert size_range("GB") == (0.01, 1024)  # 1 MB is 0.001 GB: not showable with 2 decimals


def test_size_limit_problem():
    assert size_limit_problem(MIN_SIZE_LIMIT) is None
    assert size_limit_problem(DEFAULT_SIZE_LIMIT) is None
    assert size_limit_problem(MAX_SIZE_LIMIT) is None
    assert "at least 1 MB" in size_limit_problem(MIN_SIZE_LIMIT - 1)
    assert "at most 1024 GB" in size_limit_problem(MAX_SIZE_LIMIT + 1)


# -- folders


def test_existing_writable_folder_is_fine(tmp_path):
    assert folder_problem(str(tmp_path)) is None
    assert folder_problem(f"  {tmp_path}  ") is None


def test_missing_folder_is_fine_when_it_can_be_created(tmp_path):
    assert folder_problem(str(tmp_path / "a" / "b" / "c")) is None
    assert not (tmp_path / "a").exists()  # checking creates nothing


def test_empty_and_relative_folders_are_refused():
    assert folder_problem("") == "Choose a download folder."
    assert folder_problem("   ") == "Choose a download folder."
    assert "full path" in folder_problem("Downloads")


def test_a_file_is_not_a_folder(tmp_path):
    file = tmp_path / "notes.txt"
    file.write_text("x")
    assert folder_problem(str(file)) == f"“{file}” is a file, not a folder."
    assert folder_problem(str(file / "sub" / "dir")) == (
        f"“{file / 'sub' / 'dir'}” cannot be created: “{file}” is a file.")


def test_unwritable_folders_are_refused(tmp_path, monkeypatch):
    # Root may write anywhere, so the permission check is simulated.
    locked = tmp_path / "locked"
    locked.mkdir()
    import messenger.gui.preferences as prefs_module

    monkeypatch.setattr(prefs_module.os, "access", lambda path, mode: Path(path) != locked)
    assert folder_problem(str(locked)) == f"You cannot save files in “{locked}” (no permission)."
    assert folder_problem(str(locked / "new")) == (
        f"“{locked / 'new'}” does not exist and cannot be created (no permission in “{locked}”).")
    assert folder_problem(str(tmp_path / "other")) is None


def test_parse_folder_expands_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parse_folder(" ~/Downloads ") == tmp_path / "Downloads"
    assert folder_problem("~/Downloads") is None


# -- contacts


def test_contact_choices_keep_chosen_names_that_are_not_contacts():
    assert contact_choices(["charlie", "Bob"], ["bob", "dave"]) == ["Bob", "charlie", "dave"]
    assert contact_choices([], []) == []
    assert contact_choices(["", "amy"], [""]) == ["amy"]


def test_auto_accept_summary():
    assert auto_accept_summary([]) == "Nobody: every file asks first."
    assert auto_accept_summary(["bob", "charlie"]) == (
        "Accepted without asking from: bob, charlie.")


def test_contact_choice_model(qtmodeltester):
    model = ContactChoiceModel(["charlie", "bob"], ["dave"])
    qtmodeltester.check(model, force_py=True)
    assert model.names() == ["bob", "charlie", "dave"]
    index = model.index(2, 0)
    assert index.data(ContactChoiceModel.NameRole) == "dave"
    assert index.data(ContactChoiceModel.KnownRole) is False
    assert index.data(Qt.ItemDataRole.ToolTipRole) == "dave (not among your contacts now)"
    assert model.index(0, 0).data(ContactChoiceModel.KnownRole) is True
    assert model.roleNames()[ContactChoiceModel.NameRole] == b"name"


def test_empty_contact_choice_model(qtmodeltester):
    qtmodeltester.check(ContactChoiceModel([]), force_py=True)


def test_the_dialogs_check_and_filter_chain(qtmodeltester):
    """The dialog's view model: check marks and a filter over a ContactChoiceModel."""
    view_model = QSortFilterProxyModel()
    choices = ContactChoiceModel(["charlie", "bob", "amy"], ["dave"], view_model)
    checks = CheckableProxyModel(choices, ContactChoiceModel.NameRole, view_model)
    view_model.setSourceModel(checks)
    view_model.setFilterRole(ContactChoiceModel.NameRole)
    view_model.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    checks.set_checked(["DAVE"])
    qtmodeltester.check(view_model, force_py=True)
    view_model.setFilterFixedString("A")
    assert [view_model.index(r, 0).data() for r in range(view_model.rowCount())] == [
        "amy", "charlie", "dave"]
    assert view_model.setData(view_model.index(0, 0), Qt.CheckState.Checked,
                              Qt.ItemDataRole.CheckStateRole)
    assert checks.checked() == ["amy", "dave"]


# -- settings


def test_transfer_prefs_round_trip_through_the_settings_file(qapp, tmp_path):
    settings = QSettings(str(tmp_path / "messenger.ini"), QSettings.Format.IniFormat)
    for auto in (frozenset(), frozenset({"bob"}), frozenset({"bob", "charlie"})):
        prefs = TransferPrefs(size_limit=int(1.5 * GB), auto_accept=auto,
                              download_dir=tmp_path / "in")
        save_transfer_prefs(prefs, settings)
        again = QSettings(str(tmp_path / "messenger.ini"), QSettings.Format.IniFormat)
        assert load_transfer_prefs(again) == prefs


def test_missing_transfer_settings_give_the_defaults(qapp, tmp_path):
    settings = QSettings(str(tmp_path / "empty.ini"), QSettings.Format.IniFormat)
    assert load_transfer_prefs(settings) == TransferPrefs()
