"""What each member chooses for themselves: ``/voice``, ``/nickname``, ``/opt-out``, ``/opt-in``, ``/forget-me``.

Load with ``await bot.load_extension("asyncflow_tts.members")`` (installed; ``"cogs.members"`` from a checkout).
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from .engine.asyncflow.voices import choice_label
from .engine.engine import engine_for
from .engine.text.cleaner import clean_message
from .engine.text.parts import CleanOptions, MessageParts, Names
from .engine_cog import EngineCog
from .interactions import defer, reply, say_for_member

MAX_NICKNAME = 32
PREVIEW_TEXT = "Hi, I'm {name}. This is how I sound when I read your messages."


class MembersCog(EngineCog, name="Members"):
    """Your voice, the name you're called by, and whether you're read at all."""

    voice = app_commands.Group(name="voice", description="Choose the voice your messages are read in.", guild_only=True)

    async def _known_voice(self, interaction: discord.Interaction, voice_id: str) -> str | None:
        """The voice's name if AsyncFlow has it; otherwise answers the member and returns None."""
        voices = await self.engine.voices.voices()
        for candidate in voices:
            if candidate.id == voice_id.strip():
                return candidate.name
        if not voices:
            await reply(interaction, "I can't reach AsyncFlow's voice list right now — try again in a minute.")
        else:
            await reply(interaction, "I don't know that voice — pick one from the list as you type.")
        return None

    @voice.command(name="set", description="Speak your messages in this voice, in every server.")
    @app_commands.describe(voice="Start typing a name or language")
    async def voice_set(self, interaction: discord.Interaction, voice: str) -> None:
        await defer(interaction)  # the store or AsyncFlow's voice list may be slow: answer Discord first
        name = await self._known_voice(interaction, voice)
        if name is None:
            return
        await self.engine.preferences.update_member(interaction.user.id, voice_id=voice.strip())
        message = f"Your voice is now **{name}**, in every server with this bot."
        if interaction.guild is not None:
            prefs = await self.engine.preferences.guild(interaction.guild.id)
            if not prefs.allow_member_voices:
                message += " This server has everyone use its own voice, so here you'll still hear that one."
        await reply(interaction, message)

    @voice.command(name="preview", description="Hear a voice in your voice channel before choosing it.")
    @app_commands.describe(voice="Start typing a name or language")
    async def voice_preview(self, interaction: discord.Interaction, voice: str) -> None:
        await defer(interaction)  # the store or AsyncFlow's voice list may be slow: answer Discord first
        name = await self._known_voice(interaction, voice)
        if name is None:
            return
        await say_for_member(self.engine, interaction, PREVIEW_TEXT.format(name=name), voice.strip(), preview=True)

    @voice.command(name="reset", description="Go back to the server's voice.")
    async def voice_reset(self, interaction: discord.Interaction) -> None:
        await defer(interaction)  # the store or AsyncFlow's voice list may be slow: answer Discord first
        await self.engine.preferences.update_member(interaction.user.id, voice_id=None)
        await reply(interaction, "Your voice is back to the server's default.")

    @voice_set.autocomplete("voice")
    @voice_preview.autocomplete("voice")
    async def _voice_choices(self, _interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=choice_label(v), value=v.id) for v in await self.engine.voices.search(current)]

    @app_commands.command(
        name="nickname", description="The name said before your messages here (leave empty to reset)."
    )
    @app_commands.guild_only()
    @app_commands.describe(name="How to say your name, e.g. 'Alex' instead of 'xX_alex_Xx'")
    async def nickname(self, interaction: discord.Interaction, name: str | None = None) -> None:
        await defer(interaction)  # the store or AsyncFlow's voice list may be slow: answer Discord first
        if interaction.guild is None:
            return
        if name is None or not name.strip():
            await self.engine.preferences.set_spoken_name(interaction.guild.id, interaction.user.id, None)
            await reply(interaction, "I'll say your display name again.")
            return
        spoken = clean_message(MessageParts(content=name), Names(), CleanOptions(max_length=MAX_NICKNAME))
        if spoken is None or len(name.strip()) > MAX_NICKNAME:
            await reply(interaction, f"Pick a name of up to {MAX_NICKNAME} characters that can be spoken.")
            return
        await self.engine.preferences.set_spoken_name(interaction.guild.id, interaction.user.id, spoken)
        await reply(interaction, f"I'll call you **{spoken}** here.")  # cleaned: no markdown left

    @app_commands.command(name="opt-out", description="Never read my messages aloud, in any server.")
    async def opt_out(self, interaction: discord.Interaction) -> None:
        await defer(interaction)  # the store or AsyncFlow's voice list may be slow: answer Discord first
        await self.engine.preferences.update_member(interaction.user.id, opted_out=True)
        await reply(interaction, "Done — your messages won't be read aloud anywhere. `/opt-in` undoes this.")

    @app_commands.command(name="opt-in", description="Read my messages aloud again.")
    async def opt_in(self, interaction: discord.Interaction) -> None:
        await defer(interaction)  # the store or AsyncFlow's voice list may be slow: answer Discord first
        await self.engine.preferences.update_member(interaction.user.id, opted_out=False)
        await reply(interaction, "Your messages will be read aloud again.")

    @app_commands.command(name="forget-me", description="Delete everything this bot stores about you.")
    async def forget_me(self, interaction: discord.Interaction) -> None:
        await defer(interaction)  # the store or AsyncFlow's voice list may be slow: answer Discord first
        await self.engine.preferences.forget_member(interaction.user.id)
        await reply(
            interaction,
            "Everything I stored about you (voice, spoken names, opt-out) is deleted. "
            "Your messages can be read aloud again; `/opt-out` stops that.",
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(MembersCog(bot, engine_for(bot)))
