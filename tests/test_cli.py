"""``python -m bot`` as a user runs it: a real subprocess against the AsyncFlow stand-in."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.asyncflow_server import DEFAULT_API_KEY, DEMO_VOICE_ID, FakeAsyncFlow, Fault, tone_for

ROOT = Path(__file__).resolve().parent.parent


async def run_cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    ours = ("DISCORD_", "ASYNCFLOW_", "SPEECH_", "TTSBOT_", "LOGGING_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def api_env(server: FakeAsyncFlow, **extra: str) -> dict[str, str]:
    return {"ASYNCFLOW_BASE_URL": server.base_url, "ASYNCFLOW_API_KEY": DEFAULT_API_KEY, **extra}


def read_wav(path: Path) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(str(path), "rb") as wav:
        params = wav.getparams()
        samples = np.frombuffer(wav.readframes(params.nframes), dtype="<i2").reshape(-1, params.nchannels)
    return params, samples


async def test_say_writes_exactly_what_a_voice_channel_would_receive(asyncflow: FakeAsyncFlow, tmp_path: Path) -> None:
    asyncflow.chunk_bytes = 3001  # odd chunk sizes, split header handled by the same path as in Discord
    out = tmp_path / "hello.wav"

    code, stdout, stderr = await run_cli(
        "say", "Hello everyone", "--out", str(out), env=api_env(asyncflow), cwd=tmp_path
    )

    assert code == 0, stderr
    assert "first frame after" in stdout and "total" in stdout
    params, samples = read_wav(out)
    assert (params.framerate, params.nchannels, params.sampwidth) == (48_000, 2, 2)
    assert params.nframes % 960 == 0  # whole 20 ms frames, as the player sends them
    assert params.nframes == 960 * 35  # "Hello everyone": 14 characters x 50 ms = 700 ms
    assert np.array_equal(samples[:, 0], samples[:, 1])  # mono upmixed to both sides
    left = samples[:, 0].astype(np.float64) / 32768
    spectrum = np.abs(np.fft.rfft(left))
    assert np.fft.rfftfreq(len(left), 1 / 48_000)[np.argmax(spectrum)] == pytest.approx(tone_for(DEMO_VOICE_ID), abs=2)


async def test_say_with_another_voice_and_the_stream_endpoint(asyncflow: FakeAsyncFlow, tmp_path: Path) -> None:
    voice = asyncflow.voices[9].voice_id
    out = tmp_path / "v.wav"
    env = api_env(asyncflow, ASYNCFLOW_ENDPOINT="stream")

    code, _, stderr = await run_cli("say", "Streaming", "--out", str(out), "--voice", voice, env=env, cwd=tmp_path)

    assert code == 0, stderr
    assert asyncflow.tts_requests[-1].path == "/text_to_speech/streaming"
    _, samples = read_wav(out)
    left = samples[:, 0].astype(np.float64)
    assert np.fft.rfftfreq(len(left), 1 / 48_000)[np.argmax(np.abs(np.fft.rfft(left)))] == pytest.approx(
        tone_for(voice), abs=2
    )


async def test_say_prints_the_members_message_on_an_api_error(asyncflow: FakeAsyncFlow, tmp_path: Path) -> None:
    env = api_env(asyncflow, ASYNCFLOW_API_KEY="sk_wrong_key_for_this_test")
    code, _, stderr = await run_cli("say", "Hello", "--out", str(tmp_path / "x.wav"), env=env, cwd=tmp_path)
    assert code == 1
    assert "The server's AsyncFlow API key was rejected — an admin needs to update it." in stderr
    assert "sk_wrong_key_for_this_test" not in stderr


async def test_say_reports_quota_running_out_and_keeps_the_audio_before_it(
    asyncflow: FakeAsyncFlow, tmp_path: Path
) -> None:
    asyncflow.faults.append(Fault.quota_after(44 + 19_200))  # 0.2 s of mono audio
    out = tmp_path / "q.wav"
    code, _, stderr = await run_cli(
        "say", "A long text past the quota", "--out", str(out), env=api_env(asyncflow), cwd=tmp_path
    )
    assert code == 1
    assert "quota ran out part-way through" in stderr
    params, _ = read_wav(out)
    assert params.nframes == 960 * 10


async def test_voices_lists_every_voice(asyncflow: FakeAsyncFlow, tmp_path: Path) -> None:
    code, stdout, stderr = await run_cli("voices", env=api_env(asyncflow), cwd=tmp_path)
    assert code == 0, stderr
    for voice in asyncflow.voices:
        assert voice.voice_id in stdout and voice.name in stdout
    assert f"{len(asyncflow.voices)} voices" in stdout


async def test_check_reports_each_prerequisite(asyncflow: FakeAsyncFlow, tmp_path: Path) -> None:
    code, stdout, _ = await run_cli("check", env=api_env(asyncflow, DISCORD_TOKEN="x"), cwd=tmp_path)
    assert code == 0, stdout
    assert "[ok] libopus: loaded" in stdout
    assert "[ok] davey" in stdout
    assert "[ok] AsyncFlow API key: accepted" in stdout

    code, stdout, _ = await run_cli("check", env=api_env(asyncflow, ASYNCFLOW_API_KEY="sk_bad"), cwd=tmp_path)
    assert code == 1
    assert "[FAIL] discord.token" in stdout
    assert "[FAIL] AsyncFlow: The server's AsyncFlow API key was rejected" in stdout


async def test_a_bad_config_value_stops_with_one_line(tmp_path: Path) -> None:
    code, _, stderr = await run_cli(
        "say", "hi", "--out", "x.wav", env={"ASYNCFLOW_ENDPOINT": "websocket"}, cwd=tmp_path
    )
    assert code == 2
    assert stderr.strip().splitlines() == [
        'config: asyncflow.endpoint = websocket: not one of the choices (allowed: "file" or "stream") '
        "[set by env ASYNCFLOW_ENDPOINT]"
    ]


async def test_run_without_a_token_says_which_key_is_missing(tmp_path: Path) -> None:
    code, _, stderr = await run_cli("run", env={"ASYNCFLOW_API_KEY": "sk_x"}, cwd=tmp_path)
    assert code == 2
    assert "discord.token is missing: set DISCORD_TOKEN" in stderr


async def test_say_takes_the_same_road_as_slash_say(asyncflow: FakeAsyncFlow, tmp_path: Path) -> None:
    """Cleaned like /say (markup, links and emoji codes are not read out), and limited and checked the same way."""
    out = tmp_path / "road.wav"
    text = "look at https://example.com/a/b?c=d **bold** <:pepe:123456789012345678> 😂"
    code, _, stderr = await run_cli("say", text, "--out", str(out), env=api_env(asyncflow), cwd=tmp_path)
    assert code == 0, stderr
    assert [r.json["transcript"] for r in asyncflow.tts_requests if r.json] == [
        "look at a link to example.com bold pepe face with tears of joy"
    ]

    refusals = {
        "   ": "There's nothing to say — give me some text.",
        "x" * 501: "That's 501 characters; the limit here is 500. Shorten it or split it into parts.",
        "***": "There's nothing in that I can read aloud — give me some words.",
    }
    for typed, expected in refusals.items():
        code, _, stderr = await run_cli("say", typed, "--out", str(out), env=api_env(asyncflow), cwd=tmp_path)
        assert (code, stderr.strip()) == (1, expected)
    code, _, stderr = await run_cli(
        "say", "hello", "--out", str(out), "--voice", "no-such-voice", env=api_env(asyncflow), cwd=tmp_path
    )
    assert (code, stderr.strip()) == (1, "I don't know that voice — pick one from the list as you type.")
    assert len([r for r in asyncflow.tts_requests if r.json]) == 1  # no refused text cost a request


async def test_version_prints_the_packages_version(tmp_path: Path) -> None:
    import tomllib

    with (ROOT / "pyproject.toml").open("rb") as file:
        expected = tomllib.load(file)["project"]["version"]
    code, stdout, _ = await run_cli("--version", env={}, cwd=tmp_path)
    assert (code, stdout.strip()) == (0, f"asyncflow-discord-tts {expected}")


async def test_verbose_json_logs_have_the_bots_debug_lines_and_no_key(asyncflow: FakeAsyncFlow, tmp_path: Path) -> None:
    """``-v`` with ``LOGGING_FORMAT=json``: the bot's own DEBUG lines as JSON objects; httpx says nothing."""
    asyncflow.faults.append(Fault.server_error())
    env = api_env(asyncflow, LOGGING_FORMAT="json")
    code, _, stderr = await run_cli("-v", "say", "Hello", "--out", str(tmp_path / "x.wav"), env=env, cwd=tmp_path)
    assert code == 0, stderr
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]  # not say's own notes
    assert any(r["logger"] == "cogs.engine.asyncflow.client" and "retrying" in r["message"] for r in records)
    assert not [r for r in records if r["logger"].startswith(("httpx", "httpcore"))]
    assert DEFAULT_API_KEY not in stderr
