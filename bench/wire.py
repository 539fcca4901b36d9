"""The network edge for the benchmarks: what discord.py's ``VoiceClient`` does with each packet, and when.

:class:`WireSink` stands where a connected ``VoiceClient`` stands for ``AudioPlayer``. Its
``send_audio_packet`` *is* discord.py 2.7's (``VoiceClient.send_audio_packet``, ``_get_voice_packet`` and
``_encrypt_aead_xchacha20_poly1305_rtpsize``, borrowed, not copied): Opus-encode if asked, the RTP
header, PyNaCl's XChaCha20-Poly1305 transport encryption with a fresh ``Aead`` box per packet, and a UDP
``sendall`` (to a loopback socket nobody reads). DAVE is off (``dave_session`` is None, as discord.py has
it before the MLS group is set up): it needs Discord's voice gateway to agree on keys, so it can't run
here, and every design would pay it alike. The sink notes when each audio packet left; the 5 closing
silence packets discord.py's player sends at the end are sent too but not timed.
"""

from __future__ import annotations

import asyncio
import ctypes
import glob
import itertools
import os
import random
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import discord
import nacl
from discord.opus import OPUS_SILENCE

from bot.say_to_file import PlayerSink

FRAME_S = 0.02
BURST_GAP_S = 0.010
"""A packet sent less than this after the one before is part of a burst (a player catching up)."""
ON_TIME_P99_S = 0.025
"""p99 of the gaps between one stream's packets at most this: within 5 ms of 20 ms."""


class Wire:
    """One UDP socket on 127.0.0.1 that every sink sends to and nobody reads: the kernel drops what overflows."""

    def __init__(self, *, held: bool = False) -> None:
        self.held = held
        """Sinks made by :meth:`sink` are :class:`HeldWireSink` (a prototype), not discord.py's own code."""
        self._receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self._receiver.bind(("127.0.0.1", 0))
        self.address: tuple[str, int] = self._receiver.getsockname()

    def socket(self) -> socket.socket:
        """A connected UDP socket, as each of discord.py's voice connections has one."""
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.connect(self.address)
        return sender

    def sink(self, loop: asyncio.AbstractEventLoop, *, encoder: discord.opus.Encoder | None = None) -> WireSink:
        """A voice client's sink on this wire."""
        return (HeldWireSink if self.held else WireSink)(loop, self, encoder=encoder)

    def close(self) -> None:
        self._receiver.close()


class _Connection:
    """The part of ``VoiceConnectionState`` that ``send_audio_packet`` touches."""

    dave_session = None
    can_encrypt = False

    def __init__(self, sender: socket.socket) -> None:
        self.socket = sender

    def send_packet(self, packet: bytes) -> None:
        self.socket.sendall(packet)


class WireSink(PlayerSink):
    """A voice client on the wire: discord.py's own per-packet work, and the send time of every audio packet.

    ``encoder``: discord.py's ``Encoder`` for a player of PCM (what ``VoiceClient.play`` makes for a source that
    is not Opus); None when the source hands over Opus packets.
    """

    mode = "aead_xchacha20_poly1305_rtpsize"
    # discord.py's code, run on this object (it only reads the attributes set in __init__).
    checked_add = discord.VoiceClient.checked_add
    _get_voice_packet = discord.VoiceClient._get_voice_packet
    _encrypt_aead_xchacha20_poly1305_rtpsize = discord.VoiceClient._encrypt_aead_xchacha20_poly1305_rtpsize

    def __init__(
        self, loop: asyncio.AbstractEventLoop, wire: Wire, *, encoder: discord.opus.Encoder | None = None
    ) -> None:
        super().__init__(loop)
        self.encoder = encoder
        self.sequence = 0
        self.timestamp = 0
        self._incr_nonce = 0
        self.ssrc = random.getrandbits(32)
        self.secret_key = list(os.urandom(32))  # discord.py keeps the key as the list of ints Discord sent
        self._connection = _Connection(wire.socket())
        self.sent_at: list[float] = []

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None:
        discord.VoiceClient.send_audio_packet(cast(discord.VoiceClient, self), data, encode=encode)
        if data is not OPUS_SILENCE:  # the player's closing silence is not part of the stream's pacing
            self.sent_at.append(time.perf_counter())

    def close(self) -> None:
        self._connection.socket.close()


class HeldWireSink(WireSink):
    """A prototype of what a ``VoiceClient`` subclass could do instead (``--wire held``): the same RTP packet,
    encryption and send, in calls that keep the GIL (``ctypes.PyDLL``: libsodium's function in PyNaCl's own
    library, libc's ``send``). PyNaCl (cffi) and ``socket.sendall`` let go of the GIL for a few microseconds
    each; a thread that lets go has to queue for it again, behind the event loop and the encoder threads, twice
    per packet. The key is kept as bytes and no ``Aead`` object is made per packet.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, wire: Wire, *, encoder: discord.opus.Encoder | None = None
    ) -> None:
        super().__init__(loop, wire, encoder=encoder)
        self._key = bytes(self.secret_key)
        self._fd = self._connection.socket.fileno()

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None:
        if encode and self.encoder is not None:
            data = self.encoder.encode(data, self.encoder.SAMPLES_PER_FRAME)
        self.sequence = (self.sequence + 1) & 0xFFFF
        header = _RTP.pack(0x80, 0x78, self.sequence, self.timestamp, self.ssrc)
        nonce = _NONCE.pack(self._incr_nonce)
        self._incr_nonce = (self._incr_nonce + 1) & 0xFFFFFFFF
        sealed = ctypes.create_string_buffer(len(data) + 16)
        length = ctypes.c_ulonglong()
        _encrypt(sealed, ctypes.byref(length), data, len(data), header, len(header), None, nonce + bytes(20), self._key)
        packet = header + sealed.raw[: length.value] + nonce
        _send(self._fd, packet, len(packet), 0)  # a full socket buffer drops the packet, as the OSError would
        self.timestamp = (self.timestamp + 960) & 0xFFFFFFFF
        if data is not OPUS_SILENCE:
            self.sent_at.append(time.perf_counter())


def held_matches_discord(wire: Wire, loop: asyncio.AbstractEventLoop) -> bool:
    """The prototype's packets are byte for byte discord.py's (same key, ssrc and counters)."""
    ours, theirs = HeldWireSink(loop, wire), WireSink(loop, wire)
    theirs.ssrc, theirs.secret_key = ours.ssrc, ours.secret_key
    sent: list[bytes] = []
    theirs._connection.send_packet = sent.append  # type: ignore[method-assign,assignment]
    mine = ours._connection.socket
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    mine.connect(peer.getsockname())
    try:
        for payload in (b"\xfc\x01\x02", bytes(range(200))):
            ours.send_audio_packet(payload, encode=False)
            theirs.send_audio_packet(payload, encode=False)
        return [peer.recv(2048), peer.recv(2048)] == sent
    finally:
        peer.close()
        ours.close()
        theirs.close()


def _held_calls() -> tuple[Any, Any]:
    sodium = ctypes.PyDLL(glob.glob(os.path.join(os.path.dirname(nacl.__file__), "_sodium*.so"))[0])
    encrypt = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt
    encrypt.argtypes = [
        ctypes.c_char_p, ctypes.POINTER(ctypes.c_ulonglong), ctypes.c_char_p, ctypes.c_ulonglong,
        ctypes.c_char_p, ctypes.c_ulonglong, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
    ]  # fmt: skip
    encrypt.restype = ctypes.c_int
    send = ctypes.PyDLL(None).send
    send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    send.restype = ctypes.c_ssize_t
    return encrypt, send


_RTP = struct.Struct(">BBHII")
_NONCE = struct.Struct(">I")
_encrypt, _send = _held_calls()


def longest_burst(sent_at: Sequence[float]) -> int:
    """Most consecutive packets that went out less than 10 ms after the one before (0: none did)."""
    longest = run = 0
    for before, after in itertools.pairwise(sent_at):
        run = run + 1 if after - before < BURST_GAP_S else 0
        longest = max(longest, run)
    return longest


@dataclass
class Pacing:
    """The gaps between consecutive packets of each stream, pooled over the streams."""

    packets: int
    gaps: list[float]
    longest_burst: int

    @classmethod
    def of(cls, sinks: Sequence[WireSink]) -> Pacing:
        gaps = sorted(after - before for sink in sinks for before, after in itertools.pairwise(sink.sent_at))
        return cls(
            packets=sum(len(sink.sent_at) for sink in sinks),
            gaps=gaps,
            longest_burst=max((longest_burst(sink.sent_at) for sink in sinks), default=0),
        )

    def gap_ms(self, quantile: float) -> float:
        """The ``quantile`` of the gaps, in ms (nan with no gaps)."""
        if not self.gaps:
            return float("nan")
        return 1000 * self.gaps[min(len(self.gaps) - 1, round(quantile * (len(self.gaps) - 1)))]

    @property
    def late_gaps(self) -> int:
        return sum(1 for gap in self.gaps if gap > ON_TIME_P99_S)

    @property
    def on_time(self) -> bool:
        """p99 within 5 ms of 20 ms and no burst."""
        return bool(self.gaps) and self.gap_ms(0.99) <= 1000 * ON_TIME_P99_S and self.longest_burst == 0
