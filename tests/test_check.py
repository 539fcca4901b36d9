"""``python -m bot check`` as the admin runs it: real subprocesses against the AsyncFlow stand-in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.asyncflow_server import DEFAULT_API_KEY, FakeAsyncFlow
from tests.test_cli import ROOT, api_env, run_cli, run_main


def tts_bodies(server: FakeAsyncFlow) -> list[dict[str, object]]:
    return [r.json for r in server.tts_requests if r.json is not None]


async def test_check_speaks_one_tiny_text_with_the_configured_model_voice_and_endpoint(
    asyncflow: FakeAsyncFlow, tmp_path: Path
) -> None:
    """All well but the bot token: a warning, exit 0, and the one request a member's /say would send."""
    voice = asyncflow.voices[3]
    env = api_env(asyncflow, ASYNCFLOW_VOICE_ID=voice.voice_id, ASYNCFLOW_ENDPOINT="stream")

    code, stdout, stderr = await run_cli("check", env=env, cwd=tmp_path)

    assert code == 0, stdout + stderr
    lines = stdout.splitlines()
    assert "[ok] asyncflow.model_id: async_flash_v1.0 on endpoint = stream" in lines
    assert "[ok] libopus: loaded" in stdout and "[ok] davey" in stdout
    assert (
        "[warn] discord.token: missing: set DISCORD_TOKEN (token under [discord]) before `python -m bot run` "
        "(check, say, voices need none)"
    ) in lines
    assert f"[ok] AsyncFlow: {asyncflow.base_url}/ answers" in lines
    assert f"[ok] asyncflow.api_key: accepted ({len(asyncflow.voices)} voices)" in lines
    assert f"[ok] asyncflow.voice_id: {voice.voice_id} ({voice.name}, {voice.language})" in lines
    cost = next(i for i, line in enumerate(lines) if line.startswith("[....] test speech"))
    assert lines[cost] == (
        f"[....] test speech: asking for 'Hi.' with model async_flash_v1.0, voice {voice.name}, endpoint stream "
        "(costs 3 characters of your AsyncFlow quota)"
    )
    assert lines[cost + 1].startswith("[ok] test speech: 0.15 s of audio in ")  # 3 characters x 50 ms
    assert not [line for line in lines if line.startswith("[FAIL]")]
    assert [r.path for r in asyncflow.tts_requests] == ["/text_to_speech/streaming"]
    (body,) = tts_bodies(asyncflow)
    assert body["transcript"] == "Hi." and body["model_id"] == "async_flash_v1.0"
    assert body["voice"] == {"mode": "id", "id": voice.voice_id}
    assert DEFAULT_API_KEY not in stdout + stderr


async def test_check_finds_the_placeholders_and_a_misspelled_model_and_sends_nothing(
    asyncflow: FakeAsyncFlow, tmp_path: Path
) -> None:
    """config.example.toml copied as it is, with the model misspelled: every mistake named, AsyncFlow not asked."""
    shutil.copy(ROOT / "config.example.toml", tmp_path / "config.toml")
    env = {"ASYNCFLOW_BASE_URL": asyncflow.base_url, "ASYNCFLOW_MODEL_ID": "async_flsh_v1.0"}

    code, stdout, _ = await run_cli("check", env=env, cwd=tmp_path)

    assert code == 1
    lines = stdout.splitlines()
    assert (
        "[warn] discord.token: still the placeholder from config.example.toml: set DISCORD_TOKEN (token under [discord])"
        " before `python -m bot run` (check, say, voices need none)"
    ) in lines
    assert (
        "[FAIL] asyncflow.api_key: still the placeholder from config.example.toml: "
        "set ASYNCFLOW_API_KEY (api_key under [asyncflow])"
    ) in lines
    assert (
        "[FAIL] asyncflow.model_id: 'async_flsh_v1.0' is not an AsyncFlow model: did you mean async_flash_v1.0? "
        "(models: async_flash_v1.0, async_flash_v1.5, async_pro_v1.0)"
    ) in lines
    assert "[skip] AsyncFlow: not asked with the placeholder key" in lines
    assert not [line for line in lines if line.startswith("[ok] discord.token")]
    assert lines[-1] == "Problems found: fix each [FAIL] above, then run `python -m bot check` again."
    assert asyncflow.requests == []


async def test_check_names_a_voice_that_does_not_exist_and_pays_for_no_speech(
    asyncflow: FakeAsyncFlow, tmp_path: Path
) -> None:
    missing = "e0f39dc4-0000-4e78-bba5-000000000000"
    code, stdout, _ = await run_cli("check", env=api_env(asyncflow, ASYNCFLOW_VOICE_ID=missing), cwd=tmp_path)
    assert code == 1
    assert f"[FAIL] asyncflow.voice_id: voice {missing} was not found: `python -m bot voices` lists yours" in (
        stdout.splitlines()
    )
    assert "test speech" not in stdout
    assert asyncflow.tts_requests == []


async def test_check_offline_reads_a_config_given_after_the_command_and_asks_nothing(
    asyncflow: FakeAsyncFlow, tmp_path: Path
) -> None:
    """``check --offline --config FILE -v``: global options after the command; a stream-only model on the WAV
    endpoint is refused without a request."""
    config = tmp_path / "elsewhere.toml"
    config.write_text(
        f'[asyncflow]\napi_key = "{DEFAULT_API_KEY}"\nbase_url = "{asyncflow.base_url}"\n'
        'model_id = "async_flash_v1.5"\nendpoint = "file"\n'
    )

    code, stdout, stderr = await run_cli("check", "--offline", "--config", str(config), "-v", env={}, cwd=tmp_path)

    assert code == 1, stderr
    lines = stdout.splitlines()
    assert (
        "[FAIL] asyncflow.model_id: async_flash_v1.5 is served only by endpoint = stream: set ASYNCFLOW_ENDPOINT "
        '(endpoint under [asyncflow]) to "stream", or use async_flash_v1.0'
    ) in lines
    assert (
        "[skip] AsyncFlow: --offline: the status, API key, voice and a test speech request were not checked"
    ) in lines
    assert asyncflow.requests == []


async def test_check_tells_the_admin_a_rejected_key_with_the_url_and_not_the_key(
    asyncflow: FakeAsyncFlow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = api_env(asyncflow, ASYNCFLOW_API_KEY="sk_not_this_one", DISCORD_TOKEN="x")
    code, stdout, stderr = await run_main("check", env=env, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1
    assert "[ok] discord.token: set (Discord itself checks it when `python -m bot run` logs in)" in stdout
    assert (
        f"[FAIL] AsyncFlow: AsyncFlow at {asyncflow.base_url}/ rejected the API key: set ASYNCFLOW_API_KEY "
        "(api_key under [asyncflow]) to a key from the AsyncFlow dashboard"
    ) in stdout.splitlines()
    assert "sk_not_this_one" not in stdout + stderr
    assert asyncflow.tts_requests == []


async def test_a_configuration_that_cannot_be_read_is_exit_status_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"ASYNCFLOW_ENDPOINT": "websocket"}
    code, stdout, stderr = await run_main("check", env=env, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert (code, stdout) == (2, "")  # nothing checked with a configuration that isn't the one meant
    assert "asyncflow.endpoint" in stderr and "ASYNCFLOW_ENDPOINT" in stderr
