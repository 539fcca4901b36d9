"""The one place the preferences store is chosen: ``storage.url`` unset is SQLite, ``postgresql://…`` PostgreSQL."""

from __future__ import annotations

from ..config import StorageSettings
from .models import PreferencesStore
from .postgres import PostgresPreferences
from .sqlite import SqlitePreferences


def build_store(storage: StorageSettings) -> PreferencesStore:
    """The store ``storage`` names, not yet opened (``open()`` connects, migrates, and fails in one line).

    ``storage.url`` was checked when the settings were loaded: unset, or a ``postgresql://`` URL.
    """
    if storage.url is None:
        return SqlitePreferences(storage.sqlite_path)
    return PostgresPreferences(storage.url.get_secret_value())
