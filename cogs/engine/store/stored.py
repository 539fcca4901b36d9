"""What a store keeps of a record, derived from the record's annotations, and how values are checked.

Every store backend uses these, so a field declared on :class:`~cogs.engine.store.models.GuildPrefs`
is whitelisted and checked the same way everywhere, and a field of a type no store can keep fails at
import rather than at the first write.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeGuard, Union, get_args, get_origin, get_type_hints

Shape = Literal["bool", "int", "str", "optional_int", "optional_str", "optional_float", "choice", "ids"]

MAX_INT: Final = 2**63 - 1
"""SQL integers are signed 64-bit (SQLite INTEGER, PostgreSQL BIGINT); Discord ids fit."""


@dataclass(frozen=True, slots=True)
class StoredField:
    """One field of a record as a store sees it: a column (or, for ``ids``, a table of its own)."""

    name: str
    shape: Shape
    choices: tuple[str, ...] = ()
    """The allowed words of a ``choice`` (a ``Literal`` annotation)."""

    def check(self, value: object) -> object:
        """``value`` if a store can keep it in this field (id collections become frozensets); raises otherwise.

        ``TypeError`` for a value of the wrong type, ``ValueError`` for one the type allows but the
        field doesn't (a word not among the choices, an integer beyond 64 bits).
        """
        shape = self.shape
        if value is None and shape in ("optional_int", "optional_str", "optional_float"):
            return None
        if shape == "bool":
            if isinstance(value, bool):
                return value
            expected = "a bool"
        elif shape in ("int", "optional_int"):
            if _is_int(value):
                return self._in_range(value)
            expected = "an int" if shape == "int" else "an int or None"
        elif shape in ("str", "optional_str"):
            if isinstance(value, str):
                return checked_text(self.name, value)
            expected = "a str" if shape == "str" else "a str or None"
        elif shape == "optional_float":
            if isinstance(value, int | float) and not isinstance(value, bool):
                if not math.isfinite(value):
                    raise ValueError(f"{self.name} must be a finite number, not {value!r}")
                return float(value)
            expected = "a number or None"
        elif shape == "choice":
            if isinstance(value, str):
                if value not in self.choices:
                    raise ValueError(f"{self.name} must be one of {sorted(self.choices)}, not {value!r}")
                return value
            expected = "a str"
        else:  # ids
            if isinstance(value, set | frozenset | list | tuple) and all(_is_int(v) for v in value):
                return frozenset(self._in_range(v) for v in value)
            expected = "a set of int ids"
        raise TypeError(f"{self.name} must be {expected}, not {type(value).__name__}: {value!r}")

    def _in_range(self, value: int) -> int:
        if not -MAX_INT - 1 <= value <= MAX_INT:
            raise ValueError(f"{self.name} is out of range for a 64-bit integer: {value}")
        return value


def checked_text(name: str, value: str) -> str:
    """``value``, unless it holds a NUL character, which PostgreSQL's text can't keep (``ValueError``)."""
    if "\x00" in value:
        raise ValueError(f"{name} can't contain a NUL character")
    return value


def stored_fields(record: type, names: Collection[str]) -> dict[str, StoredField]:
    """The fields ``names`` of the dataclass ``record``, in declaration order.

    ``TypeError`` for a field of a type no store keeps.
    """
    hints = get_type_hints(record)
    return {
        field.name: _stored(record, field.name, hints[field.name])
        for field in dataclasses.fields(record)
        if field.name in names
    }


def checked(changes: Mapping[str, object], stored: Mapping[str, StoredField], what: str) -> dict[str, object]:
    """``changes`` checked against the whitelist ``stored`` (``KeyError`` for an unknown name) and its checks."""
    unknown = sorted(set(changes) - set(stored))
    if unknown:
        raise KeyError(f"unknown {what} setting(s): {', '.join(unknown)} (known: {', '.join(sorted(stored))})")
    return {name: stored[name].check(value) for name, value in changes.items()}


def _stored(record: type, name: str, hint: object) -> StoredField:
    origin, args = get_origin(hint), get_args(hint)
    if hint is bool:
        return StoredField(name, "bool")
    if hint is int:
        return StoredField(name, "int")
    if hint is str:
        return StoredField(name, "str")
    if origin is Literal and args and all(isinstance(arg, str) for arg in args):
        return StoredField(name, "choice", tuple(args))
    if origin in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner = args[0] if args[1] is type(None) else args[1]
        if inner is int:
            return StoredField(name, "optional_int")
        if inner is str:
            return StoredField(name, "optional_str")
        if inner is float:
            return StoredField(name, "optional_float")
    if origin is frozenset and args == (int,):
        return StoredField(name, "ids")
    raise TypeError(f"{record.__name__}.{name}: a store can't keep a {hint!r}")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
