"""Configuration: TOML, environment overrides, secrets kept secret, and one clear line when something is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from cogs.engine.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("DISCORD_", "ASYNCFLOW_", "SPEECH_", "TTSBOT_")):
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
        ('[asyncflow]\nmodle_id = "x"\n', {}, "config: asyncflow.modle_id: unknown setting"),
        ('[asyncflow]\nendpoint = "websocket"\n', {}, "config: asyncflow.endpoint:"),
        ("", {"ASYNCFLOW_BASE_URL": "not a url"}, "config: asyncflow.base_url:"),
        ("", {"SPEECH_MAX_TEXT_LENGTH": "0"}, "config: speech.max_text_length:"),
        ("[speech\n", {}, "is not valid TOML"),
        ("", {"OPUS_COMPLEXITY": "11"}, "config: opus.complexity: Input should be less than or equal to 10"),
        ("", {"OPUS_BITRATE_KBPS": "8"}, "config: opus.bitrate_kbps: Input should be greater than or equal to 16"),
        ('[opus]\nsignal = "speech"\n', {}, "config: opus.signal: Input should be 'voice', 'music' or 'auto'"),
        ("[opus]\nfec = true\n", {}, "config: opus: Value error, fec = true needs expected_packet_loss_percent"),
        ("", {"OPUS_ENCODER_THREADS": "0"}, "config: opus.encoder_threads: Input should be greater than or equal"),
        ("[speech]\nbitrate_kbps = 64\n", {}, "config: speech.bitrate_kbps: moved to [opus] bitrate_kbps"),
    ],
    ids=[
        "typo",
        "bad-choice",
        "bad-url",
        "out-of-range",
        "toml-syntax",
        "opus-complexity",
        "opus-bitrate",
        "opus-signal",
        "opus-fec-without-loss",
        "opus-threads",
        "moved-key",
    ],
)
def test_a_bad_value_stops_start_up_with_one_line_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, toml))
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)


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
