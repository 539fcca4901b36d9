"""Configuration: TOML, environment overrides, secrets kept secret, and one clear line when something is wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cogs.engine.config import ConfigError, Settings, load_settings
from cogs.engine.config_problems import allowed, sections

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith((*(f"{section.upper()}_" for section in sections(Settings)), "TTSBOT_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray ./config.toml


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_the_example_config_documents_every_key_and_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(ROOT / "config.example.toml")
    assert settings.asyncflow.model_id == "async_flash_v1.0"
    example = (ROOT / "config.example.toml").read_text()
    for section in type(settings).model_fields:
        model = getattr(settings, section)
        for key in type(model).model_fields:
            assert f"{key} =" in example, f"config.example.toml does not document {section}.{key}"


def test_environment_variables_override_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[asyncflow]\napi_key = "sk_from_file"\nbase_url = "http://file.example"\n')
    monkeypatch.setenv("ASYNCFLOW_BASE_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("DISCORD_TOKEN", "token-from-env")
    monkeypatch.setenv("SPEECH_MAX_TEXT_LENGTH", "120")
    settings = load_settings(path)
    assert str(settings.asyncflow.base_url) == "http://127.0.0.1:9999/"
    assert settings.require_api_key() == "sk_from_file"
    assert settings.require_token() == "token-from-env"
    assert settings.speech.max_text_length == 120


def test_environment_alone_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCFLOW_API_KEY", "sk_env_only")
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    settings = load_settings()
    assert settings.require_api_key() == "sk_env_only"
    assert str(settings.asyncflow.base_url) == "https://api.async.com/"


def test_config_path_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text("[speech]\nqueue_limit = 3\n")
    monkeypatch.setenv("TTSBOT_CONFIG", str(path))
    assert load_settings().speech.queue_limit == 3


def test_unrelated_environment_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_GUILD_ID", "1234")  # some other program's variable
    monkeypatch.setenv("ASYNCFLOW_SOMETHING_ELSE", "x")
    load_settings()


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        (
            '[asyncflow]\nmodle_id = "x"\n',
            {},
            "config: asyncflow.modle_id: unknown setting: did you mean model_id? [set by {file}]",
        ),
        (
            '[asyncflow]\nendpoint = "websocket"\n',
            {},
            'config: asyncflow.endpoint = "websocket": not one of the choices (allowed: "file" or "stream") '
            "[set by {file}]",
        ),
        (
            "",
            {"ASYNCFLOW_BASE_URL": "not a url"},
            'config: asyncflow.base_url = "not a url": Input should be a valid URL, relative URL without a base '
            "[set by env ASYNCFLOW_BASE_URL]",
        ),
        (
            "[speech]\nmax_text_length = 100\n",
            {"SPEECH_MAX_TEXT_LENGTH": "0"},
            "config: speech.max_text_length = 0: out of range (allowed: 1–4000) [set by env SPEECH_MAX_TEXT_LENGTH]",
        ),
        (
            "[speech\n",
            {},
            "config: {file} is not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 8)",
        ),
        (
            "[asyncflow]\nconnect_timeout = 0\n",
            {},
            "config: asyncflow.connect_timeout = 0: out of range (allowed: above 0) [set by {file}]",
        ),
        (
            "",
            {"OPUS_BITRATE_KBPS": "8"},
            "config: opus.bitrate_kbps = 8: out of range (allowed: 16–512) [set by env OPUS_BITRATE_KBPS]",
        ),
        (
            '[opus]\nsignal = "speech"\n',
            {},
            'config: opus.signal = "speech": not one of the choices (allowed: "voice", "music" or "auto") '
            "[set by {file}]",
        ),
        (
            "[opus]\nfec = true\n",
            {},
            "config: [opus]: fec = true needs expected_packet_loss_percent above 0 (libopus adds recovery data only "
            "for the loss it expects: 10 is typical) [set by {file}]",
        ),
        (
            '[speech]\nqueue_limit = "many"\n',
            {},
            'config: speech.queue_limit = "many": Input should be a valid integer, unable to parse string as an '
            "integer (allowed: 1–1000) [set by {file}]",
        ),
        (
            "[speech]\nbitrate_kbps = 64\n",
            {},
            "config: speech.bitrate_kbps: moved to [opus] bitrate_kbps (env OPUS_BITRATE_KBPS) [set by {file}]",
        ),
    ],
    ids=[
        "typo",
        "bad-choice",
        "bad-url",
        "env-over-file-out-of-range",
        "toml-syntax",
        "above-zero",
        "opus-bitrate",
        "opus-signal",
        "opus-fec-without-loss",
        "not-a-number",
        "moved-key",
    ],
)
def test_a_bad_value_stops_start_up_with_one_line_naming_key_value_range_and_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert str(raised.value) == expected.format(file=path)
    assert raised.value.problems == (str(raised.value),)


def test_missing_secrets_and_files_are_named(tmp_path: Path) -> None:
    settings = load_settings()
    with pytest.raises(ConfigError, match=r"asyncflow\.api_key is missing: set ASYNCFLOW_API_KEY"):
        settings.require_api_key()
    with pytest.raises(ConfigError, match=r"discord\.token is missing: set DISCORD_TOKEN"):
        settings.require_token()
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml")


def test_secrets_never_appear_in_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCFLOW_API_KEY", "sk_super_secret_value")
    monkeypatch.setenv("DISCORD_TOKEN", "bot-token-secret-value")
    settings = load_settings()
    for text in (repr(settings), str(settings), repr(settings.asyncflow), settings.model_dump_json()):
        assert "sk_super_secret_value" not in text
        assert "bot-token-secret-value" not in text


def test_the_example_writes_each_settings_allowed_range_as_the_fields_declare_it() -> None:
    """Every numeric or choice setting has ``# allowed: ...`` after it in config.example.toml, derived text and all."""
    written: dict[str, str] = {}
    section = ""
    for line in (ROOT / "config.example.toml").read_text().splitlines():
        if header := re.fullmatch(r"\[(\w+)\]", line):
            section = header[1]
        elif entry := re.fullmatch(r"(?:# )?(\w+) = .*?  # allowed: (.+)", line):
            written[f"{section}.{entry[1]}"] = entry[2]
    expected = {
        f"{section}.{key}": allowed(field)
        for section, model in sections(Settings).items()
        for key, field in model.model_fields.items()
        if field.annotation is not bool and allowed(field) is not None
    }
    assert written == expected
    assert written["asyncflow.max_retries"] == "0–10"  # the test reads what the admin reads
    assert written["opus.signal"] == '"voice", "music" or "auto"'


def test_relative_paths_are_taken_from_the_config_files_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "etc" / "tts"
    folder.mkdir(parents=True)
    config = folder / "config.toml"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    config.write_text('[storage]\nsqlite_path = "db/prefs.sqlite3"\n')
    assert load_settings(config).storage.sqlite_path == folder / "db" / "prefs.sqlite3"
    config.write_text("")
    assert load_settings(config).storage.sqlite_path == folder / "data" / "preferences.sqlite3"  # the default too
    monkeypatch.setenv("STORAGE_SQLITE_PATH", "from-env.sqlite3")
    assert load_settings(config).storage.sqlite_path == folder / "from-env.sqlite3"
    monkeypatch.setenv("STORAGE_SQLITE_PATH", str(tmp_path / "absolute.sqlite3"))
    assert load_settings(config).storage.sqlite_path == tmp_path / "absolute.sqlite3"

    monkeypatch.delenv("STORAGE_SQLITE_PATH")
    assert load_settings().storage.sqlite_path == elsewhere / "data" / "preferences.sqlite3"  # no file: cwd


def test_a_secrets_value_is_never_shown_in_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_URL", "mysql://root:hunter2@db/tts")
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, '[discord]\ntoken = "tok-xyzzy"\nshard_count = 0\n'))
    assert raised.value.problems == (
        "config: discord.shard_count = 0: out of range (allowed: 1 or more) [set by "
        + str(tmp_path / "config.toml")
        + "]",
        "config: storage.url = (hidden): must start with postgresql:// (postgresql://user:password@host:5432/database), "
        "or be left out for SQLite at storage.sqlite_path [set by env STORAGE_URL]",
    )
    assert "hunter2" not in str(raised.value) + repr(raised.value)
    assert "xyzzy" not in str(raised.value) + repr(raised.value)
