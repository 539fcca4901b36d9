"""The base of our cogs: each is handed the shared engine, starts it, and lets go of it on unload."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from .engine.engine import TTSEngine, release_engine
from .interactions import explain_command_error


class EngineCog(commands.Cog):
    def __init__(self, bot: commands.Bot, engine: TTSEngine) -> None:
        self.bot = bot
        self.engine = engine

    async def cog_load(self) -> None:
        await self.engine.start()

    async def cog_unload(self) -> None:
        await release_engine(self.bot, self.engine)

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await explain_command_error(interaction, error)
