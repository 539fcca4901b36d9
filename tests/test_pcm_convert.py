"""PcmConverter: every encoding, layout and rate comes out at the right speed, length and quality."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cogs.engine.audio.convert import PcmConverter
from cogs.engine.audio.formats import BYTES_PER_SAMPLE, DISCORD_FORMAT, Encoding, PcmFormat

Signal = npt.NDArray[np.float64]

ENCODINGS: list[Encoding] = list(BYTES_PER_SAMPLE)
RATES = [48000, 24000, 22050, 44100, 16000, 8000]
CHANNELS = [1, 2, 3]
SECONDS = 0.5
TONE_HZ = 440.0
LEFT_AMPLITUDE = 0.5
RIGHT_AMPLITUDE = 0.25  # different from the left so a channel swap or mix-up is caught
EXTRA_CHANNEL_HZ = 1000.0  # channels beyond the second carry another tone that must not leak through
EDGE_S = 0.005  # the resampler's filter rings where the signal starts and stops abruptly

# Honest SNR floors (dB) against the ideal 48 kHz sine, for the quieter (right, -12 dBFS) channel. Measured:
# 16-bit output of any wide format 83-92 dB, 8-bit PCM 38-45 dB, G.711 μ-law ~37 dB and A-law ~38 dB.
# Noise, a time shift or a wrong speed would give about 0 dB or less.
MIN_SNR_DB: dict[Encoding, float] = {
    "u8": 34.0,
    "s16le": 78.0,
    "s24le": 78.0,
    "s32le": 78.0,
    "f32le": 78.0,
    "f64le": 78.0,
    "mulaw": 33.0,
    "alaw": 33.0,
}

# -- G.711 reference encoders (after Sun's g711.c), vectorised -------------------------------------------

_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def linear_to_ulaw(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.uint8]:
    value = pcm.astype(np.int32) >> 2
    mask = np.where(value < 0, 0x7F, 0xFF)
    value = np.minimum(np.abs(value), 8159) + (0x84 >> 2)
    segment = np.searchsorted(_ULAW_SEG_END, value)
    code = (segment << 4) | ((value >> (segment + 1)) & 0x0F)
    return (np.where(segment >= 8, 0x7F, code) ^ mask).astype(np.uint8)


def linear_to_alaw(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.uint8]:
    value = pcm.astype(np.int32) >> 3
    mask = np.where(value >= 0, 0xD5, 0x55)
    value = np.where(value >= 0, value, -value - 1)
    segment = np.searchsorted(_ALAW_SEG_END, value)
    shift = np.where(segment < 2, 1, segment)
    code = (segment << 4) | ((value >> shift) & 0x0F)
    return (np.where(segment >= 8, 0x7F, code) ^ mask).astype(np.uint8)


# -- test signals ---------------------------------------------------------------------------------------


def tone(freq: float, rate: int, seconds: float, amplitude: float) -> Signal:
    t = np.arange(round(rate * seconds)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def make_signal(rate: int, channels: int) -> Signal:
    """(frames, channels) in [-1, 1]: left 440 Hz loud, right 440 Hz quieter, others 1 kHz."""
    left = tone(TONE_HZ, rate, SECONDS, LEFT_AMPLITUDE)
    if channels == 1:
        return left[:, None]
    columns = [left, tone(TONE_HZ, rate, SECONDS, RIGHT_AMPLITUDE)]
    columns += [tone(EXTRA_CHANNEL_HZ, rate, SECONDS, 0.9)] * (channels - 2)
    return np.stack(columns, axis=1)


def encode(signal: Signal, encoding: Encoding) -> bytes:
    """Interleave and store ``signal`` the way a WAV file or raw stream would."""
    x = signal.reshape(-1)

    def scaled(full_scale: float, dtype: str) -> npt.NDArray[np.generic]:
        info = np.iinfo(dtype)
        rounded: Signal = np.rint(x * full_scale)
        return np.clip(rounded, info.min, info.max).astype(dtype)

    if encoding == "u8":
        return (scaled(128, "<i1").astype(np.int16) + 128).astype(np.uint8).tobytes()
    if encoding == "s16le":
        return scaled(32768, "<i2").tobytes()
    if encoding == "s24le":
        wide = scaled(2**23, "<i4").view(np.uint8).reshape(-1, 4)
        return wide[:, :3].tobytes()
    if encoding == "s32le":
        return scaled(2**31, "<i4").tobytes()
    if encoding == "f32le":
        return x.astype("<f4").tobytes()
    if encoding == "f64le":
        return x.astype("<f8").tobytes()
    linear = scaled(32768, "<i2").astype(np.int16)
    if encoding == "mulaw":
        return linear_to_ulaw(linear).tobytes()
    return linear_to_alaw(linear).tobytes()


def run(converter: PcmConverter, data: bytes, sizes: Sequence[int] | int = 1001) -> bytes:
    """Feed ``data`` in chunks of the given size(s); check every call returns whole stereo frames."""
    out = bytearray()
    pos = 0
    index = 0
    while pos < len(data):
        size = sizes if isinstance(sizes, int) else sizes[index % len(sizes)]
        piece = converter.convert(data[pos : pos + size])
        assert isinstance(piece, bytes)
        assert len(piece) % 4 == 0
        out += piece
        pos += size
        index += 1
    tail = converter.flush()
    assert len(tail) % 4 == 0
    return bytes(out + tail)


def as_stereo(pcm: bytes) -> npt.NDArray[np.float64]:
    return np.frombuffer(pcm, dtype="<i2").reshape(-1, 2).astype(np.float64) / 32768


def dominant_hz(x: npt.NDArray[np.float64], rate: int = 48000) -> float:
    size = 1 << 18  # zero-padded: 0.18 Hz bins
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=size))
    return float(np.argmax(spectrum) * rate / size)


def snr_db(actual: npt.NDArray[np.float64], ideal: npt.NDArray[np.float64]) -> float:
    noise = np.sum((actual - ideal) ** 2)
    return float(10 * np.log10(np.sum(ideal**2) / max(noise, 1e-20)))


# -- the matrix -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_tone_survives_conversion(encoding: Encoding, channels: int, rate: int) -> None:
    source = PcmFormat(rate, channels, encoding)
    signal = make_signal(rate, channels)
    converter = PcmConverter(source)
    assert converter.passthrough is (source == DISCORD_FORMAT)
    out = as_stereo(run(converter, encode(signal, encoding)))

    # Length: the same duration at 48 kHz, within 1 ms.
    expected_frames = len(signal) * 48000 / rate
    assert abs(len(out) - expected_frames) <= 48, (len(out), expected_frames)

    if channels == 1:
        assert np.array_equal(out[:, 0], out[:, 1])

    # Speed: still 440 Hz (a wrong-rate bug would move it by a factor of at least 48000/44100).
    for column in (0, 1):
        assert abs(dominant_hz(out[:, column]) - TONE_HZ) <= 2.0

    # Not noise, not shifted in time, right level, channels in the right order: close to the ideal sine.
    edge = round(EDGE_S * 48000)
    ideal = tone(TONE_HZ, 48000, len(out) / 48000, 1.0)
    right_amplitude = LEFT_AMPLITUDE if channels == 1 else RIGHT_AMPLITUDE
    left_snr = snr_db(out[edge:-edge, 0], LEFT_AMPLITUDE * ideal[edge:-edge])
    right_snr = snr_db(out[edge:-edge, 1], right_amplitude * ideal[edge:-edge])
    assert min(left_snr, right_snr) >= MIN_SNR_DB[encoding], (left_snr, right_snr)


# -- exact behaviour of the fast and integer paths --------------------------------------------------------


def test_discord_format_passes_through_byte_for_byte() -> None:
    data = np.random.default_rng(1).integers(0, 256, 48_003, dtype=np.uint8).tobytes()
    converter = PcmConverter(DISCORD_FORMAT)
    assert converter.passthrough
    assert run(converter, data) == data[: len(data) - len(data) % 4]
    aligned = data[:4000]
    assert PcmConverter(DISCORD_FORMAT).convert(aligned) is aligned  # no copy when nothing needs carrying


def test_mono_48k_s16_is_duplicated_to_both_channels() -> None:
    samples = np.random.default_rng(2).integers(-32768, 32768, 10_001, dtype=np.int16)
    converter = PcmConverter(PcmFormat(48000, 1, "s16le"))
    assert not converter.passthrough
    out = np.frombuffer(run(converter, samples.astype("<i2").tobytes(), sizes=[1, 3, 1001, 2, 7]), dtype="<i2")
    assert np.array_equal(out, np.repeat(samples, 2))


def test_only_the_first_two_of_many_channels_are_kept() -> None:
    frames = np.arange(6 * 100, dtype=np.int16).reshape(100, 6)
    out = run(PcmConverter(PcmFormat(48000, 6, "s16le")), frames.astype("<i2").tobytes(), sizes=7)
    assert np.array_equal(np.frombuffer(out, dtype="<i2").reshape(-1, 2), frames[:, :2])


def decode_one(encoding: Encoding, raw: bytes) -> list[int]:
    out = PcmConverter(PcmFormat(48000, 1, encoding)).convert(raw)
    return [int(v) for v in np.frombuffer(out, dtype="<i2")[::2]]


def test_integer_samples_are_scaled_to_16_bits() -> None:
    assert decode_one("u8", bytes([0, 1, 128, 255])) == [-32768, -32512, 0, 32512]
    s24 = b"".join(v.to_bytes(3, "little", signed=True) for v in [0, 256, -256, 2**23 - 1, -(2**23), 383, -1])
    assert decode_one("s24le", s24) == [0, 1, -1, 32767, -32768, 1, 0]
    s32 = b"".join(v.to_bytes(4, "little", signed=True) for v in [0, 65536, -65536, 2**31 - 1, -(2**31), 98304])
    assert decode_one("s32le", s32) == [0, 1, -1, 32767, -32768, 2]


@pytest.mark.parametrize("encoding", ["f32le", "f64le"])
def test_floats_are_clipped_and_rounded(encoding: Encoding) -> None:
    values = [0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -7.0, float("nan"), float("inf"), float("-inf"), 1.4 / 32768]
    raw = np.array(values, dtype="<f4" if encoding == "f32le" else "<f8").tobytes()
    assert decode_one(encoding, raw) == [0, 16384, -16384, 32767, -32768, 32767, -32768, 0, 32767, -32768, 1]


def test_nan_and_out_of_range_floats_resample_to_bounded_audio() -> None:
    raw = np.array([np.nan, 5.0, -5.0, np.inf] * 2000, dtype="<f4").tobytes()
    out = np.frombuffer(run(PcmConverter(PcmFormat(24000, 1, "f32le")), raw), dtype="<i2")
    assert len(out) == 2 * 2 * 8000
    assert np.all(np.isfinite(out))


def test_g711_known_code_points() -> None:
    assert decode_one("mulaw", bytes([0xFF, 0x7F, 0x00, 0x80, 0xFE, 0xEF])) == [0, 0, -32124, 32124, 8, 132]
    assert decode_one("alaw", bytes([0xD5, 0x55, 0xAA, 0x2A])) == [8, -8, 32256, -32256]


def test_g711_tables_match_audioop() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop  # removed in Python 3.13, so only checked where it exists
        except ImportError:  # pragma: no cover
            pytest.skip("audioop is not available on this Python")
    codes = bytes(range(256))
    assert decode_one("mulaw", codes) == list(np.frombuffer(audioop.ulaw2lin(codes, 2), dtype="<i2"))
    assert decode_one("alaw", codes) == list(np.frombuffer(audioop.alaw2lin(codes, 2), dtype="<i2"))


def test_flush_drops_an_incomplete_trailing_sample() -> None:
    converter = PcmConverter(PcmFormat(48000, 1, "s16le"))
    assert converter.convert(b"\x01\x00\x02") == b"\x01\x00\x01\x00"
    assert converter.flush() == b""
    assert converter.convert(b"\x03\x00") == b"\x03\x00\x03\x00"  # the dropped byte is not carried over
    converter = PcmConverter(PcmFormat(48000, 2, "s24le"))
    assert converter.convert(bytes(5)) == b""  # not even one whole frame yet
    assert converter.flush() == b""


def test_resampler_tail_comes_out_at_flush_and_the_converter_can_be_reused() -> None:
    data = encode(make_signal(24000, 1), "s16le")
    converter = PcmConverter(PcmFormat(24000, 1, "s16le"))
    body = converter.convert(data)
    tail = converter.flush()
    assert tail  # soxr holds back its filter delay until the end
    assert len(body + tail) == len(data) // 2 * 2 * 4
    assert run(converter, data) == body + tail  # flush left it ready for the next utterance


@pytest.mark.parametrize("rate", [8000, 22050, 24000, 44100])
def test_streamed_resampling_matches_one_shot_resampling(rate: int) -> None:
    """Proves there are no clicks at chunk boundaries: the stream is resampled as one continuous signal."""
    data = encode(make_signal(rate, 2), "f32le")
    whole = run(PcmConverter(PcmFormat(rate, 2, "f32le")), data, sizes=len(data))
    chunked = run(PcmConverter(PcmFormat(rate, 2, "f32le")), data, sizes=[1001, 8, 5, 4096, 333])
    assert np.max(np.abs(as_stereo(whole) - as_stereo(chunked))) <= 1 / 32768


def test_invalid_source_is_refused() -> None:
    with pytest.raises(ValueError, match="channels"):
        PcmConverter(PcmFormat(48000, 0, "s16le"))
    with pytest.raises(ValueError, match="Hz"):
        PcmConverter(PcmFormat(0, 1, "s16le"))


# -- chunking never changes the result ---------------------------------------------------------------------

EXACT_FORMATS = [PcmFormat(48000, channels, encoding) for encoding in ENCODINGS for channels in (1, 2, 3)]


@settings(max_examples=200, deadline=None)
@given(
    source=st.sampled_from(EXACT_FORMATS),
    data=st.binary(max_size=600),
    cuts=st.lists(st.integers(min_value=1, max_value=600), min_size=1, max_size=20),
)
@example(source=PcmFormat(48000, 1, "f32le"), data=b"\x00\x00\x81\x7f", cuts=[1])  # a signalling NaN
def test_any_chunking_gives_identical_output_without_resampling(
    source: PcmFormat, data: bytes, cuts: list[int]
) -> None:
    whole = run(PcmConverter(source), data, sizes=max(1, len(data)))
    assert run(PcmConverter(source), data, sizes=cuts) == whole
    assert len(whole) == len(data) // source.bytes_per_frame * 4


@settings(max_examples=50, deadline=None)
@given(
    rate=st.sampled_from([8000, 22050, 44100]),
    encoding=st.sampled_from(["s16le", "f32le", "mulaw"]),
    cuts=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=20),
)
def test_any_chunking_gives_the_same_resampled_output(rate: int, encoding: Encoding, cuts: list[int]) -> None:
    data = encode(make_signal(rate, 1)[: rate // 10], encoding)
    whole = run(PcmConverter(PcmFormat(rate, 1, encoding)), data, sizes=len(data))
    chunked = run(PcmConverter(PcmFormat(rate, 1, encoding)), data, sizes=cuts)
    assert len(chunked) == len(whole)
    assert np.max(np.abs(as_stereo(whole) - as_stereo(chunked))) <= 1 / 32768
