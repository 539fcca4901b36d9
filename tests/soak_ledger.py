"""The three-channel soak's ledger (what was done to each item, where everyone was) and what was heard: each
voice client's packets cut into stretches of speech, each told apart by its member's tone."""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field

import discord
import numpy as np

from tests.audio_checks import FRAME, frames_in_tone, loud_frames
from tests.discord_fakes import Conversation, RecordingVoiceClient

STALL_PACKET_BYTES = 3
"""A packet of digital silence (what a source sends while its download is behind) is this short."""
PAUSE_MS = 40.0
"""The stand-in's pause before and after each text (two frames each side: told apart from a text's fades)."""
MS_PER_CHAR = 10.0
"""The stand-in speaks 10 ms a character (a text is a quarter of a second or so), so a few hundred fit."""


def now() -> float:
    """The clock of the voice clients' packets."""
    return time.perf_counter()


def frames_for(transcript: str) -> float:
    """20 ms frames the stand-in speaks for ``transcript``."""
    return len(transcript) * MS_PER_CHAR / 20


# -- the ledger ----------------------------------------------------------------------------------------------------


@dataclass
class Item:
    """One /say or one post, and everything done to it."""

    tag: str
    kind: str  # "say" | "read"
    member: int
    submitted: float
    channel: int
    """The member's voice channel when it was sent."""
    text: str
    conversation: Conversation | None = None
    message_id: int | None = None
    withdrawn_at: float | None = None
    """Deleted, or edited to start with the ignore prefix."""
    withdrawn_by: str = ""
    edits: list[float] = field(default_factory=list)
    """When it was edited to another readable text."""
    readable: str = ""
    """Its last readable text."""


@dataclass
class Action:
    """A /skip or /stop that did something: ``capacity`` items it may account for."""

    name: str
    at: float
    member: int
    capacity: int


@dataclass
class Segment:
    """One stretch of speech: what discord.py's player sent for one text, between two of its pauses."""

    channel: int
    first: float
    last: float
    end: float
    """When it stopped: discord.py's player sends its silence when a text ends or is stopped."""
    first_loud: float
    loud: int
    member: int | None
    purity: float
    client: int = 0
    """Which voice client sent it (an index into ``FakeDiscord.voice_clients``)."""


@dataclass
class Ledger:
    items: list[Item] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    commands: list[tuple[str, float, int, Conversation]] = field(default_factory=list)
    where: dict[int, list[tuple[float, int]]] = field(default_factory=dict)
    """Each member's voice channel over time."""
    bot_where: list[tuple[float, int | None]] = field(default_factory=list)
    """The bot's voice channel (or the one it is joining) over time."""
    counts: dict[str, int] = field(default_factory=dict)

    def channel_of(self, member: int, at: float) -> int:
        history = self.where[member]
        index = bisect.bisect_right([t for t, _ in history], at) - 1
        return history[max(index, 0)][1]

    def channels_of(self, member: int, start: float, end: float) -> set[int]:
        return {self.channel_of(member, start)} | {c for t, c in self.where[member] if start <= t <= end}

    def bot_channels(self, start: float, end: float) -> set[int | None]:
        times = [t for t, _ in self.bot_where]
        index = max(bisect.bisect_right(times, start) - 1, 0)
        return {self.bot_where[index][1]} | {c for t, c in self.bot_where if start <= t <= end}


# -- what was heard ------------------------------------------------------------------------------------------------


def segments(clients: list[RecordingVoiceClient], tones: dict[int, float]) -> list[Segment]:
    """Every stretch of speech, in every channel, oldest first, each with the member whose voice it is."""
    found: list[Segment] = []
    for index, client in enumerate(clients):
        if not client.host_owned:
            found.extend(_client_segments(client, tones, index))
    return sorted(found, key=lambda s: s.first)


def _client_segments(client: RecordingVoiceClient, tones: dict[int, float], index: int) -> list[Segment]:
    runs: list[tuple[list[tuple[float, bytes, int]], float]] = []
    """Each run of speech packets, and when it ended: the player's silence, or 20 ms after its last packet."""
    run: list[tuple[float, bytes, int]] = []
    for (at, encoded, packet), channel in zip(client.packets, client.packets.channels, strict=False):
        if run and not encoded:
            runs.append((run, at))
            run = []
        elif run and (channel != run[-1][2] or at - run[-1][0] > 0.2):
            runs.append((run, run[-1][0] + 0.02))
            run = []
        if encoded:
            run.append((at, packet, channel))
    if run:
        runs.append((run, run[-1][0] + 0.02))
    found = []
    for packets, end in runs:
        for texts, text_end in _texts_of(packets, end):
            segment = _segment(texts, text_end, tones, index)
            if segment is not None:
                found.append(segment)
    return found


def _texts_of(
    packets: list[tuple[float, bytes, int]], end: float
) -> list[tuple[list[tuple[float, bytes, int]], float]]:
    """One player's run cut into texts (a run may hold more than one where a player's end was not heard): each
    begins and ends with the stand-in's pause (``FakeAsyncFlow.pause_ms``: quiet frames of a noise floor; a text
    cut off ends without its pause, and the next one's first frame carries the cut text's last 6.5 ms, as Opus
    delays its audio, so at least one quiet frame is left between two texts). A stall's packets of silence (a
    few bytes of digital silence) are not a pause: they cut no text in two."""
    decoder = discord.opus.Decoder()  # type: ignore[no-untyped-call]
    rms = []
    for _, packet, _ in packets:
        pcm = np.frombuffer(decoder.decode(packet, fec=False), dtype="<i2").reshape(-1, 2)[:, 0] / 32768.0
        rms.append(float(np.sqrt(np.mean(pcm**2))))
    pause = [
        level <= 0.1 and len(packet) > STALL_PACKET_BYTES for level, (_, packet, _) in zip(rms, packets, strict=True)
    ]
    texts: list[tuple[list[tuple[float, bytes, int]], float]] = []
    start = 0
    i = 0
    while i < len(packets):
        if pause[i]:
            j = i
            while j < len(packets) and pause[j]:
                j += 1
            if any(level > 0.1 for level in rms[start:i]):
                texts.append((packets[start:i], packets[i][0]))
            start = i = j
            continue
        i += 1
    texts.append((packets[start:], end))
    return texts


def _segment(
    packets: list[tuple[float, bytes, int]], end: float, tones: dict[int, float], index: int
) -> Segment | None:
    decoder = discord.opus.Decoder()  # type: ignore[no-untyped-call]
    pcm = b"".join(decoder.decode(packet, fec=False) for _, packet, _ in packets)
    samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, 2)[:, 0].astype(np.float64) / 32768.0
    loud = loud_frames(samples)
    if loud == 0:
        return None  # only the silence of a stall, or a pause: nothing heard
    frames = samples[: len(samples) // FRAME * FRAME].reshape(-1, FRAME)
    loud_at = [packets[i][0] for i in np.flatnonzero(np.sqrt(np.mean(frames**2, axis=1)) > 0.1)]
    in_tone = {member: frames_in_tone(samples, hz) for member, hz in tones.items()}
    member = max(in_tone, key=lambda m: in_tone[m])
    if loud <= 2:  # cut off at once: its one frame and the decoder's overlap into the next, whose tone may be any
        first = frames[np.flatnonzero(np.sqrt(np.mean(frames**2, axis=1)) > 0.1)[0]]
        voiced = [m for m, hz in tones.items() if frames_in_tone(first, hz)]
        member = voiced[0] if len(voiced) == 1 else member
    return Segment(
        channel=packets[0][2],
        first=packets[0][0],
        last=packets[-1][0],
        end=end,
        first_loud=loud_at[0],
        loud=loud,
        member=member,
        purity=in_tone[member] / loud,
        client=index,
    )


def timeline(client: RecordingVoiceClient, start: float, end: float) -> str:
    """What ``client`` sent between ``start`` and ``end``, run by run: L loud speech, q quiet frames, s the
    player's silence; for looking into a failure."""
    decoder = discord.opus.Decoder()  # type: ignore[no-untyped-call]
    runs: list[tuple[str, float, int]] = []
    for at, encoded, packet in client.packets:
        kind = "s"
        if encoded:
            pcm = np.frombuffer(decoder.decode(packet, fec=False), dtype="<i2").astype(np.float64) / 32768.0
            kind = "L" if np.sqrt(np.mean(pcm**2)) > 0.1 else "q"
        if not start <= at <= end:
            continue
        if runs and runs[-1][0] == kind:
            runs[-1] = (kind, runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((kind, at, 1))
    return " ".join(f"{kind}{count}@{at:.3f}" for kind, at, count in runs)
