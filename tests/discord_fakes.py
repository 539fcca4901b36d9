"""Discord's edge, rebuilt from real discord.py objects.

Guilds, members, channels and interactions are real discord.py objects built from gateway-shaped
payloads, so permission maths, ``channel.connect()`` and ``CommandTree`` dispatch are discord.py's
own. Only two things are replaced: what an interaction sends back (recorded instead of POSTed) and
the voice client's network (it runs discord.py's real ``play()``, ``AudioPlayer`` and Opus encoder,
and records the packets instead of sending them over UDP).

The fakes are as strict as Discord where the bot can get it wrong:

* Voice joins and leaves take time (:attr:`FakeDiscord.connect_latency`, :attr:`FakeDiscord.disconnect_latency`)
  and are awaited the way discord.py awaits them. ``channel.connect()`` registers the voice client in the guild
  first; Discord answers the bot's voice-state change (gateway op 4) with the bot's own VOICE_STATE_UPDATE, parsed
  by discord.py's real ``parse_voice_state_update`` (so ``on_voice_state_update`` listeners run as tasks) while the
  connect is still under way. Discord applies op 4s in order and keeps one voice connection per bot and guild.
* Interactions must be answered within 3 s (later: ``discord.NotFound`` 10062, recorded in
  :attr:`FakeDiscord.missed_deadlines`); follow-ups work for 15 minutes on a clock tests can advance.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import discord
import numpy as np
from discord.ext import commands

_ids = itertools.count(100_000_000_000_000_000)

BOT_ID = 900_000_000_000_000_001
INITIAL_RESPONSE_DEADLINE_S = 3.0
"""Discord forgets an interaction that was not answered (responded to or deferred) within 3 seconds."""
INTERACTION_TOKEN_LIFETIME_S = 15 * 60.0
"""Follow-ups use the interaction token, valid for 15 minutes after the interaction was created."""
DEFAULT_CONNECT_LATENCY_S = 0.05
"""Voice join for the suite (Discord's is about 0.8 s; the concurrency tests use that)."""
DEFAULT_DISCONNECT_LATENCY_S = 0.02
DEFAULT_VOICE_STATE_LATENCY_S = 0.01
ALL_VOICE_PERMISSIONS = discord.Permissions(view_channel=True, connect=True, speak=True, send_messages=True)


def next_id() -> int:
    return next(_ids)


@dataclass(frozen=True)
class FakeAttachment:
    """A file a member attaches to a slash command option; Discord serves ``data`` at ``url`` (see
    :meth:`FakeDiscord.attach`), where discord.py's real ``Attachment.read()`` fetches it."""

    id: int
    filename: str
    content_type: str | None
    size: int
    url: str

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type is not None:
            payload["content_type"] = self.content_type
        return payload


def _option_type(value: object) -> int:
    """Discord's option type for a value a test passes: BOOLEAN, NUMBER, ATTACHMENT, else STRING."""
    if isinstance(value, FakeAttachment):
        return 11
    if isinstance(value, bool):
        return 5
    if isinstance(value, float):
        return 10
    return 3


def user_payload(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "discriminator": "0", "avatar": None, "bot": bot, "global_name": name}


def member_payload(user_id: int, name: str, *, bot: bool = False, roles: list[int] | None = None) -> dict[str, Any]:
    return {
        "user": user_payload(user_id, name, bot=bot),
        "roles": [str(r) for r in roles or []],
        "joined_at": "2026-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
    }


def voice_state_payload(user_id: int, channel_id: int | None, guild_id: int | None = None) -> dict[str, Any]:
    return {
        **({"guild_id": str(guild_id)} if guild_id is not None else {}),
        "user_id": str(user_id),
        "channel_id": str(channel_id) if channel_id else None,
        "session_id": "s",
        "deaf": False,
        "mute": False,
        "self_deaf": False,
        "self_mute": False,
        "self_video": False,
        "suppress": False,
        "request_to_speak_timestamp": None,
    }


@dataclass
class Sent:
    """One message the bot sent in answer to an interaction."""

    content: str
    ephemeral: bool
    allowed_mentions: discord.AllowedMentions | None
    kind: str  # "response" | "followup" | "defer" | "edit" (of a message sent before: its new content)
    view: discord.ui.View | None = None
    """The buttons sent with (or left on, by an edit) the message."""
    message_id: int | None = None
    """A follow-up's message id (to press its buttons with :meth:`FakeDiscord.press`)."""


@dataclass
class MissedDeadline:
    """An interaction answered too late: Discord had already told the member "The application did not respond"."""

    command: str
    what: str  # "send_message" | "defer" | "autocomplete"
    after_s: float
    """Seconds after the interaction was created."""


def _not_found(code: int, message: str) -> discord.NotFound:
    return discord.NotFound(SimpleNamespace(status=404, reason="Not Found"), {"code": code, "message": message})


@dataclass
class Conversation:
    """Everything the bot said back to one interaction, in order."""

    sent: list[Sent] = field(default_factory=list)
    choices: list[discord.app_commands.Choice[Any]] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    command: str = ""
    created_at: float = 0.0
    """When the interaction was created, on :meth:`FakeDiscord.clock`."""

    @property
    def texts(self) -> list[str]:
        return [s.content for s in self.sent if s.kind != "defer"]

    async def wait_for(self, needle: str, timeout: float = 5.0) -> Sent:
        """Wait until a message containing ``needle`` has been sent."""
        async with asyncio.timeout(timeout):
            while True:
                for message in self.sent:
                    if needle in message.content:
                        return message
                self.changed.clear()
                await self.changed.wait()


class RecordedResponse:
    """Stands in for ``InteractionResponse``: same methods the cog uses, recorded, with Discord's 3-second rule."""

    def __init__(self, conversation: Conversation, fake: FakeDiscord | None = None) -> None:
        self._conversation = conversation
        self._fake = fake
        self._done = False

    def is_done(self) -> bool:
        return self._done

    def _check_deadline(self, what: str) -> None:
        """Discord answers an initial response more than 3 s after the interaction with 404 Unknown interaction."""
        if self._fake is None:
            return
        age = self._fake.clock() - self._conversation.created_at
        if age > INITIAL_RESPONSE_DEADLINE_S:
            self._fake.missed_deadlines.append(MissedDeadline(self._conversation.command, what, age))
            raise _not_found(10062, "Unknown interaction")

    def _record(self, sent: Sent, what: str) -> None:
        if self._done:
            raise discord.InteractionResponded(None)  # type: ignore[arg-type]
        self._check_deadline(what)
        self._done = True
        self._conversation.sent.append(sent)
        self._conversation.changed.set()

    async def send_message(
        self,
        content: str | None = None,
        *,
        ephemeral: bool = False,
        allowed_mentions: discord.AllowedMentions | None = None,
        **_: Any,
    ) -> None:
        self._record(Sent(content or "", ephemeral, allowed_mentions, "response"), "send_message")

    async def defer(self, *, ephemeral: bool = False, thinking: bool = False) -> None:
        self._record(Sent("", ephemeral, None, "defer"), "defer")

    async def edit_message(
        self,
        *,
        content: str | None = None,
        view: discord.ui.View | None = None,
        allowed_mentions: discord.AllowedMentions | None = None,
        **_: Any,
    ) -> None:
        """A component's answer that edits the (ephemeral) message the button is on."""
        self._record(Sent(content or "", True, allowed_mentions, "edit", view), "edit_message")

    async def autocomplete(self, choices: list[discord.app_commands.Choice[Any]]) -> None:
        if self._done:
            raise discord.InteractionResponded(None)  # type: ignore[arg-type]
        if len(choices) > 25:
            raise discord.HTTPException(SimpleNamespace(status=400, reason="Bad Request"), "over 25 choices")
        self._check_deadline("autocomplete")
        self._done = True
        self._conversation.choices = list(choices)
        self._conversation.changed.set()


class RecordedFollowup:
    """Stands in for the interaction's webhook: works once the interaction was answered, for 15 minutes."""

    def __init__(self, conversation: Conversation, response: RecordedResponse, fake: FakeDiscord | None = None) -> None:
        self._conversation = conversation
        self._response = response
        self._fake = fake

    async def send(
        self,
        content: str | None = None,
        *,
        ephemeral: bool = False,
        allowed_mentions: discord.AllowedMentions | None = None,
        view: discord.ui.View | None = None,
        wait: bool = False,
        **_: Any,
    ) -> SentMessage | None:
        if not self._response.is_done():
            raise _not_found(10015, "Unknown Webhook")
        if self._fake is not None:
            age = self._fake.clock() - self._conversation.created_at
            if age > INTERACTION_TOKEN_LIFETIME_S:
                self._fake.expired_followups.append((self._conversation.command, content or ""))
                raise _not_found(10015, "Unknown Webhook")
        message = SentMessage(next_id(), self._conversation, ephemeral)
        self._conversation.sent.append(Sent(content or "", ephemeral, allowed_mentions, "followup", view, message.id))
        self._conversation.changed.set()
        if view is not None and self._fake is not None:
            self._fake.state.store_view(view, message.id)  # as discord.py's webhook does: its buttons now answer
        return message if wait else None


@dataclass
class SentMessage:
    """A message sent as a follow-up (``wait=True``): its id, for pressing its buttons, and ``edit``."""

    id: int
    conversation: Conversation
    ephemeral: bool

    async def edit(
        self,
        *,
        content: str | None = None,
        view: discord.ui.View | None = None,
        allowed_mentions: discord.AllowedMentions | None = None,
        **_: Any,
    ) -> SentMessage:
        self.conversation.sent.append(Sent(content or "", self.ephemeral, allowed_mentions, "edit", view))
        self.conversation.changed.set()
        return self


class PacketLog(list[tuple[float, bool, bytes]]):
    """The packets a voice client sent, and in :attr:`channels` the voice channel each went into (cleared with
    them, so a test that clears the packets keeps the two in step)."""

    def __init__(self) -> None:
        super().__init__()
        self.channels: list[int] = []

    def record(self, packet: tuple[float, bool, bytes], channel_id: int) -> None:
        self.channels.append(channel_id)  # first: a reader in another thread zips the shorter list
        self.append(packet)

    def clear(self) -> None:
        super().clear()
        self.channels.clear()


class RecordingVoiceClient(discord.VoiceClient):
    """discord.py's VoiceClient with the network cut off: real play()/stop()/AudioPlayer/Opus, packets recorded.

    Connecting, moving and disconnecting talk to :class:`FakeDiscord` the way discord.py's
    ``VoiceConnectionState`` talks to Discord: a voice-state change (op 4) that Discord answers, in order and after
    a latency, with the bot's VOICE_STATE_UPDATE; the voice connection itself is up after
    :attr:`FakeDiscord.connect_latency`. What discord.py does with those answers is kept (a disconnect waits for
    Discord's confirmation; a disconnect nobody asked for cleans the client up; a connect whose client was
    disconnected meanwhile never completes and times out, and its teardown disconnects the bot and unregisters
    whatever voice client the guild has), but none of discord.py's network state machine runs.
    """

    def __init__(self, client: discord.Client, channel: discord.abc.Connectable) -> None:
        super().__init__(client, channel)
        self._online = threading.Event()
        self.packets = PacketLog()
        """(perf_counter time, came from the audio source (not discord.py's closing silence), Opus packet);
        ``packets.channels``: where each was sent."""
        self.speaking: list[int] = []
        self.ended_at: list[float] = []
        """perf_counter time at which each player ended (its source exhausted, stopped, or the connection lost)."""
        self.on_player_end: Callable[[], None] | None = None
        """Called once, on the event loop, when the next player ends: scheduled just before the ``after`` callback
        given to play() (so a test can act exactly when an item finishes)."""
        self.connect_calls = 0
        self.host_owned = False
        """Made by the host bot (its music player, say), not by our plugin: the harness does not wait for it."""
        self._fake = FakeDiscord.of(client)
        self._connect_timeout = 30.0
        self._connecting = False
        self._abandoned = False
        """Disconnected while connecting: discord.py's handshake then waits for its timeout."""
        self._expecting_disconnect = False
        self._disconnected = asyncio.Event()
        self._finished = False
        if self._fake is not None:
            self._fake.voice_clients.append(self)

    def _discord(self) -> FakeDiscord:
        assert self._fake is not None, "RecordingVoiceClient needs a FakeDiscord for its bot"
        return self._fake

    async def connect(
        self, *, reconnect: bool, timeout: float, self_deaf: bool = False, self_mute: bool = False
    ) -> None:
        """discord.py's handshake: op 4 to join, Discord's VOICE_STATE_UPDATE, then the voice connection is up."""
        self.connect_calls += 1
        fake = self._discord()
        self._connect_timeout = timeout
        self._connecting = True
        self._abandoned = False
        try:
            async with asyncio.timeout(timeout):
                fake._receive_op4(self, self.channel.id, fake.voice_state_latency, self_deaf=self_deaf, mute=self_mute)
                await asyncio.sleep(max(fake.connect_latency, 0.0))
                if self._abandoned:  # discord.py waits for a handshake state that never comes
                    await asyncio.get_running_loop().create_future()
                self._online.set()
        except TimeoutError:
            # discord.py's _wrap_connect: disconnect (no wait) and re-raise; abc.connect then awaits
            # disconnect(force=True) itself.
            self._leave_voice()
            self._finish()
            raise
        finally:
            self._connecting = False

    async def on_voice_state_update(self, data: Any) -> None:
        """Discord's VOICE_STATE_UPDATE for the bot, as discord.py's connection state would take it."""
        channel_id = data.get("channel_id")
        if channel_id is None:
            self._disconnected.set()
            if self._expecting_disconnect:
                self._expecting_disconnect = False
            else:  # "We were externally disconnected from voice": discord.py disconnects and cleans up
                self._leave_voice()
                self._finish()
            return
        if self._abandoned:
            return
        moved_to = self.guild.get_channel(int(channel_id))
        if isinstance(moved_to, discord.VoiceChannel | discord.StageChannel) and moved_to.id != self.channel.id:
            self.channel = moved_to

    async def on_voice_server_update(self, data: Any) -> None:
        return

    def _leave_voice(self) -> None:
        """discord.py's ``VoiceConnectionState.disconnect`` up to its wait: op 4 with no channel, the voice
        connection closed, the player stopped."""
        if self._connecting:
            self._abandoned = True
        self._online.clear()
        if self._fake is not None:
            self._fake._receive_op4(self, None, self._fake.disconnect_latency)
        self._expecting_disconnect = True
        self._disconnected.clear()
        self.stop()

    def _finish(self) -> None:
        self._release_socket_reader()
        self.cleanup()  # VoiceProtocol.cleanup: unregisters the guild's voice client, whichever it is

    def _release_socket_reader(self) -> None:
        if not self._finished:
            self._finished = True
            self._connection._socket_reader.stop()

    def _release(self) -> None:
        self._online.clear()
        self.stop()
        self._release_socket_reader()

    async def disconnect(self, *, force: bool = False) -> None:
        self.stop()
        if force or self.is_connected():
            self._leave_voice()
            # discord.py waits for Discord's VOICE_STATE_UPDATE confirming the bot left (then goes on anyway).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._disconnected.wait(), timeout=self._connect_timeout)
            self._finish()
        self.cleanup()

    async def move_to(self, channel: discord.abc.Snowflake | None, *, timeout: float | None = 30.0) -> None:
        """discord.py's move: op 4 to the new channel, then the voice connection is re-established."""
        if channel is None:
            await self.disconnect(force=True)
            return
        if channel.id == self.channel.id:
            return
        fake = self._discord()
        self._online.clear()
        fake._receive_op4(self, channel.id, fake.voice_state_latency)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.sleep(max(fake.connect_latency, 0.0))
                self._online.set()
        except TimeoutError:
            pass  # discord.py logs it and keeps the previous state

    def _session_ended(self) -> None:
        """Discord gave the bot's one voice connection in this guild to another join, or ended it: this client's
        voice websocket is closed (discord.py waits ``timeout`` for a reconnect that doesn't come)."""
        self._online.clear()

    def is_connected(self) -> bool:
        return self._online.is_set()

    def wait_until_connected(self, timeout: float | None = 30.0) -> bool:
        return self._online.wait(timeout)

    @property
    def timeout(self) -> float:
        return 0.5

    @property
    def ws(self) -> Any:
        async def speak(state: discord.SpeakingState) -> None:
            self.speaking.append(int(state.value) if hasattr(state, "value") else int(state))

        return SimpleNamespace(speak=speak)

    def play(self, source: discord.AudioSource, *, after: Any = None, **options: Any) -> None:
        """discord.py's play(); also records when each player ends (:attr:`ended_at`)."""

        def ended(error: Exception | None) -> None:  # in the player thread, just before ``after``
            self.ended_at.append(time.perf_counter())
            hook, self.on_player_end = self.on_player_end, None
            if hook is not None:
                with contextlib.suppress(RuntimeError):  # the loop is closed
                    self.loop.call_soon_threadsafe(hook)
            if after is not None:
                after(error)

        super().play(source, after=ended, **options)

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None:
        """What discord.py's player sends: our Opus packets as they are, PCM it encodes (a host bot's music), or its
        own closing silence."""
        packet = self.encoder.encode(data, self.encoder.SAMPLES_PER_FRAME) if encode else data
        # Not the player's silence after the last frame (the same 3 bytes as a source's packet of silence).
        from_source = sys._getframe(1).f_code.co_name != "send_silence"
        self.packets.record((time.perf_counter(), from_source, packet), self.channel.id)

    def drop_connection(self) -> None:
        """The voice connection breaks (as when Discord's voice server goes away)."""
        self._online.clear()

    def restore_connection(self) -> None:
        """The connection is back (discord.py reconnected); a player waiting for it goes on."""
        self._online.set()

    # -- what a listener in the channel would hear -------------------------------------------------

    def speech_packets(self, channel_id: int | None = None) -> list[bytes]:
        """Opus packets of speech (not the player's silence frames), all or those sent into ``channel_id``."""
        return [
            packet
            for (_, encoded, packet), channel in zip(self.packets, self.packets.channels, strict=False)
            if encoded and (channel_id is None or channel == channel_id)
        ]

    def heard(self, channel_id: int | None = None) -> np.ndarray:
        """Decode every Opus packet of speech with libopus (those sent into ``channel_id`` if given); returns float
        samples of the left channel."""
        decoder = discord.opus.Decoder()  # type: ignore[no-untyped-call]
        pcm = b"".join(decoder.decode(packet, fec=False) for packet in self.speech_packets(channel_id))
        stereo = np.frombuffer(pcm, dtype="<i2").reshape(-1, 2)
        return stereo[:, 0].astype(np.float64) / 32768.0


def _gateway_websocket(
    bot: discord.Client, shard_id: int, socket: SimpleNamespace, latency: float
) -> discord.gateway.DiscordWebSocket:
    """discord.py's gateway websocket for ``shard_id`` over ``socket`` (a stand-in for aiohttp's), its heartbeat
    answered after ``latency`` seconds."""
    ws = discord.gateway.DiscordWebSocket(socket, loop=asyncio.get_running_loop())  # type: ignore[arg-type]
    ws.shard_id = shard_id
    ws._max_heartbeat_timeout = 60.0  # set by DiscordWebSocket.from_client, which connects
    heartbeat = discord.gateway.KeepAliveHandler(ws=ws, interval=41.25, shard_id=shard_id)
    heartbeat.latency = latency  # what its ack() records
    ws._keep_alive = heartbeat
    return ws


class FakeDiscord:
    """A bot with one guild, three voice channels and a stage, members, and a way to send it slash commands."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.state = bot._connection
        self.state.user = discord.ClientUser(state=self.state, data=user_payload(BOT_ID, "Speaker", bot=True))  # type: ignore[arg-type]
        self.guild_id = next_id()
        self.text_channel_id = next_id()
        self.voice_channel_id = next_id()
        self.other_voice_channel_id = next_id()
        self.stage_channel_id = next_id()
        self.third_voice_channel_id = next_id()
        """A third voice channel ("Study"), for tests with members spread over three channels."""
        self._channels: list[dict[str, Any]] = [
            {"id": str(self.text_channel_id), "type": 0, "name": "general", "position": 0},
            self._voice_channel(self.voice_channel_id, "Lounge"),
            self._voice_channel(self.other_voice_channel_id, "Gaming"),
            {**self._voice_channel(self.stage_channel_id, "Town Hall"), "type": 13},
            self._voice_channel(self.third_voice_channel_id, "Study"),
        ]
        self.stage_moderator = False
        """Whether the bot may make itself a speaker on the stage (Mute Members there)."""
        self.voice_state_edits: list[dict[str, Any]] = []
        """What the bot asked of its own voice state (become a speaker, request to speak)."""
        self._members: list[dict[str, Any]] = [member_payload(BOT_ID, "Speaker", bot=True)]
        self._voice_states: list[dict[str, Any]] = []
        self._roles: list[dict[str, Any]] = []
        self.everyone_permissions = ALL_VOICE_PERMISSIONS
        self.conversations: list[Conversation] = []
        self.channel_posts: list[tuple[int, dict[str, Any]]] = []
        """(channel id, JSON body) of every message the bot posted in a channel (not interaction replies)."""
        self.state.http.send_message = self._record_channel_post  # type: ignore[method-assign, assignment]
        self.state.http.edit_my_voice_state = self._edit_my_voice_state  # type: ignore[method-assign, assignment]
        self.cdn: dict[str, bytes] = {}
        """What Discord's CDN serves, by URL: attached files (``Attachment.read()`` fetches from here)."""
        self.cdn_downloads: list[str] = []
        self.state.http.get_from_cdn = self._get_from_cdn  # type: ignore[method-assign]
        # -- voice, as strict as Discord ------------------------------------------------------------------------
        self.connect_latency = DEFAULT_CONNECT_LATENCY_S
        """From ``connect()`` (or ``move_to()``) to the voice connection being up. Discord's is about 0.8 s."""
        self.disconnect_latency = DEFAULT_DISCONNECT_LATENCY_S
        """From a disconnect to Discord's VOICE_STATE_UPDATE confirming it (what ``disconnect()`` waits for)."""
        self.voice_state_latency = DEFAULT_VOICE_STATE_LATENCY_S
        """From a join or move to Discord's VOICE_STATE_UPDATE for the bot (while the connect is under way)."""
        self.voice_clients: list[RecordingVoiceClient] = []
        """Every voice client ever created for this bot, oldest first (each keeps its channel and packets)."""
        self.bot_voice_channel_id: int | None = None
        """Where Discord has the bot (what the next VOICE_STATE_UPDATE for it changes), as Discord sees it."""
        self._last_op_due = 0.0
        self._pending_events = 0
        # -- interactions --------------------------------------------------------------------------------------
        self.missed_deadlines: list[MissedDeadline] = []
        """Initial responses that came more than 3 s after their interaction (Discord refused them)."""
        self.expired_followups: list[tuple[str, str]] = []
        """(command, text) of follow-ups sent after the 15-minute token had expired (Discord refused them)."""
        self._clock_offset = 0.0
        self.interaction_token = "interaction-token"
        """The token of every interaction Discord sends (a test can make it distinctive, to look for it)."""
        self._gateway_sockets: dict[int, SimpleNamespace] = {}
        setattr(bot, "_fake_discord", self)  # noqa: B010 - how the voice clients find Discord

    @staticmethod
    def of(client: discord.Client) -> FakeDiscord | None:
        """The FakeDiscord serving ``client``, if any."""
        fake = getattr(client, "_fake_discord", None)
        return fake if isinstance(fake, FakeDiscord) else None

    # -- time --------------------------------------------------------------------------------------------------

    def clock(self) -> float:
        """Discord's clock for interaction deadlines: monotonic seconds, plus what :meth:`advance_clock` added."""
        return time.monotonic() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Let ``seconds`` pass for interaction tokens (e.g. 15 minutes) without sleeping."""
        self._clock_offset += seconds

    # -- the gateway ---------------------------------------------------------------------------------------------

    def connect_gateway(self, latencies: dict[int, float] | None = None) -> None:
        """The bot's gateway connection is up (one per shard for an ``AutoShardedBot``: ``latencies`` maps shard id
        to the seconds its last heartbeat took to be answered; default: shard 0, 42 ms) and discord.py has marked
        the bot ready. Real ``DiscordWebSocket`` and ``KeepAliveHandler`` objects (never started) over a socket
        that is open until :meth:`drop_gateway`."""
        latencies = latencies if latencies is not None else {0: 0.042}
        self._gateway_sockets = {shard_id: SimpleNamespace(closed=False, close_code=None) for shard_id in latencies}
        sockets = {
            shard_id: _gateway_websocket(self.bot, shard_id, self._gateway_sockets[shard_id], latency)
            for shard_id, latency in latencies.items()
        }
        if isinstance(self.bot, discord.AutoShardedClient):
            setattr(self.bot, "_reconnect", True)  # noqa: B010 - what connect(reconnect=True) sets before launching
            shards = {i: discord.shard.Shard(ws, self.bot, lambda _item: None) for i, ws in sockets.items()}
            setattr(self.bot, "_AutoShardedClient__shards", shards)  # noqa: B010 - what launch_shards fills
        else:
            (self.bot.ws,) = sockets.values()
        self.state.call_handlers("ready")  # what discord.py calls once READY (and the guilds) arrived

    def drop_gateway(self, shard_id: int = 0) -> None:
        """The gateway connection (of ``shard_id``) is lost, as when Discord closes the websocket."""
        self._gateway_sockets[shard_id].closed = True

    # -- Discord's side of voice ---------------------------------------------------------------------------------

    def _receive_op4(
        self,
        client: RecordingVoiceClient,
        channel_id: int | None,
        delay: float,
        *,
        self_deaf: bool = False,
        mute: bool = False,
    ) -> None:
        """The bot sent Update Voice State (gateway op 4). Discord applies op 4s in the order sent and answers
        each that changes the bot's voice state with its VOICE_STATE_UPDATE, ``delay`` seconds later."""
        loop = asyncio.get_running_loop()
        due = max(loop.time() + max(delay, 0.0), self._last_op_due + 1e-4)
        self._last_op_due = due
        self._pending_events += 1
        loop.call_at(due, self._apply_op4, client, channel_id, self_deaf, mute)

    def _apply_op4(self, client: RecordingVoiceClient, channel_id: int | None, self_deaf: bool, mute: bool) -> None:
        self._pending_events -= 1
        if channel_id is None and self.bot_voice_channel_id is None:
            return  # nothing changes: Discord sends nothing (a disconnect waiting for it times out)
        for other in self.voice_clients:  # one voice connection per bot and guild
            if other is not client or channel_id is None:
                other._session_ended()
        guild = self.bot.get_guild(self.guild_id)
        if guild is None:
            self.bot_voice_channel_id = channel_id
            return
        current = guild.me.voice
        payload = {
            **voice_state_payload(BOT_ID, channel_id, self.guild_id),
            "self_deaf": self_deaf,
            "self_mute": mute,
            "mute": bool(current and current.mute),
        }
        if isinstance(guild.get_channel(channel_id or 0), discord.StageChannel):
            same_stage = channel_id == self.bot_voice_channel_id and current is not None
            payload["suppress"] = current.suppress if same_stage and current is not None else True  # the audience
        self.bot_voice_channel_id = channel_id
        self.state.parse_voice_state_update(payload)  # type: ignore[arg-type]

    @property
    def pending_gateway_events(self) -> int:
        """VOICE_STATE_UPDATEs Discord has still to send for voice-state changes the bot asked for."""
        return self._pending_events

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until Discord has sent every VOICE_STATE_UPDATE it owes the bot."""
        async with asyncio.timeout(timeout):
            while self._pending_events:
                await asyncio.sleep(0.005)

    def disconnect_bot(self) -> None:
        """A moderator disconnects the bot: Discord ends its voice connection and sends the bot's
        VOICE_STATE_UPDATE with no channel; discord.py then cleans the voice client up (``guild.voice_client``
        is None once its handler has run), as on any disconnect it did not ask for."""
        for client in self.voice_clients:
            client._session_ended()
        self.bot_voice_channel_id = None
        self.state.parse_voice_state_update(voice_state_payload(BOT_ID, None, self.guild_id))  # type: ignore[arg-type]

    def move_bot(self, channel_id: int) -> None:
        """A moderator drags the bot to another voice channel: its VOICE_STATE_UPDATE through discord.py's parser
        (the voice client follows; the connection comes back at once, as it does for a move by a moderator)."""
        self.bot_voice_channel_id = channel_id
        guild = self.guild
        current = guild.me.voice
        payload = {**voice_state_payload(BOT_ID, channel_id, self.guild_id), "mute": bool(current and current.mute)}
        self.state.parse_voice_state_update(payload)  # type: ignore[arg-type]

    def release_voice_clients(self) -> None:
        """The test is over: stop every voice client's player and its socket-reader thread (a client the bot lost
        track of would otherwise live on in that thread, holding its last audio source)."""
        for client in self.voice_clients:
            client._release()

    # -- what was heard where ----------------------------------------------------------------------------------

    def heard_in(self, channel_id: int) -> np.ndarray:
        """Every voice client's speech sent into ``channel_id``, decoded, oldest client first."""
        parts = [client.heard(channel_id) for client in self.voice_clients]
        return np.concatenate(parts) if parts else np.zeros(0)

    def channels_with_speech(self) -> set[int]:
        """The voice channels any speech packet was sent into."""
        return {
            channel
            for client in self.voice_clients
            for (_, encoded, _), channel in zip(client.packets, client.packets.channels, strict=False)
            if encoded
        }

    async def _edit_my_voice_state(self, guild_id: int, payload: dict[str, Any]) -> None:
        """PATCH /guilds/{id}/voice-states/@me: Discord refuses ``suppress: false`` without Mute Members."""
        self.voice_state_edits.append(dict(payload))
        if payload.get("suppress") is False and not self.stage_moderator:
            raise discord.Forbidden(SimpleNamespace(status=403, reason="Forbidden"), "Missing Permissions")
        if payload.get("suppress") is False:
            self.bot.dispatch("voice_state_update", *self.set_bot_voice(suppress=False))
        elif payload.get("request_to_speak_timestamp"):
            self.set_bot_voice(request_to_speak_timestamp=payload["request_to_speak_timestamp"])

    def attach(self, filename: str, data: bytes, content_type: str | None = "audio/wav") -> FakeAttachment:
        """A file as a member attaches it: uploaded to the CDN, passed as an option's value."""
        attachment_id = next_id()
        url = f"https://cdn.discordapp.com/ephemeral-attachments/{self.text_channel_id}/{attachment_id}/{filename}"
        self.cdn[url] = data
        return FakeAttachment(attachment_id, filename, content_type, len(data), url)

    async def _get_from_cdn(self, url: str) -> bytes:
        self.cdn_downloads.append(url)
        await asyncio.sleep(0.01)
        if url not in self.cdn:
            raise _not_found(0, "404: Not Found")
        return self.cdn[url]

    async def _record_channel_post(self, channel_id: int, *, params: Any) -> dict[str, Any]:
        body = dict(params.payload or {})
        self.channel_posts.append((int(channel_id), body))
        return self.message_payload(BOT_ID, int(channel_id), body.get("content", ""))

    @staticmethod
    def _voice_channel(channel_id: int, name: str, user_limit: int = 0) -> dict[str, Any]:
        return {
            "id": str(channel_id),
            "type": 2,
            "name": name,
            "position": 1,
            "bitrate": 64000,
            "user_limit": user_limit,
            "permission_overwrites": [],
            "rtc_region": None,
        }

    def add_member(
        self, name: str, *, voice_channel_id: int | None = None, bot: bool = False, roles: list[int] | None = None
    ) -> int:
        user_id = next_id()
        self._members.append(member_payload(user_id, name, bot=bot, roles=roles))
        if voice_channel_id is not None:
            self._voice_states.append(voice_state_payload(user_id, voice_channel_id))
        return user_id

    def add_role(self, name: str) -> int:
        role_id = next_id()
        self._roles.append(
            {
                "id": str(role_id),
                "name": name,
                "permissions": "0",
                "position": len(self._roles) + 1,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": True,
                "flags": 0,
            }
        )
        return role_id

    def set_user_limit(self, channel_id: int, limit: int) -> None:
        for channel in self._channels:
            if channel["id"] == str(channel_id):
                channel["user_limit"] = limit

    def deny_in_channel(self, channel_id: int, permissions: discord.Permissions) -> None:
        for channel in self._channels:
            if channel["id"] == str(channel_id):
                channel["permission_overwrites"] = [
                    {"id": str(BOT_ID), "type": 1, "allow": "0", "deny": str(permissions.value)}
                ]

    # -- gateway events, through discord.py's own parsers ----------------------------------------

    def delete_channel(self, channel_id: int) -> None:
        """CHANNEL_DELETE: discord.py drops the channel from its cache and dispatches on_guild_channel_delete."""
        payload = next(channel for channel in self._channels if channel["id"] == str(channel_id))
        self._channels.remove(payload)
        self.state.parse_channel_delete({**payload, "guild_id": str(self.guild_id)})

    def change_bot_overwrite(self, channel_id: int, *, deny: discord.Permissions) -> None:
        """CHANNEL_UPDATE: an admin edits the bot's permission overwrite in a channel (an empty deny lifts it)."""
        self.deny_in_channel(channel_id, deny)
        payload = next(channel for channel in self._channels if channel["id"] == str(channel_id))
        self.state.parse_channel_update({**payload, "guild_id": str(self.guild_id)})

    def change_everyone_permissions(self, permissions: discord.Permissions) -> None:
        """GUILD_ROLE_UPDATE for @everyone (the bot has no other role here)."""
        self.everyone_permissions = permissions
        role = self._everyone_role()
        self.state.parse_guild_role_update({"guild_id": str(self.guild_id), "role": role})

    def _everyone_role(self) -> dict[str, Any]:
        return {
            "id": str(self.guild_id),
            "name": "@everyone",
            "permissions": str(self.everyone_permissions.value),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def server_mute_bot(self, muted: bool) -> tuple[discord.Member, discord.VoiceState, discord.VoiceState]:
        """A moderator server-mutes (or unmutes) the bot where it is; returns what on_voice_state_update gets."""
        return self.set_bot_voice(mute=muted)

    def set_bot_voice(self, **changes: Any) -> tuple[discord.Member, discord.VoiceState, discord.VoiceState]:
        """Change the bot's voice state where it is (``mute``, ``suppress``...), as a VOICE_STATE_UPDATE would;
        returns what on_voice_state_update gets. Unchanged fields keep their values."""
        guild = self.guild
        state = guild.me.voice
        assert state is not None and state.channel is not None
        payload = {
            **voice_state_payload(BOT_ID, state.channel.id),
            "mute": state.mute,
            "suppress": state.suppress,
            "request_to_speak_timestamp": (
                state.requested_to_speak_at.isoformat() if state.requested_to_speak_at else None
            ),
            **changes,
        }
        member, before, after = guild._update_voice_state(payload, state.channel.id)  # type: ignore[arg-type]
        assert member is not None
        return member, before, after

    def build_guild(self) -> discord.Guild:
        """Create (or re-create) the guild in the bot's cache from the current payloads."""
        payload = {
            "id": str(self.guild_id),
            "name": "Test Server",
            "owner_id": "1",
            "roles": [self._everyone_role(), *self._roles],
            "channels": self._channels,
            "members": self._members,
            "voice_states": self._voice_states,
            "member_count": len(self._members),
            "emojis": [],
            "stickers": [],
            "features": [],
            "premium_tier": 0,
            "large": False,
        }
        return self.state._add_guild_from_data(payload)  # type: ignore[arg-type]

    @property
    def guild(self) -> discord.Guild:
        guild = self.bot.get_guild(self.guild_id)
        assert guild is not None
        return guild

    def move_member(
        self, user_id: int, channel_id: int | None
    ) -> tuple[discord.Member, discord.VoiceState, discord.VoiceState]:
        """Update a member's voice state the way the gateway does; returns what on_voice_state_update gets."""
        guild = self.guild
        member, before, after = guild._update_voice_state(voice_state_payload(user_id, channel_id), channel_id)  # type: ignore[arg-type]
        assert member is not None
        voice = guild.voice_client
        if user_id == BOT_ID:
            self.bot_voice_channel_id = channel_id
        if user_id == BOT_ID and channel_id is not None and isinstance(voice, discord.VoiceClient):
            moved_to = guild.get_channel(channel_id)
            assert isinstance(moved_to, discord.VoiceChannel)
            voice.channel = moved_to  # what discord.py's VoiceClient does when Discord moves the bot
        return member, before, after

    def interaction(
        self,
        user_id: int,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        autocomplete_focus: str | None = None,
        permissions: discord.Permissions | None = None,
        subcommand: str | None = None,
    ) -> tuple[discord.Interaction[commands.Bot], Conversation]:
        payload = self.interaction_payload(
            user_id,
            command,
            options,
            autocomplete_focus=autocomplete_focus,
            permissions=permissions,
            subcommand=subcommand,
        )
        return self.interaction_from_payload(payload)

    def interaction_payload(
        self,
        user_id: int,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        autocomplete_focus: str | None = None,
        permissions: discord.Permissions | None = None,
        subcommand: str | None = None,
    ) -> dict[str, Any]:
        """The INTERACTION_CREATE payload Discord sends when ``user_id`` uses ``/command``."""
        member = next(m for m in self._members if m["user"]["id"] == str(user_id))
        option_list: list[dict[str, Any]] = []
        attachments: dict[str, Any] = {}
        for name, value in (options or {}).items():
            option: dict[str, Any] = {"name": name, "type": _option_type(value), "value": value}
            if isinstance(value, FakeAttachment):
                option["value"] = str(value.id)
                attachments[str(value.id)] = value.payload()
            if name == autocomplete_focus:
                option["focused"] = True
            option_list.append(option)
        payload: dict[str, Any] = {
            "id": str(next_id()),
            "application_id": str(BOT_ID),
            "type": 4 if autocomplete_focus else 2,
            "token": self.interaction_token,
            "version": 1,
            "guild_id": str(self.guild_id),
            "channel_id": str(self.text_channel_id),
            "channel": {"id": str(self.text_channel_id), "type": 0, "guild_id": str(self.guild_id), "name": "general"},
            "member": {**member, "permissions": str((permissions or discord.Permissions.all()).value)},
            "data": {
                "id": str(next_id()),
                "name": command,
                "type": 1,
                "options": [{"name": subcommand, "type": 1, "options": option_list}] if subcommand else option_list,
                **({"resolved": {"attachments": attachments}} if attachments else {}),
            },
            "app_permissions": str(discord.Permissions.all().value),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {},
            "context": 0,
            "attachment_size_limit": 8 * 1024 * 1024,
        }
        return payload

    def message_command_payload(self, user_id: int, name: str, message: dict[str, Any]) -> dict[str, Any]:
        """The INTERACTION_CREATE payload Discord sends when ``user_id`` right-clicks ``message`` (a message
        payload, see :meth:`message_payload`) and picks Apps → ``name``: a MESSAGE command (type 3) with the
        message resolved."""
        payload = self.interaction_payload(user_id, name)
        payload["channel_id"] = message["channel_id"]
        payload["data"] = {
            "id": str(next_id()),
            "name": name,
            "type": 3,
            "target_id": message["id"],
            "resolved": {"messages": {message["id"]: message}},
        }
        return payload

    async def run_message_command(self, user_id: int, name: str, message: dict[str, Any]) -> Conversation:
        """Dispatch a message context-menu command through the bot's real CommandTree."""
        interaction, conversation = self.interaction_from_payload(self.message_command_payload(user_id, name, message))
        await self.bot.tree._call(interaction)
        return conversation

    def interaction_from_payload(
        self, payload: dict[str, Any]
    ) -> tuple[discord.Interaction[commands.Bot], Conversation]:
        """The interaction discord.py builds from ``payload``, its replies recorded in the returned conversation."""
        interaction: discord.Interaction[commands.Bot] = discord.Interaction(data=payload, state=self.state)  # type: ignore[arg-type]
        data = payload["data"]
        options = data.get("options") or []
        nested = options[0] if options and options[0]["type"] == 1 else None
        command = data.get("name") or data.get("custom_id", "")
        name = f"{command} {nested['name']}" if nested else command
        conversation = Conversation(command=name, created_at=self.clock())
        response = RecordedResponse(conversation, self)
        interaction._cs_response = response  # type: ignore[attr-defined]
        interaction._cs_followup = RecordedFollowup(conversation, response, self)  # type: ignore[attr-defined]
        self.conversations.append(conversation)
        return interaction, conversation

    async def run_command(
        self,
        user_id: int,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        subcommand: str | None = None,
        permissions: discord.Permissions | None = None,
    ) -> Conversation:
        """Dispatch a slash command through the bot's real CommandTree and return what was sent back."""
        interaction, conversation = self.interaction(
            user_id, command, options, permissions=permissions, subcommand=subcommand
        )
        await self.bot.tree._call(interaction)
        return conversation

    def press(self, user_id: int, message_id: int, custom_id: str) -> Conversation:
        """``user_id`` presses the button ``custom_id`` on the message ``message_id``: the component interaction
        goes through discord.py's own view store (as the gateway's INTERACTION_CREATE would); its callback runs
        as a task, so wait on the returned conversation."""
        payload = self.interaction_payload(user_id, "button")
        payload["type"] = 3
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        payload["message"] = self.message_payload(BOT_ID, self.text_channel_id, "", message_id=message_id)
        payload["message"]["flags"] = 64  # ephemeral
        interaction, conversation = self.interaction_from_payload(payload)
        self.state._view_store.dispatch_view(2, custom_id, interaction)
        return conversation

    async def autocomplete(
        self, user_id: int, command: str, options: dict[str, Any], focus: str, *, subcommand: str | None = None
    ) -> Conversation:
        interaction, conversation = self.interaction(
            user_id, command, options, autocomplete_focus=focus, subcommand=subcommand
        )
        await self.bot.tree._call(interaction)
        return conversation

    @property
    def voice_client(self) -> RecordingVoiceClient | None:
        voice = self.guild.voice_client
        assert voice is None or isinstance(voice, RecordingVoiceClient)
        return voice

    # -- gateway events ------------------------------------------------------------------------------

    def message_payload(
        self,
        author_id: int,
        channel_id: int,
        content: str,
        *,
        message_id: int | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        member = next((m for m in self._members if m["user"]["id"] == str(author_id)), None)
        author = member["user"] if member else user_payload(author_id, extra.pop("author_name", "Hook"), bot=True)
        payload: dict[str, Any] = {
            "id": str(message_id or next_id()),
            "channel_id": str(channel_id),
            "guild_id": str(self.guild_id),
            "author": author,
            "content": content,
            "timestamp": "2026-11-23T12:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }
        if member is not None:
            payload["member"] = {k: v for k, v in member.items() if k != "user"}
        payload.update(extra)
        return payload

    def post(self, author_id: int, content: str, *, channel_id: int | None = None, **extra: Any) -> int:
        """A MESSAGE_CREATE from the gateway; returns the message id."""
        payload = self.message_payload(author_id, channel_id or self.text_channel_id, content, **extra)
        self.state.parse_message_create(payload)  # type: ignore[arg-type]
        return int(payload["id"])

    def edit(self, author_id: int, message_id: int, content: str, *, channel_id: int | None = None) -> None:
        payload = self.message_payload(author_id, channel_id or self.text_channel_id, content, message_id=message_id)
        payload["edited_timestamp"] = "2026-11-23T12:00:05+00:00"
        self.state.parse_message_update(payload)  # type: ignore[arg-type]

    def delete(self, message_id: int, *, channel_id: int | None = None) -> None:
        self.state.parse_message_delete(
            {
                "id": str(message_id),
                "channel_id": str(channel_id or self.text_channel_id),
                "guild_id": str(self.guild_id),
            }
        )
