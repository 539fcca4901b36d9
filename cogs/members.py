"""What each member chooses for themselves: ``/voice``, ``/nickname``, ``/opt-out``, ``/opt-in``, ``/forget-me``.

Load with ``await bot.load_extension("asyncflow_tts.members")`` (installed; ``"cogs.members"`` from a checkout).
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from .engine.asyncflow.model_ids import FASTEST_SPEED, NORMAL_SPEED, SLOWEST_SPEED, honours_speed, speed_allowed
from .engine.asyncflow.voices import choice_label
from .engine.clone_sample import CLONE_LANGUAGES
from .engine.engine import engine_for
from .engine.playback.private_voices import may_use, visible_voices
from .engine.text.cleaner import clean_message
from .engine.text.parts import CleanOptions, MessageParts, Names
from .engine.words import NO_CLONE, PRIVATE_VOICE, SPEED_OUT_OF_RANGE, clones_deleted, speed_has_no_effect
from .engine_cog import EngineCog
from .interactions import defer, reply, say_for_member
from .voice_clone import clone_command, delete_clones

MAX_NICKNAME = 32
PREVIEW_TEXT = "Hi, I'm {name}. This is how I sound when I read your messages."


class MembersCog(EngineCog, name="Members"):
    """Your voice, the name you're called by, and whether you're read at all."""

    voice = app_commands.Group(name="voice", description="Choose the voice your messages are read in.", guild_only=True)

    async def _known_voice(self, interaction: discord.Interaction, voice_id: str) -> str | None:
        """The voice's name if AsyncFlow has it and it is not someone else's clone; otherwise answers the member
        and returns None."""
        voices = await self.engine.voices.voices()
        for candidate in voices:
            if candidate.id == voice_id.strip():
                if not await may_use(candidate, self.engine.preferences, interaction.user.id):
                    await reply(interaction, PRIVATE_VOICE)
                    return None
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

    @voice.command(name="speed", description="How fast your text is spoken, in every server (no value: show it).")
    @app_commands.describe(
        value=f"{SLOWEST_SPEED} (slow) to {FASTEST_SPEED} (fast); {NORMAL_SPEED} is normal",
        reset="Go back to the server's speaking rate",
    )
    async def voice_speed(
        self,
        interaction: discord.Interaction,
        value: app_commands.Range[float, SLOWEST_SPEED, FASTEST_SPEED] | None = None,
        reset: bool = False,
    ) -> None:
        if value is not None and reset:
            await reply(interaction, "Give a speed or `reset`, not both.")
            return
        if value is not None and not speed_allowed(value):  # Discord enforces the range too; a client may not
            await reply(interaction, SPEED_OUT_OF_RANGE)
            return
        await defer(interaction)  # the store may be slow: answer Discord first
        preferences = self.engine.preferences
        if value is not None or reset:
            rate = None if reset or value is None else round(value, 2)
            member = await preferences.update_member(interaction.user.id, speaking_rate=rate)
        else:
            member = await preferences.member(interaction.user.id)
        server = await preferences.guild(interaction.guild.id) if interaction.guild is not None else None
        message = speed_answer(
            member.speaking_rate, server.speaking_rate if server else None, changed=bool(value or reset)
        )
        model = self.engine.settings.asyncflow.model_id
        if not honours_speed(model):
            message += "\n" + speed_has_no_effect(model)
        await reply(interaction, message)

    @voice.command(name="clone", description="Clone your own voice from a recording (asks for your consent first).")
    @app_commands.describe(
        sample="A recording of your own voice, at least 3 s: WAV, MP3, FLAC or AIFF, up to 10 MB",
        name="What to call your voice",
        language="The language you speak in the sample",
    )
    @app_commands.choices(language=[app_commands.Choice(name=code, value=code) for code in CLONE_LANGUAGES])
    async def voice_clone(
        self, interaction: discord.Interaction, sample: discord.Attachment, name: str, language: str = "en"
    ) -> None:
        await clone_command(self.engine, interaction, sample, name, language)

    @voice.command(name="delete-clone", description="Delete your cloned voice, at AsyncFlow and here.")
    async def voice_delete_clone(self, interaction: discord.Interaction) -> None:
        await defer(interaction)  # AsyncFlow and the store may take a while
        clones = await self.engine.preferences.clones(interaction.user.id)
        if not clones:
            await reply(interaction, NO_CLONE)
            return
        done = await delete_clones(self.engine, clones)
        await reply(interaction, clones_deleted(*done.names()))

    @voice_set.autocomplete("voice")
    @voice_preview.autocomplete("voice")
    async def _voice_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        voices = await visible_voices(self.engine.voices, self.engine.preferences, current, interaction.user.id)
        return [app_commands.Choice(name=choice_label(v), value=v.id) for v in voices]

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
        preferences = self.engine.preferences
        done = await delete_clones(self.engine, await preferences.clones(interaction.user.id))
        await preferences.forget_member(interaction.user.id)
        for clone in done.kept:  # still at AsyncFlow: keep the record, so deleting it can be tried again
            await preferences.add_clone(clone, limit=len(done.kept))
        message = (
            "Everything I stored about you (voice, speaking rate, spoken names, opt-out) is deleted. "
            "Your messages can be read aloud again; `/opt-out` stops that."
        )
        if done.deleted or done.gone or done.kept:
            message += "\n" + clones_deleted(*done.names())
        await reply(interaction, message)


def speed_answer(own: float | None, server: float | None, *, changed: bool) -> str:
    """What ``/voice speed`` says: the rate that applies to the member now, and where it comes from."""
    if own is not None:
        text = f"Your speaking rate is {'now ' if changed else ''}**{own:g}×**, in every server with this bot"
        return text + (". `/voice speed reset:True` goes back to the server's." if not changed else ".")
    where = f"this server's **{server:g}×**" if server is not None else f"normal speed (**{NORMAL_SPEED:g}×**)"
    start = "You'll now be spoken at" if changed else "You haven't picked a speaking rate, so you're spoken at"
    return f"{start} {where}. `/voice speed value:` picks your own ({SLOWEST_SPEED}–{FASTEST_SPEED})."


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(MembersCog(bot, engine_for(bot)))
