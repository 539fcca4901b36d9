"""The bundled bot: discord.py's ``AutoShardedBot`` that loads our extensions with an engine built from config.

Sharding: with ``[discord] shard_count`` and ``shard_ids`` unset, discord.py asks Discord how many shards the bot
needs and runs them all in this process. With them set, the process identifies only its own shards; every server
(its voice, queue and phrase cache, all in its ``GuildSession``) lives in the process whose shard holds it.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import aiohttp
import discord
from discord.ext import commands

from cogs.engine.config import ConfigError, Settings
from cogs.engine.engine import ENGINE_ATTRIBUTE, TTSEngine

from .admin_words import TOKEN_REJECTED, discord_unreachable
from .metrics_server import serve_metrics

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.speech", "cogs.members", "cogs.server_settings")
CONFIG_EXIT = 2
"""A start-up failure the configuration must fix (systemd's unit does not restart on it)."""
UNREACHABLE_EXIT = 1


class StartupError(Exception):
    """The bot can't start: ``str()`` is one line naming the cause and its fix; ``exit_code`` for the process."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


SHUTDOWN_TIMEOUT_S = 10.0  # a stuck voice disconnect must not keep a stopping bot alive
READING_EXTENSION = "cogs.reading"  # needs the privileged Message Content intent


class TTSBot(commands.AutoShardedBot):
    def __init__(self, settings: Settings, engine: TTSEngine) -> None:
        intents = discord.Intents.default()  # guilds + voice_states: enough for slash commands and voice
        intents.message_content = settings.discord.read_messages
        shards = settings.discord
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            shard_count=shards.shard_count,  # None: as many as Discord recommends
            # None: every shard of the count. (discord.py documents it Optional; its typed options say list.)
            shard_ids=list(shards.shard_ids) if shards.shard_ids is not None else None,  # type: ignore[arg-type]
        )
        self.settings = settings
        self.engine = engine
        self.stopped = asyncio.Event()
        """Set once :meth:`close` has stopped the players and closed the HTTP client and the database."""
        self._close_task: asyncio.Task[None] | None = None
        setattr(self, ENGINE_ATTRIBUTE, engine)

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self.settings.discord.read_messages:
            await self.load_extension(READING_EXTENSION)
        if self.settings.discord.sync_commands:
            await self._sync_commands()

    async def _sync_commands(self) -> None:
        guild_id = self.settings.discord.dev_guild_id
        if guild_id is not None:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d slash commands to server %s", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d slash commands globally (new ones can take a while to appear)", len(synced))

    async def on_ready(self) -> None:
        log.info("logged in as %s in %d servers (%s)", self.user, len(self.guilds), describe_shards(self))

    async def on_shard_ready(self, shard_id: int) -> None:
        log.info("shard %d of %s is ready", shard_id, self.shard_count)

    async def close(self) -> None:
        """Leave voice, stop the players, close the HTTP client and the database; every call waits for one run."""
        await asyncio.shield(self.begin_close())

    def begin_close(self) -> asyncio.Task[None]:
        """Start closing (once) without waiting; what a signal handler, which can't await, calls."""
        if self._close_task is None:
            self._close_task = asyncio.create_task(self._close_once(), name="tts-bot-close")
        return self._close_task

    @property
    def closing(self) -> bool:
        return self._close_task is not None

    async def _close_once(self) -> None:
        try:
            async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
                try:
                    await super().close()  # disconnects voice clients, so players end
                finally:
                    await self.engine.aclose()  # players, then the HTTP client, then the database
        except TimeoutError:
            log.warning("shutdown took longer than %g s; stopping anyway", SHUTDOWN_TIMEOUT_S)
        finally:
            self.stopped.set()


def describe_shards(bot: commands.AutoShardedBot) -> str:
    """Which shards this process runs, for the logs: ``shards 0-1 of 4``."""
    ids = sorted(bot.shards) or list(bot.shard_ids or [])
    return f"shards {format_shard_ids(ids)} of {bot.shard_count}" if ids else f"{bot.shard_count} shards"


def format_shard_ids(ids: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``0-2,5`` (how ``DISCORD_SHARD_IDS`` is written)."""
    runs: list[str] = []
    for shard in sorted(ids):
        if runs and shard == int(runs[-1].rpartition("-")[2]) + 1:
            runs[-1] = f"{runs[-1].partition('-')[0]}-{shard}"
        else:
            runs.append(str(shard))
    return ",".join(runs)


def stop_on_signals(bot: TTSBot) -> None:
    """SIGTERM (docker stop, systemd) and SIGINT (Ctrl-C) close ``bot`` cleanly; a second signal changes nothing.

    Where the loop can't take signal handlers (Windows), Ctrl-C still ends ``asyncio.run`` the usual way.
    """
    loop = asyncio.get_running_loop()

    def request_stop(name: str) -> None:
        if bot.closing:
            log.info("received %s again; already shutting down", name)
            return
        log.info("received %s, shutting down", name)
        bot.begin_close()

    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, request_stop, signum.name)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not on this platform
            log.debug("cannot handle %s here", signum.name)


async def run_bot(settings: Settings) -> None:
    token = settings.require_token()
    engine = TTSEngine(settings)
    try:
        await engine.start()  # the database first: a bad storage.url stops here, in one line, before logging in
    except BaseException:
        await engine.aclose()
        raise
    async with (
        TTSBot(settings, engine) as bot,
        serve_metrics(settings.metrics, bot, engine.metrics.registry, closing=lambda: bot.closing),
    ):
        stop_on_signals(bot)
        try:
            await bot.start(token)
            await bot.close()  # its whole run, while /healthz still answers "closing"
        except discord.PrivilegedIntentsRequired:
            raise ConfigError(
                "discord.read_messages is on, but the bot's Message Content intent is off: enable it in the "
                "Developer Portal (Bot → Privileged Gateway Intents), or set DISCORD_READ_MESSAGES=false"
            ) from None
        except discord.LoginFailure:
            raise StartupError(TOKEN_REJECTED, CONFIG_EXIT) from None
        except (aiohttp.ClientConnectionError, OSError, discord.GatewayNotFound) as error:
            # Logging in or finding the gateway; once connected, discord.py reconnects by itself.
            raise StartupError(discord_unreachable(error), UNREACHABLE_EXIT) from None
