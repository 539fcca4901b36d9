"""What is wrong with a configuration, in lines an admin can act on.

Each problem is one line naming the key, the bad value (never a secret's), what is allowed (derived from the
pydantic ``Field`` constraints, so it cannot drift from them) and where the value came from: the config file or
the environment variable that won over it. Unknown keys and near-miss environment variables get a
"did you mean".
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo

MOVED_KEYS = {"speech.bitrate_kbps": "[opus] bitrate_kbps (env OPUS_BITRATE_KBPS)"}
"""Keys an earlier release had, and where they are now."""

SUGGESTION_CUTOFF = 0.8
"""How alike (difflib's ratio) a misspelling and a real name must be for "did you mean"."""

_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})
_LONGEST_VALUE_SHOWN = 60


def sections(settings_cls: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """The settings' sections by name (``discord``, ``asyncflow``...) and the model of each."""
    found: dict[str, type[BaseModel]] = {}
    for name, field in settings_cls.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found[name] = field.annotation
    return found


def env_name(section: str, key: str) -> str:
    """The environment variable that sets ``section.key``: ``SECTION_KEY`` in capitals."""
    return f"{section}_{key}".upper()


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The one candidate close enough to ``name`` to be what was meant, if any; else the one it begins
    (``model`` → ``model_id``, too short for difflib's ratio)."""
    names = list(candidates)
    matches = difflib.get_close_matches(name, names, n=1, cutoff=SUGGESTION_CUTOFF)
    if matches:
        return matches[0]
    longer = [candidate for candidate in names if candidate.lower().startswith(f"{name.lower()}_")]
    return longer[0] if len(longer) == 1 else None


# -- allowed values, from the Field constraints --------------------------------------------------------------------


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _without_none(annotation: Any) -> list[Any]:
    return [arg for arg in (get_args(annotation) or (annotation,)) if arg is not type(None)]


def allowed(field: FieldInfo) -> str | None:
    """What ``field`` accepts, as the admin writes it (``0–10``, ``"file" or "stream"``); None if not a range."""
    annotation = field.annotation
    if get_origin(annotation) is not Literal:
        options = _without_none(annotation)
        annotation = options[0] if len(options) == 1 else annotation
    if get_origin(annotation) is Literal:
        choices = [json.dumps(choice) for choice in get_args(annotation)]
        return " or ".join(choices) if len(choices) < 3 else f"{', '.join(choices[:-1])} or {choices[-1]}"
    if annotation is bool:
        return "true or false"
    low = high = None
    above = False
    for constraint in field.metadata:
        if isinstance(constraint, annotated_types.Ge):
            low = _number(constraint.ge)
        elif isinstance(constraint, annotated_types.Gt):
            low, above = _number(constraint.gt), True
        elif isinstance(constraint, annotated_types.Le):
            high = _number(constraint.le)
    if low is not None and high is not None:
        return f"above {low}, up to {high}" if above else f"{low}–{high}"
    if low is not None:
        return f"above {low}" if above else f"{low} or more"
    return f"up to {high}" if high is not None else None


# -- where a value came from ---------------------------------------------------------------------------------------


class Origins:
    """Which source set each key: an environment variable (which wins), the config file, or neither."""

    def __init__(self, environ: Mapping[str, str], file: Path | None, file_values: Mapping[str, Any]) -> None:
        self._env = {name.upper(): name for name in environ}  # pydantic-settings matches names in any case
        self._file = file
        self._file_values = file_values

    def _in_file(self, section: str, key: str | None) -> bool:
        table = self._file_values.get(section)
        return isinstance(table, dict) and (key is None or key in table)

    def of(self, section: str, key: str) -> str:
        variable = self._env.get(env_name(section, key))
        if variable is not None:
            return f"env {variable}"
        return str(self._file) if self._file is not None and self._in_file(section, key) else "the default"

    def of_section(self, section: str, keys: Iterable[str]) -> str:
        """Where a section's values came from, for a problem with the section as a whole."""
        origins = [f"env {self._env[env_name(section, key)]}" for key in keys if env_name(section, key) in self._env]
        if self._file is not None and self._in_file(section, None):
            origins.append(str(self._file))
        return " and ".join(origins) or "the defaults"

    def file(self) -> str:
        return str(self._file)


# -- one line per problem ------------------------------------------------------------------------------------------


def describe_validation_error(
    error: ValidationError, settings_cls: type[BaseModel], origins: Origins, file_values: Mapping[str, Any]
) -> list[str]:
    """Every problem pydantic found, one line each."""
    models = sections(settings_cls)
    problems: list[str] = []
    for item in error.errors(include_url=False):
        loc = [str(part) for part in item["loc"]]
        if item["type"] == "extra_forbidden":
            problems.append(_unknown(loc, models, file_values, origins))
            continue
        model = models.get(loc[0])
        if model is None or len(loc) < 2 or loc[1] not in model.model_fields:
            where = origins.of_section(loc[0], model.model_fields if model else ())
            problems.append(f"config: [{loc[0]}]: {_reason(item)} [set by {where}]")
            continue
        section, key = loc[0], loc[1]
        field = model.model_fields[key]
        source = origins.of(section, key)
        shown = _shown(item.get("input"), field, from_env=source.startswith("env "))
        ranges = allowed(field)
        limits = f" (allowed: {ranges})" if ranges and item["type"] not in ("value_error", "assertion_error") else ""
        problems.append(f"config: {section}.{key} = {shown}: {_reason(item)}{limits} [set by {source}]")
    return problems


def _reason(item: Any) -> str:
    kind = item["type"]
    if kind in _RANGE_ERRORS:
        return "out of range"
    if kind == "literal_error":
        return "not one of the choices"
    message = str(item["msg"])
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _is_secret(field: FieldInfo) -> bool:
    return SecretStr in _without_none(field.annotation)


def _shown(value: Any, field: FieldInfo, *, from_env: bool) -> str:
    """The bad value as the admin wrote it; a secret's value is never shown."""
    if _is_secret(field):
        return "(hidden)"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str) and from_env and value.strip() and not re.search(r"\s", value):
        text = value
    elif isinstance(value, str | int | float | list | dict):
        text = json.dumps(value, default=str)
    else:
        text = str(value)
    return text if len(text) <= _LONGEST_VALUE_SHOWN else text[: _LONGEST_VALUE_SHOWN - 1] + "…"


def _unknown(
    loc: list[str], models: Mapping[str, type[BaseModel]], file_values: Mapping[str, Any], origins: Origins
) -> str:
    """An unknown key or section (only the file can set one: unknown environment variables are left alone)."""
    where = f"[set by {origins.file()}]"
    if len(loc) >= 2 and loc[0] in models:
        section, key = loc[0], loc[1]
        moved = MOVED_KEYS.get(f"{section}.{key}")
        if moved:
            return f"config: {section}.{key}: moved to {moved} {where}"
        hint = _key_hint(key, section, models)
        return f"config: {section}.{key}: unknown setting{hint} {where}"
    name = loc[0]
    if isinstance(file_values.get(name), dict):
        meant = suggest(name, models)
        hint = f": did you mean [{meant}]?" if meant else f" (the sections are {', '.join(models)})"
        return f"config: [{name}]: unknown section{hint} {where}"
    return f"config: {name}: a setting outside any section{_key_hint(name, None, models)} {where}"


def _key_hint(key: str, section: str | None, models: Mapping[str, type[BaseModel]]) -> str:
    """``: did you mean model_id?``, or the section the key belongs to, or a pointer to the example."""
    if section is not None:
        meant = suggest(key, models[section].model_fields)
        if meant:
            return f": did you mean {meant}?"
    for other, model in models.items():
        meant = suggest(key, model.model_fields)
        if meant and other != section:
            return f": did you mean {meant} under [{other}]?"
    return " (check the spelling against config.example.toml)"


def misspelled_variables(environ: Mapping[str, str], settings_cls: type[BaseModel]) -> list[str]:
    """Warnings for environment variables that look like ours but set nothing, with the one that was meant.

    Not errors: ``DISCORD_GUILD_ID`` may belong to another program on the machine.
    """
    models = sections(settings_cls)
    ours = {env_name(section, key) for section, model in models.items() for key in model.model_fields}
    section_names = [section.upper() for section in models]
    warnings: list[str] = []
    for name in sorted(environ):
        upper = name.upper()
        if upper in ours or "_" not in upper or suggest(upper.split("_", 1)[0], section_names) is None:
            continue
        meant = suggest(upper, ours)
        if meant is not None:
            warnings.append(f"{name} is not a setting of this bot, so it is ignored: did you mean {meant}?")
    return warnings
