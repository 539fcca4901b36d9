"""Speech quality against encoding CPU: our Opus settings next to discord.py's defaults, same run.

``python -m bench.quality [--quick] [--rounds 5] [--jobs N] [--json]``

Needs espeak-ng (Debian's ``espeak-ng``: the speech) and pesq (``pip install -e '.[bench]'``).

Each clip is espeak-ng speech (four texts, two voices, 6-10 s each), peak-normalised to -6 dBFS and rounded to
48 kHz mono s16le, what AsyncFlow sends. It takes the bot's path: ``PcmConverter`` (fed 4 KB chunks, as
from the network) to Discord's format, whole 3840-byte frames (the last one padded with silence, then one
silent frame so the encoder's lookahead comes out), the encoder, discord.py's ``Decoder`` (``fec=False``: a
listener who lost nothing), channel 0. Opus delays the audio by a fixed few milliseconds (its lookahead,
about 312 samples), so the delay is estimated by cross-correlation with the reference and cut off; then
both are resampled to 16 kHz by soxr and scored with PESQ-WB (ITU-T P.862.2, 1 to 4.64).

* **Quality**: mean and min PESQ-WB over the clips (scored in ``--jobs`` processes: nothing is timed then).
* **CPU**: process CPU time around the encode calls only, per 20 ms frame. In each of ``--rounds`` rounds
  every setting encodes all clips (repeated to >= 3000 frames), in a new random order each round so any
  drift in the machine's speed is shared; the figure is the least over rounds (other work on the machine,
  through shared caches and cores, only ever adds). The ratio is to discord.py's defaults, same rounds.
* **kbit/s**: Opus payload actually produced (no RTP, UDP or encryption overhead); **mode**: SILK, hybrid
  or CELT, which libopus picks per packet and which decides most of the CPU.

Settings: discord.py's defaults (``discord.opus.Encoder()``, as ``VoiceClient.play`` builds it: 128 kbit/s,
libopus's default complexity (9 in 1.3), stereo, signal auto, FEC for 15 % loss) and ours (``SpeechEncoder``,
signal "voice") on a grid of bitrate x complexity x mono, then FEC for 10 % loss at the best few, timed in
rounds of their own. Rule for the defaults: the lowest CPU ratio among ours with mean PESQ-WB >= 4.1 and
min >= 4.05 (a margin over the 4.0 target for voices the clips don't cover), among those at <= 96 kbit/s
(Discord's cap on unboosted servers) if any qualify.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import random
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import discord
import numpy as np
import numpy.typing as npt
import soxr

from bench.speech_audio import espeak_speech
from cogs.engine.audio.convert import PcmConverter
from cogs.engine.audio.formats import FRAME_BYTES, REQUESTED_FORMAT, SILENCE_FRAME
from cogs.engine.audio.opus import SpeechEncoder
from cogs.engine.config import OpusSettings
from cogs.engine.engine import load_opus

Floats = npt.NDArray[np.float64]
Encode = Callable[[bytes], bytes]

RATE = 48_000
PESQ_RATE = 16_000
FRAME_SAMPLES = 960
PEAK_DBFS = -6.0
CHUNK_BYTES = 4096
MIN_FRAMES = 3000
TARGET_MEAN, TARGET_MIN = 4.1, 4.05
UNBOOSTED_CAP_KBPS = 96
FEC_LOSS_PERCENT = 10
FEC_CANDIDATES = 3
FEC_OFF = {"fec": False, "expected_packet_loss_percent": 0}

VOICES = (None, "en+f3")
TEXTS = (
    "Hello everyone, welcome to the voice channel. If you can hear this clearly, without gaps or stutter, "
    "the streaming path is doing its job.",
    "Six sizzling sausages sat in a shiny steel pan, while the quick brown fox jumped over the lazy dog.",
    "Raid starts at nine thirty tonight. Bring potions, check your gear, and please, nobody pull before the "
    "tank says go. Questions? Ask in the chat.",
    "Your order number is four seven two, eight one five. The total comes to thirty two dollars and fifty "
    "cents, due on the twenty first of March.",
)
QUICK_TEXT = "Testing, one, two, three. Can everyone hear me?"
# bitrates (kbit/s) x complexities x mono
GRID = ((32, 48, 64, 96, 128), (0, 3, 5, 8, 10), (True, False))
QUICK_GRID = ((48, 64, 96), (0, 5, 10), (True,))
CHOSEN_FIELDS = ("bitrate_kbps", "complexity", "mono", "signal", "fec", "expected_packet_loss_percent")


@dataclass(frozen=True)
class Clip:
    pcm: bytes
    """What AsyncFlow sends: 48 kHz mono s16le."""
    frames: list[bytes]
    """The same after ``PcmConverter``: whole Discord frames, as the encoder gets them."""

    @property
    def reference(self) -> Floats:
        return np.frombuffer(self.pcm, dtype="<i2").astype(np.float64) / 32768.0


@dataclass(frozen=True)
class Candidate:
    """discord.py's defaults (``settings`` None) or ours."""

    settings: OpusSettings | None

    @property
    def label(self) -> str:
        s = self.settings
        if s is None:
            return "discord.py defaults (128 kbit/s, stereo, auto, FEC 15 %)"
        fec = f", FEC {s.expected_packet_loss_percent} %" if s.fec else ""
        return f"{s.bitrate_kbps} kbit/s, complexity {s.complexity}, {'mono' if s.mono else 'stereo'}{fec}"

    def encoder(self) -> Encode:
        if self.settings is not None:
            return SpeechEncoder(self.settings).encode
        opus = discord.opus.Encoder()  # what VoiceClient.play builds with its own defaults

        def encode(frame: bytes) -> bytes:
            return opus.encode(frame, opus.SAMPLES_PER_FRAME)

        return encode


DISCORD_PY = Candidate(None)


@dataclass
class Result:
    candidate: Candidate
    pesq: list[float] = field(default_factory=list)
    input_s: list[float] = field(default_factory=list)
    decoded_s: list[float] = field(default_factory=list)
    delays: list[int] = field(default_factory=list)
    """Opus delay found per clip, in 48 kHz samples."""
    kbps: float = 0.0
    modes: Counter[str] = field(default_factory=Counter)
    """Packets per Opus mode (SILK, hybrid, CELT): libopus picks one per packet, and CPU follows it."""
    cpu_ms: float = 0.0
    """CPU per 20 ms frame, the least over rounds."""
    cpu_ratio: float = 0.0
    """``cpu_ms`` over discord.py's, timed in the same rounds."""
    round_ms: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.pesq)

    @property
    def mode(self) -> str:
        """The main mode, with its share when the encoder switched."""
        (main, count), total = self.modes.most_common(1)[0], self.modes.total()
        return main if count == total else f"{main} {100 * count / total:.0f} %"

    @property
    def meets_target(self) -> bool:
        return self.mean >= TARGET_MEAN and min(self.pesq) >= TARGET_MIN


# -- audio ---------------------------------------------------------------------------------------------------------


def make_clip(text: str, voice: str | None = None) -> Clip:
    speech = espeak_speech(text, voice)
    if speech is None:
        raise RuntimeError("espeak-ng not found (apt-get install espeak-ng)")
    scaled = speech * (10 ** (PEAK_DBFS / 20) / np.max(np.abs(speech)))
    pcm = np.rint(scaled * 32768.0).astype("<i2").tobytes()
    return Clip(pcm, discord_frames(pcm))


def discord_frames(pcm: bytes) -> list[bytes]:
    """Mono s16le -> the bot's converter -> whole frames, the last padded, then one silent frame."""
    converter = PcmConverter(REQUESTED_FORMAT)
    out = b"".join(converter.convert(pcm[at : at + CHUNK_BYTES]) for at in range(0, len(pcm), CHUNK_BYTES))
    out += converter.flush()
    out += bytes(-len(out) % FRAME_BYTES)
    return [out[at : at + FRAME_BYTES] for at in range(0, len(out), FRAME_BYTES)] + [SILENCE_FRAME]


def clips(quick: bool) -> list[Clip]:
    return [make_clip(QUICK_TEXT)] if quick else [make_clip(text, voice) for text in TEXTS for voice in VOICES]


def decode_channel0(packets: Sequence[bytes]) -> Floats:
    decoder = discord.opus.Decoder()  # type: ignore[no-untyped-call]
    stereo = np.frombuffer(b"".join(decoder.decode(packet, fec=False) for packet in packets), dtype="<i2")
    return stereo[0::2].astype(np.float64) / 32768.0


def opus_delay(reference: Floats, decoded: Floats) -> int:
    """Lag (0 to one frame) at which ``decoded`` best matches ``reference``, by FFT cross-correlation."""
    size = 1 << (len(reference) + len(decoded) - 1).bit_length()
    spectrum = np.fft.rfft(decoded, size) * np.conj(np.fft.rfft(reference, size))
    correlation: Floats = np.fft.irfft(spectrum, size)
    return int(np.argmax(correlation[: FRAME_SAMPLES + 1]))


def opus_mode(packet: bytes) -> str:
    """The mode in a packet's TOC byte (RFC 6716 section 3.1): configurations 0-11, 12-15, 16-31."""
    config = packet[0] >> 3
    return "SILK" if config < 12 else "hybrid" if config < 16 else "CELT"


def pesq_wb(reference: Floats, degraded: Floats) -> float:
    from pesq import pesq  # optional: the bench extra

    ref16 = soxr.resample(reference, RATE, PESQ_RATE)
    deg16 = soxr.resample(degraded, RATE, PESQ_RATE)
    return float(pesq(PESQ_RATE, ref16, deg16, "wb"))


def score(candidate: Candidate, clip_list: Sequence[Clip]) -> Result:
    """Quality, delay, duration and bitrate of one setting over the clips (nothing timed here)."""
    result = Result(candidate)
    opus_bytes = frames = 0
    for clip in clip_list:
        encode = candidate.encoder()
        packets = [encode(frame) for frame in clip.frames]
        opus_bytes += sum(len(packet) for packet in packets)
        result.modes.update(opus_mode(packet) for packet in packets)
        frames += len(packets)
        reference, decoded = clip.reference, decode_channel0(packets)
        delay = opus_delay(reference, decoded)
        aligned = decoded[delay : delay + len(reference)]
        aligned = np.pad(aligned, (0, len(reference) - len(aligned)))
        result.pesq.append(pesq_wb(reference, aligned))
        result.input_s.append(len(reference) / RATE)
        result.decoded_s.append(len(decoded) / RATE)
        result.delays.append(delay)
    result.kbps = opus_bytes * 8 / (frames * FRAME_SAMPLES / RATE) / 1000
    return result


_worker_clips: list[Clip] = []


def _start_worker(clip_list: list[Clip]) -> None:
    load_opus()
    _worker_clips[:] = clip_list


def _score_in_worker(candidate: Candidate) -> Result:
    return score(candidate, _worker_clips)


def score_all(candidates: Sequence[Candidate], clip_list: list[Clip], jobs: int) -> list[Result]:
    """``score`` for each candidate, in ``jobs`` processes (PESQ is most of the run, and nothing is timed)."""
    if jobs <= 1:
        return [score(candidate, clip_list) for candidate in candidates]
    with ProcessPoolExecutor(jobs, initializer=_start_worker, initargs=(clip_list,)) as pool:
        return list(pool.map(_score_in_worker, candidates))


# -- CPU -----------------------------------------------------------------------------------------------------------


def encode_cpu_ms(candidate: Candidate, clip_list: Sequence[Clip], min_frames: int) -> float:
    """CPU ms per frame to encode every clip (again and again, to ``min_frames``), fresh encoder per clip."""
    per_pass = sum(len(clip.frames) for clip in clip_list)
    repeats = max(1, -(-min_frames // per_pass))
    cpu = 0.0
    for _ in range(repeats):
        for clip in clip_list:
            encode = candidate.encoder()
            started = time.process_time()
            for frame in clip.frames:
                encode(frame)
            cpu += time.process_time() - started
    return 1000 * cpu / (repeats * per_pass)


def measure(
    candidates: Sequence[Candidate],
    clip_list: list[Clip],
    *,
    rounds: int,
    min_frames: int,
    seed: int = 0,
    jobs: int = 1,
) -> list[Result]:
    """Score every candidate, then time them all in shuffled rounds; discord.py's defaults always included."""
    everyone = [DISCORD_PY, *(candidate for candidate in candidates if candidate != DISCORD_PY)]
    started = time.perf_counter()
    results = dict(zip(everyone, score_all(everyone, clip_list, jobs), strict=True))
    print(f"  scored {len(everyone)} settings in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    order = list(everyone)
    rng = random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for candidate in order:
            results[candidate].round_ms.append(encode_cpu_ms(candidate, clip_list, min_frames))
    for result in results.values():
        result.cpu_ms = min(result.round_ms, default=0.0)
    baseline = results[DISCORD_PY].cpu_ms
    for result in results.values():
        result.cpu_ratio = result.cpu_ms / baseline if baseline else 0.0
    return [results[candidate] for candidate in everyone]


# -- choice and report ---------------------------------------------------------------------------------------------


def grid(bitrates: Sequence[int], complexities: Sequence[int], monos: Sequence[bool]) -> list[Candidate]:
    current = OpusSettings()
    points = [
        Candidate(current.model_copy(update={"bitrate_kbps": b, "complexity": c, "mono": m, **FEC_OFF}))
        for b, c, m in itertools.product(bitrates, complexities, monos)
    ]
    if Candidate(current) not in points:
        points.append(Candidate(current))  # the current defaults are always measured
    return points


def ranked(results: Sequence[Result]) -> list[Result]:
    """Ours that meet the target, lowest CPU ratio first; those within the unboosted cap come first."""
    ours = [r for r in results if r.candidate.settings is not None and r.meets_target]
    capped = [r for r in ours if r.candidate.settings and r.candidate.settings.bitrate_kbps <= UNBOOSTED_CAP_KBPS]
    return sorted(capped or ours, key=lambda result: result.cpu_ratio)


def chosen_fields(settings: OpusSettings, *, changed_only: bool = False) -> dict[str, Any]:
    """The fields the bench chooses; ``changed_only``: those that differ from ``OpusSettings()``'s."""
    current = OpusSettings()
    return {
        name: getattr(settings, name)
        for name in CHOSEN_FIELDS
        if not changed_only or getattr(settings, name) != getattr(current, name)
    }


def report(results: Sequence[Result], chosen: Result | None, clip_list: Sequence[Clip], rounds: int) -> None:
    seconds = sum(clip.reference.size for clip in clip_list) / RATE
    delays = sorted({delay for result in results for delay in result.delays})
    print(
        f"\n{len(clip_list)} clip(s), {seconds:.1f} s of espeak-ng speech (peak {PEAK_DBFS:g} dBFS); PESQ-WB after "
        f"Opus and back, Opus delay found {', '.join(map(str, delays))} samples at 48 kHz. CPU: encoding only, ms "
        f"per 20 ms frame, least of {rounds} round(s) of >= {MIN_FRAMES} frames; kbit/s: Opus payload produced.\n"
    )
    print("| settings | PESQ-WB mean | min | CPU ms/frame | vs discord.py | kbit/s | Opus mode |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for result in results:
        mark = "**" if result is chosen else ""
        print(
            f"| {mark}{result.candidate.label}{mark} | {result.mean:.2f} | {min(result.pesq):.2f} | "
            f"{result.cpu_ms:.3f} | {result.cpu_ratio:.2f}x | {result.kbps:.1f} | {result.mode} |"
        )
    print(
        f"\nRule: lowest CPU among ours with mean PESQ-WB >= {TARGET_MEAN} and min >= {TARGET_MIN}, at <= "
        f"{UNBOOSTED_CAP_KBPS} kbit/s if any qualify."
    )
    if chosen is None or chosen.candidate.settings is None:
        print("No setting of ours met the target.")
        return
    settings = chosen.candidate.settings
    print(
        f"Chosen: {chosen.candidate.label}, signal {settings.signal}: PESQ-WB {chosen.mean:.3f} (min "
        f"{min(chosen.pesq):.3f}), {chosen.cpu_ratio:.2f}x discord.py's CPU, {chosen.kbps:.1f} kbit/s."
    )
    near = [r.candidate.label for r in ranked(results) if r is not chosen and r.cpu_ratio <= chosen.cpu_ratio * 1.1]
    if near:
        print(f"Within 10 % of its CPU (timing noise may swap them): {'; '.join(near)}.")
    current, changed = OpusSettings(), chosen_fields(settings, changed_only=True)
    diff = ", ".join(f"{name} {getattr(current, name)!r} -> {value!r}" for name, value in changed.items())
    print(f"OpusSettings(): {'change ' + diff if changed else 'the defaults match'}.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one clip, a smaller grid, one round")
    parser.add_argument("--rounds", type=int, default=None, help="CPU timing rounds (default 5, quick 1)")
    parser.add_argument("--seed", type=int, default=0, help="order of the timing rounds")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes for PESQ (not timing)")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")
    args = parser.parse_args(argv)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 5)
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    if not load_opus():
        print("libopus not found (apt-get install libopus0)", file=sys.stderr)
        return 1
    if importlib.util.find_spec("pesq") is None or shutil.which("espeak-ng") is None:
        print("needs pesq (pip install -e '.[bench]') and espeak-ng (apt-get install espeak-ng)", file=sys.stderr)
        return 1
    started = time.perf_counter()
    clip_list = clips(args.quick)
    candidates = grid(*(QUICK_GRID if args.quick else GRID))
    results = measure(candidates, clip_list, rounds=rounds, min_frames=MIN_FRAMES, seed=args.seed, jobs=args.jobs)
    print(f"  grid of {len(candidates)} timed ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    best = ranked(results)[: 1 if args.quick else FEC_CANDIDATES]
    fec_on = {"fec": True, "expected_packet_loss_percent": FEC_LOSS_PERCENT}
    fec_candidates = [Candidate(r.candidate.settings.model_copy(update=fec_on)) for r in best if r.candidate.settings]
    fec = measure(fec_candidates, clip_list, rounds=rounds, min_frames=MIN_FRAMES, seed=args.seed + 1, jobs=args.jobs)
    results += fec[1:]  # its discord.py row was only the yardstick for those rounds
    print(f"  FEC done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    chosen = next(iter(ranked(results)), None)
    report(results, chosen, clip_list, rounds)
    print(f"\nRun took {time.perf_counter() - started:.0f} s.")
    if args.json:
        settings = chosen.candidate.settings if chosen else None
        summary: dict[str, Any] = {"defaults": None, "pesq": None, "cpu_ratio": None, "changes": None}
        if chosen and settings:
            summary.update(defaults=chosen_fields(settings), pesq=round(chosen.mean, 3))
            summary.update(cpu_ratio=round(chosen.cpu_ratio, 3), changes=chosen_fields(settings, changed_only=True))
        print(json.dumps({**summary, "discordpy_pesq": round(results[0].mean, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
