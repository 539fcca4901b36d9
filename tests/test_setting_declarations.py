"""Each server setting is declared once, on GuildPrefs: /set, /settings, the store and README.md follow from it."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import pytest
from discord import app_commands

from cogs.engine.store import sqlite_schema as sqlite_preferences
from cogs.engine.store.models import GUILD_FIELDS, GuildPrefs
from cogs.engine.store.setting_kinds import (
    BadValue,
    OneOf,
    OnOff,
    Prefix,
    RateOrDefault,
    RoleOrEveryone,
    VoiceOrDefault,
    WholeNumber,
    declaration,
)
from cogs.engine.store.setting_table import BY_NAME, SETTINGS, Setting, _problem
from cogs.engine.store.stored import StoredField, checked, stored_fields
from tests.asyncflow_server import FakeAsyncFlow
from tests.bot_harness import BotHarness
from tests.conftest import SettingsFactory

ROOT = Path(__file__).resolve().parent.parent
EXTENSIONS = ("cogs.speech", "cogs.reading", "cogs.members", "cogs.server_settings")

# What admins see, in this order (the order of the GuildPrefs fields).
SET_NAMES = [
    "server-voice",
    "member-voices",
    "speaking-rate",
    "announce-author",
    "announce-window",
    "require-voice",
    "auto-join",
    "read-voice-chat",
    "ignore-prefix",
    "read-bots",
    "read-proxies",
    "required-role",
    "max-length",
    "emoji",
    "repeated-characters",
    "voice-cloning",
]


class Server:
    """Lookups for a server with one role, "Speakers" (id 5), and one known voice, "v1" called Aria."""

    def role_id(self, typed: str) -> int | None:
        return 5 if typed.casefold() in {"speakers", "5", "<@&5>"} else None

    def role_shown(self, role_id: int) -> str | None:
        return "<@&5>" if role_id == 5 else None

    def voice_shown(self, voice_id: str) -> str | None:
        return "Aria" if voice_id == "v1" else None


# --- README.md and the schema follow the declarations ---


def readme_settings_table() -> list[tuple[str, str]]:
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("| Setting | Default | Meaning |")
    rows: list[tuple[str, str]] = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        name, default, _meaning = (cell.strip() for cell in line.strip("|").split(" | "))
        rows.append((name.strip("`"), default))
    return rows


def test_readme_lists_exactly_the_declared_settings_with_their_defaults() -> None:
    declared = [(setting.name, setting.documented_default) for setting in SETTINGS]
    assert readme_settings_table() == declared


def test_every_declared_setting_has_a_column_with_the_same_default_and_checks() -> None:
    """A setting declared without a migration adding its column (or with another default) fails here."""
    with closing(sqlite3.connect(":memory:")) as connection:
        for migration in sqlite_preferences.MIGRATIONS:
            connection.executescript(migration)
        columns = {row[1]: row for row in connection.execute("PRAGMA table_info(guild_settings)")}
        (table_sql,) = connection.execute("SELECT sql FROM sqlite_master WHERE name = 'guild_settings'").fetchone()
    stored = stored_fields(GuildPrefs, GUILD_FIELDS)
    for setting in SETTINGS:
        assert setting.field in columns, f"no column for {setting.field} (add a migration)"
        _, _, sql_type, not_null, sql_default, _ = columns[setting.field]
        shape = stored[setting.field].shape
        default = setting.default
        if default is None:
            assert (not_null, sql_default) == (0, None), setting.field
        else:
            literal = f"'{default}'" if isinstance(default, str) else str(int(default))  # type: ignore[call-overload]
            assert (not_null, sql_default) == (1, literal), setting.field
        expected_type = {"str": "TEXT", "optional_str": "TEXT", "choice": "TEXT", "optional_float": "REAL"}
        assert sql_type == expected_type.get(shape, "INTEGER"), setting.field
        if shape == "bool":
            assert f"CHECK ({setting.field} IN (0, 1))" in table_sql, setting.field
        if shape == "choice":
            words = ", ".join(f"'{word}'" for word in stored[setting.field].choices)
            assert f"CHECK ({setting.field} IN ({words}))" in table_sql, setting.field


def test_only_the_id_sets_are_stored_but_not_set_able() -> None:
    declared = {field.name for field in fields(GuildPrefs) if declaration(field) is not None}
    assert GUILD_FIELDS - declared == {"linked_channels", "proxy_allowlist"}
    assert [setting.name for setting in SETTINGS] == SET_NAMES
    assert set(BY_NAME) == set(SET_NAMES)


def test_the_store_checks_follow_the_annotations() -> None:
    stored = stored_fields(GuildPrefs, GUILD_FIELDS)
    assert {name: field.shape for name, field in stored.items()} == {
        "linked_channels": "ids",
        "default_voice": "optional_str",
        "allow_member_voices": "bool",
        "speaking_rate": "optional_float",
        "announce_author": "bool",
        "announce_window_s": "int",
        "require_voice": "bool",
        "auto_join": "bool",
        "read_voice_chat": "bool",
        "ignore_prefix": "str",
        "read_bots": "bool",
        "read_proxies": "bool",
        "proxy_allowlist": "ids",
        "required_role": "optional_int",
        "max_length": "int",
        "emoji_mode": "choice",
        "repeated_characters": "int",
        "allow_voice_cloning": "bool",
    }
    assert stored["emoji_mode"].choices == ("name", "skip")
    with pytest.raises(KeyError, match="volume"):
        checked({"volume": 3}, stored, "server")
    assert checked({"linked_channels": [1, 2]}, stored, "server") == {"linked_channels": frozenset({1, 2})}


def test_a_field_no_store_can_keep_is_refused() -> None:
    @dataclass
    class Odd:
        ok: int | None
        scores: list[float]

    assert stored_fields(Odd, {"ok"}) == {"ok": StoredField("ok", "optional_int")}
    with pytest.raises(TypeError, match=r"Odd.scores: a store can't keep"):
        stored_fields(Odd, {"ok", "scores"})


def test_a_declaration_that_contradicts_itself_is_refused() -> None:
    def row(name: str, kind: object, default: object) -> Setting:
        return Setting(name, "field", "what it does", kind, default)  # type: ignore[arg-type]

    assert _problem(row("max-length", WholeNumber(20, 2000), 300), ()) is None
    assert "not allowed" in (_problem(row("max-length", WholeNumber(20, 2000), 10), ()) or "")
    assert "can't be typed" in (_problem(row("Max Length", OnOff(), True), ()) or "")
    emoji = OneOf({"name": "read emoji by name"})
    assert "not those of the annotation" in (_problem(row("emoji", emoji, "name"), ("name", "skip")) or "")


# --- kinds: what admins type and see ---


def test_on_off_words() -> None:
    kind = OnOff()
    assert [kind.parse("x", word, Server()) for word in ("on", "YES", "enabled", "1")] == [True] * 4
    assert [kind.parse("x", word, Server()) for word in ("off", "No", "false", "0")] == [False] * 4
    with pytest.raises(BadValue, match=r"^`x` is on or off — type `on` or `off`.$"):
        kind.parse("x", "maybe", Server())
    assert (kind.show(True, Server()), kind.documented(False)) == ("on", "off")


def test_whole_numbers_in_range() -> None:
    kind = WholeNumber(0, 50)
    assert kind.parse("n", "50", Server()) == 50
    with pytest.raises(BadValue, match=r"^`n` must be from 0 to 50.$"):
        kind.parse("n", "51", Server())
    with pytest.raises(BadValue, match=r"^`n` needs a whole number from 0 to 50.$"):
        kind.parse("n", "1.5", Server())
    assert kind.suggestions("") == ["0", "50"]
    assert kind.suggestions("7") == ["7"]


def test_one_of_a_few_words_explains_them_all() -> None:
    kind: OneOf[Literal["a", "b", "c"]] = OneOf({"a": "first", "b": "second", "c": "third"})
    assert kind.parse("pick", "B", Server()) == "b"
    with pytest.raises(BadValue, match=r"^`pick` is `a` \(first\), `b` \(second\) or `c` \(third\).$"):
        kind.parse("pick", "d", Server())


def test_prefix_voice_and_role() -> None:
    prefix = Prefix(max_length=3)
    assert (prefix.parse("ignore-prefix", "none", Server()), prefix.parse("ignore-prefix", ">>", Server())) == (
        "",
        ">>",
    )
    with pytest.raises(BadValue, match="The ignore prefix is a few characters"):
        prefix.parse("ignore-prefix", "toolong", Server())
    assert (prefix.show("", Server()), prefix.documented(""), prefix.documented("!")) == (
        "none (everything is read)",
        "none",
        "`!`",
    )

    voice = VoiceOrDefault()
    assert (voice.parse("v", "default", Server()), voice.parse("v", "v1", Server())) == (None, "v1")
    assert [voice.show(value, Server()) for value in ("v1", "v2", None)] == ["Aria", "v2", "the bot's default voice"]

    role = RoleOrEveryone()
    assert (role.parse("r", "Speakers", Server()), role.parse("r", "none", Server())) == (5, None)
    with pytest.raises(BadValue, match=r"^There is no role called 'Admins' here.$"):
        role.parse("r", "Admins", Server())
    assert [role.show(value, Server()) for value in (5, 6, None)] == ["<@&5>", "a deleted role", "everyone"]


def test_speaking_rates_in_asyncflows_range() -> None:
    kind = RateOrDefault()
    typed = ("1.25", "1,5", "150%", "0.7", "2", "default", "normal", "1.234")
    assert [kind.parse("speaking-rate", text, Server()) for text in typed] == [
        1.25,
        1.5,
        1.5,
        0.7,
        2.0,
        None,
        None,
        1.23,
    ]
    for wrong in ("0.69", "2.01", "nan", "inf", "-1"):
        with pytest.raises(BadValue, match=r"^The speaking rate goes from 0.7 to 2.0 \(1.0 is normal speed\).$"):
            kind.parse("speaking-rate", wrong, Server())
    with pytest.raises(BadValue, match=r"^`speaking-rate` is a number like `1.25`"):
        kind.parse("speaking-rate", "fast", Server())
    assert [kind.show(value, Server()) for value in (1.5, 2.0, None)] == ["1.5×", "2×", "normal speed"]
    assert (kind.allows(None), kind.allows(1.0), kind.allows(2.5)) == (True, True, False)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.name)
def test_what_set_suggests_it_accepts_and_the_store_keeps(setting: Setting) -> None:
    stored = stored_fields(GuildPrefs, GUILD_FIELDS)[setting.field]
    for typed in setting.suggestions("", 25):
        assert stored.check(setting.parse(typed, Server())) == setting.parse(typed, Server())
    assert setting.kind.allows(setting.default)
    assert stored.check(setting.default) == setting.default


# --- end to end: the commands admins use ---


@pytest.fixture
async def admin(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[tuple[BotHarness, int]]:
    harness = await BotHarness.create(asyncflow, make_settings(), EXTENSIONS)
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.add_role("Speakers")
    harness.fake.build_guild()
    yield harness, alice
    await harness.stop()


async def test_set_offers_the_declared_settings_in_order(admin: tuple[BotHarness, int]) -> None:
    harness, _ = admin
    command = harness.bot.tree.get_command("set")
    assert isinstance(command, app_commands.Command)
    parameter = command.get_parameter("setting")
    assert parameter is not None
    assert [(choice.name, choice.value) for choice in parameter.choices] == [
        (f"{setting.name}: {setting.help}"[:100], setting.name) for setting in SETTINGS
    ]
    assert [choice.value for choice in parameter.choices] == SET_NAMES


async def test_settings_shows_every_setting_in_order_with_its_help(admin: tuple[BotHarness, int]) -> None:
    harness, alice = admin
    (shown,) = await harness.command(alice, "settings")
    assert shown.splitlines()[2:18] == [
        "`server-voice`: the bot's default voice — voice for members who didn't pick one (`default` to reset)",
        "`member-voices`: on — members' own /voice choice applies here",
        "`speaking-rate`: normal speed — speed for members without a /voice speed, 0.7-2.0 (`default`: normal)",
        '`announce-author`: on — say "Alice said" before messages',
        '`announce-window`: 60 — seconds before "Alice said" is repeated',
        "`require-voice`: on — only read members in the bot's voice channel",
        "`auto-join`: on — join a member's voice channel when they post and the bot is idle",
        "`read-voice-chat`: on — read the text chat of the bot's voice channel",
        "`ignore-prefix`: `!` — messages starting with this are not read (`none` to read all)",
        "`read-bots`: off — read messages from bots and webhooks",
        "`read-proxies`: on — read PluralKit/Tupperbox proxied messages",
        "`required-role`: everyone — only read members with this role (`none` for everyone)",
        "`max-length`: 300 — characters read from one message",
        "`emoji`: name — `name` reads emoji by name, `skip` leaves them out",
        "`repeated-characters`: 3 — shorten runs like 'nooooo' to this many (0 = off)",
        "`voice-cloning`: on — members may clone their own voice here (/voice clone)",
    ]


@pytest.mark.parametrize(
    ("setting", "typed", "offered"),
    [
        ("member-voices", "", ["on", "off"]),
        ("member-voices", "n", ["on"]),
        ("announce-window", "", ["0", "3600"]),
        ("max-length", "12", ["12"]),
        ("max-length", "lots", []),
        ("emoji", "", ["name", "skip"]),
        ("ignore-prefix", "", ["!", "-", ";", "none"]),
        ("required-role", "speak", ["none", "<role>"]),
        ("server-voice", "", ["default", *["<voice>"] * 24]),
        ("speaking-rate", "", ["default", "0.8", "1.25", "1.5", "2"]),
        ("no-such-setting", "", []),
    ],
)
async def test_set_suggests_values_for_each_kind(
    admin: tuple[BotHarness, int], setting: str, typed: str, offered: list[str]
) -> None:
    harness, alice = admin
    conversation = await harness.fake.autocomplete(alice, "set", {"setting": setting, "value": typed}, focus="value")
    assert conversation.choices is not None
    values = [str(choice.value) for choice in conversation.choices]
    voice_ids = {voice.voice_id for voice in harness.server.voices}
    assert [
        "<voice>" if value in voice_ids else "<role>" if value.isdigit() and setting == "required-role" else value
        for value in values
    ] == offered
