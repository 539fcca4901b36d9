"""Every configuration problem at once, each naming its key, value, range and source; "did you mean" for typos."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from cogs.engine.config import ConfigError, Settings, load_settings, misspelled_variables
from cogs.engine.config_problems import allowed, sections
from tests.test_cli import run_cli

OUR_PREFIXES = (*(f"{section.upper()}_" for section in sections(Settings)), "TTSBOT_")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith(OUR_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def problems(tmp_path: Path, toml: str) -> tuple[str, ...]:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    return tuple(problem.replace(str(path), "config.toml") for problem in raised.value.problems)


class _Ranges(BaseModel):
    both: int = Field(default=0, ge=0, le=10_000)
    above: float = Field(default=1.0, gt=0)
    at_least: int = Field(default=1, ge=1)
    at_most_or_unset: int | None = Field(default=None, le=5)
    choice: Literal["file", "stream"] = "file"
    choices: Literal["a", "b", "c"] = "a"
    flag: bool = True
    free: str = "x"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("both", "0–10000"),
        ("above", "above 0"),
        ("at_least", "1 or more"),
        ("at_most_or_unset", "up to 5"),
        ("choice", '"file" or "stream"'),
        ("choices", '"a", "b" or "c"'),
        ("flag", "true or false"),
        ("free", None),
    ],
)
def test_the_allowed_range_is_derived_from_the_field_constraints(key: str, expected: str | None) -> None:
    assert allowed(_Ranges.model_fields[key]) == expected


def test_every_problem_is_listed_at_once_under_one_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPUS_COMPLEXITY", "11")
    monkeypatch.setenv("ASYNCFLOW_MAX_RETRIES", "2")  # wins over the file's bad value: not a problem
    toml = '[asyncflow]\nmax_retries = 11\nmodle_id = "x"\nendpoint = "websocket"\n[speech]\nqueue_limit = 0\n'
    found = problems(tmp_path, toml)
    assert found == (
        'config: asyncflow.endpoint = "websocket": not one of the choices (allowed: "file" or "stream") '
        "[set by config.toml]",
        "config: asyncflow.modle_id: unknown setting: did you mean model_id? [set by config.toml]",
        "config: speech.queue_limit = 0: out of range (allowed: 1–1000) [set by config.toml]",
        "config: opus.complexity = 11: out of range (allowed: 0–10) [set by env OPUS_COMPLEXITY]",
    )
    error = ConfigError(*found)
    assert str(error).splitlines() == ["config: 4 problems, fix them all before starting:", *found]


def test_a_single_message_still_makes_a_one_line_error() -> None:
    error = ConfigError("discord.token is missing: set DISCORD_TOKEN")
    assert (str(error), error.problems) == ("discord.token is missing: set DISCORD_TOKEN", (str(error),))


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[asyncflow]\nvoiceid = "x"\n', "config: asyncflow.voiceid: unknown setting: did you mean voice_id?"),
        ('[asyncflow]\nmodel = "x"\n', "config: asyncflow.model: unknown setting: did you mean model_id?"),
        ('[asyncflo]\napi_key = "x"\n', "config: [asyncflo]: unknown section: did you mean [asyncflow]?"),
        ('token = "x"\n', "config: token: a setting outside any section: did you mean token under [discord]?"),
        ('[asyncflow]\ntoken = "x"\n', "config: asyncflow.token: unknown setting: did you mean token under [discord]?"),
        (
            '[asyncflow]\nwhatever = "x"\n',
            "config: asyncflow.whatever: unknown setting (check the spelling against config.example.toml)",
        ),
        (
            "[voices]\nx = 1\n",
            "config: [voices]: unknown section (the sections are discord, asyncflow, speech, opus, limits, storage, "
            "logging, metrics)",
        ),
    ],
    ids=[
        "key",
        "key-it-begins",
        "section",
        "top-level-key",
        "key-of-another-section",
        "no-suggestion",
        "unknown-section",
    ],
)
def test_unknown_keys_and_sections_suggest_the_real_one_and_name_the_file(
    tmp_path: Path, toml: str, expected: str
) -> None:
    (found,) = problems(tmp_path, toml)
    assert found == f"{expected} [set by config.toml]"  # not an environment variable: only the file has such keys


def test_a_file_that_is_not_toml_is_listed_with_the_environments_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METRICS_PORT", "70000")
    assert problems(tmp_path, "[speech\n") == (
        "config: config.toml is not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 8)",
        "config: metrics.port = 70000: out of range (allowed: 1–65535) [set by env METRICS_PORT]",
    )


def test_near_miss_environment_variables_are_warned_about_and_nothing_else_is() -> None:
    environ = {
        "ASYNCFLOW_APIKEY": "sk_x",  # a typo of ours
        "ASYNCFLO_API_KEY": "sk_x",  # the section misspelled
        "speech_max_text_lenght": "9",  # any case, as pydantic-settings reads them
        "asyncflow_api_key": "sk_x",  # ours in lower case: honoured, not warned about
        "DISCORD_TOKEN": "t",  # ours
        "SPEECH_KEY": "azure",  # another program's, nothing like ours
        "PATH": "/usr/bin",
        "XDG_SESSION_ID": "2",
    }
    assert misspelled_variables(environ) == [
        "ASYNCFLOW_APIKEY is not a setting of this bot, so it is ignored: did you mean ASYNCFLOW_API_KEY?",
        "ASYNCFLO_API_KEY is not a setting of this bot, so it is ignored: did you mean ASYNCFLOW_API_KEY?",
        "speech_max_text_lenght is not a setting of this bot, so it is ignored: did you mean SPEECH_MAX_TEXT_LENGTH?",
    ]


def test_a_near_miss_variable_does_not_stop_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Warnings, not errors: the variable may belong to another program on the machine."""
    monkeypatch.setenv("DISCORD_GUILD_ID", "1234")
    assert load_settings().discord.dev_guild_id is None
    assert misspelled_variables() == [
        "DISCORD_GUILD_ID is not a setting of this bot, so it is ignored: did you mean DISCORD_DEV_GUILD_ID?"
    ]


async def test_the_admin_sees_every_problem_and_every_near_miss_in_one_run(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "config.toml"
    config.parent.mkdir()
    config.write_text(
        '[discord]\ntoken = "tok-xyzzy"\n[asyncflow]\nmodle_id = "x"\nmax_retries = 11\n[speach]\nqueue_limit = 3\n'
    )
    env = {"ASYNCFLOW_APIKEY": "sk_plugh", "STORAGE_URL": "mysql://root:hunter2@db/tts", "TTSBOT_CONFIG": str(config)}

    code, stdout, stderr = await run_cli("run", env=env, cwd=tmp_path)

    assert (code, stdout) == (2, "")
    assert stderr.splitlines() == [
        "warning: ASYNCFLOW_APIKEY is not a setting of this bot, so it is ignored: did you mean ASYNCFLOW_API_KEY?",
        "config: 4 problems, fix them all before starting:",
        f"config: asyncflow.max_retries = 11: out of range (allowed: 0–10) [set by {config}]",
        f"config: asyncflow.modle_id: unknown setting: did you mean model_id? [set by {config}]",
        "config: storage.url = (hidden): must start with postgresql:// (postgresql://user:password@host:5432/database), "
        "or be left out for SQLite at storage.sqlite_path [set by env STORAGE_URL]",
        f"config: [speach]: unknown section: did you mean [speech]? [set by {config}]",
    ]
    for secret in ("xyzzy", "plugh", "hunter2"):
        assert secret not in stderr


def test_the_readmes_example_is_what_the_bot_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    example = readme.split("**Allowed values.**", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    (tmp_path / "config.toml").write_text('[asyncflow]\nmax_retries = 11\nmodle_id = "x"\n')
    monkeypatch.setenv("SPEECH_QUEUE_LIMIT", "0")
    with pytest.raises(ConfigError) as raised:
        load_settings()  # ./config.toml, named as the admin sees it
    assert str(raised.value) == example.rstrip("\n")
