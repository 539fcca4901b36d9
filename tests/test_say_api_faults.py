"""Every AsyncFlow failure the stand-in can produce, met through the real /say: what the member reads, what the
channel hears, and that the queue goes on.

Per case Alice (default voice, 440 Hz) says a text that meets the injected faults, then Bob (another voice,
220 Hz) says one that meets none. The member-facing texts are written out here on purpose, not taken from
``describe_error``: a change of wording has to show up as a failing test.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from tests.asyncflow_server import DEMO_VOICE_ID, FakeAsyncFlow, Fault, tone_for
from tests.audio_checks import FRAME, loud_frames
from tests.bot_harness import BotHarness, every_message_is_private_and_pings_nobody
from tests.conftest import SettingsFactory

ALICE_TEXT = "This one fails"
BOB_TEXT = "This one works"
WHOLE = len(ALICE_TEXT) * 50 // 20  # 20 ms frames in a whole text at the stand-in's 50 ms per character: 35
HEADER = 44  # the stand-in's WAV header
PART = HEADER + 28_800  # header + 0.3 s of 48 kHz mono s16le: what arrives before a mid-stream fault
PART_FRAMES = 15

SPEAKING = "🔊 Speaking in <#{voice}>."
QUEUED = "Queued in <#{voice}> — 1 message ahead of yours."

# What members read. Literal on purpose (see the module docstring).
KEY_REJECTED = "The server's AsyncFlow API key was rejected — an admin needs to update it."
OLD_VERSION = "AsyncFlow no longer accepts the API version this bot speaks — the bot needs an update."
VOICE_GONE = "That voice no longer exists on AsyncFlow — pick another one."
BAD_LANGUAGE = "AsyncFlow can't speak the language this bot is set to — an admin needs to change `asyncflow.language`."
BAD_FORMAT = (
    "AsyncFlow refused the audio format or model this bot asks for — an admin needs to check "
    "`asyncflow.model_id` and `asyncflow.endpoint`."
)
QUOTA_USED_UP = "This server's AsyncFlow speech quota for the month is used up — an admin can upgrade the plan."
RATE_LIMITED_30_S = "AsyncFlow is rate-limiting this bot — try again in 30 s."
RATE_LIMITED_9_S = "AsyncFlow is rate-limiting this bot — try again in 9 s."
BUSY = "AsyncFlow is busy with this bot's other requests — try again in a few seconds."
INTERNAL_ERROR = "AsyncFlow had an internal error — try again in a minute."
NO_ANSWER = "AsyncFlow didn't answer in time — try again."
UNREACHABLE = "I couldn't reach AsyncFlow — try again shortly. If it keeps happening, tell the bot's admin."
DROPPED_PART_WAY = "The connection to AsyncFlow dropped part-way through — the rest of your message wasn't spoken."
QUOTA_PART_WAY = (
    "The AsyncFlow speech quota ran out part-way through — the rest of your message wasn't spoken. "
    "An admin can upgrade the plan."
)
REFUSED_422 = "AsyncFlow refused the request (HTTP 422: the request was not valid). Tell the bot's admin."
REFUSED_400 = "AsyncFlow refused the request (HTTP 400). Tell the bot's admin."
NOT_AUDIO = (
    "AsyncFlow sent something I can't play (not WAV audio: it looks like a JSON error message rather than audio). "
    "Tell the bot's admin."
)

# Said before each retry; the wait is the client's back-off (0.5-1.5 s) or the server's retry_after_ms.
BUSY_NOTICE = re.compile(r"AsyncFlow is busy, retrying in [12] s…")
HICCUP_NOTICE = re.compile(r"AsyncFlow had a hiccup, retrying in [12] s…")
UNREACHABLE_NOTICE = re.compile(r"Couldn't reach AsyncFlow, retrying in [12] s…")
SLOW_NOTICE = re.compile(r"AsyncFlow is slow to answer, retrying in [12] s…")
ANY_NOTICE = re.compile(r".*, retrying in \d+ (s|min)…")

RETRIES = 2  # conftest's max_retries: a fault met max_retries + 1 times is the member's to hear about
FAST_FIRST_BYTE = {"first_byte_timeout": 0.4}  # conftest's 2 s, three times over, would make these cases slow


@dataclass(frozen=True)
class Case:
    faults: tuple[Fault, ...]
    told: str | re.Pattern[str] | None
    """What Alice is finally told; None: nothing but where she is being spoken (her text was spoken)."""
    alice_frames: int
    """20 ms frames of Alice's voice heard."""
    requests: int = 1
    """TTS requests Alice's text cost (every one after the first is announced to her by ``notice``)."""
    notice: re.Pattern[str] | None = None
    asyncflow: dict[str, Any] = field(default_factory=dict)
    """Settings overrides for this case."""


def persistent(make: Callable[[], Fault]) -> tuple[Fault, ...]:
    """The same fault on every attempt the client makes."""
    return tuple(make() for _ in range(RETRIES + 1))


def case(case_id: str, *args: Any, marks: Any = (), **kwargs: Any) -> Any:
    return pytest.param(Case(*args, **kwargs), id=case_id, marks=marks)


CASES = [
    # Refusals: never retried, nothing spoken.
    case("invalid-key-wrapped", (Fault.invalid_key(),), KEY_REJECTED, 0),
    case("invalid-key-unwrapped", (Fault.invalid_key(shape="unwrapped"),), KEY_REJECTED, 0),
    case(
        "invalid-key-proxy-page-401",
        (Fault.server_error(401, "<html><body>401 Authorization Required</body></html>"),),
        KEY_REJECTED,
        0,
    ),
    case("version-not-found", (Fault.version_not_found(),), OLD_VERSION, 0),
    case("voice-not-found", (Fault.voice_not_found(),), VOICE_GONE, 0),
    case("invalid-language", (Fault.invalid_language(),), BAD_LANGUAGE, 0),
    case("format-not-recognized", (Fault.format_not_recognized(),), BAD_FORMAT, 0),
    case("monthly-usage-limit", (Fault.usage_limit(),), QUOTA_USED_UP, 0),
    case("rate-limited-longer-than-max-wait", (Fault.rate_limited(retry_after_ms=30_000),), RATE_LIMITED_30_S, 0),
    # Rounded up, never down: told "8 s", a member would come back half a second too early.
    case("rate-limited-8.5-s", (Fault.rate_limited(retry_after_ms=8_500),), RATE_LIMITED_9_S, 0),
    case(
        "fastapi-422-list-detail",
        (Fault.unexpected_json(422, {"detail": [{"type": "missing", "loc": ["body", "x"], "msg": "Field required"}]}),),
        REFUSED_422,
        0,
    ),
    case("empty-json-400", (Fault.unexpected_json(400, {}),), REFUSED_400, 0),
    # Worth another try: retried, announced, then spoken.
    case("rate-limited-short", (Fault.rate_limited(retry_after_ms=300),), None, WHOLE, 2, BUSY_NOTICE),
    case("concurrency-once", (Fault.concurrency(),), None, WHOLE, 2, BUSY_NOTICE),
    case("server-500-once", (Fault.server_error(),), None, WHOLE, 2, HICCUP_NOTICE),
    case("connection-dropped-once", (Fault.drop_connection(),), None, WHOLE, 2, UNREACHABLE_NOTICE),
    case(
        "no-first-byte-once",
        (Fault.stall_after(0, seconds=1.0),),  # 200 and headers, then nothing for longer than first_byte_timeout
        None,
        WHOLE,
        2,
        SLOW_NOTICE,
        FAST_FIRST_BYTE,
    ),
    # ... until the retries run out.
    case("concurrency-persistent", persistent(Fault.concurrency), BUSY, 0, 3, BUSY_NOTICE),
    case("server-500-persistent", persistent(Fault.server_error), INTERNAL_ERROR, 0, 3, HICCUP_NOTICE),
    case(
        "gateway-502-503-504-persistent",
        (Fault.gateway_error(502), Fault.gateway_error(503), Fault.gateway_error(504)),
        INTERNAL_ERROR,
        0,
        3,
        HICCUP_NOTICE,
    ),
    case("connection-dropped-persistent", persistent(Fault.drop_connection), UNREACHABLE, 0, 3, UNREACHABLE_NOTICE),
    case(
        "no-first-byte-persistent",
        persistent(lambda: Fault.stall_after(0, seconds=1.0)),
        NO_ANSWER,
        0,
        3,
        SLOW_NOTICE,
        FAST_FIRST_BYTE,
    ),
    # After audio has started nothing is retried: what arrived is heard, the rest is not.
    case("cut-mid-stream", (Fault.cut_after(PART),), DROPPED_PART_WAY, PART_FRAMES),
    case("stalled-mid-stream", (Fault.stall_after(PART, seconds=1.5),), DROPPED_PART_WAY, PART_FRAMES),
    case("quota-marker-mid-stream", (Fault.quota_after(PART),), QUOTA_PART_WAY, PART_FRAMES),
    # Only the WAV header had arrived: nothing was heard, so it is worth another try.
    case(
        "cut-right-after-wav-header",
        (Fault.cut_after(HEADER),),
        None,
        WHOLE,
        2,
        UNREACHABLE_NOTICE,
    ),
    case(
        "stalled-right-after-wav-header",
        (Fault.stall_after(HEADER, seconds=1.5),),  # longer than both first_byte_timeout and chunk_timeout
        None,
        WHOLE,
        2,
        SLOW_NOTICE,
        FAST_FIRST_BYTE,
    ),
    case(
        "quota-marker-right-after-wav-header",
        (Fault.quota_after(HEADER),),
        QUOTA_USED_UP,
        0,
    ),
    # A stall shorter than chunk_timeout is waited out, even when first_byte_timeout is shorter still.
    case(
        "short-stall-mid-stream-with-a-shorter-first-byte-timeout",
        (Fault.stall_after(PART, seconds=0.7),),  # first_byte_timeout 0.4 s < 0.7 s < chunk_timeout 1 s
        None,
        WHOLE,
        asyncflow=FAST_FIRST_BYTE,
    ),
    # Not what was asked for, but playable: spoken as it should sound.
    case("wrong-format-24khz", (Fault.wrong_format(sample_rate=24_000),), None, WHOLE),
    case(
        "wrong-format-stereo-f32le-22khz",
        (Fault.wrong_format(sample_rate=22_050, channels=2, encoding="f32le"),),
        None,
        WHOLE,
    ),
    # Not playable at all: a JSON body with 200 where the WAV should be.
    case("json-body-with-200", (Fault.unexpected_json(200, {"status": "ok"}),), NOT_AUDIO, 0),
]


def frames_in_voice(heard: np.ndarray, hz: float) -> int:
    """How many loud 20 ms frames carry the tone of one voice (the stand-in's voices differ in pitch)."""
    frames = heard[: len(heard) // FRAME * FRAME].reshape(-1, FRAME)
    loud = np.sqrt(np.mean(frames**2, axis=1)) > 0.1
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(FRAME), axis=1))
    peak = np.fft.rfftfreq(FRAME, 1 / 48_000)[np.argmax(spectrum, axis=1)]
    return int(np.sum(loud & (np.abs(peak - hz) < 60)))


async def no_request_left_open(server: FakeAsyncFlow) -> None:
    """Every download was closed: the stand-in has no TTS request in progress (within a second)."""
    async with asyncio.timeout(1):
        while server.in_flight:
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("case", CASES)
async def test_an_asyncflow_fault_is_explained_to_its_member_and_the_queue_goes_on(
    asyncflow: FakeAsyncFlow, make_settings: SettingsFactory, case: Case
) -> None:
    harness = await BotHarness.create(asyncflow, make_settings(case.asyncflow), ["cogs.speech"], announce_author=False)
    try:
        fake = harness.fake
        alice = fake.add_member("Alice", voice_channel_id=fake.voice_channel_id)
        bob = fake.add_member("Bob", voice_channel_id=fake.voice_channel_id)
        fake.build_guild()
        bob_voice = asyncflow.voices[1].voice_id
        assert tone_for(bob_voice) == 220 and tone_for(DEMO_VOICE_ID) == 440
        asyncflow.faults.extend(case.faults)

        fails = await harness.say(alice, ALICE_TEXT)
        works = await harness.say(bob, BOB_TEXT, voice=bob_voice)
        await harness.wait_until_quiet()

        # Alice: where she is being spoken, each retry as it happens, then exactly the one expected message.
        speaking = SPEAKING.format(voice=fake.voice_channel_id)
        assert fails.texts.count(speaking) == 1, fails.texts
        notices = [text for text in fails.texts if ANY_NOTICE.fullmatch(text)]
        assert len(notices) == case.requests - 1, fails.texts
        assert all(case.notice is not None and case.notice.fullmatch(text) for text in notices), fails.texts
        told = [text for text in fails.texts if text != speaking and text not in notices]
        if isinstance(case.told, re.Pattern):
            assert len(told) == 1 and case.told.fullmatch(told[0]), told
        else:
            assert told == ([] if case.told is None else [case.told])
        # Bob: only where he stands in the queue (Alice's text may already have failed when he asked).
        assert works.texts in ([speaking], [QUEUED.format(voice=fake.voice_channel_id)]), works.texts

        heard = harness.voice.heard()
        assert frames_in_voice(heard, 440) == pytest.approx(case.alice_frames, abs=2)
        assert frames_in_voice(heard, 220) == pytest.approx(len(BOB_TEXT) * 50 / 20, abs=2)
        assert loud_frames(heard) == pytest.approx(case.alice_frames + len(BOB_TEXT) * 50 / 20, abs=3)

        assert harness.transcripts() == [ALICE_TEXT] * case.requests + [BOB_TEXT]
        assert asyncflow.faults == []  # every injected fault was met, by Alice's text alone
        every_message_is_private_and_pings_nobody(harness)
        await no_request_left_open(asyncflow)
    finally:
        await harness.stop()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_asyncflow_unreachable_is_explained_and_say_works_once_it_is_back(
    make_settings: SettingsFactory,
) -> None:
    port = closed_port()
    later = FakeAsyncFlow(port=port)
    harness = await BotHarness.create(
        later, make_settings({"base_url": f"http://127.0.0.1:{port}"}), ["cogs.speech"], announce_author=False
    )
    try:
        fake = harness.fake
        alice = fake.add_member("Alice", voice_channel_id=fake.voice_channel_id)
        bob = fake.add_member("Bob", voice_channel_id=fake.voice_channel_id)
        fake.build_guild()

        fails = await harness.say(alice, ALICE_TEXT)
        await harness.wait_until_quiet()

        speaking = SPEAKING.format(voice=fake.voice_channel_id)
        assert fails.texts.count(speaking) == 1, fails.texts
        notices = [text for text in fails.texts if ANY_NOTICE.fullmatch(text)]
        assert len(notices) == RETRIES and all(UNREACHABLE_NOTICE.fullmatch(text) for text in notices), fails.texts
        assert [text for text in fails.texts if text != speaking and text not in notices] == [UNREACHABLE]
        assert loud_frames(harness.voice.heard()) == 0

        async with later:  # AsyncFlow is back: the bot carries on without a restart
            works = await harness.say(bob, BOB_TEXT)
            await harness.wait_until_quiet()
            assert works.texts == [speaking]
            assert loud_frames(harness.voice.heard()) == pytest.approx(len(BOB_TEXT) * 50 / 20, abs=2)
            assert harness.transcripts() == [BOB_TEXT]
            every_message_is_private_and_pings_nobody(harness)
            await no_request_left_open(later)
    finally:
        await harness.stop()
