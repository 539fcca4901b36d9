"""The server settings admins change with ``/set``, built from the declarations on :class:`GuildPrefs`.

Nothing about a setting is written here: its name, words, kind and default come from its
:func:`~cogs.engine.store.setting_kinds.setting` declaration, in the order of the fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Final

from .models import GUILD_FIELDS, GuildPrefs
from .setting_kinds import Kind, Lookups, OneOf, declaration
from .stored import stored_fields


@dataclass(frozen=True, slots=True)
class Setting:
    """One ``/set`` setting: the declaration on its field, with the field's name and default."""

    name: str
    """What admins type (``/set max-length 120``)."""
    field: str
    """The :class:`GuildPrefs` attribute."""
    help: str
    kind: Kind[object]
    default: object

    def value(self, prefs: GuildPrefs) -> object:
        value: object = getattr(prefs, self.field)
        return value

    def parse(self, raw: str, lookups: Lookups) -> object:
        """The value to store for what the admin typed; :class:`BadValue` says what to type instead."""
        return self.kind.parse(self.name, raw.strip(), lookups)

    def shown(self, prefs: GuildPrefs, lookups: Lookups) -> str:
        """The current value in words, for ``/settings`` and ``/set``'s reply."""
        return self.kind.show(self.value(prefs), lookups)

    def suggestions(self, typed: str, limit: int) -> list[str]:
        """Values to offer while ``typed`` is being typed (voices and roles come from Discord and the catalog)."""
        wanted = typed.casefold()
        return [option for option in self.kind.suggestions(typed) if wanted in option.casefold()][:limit]

    @property
    def documented_default(self) -> str:
        """The default as README.md's "Server settings" table writes it."""
        return self.kind.documented(self.default)


def _declared_settings() -> tuple[Setting, ...]:
    stored = stored_fields(GuildPrefs, GUILD_FIELDS)
    table: list[Setting] = []
    for field in dataclasses.fields(GuildPrefs):
        declared = declaration(field)
        if declared is None:
            continue
        row = Setting(declared.name, field.name, declared.help, declared.kind, field.default)
        problem = _problem(row, stored[field.name].choices)
        if problem:
            raise TypeError(f"GuildPrefs.{field.name}: {problem}")
        table.append(row)
    names = [row.name for row in table]
    if len(set(names)) != len(names):
        raise TypeError(f"two settings have the same /set name: {sorted(names)}")
    return tuple(table)


def _problem(row: Setting, choices: tuple[str, ...]) -> str | None:
    if not row.name or len(row.name) > 100 or row.name != row.name.lower() or " " in row.name:
        return f"{row.name!r} can't be typed as a /set name"
    if not row.help:
        return "a setting needs help words for admins"
    if not row.kind.allows(row.default):
        return f"the default {row.default!r} is not allowed by {row.kind}"
    if isinstance(row.kind, OneOf) and set(row.kind.choices) != set(choices):
        return f"the words {row.kind.choices} are not those of the annotation {choices}"
    return None


SETTINGS: Final[tuple[Setting, ...]] = _declared_settings()
"""Every ``/set`` setting, in the order ``/set`` lists them and ``/settings`` shows them."""
BY_NAME: Final = {setting.name: setting for setting in SETTINGS}
