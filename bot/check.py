"""``python -m bot check``: every set-up mistake the admin can make, found before a member meets it.

One line per finding, ``[ok]``, ``[warn]``, ``[FAIL]`` or ``[skip]``; then one tiny real speech request with the
configured model, voice, endpoint and format, since only that proves speaking works. Exit status: 0 all well (warnings
included), 1 a problem found; a configuration that can't be read stops ``python -m bot`` first, with exit status 2.
"""

from __future__ import annotations

import ctypes.util
import difflib
import time
import tomllib
from pathlib import Path

import discord
from pydantic import SecretStr

from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.asyncflow.errors import AsyncFlowError, VoiceNotFound
from cogs.engine.asyncflow.model_ids import MODELS, STREAM_ONLY_MODELS
from cogs.engine.asyncflow.models import Voice
from cogs.engine.audio.formats import REQUESTED_FORMAT
from cogs.engine.audio.wav import WavFormatError, WavStreamReader
from cogs.engine.config import ConfigError, Settings
from cogs.engine.engine import load_opus

from .admin_words import describe_for_admin, voice_not_found, where_to_set

EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "config.example.toml"
CHECK_TEXT = "Hi."
"""What the test speech request says: a few characters of the account's quota."""


def say(line: str) -> None:
    """Each finding on stdout as soon as it is made (before a slow network step, the admin sees how far it got)."""
    print(line, flush=True)  # noqa: T201 - the command's output


class Report:
    """Prints findings as they are made and remembers whether any failed."""

    def __init__(self) -> None:
        self.failed = False

    def ok(self, what: str, detail: str) -> None:
        say(f"[ok] {what}: {detail}")

    def warn(self, what: str, detail: str) -> None:
        say(f"[warn] {what}: {detail}")

    def fail(self, what: str, detail: str) -> None:
        self.failed = True
        say(f"[FAIL] {what}: {detail}")

    def skip(self, what: str, detail: str) -> None:
        say(f"[skip] {what}: {detail}")


def placeholders(settings: Settings, example: Path = EXAMPLE_CONFIG) -> list[str]:
    """Secrets still set to config.example.toml's sample value (``token = "paste-your-bot-token-here"``): the
    example file is where the placeholders are written, so it is read, not copied here."""
    try:
        with example.open("rb") as file:
            sample = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError):
        return []
    found: list[str] = []
    for section, table in sample.items():
        configured = getattr(settings, section, None)
        if not isinstance(table, dict) or configured is None:
            continue
        for key, value in table.items():
            secret = getattr(configured, key, None)
            if isinstance(secret, SecretStr) and secret.get_secret_value().strip() == value:
                found.append(f"{section}.{key}")
    return found


def model_problem(model_id: str, endpoint: str) -> str | None:
    """Why ``model_id`` can't speak on ``endpoint``, with the fix; None when it can."""
    if model_id not in MODELS:
        close = difflib.get_close_matches(model_id, MODELS, n=1, cutoff=0.6)
        guess = f"did you mean {close[0]}? " if close else ""
        return f"{model_id!r} is not an AsyncFlow model: {guess}(models: {', '.join(MODELS)})"
    if model_id in STREAM_ONLY_MODELS and endpoint != "stream":
        serves_file = ", ".join(m for m in MODELS if m not in STREAM_ONLY_MODELS)
        return (
            f"{model_id} is served only by endpoint = stream: set {where_to_set('asyncflow.endpoint')} to "
            f'"stream", or use {serves_file}'
        )
    return None


ONLY_RUN_NEEDS_IT = " before `python -m bot run` (check, say, voices need none)"


def check_local(settings: Settings, report: Report) -> None:
    """What needs no network: the configuration's values, libopus, davey, the bot token."""
    api = settings.asyncflow
    report.ok("config", f"model {api.model_id}, endpoint {api.endpoint}, API {api.base_url}")
    for key in placeholders(settings):
        problem = f"still the placeholder from config.example.toml: set {where_to_set(key)}"
        if key == "discord.token":  # like a missing token: only `run` needs it, so a check of AsyncFlow alone passes
            report.warn(key, problem + ONLY_RUN_NEEDS_IT)
        else:
            report.fail(key, problem)
    model = model_problem(api.model_id, api.endpoint)
    if model:
        report.fail("asyncflow.model_id", model)
    else:
        report.ok("asyncflow.model_id", f"{api.model_id} on endpoint = {api.endpoint}")
    if load_opus():
        report.ok("libopus", f"loaded ({discord.opus._OpusStruct.get_opus_version()})")
    else:
        found = ctypes.util.find_library("opus")
        report.fail(
            "libopus", f"not found (found library: {found}): apt-get install libopus0 (macOS: brew install opus)"
        )
    try:
        import davey

        report.ok("davey (DAVE voice encryption)", f"protocol version {davey.DAVE_PROTOCOL_VERSION}")
    except ImportError:
        report.fail("davey (DAVE voice encryption)", "not installed: pip install 'discord.py[voice]>=2.7.1'")
    token = settings.discord.token
    if token is None or not token.get_secret_value().strip():
        report.warn(
            "discord.token",
            f"missing: set {where_to_set('discord.token')}{ONLY_RUN_NEEDS_IT}",
        )
    elif "discord.token" not in placeholders(settings):
        report.ok("discord.token", "set (Discord itself checks it when `python -m bot run` logs in)")


async def check_asyncflow(settings: Settings, report: Report, *, speak: bool) -> None:
    """Status, key and voice, then (``speak``) one tiny real speech request."""
    api = settings.asyncflow
    key = api.api_key.get_secret_value().strip() if api.api_key else ""
    if not key:
        try:
            settings.require_api_key()
        except ConfigError as missing:  # the message every command gives for it
            report.fail("asyncflow.api_key", str(missing))
        return
    if "asyncflow.api_key" in placeholders(settings):
        report.skip("AsyncFlow", "not asked with the placeholder key")
        return
    client = AsyncFlowClient(api, key)
    try:
        await client.status()
        report.ok("AsyncFlow", f"{api.base_url} answers")
        voices = await client.list_voices()
        report.ok("asyncflow.api_key", f"accepted ({len(voices)} voices)")
        voice = await find_voice(client, api.voice_id, voices)
        if voice is None:
            report.fail("asyncflow.voice_id", voice_not_found(api.voice_id))
            return
        report.ok("asyncflow.voice_id", f"{voice.id} ({voice.name}{', ' + voice.language if voice.language else ''})")
        if not speak:
            report.skip("test speech", "not sent until the problems above are fixed")
            return
        say(
            f"[....] test speech: asking for {CHECK_TEXT!r} with model {api.model_id}, voice {voice.name}, "
            f"endpoint {api.endpoint} (costs {len(CHECK_TEXT)} characters of your AsyncFlow quota)"
        )
        report_speech(report, *await test_speech(client))
    except AsyncFlowError as error:
        report.fail("AsyncFlow", describe_for_admin(error, api))
    finally:
        await client.aclose()


async def find_voice(client: AsyncFlowClient, voice_id: str, voices: list[Voice]) -> Voice | None:
    """The configured voice from the list, else asked for by id (a voice of one's own may be left off the list)."""
    listed = next((voice for voice in voices if voice.id == voice_id), None)
    if listed is not None:
        return listed
    try:
        return await client.get_voice(voice_id)
    except VoiceNotFound:
        return None


async def test_speech(client: AsyncFlowClient) -> tuple[str | None, float, float]:
    """Speak :data:`CHECK_TEXT`: (what is wrong with the audio or None, seconds of audio, seconds taken)."""
    started = time.perf_counter()
    wav = WavStreamReader() if client.settings.endpoint == "file" else None
    audio_bytes = 0
    async with await client.open_speech(CHECK_TEXT) as response:
        try:
            async for chunk in response.chunks():
                audio_bytes += len(wav.feed(chunk) if wav else chunk)
            if wav is not None:
                wav.finish()
        except WavFormatError as error:
            return f"the reply is not WAV audio ({error})", 0.0, time.perf_counter() - started
    form = wav.format if wav is not None else REQUESTED_FORMAT
    elapsed = time.perf_counter() - started
    if form is None or audio_bytes < form.bytes_per_frame:
        return "the reply held no audio", 0.0, elapsed
    return None, audio_bytes / form.bytes_per_second, elapsed


def report_speech(report: Report, problem: str | None, audio_s: float, elapsed: float) -> None:
    if problem is not None:
        report.fail("test speech", f"{problem}: is {where_to_set('asyncflow.base_url')} the AsyncFlow API?")
        return
    report.ok("test speech", f"{audio_s:.2f} s of audio in {elapsed:.2f} s: speaking works")


async def check(settings: Settings, *, offline: bool) -> int:
    """Report each prerequisite on its own line; the exit status: 0 all well, 1 a problem found."""
    report = Report()
    check_local(settings, report)
    if offline:
        report.skip("AsyncFlow", "--offline: the status, API key, voice and a test speech request were not checked")
    else:
        await check_asyncflow(settings, report, speak=not report.failed)
    if report.failed:
        say("Problems found: fix each [FAIL] above, then run `python -m bot check` again.")
    return 1 if report.failed else 0
