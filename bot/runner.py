"""The bundled bot: a plain ``commands.Bot`` that loads our extensions with an engine built from config."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from cogs.engine.engine import ENGINE_ATTRIBUTE, TTSEngine
from cogs.engine.settings import ConfigError, Settings

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.speech", "cogs.members", "cogs.server_settings")
READING_EXTENSION = "cogs.reading"  # needs the privileged Message Content intent


class TTSBot(commands.Bot):
    def __init__(self, settings: Settings, engine: TTSEngine) -> None:
        intents = discord.Intents.default()  # guilds + voice_states: enough for slash commands and voice
        intents.message_content = settings.discord.read_messages
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.settings = settings
        self.engine = engine
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
        log.info("logged in as %s in %d servers", self.user, len(self.guilds))

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self.engine.aclose()


async def run_bot(settings: Settings) -> None:
    token = settings.require_token()
    engine = TTSEngine(settings)
    async with TTSBot(settings, engine) as bot:
        try:
            await bot.start(token)
        except discord.PrivilegedIntentsRequired:
            raise ConfigError(
                "discord.read_messages is on, but the bot's Message Content intent is off: enable it in the "
                "Developer Portal (Bot → Privileged Gateway Intents), or set DISCORD_READ_MESSAGES=false"
            ) from None
        except discord.LoginFailure:
            raise ConfigError("discord.token was rejected by Discord: reset it in the Developer Portal") from None
