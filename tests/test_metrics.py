"""Prometheus metrics and /healthz, scraped over real HTTP from the server the runner starts, after real /say
traffic through discord.py's CommandTree and player against the AsyncFlow stand-in; parsed with prometheus_client's
own parser. Asserted: what an admin's dashboard would show."""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import discord
import httpx
import pytest
from discord.ext import commands
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from bot.metrics_server import health, serve_metrics
from cogs.engine.asyncflow.errors import DOCUMENTED_CODES, AsyncFlowError
from cogs.engine.audio.gapless import GaplessStream
from cogs.engine.audio.source import StreamingAudioSource
from cogs.engine.config import ConfigError, DiscordSettings, MetricsSettings, load_settings
from cogs.engine.metrics import TTSMetrics
from tests.asyncflow_server import DEFAULT_API_KEY, DEMO_VOICE_ID, FakeAsyncFlow, Fault
from tests.bot_harness import BotHarness
from tests.conftest import SettingsFactory
from tests.discord_fakes import FakeDiscord, RecordingVoiceClient
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
PART = 44 + 28_800  # the stand-in's WAV header and 0.3 s of audio: what arrives before a stall
LONG_TEXT = "A long message that keeps the bot speaking while the others wait their turn"  # 3.8 s


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Scrape:
    """One scrape of /metrics: the text, and every sample by (name, labels)."""

    text: str
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        return cls(text, samples)

    def value(self, name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        assert key in self.samples, f"{name}{labels} not scraped; have {sorted(n for n, _ in self.samples)}"
        return self.samples[key]

    def requests(self, route: str) -> dict[tuple[str, str], float]:
        """``{(outcome, code): count}`` of AsyncFlow requests on ``route``."""
        found = {}
        for (name, labels), value in self.samples.items():
            label = dict(labels)
            if name == "asyncflow_tts_requests_total" and label["route"] == route:
                found[(label["outcome"], label["code"])] = value
        return found


async def scrape(url: str) -> Scrape:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape.parse(response.text)


async def get(url: str) -> tuple[int, str]:
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    return response.status_code, response.text


@pytest.fixture
async def harness(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotHarness]:
    settings = make_settings({"chunk_timeout": 5.0})  # a stall of 0.8 s is waited out, not an error
    harness = await BotHarness.create(asyncflow, settings, ["cogs.speech"], announce_author=False)
    yield harness
    await harness.stop()


@pytest.fixture
async def url(harness: BotHarness) -> AsyncIterator[str]:
    """The metrics server the runner starts, serving the harness's bot and engine on a free port of 127.0.0.1."""
    settings = MetricsSettings(port=free_port())
    async with serve_metrics(settings, harness.bot, harness.live_engine.metrics.registry) as server:
        assert server is not None
        yield server.url


def members(harness: BotHarness, *names: str) -> list[int]:
    ids = [harness.fake.add_member(name, voice_channel_id=harness.fake.voice_channel_id) for name in names]
    harness.fake.build_guild()
    return ids


async def test_requests_are_counted_by_outcome_and_error_code_and_characters_as_the_api_received_them(
    harness: BotHarness, asyncflow: FakeAsyncFlow, url: str
) -> None:
    (alice,) = members(harness, "Alice")

    await harness.say(alice, "Hello everyone")
    await harness.wait_until_quiet()
    asyncflow.faults.append(Fault.usage_limit())
    over_quota = await harness.say(alice, "Over the quota")
    await harness.wait_until_quiet()
    asyncflow.faults.append(Fault.server_error())
    await harness.say(alice, "Retried once, then spoken")
    await harness.wait_until_quiet()
    scraped = await scrape(url)

    assert "speech quota for the month is used up" in over_quota.texts[-1]
    assert scraped.requests("speech") == {
        ("ok", "none"): 2,
        ("error", "USAGE_LIMIT_EXCEEDED"): 1,
        ("error", "server_error"): 1,
    }
    received = harness.transcripts()
    assert len(received) == 4  # the retry was sent again
    assert scraped.value("asyncflow_tts_characters_sent_total") == sum(len(text) for text in received)
    assert scraped.value("asyncflow_tts_first_byte_seconds_count") == 2  # the requests that got audio
    assert scraped.value("asyncflow_tts_first_byte_seconds_bucket", le="+Inf") == 2
    assert scraped.value("asyncflow_tts_first_audio_seconds_count") == 2  # the texts heard
    assert scraped.value("asyncflow_tts_first_audio_seconds_sum") > 0


async def test_a_skip_before_the_answer_counts_the_request_as_cancelled(
    harness: BotHarness, asyncflow: FakeAsyncFlow, url: str
) -> None:
    (alice,) = members(harness, "Alice")
    asyncflow.first_byte_delay = 1.0

    await harness.say(alice, "Slow to synthesise")
    await harness.fake.run_command(alice, "skip")
    await harness.wait_until_quiet()
    await asyncio.sleep(0.1)  # the cancelled download's task ends
    scraped = await scrape(url)

    assert scraped.requests("speech") == {("cancelled", "none"): 1}
    assert scraped.value("asyncflow_tts_first_byte_seconds_count") == 0
    assert scraped.value("asyncflow_tts_first_audio_seconds_count") == 0


async def test_a_stalled_download_is_counted_packet_by_packet_in_silence_frames(
    harness: BotHarness, asyncflow: FakeAsyncFlow, url: str
) -> None:
    (alice,) = members(harness, "Alice")
    asyncflow.faults.append(Fault.stall_after(PART, 0.8))

    await harness.say(alice, "This text stalls part of the way through")
    await harness.wait_until_quiet()
    scraped = await scrape(url)

    silence = harness.live_engine.encoders.silence
    sent = sum(1 for _, from_source, packet in harness.voice.packets if from_source and packet == silence)
    assert sent > 0
    assert scraped.value("asyncflow_tts_silence_frames_total") == sent
    assert scraped.requests("speech") == {("ok", "none"): 1}  # waited out: not an error


async def test_queue_lengths_streams_and_voice_connections_while_texts_wait(harness: BotHarness, url: str) -> None:
    alice, bob, carol = members(harness, "Alice", "Bob", "Carol")
    idle = await scrape(url)

    await harness.say(alice, LONG_TEXT)
    await harness.wait_until_speaking()
    await harness.say(bob, "Bob's turn next")
    await harness.say(carol, "Carol after Bob")
    waiting = await scrape(url)
    await harness.fake.run_command(alice, "stop")
    await harness.wait_until_quiet()
    stopped = await scrape(url)

    gauges = ("guilds", "voice_connections", "streams_playing", "queued_texts", "longest_queue_texts")
    assert [idle.value(f"asyncflow_tts_{name}") for name in gauges] == [1, 0, 0, 0, 0]
    assert [waiting.value(f"asyncflow_tts_{name}") for name in gauges] == [1, 1, 1, 2, 2]
    assert [stopped.value(f"asyncflow_tts_{name}") for name in gauges] == [1, 1, 0, 0, 0]  # still in the channel


async def test_a_player_held_up_counts_a_late_frame(
    harness: BotHarness, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (alice,) = members(harness, "Alice")
    send = RecordingVoiceClient.send_audio_packet
    packets = itertools.count()

    def held_up_once(self: RecordingVoiceClient, data: bytes, *, encode: bool = True) -> None:
        send(self, data, encode=encode)
        if next(packets) == 10:
            time.sleep(0.1)  # the player thread doesn't run for 100 ms (a busy CPU, another thread holding the GIL)

    before = await scrape(url)
    monkeypatch.setattr(RecordingVoiceClient, "send_audio_packet", held_up_once)
    await harness.say(alice, "Long enough to be held up once")
    await harness.wait_until_quiet()
    after = await scrape(url)

    times = [at for at, from_source, _ in harness.voice.packets if from_source]
    assert max(b - a for a, b in itertools.pairwise(times)) >= 0.1  # the hold-up reached the wire
    assert before.value("asyncflow_tts_late_frames_total") == 0
    assert after.value("asyncflow_tts_late_frames_total") >= 1


async def test_a_late_frame_is_one_sent_more_than_25_ms_after_the_one_before() -> None:
    metrics = TTSMetrics()
    now = [0.0]
    stream = GaplessStream(asyncio.get_running_loop(), metrics=metrics, clock=lambda: now[0])
    source = StreamingAudioSource(loop=asyncio.get_running_loop(), prebuffer_bytes=0)
    await source.write_packets([b"\x01"] * 9)
    stream.add(source, on_start=lambda: None, on_end=lambda _error: None)

    # discord.py's player: the second frame 40 ms after the first, then every 20 ms; then one 30 ms after the one
    # before and the next at once (the player catching up); then 24 ms, then 26 ms after the one before.
    late = []
    for at in (0.000, 0.040, 0.060, 0.080, 0.110, 0.110, 0.130, 0.154, 0.180):
        now[0] = at
        assert stream.read() == b"\x01"
        late.append(metrics.registry.get_sample_value("asyncflow_tts_late_frames_total"))

    assert late == [0, 0, 0, 0, 1, 1, 1, 1, 2]


async def test_guilds_and_gateway_latency_are_read_from_the_bot_at_scrape_time(harness: BotHarness, url: str) -> None:
    before = await scrape(url)
    harness.fake.build_guild()
    harness.fake.connect_gateway({0: 0.042})
    after = await scrape(url)

    assert before.value("asyncflow_tts_guilds") == 0
    assert not [name for name, _ in before.samples if name == "asyncflow_tts_gateway_latency_seconds"]
    assert after.value("asyncflow_tts_guilds") == 1
    assert after.value("asyncflow_tts_gateway_latency_seconds", shard="0") == 0.042


async def test_healthz_is_ok_only_while_connected_and_ready(harness: BotHarness) -> None:
    stopping = asyncio.Event()
    settings = MetricsSettings(port=free_port())
    registry = harness.live_engine.metrics.registry
    async with serve_metrics(settings, harness.bot, registry, closing=stopping.is_set) as server:
        assert server is not None
        healthz = f"{server.url}/healthz"
        starting = await get(healthz)
        harness.fake.connect_gateway()
        ready = await get(healthz)
        harness.fake.drop_gateway()
        dropped = await get(healthz)
        harness.fake.connect_gateway()
        stopping.set()
        closing = await get(healthz)

    assert starting == (503, "starting\n")
    assert ready == (200, "ok\n")
    assert dropped == (503, "gateway disconnected\n")
    assert closing == (503, "closing\n")


async def test_an_auto_sharded_bot_reports_each_shards_latency_and_which_shard_is_down() -> None:
    bot = commands.AutoShardedBot(command_prefix="!", intents=discord.Intents.default(), shard_count=2)
    await bot._async_setup_hook()
    fake = FakeDiscord(bot)  # type: ignore[arg-type]  # typed for commands.Bot; only its gateway is used here
    metrics = TTSMetrics()
    metrics.watch_bot(bot)
    starting = health(bot)

    fake.connect_gateway({0: 0.05, 1: 0.07})
    ready = health(bot)
    scraped = Scrape.parse(generate_latest(metrics.registry).decode())
    fake.drop_gateway(1)

    assert starting == "starting"
    assert ready is None
    assert scraped.value("asyncflow_tts_gateway_latency_seconds", shard="0") == 0.05
    assert scraped.value("asyncflow_tts_gateway_latency_seconds", shard="1") == 0.07
    assert health(bot) == "gateway disconnected (shards 1)"
    await bot.close()


async def test_metrics_never_contain_message_text_ids_or_secrets(
    asyncflow: FakeAsyncFlow, make_settings: SettingsFactory
) -> None:
    token = "bot-token-that-must-stay-secret"
    settings = make_settings().model_copy(update={"discord": DiscordSettings(token=SecretStr(token))})
    harness = await BotHarness.create(asyncflow, settings, ["cogs.speech"], announce_author=False)
    try:
        (alice,) = members(harness, "Alice")
        harness.fake.connect_gateway()
        text = "Zanzibar pelicans juggle xylophones"
        await harness.say(alice, text)
        asyncflow.faults.append(Fault.voice_not_found())  # its message names the voice: free text
        await harness.say(alice, f"{text} again")
        await harness.wait_until_quiet()
        body = Scrape.parse(generate_latest(harness.live_engine.metrics.registry).decode()).text
    finally:
        await harness.stop()

    assert "VOICE_NOT_FOUND" in body  # the error was counted, by its code alone
    forbidden = [text, *text.split(), DEFAULT_API_KEY, token, DEMO_VOICE_ID]
    forbidden += [str(harness.fake.guild_id), str(alice), str(harness.fake.voice_channel_id)]
    assert [word for word in forbidden if word in body] == []


async def test_a_metrics_port_in_use_stops_start_up_with_one_line_naming_the_key(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            "DISCORD_TOKEN": "not-used",
            "ASYNCFLOW_API_KEY": "sk_not_used",
            "METRICS_PORT": str(port),
            "STORAGE_SQLITE_PATH": str(tmp_path / "preferences.sqlite3"),
        }
        code, _out, err = await run_cli(env=env, cwd=tmp_path)

    assert code == 2
    assert err.splitlines()[-1] == (
        f"metrics.port: 127.0.0.1:{port} is already in use by another program: pick a free port "
        "(METRICS_PORT, or port under [metrics] in config.toml)"
    )
    assert "Traceback" not in err


def test_metrics_are_off_by_default_and_take_their_port_from_metrics_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("METRICS_PORT", "METRICS_HOST", "TTSBOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    assert load_settings().metrics == MetricsSettings(port=None, host="127.0.0.1")

    monkeypatch.setenv("METRICS_PORT", "9100")
    assert load_settings().metrics.port == 9100

    monkeypatch.setenv("METRICS_PORT", "70000")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value) == (
        "config: metrics.port = 70000: out of range (allowed: 1–65535) [set by env METRICS_PORT]"
    )


def _kinds(error_class: type[AsyncFlowError]) -> set[str]:
    return {error_class.kind}.union(*(_kinds(sub) for sub in error_class.__subclasses__()))


def test_the_readme_lists_every_metric_and_every_error_code_label() -> None:
    readme = (ROOT / "README.md").read_text()
    section = re.split(r"\n##+ ", readme.split("### Metrics and health\n", 1)[1], maxsplit=1)[0]
    declared = {
        family.name + ("_total" if family.type == "counter" else "") for family in TTSMetrics().registry.collect()
    }

    listed = set(re.findall(r"`(asyncflow_tts_\w+)`", section))
    assert sorted(declared - listed) == []  # undocumented
    assert sorted(listed - declared) == []  # documented but gone
    codes = DOCUMENTED_CODES | _kinds(AsyncFlowError)
    assert sorted(code for code in codes if f"`{code}`" not in section) == []
