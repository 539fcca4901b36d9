"""``POST /voices/clone`` and ``DELETE /voices/{id}`` through the client, against the stand-in: what is uploaded,
the documented answers and errors, and the words members read for each error."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.asyncflow.errors import (
    AsyncFlowError,
    BadSpeechQuality,
    FileTooLarge,
    FormatNotRecognized,
    ServerError,
    ShortSpeechDuration,
    VoiceCloneLimitExceeded,
    VoiceNotFound,
)
from cogs.engine.words import describe_clone_error
from tests.asyncflow_server import DEMO_VOICE_ID, MAX_CLONE_BYTES, FakeAsyncFlow, Fault
from tests.audio_checks import wav_sample

MakeClient = Callable[..., AsyncFlowClient]


async def test_a_clone_uploads_the_documented_fields_and_becomes_a_custom_voice(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    client = make_client()
    sample = wav_sample(3.5)
    voice_id = await client.clone_voice(sample, "me.wav", "audio/wav", "Alex", "en", description="for /say")
    (request,) = asyncflow.clone_requests
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert set(request.form) == {"audio", "name", "language", "enhance", "description"}
    audio = request.form["audio"]
    assert (audio.filename, audio.content_type, audio.data) == ("me.wav", "audio/wav", sample)
    assert [request.form[k].text for k in ("name", "language", "enhance")] == ["Alex", "en", "true"]
    listed = {voice.id: voice for voice in await client.list_voices()}
    assert listed[voice_id].custom and listed[voice_id].name == "Alex"
    assert not listed[DEMO_VOICE_ID].custom

    await client.delete_voice(voice_id)
    assert asyncflow.delete_requests == [voice_id]
    assert asyncflow.find_voice(voice_id) is None
    with pytest.raises(VoiceNotFound):
        await client.delete_voice(voice_id)


@pytest.mark.parametrize(
    ("fault", "error_class", "words"),
    [
        (Fault.clone_limit(), VoiceCloneLimitExceeded, "voice-clone slots at AsyncFlow are all in use"),
        (Fault.short_speech(), ShortSpeechDuration, "less than 3 seconds of speech"),
        (Fault.bad_speech_quality(), BadSpeechQuality, "quality too low"),
        (Fault.file_too_large(), FileTooLarge, "too large (over 10 MB)"),
        (Fault.format_not_recognized(applies_to="/voices/clone"), FormatNotRecognized, "WAV, MP3, FLAC or AIFF"),
        (Fault.clone_limit(shape="unwrapped"), VoiceCloneLimitExceeded, "slots at AsyncFlow"),
    ],
)
async def test_each_documented_clone_error_has_its_class_and_words(
    asyncflow: FakeAsyncFlow, make_client: MakeClient, fault: Fault, error_class: type[AsyncFlowError], words: str
) -> None:
    asyncflow.faults.append(fault)
    with pytest.raises(error_class) as caught:
        await make_client().clone_voice(wav_sample(3.5), "me.wav", "audio/wav", "Alex", "en")
    assert caught.value.status == fault.status
    assert words in describe_clone_error(caught.value)
    assert len(asyncflow.clone_requests) == 1  # never retried, not even a 429
    assert not [v for v in asyncflow.voices if v.voice_type == "CUSTOM"]


async def test_the_stand_in_checks_the_sample_itself(asyncflow: FakeAsyncFlow, make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(FormatNotRecognized):
        await client.clone_voice(b"not audio", "notes.txt", "text/plain", "Alex", "en")
    with pytest.raises(FileTooLarge):
        await client.clone_voice(b"\0" * (MAX_CLONE_BYTES + 1), "big.wav", "audio/wav", "Alex", "en")


async def test_a_clone_is_not_retried_after_a_server_error(asyncflow: FakeAsyncFlow, make_client: MakeClient) -> None:
    asyncflow.faults.append(Fault.server_error(applies_to="/voices/clone"))
    with pytest.raises(ServerError) as caught:
        await make_client().clone_voice(wav_sample(3.5), "me.wav", "audio/wav", "Alex", "en")
    assert len(asyncflow.clone_requests) == 1
    assert describe_clone_error(caught.value).endswith("Your voice wasn't cloned.")
