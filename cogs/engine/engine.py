"""The shared engine the cogs are given: settings, the AsyncFlow client, voices and one session per server.

A bot that loads our extensions can build the engine itself and attach it as
``bot.asyncflow_tts`` before loading them; otherwise the first extension builds it from
configuration (``TTSBOT_CONFIG`` / ``config.toml`` / environment) and the last one to unload closes it.
"""

from __future__ import annotations

import asyncio
import ctypes.util
import logging
from collections.abc import Awaitable, Callable

import discord
import httpx

from .asyncflow.client import AsyncFlowClient
from .asyncflow.voices import VoiceCatalog
from .audio.opus import EncoderPool
from .config import Settings, load_settings
from .metrics import TTSMetrics
from .playback.guild_session import GuildSession, SessionParts
from .playback.phrase_cache import PhraseCache
from .store.factory import build_store
from .store.limits import SpeechLimits
from .store.models import PreferencesStore

log = logging.getLogger(__name__)

ENGINE_ATTRIBUTE = "asyncflow_tts"


def load_opus() -> bool:
    """Load libopus if discord.py has not yet; voice playback needs it. Returns whether it is loaded."""
    if discord.opus.is_loaded():
        return True
    try:
        discord.opus.load_opus(ctypes.util.find_library("opus") or "libopus.so.0")
    except OSError:
        log.error("libopus could not be loaded: install it (Debian/Ubuntu: apt-get install libopus0)")
    return discord.opus.is_loaded()


class TTSEngine:
    """Everything our cogs share. Create one per bot; close it with :meth:`aclose`."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        voice_client_class: type[discord.VoiceClient] = discord.VoiceClient,
        preferences: PreferencesStore | None = None,
        retry_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.metrics = TTSMetrics(queues=lambda: [session.queue for session in list(self._sessions.values())])
        """Prometheus metrics of this engine, in its own registry: ``engine.metrics.registry``."""
        self.client = AsyncFlowClient(
            settings.asyncflow, settings.require_api_key(), transport=transport, sleep=retry_sleep, metrics=self.metrics
        )
        self.voices = VoiceCatalog(self.client)
        speech = settings.speech
        self.phrase_cache = (
            PhraseCache(max_bytes=speech.phrase_cache_mb * 1024 * 1024, max_chars=speech.phrase_cache_max_chars)
            if speech.phrase_cache_mb > 0
            else None
        )
        self.encoders = EncoderPool(settings.opus)
        """Encodes every server's speech to Opus, in a few worker threads."""
        self.preferences: PreferencesStore = preferences or build_store(settings.storage)
        self.limits = SpeechLimits(settings.limits, self.preferences)
        self._session_parts = SessionParts(
            client=self.client,
            settings=settings,
            preferences=self.preferences,
            limits=self.limits,
            voices=self.voices,
            cache=self.phrase_cache,
            encoders=self.encoders,
            voice_client_class=voice_client_class,
            metrics=self.metrics,
        )
        self._started = False
        self._start_lock = asyncio.Lock()
        self.voice_client_class = voice_client_class
        self._sessions: dict[int, GuildSession] = {}
        self.users = 0
        """Loaded extensions using this engine."""
        self.owned_by_extensions = False
        """Built by an extension (not handed in by the bot), so the extensions close it."""

    def __repr__(self) -> str:
        return f"<TTSEngine {self.client!r} sessions={len(self._sessions)}>"

    def session_for(self, guild: discord.Guild) -> GuildSession:
        """The one owner of ``guild``'s voice, queue, announcer and pending messages (created on first use)."""
        session = self._sessions.get(guild.id)
        if session is None:
            session = self._sessions[guild.id] = GuildSession(guild.id, self._session_parts)
        return session

    def existing_session(self, guild_id: int) -> GuildSession | None:
        return self._sessions.get(guild_id)

    async def start(self) -> None:
        """Open the preferences store (creating or migrating it). Idempotent; the cogs call it in ``cog_load``."""
        async with self._start_lock:
            if not self._started:
                await self.preferences.open()
                self._started = True

    async def stop_sessions(self) -> None:
        """Stop speaking and leave voice everywhere, and forget every session."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()

    async def aclose(self) -> None:
        try:
            await self.stop_sessions()
        finally:
            try:
                await self.voices.aclose()
                await self.client.aclose()
            finally:
                try:
                    await self.preferences.close()
                finally:
                    self.encoders.close()


def engine_for(bot: discord.Client) -> TTSEngine:
    """The engine attached to ``bot``, building it from configuration if there is none yet.

    Each call counts as one user; pair it with :func:`release_engine` in ``cog_unload``.
    """
    engine = getattr(bot, ENGINE_ATTRIBUTE, None)
    if not isinstance(engine, TTSEngine):
        engine = TTSEngine(load_settings())
        engine.owned_by_extensions = True
        setattr(bot, ENGINE_ATTRIBUTE, engine)
    load_opus()
    engine.metrics.watch_bot(bot)
    engine.users += 1
    return engine


async def release_engine(bot: discord.Client, engine: TTSEngine) -> None:
    """An extension is unloading. The last one stops the players, and closes the engine if it built it."""
    engine.users -= 1
    if engine.users > 0:
        return
    if engine.owned_by_extensions:
        await engine.aclose()
        if getattr(bot, ENGINE_ATTRIBUTE, None) is engine:
            delattr(bot, ENGINE_ATTRIBUTE)
    else:
        await engine.stop_sessions()
