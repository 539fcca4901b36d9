"""How a server setting is declared, typed by admins in ``/set`` and shown in ``/settings``.

A setting is declared once, on its :class:`~cogs.engine.store.models.GuildPrefs` field::

    max_length: int = setting(300, name="max-length", help="characters read from one message",
                              kind=WholeNumber(20, 2000))

The attribute's annotation is what the store keeps (and checks); ``name`` and ``help`` are what admins
see; the :class:`Kind` says how a typed value is read, which values are allowed, what ``/set`` suggests
and how a value is shown. :mod:`cogs.engine.store.setting_table` builds ``/set`` and ``/settings`` from
these declarations, and a test keeps README.md's table in step with them.

To add a setting: declare the field where admins should see it (the field order is the order of
``/set`` and ``/settings``), append a store migration adding its column with the same default, and add
its row to README.md's "Server settings" table; tests fail until the last two are done. Kinds:
:class:`OnOff`, :class:`WholeNumber`, :class:`OneOf`, :class:`Prefix`, :class:`VoiceOrDefault`,
:class:`RoleOrEveryone`, :class:`RateOrDefault`; a new kind subclasses :class:`Kind`.
"""

# ruff: noqa: ARG002 (every kind implements the whole Kind interface; few need all of its arguments)

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Generic, Protocol, TypeVar

from ..asyncflow.model_ids import speed_allowed
from ..words import SPEED_OUT_OF_RANGE

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
S = TypeVar("S", bound=str)

ON_WORDS: Final = frozenset({"on", "yes", "true", "enable", "enabled", "1"})
OFF_WORDS: Final = frozenset({"off", "no", "false", "disable", "disabled", "0"})
CLEAR_WORDS: Final = frozenset({"none", "default", "off", "clear", "reset", ""})

DECLARATION: Final = "tts.setting"
"""The key of a setting's :class:`Declaration` in its dataclass field's ``metadata``."""


class BadValue(ValueError):
    """``str(error)`` tells the admin what to type instead."""


class Lookups(Protocol):
    """What showing or reading a value may need to know about the server; answers without waiting."""

    def role_id(self, typed: str) -> int | None:
        """The role typed as a mention, an id or a name; None when there is no such role."""

    def role_shown(self, role_id: int) -> str | None:
        """How to show the role (a mention); None when it no longer exists."""

    def voice_shown(self, voice_id: str) -> str | None:
        """The voice's name; None when it isn't known (yet)."""


class Kind(ABC, Generic[T_co]):
    """The kind of value a setting holds, as seen by admins. ``T_co`` is the stored Python type."""

    @abstractmethod
    def parse(self, name: str, text: str, lookups: Lookups) -> T_co:
        """The value for what the admin typed (stripped); :class:`BadValue` if it isn't one."""

    @abstractmethod
    def show(self, value: object, lookups: Lookups) -> str:
        """The value in words, for ``/settings`` and ``/set``'s reply."""

    def documented(self, value: object) -> str:
        """The value as README.md's table writes it (used for defaults)."""
        return f"`{value}`"

    def suggestions(self, typed: str) -> list[str]:
        """What ``/set`` offers while the value is typed (values that need Discord or the voice list: none)."""
        return []

    def allows(self, value: object) -> bool:
        """Whether ``value`` is in the allowed range or choices (checked for declared defaults)."""
        return True


@dataclass(frozen=True, slots=True)
class OnOff(Kind[bool]):
    def parse(self, name: str, text: str, lookups: Lookups) -> bool:
        lowered = text.casefold()
        if lowered in ON_WORDS:
            return True
        if lowered in OFF_WORDS:
            return False
        raise BadValue(f"`{name}` is on or off — type `on` or `off`.")

    def show(self, value: object, lookups: Lookups) -> str:
        return "on" if value else "off"

    def documented(self, value: object) -> str:
        return "on" if value else "off"

    def suggestions(self, typed: str) -> list[str]:
        return ["on", "off"]

    def allows(self, value: object) -> bool:
        return isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class WholeNumber(Kind[int]):
    minimum: int
    maximum: int

    def parse(self, name: str, text: str, lookups: Lookups) -> int:
        try:
            number = int(text)
        except ValueError:
            raise BadValue(f"`{name}` needs a whole number from {self.minimum} to {self.maximum}.") from None
        if not self.allows(number):
            raise BadValue(f"`{name}` must be from {self.minimum} to {self.maximum}.")
        return number

    def show(self, value: object, lookups: Lookups) -> str:
        return str(value)

    def documented(self, value: object) -> str:
        return str(value)

    def suggestions(self, typed: str) -> list[str]:
        return [typed] if typed.strip().isdigit() else [str(self.minimum), str(self.maximum)]

    def allows(self, value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.minimum <= value <= self.maximum


@dataclass(frozen=True, slots=True)
class OneOf(Kind[S]):
    """One of a few words, each with what it does: ``OneOf({"name": "read emoji by name", ...})``.

    The words must be exactly those of the field's ``Literal`` annotation: the type checker refuses
    others, and building the table refuses a missing one.
    """

    meanings: Mapping[S, str]

    @property
    def choices(self) -> tuple[S, ...]:
        return tuple(self.meanings)

    def parse(self, name: str, text: str, lookups: Lookups) -> S:
        lowered = text.casefold()
        for choice in self.meanings:
            if choice == lowered:
                return choice
        options = [f"`{choice}` ({meaning})" for choice, meaning in self.meanings.items()]
        listed = options[0] if len(options) == 1 else f"{', '.join(options[:-1])} or {options[-1]}"
        raise BadValue(f"`{name}` is {listed}.")

    def show(self, value: object, lookups: Lookups) -> str:
        return str(value)

    def suggestions(self, typed: str) -> list[str]:
        return list(self.meanings)

    def allows(self, value: object) -> bool:
        return value in self.meanings


@dataclass(frozen=True, slots=True)
class Prefix(Kind[str]):
    """A few characters with no spaces that messages may start with; ``none`` (stored as '') for no prefix."""

    max_length: int = 10
    examples: tuple[str, ...] = ("!", "-", ";")

    def parse(self, name: str, text: str, lookups: Lookups) -> str:
        if text.casefold() in {"none", "off", ""}:
            return ""
        if len(text) > self.max_length or any(ch.isspace() for ch in text):
            what = name.replace("-", " ")
            raise BadValue(f"The {what} is a few characters with no spaces, like `!` or `--`.")
        return text

    def show(self, value: object, lookups: Lookups) -> str:
        return f"`{value}`" if value else "none (everything is read)"

    def documented(self, value: object) -> str:
        return f"`{value}`" if value else "none"

    def suggestions(self, typed: str) -> list[str]:
        return [*self.examples, "none"]

    def allows(self, value: object) -> bool:
        return isinstance(value, str) and len(value) <= self.max_length and not any(ch.isspace() for ch in value)


@dataclass(frozen=True, slots=True)
class VoiceOrDefault(Kind[str | None]):
    """An AsyncFlow voice id; None (typed ``default``) for the voice in the bot's config.

    Whether the voice exists is checked by ``/set`` against the voice catalog, which may have to be fetched.
    """

    def parse(self, name: str, text: str, lookups: Lookups) -> str | None:
        return None if text.casefold() in CLEAR_WORDS else text

    def show(self, value: object, lookups: Lookups) -> str:
        if isinstance(value, str) and value:
            return lookups.voice_shown(value) or value
        return "the bot's default voice"

    def documented(self, value: object) -> str:
        return "the bot's `asyncflow.voice_id`" if value is None else f"`{value}`"


@dataclass(frozen=True, slots=True)
class RoleOrEveryone(Kind[int | None]):
    """A role of the server, typed as a mention, an id or a name; None (typed ``none``) for everyone."""

    def parse(self, name: str, text: str, lookups: Lookups) -> int | None:
        if text.casefold() in CLEAR_WORDS:
            return None
        role_id = lookups.role_id(text)
        if role_id is None:
            raise BadValue(f"There is no role called {text!r} here.")
        return role_id

    def show(self, value: object, lookups: Lookups) -> str:
        if isinstance(value, int):
            return lookups.role_shown(value) or "a deleted role"
        return "everyone"

    def documented(self, value: object) -> str:
        return "none" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class RateOrDefault(Kind[float | None]):
    """A speaking rate in AsyncFlow's ``speed_control`` range (``1.25``, ``1,25`` or ``125%``); None (typed
    ``default``) for AsyncFlow's normal speed. The range is AsyncFlow's, declared in ``asyncflow/models.py``."""

    def parse(self, name: str, text: str, lookups: Lookups) -> float | None:
        if text.casefold() in CLEAR_WORDS | {"normal"}:
            return None
        typed = text.replace(",", ".").removesuffix("%").strip()
        try:
            rate = float(typed) / (100 if text.endswith("%") else 1)
        except ValueError:
            raise BadValue(f"`{name}` is a number like `1.25` — {SPEED_OUT_OF_RANGE}") from None
        if not speed_allowed(rate):
            raise BadValue(SPEED_OUT_OF_RANGE)
        return round(rate, 2)

    def show(self, value: object, lookups: Lookups) -> str:
        return f"{value:g}×" if isinstance(value, float) else "normal speed"

    def documented(self, value: object) -> str:
        return "none (normal speed)" if value is None else f"{value:g}"

    def suggestions(self, typed: str) -> list[str]:
        return ["default", "0.8", "1.25", "1.5", "2"]

    def allows(self, value: object) -> bool:
        return value is None or (isinstance(value, float) and speed_allowed(value))


@dataclass(frozen=True, slots=True)
class Declaration:
    """What :func:`setting` records on a field: the ``/set`` name, the words for admins, the kind."""

    name: str
    help: str
    kind: Kind[object]


def setting(default: T, *, name: str, help: str, kind: Kind[T]) -> T:
    """Declare a ``GuildPrefs`` field as a server setting admins change with ``/set name value``.

    ``help`` is shown in ``/set``'s list and in ``/settings``. The type checker ties ``kind`` to the
    field's type (a ``WholeNumber`` on a ``str`` field is an error).
    """
    declared = Declaration(name=name, help=help, kind=kind)
    result: T = dataclasses.field(default=default, metadata={DECLARATION: declared})
    return result


def declaration(field: dataclasses.Field[object]) -> Declaration | None:
    """The field's declaration, or None for a field that is stored but not a ``/set`` setting."""
    declared = field.metadata.get(DECLARATION)
    return declared if isinstance(declared, Declaration) else None
