"""A local stand-in for the AsyncFlow (Async Voice) HTTP API, for tests and benchmarks.

It is a real HTTP server (aiohttp) on 127.0.0.1 with an ephemeral port: start it, point the real client at
``server.base_url`` and tell it to misbehave through :attr:`FakeAsyncFlow.faults` and the stream-shaping knobs.
Behaviour follows ``/work/shared/reference/asyncflow-api.md`` (sections 2-6 and 10); where the real service is
undocumented the choices are written down next to the code.

Audio is a deterministic tone (see :func:`expected_samples`), so a test can prove that what reaches Discord is
what this server sent.

Run it by hand with ``python -m tests.asyncflow_server [--port 8765] [--api-key KEY ...] [--realtime-factor 3]``
from the checkout, or ``python path/to/tests/asyncflow_server.py`` from any directory; ``--log`` prints each
request it receives (the key redacted) and a one-line summary of its reply.

Choices where the reference says "unknown":

* Missing ``version`` header is accepted (unless ``strict_version``); any value other than ``v1`` is a 404.
* Schema errors (missing fields, wrong types, ``sample_rate`` out of 8000-48000, unknown ``model_id``, bad JSON)
  answer 422 with a FastAPI-style list ``detail``; the documented semantic errors (``INVALID_LANGUAGE``,
  ``FORMAT_NOT_RECOGNIZED``, ``VOICE_NOT_FOUND``) answer in the wrapped ``{"detail": {...}}`` form.
* ``mp3`` is answered with 400 ``FORMAT_NOT_RECOGNIZED``: there is no MP3 encoder here.
* ``wav`` on the streaming endpoint, ``pcm_mulaw`` on the whole-file endpoint and unknown containers/encodings
  are 400 ``FORMAT_NOT_RECOGNIZED`` too.
* Pro / Flash 1.5 on ``/text_to_speech`` are accepted unless ``strict_models`` is set (then 400 with the
  invented code ``MODEL_NOT_SUPPORTED``; the real answer is undocumented).
* Unknown routes answer like FastAPI: 404 ``{"detail": "Not Found"}`` (405 for a wrong method), before auth.
* ``next_cursor`` is ``null`` on the last page; an unknown ``after`` cursor is a 422.
* Raw output is ``application/octet-stream``; WAV is ``audio/wav``; bodies always use chunked transfer encoding.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json as jsonlib
import re
import signal
import struct
import sys
import time
import uuid
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email import policy as email_policy
from email.parser import BytesParser
from types import TracebackType
from typing import Any, Literal, Self, TextIO, get_args

import numpy as np
import numpy.typing as npt
from aiohttp import web
from aiohttp.typedefs import Handler

__all__ = [
    "DEFAULT_API_KEY",
    "DEMO_VOICE_ID",
    "DOCUMENTED_500_BODY",
    "LANGUAGES",
    "MODELS",
    "QUOTA_MARKER",
    "STREAM_PATH",
    "TTS_PATH",
    "FakeAsyncFlow",
    "Fault",
    "RecordedRequest",
    "SampleEncoding",
    "Voice",
    "WavHeaderStyle",
    "decode_samples",
    "encode_samples",
    "error_body",
    "expected_samples",
    "render_audio",
    "seed_voices",
    "tone_for",
    "wav_header",
]

# --------------------------------------------------------------------------------------------------------------------
# Constants from the reference
# --------------------------------------------------------------------------------------------------------------------

DEFAULT_API_KEY = "sk_test_valid_key"
DEMO_VOICE_ID = "e0f39dc4-f691-4e78-bba5-5c636692cc04"
QUOTA_MARKER = b"--ERROR:QUOTA_EXCEEDED--"

CURRENT_MODELS = ("async_pro_v1.0", "async_flash_v1.5", "async_flash_v1.0")
LEGACY_MODELS = ("asyncflow_v2.0", "asyncflow_multilingual_v1.0")
MODELS = CURRENT_MODELS + LEGACY_MODELS
# Models the Models page says support the whole-file endpoint (only checked with ``strict_models``).
SYNC_MODELS = frozenset({"async_flash_v1.0", *LEGACY_MODELS})

LANGUAGES = ("en", "fr", "es", "de", "it", "pt", "ar", "ru", "ro", "ja", "he", "hy", "tr", "hi", "zh")

TTS_PATH = "/text_to_speech"
STREAM_PATH = "/text_to_speech/streaming"
TTS_PATHS = frozenset({TTS_PATH, STREAM_PATH})
CLONE_PATH = "/voices/clone"
CLONE_FORMATS = frozenset({"wav", "mp3", "flac", "aiff"})
"""The sample formats ``POST /voices/clone`` documents ("Supported formats: wav, mp3, flac, aiff")."""
MAX_CLONE_BYTES = 10 * 1024 * 1024
"""The documented largest sample: "exceeds maximum allowed size of 10 MB" (read as MiB here)."""
_FILE_TOO_LARGE_MESSAGE = "Uploaded file exceeds maximum allowed size of 10 MB."

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 48000

SampleEncoding = Literal["u8", "s16le", "s24le", "s32le", "f32le", "f64le", "mulaw", "alaw"]
"""Sample encodings by the names used in ``cogs/engine/audio_format.py`` (kept local: the stand-in models the
external service and must not depend on the code under test)."""

WavHeaderStyle = Literal["exact", "streaming", "zero", "extra_chunks", "extensible"]

_BYTES_PER_SAMPLE: dict[SampleEncoding, int] = {
    "u8": 1,
    "s16le": 2,
    "s24le": 3,
    "s32le": 4,
    "f32le": 4,
    "f64le": 8,
    "mulaw": 1,
    "alaw": 1,
}
# API ``output_format.encoding`` -> sample encoding.
_API_ENCODINGS: dict[str, SampleEncoding] = {"pcm_s16le": "s16le", "pcm_f32le": "f32le", "pcm_mulaw": "mulaw"}
_WAV_FORMAT_TAG: dict[SampleEncoding, int] = {
    "u8": 1,
    "s16le": 1,
    "s24le": 1,
    "s32le": 1,
    "f32le": 3,
    "f64le": 3,
    "alaw": 6,
    "mulaw": 7,
}
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_KSDATAFORMAT_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")

FloatArray = npt.NDArray[np.float64]

# --------------------------------------------------------------------------------------------------------------------
# Audio: deterministic tone, encoders, decoders, WAV headers
# --------------------------------------------------------------------------------------------------------------------

TONE_AMPLITUDE = 0.5
FADE_MS = 10.0


def tone_for(voice_id: str) -> float:
    """Tone frequency (Hz) of a voice: distinct fixed values for the seeded voices, a stable hash-derived value
    in 200-899.5 Hz for any other id (e.g. voices a test adds without choosing ``tone_hz``)."""
    seeded = _SEEDED_TONES.get(voice_id)
    if seeded is not None:
        return seeded
    return 200.0 + (zlib.crc32(voice_id.encode()) % 1400) / 2


def expected_samples(
    transcript: str,
    voice_id: str,
    sample_rate: int,
    ms_per_char: float = 50.0,
    *,
    tone_hz: float | None = None,
) -> FloatArray:
    """The ideal mono signal, floats in [-1, 1], that the server encodes for this request.

    ``ms_per_char * len(transcript)`` milliseconds (markup counts as text) of a sine at half full scale, phase 0
    at the first sample, with 10 ms linear fade-in and fade-out.
    """
    hz = tone_for(voice_id) if tone_hz is None else tone_hz
    n = round(sample_rate * ms_per_char * len(transcript) / 1000)
    idx = np.arange(n, dtype=np.float64)
    signal = TONE_AMPLITUDE * np.sin(2 * np.pi * hz * idx / sample_rate)
    fade = max(1, round(sample_rate * FADE_MS / 1000))
    envelope = np.minimum(1.0, np.minimum(idx / fade, (n - 1 - idx) / fade))
    result: FloatArray = signal * np.clip(envelope, 0.0, 1.0)
    return result


_MULAW_BIAS = 0x84
_BIT_LENGTH = np.array([v.bit_length() for v in range(256)], dtype=np.int32)
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def _to_int(samples: FloatArray, full_scale: int) -> npt.NDArray[np.int64]:
    return np.clip(np.round(samples * full_scale), -full_scale - 1, full_scale).astype(np.int64)


def _mulaw_encode(s16: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """G.711 μ-law from 16-bit linear, as the ITU-T G.191 reference ``ulaw_compress`` does it.

    (Only the top 14 bits count; negative values use the one's complement magnitude.)
    """
    s = s16.astype(np.int32)
    absno = np.minimum(np.where(s < 0, (~s) >> 2, s >> 2) + 33, 0x1FFF)
    segno = _BIT_LENGTH[absno >> 6] + 1
    high = 8 - segno
    low = 0x0F - ((absno >> segno) & 0x0F)
    codes = (high << 4) | low | np.where(s >= 0, 0x80, 0)
    result: npt.NDArray[np.uint8] = codes.astype(np.uint8)
    return result


def _mulaw_decode(codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.int32]:
    u = ~codes.astype(np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = (((mantissa << 3) + _MULAW_BIAS) << exponent) - _MULAW_BIAS
    return np.where(u & 0x80, -mag, mag).astype(np.int32)


def _alaw_encode(s16: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """G.711 A-law from 16-bit linear (Sun/CCITT algorithm on the 13-bit magnitude)."""
    p = s16.astype(np.int32) >> 3
    mask = np.where(p >= 0, 0xD5, 0x55).astype(np.int32)
    p = np.where(p >= 0, p, -p - 1)
    seg = np.searchsorted(_ALAW_SEG_END, p).astype(np.int32)
    low = np.where(seg < 2, (p >> 1) & 0x0F, (p >> np.maximum(seg, 1)) & 0x0F)
    aval = np.where(seg >= 8, 0x7F, (seg << 4) | low)
    return ((aval ^ mask) & 0xFF).astype(np.uint8)


def _alaw_decode(codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.int32]:
    a = codes.astype(np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, np.where(seg == 1, t + 0x108, (t + 0x108) << np.maximum(seg - 1, 0)))
    return np.where(a & 0x80, t, -t).astype(np.int32)


def encode_samples(samples: FloatArray, encoding: SampleEncoding, channels: int = 1) -> bytes:
    """Encode mono floats in [-1, 1] as little-endian interleaved audio, copying the signal to every channel.

    Integer scaling: ``round(x * (2**(bits-1) - 1))`` (so +1.0 fits); u8 is that for 8 bits plus 128.
    """
    if channels < 1:
        raise ValueError("channels must be >= 1")
    x = np.asarray(samples, dtype=np.float64)
    if channels > 1:
        x = np.repeat(x, channels)
    if encoding == "s16le":
        return _to_int(x, 32767).astype("<i2").tobytes()
    if encoding == "f32le":
        return x.astype("<f4").tobytes()
    if encoding == "f64le":
        return x.astype("<f8").tobytes()
    if encoding == "s32le":
        return _to_int(x, 2**31 - 1).astype("<i4").tobytes()
    if encoding == "s24le":
        as32 = _to_int(x, 2**23 - 1).astype("<i4")
        return as32.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    if encoding == "u8":
        return (_to_int(x, 127) + 128).astype(np.uint8).tobytes()
    if encoding == "mulaw":
        return _mulaw_encode(_to_int(x, 32767)).tobytes()
    if encoding == "alaw":
        return _alaw_encode(_to_int(x, 32767)).tobytes()
    raise ValueError(f"unsupported encoding {encoding!r}")


def decode_samples(data: bytes, encoding: SampleEncoding, channels: int = 1) -> FloatArray:
    """Inverse of :func:`encode_samples`: floats, shape ``(frames,)`` for mono or ``(frames, channels)``.

    A trailing partial frame is ignored. G.711 codes decode through 16-bit linear.
    """
    width = _BYTES_PER_SAMPLE[encoding]
    usable = len(data) - len(data) % (width * channels)
    raw = data[:usable]
    out: FloatArray
    if encoding == "s16le":
        out = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32767
    elif encoding == "f32le":
        out = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    elif encoding == "f64le":
        out = np.frombuffer(raw, dtype="<f8").astype(np.float64)
    elif encoding == "s32le":
        out = np.frombuffer(raw, dtype="<i4").astype(np.float64) / (2**31 - 1)
    elif encoding == "s24le":
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - 0x1000000, v)
        out = v.astype(np.float64) / (2**23 - 1)
    elif encoding == "u8":
        out = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128) / 127
    elif encoding == "mulaw":
        out = _mulaw_decode(np.frombuffer(raw, dtype=np.uint8)).astype(np.float64) / 32767
    elif encoding == "alaw":
        out = _alaw_decode(np.frombuffer(raw, dtype=np.uint8)).astype(np.float64) / 32767
    else:
        raise ValueError(f"unsupported encoding {encoding!r}")
    if channels > 1:
        out = out.reshape(-1, channels)
    return out


def render_audio(
    transcript: str,
    tone_hz: float,
    sample_rate: int,
    encoding: SampleEncoding,
    *,
    channels: int = 1,
    ms_per_char: float = 50.0,
) -> bytes:
    """The raw audio bytes the server sends for one request (no container)."""
    samples = expected_samples(transcript, "", sample_rate, ms_per_char, tone_hz=tone_hz)
    return encode_samples(samples, encoding, channels)


def _speech_audio(speech: FloatArray, seconds: float, encoding: SampleEncoding, channels: int) -> bytes:
    """``seconds`` of the given 48 kHz speech, looped as often as needed, encoded as asked."""
    n = round(48_000 * seconds)
    repeats = -(-n // max(1, len(speech)))
    samples: FloatArray = np.tile(speech, repeats)[:n]
    return encode_samples(samples, encoding, channels)


def wav_header(
    *,
    sample_rate: int,
    channels: int,
    encoding: SampleEncoding,
    data_len: int,
    style: WavHeaderStyle = "exact",
) -> bytes:
    """A RIFF/WAVE header that ends with the ``data`` chunk header; the audio follows it.

    * ``exact``: canonical 44 bytes (16-byte ``fmt ``), real sizes. Format tag 1 PCM, 3 IEEE float, 6 A-law,
      7 μ-law.
    * ``streaming``: RIFF and data sizes 0xFFFFFFFF (what streaming encoders write when the length is unknown).
    * ``zero``: RIFF and data sizes 0.
    * ``extra_chunks``: a ``LIST``/``INFO`` chunk and an odd-sized unknown ``afsi`` chunk (plus its pad byte)
      between ``fmt `` and ``data``; real sizes.
    * ``extensible``: WAVE_FORMAT_EXTENSIBLE, 40-byte ``fmt `` with the KSDATAFORMAT subformat GUID; real sizes.

    With real sizes and an odd ``data_len`` the RIFF size includes the data pad byte the caller must append.
    """
    width = _BYTES_PER_SAMPLE[encoding]
    block_align = width * channels
    byte_rate = sample_rate * block_align
    bits = 8 * width
    tag = _WAV_FORMAT_TAG[encoding]
    if style == "extensible":
        channel_mask = {1: 0x4, 2: 0x3}.get(channels, 0)
        subformat = struct.pack("<H", tag) + _KSDATAFORMAT_GUID_TAIL
        cb_size = 22  # bytes after the 18-byte WAVEFORMATEX part: valid bits, channel mask, subformat GUID
        head = (_WAVE_FORMAT_EXTENSIBLE, channels, sample_rate, byte_rate, block_align, bits, cb_size)
        fmt_body = struct.pack("<HHIIHHHHI", *head, bits, channel_mask) + subformat
    else:
        fmt_body = struct.pack("<HHIIHH", tag, channels, sample_rate, byte_rate, block_align, bits)
    chunks = _riff_chunk(b"fmt ", fmt_body)
    if style == "extra_chunks":
        info = b"INFO" + _riff_chunk(b"ISFT", b"AsyncFlow stand-in\x00")
        chunks += _riff_chunk(b"LIST", info) + _riff_chunk(b"afsi", b"odd")
    pad = data_len % 2
    if style == "streaming":
        riff_size = data_size = 0xFFFFFFFF
    elif style == "zero":
        riff_size = data_size = 0
    else:
        data_size = data_len
        riff_size = 4 + len(chunks) + 8 + data_len + pad
    return b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + chunks + b"data" + struct.pack("<I", data_size)


def _riff_chunk(chunk_id: bytes, body: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


# --------------------------------------------------------------------------------------------------------------------
# Voice library
# --------------------------------------------------------------------------------------------------------------------

Gender = Literal["Male", "Female", "Neutral", "Unspecified"]
VoiceType = Literal["PREDEFINED", "CUSTOM"]


@dataclass
class Voice:
    """One voice of the library. ``tone_hz`` is the stand-in's own field: it is never sent in JSON."""

    voice_id: str
    name: str
    description: str = ""
    language: str = "en"
    gender: Gender = "Unspecified"
    accent: str = ""
    style: str = ""
    created_at: str = "2025-05-19T14:37:07.297056"
    updated_at: str = "2025-05-19T14:37:07.297056"
    voice_type: VoiceType = "CUSTOM"
    tone_hz: float | None = None

    def __post_init__(self) -> None:
        if self.tone_hz is None:
            self.tone_hz = tone_for(self.voice_id)

    @property
    def languages(self) -> list[str]:
        return [part.strip() for part in self.language.split(",") if part.strip()]

    def to_json(self) -> dict[str, Any]:
        """The documented voice object (all ten fields)."""
        return {
            "voice_id": self.voice_id,
            "name": self.name,
            "description": self.description,
            "language": self.language,
            "gender": self.gender,
            "accent": self.accent,
            "style": self.style,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "voice_type": self.voice_type,
        }


_VOICE_NAMESPACE = uuid.UUID("6f1c2a52-5b0e-4c8e-9d43-0a5f6b8e7c21")

# name, language, gender, accent, style, description
_SEED: tuple[tuple[str, str, Gender, str, str, str], ...] = (
    ("Ethan", "en", "Male", "American (US)", "Conversational", "Friendly default demo voice."),
    ("Olivia", "en", "Female", "American (US)", "Narration,Storytelling", "Warm, clear narrator."),
    ("James", "en", "Male", "British (UK)", "News", "Measured newsreader."),
    ("Amelia", "en", "Female", "British (UK)", "Conversational", "Bright and upbeat."),
    ("Liam", "en", "Male", "Australian", "Casual", "Relaxed, easygoing."),
    ("Chloe", "en", "Female", "Canadian", "Customer Support", "Patient and helpful."),
    ("Noah", "en", "Male", "American (US)", "Storytelling", "Deep bedtime-story voice."),
    ("Ava", "en,es", "Female", "American (US)", "Conversational", "Bilingual assistant."),
    ("Riley", "en", "Neutral", "American (US)", "Narration", "Calm, neutral narrator."),
    ("Sam", "en", "Unspecified", "Irish", "Casual", "Light Irish lilt."),
    ("Camille", "fr", "Female", "Parisian", "Narration", "Élégante et posée."),
    ("Julien", "fr", "Male", "Parisian", "Conversational", "Décontracté et chaleureux."),
    ("Lucía", "es", "Female", "Castilian", "Storytelling", "Expresiva y cálida."),
    ("Mateo", "es", "Male", "Mexican", "News", "Locutor claro."),
    ("Hannah", "de", "Female", "Standard German", "Conversational", "Freundlich und klar."),
    ("Lukas", "de,en", "Male", "Standard German", "Narration", "Ruhiger Erzähler."),
    ("Giulia", "it", "Female", "Standard Italian", "Conversational", "Vivace e naturale."),
    ("Marco", "it", "Male", "Roman", "Storytelling", "Narratore caldo."),
    ("Beatriz", "pt", "Female", "Brazilian", "Casual", "Leve e simpática."),
    ("Tiago", "pt", "Male", "European Portuguese", "News", "Sóbrio e preciso."),
    ("Layla", "ar", "Female", "Modern Standard Arabic", "Narration", "Clear MSA narrator."),
    ("Dmitri", "ru", "Male", "Moscow", "News", "Serious newsreader."),
    ("Ioana", "ro", "Female", "Standard Romanian", "Conversational", "Friendly Romanian voice."),
    ("Haruto", "ja", "Male", "Tokyo", "Narration", "Calm Japanese narrator."),
    ("Noa", "he", "Female", "Israeli", "Conversational", "Warm Hebrew voice."),
    ("Aram", "hy", "Male", "Eastern Armenian", "Storytelling", "Armenian storyteller."),
    ("Elif", "tr", "Female", "Istanbul", "Customer Support", "Polite Turkish assistant."),
    ("Aarav", "hi,en", "Male", "Indian", "Conversational", "Hindi and Indian English."),
    ("Mei", "zh", "Female", "Mandarin (Beijing)", "News", "Crisp Mandarin anchor."),
    ("Sanne", "nl,en,de,fr,it", "Female", "Dutch", "Conversational", "Multilingual Dutch voice."),
)


def _seed_id(index: int, name: str) -> str:
    return DEMO_VOICE_ID if index == 0 else str(uuid.uuid5(_VOICE_NAMESPACE, name))


# Distinct tones 220..820 Hz in 20 Hz steps; the demo voice gets A4 (440 Hz).
_TONE_STEPS = [440.0] + [float(220 + 20 * i) for i in range(31) if 220 + 20 * i != 440]
_SEEDED_TONES: dict[str, float] = {_seed_id(i, row[0]): _TONE_STEPS[i] for i, row in enumerate(_SEED)}


def seed_voices() -> list[Voice]:
    """A fresh copy of the ~30 predefined voices (first: the documented demo voice)."""
    voices: list[Voice] = []
    for i, (name, language, gender, accent, style, description) in enumerate(_SEED):
        # Alternate the two timestamp styles the docs show, so clients must parse both.
        stamp = f"2025-03-{1 + i % 28:02d}T11:15:32Z" if i % 3 == 2 else f"2025-05-{1 + i % 28:02d}T14:37:07.297056"
        voice_id = _seed_id(i, name)
        voices.append(
            Voice(
                voice_id=voice_id,
                name=name,
                description=description,
                language=language,
                gender=gender,
                accent=accent,
                style=style,
                created_at=stamp,
                updated_at=stamp,
                voice_type="PREDEFINED",
                tone_hz=_SEEDED_TONES[voice_id],
            )
        )
    return voices


# --------------------------------------------------------------------------------------------------------------------
# Recorded requests and faults
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names lower-cased."""
    json: Any | None
    """Parsed JSON body, or None when there was no body or it was not JSON."""
    body: bytes = b""
    query: dict[str, str] = field(default_factory=dict)
    received_at: float = 0.0
    """``time.monotonic()`` when the request arrived (to check client back-off)."""
    form: dict[str, FormField] = field(default_factory=dict)
    """A multipart body's fields by name (``POST /voices/clone``), empty otherwise."""


@dataclass(frozen=True)
class FormField:
    """One field of a multipart body: its bytes, and the file name and type a file part was sent with."""

    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode(errors="replace")


FaultKind = Literal[
    "error",
    "server_error",
    "unexpected_json",
    "drop_connection",
    "delay",
    "cut_after",
    "stall_after",
    "quota_after",
    "wrong_format",
]
ErrorShape = Literal["wrapped", "unwrapped"]

_STREAM_KINDS: frozenset[str] = frozenset({"cut_after", "stall_after", "quota_after", "wrong_format"})

_DEFAULT_GATEWAY_BODIES: dict[int, str] = {
    502: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    503: "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
    504: "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out"
    "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
}

DOCUMENTED_500_BODY: dict[str, Any] = {
    "message": "Oops! Internal server error occurred.",
    "method": "POST",
    "url": "/v1/tts/stream",
    "detail": "Error: Traceback #42",
}


@dataclass
class Fault:
    """One injected failure, applied to the next request it matches (see :attr:`applies_to`).

    Build it with the class methods (``Fault.rate_limited()``, ``Fault.cut_after(1000)``...). Response faults
    (errors, odd bodies, dropped connections) replace the whole answer and are applied right after auth, before
    the body is validated; a ``delay`` holds the request there, then lets it be answered as usual. Stream faults (``cut_after``, ``stall_after``, ``quota_after``, ``wrong_format``)
    shape a successful audio answer and are only taken by a valid TTS request.
    """

    kind: FaultKind
    status: int = 200
    error_code: str | None = None
    message: str | None = None
    extra: dict[str, Any] | None = None
    shape: ErrorShape = "wrapped"
    retry_after_header: str | None = None
    json_body: Any = None
    """Body for ``unexpected_json`` and JSON ``server_error``."""
    text_body: str | None = None
    """Non-JSON body for ``server_error`` (HTML from a proxy, plain text...)."""
    content_type: str | None = None
    n_bytes: int = 0
    seconds: float = 0.0
    marker_split: int = 9
    """``quota_after``: the marker is written as ``marker[:split]`` and ``marker[split:]``, two chunks."""
    sample_rate: int | None = None
    channels: int | None = None
    encoding: SampleEncoding | None = None
    applies_to: str = "tts"
    """``"tts"`` (both TTS routes), ``"voices"`` (voice routes), ``"any"``, or an exact path."""

    def __post_init__(self) -> None:
        if self.kind in _STREAM_KINDS and self.applies_to not in {"tts", *TTS_PATHS}:
            raise ValueError(f"{self.kind} only applies to TTS routes, not {self.applies_to!r}")
        if self.n_bytes < 0 or self.seconds < 0:
            raise ValueError("n_bytes and seconds must not be negative")
        if self.encoding is not None and self.encoding not in get_args(SampleEncoding):
            raise ValueError(f"unknown encoding {self.encoding!r}")
        if self.channels is not None and self.channels < 1:
            raise ValueError("channels must be >= 1")
        if not 0 < self.marker_split < len(QUOTA_MARKER):
            raise ValueError("marker_split must split the marker into two non-empty parts")

    @property
    def is_stream_fault(self) -> bool:
        return self.kind in _STREAM_KINDS

    def matches(self, path: str) -> bool:
        if self.applies_to == "any":
            return True
        if self.applies_to == "tts":
            return path in TTS_PATHS
        if self.applies_to == "voices":
            return path == "/voices" or path.startswith("/voices/")
        return path == self.applies_to

    # ----- error answers -----------------------------------------------------------------------------------------

    @classmethod
    def error(
        cls,
        status: int,
        error_code: str,
        message: str,
        extra: dict[str, Any] | None = None,
        shape: ErrorShape = "wrapped",
        *,
        retry_after_header: str | None = None,
        applies_to: str = "tts",
    ) -> Fault:
        """A documented-style JSON error: ``{"detail": {error_code, message, extra}}`` or the unwrapped form."""
        return cls(
            "error",
            status=status,
            error_code=error_code,
            message=message,
            extra=extra,
            shape=shape,
            retry_after_header=retry_after_header,
            applies_to=applies_to,
        )

    @classmethod
    def invalid_key(cls, api_key: str = "sk_33...", *, shape: ErrorShape = "wrapped", applies_to: str = "tts") -> Fault:
        return cls.error(
            401, "INVALID_API_KEY", "Invalid or expired API key.", {"api_key": api_key}, shape, applies_to=applies_to
        )

    @classmethod
    def version_not_found(
        cls, version: str = "v0.9", *, shape: ErrorShape = "wrapped", applies_to: str = "tts"
    ) -> Fault:
        return cls.error(
            404, "VERSION_NOT_FOUND", f"API version {version} not found.", None, shape, applies_to=applies_to
        )

    @classmethod
    def voice_not_found(
        cls, voice_id: str = DEMO_VOICE_ID, *, shape: ErrorShape = "wrapped", applies_to: str = "tts"
    ) -> Fault:
        return cls.error(
            404,
            "VOICE_NOT_FOUND",
            f"Requested voice with ID {voice_id} not found.",
            {"voice_id": voice_id},
            shape,
            applies_to=applies_to,
        )

    @classmethod
    def invalid_language(cls, language: str = "xx", *, shape: ErrorShape = "wrapped", applies_to: str = "tts") -> Fault:
        return cls.error(
            400, "INVALID_LANGUAGE", f"Language code '{language}' is not supported.", None, shape, applies_to=applies_to
        )

    @classmethod
    def format_not_recognized(cls, *, shape: ErrorShape = "wrapped", applies_to: str = "tts") -> Fault:
        return cls.error(
            400,
            "FORMAT_NOT_RECOGNIZED",
            "Audio format not recognized or unsupported.",
            None,
            shape,
            applies_to=applies_to,
        )

    @classmethod
    def clone_limit(cls, *, shape: ErrorShape = "wrapped", applies_to: str = CLONE_PATH) -> Fault:
        """429 VOICE_CLONE_LIMIT_EXCEEDED: the account holds as many clones as its plan allows."""
        return cls.error(
            429, "VOICE_CLONE_LIMIT_EXCEEDED", "Voice cloning limit exceeded.", None, shape, applies_to=applies_to
        )

    @classmethod
    def short_speech(cls, *, shape: ErrorShape = "wrapped", applies_to: str = CLONE_PATH) -> Fault:
        return cls.error(
            400,
            "SHORT_SPEECH_DURATION",
            "Speech duration is too short. Minimum required is 3 seconds.",
            None,
            shape,
            applies_to=applies_to,
        )

    @classmethod
    def bad_speech_quality(cls, *, shape: ErrorShape = "wrapped", applies_to: str = CLONE_PATH) -> Fault:
        return cls.error(
            400,
            "BAD_SPEECH_QUALITY",
            "Speech quality is too low, please try again with a higher quality.",
            None,
            shape,
            applies_to=applies_to,
        )

    @classmethod
    def file_too_large(cls, *, shape: ErrorShape = "wrapped", applies_to: str = CLONE_PATH) -> Fault:
        return cls.error(413, "FILE_TOO_LARGE", _FILE_TOO_LARGE_MESSAGE, None, shape, applies_to=applies_to)

    @classmethod
    def concurrency(
        cls, limit: int = 5, current: int = 7, *, shape: ErrorShape = "wrapped", applies_to: str = "tts"
    ) -> Fault:
        return cls.error(
            429,
            "TOO_MANY_CONCURRENT_REQUESTS",
            "Too many concurrent requests",
            {"limit": limit, "current": current},
            shape,
            applies_to=applies_to,
        )

    @classmethod
    def rate_limited(
        cls,
        retry_after_ms: int = 8500,
        header: str | None = None,
        *,
        limit: int = 120,
        shape: ErrorShape = "wrapped",
        applies_to: str = "tts",
    ) -> Fault:
        """429 RATE_LIMIT_EXCEEDED with ``extra.retry_after_ms``; ``header`` (e.g. ``"2"``) adds ``Retry-After``."""
        return cls.error(
            429,
            "RATE_LIMIT_EXCEEDED",
            "Rate limit exceeded. Please try again later.",
            {"limit": limit, "retry_after_ms": retry_after_ms},
            shape,
            retry_after_header=header,
            applies_to=applies_to,
        )

    @classmethod
    def usage_limit(
        cls, limit: int = 1_000_000, current: int = 1_250_000, *, shape: ErrorShape = "wrapped", applies_to: str = "tts"
    ) -> Fault:
        return cls.error(
            429,
            "USAGE_LIMIT_EXCEEDED",
            "Quota exceeded. Please upgrade your plan or try later.",
            {"limit": limit, "current": current},
            shape,
            applies_to=applies_to,
        )

    @classmethod
    def server_error(
        cls,
        status: int = 500,
        non_json_body: str | None = None,
        *,
        content_type: str | None = None,
        applies_to: str = "tts",
    ) -> Fault:
        """The documented 500 body ``{message, method, url, detail}``; with ``non_json_body`` that text instead
        (``content_type`` defaults to text/html when it starts with ``<``, else text/plain)."""
        if non_json_body is None:
            return cls("server_error", status=status, json_body=dict(DOCUMENTED_500_BODY), applies_to=applies_to)
        if content_type is None:
            content_type = "text/html" if non_json_body.lstrip().startswith("<") else "text/plain"
        return cls(
            "server_error", status=status, text_body=non_json_body, content_type=content_type, applies_to=applies_to
        )

    @classmethod
    def gateway_error(cls, status: int = 502, *, applies_to: str = "tts") -> Fault:
        """A proxy's non-JSON 502/503/504 page (nginx HTML for 502/504, Envoy-style plain text for 503)."""
        body = _DEFAULT_GATEWAY_BODIES.get(status, f"{status} error")
        return cls.server_error(status, body, applies_to=applies_to)

    @classmethod
    def unexpected_json(cls, status: int, body: Any, *, applies_to: str = "tts") -> Fault:
        """Any JSON body with any status, e.g. a FastAPI 422 list ``detail`` or ``{}``."""
        return cls("unexpected_json", status=status, json_body=body, applies_to=applies_to)

    @classmethod
    def drop_connection(cls, *, applies_to: str = "tts") -> Fault:
        """Close the TCP connection without sending any response."""
        return cls("drop_connection", applies_to=applies_to)

    @classmethod
    def delay(cls, seconds: float, *, applies_to: str = "tts") -> Fault:
        """Hold the request ``seconds`` before answering it as usual (a slow voice list, say). A request whose
        client gives up first is not answered; :attr:`FakeAsyncFlow.delays_completed` counts the ones that were."""
        return cls("delay", seconds=seconds, applies_to=applies_to)

    # ----- stream faults -------------------------------------------------------------------------------------------

    @classmethod
    def cut_after(cls, n_bytes: int, *, applies_to: str = "tts") -> Fault:
        """200, then ``n_bytes`` of body (WAV header included), then the connection closes mid chunked body."""
        return cls("cut_after", n_bytes=n_bytes, applies_to=applies_to)

    @classmethod
    def stall_after(cls, n_bytes: int, seconds: float, *, applies_to: str = "tts") -> Fault:
        """200, ``n_bytes`` of body, a ``seconds`` pause, then the rest as usual."""
        return cls("stall_after", n_bytes=n_bytes, seconds=seconds, applies_to=applies_to)

    @classmethod
    def quota_after(cls, n_bytes: int, *, marker_split: int = 9, applies_to: str = "tts") -> Fault:
        """200, ``n_bytes`` of body (WAV header included), ``--ERROR:QUOTA_EXCEEDED--`` in two chunks, clean end."""
        return cls("quota_after", n_bytes=n_bytes, marker_split=marker_split, applies_to=applies_to)

    @classmethod
    def wrong_format(
        cls,
        *,
        sample_rate: int | None = None,
        channels: int | None = None,
        encoding: SampleEncoding | None = None,
        applies_to: str = "tts",
    ) -> Fault:
        """200, but the audio is in this format (None = as requested); a WAV header tells the truth."""
        return cls("wrong_format", sample_rate=sample_rate, channels=channels, encoding=encoding, applies_to=applies_to)


# --------------------------------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------------------------------


def error_body(
    error_code: str, message: str, extra: dict[str, Any] | None = None, shape: ErrorShape = "wrapped"
) -> dict[str, Any]:
    """The documented error object, wrapped in ``detail`` or not; ``extra`` is left out when None."""
    inner: dict[str, Any] = {"error_code": error_code, "message": message}
    if extra is not None:
        inner["extra"] = extra
    return {"detail": inner} if shape == "wrapped" else inner


def _error(
    status: int,
    error_code: str,
    message: str,
    extra: dict[str, Any] | None = None,
    shape: ErrorShape = "wrapped",
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.json_response(error_body(error_code, message, extra, shape), status=status, headers=headers)


def _validation_error(loc: Sequence[str | int], msg: str, type_: str, input_: Any) -> web.Response:
    """FastAPI's 422 shape (the reference says the real server may answer 400 or 422 here; unknown)."""
    detail = [{"type": type_, "loc": ["body", *loc], "msg": msg, "input": input_}]
    return web.json_response({"detail": detail}, status=422)


class _ServerStopping(Exception):
    """Raised inside a handler's pause when :meth:`FakeAsyncFlow.stop` runs."""


@dataclass
class _TtsJob:
    transcript: str
    voice: Voice
    container: str
    sample_rate: int
    encoding: SampleEncoding


class FakeAsyncFlow:
    """The stand-in server. Use ``async with FakeAsyncFlow() as server:`` or ``start()``/``stop()``.

    Example::

        async with FakeAsyncFlow() as server:
            server.faults += [Fault.rate_limited(retry_after_ms=200), Fault.quota_after(4000)]
            server.realtime_factor = 3.0
            ...  # point the client at server.base_url with api key DEFAULT_API_KEY
            assert len(server.tts_requests) == 2

    ``in_flight``/``peak_in_flight`` count every TTS request past auth, including ones answered with an error.
    After ``stop()`` the same object can be started again on the same port (a "restarted" service).
    """

    def __init__(self, *, api_keys: Iterable[str] = (DEFAULT_API_KEY,), host: str = "127.0.0.1", port: int = 0) -> None:
        self.api_keys: list[str] = list(api_keys)
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.voices: list[Voice] = seed_voices()
        # Stream shaping.
        self.chunk_bytes: int = 4096
        self.chunk_delay: float = 0.0
        self.first_byte_delay: float = 0.0
        self.realtime_factor: float | None = None
        self.voices_delay: float = 0.0
        """Seconds the voice routes (``POST /voices``, ``GET /voices/{id}``) wait before answering (a slow list)."""
        self.ms_per_char: float = 50.0
        self.pause_ms: float = 0.0
        """Each text begins and ends with this long a pause: a quiet noise floor (-50 dBFS), as recorded speech
        does; loud frames are still ``ms_per_char`` a character."""
        self.speech_samples: FloatArray | None = None
        """Real speech (mono floats at 48 kHz, e.g. from espeak-ng) to send instead of the voice's tone, looped
        or cut to the transcript's duration. For benchmarks; tests keep the tone, which they can recognise."""
        self.wav_header: WavHeaderStyle = "exact"
        self.split_header: bool = False
        # Limits and strictness.
        self.max_concurrent: int | None = None
        self.strict_version: bool = False
        self.strict_models: bool = False
        # Observability.
        self.in_flight: int = 0
        self.peak_in_flight: int = 0
        self.delays_completed: int = 0
        """Requests held by a ``delay`` fault for its whole length (one whose client left first is not counted)."""
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._stopping: asyncio.Event | None = None
        self._active: dict[int, web.BaseRequest] = {}  # id(request) -> request (requests are unhashable)
        self._body_bytes: dict[int, int] = {}  # id(request) -> audio bytes its reply carried
        self.log: TextIO | None = None
        """Where to print each request and a summary of its reply (``--log``: stdout); None: print nothing."""

    # ----- lifecycle ---------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("FakeAsyncFlow is not started")
        return self._base_url

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("FakeAsyncFlow is already started")
        self._stopping = asyncio.Event()
        # Bodies up to twice the clone limit reach the handler, so it (not aiohttp) answers FILE_TOO_LARGE.
        app = web.Application(middlewares=[self._middleware], client_max_size=2 * MAX_CLONE_BYTES)
        app.router.add_get("/", self._status)
        app.router.add_post(TTS_PATH, self._tts)
        app.router.add_post(STREAM_PATH, self._tts_streaming)
        app.router.add_post("/voices", self._list_voices)
        app.router.add_post(CLONE_PATH, self._clone_voice)
        app.router.add_get("/voices/{voice_id}", self._get_voice)
        app.router.add_delete("/voices/{voice_id}", self._delete_voice)
        # handler_cancellation: a client that goes away ends its handler at once, so in_flight drops promptly.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])
        self._base_url = f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        """Stop, aborting streams still in progress (their clients see a broken connection)."""
        runner = self._runner
        if runner is None:
            return
        self._runner = None
        if self._stopping is not None:
            self._stopping.set()
        for request in list(self._active.values()):
            if request.transport is not None:
                request.transport.abort()
        await runner.cleanup()
        # Let the connection tasks aiohttp cancelled run their last step before the caller's loop moves on.
        for _ in range(3):
            await asyncio.sleep(0)
        self._base_url = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ----- helpers for tests -------------------------------------------------------------------------------------

    @property
    def clone_requests(self) -> list[RecordedRequest]:
        """Recorded ``POST /voices/clone`` requests (the uploads)."""
        return [r for r in self.requests if r.method == "POST" and r.path == CLONE_PATH]

    @property
    def delete_requests(self) -> list[str]:
        """The voice ids of recorded ``DELETE /voices/{id}`` requests, in order."""
        return [r.path.removeprefix("/voices/") for r in self.requests if r.method == "DELETE"]

    @property
    def tts_requests(self) -> list[RecordedRequest]:
        """Recorded requests to the two TTS routes."""
        return [r for r in self.requests if r.path in TTS_PATHS]

    def find_voice(self, voice_id: str) -> Voice | None:
        return next((v for v in self.voices if v.voice_id == voice_id), None)

    def _take_fault(self, path: str, *, stream_ok: bool) -> Fault | None:
        """Pop the first fault matching ``path``; a stream fault stays queued unless ``stream_ok``."""
        for index, fault in enumerate(self.faults):
            if fault.matches(path):
                if fault.is_stream_fault and not stream_ok:
                    return None
                return self.faults.pop(index)
        return None

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up (raising :class:`_ServerStopping`) as soon as the server stops."""
        if seconds <= 0:
            return
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return
        raise _ServerStopping

    async def _slow_voices(self) -> None:
        """:attr:`voices_delay`, cut short (not failed) when the server stops."""
        with contextlib.suppress(_ServerStopping):
            await self._pause(self.voices_delay)

    # ----- middleware: record, route errors, auth, version ---------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        parsed: Any | None = None
        if body:
            try:
                parsed = jsonlib.loads(body)
            except ValueError:
                parsed = None
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            json=parsed,
            body=body,
            query=dict(request.query),
            received_at=time.monotonic(),
            form=_form_fields(request.headers.get("content-type", ""), body),
        )
        self.requests.append(recorded)
        try:
            response = await self._answer(request, handler)
        except BaseException:
            if self.log is not None:
                self.log.write(describe_request(recorded) + "  -> no reply (the connection was cut)\n")
                self.log.flush()
            raise
        finally:
            body_bytes = self._body_bytes.pop(id(request), None)
        if self.log is not None:
            self.log.write(describe_request(recorded) + f"  -> {describe_reply(response, body_bytes)}\n")
            self.log.flush()
        return response

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        http_exception = request.match_info.http_exception
        if http_exception is not None:
            # FastAPI answers unknown routes before any dependency (auth) runs.
            detail = "Method Not Allowed" if http_exception.status == 405 else "Not Found"
            return web.json_response({"detail": detail}, status=http_exception.status)
        if not (request.method == "GET" and request.path == "/"):
            key = request.headers.get("x-api-key")
            if key is None or key not in self.api_keys:
                sent = key or ""
                return _error(401, "INVALID_API_KEY", "Invalid or expired API key.", {"api_key": sent[:5] + "..."})
        version = request.headers.get("version")
        if version is None and self.strict_version:
            return _error(404, "VERSION_NOT_FOUND", "API version not specified.")
        if version is not None and version != "v1":
            return _error(404, "VERSION_NOT_FOUND", f"API version {version} not found.")
        if request.path not in TTS_PATHS:
            answer = await self._apply_response_fault(request)
            if answer is not None:
                return answer
        return await handler(request)

    async def _apply_response_fault(self, request: web.BaseRequest) -> web.StreamResponse | None:
        """The answer a queued response fault gives ``request``; None to answer it as usual (after any delay)."""
        fault = self._take_fault(request.path, stream_ok=False)
        if fault is None:
            return None
        if fault.kind != "delay":
            return self._fault_response(request, fault)
        try:
            await self._pause(fault.seconds)
        except _ServerStopping:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        self.delays_completed += 1
        return None

    def _fault_response(self, request: web.BaseRequest, fault: Fault) -> web.Response:
        headers: dict[str, str] = {}
        if fault.retry_after_header is not None:
            headers["Retry-After"] = fault.retry_after_header
        if fault.kind == "error":
            assert fault.error_code is not None
            assert fault.message is not None
            return _error(fault.status, fault.error_code, fault.message, fault.extra, fault.shape, headers)
        if fault.kind == "drop_connection":
            if request.transport is not None:
                request.transport.close()
            # aiohttp's attempt to send this fails quietly on the closed transport.
            return web.Response(status=200)
        if fault.text_body is not None:
            content_type = fault.content_type or "text/plain"
            return web.Response(status=fault.status, text=fault.text_body, content_type=content_type, headers=headers)
        return web.json_response(fault.json_body, status=fault.status, headers=headers)

    # ----- routes --------------------------------------------------------------------------------------------------

    async def _status(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok", "version": "v1"})

    async def _list_voices(self, request: web.Request) -> web.StreamResponse:
        await self._slow_voices()
        body: Any = {}
        raw = await request.read()
        if raw:
            try:
                body = jsonlib.loads(raw)
            except ValueError:
                return _validation_error([0], "JSON decode error", "json_invalid", {})
        if body is None:
            body = {}
        if not isinstance(body, dict):
            return _validation_error([], "Input should be a valid dictionary", "dict_type", body)
        limit = body.get("limit", 10)
        if limit is None:
            limit = 10
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            return _validation_error(["limit"], "Input should be between 1 and 100", "int_range", limit)
        filters: dict[str, Any] = {k: body.get(k) for k in ("language", "gender", "accent", "style", "my_voice")}

        def keep(voice: Voice) -> bool:
            language, gender, accent, style = (filters[k] for k in ("language", "gender", "accent", "style"))
            if language and language not in voice.languages:
                return False
            if gender and str(gender).lower() != voice.gender.lower():
                return False
            if accent and str(accent).lower() not in voice.accent.lower():
                return False
            styles = [s.strip().lower() for s in voice.style.split(",")]
            if style and str(style).lower() not in styles:
                return False
            return not (filters["my_voice"] and voice.voice_type != "CUSTOM")

        start = 0
        after = body.get("after")
        if after:
            ids = [v.voice_id for v in self.voices]
            if after not in ids:
                return _validation_error(["after"], f"Unknown cursor {after!r}", "value_error", after)
            start = ids.index(after) + 1
        matching = [v for v in self.voices[start:] if keep(v)]
        page = matching[:limit]
        next_cursor = page[-1].voice_id if len(matching) > limit else None
        return web.json_response({"voices": [v.to_json() for v in page], "next_cursor": next_cursor})

    async def _get_voice(self, request: web.Request) -> web.StreamResponse:
        await self._slow_voices()
        voice_id = request.match_info["voice_id"]
        voice = self.find_voice(voice_id)
        if voice is None:
            return _error(
                404, "VOICE_NOT_FOUND", f"Requested voice with ID {voice_id} not found.", {"voice_id": voice_id}
            )
        return web.json_response(voice.to_json())

    async def _clone_voice(self, request: web.Request) -> web.StreamResponse:
        """``POST /voices/clone``: a new CUSTOM voice from the ``audio`` file (``files`` accepted too, as the
        vendor's n8n node sends it), listed from then on like any other voice of the account."""
        form = _form_fields(request.headers.get("content-type", ""), await request.read())
        audio = form.get("audio") or form.get("files")
        if audio is None or audio.filename is None:
            return _validation_error(["audio"], "Field required", "missing", None)
        name = form.get("name")
        if name is None or not name.text.strip():
            return _validation_error(["name"], "Field required", "missing", None)
        if len(audio.data) > MAX_CLONE_BYTES:
            return _error(413, "FILE_TOO_LARGE", _FILE_TOO_LARGE_MESSAGE)
        extension = audio.filename.rsplit(".", 1)[-1].lower() if "." in audio.filename else ""
        if extension not in CLONE_FORMATS:
            return _error(400, "FORMAT_NOT_RECOGNIZED", "Audio format not recognized or unsupported.")
        language = form["language"].text if "language" in form else "en"
        if language not in LANGUAGES:
            return _error(400, "INVALID_LANGUAGE", f"Language code '{language}' is not supported.")
        description = form["description"].text if "description" in form else ""
        voice = Voice(
            voice_id=str(uuid.uuid4()),
            name=name.text,
            description=description,
            language=language,
            voice_type="CUSTOM",
        )
        self.voices.append(voice)
        return web.json_response(
            {"id": voice.voice_id, "name": voice.name, "description": voice.description, "language": voice.language}
        )

    async def _delete_voice(self, request: web.Request) -> web.StreamResponse:
        """``DELETE /voices/{id}``: 204; 404 VOICE_NOT_FOUND for an unknown id or one the account doesn't own."""
        voice_id = request.match_info["voice_id"]
        voice = self.find_voice(voice_id)
        if voice is None or voice.voice_type != "CUSTOM":
            return _error(
                404, "VOICE_NOT_FOUND", f"Requested voice with ID {voice_id} not found.", {"voice_id": voice_id}
            )
        self.voices.remove(voice)
        return web.Response(status=204)

    async def _tts(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_tts(request, streaming=False)

    async def _tts_streaming(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_tts(request, streaming=True)

    async def _serve_tts(self, request: web.Request, *, streaming: bool) -> web.StreamResponse:
        if self.max_concurrent is not None and self.in_flight >= self.max_concurrent:
            return _error(
                429,
                "TOO_MANY_CONCURRENT_REQUESTS",
                "Too many concurrent requests",
                {"limit": self.max_concurrent, "current": self.in_flight + 1},
            )
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self._active[id(request)] = request
        try:
            answer = await self._apply_response_fault(request)
            if answer is not None:
                return answer
            job = self._validate(await request.read(), streaming=streaming)
            if isinstance(job, web.Response):
                return job
            fault = self._take_fault(request.path, stream_ok=True)
            return await self._stream_audio(request, job, fault)
        finally:
            self.in_flight -= 1
            self._active.pop(id(request), None)

    def _validate(self, raw: bytes, *, streaming: bool) -> _TtsJob | web.Response:
        """Body checks per reference §3: schema errors 422, documented errors wrapped."""
        try:
            body = jsonlib.loads(raw) if raw else None
        except ValueError:
            return _validation_error([0], "JSON decode error", "json_invalid", {})
        if not isinstance(body, dict):
            return _validation_error([], "Input should be a valid dictionary", "dict_type", body)
        for name in ("model_id", "transcript", "voice", "output_format"):
            if name not in body:
                return _validation_error([name], "Field required", "missing", body)
        model_id = body["model_id"]
        if model_id not in MODELS:
            return _validation_error(["model_id"], f"Input should be one of {', '.join(MODELS)}", "enum", model_id)
        transcript = body["transcript"]
        if not isinstance(transcript, str):
            return _validation_error(["transcript"], "Input should be a valid string", "string_type", transcript)
        if not transcript:
            return _validation_error(["transcript"], "String should have at least 1 character", "string_too_short", "")
        voice_spec = body["voice"]
        if (
            not isinstance(voice_spec, dict)
            or voice_spec.get("mode") != "id"
            or not isinstance(voice_spec.get("id"), str)
        ):
            return _validation_error(
                ["voice"], "Input should be {'mode': 'id', 'id': <voice id>}", "model_type", voice_spec
            )
        output_format = body["output_format"]
        if not isinstance(output_format, dict):
            return _validation_error(
                ["output_format"], "Input should be a valid dictionary", "dict_type", output_format
            )
        sample_rate = output_format.get("sample_rate")
        if sample_rate is None:
            return _validation_error(["output_format", "sample_rate"], "Field required", "missing", output_format)
        if (
            isinstance(sample_rate, bool)
            or not isinstance(sample_rate, int)
            or not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE
        ):
            return _validation_error(
                ["output_format", "sample_rate"],
                f"Input should be an integer between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE}",
                "int_range",
                sample_rate,
            )
        for name, low, high in (("speed_control", 0.7, 2.0), ("stability", 0, 100)):
            value = body.get(name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high
            ):
                return _validation_error([name], f"Input should be between {low} and {high}", "range", value)
        language = body.get("language")
        if language is not None and language not in LANGUAGES:
            return _error(400, "INVALID_LANGUAGE", f"Language code '{language}' is not supported.")
        container = output_format.get("container")
        allowed_encodings = ("pcm_s16le", "pcm_f32le", "pcm_mulaw") if streaming else ("pcm_s16le", "pcm_f32le")
        api_encoding = output_format.get("encoding") or "pcm_s16le"
        allowed_containers = ("raw",) if streaming else ("raw", "wav")
        if container not in allowed_containers or api_encoding not in allowed_encodings:
            return _error(400, "FORMAT_NOT_RECOGNIZED", "Audio format not recognized or unsupported.")
        if self.strict_models and not streaming and model_id not in SYNC_MODELS:
            return _error(400, "MODEL_NOT_SUPPORTED", f"Model {model_id} does not support this endpoint.")
        voice = self.find_voice(voice_spec["id"])
        if voice is None:
            voice_id = voice_spec["id"]
            return _error(
                404, "VOICE_NOT_FOUND", f"Requested voice with ID {voice_id} not found.", {"voice_id": voice_id}
            )
        return _TtsJob(transcript, voice, str(container), sample_rate, _API_ENCODINGS[api_encoding])

    # ----- audio body ----------------------------------------------------------------------------------------------

    async def _stream_audio(self, request: web.Request, job: _TtsJob, fault: Fault | None) -> web.StreamResponse:
        sample_rate, channels, encoding = job.sample_rate, 1, job.encoding
        if fault is not None and fault.kind == "wrong_format":
            sample_rate = fault.sample_rate or sample_rate
            channels = fault.channels or channels
            encoding = fault.encoding or encoding
        tone = job.voice.tone_hz if job.voice.tone_hz is not None else tone_for(job.voice.voice_id)
        if self.speech_samples is not None and sample_rate == 48_000:
            audio = _speech_audio(
                self.speech_samples, len(job.transcript) * self.ms_per_char / 1000, encoding, channels
            )
        elif self.pause_ms:
            samples = expected_samples(job.transcript, "", sample_rate, self.ms_per_char, tone_hz=tone)
            noise = np.random.default_rng(len(job.transcript)).uniform(-1, 1, round(sample_rate * self.pause_ms / 1000))
            pause = noise * 10 ** (-50 / 20) * np.sqrt(3)  # -50 dBFS RMS
            audio = encode_samples(np.concatenate([pause, samples, pause]), encoding, channels)
        else:
            audio = render_audio(
                job.transcript, tone, sample_rate, encoding, channels=channels, ms_per_char=self.ms_per_char
            )
        header = b""
        if job.container == "wav":
            style = self.wav_header
            header = wav_header(
                sample_rate=sample_rate, channels=channels, encoding=encoding, data_len=len(audio), style=style
            )
            if style not in ("streaming", "zero") and len(audio) % 2:
                audio += b"\x00"  # RIFF pad byte after an odd-sized data chunk
        payload = header + audio
        end = len(payload)
        stall_at: int | None = None
        if fault is not None and fault.kind in ("cut_after", "quota_after"):
            end = min(fault.n_bytes, end)
        if fault is not None and fault.kind == "stall_after":
            stall_at = min(fault.n_bytes, end)
        bytes_per_second = sample_rate * channels * _BYTES_PER_SAMPLE[encoding]
        chunk_bytes = max(1, self.chunk_bytes)
        realtime_factor = self.realtime_factor
        chunk_delay = self.chunk_delay
        loop = asyncio.get_running_loop()

        resp = web.StreamResponse(
            status=200,
            headers={"Content-Type": "audio/wav" if job.container == "wav" else "application/octet-stream"},
        )
        resp.enable_chunked_encoding()
        self._body_bytes[id(request)] = end  # what --log reports (body_length also counts the chunk framing)
        try:
            await self._pause(self.first_byte_delay)
            await resp.prepare(request)
            await resp.write(b"")  # put the status line and headers on the wire now
            t0 = loop.time()
            last_sent: float | None = None
            bounds = _chunk_bounds(
                end, len(header), chunk_bytes, self.split_header, [] if stall_at is None else [stall_at]
            )
            for start, stop in bounds:
                if start == stall_at:
                    assert fault is not None
                    await self._pause(fault.seconds)
                    t0 += fault.seconds
                    stall_at = None
                due = loop.time()
                if realtime_factor:
                    due = max(due, t0 + max(0, start - len(header)) / (bytes_per_second * realtime_factor))
                if last_sent is not None and chunk_delay > 0:
                    due = max(due, last_sent + chunk_delay)
                await self._pause(due - loop.time())
                await resp.write(payload[start:stop])
                last_sent = loop.time()
            if stall_at is not None:  # stall point at the very end of the body
                assert fault is not None
                await self._pause(fault.seconds)
            if fault is not None and fault.kind == "cut_after":
                # Close (flushing what was written) without the terminating zero-size chunk.
                if request.transport is not None:
                    request.transport.close()
                return resp
            if fault is not None and fault.kind == "quota_after":
                await resp.write(QUOTA_MARKER[: fault.marker_split])
                await self._pause(chunk_delay)
                await resp.write(QUOTA_MARKER[fault.marker_split :])
            await resp.write_eof()
        except _ServerStopping:
            if request.transport is not None:
                request.transport.abort()
        except ConnectionError:
            pass  # the client went away; aiohttp notices on its own
        return resp


def _chunk_bounds(
    total: int, header_len: int, chunk_bytes: int, split_header: bool, extra_cuts: Iterable[int]
) -> list[tuple[int, int]]:
    """(start, stop) byte ranges of the body chunks: one byte per header chunk when ``split_header``, then
    ``chunk_bytes`` pieces; ``extra_cuts`` force a boundary (e.g. where a stall happens)."""
    if total <= 0:
        return []
    cuts: set[int] = {total}
    first = 0
    if split_header and header_len:
        first = min(header_len, total)
        cuts.update(range(1, first + 1))
    cuts.update(range(first + chunk_bytes, total, chunk_bytes))
    cuts.update(c for c in extra_cuts if 0 < c < total)
    points = [0, *sorted(cuts)]
    return list(itertools.pairwise(points))


# --------------------------------------------------------------------------------------------------------------------
# --log: what each request carried, as an admin needs to see it
# --------------------------------------------------------------------------------------------------------------------

REDACTED_HEADERS = frozenset({"x-api-key", "authorization"})
"""Headers whose values are never printed: a real key may be sent to the stand-in by mistake."""
_LONGEST_LOGGED_BODY = 4000
_MULTIPART_FIELD = re.compile(rb'Content-Disposition:\s*form-data;\s*name="([^"]*)"(?:;\s*filename="([^"]*)")?', re.I)


def _form_fields(content_type: str, body: bytes) -> dict[str, FormField]:
    """The fields of a ``multipart/form-data`` body (empty for any other body), parsed with the stdlib."""
    if not content_type.lower().startswith("multipart/form-data") or not body:
        return {}
    message = BytesParser(policy=email_policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, FormField] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        fields[name] = FormField(data, filename, part.get_content_type() if filename is not None else None)
    return fields


def describe_request(request: RecordedRequest) -> str:
    """The request line, its headers (keys redacted) and its JSON body or multipart field names, one per line."""
    query = "?" + "&".join(f"{k}={v}" for k, v in request.query.items()) if request.query else ""
    lines = [f"{request.method} {request.path}{query}"]
    for name, value in sorted(request.headers.items()):
        shown = f"(redacted, {len(value)} characters)" if name in REDACTED_HEADERS else value
        lines.append(f"  {name}: {shown}")
    if request.json is not None:
        body = jsonlib.dumps(request.json, ensure_ascii=False)
        lines.append(f"  json: {body if len(body) <= _LONGEST_LOGGED_BODY else body[:_LONGEST_LOGGED_BODY] + '…'}")
    elif "multipart/form-data" in request.headers.get("content-type", ""):
        fields = [
            name.decode(errors="replace") + (f" (file {filename.decode(errors='replace')})" if filename else "")
            for name, filename in _MULTIPART_FIELD.findall(request.body)
        ]
        lines.append(f"  multipart fields: {', '.join(fields) or '(none)'}")
    elif request.body:
        lines.append(f"  body: {len(request.body)} bytes, not JSON")
    return "\n".join(lines) + "\n"


def describe_reply(response: web.StreamResponse, body_bytes: int | None = None) -> str:
    """``200 audio/wav, 67244 bytes`` or ``401 application/json {"detail": ...}``: one line."""
    summary = f"{response.status} {response.content_type}"
    body = response.body if isinstance(response, web.Response) else None
    if isinstance(body, bytes) and response.content_type == "application/json":
        text = body.decode(errors="replace")
        return f"{summary} {text if len(text) <= 300 else text[:300] + '…'}"
    return f"{summary}, {response.body_length if body_bytes is None else body_bytes} bytes"


# --------------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.asyncflow_server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; keep it local)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (default 8765, 0 = any free port)")
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help=f"accepted key (repeatable; default {DEFAULT_API_KEY})",
    )
    parser.add_argument("--realtime-factor", type=float, default=None, help="pace audio at N x real time")
    parser.add_argument("--first-byte-delay", type=float, default=0.0, help="seconds before the response headers")
    parser.add_argument("--chunk-bytes", type=int, default=4096, help="bytes per body chunk")
    parser.add_argument("--ms-per-char", type=float, default=50.0, help="audio milliseconds per transcript character")
    parser.add_argument(
        "--log", action="store_true", help="print each request (headers with the key redacted, body) and its reply"
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    server = FakeAsyncFlow(api_keys=args.api_keys or [DEFAULT_API_KEY], host=args.host, port=args.port)
    server.realtime_factor = args.realtime_factor
    server.first_byte_delay = args.first_byte_delay
    server.chunk_bytes = args.chunk_bytes
    server.ms_per_char = args.ms_per_char
    server.log = sys.stdout if args.log else None
    await server.start()
    try:
        print(  # noqa: T201
            f"AsyncFlow stand-in listening on {server.base_url} (API key: {', '.join(server.api_keys)})", flush=True
        )
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    # Ctrl-C ends it whatever it inherited: a parent that ignores or blocks SIGINT (a pytest-xdist worker after some
    # tests, a shell's background job) passes that on through exec, and the stand-in would then never stop.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
