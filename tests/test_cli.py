"""``python -m bot`` as a user runs it: a real subprocess against the AsyncFlow stand-in."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import sys
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web

from bot import cli
from tests.asyncflow_server import DEFAULT_API_KEY, DEMO_VOICE_ID, FakeAsyncFlow, Fault, tone_for

ROOT = Path(__file__).resolve().parent.parent
OURS = ("DISCORD_", "ASYNCFLOW_", "SPEECH_", "TTSBOT_", "LOGGING_", "STORAGE_", "METRICS_", "LIMITS_", "OPUS_")
"""The prefixes of the bot's environment variables: a test sees none but its own."""


async def run_cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
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


async def run_main(
    *args: str,
    env: dict[str, str],
    cwd: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stdin: bytes = b"",
) -> tuple[int, str, str]:
    """``python -m bot ARGS`` without starting a process (a second costs ~1 s of CI): the same ``main``, argument
    parsing, settings from the environment and exit code, run in a thread so its ``asyncio.run`` has a loop of its
    own while the stand-in keeps serving on the test's."""
    for name in list(os.environ):
        if name.startswith(OURS):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, list(args))
    out, err = capsys.readouterr()
    return code, out, err


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


async def test_say_tells_the_admin_which_setting_to_fix_on_an_api_error(
    asyncflow: FakeAsyncFlow, tmp_path: Path
) -> None:
    env = api_env(asyncflow, ASYNCFLOW_API_KEY="sk_wrong_key_for_this_test")
    code, _, stderr = await run_cli("say", "Hello", "--out", str(tmp_path / "x.wav"), env=env, cwd=tmp_path)
    assert code == 1
    assert stderr.strip().splitlines() == [
        f"AsyncFlow at {asyncflow.base_url}/ rejected the API key: set ASYNCFLOW_API_KEY (api_key under [asyncflow]) "
        "to a key from the AsyncFlow dashboard"
    ]
    assert not (tmp_path / "x.wav").exists()  # opened only once audio arrived


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


async def test_say_takes_the_same_road_as_slash_say(
    asyncflow: FakeAsyncFlow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cleaned like /say (markup, links and emoji codes are not read out), and limited and checked the same way:
    a refused text costs no request."""
    asyncflow.ms_per_char = 5  # the same requests, a tenth of the audio to play out on the 20 ms clock
    out = tmp_path / "road.wav"
    text = "look at https://example.com/a/b?c=d **bold** <:pepe:123456789012345678> 😂"
    code, _, stderr = await run_cli("say", text, "--out", str(out), env=api_env(asyncflow), cwd=tmp_path)
    assert code == 0, stderr
    assert [r.json["transcript"] for r in asyncflow.tts_requests if r.json] == [
        "look at a link to example.com bold pepe face with tears of joy"
    ]

    refusals = {
        "   ": "TEXT is empty or only whitespace: give the words to speak (or - to read them from stdin)",
        "x" * 501: "TEXT is 501 characters, over the limit of 500: shorten it, or raise SPEECH_MAX_TEXT_LENGTH "
        "(max_text_length under [speech]) (members are held to it too)",
        "***": "TEXT has nothing that can be read aloud once Discord markup, links and emoji codes are cleaned",
    }
    for typed, expected in refusals.items():
        code, _, stderr = await run_main(
            "say",
            typed,
            "--out",
            str(out),
            env=api_env(asyncflow),
            cwd=tmp_path,
            monkeypatch=monkeypatch,
            capsys=capsys,
        )
        assert (code, stderr.strip()) == (1, expected)
    code, _, stderr = await run_main(
        "say",
        "hello",
        "--out",
        str(out),
        "--voice",
        "no-such-voice",
        env=api_env(asyncflow),
        cwd=tmp_path,
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert (code, stderr.strip()) == (
        1,
        "--voice 'no-such-voice' is neither a voice id nor a voice name: `python -m bot voices` lists yours",
    )
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


# -- start-up: Discord unreachable or the token refused, in one line -------------------------------------------------
# discord.py always talks to https://discord.com, which a test can't make unreachable from outside the process (it
# honours no proxy variable, and a machine with DNS would reach it). So the real ``python -m bot run`` starts with a
# ``sitecustomize`` that aims discord.py's own base URL at 127.0.0.1: the same login call, a real failed connect or a
# real 401, and what the admin's terminal shows.

DISCORD_API_SHIM = """import os

import discord.http

discord.http.Route.BASE = os.environ["TEST_DISCORD_API_BASE"]
"""


def not_logged(stderr: str) -> list[str]:
    """stderr's lines but the log's (``2026-12-01 21:40:30,388 INFO ...``): what the command itself said."""
    return [line for line in stderr.splitlines() if line.strip() and not line[:4].isdigit()]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the probe is: nothing listens there


@pytest.fixture
async def discord_refusing_tokens() -> AsyncIterator[str]:
    """A local stand-in for Discord's API that answers the login call (GET /users/@me) as a bad token gets."""

    async def users_me(_request: web.Request) -> web.Response:
        return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)

    app = web.Application()
    app.router.add_get("/api/v10/users/@me", users_me)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/api/v10"
    await runner.cleanup()


async def test_run_says_in_one_line_when_discord_cant_be_reached_or_refuses_the_token(
    discord_refusing_tokens: str, tmp_path: Path
) -> None:
    token = "MTIz.fake-token-for-this-test.abc"
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(DISCORD_API_SHIM)
    env = {
        "DISCORD_TOKEN": token,
        "ASYNCFLOW_API_KEY": "sk_x",
        "STORAGE_SQLITE_PATH": str(tmp_path / "p.sqlite3"),
        "PYTHONPATH": f"{shim}{os.pathsep}{ROOT}",
    }
    unreachable = f"http://127.0.0.1:{closed_port()}/api/v10"
    code, out, err = await run_cli("run", env={**env, "TEST_DISCORD_API_BASE": unreachable}, cwd=tmp_path)
    lines = not_logged(err)
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith(f"could not reach Discord at {unreachable} (Cannot connect to host")
    assert lines[0].endswith(": check this machine's network, DNS and firewall")
    assert "Traceback" not in err

    code, out, err = await run_cli("run", env={**env, "TEST_DISCORD_API_BASE": discord_refusing_tokens}, cwd=tmp_path)
    assert "Traceback" not in err
    assert (code, not_logged(err)) == (
        2,
        [
            "Discord rejected the bot token: set DISCORD_TOKEN (token under [discord]) to the token from the "
            "Developer Portal (Bot → Reset Token)"
        ],
    )
    assert token not in out + err
